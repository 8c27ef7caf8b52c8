//! Reading and writing trace context in request headers.
//!
//! A [`Propagator`] extracts a [`PropagationContext`] (the caller's [`SpanContext`] and
//! [`Baggage`]) from an [`http::HeaderMap`] and injects one into the headers of an outgoing
//! request. gRPC metadata travels as HTTP/2 headers, so the same propagators serve both.
//!
//! | format | propagator | headers |
//! |---|---|---|
//! | W3C Trace Context Level 2 | [`TraceContextPropagator`] | `traceparent`, `tracestate` |
//! | W3C Baggage | [`BaggagePropagator`] | `baggage` |
//! | B3 single / multi | [`B3Propagator`] | `b3` / `x-b3-*` |
//! | Jaeger | [`JaegerPropagator`] | `uber-trace-id`, `uberctx-*` |
//! | AWS X-Ray | [`XRayPropagator`] | `x-amzn-trace-id` |
//!
//! [`CompositePropagator`] runs several, as the OpenTelemetry SDKs do; its default is
//! `tracecontext,baggage`, and [`CompositePropagator::from_env`] reads `OTEL_PROPAGATORS`.
//! There is no global propagator that silently does nothing: the propagator is a value you
//! hold and pass on.
//!
//! Malformed headers are normal input: they never panic, and each format handles them as its
//! specification says (an invalid `traceparent` is ignored, so a new trace starts; an invalid
//! `tracestate` is dropped; malformed baggage members are skipped).
//!
//! # Example
//!
//! ```
//! use http::HeaderMap;
//! use tracewire::propagation::{CompositePropagator, Propagator};
//!
//! let propagator = CompositePropagator::default(); // tracecontext, baggage
//!
//! let mut incoming = HeaderMap::new();
//! incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
//! incoming.insert("baggage", "tenant=acme".parse().unwrap());
//! let cx = propagator.extract(&incoming);
//! let parent = cx.span_context.as_ref().unwrap();
//! assert!(parent.is_remote() && parent.flags().is_sampled());
//!
//! // Downstream, as a child of the incoming span.
//! let mut outgoing = HeaderMap::new();
//! let child = cx.child();
//! propagator.inject(&child, &mut outgoing);
//! let traceparent = outgoing["traceparent"].to_str().unwrap();
//! assert!(traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
//! assert!(traceparent.ends_with("-01"));
//! assert_eq!(outgoing["baggage"], "tenant=acme");
//! ```

mod b3;
mod baggage;
mod composite;
mod env;
mod header_value;
mod jaeger;
mod trace_context;
mod xray;

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};

pub use b3::{B3Encoding, B3Propagator};
pub use baggage::BaggagePropagator;
pub use composite::CompositePropagator;
pub use env::PROPAGATOR_NAMES;
pub use jaeger::JaegerPropagator;
pub use trace_context::{InvalidTraceparent, TraceContextPropagator};
pub use xray::XRayPropagator;

use crate::context::{Baggage, SpanContext, trim_ows};

/// What crosses a process boundary with a request: the caller's span and the baggage.
///
/// # Example
///
/// ```
/// use http::HeaderMap;
/// use tracewire::propagation::{CompositePropagator, Propagator};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// headers.insert("baggage", "tenant=acme".parse().unwrap());
/// let cx = CompositePropagator::default().extract(&headers);
/// assert!(cx.span_context.unwrap().is_remote());
/// assert_eq!(cx.baggage.get("tenant"), Some("acme"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PropagationContext {
    /// The span that made the request, if the headers carried a valid one.
    pub span_context: Option<SpanContext>,
    /// Application key/value pairs that travel with the request.
    pub baggage: Baggage,
}

impl PropagationContext {
    /// The context to send downstream from a new span that is a child of this one: same
    /// trace, flags, state and baggage, a new span id; a new root trace (not sampled) when
    /// there was no incoming span.
    ///
    /// The tracer makes real sampling decisions; this is what a pass-through component or
    /// the `propagation` example needs.
    #[must_use]
    pub fn child(&self) -> Self {
        let span_context = match &self.span_context {
            Some(parent) => parent.new_child(),
            None => SpanContext::new_root(false),
        };
        Self {
            span_context: Some(span_context),
            baggage: self.baggage.clone(),
        }
    }
}

/// Reads and writes one or more trace-context formats in headers.
///
/// `extract_into` adds what it finds to a context that earlier propagators may already have
/// filled: a valid span context replaces the one there, baggage is merged. A header that is
/// absent or invalid leaves the context unchanged.
///
/// `inject` writes this format's headers for the given context, replacing any stale values of
/// those headers, and removes them when it has nothing to write.
///
/// # Example
///
/// ```
/// use http::{HeaderMap, HeaderName, HeaderValue};
/// use tracewire::propagation::{PropagationContext, Propagator};
///
/// /// Sends the trace id in a header of its own, for a log pipeline that keys on it.
/// #[derive(Debug)]
/// struct TraceIdHeader;
///
/// const X_TRACE_ID: HeaderName = HeaderName::from_static("x-trace-id");
///
/// impl Propagator for TraceIdHeader {
///     fn extract_into(&self, _headers: &HeaderMap, _cx: &mut PropagationContext) {}
///
///     fn inject(&self, cx: &PropagationContext, headers: &mut HeaderMap) {
///         match &cx.span_context {
///             Some(span) => {
///                 let value = HeaderValue::from_str(&span.trace_id().to_string()).unwrap();
///                 headers.insert(X_TRACE_ID, value);
///             }
///             None => {
///                 headers.remove(X_TRACE_ID);
///             }
///         }
///     }
///
///     fn fields(&self) -> Vec<HeaderName> {
///         vec![X_TRACE_ID]
///     }
/// }
///
/// let cx = PropagationContext { span_context: Some(tracewire::SpanContext::new_root(true)), ..Default::default() };
/// let mut headers = HeaderMap::new();
/// TraceIdHeader.inject(&cx, &mut headers);
/// assert_eq!(headers["x-trace-id"].len(), 32);
/// ```
pub trait Propagator: Send + Sync + fmt::Debug + 'static {
    /// Reads this format's headers into `cx`.
    fn extract_into(&self, headers: &HeaderMap, cx: &mut PropagationContext);

    /// Writes this format's headers for `cx`.
    fn inject(&self, cx: &PropagationContext, headers: &mut HeaderMap);

    /// The names of the headers this propagator writes: what a proxy or a CORS policy must
    /// let through (Jaeger's `uberctx-*` baggage headers, named by their keys, are not listed;
    /// B3 reads both its encodings but lists the one it writes).
    fn fields(&self) -> Vec<HeaderName>;

    /// Reads this format's headers into a new context.
    fn extract(&self, headers: &HeaderMap) -> PropagationContext {
        let mut cx = PropagationContext::default();
        self.extract_into(headers, &mut cx);
        cx
    }
}

/// Sets the incoming span context a propagator found. If an earlier propagator found one of
/// the same trace (W3C Trace Context before B3, Jaeger or X-Ray, whose headers carry less),
/// its trace state and its random flag carry over: "If the flag is set in the incoming
/// `traceparent` header, it MUST also be set in all outgoing `traceparent` headers which use
/// the same `trace-id`" (Trace Context Level 2, random trace id flag), and "Vendors receiving
/// a `tracestate` request header MUST send it to outgoing requests" (§3.5).
fn set_span_context(cx: &mut PropagationContext, found: SpanContext) {
    let found = match &cx.span_context {
        Some(earlier) if earlier.trace_id() == found.trace_id() => {
            let random = found.flags().is_random() || earlier.flags().is_random();
            let state = match found.state().is_empty() {
                true => earlier.state().clone(),
                false => found.state().clone(),
            };
            let flags = found.flags().with_random(random);
            found.with_flags(flags).with_state(state)
        }
        _ => found,
    };
    cx.span_context = Some(found);
}

/// The value of a header that must appear once; `None` if it is absent or repeated (a repeated
/// trace header is ambiguous, so it is treated as invalid).
fn single_value<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a [u8]> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    values.next().is_none().then_some(first.as_bytes())
}

/// Every line of a header, in order (RFC 9110 §5.3).
fn all_lines<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a [u8]> {
    headers.get_all(name).iter().map(HeaderValue::as_bytes)
}

/// Sets a header to `value`, or removes it when there is nothing to send.
fn set_or_remove(headers: &mut HeaderMap, name: HeaderName, value: Option<HeaderValue>) {
    match value {
        Some(value) => {
            headers.insert(name, value);
        }
        None => {
            headers.remove(name);
        }
    }
}

/// Parses 1 to 32 hex digits, left-padded to a 128-bit value (B3, Jaeger and X-Ray ids).
fn parse_padded_hex_u128(digits: &[u8], allow_uppercase: bool) -> Option<u128> {
    if digits.is_empty() || digits.len() > 32 {
        return None;
    }
    if allow_uppercase {
        std::str::from_utf8(digits)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|s| u128::from_str_radix(s, 16).ok())
    } else {
        crate::id::hex::decode_u128(digits)
    }
}

#[cfg(test)]
mod hostile_input_tests {
    use proptest::prelude::*;

    use super::*;

    fn every_format() -> CompositePropagator {
        CompositePropagator::new(vec![
            Box::new(TraceContextPropagator::new()),
            Box::new(BaggagePropagator),
            Box::new(B3Propagator::single()),
            Box::new(B3Propagator::multi()),
            Box::new(JaegerPropagator),
            Box::new(XRayPropagator),
        ])
    }

    const NAMES: &[&str] = &[
        "traceparent",
        "tracestate",
        "baggage",
        "b3",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-sampled",
        "uber-trace-id",
        "uberctx-a",
        "uberctx-b",
        "x-amzn-trace-id",
    ];

    /// Arbitrary bytes, some repeated into headers far larger than any valid one.
    fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            (prop::collection::vec(any::<u8>(), 1..40), 1usize..20_000)
                .prop_map(|(fragment, times)| fragment.repeat(times)),
            ("[a-z0-9=,;% -]{1,12}", 1usize..20_000)
                .prop_map(|(fragment, times)| fragment.repeat(times).into_bytes()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// No header bytes panic a parser, and the list members any parser visits stay within
        /// the bounds of its format (180 for `baggage` and for `uberctx-` headers, 128 for
        /// `tracestate`), however large the input.
        #[test]
        fn any_header_bytes_cost_bounded_work(
            lines in prop::collection::vec((0..NAMES.len(), hostile_bytes()), 1..6)
        ) {
            let mut headers = HeaderMap::new();
            for (name, bytes) in lines {
                if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                    headers.append(HeaderName::from_static(NAMES[name]), value);
                }
            }
            let visited = crate::context::visited_members_during(|| {
                let cx = every_format().extract(&headers);
                assert!(cx.baggage.len() <= 64);
            });
            prop_assert!(visited <= 2 * 181 + 129, "{} members visited", visited);
        }
    }
}
