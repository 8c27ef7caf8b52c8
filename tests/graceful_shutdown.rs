//! A real axum server stopped by SIGTERM mid-load, the way an orchestrator stops a service:
//! the requests in flight finish, and every span they made is exported by the tracer's
//! shutdown (its own test binary, since it signals its own process).
#![cfg(unix)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tracewire::Tracer;
use tracewire::http::ServerLayer;
use tracewire::sink::{BatchConfig, BatchSink, BoxFuture, ExportError, Exporter};
use tracewire::span::SpanData;

/// Counts the spans it is sent.
#[derive(Debug, Clone, Default)]
struct Counting(Arc<AtomicUsize>);

impl Exporter for Counting {
    fn export<'a>(&'a self, batch: &'a [SpanData]) -> BoxFuture<'a, Result<(), ExportError>> {
        self.0.fetch_add(batch.len(), Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
}

async fn slow(State(in_flight): State<Arc<AtomicUsize>>) -> &'static str {
    in_flight.fetch_add(1, Ordering::SeqCst);
    tracewire::span("prepare answer")
        .in_scope(tokio::time::sleep(Duration::from_millis(300)))
        .await;
    "done"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_load_exports_every_span_of_the_requests_in_flight() {
    let exported = Counting::default();
    let tracer = Tracer::builder()
        .service_name("orders")
        .sink(BatchSink::with_config(
            exported.clone(),
            BatchConfig {
                // Only the shutdown exports: without it, these spans would be lost.
                scheduled_delay: Duration::from_secs(3600),
                ..BatchConfig::default()
            },
        ))
        .build();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/slow", get(slow))
        .with_state(in_flight.clone())
        .layer(ServerLayer::new(tracer.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The handlers are installed now: the signal below neither kills the process nor is missed.
    let stop = tracewire::shutdown_signal();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
            .unwrap()
    });

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let uri = format!("http://{addr}/slow").parse().unwrap();
                let response = client.get(uri).await.unwrap();
                let status = response.status();
                response.into_body().collect().await.unwrap();
                status
            })
        })
        .collect();
    while in_flight.load(Ordering::SeqCst) < 8 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let pid = std::process::id().to_string();
    let sent = std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .unwrap();
    assert!(sent.success());
    server.await.unwrap();
    for request in requests {
        assert_eq!(request.await.unwrap(), http::StatusCode::OK);
    }

    let stats = tokio::task::spawn_blocking(move || tracer.shutdown(Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();
    // Eight server spans and eight child spans, all exported, none lost.
    assert_eq!(exported.0.load(Ordering::SeqCst), 16);
    assert_eq!((stats.sink.exported, stats.sink.dropped()), (16, 0));
}
