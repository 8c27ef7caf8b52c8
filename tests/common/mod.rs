//! Helpers the HTTP integration tests share.
#![allow(dead_code)]

use std::net::SocketAddr;

use axum::Router;
use tracewire::Tracer;
use tracewire::sampling::Sampler;
use tracewire::sink::MemorySink;
use tracewire::span::{SpanData, SpanKind};

/// A tracer for one service of a test's trace, sampling as its parent says (new traces
/// sampled), writing into the test's shared sink.
pub fn service_tracer(service: &'static str, sink: &MemorySink) -> Tracer {
    Tracer::builder()
        .service_name(service)
        .sampler(Sampler::parent_based(Sampler::always_on()))
        .sink(sink.clone())
        .build()
}

/// Serves `app` on 127.0.0.1, on a port the OS picks.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The one span of `kind` that `service` recorded.
pub fn one_span<'a>(spans: &'a [SpanData], service: &str, kind: SpanKind) -> &'a SpanData {
    let found: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.resource.service_name() == service && s.kind == kind)
        .collect();
    assert_eq!(found.len(), 1, "{service} {kind:?}: {spans:#?}");
    found[0]
}
