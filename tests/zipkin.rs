//! The Zipkin exporter against a real HTTP receiver on 127.0.0.1.

mod receiver;

use std::time::Duration;

use receiver::{Receiver, end_rich_spans, tracer_with};
use serde_json::Value as Json;
use tracewire::export::zipkin::{ZipkinConfig, ZipkinExporter};
use tracewire::sink::{BatchConfig, BatchSink, FanOut, MemorySink};
use tracewire::span::SpanKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_arrive_as_zipkin_v2_json_mapped_as_the_specification_says() {
    let receiver = Receiver::start().await;
    let exporter = ZipkinExporter::new(ZipkinConfig {
        endpoint: format!("{}/api/v2/spans", receiver.base_url()),
        ..ZipkinConfig::default()
    })
    .unwrap();
    let memory = MemorySink::new();
    let batch = BatchSink::with_config(
        exporter,
        BatchConfig {
            scheduled_delay: Duration::from_millis(50),
            ..BatchConfig::default()
        },
    );
    let tracer = tracer_with(FanOut::new().with(memory.clone()).with(batch));
    end_rich_spans(&tracer);
    let shutdown = tracer.clone();
    tokio::task::spawn_blocking(move || shutdown.shutdown(Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/api/v2/spans");
    assert_eq!(received[0].headers["content-type"], "application/json");
    let spans: Vec<Json> = serde_json::from_slice(&received[0].body).unwrap();
    let expected = memory.spans();
    assert_eq!(spans.len(), expected.len());
    for (json, span) in spans.iter().zip(&expected) {
        let cx = &span.span_context;
        assert_eq!(json["traceId"], cx.trace_id().to_string());
        assert_eq!(json["id"], cx.span_id().to_string());
        assert_eq!(
            json["parentId"],
            span.parent_span_id
                .map_or(Json::Null, |p| Json::from(p.to_string()))
        );
        assert_eq!(json["name"], span.name.as_ref());
        assert_eq!(json["timestamp"], span.start_unix_nanos / 1000);
        assert_eq!(json["duration"], (span.duration_nanos() / 1000).max(1));
        assert_eq!(json["localEndpoint"]["serviceName"], "checkout");
        assert_eq!(json["tags"]["otel.scope.name"], "tracewire");
        match span.kind {
            SpanKind::Internal => {
                assert!(json.get("kind").is_none());
                assert!(json.get("tags").unwrap().get("otel.status_code").is_none());
            }
            SpanKind::Client => {
                assert_eq!(json["kind"], "CLIENT");
                assert_eq!(
                    json["remoteEndpoint"],
                    serde_json::json!({"serviceName": "payments", "port": 8443})
                );
                assert_eq!(json["tags"]["otel.status_code"], "OK");
                assert!(json["tags"].get("error").is_none());
            }
            SpanKind::Server => {
                assert_eq!(json["kind"], "SERVER");
                assert!(json.get("remoteEndpoint").is_none());
                let tags = &json["tags"];
                assert_eq!(tags["http.response.status_code"], "500");
                assert_eq!(tags["retried"], "false");
                assert_eq!(tags["ratio"], "0.25");
                assert_eq!(tags["tags"], r#"["a","b\"quoted\""]"#);
                assert_eq!(tags["codes"], "[1,-2]");
                assert_eq!(tags["otel.status_code"], "ERROR");
                assert_eq!(tags["error"], "upstream timed out");
                let annotation = &json["annotations"][0];
                assert_eq!(
                    annotation["timestamp"],
                    span.events[0].time_unix_nanos / 1000
                );
                let value = annotation["value"].as_str().unwrap();
                let parsed: Json = serde_json::from_str(&format!("{{{value}}}")).unwrap();
                assert_eq!(
                    parsed["exception"]["exception.message"],
                    "line1\nline2 \u{1}é"
                );
            }
            other => panic!("unexpected kind {other:?}"),
        }
    }
}
