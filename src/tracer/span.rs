//! Live spans: starting them, recording into them, ending them.

use std::borrow::Cow;
use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use smallvec::SmallVec;

use super::Tracer;
use super::current;
use crate::context::SpanContext;
use crate::id::SpanId;
use crate::semconv;
use crate::span::{
    Discarded, Event, KeyValue, Link, SpanData, SpanKind, Status, Value, warn_discarded_once,
};

/// A live span: it records attributes, events and status until it ends, on
/// [`end`](Span::end) or when dropped, once.
///
/// A span that the sampler dropped holds only its context (so that it still propagates the
/// trace downstream with the `sampled` flag unset): creating, using and ending it allocates
/// nothing and reads no clock. Everything a span can record is on [`SpanRef`], which `Span`
/// dereferences to.
///
/// # Example
///
/// ```
/// use tracewire::Tracer;
/// use tracewire::sink::MemorySink;
/// use tracewire::span::SpanKind;
///
/// let sink = MemorySink::new();
/// let tracer = Tracer::builder().service_name("orders").sink(sink.clone()).build();
///
/// let span = tracer.span("POST /orders").kind(SpanKind::Server).attr("http.request.method", "POST").start();
/// span.set_attribute("http.response.status_code", 201_i64);
/// span.end();
///
/// assert_eq!(sink.spans()[0].name, "POST /orders");
/// ```
#[must_use = "a span ends when it is dropped"]
pub struct Span {
    handle: SpanRef,
}

/// A handle to a live span that does not own it: record into the span from anywhere (the
/// current span of a handler, another task), while its owner decides when it ends.
/// Recording into a span that has ended does nothing.
///
/// # Example
///
/// ```
/// use tracewire::sink::MemorySink;
/// use tracewire::Tracer;
///
/// let sink = MemorySink::new();
/// let tracer = Tracer::builder().sink(sink.clone()).build();
/// let span = tracer.span("POST /orders").start();
///
/// // Somewhere else (a handler, another task) that does not own the span:
/// let handle = span.handle();
/// handle.set_attribute("order.items", 3_i64);
///
/// span.end();
/// handle.set_attribute("too.late", true); // the span has ended: ignored
/// let spans = sink.spans();
/// assert!(spans[0].attribute("order.items").is_some());
/// assert!(spans[0].attribute("too.late").is_none());
/// ```
#[derive(Clone, Default)]
pub struct SpanRef {
    inner: Inner,
}

#[derive(Clone, Default)]
pub(crate) enum Inner {
    /// No span: no tracer in scope, or tracing disabled without an incoming context.
    #[default]
    None,
    /// Sampled out (or tracing disabled): the context travels on, nothing is recorded.
    NonRecording {
        tracer: Tracer,
        context: SpanContext,
    },
    Recording(Arc<RecordingSpan>),
}

pub(crate) struct RecordingSpan {
    /// `None` only while the allocation waits in this thread's spares (see [`recording`]), so
    /// that a spare never keeps a tracer, and its sink, alive.
    tracer: Option<Tracer>,
    context: SpanContext,
    parent_span_id: Option<SpanId>,
    parent_is_remote: bool,
    kind: SpanKind,
    start: quanta::Instant,
    /// `None` once the span has ended.
    record: Mutex<Option<Record>>,
}

/// What a recording span collects until it ends.
pub(crate) struct Record {
    pub(crate) name: Cow<'static, str>,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) dropped_attributes: u32,
    pub(crate) events: Vec<Event>,
    pub(crate) dropped_events: u32,
    pub(crate) links: Vec<Link>,
    pub(crate) dropped_links: u32,
    pub(crate) status: Status,
}

impl Span {
    /// A span that records nothing and propagates nothing.
    pub fn none() -> Self {
        Self {
            handle: SpanRef::default(),
        }
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            handle: SpanRef { inner },
        }
    }

    /// Ends the span now.
    #[inline]
    pub fn end(self) {
        drop(self);
    }

    /// A handle to this span that does not own it.
    pub fn handle(&self) -> SpanRef {
        self.handle.clone()
    }

    /// The span's handle, which does not end it: for a holder that ends it by other means
    /// (see [`Span::recording_owner`]).
    pub(crate) fn into_handle(mut self) -> SpanRef {
        std::mem::take(&mut self.handle)
    }

    /// A second owner of the span, if it records: the size of a pointer, and the span ends
    /// when the last owner drops.
    pub(crate) fn recording_owner(&self) -> Option<RecordingOwner> {
        match &self.handle.inner {
            Inner::Recording(span) => Some(RecordingOwner(Some(Arc::clone(span)))),
            _ => None,
        }
    }
}

/// An owner of a recording span (see [`Span::recording_owner`]); `None` only while dropped.
pub(crate) struct RecordingOwner(Option<Arc<RecordingSpan>>);

impl RecordingOwner {
    /// A handle to the span.
    pub(crate) fn handle(&self) -> SpanRef {
        SpanRef {
            inner: self.0.clone().map_or(Inner::None, Inner::Recording),
        }
    }
}

impl Drop for RecordingOwner {
    fn drop(&mut self) {
        // Handed to a span, whose drop ends it once, unshared if this is the last owner.
        if let Some(span) = self.0.take() {
            drop(Span::from_inner(Inner::Recording(span)));
        }
    }
}

impl std::ops::Deref for Span {
    type Target = SpanRef;

    fn deref(&self) -> &SpanRef {
        &self.handle
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Inner::Recording(span) = &mut self.handle.inner {
            match Arc::get_mut(span) {
                // No other handle is left: nobody else can be recording, so no lock is needed,
                // and the allocation can serve this thread's next span.
                Some(only) => {
                    only.end_unshared();
                    if let Inner::Recording(span) = std::mem::take(&mut self.handle.inner) {
                        keep_spare(span);
                    }
                }
                None => span.end(),
            }
        }
    }
}

/// Spare allocations kept per thread: enough for the spans a request nests.
const SPARES_KEPT: usize = 8;

thread_local! {
    /// Allocations of recording spans that ended unshared on this thread, for the next ones:
    /// a span then costs no allocation, and is written in place rather than built on the
    /// stack and copied to the heap.
    static SPARES: RefCell<Vec<Arc<RecordingSpan>>> = const { RefCell::new(Vec::new()) };
}

/// Keeps the allocation of an ended, unshared span for reuse (or frees it).
fn keep_spare(mut span: Arc<RecordingSpan>) {
    let Some(ended) = Arc::get_mut(&mut span) else {
        return;
    };
    ended.tracer = None;
    let _ = SPARES.try_with(|spares| {
        if let Ok(mut spares) = spares.try_borrow_mut() {
            if spares.len() < SPARES_KEPT {
                spares.push(span);
            }
        }
    });
}

/// A recording span, in a spare allocation of this thread's when there is one.
pub(crate) fn recording(
    tracer: Tracer,
    context: SpanContext,
    parent: Option<&SpanContext>,
    kind: SpanKind,
    record: Record,
) -> Arc<RecordingSpan> {
    let spare = SPARES
        .try_with(|spares| spares.try_borrow_mut().ok()?.pop())
        .ok()
        .flatten();
    if let Some(mut span) = spare {
        if let Some(reused) = Arc::get_mut(&mut span) {
            // Every field, named: a field added later must be set here too.
            let RecordingSpan {
                tracer: reused_tracer,
                context: reused_context,
                parent_span_id,
                parent_is_remote,
                kind: reused_kind,
                start,
                record: reused_record,
            } = reused;
            *start = tracer.now();
            *reused_tracer = Some(tracer);
            *reused_context = context;
            *parent_span_id = parent.map(SpanContext::span_id);
            *parent_is_remote = parent.is_some_and(SpanContext::is_remote);
            *reused_kind = kind;
            *reused_record
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner) = Some(record);
            return span;
        }
    }
    Arc::new(RecordingSpan::new(tracer, context, parent, kind, record))
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.handle.fmt(f)
    }
}

impl fmt::Debug for SpanRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::None => f.write_str("SpanRef(none)"),
            Inner::NonRecording { context, .. } => write!(f, "SpanRef(non-recording {context:?})"),
            Inner::Recording(span) => write!(f, "SpanRef(recording {:?})", span.context),
        }
    }
}

impl SpanRef {
    /// No span.
    pub(crate) const NONE: SpanRef = SpanRef { inner: Inner::None };

    /// The span's context (ids, flags, trace state); `None` for no span.
    pub fn span_context(&self) -> Option<&SpanContext> {
        match &self.inner {
            Inner::None => None,
            Inner::NonRecording { context, .. } => Some(context),
            Inner::Recording(span) => Some(&span.context),
        }
    }

    /// Whether the span records what is set on it. Check it before computing an expensive
    /// attribute value.
    pub fn is_recording(&self) -> bool {
        matches!(self.inner, Inner::Recording(_))
    }

    /// The tracer and context of a recording span.
    pub(crate) fn recording_parts(&self) -> Option<(&Tracer, &SpanContext)> {
        match &self.inner {
            Inner::Recording(span) => Some((span.tracer.as_ref()?, &span.context)),
            _ => None,
        }
    }

    /// The tracer that started the span.
    pub(crate) fn tracer(&self) -> Option<&Tracer> {
        match &self.inner {
            Inner::None => None,
            Inner::NonRecording { tracer, .. } => Some(tracer),
            Inner::Recording(span) => span.tracer.as_ref(),
        }
    }

    /// Starts building a child of this span with the same tracer.
    pub fn child(&self, name: impl Into<Cow<'static, str>>) -> SpanBuilder<'_> {
        let mut builder = SpanBuilder::new(self.tracer().map(Cow::Borrowed), name.into());
        builder.parent(self.span_context());
        builder
    }

    /// Sets an attribute (replacing an earlier value of the key), within the span limits.
    pub fn set_attribute(&self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        if let Inner::Recording(span) = &self.inner {
            span.with_record(|record, limits| {
                limits.set_attribute(
                    &mut record.attributes,
                    &mut record.dropped_attributes,
                    limits.attribute_count,
                    KeyValue::new(key, value),
                );
            });
        }
    }

    /// The value of an attribute the span has now, if it records.
    pub(crate) fn attribute_value(&self, key: &str) -> Option<Value> {
        let Inner::Recording(span) = &self.inner else {
            return None;
        };
        let record = span.lock();
        let attributes = &record.as_ref()?.attributes;
        attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| kv.value.clone())
    }

    /// Sets several attributes at once (one lock for all of them).
    pub fn set_attributes(&self, attributes: impl IntoIterator<Item = KeyValue>) {
        if self.is_recording() {
            // Gathered before locking: an iterator that records into this span itself would
            // otherwise wait for the lock it holds.
            let attributes: SmallVec<[KeyValue; 8]> = attributes.into_iter().collect();
            self.set_attribute_list(attributes);
        }
    }

    /// Sets attributes already gathered (the layers' request and response attributes): no
    /// user code runs while the span is locked.
    pub(crate) fn set_attribute_list(&self, attributes: impl IntoIterator<Item = KeyValue>) {
        if let Inner::Recording(span) = &self.inner {
            span.with_record(|record, limits| {
                for kv in attributes {
                    limits.set_attribute(
                        &mut record.attributes,
                        &mut record.dropped_attributes,
                        limits.attribute_count,
                        kv,
                    );
                }
            });
        }
    }

    /// Adds the attributes `add` appends, whose keys the caller knows to be distinct from each
    /// other and from every key the span has (the layers' request attributes, added right
    /// after the span starts with only its method and route or RPC names): straight into the
    /// span's list, within the limits, without the search for an earlier value of each key.
    /// `add` runs with the span locked, so it must not record into this span.
    pub(crate) fn add_distinct_attributes(&self, add: impl FnOnce(&mut Vec<KeyValue>)) {
        if let Inner::Recording(span) = &self.inner {
            span.with_record(|record, limits| {
                let from = record.attributes.len();
                add(&mut record.attributes);
                limits.limit_appended(&mut record.attributes, from, &mut record.dropped_attributes);
            });
        }
    }

    /// Adds a timestamped event.
    pub fn add_event(&self, name: impl Into<Cow<'static, str>>, attributes: Vec<KeyValue>) {
        if let Inner::Recording(span) = &self.inner {
            let Some(tracer) = &span.tracer else { return };
            let time_unix_nanos = tracer.now_unix_nanos();
            span.with_record(|record, limits| {
                if record.events.len() >= limits.event_count as usize {
                    record.dropped_events = record.dropped_events.saturating_add(1);
                    warn_discarded_once(Discarded::Events, limits.event_count);
                    return;
                }
                let per_event = limits.attributes_per_event;
                let (attributes, dropped_attributes) =
                    limits.limit_attributes(attributes, per_event, Discarded::EventAttributes);
                record.events.push(Event {
                    name: name.into(),
                    time_unix_nanos,
                    attributes,
                    dropped_attributes,
                });
            });
        }
    }

    /// Records an error the way Jaeger and Tempo display it: an `exception` event with
    /// `exception.type` and `exception.message`, and error status with the message.
    ///
    /// ```
    /// # let sink = tracewire::sink::MemorySink::new();
    /// # let tracer = tracewire::Tracer::builder().sink(sink.clone()).build();
    /// let span = tracer.span("read config").start();
    /// let error = std::fs::read("/nonexistent").unwrap_err();
    /// span.record_error(&error);
    /// # span.end();
    /// # assert!(matches!(sink.spans()[0].status, tracewire::span::Status::Error { .. }));
    /// ```
    pub fn record_error<E: Error + ?Sized + 'static>(&self, error: &E) {
        if !self.is_recording() {
            return;
        }
        let message = error.to_string();
        self.add_event(
            semconv::EXCEPTION_EVENT,
            vec![
                KeyValue::new(semconv::EXCEPTION_TYPE, error_type_name(error)),
                KeyValue::new(semconv::EXCEPTION_MESSAGE, message.clone()),
            ],
        );
        self.set_status(Status::Error {
            message: message.into(),
        });
    }

    /// Sets the status. Per OpenTelemetry, `Ok` is final and `Unset` never overrides.
    pub fn set_status(&self, status: Status) {
        if let Inner::Recording(span) = &self.inner {
            span.with_record(|record, _| match (&record.status, &status) {
                (Status::Ok, _) | (_, Status::Unset) => {}
                _ => record.status = status,
            });
        }
    }

    /// Renames the span (e.g. once the matched route is known).
    pub fn update_name(&self, name: impl Into<Cow<'static, str>>) {
        if let Inner::Recording(span) = &self.inner {
            span.with_record(|record, _| record.name = name.into());
        }
    }

    /// Adds a link to another span.
    pub fn add_link(&self, link: Link) {
        if let Inner::Recording(span) = &self.inner {
            span.with_record(|record, limits| {
                push_link(&mut record.links, &mut record.dropped_links, limits, link);
            });
        }
    }
}

/// The type name of an error for `exception.type` ("its fully-qualified class name, if
/// applicable"): the Rust type (`core::num::error::ParseIntError`, `std::io::error::Error`).
/// Behind `dyn Error` the type is not known: then the `Debug` form up to its first
/// parenthesis or brace, which names the type or variant without the data.
fn error_type_name<E: Error + ?Sized>(error: &E) -> String {
    let name = std::any::type_name::<E>();
    if !name.starts_with("dyn ") {
        return name.to_string();
    }
    let debug = format!("{error:?}");
    let end = debug
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(debug.len());
    match &debug[..end] {
        "" => "error".to_string(),
        name => name.to_string(),
    }
}

fn push_link(
    links: &mut Vec<Link>,
    dropped_links: &mut u32,
    limits: &crate::span::SpanLimits,
    mut link: Link,
) {
    if links.len() >= limits.link_count as usize {
        *dropped_links = dropped_links.saturating_add(1);
        warn_discarded_once(Discarded::Links, limits.link_count);
        return;
    }
    let attributes = std::mem::take(&mut link.attributes);
    let per_link = limits.attributes_per_link;
    let (attributes, dropped) =
        limits.limit_attributes(attributes, per_link, Discarded::LinkAttributes);
    link.attributes = attributes;
    link.dropped_attributes += dropped;
    links.push(link);
}

impl RecordingSpan {
    pub(crate) fn new(
        tracer: Tracer,
        context: SpanContext,
        parent: Option<&SpanContext>,
        kind: SpanKind,
        record: Record,
    ) -> Self {
        Self {
            start: tracer.now(),
            tracer: Some(tracer),
            context,
            parent_span_id: parent.map(SpanContext::span_id),
            parent_is_remote: parent.is_some_and(SpanContext::is_remote),
            kind,
            record: Mutex::new(Some(record)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Record>> {
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn with_record(&self, f: impl FnOnce(&mut Record, &crate::span::SpanLimits)) {
        let Some(tracer) = &self.tracer else { return };
        if let Some(record) = self.lock().as_mut() {
            f(record, tracer.limits());
        }
    }

    /// Ends the span once: later calls find the record gone.
    fn end(&self) {
        // The lock is released before the sink runs: a sink that records into the current
        // span (this one, if still current) must not wait for it.
        let record = self.lock().take();
        if let Some(record) = record {
            self.finish(record);
        }
    }

    /// Ends the span, which no handle shares.
    fn end_unshared(&mut self) {
        let record = self
            .record
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(record) = record {
            self.finish(record);
        }
    }

    /// Hands the span, with what it recorded, to the tracer's sink.
    fn finish(&self, record: Record) {
        let Some(tracer) = &self.tracer else { return };
        if !tracer.count_end(self.context.flags().is_sampled()) {
            return;
        }
        let elapsed = tracer
            .now()
            .saturating_duration_since(self.start)
            .as_nanos() as u64;
        let start_unix_nanos = tracer.unix_nanos(self.start);
        // Built in the call: a span handed on by value would be copied on the way.
        tracer.sink().on_end(SpanData {
            name: record.name,
            kind: self.kind,
            span_context: self.context.clone(),
            parent_span_id: self.parent_span_id,
            parent_is_remote: self.parent_is_remote,
            start_unix_nanos,
            end_unix_nanos: start_unix_nanos + elapsed,
            attributes: record.attributes,
            dropped_attributes: record.dropped_attributes,
            events: record.events,
            dropped_events: record.dropped_events,
            links: record.links,
            dropped_links: record.dropped_links,
            status: record.status,
            resource: tracer.resource_arc(),
            scope: tracer.scope_arc(),
        });
    }
}

/// Which span a new span is the child of.
#[derive(Clone, Copy)]
pub(crate) enum ParentChoice<'a> {
    /// The current span of this task or thread, if any.
    Current,
    /// This context (`None`: a new trace), borrowed: copying a context (and counting a
    /// reference to its trace state) is left to the one place that needs an owned copy.
    Explicit(Option<&'a SpanContext>),
}

/// A sampling decision made before the span's builder was (see [`Tracer::decide_early`]).
pub(crate) struct EarlyDecision {
    pub(crate) trace_id: crate::TraceId,
    pub(crate) result: crate::sampling::SamplingResult,
}

/// Builds a span: name, kind, parent, attributes and links known at start (the sampler sees
/// them), then [`start`](SpanBuilder::start).
///
/// Made by [`Tracer::span`], [`tracewire::span`](fn@crate::span) (a child of the current span)
/// and [`SpanRef::child`].
///
/// Its methods take and return `&mut self`, as [`std::process::Command`]'s do: a chain ending
/// in `start()` builds in place. (A builder passed by value is moved at every step, and it
/// holds its first attributes inline, so each step would copy them again.) To build in steps,
/// keep the builder in a variable:
///
/// ```
/// # let tracer = tracewire::Tracer::builder().build();
/// # let retry = true;
/// let mut builder = tracer.span("GET");
/// builder.attr("http.request.method", "GET");
/// if retry {
///     builder.attr("http.request.resend_count", 1_i64);
/// }
/// let span = builder.start();
/// # assert!(span.is_recording());
/// ```
///
/// # Example
///
/// ```
/// use tracewire::sink::MemorySink;
/// use tracewire::span::{Link, SpanKind};
/// use tracewire::{SpanContext, Tracer};
///
/// let sink = MemorySink::new();
/// let tracer = Tracer::builder().sink(sink.clone()).build();
/// let enqueued_by = SpanContext::new_root(true);
///
/// tracer
///     .span("process message")
///     .kind(SpanKind::Consumer)
///     .parent(None) // a new trace, linked to the producer's
///     .link(Link::new(enqueued_by.clone()))
///     .attr("messaging.system", "kafka")
///     .start()
///     .end();
///
/// let span = &sink.spans()[0];
/// assert_eq!(span.kind, SpanKind::Consumer);
/// assert_eq!(span.links[0].span_context, enqueued_by);
/// ```
#[must_use = "a span builder does nothing until started"]
pub struct SpanBuilder<'a> {
    /// Borrowed from the caller where it can be, so that building costs no reference count.
    pub(crate) tracer: Option<Cow<'a, Tracer>>,
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: SpanKind,
    pub(crate) parent: ParentChoice<'a>,
    /// Inline, so that a span the sampler drops costs no allocation for its attributes.
    pub(crate) attributes: SmallVec<[KeyValue; 4]>,
    pub(crate) links: Vec<Link>,
    /// The parent given (or a disabled tracer) decides that this span is dropped, whatever
    /// else it is given (see [`Tracer::drops_child_of`]): attributes and links are not kept.
    pub(crate) dropped: bool,
}

impl<'a> SpanBuilder<'a> {
    #[inline]
    pub(crate) fn new(tracer: Option<Cow<'a, Tracer>>, name: Cow<'static, str>) -> Self {
        Self {
            tracer,
            name,
            kind: SpanKind::Internal,
            parent: ParentChoice::Current,
            attributes: SmallVec::new(),
            links: Vec::new(),
            dropped: false,
        }
    }

    /// The span kind (internal by default).
    #[inline]
    pub fn kind(&mut self, kind: SpanKind) -> &mut Self {
        self.kind = kind;
        self
    }

    /// The parent: an incoming request's context, or `None` to start a new trace. Without
    /// this the parent is the current span.
    #[inline]
    pub fn parent(&mut self, parent: Option<&'a SpanContext>) -> &mut Self {
        self.parent = ParentChoice::Explicit(parent);
        self.dropped = self
            .tracer
            .as_ref()
            .is_some_and(|t| t.drops_child_of(parent));
        self
    }

    /// Adds an attribute known at start; samplers see it.
    #[inline]
    pub fn attr(
        &mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<Value>,
    ) -> &mut Self {
        if !self.dropped {
            self.attributes.push(KeyValue::new(key, value));
        }
        self
    }

    /// Adds attributes known at start.
    #[inline]
    pub fn attributes(&mut self, attributes: impl IntoIterator<Item = KeyValue>) -> &mut Self {
        if !self.dropped {
            self.attributes.extend(attributes);
        }
        self
    }

    /// Adds a link known at start.
    #[inline]
    pub fn link(&mut self, link: Link) -> &mut Self {
        if !self.dropped {
            self.links.push(link);
        }
        self
    }

    /// Starts the span. Starting takes the builder's tracer: starting the same builder again
    /// gives a span that records and propagates nothing.
    #[inline]
    pub fn start(&mut self) -> Span {
        self.start_decided(None)
    }

    /// Starts the span with the sampler's answer already in hand (from
    /// [`Tracer::decide_early`]), or asks the sampler now.
    #[inline]
    pub(crate) fn start_decided(&mut self, early: Option<EarlyDecision>) -> Span {
        match (self.tracer.take(), self.parent) {
            // Known at `parent(..)`: no sampler to ask.
            (Some(tracer), ParentChoice::Explicit(Some(parent))) if self.dropped => {
                Tracer::start_known_dropped(tracer, parent)
            }
            (Some(tracer), _) => Tracer::start_span(tracer, self, early),
            (None, _) => Span::none(),
        }
    }

    /// The parent context this builder resolves to now: borrowed when it was given, a copy
    /// of the current span's otherwise (the thread-local is not held while a sampler runs).
    pub(crate) fn resolve_parent(&self) -> Option<Cow<'a, SpanContext>> {
        match self.parent {
            ParentChoice::Explicit(parent) => parent.map(Cow::Borrowed),
            ParentChoice::Current => current::current_span_context().map(Cow::Owned),
        }
    }
}

pub(crate) fn new_record(
    builder: &mut SpanBuilder<'_>,
    limits: &crate::span::SpanLimits,
) -> Record {
    // Room for the attributes a layer adds once the span is known to record; a span that
    // starts with none (a plain child span) allocates only if it gets some.
    let mut attributes = match builder.attributes.len() {
        0 => Vec::new(),
        n => crate::span::pool::take(n + 4),
    };
    let mut dropped_attributes = 0;
    for kv in builder.attributes.drain(..) {
        limits.set_attribute(
            &mut attributes,
            &mut dropped_attributes,
            limits.attribute_count,
            kv,
        );
    }
    let (mut links, mut dropped_links) = (Vec::new(), 0);
    for link in builder.links.drain(..) {
        push_link(&mut links, &mut dropped_links, limits, link);
    }
    // Built whole at the end, straight into its place: a record filled in through references
    // would be built on the side and copied.
    Record {
        name: std::mem::take(&mut builder.name),
        attributes,
        dropped_attributes,
        events: Vec::new(),
        dropped_events: 0,
        links,
        dropped_links,
        status: Status::Unset,
    }
}
