//! The tail sink next to the plain batch sink, in one run: throughput (spans through
//! `on_end` until the sink has taken them all: decided and forwarded or dropped, or exported)
//! and memory per buffered span (every byte allocated while the spans wait, counted by a
//! counting allocator, divided by the spans).
//!
//! Each iteration hands 10,000 spans (2,500 traces of 4: three children, then the root) of
//! fresh trace ids to the sink and flushes it. The tail sink keeps errors (3%), slow traces
//! (2%) and a 2% probabilistic baseline, forwarding to a no-op exporter behind a batch sink;
//! the batch sink alone sends all of them to the same exporter. To measure one core, pin the
//! run: the producer, the decider and the batch worker then share it.
//!
//! ```text
//! taskset -c 0 cargo bench --bench tail
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput};
use tracewire::sink::tail::{Policy, TailConfig, TailPolicy, TailSink};
use tracewire::sink::{BatchConfig, BatchSink, BoxFuture, ExportError, Exporter, SpanSink};
use tracewire::span::{InstrumentationScope, KeyValue, Resource, SpanData, SpanKind, Status};
use tracewire::{SpanContext, SpanId, TraceFlags, TraceId};

/// Counts the bytes allocated and not yet freed, by every thread.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only a counter is added.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// An exporter that takes every batch at once.
#[derive(Debug)]
struct Discard;

impl Exporter for Discard {
    fn export<'a>(&'a self, _batch: &'a [SpanData]) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(async { Ok(()) })
    }
}

const MS: u64 = 1_000_000;
const SPANS: usize = 10_000;

/// A seeded generator (SplitMix64).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `SPANS` spans of fresh traces, as a server records them (8 attributes on the root, 4 on
/// each child), in the order they end; `with_roots` false leaves the roots out (traces that
/// stay buffered).
fn make_spans(dice: &mut Dice, with_roots: bool) -> Vec<SpanData> {
    let resource = Arc::new(Resource::new([KeyValue::new("service.name", "orders")]));
    let scope = Arc::new(InstrumentationScope::default());
    // Room for the last trace's spans past `SPANS` (cut off below).
    let mut out = Vec::with_capacity(SPANS + 4);
    let mut n = 0u64;
    while out.len() < SPANS {
        n += 1;
        let trace =
            TraceId::from_u128(((dice.next() as u128) << 64) | dice.next() as u128 | 1).unwrap();
        let roll = dice.next() % 100;
        let (error, slow) = (roll < 3, (3..5).contains(&roll));
        let start = 1_700_000_000_000 * MS + n * MS;
        let length = if slow { 700 * MS } else { 30 * MS };
        let span = |id: u64, parent: Option<u64>, name: &'static str, attributes: Vec<KeyValue>| {
            SpanData {
                name: name.into(),
                kind: if parent.is_none() {
                    SpanKind::Server
                } else {
                    SpanKind::Client
                },
                span_context: SpanContext::new(
                    trace,
                    SpanId::from_u64(id).unwrap(),
                    TraceFlags::RANDOM,
                ),
                parent_span_id: parent.map(|p| SpanId::from_u64(p).unwrap()),
                parent_is_remote: false,
                start_unix_nanos: start,
                end_unix_nanos: start + length,
                attributes,
                dropped_attributes: 0,
                events: Vec::new(),
                dropped_events: 0,
                links: Vec::new(),
                dropped_links: 0,
                status: Status::Unset,
                resource: resource.clone(),
                scope: scope.clone(),
            }
        };
        for (c, name) in ["SELECT orders", "GET /stock", "redis GET"]
            .into_iter()
            .enumerate()
        {
            let mut child = span(
                2 + c as u64,
                Some(1),
                name,
                vec![
                    KeyValue::new("db.system.name", "postgresql"),
                    KeyValue::new("server.address", "db.internal"),
                    KeyValue::new("server.port", 5432_i64),
                    KeyValue::new("db.operation.name", "SELECT"),
                ],
            );
            if error && c == 0 {
                child.status = Status::Error {
                    message: "deadlock detected".into(),
                };
            }
            out.push(child);
        }
        if with_roots {
            out.push(span(
                1,
                None,
                "GET /orders/{id}",
                vec![
                    KeyValue::new("http.request.method", "GET"),
                    KeyValue::new("http.route", "/orders/{id}"),
                    KeyValue::new("url.path", format!("/orders/{n}")),
                    KeyValue::new("url.scheme", "http"),
                    KeyValue::new("http.response.status_code", 200_i64),
                    KeyValue::new("network.protocol.version", "1.1"),
                    KeyValue::new("server.address", "orders.internal"),
                    KeyValue::new("user_agent.original", "curl/8.5.0"),
                ],
            ));
        }
    }
    out.truncate(SPANS);
    out
}

fn policy() -> TailPolicy {
    TailPolicy::new()
        .rule("errors", Policy::errors())
        .rule("slow", Policy::latency(Duration::from_millis(500)))
        .rule("baseline", Policy::probabilistic(0.02))
}

fn batch_sink() -> BatchSink {
    BatchSink::with_config(
        Discard,
        BatchConfig {
            max_queue_size: 2 * SPANS,
            ..BatchConfig::default()
        },
    )
}

fn tail_sink() -> TailSink {
    let config = TailConfig {
        queue_size: 2 * SPANS,
        decision_wait: Duration::from_secs(3_600),
        ..TailConfig::default()
    };
    TailSink::with_config(batch_sink(), policy(), config)
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("sink");
    group.throughput(Throughput::Elements(SPANS as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(8));
    let mut dice = Dice(1);
    let batch = batch_sink();
    group.bench_function("batch, 10k spans", |b| {
        b.iter_batched(
            || make_spans(&mut dice, true),
            |spans| {
                for span in spans {
                    batch.on_end(span);
                }
                batch.force_flush(Duration::from_secs(60)).unwrap();
            },
            BatchSize::LargeInput,
        )
    });
    let tail = tail_sink();
    group.bench_function("tail, 10k spans (errors, slow, 2% baseline)", |b| {
        b.iter_batched(
            || make_spans(&mut dice, true),
            |spans| {
                for span in spans {
                    tail.on_end(span);
                }
                tail.force_flush(Duration::from_secs(60)).unwrap();
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
    let stats = tail.tail_stats();
    eprintln!(
        "tail: {} spans seen, {} kept ({:.1}%), {} dropped, {} evicted; batch: {} exported, {} dropped",
        stats.seen,
        stats.kept,
        100.0 * stats.kept as f64 / stats.seen.max(1) as f64,
        stats.dropped,
        stats.evicted,
        batch.stats().exported,
        batch.stats().dropped(),
    );
}

/// A sink that drops what it is given.
#[derive(Debug)]
struct Nowhere;

impl SpanSink for Nowhere {
    fn on_end(&self, _span: SpanData) {}
}

/// Live bytes now.
fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// What a waiting span costs, in bytes: everything allocated (by any thread) from before the
/// spans were made until they are all held, divided by the spans held. The span's own record
/// and heap are in the figure, as is whatever the sink keeps per span.
fn memory() {
    // The spans alone, in a plain vector.
    let before = live();
    let spans = make_spans(&mut Dice(2), false);
    let plain = (live() - before) as f64 / SPANS as f64;
    drop(spans);

    // The batch sink: its queue is where spans wait, sized for them (its slots are allocated
    // when it is built, so building it is inside the window).
    let before = live();
    let spans = make_spans(&mut Dice(2), false);
    let sink = BatchSink::with_config(
        Discard,
        BatchConfig {
            max_queue_size: SPANS,
            max_export_batch_size: SPANS,
            scheduled_delay: Duration::from_secs(3_600),
            ..BatchConfig::default()
        },
    );
    for span in spans {
        sink.on_end(span);
    }
    let batch = (live() - before) as f64 / sink.stats().queued as f64;
    // Its worker frees the spans: done before the next window opens.
    sink.shutdown(Duration::from_secs(60)).unwrap();
    drop(sink);

    // The tail sink: traces whose roots never come stay buffered. Its hand-off queue is a
    // fixed cost, allocated when it is built, counted apart.
    let before = live();
    let sink = TailSink::with_config(
        Nowhere,
        policy(),
        TailConfig {
            decision_wait: Duration::from_secs(3_600),
            ..TailConfig::default()
        },
    );
    let fixed = live() - before;
    let before = live();
    let spans = make_spans(&mut Dice(2), false);
    for chunk in spans.chunks(2_000) {
        for span in chunk {
            sink.on_end(span.clone());
        }
        sink.force_flush(Duration::from_secs(60)).unwrap();
    }
    drop(spans);
    let stats = sink.tail_stats();
    let tail = (live() - before) as f64 / stats.buffered_spans as f64;
    let estimate = stats.buffered_bytes as f64 / stats.buffered_spans as f64;
    eprintln!(
        "a SpanData is {} B, a KeyValue {} B",
        std::mem::size_of::<SpanData>(),
        std::mem::size_of::<KeyValue>()
    );
    eprintln!(
        "memory per waiting span (its record and heap included): as a plain Vec<SpanData> \
         {plain:.0} B; in the batch sink's queue {batch:.0} B; in the tail sink's buffer \
         {tail:.0} B ({} spans of {} traces buffered; the sink's own estimate {estimate:.0} B; \
         its hand-off queue, allocated up front: {:.1} MiB)",
        stats.buffered_spans,
        stats.buffered_traces,
        fixed as f64 / (1 << 20) as f64,
    );
    drop(sink);
}

fn main() {
    memory();
    let mut criterion = Criterion::default().configure_from_args();
    throughput(&mut criterion);
    criterion.final_summary();
}
