//! [`ClientLayer`]: the configuration, and `impl Layer`.

use std::sync::Arc;

use http::HeaderName;
use tower_layer::Layer;

use super::ClientService;
use crate::Tracer;
use crate::http::headers::push_once;
use crate::http::{KnownMethods, RpcSemconv};

/// Traces every request a client sends: one CLIENT span per request, a child of the current
/// span (or of a [`SpanContext`](crate::SpanContext) put in the request's extensions), with
/// the trace context injected into the request's headers. The span ends when the response
/// body has been received.
///
/// Works with any `tower::Service<http::Request<B>>`: hyper-util's client, a tonic `Channel`
/// (gRPC calls are recorded as the RPC conventions say: see [`grpc`](crate::http::grpc)), any
/// tower stack.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Empty;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use tower::ServiceBuilder;
/// use tracewire::Tracer;
/// use tracewire::http::ClientLayer;
/// use tracewire::sink::MemorySink;
///
/// let tracer = Tracer::builder().service_name("checkout").sink(MemorySink::new()).build();
/// let hyper_client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
/// let client = ServiceBuilder::new().layer(ClientLayer::new(tracer)).service(hyper_client);
/// ```
#[derive(Clone, Debug)]
pub struct ClientLayer {
    pub(crate) tracer: Tracer,
    pub(crate) config: Arc<ClientConfig>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct ClientConfig {
    pub(crate) request_headers: Vec<HeaderName>,
    pub(crate) response_headers: Vec<HeaderName>,
    pub(crate) rpc_semconv: RpcSemconv,
    pub(crate) known_methods: KnownMethods,
}

impl ClientLayer {
    /// A layer that traces with `tracer` (its propagator writes the outgoing headers). gRPC
    /// calls are recorded with the RPC conventions `OTEL_SEMCONV_STABILITY_OPT_IN` selects
    /// (see [`rpc_semconv`](Self::rpc_semconv)).
    pub fn new(tracer: Tracer) -> Self {
        Self {
            tracer,
            config: Arc::new(ClientConfig {
                rpc_semconv: RpcSemconv::process_default(),
                known_methods: KnownMethods::process_default(),
                ..ClientConfig::default()
            }),
        }
    }

    /// Records gRPC calls with these RPC conventions, whatever `OTEL_SEMCONV_STABILITY_OPT_IN`
    /// says: see [`grpc`](crate::http::grpc) for the names each records.
    ///
    /// ```
    /// use tracewire::Tracer;
    /// use tracewire::http::{ClientLayer, RpcSemconv};
    ///
    /// let layer = ClientLayer::new(Tracer::builder().build()).rpc_semconv(RpcSemconv::New);
    /// # let _ = layer;
    /// ```
    pub fn rpc_semconv(mut self, semconv: RpcSemconv) -> Self {
        Arc::make_mut(&mut self.config).rpc_semconv = semconv;
        self
    }

    /// Records these methods as themselves, and others as `_OTHER`, instead of the list
    /// `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` or the conventions give (see
    /// [`KnownMethods`]).
    ///
    /// ```
    /// use tracewire::Tracer;
    /// use tracewire::http::{ClientLayer, KnownMethods};
    ///
    /// let known = KnownMethods::new(["GET", "POST", "PROPFIND"]);
    /// let layer = ClientLayer::new(Tracer::builder().build()).known_methods(known);
    /// # let _ = layer;
    /// ```
    pub fn known_methods(mut self, known: KnownMethods) -> Self {
        Arc::make_mut(&mut self.config).known_methods = known;
        self
    }

    /// Records this request header as `http.request.header.<name>`.
    pub fn record_request_header(mut self, name: impl TryInto<HeaderName>) -> Self {
        if let Ok(name) = name.try_into() {
            push_once(&mut Arc::make_mut(&mut self.config).request_headers, name);
        }
        self
    }

    /// Records this response header as `http.response.header.<name>`.
    pub fn record_response_header(mut self, name: impl TryInto<HeaderName>) -> Self {
        if let Ok(name) = name.try_into() {
            push_once(&mut Arc::make_mut(&mut self.config).response_headers, name);
        }
        self
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> ClientService<S> {
        ClientService {
            inner,
            tracer: self.tracer.clone(),
            config: self.config.clone(),
        }
    }
}
