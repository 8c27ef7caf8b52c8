//! The span data model: attribute values, events, links, status, limits, and [`SpanData`], the
//! finished span that sinks and exporters receive.
//!
//! Live spans are created by a [`Tracer`](crate::Tracer) (or by [`span`](fn@crate::span) from the
//! current span) and become `SpanData` when they end.
//!
//! `tracewire::span` names two things on purpose: this module, the types a span is made of
//! (`tracewire::span::SpanData`, `tracewire::span::KeyValue`), and the function that starts a
//! child of the current span (`tracewire::span("db.query")`), the call handler code writes most.
//! Rust keeps modules and functions in separate namespaces, so each reads as what it is where it
//! is used, as `std::vec` and `vec!` do.

mod attributes;
mod data;
mod limits;
mod local;
pub(crate) mod pool;

pub use attributes::{Key, KeyValue, Value};
pub use data::{Event, InstrumentationScope, Link, Resource, SpanData, SpanKind, Status};
pub use limits::SpanLimits;
pub(crate) use limits::{Discarded, warn_discarded_once};
pub(crate) use local::LocalRecord;
pub use local::{IntoIter as LocalSpansIter, LocalSpans};
