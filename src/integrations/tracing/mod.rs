//! The `tracing` bridge (feature `tracing-bridge`): `#[instrument]` spans inside traced
//! requests become tracewire spans, and log lines carry the trace id.
//!
//! - [`TracewireLayer`], a `tracing_subscriber` layer: a `tracing` span opened while a
//!   recording tracewire span is current becomes its child span (name, kind, status and
//!   attributes from the span's fields, its events as span events); while the `tracing` span
//!   is entered its tracewire span is current, so `tracewire::span(..)` and outgoing calls
//!   through the client layer are its children and the `traceparent` sent names it.
//! - [`TraceIds`], an event formatter around `tracing-subscriber`'s own: every log line
//!   written inside a traced request carries `trace_id`, `span_id` and `trace_flags`, in JSON
//!   or text, with no change to the `info!` calls.
//!
//! No OpenTelemetry SDK is involved: the spans go to the tracer's sink like every other
//! tracewire span, with the parents the request's context gives them (no `set_parent`).
//!
//! # Setup
//!
//! ```
//! use tracewire::integrations::tracing::{TraceIds, TracewireLayer};
//! use tracing_subscriber::layer::SubscriberExt;
//! use tracing_subscriber::util::SubscriberInitExt;
//!
//! tracing_subscriber::registry()
//!     .with(TracewireLayer::new())
//!     // The one line for trace ids in JSON logs (`tracing-subscriber`'s `json` feature).
//!     .with(tracing_subscriber::fmt::layer().json().map_event_format(TraceIds::json))
//!     .init();
//! ```
//!
//! # When is each span converted
//!
//! When it is created with a recording tracewire span current: inside a request the server
//! layer traces and the sampler kept, inside `tracer.span(..).in_scope(..)` or under
//! `span.enter()`. Outside a request, or in one the sampler dropped, `tracing` spans are left
//! alone and cost the layer a thread-local read; the log lines of an unsampled request still
//! carry its ids, with `trace_flags` `00`.

mod fields;
mod layer;
mod log;

pub use layer::TracewireLayer;
pub use log::TraceIds;
