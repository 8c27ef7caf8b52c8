//! [`ResponseFuture`]: records the response head, and hands the span to the body.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use http::{HeaderValue, Response};
use pin_project_lite::pin_project;

use super::layer::ServerConfig;
use crate::SpanRef;
use crate::http::body::ResponseBody;
use crate::http::classify::Side;
use crate::http::outcome::Classifier;
use crate::propagation::TraceContextPropagator;
use crate::tracer::SpanScope;

pin_project! {
    /// The future of a traced request: the inner service's future, run with the request's
    /// span current.
    ///
    /// # Example
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use tower::{Layer, ServiceExt, service_fn};
    /// use tracewire::http::ServerLayer;
    /// use tracewire::Tracer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tracer = Tracer::builder().build();
    /// let service = ServerLayer::new(tracer).layer(service_fn(|_: Request<String>| async {
    ///     // The request's span is current in the handler: child spans need no tracer.
    ///     assert!(tracewire::Context::current().span().is_recording());
    ///     Ok::<_, Infallible>(Response::new(String::new()))
    /// }));
    /// service.oneshot(Request::get("/").body(String::new()).unwrap()).await.unwrap();
    /// # }
    /// ```
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // The request's context, current on every poll of `inner`, and its span; then the
        // response body's.
        scope: Option<SpanScope>,
        config: Arc<ServerConfig>,
        classifier: Classifier,
        // A `HEAD` request: its response has no body to send.
        head: bool,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before the response head: the client went away (hyper drops the
            // request on a reset stream or a closed connection), or a deadline layer above
            // gave up on it (tonic's `grpc-timeout`).
            let this = this.project();
            if let Some(scope) = this.scope.take() {
                this.classifier.dropped_before_head(scope.span());
            }
        }
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: F,
        scope: SpanScope,
        config: Arc<ServerConfig>,
        classifier: Classifier,
        head: bool,
    ) -> Self {
        Self {
            inner,
            scope: Some(scope),
            config,
            classifier,
            head,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    E: fmt::Display,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let entered = this.scope.as_mut().map(SpanScope::enter);
        let result = this.inner.poll(cx);
        drop(entered);
        let result = ready!(result);
        // The body runs with the context the handler ran with: same span, same baggage.
        let scope = this.scope.take().unwrap_or_default();
        let span = scope.span();
        let classifier = *this.classifier;
        match result {
            Ok(mut response) => {
                let config = &this.config;
                let eos = classifier.response_head(
                    span,
                    Side::Server,
                    response.status(),
                    response.version(),
                    response.headers(),
                    &config.response_headers,
                );
                add_trace_headers(&mut response, span, config);
                let early_drop = classifier.server_early_drop(*this.head, response.status());
                // A length the handler announced, for a body that does not know its own (a
                // file streamed from disk): HTTP/1.1 servers stop polling after that many
                // bytes and drop the body. Only a recording span has a disconnect to record.
                let announced = (classifier.reads_announced_length() && span.is_recording())
                    .then(|| response.headers().get(http::header::CONTENT_LENGTH))
                    .flatten()
                    .and_then(|length| length.to_str().ok()?.parse().ok());
                Poll::Ready(Ok(response.map(|body| {
                    ResponseBody::with_scope(body, scope, early_drop, eos).announced(announced)
                })))
            }
            Err(error) => {
                classifier.failure(span, Side::Server, &error);
                Poll::Ready(Err(error))
            }
        }
    }
}

/// `Server-Timing: trace;desc=…` (W3C Trace Context Level 3 draft) and `traceresponse`, when
/// enabled.
fn add_trace_headers<B>(response: &mut Response<B>, span: &SpanRef, config: &ServerConfig) {
    let Some(context) = span.span_context() else {
        return;
    };
    if !config.server_timing && !config.traceresponse {
        return;
    }
    let traceparent = TraceContextPropagator::format_traceparent(context);
    if config.server_timing {
        let value = [b"trace;desc=".as_slice(), &traceparent].concat();
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            // Appended: a response may carry other Server-Timing metrics.
            response.headers_mut().append("server-timing", value);
        }
    }
    if config.traceresponse {
        if let Ok(value) = HeaderValue::from_bytes(&traceparent) {
            response.headers_mut().insert("traceresponse", value);
        }
    }
}
