//! OpenTelemetry HTTP semantic conventions (stable): the attributes and name of an HTTP span.

use std::borrow::Cow;

use http::{Request, Version};

use crate::http::forwarded::Forwarded;
use crate::http::headers::record_headers;
use crate::http::interner::Interner;
use crate::http::origin::{
    client_side_address, host_header, push_client_and_peer, push_server_address, scheme_value,
    server_scheme, server_side_address,
};
use crate::semconv::{
    HTTP_REQUEST_METHOD_ORIGINAL, NETWORK_PROTOCOL_VERSION, URL_PATH, URL_QUERY, URL_SCHEME,
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
