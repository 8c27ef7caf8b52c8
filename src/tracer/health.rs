//! [`Health`]: whether a tracer is losing spans, and why, for a service to expose (a health
//! endpoint, a metric, a start-up log line) without depending on any logger.

use std::fmt;

use super::{Tracer, TracerStats};
use crate::config::ConfigWarning;

/// What a tracer has done with its spans, and every reason it has lost some or may lose them.
///
/// # Example
///
/// ```
/// use tracewire::Tracer;
///
/// // No sink: every span would be discarded, and health says so.
/// let tracer = Tracer::builder().build();
/// let health = tracer.health();
/// assert!(!health.is_ok());
/// assert!(health.to_string().contains("no sink"), "{health}");
///
/// let tracer = Tracer::builder().sink(tracewire::sink::MemorySink::new()).build();
/// tracer.span("work").start().end();
/// assert!(tracer.health().is_ok());
/// assert_eq!(tracer.health().to_string(), "ok: 1 span ended, 1 exported, none lost");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The tracer's and its sink's counters.
    pub stats: TracerStats,
    /// Every reason spans were or will be lost, in words: bad settings, no sink, spans
    /// dropped, failed or refused. Empty when all is well.
    pub problems: Vec<String>,
}

impl Health {
    /// Whether no span was lost and nothing is set to lose them.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ended, sink) = (self.stats.spans_ended, &self.stats.sink);
        let spans = if ended == 1 { "span" } else { "spans" };
        if self.is_ok() {
            return write!(
                f,
                "ok: {ended} {spans} ended, {} exported, none lost",
                sink.exported
            );
        }
        write!(f, "problems: {}", self.problems.join("; "))
    }
}

impl Tracer {
    /// Whether this tracer is losing spans, and why: the counters, and the reasons in words.
    /// Nothing here needs a logger, so a service can expose it (see [`Health`]).
    pub fn health(&self) -> Health {
        let stats = self.stats();
        let mut problems: Vec<String> = self
            .inner
            .warnings
            .iter()
            .map(ConfigWarning::to_string)
            .collect();
        if self.inner.has_no_sink {
            problems.push(
                "no sink configured: every span is discarded (set a sink or an exporter, or \
                 OTEL_TRACES_EXPORTER)"
                    .into(),
            );
        }
        let s = &stats.sink;
        let counted = [
            (
                s.dropped_queue_full,
                "dropped because the queue was full (the exporter is slow or down; OTEL_BSP_MAX_QUEUE_SIZE)",
            ),
            (s.export_failed, "failed to export"),
            (s.export_rejected, "refused by the receiver"),
            (
                s.dropped_unsent,
                "never sent: shutdown's deadline passed first",
            ),
            (s.dropped_after_shutdown, "ended after shutdown"),
        ];
        for (count, why) in counted {
            if count > 0 {
                problems.push(format!(
                    "{count} {} {why}",
                    if count == 1 { "span" } else { "spans" }
                ));
            }
        }
        Health { stats, problems }
    }
}
