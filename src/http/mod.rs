//! Tower layers that trace HTTP servers (and, next, clients).
//!
//! [`ServerLayer`] wraps any `tower::Service<http::Request<B>>` that returns
//! `http::Response<_>`: an axum `Router`, a hyper service, a tower stack.

mod attributes;
pub mod server;

pub use server::ServerLayer;
