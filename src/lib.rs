//! Distributed tracing for the Tower ecosystem.
//!
//! tracewire follows one request through many services as a tree of timed spans that share a
//! trace id: the trace context and every propagation format a Rust service meets in the wild,
//! spans, the current span across `.await`, head sampling, sinks, Tower layers for HTTP and
//! gRPC servers and clients, and exporters to OTLP backends and Zipkin.
//!
//! # The flow of one request
//!
//! ```text
//! incoming request ──► ServerLayer
//!                      │ extract (Propagator: traceparent, tracestate, baggage, b3, jaeger, x-ray)
//!                      │ sample  (Sampler: parent-based, ratio, consistent probability, rate limit, rules)
//!                      │ start a span (Tracer), make it current for the handler's future
//!                      ▼
//! handler ── tracewire::span("db.query") … child spans of the current span, no tracer in hand
//!            tracewire::local_span("parse") … for synchronous code: kept on the thread, to the sink 64 at a time
//!                      │
//! outgoing call ◄───── ClientLayer: CLIENT span, inject (same propagators; stale headers replaced)
//!                      │
//! response body sent ─► span ends (gRPC: at the trailers, with their grpc-status) ─► SpanSink (memory | fan-out | tree | batch ─► Exporter: stdout, OTLP, Zipkin)
//!
//! spans of any services (a sink, a saved file) ─► view: the call tree, critical path, root cause
//! ```
//!
//! # Parts
//!
//! Each part is a module; a lower one never imports a higher one.
//!
//! | module | owns | depends on |
//! |---|---|---|
//! | [`id`] | [`TraceId`], [`SpanId`], per-thread random generation, [`IdGenerator`](id::IdGenerator) | — |
//! | [`context`] | [`SpanContext`], [`TraceFlags`], [`TraceState`], [`Baggage`] | id |
//! | [`config`] | `OTEL_*` warnings and strict mode; the [`FromEnv`](config::FromEnv) trait every configuration read from them implements | — |
//! | [`propagation`] | the [`Propagator`](propagation::Propagator) trait, every format, `OTEL_PROPAGATORS` | context |
//! | [`semconv`], [`span`](mod@span) | semantic-convention keys; the span data model: attributes, events, links, status, limits, [`SpanData`](span::SpanData) | context |
//! | [`sampling`] | the [`ShouldSample`](sampling::ShouldSample) trait and the built-in samplers | context, span |
//! | [`view`] | traces assembled from the spans of any services: the call tree, critical path, self times, root cause and error origin, as text or JSON; spans read back from stdout JSON lines and OTLP/JSON | span |
//! | [`sink`] | the [`SpanSink`](sink::SpanSink) and [`Exporter`](sink::Exporter) traits; memory, fan-out, batch, tree and tail-sampling sinks; stdout exporter | span, sampling (the tail sink's thresholds), view (the tree sink) |
//! | `export` | OTLP over HTTP/protobuf, HTTP/JSON (feature `otlp`) and gRPC (feature `otlp-grpc`); Zipkin v2 JSON (feature `zipkin`); `https` (feature `tls`); retries as the OTLP specification says; the exporters `OTEL_TRACES_EXPORTER` chooses (built without `otlp` too, for `console`) | sink |
//! | [`tracer`] | [`Tracer`] and its builder and `OTEL_*` configuration, live [`Span`]s and [`LocalSpan`]s, the current [`Context`] across `.await`, tasks and threads; [`Health`], [`shutdown_signal`] and the flush on drop | all above |
//! | [`http`] | [`ServerLayer`](http::ServerLayer) and [`ClientLayer`](http::ClientLayer): layer → service → future → body, with one outcome seam (`http/outcome.rs`: HTTP or gRPC); HTTP semantic conventions; gRPC calls recognised and recorded with the RPC conventions, their status from headers or trailers ([`http::grpc`]) | tracer, propagation |
//! | [`integrations`] | axum (feature `axum`, default): `http.route` and the [`SpanRef`] extractor; reqwest (feature `reqwest`): a reqwest-middleware middleware; tonic (feature `tonic`): the call's span from a `tonic::Request`, the peer address of tonic's server; `tracing` (feature `tracing-bridge`): `tracing` spans inside traced requests as tracewire spans, trace ids in log lines | http, tracer |
//!
//! # gRPC
//!
//! A tonic server is traced by `Server::builder().layer(ServerLayer::new(tracer))`, a client by
//! wrapping its `Channel` with [`ClientLayer`](http::ClientLayer); the trace context travels in
//! the call's metadata with the tracer's propagators. Spans are named `package.Service/Method`,
//! their outcome is the `grpc-status` (in a trailers-only response's headers, or in the
//! trailers), and streaming calls are timed to their end. The attribute names follow the RPC
//! conventions' migration rule: today's names by default, the release candidate's with
//! `OTEL_SEMCONV_STABILITY_OPT_IN=rpc`, both with `rpc/dup` (or
//! [`rpc_semconv`](http::ServerLayer::rpc_semconv) in code). See [`http::grpc`] and
//! `examples/grpc.rs`.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tracewire::Tracer;
//! use tracewire::sampling::Sampler;
//! use tracewire::sink::MemorySink;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let sink = MemorySink::new();
//! let tracer = Tracer::builder()
//!     .service_name("order-service")
//!     .sampler(Sampler::parent_based(Sampler::ratio(1.0)))
//!     .sink(sink.clone())
//!     .build();
//!
//! // A request: its span is current inside the handler's future.
//! let incoming = http::HeaderMap::new();
//! let parent = tracer.propagator().extract(&incoming);
//! tracer
//!     .span("POST /orders")
//!     .parent(parent.span_context.as_ref())
//!     .in_scope(async {
//!         // Deep inside the handler: a child span, no tracer needed.
//!         tracewire::span("postgres.query").in_scope(async {}).await;
//!     })
//!     .await;
//!
//! let spans = sink.wait_for(2, Duration::from_secs(1)).unwrap();
//! assert_eq!(spans[0].parent_span_id, Some(spans[1].span_context.span_id()));
//! # }
//! ```

#![deny(missing_docs, unsafe_code)]
#![warn(unreachable_pub)]

pub mod config;
pub mod context;
mod counters;
mod diagnostics;
// Without the `otlp` feature only the choice `OTEL_TRACES_EXPORTER` makes is built, privately.
#[cfg(feature = "otlp")]
pub mod export;
#[cfg(not(feature = "otlp"))]
mod export;
pub mod http;
pub mod id;
pub mod integrations;
pub mod propagation;
pub mod sampling;
pub mod semconv;
pub mod sink;
pub mod span;
pub mod tracer;
mod untrusted;
pub mod view;

pub use context::{Baggage, SpanContext, TraceFlags, TraceState};
pub use id::{SpanId, TraceId};
pub use tracer::{
    Context, ContextGuard, FutureExt, Health, Instrumented, LocalSpan, Span, SpanBuilder, SpanRef,
    Tracer, TracerBuilder, TracerStats, local_span, shutdown_signal, span, spawn,
};

/// Every Rust snippet of the README, compiled (and run, unless marked `no_run`) as a doctest,
/// so that what a user copies always builds.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeSnippets;
