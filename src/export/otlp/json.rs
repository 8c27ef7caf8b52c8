//! OTLP/JSON, written straight from [`SpanData`].
//!
//! The OTLP specification ("JSON Protobuf Encoding") maps the protobuf messages to JSON with
//! the proto3 JSON rules and three exceptions this encoder keeps: trace and span ids are hex
//! strings, not base64; enums (span kind, status code) are integers, not names; keys are
//! lowerCamelCase. 64-bit integers (`fixed64` times, `int64` values) are decimal strings, as
//! proto3 JSON says; non-finite doubles are `"NaN"`, `"Infinity"`, `"-Infinity"`.

use std::fmt::Write as _;

use super::proto::{for_each_group, kind_number, link_flags, span_flags, status_code};
use crate::context::SpanContext;
use crate::span::{Event, KeyValue, Link, SpanData, Status, Value};

/// Appends an OTLP/JSON `ExportTraceServiceRequest` holding `batch` to `out`, grouped by
/// resource and scope like the protobuf encoding.
///
/// # Example
///
/// ```
/// let mut json = Vec::new();
/// tracewire::export::otlp::encode_json(&[], &mut json);
/// assert_eq!(json, br#"{"resourceSpans":[]}"#);
/// ```
pub fn encode_json(batch: &[SpanData], out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"resourceSpans":["#);
    let mut first_resource = true;
    for_each_group(batch, |resource, scopes| {
        comma(out, &mut first_resource);
        out.extend_from_slice(br#"{"resource":{"attributes":"#);
        attributes(out, resource.attributes());
        out.extend_from_slice(br#"},"scopeSpans":["#);
        let mut first_scope = true;
        for (scope, spans) in scopes {
            comma(out, &mut first_scope);
            out.extend_from_slice(br#"{"scope":{"name":"#);
            string(out, &scope.name);
            if let Some(version) = &scope.version {
                out.extend_from_slice(br#","version":"#);
                string(out, version);
            }
            out.extend_from_slice(br#"},"spans":["#);
            let mut first_span = true;
            for span in spans {
                comma(out, &mut first_span);
                encode_span(span, out);
            }
            out.extend_from_slice(b"]}");
        }
        out.extend_from_slice(b"]}");
    });
    out.extend_from_slice(b"]}");
}

fn encode_span(span: &SpanData, out: &mut Vec<u8>) {
    let cx = &span.span_context;
    ids(cx, out);
    if let Some(parent) = span.parent_span_id {
        out.extend_from_slice(br#","parentSpanId":""#);
        let mut hex = [0u8; 16];
        parent.write_hex(&mut hex);
        out.extend_from_slice(&hex);
        out.push(b'"');
    }
    out.extend_from_slice(br#","flags":"#);
    decimal(out, span_flags(span).into());
    out.extend_from_slice(br#","name":"#);
    string(out, &span.name);
    out.extend_from_slice(br#","kind":"#);
    decimal(out, kind_number(span.kind));
    out.extend_from_slice(br#","startTimeUnixNano":""#);
    decimal(out, span.start_unix_nanos);
    out.extend_from_slice(br#"","endTimeUnixNano":""#);
    decimal(out, span.end_unix_nanos);
    out.extend_from_slice(br#"","attributes":"#);
    attributes(out, &span.attributes);
    count(out, "droppedAttributesCount", span.dropped_attributes);
    if !span.events.is_empty() {
        out.extend_from_slice(br#","events":"#);
        list(out, &span.events, |out, event| encode_event(event, out));
    }
    count(out, "droppedEventsCount", span.dropped_events);
    if !span.links.is_empty() {
        out.extend_from_slice(br#","links":"#);
        list(out, &span.links, |out, link| encode_link(link, out));
    }
    count(out, "droppedLinksCount", span.dropped_links);
    if span.status != Status::Unset {
        out.extend_from_slice(br#","status":{"#);
        if let Status::Error { message } = &span.status {
            out.extend_from_slice(br#""message":"#);
            string(out, message);
            out.push(b',');
        }
        out.extend_from_slice(br#""code":"#);
        decimal(out, status_code(&span.status));
        out.push(b'}');
    }
    out.push(b'}');
}

/// `{"traceId":"…","spanId":"…"` and the trace state, opening the object.
fn ids(cx: &SpanContext, out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"traceId":""#);
    let mut trace = [0u8; 32];
    cx.trace_id().write_hex(&mut trace);
    out.extend_from_slice(&trace);
    out.extend_from_slice(br#"","spanId":""#);
    let mut span = [0u8; 16];
    cx.span_id().write_hex(&mut span);
    out.extend_from_slice(&span);
    out.push(b'"');
    if !cx.state().is_empty() {
        out.extend_from_slice(br#","traceState":"#);
        string(out, &cx.state().to_string());
    }
}

fn encode_event(event: &Event, out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"timeUnixNano":""#);
    decimal(out, event.time_unix_nanos);
    out.extend_from_slice(br#"","name":"#);
    string(out, &event.name);
    out.extend_from_slice(br#","attributes":"#);
    attributes(out, &event.attributes);
    count(out, "droppedAttributesCount", event.dropped_attributes);
    out.push(b'}');
}

fn encode_link(link: &Link, out: &mut Vec<u8>) {
    ids(&link.span_context, out);
    out.extend_from_slice(br#","attributes":"#);
    attributes(out, &link.attributes);
    count(out, "droppedAttributesCount", link.dropped_attributes);
    out.extend_from_slice(br#","flags":"#);
    decimal(out, link_flags(&link.span_context).into());
    out.push(b'}');
}

fn count(out: &mut Vec<u8>, name: &str, value: u32) {
    if value != 0 {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        decimal(out, value.into());
    }
}

fn comma(out: &mut Vec<u8>, first: &mut bool) {
    if !std::mem::take(first) {
        out.push(b',');
    }
}

fn attributes(out: &mut Vec<u8>, attributes: &[KeyValue]) {
    list(out, attributes, |out, kv| {
        out.extend_from_slice(br#"{"key":"#);
        string(out, &kv.key);
        out.extend_from_slice(br#","value":"#);
        value(out, &kv.value);
        out.push(b'}');
    });
}

/// `[item,item,…]`, each item written by `each` (shared with the Zipkin encoder).
pub(crate) fn list<T>(out: &mut Vec<u8>, items: &[T], mut each: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(out, item);
    }
    out.push(b']');
}

/// One `AnyValue`: `{"stringValue":…}`, `{"boolValue":…}`, `{"intValue":"…"}`,
/// `{"doubleValue":…}` or `{"arrayValue":{"values":[…]}}`.
fn value(out: &mut Vec<u8>, value: &Value) {
    fn array<T>(out: &mut Vec<u8>, items: &[T], each: impl Fn(&mut Vec<u8>, &T)) {
        out.extend_from_slice(br#"{"arrayValue":{"values":"#);
        list(out, items, each);
        out.extend_from_slice(b"}}");
    }
    match value {
        Value::String(s) => {
            out.extend_from_slice(br#"{"stringValue":"#);
            string(out, s);
            out.push(b'}');
        }
        Value::Bool(b) => boolean(out, *b),
        Value::I64(i) => integer(out, *i),
        Value::F64(x) => double(out, *x),
        Value::StringArray(items) => array(out, items, |out, s| {
            out.extend_from_slice(br#"{"stringValue":"#);
            string(out, s);
            out.push(b'}');
        }),
        Value::BoolArray(items) => array(out, items, |out, b| boolean(out, *b)),
        Value::I64Array(items) => array(out, items, |out, i| integer(out, *i)),
        Value::F64Array(items) => array(out, items, |out, x| double(out, *x)),
    }
}

fn boolean(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b {
        br#"{"boolValue":true}"#
    } else {
        br#"{"boolValue":false}"#
    });
}

/// `{"intValue":"-42"}`: proto3 JSON writes 64-bit integers as strings.
fn integer(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(br#"{"intValue":""#);
    if i < 0 {
        out.push(b'-');
    }
    decimal(out, i.unsigned_abs());
    out.extend_from_slice(b"\"}");
}

/// A number in decimal, without the formatting machinery (it is most of the cost of a span's
/// JSON otherwise).
pub(crate) fn decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn double(out: &mut Vec<u8>, x: f64) {
    if x.is_nan() {
        out.extend_from_slice(br#"{"doubleValue":"NaN"}"#);
    } else if x.is_infinite() {
        let sign = if x < 0.0 { "-" } else { "" };
        let _ = write!(Buf(out), r#"{{"doubleValue":"{sign}Infinity"}}"#);
    } else {
        // `{:?}` prints the shortest form that reads back as the same f64, with a decimal point
        // or exponent, both valid JSON numbers.
        let _ = write!(Buf(out), r#"{{"doubleValue":{x:?}}}"#);
    }
}

/// A JSON string literal (RFC 8259 §7): quotes, backslashes and control characters escaped.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                let _ = write!(Buf(out), "\\u{b:04x}");
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// `fmt::Write` into a byte buffer.
pub(crate) struct Buf<'a>(pub(crate) &'a mut Vec<u8>);

impl std::fmt::Write for Buf<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_and_parse_back() {
        let text = "a\"b\\c\nd\u{1}é\u{7f}";
        let mut out = Vec::new();
        string(&mut out, text);
        let parsed: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed, text);
    }

    #[test]
    fn integers_are_written_in_decimal() {
        for i in [0, 7, -7, 10, 1_000_000, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            integer(&mut out, i);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!(r#"{{"intValue":"{i}"}}"#)
            );
        }
        let mut out = Vec::new();
        decimal(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn special_doubles_use_the_proto3_json_names() {
        for (x, expected) in [
            (f64::NAN, r#"{"doubleValue":"NaN"}"#),
            (f64::NEG_INFINITY, r#"{"doubleValue":"-Infinity"}"#),
            (1.5, r#"{"doubleValue":1.5}"#),
            (1e300, r#"{"doubleValue":1e300}"#),
        ] {
            let mut out = Vec::new();
            double(&mut out, x);
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }
}
