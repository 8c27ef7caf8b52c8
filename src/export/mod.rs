//! Exporters that send spans to tracing backends: OTLP (feature `otlp`, and `otlp-grpc` for
//! gRPC) and Zipkin (feature `zipkin`); `https://` endpoints need the `tls` feature (rustls).
//!
//! Every exporter implements [`Exporter`](crate::sink::Exporter) and runs behind a
//! [`BatchSink`](crate::sink::BatchSink): encoding and I/O happen on the sink's background
//! thread, never on the request path, and a backend that is down, slow or refusing costs at
//! most the sink's bounded queue. The sink's [`stats`](crate::sink::SpanSink::stats) say what
//! was exported, dropped, failed or rejected.
//!
//! | exporter | backends | feature |
//! |---|---|---|
//! | [`otlp::OtlpExporter`] | the OpenTelemetry Collector, Jaeger, Grafana Tempo, vendors | `otlp`, `otlp-grpc` |
//! | `zipkin::ZipkinExporter` (feature `zipkin`) | Zipkin (v2 JSON) | `zipkin` |
//!
//! [`Tracer::from_env`](crate::Tracer::from_env) picks them from `OTEL_TRACES_EXPORTER`
//! (`env.rs`). That choice is built without the `otlp` feature too, where this module is private
//! and holds nothing else: `console` needs no feature, and a request for a backend this build
//! lacks is answered with a warning naming the feature.

pub(crate) mod env;
#[cfg(feature = "otlp")]
mod http;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "zipkin")]
pub mod zipkin;

/// Request body compression.
///
/// # Example
///
/// ```
/// use tracewire::export::Compression;
/// assert_eq!(Compression::default(), Compression::None);
/// ```
#[cfg(feature = "otlp")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Bodies are sent as they are.
    #[default]
    None,
    /// Bodies are gzip-compressed (`Content-Encoding: gzip`, or gRPC's `grpc-encoding: gzip`).
    Gzip,
    /// Bodies are zstd-compressed: an extension the OpenTelemetry Collector accepts, not in
    /// the OTLP specification (so `OTEL_EXPORTER_OTLP_COMPRESSION` does not offer it). Needs
    /// the `zstd` feature; without it an exporter configured with it refuses to start.
    Zstd,
}

#[cfg(feature = "otlp")]
impl Compression {
    /// The name the `OTEL_EXPORTER_OTLP_COMPRESSION` variable uses (`zstd` is not one of
    /// them: the variable offers only what the specification defines).
    ///
    /// ```
    /// use tracewire::export::Compression;
    /// assert_eq!(Compression::Gzip.as_str(), "gzip");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}
