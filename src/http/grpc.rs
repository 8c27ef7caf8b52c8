//! gRPC through the HTTP layers: recognising a call, its method, its status, and the
//! OpenTelemetry RPC semantic conventions it is recorded with.
//!
//! gRPC is HTTP/2 with conventions of its own, so the same [`ServerLayer`](super::ServerLayer)
//! and [`ClientLayer`](super::ClientLayer) trace it: a request whose `content-type` is
//! `application/grpc` (exactly, or followed by `+proto`, `;…`) is a gRPC call. Its span is
//! named after the method (from the path, `/{package.Service}/{Method}`), and its outcome is
//! the `grpc-status` of the response — in the headers of a trailers-only response, else in the
//! trailers after the body — never the HTTP status, which is 200 for failed calls too. The span
//! ends when the trailers have been sent (server) or received (client), so streaming calls are
//! timed whole, or when the stream is dropped first.
//!
//! # Which names are recorded
//!
//! The OpenTelemetry RPC conventions are a release candidate that renamed attributes. As their
//! migration rule says, the names recorded by default are the ones backends and dashboards key
//! on today, and `OTEL_SEMCONV_STABILITY_OPT_IN` (a comma-separated list; other categories such
//! as `http` are left alone) opts in to the new ones, or to both during a migration. In code,
//! [`ServerLayer::rpc_semconv`](super::ServerLayer::rpc_semconv) and
//! [`ClientLayer::rpc_semconv`](super::ClientLayer::rpc_semconv) override the environment.
//!
//! | | [`RpcSemconv::Old`] (default) | [`RpcSemconv::New`] (`rpc`) |
//! |---|---|---|
//! | span name | `{rpc.service}/{rpc.method}`, e.g. `shop.Cart/Add` | `{rpc.method}`: the same string |
//! | system | `rpc.system = "grpc"` | `rpc.system.name = "grpc"` |
//! | method | `rpc.service = "shop.Cart"`, `rpc.method = "Add"` | `rpc.method = "shop.Cart/Add"` |
//! | status | `rpc.grpc.status_code = 14` (an integer) | `rpc.response.status_code = "UNAVAILABLE"` (the name) |
//! | metadata you list | `rpc.grpc.request.metadata.<key>`, `rpc.grpc.response.metadata.<key>` | `rpc.request.metadata.<key>`, `rpc.response.metadata.<key>` |
//!
//! Both record `server.address`, and `server.port` when the authority names one (on the
//! server from the original host a proxy passed on in `Forwarded`/`X-Forwarded-Host`, else
//! `:authority`; on the client from the request's URI: a generated client made with
//! `with_origin` carries it, one made with `new` over a `Channel` does not),
//! `client.address` on the server (a proxy's `Forwarded: for=`/`X-Forwarded-For`, else the
//! peer), `network.peer.address` and `network.peer.port` on the server when the peer is known
//! (tonic's server records it; see [`ServerLayer`](super::ServerLayer#the-peer-address) for
//! axum), and on error
//! `error.type` (the code's name) and the error status with the decoded `grpc-message` as its
//! description.
//!
//! [`RpcSemconv::Dup`] (`rpc/dup`) records both sets. The one name they share, `rpc.method`,
//! takes its new, fully qualified value (`shop.Cart/Add`); the old split is still readable from
//! `rpc.service` and the span name.
//!
//! With the new names, a server's call of a method it does not have (its router answers
//! `UNIMPLEMENTED`) records `rpc.method = "_OTHER"`, the caller's method in
//! `rpc.method_original`, and the span is renamed `grpc`: such names are the caller's, of
//! unbounded cardinality, and the conventions require `_OTHER` for them. (A handler that
//! answers `UNIMPLEMENTED` itself is recorded the same way.)
//!
//! # Which codes are errors
//!
//! On a server: `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE`,
//! `DATA_LOSS` (the others are the caller's doing). On a client: every code but `OK`. A
//! response without `grpc-status` is `UNKNOWN`, or the code the gRPC specification maps its
//! HTTP status to when that is not 200. A stream the client drops before the trailers is
//! recorded as `CANCELLED` on the server (with `tracewire.client.disconnected`), and as
//! `tracewire.request.cancelled` without error on the client, like an HTTP call.

use std::borrow::Cow;
use std::sync::LazyLock;

use http::{HeaderMap, Method, Request, StatusCode};

use crate::SpanRef;
use crate::config::{ConfigWarning, Configured, FromEnv};
use crate::context::percent_decode;
use crate::http::classify::Side;
use crate::http::forwarded::Forwarded;
use crate::http::headers::record_headers;
use crate::http::interner::Interner;
use crate::http::origin::{
    client_side_address, push_client_and_peer, push_server_address, server_side_address,
};
use crate::semconv::{
    ERROR_TYPE, RPC_GRPC_STATUS_CODE, RPC_METHOD, RPC_METHOD_ORIGINAL, RPC_RESPONSE_STATUS_CODE,
    RPC_SERVICE, RPC_SYSTEM, RPC_SYSTEM_NAME,
};
use crate::span::{KeyValue, Status};

/// The environment variable that selects the RPC conventions.
const OPT_IN: &str = "OTEL_SEMCONV_STABILITY_OPT_IN";

/// Which OpenTelemetry RPC semantic conventions gRPC spans are recorded with (see the
/// [module docs](self) for the names each records).
///
/// # Example
///
/// ```
/// use tracewire::http::RpcSemconv;
///
/// let configured = RpcSemconv::from_env_with(|name| {
///     (name == "OTEL_SEMCONV_STABILITY_OPT_IN").then(|| "http,rpc/dup".to_string())
/// });
/// assert_eq!(configured.value, RpcSemconv::Dup);
/// assert!(configured.warnings.is_empty());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RpcSemconv {
    /// The names of the conventions up to v1.37, which backends and dashboards key on today:
    /// the default.
    #[default]
    Old,
    /// The release-candidate names only (`OTEL_SEMCONV_STABILITY_OPT_IN=rpc`).
    New,
    /// Both, for a migration (`OTEL_SEMCONV_STABILITY_OPT_IN=rpc/dup`).
    Dup,
}

impl RpcSemconv {
    /// The conventions `OTEL_SEMCONV_STABILITY_OPT_IN` selects in this process: `rpc/dup` over
    /// `rpc`, and [`Old`](Self::Old) without either.
    pub fn from_env() -> Configured<Self> {
        <Self as FromEnv>::from_env()
    }

    /// [`from_env`](Self::from_env), reading variables through `lookup`. Tokens of other
    /// categories (`http`, `database`, …) are ignored; an `rpc…` token that is neither `rpc`
    /// nor `rpc/dup` is warned about.
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Configured<Self> {
        <Self as FromEnv>::from_env_with(lookup)
    }

    /// The process's setting, read (and warned about) once.
    pub(crate) fn process_default() -> Self {
        static FROM_ENV: LazyLock<RpcSemconv> = LazyLock::new(|| RpcSemconv::from_env().value);
        *FROM_ENV
    }

    fn emits_old(self) -> bool {
        matches!(self, RpcSemconv::Old | RpcSemconv::Dup)
    }

    fn emits_new(self) -> bool {
        matches!(self, RpcSemconv::New | RpcSemconv::Dup)
    }
}

impl FromEnv for RpcSemconv {
    fn read_env(lookup: &impl Fn(&str) -> Option<String>) -> (Self, Vec<ConfigWarning>) {
        let mut warnings = Vec::new();
        let mut value = RpcSemconv::Old;
        if let Some(raw) = lookup(OPT_IN) {
            for token in raw.split(',').map(str::trim) {
                match token {
                    "rpc/dup" => value = RpcSemconv::Dup,
                    "rpc" if value != RpcSemconv::Dup => value = RpcSemconv::New,
                    "rpc" => {}
                    other if other.starts_with("rpc") => warnings.push(ConfigWarning {
                        variable: OPT_IN,
                        value: other.to_string(),
                        message: "the RPC values are `rpc` and `rpc/dup`; ignored".to_string(),
                    }),
                    _ => {}
                }
            }
        }
        (value, warnings)
    }
}

/// Whether a request is a gRPC call: `POST` with `content-type: application/grpc`, exactly or
/// followed by `+` (a codec) or `;` (parameters). gRPC-Web (`application/grpc-web…`) is not:
/// its trailers travel in the body. A `GET` is answered by one comparison.
pub(crate) fn is_grpc(method: &Method, headers: &HeaderMap) -> bool {
    if *method != Method::POST {
        return false;
    }
    let Some(content_type) = headers.get(http::header::CONTENT_TYPE) else {
        return false;
    };
    let value = content_type.as_bytes();
    const GRPC: &[u8] = b"application/grpc";
    value.len() >= GRPC.len()
        && value[..GRPC.len()].eq_ignore_ascii_case(GRPC)
        && matches!(value.get(GRPC.len()), None | Some(b'+') | Some(b';'))
}

/// The method of a call from its path `/{package.Service}/{Method}`: the span name, and the
/// service and method as `'static` slices of it (interned: a service's methods are few).
pub(crate) struct GrpcMethod {
    /// `package.Service/Method`.
    pub(crate) full: Cow<'static, str>,
    slash: usize,
}

impl GrpcMethod {
    /// `None` for a path that is not `/{service}/{method}` with both non-empty.
    pub(crate) fn from_path(path: &str) -> Option<Self> {
        let full = path.strip_prefix('/')?;
        let slash = full.find('/')?;
        if slash == 0 || slash + 1 == full.len() || full[slash + 1..].contains('/') {
            return None;
        }
        Some(GrpcMethod {
            full: intern_grpc_method(full),
            slash,
        })
    }

    fn part(&self, range: std::ops::Range<usize>) -> Cow<'static, str> {
        match &self.full {
            Cow::Borrowed(full) => Cow::Borrowed(&full[range]),
            Cow::Owned(full) => Cow::Owned(full[range].to_string()),
        }
    }

    fn service(&self) -> Cow<'static, str> {
        self.part(0..self.slash)
    }

    fn method(&self) -> Cow<'static, str> {
        self.part(self.slash + 1..self.full.len())
    }
}

/// The span name of a call, and the attributes known when it starts (so samplers see them):
/// the system and the method, in the names `semconv` selects. In an array, not a `Vec`, so
/// that a call the sampler drops allocates nothing for them.
pub(crate) fn start_attributes(
    path: &str,
    semconv: RpcSemconv,
) -> (Cow<'static, str>, [Option<KeyValue>; 4]) {
    let old = semconv.emits_old();
    let new = semconv.emits_new();
    let mut attributes = [
        old.then(|| KeyValue::new(RPC_SYSTEM, "grpc")),
        new.then(|| KeyValue::new(RPC_SYSTEM_NAME, "grpc")),
        None,
        None,
    ];
    let Some(method) = GrpcMethod::from_path(path) else {
        // Not a method path: named after the system, like an HTTP span without a route.
        return (Cow::Borrowed("grpc"), attributes);
    };
    attributes[2] = old.then(|| KeyValue::new(RPC_SERVICE, method.service()));
    // The one name both conventions use; with both, the new (fully qualified) value.
    let value = if new {
        method.full.clone()
    } else {
        method.method()
    };
    attributes[3] = Some(KeyValue::new(RPC_METHOD, value));
    (method.full, attributes)
}

/// The attributes a server span of a call carries from its request, beyond those it starts with.
pub(crate) fn server_request_attributes<B>(
    attributes: &mut Vec<KeyValue>,
    request: &Request<B>,
    semconv: RpcSemconv,
    recorded_headers: &[http::HeaderName],
) {
    let forwarded = Forwarded::of(request.headers());
    let (headers, uri) = (request.headers(), request.uri());
    let address = server_side_address(headers, uri, request.version(), forwarded.host);
    push_server_address(attributes, address, None);
    push_client_and_peer(attributes, request, &forwarded);
    record_metadata(
        attributes,
        semconv,
        true,
        request.headers(),
        recorded_headers,
    );
}

/// The attributes a client span of a call carries from its request, beyond those it starts
/// with.
pub(crate) fn client_request_attributes(
    attributes: &mut Vec<KeyValue>,
    request: &http::request::Parts,
    semconv: RpcSemconv,
    recorded_headers: &[http::HeaderName],
) {
    let address = client_side_address(&request.headers, &request.uri);
    push_server_address(attributes, address, None);
    record_metadata(
        attributes,
        semconv,
        true,
        &request.headers,
        recorded_headers,
    );
}

/// The metadata (header) attribute prefix for the names the user listed.
pub(crate) fn metadata_prefix(semconv: RpcSemconv, request: bool) -> &'static [&'static str] {
    match (semconv, request) {
        (RpcSemconv::Old, true) => &["rpc.grpc.request.metadata."],
        (RpcSemconv::Old, false) => &["rpc.grpc.response.metadata."],
        (RpcSemconv::New, true) => &["rpc.request.metadata."],
        (RpcSemconv::New, false) => &["rpc.response.metadata."],
        (RpcSemconv::Dup, true) => &["rpc.grpc.request.metadata.", "rpc.request.metadata."],
        (RpcSemconv::Dup, false) => &["rpc.grpc.response.metadata.", "rpc.response.metadata."],
    }
}

/// Records the listed metadata keys of `headers` under the prefixes `semconv` selects.
pub(crate) fn record_metadata(
    attributes: &mut Vec<KeyValue>,
    semconv: RpcSemconv,
    request: bool,
    headers: &HeaderMap,
    names: &[http::HeaderName],
) {
    if names.is_empty() {
        return;
    }
    for prefix in metadata_prefix(semconv, request) {
        record_headers(attributes, prefix, headers, names);
    }
}

/// A gRPC status code, `0..=16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Code(u8);

impl Code {
    pub(crate) const OK: Code = Code(0);
    pub(crate) const CANCELLED: Code = Code(1);
    pub(crate) const UNKNOWN: Code = Code(2);
    const UNIMPLEMENTED: Code = Code(12);
    const NAMES: [&'static str; 17] = crate::semconv::GRPC_STATUS_CODE_NAMES;
    /// The code of a `grpc-status` value; anything but a known code is `UNKNOWN`, as the gRPC
    /// specification says.
    pub(crate) fn parse(value: &[u8]) -> Code {
        let number = match value {
            [d] if d.is_ascii_digit() => d - b'0',
            [b'1', d] if d.is_ascii_digit() => 10 + (d - b'0'),
            _ => return Code::UNKNOWN,
        };
        if number <= 16 {
            Code(number)
        } else {
            Code::UNKNOWN
        }
    }

    /// The code the gRPC specification gives a response that has no `grpc-status`, from its
    /// HTTP status.
    pub(crate) fn from_http(status: StatusCode) -> Code {
        match status.as_u16() {
            400 => Code(13),             // INTERNAL
            401 => Code(16),             // UNAUTHENTICATED
            403 => Code(7),              // PERMISSION_DENIED
            404 => Code(12),             // UNIMPLEMENTED
            429 | 502..=504 => Code(14), // UNAVAILABLE
            _ => Code::UNKNOWN,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        Self::NAMES[usize::from(self.0)]
    }

    /// Whether a call that ended with this code failed, as the RPC conventions classify it.
    fn is_error(self, side: Side) -> bool {
        match side {
            Side::Client => self != Code::OK,
            // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS.
            Side::Server => matches!(self.0, 2 | 4 | 12 | 13 | 14 | 15),
        }
    }
}

/// The status carried by `headers` (a trailers-only response's headers, or trailers), if they
/// carry `grpc-status`: its code and decoded `grpc-message`.
pub(crate) fn status_in(headers: &HeaderMap) -> Option<(Code, Option<String>)> {
    let code = Code::parse(headers.get("grpc-status")?.as_bytes());
    let message = headers
        .get("grpc-message")
        .map(|m| percent_decode(m.as_bytes()))
        .filter(|m| !m.is_empty());
    Some((code, message))
}

/// Records the outcome of a call on its span: the code in the names `semconv` selects, and for
/// an error `error.type` and the error status with the message.
pub(crate) fn record_status(
    span: &SpanRef,
    side: Side,
    semconv: RpcSemconv,
    code: Code,
    message: Option<String>,
) {
    if !span.is_recording() {
        return;
    }
    if semconv.emits_old() {
        span.set_attribute(RPC_GRPC_STATUS_CODE, i64::from(code.0));
    }
    if semconv.emits_new() {
        span.set_attribute(RPC_RESPONSE_STATUS_CODE, code.name());
        if side == Side::Server && code == Code::UNIMPLEMENTED {
            unrecognized_method(span);
        }
    }
    if code.is_error(side) {
        span.set_attribute(ERROR_TYPE, code.name());
        span.set_status(Status::Error {
            message: message.unwrap_or_default().into(),
        });
    }
}

/// A server's call of a method it does not have (its router answered UNIMPLEMENTED): the name
/// is the caller's, of unbounded cardinality, so the release candidate's `rpc.method` is
/// `_OTHER`, with the name in `rpc.method_original`, and the span is named after the system
/// (grpc.md, `rpc.method` note: "when the server receives a request for a method that is not
/// predefined on the server ... the attribute MUST be set to `_OTHER`"; rpc-spans.md, Name).
fn unrecognized_method(span: &SpanRef) {
    if let Some(original) = span.attribute_value(RPC_METHOD) {
        span.set_attribute(RPC_METHOD_ORIGINAL, original);
    }
    span.set_attribute(RPC_METHOD, "_OTHER");
    span.update_name("grpc");
}

/// Records a call that failed without a gRPC status (a transport error, an inner service's
/// error): the conventions still want a status code, so UNKNOWN, which both sides count as
/// an error, with the error's text as the message.
pub(crate) fn record_failure(
    span: &SpanRef,
    side: Side,
    semconv: RpcSemconv,
    error: &impl std::fmt::Display,
) {
    record_status(span, side, semconv, Code::UNKNOWN, Some(error.to_string()));
}

/// Records the head of a gRPC response: listed metadata, and the status when the response is
/// trailers-only (or not a gRPC response at all). Returns whether the status is still to come,
/// in the trailers (never for a span that does not record: there is nothing to record).
pub(crate) fn record_response_head(
    span: &SpanRef,
    side: Side,
    semconv: RpcSemconv,
    status: StatusCode,
    headers: &HeaderMap,
    recorded_headers: &[http::HeaderName],
) -> bool {
    if !span.is_recording() {
        return false;
    }
    if !recorded_headers.is_empty() {
        let mut attributes = Vec::new();
        record_metadata(&mut attributes, semconv, false, headers, recorded_headers);
        span.set_attribute_list(attributes);
    }
    if let Some((code, message)) = status_in(headers) {
        record_status(span, side, semconv, code, message);
        return false;
    }
    if status != StatusCode::OK {
        let message = format!("HTTP status {} without grpc-status", status.as_u16());
        record_status(span, side, semconv, Code::from_http(status), Some(message));
        return false;
    }
    true
}

/// What the response body of a gRPC call still has to record: its status, from the trailers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AwaitingTrailers {
    pub(crate) side: Side,
    pub(crate) semconv: RpcSemconv,
}

impl AwaitingTrailers {
    /// The trailers arrived.
    pub(crate) fn trailers(self, span: &SpanRef, trailers: &HeaderMap) {
        match status_in(trailers) {
            Some((code, message)) => record_status(span, self.side, self.semconv, code, message),
            None => self.no_status(span),
        }
    }

    /// The body ended without trailers, or trailers without `grpc-status`.
    pub(crate) fn no_status(self, span: &SpanRef) {
        let message = "the response ended without grpc-status".to_string();
        record_status(span, self.side, self.semconv, Code::UNKNOWN, Some(message));
    }

    /// The stream failed before its trailers (a reset, a broken connection): no status came,
    /// so the call's outcome is UNKNOWN with the error as its message.
    pub(crate) fn failed(self, span: &SpanRef, error: &impl std::fmt::Display) {
        record_failure(span, self.side, self.semconv, error);
    }

    /// The body was dropped before its trailers: the caller cancelled the call.
    pub(crate) fn dropped(self, span: &SpanRef) {
        if self.side == Side::Server {
            // The server's half of a call the client cancelled: CANCELLED, not a server error.
            record_status(span, self.side, self.semconv, Code::CANCELLED, None);
        } else {
            crate::http::classify::mark_cancelled(span);
        }
    }
}

/// A gRPC method path interned (see [`Interner`]). The path is the caller's: a server layer
/// sees it before the router, unknown methods included, so these have a table of their own,
/// and a caller inventing paths can neither fill the route table nor grow memory past a bound.
fn intern_grpc_method(path: &str) -> Cow<'static, str> {
    static GRPC_METHODS: Interner = Interner::new(1024);
    GRPC_METHODS.intern(&[path])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Value;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn recognises_grpc_content_types_only() {
        let post = Method::POST;
        for grpc in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc;charset=utf-8",
            "Application/GRPC+json",
        ] {
            let map = headers(&[("content-type", grpc.as_bytes())]);
            assert!(is_grpc(&post, &map), "{grpc}");
        }
        for other in [
            "application/grpc-web",
            "application/grpc-web+proto",
            "application/json",
            "application/grp",
            "",
        ] {
            let map = headers(&[("content-type", other.as_bytes())]);
            assert!(!is_grpc(&post, &map), "{other}");
        }
        let map = headers(&[("content-type", b"application/grpc")]);
        assert!(!is_grpc(&Method::GET, &map));
        assert!(!is_grpc(&post, &HeaderMap::new()));
        let binary = headers(&[("content-type", b"application/grpc\xff")]);
        assert!(!is_grpc(&post, &binary));
    }

    #[test]
    fn methods_from_paths() {
        let method = GrpcMethod::from_path("/shop.v1.Cart/Add").unwrap();
        assert_eq!(method.full, "shop.v1.Cart/Add");
        assert_eq!(method.service(), "shop.v1.Cart");
        assert_eq!(method.method(), "Add");
        assert!(matches!(method.service(), Cow::Borrowed(_)));
        for bad in ["", "/", "//", "/a", "/a/", "//b", "/a/b/c", "a/b"] {
            assert!(GrpcMethod::from_path(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn names_per_convention() {
        let get = |attributes: &[Option<KeyValue>], key: &str| {
            attributes
                .iter()
                .flatten()
                .find(|kv| kv.key.as_ref() == key)
                .map(|kv| kv.value.clone())
        };
        let (name, old) = start_attributes("/shop.Cart/Add", RpcSemconv::Old);
        assert_eq!(name, "shop.Cart/Add");
        assert_eq!(get(&old, "rpc.system"), Some(Value::from("grpc")));
        assert_eq!(get(&old, "rpc.service"), Some(Value::from("shop.Cart")));
        assert_eq!(get(&old, "rpc.method"), Some(Value::from("Add")));
        assert_eq!(get(&old, "rpc.system.name"), None);

        let (name, new) = start_attributes("/shop.Cart/Add", RpcSemconv::New);
        assert_eq!(name, "shop.Cart/Add");
        assert_eq!(get(&new, "rpc.system.name"), Some(Value::from("grpc")));
        assert_eq!(get(&new, "rpc.method"), Some(Value::from("shop.Cart/Add")));
        assert_eq!(get(&new, "rpc.system"), None);
        assert_eq!(get(&new, "rpc.service"), None);

        let (_, dup) = start_attributes("/shop.Cart/Add", RpcSemconv::Dup);
        assert_eq!(get(&dup, "rpc.system"), Some(Value::from("grpc")));
        assert_eq!(get(&dup, "rpc.system.name"), Some(Value::from("grpc")));
        assert_eq!(get(&dup, "rpc.service"), Some(Value::from("shop.Cart")));
        assert_eq!(get(&dup, "rpc.method"), Some(Value::from("shop.Cart/Add")));
        assert_eq!(
            dup.iter()
                .flatten()
                .filter(|kv| kv.key.as_ref() == "rpc.method")
                .count(),
            1
        );

        let (name, bad) = start_attributes("/nope", RpcSemconv::Old);
        assert_eq!((name.as_ref(), bad.iter().flatten().count()), ("grpc", 1));
    }

    #[test]
    fn reads_the_opt_in_list() {
        let read = |value: &str| {
            let value = value.to_string();
            RpcSemconv::from_env_with(move |name| (name == OPT_IN).then(|| value.clone()))
        };
        assert_eq!(RpcSemconv::from_env_with(|_| None).value, RpcSemconv::Old);
        assert_eq!(read("").value, RpcSemconv::Old);
        assert_eq!(read("http").value, RpcSemconv::Old);
        assert_eq!(read("rpc").value, RpcSemconv::New);
        assert_eq!(read(" http , rpc ").value, RpcSemconv::New);
        assert_eq!(read("rpc/dup").value, RpcSemconv::Dup);
        // rpc/dup wins over rpc, in either order.
        assert_eq!(read("rpc,rpc/dup").value, RpcSemconv::Dup);
        assert_eq!(read("rpc/dup,rpc").value, RpcSemconv::Dup);
        assert_eq!(read("http/dup,database").value, RpcSemconv::Old);
        let bad = read("rpc/new,http");
        assert_eq!(bad.value, RpcSemconv::Old);
        assert_eq!(bad.warnings.len(), 1);
        assert_eq!(bad.warnings[0].value, "rpc/new");
    }

    #[test]
    fn codes_never_panic() {
        assert_eq!(Code::parse(b"0"), Code::OK);
        assert_eq!(Code::parse(b"14").name(), "UNAVAILABLE");
        assert_eq!(Code::parse(b"16").name(), "UNAUTHENTICATED");
        for bad in [
            &b""[..],
            b"17",
            b"99",
            b"-1",
            b"014",
            b"1a",
            b" 1",
            b"\xff",
            b"100",
        ] {
            assert_eq!(Code::parse(bad), Code::UNKNOWN, "{bad:?}");
        }
        assert_eq!(
            Code::from_http(StatusCode::NOT_FOUND).name(),
            "UNIMPLEMENTED"
        );
        assert_eq!(
            Code::from_http(StatusCode::BAD_GATEWAY).name(),
            "UNAVAILABLE"
        );
        assert_eq!(Code::from_http(StatusCode::IM_A_TEAPOT).name(), "UNKNOWN");
        for code in 0..=16 {
            let name = Code(code).name();
            assert_eq!(Code::parse(code.to_string().as_bytes()).name(), name);
        }
    }

    #[test]
    fn errors_per_side() {
        let server_errors: Vec<&str> = (0..=16)
            .map(Code)
            .filter(|c| c.is_error(Side::Server))
            .map(Code::name)
            .collect();
        assert_eq!(
            server_errors,
            [
                "UNKNOWN",
                "DEADLINE_EXCEEDED",
                "UNIMPLEMENTED",
                "INTERNAL",
                "UNAVAILABLE",
                "DATA_LOSS"
            ]
        );
        assert!(!Code::OK.is_error(Side::Client));
        assert!((1..=16).all(|c| Code(c).is_error(Side::Client)));
    }

    #[test]
    fn messages_are_percent_decoded() {
        let map = headers(&[
            ("grpc-status", b"14"),
            (
                "grpc-message",
                b"down%20for%20maintenance%3A%20caf%C3%A9 %zz %",
            ),
        ]);
        let (code, message) = status_in(&map).unwrap();
        assert_eq!(code.name(), "UNAVAILABLE");
        assert_eq!(message.as_deref(), Some("down for maintenance: café %zz %"));
        let invalid_utf8 = headers(&[("grpc-status", b"2"), ("grpc-message", b"%FF%FE")]);
        assert!(status_in(&invalid_utf8).unwrap().1.is_some());
        assert!(status_in(&HeaderMap::new()).is_none());
    }
}
