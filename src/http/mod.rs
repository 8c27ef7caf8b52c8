//! Tower layers that trace HTTP servers and clients.
//!
//! [`ServerLayer`] wraps any `tower::Service<http::Request<B>>` that returns
//! `http::Response<_>`: an axum `Router`, a hyper service, a tower stack. [`ClientLayer`] wraps
//! any client that is such a service: hyper-util's client, tower stacks, tonic channels.
//!
//! Both recognise gRPC calls and record them as the RPC conventions say: see [`grpc`].

/// `get_ref`, `get_mut` and `into_inner` for a service wrapping its `inner` service, written
/// once for the server's and the client's (tower-http's `define_inner_service_accessors!`).
macro_rules! inner_service_accessors {
    ($service:ident) => {
        impl<S> $service<S> {
            /// The wrapped service.
            pub fn get_ref(&self) -> &S {
                &self.inner
            }

            /// The wrapped service, mutably.
            pub fn get_mut(&mut self) -> &mut S {
                &mut self.inner
            }

            /// The wrapped service, unwrapped.
            pub fn into_inner(self) -> S {
                self.inner
            }
        }
    };
}
pub(crate) use inner_service_accessors;

pub(crate) mod attributes;
mod body;
pub(crate) mod classify;
pub mod client;
mod forwarded;
pub mod grpc;
pub(crate) mod headers;
mod interner;
mod methods;
mod origin;
pub(crate) mod outcome;
pub mod server;

#[cfg_attr(not(feature = "reqwest"), allow(unused_imports))]
pub(crate) use body::EarlyDrop;
pub use body::ResponseBody;
pub use client::ClientLayer;
pub use grpc::RpcSemconv;
pub use methods::KnownMethods;
pub use server::ServerLayer;
