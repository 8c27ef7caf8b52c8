//! gRPC as the layers see it on the wire, without tonic: hand-made responses with odd, missing
//! or malformed statuses, driven in process through both layers. None of it may panic.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use tower::{Layer, ServiceExt};
use tracewire::Tracer;
use tracewire::http::{ClientLayer, RpcSemconv, ServerLayer};
use tracewire::sampling::Sampler;
use tracewire::sink::MemorySink;
use tracewire::span::{SpanData, SpanKind, Status, Value};

/// A body of ready frames.
#[derive(Default)]
struct Frames(VecDeque<Frame<Bytes>>);

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}

fn trailers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_bytes(value).unwrap());
    }
    map
}

/// A response: HTTP `status`, `head` headers, one message, then `tail` trailers (if any).
fn response(
    status: StatusCode,
    head: &[(&'static str, &[u8])],
    tail: Option<&[(&'static str, &[u8])]>,
) -> Response<Frames> {
    let mut frames = VecDeque::new();
    frames.push_back(Frame::data(Bytes::from_static(b"\0\0\0\0\0")));
    if let Some(tail) = tail {
        frames.push_back(Frame::trailers(trailers(tail)));
    }
    let mut response = Response::new(Frames(frames));
    *response.status_mut() = status;
    *response.headers_mut() = trailers(head);
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    response
}

fn grpc_request() -> Request<String> {
    Request::post("http://cart.internal:8443/shop.Cart/Add")
        .header("content-type", "application/grpc+proto")
        .body(String::new())
        .unwrap()
}

fn tracer(sink: &MemorySink) -> Tracer {
    Tracer::builder()
        .service_name("wire")
        .sampler(Sampler::always_on())
        .sink(sink.clone())
        .build()
}

/// The server span and client span of one call answered by `answer` (built twice: once for
/// each layer).
async fn call(answer: impl Fn() -> Response<Frames>, semconv: RpcSemconv) -> (SpanData, SpanData) {
    let sink = MemorySink::new();
    let server_layer = ServerLayer::new(tracer(&sink)).rpc_semconv(semconv);
    let client_layer = ClientLayer::new(tracer(&sink)).rpc_semconv(semconv);

    let mut answer_once = Some(answer());
    let inner = tower::service_fn(move |_: Request<String>| {
        let response = answer_once.take().unwrap();
        std::future::ready(Ok::<_, Infallible>(response))
    });
    let response = server_layer
        .layer(inner)
        .oneshot(grpc_request())
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();

    let mut answer_once = Some(answer());
    let inner = tower::service_fn(move |_: Request<String>| {
        let response = answer_once.take().unwrap();
        std::future::ready(Ok::<_, Infallible>(response))
    });
    let response = client_layer
        .layer(inner)
        .oneshot(grpc_request())
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();

    let spans = sink.wait_for(2, Duration::from_secs(5)).unwrap();
    let server = spans.iter().find(|s| s.kind == SpanKind::Server).unwrap();
    let client = spans.iter().find(|s| s.kind == SpanKind::Client).unwrap();
    (server.clone(), client.clone())
}

fn code(span: &SpanData) -> Option<&Value> {
    span.attribute("rpc.response.status_code")
}

fn message(span: &SpanData) -> String {
    match &span.status {
        Status::Error { message } => message.to_string(),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn status_in_the_trailers_not_the_http_status() {
    let (server, client) = call(
        || {
            response(
                StatusCode::OK,
                &[],
                Some(&[("grpc-status", b"13"), ("grpc-message", b"disk%20full")]),
            )
        },
        RpcSemconv::New,
    )
    .await;
    for span in [&server, &client] {
        assert_eq!(span.name, "shop.Cart/Add");
        assert_eq!(code(span), Some(&Value::from("INTERNAL")));
        assert_eq!(message(span), "disk full");
        assert_eq!(
            span.attribute("server.address"),
            Some(&Value::from("cart.internal".to_string()))
        );
        assert_eq!(span.attribute("server.port"), Some(&Value::I64(8443)));
    }
}

#[tokio::test]
async fn malformed_statuses_are_unknown_and_never_panic() {
    for status in [&b"99"[..], b"", b"abc", b"-1", b"\xff\xfe", b"007"] {
        let (server, client) = call(
            || {
                response(
                    StatusCode::OK,
                    &[],
                    Some(&[
                        ("grpc-status", status),
                        ("grpc-message", b"%E2%9C%93 bad% %zz\x80"),
                    ]),
                )
            },
            RpcSemconv::Dup,
        )
        .await;
        for span in [&server, &client] {
            assert_eq!(code(span), Some(&Value::from("UNKNOWN")), "{status:?}");
            assert_eq!(span.attribute("rpc.grpc.status_code"), Some(&Value::I64(2)));
            assert!(message(span).starts_with("✓ bad% %zz"), "{}", message(span));
        }
    }
}

#[tokio::test]
async fn a_response_without_grpc_status() {
    // No trailers at all: UNKNOWN, an error on both sides.
    let (server, client) = call(|| response(StatusCode::OK, &[], None), RpcSemconv::New).await;
    for span in [&server, &client] {
        assert_eq!(code(span), Some(&Value::from("UNKNOWN")));
        assert!(matches!(span.status, Status::Error { .. }));
    }
    // A proxy's 503 without grpc-status: UNAVAILABLE, as the gRPC spec maps it.
    let (server, client) = call(
        || response(StatusCode::SERVICE_UNAVAILABLE, &[], None),
        RpcSemconv::New,
    )
    .await;
    for span in [&server, &client] {
        assert_eq!(code(span), Some(&Value::from("UNAVAILABLE")));
    }
}

#[tokio::test]
async fn trailers_only_and_server_side_classification() {
    // Trailers-only NOT_FOUND: the caller's error, not the server's.
    let (server, client) = call(
        || response(StatusCode::OK, &[("grpc-status", b"5")], None),
        RpcSemconv::Old,
    )
    .await;
    assert_eq!(
        server.attribute("rpc.grpc.status_code"),
        Some(&Value::I64(5))
    );
    assert_eq!(server.status, Status::Unset);
    assert!(matches!(client.status, Status::Error { .. }));
    assert_eq!(
        client.attribute("error.type"),
        Some(&Value::from("NOT_FOUND"))
    );
}

#[tokio::test]
async fn unsampled_calls_record_nothing_and_still_propagate() {
    let sink = MemorySink::new();
    let tracer = Tracer::builder()
        .sampler(Sampler::always_off())
        .sink(sink.clone())
        .build();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen_inner = seen.clone();
    let inner = tower::service_fn(move |request: Request<String>| {
        *seen_inner.lock().unwrap() = request.headers().get("traceparent").cloned();
        std::future::ready(Ok::<_, Infallible>(response(
            StatusCode::OK,
            &[],
            Some(&[("grpc-status", b"14")]),
        )))
    });
    let client = ClientLayer::new(tracer.clone()).layer(inner);
    let server = ServerLayer::new(tracer.clone()).layer(client);
    let response = server.oneshot(grpc_request()).await.unwrap();
    response.into_body().collect().await.unwrap();
    let traceparent = seen.lock().unwrap().clone().unwrap();
    assert!(
        traceparent.to_str().unwrap().ends_with("-02"),
        "{traceparent:?}"
    );
    // Both spans were decided against and nothing was recorded for them.
    let stats = tracer.stats();
    assert_eq!(
        (stats.sampled_out, stats.spans_started),
        (2, 0),
        "{stats:?}"
    );
    assert!(sink.spans().is_empty());
}

/// A body that fails after its first frame, as a reset stream does.
struct Failing(bool);

impl Body for Failing {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(Some(Err(std::io::Error::other("stream reset"))))
        } else {
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\0")))))
        }
    }
}

#[tokio::test]
async fn an_empty_body_dropped_unpolled_without_status_is_unknown_not_cancelled() {
    // hyper drops a body that is already at its end without polling it.
    let sink = MemorySink::new();
    let service = ServerLayer::new(tracer(&sink)).layer(tower::service_fn(|_: Request<String>| {
        let mut response = Response::new(Frames::default());
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("application/grpc"));
        std::future::ready(Ok::<_, Infallible>(response))
    }));
    drop(service.oneshot(grpc_request()).await.unwrap());
    let server = &sink.wait_for(1, Duration::from_secs(5)).unwrap()[0];
    assert_eq!(
        server.attribute("rpc.grpc.status_code"),
        Some(&Value::I64(2))
    );
    assert!(matches!(server.status, Status::Error { .. }));
}

#[tokio::test]
async fn a_stream_that_fails_mid_way_and_an_inner_error_record_a_grpc_code() {
    let sink = MemorySink::new();
    let failing = ClientLayer::new(tracer(&sink)).layer(tower::service_fn(|_: Request<String>| {
        let mut response = Response::new(Failing(false));
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("application/grpc"));
        std::future::ready(Ok::<_, Infallible>(response))
    }));
    let response = failing.oneshot(grpc_request()).await.unwrap();
    assert!(response.into_body().collect().await.is_err());

    let refusing =
        ServerLayer::new(tracer(&sink)).layer(tower::service_fn(|_: Request<String>| {
            std::future::ready(Err::<Response<Frames>, _>(std::io::Error::other(
                "no worker",
            )))
        }));
    assert!(refusing.oneshot(grpc_request()).await.is_err());

    let spans = sink.wait_for(2, Duration::from_secs(5)).unwrap();
    for span in &spans {
        assert_eq!(
            span.attribute("rpc.grpc.status_code"),
            Some(&Value::I64(2)),
            "{span:?}"
        );
        assert_eq!(
            span.attribute("error.type"),
            Some(&Value::from("UNKNOWN")),
            "{span:?}"
        );
        assert!(matches!(span.status, Status::Error { .. }), "{span:?}");
    }
}

#[tokio::test]
async fn a_call_dropped_before_its_response_is_cancelled_on_the_server() {
    let sink = MemorySink::new();
    let service = ServerLayer::new(tracer(&sink)).layer(tower::service_fn(|_: Request<String>| {
        // Never answers: the caller (or a deadline layer) gives up first.
        std::future::pending::<Result<Response<Frames>, Infallible>>()
    }));
    let call = service.oneshot(grpc_request());
    assert!(
        tokio::time::timeout(Duration::from_millis(20), call)
            .await
            .is_err()
    );
    let server = &sink.wait_for(1, Duration::from_secs(5)).unwrap()[0];
    assert_eq!(
        server.attribute("rpc.grpc.status_code"),
        Some(&Value::I64(1))
    );
    assert_eq!(
        server.attribute("tracewire.client.disconnected"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        server.status,
        Status::Unset,
        "cancelling is the client's choice"
    );
}
