//! The trace view reads back what tracewire's own OTLP/JSON encoder writes: one request per
//! line (as the Collector's file exporter stores them), and pretty-printed whole documents.

use std::sync::Arc;

use tracewire::export::otlp::encode_json;
use tracewire::sink::MemorySink;
use tracewire::span::{KeyValue, Link, SpanData, SpanKind, Status};
use tracewire::view::{self, TextOptions};
use tracewire::{SpanContext, Tracer};

/// One trace over three services: a gateway calling orders, which calls payment (failing).
fn checkout_spans() -> Vec<SpanData> {
    let sink = MemorySink::new();
    let tracer = |service: &'static str| {
        Tracer::builder()
            .service_name(service)
            .sink(sink.clone())
            .build()
    };
    let (gateway, orders, payment) = (tracer("api-gateway"), tracer("orders"), tracer("payment"));

    let root = gateway
        .span("POST /checkout")
        .kind(SpanKind::Server)
        .start();
    let call = root.child("POST /orders").kind(SpanKind::Client).start();
    let incoming = call.span_context().unwrap().clone().with_remote(true);
    let server = orders
        .span("POST /orders")
        .kind(SpanKind::Server)
        .parent(Some(&incoming))
        .attr("http.response.status_code", 502_i64)
        .attr("retry.ratio", 0.5)
        .attr("tags", vec!["a", "b"])
        .link(Link::new(SpanContext::new_root(true)))
        .start();
    let charge = server.child("charge").kind(SpanKind::Client).start();
    let incoming = charge.span_context().unwrap().clone().with_remote(true);
    let pay = payment
        .span("POST /pay")
        .kind(SpanKind::Server)
        .parent(Some(&incoming))
        .start();
    pay.add_event(
        "exception",
        vec![KeyValue::new("exception.message", "card declined")],
    );
    pay.set_status(Status::Error {
        message: "card declined".into(),
    });
    pay.end();
    charge.set_status(Status::Error {
        message: "payment failed".into(),
    });
    charge.end();
    server.end();
    call.end();
    root.end();
    sink.take()
}

fn encoded(batch: &[SpanData]) -> String {
    let mut out = Vec::new();
    encode_json(batch, &mut out);
    String::from_utf8(out).unwrap()
}

fn assert_same(read: &[SpanData], written: &[SpanData]) {
    assert_eq!(read.len(), written.len());
    for original in written {
        let id = original.span_context.span_id();
        let span = read
            .iter()
            .find(|s| s.span_context.span_id() == id)
            .unwrap_or_else(|| panic!("span {id} not read back"));
        assert_eq!(span.name, original.name);
        assert_eq!(span.kind, original.kind);
        assert_eq!(
            span.span_context.trace_id(),
            original.span_context.trace_id()
        );
        assert_eq!(span.span_context.flags(), original.span_context.flags());
        assert_eq!(span.parent_span_id, original.parent_span_id);
        assert_eq!(span.parent_is_remote, original.parent_is_remote);
        assert_eq!(span.start_unix_nanos, original.start_unix_nanos);
        assert_eq!(span.end_unix_nanos, original.end_unix_nanos);
        assert_eq!(span.attributes, original.attributes);
        assert_eq!(span.events, original.events);
        assert_eq!(span.links, original.links);
        assert_eq!(span.status, original.status);
        assert_eq!(*span.resource, *original.resource);
        assert_eq!(*span.scope, *original.scope);
    }
}

#[test]
fn one_request_per_line_as_the_collector_file_exporter_writes() {
    let spans = checkout_spans();
    // One request per service, as three exporters would have sent them.
    let lines: Vec<String> = ["api-gateway", "orders", "payment"]
        .iter()
        .map(|service| {
            let batch: Vec<SpanData> = spans
                .iter()
                .filter(|s| s.resource.service_name() == *service)
                .cloned()
                .collect();
            encoded(&batch)
        })
        .collect();
    let outcome = view::read_spans(&lines.join("\n"));
    assert_eq!(outcome.errors, []);
    assert_same(&outcome.spans, &spans);
    // Spans of one resource share it.
    let orders: Vec<_> = outcome
        .spans
        .iter()
        .filter(|s| s.resource.service_name() == "orders")
        .collect();
    assert!(Arc::ptr_eq(&orders[0].resource, &orders[1].resource));

    let traces = view::assemble(outcome.spans);
    assert_eq!(traces.len(), 1);
    // Each half of every call on its own line, to check how they hang together.
    let unfolded = TextOptions {
        fold_calls: false,
        ..TextOptions::default()
    };
    let text = traces[0].render(&unfolded);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[1].starts_with("├── [api-gateway] POST /checkout "),
        "{text}"
    );
    assert!(
        lines[2].starts_with("│   └── [api-gateway] POST /orders "),
        "{text}"
    );
    assert!(
        lines[3].starts_with("│       └── [orders] POST /orders "),
        "{text}"
    );
    assert!(
        lines[4].starts_with("│           └── [orders] charge "),
        "{text}"
    );
    assert!(lines[4].contains("✗ payment failed"), "{text}");
    assert!(
        lines[5].starts_with("│               └── [payment] POST /pay "),
        "{text}"
    );
    assert!(
        lines[5].contains("✗ card declined") && lines[5].contains("error starts here"),
        "{text}"
    );
    assert!(!text.contains("orphan"), "{text}");
}

#[test]
fn whole_documents_pretty_printed_and_mixed_with_a_broken_line() {
    let spans = checkout_spans();
    let (first, rest) = spans.split_at(2);
    let pretty: serde_json::Value = serde_json::from_str(&encoded(first)).unwrap();
    let text = format!(
        "{}\n{{\"resourceSpans\": [oops\n{}\n",
        serde_json::to_string_pretty(&pretty).unwrap(),
        encoded(rest),
    );
    let broken_line = text.lines().position(|l| l.contains("oops")).unwrap() + 1;
    let outcome = view::read_spans(&text);
    assert_eq!(outcome.errors.len(), 1, "{:?}", outcome.errors);
    assert_eq!(outcome.errors[0].line, broken_line);
    assert_same(&outcome.spans, &spans);
    let trace = &view::assemble(outcome.spans)[0];
    assert_eq!(trace.error_origin().unwrap().span().name, "POST /pay");
    let json = trace.to_json();
    assert_eq!(json["spanCount"], 5);
    assert_eq!(json["spans"][0]["service"], "api-gateway");
}
