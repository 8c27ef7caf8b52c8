//! The [`Tracer`]: resource, sampler, id generator, propagator and sink, and the live spans it
//! starts.
//!
//! A tracer is a value: build one per service (in code with [`Tracer::builder`] or from the
//! `OTEL_*` variables with [`Tracer::from_env`]), clone it cheaply into every layer that needs
//! it, and give tests their own with a [`MemorySink`](crate::sink::MemorySink). No global state
//! is needed.

mod current;
mod env;
mod health;
mod local;
mod shutdown;
mod span;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) use current::SpanScope;
#[cfg(feature = "tracing-bridge")]
pub(crate) use current::with_current;
pub use current::{Context, ContextGuard, FutureExt, Instrumented, span, spawn};
pub use health::Health;
#[cfg(feature = "tracing-bridge")]
pub(crate) use local::innermost_context;
pub use local::{LocalSpan, local_span};
pub use shutdown::shutdown_signal;
pub use span::{Span, SpanBuilder, SpanRef};

use crate::config::{ConfigError, ConfigWarning};
use crate::context::SpanContext;
use crate::counters::ShardedCounters;
use crate::id::{IdGenerator, RandomIdGenerator};
use crate::propagation::{CompositePropagator, Propagator};
use crate::sampling::{Sampler, SamplingDecision, SamplingParams, SamplingResult, ShouldSample};
use crate::semconv;
use crate::sink::{BatchConfig, BatchSink, Exporter, SinkError, SinkStats, SpanSink};
use crate::span::{InstrumentationScope, KeyValue, Resource, SpanData, SpanLimits, Value};
use span::Inner;

/// Starts spans and sends the finished ones to its sink. Cheap to clone (one `Arc`).
///
/// # Example
///
/// ```
/// use tracewire::Tracer;
/// use tracewire::sampling::Sampler;
/// use tracewire::sink::MemorySink;
///
/// let sink = MemorySink::new();
/// let tracer = Tracer::builder()
///     .service_name("order-service")
///     .sampler(Sampler::parent_based(Sampler::always_on()))
///     .sink(sink.clone())
///     .build();
///
/// let span = tracer.span("createOrder").start();
/// span.end();
/// assert_eq!(sink.spans()[0].resource.service_name(), "order-service");
/// assert_eq!(tracer.stats().spans_ended, 1);
/// ```
#[derive(Clone)]
pub struct Tracer {
    inner: Arc<TracerInner>,
}

struct TracerInner {
    resource: Arc<Resource>,
    scope: Arc<InstrumentationScope>,
    sampler: Sampler,
    ids: Box<dyn IdGenerator>,
    propagator: Box<dyn Propagator>,
    sink: Arc<dyn SpanSink>,
    sink_wants_record_only: bool,
    limits: SpanLimits,
    disabled: bool,
    /// The sampler decides from the parent and trace id alone, and the tracer is not
    /// disabled: the server layer asks it before naming a request's span.
    decides_early: bool,
    /// The sampler gives spans their parent's decision (see [`ShouldSample::follows_parent`]),
    /// by `[remote][sampled]`.
    follows_parent: [[bool; 2]; 2],
    clock: Clock,
    counters: Counters,
    /// The bad settings the environment held, for [`Tracer::health`].
    warnings: Vec<ConfigWarning>,
    /// Built without a sink (and not because `OTEL_TRACES_EXPORTER=none` or disabled): every
    /// span is discarded.
    has_no_sink: bool,
}

impl Drop for TracerInner {
    /// The last handle is gone: what the sink holds is flushed, within a bound, so that a
    /// service that forgets `shutdown` still exports its last spans and never hangs on exit.
    /// A flush, not a shutdown: a sink may be shared with other tracers (a cloned memory or
    /// tree sink), and stays open for them; a sink only this tracer held stops when dropped.
    fn drop(&mut self) {
        local::flush_local();
        let _ = self.sink.force_flush(shutdown::FLUSH_ON_DROP);
    }
}

impl TracerInner {
    /// The sampler's answer for a span known by its parent, trace id, name and kind alone (no
    /// attributes or links yet): the parent's decision if the sampler follows it, else asked.
    #[inline]
    fn decide(
        &self,
        parent: Option<&SpanContext>,
        trace_id: crate::TraceId,
        name: &str,
        kind: crate::span::SpanKind,
    ) -> SamplingResult {
        self.parents_decision(parent).unwrap_or_else(|| {
            self.sampler
                .should_sample(&SamplingParams::new(parent, trace_id, name, kind))
        })
    }

    /// The sampler's answer for a child of `parent`, when it is known without asking: the
    /// parent's decision, for a sampler that follows it (see [`ShouldSample::follows_parent`]).
    fn parents_decision(&self, parent: Option<&SpanContext>) -> Option<SamplingResult> {
        let parent = parent?;
        match self.followed(parent)? {
            // A sampled parent's trace state may hold a threshold to check: asked then.
            true => parent.state().is_empty().then(|| SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                trace_state: crate::TraceState::default(),
            }),
            false => Some(dropped_under(parent)),
        }
    }

    /// Whether `parent` is sampled, if the sampler gives its children its decision.
    #[inline]
    fn followed(&self, parent: &SpanContext) -> Option<bool> {
        // Deferred: the parent left the decision to us (parent-based asks its root sampler).
        if parent.is_sampling_deferred() {
            return None;
        }
        let sampled = parent.flags().is_sampled();
        self.follows_parent[usize::from(parent.is_remote())][usize::from(sampled)]
            .then_some(sampled)
    }
}

/// The drop of a child of `parent` that follows it: its trace state carried on (the tracer
/// removes an `ot=th` threshold from every span it does not sample).
fn dropped_under(parent: &SpanContext) -> SamplingResult {
    SamplingResult {
        decision: SamplingDecision::Drop,
        trace_state: parent.state().clone(),
    }
}

/// The span of a disabled tracer (`OTEL_SDK_DISABLED`): the incoming context passes on
/// unchanged, nothing is recorded.
fn disabled_span(tracer: Cow<'_, Tracer>, parent: Option<&SpanContext>) -> Span {
    Span::from_inner(match parent {
        Some(context) => Inner::NonRecording {
            tracer: tracer.into_owned(),
            context: context.clone(),
        },
        None => Inner::None,
    })
}

/// What a tracer has done: spans started, ended, sampled out, and what its sink did with them.
///
/// # Example
///
/// ```
/// use tracewire::sampling::Sampler;
/// use tracewire::sink::MemorySink;
/// use tracewire::Tracer;
///
/// let tracer = Tracer::builder().sampler(Sampler::always_off()).sink(MemorySink::new()).build();
/// tracer.span("dropped by the sampler").start().end();
/// let stats = tracer.stats();
/// assert_eq!((stats.spans_started, stats.sampled_out), (0, 1));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TracerStats {
    /// Recording spans started.
    pub spans_started: u64,
    /// Recording spans ended.
    pub spans_ended: u64,
    /// Spans the sampler dropped (not recorded; their context still propagates).
    pub sampled_out: u64,
    /// Of the ended spans, those recorded only (not sampled): they go only to a sink that
    /// asks for them, such as a tail sampler, and never to an exporter. With a sink that does
    /// not ask, `spans_ended - record_only_ended` spans reach it, each of them either exported
    /// or counted in [`SinkStats::dropped`].
    pub record_only_ended: u64,
    /// The sink's counters: queued, dropped and why, exported, failed. A
    /// [`FanOut`](crate::sink::FanOut) reports the sums over its sinks, so a span two sinks
    /// take is counted twice.
    pub sink: SinkStats,
}

/// What a tracer counts, sharded by thread ([`ShardedCounters`]).
#[derive(Default)]
struct Counters(ShardedCounters<4>);

#[derive(Clone, Copy)]
enum Counter {
    Started,
    Ended,
    SampledOut,
    RecordOnlyEnded,
}

impl Counters {
    #[inline]
    fn add(&self, counter: Counter) {
        self.0.add(counter as usize, 1);
    }

    fn add_n(&self, counter: Counter, n: u64) {
        if n > 0 {
            self.0.add(counter as usize, n);
        }
    }

    fn sum(&self, counter: Counter) -> u64 {
        self.0.sum(counter as usize)
    }
}

/// Wall-clock time derived from one monotonic clock read: the anchor pairs a monotonic instant
/// with the Unix time at tracer creation, so a span pays for one clock read at start and one at
/// end. The monotonic clock is `quanta`'s (the CPU's invariant TSC where the OS says it is
/// reliable, the OS clock otherwise) rather than `std::time::Instant`: reading the TSC is one
/// instruction and a scaling, where `Instant` goes through `clock_gettime`, and every recorded
/// span reads the clock twice.
struct Clock {
    clock: quanta::Clock,
    anchor: quanta::Instant,
    anchor_unix_nanos: u64,
}

impl Clock {
    fn new() -> Self {
        let clock = quanta::Clock::new();
        let anchor = clock.now();
        let anchor_unix_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self {
            clock,
            anchor,
            anchor_unix_nanos,
        }
    }

    fn now(&self) -> quanta::Instant {
        self.clock.now()
    }

    fn unix_nanos(&self, at: quanta::Instant) -> u64 {
        match at.checked_duration_since(self.anchor) {
            Some(after) => self.anchor_unix_nanos + after.as_nanos() as u64,
            None => self
                .anchor_unix_nanos
                .saturating_sub(self.anchor.duration_since(at).as_nanos() as u64),
        }
    }
}

impl Tracer {
    /// A builder with the defaults: parent-based always-on sampling, random ids,
    /// `tracecontext,baggage` propagation, no sink (spans are counted and discarded).
    pub fn builder() -> TracerBuilder {
        TracerBuilder::default()
    }

    /// A builder configured from the `OTEL_*` environment variables (see
    /// [`TracerBuilder::from_env_with`] for the list), to chain like [`builder`](Self::builder).
    /// Bad values are logged and replaced by their defaults; the builder keeps the warnings,
    /// and [`TracerBuilder::strict`] refuses them instead, for start-up checks.
    ///
    /// ```
    /// use tracewire::Tracer;
    /// use tracewire::sink::MemorySink;
    ///
    /// let tracer = Tracer::from_env().service_name("order-service").sink(MemorySink::new()).build();
    /// # let _ = tracer;
    /// ```
    pub fn from_env() -> TracerBuilder {
        TracerBuilder::from_env_with(crate::config::process_env)
    }

    /// Starts building a span; by default it is a child of the current span.
    pub fn span(&self, name: impl Into<Cow<'static, str>>) -> SpanBuilder<'_> {
        SpanBuilder::new(Some(Cow::Borrowed(self)), name.into())
    }

    /// The propagator services using this tracer read and write headers with.
    pub fn propagator(&self) -> &dyn Propagator {
        self.inner.propagator.as_ref()
    }

    /// The resource (`service.name` …) on every span.
    pub fn resource(&self) -> &Resource {
        &self.inner.resource
    }

    /// Whether tracing is disabled (`OTEL_SDK_DISABLED=true`): spans are not recorded, and
    /// incoming context passes downstream unchanged.
    pub fn is_disabled(&self) -> bool {
        self.inner.disabled
    }

    /// The counters of this tracer and its sink.
    pub fn stats(&self) -> TracerStats {
        let c = &self.inner.counters;
        TracerStats {
            spans_started: c.sum(Counter::Started),
            spans_ended: c.sum(Counter::Ended),
            sampled_out: c.sum(Counter::SampledOut),
            record_only_ended: c.sum(Counter::RecordOnlyEnded),
            sink: self.inner.sink.stats(),
        }
    }

    /// Sends on every finished span, waiting at most `timeout`. Of [`LocalSpan`]s, those of
    /// the calling thread; another thread's go when its scope ends (see [`LocalSpan`]).
    pub fn force_flush(&self, timeout: Duration) -> Result<(), SinkError> {
        local::flush_local();
        self.inner.sink.force_flush(timeout)
    }

    /// Flushes and stops the sink, waiting at most `timeout` (local spans: as
    /// [`force_flush`](Self::force_flush) says), and says what became of the spans: exported,
    /// dropped and why. If the deadline passes first, the spans still queued are given up and
    /// counted ([`SinkError::ShutdownTimeout`]). See [`shutdown_signal`] for a server's
    /// graceful shutdown.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tracewire::Tracer;
    /// use tracewire::sink::{Exporter, StdoutExporter};
    ///
    /// let tracer = Tracer::builder().sink(StdoutExporter::json().batched()).build();
    /// tracer.span("last request").start().end();
    /// let stats = tracer.shutdown(Duration::from_secs(5)).unwrap();
    /// assert_eq!((stats.sink.exported, stats.sink.dropped()), (1, 0));
    /// ```
    ///
    /// Dropping the last handle of a tracer flushes its sink too, waiting at most 5 seconds.
    pub fn shutdown(&self, timeout: Duration) -> Result<TracerStats, SinkError> {
        local::flush_local();
        self.inner.sink.shutdown(timeout)?;
        Ok(self.stats())
    }

    /// Whether the sink takes record-only spans.
    pub(crate) fn sink_wants_record_only(&self) -> bool {
        self.inner.sink_wants_record_only
    }

    /// Whether `other` is this tracer (a clone of it).
    pub(crate) fn same_as(&self, other: &Tracer) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn limits(&self) -> &SpanLimits {
        &self.inner.limits
    }

    pub(crate) fn now(&self) -> quanta::Instant {
        self.inner.clock.now()
    }

    pub(crate) fn now_unix_nanos(&self) -> u64 {
        self.inner.clock.unix_nanos(self.now())
    }

    pub(crate) fn unix_nanos(&self, at: quanta::Instant) -> u64 {
        self.inner.clock.unix_nanos(at)
    }

    pub(crate) fn resource_arc(&self) -> Arc<Resource> {
        self.inner.resource.clone()
    }

    pub(crate) fn scope_arc(&self) -> Arc<InstrumentationScope> {
        self.inner.scope.clone()
    }

    /// Starts the span `builder` describes: decides, then starts a recording span or returns
    /// a context-only one. The tracer comes by value when the builder owns it
    /// (`tracewire::span` takes it from the current span), so that the span takes it over
    /// instead of counting one more reference.
    fn start_span(
        tracer: Cow<'_, Tracer>,
        builder: &mut SpanBuilder<'_>,
        early: Option<span::EarlyDecision>,
    ) -> Span {
        let inner = &tracer.inner;
        let parent = builder.resolve_parent();
        let parent = parent.as_deref();
        if inner.disabled {
            return disabled_span(tracer, parent);
        }
        let (trace_id, result) = match early {
            Some(early) => (early.trace_id, early.result),
            None => {
                let trace_id =
                    parent.map_or_else(|| inner.ids.new_trace_id(), SpanContext::trace_id);
                let result = inner.parents_decision(parent).unwrap_or_else(|| {
                    inner.sampler.should_sample(&SamplingParams {
                        parent,
                        trace_id,
                        name: &builder.name,
                        kind: builder.kind,
                        attributes: &builder.attributes,
                        links: &builder.links,
                    })
                });
                (trace_id, result)
            }
        };
        let decision = result.decision;
        let context = tracer.new_span_context(parent, trace_id, result);
        if decision == SamplingDecision::Drop {
            return tracer.into_owned().unrecorded(context);
        }
        inner.counters.add(Counter::Started);
        let record = span::new_record(builder, &inner.limits);
        let recording = span::recording(tracer.into_owned(), context, parent, builder.kind, record);
        Span::from_inner(Inner::Recording(recording))
    }

    /// The context of a new span: a new span id, and the trace id, flags and trace state the
    /// parent and the sampler's answer give it.
    fn new_span_context(
        &self,
        parent: Option<&SpanContext>,
        trace_id: crate::TraceId,
        result: crate::sampling::SamplingResult,
    ) -> SpanContext {
        let ids = &self.inner.ids;
        let sampled = result.decision.is_sampled();
        // §3.2.2.5.2: a trace keeps the random flag it arrived with; new traces set it when
        // the id generator makes random ids.
        let random = parent.map_or_else(|| ids.trace_ids_are_random(), |p| p.flags().is_random());
        let flags = crate::TraceFlags::NONE
            .with_sampled(sampled)
            .with_random(random);
        let debug = sampled && parent.is_some_and(SpanContext::is_debug);
        // A negative decision removes `th` (OpenTelemetry trace SDK, CompositeSampler),
        // whichever sampler made it: the parent-based shortcut for an unsampled parent, or a
        // sampler of the user's.
        let state = match sampled || result.trace_state.is_empty() {
            true => result.trace_state,
            false => crate::sampling::erase_threshold(&result.trace_state),
        };
        SpanContext::new(trace_id, ids.new_span_id(), flags)
            .with_state(state)
            .with_debug(debug)
    }

    /// A child of `parent` that [`drops_child_of`](Self::drops_child_of) says is dropped.
    #[inline]
    pub(crate) fn start_known_dropped(tracer: Cow<'_, Tracer>, parent: &SpanContext) -> Span {
        let inner = &tracer.inner;
        if inner.disabled {
            return disabled_span(tracer, Some(parent));
        }
        let result = dropped_under(parent);
        let context = tracer.new_span_context(Some(parent), parent.trace_id(), result);
        tracer.into_owned().unrecorded(context)
    }

    /// A span the sampler dropped: its context travels on, nothing is recorded.
    fn unrecorded(self, context: SpanContext) -> Span {
        self.inner.counters.add(Counter::SampledOut);
        Span::from_inner(Inner::NonRecording {
            tracer: self,
            context,
        })
    }

    /// The span of a request that [`decide_early`](Self::decide_early) dropped, made without a
    /// builder: it needs no name or attributes.
    pub(crate) fn start_dropped(
        &self,
        parent: Option<&SpanContext>,
        early: span::EarlyDecision,
    ) -> Span {
        let context = self.new_span_context(parent, early.trace_id, early.result);
        self.clone().unrecorded(context)
    }

    /// Whether a span with this parent is dropped whatever else it is given: by a disabled
    /// tracer, or by a sampler that follows an unsampled parent (see
    /// [`ShouldSample::follows_parent`]). A builder that knows it keeps no attributes.
    #[inline]
    pub(crate) fn drops_child_of(&self, parent: Option<&SpanContext>) -> bool {
        let inner = &self.inner;
        inner.disabled || parent.is_some_and(|p| inner.followed(p) == Some(false))
    }

    /// The sampler's decision for a span with this parent, if the sampler decides from the
    /// parent and trace id alone (see [`ShouldSample::uses_span_details`]): the server layer
    /// asks before naming the span, so that a request the sampler drops skips that work.
    pub(crate) fn decide_early(
        &self,
        parent: Option<&SpanContext>,
        name: &str,
        kind: crate::span::SpanKind,
    ) -> Option<span::EarlyDecision> {
        let inner = &self.inner;
        if !inner.decides_early {
            return None;
        }
        let trace_id = parent.map_or_else(|| inner.ids.new_trace_id(), SpanContext::trace_id);
        let result = inner.decide(parent, trace_id, name, kind);
        Some(span::EarlyDecision { trace_id, result })
    }

    /// The context of a local child of `parent` (see [`LocalSpan`]), or `None` if the sampler
    /// drops it (counted as sampled out). A local span is counted as started and ended when it
    /// is handed to the sink ([`count_local`](Self::count_local)). The sampler is asked only if it
    /// does not declare that children get their parent's decision.
    #[inline]
    pub(crate) fn start_local(&self, parent: &SpanContext, name: &str) -> Option<SpanContext> {
        let inner = &self.inner;
        let trace_id = parent.trace_id();
        let kind = crate::span::SpanKind::Internal;
        let result = inner.decide(Some(parent), trace_id, name, kind);
        if result.decision == SamplingDecision::Drop {
            inner.counters.add(Counter::SampledOut);
            return None;
        }
        Some(self.new_span_context(Some(parent), trace_id, result))
    }

    /// Counts ended local spans as they go to the sink, `record_only` of them not sampled:
    /// a few additions per batch rather than two per span.
    pub(crate) fn count_local(&self, ended: usize, record_only: usize) {
        let counters = &self.inner.counters;
        counters.add_n(Counter::Started, ended as u64);
        counters.add_n(Counter::Ended, ended as u64);
        counters.add_n(Counter::RecordOnlyEnded, record_only as u64);
    }

    /// Counts a span's end, and says whether the sink takes it: sampled spans always,
    /// record-only spans only when the sink asks for them.
    pub(crate) fn count_end(&self, sampled: bool) -> bool {
        let inner = &self.inner;
        inner.counters.add(Counter::Ended);
        if !sampled {
            inner.counters.add(Counter::RecordOnlyEnded);
        }
        sampled || inner.sink_wants_record_only
    }

    /// The sink finished spans go to (see [`count_end`](Self::count_end)).
    pub(crate) fn sink(&self) -> &dyn SpanSink {
        self.inner.sink.as_ref()
    }
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracer")
            .field("service", &self.inner.resource.service_name())
            .field("sampler", &self.inner.sampler)
            .field("sink", &self.inner.sink)
            .field("disabled", &self.inner.disabled)
            .finish()
    }
}

/// Builds a [`Tracer`].
///
/// # Example
///
/// ```
/// use tracewire::sampling::Sampler;
/// use tracewire::sink::StdoutExporter;
/// use tracewire::Tracer;
///
/// let tracer = Tracer::builder()
///     .service_name("checkout")
///     .service_version("1.4.2")
///     .deployment_environment("staging")
///     .sampler(Sampler::parent_based(Sampler::ratio(0.1)))
///     .exporter(StdoutExporter::pretty())
///     .build();
/// assert_eq!(tracer.resource().service_name(), "checkout");
/// ```
#[must_use = "call build() to get a tracer"]
pub struct TracerBuilder {
    resource: Resource,
    scope: InstrumentationScope,
    sampler: Sampler,
    ids: Box<dyn IdGenerator>,
    propagator: Box<dyn Propagator>,
    sink: Option<Arc<dyn SpanSink>>,
    limits: SpanLimits,
    batch: BatchConfig,
    disabled: bool,
    /// Exporters `OTEL_TRACES_EXPORTER` chose; used when no sink is set in code.
    env_exporters: Vec<crate::export::env::EnvExporter>,
    /// `OTEL_TRACES_EXPORTER=none`: no sink is what was asked for.
    env_chose_none: bool,
    /// The bad settings the environment held (already logged), for [`strict`](Self::strict)
    /// and [`Tracer::health`].
    warnings: Vec<ConfigWarning>,
    /// `OTEL_TRACES_EXPORTER` is unset, so OpenTelemetry's default `otlp` applies, but this
    /// build cannot honour it (no `otlp` feature): why, for `strict` when no sink is set.
    unmet_default_exporter: Option<ConfigWarning>,
}

impl Default for TracerBuilder {
    fn default() -> Self {
        Self {
            resource: Resource::new([
                KeyValue::new(semconv::TELEMETRY_SDK_NAME, "tracewire"),
                KeyValue::new(semconv::TELEMETRY_SDK_LANGUAGE, "rust"),
                KeyValue::new(semconv::TELEMETRY_SDK_VERSION, env!("CARGO_PKG_VERSION")),
            ]),
            scope: InstrumentationScope::default(),
            sampler: Sampler::parent_based(Sampler::always_on()).into(),
            ids: Box::new(RandomIdGenerator),
            propagator: Box::new(CompositePropagator::default()),
            sink: None,
            limits: SpanLimits::default(),
            batch: BatchConfig::default(),
            disabled: false,
            env_exporters: Vec::new(),
            env_chose_none: false,
            warnings: Vec::new(),
            unmet_default_exporter: None,
        }
    }
}

impl fmt::Debug for TracerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracerBuilder")
            .field("resource", &self.resource)
            .field("sampler", &self.sampler)
            .field("propagator", &self.propagator)
            .field("sink", &self.sink)
            .field("limits", &self.limits)
            .field("batch", &self.batch)
            .field("disabled", &self.disabled)
            .field("env_exporters", &self.env_exporters)
            .finish()
    }
}

impl TracerBuilder {
    /// `service.name`.
    pub fn service_name(self, name: impl Into<Cow<'static, str>>) -> Self {
        self.resource_attribute(semconv::SERVICE_NAME, Value::String(name.into()))
    }

    /// `service.version`.
    pub fn service_version(self, version: impl Into<Cow<'static, str>>) -> Self {
        self.resource_attribute(semconv::SERVICE_VERSION, Value::String(version.into()))
    }

    /// `deployment.environment.name`.
    pub fn deployment_environment(self, environment: impl Into<Cow<'static, str>>) -> Self {
        self.resource_attribute(
            semconv::DEPLOYMENT_ENVIRONMENT_NAME,
            Value::String(environment.into()),
        )
    }

    /// Any resource attribute.
    pub fn resource_attribute(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<Value>,
    ) -> Self {
        self.resource.set(KeyValue::new(key, value));
        self
    }

    /// The head sampler (default: parent-based always-on).
    pub fn sampler(mut self, sampler: impl Into<Sampler>) -> Self {
        self.sampler = sampler.into();
        self
    }

    /// The id generator (default: random).
    pub fn id_generator(mut self, ids: impl IdGenerator) -> Self {
        self.ids = Box::new(ids);
        self
    }

    /// The propagator (default: `tracecontext,baggage`).
    pub fn propagator(mut self, propagator: impl Propagator) -> Self {
        self.propagator = Box::new(propagator);
        self
    }

    /// Where finished spans go.
    pub fn sink(mut self, sink: impl SpanSink) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Sends finished spans to `exporter` through a [`BatchSink`] with this builder's batch
    /// configuration (from `OTEL_BSP_*` when built by [`Tracer::from_env`]).
    pub fn exporter(self, exporter: impl Exporter) -> Self {
        let batch = self.batch;
        self.sink(BatchSink::with_config(exporter, batch))
    }

    /// The batch configuration [`exporter`](Self::exporter) uses.
    pub fn batch_config(mut self, config: BatchConfig) -> Self {
        self.batch = config;
        self
    }

    /// The span limits.
    pub fn span_limits(mut self, limits: SpanLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Disables recording (as `OTEL_SDK_DISABLED=true`): incoming context still passes
    /// downstream.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = disabled;
        self
    }

    /// The bad settings found in the environment by [`Tracer::from_env`] (each was logged, and
    /// its default used).
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }

    /// This builder, or an error naming every bad setting: strict mode, for start-up checks.
    ///
    /// It also fails when the environment asks for an exporter this build cannot provide:
    /// `OTEL_TRACES_EXPORTER` names one whose cargo feature is off, or is unset (OpenTelemetry's
    /// default is `otlp`) without the `otlp` feature and with no sink set in code. Call it after
    /// [`sink`](Self::sink) or [`exporter`](Self::exporter), if you set one.
    ///
    /// ```
    /// use tracewire::TracerBuilder;
    ///
    /// let builder = TracerBuilder::from_env_with(|name| {
    ///     (name == "OTEL_TRACES_SAMPLER").then(|| "sometimes".to_string())
    /// });
    /// let error = builder.strict().unwrap_err();
    /// assert!(error.to_string().contains("OTEL_TRACES_SAMPLER=\"sometimes\""));
    /// ```
    pub fn strict(self) -> Result<Self, ConfigError> {
        let mut warnings = self.warnings.clone();
        let no_sink = self.sink.is_none() && self.env_exporters.is_empty() && !self.env_chose_none;
        if let Some(unmet) = self.unmet_default_exporter.as_ref().filter(|_| no_sink) {
            warnings.push(unmet.clone());
        }
        match warnings.is_empty() {
            true => Ok(self),
            false => Err(ConfigError { warnings }),
        }
    }

    /// The tracer.
    pub fn build(self) -> Tracer {
        let batch = self.batch;
        let mut env_exporters = self.env_exporters;
        let mut has_no_sink = false;
        let sink = self.sink.unwrap_or_else(|| {
            if env_exporters.len() == 1 {
                let exporter = env_exporters.remove(0);
                return Arc::new(BatchSink::with_config(exporter, batch));
            }
            if !env_exporters.is_empty() {
                let fan_out = env_exporters
                    .into_iter()
                    .fold(crate::sink::FanOut::new(), |fan_out, exporter| {
                        fan_out.with(BatchSink::with_config(exporter, batch))
                    });
                return Arc::new(fan_out);
            }
            // Disabled records nothing, and `none` asked for nothing: only an oversight is
            // worth a warning.
            if !self.disabled && !self.env_chose_none {
                crate::diagnostics::warning!(
                    "tracewire: no sink configured; finished spans are counted and discarded"
                );
                has_no_sink = true;
            }
            Arc::new(Discard)
        });
        let decides_early = !self.disabled && !self.sampler.uses_span_details();
        let follows_parent = [false, true].map(|remote| {
            [false, true].map(|sampled| self.sampler.follows_parent(remote, sampled))
        });
        Tracer {
            inner: Arc::new(TracerInner {
                resource: Arc::new(self.resource),
                scope: Arc::new(self.scope),
                sampler: self.sampler,
                ids: self.ids,
                propagator: self.propagator,
                sink_wants_record_only: sink.wants_record_only(),
                sink,
                limits: self.limits,
                disabled: self.disabled,
                decides_early,
                follows_parent,
                clock: Clock::new(),
                counters: Counters::default(),
                warnings: self.warnings,
                has_no_sink,
            }),
        }
    }
}

/// The sink of a tracer built without one.
#[derive(Debug)]
struct Discard;

impl SpanSink for Discard {
    fn on_end(&self, _span: SpanData) {}
}
