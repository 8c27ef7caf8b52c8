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
use crate::http::classify::{mark_cancelled, record_client_response, record_error};

pin_project! {
    /// The future of a traced outgoing request. Dropped before the response arrives, it ends
    /// the span as cancelled, without error status: cancelling is the caller's choice.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Option<Span>,
        config: Arc<ClientConfig>,
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
    pub(crate) fn new(inner: F, span: Span, config: Arc<ClientConfig>) -> Self {
        Self {
            inner,
            span: Some(span),
            config,
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
        match result {
            Ok(response) => {
                record_client_response(
                    &span,
                    response.status(),
                    response.headers(),
                    &this.config.response_headers,
                );
                Poll::Ready(Ok(
                    response.map(|body| ResponseBody::new(body, span, EarlyDrop::Nothing))
                ))
            }
            Err(error) => {
                record_error(&span, &error);
                Poll::Ready(Err(error))
            }
        }
    }
}
