//! A `tracing` span with three fields, created, entered, exited and closed inside a traced
//! request: through tracewire's bridge, next to the same through tracing-opentelemetry on the
//! OpenTelemetry SDK (batch span processor with an exporter that discards), and with the
//! `tracing-subscriber` registry alone (what the span costs without any bridge), in the same
//! run.
//!
//! ```text
//! cargo bench --bench tracing_bridge
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanExporter};
use tracewire::Tracer;
use tracewire::integrations::tracing::TracewireLayer;
use tracewire::sampling::Sampler;
use tracewire::sink::{BatchSink, BoxFuture, ExportError, Exporter};
use tracewire::span::{SpanData, SpanKind};
use tracing_subscriber::layer::SubscriberExt;

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

/// What the handler does: an `#[instrument]`-like span with three fields, entered and closed.
#[inline(always)]
fn instrumented_work() {
    let span = tracing::info_span!(
        "load_items",
        order_id = 7_i64,
        db.system.name = "postgresql",
        cached = false
    );
    let entered = span.enter();
    black_box(&entered);
    drop(entered);
    drop(span);
}

fn bridge(c: &mut Criterion) {
    let mut group = c.benchmark_group("tracing span (3 fields) in a traced request");

    // tracewire: the server layer's span is current; the bridge makes the `tracing` span its
    // child.
    {
        let tracer = Tracer::builder()
            .service_name("bench")
            .sampler(Sampler::parent_based(Sampler::always_on()))
            .sink(BatchSink::new(Discard))
            .build();
        let _default = tracing::subscriber::set_default(
            tracing_subscriber::registry().with(TracewireLayer::new()),
        );
        let request = tracer
            .span("GET /orders/{id}")
            .kind(SpanKind::Server)
            .start();
        let _entered = request.enter();
        group.bench_function("tracewire bridge", |b| b.iter(instrumented_work));
    }

    // tracing-opentelemetry: the request is a `tracing` span the layer converted (how its
    // users trace a request), current while the `tracing` span is made.
    {
        let provider = SdkTracerProvider::builder()
            .with_sampler(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
                opentelemetry_sdk::trace::Sampler::AlwaysOn,
            )))
            .with_span_processor(BatchSpanProcessor::builder(OtelDiscard).build())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
        let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        let request = tracing::info_span!("GET /orders/{id}", otel.kind = "server");
        let _entered = request.enter();
        group.bench_function("tracing-opentelemetry", |b| b.iter(instrumented_work));
        drop(_entered);
        drop(request);
        let _ = provider.shutdown();
    }

    // The registry alone: the `tracing` span's own cost, that no bridge can avoid.
    {
        let _default = tracing::subscriber::set_default(tracing_subscriber::registry());
        group.bench_function("registry alone", |b| b.iter(instrumented_work));
    }
    group.finish();
}

criterion_group!(benches, bridge);
criterion_main!(benches);
