//! Encoding throughput of the exporters: batches of 512 typical HTTP server spans (ten
//! attributes, one event) encoded as OTLP protobuf and OTLP/JSON by tracewire's encoders, next
//! to the same spans converted into `opentelemetry-proto`'s generated types and encoded with
//! prost (protobuf) or serde (JSON), as an exporter built on those types does, in the same run.
//!
//! ```text
//! cargo bench --bench export --features otlp,zipkin
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prost::Message as _;
use receiver::{expected_otlp_span, otlp_attributes};
use tracewire::Tracer;
use tracewire::export::otlp::{encode_json, encode_protobuf};
use tracewire::export::zipkin::ZipkinExporter;
use tracewire::sink::MemorySink;
use tracewire::span::{KeyValue, SpanData, SpanKind};

// The exporter tests' mapping of `SpanData` onto the generated types.
#[path = "../tests/receiver/mod.rs"]
mod receiver;

const BATCH: usize = 512;

/// A batch of server spans like the HTTP layer records: ten attributes and one event.
fn http_spans() -> Vec<SpanData> {
    let sink = MemorySink::new();
    let tracer = Tracer::builder()
        .service_name("checkout")
        .service_version("1.4.2")
        .sink(sink.clone())
        .build();
    for i in 0..BATCH {
        let span = tracer
            .span("GET /orders/{id}")
            .kind(SpanKind::Server)
            .attr("http.request.method", "GET")
            .attr("url.path", format!("/orders/{}", 10_000 + i))
            .attr("url.scheme", "https")
            .attr("http.route", "/orders/{id}")
            .attr("http.response.status_code", 200_i64)
            .attr("server.address", "api.example.com")
            .attr("server.port", 443_i64)
            .attr("network.protocol.version", "1.1")
            .attr(
                "user_agent.original",
                "Mozilla/5.0 (X11; Linux x86_64) curl/8.5.0",
            )
            .attr("client.address", "203.0.113.17")
            .start();
        span.add_event(
            "cache.miss",
            vec![KeyValue::new("cache.key", format!("order:{}", 10_000 + i))],
        );
        span.end();
    }
    sink.take()
}

/// What an exporter built on the generated types does per batch: one owned message tree.
fn generated_request(batch: &[SpanData]) -> ExportTraceServiceRequest {
    let first = &batch[0];
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: otlp_attributes(first.resource.attributes()),
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: first.scope.name.to_string(),
                    version: first
                        .scope
                        .version
                        .as_deref()
                        .unwrap_or_default()
                        .to_string(),
                    ..Default::default()
                }),
                // The same mapping the exporter tests check our encoders against.
                spans: batch.iter().map(expected_otlp_span).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn encoding(c: &mut Criterion) {
    let batch = http_spans();
    let mut group = c.benchmark_group("encode 512 HTTP server spans");
    group.throughput(Throughput::Elements(BATCH as u64));

    let mut buffer = Vec::new();
    group.bench_function("tracewire protobuf", |b| {
        b.iter(|| {
            buffer.clear();
            encode_protobuf(black_box(&batch), &mut buffer);
            black_box(buffer.len())
        })
    });
    group.bench_function(
        "opentelemetry-proto protobuf (build + encode_to_vec)",
        |b| b.iter(|| black_box(generated_request(black_box(&batch)).encode_to_vec().len())),
    );
    group.bench_function("tracewire OTLP/JSON", |b| {
        b.iter(|| {
            buffer.clear();
            encode_json(black_box(&batch), &mut buffer);
            black_box(buffer.len())
        })
    });
    group.bench_function("opentelemetry-proto OTLP/JSON (build + serde_json)", |b| {
        b.iter(|| {
            let request = generated_request(black_box(&batch));
            black_box(serde_json::to_vec(&request).unwrap().len())
        })
    });
    group.bench_function("tracewire Zipkin JSON", |b| {
        b.iter(|| black_box(ZipkinExporter::encode(black_box(&batch)).len()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = encoding
}
criterion_main!(benches);
