//! The server layer: one SERVER span per request.
//!
//! Read the files in the order a request meets them: [`layer`](ServerLayer) (configuration),
//! `service` (extract the caller's context, sample, start the span, run the handler inside
//! it), `future` (record the response head), `body` (end the span when the body is sent).
//!
//! # What is recorded
//!
//! Following the stable OpenTelemetry HTTP semantic conventions:
//!
//! - name `{method} {http.route}`, or `{method}` without a route, `HTTP` for unknown methods;
//! - `http.request.method` (unknown methods as `_OTHER` with `http.request.method_original`;
//!   which are known is [`KnownMethods`](crate::http::KnownMethods)' business),
//!   `http.route` (axum's matched route, with the `axum` feature), `url.path`, `url.query`
//!   (values of signature parameters such as `sig` or `X-Amz-Signature` replaced by
//!   `REDACTED`), `url.scheme`, `network.protocol.version`, `server.address`, `server.port`,
//!   `client.address`, `network.peer.address`, `network.peer.port`, `user_agent.original`,
//!   `http.response.status_code`, and `error.type`
//!   (the status code for 5xx and codes past 599, the error's type for a failed service or
//!   body, `client_disconnected` when the client went away first);
//! - behind proxies, the original request: `client.address`, `server.address`/`server.port`
//!   and `url.scheme` come from the first element of `Forwarded` (`for`, `host`, `proto`),
//!   else from `X-Forwarded-For`, `X-Forwarded-Host` and `X-Forwarded-Proto`, as the
//!   conventions prefer; without them from HTTP/2's `:authority`, then `Host`, and the peer
//!   address. These headers are the caller's word: a service that faces the internet directly
//!   should strip them at its edge;
//! - the peer of the connection (the nearest proxy, if any), whatever the headers say:
//!   `network.peer.address` and `network.peer.port`. Only when the server tells the layer: with
//!   `axum::serve(listener, app)` it does not, so the peer, `client.address` (without proxy
//!   headers) and `network.peer.*` are missing; serve
//!   `app.into_make_service_with_connect_info::<SocketAddr>()` instead (see
//!   [`ServerLayer`](ServerLayer#the-peer-address)). tonic's server always does;
//! - request and response headers only for the names you list;
//! - error status for 5xx, codes past 599, errors and disconnections, never for 4xx.
//!
//! Only `http.request.method` and `http.route` are known to the sampler (per-route rules);
//! the rest is added only when the span records, so an unsampled request allocates nothing
//! for its span (an incoming `tracestate` is the exception: it is copied, to be sent
//! on). A sampler that decides from the incoming context alone (parent-based, ratio,
//! always on or off: see [`uses_span_details`](crate::sampling::ShouldSample::uses_span_details))
//! is asked before the span is named, so a request it drops skips the route lookup too.
//!
//! A gRPC call (`content-type: application/grpc…`) is recorded with the RPC conventions
//! instead: see [`grpc`](crate::http::grpc).
//!
//! # When the span ends
//!
//! When the response body has been sent completely (its end of stream or its trailers; a body
//! dropped after the last byte of its length, as the body's size or the handler's
//! `content-length` gives it, is complete too, as HTTP/1.1 servers stop there), when the body
//! fails, when the inner service fails, or when the body is dropped before its end. That
//! means the client went away: recorded as
//! `tracewire.client.disconnected = true`, an event, `error.type = client_disconnected` and
//! error status (the conventions' Status section: a response that could not be sent fully is
//! an error). A response that has no body (to `HEAD`, or with a 1xx, 204 or 304 status) is
//! complete when its head is. Streaming responses are timed whole. A gRPC call's span ends at its trailers (its
//! status), or with its headers when the response is trailers-only.
//!
//! # Reaching the span from a handler
//!
//! A recording span is put in the request's extensions as a [`SpanRef`](crate::SpanRef), and
//! with the `axum` feature `SpanRef` is an extractor. Child spans need neither: the span is
//! current for the handler's future, so [`tracewire::span`](fn@crate::span) is its child.

mod future;
mod layer;
mod service;

pub use crate::http::body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::ServerLayer;
pub use service::TraceService;
