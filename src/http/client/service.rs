//! [`ClientService`]: starts the client span and injects the trace context.

use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::ResponseFuture;
use super::layer::ClientConfig;
use crate::http::KnownMethods;
use crate::http::attributes::client_request_attributes;
use crate::http::body::ResponseBody;
use crate::http::grpc;
use crate::http::outcome::Classifier;
use crate::propagation::PropagationContext;
use crate::semconv::HTTP_REQUEST_METHOD;
use crate::span::SpanKind;
use crate::{Context, Span, SpanContext, SpanRef, Tracer};

/// The service [`ClientLayer`](super::ClientLayer) wraps around a client.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use http_body_util::BodyExt;
/// use tower::{Layer, ServiceExt, service_fn};
/// use tracewire::http::ClientLayer;
/// use tracewire::sink::MemorySink;
/// use tracewire::Tracer;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let sink = MemorySink::new();
/// let tracer = Tracer::builder().sink(sink.clone()).build();
/// // Stands in for hyper-util's client: answers with the `traceparent` it was sent.
/// let client = ClientLayer::new(tracer).layer(service_fn(|request: Request<String>| async move {
///     let traceparent = request.headers()["traceparent"].to_str().unwrap().to_owned();
///     Ok::<_, Infallible>(Response::new(traceparent))
/// }));
///
/// let request = Request::get("http://inventory/items").body(String::new()).unwrap();
/// let response = client.oneshot(request).await.unwrap();
/// let sent = response.into_body().collect().await.unwrap().to_bytes();
///
/// // The server is told the client span is its parent.
/// let span = &sink.spans()[0];
/// assert!(String::from_utf8_lossy(&sent).contains(&span.span_context.span_id().to_string()));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ClientService<S> {
    pub(crate) inner: S,
    pub(crate) tracer: Tracer,
    pub(crate) config: Arc<ClientConfig>,
}

crate::http::inner_service_accessors!(ClientService);

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ClientService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: fmt::Display,
    ResBody: http_body::Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let config = &self.config;
        let classifier = Classifier::of(&parts.method, &parts.headers, config.rpc_semconv);
        let span = start_client_span(
            &self.tracer,
            &mut parts,
            classifier,
            &config.known_methods,
            &config.request_headers,
        );
        let request = Request::from_parts(parts, body);
        ResponseFuture::new(self.inner.call(request), span, config.clone(), classifier)
    }
}

/// Starts the CLIENT span of an outgoing request (a child of the `SpanContext` in its
/// extensions, else of the current span), named and described by the HTTP or the RPC
/// conventions as `classifier` says, and injects the trace context into its headers,
/// replacing stale values. The one start path of the tower layer and the reqwest middleware.
pub(crate) fn start_client_span(
    tracer: &Tracer,
    request: &mut http::request::Parts,
    classifier: Classifier,
    known_methods: &KnownMethods,
    recorded_headers: &[http::HeaderName],
) -> Span {
    let mut method = "";
    let mut builder = match classifier {
        Classifier::Http => {
            method = known_methods.name(&request.method);
            let mut builder = tracer.span(if method == "_OTHER" { "HTTP" } else { method });
            builder.attr(HTTP_REQUEST_METHOD, method);
            builder
        }
        Classifier::Grpc(semconv) => {
            let (name, attributes) = grpc::start_attributes(request.uri.path(), semconv);
            let mut builder = tracer.span(name);
            builder.attributes(attributes.into_iter().flatten());
            builder
        }
    };
    builder.kind(SpanKind::Client);
    // A parent the caller chose for this request wins over the current span.
    if let Some(parent) = request.extensions.get::<SpanContext>() {
        builder.parent(Some(parent));
    }
    let span = builder.start();
    if span.is_recording() {
        span.add_distinct_attributes(|attributes| match classifier {
            Classifier::Http => {
                client_request_attributes(attributes, request, method, recorded_headers);
            }
            Classifier::Grpc(semconv) => {
                grpc::client_request_attributes(attributes, request, semconv, recorded_headers);
            }
        });
    }
    inject(tracer, &span, request);
    span
}

/// Writes the span's context and the current baggage into the request's headers, replacing
/// stale values.
fn inject(tracer: &Tracer, span: &SpanRef, request: &mut http::request::Parts) {
    let outgoing = PropagationContext {
        span_context: span.span_context().cloned(),
        baggage: Context::current().baggage().cloned().unwrap_or_default(),
    };
    tracer.propagator().inject(&outgoing, &mut request.headers);
}
