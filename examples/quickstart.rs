//! An axum server traced by the server layer, called by a hyper client traced by the client
//! layer; each finished trace is printed as a tree (the tree sink, for development).
//!
//! ```text
//! cargo run --example quickstart
//! ```

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder, ServiceExt};
use tracewire::Tracer;
use tracewire::http::{ClientLayer, ServerLayer};
use tracewire::sink::TreeSink;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One tracer per service; here the server and the client share it.
    let tracer = Tracer::builder()
        .service_name("quickstart")
        // Development: each trace drawn as a tree when it ends. In production, an exporter:
        // `.exporter(OtlpExporter::http("http://localhost:4318")?)` (feature `otlp`).
        .sink(TreeSink::stdout())
        .build();

    let app = Router::new()
        .route("/hello/{name}", get(hello))
        .layer(ServerLayer::new(tracer.clone()).server_timing(true));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut client = ServiceBuilder::new()
        .layer(ClientLayer::new(tracer.clone()))
        .service(Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>());

    // The client span is a child of this one; the server's span continues the same trace.
    tracer
        .span("quickstart request")
        .in_scope(async {
            let request =
                http::Request::get(format!("http://{addr}/hello/world")).body(Empty::new())?;
            let response = client.ready().await?.call(request).await?;
            let timing = response.headers().get("server-timing").cloned();
            let body = response.into_body().collect().await?.to_bytes();
            println!("response: {}", String::from_utf8_lossy(&body));
            if let Some(timing) = timing {
                println!("server-timing: {}", timing.to_str()?);
            }
            Ok::<_, Box<dyn std::error::Error>>(())
        })
        .await?;

    println!();
    tracer.shutdown(Duration::from_secs(5))?;
    Ok(())
}

async fn hello(Path(name): Path<String>) -> String {
    // A child of the request's span, with no tracer in hand.
    tracewire::span("compose greeting")
        .attr("app.name.length", name.len() as i64)
        .in_scope(async move {
            // Synchronous work: a local span, kept on this thread until the poll ends.
            let _check = tracewire::local_span("check name");
            format!("hello, {name}")
        })
        .await
}
