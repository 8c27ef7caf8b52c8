//! The recommended setup, end to end: a tracer from the `OTEL_*` variables, an axum server
//! traced by the server layer, a hyper client traced by the client layer, and a graceful
//! shutdown that exports the spans of the requests still in flight. Each finished trace is
//! drawn as a tree (the tree sink, for development).
//!
//! ```text
//! cargo run --example quickstart            # one request, then stops
//! cargo run --example quickstart -- --serve # serves on 127.0.0.1:3000 until Ctrl-C or SIGTERM
//! ```
//!
//! What it prints (`--serve` aside). The tree sink draws what one process holds: the server's
//! part when its span ends (its parent, the client's span, is still open then), the rest,
//! continued, when the root ends.
//!
//! ```text
//! Trace: 298b96ff7ed04196b00a41f85eeb5595 (total: 145µs)
//! ├── [quickstart] GET /hello/{name} 145µs  (remote parent 415b25ee9adfad87)  ← root cause
//! │   └── [quickstart] compose greeting 39µs
//! │       └── [quickstart] check name 3.8µs
//! └── 3 spans, 1 service; root cause: [quickstart] GET /hello/{name} (106µs self, 73% of the trace)
//! response: hello, world
//! Trace: 298b96ff7ed04196b00a41f85eeb5595 (continued)
//! ├── [quickstart] quickstart request 1.7ms
//! │   └── [quickstart] GET 1.6ms  ← root cause
//! └── 2 spans, 1 service; root cause: [quickstart] GET (1.6ms self, 93% of the trace)
//! shut down: 5 spans exported, 0 lost
//! ```

use std::net::SocketAddr;
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
    // One tracer per service. `from_env` reads OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER,
    // OTEL_PROPAGATORS, …; settings in code win over them, and `strict` refuses bad values.
    let tracer = Tracer::from_env()
        .service_name("quickstart")
        // Development: each trace drawn when it ends. In production, drop this line and let
        // OTEL_EXPORTER_OTLP_ENDPOINT choose the collector (feature `otlp`).
        .sink(TreeSink::stdout())
        .strict()?
        .build();

    let app = Router::new()
        .route("/hello/{name}", get(hello))
        .layer(ServerLayer::new(tracer.clone()));
    let serve = std::env::args().any(|arg| arg == "--serve");
    let addr: SocketAddr = if serve {
        "127.0.0.1:3000"
    } else {
        "127.0.0.1:0"
    }
    .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        // Connect info gives server spans the peer: `client.address`, `network.peer.*`.
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            // SIGTERM or Ctrl-C; here also the end of the one request below.
            tokio::select! {
                () = tracewire::shutdown_signal() => {}
                _ = finished => {}
            }
        })
        .await
    });

    if serve {
        println!("serving on http://{addr}/hello/world; Ctrl-C stops");
    } else {
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
                let body = response.into_body().collect().await?.to_bytes();
                println!("response: {}", String::from_utf8_lossy(&body));
                Ok::<_, Box<dyn std::error::Error>>(())
            })
            .await?;
        let _ = done.send(());
    }

    // In-flight requests finish, then whatever the sink holds is exported.
    server.await??;
    let stats = tracer.shutdown(Duration::from_secs(5))?;
    println!(
        "shut down: {} spans exported, {} lost",
        stats.sink.exported,
        stats.sink.dropped()
    );
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
