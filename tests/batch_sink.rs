//! The batch sink: bounded, never blocking, nothing lost on shutdown, no deadlocks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tracewire::Tracer;
use tracewire::sink::{BatchConfig, BatchSink, BoxFuture, ExportError, Exporter, SinkError};
use tracewire::span::SpanData;

/// Counts what it receives; each export first waits for a permit, so a test can hold the
/// exporter stuck for as long as it wants.
#[derive(Debug, Clone)]
struct GatedExporter {
    gate: Arc<Semaphore>,
    /// Exports begun (waiting at the gate or past it).
    begun: Arc<AtomicUsize>,
    received: Arc<AtomicUsize>,
    names: Arc<Mutex<Vec<String>>>,
}

impl GatedExporter {
    fn open() -> Self {
        Self::with_permits(Semaphore::MAX_PERMITS)
    }

    fn with_permits(permits: usize) -> Self {
        Self {
            gate: Arc::new(Semaphore::new(permits)),
            begun: Arc::new(AtomicUsize::new(0)),
            received: Arc::new(AtomicUsize::new(0)),
            names: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl Exporter for GatedExporter {
    fn export<'a>(&'a self, batch: &'a [SpanData]) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async move {
            self.begun.fetch_add(1, Ordering::SeqCst);
            let _permit = self
                .gate
                .acquire()
                .await
                .map_err(|e| ExportError(e.to_string()))?;
            // Tokio timers work inside the sink's own runtime.
            tokio::time::sleep(Duration::from_millis(1)).await;
            self.received.fetch_add(batch.len(), Ordering::SeqCst);
            self.names
                .lock()
                .unwrap()
                .extend(batch.iter().map(|s| s.name.to_string()));
            Ok(())
        })
    }
}

fn tracer_with(exporter: GatedExporter, config: BatchConfig) -> Tracer {
    Tracer::builder()
        .service_name("batch-test")
        .sink(BatchSink::with_config(exporter, config))
        .build()
}

fn config(queue: usize, batch: usize) -> BatchConfig {
    BatchConfig {
        max_queue_size: queue,
        max_export_batch_size: batch,
        scheduled_delay: Duration::from_millis(20),
        export_timeout: Duration::from_secs(10),
    }
}

#[test]
fn a_stuck_exporter_never_blocks_span_end_and_a_full_queue_drops_and_counts() {
    let exporter = GatedExporter::with_permits(0);
    let tracer = tracer_with(exporter.clone(), config(100, 10));
    // The exporter never returns; if `end` waited for it, this loop would never finish.
    for i in 0..5000 {
        tracer.span(format!("span-{i}")).start().end();
    }
    let stats = tracer.stats();
    assert_eq!(stats.spans_ended, 5000);
    assert!(
        stats.sink.dropped_queue_full >= 5000 - 100 - 10,
        "{stats:?}"
    );
    assert_eq!(
        stats.sink.queued + stats.sink.dropped_queue_full,
        5000,
        "every span is either queued or counted as dropped: {stats:?}"
    );
    // Unblock the exporter: everything queued is delivered.
    exporter.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    tracer.shutdown(Duration::from_secs(10)).unwrap();
    let stats = tracer.stats();
    assert_eq!(stats.sink.exported, stats.sink.queued);
    assert_eq!(
        exporter.received.load(Ordering::SeqCst) as u64,
        stats.sink.queued
    );
}

#[test]
fn nothing_is_lost_on_shutdown_when_the_queue_did_not_overflow() {
    let exporter = GatedExporter::open();
    let tracer = tracer_with(
        exporter.clone(),
        BatchConfig {
            // Long delay: only shutdown can send the last partial batch.
            scheduled_delay: Duration::from_secs(3600),
            ..config(2048, 100)
        },
    );
    for i in 0..1234 {
        tracer.span(format!("span-{i}")).start().end();
    }
    tracer.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(exporter.received.load(Ordering::SeqCst), 1234);
    let names = exporter.names.lock().unwrap();
    assert_eq!(names[0], "span-0");
    assert_eq!(names[1233], "span-1233");
    let stats = tracer.stats();
    assert_eq!(stats.sink.dropped(), 0);

    // After shutdown, spans are counted as dropped, and a second shutdown says so.
    tracer.span("late").start().end();
    assert_eq!(tracer.stats().sink.dropped_after_shutdown, 1);
    assert_eq!(
        tracer.shutdown(Duration::from_secs(1)),
        Err(SinkError::ShutDown)
    );
}

#[test]
fn force_flush_delivers_what_was_ended_before_it() {
    let exporter = GatedExporter::open();
    let tracer = tracer_with(
        exporter.clone(),
        BatchConfig {
            scheduled_delay: Duration::from_secs(3600),
            ..config(2048, 512)
        },
    );
    for _ in 0..10 {
        tracer.span("flushed").start().end();
    }
    tracer.force_flush(Duration::from_secs(10)).unwrap();
    assert_eq!(exporter.received.load(Ordering::SeqCst), 10);
}

#[test]
fn flush_waits_at_most_its_deadline() {
    let exporter = GatedExporter::with_permits(0);
    let tracer = tracer_with(exporter.clone(), config(100, 10));
    tracer.span("stuck").start().end();
    assert!(matches!(
        tracer.force_flush(Duration::from_millis(100)),
        Err(SinkError::Timeout(_))
    ));
    exporter.gate.add_permits(1000);
    tracer.shutdown(Duration::from_secs(10)).unwrap();
}

#[derive(Debug)]
struct FailingExporter;

impl Exporter for FailingExporter {
    fn export<'a>(&'a self, _batch: &'a [SpanData]) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async { Err(ExportError("collector refused".into())) })
    }
}

#[derive(Debug)]
struct PanickingExporter;

impl Exporter for PanickingExporter {
    fn export<'a>(&'a self, _batch: &'a [SpanData]) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async { panic!("exporter bug") })
    }
}

#[test]
fn failed_and_panicking_exports_are_counted() {
    for sink in [
        BatchSink::with_config(FailingExporter, config(100, 10)),
        BatchSink::with_config(PanickingExporter, config(100, 10)),
    ] {
        let tracer = Tracer::builder().sink(sink).build();
        for _ in 0..25 {
            tracer.span("lost").start().end();
        }
        assert!(tracer.force_flush(Duration::from_secs(10)).is_err());
        // The worker survived: it still takes and counts spans.
        tracer.span("after").start().end();
        let _ = tracer.shutdown(Duration::from_secs(10));
        let stats = tracer.stats();
        assert_eq!(stats.sink.export_failed, 26, "{stats:?}");
        assert_eq!(stats.sink.exported, 0);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_deadlock_on_a_current_thread_runtime_with_flush_and_shutdown_from_async_code() {
    let exporter = GatedExporter::open();
    let tracer = tracer_with(exporter.clone(), config(2048, 512));
    for _ in 0..100 {
        tracer
            .span("async")
            .in_scope(tokio::task::yield_now())
            .await;
    }
    tracer.force_flush(Duration::from_secs(10)).unwrap();
    assert_eq!(exporter.received.load(Ordering::SeqCst), 100);
    tracer.shutdown(Duration::from_secs(10)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_deadlock_when_built_inside_a_spawned_task() {
    let exporter = GatedExporter::open();
    let received = exporter.received.clone();
    tokio::spawn(async move {
        let tracer = tracer_with(exporter, config(2048, 512));
        tracer
            .span("inside")
            .in_scope(tokio::task::yield_now())
            .await;
        tracer.shutdown(Duration::from_secs(10)).unwrap();
    })
    .await
    .unwrap();
    assert_eq!(received.load(Ordering::SeqCst), 1);
}

#[test]
fn batch_config_from_env() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    };
    let configured = BatchConfig::from_env_with(env(&[]));
    assert_eq!(configured.value, BatchConfig::default());
    assert!(configured.warnings.is_empty());

    let configured = BatchConfig::from_env_with(env(&[
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "50"),
        ("OTEL_BSP_SCHEDULE_DELAY", "250"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "1000"),
    ]));
    assert!(configured.warnings.is_empty());
    assert_eq!(
        configured.value,
        BatchConfig {
            max_queue_size: 100,
            max_export_batch_size: 50,
            scheduled_delay: Duration::from_millis(250),
            export_timeout: Duration::from_millis(1000),
        }
    );

    let configured = BatchConfig::from_env_with(env(&[
        ("OTEL_BSP_MAX_QUEUE_SIZE", "lots"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096"),
        ("OTEL_BSP_SCHEDULE_DELAY", "-5"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "1.5"),
    ]));
    let variables: Vec<&str> = configured.warnings.iter().map(|w| w.variable).collect();
    assert_eq!(
        variables,
        [
            "OTEL_BSP_MAX_QUEUE_SIZE",
            "OTEL_BSP_SCHEDULE_DELAY",
            "OTEL_BSP_EXPORT_TIMEOUT",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        ]
    );
    assert_eq!(configured.warnings[0].value, "lots");
    assert_eq!(configured.value.max_queue_size, 2048);
    assert_eq!(
        configured.value.max_export_batch_size, 2048,
        "never more than the queue"
    );
    assert_eq!(
        configured.value.scheduled_delay,
        Duration::from_millis(5000)
    );
    assert!(
        BatchConfig::from_env_with(env(&[("OTEL_BSP_MAX_QUEUE_SIZE", "0")]))
            .strict()
            .is_err()
    );
}

#[test]
fn a_full_queue_wakes_the_worker_before_the_schedule_does() {
    // Batch as large as the queue, and a schedule that never comes during the test: only a
    // full queue can start the export. Ten spans fill it without reaching the every-few-spans
    // check; the eleventh is refused, and that must wake the worker.
    let exporter = GatedExporter::open();
    let config = BatchConfig {
        scheduled_delay: Duration::from_secs(3600),
        ..config(10, 10)
    };
    let tracer = tracer_with(exporter.clone(), config);
    for i in 0..11 {
        tracer.span(format!("span-{i}")).start().end();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while exporter.received.load(Ordering::SeqCst) < 10 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(exporter.received.load(Ordering::SeqCst), 10);
    assert_eq!(tracer.stats().sink.dropped_queue_full, 1);
}

#[test]
fn spans_ending_during_shutdown_are_each_exported_or_counted_as_dropped() {
    // Producers keep ending spans while shutdown drains: a span pushed after the final drain
    // must still be accounted for.
    for _ in 0..30 {
        let exporter = GatedExporter::open();
        let tracer = tracer_with(exporter.clone(), config(2048, 64));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let producers: Vec<_> = (0..8)
            .map(|_| {
                let (tracer, stop) = (tracer.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        tracer.span("busy").start().end();
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(2));
        let _ = tracer.shutdown(Duration::from_secs(10));
        stop.store(true, Ordering::Relaxed);
        for producer in producers {
            producer.join().unwrap();
        }
        let stats = tracer.stats();
        assert_eq!(
            stats.spans_ended,
            stats.sink.exported + stats.sink.dropped(),
            "{stats:?}"
        );
        assert_eq!(
            exporter.received.load(Ordering::SeqCst) as u64,
            stats.sink.exported
        );
    }
}

#[test]
fn record_only_spans_are_counted_apart_and_every_other_span_is_accounted_for() {
    use tracewire::sampling::ShouldSample;
    use tracewire::sampling::{Sampler, SamplingDecision, SamplingParams, SamplingResult};

    /// Samples spans named "keep"; records the others only (as a tail sampler's head would).
    #[derive(Debug)]
    struct KeepByName;
    impl ShouldSample for KeepByName {
        fn should_sample(&self, params: &SamplingParams<'_>) -> SamplingResult {
            let decision = match params.name {
                "keep" => SamplingDecision::RecordAndSample,
                _ => SamplingDecision::RecordOnly,
            };
            SamplingResult::with_parent_state(decision, params)
        }
    }

    let exporter = GatedExporter::open();
    let tracer = Tracer::builder()
        .sampler(Sampler::new(KeepByName))
        .sink(BatchSink::with_config(exporter.clone(), config(2048, 512)))
        .build();
    for i in 0..30 {
        let name = if i % 3 == 0 { "keep" } else { "record only" };
        tracer.span(name).start().end();
    }
    tracer.shutdown(Duration::from_secs(10)).unwrap();
    let stats = tracer.stats();
    assert_eq!((stats.spans_ended, stats.record_only_ended), (30, 20));
    assert_eq!(
        stats.spans_ended - stats.record_only_ended,
        stats.sink.exported + stats.sink.dropped(),
        "{stats:?}"
    );
    assert_eq!(exporter.received.load(Ordering::SeqCst), 10);
}

#[test]
fn two_batch_sinks_fed_by_one_thread_each_wake_for_a_full_batch() {
    // A fan-out to two batch sinks (`OTEL_TRACES_EXPORTER=otlp,zipkin`) feeds them in turn
    // from the same thread. Each must notice its own full batches: with a schedule that never
    // comes during the test, only that check starts their exports, long before the queues fill.
    let (first, second) = (GatedExporter::open(), GatedExporter::open());
    let config = BatchConfig {
        scheduled_delay: Duration::from_secs(3600),
        ..config(2048, 64)
    };
    let tracer = Tracer::builder()
        .sink(
            tracewire::sink::FanOut::new()
                .with(BatchSink::with_config(first.clone(), config))
                .with(BatchSink::with_config(second.clone(), config)),
        )
        .build();
    for _ in 0..256 {
        tracer.span("fanned out").start().end();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let exported = |exporter: &GatedExporter| exporter.received.load(Ordering::SeqCst);
    while (exported(&first) < 64 || exported(&second) < 64) && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        exported(&first) >= 64,
        "first sink exported {}",
        exported(&first)
    );
    assert!(
        exported(&second) >= 64,
        "second sink exported {}",
        exported(&second)
    );
    assert_eq!(tracer.stats().sink.dropped(), 0);
}

/// A tracer whose exporter is stuck until the test adds permits, and whose schedule never
/// comes during a test: only a full batch, a flush or shutdown sends anything.
fn stuck(config: BatchConfig) -> (GatedExporter, Tracer) {
    let exporter = GatedExporter::with_permits(0);
    let config = BatchConfig {
        scheduled_delay: Duration::from_secs(3600),
        ..config
    };
    (exporter.clone(), tracer_with(exporter, config))
}

/// Like [`stuck`], with the worker already held inside an export of one full batch of plain
/// spans (`batch` of them): from then on the queue only fills, whatever the timing.
fn stuck_and_busy(config: BatchConfig) -> (GatedExporter, Tracer) {
    let batch = config.max_export_batch_size;
    let (exporter, tracer) = stuck(config);
    for _ in 0..batch {
        tracer.span("occupying the worker").start().end();
    }
    // The flush sets the worker exporting them; it gives up waiting, the worker does not.
    assert!(tracer.force_flush(Duration::from_millis(1)).is_err());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while exporter.begun.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(exporter.begun.load(Ordering::SeqCst), 1);
    (exporter, tracer)
}

/// `count` local spans under a span of `tracer` (handed over at the end of the scope), then
/// that span.
fn local_spans(tracer: &Tracer, count: usize) {
    let request = tracer.span("request").start();
    {
        let _entered = request.enter();
        for i in 0..count {
            drop(tracewire::local_span(format!("local-{i}")));
        }
    }
    request.end();
}

#[test]
fn local_spans_are_queued_a_batch_at_a_time_and_exported_whole() {
    let exporter = GatedExporter::open();
    let tracer = tracer_with(exporter.clone(), config(2048, 512));
    local_spans(&tracer, 100);
    tracer.span("plain").start().end();
    tracer.force_flush(Duration::from_secs(10)).unwrap();
    // The local spans, their parent, and the plain one.
    assert_eq!(exporter.received.load(Ordering::SeqCst), 102);
    let names = exporter.names.lock().unwrap().clone();
    assert!((0..100).all(|i| names.contains(&format!("local-{i}"))));
    let sink = tracer.stats().sink;
    assert_eq!((sink.queued, sink.exported, sink.dropped()), (102, 102, 0));
}

#[test]
fn local_spans_past_the_queue_bound_are_dropped_and_counted() {
    // The exporter is stuck with 100 spans: of 128 local spans, 100 fit in the queue; the
    // rest and their parent do not.
    let (exporter, tracer) = stuck_and_busy(config(100, 100));
    local_spans(&tracer, 128);
    let sink = tracer.stats().sink;
    assert_eq!((sink.queued, sink.dropped_queue_full), (100 + 100, 28 + 1));
    exporter.gate.add_permits(10);
    tracer.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(exporter.received.load(Ordering::SeqCst), 200);
    let sink = tracer.stats().sink;
    assert_eq!((sink.exported, sink.dropped_queue_full), (200, 29));
}

#[test]
fn local_spans_after_shutdown_are_counted_as_dropped() {
    let exporter = GatedExporter::open();
    let tracer = tracer_with(exporter.clone(), config(2048, 512));
    local_spans(&tracer, 3);
    tracer.shutdown(Duration::from_secs(10)).unwrap();
    local_spans(&tracer, 5);
    let sink = tracer.stats().sink;
    assert_eq!((sink.exported, sink.dropped_after_shutdown), (4, 6));
}

#[test]
fn a_flush_exports_every_span_ended_before_it_even_as_local_batches_arrive() {
    // Two spans per export, the exporter stuck: the flush is asked for with three plain spans
    // queued, and a local batch arrives while its first export waits.
    let (exporter, tracer) = stuck(config(2048, 2));
    for name in ["r0", "r1", "r2"] {
        tracer.span(name).start().end();
    }
    let flusher = {
        let tracer = tracer.clone();
        std::thread::spawn(move || tracer.force_flush(Duration::from_secs(10)))
    };
    std::thread::sleep(Duration::from_millis(100));
    local_spans(&tracer, 2);
    exporter.gate.add_permits(100);
    flusher.join().unwrap().unwrap();
    let names = exporter.names.lock().unwrap().clone();
    for name in ["r0", "r1", "r2"] {
        assert!(names.contains(&name.to_string()), "{name} not in {names:?}");
    }
}

#[test]
fn plain_and_local_spans_share_one_bound() {
    let (_stuck, tracer) = stuck_and_busy(config(100, 100));
    local_spans(&tracer, 64); // and their parent: 65 queued
    for _ in 0..100 {
        tracer.span("plain").start().end();
    }
    let sink = tracer.stats().sink;
    assert_eq!((sink.queued, sink.dropped_queue_full), (100 + 100, 65));
}

#[test]
fn a_local_batch_larger_than_the_room_left_keeps_what_fits() {
    let (exporter, tracer) = stuck_and_busy(config(50, 50));
    local_spans(&tracer, 64); // 50 fit; their parent does not
    let sink = tracer.stats().sink;
    assert_eq!((sink.queued, sink.dropped_queue_full), (50 + 50, 15));
    exporter.gate.add_permits(10);
    tracer.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(exporter.received.load(Ordering::SeqCst), 100);
}

#[test]
fn a_stream_of_local_batches_does_not_hold_plain_spans_back_past_the_schedule() {
    // Full batches of local spans keep waking the worker, which takes local spans first: the
    // plain span still goes out on the schedule.
    let exporter = GatedExporter::open();
    let config = BatchConfig {
        scheduled_delay: Duration::from_millis(20),
        ..config(16, 8)
    };
    let tracer = tracer_with(exporter.clone(), config);
    tracer.span("plain").start().end();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stream = {
        let (tracer, stop) = (tracer.clone(), stop.clone());
        std::thread::spawn(move || {
            // Only local spans: their parent ends after the stream.
            let request = tracer.span("request").start();
            while !stop.load(Ordering::Relaxed) {
                let _entered = request.enter();
                for _ in 0..8 {
                    drop(tracewire::local_span("local"));
                }
            }
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let exported = || exporter.names.lock().unwrap().iter().any(|n| n == "plain");
    while !exported() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    stream.join().unwrap();
    assert!(exported(), "the plain span waited out the whole stream");
}

/// `queued = exported + failed + rejected + unsent`, and nothing pending.
fn assert_every_queued_span_counted_once(stats: tracewire::sink::SinkStats) {
    assert_eq!(
        stats.queued,
        stats.exported + stats.export_failed + stats.export_rejected + stats.dropped_unsent,
        "{stats:?}"
    );
    assert_eq!(stats.pending(), 0, "{stats:?}");
}

#[test]
fn a_shutdown_that_times_out_counts_and_names_every_span_it_gives_up() {
    // An exporter that never answers: the first batches time out and fail; then shutdown's
    // deadline passes with a batch in flight and the rest still queued.
    let exporter = GatedExporter::with_permits(0);
    let tracer = tracer_with(
        exporter.clone(),
        BatchConfig {
            max_queue_size: 4096,
            max_export_batch_size: 512,
            scheduled_delay: Duration::from_millis(10),
            export_timeout: Duration::from_millis(100),
        },
    );
    for _ in 0..3296 {
        tracer.span("doomed").start().end();
    }
    // Wait until one export has failed and the next is in flight.
    let started = std::time::Instant::now();
    while tracer.stats().sink.export_failed == 0 || exporter.begun.load(Ordering::SeqCst) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no export began"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    let result = tracer.shutdown(Duration::from_millis(50));
    let stats = tracer.stats().sink;
    let Err(SinkError::ShutdownTimeout { unsent, .. }) = result else {
        panic!("expected a shutdown timeout, got {result:?}");
    };
    assert_eq!(stats.queued, 3296);
    assert_eq!(stats.exported, 0);
    assert!(stats.export_failed >= 512, "{stats:?}");
    assert_eq!(unsent, stats.dropped_unsent, "{stats:?}");
    assert_eq!(unsent + stats.export_failed, 3296, "{stats:?}");
    assert_every_queued_span_counted_once(stats);
    assert!(
        result
            .unwrap_err()
            .to_string()
            .contains(&format!("{unsent} spans were never sent"))
    );

    // The worker was cancelled, not left exporting: nothing changes later.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(tracer.stats().sink, stats);
    assert_eq!(exporter.received.load(Ordering::SeqCst), 0);
}

#[test]
fn local_spans_held_by_the_worker_are_counted_when_shutdown_gives_up() {
    let exporter = GatedExporter::with_permits(0);
    let tracer = tracer_with(
        exporter.clone(),
        BatchConfig {
            scheduled_delay: Duration::from_millis(10),
            export_timeout: Duration::ZERO,
            ..config(4096, 50)
        },
    );
    // Local batches of 64 with a batch size of 50: the worker carries the rest of one.
    local_spans(&tracer, 300);
    tracer.span("plain").start().end();
    let started = std::time::Instant::now();
    while exporter.begun.load(Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no export began"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let result = tracer.shutdown(Duration::from_millis(20));
    let stats = tracer.stats().sink;
    // 300 local spans, the span they were under, and a plain one: none was sent.
    assert_eq!(stats.queued, 302);
    assert_eq!(
        result,
        Err(SinkError::ShutdownTimeout {
            after: Duration::from_millis(20),
            unsent: 302
        })
    );
    assert_every_queued_span_counted_once(stats);
}

#[test]
fn dropping_the_last_tracer_handle_flushes_what_it_holds() {
    let exporter = GatedExporter::open();
    let tracer = tracer_with(
        exporter.clone(),
        BatchConfig {
            // Only a flush sends: the schedule never comes.
            scheduled_delay: Duration::from_secs(3600),
            ..config(2048, 512)
        },
    );
    for _ in 0..10 {
        tracer.span("last words").start().end();
    }
    drop(tracer.clone());
    assert_eq!(
        exporter.received.load(Ordering::SeqCst),
        0,
        "a clone is not the last handle"
    );
    drop(tracer);
    assert_eq!(exporter.received.load(Ordering::SeqCst), 10);
}

#[test]
fn dropping_a_tracer_whose_exporter_never_answers_does_not_hang() {
    let exporter = GatedExporter::with_permits(0);
    let tracer = tracer_with(exporter.clone(), config(2048, 512));
    tracer.span("stuck").start().end();
    let (done, dropped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(tracer);
        let _ = done.send(());
    });
    // The drop waits for the flush within its bound (5 s), then gives up: it returns. The
    // minute here only stops this test from waiting forever if it ever did not.
    assert!(dropped.recv_timeout(Duration::from_secs(60)).is_ok());
}
