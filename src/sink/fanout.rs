//! One span to several sinks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{SinkError, SinkStats, SpanSink};
use crate::span::SpanData;

/// Hands each span to several sinks; record-only spans go only to the sinks that want them.
///
/// # Example
///
/// ```
/// use tracewire::sink::{FanOut, MemorySink};
///
/// let exported = MemorySink::new();
/// let tail = MemorySink::new().with_record_only(true);
/// let sink = FanOut::new().with(exported.clone()).with(tail.clone());
/// ```
#[derive(Clone, Debug, Default)]
pub struct FanOut {
    sinks: Vec<Arc<dyn SpanSink>>,
}

impl FanOut {
    /// A fan-out to no sink yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// This fan-out with one more sink.
    #[must_use]
    pub fn with(mut self, sink: impl SpanSink) -> Self {
        self.sinks.push(Arc::new(sink));
        self
    }

    /// Applies `f` to every sink with what is left of `timeout`, and returns the first error.
    fn each_until(
        &self,
        timeout: Duration,
        f: impl Fn(&dyn SpanSink, Duration) -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        let deadline = Instant::now() + timeout;
        let results: Vec<_> = self
            .sinks
            .iter()
            .map(|s| {
                f(
                    s.as_ref(),
                    deadline.saturating_duration_since(Instant::now()),
                )
            })
            .collect();
        results.into_iter().collect()
    }
}

impl SpanSink for FanOut {
    fn on_end(&self, span: SpanData) {
        let sampled = span.span_context.flags().is_sampled();
        let mut takers = self
            .sinks
            .iter()
            .filter(|s| sampled || s.wants_record_only())
            .peekable();
        // Clone for every taker but the last, which gets the span itself.
        while let Some(sink) = takers.next() {
            if takers.peek().is_some() {
                sink.on_end(span.clone());
            } else {
                sink.on_end(span);
                return;
            }
        }
    }

    fn wants_record_only(&self) -> bool {
        self.sinks.iter().any(|s| s.wants_record_only())
    }

    fn force_flush(&self, timeout: Duration) -> Result<(), SinkError> {
        self.each_until(timeout, |sink, left| sink.force_flush(left))
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        self.each_until(timeout, |sink, left| sink.shutdown(left))
    }

    fn stats(&self) -> SinkStats {
        self.sinks
            .iter()
            .map(|s| s.stats())
            .fold(SinkStats::default(), |a, b| a + b)
    }
}
