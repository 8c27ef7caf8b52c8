//! reqwest: a `reqwest-middleware` middleware that traces every call like
//! [`ClientLayer`](crate::http::ClientLayer).

use http::Extensions;
use reqwest_middleware::{Middleware, Next};

use crate::http::client::start_client_span;
use crate::http::headers::push_once;
use crate::http::outcome::Classifier;
use crate::http::{EarlyDrop, KnownMethods, ResponseBody, classify};
use crate::{SpanContext, Tracer};

/// Traces reqwest calls: one CLIENT span per request, a child of the current span (or of a
/// [`SpanContext`] in the middleware extensions), with the trace context injected and the span
/// ended when the response body has been read. Records what
/// [`ClientLayer`](crate::http::ClientLayer) records.
///
/// # Example
///
/// ```
/// use reqwest_middleware::ClientBuilder;
/// use tracewire::Tracer;
/// use tracewire::integrations::reqwest::TracingMiddleware;
/// use tracewire::sink::MemorySink;
///
/// let tracer = Tracer::builder().service_name("checkout").sink(MemorySink::new()).build();
/// let client = ClientBuilder::new(reqwest::Client::new())
///     .with(TracingMiddleware::new(tracer))
///     .build();
/// ```
#[derive(Clone, Debug)]
pub struct TracingMiddleware {
    tracer: Tracer,
    request_headers: Vec<http::HeaderName>,
    response_headers: Vec<http::HeaderName>,
    known_methods: KnownMethods,
}

impl TracingMiddleware {
    /// A middleware that traces with `tracer`.
    pub fn new(tracer: Tracer) -> Self {
        Self {
            tracer,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            known_methods: KnownMethods::process_default(),
        }
    }

    /// Records these methods as themselves, and others as `_OTHER`, instead of the list
    /// `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` or the conventions give (see
    /// [`KnownMethods`]).
    pub fn known_methods(mut self, known: KnownMethods) -> Self {
        self.known_methods = known;
        self
    }

    /// Records this request header as `http.request.header.<name>`.
    pub fn record_request_header(mut self, name: impl TryInto<http::HeaderName>) -> Self {
        if let Ok(name) = name.try_into() {
            push_once(&mut self.request_headers, name);
        }
        self
    }

    /// Records this response header as `http.response.header.<name>`.
    pub fn record_response_header(mut self, name: impl TryInto<http::HeaderName>) -> Self {
        if let Ok(name) = name.try_into() {
            push_once(&mut self.response_headers, name);
        }
        self
    }
}

/// Ends a span as cancelled if the call's future is dropped before the response arrives.
struct CancelGuard(Option<crate::Span>);

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            classify::mark_cancelled(&span);
        }
    }
}

#[async_trait::async_trait]
impl Middleware for TracingMiddleware {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        // The shared client code works on `http` request parts: lend it the request's.
        let head = http::Request::builder()
            .method(request.method().clone())
            .uri(request.url().as_str())
            .version(request.version())
            .body(());
        let span = match head {
            Ok(head) => {
                let (mut parts, ()) = head.into_parts();
                parts.headers = std::mem::take(request.headers_mut());
                if let Some(parent) = extensions.get::<SpanContext>() {
                    parts.extensions.insert(parent.clone());
                }
                let span = start_client_span(
                    &self.tracer,
                    &mut parts,
                    Classifier::Http,
                    &self.known_methods,
                    &self.request_headers,
                );
                *request.headers_mut() = parts.headers;
                span
            }
            // A URL `http` cannot hold: the call goes ahead untraced.
            Err(_) => crate::Span::none(),
        };

        let mut guard = CancelGuard(Some(span));
        let result = next.run(request, extensions).await;
        let span = guard.0.take().unwrap_or_else(crate::Span::none);
        match result {
            Ok(response) => {
                classify::record_client_response(
                    &span,
                    response.status(),
                    response.version(),
                    response.headers(),
                    &self.response_headers,
                );
                Ok(with_traced_body(response, span))
            }
            Err(error) => {
                classify::record_error(&span, &error);
                Err(error)
            }
        }
    }
}

/// The same response, its body wrapped so that the span ends when the body has been read.
fn with_traced_body(response: reqwest::Response, span: crate::Span) -> reqwest::Response {
    use reqwest::ResponseBuilderExt;

    let url = response.url().clone();
    let (parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
    let body = reqwest::Body::wrap(ResponseBody::new(body, span, EarlyDrop::Nothing));
    let mut builder = http::Response::builder()
        .status(parts.status)
        .version(parts.version)
        .url(url);
    if let Some(headers) = builder.headers_mut() {
        *headers = parts.headers;
    }
    // What the connector and inner middleware put there: `remote_addr()`, TLS details…
    if let Some(extensions) = builder.extensions_mut() {
        extensions.extend(parts.extensions);
    }
    match builder.body(body) {
        Ok(response) => response.into(),
        // Unreachable: every part came from a valid response.
        Err(_) => http::Response::new(reqwest::Body::from(Vec::new())).into(),
    }
}
