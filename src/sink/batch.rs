//! The batch sink: a bounded queue in front of an exporter, drained by a background thread.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::Poll;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;

use super::gate::ShutdownGate;
use super::{ExportError, Exporter, SinkError, SinkStats, SpanSink};
use crate::config::{ConfigWarning, Configured, FromEnv, read_number};
use crate::counters::ShardedCounters;
use crate::span::{LocalSpans, LocalSpansIter, SpanData};
use crate::untrusted::Untrusted;

/// How many spans apart a producer thread checks whether a full batch is waiting (counted
/// per sink, in the thread's shard of its `queued` counter), at most: a smaller batch is
/// checked for at its own size (rounded down to a power of two).
const WAKE_CHECK_EVERY: u64 = 32;

/// How many spans apart producers look for a full batch: [`WAKE_CHECK_EVERY`], or the batch
/// size when it is smaller (a power of two, so that the check is a mask).
fn wake_check_every(batch_size: usize) -> u64 {
    let at_most = (batch_size as u64).clamp(1, WAKE_CHECK_EVERY);
    1 << at_most.ilog2()
}

/// How the batch sink queues and sends spans; the defaults are the OpenTelemetry batch span
/// processor's.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tracewire::sink::BatchConfig;
///
/// let config = BatchConfig {
///     scheduled_delay: Duration::from_millis(500),
///     ..BatchConfig::default()
/// };
/// assert_eq!(config.max_queue_size, 2048);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    /// Spans waiting to be sent, at most; more are dropped and counted
    /// (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048; at most [`BatchConfig::MAX_QUEUE_SIZE`]).
    pub max_queue_size: usize,
    /// Spans per export, at most; never more than the queue (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`,
    /// 512).
    pub max_export_batch_size: usize,
    /// The longest a span waits before its batch is sent (`OTEL_BSP_SCHEDULE_DELAY`, 5000 ms).
    pub scheduled_delay: Duration,
    /// The longest one export may take before it counts as failed (`OTEL_BSP_EXPORT_TIMEOUT`,
    /// 30000 ms); zero means no limit, as the specification says of timeouts ("SHOULD
    /// interpret timeout zero values ... as no limit").
    pub export_timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_queue_size: 2048,
            max_export_batch_size: 512,
            scheduled_delay: Duration::from_millis(5000),
            export_timeout: Duration::from_millis(30000),
        }
    }
}

impl BatchConfig {
    /// The largest queue a batch sink makes. Its slots are allocated when it is built, about
    /// 230 bytes each, so a queue of `OTEL_BSP_MAX_QUEUE_SIZE=2147483647` (within the range the
    /// specification asks SDKs to accept) would abort the process; 2^20 spans (about 240 MB)
    /// is more than any exporter drains between two schedules.
    pub const MAX_QUEUE_SIZE: usize = 1 << 20;

    /// The configuration from the `OTEL_BSP_*` variables; a value that is not a whole number
    /// (or is zero where zero makes no sense) is warned about and the default used, a queue
    /// size above [`MAX_QUEUE_SIZE`](Self::MAX_QUEUE_SIZE) is lowered to it, and a batch size
    /// above the queue size is lowered to that, each with a warning.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tracewire::sink::BatchConfig;
    ///
    /// let configured = BatchConfig::from_env_with(|name| match name {
    ///     "OTEL_BSP_SCHEDULE_DELAY" => Some("250".into()),
    ///     "OTEL_BSP_MAX_QUEUE_SIZE" => Some("lots".into()),
    ///     _ => None,
    /// });
    /// assert_eq!(configured.value.scheduled_delay, Duration::from_millis(250));
    /// assert_eq!(configured.value.max_queue_size, 2048); // the default, with a warning
    /// assert_eq!(configured.warnings[0].variable, "OTEL_BSP_MAX_QUEUE_SIZE");
    /// ```
    pub fn from_env() -> Configured<Self> {
        <Self as FromEnv>::from_env()
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Configured<Self> {
        <Self as FromEnv>::from_env_with(lookup)
    }

    /// This configuration with sizes made usable: at least one span, batch within queue.
    fn normalized(mut self) -> Self {
        // A zero delay would have the worker spin; a millisecond is as good as "at once".
        self.scheduled_delay = self.scheduled_delay.max(Duration::from_millis(1));
        self.max_queue_size = self.max_queue_size.clamp(1, Self::MAX_QUEUE_SIZE);
        self.max_export_batch_size = self.max_export_batch_size.clamp(1, self.max_queue_size);
        self
    }
}

impl FromEnv for BatchConfig {
    fn read_env(lookup: &impl Fn(&str) -> Option<String>) -> (Self, Vec<ConfigWarning>) {
        let defaults = Self::default();
        let mut warnings = Vec::new();
        let mut read = |name: &'static str, default: u64, min: u64| {
            read_number(lookup, &mut warnings, name, default, min)
        };
        let max_queue_size = read("OTEL_BSP_MAX_QUEUE_SIZE", defaults.max_queue_size as u64, 1);
        let batch_size = read(
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
            defaults.max_export_batch_size as u64,
            1,
        );
        let delay = read("OTEL_BSP_SCHEDULE_DELAY", 5000, 0);
        let timeout = read("OTEL_BSP_EXPORT_TIMEOUT", 30000, 0);
        let mut config = Self {
            max_queue_size: usize::try_from(max_queue_size).unwrap_or(usize::MAX),
            max_export_batch_size: usize::try_from(batch_size).unwrap_or(usize::MAX),
            scheduled_delay: Duration::from_millis(delay),
            export_timeout: Duration::from_millis(timeout),
        };
        if config.max_queue_size > Self::MAX_QUEUE_SIZE {
            warnings.push(ConfigWarning {
                variable: "OTEL_BSP_MAX_QUEUE_SIZE",
                value: config.max_queue_size.to_string(),
                message: format!(
                    "its slots are allocated up front; using the largest supported, {}",
                    Self::MAX_QUEUE_SIZE
                ),
            });
            config.max_queue_size = Self::MAX_QUEUE_SIZE;
        }
        if config.max_export_batch_size > config.max_queue_size {
            warnings.push(ConfigWarning {
                variable: "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                value: config.max_export_batch_size.to_string(),
                message: format!(
                    "must not exceed OTEL_BSP_MAX_QUEUE_SIZE ({}); using {}",
                    config.max_queue_size, config.max_queue_size
                ),
            });
            config.max_export_batch_size = config.max_queue_size;
        }
        (config, warnings)
    }
}

/// Queues finished spans and hands them to an [`Exporter`] in batches, from a background
/// thread of its own.
///
/// `on_end` never blocks: it pushes into a bounded lock-free queue, and when the queue is full
/// the span is dropped and counted ([`SinkStats::dropped_queue_full`]). A thread's
/// [`LocalSpan`](crate::LocalSpan)s arrive as one batch ([`on_end_local`](SpanSink::on_end_local)),
/// kept whole, in a queue of their own counted against the same bound: what does not fit is
/// dropped and counted. (The plain queue checks the local spans without a lock, so spans of
/// both kinds arriving at the same instant can pass the bound, by at most the queue size: the
/// memory stays bounded.)
///
/// The worker is woken only when a batch is full or its delay has passed, not per span. It
/// runs the exporter on a Tokio runtime of its own, so the sink works the same whether spans
/// come from a multi-threaded runtime, a current-thread runtime, plain threads, or a task that
/// built the sink — and a flush or shutdown called from async code cannot deadlock: it waits at most its
/// deadline, and the worker never needs the caller's runtime.
///
/// On shutdown every span queued before it is exported (within the deadline); spans that
/// arrive later are counted as dropped. Dropping the sink without calling shutdown asks the
/// worker to export what is queued and stop, without waiting for it.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tracewire::Tracer;
/// use tracewire::sink::{Exporter, StdoutExporter};
///
/// let tracer = Tracer::builder()
///     .service_name("checkout")
///     .sink(StdoutExporter::json().batched())
///     .build();
/// tracer.span("charge card").start().end();
/// tracer.shutdown(Duration::from_secs(1)).unwrap();
/// assert_eq!(tracer.stats().sink.exported, 1);
/// ```
#[derive(Debug)]
pub struct BatchSink {
    shared: Arc<Shared>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    queue: ArrayQueue<SpanData>,
    /// Local spans, queued a thread's batch at a time; they count against the same bound.
    local: Mutex<LocalQueue>,
    /// The spans in `local`, changed under its lock, read without it (by `on_end`, for the
    /// bound: zero, and a line nobody writes, when no local spans are queued).
    local_spans: AtomicUsize,
    max_queue_size: usize,
    /// Flush and shutdown requests for the worker.
    requests: Mutex<Vec<Request>>,
    /// The worker thread, to wake it; set once it runs.
    worker: OnceLock<Thread>,
    /// Set when a producer has woken the worker and it has not looked at the queue since, so
    /// that a burst of spans wakes it once.
    wake_pending: AtomicBool,
    batch_size: usize,
    /// A producer looks for a full batch when its count of queued spans, masked, is zero.
    wake_check_mask: u64,
    /// Shut down: later spans are dropped and counted.
    gate: ShutdownGate,
    /// Set by the worker once its final drain is done: a span pushed after that would never
    /// be exported, so whoever finds one in the queue then counts it as dropped.
    drained: AtomicBool,
    /// Who answers for the spans the worker took out of the queues, and whether a shutdown
    /// whose deadline passed has given them up (see [`Settlement`]).
    settlement: Mutex<Settlement>,
    /// Cancels the export in flight once a shutdown has given up on it.
    cancel: tokio::sync::Notify,
    /// Queued spans never sent: given up by a shutdown whose deadline passed (queued or in
    /// flight then), or pushed by a producer racing the final drain.
    dropped_unsent: AtomicU64,
    /// Sharded by thread: every producer adds to it for every span.
    queued: ShardedCounters<1>,
    dropped_queue_full: AtomicU64,
    exported: AtomicU64,
    export_failed: AtomicU64,
    export_rejected: AtomicU64,
}

/// Every queued span ends in exactly one counter. The worker takes spans out of the queues and
/// settles them (exported, failed, rejected) under this lock; a shutdown that gives up takes
/// the same lock, counts what the worker holds and what is still queued as unsent, and marks
/// the sink abandoned, after which the worker settles nothing more and takes nothing more.
#[derive(Debug, Default)]
struct Settlement {
    /// Spans the worker has taken out of the queues and not settled: the batch in flight and
    /// the rest of a local batch it is part of.
    held: u64,
    /// A shutdown's deadline passed: what the worker held is counted as unsent already.
    abandoned: bool,
}

#[derive(Debug, Default)]
struct LocalQueue {
    batches: VecDeque<LocalSpans>,
    /// Set by the worker's final drain: later batches are dropped and counted.
    closed: bool,
}

#[derive(Debug)]
enum Request {
    Flush(SyncSender<Result<(), SinkError>>),
    Shutdown(Option<SyncSender<Result<(), SinkError>>>),
}

impl Shared {
    fn wake_worker(&self) {
        if let Some(worker) = self.worker.get() {
            worker.unpark();
        }
    }

    /// Empties the queues after the final drain, or when a shutdown gives up, counting each
    /// span as unsent; returns how many there were.
    fn drop_leftovers(&self) -> u64 {
        let mut dropped = 0;
        while let Some(span) = self.queue.pop() {
            dropped += 1;
            crate::span::pool::give(span.attributes);
        }
        let mut local = self.local_queue();
        local.closed = true;
        dropped += self.local_spans.swap(0, Ordering::Relaxed) as u64;
        local.batches.clear();
        drop(local);
        self.dropped_unsent.fetch_add(dropped, Ordering::Relaxed);
        dropped
    }

    fn settlement(&self) -> std::sync::MutexGuard<'_, Settlement> {
        self.settlement
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A shutdown's deadline passed: gives up on every span not yet settled (held by the
    /// worker or still queued), counting them as unsent, and cancels the export in flight.
    /// Returns how many spans were given up.
    fn abandon(&self) -> u64 {
        let mut settlement = self.settlement();
        if settlement.abandoned {
            return 0;
        }
        settlement.abandoned = true;
        let held = std::mem::take(&mut settlement.held);
        self.dropped_unsent.fetch_add(held, Ordering::Relaxed);
        // Under the settlement lock the worker takes nothing, so what is queued now is
        // nobody's but ours.
        let queued = self.drop_leftovers();
        drop(settlement);
        self.cancel.notify_one();
        self.wake_worker();
        held + queued
    }

    fn local_queue(&self) -> std::sync::MutexGuard<'_, LocalQueue> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Spans queued, local ones included.
    fn queued_len(&self) -> usize {
        self.queue.len() + self.local_spans.load(Ordering::Relaxed)
    }

    fn push_request(&self, request: Request) {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
        self.wake_worker();
    }
}

impl BatchSink {
    /// A batch sink with the default [`BatchConfig`].
    pub fn new(exporter: impl Exporter) -> Self {
        Self::with_config(exporter, BatchConfig::default())
    }

    /// A batch sink with `config` (sizes of zero are raised to one, a queue size above
    /// [`BatchConfig::MAX_QUEUE_SIZE`] lowered to it, and the batch size lowered to the queue
    /// size).
    pub fn with_config(exporter: impl Exporter, config: BatchConfig) -> Self {
        let config = config.normalized();
        let shared = Arc::new(Shared {
            queue: ArrayQueue::new(config.max_queue_size),
            local: Mutex::default(),
            local_spans: AtomicUsize::new(0),
            max_queue_size: config.max_queue_size,
            requests: Mutex::new(Vec::new()),
            worker: OnceLock::new(),
            wake_pending: AtomicBool::new(false),
            batch_size: config.max_export_batch_size,
            wake_check_mask: wake_check_every(config.max_export_batch_size) - 1,
            gate: ShutdownGate::default(),
            drained: AtomicBool::new(false),
            settlement: Mutex::default(),
            cancel: tokio::sync::Notify::new(),
            dropped_unsent: AtomicU64::new(0),
            queued: ShardedCounters::default(),
            dropped_queue_full: AtomicU64::new(0),
            exported: AtomicU64::new(0),
            export_failed: AtomicU64::new(0),
            export_rejected: AtomicU64::new(0),
        });
        let worker = Worker {
            local_carry: RefCell::new(None),
            exporter: Box::new(exporter),
            config,
            shared: shared.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("tracewire-batch".into())
            .spawn(move || worker.run());
        let handle = match handle {
            Ok(handle) => {
                let _ = shared.worker.set(handle.thread().clone());
                Some(handle)
            }
            Err(error) => {
                // Without a worker nothing can be sent: refuse spans (and count them) at once.
                crate::diagnostics::error!(
                    "tracewire: cannot start the batch sink's thread: {error}"
                );
                shared.gate.close();
                None
            }
        };
        Self {
            shared,
            worker: Mutex::new(handle),
        }
    }

    /// Asks the worker for a flush or shutdown and waits for its answer until `timeout`.
    fn request(
        &self,
        make: fn(SyncSender<Result<(), SinkError>>) -> Request,
        timeout: Duration,
    ) -> Result<(), SinkError> {
        let (ack, answer) = mpsc::sync_channel(1);
        self.shared.push_request(make(ack));
        match answer.recv_timeout(timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(SinkError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(SinkError::ShutDown),
        }
    }
}

impl SpanSink for BatchSink {
    fn on_end(&self, span: SpanData) {
        let shared = &self.shared;
        if shared.gate.refuses(1) {
            return;
        }
        let local_spans = shared.local_spans.load(Ordering::Relaxed);
        let full = local_spans > 0 && shared.queue.len() + local_spans >= shared.max_queue_size;
        if full || shared.queue.push(span).is_err() {
            shared.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
            // A full queue is a full batch at least: the periodic check below may not have
            // fired (it looks every few spans, and refused spans are not counted as queued).
            if !shared.wake_pending.swap(true, Ordering::AcqRel) {
                shared.wake_worker();
            }
            return;
        }
        // A producer that found the gate open just before shutdown closed it may push after the
        // worker's final drain. `push` claims its slot with a SeqCst compare-exchange
        // (crossbeam-queue 0.3, `push_or_else`), and this load is SeqCst too; the worker
        // stores `drained` and then issues a SeqCst fence before its last look. By the C++
        // fence rules ([atomics.order]) either that look sees this span, or this load sees
        // `drained` and the span is taken back out: no span stays queued unaccounted, and the
        // request path pays no fence (a SeqCst load is a plain load on x86).
        if shared.drained.load(Ordering::SeqCst) {
            shared.drop_leftovers();
        }
        let queued_here = shared.queued.add(0, 1) + 1;
        // Reading the queue's length touches a cache line the worker writes, so each thread
        // looks only every few of its spans: the worker is woken at most that many spans
        // (per producing thread) later than a full batch.
        if queued_here & shared.wake_check_mask == 0
            && shared.queued_len() >= shared.batch_size
            && !shared.wake_pending.swap(true, Ordering::AcqRel)
        {
            shared.wake_worker();
        }
    }

    /// Queues the batch as it is, in one step: the worker turns it into [`SpanData`]. What
    /// does not fit in the queue is dropped and counted.
    fn on_end_local(&self, mut spans: LocalSpans) {
        let shared = &self.shared;
        let count = spans.len();
        if shared.gate.refuses(count) {
            return;
        }
        let (queued, kept) = {
            let mut local = shared.local_queue();
            if local.closed {
                drop(local);
                shared.gate.count_dropped(count);
                return;
            }
            let queued = shared.queued_len();
            let kept = count.min(shared.max_queue_size.saturating_sub(queued));
            spans.spans.truncate(kept);
            if kept > 0 {
                local.batches.push_back(spans);
                shared.local_spans.fetch_add(kept, Ordering::Relaxed);
            }
            (queued + kept, kept)
        };
        shared.queued.add(0, kept as u64);
        if kept < count {
            shared
                .dropped_queue_full
                .fetch_add((count - kept) as u64, Ordering::Relaxed);
        }
        if (queued >= shared.batch_size || kept < count)
            && !shared.wake_pending.swap(true, Ordering::AcqRel)
        {
            shared.wake_worker();
        }
    }

    fn force_flush(&self, timeout: Duration) -> Result<(), SinkError> {
        if self.shared.gate.is_closed() {
            return Err(SinkError::ShutDown);
        }
        self.request(Request::Flush, timeout)
    }

    /// Flushes and stops. If `timeout` passes first, the spans still queued or in flight are
    /// given up: counted as [`dropped_unsent`](SinkStats::dropped_unsent), named in
    /// [`SinkError::ShutdownTimeout`], and the export in flight is cancelled, so that every
    /// span this sink took is in exactly one counter when this returns.
    fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        if !self.shared.gate.close() {
            return Err(SinkError::ShutDown);
        }
        let result = match self.request(|ack| Request::Shutdown(Some(ack)), timeout) {
            Err(SinkError::Timeout(after)) => Err(SinkError::ShutdownTimeout {
                after,
                unsent: self.shared.abandon(),
            }),
            other => other,
        };
        if result.is_ok() {
            // The worker answered and is returning: joining cannot wait long.
            let handle = self
                .worker
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(handle) = handle {
                let _ = handle.join();
            }
        }
        result
    }

    fn stats(&self) -> SinkStats {
        let s = &self.shared;
        SinkStats {
            queued: s.queued.sum(0),
            dropped_queue_full: s.dropped_queue_full.load(Ordering::Relaxed),
            dropped_after_shutdown: s.gate.dropped(),
            dropped_unsent: s.dropped_unsent.load(Ordering::Relaxed),
            exported: s.exported.load(Ordering::Relaxed),
            export_failed: s.export_failed.load(Ordering::Relaxed),
            export_rejected: s.export_rejected.load(Ordering::Relaxed),
        }
    }
}

impl Drop for BatchSink {
    fn drop(&mut self) {
        if self.shared.gate.close() {
            // Ask the worker to send what is queued and stop; do not wait in a destructor.
            self.shared.push_request(Request::Shutdown(None));
        }
    }
}

/// How many spans of each kind an export may take.
#[derive(Clone, Copy, Debug)]
struct Budget {
    plain: usize,
    local: usize,
}

impl Budget {
    const ALL: Budget = Budget {
        plain: usize::MAX,
        local: usize::MAX,
    };
}

/// The background thread's state.
struct Worker {
    /// The rest of a local batch being turned into spans for export.
    local_carry: RefCell<Option<LocalSpansIter>>,
    exporter: Box<dyn Exporter>,
    config: BatchConfig,
    shared: Arc<Shared>,
}

impl Worker {
    fn run(self) {
        // `enable_all`: timers, and the I/O driver when Tokio's `net` feature is on (the
        // network exporters turn it on).
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                crate::diagnostics::error!(
                    "tracewire: the batch sink cannot start its runtime: {error}"
                );
                self.shared.gate.close();
                // Answer waiting flushes and shutdowns at once (their channels close: "shut
                // down") rather than letting them wait out their deadlines.
                self.shared
                    .requests
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
                // Nothing will export what was queued: count it as dropped.
                self.shared.drained.store(true, Ordering::SeqCst);
                std::sync::atomic::fence(Ordering::SeqCst);
                self.shared.drop_leftovers();
                return;
            }
        };
        let shared = &self.shared;
        let mut next_export = Instant::now() + self.config.scheduled_delay;
        loop {
            std::thread::park_timeout(next_export.saturating_duration_since(Instant::now()));
            shared.wake_pending.store(false, Ordering::Release);

            if shared.settlement().abandoned {
                self.stop();
                return;
            }
            let requests = std::mem::take(
                &mut *shared
                    .requests
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            for request in requests {
                // Everything pushed before the request is in the queue now: send it all.
                match request {
                    Request::Flush(ack) => {
                        let result = self.export(&runtime, self.queued_now(), usize::MAX);
                        let _ = ack.try_send(result);
                    }
                    Request::Shutdown(ack) => {
                        // Producers see the closed gate and stop pushing, so draining to empty
                        // ends; it also takes spans pushed by a producer that checked the flag
                        // just before it was set.
                        let result = self.export(&runtime, Budget::ALL, usize::MAX);
                        self.stop();
                        if let Some(ack) = ack {
                            let _ = ack.try_send(result);
                        }
                        return;
                    }
                }
            }

            if Instant::now() >= next_export {
                // Failures are counted and logged in `export`; nobody waits here.
                let _ = self.export(&runtime, self.queued_now(), usize::MAX);
                next_export = Instant::now() + self.config.scheduled_delay;
            } else if shared.queued_len() >= shared.batch_size {
                // Full batches, of whatever arrives meanwhile too: under a steady stream the
                // worker keeps sending rather than parking and being woken again. The schedule
                // stays as it was: this export takes local spans first, and under a stream of
                // them only the scheduled one reaches the plain spans.
                let full_batches = shared.queued_len() / shared.batch_size;
                let _ = self.export(&runtime, Budget::ALL, full_batches);
            }
        }
    }

    /// The worker's last act: marks the final drain done, counts what producers racing it
    /// queued, and shuts the exporter down.
    fn stop(&self) {
        self.shared.drained.store(true, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        self.shared.drop_leftovers();
        self.exporter.shutdown();
    }

    /// What is queued now, to send: spans arriving meanwhile wait for the next round, so that
    /// a steady stream can neither keep a flush from finishing nor take the place of spans
    /// queued before it.
    fn queued_now(&self) -> Budget {
        let carried = self
            .local_carry
            .borrow()
            .as_ref()
            .map_or(0, ExactSizeIterator::len);
        Budget {
            plain: self.shared.queue.len(),
            local: self.shared.local_spans.load(Ordering::Relaxed) + carried,
        }
    }

    /// The next queued span within `budget`: from local batches first, then the queue.
    fn next_span(&self, budget: &mut Budget) -> Option<SpanData> {
        if budget.local > 0 {
            if let Some(span) = self.next_local() {
                budget.local -= 1;
                return Some(span);
            }
        }
        if budget.plain > 0 {
            if let Some(span) = self.shared.queue.pop() {
                budget.plain -= 1;
                return Some(span);
            }
        }
        None
    }

    fn next_local(&self) -> Option<SpanData> {
        let mut carry = self.local_carry.borrow_mut();
        loop {
            if let Some(span) = carry.as_mut().and_then(Iterator::next) {
                return Some(span);
            }
            let mut local = self.shared.local_queue();
            let batch = local.batches.pop_front();
            *carry = batch.map(|batch| {
                self.shared
                    .local_spans
                    .fetch_sub(batch.len(), Ordering::Relaxed);
                batch.into_iter()
            });
            carry.as_ref()?;
        }
    }

    /// Exports queued spans within `budget`, at most `max_batches` batches of the batch size,
    /// each within the export timeout.
    fn export(
        &self,
        runtime: &tokio::runtime::Runtime,
        mut budget: Budget,
        max_batches: usize,
    ) -> Result<(), SinkError> {
        let shared = &self.shared;
        let mut result = Ok(());
        for _ in 0..max_batches {
            let Some(batch) = self.take_batch(&mut budget) else {
                break;
            };
            let count = batch.len() as u64;
            let (exporter, timeout) = (&self.exporter, self.config.export_timeout);
            // A panicking exporter must not take the worker (and every later span) with it.
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                runtime.block_on(cancellable(&shared.cancel, async {
                    match timeout.is_zero() {
                        true => Ok(exporter.export(&batch).await),
                        false => tokio::time::timeout(timeout, exporter.export(&batch)).await,
                    }
                }))
            }))
            .unwrap_or_else(|_| Some(Ok(Err(ExportError("the exporter panicked".into())))));
            for span in batch {
                crate::span::pool::give(span.attributes);
            }
            // Taken after every export, so that a failed export's partial count is not carried
            // into the next one.
            let rejected = self.exporter.take_rejected().min(count);
            let failed = self.exporter.take_failed().min(count - rejected);
            let mut settlement = shared.settlement();
            if settlement.abandoned {
                // A shutdown gave up on these spans and counted them already.
                return Err(SinkError::Export(
                    "shut down before the export finished".into(),
                ));
            }
            settlement.held -= count;
            let Some(outcome) = outcome else {
                // Cancelled only by `abandon`, which marks the settlement first.
                continue;
            };
            let (exported, rejected, failed) = match &outcome {
                Ok(Ok(())) => (count - rejected - failed, rejected, failed),
                Ok(Err(_)) | Err(_) => (0, 0, count),
            };
            // Counted before the lock is let go, so that a shutdown giving up right after
            // finds these spans settled; logged after, so that a slow logger holds nobody.
            shared.exported.fetch_add(exported, Ordering::Relaxed);
            shared
                .export_rejected
                .fetch_add(rejected, Ordering::Relaxed);
            shared.export_failed.fetch_add(failed, Ordering::Relaxed);
            drop(settlement);
            result = match outcome {
                Ok(Ok(())) if failed == 0 => continue,
                // The exporter logged why; a flush or shutdown still learns of it.
                Ok(Ok(())) => Err(format!("{failed} of {count} spans could not be exported")),
                Ok(Err(error)) => {
                    let error = Untrusted::new(&error.0);
                    crate::diagnostics::warning!(
                        "tracewire: exporting {count} spans failed: {error}"
                    );
                    Err(error.to_string())
                }
                Err(_) => {
                    crate::diagnostics::warning!(
                        "tracewire: exporting {count} spans timed out after {timeout:?}"
                    );
                    Err("export timed out".into())
                }
            }
            .map_err(SinkError::Export);
        }
        result
    }

    /// The next batch within `budget`, taken under the settlement lock so that a shutdown
    /// giving up knows exactly what the worker holds; `None` when nothing is queued or the
    /// sink was given up.
    fn take_batch(&self, budget: &mut Budget) -> Option<Vec<SpanData>> {
        let mut settlement = self.shared.settlement();
        if settlement.abandoned {
            return None;
        }
        let batch: Vec<SpanData> = std::iter::from_fn(|| self.next_span(budget))
            .take(self.config.max_export_batch_size)
            .collect();
        let carried = self
            .local_carry
            .borrow()
            .as_ref()
            .map_or(0, ExactSizeIterator::len);
        settlement.held = (batch.len() + carried) as u64;
        (!batch.is_empty()).then_some(batch)
    }
}

/// Runs `export` until it finishes (`Some`) or `cancel` is notified (`None`).
async fn cancellable<T>(
    cancel: &tokio::sync::Notify,
    export: impl Future<Output = T>,
) -> Option<T> {
    let mut export = std::pin::pin!(export);
    let mut cancelled = std::pin::pin!(cancel.notified());
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = export.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        cancelled.as_mut().poll(cx).map(|()| None)
    })
    .await
}
