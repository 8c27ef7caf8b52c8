//! [`ServerLayer`]: the configuration, and `impl Layer`.

use std::sync::Arc;

use http::HeaderName;
use tower_layer::Layer;

use super::TraceService;
use crate::Tracer;
use crate::http::headers::push_once;
use crate::http::{KnownMethods, RpcSemconv};

/// Traces every request a server handles: one SERVER span per request, a child of the caller's
/// span, current for the whole handler, ended when the response body has been sent.
///
/// See the [module docs](crate::http::server) for what is recorded and when.
///
/// # Example
///
/// ```
/// use axum::{Router, routing::get};
/// use tracewire::Tracer;
/// use tracewire::http::ServerLayer;
/// use tracewire::sink::MemorySink;
///
/// let tracer = Tracer::builder().service_name("users").sink(MemorySink::new()).build();
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "alice" }))
///     .layer(ServerLayer::new(tracer).record_request_header("x-request-id").server_timing(true));
/// ```
///
/// # The peer address
///
/// The layer learns the peer of the connection (`network.peer.address`, `network.peer.port`,
/// and `client.address` when no proxy header names the client) only from the request's
/// extensions, and `axum::serve(listener, app)` puts nothing there: served like that, **a
/// span has no `network.peer.*` and, without `Forwarded`/`X-Forwarded-For`, no
/// `client.address`**. Serve the app with axum's connect info (`ConnectInfo<SocketAddr>`)
/// instead:
///
/// ```no_run
/// use std::net::SocketAddr;
///
/// use axum::{Router, routing::get};
/// use tracewire::Tracer;
/// use tracewire::http::ServerLayer;
///
/// # #[tokio::main]
/// # async fn main() -> std::io::Result<()> {
/// let tracer = Tracer::builder().service_name("users").build();
/// let app: Router = Router::new()
///     .route("/health", get(|| async { "ok" }))
///     .layer(ServerLayer::new(tracer));
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
/// axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
/// # }
/// ```
///
/// tonic's server records the peer (its `TcpConnectInfo`) without being asked. A plain
/// [`SocketAddr`](std::net::SocketAddr) in the extensions, as a hand-written hyper server
/// may insert, is read too.
#[derive(Clone, Debug)]
pub struct ServerLayer {
    pub(crate) tracer: Tracer,
    pub(crate) config: Arc<ServerConfig>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct ServerConfig {
    pub(crate) request_headers: Vec<HeaderName>,
    pub(crate) response_headers: Vec<HeaderName>,
    pub(crate) server_timing: bool,
    pub(crate) traceresponse: bool,
    pub(crate) distrust_incoming: bool,
    pub(crate) rpc_semconv: RpcSemconv,
    pub(crate) known_methods: KnownMethods,
}

impl ServerLayer {
    /// A layer that traces with `tracer` (its propagator reads the incoming context, its
    /// sampler decides). gRPC calls are recorded with the RPC conventions
    /// `OTEL_SEMCONV_STABILITY_OPT_IN` selects (see [`rpc_semconv`](Self::rpc_semconv)).
    pub fn new(tracer: Tracer) -> Self {
        Self {
            tracer,
            config: Arc::new(ServerConfig {
                rpc_semconv: RpcSemconv::process_default(),
                known_methods: KnownMethods::process_default(),
                ..ServerConfig::default()
            }),
        }
    }

    fn config_mut(&mut self) -> &mut ServerConfig {
        Arc::make_mut(&mut self.config)
    }

    /// Records this request header as `http.request.header.<name>` (none are by default:
    /// headers can carry secrets).
    pub fn record_request_header(mut self, name: impl TryInto<HeaderName>) -> Self {
        if let Ok(name) = name.try_into() {
            push_once(&mut self.config_mut().request_headers, name);
        }
        self
    }

    /// Records this response header as `http.response.header.<name>`.
    pub fn record_response_header(mut self, name: impl TryInto<HeaderName>) -> Self {
        if let Ok(name) = name.try_into() {
            push_once(&mut self.config_mut().response_headers, name);
        }
        self
    }

    /// Adds `Server-Timing: trace;desc=00-{trace}-{span}-{flags}` to responses, as the W3C
    /// Trace Context Level 3 draft specifies, so callers and browsers learn the trace id.
    pub fn server_timing(mut self, enabled: bool) -> Self {
        self.config_mut().server_timing = enabled;
        self
    }

    /// Adds the older `traceresponse: 00-{trace}-{span}-{flags}` header, for agents that still
    /// read it.
    pub fn traceresponse(mut self, enabled: bool) -> Self {
        self.config_mut().traceresponse = enabled;
        self
    }

    /// Records gRPC calls with these RPC conventions, whatever `OTEL_SEMCONV_STABILITY_OPT_IN`
    /// says: see [`grpc`](crate::http::grpc) for the names each records.
    ///
    /// ```
    /// use tracewire::Tracer;
    /// use tracewire::http::{RpcSemconv, ServerLayer};
    ///
    /// let tracer = Tracer::builder().service_name("cart").build();
    /// let layer = ServerLayer::new(tracer).rpc_semconv(RpcSemconv::Dup);
    /// ```
    pub fn rpc_semconv(mut self, semconv: RpcSemconv) -> Self {
        self.config_mut().rpc_semconv = semconv;
        self
    }

    /// Records these methods as themselves, and others as `_OTHER`, instead of the list
    /// `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` or the conventions give (see
    /// [`KnownMethods`]).
    pub fn known_methods(mut self, known: KnownMethods) -> Self {
        self.config_mut().known_methods = known;
        self
    }

    /// At the edge: ignore the incoming trace context (a public caller could otherwise force
    /// sampling) and start a new trace, keeping the incoming span as a link.
    pub fn distrust_incoming_context(mut self, distrust: bool) -> Self {
        self.config_mut().distrust_incoming = distrust;
        self
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> TraceService<S> {
        TraceService {
            inner,
            tracer: self.tracer.clone(),
            config: self.config.clone(),
        }
    }
}
