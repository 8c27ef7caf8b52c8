//! OpenTelemetry HTTP semantic conventions (stable): the attributes and name of an HTTP span.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{LazyLock, PoisonError, RwLock};

use http::{HeaderMap, Request, Version};

use crate::http::forwarded::Forwarded;
use crate::semconv::{
    CLIENT_ADDRESS, HTTP_REQUEST_METHOD_ORIGINAL, NETWORK_PEER_ADDRESS, NETWORK_PEER_PORT,
    NETWORK_PROTOCOL_VERSION, SERVER_ADDRESS, SERVER_PORT, URL_PATH, URL_QUERY, URL_SCHEME,
    USER_AGENT_ORIGINAL,
};
use crate::span::{KeyValue, Value};

/// Query parameters whose values the HTTP conventions say to redact (`url.query`, `url.full`).
const SENSITIVE_QUERY_KEYS: &[&str] = &[
    "AWSAccessKeyId",
    "Signature",
    "sig",
    "X-Goog-Signature",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
];

/// The span name — `{method} {route}`, `{method}` without a route, `HTTP` for `_OTHER` — and
/// the route as a `'static` string for `http.route`. Names are interned, so a server's handful
/// of routes cost no allocation per request, and the route is a slice of its interned name,
/// so one lookup serves both.
pub(crate) fn span_name_and_route(
    method: &'static str,
    route: Option<&str>,
) -> (Cow<'static, str>, Option<Cow<'static, str>>) {
    let method = if method == "_OTHER" { "HTTP" } else { method };
    let Some(route) = route else {
        return (Cow::Borrowed(method), None);
    };
    let name = intern_with(&[method, " ", route]);
    let start = method.len() + 1;
    let route = match &name {
        Cow::Borrowed(name) => Cow::Borrowed(&name[start..]),
        Cow::Owned(name) => Cow::Owned(name[start..].to_string()),
    };
    (name, Some(route))
}

/// A gRPC method path interned (see [`Interner`]). The path is the caller's: a server layer
/// sees it before the router, unknown methods included, so these have a table of their own,
/// and a caller inventing paths can neither fill the route table nor grow memory past a bound.
pub(crate) fn intern_grpc_method(path: &str) -> Cow<'static, str> {
    static GRPC_METHODS: Interner = Interner::new(1024);
    GRPC_METHODS.intern(&[path])
}

/// Interned strings: route templates and span names are few per service, so each distinct
/// one (up to 256 bytes) is leaked once and shared; past a bound (a service that builds names
/// from raw paths), strings are allocated per call instead, so memory stays bounded.
pub(crate) struct Interner {
    set: LazyLock<RwLock<HashSet<&'static str>>>,
    max_entries: usize,
}

/// How many interned strings each thread remembers, over all tables.
const RECENT: usize = 16;

thread_local! {
    /// The strings this thread interned lately, with their table: most lookups end here,
    /// without the table's lock (a cache line every request thread would write) or a hash.
    static RECENTLY_INTERNED: RefCell<Recent> = const {
        RefCell::new(Recent { entries: [(0, ""); RECENT], next: 0 })
    };
}

struct Recent {
    /// (table address, string), replaced in turn.
    entries: [(usize, &'static str); RECENT],
    next: usize,
}

impl Interner {
    pub(crate) const fn new(max_entries: usize) -> Self {
        Self {
            set: LazyLock::new(|| RwLock::new(HashSet::new())),
            max_entries,
        }
    }

    fn intern(&'static self, parts: &[&str]) -> Cow<'static, str> {
        self.intern_valid(parts, |_| true)
            .unwrap_or_else(|| Cow::Owned(parts.concat()))
    }

    /// Interns `parts` joined if `valid` accepts them (asked only for strings not in the
    /// table yet, so that a caller's invalid strings never take its room); `None` if not.
    // `'static`: the per-thread list knows a table by its address, which a table that could
    // be dropped might hand on to another.
    pub(crate) fn intern_valid(
        &'static self,
        parts: &[&str],
        valid: impl FnOnce(&str) -> bool,
    ) -> Option<Cow<'static, str>> {
        let table = self as *const Self as usize;
        // Compared part by part: a hit joins and copies nothing.
        let recent = RECENTLY_INTERNED.try_with(|recent| {
            let recent = recent.try_borrow().ok()?;
            recent
                .entries
                .iter()
                .find(|(t, s)| *t == table && is_joined(s, parts))
                .map(|(_, s)| *s)
        });
        if let Ok(Some(found)) = recent {
            return Some(Cow::Borrowed(found));
        }
        let mut buffer = [0u8; 256];
        let Some(joined) = join_into(&mut buffer, parts) else {
            // Longer than any template we expect: not worth keeping forever.
            let joined = parts.concat();
            return valid(&joined).then_some(Cow::Owned(joined));
        };
        let interned = self.intern_shared(joined, valid)?;
        if let Cow::Borrowed(found) = interned {
            let _ = RECENTLY_INTERNED.try_with(|recent| {
                if let Ok(mut recent) = recent.try_borrow_mut() {
                    let next = recent.next;
                    recent.entries[next] = (table, found);
                    recent.next = (next + 1) % RECENT;
                }
            });
        }
        Some(interned)
    }

    /// The process-wide lookup, and insertion (of a string `valid` accepts) while under the
    /// bound.
    fn intern_shared(
        &self,
        joined: &str,
        valid: impl FnOnce(&str) -> bool,
    ) -> Option<Cow<'static, str>> {
        if let Some(found) = self
            .set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(joined)
        {
            return Some(Cow::Borrowed(found));
        }
        if !valid(joined) {
            return None;
        }
        let mut set = self.set.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = set.get(joined) {
            return Some(Cow::Borrowed(found));
        }
        if set.len() >= self.max_entries {
            return Some(Cow::Owned(joined.to_owned()));
        }
        let leaked: &'static str = Box::leak(joined.to_owned().into_boxed_str());
        set.insert(leaked);
        Some(Cow::Borrowed(leaked))
    }
}

/// `Host` headers (or URI authorities) a server answers to: a handful. The caller chooses
/// them, so they have a table of their own, bounded like every table, and only valid ones
/// are kept.
static SERVER_HOSTS: Interner = Interner::new(256);
/// The hosts a client calls: a table apart, so that a client calling many hosts (webhooks,
/// tenants) cannot fill the server's.
static CLIENT_HOSTS: Interner = Interner::new(256);

/// A `User-Agent` interned: most traffic comes from a few clients, and a caller inventing
/// agents only fills this table's bound.
fn intern_user_agent(agent: &str) -> Cow<'static, str> {
    static USER_AGENTS: Interner = Interner::new(1024);
    USER_AGENTS.intern(&[agent])
}

/// A span name `{method} {route}` interned in the routes' table.
fn intern_with(parts: &[&str]) -> Cow<'static, str> {
    static ROUTES: Interner = Interner::new(4096);
    ROUTES.intern(parts)
}

/// Whether `joined` is `parts` joined.
fn is_joined(joined: &str, parts: &[&str]) -> bool {
    let mut rest = joined;
    for part in parts {
        match rest.strip_prefix(part) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    rest.is_empty()
}

/// Joins `parts` in a stack buffer when they fit, so that a lookup allocates nothing.
fn join_into<'b>(buffer: &'b mut [u8; 256], parts: &[&str]) -> Option<&'b str> {
    let mut len = 0;
    for part in parts {
        let end = len + part.len();
        buffer.get_mut(len..end)?.copy_from_slice(part.as_bytes());
        len = end;
    }
    std::str::from_utf8(&buffer[..len]).ok()
}

/// `network.protocol.version`.
pub(crate) fn protocol_version(version: Version) -> Option<&'static str> {
    match version {
        Version::HTTP_09 => Some("0.9"),
        Version::HTTP_10 => Some("1.0"),
        Version::HTTP_11 => Some("1.1"),
        Version::HTTP_2 => Some("2"),
        Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

/// A query string with the values of sensitive parameters replaced by `REDACTED`.
pub(crate) fn redact_query(query: &str) -> Cow<'_, str> {
    let sensitive = |pair: &str| {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        SENSITIVE_QUERY_KEYS.contains(&key)
    };
    if !query.split('&').any(sensitive) {
        return Cow::Borrowed(query);
    }
    let redacted: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if sensitive(pair) => Cow::Owned(format!("{key}=REDACTED")),
            _ => Cow::Borrowed(pair),
        })
        .collect();
    Cow::Owned(redacted.join("&"))
}

/// A host and, if it said one, its port.
pub(crate) type HostAndPort = (Cow<'static, str>, Option<u16>);

/// `server.address` and `server.port` of a server span: the first of the original host a proxy
/// passed on (`Forwarded: host=`, `X-Forwarded-Host`), HTTP/2's `:authority` and the `Host`
/// header, in the conventions' order ("Setting `server.address` and `server.port`
/// attributes"), or else the request target's authority (HTTP/1.1's absolute form). Interned:
/// a service answers to few names.
pub(crate) fn server_side_address(
    headers: &HeaderMap,
    uri: &http::Uri,
    version: Version,
    forwarded_host: Option<&str>,
) -> Option<HostAndPort> {
    let parse = |authority: &str| host_and_port(authority, &SERVER_HOSTS);
    let target = || parse(uri.authority()?.as_str());
    let host_header = || parse(host_header(headers)?);
    forwarded_host
        .and_then(parse)
        .or_else(|| (version >= Version::HTTP_2).then(target).flatten())
        .or_else(host_header)
        .or_else(target)
}

/// `server.address` and `server.port` of a client span: the origin the request is sent to (its
/// target's authority), or else its `Host` header. Interned: a service calls few hosts.
pub(crate) fn client_side_address(headers: &HeaderMap, uri: &http::Uri) -> Option<HostAndPort> {
    let parse = |authority: &str| host_and_port(authority, &CLIENT_HOSTS);
    uri.authority()
        .and_then(|authority| parse(authority.as_str()))
        .or_else(|| parse(host_header(headers)?))
}

/// The `Host` header, if it is text.
fn host_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(http::header::HOST)?.to_str().ok()
}

/// The host and port of an authority, if it is a valid one.
fn host_and_port(authority: &str, hosts: &'static Interner) -> Option<HostAndPort> {
    let valid = |a: &str| a.parse::<http::uri::Authority>().is_ok();
    match hosts.intern_valid(&[authority], valid)? {
        Cow::Borrowed(interned) => {
            if let Some(parsed) = recently_parsed(interned) {
                return Some((Cow::Borrowed(parsed.0), parsed.1));
            }
            // Parsed from the interned copy, without copying it: the host is a slice of it.
            let bytes = bytes::Bytes::from_static(interned.as_bytes());
            let parsed = http::uri::Authority::from_maybe_shared(bytes).ok()?;
            let host = parsed.host();
            let start = (host.as_ptr() as usize).wrapping_sub(interned.as_ptr() as usize);
            let host = match interned.get(start..start.saturating_add(host.len())) {
                Some(slice) if slice.as_ptr() == host.as_ptr() => Cow::Borrowed(slice),
                _ => Cow::Owned(host.to_owned()),
            };
            if let Cow::Borrowed(host) = host {
                remember_parsed(interned, host, parsed.port_u16());
            }
            Some((host, parsed.port_u16()))
        }
        Cow::Owned(authority) => {
            let parsed = authority.parse::<http::uri::Authority>().ok()?;
            Some((Cow::Owned(parsed.host().to_owned()), parsed.port_u16()))
        }
    }
}

/// Interned authorities this thread parsed lately, by address, with their host and port: a
/// server answers to one or two, so most requests parse none.
type ParsedHost = (&'static str, &'static str, Option<u16>);

thread_local! {
    static RECENTLY_PARSED: RefCell<[ParsedHost; 4]> = const { RefCell::new([("", "", None); 4]) };
}

fn recently_parsed(interned: &'static str) -> Option<(&'static str, Option<u16>)> {
    RECENTLY_PARSED
        .try_with(|recent| {
            let recent = recent.try_borrow().ok()?;
            recent
                .iter()
                .find(|(authority, ..)| std::ptr::eq(*authority, interned))
                .map(|&(_, host, port)| (host, port))
        })
        .ok()
        .flatten()
}

fn remember_parsed(interned: &'static str, host: &'static str, port: Option<u16>) {
    let _ = RECENTLY_PARSED.try_with(|recent| {
        if let Ok(mut recent) = recent.try_borrow_mut() {
            recent.rotate_right(1);
            recent[0] = (interned, host, port);
        }
    });
}

/// `client.address`: the client behind the proxies, when they say (`Forwarded: for=`, else
/// `X-Forwarded-For`), as the conventions prefer, else the peer address if the server recorded
/// one; and `network.peer.address`/`network.peer.port`: the peer itself (the nearest proxy,
/// if any), when the server recorded it (see `peer_address`).
pub(crate) fn push_client_and_peer<B>(
    attributes: &mut Vec<KeyValue>,
    request: &Request<B>,
    forwarded: &Forwarded<'_>,
) {
    let peer = peer_address(request);
    let peer_ip = peer.map(|peer| peer.ip().to_string());
    let client = match forwarded.client {
        Some(client) => Some(client.to_string()),
        None => peer_ip.clone(),
    };
    if let Some(client) = client {
        attributes.push(KeyValue::new(CLIENT_ADDRESS, client));
    }
    if let (Some(peer), Some(ip)) = (peer, peer_ip) {
        attributes.push(KeyValue::new(NETWORK_PEER_ADDRESS, ip));
        attributes.push(KeyValue::new(NETWORK_PEER_PORT, i64::from(peer.port())));
    }
}

/// `url.scheme` of a server span: the scheme the client used, as a proxy says (`Forwarded:
/// proto=`, `X-Forwarded-Proto`), else the request target's, else `http` (an HTTP/1.1 request
/// names none; over TLS, a server learns it from its listener, which this layer does not see).
pub(crate) fn server_scheme<'a>(uri: &'a http::Uri, forwarded: &Forwarded<'a>) -> &'a str {
    forwarded
        .proto
        .or_else(|| uri.scheme_str())
        .unwrap_or("http")
}

/// A scheme as an attribute value: the usual two without copying, lowercase.
fn scheme_value(scheme: &str) -> Value {
    if scheme.eq_ignore_ascii_case("http") {
        Value::from("http")
    } else if scheme.eq_ignore_ascii_case("https") {
        Value::from("https")
    } else {
        Value::from(scheme.to_ascii_lowercase())
    }
}

/// The peer's socket address, if the server put it in the request's extensions: axum's
/// `ConnectInfo<SocketAddr>` (only with `into_make_service_with_connect_info`, not with
/// `axum::serve(listener, app)`), tonic's `TcpConnectInfo`, or a plain `SocketAddr`.
fn peer_address<B>(request: &Request<B>) -> Option<SocketAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(info.0);
    }
    #[cfg(feature = "tonic")]
    if let Some(addr) = request
        .extensions()
        .get::<tonic::transport::server::TcpConnectInfo>()
        .and_then(|info| info.remote_addr())
    {
        return Some(addr);
    }
    request.extensions().get::<SocketAddr>().copied()
}

/// The attributes a server span carries from its request (those known before the response).
pub(crate) fn server_request_attributes<B>(
    attributes: &mut Vec<KeyValue>,
    request: &Request<B>,
    method: &'static str,
    route: Option<&'static str>,
    recorded_headers: &[http::HeaderName],
) {
    attributes.reserve(12);
    let uri = request.uri();
    // A path with no parameters is its route template, interned already.
    let path = match route {
        Some(route) if route == uri.path() => Value::from(route),
        _ => Value::from(uri.path().to_string()),
    };
    attributes.push(KeyValue::new(URL_PATH, path));
    if let Some(query) = uri.query() {
        attributes.push(KeyValue::new(URL_QUERY, redact_query(query).into_owned()));
    }
    let forwarded = Forwarded::of(request.headers());
    let scheme = server_scheme(uri, &forwarded);
    attributes.push(KeyValue::new(URL_SCHEME, scheme_value(scheme)));
    if method == "_OTHER" {
        attributes.push(KeyValue::new(
            HTTP_REQUEST_METHOD_ORIGINAL,
            request.method().as_str().to_string(),
        ));
    }
    if let Some(version) = protocol_version(request.version()) {
        attributes.push(KeyValue::new(NETWORK_PROTOCOL_VERSION, version));
    }
    let address = server_side_address(request.headers(), uri, request.version(), forwarded.host);
    push_server_address(attributes, address, Some(scheme));
    push_client_and_peer(attributes, request, &forwarded);
    if let Some(agent) = request.headers().get(http::header::USER_AGENT) {
        // Bytes past ASCII (RFC 9110 obs-text) are rare but legal: kept, lossily.
        let agent = String::from_utf8_lossy(agent.as_bytes());
        attributes.push(KeyValue::new(
            USER_AGENT_ORIGINAL,
            intern_user_agent(&agent),
        ));
    }
    record_headers(
        attributes,
        "http.request.header.",
        request.headers(),
        recorded_headers,
    );
}

/// `url.full` with credentials replaced by `REDACTED:REDACTED` and signature values by
/// `REDACTED`, as the HTTP client conventions require.
pub(crate) fn redacted_full_url(uri: &http::Uri, host_header: Option<&str>) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    // A request in origin form (`/items`, sent through a client that adds the origin) names
    // its host in `Host`.
    let authority = uri
        .authority()
        .map_or(host_header.unwrap_or(""), |a| a.as_str());
    let authority: Cow<'_, str> = match authority.rsplit_once('@') {
        Some((_, host)) => Cow::Owned(format!("REDACTED:REDACTED@{host}")),
        None => Cow::Borrowed(authority),
    };
    let mut url = format!("{scheme}://{authority}{}", uri.path());
    if let Some(query) = uri.query() {
        url.push('?');
        url.push_str(&redact_query(query));
    }
    url
}

/// The attributes a client span carries from its request, beyond the method.
pub(crate) fn client_request_attributes(
    attributes: &mut Vec<KeyValue>,
    request: &http::request::Parts,
    method: &'static str,
    recorded_headers: &[http::HeaderName],
) {
    attributes.reserve(6);
    let uri = &request.uri;
    attributes.push(KeyValue::new(
        crate::semconv::URL_FULL,
        redacted_full_url(uri, host_header(&request.headers)),
    ));
    if method == "_OTHER" {
        attributes.push(KeyValue::new(
            HTTP_REQUEST_METHOD_ORIGINAL,
            request.method.as_str().to_string(),
        ));
    }
    let address = client_side_address(&request.headers, uri);
    push_server_address(
        attributes,
        address,
        Some(uri.scheme_str().unwrap_or("http")),
    );
    // `network.protocol.version` comes with the response: the negotiated one.
    record_headers(
        attributes,
        "http.request.header.",
        &request.headers,
        recorded_headers,
    );
}

/// `server.address` and `server.port`. A port the authority leaves out is `scheme`'s default
/// (HTTP); without a scheme (gRPC, whose conventions record the port only when the authority
/// has one) it is left out.
pub(crate) fn push_server_address(
    attributes: &mut Vec<KeyValue>,
    address: Option<HostAndPort>,
    scheme: Option<&str>,
) {
    let Some((host, port)) = address else {
        return;
    };
    attributes.push(KeyValue::new(SERVER_ADDRESS, host));
    let default = |scheme: &str| match scheme.eq_ignore_ascii_case("https") {
        true => 443,
        false => 80,
    };
    if let Some(port) = port.or_else(|| scheme.map(default)) {
        attributes.push(KeyValue::new(SERVER_PORT, i64::from(port)));
    }
}

/// Adds a header name to record, once: each recorded header is one attribute key.
pub(crate) fn push_once(names: &mut Vec<http::HeaderName>, name: http::HeaderName) {
    if !names.contains(&name) {
        names.push(name);
    }
}

/// `http.{request|response}.header.<name>` as string arrays, for the names the user listed.
pub(crate) fn record_headers(
    attributes: &mut Vec<KeyValue>,
    prefix: &str,
    headers: &HeaderMap,
    names: &[http::HeaderName],
) {
    for name in names {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        if !values.is_empty() {
            attributes.push(KeyValue::new(format!("{prefix}{name}"), values));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_names() {
        assert_eq!(span_name_and_route("_OTHER", Some("/x")).0, "HTTP /x");
        let (name, route) = span_name_and_route("GET", Some("/users/{id}"));
        assert_eq!(
            (name.as_ref(), route.as_deref()),
            ("GET /users/{id}", Some("/users/{id}"))
        );
        assert_eq!(
            span_name_and_route("POST", None),
            (Cow::Borrowed("POST"), None)
        );
        // Interned: the same name is the same allocation.
        let (a, b) = (
            span_name_and_route("GET", Some("/a")).0,
            span_name_and_route("GET", Some("/a")).0,
        );
        assert!(matches!((&a, &b), (Cow::Borrowed(x), Cow::Borrowed(y)) if std::ptr::eq(*x, *y)));
        let long = "x".repeat(300);
        assert_eq!(intern_with(&[&long]), long.as_str());
    }

    #[test]
    fn server_address_in_the_conventions_order() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, "backend:3000".parse().unwrap());
        let uri: http::Uri = "http://authority.test:81/x".parse().unwrap();
        let found = |version, forwarded| {
            let (host, port) = server_side_address(&headers, &uri, version, forwarded).unwrap();
            (host.into_owned(), port)
        };
        // The host a proxy passed on, then HTTP/2's `:authority`, then `Host`.
        let proxied = Some("public.example:8443");
        let public = ("public.example".to_string(), Some(8443));
        assert_eq!(found(Version::HTTP_11, proxied), public);
        assert_eq!(found(Version::HTTP_2, proxied), public);
        assert_eq!(
            found(Version::HTTP_2, None),
            ("authority.test".into(), Some(81))
        );
        assert_eq!(
            found(Version::HTTP_11, None),
            ("backend".into(), Some(3000))
        );
        // A client calls its target, whatever its `Host` says.
        let (host, _) = client_side_address(&headers, &uri).unwrap();
        assert_eq!(host, "authority.test");
    }

    #[test]
    fn server_address_from_the_host_header_or_the_authority() {
        let with_host = |host: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::HOST, host.parse().unwrap());
            server_side_address(&headers, &"/x".parse().unwrap(), Version::HTTP_11, None)
        };
        let host = |found: Option<HostAndPort>| found.map(|(host, port)| (host.into_owned(), port));
        assert_eq!(
            host(with_host("example.com:8080")),
            Some(("example.com".into(), Some(8080)))
        );
        assert_eq!(
            host(with_host("example.com")),
            Some(("example.com".into(), None))
        );
        assert_eq!(
            host(with_host("[::1]:3000")),
            Some(("[::1]".into(), Some(3000)))
        );
        assert_eq!(host(with_host("[::1]")), Some(("[::1]".into(), None)));
        assert_eq!(host(with_host("bad host")), None);
        // A port past 65535 is no port.
        assert_eq!(
            host(with_host("example.com:99999")),
            Some(("example.com".into(), None))
        );
        // A client's is the origin it calls.
        let uri: http::Uri = "https://api.test:8443/x".parse().unwrap();
        let found = client_side_address(&HeaderMap::new(), &uri);
        assert_eq!(host(found), Some(("api.test".into(), Some(8443))));
        // A Host header that is no authority gives way to the URI's.
        let mut bad = HeaderMap::new();
        bad.insert(http::header::HOST, "bad host".parse().unwrap());
        let uri: http::Uri = "http://api.test:81/x".parse().unwrap();
        let found = server_side_address(&bad, &uri, Version::HTTP_11, None);
        assert_eq!(host(found), Some(("api.test".into(), Some(81))));
        // Invalid hosts take no room in a table: valid ones are still interned after many.
        let table: &'static Interner = Box::leak(Box::new(Interner::new(2)));
        let valid = |a: &str| a.parse::<http::uri::Authority>().is_ok();
        for i in 0..10 {
            assert!(
                table
                    .intern_valid(&[&format!("bad host {i}")], valid)
                    .is_none()
            );
        }
        assert!(matches!(
            table.intern_valid(&["good.example"], valid),
            Some(Cow::Borrowed(_))
        ));
        // Interned: the same address is the same memory, and parsing it allocates nothing.
        let (first, _) = with_host("shared.example:1").unwrap();
        let (again, _) = with_host("shared.example:1").unwrap();
        assert!(
            matches!((&first, &again), (Cow::Borrowed(a), Cow::Borrowed(b)) if a.as_ptr() == b.as_ptr())
        );
    }

    #[test]
    fn url_path_is_the_interned_route_when_the_route_has_no_parameters() {
        let path_of = |path: &str, route: Option<&'static str>| {
            let request = Request::get(path).body(()).unwrap();
            let mut attributes = Vec::new();
            server_request_attributes(&mut attributes, &request, "GET", route, &[]);
            attributes
                .into_iter()
                .find(|a| a.key == URL_PATH)
                .unwrap()
                .value
        };
        let route: &'static str = "/hello";
        match path_of("/hello", Some(route)) {
            Value::String(Cow::Borrowed(path)) => assert_eq!(path.as_ptr(), route.as_ptr()),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            path_of("/users/7", Some("/users/{id}")),
            Value::String(Cow::Owned("/users/7".into()))
        );
        assert_eq!(path_of("/x", None), Value::from("/x".to_string()));
    }

    #[test]
    fn an_interner_keeps_at_most_its_bound_and_never_long_strings() {
        // A table of its own: filling the process-wide ones would change other tests.
        let table: &'static Interner = Box::leak(Box::new(Interner::new(4)));
        assert!(matches!(table.intern(&[&"x".repeat(300)]), Cow::Owned(_)));
        let kept: Vec<_> = (0..4)
            .map(|i| table.intern(&[&format!("made.Up{i}/M")]))
            .collect();
        assert!(kept.iter().all(|s| matches!(s, Cow::Borrowed(_))));
        assert!(matches!(table.intern(&["made.Up4/M"]), Cow::Owned(_)));
        // Those kept are still shared.
        assert!(matches!(
            table.intern(&["made.Up0/M"]),
            Cow::Borrowed("made.Up0/M")
        ));
        assert!(matches!(
            intern_grpc_method(&"x".repeat(300)),
            Cow::Owned(_)
        ));
    }

    #[test]
    fn full_urls_hide_credentials_and_signatures() {
        let uri: http::Uri = "https://user:pw@example.com:8443/a/b?sig=x&q=1"
            .parse()
            .unwrap();
        assert_eq!(
            redacted_full_url(&uri, None),
            "https://REDACTED:REDACTED@example.com:8443/a/b?sig=REDACTED&q=1"
        );
        let plain: http::Uri = "http://example.com/".parse().unwrap();
        assert_eq!(
            redacted_full_url(&plain, Some("other")),
            "http://example.com/"
        );
        let relative: http::Uri = "/items?sig=x".parse().unwrap();
        assert_eq!(
            redacted_full_url(&relative, Some("api.test:81")),
            "http://api.test:81/items?sig=REDACTED"
        );
    }

    #[test]
    fn redacts_sensitive_query_values() {
        assert_eq!(redact_query("a=1&b=2"), "a=1&b=2");
        assert_eq!(
            redact_query("sig=abc&page=2&X-Amz-Signature=zz&Signature"),
            "sig=REDACTED&page=2&X-Amz-Signature=REDACTED&Signature"
        );
    }
}
