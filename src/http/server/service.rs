//! [`TraceService`]: starts the span and runs the inner service inside it.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::ResponseFuture;
use super::layer::ServerConfig;
use crate::Tracer;
use crate::http::attributes::{server_request_attributes, span_name_and_route};
use crate::http::body::ResponseBody;
use crate::http::grpc;
use crate::http::outcome::Classifier;
use crate::semconv::{HTTP_REQUEST_METHOD, HTTP_ROUTE};
use crate::span::{Link, SpanKind};
use crate::tracer::SpanScope;

/// The service [`ServerLayer`](super::ServerLayer) wraps around yours.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use http_body_util::BodyExt;
/// use tower::{Layer, ServiceExt, service_fn};
/// use tracewire::http::ServerLayer;
/// use tracewire::sink::MemorySink;
/// use tracewire::Tracer;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let sink = MemorySink::new();
/// let tracer = Tracer::builder().sink(sink.clone()).build();
/// // Any tower service of `http` requests: a hyper `service_fn`, an axum `Router`, …
/// let service = ServerLayer::new(tracer).layer(service_fn(|_: Request<String>| async {
///     Ok::<_, Infallible>(Response::new(String::from("hello")))
/// }));
///
/// let response = service.oneshot(Request::get("/hello").body(String::new()).unwrap()).await.unwrap();
/// response.into_body().collect().await.unwrap(); // the span ends once the body is sent
/// assert_eq!(sink.spans()[0].name, "GET");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TraceService<S> {
    pub(crate) inner: S,
    pub(crate) tracer: Tracer,
    pub(crate) config: Arc<ServerConfig>,
}

crate::http::inner_service_accessors!(TraceService);

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TraceService<S>
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

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let incoming = self.tracer.propagator().extract(request.headers());
        let head = request.method() == http::Method::HEAD;
        let semconv = self.config.rpc_semconv;
        let distrust = self.config.distrust_incoming;

        // A sampler that decides from the parent alone decides first, so that a request it
        // drops skips naming its span (the route lookup) and collecting attributes.
        let parent = match distrust {
            true => None,
            false => incoming.span_context.as_ref(),
        };
        let early = self.tracer.decide_early(parent, "", SpanKind::Server);
        // The route template, when it is interned (the span name's tail).
        let mut interned_route = None;
        // gRPC or not matters only to a span that records.
        let mut classifier = Classifier::Http;
        let mut method = "";
        let span = match early {
            Some(early) if !early.result.decision.is_recording() => {
                self.tracer.start_dropped(parent, early)
            }
            early => {
                classifier = Classifier::of(request.method(), request.headers(), semconv);
                method = self.config.known_methods.name(request.method());
                let mut builder = match classifier {
                    Classifier::Grpc(semconv) => {
                        let path = request.uri().path();
                        let (name, attributes) = grpc::start_attributes(path, semconv);
                        let mut builder = self.tracer.span(name);
                        builder.attributes(attributes.into_iter().flatten());
                        builder
                    }
                    Classifier::Http => {
                        let (name, route) = span_name_and_route(method, matched_route(&request));
                        let mut builder = self.tracer.span(name);
                        builder.attr(HTTP_REQUEST_METHOD, method);
                        if let Some(route) = route {
                            if let Cow::Borrowed(route) = route {
                                interned_route = Some(route);
                            }
                            builder.attr(HTTP_ROUTE, route);
                        }
                        builder
                    }
                };
                builder.kind(SpanKind::Server).parent(parent);
                if let (Some(remote), true) = (&incoming.span_context, distrust) {
                    builder.link(Link::new(remote.clone()));
                }
                builder.start_decided(early)
            }
        };

        if span.is_recording() {
            let recorded = &self.config.request_headers;
            // Keys of their own, distinct from the method and route or RPC names it started
            // with.
            span.add_distinct_attributes(|attributes| match classifier {
                Classifier::Grpc(semconv) => {
                    grpc::server_request_attributes(attributes, &request, semconv, recorded)
                }
                Classifier::Http => {
                    let route = interned_route;
                    server_request_attributes(attributes, &request, method, route, recorded);
                }
            });
            // Handlers reach their span through the request (an extension, or the axum
            // extractor). Only recording spans are inserted: inserting boxes the value, and
            // an unsampled request allocates nothing. Handlers of unsampled requests get a
            // no-op span; the current context still carries the trace downstream.
            request.extensions_mut().insert(span.handle());
        }
        let mut scope = SpanScope::with_baggage(span, incoming.baggage);
        // Current during `call` too, for services that do work before returning their future.
        let future = {
            let _entered = scope.enter();
            self.inner.call(request)
        };
        ResponseFuture::new(future, scope, self.config.clone(), classifier, head)
    }
}

/// The matched route template (axum's `MatchedPath`), if the router recorded one.
fn matched_route<B>(request: &Request<B>) -> Option<&str> {
    #[cfg(feature = "axum")]
    if let Some(path) = request.extensions().get::<axum::extract::MatchedPath>() {
        return Some(path.as_str());
    }
    let _ = request;
    None
}
