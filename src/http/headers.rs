//! Request and response headers a user asked to record (`http.request.header.<name>`,
//! `http.response.header.<name>`), for HTTP and gRPC spans alike.

use http::HeaderMap;

use crate::span::KeyValue;

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
