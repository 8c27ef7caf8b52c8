//! W3C Baggage: the `baggage` header.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::{PropagationContext, Propagator, all_lines, set_or_remove};
use crate::context::Baggage;

const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

/// The W3C Baggage propagator: reads every `baggage` header line, skipping malformed members,
/// and writes one percent-encoded `baggage` header within the spec's limits (64 members, 8192
/// bytes, whole members only).
///
/// # Example
///
/// ```
/// use http::HeaderMap;
/// use tracewire::propagation::{BaggagePropagator, Propagator};
///
/// let mut headers = HeaderMap::new();
/// headers.append("baggage", "userId=alice".parse().unwrap());
/// headers.append("baggage", "serverNode=DF%2028;zone".parse().unwrap());
/// let cx = BaggagePropagator.extract(&headers);
/// assert_eq!(cx.baggage.get("serverNode"), Some("DF 28"));
///
/// let mut out = HeaderMap::new();
/// BaggagePropagator.inject(&cx, &mut out);
/// assert_eq!(out["baggage"], "userId=alice,serverNode=DF%2028;zone");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct BaggagePropagator;

impl Propagator for BaggagePropagator {
    fn extract_into(&self, headers: &HeaderMap, cx: &mut PropagationContext) {
        if !headers.contains_key(BAGGAGE) {
            return;
        }
        let baggage = Baggage::from_header_lines(all_lines(headers, &BAGGAGE));
        if cx.baggage.is_empty() {
            cx.baggage = baggage;
        } else {
            cx.baggage.merge(baggage);
        }
    }

    fn inject(&self, cx: &PropagationContext, headers: &mut HeaderMap) {
        let value = (!cx.baggage.is_empty())
            .then(|| cx.baggage.to_header_value())
            .filter(|v| !v.is_empty())
            .and_then(|v| HeaderValue::from_str(&v).ok());
        set_or_remove(headers, BAGGAGE, value);
    }

    fn fields(&self) -> Vec<HeaderName> {
        vec![BAGGAGE]
    }
}
