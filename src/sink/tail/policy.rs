//! [`Policy`]: what a tail-sampling rule keeps, and the and/or/not that combine them.

use std::time::Duration;

use super::dynamic::Dynamic;
use super::matchers::{AttributeMatch, Errors};
use super::rate_limit::RateLimit;
use super::threshold::{stated_threshold, threshold};
use super::verdict::{CERTAIN, Verdict};
use super::view::TraceView;
use crate::sampling::TraceIdRatio;
use crate::span::SpanData;

/// What a tail-sampling rule keeps, decided on all the spans of a trace that reached the sink.
///
/// | constructor | keeps a trace | `ot=th` of its spans |
/// |---|---|---|
/// | [`errors`](Self::errors) | with a failed span (status, HTTP or gRPC code) | `0` (certain) |
/// | [`latency`](Self::latency) | lasting longer than a threshold | `0` |
/// | [`span_latency`](Self::span_latency) | with any span longer than a threshold | `0` |
/// | [`attribute`](Self::attribute) | with a matching attribute value | `0` |
/// | [`span_count`](Self::span_count) | with a number of spans in a range | `0` |
/// | [`probabilistic`](Self::probabilistic) | with a probability, as [`Sampler::consistent_probability`](crate::sampling::Sampler::consistent_probability) | its threshold |
/// | [`trace_id_ratio`](Self::trace_id_ratio) | as [`Sampler::ratio`](crate::sampling::Sampler::ratio) | erased |
/// | [`keep_head_sampled`](Self::keep_head_sampled) | sampled at the head | the head's |
/// | [`dynamic`](Self::dynamic) | per key, toward a target a second | the key's threshold |
/// | [`rate_limit`](Self::rate_limit) | at most N a second | erased |
/// | [`and`](Self::and), [`or`](Self::or), [`not`](Self::not), [`all`](Self::all), [`any`](Self::any) | combined | combined (see below) |
///
/// Policies keep in the terms of consistent probability sampling: each keeps a trace when the
/// trace's 56-bit randomness (`ot=rv`, else the right-most 7 bytes of the trace id) reaches a
/// threshold, `0` for the certain ones. *And* keeps at the larger threshold of the two, *or*
/// at the smaller, and the spans of a kept trace carry that threshold, so that a backend counts
/// each as the number of traces it stands for. Where no threshold can say the probability (a
/// rate limit, a negated probability, a ratio outside the consistent scheme) the threshold is
/// erased, as the specification asks of "stages of unknown probability".
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tracewire::sink::tail::{Policy, TailPolicy};
///
/// let policy = TailPolicy::new()
///     .rule("errors", Policy::errors().http_status(500..=599))
///     .rule("slow", Policy::latency(Duration::from_millis(500)))
///     // Slow checkouts of beta users, but not the health checks.
///     .rule(
///         "beta",
///         Policy::attribute("user.beta")
///             .equals(true)
///             .into_policy()
///             .and(Policy::not(Policy::attribute("http.route").equals("/health"))),
///     )
///     .rule("baseline", Policy::probabilistic(0.02));
/// # let _ = policy;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Policy(Kind);

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Errors(Errors),
    Latency {
        nanos: u64,
        any_span: bool,
    },
    Probabilistic {
        probability: f64,
        threshold: Option<u64>,
    },
    TraceIdRatio(TraceIdRatio),
    KeepHeadSampled,
    Attribute(AttributeMatch),
    SpanCount {
        min: usize,
        max: usize,
    },
    RateLimit(RateLimit),
    Dynamic(Box<Dynamic>),
    And(Vec<Policy>),
    Or(Vec<Policy>),
    Not(Box<Policy>),
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Policy {
    /// Traces with a span whose status is error; [`Errors`] adds HTTP and gRPC status codes.
    pub fn errors() -> Errors {
        Errors::new()
    }

    /// Traces that lasted longer than `threshold`, from the earliest start to the latest end
    /// of their spans (the root span's duration, when the root is among them).
    pub fn latency(threshold: Duration) -> Self {
        Self(Kind::Latency {
            nanos: nanos(threshold),
            any_span: false,
        })
    }

    /// Traces with any span that lasted longer than `threshold`.
    pub fn span_latency(threshold: Duration) -> Self {
        Self(Kind::Latency {
            nanos: nanos(threshold),
            any_span: true,
        })
    }

    /// Traces kept with `probability`, exactly those
    /// [`Sampler::consistent_probability`](crate::sampling::Sampler::consistent_probability)
    /// keeps at the head: the trace's randomness (`ot=rv`, else the trace id's right-most 7
    /// bytes) at least the threshold `2^56 − round(p × 2^56)`. A probability of 1 or more
    /// keeps all, below 2^-56 (or NaN) none.
    pub fn probabilistic(probability: f64) -> Self {
        Self(Kind::Probabilistic {
            probability,
            threshold: threshold(probability),
        })
    }

    /// Traces kept by trace id exactly as [`Sampler::ratio`](crate::sampling::Sampler::ratio)
    /// keeps them (the OpenTelemetry Rust and Go SDKs' `TraceIdRatioBased`), for fleets whose
    /// head sampler is that one. It is not the consistent scheme, so its spans carry no
    /// threshold; prefer [`probabilistic`](Self::probabilistic) where counts matter.
    pub fn trace_id_ratio(ratio: f64) -> Self {
        Self(Kind::TraceIdRatio(TraceIdRatio::new(ratio)))
    }

    /// Traces whose spans were sampled at the head (the `sampled` flag): the head's baseline,
    /// whatever sampler made it. Kept spans keep the head's `ot=th`.
    pub fn keep_head_sampled() -> Self {
        Self(Kind::KeepHeadSampled)
    }

    /// Traces with a span whose attribute `key` matches; see [`AttributeMatch`].
    pub fn attribute(key: impl Into<std::borrow::Cow<'static, str>>) -> AttributeMatch {
        AttributeMatch::new(key)
    }

    /// Traces of at least `min` spans.
    pub fn span_count(min: usize) -> Self {
        Self(Kind::SpanCount {
            min,
            max: usize::MAX,
        })
    }

    /// Traces of `min` to `max` spans, both included.
    pub fn span_count_between(min: usize, max: usize) -> Self {
        Self(Kind::SpanCount { min, max })
    }

    /// At most `per_second` traces a second (a burst of up to one second's worth), on the
    /// sink's clock. Its probability is unknown: the spans it keeps carry no threshold.
    pub fn rate_limit(per_second: f64) -> Self {
        Self(Kind::RateLimit(RateLimit::new(per_second)))
    }

    /// Traces grouped by the root span's values of `keys`, each group kept with a probability
    /// of its own, toward `target_per_second` kept traces in all; see [`Dynamic`].
    pub fn dynamic<K: Into<std::borrow::Cow<'static, str>>>(
        keys: impl IntoIterator<Item = K>,
        target_per_second: f64,
    ) -> Dynamic {
        Dynamic::new(keys, target_per_second)
    }

    /// Traces both keep (at the larger threshold).
    #[must_use]
    pub fn and(self, other: impl Into<Policy>) -> Self {
        Self::all([self, other.into()])
    }

    /// Traces either keeps (at the smaller threshold).
    #[must_use]
    pub fn or(self, other: impl Into<Policy>) -> Self {
        Self::any([self, other.into()])
    }

    /// Traces `policy` does not keep.
    pub fn not(policy: impl Into<Policy>) -> Self {
        Self(Kind::Not(Box::new(policy.into())))
    }

    /// Traces every one of `policies` keeps (all traces, for none).
    pub fn all(policies: impl IntoIterator<Item = Policy>) -> Self {
        Self(Kind::And(flattened(policies, |kind| match kind {
            Kind::And(inner) => Ok(inner),
            other => Err(other),
        })))
    }

    /// Traces any one of `policies` keeps (none, for none).
    pub fn any(policies: impl IntoIterator<Item = Policy>) -> Self {
        Self(Kind::Or(flattened(policies, |kind| match kind {
            Kind::Or(inner) => Ok(inner),
            other => Err(other),
        })))
    }

    /// Whether evaluating changes state (a rate limit's tokens, a dynamic policy's counts):
    /// such policies are evaluated last within *and* and *or*, and only when they matter.
    pub(crate) fn is_stateful(&self) -> bool {
        match &self.0 {
            Kind::RateLimit(_) | Kind::Dynamic(_) => true,
            Kind::And(all) | Kind::Or(all) => all.iter().any(Policy::is_stateful),
            Kind::Not(inner) => inner.is_stateful(),
            _ => false,
        }
    }

    /// The verdict on the trace in `view`. With `commit` false nothing changes state (no
    /// token is taken, nothing is counted): for rules after the one that kept the trace.
    pub(crate) fn evaluate(&mut self, view: &TraceView<'_>, commit: bool) -> Verdict {
        let r = view.randomness;
        let certain_if = |yes: bool| if yes { CERTAIN } else { Verdict::Never };
        match &mut self.0 {
            Kind::Errors(errors) => certain_if(view.spans.iter().any(|s| errors.matches(s))),
            Kind::Latency {
                nanos,
                any_span: false,
            } => certain_if(view.extent_nanos() > *nanos),
            Kind::Latency {
                nanos,
                any_span: true,
            } => certain_if(view.spans.iter().any(|s| s.duration_nanos() > *nanos)),
            Kind::Probabilistic {
                threshold: Some(t), ..
            } => Verdict::AtLeast(*t),
            Kind::Probabilistic {
                threshold: None, ..
            } => Verdict::Never,
            Kind::TraceIdRatio(ratio) => Verdict::Unknown(ratio.decide(view.trace_id).is_sampled()),
            Kind::KeepHeadSampled => head_sampled(view),
            Kind::Attribute(attribute) => match attribute.on_root_only() {
                true => certain_if(view.root().is_some_and(|root| attribute.matches(root))),
                false => certain_if(view.spans.iter().any(|s| attribute.matches(s))),
            },
            Kind::SpanCount { min, max } => certain_if((*min..=*max).contains(&view.spans.len())),
            Kind::RateLimit(limit) => limit.evaluate(view.now, commit),
            Kind::Dynamic(dynamic) => dynamic.evaluate(view, commit),
            Kind::Not(inner) => inner.evaluate(view, commit).not(r),
            Kind::And(all) => {
                let mut verdict = CERTAIN;
                for stateful in [false, true] {
                    for policy in all.iter_mut().filter(|p| p.is_stateful() == stateful) {
                        verdict = verdict.and(policy.evaluate(view, commit), r);
                        if verdict == Verdict::Never {
                            return verdict;
                        }
                    }
                }
                verdict
            }
            Kind::Or(any) => {
                let mut verdict = Verdict::Never;
                for stateful in [false, true] {
                    for policy in any.iter_mut().filter(|p| p.is_stateful() == stateful) {
                        if verdict == CERTAIN {
                            return verdict;
                        }
                        // Once kept, a stateful policy is only asked what it would say.
                        let commit = commit && !verdict.keeps(r);
                        verdict = verdict.or(policy.evaluate(view, commit), r);
                    }
                }
                verdict
            }
        }
    }

    /// Whether `span`, just added to the trace in `view`, makes this policy keep the trace
    /// for certain whatever else arrives: the trace can then be decided at once and its later
    /// spans stream through. Conservative: `false` when unsure (the trace then waits for its
    /// root).
    pub(crate) fn certain_from(&self, span: &SpanData, view: &TraceView<'_>) -> bool {
        match &self.0 {
            Kind::Errors(errors) => errors.matches(span),
            Kind::Latency {
                nanos,
                any_span: false,
            } => view.extent_nanos() > *nanos,
            Kind::Latency {
                nanos,
                any_span: true,
            } => span.duration_nanos() > *nanos,
            Kind::Attribute(attribute) => !attribute.on_root_only() && attribute.matches(span),
            Kind::SpanCount { min, max } => *max == usize::MAX && view.spans.len() >= *min,
            Kind::Probabilistic { threshold, .. } => *threshold == Some(0),
            Kind::Or(any) => any.iter().any(|p| p.certain_from(span, view)),
            Kind::And(all) => !all.is_empty() && all.iter().all(|p| p.certain_from(span, view)),
            _ => false,
        }
    }

    /// The verdict from the trace's randomness and head decision alone, without waiting for
    /// its spans: for the overload valve, and to tell which buffered traces the baseline
    /// keeps (those are evicted last). Policies that need the spans say never.
    pub(crate) fn by_id_alone(&self, view: &TraceView<'_>) -> Verdict {
        let r = view.randomness;
        match &self.0 {
            Kind::Probabilistic {
                threshold: Some(t), ..
            } => Verdict::AtLeast(*t),
            Kind::Probabilistic {
                threshold: None, ..
            } => Verdict::Never,
            Kind::TraceIdRatio(ratio) => Verdict::Unknown(ratio.decide(view.trace_id).is_sampled()),
            Kind::KeepHeadSampled => head_sampled(view),
            Kind::And(all) if !all.is_empty() => all
                .iter()
                .map(|p| p.by_id_alone(view))
                .fold(CERTAIN, |a, b| a.and(b, r)),
            Kind::Or(any) => any
                .iter()
                .map(|p| p.by_id_alone(view))
                .fold(Verdict::Never, |a, b| a.or(b, r)),
            _ => Verdict::Never,
        }
    }
}

/// Kept when a span was sampled at the head, at the threshold the head stated (`ot=th`), or
/// of unknown probability when it stated none (a head sampler outside the consistent scheme).
fn head_sampled(view: &TraceView<'_>) -> Verdict {
    match view
        .spans
        .iter()
        .find(|s| s.span_context.flags().is_sampled())
    {
        Some(span) => match stated_threshold(span.span_context.state()) {
            Some(t) if view.randomness >= t => Verdict::AtLeast(t),
            _ => Verdict::Unknown(true),
        },
        None => Verdict::Never,
    }
}

impl From<Errors> for Policy {
    fn from(errors: Errors) -> Self {
        Self(Kind::Errors(errors))
    }
}

impl From<AttributeMatch> for Policy {
    fn from(attribute: AttributeMatch) -> Self {
        Self(Kind::Attribute(attribute))
    }
}

impl From<Dynamic> for Policy {
    fn from(dynamic: Dynamic) -> Self {
        Self(Kind::Dynamic(Box::new(dynamic)))
    }
}

impl Errors {
    /// This policy as a [`Policy`], to combine with others.
    pub fn into_policy(self) -> Policy {
        self.into()
    }
}

impl AttributeMatch {
    /// This policy as a [`Policy`], to combine with others.
    pub fn into_policy(self) -> Policy {
        self.into()
    }
}

impl Dynamic {
    /// This policy as a [`Policy`], to combine with others.
    pub fn into_policy(self) -> Policy {
        self.into()
    }
}

/// `policies` with the members of those `nested` opens (an *and* inside an *and*) in their
/// place: `a.and(b).and(c)` is one list of three, not a chain.
fn flattened(
    policies: impl IntoIterator<Item = Policy>,
    nested: impl Fn(Kind) -> Result<Vec<Policy>, Kind>,
) -> Vec<Policy> {
    let mut flat = Vec::new();
    for policy in policies {
        match nested(policy.0) {
            Ok(inner) => flat.extend(inner),
            Err(other) => flat.push(Policy(other)),
        }
    }
    flat
}
