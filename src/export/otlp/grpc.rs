//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export` over tonic, with
//! the request body encoded by [`encode_protobuf`](super::encode_protobuf) and passed through a
//! codec that moves bytes, so no message structs are built.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use http::uri::PathAndQuery;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::OtlpConfig;
use super::proto::{Field, decode_partial_success, for_each_field};
use super::retry::Attempt;
use crate::export::Compression;
use crate::export::http::{AGENT, MAX_REQUEST_BODY, MAX_RESPONSE_BODY, before, limit};
use crate::sink::ExportError;

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// A gRPC endpoint and how to call it. The channel is made on first use, on the batch sink's
/// runtime, because tonic spawns the channel's worker task on the runtime that creates it.
#[derive(Debug)]
pub(crate) struct GrpcSender {
    endpoint: Endpoint,
    channel: Mutex<Option<Channel>>,
    metadata: MetadataMap,
    compression: Compression,
    timeout: Duration,
}

impl GrpcSender {
    pub(crate) fn new(config: &OtlpConfig) -> Result<Self, ExportError> {
        let url = &config.endpoint;
        let uri: http::Uri = url
            .parse()
            .map_err(|e| ExportError(format!("endpoint {url:?} is not a URL: {e}")))?;
        match uri.scheme_str() {
            Some("http") if uri.host().is_some() => {}
            Some("https") if cfg!(feature = "tls") && uri.host().is_some() => {}
            Some("https") => {
                return Err(ExportError(format!(
                    "endpoint {url:?}: https endpoints need tracewire's `tls` feature (or use \
                     http://, OTEL_EXPORTER_OTLP_INSECURE=true for an endpoint without a scheme)"
                )));
            }
            _ => {
                return Err(ExportError(format!(
                    "endpoint {url:?} must be an http:// URL with a host"
                )));
            }
        }
        // `user-agent: tracewire/x.y.z tonic/x.y.z`: the exporter first, as the OTLP
        // specification asks ("User Agent"); tonic appends its own.
        let endpoint = Endpoint::from_shared(url.clone())
            .and_then(|endpoint| endpoint.user_agent(AGENT))
            .map_err(|e| ExportError(format!("endpoint {url:?}: {e}")))?;
        let endpoint = match limit(config.timeout) {
            Some(timeout) => endpoint.connect_timeout(timeout).timeout(timeout),
            None => endpoint,
        };
        #[cfg(feature = "tls")]
        let endpoint = if uri.scheme_str() == Some("https") {
            let mut tls = tonic::transport::ClientTlsConfig::new().with_webpki_roots();
            if let Some(pem) = &config.certificate_pem {
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            if let Some((cert, key)) = &config.client_identity_pem {
                tls = tls.identity(tonic::transport::Identity::from_pem(cert, key));
            }
            endpoint
                .tls_config(tls)
                .map_err(|e| ExportError(format!("endpoint {url:?}: TLS: {e}")))?
        } else {
            endpoint
        };
        if config.compression == Compression::Zstd && !cfg!(feature = "zstd") {
            return Err(ExportError(crate::export::http::ZSTD_MISSING.into()));
        }
        let mut metadata = MetadataMap::new();
        for (name, value) in &config.headers {
            let key: AsciiMetadataKey = name.trim().to_ascii_lowercase().parse().map_err(|_| {
                ExportError(format!("header name {name:?} is not valid gRPC metadata"))
            })?;
            let value: AsciiMetadataValue = value.trim().parse().map_err(|_| {
                ExportError(format!(
                    "header {name}: value {value:?} is not valid metadata"
                ))
            })?;
            metadata.append(key, value);
        }
        Ok(Self {
            endpoint,
            channel: Mutex::new(None),
            metadata,
            compression: config.compression,
            timeout: config.timeout,
        })
    }

    fn channel(&self) -> Channel {
        self.channel
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(|| self.endpoint.connect_lazy())
            .clone()
    }

    /// One `Export` call, classified as the OTLP/gRPC specification says.
    pub(crate) async fn export(&self, body: Bytes) -> Attempt {
        let mut client = tonic::client::Grpc::new(self.channel())
            .max_decoding_message_size(MAX_RESPONSE_BODY)
            .max_encoding_message_size(MAX_REQUEST_BODY + 1024);
        match self.compression {
            Compression::Gzip => client = client.send_compressed(CompressionEncoding::Gzip),
            #[cfg(feature = "zstd")]
            Compression::Zstd => client = client.send_compressed(CompressionEncoding::Zstd),
            _ => {}
        }
        let call = async {
            client
                .ready()
                .await
                .map_err(|e| Status::unavailable(format!("cannot connect: {e}")))?;
            let mut request = tonic::Request::new(body);
            *request.metadata_mut() = self.metadata.clone();
            if let Some(timeout) = limit(self.timeout) {
                request.set_timeout(timeout);
            }
            client
                .unary(request, PathAndQuery::from_static(EXPORT_PATH), RawCodec)
                .await
        };
        let deadline = limit(self.timeout).map(|timeout| tokio::time::Instant::now() + timeout);
        let result = match before(deadline, call).await {
            Ok(result) => result,
            Err(_) => Err(Status::deadline_exceeded(format!(
                "no response within {:?}",
                self.timeout
            ))),
        };
        match result {
            Ok(response) => match decode_partial_success(response.get_ref()) {
                Some(p) => Attempt::Accepted {
                    rejected: u64::try_from(p.rejected_spans).unwrap_or(0),
                    message: p.error_message,
                },
                None => Attempt::Accepted {
                    rejected: 0,
                    message: String::new(),
                },
            },
            Err(status) => classify(&status),
        }
    }
}

/// The OTLP/gRPC "Failures" table: these codes are retryable, `RESOURCE_EXHAUSTED` only when
/// the server sent `RetryInfo` (it says the server may recover), everything else is final.
fn classify(status: &Status) -> Attempt {
    let error = format!(
        "gRPC {:?}: {}",
        status.code(),
        crate::untrusted::Untrusted::new(status.message())
    );
    let retry_info = retry_delay(status.details());
    let retryable = match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => true,
        Code::ResourceExhausted => retry_info.is_some(),
        _ => false,
    };
    if retryable {
        Attempt::Retryable {
            // A zero delay says nothing of when: the backoff decides, as in the spec's sample
            // client, which waits for `RetryDelay` only when it is positive.
            after: retry_info.filter(|delay| !delay.is_zero()),
            error,
        }
    } else {
        Attempt::Permanent(error)
    }
}

/// The `google.rpc.RetryInfo.retry_delay` in a `google.rpc.Status` (the `grpc-status-details-bin`
/// trailer): `Status.details = 3` are `Any { type_url = 1, value = 2 }`; `RetryInfo.retry_delay
/// = 1` is a `Duration { seconds = 1, nanos = 2 }`.
pub(crate) fn retry_delay(details: &[u8]) -> Option<Duration> {
    let mut delay = None;
    for_each_field(details, |field, value| {
        let (3, Field::Len(any)) = (field, value) else {
            return;
        };
        let (mut type_url, mut payload) = (&[][..], &[][..]);
        for_each_field(any, |field, value| match (field, value) {
            (1, Field::Len(url)) => type_url = url,
            (2, Field::Len(bytes)) => payload = bytes,
            _ => {}
        });
        if type_url != b"type.googleapis.com/google.rpc.RetryInfo" {
            return;
        }
        let mut found = Duration::ZERO;
        for_each_field(payload, |field, value| {
            if let (1, Field::Len(duration)) = (field, value) {
                for_each_field(duration, |field, value| match (field, value) {
                    (1, Field::Varint(seconds)) => {
                        found += Duration::from_secs(seconds.min(3600));
                    }
                    (2, Field::Varint(nanos)) => {
                        found += Duration::from_nanos(nanos.min(999_999_999));
                    }
                    _ => {}
                });
            }
        });
        delay = Some(found);
    });
    delay
}

/// Moves already-encoded protobuf bytes in and out of gRPC frames.
#[derive(Clone, Copy, Debug, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_specifications_codes_are_retried() {
        for code in [Code::Unavailable, Code::Cancelled, Code::DataLoss] {
            assert!(matches!(
                classify(&Status::new(code, "x")),
                Attempt::Retryable { .. }
            ));
        }
        for code in [
            Code::InvalidArgument,
            Code::Unauthenticated,
            Code::ResourceExhausted,
        ] {
            assert!(matches!(
                classify(&Status::new(code, "x")),
                Attempt::Permanent(_)
            ));
        }
    }

    #[test]
    fn retry_info_is_read_from_status_details() {
        // google.rpc.Status { code: 8, details: [Any { RetryInfo { retry_delay: 2.5 s } }] }
        let duration = [0x08, 0x02, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01];
        let mut retry_info = vec![0x0a, duration.len() as u8];
        retry_info.extend_from_slice(&duration);
        let url = b"type.googleapis.com/google.rpc.RetryInfo";
        let mut any = vec![0x0a, url.len() as u8];
        any.extend_from_slice(url);
        any.extend_from_slice(&[0x12, retry_info.len() as u8]);
        any.extend_from_slice(&retry_info);
        let mut details = vec![0x08, 0x08, 0x1a, any.len() as u8];
        details.extend_from_slice(&any);
        assert_eq!(retry_delay(&details), Some(Duration::from_millis(2500)));
        let status = Status::with_details(Code::ResourceExhausted, "slow down", details.into());
        assert!(matches!(
            classify(&status),
            Attempt::Retryable { after: Some(d), .. } if d == Duration::from_millis(2500)
        ));
        assert_eq!(retry_delay(b"\xff\xff"), None);

        // RetryInfo without a delay: still retryable, after the backoff's delay.
        let mut any = vec![0x0a, url.len() as u8];
        any.extend_from_slice(url);
        any.extend_from_slice(&[0x12, 0]);
        let mut details = vec![0x08, 0x08, 0x1a, any.len() as u8];
        details.extend_from_slice(&any);
        let status = Status::with_details(Code::ResourceExhausted, "slow down", details.into());
        assert!(matches!(
            classify(&status),
            Attempt::Retryable { after: None, .. }
        ));
    }
}
