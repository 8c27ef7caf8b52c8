//! OTLP protobuf, written straight from [`SpanData`] without intermediate message structs.
//!
//! The schema is `opentelemetry/proto/collector/trace/v1/trace_service.proto` and the
//! messages it includes (`trace/v1/trace.proto`, `common/v1/common.proto`,
//! `resource/v1/resource.proto`); every field number below is the one those files give. Fields
//! holding their proto3 default (zero, empty) are left out, as any protobuf encoder does;
//! `AnyValue`'s `oneof` members are always written, since their presence is the value.
//!
//! A nested message is length-prefixed, and its length is known only once it is written: one
//! byte is reserved for the length and, in the rare case the message is 128 bytes or longer,
//! the body is moved right by the extra bytes. That costs one `memmove` per large message
//! instead of a second pass computing every size, and keeps encoding allocation-free.

use std::sync::Arc;

use crate::context::SpanContext;
use crate::span::{
    Event, InstrumentationScope, KeyValue, Link, Resource, SpanData, SpanKind, Status, Value,
};

/// Protobuf wire types (`encoding.md`, "Message Structure").
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// `SpanFlags` (trace.proto): the W3C trace flags in bits 0–7, and whether the span's parent
/// (or a link's target) is known to be remote in bits 8–9.
const SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK: u32 = 0x100;
const SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK: u32 = 0x200;

/// Appends an `ExportTraceServiceRequest` holding `batch` to `out`: one `ResourceSpans` per
/// distinct resource, inside it one `ScopeSpans` per distinct instrumentation scope, spans in
/// batch order within each.
///
/// # Example
///
/// ```
/// let mut bytes = Vec::new();
/// tracewire::export::otlp::encode_protobuf(&[], &mut bytes);
/// assert!(bytes.is_empty()); // an empty request is an empty message
/// ```
pub fn encode_protobuf(batch: &[SpanData], out: &mut Vec<u8>) {
    for_each_group(batch, |resource, scopes| {
        // ExportTraceServiceRequest.resource_spans = 1
        message(out, 1, |out| {
            // ResourceSpans.resource = 1
            message(out, 1, |out| encode_resource(resource, out));
            for (scope, spans) in scopes {
                // ResourceSpans.scope_spans = 2
                message(out, 2, |out| {
                    // ScopeSpans.scope = 1
                    message(out, 1, |out| encode_scope(scope, out));
                    for span in spans {
                        // ScopeSpans.spans = 2
                        message(out, 2, |out| encode_span(span, out));
                    }
                });
            }
        });
    });
}

/// Calls `f` once per distinct resource with its spans grouped by distinct scope, both in the
/// order they first occur. Batches almost always hold one resource and one scope; that case is
/// checked first and costs one pass of pointer comparisons.
pub(crate) fn for_each_group<'a>(
    batch: &'a [SpanData],
    mut f: impl FnMut(&'a Resource, Vec<(&'a InstrumentationScope, SpanGroup<'a>)>),
) {
    let Some(first) = batch.first() else {
        return;
    };
    let same_resource = |a: &Arc<Resource>, b: &Arc<Resource>| Arc::ptr_eq(a, b) || a == b;
    let same_scope =
        |a: &Arc<InstrumentationScope>, b: &Arc<InstrumentationScope>| Arc::ptr_eq(a, b) || a == b;
    if batch
        .iter()
        .all(|s| same_resource(&s.resource, &first.resource) && same_scope(&s.scope, &first.scope))
    {
        f(
            &first.resource,
            vec![(&first.scope, SpanGroup::All(batch.iter()))],
        );
        return;
    }
    let mut resources: Vec<&Arc<Resource>> = Vec::new();
    for span in batch {
        if !resources.iter().any(|r| same_resource(r, &span.resource)) {
            resources.push(&span.resource);
        }
    }
    for resource in resources {
        let mut scopes: Vec<&Arc<InstrumentationScope>> = Vec::new();
        for span in batch
            .iter()
            .filter(|s| same_resource(&s.resource, resource))
        {
            if !scopes.iter().any(|s| same_scope(s, &span.scope)) {
                scopes.push(&span.scope);
            }
        }
        let groups = scopes
            .into_iter()
            .map(|scope| {
                let spans = SpanGroup::Filtered {
                    spans: batch.iter(),
                    resource,
                    scope,
                };
                (&**scope, spans)
            })
            .collect();
        f(resource, groups);
    }
}

/// The spans of one resource and scope.
pub(crate) enum SpanGroup<'a> {
    /// The whole batch shares one resource and scope.
    All(std::slice::Iter<'a, SpanData>),
    /// The spans of the batch with this resource and scope.
    Filtered {
        spans: std::slice::Iter<'a, SpanData>,
        resource: &'a Arc<Resource>,
        scope: &'a Arc<InstrumentationScope>,
    },
}

impl<'a> Iterator for SpanGroup<'a> {
    type Item = &'a SpanData;

    fn next(&mut self) -> Option<&'a SpanData> {
        match self {
            SpanGroup::All(spans) => spans.next(),
            SpanGroup::Filtered {
                spans,
                resource,
                scope,
            } => spans.find(|s| {
                (Arc::ptr_eq(&s.resource, resource) || s.resource == **resource)
                    && (Arc::ptr_eq(&s.scope, scope) || s.scope == **scope)
            }),
        }
    }
}

fn encode_resource(resource: &Resource, out: &mut Vec<u8>) {
    // Resource.attributes = 1
    encode_attributes(1, resource.attributes(), out);
}

fn encode_scope(scope: &InstrumentationScope, out: &mut Vec<u8>) {
    // InstrumentationScope.name = 1, version = 2
    string(out, 1, &scope.name);
    if let Some(version) = &scope.version {
        string(out, 2, version);
    }
}

/// `Span.SpanKind` numbers.
pub(crate) fn kind_number(kind: SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// `Span.flags`: the trace flags, and bits 8–9 saying whether the parent is remote. A root
/// span's "parent" is known not to be remote, so bit 8 is always set.
pub(crate) fn span_flags(span: &SpanData) -> u32 {
    let mut flags =
        u32::from(span.span_context.flags().bits()) | SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK;
    if span.parent_span_id.is_some() && span.parent_is_remote {
        flags |= SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK;
    }
    flags
}

/// `Span.Link.flags`: the linked context's trace flags and whether it is remote.
pub(crate) fn link_flags(context: &SpanContext) -> u32 {
    let mut flags = u32::from(context.flags().bits()) | SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK;
    if context.is_remote() {
        flags |= SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK;
    }
    flags
}

fn encode_span(span: &SpanData, out: &mut Vec<u8>) {
    let cx = &span.span_context;
    // Span: trace_id = 1, span_id = 2, trace_state = 3, parent_span_id = 4, name = 5,
    // kind = 6, start_time_unix_nano = 7, end_time_unix_nano = 8, attributes = 9,
    // dropped_attributes_count = 10, events = 11, dropped_events_count = 12, links = 13,
    // dropped_links_count = 14, status = 15, flags = 16.
    bytes(out, 1, &cx.trace_id().to_bytes());
    bytes(out, 2, &cx.span_id().to_bytes());
    encode_trace_state(cx, out);
    if let Some(parent) = span.parent_span_id {
        bytes(out, 4, &parent.to_bytes());
    }
    string(out, 5, &span.name);
    uint(out, 6, kind_number(span.kind));
    fixed64(out, 7, span.start_unix_nanos);
    fixed64(out, 8, span.end_unix_nanos);
    encode_attributes(9, &span.attributes, out);
    uint(out, 10, span.dropped_attributes.into());
    for event in &span.events {
        message(out, 11, |out| encode_event(event, out));
    }
    uint(out, 12, span.dropped_events.into());
    for link in &span.links {
        message(out, 13, |out| encode_link(link, out));
    }
    uint(out, 14, span.dropped_links.into());
    if span.status != Status::Unset {
        message(out, 15, |out| encode_status(&span.status, out));
    }
    fixed32(out, 16, span_flags(span));
}

fn encode_trace_state(cx: &SpanContext, out: &mut Vec<u8>) {
    let state = cx.state();
    if state.is_empty() {
        return;
    }
    // The header form of the trace state (W3C Trace Context §3.3), as OTLP asks.
    message(out, 3, |out| {
        for (i, (key, value)) in state.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
        }
    });
}

fn encode_event(event: &Event, out: &mut Vec<u8>) {
    // Span.Event: time_unix_nano = 1, name = 2, attributes = 3, dropped_attributes_count = 4.
    fixed64(out, 1, event.time_unix_nanos);
    string(out, 2, &event.name);
    encode_attributes(3, &event.attributes, out);
    uint(out, 4, event.dropped_attributes.into());
}

fn encode_link(link: &Link, out: &mut Vec<u8>) {
    // Span.Link: trace_id = 1, span_id = 2, trace_state = 3, attributes = 4,
    // dropped_attributes_count = 5, flags = 6.
    let cx = &link.span_context;
    bytes(out, 1, &cx.trace_id().to_bytes());
    bytes(out, 2, &cx.span_id().to_bytes());
    encode_trace_state(cx, out);
    encode_attributes(4, &link.attributes, out);
    uint(out, 5, link.dropped_attributes.into());
    fixed32(out, 6, link_flags(cx));
}

/// `Status.StatusCode` numbers.
pub(crate) fn status_code(status: &Status) -> u64 {
    match status {
        Status::Unset => 0,
        Status::Ok => 1,
        Status::Error { .. } => 2,
    }
}

fn encode_status(status: &Status, out: &mut Vec<u8>) {
    // Status: message = 2, code = 3 (field 1 is reserved).
    if let Status::Error { message } = status {
        string(out, 2, message);
    }
    uint(out, 3, status_code(status));
}

fn encode_attributes(field: u32, attributes: &[KeyValue], out: &mut Vec<u8>) {
    for kv in attributes {
        // KeyValue: key = 1, value = 2.
        message(out, field, |out| {
            string(out, 1, &kv.key);
            message(out, 2, |out| encode_value(&kv.value, out));
        });
    }
}

/// The fields of one `AnyValue`: string_value = 1, bool_value = 2, int_value = 3,
/// double_value = 4, array_value = 5 (`ArrayValue.values = 1`).
fn encode_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::String(s) => {
            key(out, 1, LEN);
            length_delimited(out, s.as_bytes());
        }
        Value::Bool(b) => {
            key(out, 2, VARINT);
            out.push(u8::from(*b));
        }
        Value::I64(i) => {
            key(out, 3, VARINT);
            // int64 is the two's complement as an unsigned varint (ten bytes when negative).
            varint(out, *i as u64);
        }
        Value::F64(x) => {
            key(out, 4, FIXED64);
            out.extend_from_slice(&x.to_le_bytes());
        }
        Value::StringArray(items) => array(out, items, |s, out| {
            key(out, 1, LEN);
            length_delimited(out, s.as_bytes());
        }),
        Value::BoolArray(items) => array(out, items, |b, out| {
            key(out, 2, VARINT);
            out.push(u8::from(*b));
        }),
        Value::I64Array(items) => array(out, items, |i, out| {
            key(out, 3, VARINT);
            varint(out, *i as u64);
        }),
        Value::F64Array(items) => array(out, items, |x, out| {
            key(out, 4, FIXED64);
            out.extend_from_slice(&x.to_le_bytes());
        }),
    }
}

fn array<T>(out: &mut Vec<u8>, items: &[T], each: impl Fn(&T, &mut Vec<u8>)) {
    message(out, 5, |out| {
        for item in items {
            message(out, 1, |out| each(item, out));
        }
    });
}

// --- wire primitives ---

fn key(out: &mut Vec<u8>, field: u32, wire_type: u32) {
    varint(out, u64::from(field << 3 | wire_type));
}

pub(crate) fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn length_delimited(out: &mut Vec<u8>, data: &[u8]) {
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn string(out: &mut Vec<u8>, field: u32, value: &str) {
    if !value.is_empty() {
        key(out, field, LEN);
        length_delimited(out, value.as_bytes());
    }
}

fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    key(out, field, LEN);
    length_delimited(out, value);
}

fn uint(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        key(out, field, VARINT);
        varint(out, value);
    }
}

fn fixed64(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        key(out, field, FIXED64);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn fixed32(out: &mut Vec<u8>, field: u32, value: u32) {
    if value != 0 {
        key(out, field, FIXED32);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// Writes a length-delimited field whose body `body` appends.
fn message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    key(out, field, LEN);
    let at = out.len();
    out.push(0);
    body(out);
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
        return;
    }
    let (mut prefix, mut n, mut rest) = ([0u8; 10], 0, len);
    while rest >= 0x80 {
        prefix[n] = rest as u8 | 0x80;
        rest >>= 7;
        n += 1;
    }
    prefix[n] = rest as u8;
    n += 1;
    out.resize(out.len() + n - 1, 0);
    out.copy_within(at + 1..at + 1 + len, at + n);
    out[at..at + n].copy_from_slice(&prefix[..n]);
}

// --- the response ---

/// What an `ExportTraceServiceResponse` says: the `partial_success` field, if present.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct PartialSuccess {
    /// `rejected_spans`: spans the receiver did not accept.
    pub(crate) rejected_spans: i64,
    /// `error_message`: why, or a warning when nothing was rejected; the receiver wrote it,
    /// so it is kept bounded and escaped.
    pub(crate) error_message: String,
}

/// Reads `ExportTraceServiceResponse.partial_success` (field 1: `rejected_spans = 1`,
/// `error_message = 2`) from a protobuf response body. Unknown fields are skipped; a malformed
/// body reads as "no partial success", never as an error, since the request itself succeeded.
pub(crate) fn decode_partial_success(body: &[u8]) -> Option<PartialSuccess> {
    let mut found = None;
    for_each_field(body, |field, value| {
        if let (1, Field::Len(inner)) = (field, value) {
            let mut partial = PartialSuccess::default();
            let complete = for_each_field(inner, |field, value| match (field, value) {
                (1, Field::Varint(n)) => partial.rejected_spans = n as i64,
                (2, Field::Len(text)) => {
                    partial.error_message = crate::untrusted::show_bytes(text);
                }
                _ => {}
            });
            if complete {
                found = Some(partial);
            }
        }
    })
    .then_some(())?;
    found
}

pub(crate) enum Field<'a> {
    Varint(u64),
    Len(&'a [u8]),
    Fixed,
}

/// Walks the fields of a message; returns false if it is malformed.
pub(crate) fn for_each_field<'a>(mut data: &'a [u8], mut f: impl FnMut(u64, Field<'a>)) -> bool {
    while !data.is_empty() {
        let Some(tag) = read_varint(&mut data) else {
            return false;
        };
        let value = match tag & 7 {
            0 => match read_varint(&mut data) {
                Some(n) => Field::Varint(n),
                None => return false,
            },
            1 | 5 => {
                let size = if tag & 7 == 1 { 8 } else { 4 };
                if data.len() < size {
                    return false;
                }
                data = &data[size..];
                Field::Fixed
            }
            2 => {
                let Some(len) = read_varint(&mut data) else {
                    return false;
                };
                let Ok(len) = usize::try_from(len) else {
                    return false;
                };
                if data.len() < len {
                    return false;
                }
                let (inner, rest) = data.split_at(len);
                data = rest;
                Field::Len(inner)
            }
            _ => return false,
        };
        f(tag >> 3, value);
    }
    true
}

fn read_varint(data: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &byte) in data.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            *data = &data[i + 1..];
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_long_messages_are_length_prefixed_correctly() {
        for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 70_000] {
            let mut out = vec![0xaa];
            message(&mut out, 1, |out| out.extend(std::iter::repeat_n(7u8, len)));
            let mut rest = &out[2..];
            assert_eq!(out[1], 0x0a);
            assert_eq!(read_varint(&mut rest), Some(len as u64));
            assert_eq!(rest.len(), len);
            assert!(rest.iter().all(|&b| b == 7));
        }
    }

    #[test]
    fn partial_success_is_read_and_garbage_is_not_an_error() {
        // partial_success { rejected_spans: 3, error_message: "bad" }
        let body = [0x0a, 0x07, 0x08, 0x03, 0x12, 0x03, b'b', b'a', b'd'];
        assert_eq!(
            decode_partial_success(&body),
            Some(PartialSuccess {
                rejected_spans: 3,
                error_message: "bad".into()
            })
        );
        assert_eq!(decode_partial_success(&[]), None);
        assert_eq!(decode_partial_success(&[0x0a, 0xff]), None);
        assert_eq!(decode_partial_success(&[0xff; 12]), None);
    }
}
