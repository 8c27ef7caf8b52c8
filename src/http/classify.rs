//! Classifying outcomes, as the HTTP semantic conventions say: which responses are errors on
//! a server and on a client, and how a failed or cancelled call is recorded.

use std::fmt;

use http::{HeaderMap, HeaderName, StatusCode, Version};

use crate::SpanRef;
use crate::http::attributes::protocol_version;
use crate::http::headers::record_headers;
use crate::semconv::{ERROR_TYPE, HTTP_RESPONSE_STATUS_CODE, NETWORK_PROTOCOL_VERSION};
use crate::span::{KeyValue, Status};

/// Which side of the call a span is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

/// Records a server response: status code, listed headers, and error status for 5xx only (a
/// 4xx is the client's error, not the server's).
pub(crate) fn record_server_response(
    span: &SpanRef,
    status: StatusCode,
    headers: &HeaderMap,
    recorded_headers: &[HeaderName],
) {
    record_response(span, Side::Server, status, headers, recorded_headers);
}

/// Records a client response: status code, the negotiated protocol version, listed headers,
/// and error status for 4xx and 5xx (both are errors of the call).
pub(crate) fn record_client_response(
    span: &SpanRef,
    status: StatusCode,
    version: Version,
    headers: &HeaderMap,
    recorded_headers: &[HeaderName],
) {
    record_response(span, Side::Client, status, headers, recorded_headers);
    // The conventions ask for the negotiated version ("network.protocol.version" note), which
    // only the response tells: clients send HTTP/1.1 requests over HTTP/2 connections.
    if let Some(version) = protocol_version(version) {
        span.set_attribute(NETWORK_PROTOCOL_VERSION, version);
    }
}

fn record_response(
    span: &SpanRef,
    side: Side,
    status: StatusCode,
    headers: &HeaderMap,
    recorded_headers: &[HeaderName],
) {
    if !span.is_recording() {
        return;
    }
    let code = KeyValue::new(HTTP_RESPONSE_STATUS_CODE, i64::from(status.as_u16()));
    // 5xx, "as well as any other code the client failed to interpret" (HTTP conventions,
    // Status): `http` accepts codes up to 999.
    let uninterpretable = status.as_u16() >= 600;
    let error = status.is_server_error()
        || uninterpretable
        || (side == Side::Client && status.is_client_error());
    if !error && recorded_headers.is_empty() {
        // Most responses: one attribute, one lock.
        span.set_attribute_list([code]);
        return;
    }
    let mut attributes = vec![code];
    if error {
        // The conventions leave the description empty when the status code says it all.
        attributes.push(KeyValue::new(ERROR_TYPE, status.as_u16().to_string()));
        span.set_status(Status::Error { message: "".into() });
    }
    record_headers(
        &mut attributes,
        "http.response.header.",
        headers,
        recorded_headers,
    );
    span.set_attribute_list(attributes);
}

/// Records a failed call or body: the error's type as `error.type`, its message as the status.
pub(crate) fn record_error<E: fmt::Display>(span: &SpanRef, error: &E) {
    span.set_attribute(ERROR_TYPE, std::any::type_name::<E>());
    span.set_status(Status::Error {
        message: error.to_string().into(),
    });
}

/// Records, on a server span, that the client went away before the whole response was sent
/// (`what` says when).
pub(crate) fn mark_client_gone(span: &SpanRef, what: &'static str) {
    span.set_attribute("tracewire.client.disconnected", true);
    span.add_event(what, Vec::new());
}

/// [`mark_client_gone`], and an error of an HTTP server span: the conventions' Status section
/// says of a response that could not be sent fully, "When instrumentation detects such errors
/// it SHOULD set span status to `Error` and SHOULD set the `error.type` attribute". (A gRPC
/// server records `CANCELLED` instead, not an error.)
pub(crate) fn mark_disconnected(span: &SpanRef, what: &'static str) {
    if !span.is_recording() {
        return;
    }
    mark_client_gone(span, what);
    span.set_attribute(ERROR_TYPE, CLIENT_DISCONNECTED);
    span.set_status(Status::Error {
        message: what.into(),
    });
}

/// The `error.type` of a server response the client did not wait for.
pub(crate) const CLIENT_DISCONNECTED: &str = "client_disconnected";

/// Records that the caller dropped the call before the response arrived: not an error.
pub(crate) fn mark_cancelled(span: &SpanRef) {
    span.set_attribute("tracewire.request.cancelled", true);
    span.add_event("request cancelled before the response arrived", Vec::new());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tracer;
    use crate::sink::MemorySink;

    /// The status a response with `code` gives a span on `side`.
    fn status_of(side: Side, code: u16) -> Status {
        let sink = MemorySink::new();
        let tracer = Tracer::builder().sink(sink.clone()).build();
        let span = tracer.span("call").start();
        let status = StatusCode::from_u16(code).unwrap();
        match side {
            Side::Server => record_server_response(&span, status, &HeaderMap::new(), &[]),
            Side::Client => {
                let version = Version::HTTP_11;
                record_client_response(&span, status, version, &HeaderMap::new(), &[]);
            }
        }
        span.end();
        sink.spans()[0].status.clone()
    }

    #[test]
    fn which_codes_are_errors() {
        for (code, server, client) in [
            (200, false, false),
            (302, false, false),
            (404, false, true),
            (503, true, true),
            // Beyond the codes HTTP defines: nobody can interpret it.
            (600, true, true),
            (999, true, true),
        ] {
            let is_error = |side| matches!(status_of(side, code), Status::Error { .. });
            assert_eq!(is_error(Side::Server), server, "server, {code}");
            assert_eq!(is_error(Side::Client), client, "client, {code}");
        }
    }
}
