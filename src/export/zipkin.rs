//! The Zipkin exporter: Zipkin v2 JSON (`POST /api/v2/spans`), mapped as the OpenTelemetry
//! specification's "OpenTelemetry to Zipkin Transformation" (`sdk_exporters/zipkin.md`) says.
//!
//! | OpenTelemetry | Zipkin |
//! |---|---|
//! | trace id, span id, parent span id | `traceId`, `id`, `parentId` (hex) |
//! | kind | `kind`: `SERVER`, `CLIENT`, `PRODUCER`, `CONSUMER`; omitted for `INTERNAL` |
//! | start, end | `timestamp`, `duration` in whole microseconds (at least 1) |
//! | resource `service.name` | `localEndpoint.serviceName` |
//! | peer attributes of CLIENT and PRODUCER spans | `remoteEndpoint`, from the first of `peer.service`, `server.address`, `net.peer.name`, `network.peer.address`, `server.socket.domain`, `server.socket.address`, `net.sock.peer.name`, `net.sock.peer.addr`, `peer.hostname`, `peer.address`, `db.name` |
//! | attributes | `tags`: strings as they are, booleans `true`/`false`, arrays as JSON lists; an `error` attribute that is `false` is left out |
//! | status | `otel.status_code` `OK` or `ERROR`; on `ERROR`, `error` holds the description |
//! | scope | `otel.scope.name`, `otel.scope.version` |
//! | dropped counts | `otel.dropped_attributes_count`, `otel.dropped_events_count`, `otel.dropped_links_count`, when not zero |
//! | events | `annotations`: `{"timestamp": µs, "value": "\"name\":{attributes as JSON}"}` |
//!
//! # Example
//!
//! ```
//! use tracewire::Tracer;
//! use tracewire::export::zipkin::ZipkinExporter;
//!
//! let tracer = Tracer::builder()
//!     .service_name("checkout")
//!     .exporter(ZipkinExporter::new(Default::default()).unwrap())
//!     .build();
//! # drop(tracer);
//! ```

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::Compression;
use super::http::{HttpSender, TlsFiles, classify_status, send_in_parts, within_timeout};
use super::otlp::RetryPolicy;
use super::otlp::json::{Buf, decimal, list, string};
use super::otlp::retry::{Attempt, with_retries};
use crate::config::{ConfigWarning, Configured, FromEnv, read_number};
use crate::sink::{BoxFuture, ExportError, Exporter};
use crate::span::{SpanData, SpanKind, Status, Value};

const DEFAULT_ENDPOINT: &str = "http://localhost:9411/api/v2/spans";

/// The peer attributes a remote endpoint's name comes from, best first (the specification's
/// "Remote endpoint" ranking).
const REMOTE_NAME_RANKING: [&str; 11] = [
    "peer.service",
    "server.address",
    "net.peer.name",
    "network.peer.address",
    "server.socket.domain",
    "server.socket.address",
    "net.sock.peer.name",
    "net.sock.peer.addr",
    "peer.hostname",
    "peer.address",
    "db.name",
];

/// How a [`ZipkinExporter`] sends.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tracewire::export::zipkin::ZipkinConfig;
///
/// let config = ZipkinConfig::from_env_with(|name| {
///     (name == "OTEL_EXPORTER_ZIPKIN_TIMEOUT").then(|| "2500".to_string())
/// })
/// .strict()
/// .unwrap();
/// assert_eq!(config.endpoint, "http://localhost:9411/api/v2/spans");
/// assert_eq!(config.timeout, Duration::from_millis(2500));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ZipkinConfig {
    /// The full URL spans are posted to.
    pub endpoint: String,
    /// The longest one batch's export may take, retries included (default 10 s; zero is no
    /// limit).
    pub timeout: Duration,
    /// Retries of failed attempts (429, 502, 503, 504 and connection failures).
    pub retry: RetryPolicy,
}

impl Default for ZipkinConfig {
    /// `http://localhost:9411/api/v2/spans`, 10 s, default retries.
    fn default() -> Self {
        Self {
            endpoint: DEFAULT_ENDPOINT.into(),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

impl ZipkinConfig {
    /// The configuration from `OTEL_EXPORTER_ZIPKIN_ENDPOINT` (a URL) and
    /// `OTEL_EXPORTER_ZIPKIN_TIMEOUT` (milliseconds); a bad value is warned about (naming the
    /// variable and value) and the default used.
    pub fn from_env() -> Configured<Self> {
        <Self as FromEnv>::from_env()
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Configured<Self> {
        <Self as FromEnv>::from_env_with(lookup)
    }
}

impl FromEnv for ZipkinConfig {
    fn read_env(lookup: &impl Fn(&str) -> Option<String>) -> (Self, Vec<ConfigWarning>) {
        const ENDPOINT: &str = "OTEL_EXPORTER_ZIPKIN_ENDPOINT";
        let mut warnings = Vec::new();
        let endpoint = match lookup(ENDPOINT).filter(|v| !v.trim().is_empty()) {
            None => DEFAULT_ENDPOINT.to_string(),
            Some(raw) => {
                let valid = raw.trim().parse::<http::Uri>().ok().filter(|uri| {
                    matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()
                });
                if valid.is_some() {
                    raw.trim().to_string()
                } else {
                    warnings.push(ConfigWarning {
                        variable: ENDPOINT,
                        value: raw,
                        message: format!(
                            "not an http:// or https:// URL with a host; using {DEFAULT_ENDPOINT}"
                        ),
                    });
                    DEFAULT_ENDPOINT.to_string()
                }
            }
        };
        let timeout = read_number(
            lookup,
            &mut warnings,
            "OTEL_EXPORTER_ZIPKIN_TIMEOUT",
            10_000,
            0,
        );
        let config = Self {
            endpoint,
            timeout: Duration::from_millis(timeout),
            retry: RetryPolicy::default(),
        };
        (config, warnings)
    }
}

/// Sends spans to Zipkin as v2 JSON. Put it behind a batch sink.
///
/// # Example
///
/// ```
/// use tracewire::export::zipkin::{ZipkinConfig, ZipkinExporter};
///
/// let exporter = ZipkinExporter::new(ZipkinConfig {
///     endpoint: "http://zipkin:9411/api/v2/spans".into(),
///     ..ZipkinConfig::default()
/// });
/// assert!(exporter.is_ok());
/// ```
#[derive(Debug)]
pub struct ZipkinExporter {
    sender: HttpSender,
    retry: RetryPolicy,
    endpoint: String,
    /// Spans of split batches whose request failed, since the last `take_failed`.
    failed: AtomicU64,
    /// The longest one batch's export may take, retries included.
    timeout: std::time::Duration,
}

impl ZipkinExporter {
    /// An exporter with `config`; fails on an endpoint that is not an `http://` URL.
    pub fn new(config: ZipkinConfig) -> Result<Self, ExportError> {
        let sender = HttpSender::new(
            &config.endpoint,
            "application/json",
            &[],
            Compression::None,
            config.timeout,
            TlsFiles::default(),
        )
        .map_err(ExportError)?;
        Ok(Self {
            sender,
            retry: config.retry,
            endpoint: config.endpoint,
            failed: AtomicU64::new(0),
            timeout: config.timeout,
        })
    }

    /// The JSON array this exporter posts for `batch`.
    ///
    /// ```
    /// # let span = {
    /// #     let sink = tracewire::sink::MemorySink::new();
    /// #     let tracer = tracewire::Tracer::builder().service_name("checkout").sink(sink.clone()).build();
    /// #     tracer.span("charge card").start().end();
    /// #     sink.take().remove(0)
    /// # };
    /// let json = tracewire::export::zipkin::ZipkinExporter::encode(&[span]);
    /// let spans: serde_json::Value = serde_json::from_slice(&json).unwrap();
    /// assert_eq!(spans[0]["localEndpoint"]["serviceName"], "checkout");
    /// assert_eq!(spans[0]["kind"], serde_json::Value::Null); // INTERNAL is omitted
    /// ```
    pub fn encode(batch: &[SpanData]) -> Vec<u8> {
        let mut out = Vec::with_capacity(batch.len() * 512 + 2);
        list(&mut out, batch, |out, span| encode_span(span, out));
        out
    }

    async fn send(&self, body: Vec<u8>) -> Result<(), ExportError> {
        let body = bytes::Bytes::from(body);
        with_retries(&self.retry, || async {
            match self.sender.post(body.clone()).await {
                Ok(response) => classify_status(&response, |_| Attempt::Accepted {
                    rejected: 0,
                    message: String::new(),
                }),
                Err(error) => Attempt::Retryable { after: None, error },
            }
        })
        .await
        .map(|_| ())
        .map_err(|e| ExportError(format!("Zipkin export to {} failed: {e}", self.endpoint)))
    }
}

impl Exporter for ZipkinExporter {
    fn export<'a>(&'a self, batch: &'a [SpanData]) -> BoxFuture<'a, Result<(), ExportError>> {
        Box::pin(within_timeout(self.timeout, async move {
            send_in_parts(batch, Self::encode, |body, _spans| self.send(body))
                .await
                .into_result(&self.failed)
        }))
    }

    fn take_failed(&self) -> u64 {
        self.failed.swap(0, Ordering::Relaxed)
    }
}

fn kind_name(kind: SpanKind) -> Option<&'static str> {
    match kind {
        SpanKind::Internal => None,
        SpanKind::Server => Some("SERVER"),
        SpanKind::Client => Some("CLIENT"),
        SpanKind::Producer => Some("PRODUCER"),
        SpanKind::Consumer => Some("CONSUMER"),
    }
}

fn encode_span(span: &SpanData, out: &mut Vec<u8>) {
    let cx = &span.span_context;
    let mut trace = [0u8; 32];
    cx.trace_id().write_hex(&mut trace);
    let mut id = [0u8; 16];
    cx.span_id().write_hex(&mut id);
    out.extend_from_slice(br#"{"traceId":""#);
    out.extend_from_slice(&trace);
    out.extend_from_slice(br#"","id":""#);
    out.extend_from_slice(&id);
    out.push(b'"');
    if let Some(parent) = span.parent_span_id {
        parent.write_hex(&mut id);
        out.extend_from_slice(br#","parentId":""#);
        out.extend_from_slice(&id);
        out.push(b'"');
    }
    if let Some(kind) = kind_name(span.kind) {
        out.extend_from_slice(br#","kind":""#);
        out.extend_from_slice(kind.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(br#","name":"#);
    string(out, &span.name);
    let duration = (span.duration_nanos() / 1000).max(1);
    out.extend_from_slice(br#","timestamp":"#);
    decimal(out, span.start_unix_nanos / 1000);
    out.extend_from_slice(br#","duration":"#);
    decimal(out, duration);
    out.extend_from_slice(br#","localEndpoint":{"serviceName":"#);
    string(out, &span.resource.service_name());
    out.push(b'}');
    if matches!(span.kind, SpanKind::Client | SpanKind::Producer) {
        remote_endpoint(span, out);
    }
    if !span.events.is_empty() {
        out.extend_from_slice(br#","annotations":"#);
        list(out, &span.events, |out, event| {
            out.extend_from_slice(br#"{"timestamp":"#);
            decimal(out, event.time_unix_nanos / 1000);
            out.extend_from_slice(br#","value":"#);
            // `"name":{"key":value,…}`, as the specification's Events section shows.
            let mut value = Vec::new();
            string(&mut value, &event.name);
            value.extend_from_slice(b":{");
            for (j, kv) in event.attributes.iter().enumerate() {
                if j > 0 {
                    value.push(b',');
                }
                string(&mut value, &kv.key);
                value.push(b':');
                json_value(&mut value, &kv.value);
            }
            value.push(b'}');
            string(out, &String::from_utf8_lossy(&value));
            out.push(b'}');
        });
    }
    tags(span, out);
    out.push(b'}');
}

fn remote_endpoint(span: &SpanData, out: &mut Vec<u8>) {
    let Some(name) = REMOTE_NAME_RANKING
        .iter()
        .find_map(|key| span.attribute(key).map(Value::to_string))
    else {
        return;
    };
    out.extend_from_slice(br#","remoteEndpoint":{"serviceName":"#);
    string(out, &name);
    let ip = [
        "network.peer.address",
        "server.socket.address",
        "net.sock.peer.addr",
        "server.address",
    ]
    .iter()
    .find_map(|key| span.attribute(key)?.to_string().parse::<IpAddr>().ok());
    match ip {
        Some(IpAddr::V4(ip)) => {
            let _ = write!(Buf(out), r#","ipv4":"{ip}""#);
        }
        Some(IpAddr::V6(ip)) => {
            let _ = write!(Buf(out), r#","ipv6":"{ip}""#);
        }
        None => {}
    }
    let port = [
        "network.peer.port",
        "server.port",
        "server.socket.port",
        "net.sock.peer.port",
        "net.peer.port",
    ]
    .iter()
    .find_map(|key| match span.attribute(key) {
        Some(Value::I64(port)) => u16::try_from(*port).ok(),
        Some(Value::String(port)) => port.parse::<u16>().ok(),
        _ => None,
    });
    if let Some(port) = port {
        let _ = write!(Buf(out), r#","port":{port}"#);
    }
    out.push(b'}');
}

fn tags(span: &SpanData, out: &mut Vec<u8>) {
    out.extend_from_slice(br#","tags":{"#);
    let mut first = true;
    let mut tag = |out: &mut Vec<u8>, key: &str, value: &str| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        string(out, key);
        out.push(b':');
        string(out, value);
    };
    let dropped = [
        ("otel.dropped_attributes_count", span.dropped_attributes),
        ("otel.dropped_events_count", span.dropped_events),
        ("otel.dropped_links_count", span.dropped_links),
    ];
    // The tags written below from the span's status, scope and counts: an attribute of the
    // same name is left out rather than sent as a second, conflicting key.
    let generated = |key: &str| match key {
        // The Zipkin exporter specification: "The `error` tag should only be set if `Status`
        // is `Error`", and a boolean-looking one "SHOULD be removed"; so a user's `error`
        // never goes out, and an error status writes its own.
        "error" => true,
        "otel.status_code" => true,
        "otel.scope.name" | "otel.library.name" => true,
        "otel.scope.version" | "otel.library.version" => span.scope.version.is_some(),
        _ => dropped
            .iter()
            .any(|(name, count)| *name == key && *count > 0),
    };
    let mut text = String::new();
    for kv in &span.attributes {
        if generated(&kv.key) {
            continue;
        }
        text.clear();
        tag_value(&mut text, &kv.value);
        tag(out, &kv.key, &text);
    }
    match &span.status {
        Status::Unset => {}
        Status::Ok => tag(out, "otel.status_code", "OK"),
        Status::Error { message } => {
            tag(out, "otel.status_code", "ERROR");
            tag(out, "error", message);
        }
    }
    // The scope, and the deprecated `otel.library.*` aliases the non-OTLP mapping says MUST
    // also be reported.
    tag(out, "otel.scope.name", &span.scope.name);
    tag(out, "otel.library.name", &span.scope.name);
    if let Some(version) = &span.scope.version {
        tag(out, "otel.scope.version", version);
        tag(out, "otel.library.version", version);
    }
    for (key, count) in dropped {
        if count > 0 {
            tag(out, key, &count.to_string());
        }
    }
    out.push(b'}');
}

/// A tag's string: primitives as text, arrays as a JSON list.
fn tag_value(text: &mut String, value: &Value) {
    match value {
        Value::String(s) => text.push_str(s),
        // JSON's spellings (as OTLP/JSON writes them), not Rust's `inf`.
        Value::F64(f) if f.is_nan() => text.push_str("NaN"),
        Value::F64(f) if f.is_infinite() => {
            text.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" });
        }
        Value::Bool(_) | Value::I64(_) | Value::F64(_) => {
            let _ = write!(text, "{value}");
        }
        _ => {
            let mut json = Vec::new();
            json_value(&mut json, value);
            text.push_str(&String::from_utf8_lossy(&json));
        }
    }
}

fn signed(out: &mut Vec<u8>, i: i64) {
    if i < 0 {
        out.push(b'-');
    }
    decimal(out, i.unsigned_abs());
}

/// A value as JSON: strings quoted, numbers and booleans bare, arrays as lists. Non-finite
/// floats, which JSON cannot hold, become strings.
fn json_value(out: &mut Vec<u8>, value: &Value) {
    fn float(out: &mut Vec<u8>, x: f64) {
        if x.is_finite() {
            let _ = write!(Buf(out), "{x}");
        } else {
            string(out, &x.to_string());
        }
    }
    match value {
        Value::String(s) => string(out, s),
        Value::Bool(b) => {
            let _ = write!(Buf(out), "{b}");
        }
        Value::I64(i) => signed(out, *i),
        Value::F64(x) => float(out, *x),
        Value::StringArray(items) => list(out, items, |out, s| string(out, s)),
        Value::BoolArray(items) => list(out, items, |out, b| {
            let _ = write!(Buf(out), "{b}");
        }),
        Value::I64Array(items) => list(out, items, |out, i| signed(out, *i)),
        Value::F64Array(items) => list(out, items, |out, x| float(out, *x)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_values_follow_the_specification() {
        let cases = [
            (Value::from(true), "true"),
            (Value::from(-3_i64), "-3"),
            (Value::from(0.25), "0.25"),
            (Value::from(vec!["a", "b\"c"]), r#"["a","b\"c"]"#),
            (Value::from(vec![1_i64, 2]), "[1,2]"),
            (Value::from(vec![true, false]), "[true,false]"),
            (Value::from(vec![f64::NAN]), r#"["NaN"]"#),
            (Value::from(f64::INFINITY), "Infinity"),
            (Value::from(f64::NEG_INFINITY), "-Infinity"),
        ];
        for (value, expected) in cases {
            let mut text = String::new();
            tag_value(&mut text, &value);
            assert_eq!(text, expected);
        }
    }

    #[test]
    fn the_legacy_socket_attributes_name_a_remote_endpoint() {
        let sink = crate::sink::MemorySink::new();
        let tracer = crate::Tracer::builder().sink(sink.clone()).build();
        tracer
            .span("call")
            .kind(SpanKind::Client)
            .attr("server.socket.domain", "db.internal")
            .attr("server.socket.address", "10.1.2.3")
            .attr("server.socket.port", 5432_i64)
            .start()
            .end();
        let span = sink.take().remove(0);
        let mut out = Vec::new();
        remote_endpoint(&span, &mut out);
        let json = format!("{{{}}}", &String::from_utf8(out).unwrap()[1..]);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let endpoint = &value["remoteEndpoint"];
        assert_eq!(endpoint["serviceName"], "db.internal");
        assert_eq!(endpoint["ipv4"], "10.1.2.3");
        assert_eq!(endpoint["port"], 5432);
    }

    fn tags_of(span: &SpanData) -> serde_json::Map<String, serde_json::Value> {
        let mut out = Vec::new();
        tags(span, &mut out);
        // `tags` writes `,"tags":{…}`: wrap it to parse.
        let json = format!("{{{}}}", &String::from_utf8(out).unwrap()[1..]);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        value["tags"].as_object().unwrap().clone()
    }

    #[test]
    fn error_tags_follow_the_status_and_generated_tags_are_not_duplicated() {
        let sink = crate::sink::MemorySink::new();
        let tracer = crate::Tracer::builder().sink(sink.clone()).build();
        tracer
            .span("GET /x")
            .attr("error", "false")
            .attr("otel.status_code", "spoofed")
            .attr("otel.scope.name", "spoofed")
            .attr("http.route", "/x")
            .start()
            .end();
        let mut span = sink.take().remove(0);
        let ok = tags_of(&span);
        assert!(
            !ok.contains_key("error"),
            "no error tag without an error status: {ok:?}"
        );
        assert!(!ok.contains_key("otel.status_code"), "{ok:?}");
        assert_eq!(ok["otel.scope.name"], span.scope.name.as_ref());
        assert_eq!(ok["otel.library.name"], span.scope.name.as_ref());
        assert_eq!(ok["http.route"], "/x");

        span.status = Status::Error {
            message: "card declined".into(),
        };
        // Keys are unique in the written JSON (a duplicate would be silently merged by the
        // parser, so count them in the text).
        let mut out = Vec::new();
        tags(&span, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("\"error\":").count(), 1, "{text}");
        assert_eq!(text.matches("\"otel.status_code\":").count(), 1, "{text}");
        let failed = tags_of(&span);
        assert_eq!(failed["error"], "card declined");
        assert_eq!(failed["otel.status_code"], "ERROR");
    }

    #[test]
    fn bad_env_values_warn_and_fall_back() {
        let (config, warnings) = ZipkinConfig::read_env(&|name: &str| match name {
            "OTEL_EXPORTER_ZIPKIN_ENDPOINT" => Some("zipkin:9411".into()),
            "OTEL_EXPORTER_ZIPKIN_TIMEOUT" => Some("soon".into()),
            _ => None,
        });
        assert_eq!(config, ZipkinConfig::default());
        let named: Vec<_> = warnings
            .iter()
            .map(|w| (w.variable, w.value.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "zipkin:9411"),
                ("OTEL_EXPORTER_ZIPKIN_TIMEOUT", "soon")
            ]
        );
    }
}
