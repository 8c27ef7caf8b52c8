//! [`ResponseFuture`]: records the response head, and hands the span to the body.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use http::{HeaderValue, Response};
use pin_project_lite::pin_project;

use super::layer::ServerConfig;
use crate::http::attributes::record_headers;
use crate::http::body::{EarlyDrop, ResponseBody};
use crate::propagation::TraceContextPropagator;
use crate::semconv::{ERROR_TYPE, HTTP_RESPONSE_STATUS_CODE};
use crate::span::Status;
use crate::{Instrumented, Span};

pin_project! {
    /// The future of a traced request: the inner service's future, run with the request's
    /// span current.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Instrumented<F>,
        span: Option<Span>,
        config: Arc<ServerConfig>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: Instrumented<F>, span: Span, config: Arc<ServerConfig>) -> Self {
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
            Ok(mut response) => {
                let status = response.status();
                if span.is_recording() {
                    span.set_attribute(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
                    // HTTP semantic conventions: 5xx is a server error; 4xx is the client's.
                    if status.is_server_error() {
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
                add_trace_headers(&mut response, &span, this.config);
                Poll::Ready(Ok(response.map(|body| {
                    ResponseBody::new(body, span, EarlyDrop::ClientWentAway)
                })))
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

/// `Server-Timing: trace;desc=…` (W3C Trace Context Level 3 draft) and `traceresponse`, when
/// enabled.
fn add_trace_headers<B>(response: &mut Response<B>, span: &Span, config: &ServerConfig) {
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
