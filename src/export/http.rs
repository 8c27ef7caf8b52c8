//! Sending one encoded batch over HTTP: the hyper client the OTLP/HTTP and Zipkin exporters
//! share, with compression, headers, a per-attempt timeout and bounded response reading.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    CONTENT_ENCODING, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT,
};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::Compression;
use super::otlp::retry::{Attempt, parse_retry_after};
use crate::sink::ExportError;
use crate::span::SpanData;
use crate::untrusted::{Untrusted, show_bytes};

/// Response bodies are read up to this size; a larger body is not read (OTLP receivers answer
/// with a few bytes, and a broken or hostile one must not grow our memory).
pub(crate) const MAX_RESPONSE_BODY: usize = 4 << 20;

/// Requests are never larger than this (before compression); larger batches are split.
pub(crate) const MAX_REQUEST_BODY: usize = 64 << 20;

pub(crate) const ZSTD_MISSING: &str = "zstd compression needs tracewire's `zstd` feature";

/// The `User-Agent` the OTLP specification asks exporters to send ("OTLP/HTTP User Agent";
/// the OTLP/gRPC exporter sends it too, followed by tonic's).
pub(crate) const AGENT: &str = concat!("tracewire/", env!("CARGO_PKG_VERSION"));

/// Plain TCP, or TLS too with the `tls` feature.
#[cfg(feature = "tls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "tls"))]
type Connector = HttpConnector;

/// One HTTP endpoint and how to post to it.
#[derive(Debug)]
pub(crate) struct HttpSender {
    client: Client<Connector, Full<Bytes>>,
    uri: Uri,
    headers: HeaderMap,
    compression: Compression,
    timeout: Duration,
}

/// What a server answered.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: StatusCode,
    pub(crate) retry_after: Option<Duration>,
    /// The body, or empty if it was larger than [`MAX_RESPONSE_BODY`].
    pub(crate) body: Bytes,
}

impl HttpSender {
    /// A sender posting to `endpoint`; fails on an endpoint that is not an `http://` URL (or
    /// `https://` with the `tls` feature), on a header that is not a valid HTTP header, or on a
    /// `ca_pem` without a PEM certificate.
    pub(crate) fn new(
        endpoint: &str,
        content_type: &'static str,
        headers: &[(String, String)],
        compression: Compression,
        timeout: Duration,
        tls: TlsFiles<'_>,
    ) -> Result<Self, String> {
        let uri: Uri = endpoint
            .parse()
            .map_err(|e| format!("endpoint {endpoint:?} is not a URL: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") if cfg!(feature = "tls") => {}
            Some("https") => {
                return Err(format!(
                    "endpoint {endpoint:?}: https endpoints need tracewire's `tls` feature"
                ));
            }
            _ => return Err(format!("endpoint {endpoint:?} must start with http://")),
        }
        if uri.host().is_none() {
            return Err(format!("endpoint {endpoint:?} has no host"));
        }
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| format!("header name {name:?} is not a valid HTTP header name"))?;
            let value = HeaderValue::from_str(value.trim()).map_err(|_| {
                format!("header {name}: value {value:?} is not a valid header value")
            })?;
            map.append(name, value);
        }
        map.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        map.insert(USER_AGENT, HeaderValue::from_static(AGENT));
        match compression {
            Compression::None => {}
            Compression::Gzip => {
                map.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            Compression::Zstd if cfg!(feature = "zstd") => {
                map.insert(CONTENT_ENCODING, HeaderValue::from_static("zstd"));
            }
            Compression::Zstd => return Err(ZSTD_MISSING.into()),
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(limit(timeout));
        #[cfg(feature = "tls")]
        let connector = {
            connector.enforce_http(false);
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls_config(tls)?)
                .https_or_http()
                .enable_http1()
                .enable_http2()
                .wrap_connector(connector)
        };
        #[cfg(not(feature = "tls"))]
        let _ = tls;
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            client,
            uri,
            headers: map,
            compression,
            timeout,
        })
    }

    /// The body as sent: compressed if configured.
    pub(crate) fn prepare(&self, body: Vec<u8>) -> Result<Bytes, String> {
        match self.compression {
            Compression::None => Ok(Bytes::from(body)),
            Compression::Gzip => {
                let mut encoder = flate2::write::GzEncoder::new(
                    Vec::with_capacity(body.len() / 4),
                    flate2::Compression::fast(),
                );
                encoder
                    .write_all(&body)
                    .and_then(|()| encoder.finish())
                    .map(Bytes::from)
                    .map_err(|e| format!("gzip: {e}"))
            }
            #[cfg(feature = "zstd")]
            Compression::Zstd => zstd::encode_all(&body[..], 3)
                .map(Bytes::from)
                .map_err(|e| format!("zstd: {e}")),
            #[cfg(not(feature = "zstd"))]
            Compression::Zstd => Err(ZSTD_MISSING.into()),
        }
    }

    /// Posts `body` once, within the timeout. `Err` is a failure to connect, a disconnect or a
    /// timeout, all of which the OTLP specification counts as retryable.
    pub(crate) async fn post(&self, body: Bytes) -> Result<HttpResponse, String> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        let deadline = limit(self.timeout).map(|timeout| tokio::time::Instant::now() + timeout);
        // Only the response head decides whether the request went through: a receiver that
        // answered 2xx has the spans, so a body that then stalls must not make this attempt
        // count as failed and be sent again.
        let response = match before(deadline, self.client.request(request)).await {
            Ok(response) => response.map_err(|e| describe_client_error(&e))?,
            Err(_) => return Err(format!("no response within {:?}", self.timeout)),
        };
        {
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let too_long = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|len| len > MAX_RESPONSE_BODY as u64);
            let body = if too_long {
                Bytes::new()
            } else {
                let read = Limited::new(response.into_body(), MAX_RESPONSE_BODY).collect();
                match before(deadline, read).await {
                    Ok(Ok(collected)) => collected.to_bytes(),
                    // The status already says how the request went; a body cut short, too
                    // long or too slow is read as empty.
                    Ok(Err(_)) | Err(_) => Bytes::new(),
                }
            };
            Ok(HttpResponse {
                status,
                retry_after,
                body,
            })
        }
    }
}

/// What the TLS connection to an `https` endpoint trusts besides the Mozilla roots, and the
/// certificate it shows for mutual TLS (feature `tls`).
#[derive(Clone, Copy, Debug, Default)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))] // read only by the TLS connector
pub(crate) struct TlsFiles<'a> {
    /// PEM certificates to trust (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
    pub(crate) ca_pem: Option<&'a [u8]>,
    /// The client's PEM certificate chain and PEM private key
    /// (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`, `OTEL_EXPORTER_OTLP_CLIENT_KEY`).
    pub(crate) client: Option<(&'a [u8], &'a [u8])>,
}

/// The rustls client configuration: the Mozilla root certificates and the certificates of
/// `files.ca_pem` besides, and the client certificate of `files.client`.
#[cfg(feature = "tls")]
pub(crate) fn tls_config(files: TlsFiles<'_>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let ca_pem = files.ca_pem;

    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("the CA certificate is not valid PEM: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("the CA certificate cannot be used: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("the CA certificate file holds no PEM certificate".into());
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots);
    let Some((cert_pem, key_pem)) = files.client else {
        return Ok(builder.with_no_client_auth());
    };
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the client certificate is not valid PEM: {e}"))?;
    if chain.is_empty() {
        return Err("the client certificate file holds no PEM certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("the client key is not a valid PEM private key: {e}"))?;
    builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("the client certificate and key cannot be used: {e}"))
}

/// A timeout as the exporters read it: zero is none ("SDKs SHOULD interpret timeout zero
/// values (i.e. `0` indicating 0 milliseconds) as no limit", configuration, common.md).
pub(crate) fn limit(timeout: Duration) -> Option<Duration> {
    (!timeout.is_zero()).then_some(timeout)
}

/// `work`, given up at `deadline` if there is one.
pub(crate) async fn before<T>(
    deadline: Option<tokio::time::Instant>,
    work: impl std::future::Future<Output = T>,
) -> Result<T, tokio::time::error::Elapsed> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, work).await,
        None => Ok(work.await),
    }
}

/// Runs one batch's export, retries included, within `timeout` (none if zero): the exporter specifications'
/// timeout is the "Maximum time the OTLP exporter will wait for each batch export" (and the
/// same of Zipkin's), which bounds the export, not each attempt, as in the Go and Java SDKs.
pub(crate) async fn within_timeout(
    timeout: Duration,
    export: impl std::future::Future<Output = Result<(), ExportError>>,
) -> Result<(), ExportError> {
    let deadline = limit(timeout).map(|timeout| tokio::time::Instant::now() + timeout);
    match before(deadline, export).await {
        Ok(result) => result,
        Err(_) => Err(ExportError(format!(
            "the export, retries included, did not finish within {timeout:?}"
        ))),
    }
}

fn describe_client_error(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = if error.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// How the OTLP/HTTP specification classifies a status ("Failures", "Throttling"): 2xx is
/// success, 429, 502, 503 and 504 are retryable (honouring `Retry-After`), anything else is
/// final.
pub(crate) fn classify_status(
    response: &HttpResponse,
    accepted: impl FnOnce(&[u8]) -> Attempt,
) -> Attempt {
    let status = response.status;
    if status.is_success() {
        return accepted(&response.body);
    }
    let error = match error_message(&response.body) {
        Some(message) => format!("HTTP {status}: {message}"),
        None => format!("HTTP {status}"),
    };
    match status.as_u16() {
        429 | 502 | 503 | 504 => Attempt::Retryable {
            after: response.retry_after,
            error,
        },
        _ => Attempt::Permanent(error),
    }
}

/// What an error response says: OTLP/HTTP receivers answer with a protobuf `google.rpc.Status`
/// (`message = 2`) or, for JSON, its JSON form or plain text ("Failures" in the OTLP/HTTP
/// specification). The receiver wrote it, so it is shown bounded and escaped ([`Untrusted`]).
fn error_message(body: &[u8]) -> Option<String> {
    use super::otlp::proto::{Field, for_each_field};

    let shown = match std::str::from_utf8(body) {
        Ok(text) if !text.chars().any(|c| c.is_control() && !c.is_whitespace()) => {
            Untrusted::new(text.trim()).to_string()
        }
        _ => {
            let mut message = None;
            let is_status = for_each_field(body, |field, value| {
                if let (2, Field::Len(text)) = (field, value) {
                    message = Some(show_bytes(text));
                }
            });
            // Neither plain text nor a `Status`: shown as it is, escaped.
            if is_status {
                message?
            } else {
                show_bytes(body.trim_ascii())
            }
        }
    };
    (!shown.is_empty()).then_some(shown)
}

/// Sends `batch` in as many requests as it takes to keep each under [`MAX_REQUEST_BODY`]
/// (halving the batch until each part fits), and says how it went. A span that alone encodes
/// over the limit cannot be sent, and counts as failed.
pub(crate) async fn send_in_parts<'a, Fut>(
    batch: &'a [SpanData],
    encode: impl Fn(&'a [SpanData]) -> Vec<u8>,
    send: impl Fn(Vec<u8>, u64) -> Fut,
) -> PartsSent
where
    Fut: std::future::Future<Output = Result<(), ExportError>>,
{
    let mut outcome = PartsSent {
        total: batch.len() as u64,
        failed: 0,
        last_error: None,
    };
    let mut pending = vec![batch];
    while let Some(part) = pending.pop() {
        let body = encode(part);
        if body.len() > MAX_REQUEST_BODY {
            if part.len() > 1 {
                let (first, second) = part.split_at(part.len() / 2);
                pending.push(second);
                pending.push(first);
            } else {
                outcome.failed += 1;
                outcome.last_error = Some(ExportError(format!(
                    "a span encodes to {} bytes, over the {MAX_REQUEST_BODY}-byte request \
                     limit; dropped",
                    body.len()
                )));
            }
            continue;
        }
        if let Err(error) = send(body, part.len() as u64).await {
            outcome.failed += part.len() as u64;
            outcome.last_error = Some(error);
        }
    }
    outcome
}

/// How the requests of one batch went.
pub(crate) struct PartsSent {
    total: u64,
    failed: u64,
    last_error: Option<ExportError>,
}

impl PartsSent {
    /// The export's result: `Err` when nothing was delivered; when only some parts were, `Ok`
    /// with the undelivered spans added to `failed`, for
    /// [`Exporter::take_failed`](crate::sink::Exporter::take_failed), so that the spans the
    /// receiver has are counted as exported and only the others as failed.
    pub(crate) fn into_result(self, failed: &AtomicU64) -> Result<(), ExportError> {
        match self.last_error {
            None => Ok(()),
            Some(error) if self.failed >= self.total => Err(error),
            Some(error) => {
                crate::diagnostics::warning!(
                    "tracewire: {} of {} spans could not be exported: {error}",
                    self.failed,
                    self.total
                );
                failed.fetch_add(self.failed, Ordering::Relaxed);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_read_as_text_or_google_rpc_status() {
        assert_eq!(
            error_message(b"  quota exceeded\n"),
            Some("quota exceeded".into())
        );
        // google.rpc.Status { code: 3, message: "bad span" }
        let status = [
            0x08, 0x03, 0x12, 0x08, b'b', b'a', b'd', b' ', b's', b'p', b'a', b'n',
        ];
        assert_eq!(error_message(&status), Some("bad span".into()));
        assert_eq!(error_message(b""), None);
        assert_eq!(error_message(&[0x08, 0x03]), None);
        assert_eq!(error_message(&[0xff, 0xff]).unwrap(), "\u{fffd}\u{fffd}");
        let long = "é".repeat(1000);
        let cut = error_message(long.as_bytes()).unwrap();
        assert!(
            cut.len() <= 540 && cut.ends_with("… (1488 more bytes)"),
            "{cut}"
        );
        // A body with forged log lines and terminal escapes stays one escaped line.
        let forged = "bad\n[ERROR forged] x\u{1b}[2J";
        assert_eq!(
            error_message(forged.as_bytes()).unwrap(),
            "bad\\n[ERROR forged] x\\u{1b}[2J"
        );
    }
}
