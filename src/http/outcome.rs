//! The one seam where a traced exchange's outcome is read, in tower-http's `classify` shape:
//! a [`Classifier`], chosen from the request, reads the response head and answers either
//! "done" or "wait for the end of the stream" ([`EndOfStream`]); the response body then only
//! carries that answer to the stream's end. Plain HTTP ([`classify`](super::classify)) is done
//! at the head; gRPC ([`grpc`](super::grpc)) is done at the head of a trailers-only response,
//! and otherwise waits for the `grpc-status` in the trailers.

use std::fmt;

use http::{HeaderMap, HeaderName, StatusCode, Version};

use super::body::EarlyDrop;
use super::classify::{self, Side};
use super::grpc::{self, AwaitingTrailers, RpcSemconv};
use crate::SpanRef;
use crate::tracer::SpanScope;

/// How one exchange's outcome is read: chosen once per request, from its head.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Classifier {
    /// The HTTP conventions: the status code in the response head says it all.
    Http,
    /// A gRPC call (`content-type: application/grpc…`): the RPC conventions, whose status is
    /// the `grpc-status`.
    Grpc(RpcSemconv),
}

/// What the response body still has to read when the head has been classified.
#[derive(Clone, Copy, Debug)]
pub(crate) enum EndOfStream {
    /// Nothing: the outcome is known, the body only times the span (and notices a hang-up).
    Ready,
    /// The status of a gRPC call, in the trailers.
    GrpcStatus(AwaitingTrailers),
}

impl Classifier {
    /// The classifier for a request: gRPC when its method and content type say so.
    #[inline]
    pub(crate) fn of(method: &http::Method, headers: &HeaderMap, semconv: RpcSemconv) -> Self {
        match grpc::is_grpc(method, headers) {
            true => Self::Grpc(semconv),
            false => Self::Http,
        }
    }

    /// Records the response head on `span` and says what the body still has to read.
    #[inline]
    pub(crate) fn response_head(
        self,
        span: &SpanRef,
        side: Side,
        status: StatusCode,
        version: Version,
        headers: &HeaderMap,
        recorded_headers: &[HeaderName],
    ) -> EndOfStream {
        match self {
            Self::Http => {
                match side {
                    Side::Server => {
                        classify::record_server_response(span, status, headers, recorded_headers)
                    }
                    Side::Client => classify::record_client_response(
                        span,
                        status,
                        version,
                        headers,
                        recorded_headers,
                    ),
                }
                EndOfStream::Ready
            }
            Self::Grpc(semconv) => {
                let awaiting = grpc::record_response_head(
                    span,
                    side,
                    semconv,
                    status,
                    headers,
                    recorded_headers,
                );
                match awaiting {
                    true => EndOfStream::GrpcStatus(AwaitingTrailers { side, semconv }),
                    false => EndOfStream::Ready,
                }
            }
        }
    }

    /// The service failed instead of answering.
    #[inline]
    pub(crate) fn failure(self, span: &SpanRef, side: Side, error: &impl fmt::Display) {
        match self {
            Self::Http => classify::record_error(span, error),
            Self::Grpc(semconv) => grpc::record_failure(span, side, semconv, error),
        }
    }

    /// A server's request was dropped before its response head: the client went away (or a
    /// deadline above gave up).
    #[inline]
    pub(crate) fn dropped_before_head(self, span: &SpanRef) {
        let what = "request dropped before the response was ready";
        match self {
            Self::Http => classify::mark_disconnected(span, what),
            Self::Grpc(semconv) => {
                classify::mark_client_gone(span, what);
                let trailers = AwaitingTrailers {
                    side: Side::Server,
                    semconv,
                };
                trailers.dropped(span);
            }
        }
    }

    /// What a server's response body dropped before its end means: for plain HTTP, nothing
    /// when the response has no body to send (servers drop it unread), else a hang-up; a gRPC
    /// response always has a stream to finish.
    #[inline]
    pub(crate) fn server_early_drop(self, head: bool, status: StatusCode) -> EarlyDrop {
        match self {
            Self::Http if has_no_body(head, status) => EarlyDrop::Nothing,
            Self::Http | Self::Grpc(_) => EarlyDrop::ClientWentAway,
        }
    }

    /// Whether a `content-length` the handler announced says where the body ends (HTTP; a gRPC
    /// call ends at its trailers).
    #[inline]
    pub(crate) fn reads_announced_length(self) -> bool {
        matches!(self, Self::Http)
    }
}

/// Whether a response is sent without a body, which servers then drop unread: one to `HEAD`,
/// or with a 1xx, 204 or 304 status (RFC 9110 §6.4.1).
#[inline]
fn has_no_body(head: bool, status: StatusCode) -> bool {
    head || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

impl EndOfStream {
    /// Whether the body's exact length says where it ends (the bytes sent are counted); a
    /// gRPC body ends at its trailers, after the last byte of data.
    #[inline]
    pub(crate) fn counts_length(self) -> bool {
        matches!(self, Self::Ready)
    }

    /// The last frame arrived: `trailers`, if it was trailers, else the last data. (The
    /// scope, not its span, so that a body with nothing left to read does not look it up.)
    #[inline]
    pub(crate) fn ended(self, scope: &SpanScope, trailers: Option<&HeaderMap>) {
        if let Self::GrpcStatus(awaiting) = self {
            match trailers {
                Some(trailers) => awaiting.trailers(scope.span(), trailers),
                None => awaiting.no_status(scope.span()),
            }
        }
    }

    /// The body failed.
    #[inline]
    pub(crate) fn failed(self, span: &SpanRef, error: &impl fmt::Display) {
        match self {
            Self::Ready => classify::record_error(span, error),
            Self::GrpcStatus(awaiting) => awaiting.failed(span, error),
        }
    }

    /// The body was dropped before its end was read. `complete`: all of it was sent or it is
    /// at its end; `at_end`: the body itself says it is at its end.
    #[inline]
    pub(crate) fn dropped(
        self,
        span: &SpanRef,
        early_drop: EarlyDrop,
        complete: bool,
        at_end: bool,
    ) {
        if early_drop == EarlyDrop::ClientWentAway && !complete {
            let what = "client disconnected before the response was complete";
            match self {
                // Recorded as CANCELLED below.
                Self::GrpcStatus(_) => classify::mark_client_gone(span, what),
                Self::Ready => classify::mark_disconnected(span, what),
            }
        }
        if let Self::GrpcStatus(awaiting) = self {
            // hyper drops a body that is already at its end without polling it: that
            // response ended, without a status; anything else was cut short.
            match at_end {
                true => awaiting.no_status(span),
                false => awaiting.dropped(span),
            }
        }
    }
}
