//! [`TailSink`]: the request path's side of the tail sampler.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;

use super::config::TailConfig;
use super::decider::Decider;
use super::rules::TailPolicy;
use super::stats::{Counters, ShutdownReport, TailStats};
use crate::counters::ShardedCounters;
use crate::sink::gate::ShutdownGate;
use crate::sink::{SinkError, SinkStats, SpanSink};
use crate::span::SpanData;

/// Tail sampling: buffers the spans of each trace, decides when the trace is complete whether
/// to keep it, and forwards all of a kept trace's spans to another sink (a batch exporter, the
/// tree sink, a memory sink). The production recipe: record every span at the head, sample a
/// small baseline there, and keep every trace that fails or is slow.
///
/// A trace is decided when its root span ends (a span without a parent), or its local root
/// (a span whose parent is in another process, after
/// [`remote_root_wait`](super::TailConfig::remote_root_wait)), or at the latest
/// [`decision_wait`](super::TailConfig::decision_wait) after its first span. Then all of its
/// spans are forwarded or dropped, and spans arriving later follow the decision. A trace
/// becomes must-keep the moment a span arrives that makes a rule keep it for certain (an
/// error): it is forwarded at once and its later spans stream straight through.
///
/// Forwarded spans are marked sampled (exporters take sampled spans only), carry the
/// threshold of the decision in `ot=th` (`th:0` for a certain rule such as errors; erased
/// where the probability is unknown), and name the rule that kept them in the `sampling.rule`
/// attribute.
///
/// `on_end` pushes the span into a bounded lock-free queue and returns; a thread of the
/// sink's own takes it from there, decides and forwards. Nothing on the request path takes a
/// lock the decider holds. Memory is bounded in bytes, traces and spans per trace
/// ([`TailConfig`]); when the buffer is full, the traces evicted first are the uneventful ones
/// the baseline would not keep, and a must-keep trace is never in the buffer to be evicted.
///
/// # What an in-process tail sink can decide
///
/// It sees the spans of its own process only. A service that fails because a service it calls
/// failed sees the failure (its client span's status); a trace whose error or latency lies
/// wholly in another service is decided there, not here, and the sampled flag this service
/// sends on is the head's. The same sink works where all of a trace's spans meet: services
/// sharing it in one process, or a collector feeding it what an OTLP receiver takes in; set
/// [`remote_root_wait`](super::TailConfig::remote_root_wait) there, so the decision waits for
/// the true root.
///
/// # Accounting
///
/// [`tail_stats`](Self::tail_stats) says where every span is, at any moment
/// ([`TailStats`]). [`SpanSink::stats`] reports the tail sink's own counts in the shape all
/// sinks share: spans kept as `exported`, spans dropped by a decision or evicted after the
/// queue as `dropped_unsent` (dropping is what a tail sampler is for), spans refused at a full
/// queue as `dropped_queue_full`. The inner sink's counters are in [`TailStats::inner`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tracewire::Tracer;
/// use tracewire::sampling::Sampler;
/// use tracewire::sink::{MemorySink, SpanSink};
/// use tracewire::sink::tail::{Policy, TailPolicy, TailSink};
/// use tracewire::span::{Status, Value};
///
/// let exported = MemorySink::new();
/// let policy = TailPolicy::new()
///     .rule("errors", Policy::errors())
///     .rule("slow", Policy::latency(Duration::from_millis(500)));
/// let tail = TailSink::new(exported.clone(), policy);
/// let tracer = Tracer::builder()
///     .service_name("orders")
///     // Record every span; sample none at the head (a baseline would go here).
///     .sampler(Sampler::always_record(Sampler::always_off()))
///     .sink(tail.clone())
///     .build();
///
/// let ok = tracer.span("GET /orders").start();
/// ok.child("SELECT orders").start().end();
/// ok.end();
/// let failed = tracer.span("POST /orders").start();
/// failed.child("INSERT orders").start().end();
/// failed.set_status(Status::Error { message: "duplicate key".into() });
/// failed.end();
///
/// tail.force_flush(Duration::from_secs(5)).unwrap();
/// let spans = exported.spans();
/// assert_eq!(spans.len(), 2); // the failed trace, whole
/// assert!(spans.iter().all(|s| s.span_context.flags().is_sampled()));
/// assert_eq!(spans[0].attribute("sampling.rule"), Some(&Value::from("errors")));
/// assert_eq!(spans[0].span_context.state().get("ot"), Some("th:0"));
/// assert_eq!(tail.tail_stats().traces_dropped, 1);
/// ```
#[derive(Clone, Debug)]
pub struct TailSink {
    handle: Arc<Handle>,
}

/// What the clones of one sink share; dropping the last asks the decider to finish.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
    decider: Mutex<Option<JoinHandle<()>>>,
}

/// What the request path and the decider share.
pub(crate) struct Shared {
    pub(crate) queue: ArrayQueue<SpanData>,
    pub(crate) inner: Arc<dyn SpanSink>,
    /// Spans offered past the gate, counted before the push (so that the decider never takes
    /// a span not yet counted).
    offered: ShardedCounters<1>,
    refused_full: AtomicU64,
    /// Spans found in the queue after the decider's final drain (dropped).
    after_drain: AtomicU64,
    pub(crate) gate: ShutdownGate,
    pub(crate) drained: AtomicBool,
    pub(crate) wake_pending: AtomicBool,
    wake_mark: usize,
    decider: OnceLock<Thread>,
    pub(crate) requests: Mutex<Vec<Request>>,
    pub(crate) published: Mutex<Counters>,
    pub(crate) report: Mutex<Option<ShutdownReport>>,
    rule_names: Vec<std::borrow::Cow<'static, str>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("inner", &self.inner)
            .field("rules", &self.rule_names)
            .finish_non_exhaustive()
    }
}

/// Work asked of the decider.
#[derive(Debug)]
pub(crate) enum Request {
    /// Take everything queued, then answer.
    Flush(SyncSender<()>),
    /// Take everything queued, settle every pending trace by `deadline`, then stop.
    Shutdown {
        deadline: Option<Instant>,
        ack: Option<SyncSender<()>>,
    },
}

impl Shared {
    fn wake(&self) {
        if let Some(decider) = self.decider.get() {
            decider.unpark();
        }
    }

    fn request(&self, request: Request) {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
        self.wake();
    }

    /// Empties the queue after the decider's final drain, counting what was there as dropped.
    pub(crate) fn drop_leftovers(&self) {
        let mut found = 0;
        while self.queue.pop().is_some() {
            found += 1;
        }
        if found > 0 {
            self.after_drain.fetch_add(found, Ordering::Release);
        }
    }
}

impl TailSink {
    /// A tail sink forwarding what `policy` keeps to `inner`, with the default [`TailConfig`].
    pub fn new(inner: impl SpanSink, policy: TailPolicy) -> Self {
        Self::with_config(inner, policy, TailConfig::default())
    }

    /// A tail sink with `config` (sizes of zero raised to one, the queue at most
    /// [`TailConfig::MAX_QUEUE_SIZE`]).
    pub fn with_config(inner: impl SpanSink, policy: TailPolicy, config: TailConfig) -> Self {
        let config = config.normalized();
        let shared = Arc::new(Shared {
            queue: ArrayQueue::new(config.queue_size),
            inner: Arc::new(inner),
            offered: ShardedCounters::default(),
            refused_full: AtomicU64::new(0),
            after_drain: AtomicU64::new(0),
            gate: ShutdownGate::default(),
            drained: AtomicBool::new(false),
            wake_pending: AtomicBool::new(false),
            wake_mark: (config.queue_size / 8).clamp(1, 1_024),
            decider: OnceLock::new(),
            requests: Mutex::new(Vec::new()),
            published: Mutex::new(Counters {
                rules: vec![Default::default(); policy.rules.len()],
                ..Counters::default()
            }),
            report: Mutex::new(None),
            rule_names: policy.rules.iter().map(|r| r.name.clone()).collect(),
        });
        let decider = Decider::new(shared.clone(), policy, config);
        let thread = std::thread::Builder::new()
            .name("tracewire-tail".into())
            .spawn(move || decider.run());
        let thread = match thread {
            Ok(thread) => {
                let _ = shared.decider.set(thread.thread().clone());
                Some(thread)
            }
            Err(error) => {
                // Without a decider nothing is forwarded: refuse spans (and count them).
                crate::diagnostics::error!(
                    "tracewire: cannot start the tail sink's thread: {error}"
                );
                shared.gate.close();
                None
            }
        };
        Self {
            handle: Arc::new(Handle {
                shared,
                decider: Mutex::new(thread),
            }),
        }
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// Where every span is now, per-rule counters and estimates; see [`TailStats`].
    pub fn tail_stats(&self) -> TailStats {
        let shared = self.shared();
        // Read in this order, so the identity holds on every read: a span the decider has
        // taken was counted as offered before it was queued, and one refused or taken back
        // after the final drain was counted as offered before that.
        let counts = shared
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let after_drain = shared.after_drain.load(Ordering::Acquire);
        let refused = shared.refused_full.load(Ordering::Acquire);
        std::sync::atomic::fence(Ordering::SeqCst);
        let offered = shared.offered.sum(0);
        let after_shutdown = shared.gate.dropped();
        let queued = offered.saturating_sub(refused + counts.taken + after_drain);
        TailStats {
            seen: offered + after_shutdown,
            kept: counts.kept,
            dropped: counts.dropped + after_shutdown + after_drain,
            evicted: counts.evicted + refused,
            in_flight: queued + counts.buffered_spans,
            buffered_spans: counts.buffered_spans,
            buffered_traces: counts.buffered_traces,
            buffered_bytes: counts.buffered_bytes,
            dropped_after_shutdown: after_shutdown + after_drain,
            evicted_queue_full: refused,
            evicted_over_span_limit: counts.evicted_over_span_limit,
            late_spans: counts.late_spans,
            traces_kept: counts.traces_kept,
            traces_dropped: counts.traces_dropped,
            traces_evicted: counts.traces_evicted,
            traces_kept_early: counts.traces_kept_early,
            traces_rescued: counts.traces_rescued,
            valve_open: counts.valve_open,
            valve_openings: counts.valve_openings,
            valve_decided: counts.valve_decided,
            cached_decisions: (counts.cached_kept, counts.cached_other),
            rules: counts
                .rules
                .iter()
                .zip(&shared.rule_names)
                .map(|(counts, name)| counts.named(name.clone()))
                .collect(),
            inner: shared.inner.stats(),
        }
    }

    /// What the shutdown did with the traces still pending, once it has run; see
    /// [`ShutdownReport`].
    pub fn shutdown_report(&self) -> Option<ShutdownReport> {
        self.shared()
            .report
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Asks the decider for `request` and waits for its answer until `deadline`.
    fn ask(
        &self,
        make: impl FnOnce(SyncSender<()>) -> Request,
        deadline: Option<Instant>,
    ) -> Result<(), RecvTimeoutError> {
        let (ack, answer) = mpsc::sync_channel(1);
        self.shared().request(make(ack));
        match deadline {
            Some(deadline) => {
                answer.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            }
            None => answer.recv().map_err(|_| RecvTimeoutError::Disconnected),
        }
    }
}

impl SpanSink for TailSink {
    fn on_end(&self, span: SpanData) {
        let shared = self.shared();
        if shared.gate.refuses(1) {
            return;
        }
        let here = shared.offered.add(0, 1) + 1;
        if shared.queue.push(span).is_err() {
            shared.refused_full.fetch_add(1, Ordering::Release);
            if !shared.wake_pending.swap(true, Ordering::AcqRel) {
                shared.wake();
            }
            return;
        }
        // A producer that found the gate open just before shutdown closed it may push after
        // the decider's final drain: the push is a SeqCst compare-exchange, this load SeqCst,
        // and the decider sets `drained` and fences before its last look, so either that look
        // sees the span or this load sees `drained` and the span is taken back out (as the
        // batch sink does).
        if shared.drained.load(Ordering::SeqCst) {
            shared.drop_leftovers();
            return;
        }
        // The queue's length is a line the decider writes: looked at every 32 spans a thread.
        if here % 32 == 0
            && shared.queue.len() >= shared.wake_mark
            && !shared.wake_pending.swap(true, Ordering::AcqRel)
        {
            shared.wake();
        }
    }

    /// `true`: a tail sampler decides on record-only spans too.
    fn wants_record_only(&self) -> bool {
        true
    }

    /// Takes everything queued so far into the buffer (deciding what can be decided), then
    /// flushes the inner sink. Traces waiting for their root stay buffered.
    fn force_flush(&self, timeout: Duration) -> Result<(), SinkError> {
        if self.shared().gate.is_closed() {
            return Err(SinkError::ShutDown);
        }
        let deadline = Instant::now().checked_add(timeout);
        match self.ask(Request::Flush, deadline) {
            Ok(()) => {}
            Err(RecvTimeoutError::Timeout) => return Err(SinkError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => return Err(SinkError::ShutDown),
        }
        let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
        self.shared().inner.force_flush(left)
    }

    /// Takes everything queued, settles every pending trace as
    /// [`on_shutdown`](super::TailConfig::on_shutdown) says, forwards, and shuts the inner
    /// sink down, all within `timeout`; [`shutdown_report`](TailSink::shutdown_report) says
    /// what was done. Pending traces not settled when the deadline passes are dropped and
    /// named in [`SinkError::ShutdownTimeout`].
    fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        let shared = self.shared();
        if !shared.gate.close() {
            return Err(SinkError::ShutDown);
        }
        let deadline = Instant::now().checked_add(timeout);
        let answered = self.ask(
            |ack| Request::Shutdown {
                deadline,
                ack: Some(ack),
            },
            deadline.and_then(|d| d.checked_add(Duration::from_millis(100))),
        );
        if answered.is_err() {
            let unsent = self.tail_stats().in_flight;
            return Err(SinkError::ShutdownTimeout {
                after: timeout,
                unsent,
            });
        }
        if let Some(thread) = self
            .handle
            .decider
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            // It answered and is returning.
            let _ = thread.join();
        }
        let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
        let inner = shared.inner.shutdown(left);
        let mut report = shared.report.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(report) = report.as_mut() else {
            return inner;
        };
        report.inner = inner.clone();
        match report.deadline_passed {
            true => Err(SinkError::ShutdownTimeout {
                after: timeout,
                unsent: report.dropped_spans,
            }),
            false => inner,
        }
    }

    fn stats(&self) -> SinkStats {
        let stats = self.tail_stats();
        SinkStats {
            queued: stats
                .seen
                .saturating_sub(stats.dropped_after_shutdown + stats.evicted_queue_full),
            dropped_queue_full: stats.evicted_queue_full,
            dropped_after_shutdown: stats.dropped_after_shutdown,
            dropped_unsent: stats.dropped.saturating_sub(stats.dropped_after_shutdown)
                + stats.evicted.saturating_sub(stats.evicted_queue_full),
            exported: stats.kept,
            export_failed: 0,
            export_rejected: 0,
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.shared.gate.close() {
            // Settle what is pending and stop, without waiting in a destructor.
            let deadline = Instant::now().checked_add(Duration::from_secs(5));
            self.shared.request(Request::Shutdown {
                deadline,
                ack: None,
            });
        }
    }
}
