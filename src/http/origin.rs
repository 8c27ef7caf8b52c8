//! Where a request comes from and goes to: the host and port (`server.address`,
//! `server.port`), the scheme (`url.scheme`), the client and the peer (`client.address`,
//! `network.peer.*`), shared by the HTTP and the gRPC conventions.

use std::borrow::Cow;
use std::cell::RefCell;
use std::net::SocketAddr;

use http::{HeaderMap, Request, Version};

use super::forwarded::Forwarded;
use super::interner::Interner;
use crate::semconv::{
    CLIENT_ADDRESS, NETWORK_PEER_ADDRESS, NETWORK_PEER_PORT, SERVER_ADDRESS, SERVER_PORT,
};
use crate::span::{KeyValue, Value};

/// `Host` headers (or URI authorities) a server answers to: a handful. The caller chooses
/// them, so they have a table of their own, bounded like every table, and only valid ones
/// are kept.
static SERVER_HOSTS: Interner = Interner::new(256);
/// The hosts a client calls: a table apart, so that a client calling many hosts (webhooks,
/// tenants) cannot fill the server's.
static CLIENT_HOSTS: Interner = Interner::new(256);

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
pub(crate) fn host_header(headers: &HeaderMap) -> Option<&str> {
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
pub(crate) fn scheme_value(scheme: &str) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
