//! Where finished spans go.
//!
//! A [`SpanSink`] takes each finished span without blocking. The built-in sinks:
//!
//! | sink | for |
//! |---|---|
//! | [`MemorySink`] | tests: a snapshot of every span, and waiting until N arrived |
//! | [`BatchSink`] | production: a bounded queue in front of an [`Exporter`], sent by a background thread |
//! | [`FanOut`] | several sinks at once |
//! | [`TreeSink`] | development: each trace printed as a tree (critical path, root cause) when its local root ends |
//! | [`TailSink`] | tail sampling: each trace decided once complete (errors, latency, a baseline …), its spans forwarded to another sink; see [`tail`] |
//!
//! [`StdoutExporter`] prints spans (one readable line each, or JSON lines); like every
//! exporter it runs behind a [`BatchSink`] (`StdoutExporter::pretty().batched()`), so printing
//! never happens on the request path.
//!
//! Spans the sampler marked record-only (not sampled) reach only sinks whose
//! [`wants_record_only`](SpanSink::wants_record_only) says so, such as a tail sampler;
//! exporters receive sampled spans only, as the OpenTelemetry specification says.

mod batch;
mod fanout;
mod gate;
mod memory;
mod stdout;
pub mod tail;
mod tree;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use batch::{BatchConfig, BatchSink};
pub use fanout::FanOut;
pub use memory::MemorySink;
pub use stdout::{StdoutExporter, StdoutFormat};
pub use tail::TailSink;
pub use tree::TreeSink;

use crate::span::{LocalSpans, SpanData};

/// Takes finished spans.
///
/// `on_end` runs on the request path: it must return at once, never wait for I/O or a lock
/// held by I/O. A sink that cannot take a span counts it as dropped.
pub trait SpanSink: Send + Sync + fmt::Debug + 'static {
    /// Takes one finished span.
    fn on_end(&self, span: SpanData);

    /// Takes the spans one thread finished together ([`LocalSpan`](crate::LocalSpan)s of one
    /// tracer), in one call. The default hands each to [`on_end`](Self::on_end); a sink that
    /// can queue the batch as it is, and leave turning it into [`SpanData`] to a background
    /// thread, overrides it (as [`BatchSink`] does).
    fn on_end_local(&self, spans: LocalSpans) {
        for span in spans {
            self.on_end(span);
        }
    }

    /// Whether this sink wants record-only spans (sampled out at the head but recorded, for a
    /// tail sampler). `false` by default: only sampled spans arrive.
    fn wants_record_only(&self) -> bool {
        false
    }

    /// Sends on everything taken so far, waiting at most `timeout`.
    fn force_flush(&self, _timeout: Duration) -> Result<(), SinkError> {
        Ok(())
    }

    /// Flushes and stops, waiting at most `timeout`. A sink should then drop the spans that
    /// arrive later, counting them ([`SinkStats::dropped_after_shutdown`]), and answer a second
    /// shutdown with [`SinkError::ShutDown`]; the default does nothing.
    fn shutdown(&self, _timeout: Duration) -> Result<(), SinkError> {
        Ok(())
    }

    /// What happened to the spans this sink took.
    fn stats(&self) -> SinkStats {
        SinkStats::default()
    }
}

/// Counters of a sink: what was queued, dropped (and why), exported and failed.
///
/// A span offered to a sink is either refused (`dropped_queue_full`, `dropped_after_shutdown`)
/// or queued, and every queued span ends in exactly one of `exported`, `export_failed`,
/// `export_rejected` and `dropped_unsent`; until then it is [`pending`](Self::pending). Once
/// [`SpanSink::shutdown`] has returned, whether in time or not, nothing is pending:
///
/// ```text
/// queued = exported + export_failed + export_rejected + dropped_unsent
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Spans accepted into a queue.
    pub queued: u64,
    /// Spans dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Spans that arrived after shutdown (refused, never queued).
    pub dropped_after_shutdown: u64,
    /// Queued spans never sent: still queued or being exported when a shutdown's deadline
    /// passed ([`SinkError::ShutdownTimeout`]), or queued by a producer racing the final drain.
    pub dropped_unsent: u64,
    /// Spans the exporter accepted.
    pub exported: u64,
    /// Spans in batches the exporter failed or timed out on.
    pub export_failed: u64,
    /// Spans the receiver refused although it took the batch (an OTLP partial success); not
    /// counted in `exported`.
    pub export_rejected: u64,
}

impl SinkStats {
    /// Every span lost, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_after_shutdown
            + self.dropped_unsent
            + self.export_failed
            + self.export_rejected
    }

    /// Queued spans not yet exported, failed, rejected or dropped: in the queue or in flight.
    ///
    /// ```
    /// use tracewire::sink::SinkStats;
    ///
    /// let stats = SinkStats { queued: 10, exported: 6, export_failed: 1, dropped_unsent: 2, ..SinkStats::default() };
    /// assert_eq!(stats.pending(), 1);
    /// ```
    pub fn pending(&self) -> u64 {
        self.queued.saturating_sub(
            self.exported + self.export_failed + self.export_rejected + self.dropped_unsent,
        )
    }
}

impl std::ops::Add for SinkStats {
    type Output = SinkStats;

    fn add(self, other: SinkStats) -> SinkStats {
        SinkStats {
            queued: self.queued + other.queued,
            dropped_queue_full: self.dropped_queue_full + other.dropped_queue_full,
            dropped_after_shutdown: self.dropped_after_shutdown + other.dropped_after_shutdown,
            dropped_unsent: self.dropped_unsent + other.dropped_unsent,
            exported: self.exported + other.exported,
            export_failed: self.export_failed + other.export_failed,
            export_rejected: self.export_rejected + other.export_rejected,
        }
    }
}

/// Why a flush or shutdown did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkError {
    /// A flush's deadline passed first; the work goes on in the background.
    Timeout(Duration),
    /// A shutdown's deadline passed first: the sink gave up on the spans still queued or being
    /// exported, and counted them ([`SinkStats::dropped_unsent`]).
    ShutdownTimeout {
        /// The deadline.
        after: Duration,
        /// Spans given up on.
        unsent: u64,
    },
    /// The sink was already shut down.
    ShutDown,
    /// Exporting failed.
    Export(String),
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(after) => write!(f, "not done within {after:?}"),
            Self::ShutdownTimeout { after, unsent } => write!(
                f,
                "not done within {after:?}: {unsent} spans were never sent (counted as dropped)"
            ),
            Self::ShutDown => f.write_str("the sink is shut down"),
            Self::Export(why) => write!(f, "export failed: {why}"),
        }
    }
}

impl std::error::Error for SinkError {}

/// A boxed future, as exporters return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an exporter could not send a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportError(pub String);

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExportError {}

/// Sends batches of sampled spans somewhere (OTLP, Zipkin, stdout …). Runs behind a
/// [`BatchSink`], on its background thread, inside a Tokio runtime of that thread's own, so
/// exporters may use Tokio I/O and timers.
pub trait Exporter: Send + Sync + fmt::Debug + 'static {
    /// Sends one batch. The batch is lent, not given: exporters encode from it, and the
    /// batch sink recycles the spans' buffers afterwards.
    fn export<'a>(&'a self, batch: &'a [SpanData]) -> BoxFuture<'a, Result<(), ExportError>>;

    /// How many spans of the exports since the last call the receiver refused although the
    /// export succeeded (an OTLP partial success). The batch sink calls it after each export
    /// that returned `Ok` and counts those spans as
    /// [`export_rejected`](SinkStats::export_rejected) instead of exported. 0 by default.
    fn take_rejected(&self) -> u64 {
        0
    }

    /// How many spans of the exports since the last call could not be delivered although the
    /// export returned `Ok`: a batch sent in several requests of which some failed. The batch
    /// sink counts them as [`export_failed`](SinkStats::export_failed) and the rest as
    /// exported. 0 by default.
    fn take_failed(&self) -> u64 {
        0
    }

    /// Releases resources; called once, after the last batch.
    fn shutdown(&self) {}

    /// This exporter behind a [`BatchSink`] with the default [`BatchConfig`].
    fn batched(self) -> BatchSink
    where
        Self: Sized,
    {
        BatchSink::new(self)
    }
}
