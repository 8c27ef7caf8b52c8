//! B3 (Zipkin) propagation, single and multi header, as the OpenTelemetry propagators
//! specification describes it.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::{
    PropagationContext, Propagator, parse_padded_hex_u128, set_or_remove, single_value, trim_ows,
};
use crate::context::{SpanContext, TraceFlags};
use crate::id::{SpanId, TraceId, hex};

const B3: HeaderName = HeaderName::from_static("b3");
const TRACE_ID: HeaderName = HeaderName::from_static("x-b3-traceid");
const SPAN_ID: HeaderName = HeaderName::from_static("x-b3-spanid");
const PARENT_SPAN_ID: HeaderName = HeaderName::from_static("x-b3-parentspanid");
const SAMPLED: HeaderName = HeaderName::from_static("x-b3-sampled");
const FLAGS: HeaderName = HeaderName::from_static("x-b3-flags");
/// Every multi header, the parent's included (read, never written).
const MULTI: [HeaderName; 5] = [TRACE_ID, SPAN_ID, PARENT_SPAN_ID, SAMPLED, FLAGS];

/// Which B3 headers [`B3Propagator`] writes.
///
/// # Example
///
/// ```
/// use http::HeaderMap;
/// use tracewire::propagation::{B3Encoding, B3Propagator, PropagationContext, Propagator};
/// use tracewire::SpanContext;
///
/// let cx = PropagationContext { span_context: Some(SpanContext::new_root(true)), ..Default::default() };
/// let mut headers = HeaderMap::new();
/// let propagator = B3Propagator::multi();
/// assert_eq!(propagator.encoding(), B3Encoding::Multi);
/// propagator.inject(&cx, &mut headers);
/// assert!(headers.contains_key("x-b3-traceid") && !headers.contains_key("b3"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum B3Encoding {
    /// One `b3: {trace}-{span}-{sampling}` header (`OTEL_PROPAGATORS=b3`).
    #[default]
    Single,
    /// `X-B3-TraceId`, `X-B3-SpanId` and `X-B3-Sampled` or `X-B3-Flags`
    /// (`OTEL_PROPAGATORS=b3multi`).
    Multi,
}

/// The B3 propagator (Zipkin, Envoy, Istio, Linkerd).
///
/// Extraction reads the single `b3` header first and falls back to the multi headers; trace
/// ids of 64 bits are left-padded to 128. The sampling state `d` (or `X-B3-Flags: 1`) marks
/// debug, which implies sampled and is kept for downstream; a missing sampling state defers
/// the decision to this service. Injection never writes a parent span id, and never sends
/// `X-B3-Sampled` together with `X-B3-Flags: 1`.
///
/// # Example
///
/// ```
/// use http::HeaderMap;
/// use tracewire::propagation::{B3Propagator, Propagator};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d-05e3ac9a4f6e3b90".parse().unwrap());
/// let cx = B3Propagator::multi().extract(&headers);
/// let parent = cx.span_context.as_ref().unwrap();
/// assert!(parent.is_debug() && parent.flags().is_sampled());
///
/// let mut out = HeaderMap::new();
/// B3Propagator::multi().inject(&cx, &mut out);
/// assert_eq!(out["x-b3-flags"], "1");
/// assert!(out.get("x-b3-sampled").is_none() && out.get("x-b3-parentspanid").is_none());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct B3Propagator {
    encoding: B3Encoding,
}

/// A B3 sampling state.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sampling {
    Deferred,
    Accept,
    Deny,
    Debug,
}

impl B3Propagator {
    /// A propagator that writes the single `b3` header.
    pub const fn single() -> Self {
        Self {
            encoding: B3Encoding::Single,
        }
    }

    /// A propagator that writes the multi `X-B3-*` headers.
    pub const fn multi() -> Self {
        Self {
            encoding: B3Encoding::Multi,
        }
    }

    /// The headers this propagator writes.
    pub const fn encoding(&self) -> B3Encoding {
        self.encoding
    }

    fn extract_single(value: &[u8]) -> Option<SpanContext> {
        let value = trim_ows(value);
        // `{32 hex}-{16 hex}-{d}-{16 hex}` at the longest: a longer value is not read.
        if value.len() > 68 {
            return None;
        }
        let mut parts = value.split(|&b| b == b'-');
        let trace_id = parse_trace_id(parts.next()?)?;
        let span_id = parse_span_id(parts.next()?)?;
        let sampling = match parts.next() {
            None => Sampling::Deferred,
            Some(state) => parse_single_sampling(state)?,
        };
        if let Some(parent) = parts.next() {
            parse_span_id(parent)?;
        }
        if parts.next().is_some() {
            return None;
        }
        Some(context(trace_id, span_id, sampling))
    }

    fn extract_multi(headers: &HeaderMap) -> Option<SpanContext> {
        let trace_id = parse_trace_id(trim_ows(single_value(headers, &TRACE_ID)?))?;
        let span_id = parse_span_id(trim_ows(single_value(headers, &SPAN_ID)?))?;
        if let Some(parent) = headers.get(PARENT_SPAN_ID) {
            parse_span_id(trim_ows(parent.as_bytes()))?;
        }
        let debug = headers
            .get(FLAGS)
            .is_some_and(|f| trim_ows(f.as_bytes()) == b"1");
        let sampling = match headers.get(SAMPLED).map(|s| trim_ows(s.as_bytes())) {
            _ if debug => Sampling::Debug,
            None => Sampling::Deferred,
            Some(b"1" | b"true") => Sampling::Accept,
            Some(b"0" | b"false") => Sampling::Deny,
            Some(_) => return None,
        };
        Some(context(trace_id, span_id, sampling))
    }
}

impl Propagator for B3Propagator {
    fn extract_into(&self, headers: &HeaderMap, cx: &mut PropagationContext) {
        let single = single_value(headers, &B3).and_then(Self::extract_single);
        if let Some(span_context) = single.or_else(|| Self::extract_multi(headers)) {
            super::set_span_context(cx, span_context);
        }
    }

    fn inject(&self, cx: &PropagationContext, headers: &mut HeaderMap) {
        let span = cx.span_context.as_ref();
        let sampling = span.map(sampling_of);
        match self.encoding {
            B3Encoding::Single => {
                let value = span.and_then(|span| {
                    let mut value = [0u8; 32 + 1 + 16 + 2];
                    let len = write_ids(span, &mut value);
                    let state: &[u8] = match sampling_of(span) {
                        Sampling::Deferred => b"",
                        Sampling::Accept => b"-1",
                        Sampling::Deny => b"-0",
                        Sampling::Debug => b"-d",
                    };
                    value[len..len + state.len()].copy_from_slice(state);
                    HeaderValue::from_bytes(&value[..len + state.len()]).ok()
                });
                set_or_remove(headers, B3, value);
                // Multi headers naming another span are stale (a forwarded request's) and would
                // mislead a reader of both; ones naming this span were written with it (both
                // encodings configured), and stay.
                let spans_id = headers.get(SPAN_ID).map(HeaderValue::as_bytes);
                if spans_id.is_some_and(|id| !names(span, id)) {
                    for name in MULTI {
                        headers.remove(name);
                    }
                }
            }
            B3Encoding::Multi => {
                let trace_id = span.map(|s| hex_value(&s.trace_id().to_string()));
                let span_id = span.map(|s| hex_value(&s.span_id().to_string()));
                set_or_remove(headers, TRACE_ID, trace_id);
                set_or_remove(headers, SPAN_ID, span_id);
                headers.remove(PARENT_SPAN_ID);
                let (sampled, flags) = match sampling {
                    Some(Sampling::Accept) => (Some("1"), None),
                    Some(Sampling::Deny) => (Some("0"), None),
                    Some(Sampling::Debug) => (None, Some("1")),
                    Some(Sampling::Deferred) | None => (None, None),
                };
                set_or_remove(headers, SAMPLED, sampled.map(HeaderValue::from_static));
                set_or_remove(headers, FLAGS, flags.map(HeaderValue::from_static));
                // A stale single header would win over these ("The single-header variant
                // takes precedence over the multi-header version", API propagators, B3), unless
                // it names this span (both encodings configured).
                let single_id = headers
                    .get(B3)
                    .and_then(|b3| b3.as_bytes().split(|&b| b == b'-').nth(1));
                if single_id.is_some_and(|id| !names(span, id)) {
                    headers.remove(B3);
                }
            }
        }
    }

    /// The headers this encoding writes ("Fields MUST return the header names that correspond
    /// to the configured format, i.e., the headers used for the inject operation").
    fn fields(&self) -> Vec<HeaderName> {
        match self.encoding {
            B3Encoding::Single => vec![B3],
            B3Encoding::Multi => vec![TRACE_ID, SPAN_ID, SAMPLED, FLAGS],
        }
    }
}

/// Whether `id` (hex digits from a header) is `span`'s id.
fn names(span: Option<&SpanContext>, id: &[u8]) -> bool {
    let Some(span) = span else {
        return false;
    };
    let mut hex = [0u8; 16];
    span.span_id().write_hex(&mut hex);
    trim_ows(id) == hex
}

/// A B3 trace id: 16 or 32 lowercase hex digits, not all zeros.
fn parse_trace_id(digits: &[u8]) -> Option<TraceId> {
    if digits.len() != 16 && digits.len() != 32 {
        return None;
    }
    TraceId::from_u128(parse_padded_hex_u128(digits, false)?)
}

/// A B3 span id: 16 lowercase hex digits, not all zeros.
fn parse_span_id(digits: &[u8]) -> Option<SpanId> {
    if digits.len() != 16 {
        return None;
    }
    SpanId::from_u64(hex::decode_u64(digits)?)
}

fn parse_single_sampling(state: &[u8]) -> Option<Sampling> {
    match state {
        b"1" => Some(Sampling::Accept),
        b"0" => Some(Sampling::Deny),
        b"d" => Some(Sampling::Debug),
        _ => None,
    }
}

fn context(trace_id: TraceId, span_id: SpanId, sampling: Sampling) -> SpanContext {
    let sampled = matches!(sampling, Sampling::Accept | Sampling::Debug);
    SpanContext::new(trace_id, span_id, TraceFlags::NONE.with_sampled(sampled))
        .with_remote(true)
        .with_debug(sampling == Sampling::Debug)
        .with_sampling_deferred(sampling == Sampling::Deferred)
}

fn sampling_of(span: &SpanContext) -> Sampling {
    if span.is_debug() {
        Sampling::Debug
    } else if span.is_sampling_deferred() {
        Sampling::Deferred
    } else if span.flags().is_sampled() {
        Sampling::Accept
    } else {
        Sampling::Deny
    }
}

/// Writes `{trace}-{span}` and returns its length.
fn write_ids(span: &SpanContext, out: &mut [u8; 51]) -> usize {
    let mut trace_id = [0; 32];
    span.trace_id().write_hex(&mut trace_id);
    out[..32].copy_from_slice(&trace_id);
    out[32] = b'-';
    let mut span_id = [0; 16];
    span.span_id().write_hex(&mut span_id);
    out[33..49].copy_from_slice(&span_id);
    49
}

fn hex_value(digits: &str) -> HeaderValue {
    HeaderValue::from_str(digits).unwrap_or(HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
    const SPAN: &str = "e457b5a2e4d86bd1";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn extract(pairs: &[(&str, &str)]) -> Option<SpanContext> {
        B3Propagator::single().extract(&headers(pairs)).span_context
    }

    #[test]
    fn after_w3c_the_same_trace_keeps_its_random_flag_and_trace_state() {
        use crate::propagation::{CompositePropagator, TraceContextPropagator};
        let propagator = CompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(B3Propagator::single()),
        ]);
        let incoming = headers(&[
            ("traceparent", &format!("00-{TRACE}-{SPAN}-03")),
            ("tracestate", "congo=t61rcWkgMzE"),
            ("b3", &format!("{TRACE}-{SPAN}-1")),
        ]);
        let child = propagator.extract(&incoming).child();
        let mut out = HeaderMap::new();
        propagator.inject(&child, &mut out);
        let traceparent = out["traceparent"].to_str().unwrap();
        assert!(traceparent.ends_with("-03"), "{traceparent}");
        assert_eq!(out["tracestate"], "congo=t61rcWkgMzE");
        // Another trace in B3 replaces the W3C one whole.
        let other = "1".repeat(32);
        let incoming = headers(&[
            ("traceparent", &format!("00-{TRACE}-{SPAN}-03")),
            ("tracestate", "congo=t61rcWkgMzE"),
            ("b3", &format!("{other}-{SPAN}-1")),
        ]);
        let cx = propagator.extract(&incoming).span_context.unwrap();
        assert_eq!(cx.trace_id().to_string(), other);
        assert!(cx.state().is_empty() && !cx.flags().is_random());
    }

    #[test]
    fn both_encodings_configured_send_both() {
        use crate::propagation::CompositePropagator;
        for value in ["b3,b3multi", "b3multi,b3"] {
            let both = CompositePropagator::from_env_with(|_| Some(value.into())).value;
            let cx = PropagationContext {
                span_context: Some(SpanContext::new_root(true)),
                ..Default::default()
            };
            // A forwarded request's stale headers of both kinds go; the new ones stay.
            let mut out = headers(&[
                ("b3", &format!("{TRACE}-{SPAN}-1")),
                ("x-b3-traceid", TRACE),
                ("x-b3-spanid", SPAN),
            ]);
            both.inject(&cx, &mut out);
            let span = cx.span_context.as_ref().unwrap().span_id().to_string();
            assert!(out["b3"].to_str().unwrap().contains(&span), "{value}");
            assert_eq!(out["x-b3-spanid"], span.as_str(), "{value}");
        }
    }

    #[test]
    fn each_encoding_replaces_the_other_s_stale_headers() {
        let fresh = PropagationContext {
            span_context: Some(SpanContext::new_root(true)),
            ..Default::default()
        };
        let new_span = fresh.span_context.as_ref().unwrap().span_id();
        let mut out = headers(&[("b3", &format!("{TRACE}-{SPAN}-0"))]);
        B3Propagator::multi().inject(&fresh, &mut out);
        assert!(out.get("b3").is_none());
        let read = B3Propagator::multi().extract(&out).span_context.unwrap();
        assert_eq!(read.span_id(), new_span);

        let mut out = headers(&[("x-b3-traceid", TRACE), ("x-b3-spanid", SPAN)]);
        out.insert("x-b3-parentspanid", SPAN.parse().unwrap());
        B3Propagator::single().inject(&fresh, &mut out);
        assert_eq!(out.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["b3"]);

        // Each lists the headers it writes, and only those.
        let names = |p: B3Propagator| p.fields().iter().map(|f| f.to_string()).collect::<Vec<_>>();
        assert_eq!(names(B3Propagator::single()), ["b3"]);
        assert_eq!(
            names(B3Propagator::multi()),
            ["x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags"]
        );
    }

    #[test]
    fn single_header_forms() {
        let cx = extract(&[("b3", &format!("{TRACE}-{SPAN}-1-05e3ac9a4f6e3b90"))]).unwrap();
        assert_eq!(cx.trace_id().to_string(), TRACE);
        assert!(cx.flags().is_sampled() && !cx.is_debug() && cx.is_remote());

        let cx = extract(&[("b3", &format!("{TRACE}-{SPAN}-0"))]).unwrap();
        assert!(!cx.flags().is_sampled() && !cx.is_sampling_deferred());

        let cx = extract(&[("b3", &format!("{TRACE}-{SPAN}"))]).unwrap();
        assert!(cx.is_sampling_deferred());

        let cx = extract(&[("b3", &format!("{TRACE}-{SPAN}-d"))]).unwrap();
        assert!(cx.is_debug() && cx.flags().is_sampled());

        // 64-bit trace ids are left-padded.
        let cx = extract(&[("b3", &format!("{}-{SPAN}-1", &TRACE[16..]))]).unwrap();
        assert_eq!(
            cx.trace_id().to_string(),
            format!("{}{}", "0".repeat(16), &TRACE[16..])
        );

        for bad in [
            "0".to_string(),
            "1".into(),
            "d".into(),
            format!("{TRACE}-{SPAN}-x"),
            format!("{TRACE}-{SPAN}-1-bad"),
            format!("{TRACE}-{SPAN}-1-{SPAN}-extra"),
            format!("{}-{SPAN}-1", TRACE.to_uppercase()),
            format!("{}-{SPAN}", &TRACE[1..]),
            format!("{}-{SPAN}", "0".repeat(32)),
        ] {
            assert!(extract(&[("b3", &bad)]).is_none(), "{bad}");
        }
    }

    #[test]
    fn single_header_first_then_multi() {
        let other = "1".repeat(32);
        let both = extract(&[
            ("b3", &format!("{TRACE}-{SPAN}-1")),
            ("x-b3-traceid", &other),
            ("x-b3-spanid", SPAN),
        ])
        .unwrap();
        assert_eq!(both.trace_id().to_string(), TRACE);
        let fallback = extract(&[("b3", "0"), ("x-b3-traceid", &other), ("x-b3-spanid", SPAN)]);
        assert_eq!(fallback.unwrap().trace_id().to_string(), other);
    }

    #[test]
    fn multi_header_forms() {
        let base = [("x-b3-traceid", TRACE), ("x-b3-spanid", SPAN)];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            extract(&pairs)
        };
        assert!(with(&[("x-b3-sampled", "1")]).unwrap().flags().is_sampled());
        assert!(
            with(&[("x-b3-sampled", "true")])
                .unwrap()
                .flags()
                .is_sampled()
        );
        assert!(!with(&[("x-b3-sampled", "0")]).unwrap().flags().is_sampled());
        assert!(with(&[]).unwrap().is_sampling_deferred());
        let debug = with(&[("x-b3-flags", "1"), ("x-b3-sampled", "0")]).unwrap();
        assert!(debug.is_debug() && debug.flags().is_sampled());
        assert!(with(&[("x-b3-sampled", "yes")]).is_none());
        assert!(with(&[("x-b3-parentspanid", "nothex")]).is_none());
        assert!(extract(&[("x-b3-traceid", TRACE)]).is_none());
        let short = extract(&[("x-b3-traceid", &TRACE[16..]), ("x-b3-spanid", SPAN)]);
        assert_eq!(short.unwrap().trace_id().to_u128() >> 64, 0);
    }

    #[test]
    fn injection() {
        let cx = B3Propagator::single().extract(&headers(&[(
            "b3",
            &format!("{TRACE}-{SPAN}-1-05e3ac9a4f6e3b90"),
        )]));
        let mut out = HeaderMap::new();
        B3Propagator::single().inject(&cx, &mut out);
        assert_eq!(out["b3"], format!("{TRACE}-{SPAN}-1").as_str());

        let mut out = headers(&[("x-b3-parentspanid", SPAN), ("x-b3-flags", "1")]);
        B3Propagator::multi().inject(&cx, &mut out);
        assert_eq!(out["x-b3-traceid"], TRACE);
        assert_eq!(out["x-b3-spanid"], SPAN);
        assert_eq!(out["x-b3-sampled"], "1");
        assert!(out.get("x-b3-parentspanid").is_none() && out.get("x-b3-flags").is_none());

        let deferred =
            B3Propagator::single().extract(&headers(&[("b3", &format!("{TRACE}-{SPAN}"))]));
        let mut out = HeaderMap::new();
        B3Propagator::single().inject(&deferred, &mut out);
        assert_eq!(out["b3"], format!("{TRACE}-{SPAN}").as_str());
        B3Propagator::multi().inject(&deferred, &mut out);
        assert!(out.get("x-b3-sampled").is_none() && out.get("x-b3-flags").is_none());
    }
}
