//! W3C Trace Context Level 2: `traceparent` and `tracestate`.

use std::fmt;

use http::{HeaderMap, HeaderName};

use super::header_value::header_value;
use super::{PropagationContext, Propagator, all_lines, set_or_remove, single_value, trim_ows};
use crate::context::{SpanContext, TraceFlags, TraceState};
use crate::id::{SpanId, TraceId, hex};

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Length of a version `00` `traceparent`: `2-32-16-2` plus three dashes (§3.2.2).
const TRACEPARENT_LEN: usize = 55;

/// The most `tracestate` characters sent downstream: the 512 the spec asks every vendor to
/// propagate (§3.3.1.5), so a vendor that keeps only that much sees the same list.
const TRACESTATE_MAX_LEN: usize = 512;

/// The W3C Trace Context propagator (`traceparent` and `tracestate`), Level 2.
///
/// Extraction follows the specification to the letter: surrounding spaces and tabs trimmed;
/// version `00` exactly 55 characters of lowercase hex in fields of 2-32-16-2; version `ff`
/// invalid; a higher version parsed for its first four fields when it is at least 55
/// characters and its flags are followed by the end or a `-`; all-zero ids invalid; several
/// `traceparent` lines invalid. An invalid `traceparent` is ignored together with
/// `tracestate` (§3.3), so the service starts a new trace. Only the flags Level 2 defines
/// (`sampled`, `random`) are kept.
///
/// Injection writes version `00` in lowercase and a canonical `tracestate` of at most 512
/// characters, cut by whole members (§3.3.1.5), never an empty `tracestate`.
///
/// # Example
///
/// ```
/// use tracewire::propagation::{InvalidTraceparent, TraceContextPropagator};
///
/// let cx = TraceContextPropagator::parse_traceparent(
///     b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff-future",
/// )
/// .unwrap();
/// assert_eq!(cx.flags().bits(), 0x03); // undefined flags are zeroed
///
/// assert_eq!(
///     TraceContextPropagator::parse_traceparent(
///         b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"
///     ),
///     Err(InvalidTraceparent::Length { found: 61 })
/// );
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceContextPropagator;

/// Why a `traceparent` value is invalid; each case means "start a new trace".
///
/// # Example
///
/// ```
/// use tracewire::propagation::{InvalidTraceparent, TraceContextPropagator};
///
/// let uppercase = b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01";
/// assert!(matches!(
///     TraceContextPropagator::parse_traceparent(uppercase),
///     Err(InvalidTraceparent::TraceId)
/// ));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidTraceparent {
    /// The request carried more than one `traceparent` header line.
    Repeated,
    /// Version `00` must be exactly 55 characters (§3.2.2).
    Length {
        /// The length found, after trimming spaces and tabs.
        found: usize,
    },
    /// A header of a higher version must be at least 55 characters (§3.2.4).
    TooShort {
        /// The length found, after trimming spaces and tabs.
        found: usize,
    },
    /// The version is not two lowercase hex digits followed by `-` (§3.2.2.1, §3.2.4).
    Version,
    /// Version `ff` is forbidden (§3.2.2.1).
    VersionFf,
    /// The trace id is not 32 lowercase hex digits followed by `-` (§3.2.2.3).
    TraceId,
    /// The trace id is all zeros (§3.2.2.3).
    TraceIdAllZeros,
    /// The parent id is not 16 lowercase hex digits followed by `-` (§3.2.2.4).
    ParentId,
    /// The parent id is all zeros (§3.2.2.4).
    ParentIdAllZeros,
    /// The flags are not two lowercase hex digits followed by the end or `-` (§3.2.2.5,
    /// §3.2.4).
    Flags,
}

impl fmt::Display for InvalidTraceparent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Repeated => f.write_str("more than one traceparent header"),
            Self::Length { found } => write!(
                f,
                "version 00 must be exactly 55 characters (2-32-16-2 hex fields), found {found} (W3C Trace Context §3.2.2)"
            ),
            Self::TooShort { found } => write!(
                f,
                "a traceparent must be at least 55 characters, found {found} (§3.2.4)"
            ),
            Self::Version => f.write_str(
                "the version is not two lowercase hex digits followed by '-' (§3.2.2.1)",
            ),
            Self::VersionFf => f.write_str("version ff is forbidden (§3.2.2.1)"),
            Self::TraceId => f.write_str(
                "the trace-id is not 32 lowercase hex digits followed by '-' (§3.2.2.3)",
            ),
            Self::TraceIdAllZeros => f.write_str("the trace-id is all zeros (§3.2.2.3)"),
            Self::ParentId => f.write_str(
                "the parent-id is not 16 lowercase hex digits followed by '-' (§3.2.2.4)",
            ),
            Self::ParentIdAllZeros => f.write_str("the parent-id is all zeros (§3.2.2.4)"),
            Self::Flags => f.write_str(
                "the trace-flags are not two lowercase hex digits at the end or followed by '-' (§3.2.2.5, §3.2.4)",
            ),
        }
    }
}

impl std::error::Error for InvalidTraceparent {}

impl TraceContextPropagator {
    /// A W3C Trace Context propagator.
    pub const fn new() -> Self {
        Self
    }

    /// Parses one `traceparent` value into a remote span context (empty trace state), or
    /// says why it is invalid. Surrounding spaces and tabs are ignored.
    pub fn parse_traceparent(value: &[u8]) -> Result<SpanContext, InvalidTraceparent> {
        let value = trim_ows(value);
        let version = match value {
            [high, low, b'-', ..] => hex::decode_u64(&[*high, *low]),
            _ => None,
        }
        .ok_or(InvalidTraceparent::Version)?;
        match version {
            0xff => return Err(InvalidTraceparent::VersionFf),
            0x00 if value.len() != TRACEPARENT_LEN => {
                return Err(InvalidTraceparent::Length { found: value.len() });
            }
            _ if value.len() < TRACEPARENT_LEN => {
                return Err(InvalidTraceparent::TooShort { found: value.len() });
            }
            _ => {}
        }
        // From here the value has at least 55 bytes: fixed offsets are in bounds.
        if value[35] != b'-' {
            return Err(InvalidTraceparent::TraceId);
        }
        let trace_id = hex::decode_u128(&value[3..35]).ok_or(InvalidTraceparent::TraceId)?;
        let trace_id = TraceId::from_u128(trace_id).ok_or(InvalidTraceparent::TraceIdAllZeros)?;
        if value[52] != b'-' {
            return Err(InvalidTraceparent::ParentId);
        }
        let span_id = hex::decode_u64(&value[36..52]).ok_or(InvalidTraceparent::ParentId)?;
        let span_id = SpanId::from_u64(span_id).ok_or(InvalidTraceparent::ParentIdAllZeros)?;
        // §3.2.4: the flags of a higher version end the value or are followed by `-`.
        if value.len() > TRACEPARENT_LEN && value[TRACEPARENT_LEN] != b'-' {
            return Err(InvalidTraceparent::Flags);
        }
        let flags = hex::decode_u64(&value[53..55]).ok_or(InvalidTraceparent::Flags)?;
        Ok(
            SpanContext::new(trace_id, span_id, TraceFlags::from_bits(flags as u8))
                .with_remote(true),
        )
    }

    /// Writes the version `00` `traceparent` of a span context.
    ///
    /// ```
    /// use tracewire::{SpanContext, SpanId, TraceFlags, TraceId};
    /// use tracewire::propagation::TraceContextPropagator;
    ///
    /// let cx = SpanContext::new(
    ///     "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap(),
    ///     "00f067aa0ba902b7".parse().unwrap(),
    ///     TraceFlags::SAMPLED,
    /// );
    /// let value = TraceContextPropagator::format_traceparent(&cx);
    /// assert_eq!(&value[..], b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    /// ```
    pub fn format_traceparent(cx: &SpanContext) -> [u8; TRACEPARENT_LEN] {
        let mut out = [b'-'; TRACEPARENT_LEN];
        out[..2].copy_from_slice(b"00");
        let mut trace_id = [0; 32];
        cx.trace_id().write_hex(&mut trace_id);
        out[3..35].copy_from_slice(&trace_id);
        let mut span_id = [0; 16];
        cx.span_id().write_hex(&mut span_id);
        out[36..52].copy_from_slice(&span_id);
        let flags = hex::encode_byte(cx.flags().bits());
        out[53] = flags[0];
        out[54] = flags[1];
        out
    }
}

impl Propagator for TraceContextPropagator {
    fn extract_into(&self, headers: &HeaderMap, cx: &mut PropagationContext) {
        let Some(value) = single_value(headers, &TRACEPARENT) else {
            return;
        };
        let Ok(parent) = Self::parse_traceparent(value) else {
            // §3.3: "If the vendor failed to parse traceparent, it MUST NOT attempt to parse
            // tracestate."
            return;
        };
        // §3.3.1: an invalid tracestate is dropped, the traceparent kept.
        let name = TRACESTATE;
        let mut lines = all_lines(headers, &name).peekable();
        let state = match lines.peek() {
            Some(_) => TraceState::from_header_lines(lines).unwrap_or_default(),
            // Most requests carry none: skip the parser's setup.
            None => TraceState::default(),
        };
        cx.span_context = Some(parent.with_state(state));
    }

    fn inject(&self, cx: &PropagationContext, headers: &mut HeaderMap) {
        let Some(span) = &cx.span_context else {
            headers.remove(TRACEPARENT);
            headers.remove(TRACESTATE);
            return;
        };
        let traceparent = Self::format_traceparent(span);
        set_or_remove(headers, TRACEPARENT, header_value(&traceparent));
        // §3.3.1: vendors SHOULD avoid sending an empty tracestate.
        let state = (!span.state().is_empty())
            .then(|| span.state().truncated(TRACESTATE_MAX_LEN))
            .filter(|s| !s.is_empty())
            .and_then(|s| header_value(s.as_bytes()));
        set_or_remove(headers, TRACESTATE, state);
    }

    fn fields(&self) -> Vec<HeaderName> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn parse(value: &str) -> Result<SpanContext, InvalidTraceparent> {
        TraceContextPropagator::parse_traceparent(value.as_bytes())
    }

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
        TraceContextPropagator.extract(&headers(pairs)).span_context
    }

    // §3.2.2: the version 00 format.
    #[test]
    fn parses_version_00() {
        let cx = parse(&format!("00-{TRACE}-{SPAN}-01")).unwrap();
        assert_eq!(cx.trace_id().to_string(), TRACE);
        assert_eq!(cx.span_id().to_string(), SPAN);
        assert!(cx.flags().is_sampled() && !cx.flags().is_random());
        assert!(cx.is_remote());
    }

    // §3.2.2 and §3.2.4: the tricky lengths and delimiters.
    #[test]
    fn field_widths_and_future_versions() {
        assert_eq!(
            parse(&format!("00-{TRACE}-{SPAN}-01-extra")),
            Err(InvalidTraceparent::Length { found: 61 })
        );
        assert!(parse(&format!("cc-{TRACE}-{SPAN}-01-extra")).is_ok());
        assert!(parse(&format!("cc-{TRACE}-{SPAN}-01-")).is_ok());
        assert!(parse(&format!("cc-{TRACE}-{SPAN}-01")).is_ok());
        assert_eq!(
            parse(&format!("cc-{TRACE}-{SPAN}-01.extra")),
            Err(InvalidTraceparent::Flags)
        );
        assert_eq!(
            parse(&format!("cc-{TRACE}-{SPAN}-0")),
            Err(InvalidTraceparent::TooShort { found: 54 })
        );
        // 15- and 33-hex ids.
        assert!(parse(&format!("00-{TRACE}-{}-01", &SPAN[1..])).is_err());
        assert!(parse(&format!("00-{TRACE}0-{SPAN}-01")).is_err());
        assert!(parse(&format!("00-{}-{SPAN}0-01", &TRACE[1..])).is_err());
        assert!(parse(&format!("00-{TRACE}-{SPAN}0-01")).is_err());
        // 1- and 3-digit versions and flags.
        assert!(parse(&format!("0-{TRACE}-{SPAN}-01")).is_err());
        assert!(parse(&format!("000-{TRACE}-{SPAN}-01")).is_err());
        assert!(parse(&format!("00-{TRACE}-{SPAN}-1")).is_err());
        assert!(parse(&format!("00-{TRACE}-{SPAN}-001")).is_err());
        // Higher versions may have longer future fields only after a dash.
        assert_eq!(
            parse(&format!("cc-{TRACE}-{SPAN}-001")),
            Err(InvalidTraceparent::Flags)
        );
    }

    // §3.2.2.1: version ff and non-hex versions.
    #[test]
    fn invalid_versions() {
        assert_eq!(
            parse(&format!("ff-{TRACE}-{SPAN}-01")),
            Err(InvalidTraceparent::VersionFf)
        );
        assert_eq!(
            parse(&format!(".0-{TRACE}-{SPAN}-01")),
            Err(InvalidTraceparent::Version)
        );
        assert_eq!(
            parse(&format!("0f{TRACE}-{SPAN}-01-")),
            Err(InvalidTraceparent::Version)
        );
        assert_eq!(
            parse(&format!("CC-{TRACE}-{SPAN}-01")),
            Err(InvalidTraceparent::Version)
        );
        assert_eq!(parse(""), Err(InvalidTraceparent::Version));
    }

    // §3.2.2.3–5: lowercase hex only, ids not all zero, flags hex.
    #[test]
    fn invalid_fields() {
        let upper = TRACE.to_uppercase();
        assert_eq!(
            parse(&format!("00-{upper}-{SPAN}-01")),
            Err(InvalidTraceparent::TraceId)
        );
        assert_eq!(
            parse(&format!("00-{TRACE}-{}-01", SPAN.to_uppercase())),
            Err(InvalidTraceparent::ParentId)
        );
        assert_eq!(
            parse(&format!("00-{}-{SPAN}-01", "0".repeat(32))),
            Err(InvalidTraceparent::TraceIdAllZeros)
        );
        assert_eq!(
            parse(&format!("00-{TRACE}-{}-01", "0".repeat(16))),
            Err(InvalidTraceparent::ParentIdAllZeros)
        );
        assert_eq!(
            parse(&format!("00-{TRACE}-{SPAN}-0g")),
            Err(InvalidTraceparent::Flags)
        );
        assert_eq!(
            parse(&format!("00-{TRACE}-{SPAN}-0A")),
            Err(InvalidTraceparent::Flags)
        );
        assert_eq!(
            parse(&format!("00-{TRACE}.{SPAN}-01")),
            Err(InvalidTraceparent::TraceId)
        );
        assert_eq!(
            parse(&format!("00-{TRACE}-{SPAN}.01")),
            Err(InvalidTraceparent::ParentId)
        );
    }

    // §3.2.2.5: undefined flags are zeroed; sampled and random are kept.
    #[test]
    fn flags_03_and_ff() {
        for (flags, bits) in [
            ("00", 0),
            ("01", 1),
            ("02", 2),
            ("03", 3),
            ("ff", 3),
            ("fc", 0),
        ] {
            let cx = parse(&format!("00-{TRACE}-{SPAN}-{flags}")).unwrap();
            assert_eq!(cx.flags().bits(), bits, "flags {flags}");
        }
        let mut out = HeaderMap::new();
        let cx = parse(&format!("00-{TRACE}-{SPAN}-ff")).unwrap();
        TraceContextPropagator.inject(
            &PropagationContext {
                span_context: Some(cx),
                ..Default::default()
            },
            &mut out,
        );
        assert!(out["traceparent"].to_str().unwrap().ends_with("-03"));
    }

    // RFC 9110 §5.5 and the W3C test suite's OWS cases.
    #[test]
    fn trims_spaces_and_tabs() {
        for value in [
            " 00-{T}-{S}-01",
            "\t00-{T}-{S}-01",
            "00-{T}-{S}-01 \t",
            "\t 00-{T}-{S}-01 \t",
        ] {
            let value = value.replace("{T}", TRACE).replace("{S}", SPAN);
            assert!(parse(&value).is_ok(), "{value:?}");
        }
    }

    // §3.2.1 and §3.3: several traceparent lines are invalid, and take tracestate with them.
    #[test]
    fn repeated_traceparent_and_tracestate_rules() {
        let valid = format!("00-{TRACE}-{SPAN}-01");
        assert!(extract(&[("traceparent", &valid), ("traceparent", &valid)]).is_none());
        assert!(extract(&[("tracestate", "foo=1")]).is_none());
        let invalid = format!("00-{TRACE}-{SPAN}-0x");
        assert!(extract(&[("traceparent", &invalid), ("tracestate", "foo=1")]).is_none());

        let cx = extract(&[
            ("traceparent", &valid),
            ("tracestate", ""),
            ("tracestate", "foo=1"),
            ("tracestate", ""),
            ("tracestate", "bar=2"),
        ])
        .unwrap();
        assert_eq!(cx.state().to_string(), "foo=1,bar=2");

        // An invalid tracestate is dropped; the traceparent stays (§3.3).
        let cx = extract(&[("traceparent", &valid), ("tracestate", "foo=1,@bar=2")]).unwrap();
        assert!(cx.state().is_empty());
        assert_eq!(cx.trace_id().to_string(), TRACE);
    }

    // §3.3.1: never send an empty tracestate; §3.3.1.5: cut at 512 characters by members.
    #[test]
    fn injects_canonical_tracestate() {
        let valid = format!("00-{TRACE}-{SPAN}-01");
        let mut cx = TraceContextPropagator.extract(&headers(&[("traceparent", &valid)]));
        let mut out = headers(&[("tracestate", "stale=1"), ("traceparent", "stale")]);
        TraceContextPropagator.inject(&cx, &mut out);
        assert!(out.get("tracestate").is_none());
        assert_eq!(out.get_all("traceparent").iter().count(), 1);

        let state: Vec<String> = (0..32)
            .map(|i| format!("k{i:02}={}", "v".repeat(20)))
            .collect();
        let state = state.join(" , ").parse().unwrap();
        cx.span_context = cx.span_context.map(|s| s.with_state(state));
        TraceContextPropagator.inject(&cx, &mut out);
        let sent = out["tracestate"].to_str().unwrap();
        assert!(sent.len() <= 512);
        assert!(sent.starts_with("k00="));
        assert!(!sent.contains(' '));
    }

    #[test]
    fn round_trip_keeps_random_flag() {
        let cx = SpanContext::new_root(true);
        let value = TraceContextPropagator::format_traceparent(&cx);
        let back = TraceContextPropagator::parse_traceparent(&value).unwrap();
        assert_eq!(back.trace_id(), cx.trace_id());
        assert_eq!(back.span_id(), cx.span_id());
        assert_eq!(back.flags(), TraceFlags::SAMPLED.with_random(true));

        // A random flag that arrived unset stays unset on children (§3.2.2.5.2).
        let unset = parse(&format!("00-{TRACE}-{SPAN}-01")).unwrap();
        assert!(!unset.new_child().flags().is_random());
    }
}
