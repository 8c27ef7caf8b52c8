//! How many bytes a buffered span holds, estimated as it arrives, for the byte bound.

use std::borrow::Cow;
use std::mem::size_of;

use crate::span::{Event, KeyValue, Link, SpanData, Status, Value};

/// What the buffer keeps per trace beside its spans: its entry in the map, the arrival and
/// deadline queues, and the trace's own record.
pub(crate) const PER_TRACE: usize = 192;

/// The bytes `span` owns on the heap (owned strings, attribute, event and link vectors at
/// their capacity, its trace state); its record is counted where it is stored (the buffer's
/// vectors, at their capacity). What spans share (resource, scope) is not counted.
pub(crate) fn heap_bytes(span: &SpanData) -> usize {
    let mut bytes = owned(&span.name);
    bytes += attributes(&span.attributes);
    bytes += span.events.capacity() * size_of::<Event>();
    for event in &span.events {
        bytes += owned(&event.name) + attributes(&event.attributes);
    }
    bytes += span.links.capacity() * size_of::<Link>();
    for link in &span.links {
        bytes += attributes(&link.attributes) + state(link.span_context.state());
    }
    if let Status::Error { message } = &span.status {
        bytes += owned(message);
    }
    bytes + state(span.span_context.state())
}

// Whether the text is owned (on the heap) is the question, so the `Cow` itself is needed.
#[allow(clippy::ptr_arg)]
fn owned(s: &Cow<'static, str>) -> usize {
    match s {
        Cow::Borrowed(_) => 0,
        Cow::Owned(s) => s.capacity(),
    }
}

fn attributes(attributes: &Vec<KeyValue>) -> usize {
    let mut bytes = attributes.capacity() * size_of::<KeyValue>();
    for kv in attributes {
        bytes += owned(&kv.key)
            + match &kv.value {
                Value::String(s) => owned(s),
                Value::StringArray(items) => {
                    items.capacity() * size_of::<Cow<'static, str>>()
                        + items.iter().map(owned).sum::<usize>()
                }
                Value::BoolArray(items) => items.capacity(),
                Value::I64Array(items) => items.capacity() * 8,
                Value::F64Array(items) => items.capacity() * 8,
                Value::Bool(_) | Value::I64(_) | Value::F64(_) => 0,
            };
    }
    bytes
}

/// A trace state's text (shared between the spans of a trace in one process, but a span from
/// elsewhere brings its own).
fn state(state: &crate::TraceState) -> usize {
    if state.is_empty() {
        return 0;
    }
    state.iter().map(|(k, v)| k.len() + v.len() + 1).sum()
}
