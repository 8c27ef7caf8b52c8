//! What a finished span holds, as sinks and exporters receive it.

use std::borrow::Cow;
use std::sync::Arc;

use super::attributes::{KeyValue, Value};
use crate::context::SpanContext;
use crate::id::SpanId;

/// The role of a span in a request (OpenTelemetry `SpanKind`).
///
/// # Example
///
/// ```
/// use tracewire::span::SpanKind;
/// use tracewire::Tracer;
///
/// let tracer = Tracer::builder().build();
/// // Outgoing calls are CLIENT spans; the client layer sets this for you.
/// let call = tracer.span("GET").kind(SpanKind::Client).start();
/// # call.end();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    /// Work inside a process.
    #[default]
    Internal,
    /// The handling of an incoming request.
    Server,
    /// An outgoing request.
    Client,
    /// Sending a message to a broker.
    Producer,
    /// Receiving a message from a broker.
    Consumer,
}

/// The outcome of a span.
///
/// # Example
///
/// ```
/// use tracewire::sink::MemorySink;
/// use tracewire::span::Status;
/// use tracewire::Tracer;
///
/// let sink = MemorySink::new();
/// let tracer = Tracer::builder().sink(sink.clone()).build();
/// let span = tracer.span("charge card").start();
/// span.set_status(Status::Error { message: "card declined".into() });
/// span.set_status(Status::Unset); // never overrides
/// span.end();
/// assert_eq!(sink.spans()[0].status, Status::Error { message: "card declined".into() });
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Status {
    /// No outcome was set (the default; what most successful spans have).
    #[default]
    Unset,
    /// The operation was marked successful.
    Ok,
    /// The operation failed.
    Error {
        /// What went wrong.
        message: Cow<'static, str>,
    },
}

/// A timestamped event on a span, such as an `exception`.
///
/// # Example
///
/// ```
/// use tracewire::sink::MemorySink;
/// use tracewire::span::KeyValue;
/// use tracewire::Tracer;
///
/// let sink = MemorySink::new();
/// let tracer = Tracer::builder().sink(sink.clone()).build();
/// let span = tracer.span("retrying call").start();
/// span.add_event("retry", vec![KeyValue::new("attempt", 2_i64)]);
/// span.end();
/// let event = &sink.spans()[0].events[0];
/// assert_eq!((event.name.as_ref(), event.attributes.len()), ("retry", 1));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The event name.
    pub name: Cow<'static, str>,
    /// When it happened, in nanoseconds since the Unix epoch.
    pub time_unix_nanos: u64,
    /// Its attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the span limits.
    pub dropped_attributes: u32,
}

/// A link from a span to another span (of this or another trace).
///
/// # Example
///
/// ```
/// use tracewire::span::{KeyValue, Link};
/// use tracewire::SpanContext;
///
/// let mut link = Link::new(SpanContext::new_root(true));
/// link.attributes.push(KeyValue::new("messaging.batch.index", 3_i64));
/// assert_eq!(link.attributes.len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// The linked span.
    pub span_context: SpanContext,
    /// Attributes of the link.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the span limits.
    pub dropped_attributes: u32,
}

impl Link {
    /// A link to `span_context` without attributes.
    pub fn new(span_context: SpanContext) -> Self {
        Self {
            span_context,
            attributes: Vec::new(),
            dropped_attributes: 0,
        }
    }
}

/// The entity that produces spans: `service.name` and friends.
///
/// # Example
///
/// ```
/// use tracewire::span::{KeyValue, Resource, Value};
///
/// let resource = Resource::new([
///     KeyValue::new("service.name", "inventory"),
///     KeyValue::new("service.instance.id", "pod-7"),
/// ]);
/// assert_eq!(resource.service_name(), "inventory");
/// assert_eq!(resource.get("service.instance.id"), Some(&Value::from("pod-7")));
/// assert_eq!(Resource::default().service_name(), "unknown_service");
/// ```
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Resource {
    attributes: Vec<KeyValue>,
}

impl Resource {
    /// A resource with these attributes (a later duplicate key replaces an earlier one).
    pub fn new(attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        let mut resource = Self::default();
        for kv in attributes {
            resource.set(kv);
        }
        resource
    }

    /// Sets one attribute, replacing an earlier value of the same key.
    pub fn set(&mut self, kv: KeyValue) {
        match self.attributes.iter_mut().find(|a| a.key == kv.key) {
            Some(existing) => existing.value = kv.value,
            None => self.attributes.push(kv),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .map(|a| &a.value)
    }

    /// `service.name`, or `unknown_service` as OpenTelemetry names a service without one.
    pub fn service_name(&self) -> Cow<'_, str> {
        match self.get(crate::semconv::SERVICE_NAME) {
            Some(Value::String(name)) => Cow::Borrowed(name.as_ref()),
            Some(other) => Cow::Owned(other.to_string()),
            None => Cow::Borrowed("unknown_service"),
        }
    }

    /// All attributes.
    pub fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }
}

/// The library that produced a span (OpenTelemetry's instrumentation scope).
///
/// # Example
///
/// ```
/// use tracewire::span::InstrumentationScope;
///
/// let scope = InstrumentationScope::default();
/// assert_eq!(scope.name, "tracewire");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InstrumentationScope {
    /// The scope name, e.g. `tracewire`.
    pub name: Cow<'static, str>,
    /// Its version.
    pub version: Option<Cow<'static, str>>,
}

impl Default for InstrumentationScope {
    fn default() -> Self {
        Self {
            name: Cow::Borrowed("tracewire"),
            version: Some(Cow::Borrowed(env!("CARGO_PKG_VERSION"))),
        }
    }
}

/// A finished span, as sinks and exporters receive it.
///
/// # Example
///
/// ```
/// use tracewire::sink::MemorySink;
/// use tracewire::span::{SpanKind, Value};
/// use tracewire::Tracer;
///
/// let sink = MemorySink::new();
/// let tracer = Tracer::builder().service_name("orders").sink(sink.clone()).build();
/// let parent = tracer.span("POST /orders").kind(SpanKind::Server).start();
/// parent.child("INSERT orders").attr("db.system.name", "postgresql").start().end();
/// parent.end();
///
/// let spans = sink.spans();
/// let (insert, post) = (&spans[0], &spans[1]);
/// assert_eq!(insert.parent_span_id, Some(post.span_context.span_id()));
/// assert_eq!(insert.attribute("db.system.name"), Some(&Value::from("postgresql")));
/// assert_eq!(insert.resource.service_name(), "orders");
/// assert!(post.duration_nanos() >= insert.duration_nanos());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SpanData {
    /// The span's name, e.g. `GET /users/{id}`.
    pub name: Cow<'static, str>,
    /// Its kind.
    pub kind: SpanKind,
    /// Its ids, flags and trace state. Not sampled means the span was recorded only (for a
    /// tail sampler): exporters never receive such spans.
    pub span_context: SpanContext,
    /// The parent span, if any.
    pub parent_span_id: Option<SpanId>,
    /// Whether the parent came from another process (OTLP `Span.flags` bits 8–9).
    pub parent_is_remote: bool,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End, in nanoseconds since the Unix epoch; the duration comes from a monotonic clock.
    pub end_unix_nanos: u64,
    /// Attributes, in the order they were set.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the span limits.
    pub dropped_attributes: u32,
    /// Events, in the order they happened.
    pub events: Vec<Event>,
    /// Events dropped by the span limits.
    pub dropped_events: u32,
    /// Links.
    pub links: Vec<Link>,
    /// Links dropped by the span limits.
    pub dropped_links: u32,
    /// The outcome.
    pub status: Status,
    /// The service that produced the span.
    pub resource: Arc<Resource>,
    /// The library that produced the span.
    pub scope: Arc<InstrumentationScope>,
}

impl SpanData {
    /// How long the span lasted, in nanoseconds.
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos)
    }

    /// The value of an attribute.
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .map(|a| &a.value)
    }
}
