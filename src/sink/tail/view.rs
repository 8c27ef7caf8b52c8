//! The spans of one trace as policies see them when they decide.

use std::time::Instant;

use crate::id::TraceId;
use crate::span::SpanData;

/// One trace, as buffered so far: its spans and what every policy reads of them.
#[derive(Debug)]
pub(crate) struct TraceView<'a> {
    /// The spans, in the order they arrived.
    pub(crate) spans: &'a [SpanData],
    pub(crate) trace_id: TraceId,
    /// The 56-bit randomness the thresholds are compared with.
    pub(crate) randomness: u64,
    /// The earliest start and the latest end among the spans, in Unix nanoseconds.
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// The decider's clock, for rate limits.
    pub(crate) now: Instant,
}

impl<'a> TraceView<'a> {
    /// How long the trace lasted as far as its spans show: from the earliest start to the
    /// latest end (the root's duration when the root is here).
    pub(crate) fn extent_nanos(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// The span that stands for the trace: its root (no parent) when present, else a local
    /// root (a span whose parent is in another process), else the earliest-starting span.
    pub(crate) fn root(&self) -> Option<&'a SpanData> {
        let spans = self.spans;
        spans
            .iter()
            .find(|s| s.parent_span_id.is_none())
            .or_else(|| {
                spans
                    .iter()
                    .filter(|s| s.parent_is_remote)
                    .min_by_key(|s| s.start_unix_nanos)
            })
            .or_else(|| spans.iter().min_by_key(|s| s.start_unix_nanos))
    }
}
