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

/// Hostile headers beside a valid one of the same kind, in the same run: the largest that
/// must be propagated (baggage: 64 members, 8 KiB; tracestate: 32 members) and a typical one.
/// Parsing stops at the limits, so the hostile ones cost within a small multiple of the
/// largest valid one, whatever their size (issue 15).
fn hostile(c: &mut Criterion) {
    let largest_baggage = (0..64)
        .map(|i| format!("key{i:02}={}", "v".repeat(120)))
        .collect::<Vec<_>>()
        .join(",");
    let cases = [
        ("valid_10_entries", baggage_10()),
        ("valid_largest_64_entries_8kb", largest_baggage),
        (
            "hostile_10000_entries",
            (0..10_000)
                .map(|i| format!("k{i}=v{i}"))
                .collect::<Vec<_>>()
                .join(","),
        ),
        (
            "hostile_380kb_one_member",
            format!("k={}", "x".repeat(380_000)),
        ),
        ("hostile_380kb_small_members", "a=b,".repeat(95_000)),
    ];
    let mut group = c.benchmark_group("baggage_hostile");
    for (name, value) in &cases {
        let incoming = headers(&[("baggage", value)]);
        group.bench_function(*name, |b| {
            b.iter(|| BaggagePropagator.extract(black_box(&incoming)))
        });
    }
    group.finish();

    let largest_state = (0..32)
        .map(|i| format!("{:a<250}={}", format!("vendor{i:02}"), "v".repeat(250)))
        .collect::<Vec<_>>()
        .join(",");
    let cases = [
        ("valid_32_members", tracestate_32()),
        ("valid_largest_32_members_16kb", largest_state),
        (
            "hostile_10000_members",
            (0..10_000)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(","),
        ),
        (
            "hostile_64kb_one_member",
            format!("k={}", "v".repeat(64 << 10)),
        ),
        ("hostile_30kb_of_commas", ",".repeat(30 << 10)),
    ];
    let mut group = c.benchmark_group("tracestate_hostile");
    for (name, value) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| TraceState::from_header_lines([black_box(value.as_bytes())]))
        });
    }
    group.finish();
}

criterion_group!(benches, traceparent, tracestate, baggage, ids, hostile);
criterion_main!(benches);
