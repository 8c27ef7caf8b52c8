//! The trace view on a large trace: assembling 10,000 spans of one trace (a gateway calling 9
//! services, each making 10 calls that fan out to 110 queries), then rendering it as text and
//! as JSON.
//!
//! ```text
//! cargo bench --bench view
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tracewire::span::{KeyValue, Resource, SpanData, SpanKind, Status};
use tracewire::view::{self, TextOptions};
use tracewire::{SpanContext, SpanId, TraceFlags, TraceId};

const MS: u64 = 1_000_000;

/// 1 root, 9 services, 90 calls, 9,900 queries: 10,000 spans, in the order they end.
fn spans() -> Vec<SpanData> {
    let trace_id = TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736).unwrap();
    let mut next_id = 0u64;
    let mut id = || {
        next_id += 1;
        SpanId::from_u64(next_id).unwrap()
    };
    let resource =
        |service: String| Arc::new(Resource::new([KeyValue::new("service.name", service)]));
    let span = |name: String,
                id: SpanId,
                parent: Option<SpanId>,
                start: u64,
                end: u64,
                resource: &Arc<Resource>| SpanData {
        name: name.into(),
        kind: SpanKind::Internal,
        span_context: SpanContext::new(trace_id, id, TraceFlags::SAMPLED),
        parent_span_id: parent,
        parent_is_remote: false,
        start_unix_nanos: 1_700_000_000_000_000_000 + start,
        end_unix_nanos: 1_700_000_000_000_000_000 + end,
        attributes: vec![KeyValue::new("http.request.method", "GET")],
        dropped_attributes: 0,
        events: Vec::new(),
        dropped_events: 0,
        links: Vec::new(),
        dropped_links: 0,
        status: Status::Unset,
        resource: resource.clone(),
        scope: Arc::default(),
    };
    let gateway = resource("api-gateway".into());
    let root = id();
    let mut out = Vec::with_capacity(10_000);
    for s in 0..9u64 {
        let service = resource(format!("service-{s}"));
        let call = id();
        let call_start = s * 100 * MS;
        for c in 0..10u64 {
            let handler = id();
            let handler_start = call_start + c * 10 * MS;
            for q in 0..110u64 {
                // Queries in sequence (an N+1 loop, collapsed when drawn), one in 37 slower.
                let start = handler_start + q * 80_000;
                let length = if q % 37 == 0 { 70_000 } else { 50_000 };
                let name = "SELECT item".to_string();
                out.push(span(
                    name,
                    id(),
                    Some(handler),
                    start,
                    start + length,
                    &service,
                ));
            }
            out.push(span(
                format!("handle {c}"),
                handler,
                Some(call),
                handler_start,
                handler_start + 9 * MS,
                &service,
            ));
        }
        out.push(span(
            format!("GET /service-{s}"),
            call,
            Some(root),
            call_start,
            call_start + 100 * MS,
            &service,
        ));
    }
    out.push(span(
        "POST /checkout".into(),
        root,
        None,
        0,
        900 * MS,
        &gateway,
    ));
    assert_eq!(out.len(), 10_000);
    out
}

fn view(c: &mut Criterion) {
    let spans = spans();
    let trace = view::assemble(spans.clone()).remove(0);
    let mut group = c.benchmark_group("view 10k spans");
    group.throughput(Throughput::Elements(spans.len() as u64));
    group.bench_function("assemble", |b| {
        b.iter_batched(
            || spans.clone(),
            |spans| black_box(view::assemble(spans)),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("render text", |b| {
        b.iter(|| black_box(trace.render(&TextOptions::default())))
    });
    let everything = TextOptions {
        collapse_after: usize::MAX,
        ..TextOptions::default()
    };
    group.bench_function("render text, nothing collapsed", |b| {
        b.iter(|| black_box(trace.render(&everything)))
    });
    group.bench_function("to_json", |b| b.iter(|| black_box(trace.to_json())));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = view
}
criterion_main!(benches);
