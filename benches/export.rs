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
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue as OtlpKeyValue, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message as _;
use tracewire::Tracer;
use tracewire::export::otlp::{encode_json, encode_protobuf};
use tracewire::export::zipkin::ZipkinExporter;
use tracewire::sink::MemorySink;
use tracewire::span::{KeyValue, SpanData, SpanKind, Value};

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

fn any_value(value: &Value) -> AnyValue {
    use any_value::Value as V;
    let array = |values: Vec<V>| {
        V::ArrayValue(ArrayValue {
            values: values
                .into_iter()
                .map(|v| AnyValue { value: Some(v) })
                .collect(),
        })
    };
    let value = match value {
        Value::String(s) => V::StringValue(s.to_string()),
        Value::Bool(b) => V::BoolValue(*b),
        Value::I64(i) => V::IntValue(*i),
        Value::F64(x) => V::DoubleValue(*x),
        Value::StringArray(items) => array(
            items
                .iter()
                .map(|s| V::StringValue(s.to_string()))
                .collect(),
        ),
        Value::BoolArray(items) => array(items.iter().map(|b| V::BoolValue(*b)).collect()),
        Value::I64Array(items) => array(items.iter().map(|i| V::IntValue(*i)).collect()),
        Value::F64Array(items) => array(items.iter().map(|x| V::DoubleValue(*x)).collect()),
    };
    AnyValue { value: Some(value) }
}

fn attributes(attributes: &[KeyValue]) -> Vec<OtlpKeyValue> {
    attributes
        .iter()
        .map(|kv| OtlpKeyValue {
            key: kv.key.to_string(),
            value: Some(any_value(&kv.value)),
            ..Default::default()
        })
        .collect()
}

/// What an exporter built on the generated types does per batch: one owned message tree.
fn generated_request(batch: &[SpanData]) -> ExportTraceServiceRequest {
    let first = &batch[0];
    let spans = batch
        .iter()
        .map(|s| {
            let cx = &s.span_context;
            Span {
                trace_id: cx.trace_id().to_bytes().to_vec(),
                span_id: cx.span_id().to_bytes().to_vec(),
                trace_state: cx.state().to_string(),
                parent_span_id: s
                    .parent_span_id
                    .map(|p| p.to_bytes().to_vec())
                    .unwrap_or_default(),
                flags: u32::from(cx.flags().bits()) | 0x100,
                name: s.name.to_string(),
                kind: span::SpanKind::Server as i32,
                start_time_unix_nano: s.start_unix_nanos,
                end_time_unix_nano: s.end_unix_nanos,
                attributes: attributes(&s.attributes),
                dropped_attributes_count: s.dropped_attributes,
                events: s
                    .events
                    .iter()
                    .map(|e| span::Event {
                        time_unix_nano: e.time_unix_nanos,
                        name: e.name.to_string(),
                        attributes: attributes(&e.attributes),
                        dropped_attributes_count: e.dropped_attributes,
                    })
                    .collect(),
                dropped_events_count: s.dropped_events,
                links: Vec::new(),
                dropped_links_count: s.dropped_links,
                status: Some(Status::default()),
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: attributes(first.resource.attributes()),
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
                spans,
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
