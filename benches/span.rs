//! Span hot paths, each next to the same operation on the OpenTelemetry SDK (batch span
//! processor with an exporter that discards), measured in the same run.
//!
//! ```text
//! cargo bench --bench span
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanExporter};
use tracewire::sampling::Sampler;
use tracewire::sink::{BatchSink, BoxFuture, ExportError, Exporter};
use tracewire::span::{SpanData, SpanKind};
use tracewire::{SpanContext, Tracer};

#[derive(Debug)]
struct Discard;

impl Exporter for Discard {
    fn export<'a>(&'a self, batch: &'a [SpanData]) -> BoxFuture<'a, Result<(), ExportError>> {
        black_box(batch);
        Box::pin(async { Ok(()) })
    }
}

#[derive(Debug)]
struct OtelDiscard;

impl SpanExporter for OtelDiscard {
    async fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) -> OTelSdkResult {
        drop(batch);
        Ok(())
    }
}

fn ours(sampler: Sampler) -> Tracer {
    Tracer::builder()
        .service_name("bench")
        .sampler(sampler)
        .sink(BatchSink::new(Discard))
        .build()
}

fn otel(sampler: opentelemetry_sdk::trace::Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(BatchSpanProcessor::builder(OtelDiscard).build())
        .build()
}

fn server_span(tracer: &Tracer, parent: &SpanContext) {
    tracer
        .span("GET /users/{id}")
        .kind(SpanKind::Server)
        .parent(Some(parent))
        .attr("http.request.method", "GET")
        .attr("http.route", "/users/{id}")
        .attr("url.scheme", "http")
        .attr("http.response.status_code", 200_i64)
        .start()
        .end();
}

fn otel_server_span(tracer: &opentelemetry_sdk::trace::SdkTracer, parent: &opentelemetry::Context) {
    use opentelemetry::KeyValue;
    let mut span = tracer
        .span_builder("GET /users/{id}")
        .with_kind(opentelemetry::trace::SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.route", "/users/{id}"),
            KeyValue::new("url.scheme", "http"),
            KeyValue::new("http.response.status_code", 200_i64),
        ])
        .start_with_context(tracer, parent);
    span.end();
}

fn otel_remote_parent(sampled: bool) -> opentelemetry::Context {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let parent = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        flags,
        true,
        TraceState::default(),
    );
    opentelemetry::Context::new().with_remote_span_context(parent)
}

fn remote_parent(sampled: bool) -> SpanContext {
    let flags = tracewire::TraceFlags::NONE.with_sampled(sampled);
    SpanContext::new(
        "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap(),
        "00f067aa0ba902b7".parse().unwrap(),
        flags,
    )
    .with_remote(true)
}

fn spans(c: &mut Criterion) {
    let parent_based = || Sampler::parent_based(Sampler::always_on());
    let otel_parent_based = || {
        opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
            opentelemetry_sdk::trace::Sampler::AlwaysOn,
        ))
    };

    let tracer = ours(parent_based().into());
    let provider = otel(otel_parent_based());
    let otel_tracer = provider.tracer("bench");

    let mut group = c.benchmark_group("sampled_server_span_4_attributes");
    let parent = remote_parent(true);
    let otel_parent = otel_remote_parent(true);
    group.bench_function("tracewire", |b| {
        b.iter(|| server_span(&tracer, black_box(&parent)))
    });
    group.bench_function("otel_sdk", |b| {
        b.iter(|| otel_server_span(&otel_tracer, black_box(&otel_parent)))
    });
    group.finish();
    report_drops("sampled", &tracer);

    let mut group = c.benchmark_group("unsampled_server_span_4_attributes");
    let parent = remote_parent(false);
    let otel_parent = otel_remote_parent(false);
    group.bench_function("tracewire", |b| {
        b.iter(|| server_span(&tracer, black_box(&parent)))
    });
    group.bench_function("otel_sdk", |b| {
        b.iter(|| otel_server_span(&otel_tracer, black_box(&otel_parent)))
    });
    group.finish();

    let mut group = c.benchmark_group("child_span_of_current");
    let request = tracer
        .span("request")
        .parent(Some(&remote_parent(true)))
        .start();
    group.bench_function("tracewire", |b| {
        let _scope = request.enter();
        b.iter(|| tracewire::span(black_box("postgres.query")).start().end())
    });
    let otel_request = otel_tracer.start_with_context("request", &otel_remote_parent(true));
    let otel_cx = opentelemetry::Context::current_with_span(otel_request);
    group.bench_function("otel_sdk", |b| {
        let _scope = otel_cx.clone().attach();
        b.iter(|| otel_tracer.start(black_box("postgres.query")).end())
    });
    group.finish();

    // The same child for synchronous code: a `LocalSpan`, handed to the batch sink 64 at a
    // time. The OpenTelemetry SDK has no such span; its row is the same child as above.
    let mut group = c.benchmark_group("local_child_span_of_current");
    group.bench_function("tracewire", |b| {
        let _scope = request.enter();
        b.iter(|| drop(tracewire::local_span(black_box("postgres.query"))))
    });
    group.bench_function("otel_sdk", |b| {
        let _scope = otel_cx.clone().attach();
        b.iter(|| otel_tracer.start(black_box("postgres.query")).end())
    });
    group.finish();
    request.end();

    let mut group = c.benchmark_group("batch_sink_2_producer_threads");
    group.bench_function("tracewire", |b| {
        b.iter_custom(|iters| two_producers(iters, &|| server_span(&tracer, &remote_parent(true))))
    });
    group.bench_function("otel_sdk", |b| {
        let parent = otel_remote_parent(true);
        b.iter_custom(|iters| two_producers(iters, &|| otel_server_span(&otel_tracer, &parent)))
    });
    group.finish();
    report_drops("after throughput", &tracer);
    let _ = provider.shutdown();
    let _ = tracer.shutdown(Duration::from_secs(5));
}

/// Runs `iters` operations split over two threads; returns the wall time of the whole.
fn two_producers(iters: u64, op: &(dyn Fn() + Sync)) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..iters / 2 {
                    op();
                }
            });
        }
    });
    start.elapsed()
}

fn report_drops(label: &str, tracer: &Tracer) {
    let stats = tracer.stats();
    eprintln!(
        "tracewire {label}: {} ended, {} queued, {} dropped (queue full)",
        stats.spans_ended, stats.sink.queued, stats.sink.dropped_queue_full
    );
}

criterion_group!(benches, spans);
criterion_main!(benches);
