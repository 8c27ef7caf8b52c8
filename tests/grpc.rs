//! gRPC through the layers: a real tonic service (compiled from `tests/proto/echo.proto`) on
//! 127.0.0.1, called through a real `Channel` wrapped with the client layer.

mod common;

use common::{one_span, serve};

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Response, Status};
use tower::{Service, ServiceBuilder, ServiceExt};
use tracewire::SpanRef;
use tracewire::http::client::ClientService;
use tracewire::http::{ClientLayer, RpcSemconv, ServerLayer};
use tracewire::integrations::tonic::RequestExt;
use tracewire::sink::MemorySink;
use tracewire::span::{SpanData, SpanKind, Status as SpanStatus, Value};

mod pb {
    tonic::include_proto!("tracewire.test");
}

use pb::echo_client::EchoClient;
use pb::echo_server::{Echo, EchoServer};
use pb::{EchoReply, EchoRequest};

const UNARY: &str = "tracewire.test.Echo/Unary";
const SERVER_STREAM: &str = "tracewire.test.Echo/ServerStream";

type TracedHttp = ClientService<Client<HttpConnector, Empty<Bytes>>>;
type TracedChannel = ClientService<Channel>;
type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

/// The test service. Its unary method calls `call_url` first (through `http`) when asked to.
#[derive(Clone, Default)]
struct EchoService {
    http: Option<TracedHttp>,
}

fn failure(request: &EchoRequest) -> Option<Status> {
    (request.fail_code != 0).then(|| {
        Status::new(
            tonic::Code::from(request.fail_code),
            request.fail_message.clone(),
        )
    })
}

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        request.span().set_attribute("app.handled", true);
        let request = request.into_inner();
        if let Some(status) = failure(&request) {
            return Err(status);
        }
        let mut message = request.message;
        if let (Some(http), false) = (&self.http, request.call_url.is_empty()) {
            let get = http::Request::get(request.call_url)
                .body(Empty::new())
                .unwrap();
            let response = http.clone().ready().await.unwrap().call(get).await;
            let body = response.unwrap().into_body().collect().await.unwrap();
            message = String::from_utf8_lossy(&body.to_bytes()).into_owned();
        }
        Ok(Response::new(EchoReply { message }))
    }

    type ServerStreamStream = ReplyStream;

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<ReplyStream>, Status> {
        let request = request.into_inner();
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            for i in 0..request.count {
                tokio::time::sleep(Duration::from_millis(request.interval_ms.into())).await;
                let reply = EchoReply {
                    message: format!("{} {i}", request.message),
                };
                if sender.send(Ok(reply)).await.is_err() {
                    return;
                }
            }
            // A failure after the messages travels in the trailers.
            if let Some(status) = failure(&request) {
                let _ = sender.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn client_stream(
        &self,
        request: Request<tonic::Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        let mut stream = request.into_inner();
        let mut message = String::new();
        while let Some(request) = stream.next().await {
            message.push_str(&request?.message);
        }
        Ok(Response::new(EchoReply { message }))
    }

    type BidiStream = ReplyStream;

    async fn bidi(
        &self,
        request: Request<tonic::Streaming<EchoRequest>>,
    ) -> Result<Response<ReplyStream>, Status> {
        let replies = request.into_inner().map(|request| {
            request.map(|r| EchoReply {
                message: r.message.to_uppercase(),
            })
        });
        Ok(Response::new(Box::pin(replies)))
    }
}

/// Serves `echo` on 127.0.0.1 behind `layer`, as a user would.
async fn serve_grpc(layer: ServerLayer, echo: EchoService) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .layer(layer)
        .add_service(EchoServer::new(echo))
        .serve_with_incoming(TcpListenerStream::new(listener));
    tokio::spawn(async move { server.await.unwrap() });
    addr
}

fn origin(addr: SocketAddr) -> http::Uri {
    format!("http://{addr}").parse().unwrap()
}

/// A `Channel` wrapped with the client layer, as a user would.
async fn traced_channel(addr: SocketAddr, layer: ClientLayer) -> TracedChannel {
    let channel = Endpoint::from(origin(addr)).connect().await.unwrap();
    ServiceBuilder::new().layer(layer).service(channel)
}

/// A generated client over a traced channel; `with_origin` so that the client layer sees the
/// server's address (`server.address`, `server.port`).
async fn client(addr: SocketAddr, layer: ClientLayer) -> EchoClient<TracedChannel> {
    EchoClient::with_origin(traced_channel(addr, layer).await, origin(addr))
}

/// A server and a client recording into one sink, with the conventions `semconv`.
async fn setup(semconv: RpcSemconv) -> (MemorySink, SocketAddr, EchoClient<TracedChannel>) {
    let sink = MemorySink::new();
    let server = ServerLayer::new(common::service_tracer("echo", &sink)).rpc_semconv(semconv);
    let addr = serve_grpc(server, EchoService::default()).await;
    let caller = ClientLayer::new(common::service_tracer("caller", &sink)).rpc_semconv(semconv);
    (sink.clone(), addr, client(addr, caller).await)
}

fn request(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.to_string(),
        ..Default::default()
    }
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attribute(key)
}

fn str_attr(value: &str) -> Option<Value> {
    Some(Value::from(value.to_string()))
}

/// The two spans of one call: (client, server), in one trace, the server a remote child.
fn call_spans(sink: &MemorySink) -> (SpanData, SpanData) {
    let spans = sink.wait_for(2, Duration::from_secs(5)).unwrap();
    let client = one_span(&spans, "caller", SpanKind::Client).clone();
    let server = one_span(&spans, "echo", SpanKind::Server).clone();
    assert_eq!(
        server.span_context.trace_id(),
        client.span_context.trace_id()
    );
    assert_eq!(server.parent_span_id, Some(client.span_context.span_id()));
    assert!(server.parent_is_remote);
    sink.take();
    (client, server)
}

fn error_message(span: &SpanData) -> &str {
    match &span.status {
        SpanStatus::Error { message } => message,
        other => panic!("{}: not an error: {other:?}", span.name),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_ok_with_the_default_names() {
    let (sink, addr, mut client) = setup(RpcSemconv::Old).await;
    let reply = client.unary(request("hello")).await.unwrap().into_inner();
    assert_eq!(reply.message, "hello");

    let (client_span, server_span) = call_spans(&sink);
    for span in [&client_span, &server_span] {
        assert_eq!(span.name, UNARY);
        assert_eq!(attr(span, "rpc.system"), str_attr("grpc").as_ref());
        assert_eq!(
            attr(span, "rpc.service"),
            str_attr("tracewire.test.Echo").as_ref()
        );
        assert_eq!(attr(span, "rpc.method"), str_attr("Unary").as_ref());
        assert_eq!(attr(span, "rpc.grpc.status_code"), Some(&Value::I64(0)));
        assert_eq!(attr(span, "rpc.system.name"), None);
        assert_eq!(attr(span, "rpc.response.status_code"), None);
        // No HTTP conventions on an RPC span.
        assert_eq!(attr(span, "http.request.method"), None);
        assert_eq!(attr(span, "http.response.status_code"), None);
        assert_eq!(span.status, SpanStatus::Unset);
        assert_eq!(
            attr(span, "server.port"),
            Some(&Value::I64(addr.port().into()))
        );
        assert_eq!(attr(span, "server.address"), str_attr("127.0.0.1").as_ref());
    }
    assert_eq!(attr(&server_span, "app.handled"), Some(&Value::Bool(true)));
    assert_eq!(
        attr(&server_span, "client.address"),
        str_attr("127.0.0.1").as_ref()
    );
    // The connection's peer, from tonic's connect info (the client's port is tonic's).
    assert_eq!(
        attr(&server_span, "network.peer.address"),
        str_attr("127.0.0.1").as_ref()
    );
    assert!(
        matches!(attr(&server_span, "network.peer.port"), Some(&Value::I64(port)) if port > 0),
        "{server_span:?}"
    );
    assert_eq!(attr(&client_span, "network.peer.address"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_error_code_and_message_on_both_spans() {
    let (sink, _, mut client) = setup(RpcSemconv::Old).await;
    let failing = EchoRequest {
        fail_code: tonic::Code::Unavailable as i32,
        fail_message: "down for maintenance: café 100%".to_string(),
        ..request("x")
    };
    let status = client.unary(failing).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);

    let (client_span, server_span) = call_spans(&sink);
    for span in [&client_span, &server_span] {
        assert_eq!(attr(span, "rpc.grpc.status_code"), Some(&Value::I64(14)));
        assert_eq!(attr(span, "error.type"), str_attr("UNAVAILABLE").as_ref());
        // tonic percent-encodes the message; the span has it decoded.
        assert_eq!(error_message(span), "down for maintenance: café 100%");
    }

    // NOT_FOUND: the caller's error, not the server's.
    let missing = EchoRequest {
        fail_code: tonic::Code::NotFound as i32,
        fail_message: "no such cart".to_string(),
        ..request("x")
    };
    client.unary(missing).await.unwrap_err();
    let (client_span, server_span) = call_spans(&sink);
    assert_eq!(error_message(&client_span), "no such cart");
    assert_eq!(server_span.status, SpanStatus::Unset);
    assert_eq!(
        attr(&server_span, "rpc.grpc.status_code"),
        Some(&Value::I64(5))
    );
}

/// The client's view of each response head: whether `grpc-status` was in the headers.
type SeenHeads = Arc<Mutex<Vec<bool>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailers_only_errors() {
    let sink = MemorySink::new();
    let server =
        ServerLayer::new(common::service_tracer("echo", &sink)).rpc_semconv(RpcSemconv::New);
    let addr = serve_grpc(server, EchoService::default()).await;
    let channel = Endpoint::from(origin(addr)).connect().await.unwrap();
    let heads = SeenHeads::default();
    let seen = heads.clone();
    let traced = ServiceBuilder::new()
        .layer(
            ClientLayer::new(common::service_tracer("caller", &sink)).rpc_semconv(RpcSemconv::New),
        )
        .map_response(move |response: http::Response<tonic::body::Body>| {
            let trailers_only = response.headers().contains_key("grpc-status");
            seen.lock().unwrap().push(trailers_only);
            response
        })
        .service(channel);
    let mut grpc = tonic::client::Grpc::with_origin(traced, origin(addr));

    // A method the server does not have: tonic's router answers UNIMPLEMENTED, trailers-only.
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/tracewire.test.Echo/Missing");
    let codec = tonic_prost::ProstCodec::<EchoRequest, EchoReply>::default();
    let status = grpc
        .unary(Request::new(request("x")), path, codec)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    assert_eq!(*heads.lock().unwrap(), [true]);

    let (client_span, server_span) = call_spans(&sink);
    for span in [&client_span, &server_span] {
        assert_eq!(
            attr(span, "rpc.response.status_code"),
            str_attr("UNIMPLEMENTED").as_ref()
        );
        // UNIMPLEMENTED is a server error too.
        assert!(matches!(span.status, SpanStatus::Error { .. }));
    }
    // The client called the method it meant to.
    assert_eq!(client_span.name, "tracewire.test.Echo/Missing");
    assert_eq!(
        attr(&client_span, "rpc.method"),
        str_attr("tracewire.test.Echo/Missing").as_ref()
    );
    // The server does not have it: the name is the caller's, of any cardinality, so `_OTHER`.
    assert_eq!(server_span.name, "grpc");
    assert_eq!(
        attr(&server_span, "rpc.method"),
        str_attr("_OTHER").as_ref()
    );
    assert_eq!(
        attr(&server_span, "rpc.method_original"),
        str_attr("tracewire.test.Echo/Missing").as_ref()
    );

    // A handler's error is trailers-only as well.
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/tracewire.test.Echo/Unary");
    let codec = tonic_prost::ProstCodec::<EchoRequest, EchoReply>::default();
    let failing = EchoRequest {
        fail_code: tonic::Code::DeadlineExceeded as i32,
        fail_message: "too slow".into(),
        ..request("x")
    };
    grpc.unary(Request::new(failing), path, codec)
        .await
        .unwrap_err();
    assert_eq!(*heads.lock().unwrap(), [true, true]);
    let (client_span, server_span) = call_spans(&sink);
    for span in [&client_span, &server_span] {
        assert_eq!(
            attr(span, "rpc.response.status_code"),
            str_attr("DEADLINE_EXCEEDED").as_ref()
        );
        assert_eq!(error_message(span), "too slow");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stream_is_timed_whole_and_fails_in_its_trailers() {
    let (sink, _, mut client) = setup(RpcSemconv::Old).await;
    let streaming = EchoRequest {
        count: 5,
        interval_ms: 50,
        fail_code: tonic::Code::Internal as i32,
        fail_message: "disk on fire".into(),
        ..request("tick")
    };
    let started = std::time::Instant::now();
    let mut stream = client.server_stream(streaming).await.unwrap().into_inner();
    // The response head arrives at once, with HTTP 200: no status yet.
    assert!(sink.spans().is_empty());
    let mut replies = 0;
    let error = loop {
        match stream.message().await {
            Ok(Some(_)) => replies += 1,
            Ok(None) => panic!("the stream should fail"),
            Err(status) => break status,
        }
    };
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!((replies, error.code()), (5, tonic::Code::Internal));

    let (client_span, server_span) = call_spans(&sink);
    for span in [&client_span, &server_span] {
        assert_eq!(span.name, SERVER_STREAM);
        let duration = span.end_unix_nanos - span.start_unix_nanos;
        assert!(duration >= 250_000_000, "{}: {duration} ns", span.name);
        assert_eq!(attr(span, "rpc.grpc.status_code"), Some(&Value::I64(13)));
        assert_eq!(error_message(span), "disk on fire");
    }

    // A stream that ends well is OK.
    let streaming = EchoRequest {
        count: 2,
        interval_ms: 10,
        ..request("tick")
    };
    let mut stream = client.server_stream(streaming).await.unwrap().into_inner();
    while stream.message().await.unwrap().is_some() {}
    let (client_span, server_span) = call_spans(&sink);
    for span in [&client_span, &server_span] {
        assert_eq!(attr(span, "rpc.grpc.status_code"), Some(&Value::I64(0)));
        assert_eq!(span.status, SpanStatus::Unset);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_dropped_before_its_trailers_is_cancelled() {
    let (sink, _, mut client) = setup(RpcSemconv::Old).await;
    let streaming = EchoRequest {
        count: 1000,
        interval_ms: 10,
        ..request("tick")
    };
    let mut stream = client.server_stream(streaming).await.unwrap().into_inner();
    stream.message().await.unwrap().unwrap();
    drop(stream);

    let (client_span, server_span) = call_spans(&sink);
    assert_eq!(
        attr(&client_span, "tracewire.request.cancelled"),
        Some(&Value::Bool(true))
    );
    assert_eq!(client_span.status, SpanStatus::Unset);
    assert_eq!(
        attr(&server_span, "rpc.grpc.status_code"),
        Some(&Value::I64(1))
    );
    assert_eq!(
        attr(&server_span, "tracewire.client.disconnected"),
        Some(&Value::Bool(true))
    );
    assert_eq!(server_span.status, SpanStatus::Unset);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_streaming_and_bidirectional_calls_end_with_their_streams() {
    let (sink, _, mut client) = setup(RpcSemconv::Old).await;

    // Client streaming: the requests trickle in for ≥ 100 ms.
    let requests =
        tokio_stream::iter(["a", "b", "c"].map(request)).throttle(Duration::from_millis(50));
    let reply = client.client_stream(requests).await.unwrap().into_inner();
    assert_eq!(reply.message, "abc");
    let (client_span, server_span) = call_spans(&sink);
    for span in [&client_span, &server_span] {
        assert_eq!(span.name, "tracewire.test.Echo/ClientStream");
        assert!(span.end_unix_nanos - span.start_unix_nanos >= 100_000_000);
        assert_eq!(attr(span, "rpc.grpc.status_code"), Some(&Value::I64(0)));
    }

    // Bidirectional: the spans end when both sides are done.
    let requests = tokio_stream::iter(["x", "y"].map(request)).throttle(Duration::from_millis(50));
    let mut replies = client.bidi(requests).await.unwrap().into_inner();
    let mut got = Vec::new();
    while let Some(reply) = replies.message().await.unwrap() {
        got.push(reply.message);
    }
    assert_eq!(got, ["X", "Y"]);
    let (client_span, server_span) = call_spans(&sink);
    for span in [&client_span, &server_span] {
        assert_eq!(span.name, "tracewire.test.Echo/Bidi");
        assert!(span.end_unix_nanos - span.start_unix_nanos >= 50_000_000);
        assert_eq!(attr(span, "rpc.grpc.status_code"), Some(&Value::I64(0)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_conventions_and_both() {
    let failing = || EchoRequest {
        fail_code: tonic::Code::Unavailable as i32,
        fail_message: "later".into(),
        ..request("x")
    };

    let (sink, _, mut client) = setup(RpcSemconv::New).await;
    client.unary(failing()).await.unwrap_err();
    let (client_span, server_span) = call_spans(&sink);
    for span in [&client_span, &server_span] {
        assert_eq!(span.name, UNARY);
        assert_eq!(attr(span, "rpc.system.name"), str_attr("grpc").as_ref());
        assert_eq!(attr(span, "rpc.method"), str_attr(UNARY).as_ref());
        assert_eq!(
            attr(span, "rpc.response.status_code"),
            str_attr("UNAVAILABLE").as_ref()
        );
        for old in ["rpc.system", "rpc.service", "rpc.grpc.status_code"] {
            assert_eq!(attr(span, old), None, "{old}");
        }
        assert!(attr(span, "server.address").is_some());
        assert_eq!(error_message(span), "later");
    }

    let (sink, _, mut client) = setup(RpcSemconv::Dup).await;
    client.unary(failing()).await.unwrap_err();
    let (client_span, server_span) = call_spans(&sink);
    for span in [&client_span, &server_span] {
        assert_eq!(span.name, UNARY);
        assert_eq!(attr(span, "rpc.system"), str_attr("grpc").as_ref());
        assert_eq!(attr(span, "rpc.system.name"), str_attr("grpc").as_ref());
        assert_eq!(
            attr(span, "rpc.service"),
            str_attr("tracewire.test.Echo").as_ref()
        );
        // The one shared name takes the new value.
        assert_eq!(attr(span, "rpc.method"), str_attr(UNARY).as_ref());
        assert_eq!(attr(span, "rpc.grpc.status_code"), Some(&Value::I64(14)));
        assert_eq!(
            attr(span, "rpc.response.status_code"),
            str_attr("UNAVAILABLE").as_ref()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_recorded_only_when_listed() {
    let sink = MemorySink::new();
    let server = ServerLayer::new(common::service_tracer("echo", &sink))
        .rpc_semconv(RpcSemconv::Old)
        .record_request_header("x-tenant")
        // Listed twice (header names are case-insensitive): still one attribute.
        .record_request_header("X-Tenant");
    let addr = serve_grpc(server, EchoService::default()).await;
    let caller = ClientLayer::new(common::service_tracer("caller", &sink))
        .rpc_semconv(RpcSemconv::New)
        .record_request_header("x-tenant")
        .record_request_header("X-Tenant");
    let mut client = client(addr, caller).await;
    let mut call = Request::new(request("x"));
    call.metadata_mut()
        .insert("x-tenant", "acme".parse().unwrap());
    call.metadata_mut()
        .insert("x-secret", "s3cr3t".parse().unwrap());
    client.unary(call).await.unwrap();
    let (client_span, server_span) = call_spans(&sink);
    let tenant = Some(Value::from(vec!["acme".to_string()]));
    assert_eq!(
        attr(&server_span, "rpc.grpc.request.metadata.x-tenant"),
        tenant.as_ref()
    );
    assert_eq!(
        attr(&client_span, "rpc.request.metadata.x-tenant"),
        tenant.as_ref()
    );
    for span in [&client_span, &server_span] {
        assert!(
            span.attributes
                .iter()
                .all(|kv| !kv.key.contains("x-secret")),
            "{span:#?}"
        );
        let tenant_keys = span
            .attributes
            .iter()
            .filter(|kv| kv.key.ends_with("metadata.x-tenant"))
            .count();
        assert_eq!(tenant_keys, 1, "{span:#?}");
    }
}

/// HTTP (axum) → gRPC (tonic) → HTTP (axum): one trace, each span the child of the one before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_across_http_grpc_http() {
    let sink = MemorySink::new();

    // Service B: plain HTTP, reports the traceparent it received.
    let inventory = Router::new()
        .route(
            "/stock/{item}",
            get(|headers: http::HeaderMap| async move {
                headers
                    .get("traceparent")
                    .map_or(String::new(), |v| v.to_str().unwrap().to_string())
            }),
        )
        .layer(ServerLayer::new(common::service_tracer("inventory", &sink)));
    let b = serve(inventory).await;

    // The gRPC service: its handler calls B through a traced hyper client.
    let catalog = common::service_tracer("catalog", &sink);
    let http = ServiceBuilder::new()
        .layer(ClientLayer::new(catalog.clone()))
        .service(Client::builder(TokioExecutor::new()).build_http());
    let grpc = serve_grpc(
        ServerLayer::new(catalog).rpc_semconv(RpcSemconv::Old),
        EchoService { http: Some(http) },
    )
    .await;

    // Service A: HTTP, its handler calls the gRPC service through a traced channel.
    let orders = common::service_tracer("orders", &sink);
    let channel = traced_channel(
        grpc,
        ClientLayer::new(orders.clone()).rpc_semconv(RpcSemconv::Old),
    )
    .await;
    let a = Router::new()
        .route(
            "/orders",
            get(
                |State((channel, b)): State<(TracedChannel, SocketAddr)>,
                 span: SpanRef| async move {
                    span.set_attribute("app.step", "a");
                    let mut client = EchoClient::new(channel);
                    let call = EchoRequest {
                        call_url: format!("http://{b}/stock/7"),
                        ..request("")
                    };
                    client.unary(call).await.unwrap().into_inner().message
                },
            ),
        )
        .with_state((channel, b))
        .layer(ServerLayer::new(orders));
    let a = serve(a).await;

    let edge = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let response = edge
        .get(format!("http://{a}/orders").parse().unwrap())
        .await
        .unwrap();
    let seen_by_b = response.into_body().collect().await.unwrap().to_bytes();
    let seen_by_b = String::from_utf8_lossy(&seen_by_b).into_owned();

    let spans = sink.wait_for(5, Duration::from_secs(5)).unwrap();
    let a_server = one_span(&spans, "orders", SpanKind::Server);
    let a_client = one_span(&spans, "orders", SpanKind::Client);
    let grpc_server = one_span(&spans, "catalog", SpanKind::Server);
    let grpc_client = one_span(&spans, "catalog", SpanKind::Client);
    let b_server = one_span(&spans, "inventory", SpanKind::Server);

    let trace = a_server.span_context.trace_id();
    for span in [a_client, grpc_server, grpc_client, b_server] {
        assert_eq!(span.span_context.trace_id(), trace, "{}", span.name);
    }
    assert_eq!(a_server.parent_span_id, None);
    let parent_of = |child: &SpanData, parent: &SpanData, remote: bool| {
        assert_eq!(
            child.parent_span_id,
            Some(parent.span_context.span_id()),
            "{} → {}",
            parent.name,
            child.name
        );
        assert_eq!(child.parent_is_remote, remote, "{}", child.name);
    };
    parent_of(a_client, a_server, false);
    parent_of(grpc_server, a_client, true);
    parent_of(grpc_client, grpc_server, false);
    parent_of(b_server, grpc_client, true);
    assert_eq!(
        seen_by_b,
        format!("00-{trace}-{}-03", grpc_client.span_context.span_id())
    );

    assert_eq!(a_server.name, "GET /orders");
    assert_eq!(a_client.name, UNARY);
    assert_eq!(grpc_server.name, UNARY);
    assert_eq!(grpc_client.name, "GET");
    assert_eq!(b_server.name, "GET /stock/{item}");
    assert_eq!(attr(a_client, "rpc.grpc.status_code"), Some(&Value::I64(0)));
    // Each span ends after its children.
    for (parent, child) in [
        (a_server, a_client),
        (a_client, grpc_server),
        (grpc_server, grpc_client),
    ] {
        assert!(
            parent.end_unix_nanos >= child.end_unix_nanos,
            "{}",
            child.name
        );
    }
}
