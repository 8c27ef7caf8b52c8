//! Hand-built spans for the view's unit tests.

use std::sync::Arc;

use crate::context::{SpanContext, TraceFlags};
use crate::id::{SpanId, TraceId};
use crate::span::{KeyValue, Resource, SpanData, SpanKind, Status};

pub(super) const MS: u64 = 1_000_000;
pub(super) const BASE: u64 = 1_700_000_000_000_000_000;

/// A span of service `service`, id `id` under `parent`, from `start` to `end` ms after
/// BASE.
pub(super) fn span(
    service: &str,
    name: &str,
    id: u64,
    parent: Option<u64>,
    start: u64,
    end: u64,
) -> SpanData {
    let trace_id = TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736).unwrap();
    SpanData {
        name: name.to_string().into(),
        kind: SpanKind::Internal,
        span_context: SpanContext::new(
            trace_id,
            SpanId::from_u64(id).unwrap(),
            TraceFlags::SAMPLED,
        ),
        parent_span_id: parent.and_then(SpanId::from_u64),
        parent_is_remote: false,
        start_unix_nanos: BASE + start * MS,
        end_unix_nanos: BASE + end * MS,
        attributes: Vec::new(),
        dropped_attributes: 0,
        events: Vec::new(),
        dropped_events: 0,
        links: Vec::new(),
        dropped_links: 0,
        status: Status::Unset,
        resource: Arc::new(Resource::new([KeyValue::new(
            "service.name",
            service.to_string(),
        )])),
        scope: Arc::default(),
    }
}

/// The checkout trace of the module docs.
pub(super) fn checkout() -> Vec<SpanData> {
    vec![
        span("stripe", "POST /charges", 6, Some(5), 34, 782),
        span("payment", "chargeCard", 5, Some(3), 28, 790),
        span("inventory", "reserveItem", 4, Some(3), 14, 26),
        span("auth", "validateToken", 2, Some(1), 2, 10),
        span("order", "createOrder", 3, Some(1), 12, 792),
        span("notify", "sendEmail", 7, Some(1), 793, 811),
        span("api-gateway", "POST /checkout", 1, None, 0, 812),
    ]
}
