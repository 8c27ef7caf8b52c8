//! OTLP exporter configuration, in code or from the `OTEL_EXPORTER_OTLP_*` variables
//! (OpenTelemetry specification, "OTLP Exporter Configuration").

use std::time::Duration;

use super::{Protocol, RetryPolicy};
use crate::config::{ConfigWarning, Configured, parse_bool, process_env, read_number};
use crate::context::percent_decode;
use crate::export::Compression;

/// The default OTLP/HTTP endpoint ("OTLP Exporter Configuration", Endpoint URLs for OTLP/HTTP).
const DEFAULT_HTTP: &str = "http://localhost:4318";
/// The default OTLP/gRPC endpoint.
const DEFAULT_GRPC: &str = "http://localhost:4317";

/// How an [`OtlpExporter`](super::OtlpExporter) sends.
///
/// # Example
///
/// ```
/// use tracewire::export::otlp::{OtlpConfig, Protocol};
///
/// let config = OtlpConfig::from_env_with(|name| match name {
///     "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4318".into()),
///     "OTEL_EXPORTER_OTLP_HEADERS" => Some("api-key=abc%20def".into()),
///     _ => None,
/// })
/// .strict()
/// .unwrap();
/// assert_eq!(config.protocol, Protocol::HttpProtobuf);
/// assert_eq!(config.endpoint, "http://collector:4318/v1/traces");
/// assert_eq!(config.headers, [("api-key".to_string(), "abc def".to_string())]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpConfig {
    /// The transport.
    pub protocol: Protocol,
    /// Where requests go, used as is: for HTTP the full URL with its path
    /// (`http://localhost:4318/v1/traces`), for gRPC the server (`http://localhost:4317`).
    pub endpoint: String,
    /// Headers (or gRPC metadata) added to every request, e.g. an API key.
    pub headers: Vec<(String, String)>,
    /// The longest one attempt may take (default 10 s).
    pub timeout: Duration,
    /// Request body compression (default none).
    pub compression: Compression,
    /// Retries of failed attempts (on by default).
    pub retry: RetryPolicy,
    /// PEM certificates trusted for `https` endpoints besides the Mozilla roots, e.g. a
    /// private CA (`OTEL_EXPORTER_OTLP_CERTIFICATE` names the file); needs the `tls` feature.
    pub certificate_pem: Option<Vec<u8>>,
}

impl Default for OtlpConfig {
    /// HTTP/protobuf to `http://localhost:4318/v1/traces`, no headers, 10 s, no compression,
    /// default retries: the specification's defaults.
    fn default() -> Self {
        Self {
            protocol: Protocol::HttpProtobuf,
            endpoint: signal_url(DEFAULT_HTTP),
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            compression: Compression::None,
            retry: RetryPolicy::default(),
            certificate_pem: None,
        }
    }
}

/// `{base}/v1/traces`, as a base endpoint becomes the traces URL for OTLP/HTTP.
pub(crate) fn signal_url(base: &str) -> String {
    format!("{}/v1/traces", base.trim().trim_end_matches('/'))
}

impl OtlpConfig {
    /// The configuration from the environment, each `OTEL_EXPORTER_OTLP_TRACES_*` variable
    /// over its `OTEL_EXPORTER_OTLP_*` counterpart:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `…_PROTOCOL` | `http/protobuf`, `http/json` or `grpc` | `http/protobuf` |
    /// | `OTEL_EXPORTER_OTLP_ENDPOINT` | base URL; `/v1/traces` is appended for HTTP, used as is for gRPC | `http://localhost:4318` (HTTP), `http://localhost:4317` (gRPC) |
    /// | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | the full URL, used as is (no path means `/`) | |
    /// | `…_HEADERS` | `key=value,…`, values percent-decoded | |
    /// | `…_TIMEOUT` | per attempt, milliseconds | `10000` |
    /// | `…_COMPRESSION` | `gzip` or `none` | `none` |
    /// | `…_INSECURE` | for gRPC endpoints without a scheme: `true` means `http://`, otherwise `https://` | `false` |
    /// | `…_CERTIFICATE` | a PEM file of certificates trusted for `https` (feature `tls`) | |
    ///
    /// A bad value is warned about (the warning names the variable and the value) and the
    /// default used; [`Configured::strict`] turns warnings into an error.
    pub fn from_env() -> Configured<Self> {
        Self::from_env_with(process_env)
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// ```
    /// use tracewire::export::otlp::OtlpConfig;
    ///
    /// let configured = OtlpConfig::from_env_with(|name| {
    ///     (name == "OTEL_EXPORTER_OTLP_COMPRESSION").then(|| "brotli".to_string())
    /// });
    /// assert_eq!(configured.warnings[0].variable, "OTEL_EXPORTER_OTLP_COMPRESSION");
    /// assert!(configured.warnings[0].to_string().contains("brotli"));
    /// ```
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Configured<Self> {
        let (config, warnings) = Self::read_env(&lookup);
        Configured::logged(config, warnings)
    }

    /// The configuration and its warnings, not yet logged.
    pub(crate) fn read_env(lookup: &impl Fn(&str) -> Option<String>) -> (Self, Vec<ConfigWarning>) {
        let mut warnings = Vec::new();
        let protocol = read_protocol(lookup, &mut warnings);
        let insecure = pick(
            lookup,
            "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
            "OTEL_EXPORTER_OTLP_INSECURE",
        )
        .is_some_and(|(name, raw)| parse_bool(name, raw, &mut warnings));
        let endpoint = read_endpoint(lookup, protocol, insecure, &mut warnings);
        let headers = pick(
            lookup,
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        )
        .map(|(name, raw)| read_headers(name, &raw, &mut warnings))
        .unwrap_or_default();
        let timeout_name = if non_empty(lookup, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT").is_some() {
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
        } else {
            "OTEL_EXPORTER_OTLP_TIMEOUT"
        };
        let timeout = read_number(lookup, &mut warnings, timeout_name, 10_000, 1);
        let compression = pick(
            lookup,
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_EXPORTER_OTLP_COMPRESSION",
        )
        .map_or(Compression::None, |(name, raw)| {
            read_compression(name, raw, &mut warnings)
        });
        let certificate_pem = pick(
            lookup,
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
        )
        .and_then(|(name, path)| match std::fs::read(path.trim()) {
            Ok(pem) => Some(pem),
            Err(error) => {
                warnings.push(ConfigWarning {
                    variable: name,
                    value: path,
                    message: format!("cannot read the certificate file ({error}); ignored"),
                });
                None
            }
        });
        let config = Self {
            protocol,
            endpoint,
            headers,
            timeout: Duration::from_millis(timeout),
            compression,
            retry: RetryPolicy::default(),
            certificate_pem,
        };
        (config, warnings)
    }
}

fn non_empty(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.trim().is_empty())
}

/// The signal-specific variable if set, else the general one, with the name of the one used.
fn pick(
    lookup: &impl Fn(&str) -> Option<String>,
    specific: &'static str,
    general: &'static str,
) -> Option<(&'static str, String)> {
    non_empty(lookup, specific)
        .map(|v| (specific, v))
        .or_else(|| non_empty(lookup, general).map(|v| (general, v)))
}

fn read_protocol(
    lookup: &impl Fn(&str) -> Option<String>,
    warnings: &mut Vec<ConfigWarning>,
) -> Protocol {
    let Some((name, raw)) = pick(
        lookup,
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ) else {
        return Protocol::HttpProtobuf;
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "http/protobuf" => Protocol::HttpProtobuf,
        "http/json" => Protocol::HttpJson,
        "grpc" => Protocol::Grpc,
        _ => {
            warnings.push(ConfigWarning {
                variable: name,
                value: raw,
                message: "expected http/protobuf, http/json or grpc; using http/protobuf".into(),
            });
            Protocol::HttpProtobuf
        }
    }
}

fn read_compression(
    name: &'static str,
    raw: String,
    warnings: &mut Vec<ConfigWarning>,
) -> Compression {
    match raw.trim().to_ascii_lowercase().as_str() {
        "gzip" => Compression::Gzip,
        "none" => Compression::None,
        _ => {
            warnings.push(ConfigWarning {
                variable: name,
                value: raw,
                message: "expected gzip or none; using none".into(),
            });
            Compression::None
        }
    }
}

/// `key1=value1,key2=value2`, values percent-decoded (W3C Baggage's format, as the
/// specification says). A malformed entry is skipped with a warning; the others are kept.
fn read_headers(
    name: &'static str,
    raw: &str,
    warnings: &mut Vec<ConfigWarning>,
) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    for entry in raw.split(',').filter(|e| !e.trim().is_empty()) {
        let parsed = entry
            .split_once('=')
            .map(|(k, v)| (k.trim(), percent_decode(v.trim().as_bytes())))
            .filter(|(k, v)| {
                http::HeaderName::from_bytes(k.as_bytes()).is_ok()
                    && http::HeaderValue::from_str(v).is_ok()
            });
        match parsed {
            Some((key, value)) => headers.push((key.to_ascii_lowercase(), value)),
            None => warnings.push(ConfigWarning {
                variable: name,
                value: entry.trim().to_string(),
                message: "not a key=value header (value percent-encoded); this entry is ignored"
                    .into(),
            }),
        }
    }
    headers
}

fn read_endpoint(
    lookup: &impl Fn(&str) -> Option<String>,
    protocol: Protocol,
    insecure: bool,
    warnings: &mut Vec<ConfigWarning>,
) -> String {
    let grpc = protocol == Protocol::Grpc;
    let default = if grpc {
        DEFAULT_GRPC.to_string()
    } else {
        signal_url(DEFAULT_HTTP)
    };
    let (name, raw, specific) =
        if let Some(raw) = non_empty(lookup, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raw, true)
        } else if let Some(raw) = non_empty(lookup, "OTEL_EXPORTER_OTLP_ENDPOINT") {
            ("OTEL_EXPORTER_OTLP_ENDPOINT", raw, false)
        } else {
            return default;
        };
    let mut url = raw.trim().to_string();
    // A gRPC endpoint may omit the scheme; `_INSECURE` says which one it means.
    if grpc && !url.contains("://") {
        url = format!("{}://{url}", if insecure { "http" } else { "https" });
    }
    let valid = url
        .parse::<http::Uri>()
        .ok()
        .filter(|uri| matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some());
    if valid.is_none() {
        warnings.push(ConfigWarning {
            variable: name,
            value: raw,
            message: format!(
                "not an http:// or https:// URL with a host; using {}",
                if grpc { DEFAULT_GRPC } else { DEFAULT_HTTP }
            ),
        });
        return default;
    }
    if grpc || specific {
        // A URL without a path reads as `/`, so it is used as is.
        url
    } else {
        signal_url(&url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> (OtlpConfig, Vec<ConfigWarning>) {
        OtlpConfig::read_env(&|name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_are_the_specifications() {
        let (config, warnings) = read(&[]);
        assert!(warnings.is_empty());
        assert_eq!(config, OtlpConfig::default());
        assert_eq!(config.endpoint, "http://localhost:4318/v1/traces");
        let (config, _) = read(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        assert_eq!(config.endpoint, "http://localhost:4317");
    }

    #[test]
    fn trace_specific_variables_win_and_endpoints_follow_the_path_rules() {
        let (config, warnings) = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318/"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "GZIP"),
        ]);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.endpoint, "http://general:4318/v1/traces");
        assert_eq!(config.timeout, Duration::from_millis(700));
        assert_eq!(config.protocol, Protocol::HttpJson);
        assert_eq!(config.compression, Compression::Gzip);

        let (config, _) = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999"),
        ]);
        assert_eq!(config.endpoint, "http://traces:9999");

        let (config, _) = read(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
        ]);
        assert_eq!(config.endpoint, "http://collector:4317");
        let (config, _) = read(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ]);
        assert_eq!(config.endpoint, "https://collector:4317");
    }

    #[test]
    fn bad_values_warn_naming_variable_and_value_and_fall_back() {
        let (config, warnings) = read(&[
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/xml"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "good=1,bad,also bad=x,k=a%2Cb",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "ten"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "yes"),
        ]);
        assert_eq!(config.protocol, Protocol::HttpProtobuf);
        assert_eq!(config.endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(
            config.headers,
            [
                ("good".to_string(), "1".to_string()),
                ("k".to_string(), "a,b".to_string())
            ]
        );
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(config.compression, Compression::None);
        let named: Vec<_> = warnings
            .iter()
            .map(|w| (w.variable, w.value.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/xml"),
                ("OTEL_EXPORTER_OTLP_INSECURE", "yes"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "bad"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "also bad=x"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "ten"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ]
        );
    }
}
