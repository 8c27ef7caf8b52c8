//! Traces put back together from finished spans of any number of services: the call tree, its
//! critical path, the root cause, and where an error started, as text or JSON.
//!
//! ```text
//! Trace: 4bf92f3577b34da6a3ce929d0e0e4736 (total: 812ms)
//! ├── [api-gateway] POST /checkout 812ms
//! │   ├── [auth] validateToken 8ms
//! │   ├── [order] createOrder 780ms
//! │   │   ├── [inventory] reserveItem 12ms
//! │   │   └── [payment] chargeCard 762ms  ← slow
//! │   │       └── [stripe] POST /charges 748ms  ← root cause
//! │   └── [notify] sendEmail 18ms
//! └── 7 spans, 7 services; root cause: [stripe] POST /charges (748ms self, 92% of the trace)
//! ```
//!
//! [`assemble`] groups [`SpanData`](crate::span::SpanData) into [`Trace`]s, each a tree of
//! [`Node`]s; [`Trace::render`] draws one as above ([`TextOptions`] for colours, a depth limit and
//! collapsing long runs of siblings), [`Trace::to_json`] writes the same tree as JSON.
//! [`read_spans`] reads spans back from what exporters wrote: the stdout exporter's JSON lines,
//! or OTLP/JSON (the Collector's file exporter, tracewire's own OTLP/JSON, other SDKs).
//! `examples/view.rs` does all of it for a saved file:
//! `cargo run --example view -- spans.jsonl`.
//!
//! # Example
//!
//! ```
//! use tracewire::view::{self, TextOptions};
//!
//! // Two services' spans of one trace, as the stdout exporter writes them.
//! let saved = r#"
//! {"service":"db","name":"SELECT orders","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b8","parentSpanId":"00f067aa0ba902b7","startTimeUnixNano":1000000,"endTimeUnixNano":9000000}
//! {"service":"api","name":"GET /orders","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","startTimeUnixNano":0,"endTimeUnixNano":10000000}
//! "#;
//! let read = view::read_spans(saved);
//! assert!(read.errors.is_empty());
//! let traces = view::assemble(read.spans);
//! assert_eq!(
//!     traces[0].render(&TextOptions::default()),
//!     "Trace: 4bf92f3577b34da6a3ce929d0e0e4736 (total: 10ms)
//! ├── [api] GET /orders 10ms
//! │   └── [db] SELECT orders 8ms  ← root cause
//! └── 2 spans, 2 services; root cause: [db] SELECT orders (8ms self, 80% of the trace)
//! "
//! );
//! assert_eq!(traces[0].to_json()["rootCause"], "00f067aa0ba902b8");
//! ```
//!
//! # Critical path and self time
//!
//! Both as Jaeger computes them. The **critical path** is what the trace waited on: starting at
//! the end of the root span, take the child that finished last before that point (children
//! clipped to their parent; one wholly outside it is left out), follow the path into that
//! child, then go on in the parent from the child's start; time no child covers is the
//! parent's own. Each span's [critical-path time](Node::critical_path_nanos) and its
//! [share](Node::critical_path_share) of the trace's total come out of it. The walk starts at
//! the root without a parent (the longest, if there are several), or at the longest orphan
//! when the real root never arrived. Unlike Jaeger, a child ending exactly when its next
//! sibling starts still counts as before it.
//!
//! A span's **self time** is its duration minus the union of its direct children's intervals,
//! each clipped to the span.
//!
//! # Marks
//!
//! - `← root cause`: the critical-path span with the largest self time (of equals, the
//!   deepest). A trace of one span has none.
//! - `← slow`: the call that waited on the root cause: its parent, marked when that parent is
//!   on the critical path, is not a root (a root always spans the whole trace) and lasts at
//!   least half of the trace's total. So a slow downstream call shows both the span that spent
//!   the time and the caller whose latency it became, without marking every ancestor.
//! - `← error starts here`: among the spans with [`Status::Error`](crate::span::Status) none
//!   of whose children failed, the one that ended first (an error travels up to the callers,
//!   which end later; of equals, the deepest). Every failed span shows `✗` and its message.
//!
//! # What is reported, never corrected
//!
//! A span whose parent never arrived is an orphan: a root of its own, marked, never dropped.
//! A span starting before its parent or ending after it (clock skew between hosts, or work
//! left running) stays where its timestamps put it and is flagged. A second span with the same
//! id is dropped with a warning (the first is kept). See [`Warning`].

mod assemble;
mod critical_path;
mod json;
mod read;
mod text;
mod trace;

#[cfg(test)]
mod test_spans;

pub use assemble::assemble;
pub use read::{ReadError, ReadOutcome, read_spans};
pub(crate) use text::Heading;
pub use text::TextOptions;
pub use trace::{Node, Trace, Warning};
