//! [`ResponseFuture`]: classifies the response and hands the span to the body.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::layer::ClientConfig;
use crate::Span;
use crate::http::body::{EarlyDrop, ResponseBody};
use crate::http::classify::{Side, mark_cancelled};
use crate::http::outcome::Classifier;
use crate::tracer::SpanScope;

pin_project! {
    /// The future of a traced outgoing request. Dropped before the response arrives, it ends
    /// the span as cancelled, without error status: cancelling is the caller's choice.
    ///
    /// # Example
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    /// use http::{Request, Response};
    /// use tower::{Layer, ServiceExt, service_fn};
    /// use tracewire::http::ClientLayer;
    /// use tracewire::sink::MemorySink;
    /// use tracewire::span::Status;
    /// use tracewire::Tracer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sink = MemorySink::new();
    /// let tracer = Tracer::builder().sink(sink.clone()).build();
    /// let slow = ClientLayer::new(tracer).layer(service_fn(|_: Request<String>| async {
    ///     tokio::time::sleep(Duration::from_secs(60)).await;
    ///     Ok::<_, Infallible>(Response::new(String::new()))
    /// }));
    /// let call = slow.oneshot(Request::get("http://slow/").body(String::new()).unwrap());
    /// // The caller gives up: the span ends, marked cancelled, and is not an error.
    /// let _ = tokio::time::timeout(Duration::from_millis(10), call).await;
    /// let span = &sink.spans()[0];
    /// assert!(span.attribute("tracewire.request.cancelled").is_some());
    /// assert_eq!(span.status, Status::Unset);
    /// # }
    /// ```
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Option<Span>,
        config: Arc<ClientConfig>,
        classifier: Classifier,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(span) = this.project().span.take() {
                mark_cancelled(&span);
            }
        }
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: F,
        span: Span,
        config: Arc<ClientConfig>,
        classifier: Classifier,
    ) -> Self {
        Self {
            inner,
            span: Some(span),
            config,
            classifier,
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
        let result = ready!(this.inner.poll(cx));
        let span = this.span.take().unwrap_or_else(Span::none);
        let classifier = *this.classifier;
        match result {
            Ok(response) => {
                let eos = classifier.response_head(
                    &span,
                    Side::Client,
                    response.status(),
                    response.version(),
                    response.headers(),
                    &this.config.response_headers,
                );
                // The caller may stop reading a response: that is its right, not a failure.
                let early_drop = EarlyDrop::Nothing;
                Poll::Ready(Ok(response.map(|body| {
                    ResponseBody::with_scope(body, SpanScope::new(span), early_drop, eos)
                })))
            }
            Err(error) => {
                classifier.failure(&span, Side::Client, &error);
                Poll::Ready(Err(error))
            }
        }
    }
}
