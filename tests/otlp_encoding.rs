//! The OTLP encoders checked against the official `opentelemetry-proto` types, without a
//! network: grouping by resource and scope, dropped counts, and arbitrary attribute values
//! (property tests) in both protobuf and OTLP/JSON.

mod receiver;

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use proptest::prelude::*;
use prost::Message as _;
use receiver::{expected_otlp_span, otlp_attributes, tracer_with};
use tracewire::export::otlp::{encode_json, encode_protobuf};
use tracewire::sink::MemorySink;
use tracewire::span::{
    InstrumentationScope, KeyValue, Link, Resource, SpanData, SpanLimits, Value,
};
use tracewire::{SpanContext, Tracer};

fn decode_both(batch: &[SpanData]) -> [ExportTraceServiceRequest; 2] {
    let mut protobuf = Vec::new();
    encode_protobuf(batch, &mut protobuf);
    let mut json = Vec::new();
    encode_json(batch, &mut json);
    [
        ExportTraceServiceRequest::decode(&protobuf[..]).unwrap(),
        serde_json::from_slice(&json)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&json))),
    ]
}

fn spans(count: usize) -> Vec<SpanData> {
    let sink = MemorySink::new();
    let tracer = tracer_with(sink.clone());
    for i in 0..count {
        tracer.span(format!("span {i}")).start().end();
    }
    sink.take()
}

/// Scope names with the names of their spans.
type Scopes = Vec<(String, Vec<String>)>;

#[test]
fn spans_are_grouped_by_resource_then_scope_in_order_of_first_appearance() {
    let mut batch = spans(4);
    let other_resource = Arc::new(Resource::new([KeyValue::new("service.name", "billing")]));
    let other_scope = Arc::new(InstrumentationScope {
        name: Cow::Borrowed("my-lib"),
        version: None,
    });
    batch[1].resource = other_resource.clone();
    batch[2].scope = other_scope;
    // Equal but not the same `Arc`: still one group.
    batch[3].resource = Arc::new((*batch[0].resource).clone());

    for request in decode_both(&batch) {
        let groups: Vec<(String, Scopes)> = request
            .resource_spans
            .iter()
            .map(|rs| {
                let service = rs
                    .resource
                    .as_ref()
                    .unwrap()
                    .attributes
                    .iter()
                    .find(|a| a.key == "service.name");
                let service = format!("{:?}", service.unwrap().value.as_ref().unwrap().value);
                let scopes = rs
                    .scope_spans
                    .iter()
                    .map(|ss| {
                        let scope = ss.scope.as_ref().unwrap().name.clone();
                        (scope, ss.spans.iter().map(|s| s.name.clone()).collect())
                    })
                    .collect();
                (service, scopes)
            })
            .collect();
        let names = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(groups.len(), 2);
        assert!(groups[0].0.contains("checkout") && groups[1].0.contains("billing"));
        assert_eq!(
            groups[0].1,
            [
                ("tracewire".to_string(), names(&["span 0", "span 3"])),
                ("my-lib".to_string(), names(&["span 2"])),
            ]
        );
        assert_eq!(groups[1].1, [("tracewire".to_string(), names(&["span 1"]))]);
        assert_eq!(
            request.resource_spans[1]
                .resource
                .as_ref()
                .unwrap()
                .attributes,
            otlp_attributes(other_resource.attributes())
        );
    }
}

#[test]
fn dropped_counts_and_links_are_encoded() {
    let sink = MemorySink::new();
    let tracer = Tracer::builder()
        .service_name("checkout")
        .span_limits(SpanLimits {
            attribute_count: 2,
            event_count: 1,
            link_count: 1,
            attributes_per_event: 1,
            attributes_per_link: 1,
            ..SpanLimits::default()
        })
        .sink(sink.clone())
        .build();
    let link = |i: i64| Link {
        span_context: SpanContext::new_root(true),
        attributes: vec![KeyValue::new("a", i), KeyValue::new("b", i)],
        dropped_attributes: 0,
    };
    let span = tracer
        .span("limited")
        .attr("one", 1_i64)
        .attr("two", 2_i64)
        .attr("three", 3_i64)
        .link(link(1))
        .link(link(2))
        .start();
    span.add_event(
        "first",
        vec![KeyValue::new("x", 1_i64), KeyValue::new("y", 2_i64)],
    );
    span.add_event("second", vec![]);
    span.end();
    let batch = sink.take();
    let span = &batch[0];
    assert!(span.dropped_attributes > 0 && span.dropped_events > 0 && span.dropped_links > 0);
    for request in decode_both(&batch) {
        let decoded = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(*decoded, expected_otlp_span(span));
        assert_eq!(decoded.dropped_attributes_count, span.dropped_attributes);
        assert_eq!(decoded.events[0].dropped_attributes_count, 1);
        assert_eq!(decoded.links[0].dropped_attributes_count, 1);
    }
}

fn value() -> impl Strategy<Value = Value> {
    // Non-finite floats are checked apart (NaN never equals itself, and the official serde
    // types do not read proto3 JSON's "NaN"/"Infinity"); every other float is compared exactly.
    let float = any::<f64>().prop_filter("finite", |x| x.is_finite());
    prop_oneof![
        any::<String>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        float.clone().prop_map(Value::from),
        prop::collection::vec(any::<String>(), 0..4).prop_map(Value::from),
        prop::collection::vec(any::<bool>(), 0..4).prop_map(Value::from),
        prop::collection::vec(any::<i64>(), 0..4).prop_map(Value::from),
        prop::collection::vec(float, 0..4).prop_map(Value::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_attribute_and_name_decodes_with_the_official_types(
        name in any::<String>(),
        attributes in prop::collection::vec((any::<String>(), value()), 0..6),
    ) {
        let mut batch = spans(1);
        batch[0].name = name.into();
        batch[0].attributes = attributes
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, v))
            .collect();
        for request in decode_both(&batch) {
            prop_assert_eq!(
                &request.resource_spans[0].scope_spans[0].spans[0],
                &expected_otlp_span(&batch[0])
            );
        }
    }
}

#[test]
fn non_finite_doubles_survive_both_encodings() {
    let mut batch = spans(1);
    batch[0].attributes = vec![
        KeyValue::new("nan", f64::NAN),
        KeyValue::new("inf", f64::INFINITY),
        KeyValue::new("-inf", f64::NEG_INFINITY),
    ];
    let mut protobuf = Vec::new();
    encode_protobuf(&batch, &mut protobuf);
    let request = ExportTraceServiceRequest::decode(&protobuf[..]).unwrap();
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    let attributes = &request.resource_spans[0].scope_spans[0].spans[0].attributes;
    let double = |i: usize| match attributes[i].value.as_ref().unwrap().value {
        Some(V::DoubleValue(x)) => x,
        ref other => panic!("{other:?}"),
    };
    assert!(double(0).is_nan());
    assert_eq!(double(1), f64::INFINITY);
    assert_eq!(double(2), f64::NEG_INFINITY);

    // Proto3 JSON spells them as strings. (The serde types of opentelemetry-proto read only
    // numbers here, so the text is checked; the Collector's JSON reader takes these names.)
    let mut json = Vec::new();
    encode_json(&batch, &mut json);
    let json = String::from_utf8(json).unwrap();
    for spelled in [
        r#"{"doubleValue":"NaN"}"#,
        r#"{"doubleValue":"Infinity"}"#,
        r#"{"doubleValue":"-Infinity"}"#,
    ] {
        assert!(json.contains(spelled), "{json}");
    }
}
