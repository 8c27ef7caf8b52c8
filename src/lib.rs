//! Distributed tracing for the Tower ecosystem.
//!
//! tracewire follows one request through many services as a tree of timed spans that share a
//! trace id. This release holds the foundation every other part stands on: the trace context
//! model and the propagation formats a Rust service meets in the wild.
//!
//! # The flow of one request
//!
//! ```text
//! incoming request ──► extract (Propagator: traceparent, tracestate, baggage, b3, jaeger, x-ray)
//!                      │  → PropagationContext { span_context, baggage }
//!                      │ child context (same trace id and flags, new span id)
//!                      ▼
//! outgoing call ◄───── inject (same propagators; stale headers replaced)
//! ```
//!
//! Later parts (see the design in the repository) add spans, the current context across
//! `.await`, samplers, sinks, Tower layers for servers and clients, and exporters; each builds
//! on the types here.
//!
//! # Parts
//!
//! | module | owns |
//! |---|---|
//! | [`id`] | [`TraceId`], [`SpanId`], per-thread random generation |
//! | [`context`] | [`SpanContext`], [`TraceFlags`], [`TraceState`], [`Baggage`] |
//! | [`propagation`] | the [`Propagator`](propagation::Propagator) trait and every format, `OTEL_PROPAGATORS` |
//! | [`config`] | warnings and strict mode for `OTEL_*` configuration |
//!
//! # Example
//!
//! ```
//! use http::HeaderMap;
//! use tracewire::propagation::{CompositePropagator, Propagator};
//!
//! let propagator = CompositePropagator::from_env().value; // tracecontext,baggage unless set
//! let mut incoming = HeaderMap::new();
//! incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
//!
//! let cx = propagator.extract(&incoming);
//! let mut outgoing = HeaderMap::new();
//! propagator.inject(&cx.child(), &mut outgoing);
//! assert!(outgoing["traceparent"].to_str().unwrap().contains("4bf92f3577b34da6a3ce929d0e0e4736"));
//! ```

#![deny(missing_docs, unsafe_code)]
#![warn(unreachable_pub)]

pub mod config;
pub mod context;
pub mod id;
pub mod propagation;
pub mod sampling;
pub mod semconv;
pub mod sink;
pub mod span;
pub mod tracer;

pub use context::{Baggage, SpanContext, TraceFlags, TraceState};
pub use id::{SpanId, TraceId};
pub use tracer::{
    Context, ContextGuard, FutureExt, Instrumented, Span, SpanBuilder, SpanRef, Tracer,
    TracerBuilder, TracerStats, span, spawn,
};
