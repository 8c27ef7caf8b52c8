//! Head sampling: deciding, when a span starts, whether it is recorded and whether the
//! `sampled` flag sent downstream is set.
//!
//! A sampler implements [`ShouldSample`]; [`Sampler`] is the cheap-to-clone handle the tracer
//! holds, with constructors for every built-in sampler:
//!
//! | constructor | sampler | decides by |
//! |---|---|---|
//! | [`Sampler::always_on`], [`Sampler::always_off`] | [`AlwaysOn`], [`AlwaysOff`] | nothing |
//! | [`Sampler::ratio`] | [`TraceIdRatio`] | trace id, as the OpenTelemetry Rust and Go SDKs |
//! | [`Sampler::consistent_probability`] | [`ConsistentProbability`] | `rv` or trace id vs. `th` |
//! | [`Sampler::parent_based`] | [`ParentBased`] | the parent's decision |
//! | [`Sampler::rate_limited`] | [`RateLimited`] | a token bucket |
//! | [`Sampler::rules`] | [`RuleBased`] | span name, kind and attributes |
//! | [`Sampler::always_record`] | [`AlwaysRecord`] | another sampler, recording everything |

mod always_record;
mod consistent;
mod parent_based;
mod rate_limited;
mod ratio;
mod rules;

use std::fmt;
use std::sync::Arc;

pub use always_record::AlwaysRecord;
pub use consistent::{ConsistentProbability, erase_threshold};
pub(crate) use consistent::{
    MAX_ADJUSTED_COUNT, encode_threshold, randomness, set_threshold, stated_threshold,
    threshold_for,
};
pub use parent_based::ParentBased;
pub use rate_limited::RateLimited;
pub use ratio::TraceIdRatio;
pub use rules::{Rule, RuleBased};

use crate::context::{SpanContext, TraceState};
use crate::id::TraceId;
use crate::span::{KeyValue, Link, SpanKind};

/// What a sampler decided for a span.
///
/// # Example
///
/// ```
/// use tracewire::sampling::SamplingDecision;
///
/// // Record-only spans reach a tail sampler but tell downstream services "not sampled".
/// assert!(SamplingDecision::RecordOnly.is_recording());
/// assert!(!SamplingDecision::RecordOnly.is_sampled());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SamplingDecision {
    /// Not recorded; the propagated `sampled` flag is 0. Costs almost nothing.
    Drop,
    /// Recorded and handed to the sinks that ask for record-only spans (a tail sampler), but
    /// the propagated `sampled` flag stays 0 and exporters never see the span.
    RecordOnly,
    /// Recorded, exported, and the propagated `sampled` flag is 1.
    RecordAndSample,
}

impl SamplingDecision {
    /// Whether the span is recorded at all.
    pub fn is_recording(self) -> bool {
        self != SamplingDecision::Drop
    }

    /// Whether the `sampled` flag is set.
    pub fn is_sampled(self) -> bool {
        self == SamplingDecision::RecordAndSample
    }
}

/// A sampler's answer: the decision and the `tracestate` the new span carries (a sampler may
/// update it, e.g. consistent probability sampling's `ot=th:…`).
///
/// # Example
///
/// ```
/// use tracewire::sampling::{SamplingDecision, SamplingParams, SamplingResult};
/// use tracewire::span::SpanKind;
/// use tracewire::SpanContext;
///
/// let parent = SpanContext::new_root(true).with_state("vendor=1".parse().unwrap());
/// let params = SamplingParams::new(Some(&parent), parent.trace_id(), "GET /", SpanKind::Server);
/// let result = SamplingResult::with_parent_state(SamplingDecision::RecordAndSample, &params);
/// assert_eq!(result.trace_state.get("vendor"), Some("1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamplingResult {
    /// The decision.
    pub decision: SamplingDecision,
    /// The trace state of the new span.
    pub trace_state: TraceState,
}

/// Logs `message` at `warn` level the first time `warned` is set: compatibility warnings the
/// specification asks for, once per process rather than once per span.
fn warn_once(warned: &std::sync::atomic::AtomicBool, message: &str) {
    if !warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
        crate::diagnostics::warning!("tracewire: {message} (logged once)");
    }
}

impl SamplingResult {
    /// `decision`, with the parent's trace state unchanged (empty for a root span).
    pub fn with_parent_state(decision: SamplingDecision, params: &SamplingParams<'_>) -> Self {
        Self {
            decision,
            trace_state: params.parent.map(|p| p.state().clone()).unwrap_or_default(),
        }
    }

    /// A drop: the parent's trace state without its sampling threshold. "In case of negative
    /// sampling decision, it removes the `th` value for the `ot` key from the `Tracestate`"
    /// (OpenTelemetry trace SDK, CompositeSampler), so that a span recorded anyway (see
    /// [`AlwaysRecord`]) or a child does not claim a probability it was not sampled with.
    ///
    /// ```
    /// use tracewire::sampling::{SamplingParams, SamplingResult};
    /// use tracewire::span::SpanKind;
    /// use tracewire::{SpanContext, TraceFlags};
    ///
    /// let parent = SpanContext::new_root(true).with_state("ot=th:8;rv:00000000000001,rojo=1".parse().unwrap());
    /// let params = SamplingParams::new(Some(&parent), parent.trace_id(), "job", SpanKind::Internal);
    /// assert_eq!(SamplingResult::drop(&params).trace_state.to_string(), "ot=rv:00000000000001,rojo=1");
    /// ```
    pub fn drop(params: &SamplingParams<'_>) -> Self {
        Self::without_threshold(SamplingDecision::Drop, params)
    }

    /// `decision`, with the parent's trace state less its `ot=th` threshold: what a sampler
    /// whose probability is not the threshold's returns (a drop, always-on, a rate limit, a
    /// ratio outside the consistent scheme).
    pub fn without_threshold(decision: SamplingDecision, params: &SamplingParams<'_>) -> Self {
        let trace_state = params.parent.map(|p| erase_threshold(p.state()));
        Self {
            decision,
            trace_state: trace_state.unwrap_or_default(),
        }
    }
}

/// What a sampler knows about the span being started.
///
/// # Example
///
/// ```
/// use tracewire::sampling::SamplingParams;
/// use tracewire::span::{KeyValue, SpanKind};
/// use tracewire::TraceId;
///
/// let attributes = [KeyValue::new("http.route", "/health")];
/// let params = SamplingParams {
///     attributes: &attributes,
///     ..SamplingParams::new(None, TraceId::from_u128(1).unwrap(), "GET /health", SpanKind::Server)
/// };
/// assert_eq!(params.attribute_str("http.route"), Some("/health"));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SamplingParams<'a> {
    /// The parent span context: remote (from headers) or local; `None` for a new trace.
    pub parent: Option<&'a SpanContext>,
    /// The trace id of the new span (the parent's, or a new one).
    pub trace_id: TraceId,
    /// The span name.
    pub name: &'a str,
    /// The span kind.
    pub kind: SpanKind,
    /// The attributes known at start (for HTTP servers: method, route, …).
    pub attributes: &'a [KeyValue],
    /// The links known at start.
    pub links: &'a [Link],
}

impl<'a> SamplingParams<'a> {
    /// Parameters for a span with no attributes or links.
    pub fn new(
        parent: Option<&'a SpanContext>,
        trace_id: TraceId,
        name: &'a str,
        kind: SpanKind,
    ) -> Self {
        Self {
            parent,
            trace_id,
            name,
            kind,
            attributes: &[],
            links: &[],
        }
    }

    /// The string value of an attribute known at start.
    pub fn attribute_str(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| match &a.value {
                crate::span::Value::String(s) => Some(s.as_ref()),
                _ => None,
            })
    }
}

/// A sampling strategy. Implementations must be quick and must not block: they run on the
/// request path for every span that starts.
///
/// # Example
///
/// ```
/// use tracewire::sampling::{SamplingDecision, SamplingParams, SamplingResult, Sampler, ShouldSample};
/// use tracewire::Tracer;
///
/// /// Samples only requests from the canary deployment's route prefix.
/// #[derive(Debug)]
/// struct CanaryOnly;
///
/// impl ShouldSample for CanaryOnly {
///     fn should_sample(&self, params: &SamplingParams<'_>) -> SamplingResult {
///         let canary = params.attribute_str("http.route").is_some_and(|r| r.starts_with("/canary/"));
///         let decision = if canary { SamplingDecision::RecordAndSample } else { SamplingDecision::Drop };
///         SamplingResult::with_parent_state(decision, params)
///     }
/// }
///
/// let tracer = Tracer::builder().sampler(Sampler::new(CanaryOnly)).build();
/// let span = tracer.span("GET /canary/x").attr("http.route", "/canary/x").start();
/// assert!(span.is_recording());
/// ```
pub trait ShouldSample: Send + Sync + fmt::Debug + 'static {
    /// Decides for one span.
    fn should_sample(&self, params: &SamplingParams<'_>) -> SamplingResult;

    /// Whether the decision may depend on more than the parent and the trace id (the span's
    /// name, kind, attributes or links), or on when it is made, or changes the sampler's
    /// state (a rate limit's tokens). The default, `true`, is always correct.
    ///
    /// A sampler that returns `false` lets the HTTP server layer decide from the incoming
    /// context before it names the request's span, so that a request it drops skips that
    /// work and collects no attributes. The built-in ratio, consistent-probability,
    /// always-on, always-off and parent-based (over such delegates) samplers do.
    ///
    /// The tracer asks once, when it is built: the answer must not change over the
    /// sampler's life (nor must [`follows_parent`](Self::follows_parent)'s).
    fn uses_span_details(&self) -> bool {
        true
    }

    /// Whether this sampler gives every span whose parent is `sampled` (or not), and came
    /// from another process (`remote`) or not, its parent's decision whatever else it is
    /// told: record and sample for a sampled parent that carries no trace state, drop for a
    /// parent that is not sampled, the parent's trace state kept (without an `ot=th`
    /// threshold, which the tracer removes from every span it does not sample). The tracer
    /// then skips asking
    /// for such spans: most spans follow their parent. The default, `false`, is always
    /// correct. Always-on does for sampled parents, always-off for the others, parent-based
    /// as its delegate for that kind of parent does, always-record as its sampler does for
    /// sampled parents.
    fn follows_parent(&self, remote: bool, sampled: bool) -> bool {
        let _ = (remote, sampled);
        false
    }
}

/// A cheap-to-clone handle to a sampler, with constructors for the built-in ones.
///
/// # Example
///
/// ```
/// use tracewire::sampling::Sampler;
///
/// let sampler: Sampler = Sampler::parent_based(Sampler::ratio(0.05)).into();
/// ```
#[derive(Clone, Debug)]
pub struct Sampler(Arc<dyn ShouldSample>);

impl Sampler {
    /// A handle to any sampler.
    pub fn new(sampler: impl ShouldSample) -> Self {
        Self(Arc::new(sampler))
    }

    /// Records and samples every span.
    pub fn always_on() -> Self {
        Self::new(AlwaysOn)
    }

    /// Drops every span.
    pub fn always_off() -> Self {
        Self::new(AlwaysOff)
    }

    /// Samples `ratio` of all traces by trace id, exactly as the OpenTelemetry Rust and Go
    /// SDKs' `TraceIdRatioBased` do; see [`TraceIdRatio`].
    pub fn ratio(ratio: f64) -> Self {
        Self::new(TraceIdRatio::new(ratio))
    }

    /// Samples traces with `probability`, consistently across stages, recording it in the
    /// `ot=th:…` tracestate entry; see [`ConsistentProbability`].
    pub fn consistent_probability(probability: f64) -> Self {
        Self::new(ConsistentProbability::new(probability))
    }

    /// Follows the parent's decision and asks `root` for new traces; the other four delegates
    /// are set with the builder methods of [`ParentBased`].
    pub fn parent_based(root: impl Into<Sampler>) -> ParentBased {
        ParentBased::new(root)
    }

    /// Samples at most `per_second` traces a second; see [`RateLimited`].
    pub fn rate_limited(per_second: f64) -> Self {
        Self::new(RateLimited::new(per_second))
    }

    /// Decides by rules added with [`RuleBased::rule`], and by `fallback` when none matches.
    pub fn rules(fallback: impl Into<Sampler>) -> RuleBased {
        RuleBased::new(fallback)
    }

    /// Records every span, with the `sampled` flag as `inner` decides; see [`AlwaysRecord`].
    pub fn always_record(inner: impl Into<Sampler>) -> Self {
        Self::new(AlwaysRecord::new(inner))
    }
}

impl From<AlwaysOn> for Sampler {
    fn from(sampler: AlwaysOn) -> Self {
        Sampler::new(sampler)
    }
}

impl From<AlwaysOff> for Sampler {
    fn from(sampler: AlwaysOff) -> Self {
        Sampler::new(sampler)
    }
}

impl ShouldSample for Sampler {
    fn should_sample(&self, params: &SamplingParams<'_>) -> SamplingResult {
        self.0.should_sample(params)
    }

    fn uses_span_details(&self) -> bool {
        self.0.uses_span_details()
    }

    fn follows_parent(&self, remote: bool, sampled: bool) -> bool {
        self.0.follows_parent(remote, sampled)
    }
}

/// Records and samples every span.
///
/// # Example
///
/// ```
/// use tracewire::sampling::{AlwaysOn, SamplingParams, ShouldSample};
/// use tracewire::span::SpanKind;
/// use tracewire::TraceId;
///
/// let params = SamplingParams::new(None, TraceId::from_u128(7).unwrap(), "job", SpanKind::Internal);
/// assert!(AlwaysOn.should_sample(&params).decision.is_sampled());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct AlwaysOn;

impl ShouldSample for AlwaysOn {
    fn should_sample(&self, params: &SamplingParams<'_>) -> SamplingResult {
        // "A consistent probability sampling decision ignores the parent's sampling threshold"
        // ("Sampling base cases"): a parent's `th` would misstate this span's probability, so
        // it goes. (Under [`ParentBased`], which follows the parent, the parent's threshold
        // is put back: see there.)
        SamplingResult::without_threshold(SamplingDecision::RecordAndSample, params)
    }

    fn uses_span_details(&self) -> bool {
        false
    }

    fn follows_parent(&self, _remote: bool, sampled: bool) -> bool {
        sampled
    }
}

/// Drops every span.
///
/// # Example
///
/// ```
/// use tracewire::sampling::{AlwaysOff, SamplingParams, ShouldSample};
/// use tracewire::span::SpanKind;
/// use tracewire::TraceId;
///
/// let params = SamplingParams::new(None, TraceId::from_u128(7).unwrap(), "job", SpanKind::Internal);
/// assert!(!AlwaysOff.should_sample(&params).decision.is_recording());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct AlwaysOff;

impl ShouldSample for AlwaysOff {
    fn should_sample(&self, params: &SamplingParams<'_>) -> SamplingResult {
        SamplingResult::drop(params)
    }

    fn uses_span_details(&self) -> bool {
        false
    }

    fn follows_parent(&self, _remote: bool, sampled: bool) -> bool {
        !sampled
    }
}
