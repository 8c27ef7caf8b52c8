//! [`ResponseBody`]: keeps the span open until the body has been sent (server) or received
//! (client).

use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::Span;
use crate::http::outcome::EndOfStream;
use crate::tracer::SpanScope;

pin_project! {
    /// A response body that ends the request's span when it has been sent (or received)
    /// completely, when it fails, or when it is dropped first. On a server, dropped first
    /// means the client went away, which is recorded on the span. The span is current while
    /// the body is polled, so streaming work is traced under it.
    ///
    /// # Example
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use tower::{Layer, ServiceExt, service_fn};
    /// use tracewire::http::{ResponseBody, ServerLayer};
    /// use tracewire::sink::MemorySink;
    /// use tracewire::span::Value;
    /// use tracewire::Tracer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sink = MemorySink::new();
    /// let tracer = Tracer::builder().sink(sink.clone()).build();
    /// let service = ServerLayer::new(tracer).layer(service_fn(|_: Request<String>| async {
    ///     Ok::<_, Infallible>(Response::new(String::from("a large download")))
    /// }));
    /// let response = service.oneshot(Request::get("/download").body(String::new()).unwrap()).await.unwrap();
    /// let body: ResponseBody<String> = response.into_body();
    /// drop(body); // the client hung up before the body was sent
    /// assert_eq!(sink.spans()[0].attribute("tracewire.client.disconnected"), Some(&Value::Bool(true)));
    /// # }
    /// ```
    pub struct ResponseBody<B>
    where
        B: Body,
    {
        #[pin]
        inner: B,
        // The span and the context it is current in while the body is polled; `None` once
        // the body is done.
        scope: Option<SpanScope>,
        early_drop: EarlyDrop,
        // What the end of the stream still has to say (a gRPC status in the trailers).
        eos: EndOfStream,
        // The bytes still to send, when the body said its exact length: a server stops
        // polling once it has sent a `content-length`, whatever the body says of its end.
        remaining: Option<u64>,
    }

    impl<B> PinnedDrop for ResponseBody<B>
    where
        B: Body,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(scope) = this.scope.take() {
                let at_end = this.inner.is_end_stream();
                // An empty body may never be polled: that is a complete response.
                let complete = at_end || *this.remaining == Some(0);
                this.eos.dropped(scope.span(), *this.early_drop, complete, at_end);
            }
        }
    }
}

/// What a body dropped before its end means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EarlyDrop {
    /// A server's response body: the client hung up.
    ClientWentAway,
    /// A client's response body: the caller stopped reading, which is its right. Also a
    /// server's response that has no body to send (to `HEAD`, or a 1xx, 204 or 304 status):
    /// servers drop it unread.
    Nothing,
}

impl<B: Body> ResponseBody<B> {
    /// A body timed by `span`, whose outcome is known already (the reqwest middleware's).
    #[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
    pub(crate) fn new(inner: B, span: Span, early_drop: EarlyDrop) -> Self {
        Self::with_scope(inner, SpanScope::new(span), early_drop, EndOfStream::Ready)
    }

    /// A body polled in `scope` (the one the handler ran in, when there is one: it carries
    /// the same span and the request's baggage), with what its end still has to say.
    pub(crate) fn with_scope(
        inner: B,
        scope: SpanScope,
        early_drop: EarlyDrop,
        eos: EndOfStream,
    ) -> Self {
        Self {
            remaining: inner.size_hint().exact().filter(|_| eos.counts_length()),
            inner,
            scope: Some(scope),
            early_drop,
            eos,
        }
    }

    /// Counts the body complete after `length` bytes when it does not know its own length: a
    /// handler may announce one in `content-length`, and a server stops polling there.
    pub(crate) fn announced(mut self, length: Option<u64>) -> Self {
        if self.eos.counts_length() {
            self.remaining = self.remaining.or(length);
        }
        self
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let entered = this.scope.as_mut().map(SpanScope::enter);
        let mut inner = this.inner;
        let frame = inner.as_mut().poll_frame(cx);
        drop(entered);
        // The scope, taken once the body is done: its span ends when it drops.
        let mut ended = None;
        match &frame {
            Poll::Ready(None) => {
                ended = this.scope.take();
                if let Some(scope) = &ended {
                    this.eos.ended(scope, None);
                }
            }
            Poll::Ready(Some(Err(error))) => {
                ended = this.scope.take();
                if let Some(scope) = &ended {
                    this.eos.failed(scope.span(), error);
                }
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(remaining), Some(data)) = (this.remaining.as_mut(), frame.data_ref()) {
                    *remaining = remaining.saturating_sub(data.remaining() as u64);
                }
                // The last frame (trailers are always last): the server may not poll again,
                // so end here. The last byte of a known length need not be last (HTTP/2 polls
                // on for trailers, which may still fail, and a gRPC status comes in them), so
                // it only makes a drop from here on a complete response (see `Drop`).
                if frame.is_trailers() || inner.is_end_stream() {
                    ended = this.scope.take();
                    if let Some(scope) = &ended {
                        this.eos.ended(scope, frame.trailers_ref());
                    }
                }
            }
            Poll::Pending => {}
        }
        drop(ended);
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
