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
use crate::http::attributes::record_headers;
use crate::http::body::{EarlyDrop, ResponseBody};
use crate::semconv::{ERROR_TYPE, HTTP_RESPONSE_STATUS_CODE};
use crate::span::Status;

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
                span.set_attribute("tracewire.request.cancelled", true);
                span.add_event("request cancelled before the response arrived", Vec::new());
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
                let status = response.status();
                if span.is_recording() {
                    span.set_attribute(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
                    // HTTP client conventions: 4xx and 5xx are errors of the call.
                    if status.is_client_error() || status.is_server_error() {
                        span.set_attribute(ERROR_TYPE, status.as_u16().to_string());
                        span.set_status(Status::Error { message: "".into() });
                    }
                    let mut headers = Vec::new();
                    record_headers(
                        &mut headers,
                        "http.response.header.",
                        response.headers(),
                        &this.config.response_headers,
                    );
                    span.set_attributes(headers);
                }
                Poll::Ready(Ok(
                    response.map(|body| ResponseBody::new(body, span, EarlyDrop::Nothing))
                ))
            }
            Err(error) => {
                span.set_attribute(ERROR_TYPE, std::any::type_name::<E>());
                span.set_status(Status::Error {
                    message: error.to_string().into(),
                });
                Poll::Ready(Err(error))
            }
        }
    }
}
