//! A real HTTP receiver on 127.0.0.1 for the exporter tests, and spans that use every field.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as OtlpKeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1 as otlp;
use tracewire::span::{KeyValue, Link, SpanData, SpanKind, Status, Value};
use tracewire::{SpanContext, Tracer};

/// One request as the receiver saw it, body decompressed.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
}

/// A scripted answer.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<&'static str>,
    pub body: Vec<u8>,
    pub delay: Duration,
    /// How long the body comes after the response head (the head is sent at once).
    pub body_delay: Duration,
}

impl Answer {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
            body: Vec::new(),
            delay: Duration::ZERO,
            body_delay: Duration::ZERO,
        }
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    script: VecDeque<Answer>,
}

/// An HTTP server that records every request and answers from a script (200 when it runs out).
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(addr: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new().fallback(record).with_state(inner.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            inner,
            task: Arc::new(task),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inner.lock().unwrap().script.extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

async fn record(State(inner): State<Arc<Mutex<Inner>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let raw = axum::body::to_bytes(body, 256 << 20).await.unwrap();
    let body = match parts.headers.get("content-encoding").map(|v| v.as_bytes()) {
        Some(b"gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        Some(b"zstd") => zstd::decode_all(&raw[..]).unwrap(),
        _ => raw.to_vec(),
    };
    let answer = {
        let mut inner = inner.lock().unwrap();
        inner.received.push(Received {
            path: parts.uri.path().to_string(),
            headers: parts.headers,
            body,
            at: Instant::now(),
        });
        inner.script.pop_front().unwrap_or(Answer::status(200))
    };
    tokio::time::sleep(answer.delay).await;
    let mut response = Response::builder().status(answer.status);
    if let Some(after) = answer.retry_after {
        response = response.header("retry-after", after);
    }
    if answer.body_delay.is_zero() {
        return response.body(Body::from(answer.body)).unwrap();
    }
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, Infallible>>(1);
    tokio::spawn(async move {
        tokio::time::sleep(answer.body_delay).await;
        let _ = sender.send(Ok(answer.body)).await;
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(receiver);
    response.body(Body::from_stream(stream)).unwrap()
}

/// Shuts `tracer` down from a blocking thread (shutdown waits, and must not block a runtime
/// worker), expecting every span to be delivered.
pub async fn shutdown(tracer: &Tracer) {
    let tracer = tracer.clone();
    tokio::task::spawn_blocking(move || tracer.shutdown(Duration::from_secs(30)))
        .await
        .unwrap()
        .unwrap();
}

/// A tracer sending to `sink`.
pub fn tracer_with(sink: impl tracewire::sink::SpanSink) -> Tracer {
    Tracer::builder()
        .service_name("checkout")
        .service_version("1.2.3")
        .sink(sink)
        .build()
}

/// Ends spans that use every field the exporters map: a SERVER span with a remote parent and a
/// trace state, ten attributes of every type, an event, a link and an error status; a CLIENT
/// child with peer attributes and status OK; an INTERNAL grandchild.
pub fn end_rich_spans(tracer: &Tracer) {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    headers.insert("tracestate", "vendor=abc,other=x-1".parse().unwrap());
    let parent = tracer.propagator().extract(&headers).span_context;
    let linked = SpanContext::new_root(true).with_remote(true);
    let server = tracer
        .span("POST /orders/{id}")
        .kind(SpanKind::Server)
        .parent(parent.as_ref())
        .attr("http.request.method", "POST")
        .attr("http.route", "/orders/{id}")
        .attr("http.response.status_code", 500_i64)
        .attr("negative", -7_i64)
        .attr("ratio", 0.25)
        .attr("retried", false)
        .attr("tags", vec!["a", "b\"quoted\""])
        .attr("codes", vec![1_i64, -2])
        .attr("flags", vec![true, false])
        .attr("weights", vec![0.5, 1.5])
        .link(Link {
            span_context: linked,
            attributes: vec![KeyValue::new("link.reason", "retry")],
            dropped_attributes: 0,
        })
        .start();
    server.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", "Timeout"),
            KeyValue::new("exception.message", "line1\nline2 \u{1}é"),
        ],
    );
    {
        let client = server
            .child("payments.charge")
            .kind(SpanKind::Client)
            .attr("peer.service", "payments")
            .attr("server.address", "payments.internal")
            .attr("server.port", 8443_i64)
            .start();
        client.set_status(Status::Ok);
        client.child("serialize").start().end();
        client.end();
    }
    server.set_status(Status::Error {
        message: "upstream timed out".into(),
    });
    server.end();
}

pub fn any_value(value: &Value) -> AnyValue {
    use any_value::Value as V;
    use opentelemetry_proto::tonic::common::v1::ArrayValue;
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

pub fn otlp_attributes(attributes: &[KeyValue]) -> Vec<OtlpKeyValue> {
    attributes
        .iter()
        .map(|kv| OtlpKeyValue {
            key: kv.key.to_string(),
            value: Some(any_value(&kv.value)),
            ..Default::default()
        })
        .collect()
}

/// The OTLP span that `span` must decode to, built by hand from the schema's documentation.
pub fn expected_otlp_span(span: &SpanData) -> otlp::Span {
    let cx = &span.span_context;
    let remote_bits = 0x100 | if span.parent_is_remote { 0x200 } else { 0 };
    otlp::Span {
        trace_id: cx.trace_id().to_bytes().to_vec(),
        span_id: cx.span_id().to_bytes().to_vec(),
        trace_state: cx.state().to_string(),
        parent_span_id: span
            .parent_span_id
            .map(|p| p.to_bytes().to_vec())
            .unwrap_or_default(),
        flags: u32::from(cx.flags().bits()) | remote_bits,
        name: span.name.to_string(),
        kind: match span.kind {
            SpanKind::Internal => otlp::span::SpanKind::Internal,
            SpanKind::Server => otlp::span::SpanKind::Server,
            SpanKind::Client => otlp::span::SpanKind::Client,
            SpanKind::Producer => otlp::span::SpanKind::Producer,
            SpanKind::Consumer => otlp::span::SpanKind::Consumer,
        } as i32,
        start_time_unix_nano: span.start_unix_nanos,
        end_time_unix_nano: span.end_unix_nanos,
        attributes: otlp_attributes(&span.attributes),
        dropped_attributes_count: span.dropped_attributes,
        events: span
            .events
            .iter()
            .map(|e| otlp::span::Event {
                time_unix_nano: e.time_unix_nanos,
                name: e.name.to_string(),
                attributes: otlp_attributes(&e.attributes),
                dropped_attributes_count: e.dropped_attributes,
            })
            .collect(),
        dropped_events_count: span.dropped_events,
        links: span
            .links
            .iter()
            .map(|l| otlp::span::Link {
                trace_id: l.span_context.trace_id().to_bytes().to_vec(),
                span_id: l.span_context.span_id().to_bytes().to_vec(),
                trace_state: l.span_context.state().to_string(),
                attributes: otlp_attributes(&l.attributes),
                dropped_attributes_count: l.dropped_attributes,
                flags: u32::from(l.span_context.flags().bits())
                    | 0x100
                    | if l.span_context.is_remote() { 0x200 } else { 0 },
            })
            .collect(),
        dropped_links_count: span.dropped_links,
        status: match &span.status {
            Status::Unset => None,
            Status::Ok => Some(otlp::Status {
                message: String::new(),
                code: otlp::status::StatusCode::Ok as i32,
            }),
            Status::Error { message } => Some(otlp::Status {
                message: message.to_string(),
                code: otlp::status::StatusCode::Error as i32,
            }),
        },
    }
}

/// Checks that `request` holds exactly `expected`, grouped under the service's resource and
/// tracewire's scope.
pub fn assert_request_holds(
    request: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
    expected: &[SpanData],
) {
    assert_eq!(request.resource_spans.len(), 1);
    let resource_spans = &request.resource_spans[0];
    let resource = resource_spans.resource.as_ref().unwrap();
    assert_eq!(
        resource.attributes,
        otlp_attributes(expected[0].resource.attributes())
    );
    assert_eq!(resource_spans.scope_spans.len(), 1);
    let scope_spans = &resource_spans.scope_spans[0];
    let scope = scope_spans.scope.as_ref().unwrap();
    assert_eq!(scope.name, "tracewire");
    assert_eq!(scope.version, env!("CARGO_PKG_VERSION"));
    let want: Vec<_> = expected.iter().map(expected_otlp_span).collect();
    assert_eq!(scope_spans.spans, want);
}

/// Waits until `check` holds, for at most `timeout`.
pub async fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}
