//! OTLP exporter configuration, in code or from the `OTEL_EXPORTER_OTLP_*` variables
//! (OpenTelemetry specification, "OTLP Exporter Configuration").

use std::time::Duration;

use super::{Protocol, RetryPolicy};
use crate::config::{ConfigWarning, Configured, FromEnv, parse_bool};
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
    /// The longest one batch's export may take, retries included (default 10 s; zero is no
    /// limit).
    pub timeout: Duration,
    /// Request body compression (default none).
    pub compression: Compression,
    /// Retries of failed attempts (on by default).
    pub retry: RetryPolicy,
    /// PEM certificates trusted for `https` endpoints besides the Mozilla roots, e.g. a
    /// private CA (`OTEL_EXPORTER_OTLP_CERTIFICATE` names the file); needs the `tls` feature.
    pub certificate_pem: Option<Vec<u8>>,
    /// For mutual TLS: the PEM certificate chain this exporter shows the endpoint, and its PEM
    /// private key (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and `OTEL_EXPORTER_OTLP_CLIENT_KEY`
    /// name the files); needs the `tls` feature.
    pub client_identity_pem: Option<(Vec<u8>, Vec<u8>)>,
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
            client_identity_pem: None,
        }
    }
}

/// `{base}/v1/traces`, as a base endpoint becomes the traces URL for OTLP/HTTP: the path is
/// extended, and a query the base has stays at the end ("An SDK MUST NOT modify the URL in
/// ways other than specified above", exporter.md).
pub(crate) fn signal_url(base: &str) -> String {
    let base = base.trim();
    let (before_query, query) = match base.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (base, None),
    };
    let mut url = format!("{}/v1/traces", before_query.trim_end_matches('/'));
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
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
    /// | `…_TIMEOUT` | per batch export, retries included, milliseconds; `0` is no limit | `10000` |
    /// | `…_COMPRESSION` | `gzip` or `none` | `none` |
    /// | `…_INSECURE` | for gRPC endpoints without a scheme: `true` means `http://`, otherwise `https://` | `false` |
    /// | `…_CERTIFICATE` | a PEM file of certificates trusted for `https` (feature `tls`) | |
    /// | `…_CLIENT_CERTIFICATE`, `…_CLIENT_KEY` | PEM files of the certificate chain and private key shown for mutual TLS (feature `tls`) | |
    ///
    /// A bad value is warned about (the warning names the variable and the value) and treated
    /// as not set: the general variable applies, else the default (`…_HEADERS` keeps its good
    /// entries, `…_INSECURE` is true only for `true`). [`Configured::strict`] turns warnings
    /// into an error.
    pub fn from_env() -> Configured<Self> {
        <Self as FromEnv>::from_env()
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
        <Self as FromEnv>::from_env_with(lookup)
    }
}

impl FromEnv for OtlpConfig {
    fn read_env(lookup: &impl Fn(&str) -> Option<String>) -> (Self, Vec<ConfigWarning>) {
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
        let timeout = first_valid(
            lookup,
            [
                "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
            ],
            &mut warnings,
            |raw| match raw.trim().parse::<u64>() {
                Ok(millis) => Ok(millis),
                _ => Err("expected a whole number of milliseconds (0: no limit)".into()),
            },
        )
        .unwrap_or(10_000);
        let compression = first_valid(
            lookup,
            [
                "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                "OTEL_EXPORTER_OTLP_COMPRESSION",
            ],
            &mut warnings,
            read_compression,
        )
        .unwrap_or(Compression::None);
        let certificate_pem = first_valid(
            lookup,
            [
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
            ],
            &mut warnings,
            |path| {
                std::fs::read(path.trim())
                    .map_err(|error| format!("cannot read the certificate file ({error})"))
            },
        );
        let read_file = |path: &str| {
            std::fs::read(path.trim()).map_err(|error| format!("cannot read the file ({error})"))
        };
        let client_certificate = first_valid(
            lookup,
            [
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            ],
            &mut warnings,
            read_file,
        );
        let client_key = first_valid(
            lookup,
            [
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
                "OTEL_EXPORTER_OTLP_CLIENT_KEY",
            ],
            &mut warnings,
            read_file,
        );
        let client_identity_pem = match (client_certificate, client_key) {
            (Some(certificate), Some(key)) => Some((certificate, key)),
            (None, None) => None,
            (certificate, _) => {
                let set = |specific: &'static str, general: &'static str| match non_empty(
                    lookup, specific,
                ) {
                    Some(_) => specific,
                    None => general,
                };
                let (variable, missing) = match certificate {
                    Some(_) => (
                        set(
                            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                        ),
                        "a client key",
                    ),
                    None => (
                        set(
                            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
                            "OTEL_EXPORTER_OTLP_CLIENT_KEY",
                        ),
                        "a client certificate",
                    ),
                };
                warnings.push(ConfigWarning {
                    variable,
                    value: String::new(),
                    message: format!(
                        "mutual TLS needs {missing} too; no client certificate is sent"
                    ),
                });
                None
            }
        };
        let config = Self {
            protocol,
            endpoint,
            headers,
            timeout: Duration::from_millis(timeout),
            compression,
            retry: RetryPolicy::default(),
            certificate_pem,
            client_identity_pem,
        };
        (config, warnings)
    }
}

fn non_empty(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.trim().is_empty())
}

/// The value the signal-specific variable gives, else the general one, else `None`. A bad
/// value is warned about (with `parse`'s reason) and treated as not set, so that the general
/// variable still applies: "gracefully ignore the setting, i.e., treat them as not set"
/// (configuration, common.md).
fn first_valid<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    names: [&'static str; 2],
    warnings: &mut Vec<ConfigWarning>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<T> {
    let [specific, general] = names;
    for name in names {
        let Some(raw) = non_empty(lookup, name) else {
            continue;
        };
        match parse(&raw) {
            Ok(value) => return Some(value),
            Err(reason) => {
                let fallback = match name == specific {
                    true => format!("{general}, if set, else the default"),
                    false => "the default".to_string(),
                };
                warnings.push(ConfigWarning {
                    variable: name,
                    value: raw,
                    message: format!("{reason}; using {fallback}"),
                });
            }
        }
    }
    None
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
    let names = [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ];
    first_valid(lookup, names, warnings, |raw| {
        match raw.trim().to_ascii_lowercase().as_str() {
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "http/json" => Ok(Protocol::HttpJson),
            "grpc" => Ok(Protocol::Grpc),
            _ => Err("expected http/protobuf, http/json or grpc".into()),
        }
    })
    .unwrap_or(Protocol::HttpProtobuf)
}

fn read_compression(raw: &str) -> Result<Compression, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "gzip" => Ok(Compression::Gzip),
        "none" => Ok(Compression::None),
        _ => Err("expected gzip or none".into()),
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
    let names = [
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", true),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", false),
    ];
    for (name, specific) in names {
        let Some(raw) = non_empty(lookup, name) else {
            continue;
        };
        let mut url = raw.trim().to_string();
        // A gRPC endpoint may omit the scheme; `_INSECURE` says which one it means.
        if grpc && !url.contains("://") {
            url = format!("{}://{url}", if insecure { "http" } else { "https" });
        }
        let valid = url.parse::<http::Uri>().ok().filter(|uri| {
            matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()
        });
        if valid.is_some() {
            // The signal's own URL (a URL without a path reads as `/`) and gRPC's are used as
            // they are; a base URL gets the signal's path.
            return match grpc || specific {
                true => url,
                false => signal_url(&url),
            };
        }
        // A bad value counts as not set: the general variable, if any, still applies.
        let fallback = match specific {
            true => "OTEL_EXPORTER_OTLP_ENDPOINT, if set, else the default",
            false => "the default",
        };
        warnings.push(ConfigWarning {
            variable: name,
            value: raw,
            message: format!("not an http:// or https:// URL with a host; using {fallback}"),
        });
    }
    match grpc {
        true => DEFAULT_GRPC.to_string(),
        false => signal_url(DEFAULT_HTTP),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_trace_variable_leaves_the_general_one_in_force() {
        let (config, warnings) = read(&[
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "abc"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/xml"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "brotli"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "not a url"),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://collector:4318/otlp/?tenant=a",
            ),
        ]);
        assert_eq!(config.timeout, Duration::from_secs(5));
        assert_eq!(config.protocol, Protocol::HttpJson);
        assert_eq!(config.compression, Compression::Gzip);
        // The base's path is extended; its query stays last.
        assert_eq!(
            config.endpoint,
            "http://collector:4318/otlp/v1/traces?tenant=a"
        );
        let named: Vec<_> = warnings.iter().map(|w| w.variable).collect();
        assert_eq!(
            named,
            [
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            ]
        );
        assert!(
            warnings[0]
                .to_string()
                .contains("OTEL_EXPORTER_OTLP_PROTOCOL, if set")
        );
    }

    #[test]
    fn a_client_certificate_and_key_are_read_together() {
        let dir = std::env::temp_dir().join(format!("tracewire-mtls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("client.pem"), dir.join("client.key"));
        std::fs::write(&cert, "CERT").unwrap();
        std::fs::write(&key, "KEY").unwrap();
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let (config, warnings) = read(&[
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", cert),
            ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", key),
        ]);
        assert!(warnings.is_empty());
        assert_eq!(
            config.client_identity_pem,
            Some((b"CERT".to_vec(), b"KEY".to_vec()))
        );
        // One without the other is no identity, and says so.
        let (config, warnings) = read(&[("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", cert)]);
        assert_eq!(config.client_identity_pem, None);
        assert_eq!(
            warnings[0].variable,
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
