//! AWS X-Ray propagation: `X-Amzn-Trace-Id`.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::{PropagationContext, Propagator, set_or_remove, single_value, trim_ows};
use crate::context::{SpanContext, TraceFlags};
use crate::id::{SpanId, TraceId, hex};

const X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

/// The AWS X-Ray propagator:
/// `X-Amzn-Trace-Id: Root=1-{8 hex epoch}-{24 hex};Parent={16 hex};Sampled={0|1|?}`.
///
/// Keys may come in any order; `Self=`, `Lineage=` and unknown keys are tolerated. `Sampled`
/// absent or `?` leaves the sampling decision to this service. The X-Ray trace id maps to the
/// W3C one by joining its two hex parts.
///
/// # Example
///
/// ```
/// use http::HeaderMap;
/// use tracewire::propagation::{Propagator, XRayPropagator};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(
///     "x-amzn-trace-id",
///     "Self=1-67891234-12456789abcdef012345678;Sampled=?;Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793"
///         .parse()
///         .unwrap(),
/// );
/// let cx = XRayPropagator.extract(&headers);
/// let parent = cx.span_context.as_ref().unwrap();
/// assert_eq!(parent.trace_id().to_string(), "5759e988bd862e3fe1be46a994272793");
/// assert!(parent.is_sampling_deferred());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct XRayPropagator;

impl XRayPropagator {
    fn parse(value: &[u8]) -> Option<SpanContext> {
        let (mut trace_id, mut span_id, mut sampled) = (None, None, None);
        // Root, Parent, Sampled, Self, Lineage and a few custom fields: past 32 fields a
        // header is read no further, so a hostile one costs no more than a long valid one.
        for part in value.split(|&b| b == b';').take(32) {
            let part = trim_ows(part);
            let Some(eq) = part.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (key, value) = (&part[..eq], &part[eq + 1..]);
            match key {
                b"Root" => trace_id = Some(parse_root(value)?),
                b"Parent" if value.len() == 16 => {
                    span_id = Some(SpanId::from_u64(hex::decode_u64(value)?)?);
                }
                b"Parent" => return None,
                b"Sampled" => {
                    sampled = match value {
                        b"1" => Some(Some(true)),
                        b"0" => Some(Some(false)),
                        b"?" => Some(None),
                        _ => return None,
                    }
                }
                _ => {}
            }
        }
        let sampled = sampled.flatten();
        Some(
            SpanContext::new(
                trace_id?,
                span_id?,
                TraceFlags::NONE.with_sampled(sampled == Some(true)),
            )
            .with_remote(true)
            .with_sampling_deferred(sampled.is_none()),
        )
    }
}

/// `1-{8 hex}-{24 hex}`.
fn parse_root(value: &[u8]) -> Option<TraceId> {
    match value {
        [b'1', b'-', epoch @ ..] if epoch.len() == 33 && epoch[8] == b'-' => {
            let high = hex::decode_u128(&epoch[..8])?;
            let low = hex::decode_u128(&epoch[9..])?;
            TraceId::from_u128((high << 96) | low)
        }
        _ => None,
    }
}

impl Propagator for XRayPropagator {
    fn extract_into(&self, headers: &HeaderMap, cx: &mut PropagationContext) {
        if let Some(span) = single_value(headers, &X_AMZN_TRACE_ID).and_then(Self::parse) {
            super::set_span_context(cx, span);
        }
    }

    fn inject(&self, cx: &PropagationContext, headers: &mut HeaderMap) {
        let value = cx.span_context.as_ref().and_then(|span| {
            let trace_id = span.trace_id().to_string();
            let sampled = if span.is_sampling_deferred() {
                "?"
            } else if span.flags().is_sampled() {
                "1"
            } else {
                "0"
            };
            let value = format!(
                "Root=1-{}-{};Parent={};Sampled={sampled}",
                &trace_id[..8],
                &trace_id[8..],
                span.span_id()
            );
            HeaderValue::from_str(&value).ok()
        });
        set_or_remove(headers, X_AMZN_TRACE_ID, value);
    }

    fn fields(&self) -> Vec<HeaderName> {
        vec![X_AMZN_TRACE_ID]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "Root=1-5759e988-bd862e3fe1be46a994272793";

    fn parse(value: &str) -> Option<SpanContext> {
        XRayPropagator::parse(value.as_bytes())
    }

    #[test]
    fn header_forms() {
        let cx = parse(&format!("{ROOT};Parent=53995c3f42cd8ad8;Sampled=1")).unwrap();
        assert!(cx.flags().is_sampled() && !cx.is_sampling_deferred());
        assert_eq!(cx.span_id().to_string(), "53995c3f42cd8ad8");
        let cx = parse(&format!(
            "Parent=53995c3f42cd8ad8; {ROOT} ;Lineage=a87bd80c:1|68fd508a:5;Foo=bar"
        ))
        .unwrap();
        assert!(cx.is_sampling_deferred() && !cx.flags().is_sampled());
        assert!(
            !parse(&format!("{ROOT};Parent=53995c3f42cd8ad8;Sampled=0"))
                .unwrap()
                .flags()
                .is_sampled()
        );

        for bad in [
            format!("{ROOT};Sampled=1"),
            "Parent=53995c3f42cd8ad8;Sampled=1".into(),
            format!("{ROOT};Parent=53995c3f42cd8ad;Sampled=1"),
            format!("{ROOT};Parent=53995c3f42cd8ad8;Sampled=2"),
            "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8".into(),
            "Root=1-5759e988bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8".into(),
            "Root=1-5759E988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8".into(),
        ] {
            assert!(parse(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn injection() {
        let cx = PropagationContext {
            span_context: parse(&format!("{ROOT};Parent=53995c3f42cd8ad8;Sampled=1")),
            ..Default::default()
        };
        let mut out = HeaderMap::new();
        XRayPropagator.inject(&cx, &mut out);
        assert_eq!(
            out["x-amzn-trace-id"],
            format!("{ROOT};Parent=53995c3f42cd8ad8;Sampled=1").as_str()
        );
    }
}
