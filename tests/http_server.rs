//! The server layer on a real axum server, driven by a real hyper client over 127.0.0.1.

mod common;

use common::serve;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, Request};
use http_body::Frame;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;
use tracewire::http::ServerLayer;
use tracewire::propagation::PropagationContext;
use tracewire::sampling::{Rule, Sampler};
use tracewire::sink::MemorySink;
use tracewire::span::{SpanData, SpanKind, Status, Value};
use tracewire::{Context, SpanRef, Tracer};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn tracer(sampler: Sampler) -> (Tracer, MemorySink) {
    let sink = MemorySink::new();
    let tracer = Tracer::builder()
        .service_name("server-test")
        .sampler(sampler)
        .sink(sink.clone())
        .build();
    (tracer, sink)
}

/// The traceparent the current context would send downstream.
fn downstream_traceparent(tracer: &Tracer) -> String {
    let mut headers = HeaderMap::new();
    let cx = PropagationContext {
        span_context: Context::current().span().span_context().cloned(),
        ..Default::default()
    };
    tracer.propagator().inject(&cx, &mut headers);
    headers
        .get("traceparent")
        .map_or("none".into(), |v| v.to_str().unwrap().to_string())
}

fn app(tracer: Tracer, layer: ServerLayer) -> Router {
    let downstream = tracer.clone();
    Router::new()
        .route(
            "/users/{id}",
            get(|span: SpanRef| async move {
                span.set_attribute("app.user.found", true);
                tracewire::span("db.query").in_scope(async {}).await;
                "alice"
            }),
        )
        .route("/health", get(|| async { "ok" }))
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/downstream", {
            let downstream = downstream.clone();
            get(move || async move { downstream_traceparent(&downstream) })
        })
        // The handler's span through the extractor, and a child of it around the call.
        .route(
            "/downstream-from-child",
            get(move |span: SpanRef| async move {
                span.child("call")
                    .start()
                    .in_scope(async move { downstream_traceparent(&downstream) })
                    .await
            }),
        )
        .route(
            "/stream",
            get(|| async { ticking_body(5, Duration::from_millis(50)) }),
        )
        .layer(layer)
}

/// A body of `count` chunks, one every `every`.
fn ticking_body(count: usize, every: Duration) -> Body {
    Body::new(Ticks {
        left: count,
        every,
        sleep: None,
    })
}

struct Ticks {
    left: usize,
    every: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for Ticks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let every = self.every;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.sleep = None;
        self.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"chunk\n")))))
    }
}

fn client(http2: bool) -> Client<HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(http2)
        .build_http()
}

async fn get_with(
    client: &Client<HttpConnector, Empty<Bytes>>,
    addr: SocketAddr,
    path: &str,
    traceparent: Option<&str>,
) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::get(format!("http://{addr}{path}"));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let response = client
        .request(request.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn find<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
        panic!(
            "no span {name:?} in {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        )
    })
}

#[tokio::test]
async fn a_request_becomes_a_server_span_that_continues_the_callers_trace() {
    for http2 in [false, true] {
        let (tracer, sink) = tracer(Sampler::parent_based(Sampler::always_on()).into());
        let layer = ServerLayer::new(tracer.clone()).server_timing(true);
        let addr = serve(app(tracer, layer)).await;
        let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
        let (status, headers, body) = get_with(
            &client(http2),
            addr,
            "/users/42?sig=secret&page=1",
            Some(&traceparent),
        )
        .await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "alice"));

        let spans = sink.wait_for(2, Duration::from_secs(5)).unwrap();
        let server = find(&spans, "GET /users/{id}");
        assert_eq!(server.kind, SpanKind::Server);
        assert_eq!(server.span_context.trace_id().to_string(), TRACE_ID);
        assert_eq!(server.parent_span_id.unwrap().to_string(), PARENT_ID);
        assert!(server.parent_is_remote);
        let attr = |key: &str| server.attribute(key).cloned();
        assert_eq!(attr("http.request.method"), Some(Value::from("GET")));
        assert_eq!(attr("http.route"), Some(Value::from("/users/{id}")));
        assert_eq!(attr("url.path"), Some(Value::from("/users/42")));
        assert_eq!(attr("url.query"), Some(Value::from("sig=REDACTED&page=1")));
        assert_eq!(attr("url.scheme"), Some(Value::from("http")));
        assert_eq!(attr("http.response.status_code"), Some(Value::I64(200)));
        assert_eq!(attr("server.address"), Some(Value::from("127.0.0.1")));
        assert_eq!(attr("server.port"), Some(Value::I64(addr.port().into())));
        assert_eq!(
            attr("network.protocol.version"),
            Some(Value::from(if http2 { "2" } else { "1.1" }))
        );
        assert_eq!(
            attr("app.user.found"),
            Some(Value::Bool(true)),
            "set through the extractor"
        );
        assert_eq!(server.status, Status::Unset);

        let query = find(&spans, "db.query");
        assert_eq!(query.parent_span_id, Some(server.span_context.span_id()));
        assert_eq!(
            query.span_context.trace_id(),
            server.span_context.trace_id()
        );

        let timing = headers["server-timing"].to_str().unwrap();
        assert_eq!(
            timing,
            format!(
                "trace;desc=00-{TRACE_ID}-{}-01",
                server.span_context.span_id()
            )
        );
    }
}

#[tokio::test]
async fn server_errors_are_errors_and_client_errors_are_not() {
    let (tracer, sink) = tracer(Sampler::always_on());
    let addr = serve(app(tracer.clone(), ServerLayer::new(tracer))).await;
    let client = client(false);
    assert_eq!(
        get_with(&client, addr, "/fail", None).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get_with(&client, addr, "/missing", None).await.0,
        StatusCode::NOT_FOUND
    );
    let spans = sink.wait_for(2, Duration::from_secs(5)).unwrap();
    let fail = find(&spans, "GET /fail");
    assert!(matches!(fail.status, Status::Error { .. }));
    assert_eq!(fail.attribute("error.type"), Some(&Value::from("500")));
    let missing = find(&spans, "GET /missing");
    assert_eq!(missing.status, Status::Unset);
    assert_eq!(missing.attribute("error.type"), None);
}

#[tokio::test]
async fn an_invalid_traceparent_starts_a_new_trace() {
    let (tracer, sink) = tracer(Sampler::parent_based(Sampler::always_on()).into());
    let addr = serve(app(tracer.clone(), ServerLayer::new(tracer))).await;
    let invalid = format!("00-{TRACE_ID}-{PARENT_ID}-01-extra");
    get_with(&client(false), addr, "/health", Some(&invalid)).await;
    let spans = sink.wait_for(1, Duration::from_secs(5)).unwrap();
    let span = find(&spans, "GET /health");
    assert_ne!(span.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(span.parent_span_id, None);
}

#[tokio::test]
async fn an_unsampled_request_records_nothing_but_still_propagates_flag_00() {
    let (tracer, sink) = tracer(Sampler::parent_based(Sampler::always_on()).into());
    let addr = serve(app(tracer.clone(), ServerLayer::new(tracer.clone()))).await;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-00");
    let (_, _, downstream) =
        get_with(&client(false), addr, "/downstream", Some(&traceparent)).await;
    assert!(
        downstream.starts_with(&format!("00-{TRACE_ID}-")),
        "{downstream}"
    );
    assert!(downstream.ends_with("-00"), "{downstream}");
    assert!(
        !downstream.contains(PARENT_ID),
        "a new span id downstream: {downstream}"
    );
    // The same through the extractor's span and a child of it: the context is not lost.
    let (_, _, downstream) = get_with(
        &client(false),
        addr,
        "/downstream-from-child",
        Some(&traceparent),
    )
    .await;
    assert!(
        downstream.starts_with(&format!("00-{TRACE_ID}-")) && downstream.ends_with("-00"),
        "{downstream}"
    );
    // And the sampled request next to it is recorded, so the sink is live.
    get_with(&client(false), addr, "/health", None).await;
    let spans = sink.wait_for(1, Duration::from_secs(5)).unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "GET /health");
    assert!(tracer.stats().sampled_out >= 1);
}

#[tokio::test]
async fn per_route_sampling_rules_see_the_route_template() {
    let sampler =
        Sampler::rules(Sampler::always_on()).rule(Rule::route("/health"), Sampler::always_off());
    let (tracer, sink) = tracer(sampler.into());
    let addr = serve(app(tracer.clone(), ServerLayer::new(tracer))).await;
    let client = client(false);
    get_with(&client, addr, "/health", None).await;
    get_with(&client, addr, "/users/7", None).await;
    let spans = sink.wait_for(2, Duration::from_secs(5)).unwrap();
    assert!(spans.iter().all(|s| s.name != "GET /health"));
    find(&spans, "GET /users/{id}");
}

#[tokio::test]
async fn a_streaming_response_is_timed_whole() {
    let (tracer, sink) = tracer(Sampler::always_on());
    let addr = serve(app(tracer.clone(), ServerLayer::new(tracer))).await;
    let (_, _, body) = get_with(&client(false), addr, "/stream", None).await;
    assert_eq!(body.lines().count(), 5);
    let spans = sink.wait_for(1, Duration::from_secs(5)).unwrap();
    let span = find(&spans, "GET /stream");
    assert!(
        span.duration_nanos() >= 200_000_000,
        "{} ns",
        span.duration_nanos()
    );
    assert_eq!(span.attribute("tracewire.client.disconnected"), None);
}

// Multi-threaded: the test blocks in `wait_for` while the server notices the hang-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_mid_stream_is_recorded() {
    let (tracer, sink) = tracer(Sampler::always_on());
    let addr = serve(app(tracer.clone(), ServerLayer::new(tracer))).await;
    // A raw HTTP/1.1 connection, so that hanging up closes the socket at once.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /stream HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut first = vec![0; 256];
    let read = stream.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..read]).starts_with("HTTP/1.1 200"));
    drop(stream); // hang up
    let spans = sink.wait_for(1, Duration::from_secs(5)).unwrap();
    let span = find(&spans, "GET /stream");
    assert_eq!(
        span.attribute("tracewire.client.disconnected"),
        Some(&Value::Bool(true))
    );
    assert!(span.events.iter().any(|e| e.name.contains("disconnected")));
    // A response that could not be sent fully is an error (HTTP conventions, Status).
    assert_eq!(
        span.attribute("error.type"),
        Some(&Value::from("client_disconnected"))
    );
    assert!(matches!(span.status, Status::Error { .. }));
}

#[tokio::test]
async fn behind_a_proxy_the_original_request_is_recorded() {
    let (tracer, sink) = tracer(Sampler::always_on());
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .layer(ServerLayer::new(tracer));
    let requests = [
        // RFC 7239's header, parameter names in any case.
        Request::get("/health")
            .header("host", "backend:3000")
            .header(
                "forwarded",
                r#"For="[2001:db8:cafe::17]:4711";Proto=https;host=shop.example, for=10.0.0.1"#,
            ),
        // The de facto headers.
        Request::get("/health")
            .header("host", "backend:3000")
            .header("x-forwarded-for", "192.0.2.43, 10.0.0.1")
            .header("x-forwarded-host", "public.example:8443")
            .header("x-forwarded-proto", "https"),
    ];
    for request in requests {
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    }
    let spans = sink.wait_for(2, Duration::from_secs(5)).unwrap();
    let attrs = |span: &SpanData| {
        [
            "server.address",
            "server.port",
            "url.scheme",
            "client.address",
        ]
        .map(|key| span.attribute(key).cloned())
    };
    assert_eq!(
        attrs(&spans[0]),
        [
            Some(Value::from("shop.example")),
            Some(Value::I64(443)),
            Some(Value::from("https")),
            Some(Value::from("2001:db8:cafe::17")),
        ]
    );
    assert_eq!(
        attrs(&spans[1]),
        [
            Some(Value::from("public.example")),
            Some(Value::I64(8443)),
            Some(Value::from("https")),
            Some(Value::from("192.0.2.43")),
        ]
    );
}

/// Sends `GET /health` over a connection of its own, with `extra` header lines, and returns the
/// connection's local (the client's) port once the response has been read.
async fn raw_get(addr: SocketAddr, extra: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let port = stream.local_addr().unwrap().port();
    let request =
        format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"), "{response:?}");
    port
}

#[tokio::test]
async fn the_peer_is_recorded_when_the_server_passes_connect_info() {
    let (tracer, sink) = tracer(Sampler::always_on());
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .layer(ServerLayer::new(tracer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let with_info = app
        .clone()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, with_info).await.unwrap() });
    // And the same app served plainly: axum then tells the layer nothing of the peer.
    let plain = serve(app).await;

    let attrs = |span: &SpanData| {
        [
            "client.address",
            "network.peer.address",
            "network.peer.port",
        ]
        .map(|key| span.attribute(key).cloned())
    };
    let direct = raw_get(addr, "").await;
    let spans = sink.wait_for(1, Duration::from_secs(5)).unwrap();
    assert_eq!(
        attrs(&spans[0]),
        [
            Some(Value::from("127.0.0.1")),
            Some(Value::from("127.0.0.1")),
            Some(Value::I64(direct.into())),
        ]
    );

    // Behind a proxy, the client is the one it names; the peer is still the connection's.
    let proxied = raw_get(addr, "X-Forwarded-For: 203.0.113.7\r\n").await;
    let spans = sink.wait_for(2, Duration::from_secs(5)).unwrap();
    assert_eq!(
        attrs(&spans[1]),
        [
            Some(Value::from("203.0.113.7")),
            Some(Value::from("127.0.0.1")),
            Some(Value::I64(proxied.into())),
        ]
    );

    raw_get(plain, "").await;
    let spans = sink.wait_for(3, Duration::from_secs(5)).unwrap();
    assert_eq!(attrs(&spans[2]), [None, None, None]);
    // The rest is recorded as usual.
    assert_eq!(
        spans[2].attribute("url.path"),
        Some(&Value::from("/health"))
    );
}

#[tokio::test]
async fn the_known_methods_can_be_replaced() {
    use tower::Layer;

    let (tracer, sink) = tracer(Sampler::always_on());
    let known = tracewire::http::KnownMethods::new(["PURGE", "GET"]);
    let service = ServerLayer::new(tracer)
        .known_methods(known)
        .layer(tower::service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(http::Response::new(Body::empty()))
        }));
    for method in ["PURGE", "POST"] {
        let request = Request::builder()
            .method(method)
            .body(Body::empty())
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
    let spans = sink.wait_for(2, Duration::from_secs(5)).unwrap();
    let method = |span: &SpanData| span.attribute("http.request.method").cloned();
    assert_eq!(spans[0].name, "PURGE");
    assert_eq!(method(&spans[0]), Some(Value::from("PURGE")));
    // The list replaces the default whole: POST is no longer known.
    assert_eq!(spans[1].name, "HTTP");
    assert_eq!(method(&spans[1]), Some(Value::from("_OTHER")));
}

/// A body that never says it has ended, as a file streamed from disk; `sized` if it knows its
/// length (else the handler announces it). The server stops polling once it has sent that
/// many bytes, and drops it.
struct Chunks {
    left: usize,
    sized: bool,
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"chunk\n")))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self.sized {
            true => http_body::SizeHint::with_exact(6 * self.left as u64),
            false => http_body::SizeHint::default(),
        }
    }
}

#[tokio::test]
async fn a_length_the_handler_announces_ends_the_response() {
    let (tracer, sink) = tracer(Sampler::always_on());
    let app = Router::new()
        .route(
            "/download",
            get(|| async {
                let mut response = http::Response::new(Body::new(Chunks {
                    left: 3,
                    sized: false,
                }));
                response
                    .headers_mut()
                    .insert(http::header::CONTENT_LENGTH, "18".parse().unwrap());
                response
            }),
        )
        .layer(ServerLayer::new(tracer));
    let addr = serve(app).await;
    let (status, _, body) = get_with(&client(false), addr, "/download", None).await;
    assert_eq!((status, body.len()), (StatusCode::OK, 18));
    let spans = sink.wait_for(1, Duration::from_secs(5)).unwrap();
    assert_eq!(spans[0].attribute("error.type"), None);
    assert_eq!(spans[0].status, Status::Unset);
}

/// Four bytes, as announced, then a failure (HTTP/2 polls on after the last byte, for trailers).
struct FailsAfterItsBytes {
    sent: bool,
}

impl http_body::Body for FailsAfterItsBytes {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if std::mem::replace(&mut self.sent, true) {
            return Poll::Ready(Some(Err(std::io::Error::other("trailers failed"))));
        }
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"data")))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(4)
    }
}

#[tokio::test]
async fn a_failure_after_the_last_announced_byte_is_still_recorded() {
    use tower::Layer;

    let (tracer, sink) = tracer(Sampler::always_on());
    let service = ServerLayer::new(tracer).layer(tower::service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(http::Response::new(FailsAfterItsBytes { sent: false }))
    }));
    let request = Request::get("/").body(Body::empty()).unwrap();
    let mut body = service.oneshot(request).await.unwrap().into_body();
    assert!(body.frame().await.unwrap().is_ok());
    assert!(body.frame().await.unwrap().is_err());
    drop(body);
    let spans = sink.wait_for(1, Duration::from_secs(5)).unwrap();
    assert!(matches!(spans[0].status, Status::Error { .. }));
}

#[tokio::test]
async fn responses_sent_whole_are_not_taken_for_a_client_that_went_away() {
    let (tracer, sink) = tracer(Sampler::always_on());
    let app = Router::new()
        .route(
            "/file",
            get(|| async {
                Body::new(Chunks {
                    left: 3,
                    sized: true,
                })
            }),
        )
        .route("/page", get(|| async { "hello" }))
        .route("/none", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/trailers",
            get(|| async {
                let mut trailers = HeaderMap::new();
                trailers.insert("x-checksum", "abc".parse().unwrap());
                let frames = [
                    Frame::data(Bytes::from_static(b"data")),
                    Frame::trailers(trailers),
                ];
                let stream = tokio_stream::iter(frames.map(Ok::<_, Infallible>));
                Body::new(http_body_util::StreamBody::new(stream))
            }),
        )
        .layer(ServerLayer::new(tracer));
    let addr = serve(app.clone()).await;
    for http2 in [false, true] {
        let (status, _, body) = get_with(&client(http2), addr, "/file", None).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "chunk\nchunk\nchunk\n")
        );
        get_with(&client(http2), addr, "/none", None).await;
    }
    // HEAD: axum sends the head only and drops the body, unpolled.
    for path in ["/page", "/file"] {
        let request = Request::head(path).body(Body::empty()).unwrap();
        drop(app.clone().oneshot(request).await.unwrap());
    }
    // The trailers are the last frame, whatever the body says of its end.
    let request = Request::get("/trailers").body(Body::empty()).unwrap();
    let mut body = app.clone().oneshot(request).await.unwrap().into_body();
    while let Some(frame) = body.frame().await {
        if frame.unwrap().is_trailers() {
            break;
        }
    }
    drop(body);

    let spans = sink.wait_for(7, Duration::from_secs(5)).unwrap();
    assert_eq!(spans.len(), 7);
    for span in &spans {
        assert_eq!(
            span.attribute("tracewire.client.disconnected"),
            None,
            "{}",
            span.name
        );
        assert_eq!(span.status, Status::Unset, "{}", span.name);
    }
}

#[tokio::test]
async fn distrusting_the_incoming_context_starts_a_new_trace_with_a_link() {
    let (tracer, sink) = tracer(Sampler::parent_based(Sampler::always_off()).into());
    let layer = ServerLayer::new(tracer.clone()).distrust_incoming_context(true);
    let addr = serve(app(tracer, layer)).await;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    get_with(&client(false), addr, "/health", Some(&traceparent)).await;
    // The caller's sampled flag no longer forces sampling: the root sampler said no.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sink.spans().is_empty());
}

/// A hyper server (no axum) running `service` on 127.0.0.1.
async fn serve_hyper<S>(service: S) -> SocketAddr
where
    S: tower::Service<
            Request<hyper::body::Incoming>,
            Response = http::Response<tracewire::http::ResponseBody<Body>>,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper_util::service::TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[derive(Debug)]
struct HandlerFailed;

impl std::fmt::Display for HandlerFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("handler failed")
    }
}

impl std::error::Error for HandlerFailed {}

#[tokio::test]
async fn inner_service_errors_unknown_methods_and_traceresponse() {
    use tower::Layer;

    let (tracer, sink) = tracer(Sampler::always_on());
    let inner = tower::service_fn(|request: Request<hyper::body::Incoming>| {
        // Work done in `call` itself, before the future: the request's span is current.
        tracewire::span("in call").start().end();
        async move {
            if request.uri().path() == "/error" {
                Err(HandlerFailed)
            } else {
                Ok(http::Response::new(Body::from("fine")))
            }
        }
    });
    let service = ServerLayer::new(tracer).traceresponse(true).layer(inner);
    let addr = serve_hyper(service).await;
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();

    // The inner service fails: hyper drops the connection, the span says why.
    let failed = client
        .request(
            Request::get(format!("http://{addr}/error"))
                .body(Empty::new())
                .unwrap(),
        )
        .await;
    assert!(failed.is_err());

    let purge = client
        .request(
            Request::builder()
                .method("PURGE")
                .uri(format!("http://{addr}/cache"))
                .body(Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let traceresponse = purge.headers()["traceresponse"]
        .to_str()
        .unwrap()
        .to_string();
    purge.into_body().collect().await.unwrap();

    let spans = sink.wait_for(4, Duration::from_secs(5)).unwrap();
    let in_call: Vec<&SpanData> = spans.iter().filter(|s| s.name == "in call").collect();
    assert_eq!(in_call.len(), 2);
    for child in in_call {
        let parent = spans
            .iter()
            .find(|s| Some(s.span_context.span_id()) == child.parent_span_id)
            .expect("a child of the request's span");
        assert_eq!(parent.kind, SpanKind::Server);
    }
    let error = spans
        .iter()
        .find(|s| s.attribute("url.path") == Some(&Value::from("/error")))
        .unwrap();
    assert_eq!(
        error.status,
        Status::Error {
            message: "handler failed".into()
        }
    );
    assert!(
        matches!(error.attribute("error.type"), Some(Value::String(t)) if t.ends_with("HandlerFailed"))
    );

    let purge = find(&spans, "HTTP");
    assert_eq!(
        purge.attribute("http.request.method"),
        Some(&Value::from("_OTHER"))
    );
    assert_eq!(
        purge.attribute("http.request.method_original"),
        Some(&Value::from("PURGE"))
    );
    assert_eq!(
        traceresponse,
        format!(
            "00-{}-{}-03",
            purge.span_context.trace_id(),
            purge.span_context.span_id()
        )
    );
}

/// A sampler that samples requests whose parent is sampled, counting its calls and
/// remembering how many attributes it was shown; `parent_only` says whether it declares that
/// it decides from the parent and trace id alone.
#[derive(Debug, Default)]
struct Watching {
    parent_only: bool,
    attributes_seen: std::sync::Mutex<Vec<usize>>,
}

impl tracewire::sampling::ShouldSample for Watching {
    fn should_sample(
        &self,
        params: &tracewire::sampling::SamplingParams<'_>,
    ) -> tracewire::sampling::SamplingResult {
        use tracewire::sampling::{SamplingDecision, SamplingResult};
        self.attributes_seen
            .lock()
            .unwrap()
            .push(params.attributes.len());
        let decision = match params.parent.is_some_and(|p| p.flags().is_sampled()) {
            true => SamplingDecision::RecordAndSample,
            false => SamplingDecision::Drop,
        };
        SamplingResult::with_parent_state(decision, params)
    }

    fn uses_span_details(&self) -> bool {
        !self.parent_only
    }
}

/// Shares one sampler between the test and the tracer.
#[derive(Debug)]
struct Shared(std::sync::Arc<Watching>);

impl tracewire::sampling::ShouldSample for Shared {
    fn should_sample(
        &self,
        params: &tracewire::sampling::SamplingParams<'_>,
    ) -> tracewire::sampling::SamplingResult {
        self.0.should_sample(params)
    }

    fn uses_span_details(&self) -> bool {
        self.0.uses_span_details()
    }
}

#[tokio::test]
async fn a_sampler_that_decides_from_the_parent_alone_is_asked_before_the_span_is_named() {
    for parent_only in [true, false] {
        let watching = std::sync::Arc::new(Watching {
            parent_only,
            ..Watching::default()
        });
        let (tracer, sink) = tracer(Sampler::new(Shared(watching.clone())));
        let addr = serve(app(tracer.clone(), ServerLayer::new(tracer.clone()))).await;
        let client = client(false);
        let sampled = format!("00-{TRACE_ID}-{PARENT_ID}-01");
        let unsampled = format!("00-{TRACE_ID}-{PARENT_ID}-00");
        let (_, _, body) = get_with(&client, addr, "/users/7", Some(&sampled)).await;
        assert_eq!(body, "alice");
        get_with(&client, addr, "/health", Some(&unsampled)).await;

        let spans = sink.wait_for(2, Duration::from_secs(5)).unwrap();
        // The sampled request has its name and attributes either way; the dropped one is
        // counted, and the same requests are kept whichever way the sampler is asked.
        let server = find(&spans, "GET /users/{id}");
        assert_eq!(
            server.attribute("http.route"),
            Some(&Value::from("/users/{id}"))
        );
        assert!(spans.iter().all(|s| s.name != "GET /health"));
        assert_eq!(tracer.stats().sampled_out, 1, "parent_only = {parent_only}");
        // Asked once per server span (the child `db.query` span asks too): before the span
        // is named when it decides from the parent alone, with method and route otherwise.
        let seen = watching.attributes_seen.lock().unwrap().clone();
        let server_calls = [seen[0], *seen.last().unwrap()];
        assert_eq!(seen.len(), 3, "{seen:?}");
        match parent_only {
            true => assert_eq!(server_calls, [0, 0], "{seen:?}"),
            false => assert!(server_calls.iter().all(|&n| n >= 2), "{seen:?}"),
        }
    }
}

#[tokio::test]
async fn a_handler_that_leaves_another_context_current_still_ends_its_request_span() {
    let (tracer, sink) = tracer(Sampler::parent_based(Sampler::always_on()).into());
    // Misuse: a guard that is never dropped leaves the child's context current when the
    // handler returns, so the layer gets that context back instead of the request's.
    let router = Router::new()
        .route(
            "/leaky",
            get(|| async {
                let child = tracewire::span("leaky child").start();
                std::mem::forget(child.enter());
                "ok"
            }),
        )
        .layer(ServerLayer::new(tracer));
    let addr = serve(router).await;
    let (status, _, _) = get_with(&client(false), addr, "/leaky", None).await;
    assert_eq!(status, StatusCode::OK);
    let spans = sink.wait_for(2, Duration::from_secs(5)).unwrap_or_else(|| {
        panic!("the request's span was lost: {:?}", sink.spans());
    });
    let server = find(&spans, "GET /leaky");
    let child = find(&spans, "leaky child");
    assert_eq!(child.parent_span_id, Some(server.span_context.span_id()));
    assert_eq!(server.kind, SpanKind::Server);
    // The response is still recorded on the request's span, not on the leaked one.
    let status = |span: &SpanData| span.attribute("http.response.status_code").cloned();
    assert_eq!(status(server), Some(Value::I64(200)));
    assert_eq!(status(child), None);
}
