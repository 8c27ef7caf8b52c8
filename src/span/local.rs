//! Spans that one thread finished, handed to a sink together.

use std::borrow::Cow;
use std::sync::Arc;

use super::attributes::KeyValue;
use super::data::{InstrumentationScope, Resource, SpanData, SpanKind, Status};
use crate::context::SpanContext;
use crate::id::SpanId;

/// Spans one thread finished ([`LocalSpan`](crate::LocalSpan)s of one tracer), handed to a
/// sink in one call ([`SpanSink::on_end_local`](crate::sink::SpanSink::on_end_local)).
///
/// They are kept in a compact form until a sink iterates over them, each then becoming a
/// [`SpanData`]: a sink that queues the batch as it is (the
/// [`BatchSink`](crate::sink::BatchSink)) leaves that work to its background thread.
///
/// # Example
///
/// ```
/// use tracewire::sink::MemorySink;
/// use tracewire::Tracer;
///
/// let sink = MemorySink::new();
/// let tracer = Tracer::builder().sink(sink.clone()).build();
/// let request = tracer.span("GET /report").start();
/// {
///     let _entered = request.enter();
///     let _rows = tracewire::local_span("parse rows");
/// } // the scope ends: the thread's finished local spans go to the sink (as `LocalSpans`)
/// request.end();
///
/// let spans = sink.spans();
/// assert_eq!(spans[0].name, "parse rows");
/// assert_eq!(spans[0].parent_span_id, Some(spans[1].span_context.span_id()));
/// ```
#[derive(Debug)]
pub struct LocalSpans {
    pub(crate) resource: Arc<Resource>,
    pub(crate) scope: Arc<InstrumentationScope>,
    pub(crate) spans: Vec<LocalRecord>,
}

/// A finished local span, without what all spans of its batch share.
#[derive(Debug)]
pub(crate) struct LocalRecord {
    pub(crate) name: Cow<'static, str>,
    pub(crate) span_context: SpanContext,
    pub(crate) parent_span_id: SpanId,
    pub(crate) start_unix_nanos: u64,
    pub(crate) end_unix_nanos: u64,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) dropped_attributes: u32,
    /// Boxed, as it is rarely set: a record of at most 128 bytes is written without a
    /// `memcpy` call.
    pub(crate) status: Option<Box<Status>>,
}

impl LocalSpans {
    /// How many spans there are.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl IntoIterator for LocalSpans {
    type Item = SpanData;
    type IntoIter = IntoIter;

    fn into_iter(self) -> IntoIter {
        IntoIter {
            resource: self.resource,
            scope: self.scope,
            spans: self.spans.into_iter(),
        }
    }
}

/// The spans of a [`LocalSpans`], each as a [`SpanData`].
#[derive(Debug)]
pub struct IntoIter {
    resource: Arc<Resource>,
    scope: Arc<InstrumentationScope>,
    spans: std::vec::IntoIter<LocalRecord>,
}

impl Iterator for IntoIter {
    type Item = SpanData;

    fn next(&mut self) -> Option<SpanData> {
        let record = self.spans.next()?;
        Some(SpanData {
            name: record.name,
            kind: SpanKind::Internal,
            span_context: record.span_context,
            parent_span_id: Some(record.parent_span_id),
            parent_is_remote: false,
            start_unix_nanos: record.start_unix_nanos,
            end_unix_nanos: record.end_unix_nanos,
            attributes: record.attributes,
            dropped_attributes: record.dropped_attributes,
            events: Vec::new(),
            dropped_events: 0,
            links: Vec::new(),
            dropped_links: 0,
            status: record.status.map_or(Status::Unset, |status| *status),
            resource: self.resource.clone(),
            scope: self.scope.clone(),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl ExactSizeIterator for IntoIter {}

#[cfg(test)]
mod tests {
    #[test]
    fn a_record_is_small_enough_to_be_written_without_a_memcpy_call() {
        assert!(std::mem::size_of::<super::LocalRecord>() <= 128);
    }
}
