//! Jaeger propagation: `uber-trace-id` and `uberctx-*` baggage.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::{
    PropagationContext, Propagator, parse_padded_hex_u128, set_or_remove, single_value, trim_ows,
};
use crate::context::{
    BaggageEntry, MAX_BAGGAGE_BYTES, MAX_LIST_MEMBERS, ScanBudget, SpanContext, TraceFlags,
    percent_decode, percent_encode_into,
};
use crate::id::{SpanId, TraceId};

const UBER_TRACE_ID: HeaderName = HeaderName::from_static("uber-trace-id");
const BAGGAGE_PREFIX: &str = "uberctx-";

const FLAG_SAMPLED: u8 = 0x01;
const FLAG_DEBUG: u8 = 0x02;

/// The Jaeger propagator: `uber-trace-id: {trace}:{span}:{parent}:{flags}` and one
/// `uberctx-{key}` header per baggage entry.
///
/// Ids shorter than their full width are left-padded (Jaeger clients drop leading zeros), the
/// URL-encoded form (`%3A` for `:`) is accepted, and hex digits may be upper or lower case as
/// Jaeger clients have written both. Flag `0x01` is sampled, `0x02` debug (which implies
/// sampled and is kept for downstream). The deprecated parent id is written as `0`.
///
/// # Example
///
/// ```
/// use http::HeaderMap;
/// use tracewire::propagation::{JaegerPropagator, Propagator};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("uber-trace-id", "abc%3A1f%3A0%3A1".parse().unwrap());
/// headers.insert("uberctx-tenant", "acme%20corp".parse().unwrap());
/// let cx = JaegerPropagator.extract(&headers);
/// let parent = cx.span_context.as_ref().unwrap();
/// assert_eq!(parent.trace_id().to_string(), "00000000000000000000000000000abc");
/// assert_eq!(cx.baggage.get("tenant"), Some("acme corp"));
///
/// let mut out = HeaderMap::new();
/// JaegerPropagator.inject(&cx, &mut out);
/// assert_eq!(out["uber-trace-id"], "00000000000000000000000000000abc:000000000000001f:0:1");
/// assert_eq!(out["uberctx-tenant"], "acme%20corp");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct JaegerPropagator;

impl JaegerPropagator {
    fn parse_trace_header(value: &[u8]) -> Option<SpanContext> {
        let value = trim_ows(value);
        // The longest valid value, every colon URL-encoded: 32 + 16 + 16 + 2 digits and 3 × 3.
        if value.len() > 75 {
            return None;
        }
        let decoded = decode_colons(value);
        let mut parts = decoded.split(|&b| b == b':');
        let (trace, span, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || parent.is_empty() || parent.len() > 16 {
            return None;
        }
        parse_padded_hex_u128(parent, true)?;
        let trace_id = TraceId::from_u128(parse_padded_hex_u128(trace, true)?)?;
        let span_id =
            u64::try_from(parse_padded_hex_u128(span, true).filter(|_| span.len() <= 16)?).ok()?;
        let span_id = SpanId::from_u64(span_id)?;
        let flags =
            u8::try_from(parse_padded_hex_u128(flags, true).filter(|_| flags.len() <= 2)?).ok()?;
        let debug = flags & FLAG_DEBUG != 0;
        let sampled = flags & FLAG_SAMPLED != 0 || debug;
        Some(
            SpanContext::new(trace_id, span_id, TraceFlags::NONE.with_sampled(sampled))
                .with_remote(true)
                .with_debug(debug),
        )
    }
}

impl Propagator for JaegerPropagator {
    fn extract_into(&self, headers: &HeaderMap, cx: &mut PropagationContext) {
        if let Some(span) = single_value(headers, &UBER_TRACE_ID).and_then(Self::parse_trace_header)
        {
            super::set_span_context(cx, span);
        }
        // As for the `baggage` header, a request cannot make this parser do more than the
        // W3C limits call for: at most as many `uberctx-` headers as a `baggage` list has
        // members are looked at, at most 16 KiB of their values decoded, and a value that
        // alone cannot fit is not decoded.
        let mut budget = ScanBudget {
            bytes: 2 * MAX_BAGGAGE_BYTES,
            members: MAX_LIST_MEMBERS,
        };
        for (name, value) in headers {
            let Some(key) = name.as_str().strip_prefix(BAGGAGE_PREFIX) else {
                continue;
            };
            if !budget.take_member() {
                break;
            }
            if value.len() > MAX_BAGGAGE_BYTES.min(budget.bytes) {
                continue;
            }
            budget.bytes -= value.len();
            // Jaeger clients write these with a URL query escape, where `+` is a space.
            let value = trim_ows(value.as_bytes());
            let value = match value.contains(&b'+') {
                false => percent_decode(value),
                true => {
                    let spaced: Vec<u8> = value
                        .iter()
                        .map(|&b| if b == b'+' { b' ' } else { b })
                        .collect();
                    percent_decode(&spaced)
                }
            };
            if let Ok(entry) = BaggageEntry::new(key, value) {
                // The W3C limits, as for the `baggage` header: a request cannot make this
                // process carry more.
                cx.baggage.insert_within_limits(entry);
            }
        }
    }

    fn inject(&self, cx: &PropagationContext, headers: &mut HeaderMap) {
        let value = cx.span_context.as_ref().and_then(|span| {
            let flags = if span.is_debug() {
                FLAG_SAMPLED | FLAG_DEBUG
            } else {
                u8::from(span.flags().is_sampled())
            };
            let value = format!("{}:{}:0:{flags:x}", span.trace_id(), span.span_id());
            HeaderValue::from_str(&value).ok()
        });
        set_or_remove(headers, UBER_TRACE_ID, value);

        let stale: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().starts_with(BAGGAGE_PREFIX))
            .cloned()
            .collect();
        for name in stale {
            headers.remove(name);
        }
        let mut encoded = String::new();
        for entry in cx.baggage.iter() {
            encoded.clear();
            percent_encode_into(entry.value(), &mut encoded);
            // A literal `+` would reach a Jaeger client as a space (see extraction).
            if encoded.contains('+') {
                encoded = encoded.replace('+', "%2B");
            }
            let name = HeaderName::try_from(format!("{BAGGAGE_PREFIX}{}", entry.key()));
            if let (Ok(name), Ok(value)) = (name, HeaderValue::from_str(&encoded)) {
                headers.insert(name, value);
            }
        }
    }

    fn fields(&self) -> Vec<HeaderName> {
        vec![UBER_TRACE_ID]
    }
}

/// Replaces URL-encoded colons (`%3A`, `%3a`), which some clients send, by `:`.
fn decode_colons(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'%'
            && value
                .get(i + 1..i + 3)
                .is_some_and(|h| h.eq_ignore_ascii_case(b"3a"))
        {
            out.push(b':');
            i += 3;
        } else {
            out.push(value[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Option<SpanContext> {
        JaegerPropagator::parse_trace_header(value.as_bytes())
    }

    #[test]
    fn trace_header_forms() {
        let cx = parse("4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1").unwrap();
        assert_eq!(
            cx.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(cx.flags().is_sampled() && !cx.is_debug());
        let cx = parse("a3ce929d0e0e4736:f067aa0ba902b7:53995c3f42cd8ad8:3").unwrap();
        assert_eq!(
            cx.trace_id().to_string(),
            "0000000000000000a3ce929d0e0e4736"
        );
        assert_eq!(cx.span_id().to_string(), "00f067aa0ba902b7");
        assert!(cx.is_debug() && cx.flags().is_sampled());
        assert!(
            parse("1:2:0:2").unwrap().flags().is_sampled(),
            "debug implies sampled"
        );
        assert!(!parse("1:2:0:0").unwrap().flags().is_sampled());
        assert!(parse("ABC%3a1F%3A0%3A1").is_some());

        for bad in [
            "",
            "1:2:0",
            "1:2:0:1:5",
            "0:2:0:1",
            "1:0:0:1",
            "1:2:0:100",
            "x:2:0:1",
            "1:2::1",
            "1::0:1",
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
        assert!(parse(&format!("{}:1:0:1", "1".repeat(33))).is_none());
        assert!(parse(&format!("1:{}:0:1", "1".repeat(17))).is_none());
    }

    #[test]
    fn baggage_round_trip_replaces_stale_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("uber-trace-id", HeaderValue::from_static("1:2:0:1"));
        headers.insert("uberctx-user", HeaderValue::from_static("Am%C3%A9lie"));
        let cx = JaegerPropagator.extract(&headers);
        assert_eq!(cx.baggage.get("user"), Some("Amélie"));

        let mut out = HeaderMap::new();
        out.insert("uberctx-stale", HeaderValue::from_static("x"));
        JaegerPropagator.inject(&cx, &mut out);
        assert!(out.get("uberctx-stale").is_none());
        assert_eq!(out["uberctx-user"], "Am%C3%A9lie");
        assert_eq!(
            out["uber-trace-id"],
            "00000000000000000000000000000001:0000000000000002:0:1"
        );

        // Jaeger clients query-escape values: `+` is a space, a literal plus is `%2B`.
        let mut headers = HeaderMap::new();
        headers.insert("uberctx-greeting", HeaderValue::from_static("hello+world"));
        headers.insert("uberctx-sum", HeaderValue::from_static("1%2B1"));
        let cx = JaegerPropagator.extract(&headers);
        assert_eq!(cx.baggage.get("greeting"), Some("hello world"));
        assert_eq!(cx.baggage.get("sum"), Some("1+1"));
        let mut out = HeaderMap::new();
        JaegerPropagator.inject(&cx, &mut out);
        assert_eq!(out["uberctx-sum"], "1%2B1");
    }

    #[test]
    fn uberctx_baggage_is_held_to_the_w3c_limits() {
        let mut headers = HeaderMap::new();
        for i in 0..100 {
            let name = HeaderName::from_bytes(format!("uberctx-k{i}").as_bytes()).unwrap();
            headers.insert(name, "v".parse().unwrap());
        }
        let cx = JaegerPropagator.extract(&headers);
        assert_eq!(cx.baggage.len(), 64);
    }
}
