//! A tonic server traced by the server layer, called through a `Channel` traced by the client
//! layer: a unary call, a failing call and a server-streaming call. Finished spans are printed
//! to stdout. The service is the one the tests use (`tests/proto/echo.proto`, compiled by
//! `build.rs` with the `grpc-test-protos` feature).
//!
//! ```text
//! cargo run --example grpc --features grpc-test-protos
//! OTEL_SEMCONV_STABILITY_OPT_IN=rpc cargo run --example grpc --features grpc-test-protos   # the new names
//! ```

use std::pin::Pin;
use std::time::Duration;

use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::{Endpoint, Server};
use tonic::{Request, Response, Status};
use tower::ServiceBuilder;
use tracewire::Tracer;
use tracewire::http::{ClientLayer, ServerLayer};
use tracewire::integrations::tonic::RequestExt;
use tracewire::sink::{Exporter, StdoutExporter};

mod pb {
    tonic::include_proto!("tracewire.test");
}

use pb::echo_client::EchoClient;
use pb::echo_server::{Echo, EchoServer};
use pb::{EchoReply, EchoRequest};

type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        // The call's span, for attributes; child spans need no handle.
        request
            .span()
            .set_attribute("app.message.length", request.get_ref().message.len() as i64);
        let request = request.into_inner();
        if request.fail_code != 0 {
            return Err(Status::new(request.fail_code.into(), request.fail_message));
        }
        let message = tracewire::span("echo.compose")
            .in_scope(async move { format!("hello, {}", request.message) })
            .await;
        Ok(Response::new(EchoReply { message }))
    }

    type ServerStreamStream = ReplyStream;

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<ReplyStream>, Status> {
        let request = request.into_inner();
        let every = Duration::from_millis(request.interval_ms.into());
        let replies = tokio_stream::iter(0..request.count)
            .map(move |i| {
                Ok(EchoReply {
                    message: format!("{} {i}", request.message),
                })
            })
            .throttle(every);
        Ok(Response::new(Box::pin(replies)))
    }

    type BidiStream = ReplyStream;

    async fn client_stream(
        &self,
        _request: Request<tonic::Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        Err(Status::unimplemented("not in this example"))
    }

    async fn bidi(
        &self,
        _request: Request<tonic::Streaming<EchoRequest>>,
    ) -> Result<Response<ReplyStream>, Status> {
        Err(Status::unimplemented("not in this example"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tracer = Tracer::builder()
        .service_name("grpc-example")
        .sink(StdoutExporter::pretty().batched())
        .build();

    // Server: one line.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = Server::builder()
        .layer(ServerLayer::new(tracer.clone()))
        .add_service(EchoServer::new(EchoService))
        .serve_with_incoming(TcpListenerStream::new(listener));
    tokio::spawn(server);

    // Client: the channel wrapped with the client layer. `with_origin` lets the client span
    // record `server.address` and `server.port`.
    let origin: http::Uri = format!("http://{addr}").parse()?;
    let channel = Endpoint::from(origin.clone()).connect().await?;
    let channel = ServiceBuilder::new()
        .layer(ClientLayer::new(tracer.clone()))
        .service(channel);
    let mut client = EchoClient::with_origin(channel, origin);

    let reply = client
        .unary(EchoRequest {
            message: "world".into(),
            ..Default::default()
        })
        .await?;
    println!("unary: {}", reply.into_inner().message);

    let failed = client
        .unary(EchoRequest {
            fail_code: tonic::Code::Unavailable as i32,
            fail_message: "down for maintenance".into(),
            ..Default::default()
        })
        .await;
    println!("failing unary: {:?}", failed.map_err(|s| s.code()));

    let mut stream = client
        .server_stream(EchoRequest {
            message: "tick".into(),
            count: 3,
            interval_ms: 100,
            ..Default::default()
        })
        .await?
        .into_inner();
    while let Some(reply) = stream.message().await? {
        println!("stream: {}", reply.message);
    }

    println!("spans:");
    tracer.shutdown(Duration::from_secs(5))?;
    Ok(())
}
