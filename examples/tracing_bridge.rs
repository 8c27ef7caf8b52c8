//! The `tracing` bridge: an axum service whose handlers are `#[instrument]`ed and log with
//! `info!`, traced by tracewire's server layer. Its `tracing` spans become spans of the
//! request's trace, and its JSON log lines carry `trace_id`, `span_id` and `trace_flags`.
//!
//! ```text
//! cargo run --example tracing_bridge            # sends itself a few requests, prints, exits
//! cargo run --example tracing_bridge -- --serve # keeps serving on 127.0.0.1:3000
//! ```

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tracewire::Tracer;
use tracewire::http::ServerLayer;
use tracewire::integrations::tracing::{TraceIds, TracewireLayer};
use tracewire::sampling::Sampler;
use tracewire::sink::MemorySink;
use tracing::instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[instrument]
async fn get_order(Path(id): Path<u64>) -> String {
    tracing::info!(order_id = id, "fetching order");
    let items = load_items(id).await;
    format!("order {id}: {items} items\n")
}

#[instrument(fields(otel.kind = "client", db.system.name = "postgresql", items = tracing::field::Empty))]
async fn load_items(order_id: u64) -> i64 {
    tokio::time::sleep(Duration::from_millis(3)).await;
    let items = 3;
    tracing::Span::current().record("items", items);
    if order_id == 13 {
        tracing::error!(order_id, "unlucky order");
    }
    items
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let serve_forever = std::env::args().any(|arg| arg == "--serve");

    // The bridge, and the one line that puts the ids into the JSON log lines.
    tracing_subscriber::registry()
        .with(TracewireLayer::new())
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .map_event_format(TraceIds::json),
        )
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .init();

    let sink = MemorySink::new();
    let tracer = Tracer::builder()
        .service_name("orders")
        .sampler(Sampler::parent_based(Sampler::always_on()))
        .sink(sink.clone())
        .build();
    let app = Router::new()
        .route("/orders/{id}", get(get_order))
        .layer(ServerLayer::new(tracer.clone()));

    let address = if serve_forever {
        "127.0.0.1:3000"
    } else {
        "127.0.0.1:0"
    };
    let listener = tokio::net::TcpListener::bind(address).await?;
    let addr = listener.local_addr()?;
    if serve_forever {
        println!("serving on http://{addr}/orders/7 (Ctrl-C to stop)");
        axum::serve(listener, app)
            .with_graceful_shutdown(tracewire::shutdown_signal())
            .await?;
        return Ok(());
    }
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    for id in [7, 13] {
        let response = client
            .get(format!("http://{addr}/orders/{id}").parse()?)
            .await?;
        let body = response.into_body().collect().await?.to_bytes();
        print!("response: {}", String::from_utf8_lossy(&body));
    }

    // Server span, get_order and load_items for each request.
    let spans = sink
        .wait_for(6, Duration::from_secs(5))
        .ok_or("the spans did not arrive")?;
    println!("\nspans (the log lines above carry the same ids):");
    for span in &spans {
        println!(
            "  trace_id={} span_id={} parent={} {:?} {:?} {:?}",
            span.span_context.trace_id(),
            span.span_context.span_id(),
            span.parent_span_id
                .map_or_else(|| "-".to_string(), |id| id.to_string()),
            span.kind,
            span.name,
            span.status,
        );
    }
    Ok(())
}
