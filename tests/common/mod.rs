//! Helpers the HTTP integration tests share.
#![allow(dead_code)]

use std::net::SocketAddr;

use axum::Router;
use tracewire::span::{SpanData, SpanKind};

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
