//! Propagation hot paths, each next to a baseline measured in the same run: the OpenTelemetry
//! SDK's propagators (the crate most services use today) and, for scale, a plain
//! `HeaderMap::get`.
//!
//! ```text
//! cargo bench --bench propagation
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TraceState as OtelTraceState};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use tracewire::propagation::{BaggagePropagator, Propagator, TraceContextPropagator};
use tracewire::{SpanId, TraceId, TraceState};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The OpenTelemetry SDK reads and writes headers through these traits; this is the adapter
/// `opentelemetry-http` provides, written out so the baseline has no extra dependency.
struct OtelExtractor<'a>(&'a HeaderMap);

impl Extractor for OtelExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct OtelInjector<'a>(&'a mut HeaderMap);

impl Injector for OtelInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

fn tracestate_32() -> String {
    (1..=32)
        .map(|i| format!("vendor{i:02}=opaque-value-{i:02}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn baggage_10() -> String {
    (1..=10)
        .map(|i| format!("key{i}=value%20{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn traceparent(c: &mut Criterion) {
    let incoming = headers(&[("traceparent", TRACEPARENT)]);
    let ours = TraceContextPropagator::new();
    let otel = opentelemetry_sdk::propagation::TraceContextPropagator::new();

    let mut group = c.benchmark_group("traceparent_parse");
    group.bench_function("baseline_headermap_get", |b| {
        b.iter(|| black_box(black_box(&incoming).get("traceparent")))
    });
    group.bench_function("tracewire_parse_bytes", |b| {
        b.iter(|| TraceContextPropagator::parse_traceparent(black_box(TRACEPARENT.as_bytes())))
    });
    group.bench_function("tracewire_extract", |b| {
        b.iter(|| ours.extract(black_box(&incoming)))
    });
    group.bench_function("otel_sdk_extract", |b| {
        b.iter(|| otel.extract(&OtelExtractor(black_box(&incoming))))
    });
    group.finish();

    let cx = ours.extract(&incoming);
    let span = cx.span_context.clone().unwrap();
    let otel_cx = otel.extract(&OtelExtractor(&incoming));
    let mut group = c.benchmark_group("traceparent_format");
    group.bench_function("tracewire_format_bytes", |b| {
        b.iter(|| TraceContextPropagator::format_traceparent(black_box(&span)))
    });
    group.bench_function("tracewire_inject", |b| {
        let mut out = HeaderMap::new();
        b.iter(|| ours.inject(black_box(&cx), &mut out))
    });
    group.bench_function("otel_sdk_inject", |b| {
        let mut out = HeaderMap::new();
        b.iter(|| otel.inject_context(black_box(&otel_cx), &mut OtelInjector(&mut out)))
    });
    group.finish();
    assert!(otel_cx.span().span_context().is_valid());
}

fn tracestate(c: &mut Criterion) {
    let value = tracestate_32();
    let mut group = c.benchmark_group("tracestate_parse_32_members");
    group.bench_function("tracewire", |b| {
        b.iter(|| TraceState::from_header_lines([black_box(value.as_bytes())]))
    });
    group.bench_function("otel_sdk", |b| {
        b.iter(|| black_box(value.as_str()).parse::<OtelTraceState>())
    });
    group.finish();
}

fn baggage(c: &mut Criterion) {
    let incoming = headers(&[("baggage", &baggage_10())]);
    let otel = opentelemetry_sdk::propagation::BaggagePropagator::new();
    let mut group = c.benchmark_group("baggage_parse_10_entries");
    group.bench_function("tracewire", |b| {
        b.iter(|| BaggagePropagator.extract(black_box(&incoming)))
    });
    group.bench_function("otel_sdk", |b| {
        b.iter(|| otel.extract(&OtelExtractor(black_box(&incoming))))
    });
    group.finish();
}

fn ids(c: &mut Criterion) {
    let otel = RandomIdGenerator::default();
    let mut group = c.benchmark_group("id_generation");
    group.bench_function("tracewire_trace_id", |b| b.iter(TraceId::random));
    group.bench_function("otel_sdk_trace_id", |b| b.iter(|| otel.new_trace_id()));
    group.bench_function("tracewire_span_id", |b| b.iter(SpanId::random));
    group.bench_function("otel_sdk_span_id", |b| b.iter(|| otel.new_span_id()));
    group.finish();
}

criterion_group!(benches, traceparent, tracestate, baggage, ids);
criterion_main!(benches);
