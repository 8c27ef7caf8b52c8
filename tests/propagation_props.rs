//! Property tests: every format round-trips, and no header bytes can panic a propagator or
//! make it hold more than the specifications' limits.

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use tracewire::propagation::{
    B3Propagator, BaggagePropagator, CompositePropagator, JaegerPropagator, PropagationContext,
    Propagator, TraceContextPropagator, XRayPropagator,
};
use tracewire::{Baggage, SpanContext, SpanId, TraceFlags, TraceId, TraceState};

fn all_formats() -> CompositePropagator {
    CompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator),
        Box::new(B3Propagator::single()),
        Box::new(B3Propagator::multi()),
        Box::new(JaegerPropagator),
        Box::new(XRayPropagator),
    ])
}

fn span_context() -> impl Strategy<Value = SpanContext> {
    (1..=u128::MAX, 1..=u64::MAX, any::<u8>()).prop_map(|(trace, span, flags)| {
        SpanContext::new(
            TraceId::from_u128(trace).unwrap(),
            SpanId::from_u64(span).unwrap(),
            TraceFlags::from_bits(flags),
        )
    })
}

fn trace_state() -> impl Strategy<Value = TraceState> {
    let key = "[a-z0-9][_a-z0-9*/@-]{0,20}";
    let value = "[ -+--<>-~]{0,20}[!-+--<>-~]";
    prop::collection::vec((key, value), 0..8).prop_map(|members| {
        let mut state = TraceState::default();
        for (k, v) in members.iter().rev() {
            state.insert(k, v).unwrap();
        }
        state
    })
}

fn baggage() -> impl Strategy<Value = Baggage> {
    let key = "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,12}";
    prop::collection::vec((key, any::<String>()), 0..8).prop_map(|entries| {
        let mut baggage = Baggage::default();
        for (k, v) in entries {
            baggage.insert(k, v).unwrap();
        }
        baggage
    })
}

/// The formats other than W3C carry no `random` flag.
fn sampled_only(span: SpanContext) -> SpanContext {
    let sampled = span.flags().is_sampled();
    span.with_flags(TraceFlags::NONE.with_sampled(sampled))
}

fn round_trip(propagator: &dyn Propagator, cx: &PropagationContext) -> PropagationContext {
    let mut headers = HeaderMap::new();
    propagator.inject(cx, &mut headers);
    propagator.extract(&headers)
}

fn with_span(span: SpanContext) -> PropagationContext {
    PropagationContext {
        span_context: Some(span),
        baggage: Baggage::default(),
    }
}

proptest! {
    #[test]
    fn trace_context_round_trips(span in span_context(), state in trace_state()) {
        let span = span.with_state(state);
        let back = round_trip(&TraceContextPropagator::new(), &with_span(span.clone()));
        prop_assert_eq!(back.span_context, Some(span.with_remote(true)));
    }

    #[test]
    fn baggage_round_trips(baggage in baggage()) {
        let cx = PropagationContext { span_context: None, baggage };
        let back = round_trip(&BaggagePropagator, &cx);
        prop_assert_eq!(back.baggage, cx.baggage);
    }

    #[test]
    fn b3_round_trips(span in span_context(), debug in any::<bool>(), deferred in any::<bool>()) {
        // B3 has no random flag.
        let span = sampled_only(span)
            .with_sampling_deferred(deferred)
            .with_debug(debug);
        for propagator in [B3Propagator::single(), B3Propagator::multi()] {
            let back = round_trip(&propagator, &with_span(span.clone()));
            prop_assert_eq!(back.span_context, Some(span.clone().with_remote(true)));
        }
    }

    #[test]
    fn jaeger_round_trips(span in span_context(), debug in any::<bool>(), baggage in baggage()) {
        let span = sampled_only(span).with_debug(debug);
        // Header names are case-insensitive, so Jaeger baggage keys arrive lowercase.
        let mut lowercase = Baggage::default();
        for entry in baggage.iter() {
            lowercase.insert(entry.key().to_ascii_lowercase(), entry.value()).unwrap();
        }
        let cx = PropagationContext { span_context: Some(span.clone()), baggage: lowercase };
        let back = round_trip(&JaegerPropagator, &cx);
        prop_assert_eq!(back.span_context, Some(span.with_remote(true)));
        prop_assert_eq!(back.baggage, cx.baggage);
    }

    #[test]
    fn xray_round_trips(span in span_context(), deferred in any::<bool>()) {
        let span = sampled_only(span)
            .with_sampling_deferred(deferred);
        let back = round_trip(&XRayPropagator, &with_span(span.clone()));
        prop_assert_eq!(back.span_context, Some(span.with_remote(true)));
    }

    #[test]
    fn arbitrary_header_bytes_never_panic(
        lines in prop::collection::vec((0usize..HEADER_NAMES.len(), header_bytes()), 0..12)
    ) {
        let mut headers = HeaderMap::new();
        for (name, bytes) in lines {
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                headers.append(HeaderName::from_static(HEADER_NAMES[name]), value);
            }
        }
        let propagator = all_formats();
        let cx = propagator.extract(&headers);

        // What is kept stays within the specifications' limits, whatever came in.
        prop_assert!(cx.baggage.len() <= 64);
        if let Some(span) = &cx.span_context {
            prop_assert!(span.state().len() <= 32);
        }
        let mut out = HeaderMap::new();
        propagator.inject(&cx, &mut out);
        if let Some(state) = out.get("tracestate") {
            prop_assert!(state.len() <= 512 && !state.is_empty());
        }
        if let Some(baggage) = out.get("baggage") {
            prop_assert!(baggage.len() <= 8192);
        }
        // Whatever we send, we read back the same way.
        let again = propagator.extract(&out);
        prop_assert_eq!(
            again.span_context.map(|s| (s.trace_id(), s.span_id())),
            cx.span_context.map(|s| (s.trace_id(), s.span_id()))
        );
    }
}

const HEADER_NAMES: &[&str] = &[
    "traceparent",
    "tracestate",
    "baggage",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-b3-parentspanid",
    "uber-trace-id",
    "uberctx-key",
    "x-amzn-trace-id",
];

/// Arbitrary bytes, and strings close enough to the formats to reach deep into the parsers.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..700),
        "[ \t]?[0-9a-fA-F]{0,3}-[0-9a-f]{30,34}-[0-9a-f]{14,18}-[0-9a-fx]{1,3}(-.{0,5})?"
            .prop_map(String::into_bytes),
        "([a-z0-9@*/_ -]{0,8}=[ -~]{0,10}[,;]?){0,40}".prop_map(String::into_bytes),
        "[0-9a-fA-F]{0,33}(:|%3A)[0-9a-f]{0,17}(:|%3a)[0-9]?(:|%3A)[0-9a-z]{0,3}".prop_map(String::into_bytes),
        "(Root=1-[0-9a-f]{8}-[0-9a-f]{24}|Parent=[0-9a-f]{15,17}|Sampled=[01?x]|Self=[a-z]*)(;(Root=1-[0-9a-f]{8}-[0-9a-f]{24}|Parent=[0-9a-f]{16}|Sampled=[01?]))*"
            .prop_map(String::into_bytes),
    ]
}

#[test]
fn huge_headers_are_bounded() {
    // 100 KiB of members: parsing stops at the limits instead of holding it all.
    let members: Vec<String> = (0..5000).map(|i| format!("key{i}=value{i}")).collect();
    let huge = members.join(",");
    let mut headers = HeaderMap::new();
    headers.insert(
        "traceparent",
        HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    );
    headers.insert("tracestate", HeaderValue::from_str(&huge).unwrap());
    headers.insert("baggage", HeaderValue::from_str(&huge).unwrap());
    let cx = all_formats().extract(&headers);
    assert!(
        cx.span_context.unwrap().state().is_empty(),
        "over 32 members: dropped whole"
    );
    assert_eq!(cx.baggage.len(), 64);
    assert_eq!(cx.baggage.get("key63"), Some("value63"));
}
