//! The OTLP exporter: spans to the OpenTelemetry Collector, Jaeger, Grafana Tempo, or any
//! vendor that speaks OTLP.
//!
//! | protocol | wire | default endpoint |
//! |---|---|---|
//! | [`Protocol::HttpProtobuf`] (default) | `POST {endpoint}/v1/traces`, `application/x-protobuf` | `http://localhost:4318` |
//! | [`Protocol::HttpJson`] | the same path, `application/json` (OTLP/JSON) | `http://localhost:4318` |
//! | [`Protocol::Grpc`] (feature `otlp-grpc`) | `opentelemetry.proto.collector.trace.v1.TraceService/Export` | `http://localhost:4317` |
//!
//! Spans are encoded straight from [`SpanData`] ([`encode_protobuf`], [`encode_json`]) into
//! the official `opentelemetry-proto` schema; the tests decode the output with that crate's
//! generated types.
//!
//! # Behaviour
//!
//! - **Retries** are on by default ([`RetryPolicy`]): only what the OTLP specification calls
//!   retryable is retried, `Retry-After` is honoured, waits grow exponentially with jitter,
//!   and the total time is bounded.
//! - **Partial success**: a receiver that accepts the request but rejects some spans is not
//!   retried; the rejected spans are counted in
//!   [`SinkStats::export_rejected`](crate::sink::SinkStats::export_rejected), and its message is
//!   logged once (later ones at `debug` level).
//! - **Limits**: responses are read up to 4 MiB; a batch that encodes to more than 64 MiB is
//!   split into requests below that.
//! - **Never on the request path**: like every exporter it runs behind a
//!   [`BatchSink`](crate::sink::BatchSink), whose bounded queue drops (and counts) spans while
//!   the collector is down or slow.
//!
//! # Example
//!
//! ```
//! use tracewire::Tracer;
//! use tracewire::export::otlp::OtlpExporter;
//!
//! let exporter = OtlpExporter::http("http://127.0.0.1:4318").unwrap();
//! let tracer = Tracer::builder()
//!     .service_name("checkout")
//!     .exporter(exporter)
//!     .build();
//! # drop(tracer);
//! ```
//!
//! From the standard `OTEL_EXPORTER_OTLP_*` variables, see [`OtlpConfig::from_env`].

mod config;
pub(crate) mod json;
pub(crate) mod proto;
pub(crate) mod retry;

#[cfg(feature = "otlp-grpc")]
mod grpc;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

pub use config::OtlpConfig;
pub use json::encode_json;
pub use proto::encode_protobuf;
pub use retry::RetryPolicy;

use self::retry::{Attempt, with_retries};
use super::http::{HttpSender, TlsFiles, classify_status, send_in_parts, within_timeout};
use crate::sink::{BoxFuture, ExportError, Exporter};
use crate::span::SpanData;

/// How OTLP travels (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Protobuf over HTTP (`http/protobuf`), the specification's default.
    #[default]
    HttpProtobuf,
    /// OTLP/JSON over HTTP (`http/json`).
    HttpJson,
    /// Protobuf over gRPC (`grpc`); needs the `otlp-grpc` feature.
    Grpc,
}

impl Protocol {
    /// The name the `OTEL_EXPORTER_OTLP_PROTOCOL` variable uses.
    ///
    /// ```
    /// use tracewire::export::otlp::Protocol;
    /// assert_eq!(Protocol::HttpJson.as_str(), "http/json");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
            Protocol::Grpc => "grpc",
        }
    }
}

/// Sends spans over OTLP. Build it from an [`OtlpConfig`], from the environment
/// ([`OtlpConfig::from_env`]), or with the shorthands [`http`](Self::http),
/// [`http_json`](Self::http_json) and `grpc`; put it behind a batch sink
/// ([`Exporter::batched`], or [`TracerBuilder::exporter`](crate::TracerBuilder::exporter)).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tracewire::export::Compression;
/// use tracewire::export::otlp::{OtlpConfig, OtlpExporter, Protocol};
///
/// let exporter = OtlpExporter::new(OtlpConfig {
///     protocol: Protocol::HttpJson,
///     endpoint: "http://127.0.0.1:4318/v1/traces".into(),
///     headers: vec![("x-api-key".into(), "secret".into())],
///     compression: Compression::Gzip,
///     timeout: Duration::from_secs(5),
///     ..OtlpConfig::default()
/// })
/// .unwrap();
/// # drop(exporter);
/// ```
#[derive(Debug)]
pub struct OtlpExporter {
    transport: Transport,
    protocol: Protocol,
    retry: RetryPolicy,
    /// Spans refused by partial successes since the last `take_rejected` (the batch sink calls
    /// it after each export, and runs one export at a time).
    rejected: AtomicU64,
    /// Spans of split batches whose request failed, since the last `take_failed`.
    failed: AtomicU64,
    /// Whether a partial success was logged at `warn` level already.
    partial_logged: AtomicBool,
    /// The size of the last request, to size the next buffer.
    last_size: AtomicUsize,
    /// The endpoint, for messages.
    endpoint: String,
    /// The longest one batch's export may take, retries included.
    timeout: std::time::Duration,
}

#[derive(Debug)]
enum Transport {
    Http(HttpSender),
    #[cfg(feature = "otlp-grpc")]
    Grpc(grpc::GrpcSender),
}

impl OtlpExporter {
    /// An exporter with `config`; fails (naming the value) on an endpoint that is not an
    /// `http://` URL, a header that is not a valid HTTP header, or the `grpc` protocol without
    /// the `otlp-grpc` feature.
    pub fn new(config: OtlpConfig) -> Result<Self, ExportError> {
        let content_type = match config.protocol {
            Protocol::HttpJson => "application/json",
            _ => "application/x-protobuf",
        };
        let transport = match config.protocol {
            Protocol::HttpProtobuf | Protocol::HttpJson => Transport::Http(
                HttpSender::new(
                    &config.endpoint,
                    content_type,
                    &config.headers,
                    config.compression,
                    config.timeout,
                    TlsFiles {
                        ca_pem: config.certificate_pem.as_deref(),
                        client: config
                            .client_identity_pem
                            .as_ref()
                            .map(|(cert, key)| (cert.as_slice(), key.as_slice())),
                    },
                )
                .map_err(ExportError)?,
            ),
            #[cfg(feature = "otlp-grpc")]
            Protocol::Grpc => Transport::Grpc(grpc::GrpcSender::new(&config)?),
            #[cfg(not(feature = "otlp-grpc"))]
            Protocol::Grpc => {
                return Err(ExportError(
                    "the grpc protocol needs tracewire's `otlp-grpc` feature".into(),
                ));
            }
        };
        Ok(Self {
            transport,
            protocol: config.protocol,
            retry: config.retry,
            rejected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            partial_logged: AtomicBool::new(false),
            last_size: AtomicUsize::new(4096),
            endpoint: config.endpoint,
            timeout: config.timeout,
        })
    }

    /// OTLP/HTTP protobuf to `endpoint` (scheme, host and port, e.g.
    /// `http://localhost:4318`), posting to `{endpoint}/v1/traces` as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` does.
    ///
    /// ```
    /// let exporter = tracewire::export::otlp::OtlpExporter::http("http://localhost:4318");
    /// assert!(exporter.is_ok());
    /// assert!(tracewire::export::otlp::OtlpExporter::http("localhost:4318").is_err());
    /// ```
    pub fn http(endpoint: &str) -> Result<Self, ExportError> {
        Self::new(OtlpConfig {
            endpoint: config::signal_url(endpoint),
            ..OtlpConfig::default()
        })
    }

    /// OTLP/JSON over HTTP to `{endpoint}/v1/traces`.
    ///
    /// ```
    /// let exporter = tracewire::export::otlp::OtlpExporter::http_json("http://localhost:4318");
    /// assert!(exporter.is_ok());
    /// ```
    pub fn http_json(endpoint: &str) -> Result<Self, ExportError> {
        Self::new(OtlpConfig {
            protocol: Protocol::HttpJson,
            endpoint: config::signal_url(endpoint),
            ..OtlpConfig::default()
        })
    }

    /// OTLP/gRPC to `endpoint` (e.g. `http://localhost:4317`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let exporter = tracewire::export::otlp::OtlpExporter::grpc("http://localhost:4317");
    /// assert!(exporter.is_ok());
    /// # }
    /// ```
    #[cfg(feature = "otlp-grpc")]
    pub fn grpc(endpoint: &str) -> Result<Self, ExportError> {
        Self::new(OtlpConfig {
            protocol: Protocol::Grpc,
            endpoint: endpoint.to_string(),
            ..OtlpConfig::default()
        })
    }

    /// The protocol this exporter speaks.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Encodes `batch` as this exporter sends it (before compression).
    fn encode(&self, batch: &[SpanData]) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.last_size.load(Ordering::Relaxed));
        match self.protocol {
            Protocol::HttpJson => encode_json(batch, &mut body),
            Protocol::HttpProtobuf | Protocol::Grpc => encode_protobuf(batch, &mut body),
        }
        self.last_size.store(body.len(), Ordering::Relaxed);
        body
    }

    /// Sends one request holding `spans` spans, with retries.
    async fn send(&self, body: Vec<u8>, spans: u64) -> Result<(), ExportError> {
        let outcome = match &self.transport {
            Transport::Http(sender) => {
                let body = sender.prepare(body).map_err(ExportError)?;
                let json = self.protocol == Protocol::HttpJson;
                with_retries(&self.retry, || async {
                    match sender.post(body.clone()).await {
                        Ok(response) => classify_status(&response, |body| {
                            if json {
                                partial_success_json(body)
                            } else {
                                partial_success_protobuf(body)
                            }
                        }),
                        Err(error) => Attempt::Retryable { after: None, error },
                    }
                })
                .await
            }
            #[cfg(feature = "otlp-grpc")]
            Transport::Grpc(sender) => {
                let body = bytes::Bytes::from(body);
                with_retries(&self.retry, || sender.export(body.clone())).await
            }
        };
        match outcome {
            Ok((rejected, message)) => {
                // A receiver cannot refuse more spans than it was sent (one claimed 2^62).
                self.partial_success(rejected.min(spans), &message);
                Ok(())
            }
            Err(error) => Err(ExportError(format!(
                "OTLP export to {} failed: {error}",
                self.endpoint
            ))),
        }
    }

    /// Counts and logs a partial success: at `warn` level the first time, at `debug` after
    /// that, so a receiver that always rejects something does not flood the logs. `message` is
    /// the receiver's, already bounded and escaped by the decoders.
    fn partial_success(&self, rejected: u64, message: &str) {
        if rejected == 0 && message.is_empty() {
            return;
        }
        self.rejected.fetch_add(rejected, Ordering::Relaxed);
        let text = format!(
            "tracewire: the OTLP receiver rejected {rejected} spans{}{message}",
            if message.is_empty() { "" } else { ": " }
        );
        if self.partial_logged.swap(true, Ordering::Relaxed) {
            crate::diagnostics::debug!("{text}");
        } else {
            crate::diagnostics::warning!(
                "{text} (later partial successes are logged at debug level)"
            );
        }
    }
}

fn accepted(rejected: i64, message: String) -> Attempt {
    Attempt::Accepted {
        rejected: u64::try_from(rejected).unwrap_or(0),
        message,
    }
}

fn partial_success_protobuf(body: &[u8]) -> Attempt {
    match proto::decode_partial_success(body) {
        Some(p) => accepted(p.rejected_spans, p.error_message),
        None => accepted(0, String::new()),
    }
}

/// `{"partialSuccess":{"rejectedSpans":"3","errorMessage":"…"}}`; the count may be a string
/// (proto3 JSON's int64) or a number.
fn partial_success_json(body: &[u8]) -> Attempt {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return accepted(0, String::new());
    };
    let partial = &value["partialSuccess"];
    let rejected = match &partial["rejectedSpans"] {
        serde_json::Value::String(s) => s.parse().unwrap_or(0),
        other => other.as_i64().unwrap_or(0),
    };
    let message = partial["errorMessage"].as_str().unwrap_or("");
    let message = crate::untrusted::Untrusted::new(message).to_string();
    accepted(rejected, message)
}

#[cfg(test)]
impl OtlpExporter {
    /// Counts `spans` as failed, as a batch sent in parts with some parts failing would.
    pub(crate) fn count_failed(&self, spans: u64) {
        self.failed.fetch_add(spans, Ordering::Relaxed);
    }
}

impl Exporter for OtlpExporter {
    fn export<'a>(&'a self, batch: &'a [SpanData]) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(within_timeout(self.timeout, async move {
            send_in_parts(
                batch,
                |part| self.encode(part),
                |body, spans| self.send(body, spans),
            )
            .await
            .into_result(&self.failed)
        }))
    }

    fn take_failed(&self) -> u64 {
        self.failed.swap(0, Ordering::Relaxed)
    }

    fn take_rejected(&self) -> u64 {
        self.rejected.swap(0, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod hostile_response_tests {
    use proptest::prelude::*;

    use super::*;
    use crate::export::http::{HttpResponse, classify_status};

    /// Bodies a hostile receiver might send: random bytes, large repeated fragments, and
    /// protobuf and JSON partial successes with random messages and counts.
    fn hostile_body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..600),
            (prop::collection::vec(any::<u8>(), 1..30), 1usize..50_000)
                .prop_map(|(fragment, times)| fragment.repeat(times)),
            (any::<u64>(), ".{0,3000}").prop_map(|(rejected, message)| {
                let mut inner = vec![0x08];
                let mut n = rejected;
                while n >= 0x80 {
                    inner.push((n as u8) | 0x80);
                    n >>= 7;
                }
                inner.push(n as u8);
                inner.push(0x12);
                let mut len = message.len();
                while len >= 0x80 {
                    inner.push((len as u8) | 0x80);
                    len >>= 7;
                }
                inner.push(len as u8);
                inner.extend_from_slice(message.as_bytes());
                let mut body = vec![0x0a];
                let mut len = inner.len();
                while len >= 0x80 {
                    body.push((len as u8) | 0x80);
                    len >>= 7;
                }
                body.push(len as u8);
                body.extend(inner);
                body
            }),
            (".{0,40}", ".{0,3000}").prop_map(|(rejected, message)| {
                serde_json::json!({"partialSuccess": {"rejectedSpans": rejected, "errorMessage": message}})
                    .to_string()
                    .into_bytes()
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// No response body panics the decoders, and what they keep to log is bounded and
        /// holds no control character, whatever the receiver sent.
        #[test]
        fn any_response_decodes_to_a_bounded_safe_text(
            status in prop::sample::select(vec![200u16, 400, 429, 500, 503]),
            body in hostile_body(),
            json in any::<bool>(),
        ) {
            let response = HttpResponse {
                status: http::StatusCode::from_u16(status).unwrap(),
                retry_after: None,
                body: body.clone().into(),
            };
            let attempt = classify_status(&response, |body| match json {
                true => partial_success_json(body),
                false => partial_success_protobuf(body),
            });
            let text = match attempt {
                Attempt::Accepted { message, .. } => message,
                Attempt::Permanent(error) | Attempt::Retryable { error, .. } => error,
            };
            prop_assert!(text.len() <= 700, "{} bytes", text.len());
            prop_assert!(!text.chars().any(char::is_control), "{:?}", text);
            #[cfg(feature = "otlp-grpc")]
            let _ = grpc::retry_delay(&body);
        }
    }
}
