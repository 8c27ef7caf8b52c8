//! Rule-based sampling: the first matching rule picks the sampler.

use std::borrow::Cow;

use super::{Sampler, SamplingParams, SamplingResult, ShouldSample};
use crate::semconv::{HTTP_REQUEST_METHOD, HTTP_ROUTE};
use crate::span::SpanKind;

/// A condition on what is known when a span starts: its name, kind or string attributes.
///
/// Rules combine with [`and`](Rule::and). Matching compares strings in place and never
/// allocates. Attribute conditions match only string attributes (a `Value::String`), and
/// compare case-sensitively.
///
/// # Example
///
/// ```
/// use tracewire::sampling::Rule;
///
/// let checkout_posts = Rule::method("POST").and(Rule::route("/checkout"));
/// let admin = Rule::route_prefix("/admin/");
/// let jobs = Rule::name("nightly-report").and(Rule::attribute("tenant", "acme"));
/// # let _ = (checkout_posts, admin, jobs);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// All must hold; never empty.
    conditions: Vec<Condition>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Condition {
    Name(Cow<'static, str>),
    Kind(SpanKind),
    Attribute {
        key: Cow<'static, str>,
        value: Cow<'static, str>,
    },
    AttributePrefix {
        key: Cow<'static, str>,
        prefix: Cow<'static, str>,
    },
}

impl Condition {
    fn matches(&self, params: &SamplingParams<'_>) -> bool {
        match self {
            Condition::Name(name) => params.name == name.as_ref(),
            Condition::Kind(kind) => params.kind == *kind,
            Condition::Attribute { key, value } => {
                params.attribute_str(key) == Some(value.as_ref())
            }
            Condition::AttributePrefix { key, prefix } => params
                .attribute_str(key)
                .is_some_and(|v| v.starts_with(prefix.as_ref())),
        }
    }
}

impl Rule {
    fn single(condition: Condition) -> Self {
        Self {
            conditions: vec![condition],
        }
    }

    /// Spans with exactly this name.
    pub fn name(name: impl Into<Cow<'static, str>>) -> Self {
        Self::single(Condition::Name(name.into()))
    }

    /// Spans of this kind.
    pub fn kind(kind: SpanKind) -> Self {
        Self::single(Condition::Kind(kind))
    }

    /// Spans whose `http.request.method` attribute is `method`. The comparison is
    /// case-sensitive: the semantic conventions set the method in its canonical uppercase
    /// form (`GET`, `POST`, …, or `_OTHER`).
    pub fn method(method: impl Into<Cow<'static, str>>) -> Self {
        Self::attribute(HTTP_REQUEST_METHOD, method)
    }

    /// Spans whose `http.route` attribute (the route template, e.g. `/users/{id}`) is `route`.
    pub fn route(route: impl Into<Cow<'static, str>>) -> Self {
        Self::attribute(HTTP_ROUTE, route)
    }

    /// Spans whose `http.route` attribute starts with `prefix`.
    pub fn route_prefix(prefix: impl Into<Cow<'static, str>>) -> Self {
        Self::single(Condition::AttributePrefix {
            key: Cow::Borrowed(HTTP_ROUTE),
            prefix: prefix.into(),
        })
    }

    /// Spans whose string attribute `key` equals `value`.
    pub fn attribute(
        key: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::single(Condition::Attribute {
            key: key.into(),
            value: value.into(),
        })
    }

    /// Spans matching both this rule and `other`.
    #[must_use]
    pub fn and(mut self, other: Rule) -> Self {
        self.conditions.extend(other.conditions);
        self
    }

    /// Whether a span starting with `params` matches.
    pub fn matches(&self, params: &SamplingParams<'_>) -> bool {
        self.conditions.iter().all(|c| c.matches(params))
    }
}

/// Picks a sampler by rules checked in order: the first rule that matches decides through its
/// sampler, and a span no rule matches goes to the fallback.
///
/// Rules are tested only on what is known when the span starts (name, kind, the attributes
/// given at start), never on the trace's randomness, which keeps a probability sampler behind
/// a rule consistent (probability sampling specification, "General requirements").
///
/// # Example
///
/// ```
/// use tracewire::sampling::{Rule, Sampler, SamplingParams, ShouldSample};
/// use tracewire::semconv::HTTP_ROUTE;
/// use tracewire::span::{KeyValue, SpanKind};
/// use tracewire::TraceId;
///
/// let sampler: Sampler = Sampler::rules(Sampler::parent_based(Sampler::ratio(0.01)))
///     .rule(Rule::route("/health"), Sampler::always_off())
///     .rule(Rule::route("/checkout"), Sampler::ratio(0.1))
///     .into();
///
/// let attributes = [KeyValue::new(HTTP_ROUTE, "/health")];
/// let params = SamplingParams {
///     attributes: &attributes,
///     ..SamplingParams::new(None, TraceId::random(), "GET /health", SpanKind::Server)
/// };
/// assert!(!sampler.should_sample(&params).decision.is_recording());
/// ```
#[derive(Clone, Debug)]
pub struct RuleBased {
    rules: Vec<(Rule, Sampler)>,
    fallback: Sampler,
}

impl RuleBased {
    /// No rules yet: every span goes to `fallback`.
    pub fn new(fallback: impl Into<Sampler>) -> Self {
        Self {
            rules: Vec::new(),
            fallback: fallback.into(),
        }
    }

    /// Adds a rule after those already added: spans it matches (and no earlier rule does) are
    /// decided by `sampler`.
    #[must_use]
    pub fn rule(mut self, rule: Rule, sampler: impl Into<Sampler>) -> Self {
        self.rules.push((rule, sampler.into()));
        self
    }
}

impl ShouldSample for RuleBased {
    fn should_sample(&self, params: &SamplingParams<'_>) -> SamplingResult {
        self.rules
            .iter()
            .find(|(rule, _)| rule.matches(params))
            .map_or(&self.fallback, |(_, sampler)| sampler)
            .should_sample(params)
    }
}

impl From<RuleBased> for Sampler {
    fn from(sampler: RuleBased) -> Self {
        Sampler::new(sampler)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::SpanContext;
    use crate::id::TraceId;
    use crate::sampling::SamplingDecision;
    use crate::span::KeyValue;

    fn params<'a>(
        parent: Option<&'a SpanContext>,
        name: &'a str,
        kind: SpanKind,
        attributes: &'a [KeyValue],
    ) -> SamplingParams<'a> {
        let trace_id = parent.map_or_else(TraceId::random, |p| p.trace_id());
        SamplingParams {
            attributes,
            ..SamplingParams::new(parent, trace_id, name, kind)
        }
    }

    fn route(route: &'static str) -> [KeyValue; 2] {
        [
            KeyValue::new(HTTP_REQUEST_METHOD, "GET"),
            KeyValue::new(HTTP_ROUTE, route),
        ]
    }

    fn fraction(sampler: &Sampler, attributes: &[KeyValue], n: usize) -> f64 {
        let sampled = (0..n)
            .filter(|_| {
                let p = params(None, "GET", SpanKind::Server, attributes);
                sampler.should_sample(&p).decision.is_sampled()
            })
            .count();
        sampled as f64 / n as f64
    }

    #[test]
    fn health_checkout_and_the_rest() {
        let sampler: Sampler = Sampler::rules(Sampler::parent_based(Sampler::ratio(0.01)))
            .rule(Rule::route("/health"), Sampler::always_off())
            .rule(Rule::route("/checkout"), Sampler::ratio(0.1))
            .into();

        // Never /health, not even under a sampled parent.
        let sampled_parent = SpanContext::new_root(true).with_remote(true);
        let health = route("/health");
        assert_eq!(fraction(&sampler, &health, 10_000), 0.0);
        let p = params(Some(&sampled_parent), "GET", SpanKind::Server, &health);
        assert_eq!(sampler.should_sample(&p).decision, SamplingDecision::Drop);

        // /checkout at 10 %.
        let checkout = fraction(&sampler, &route("/checkout"), 100_000);
        assert!((0.09..=0.11).contains(&checkout), "checkout {checkout}");

        // Everything else: 1 % of new traces, and whatever the parent decided.
        let other = route("/users/{id}");
        let rest = fraction(&sampler, &other, 100_000);
        assert!((0.007..=0.013).contains(&rest), "rest {rest}");
        let p = params(Some(&sampled_parent), "GET", SpanKind::Server, &other);
        assert!(sampler.should_sample(&p).decision.is_sampled());
        let unsampled_parent = SpanContext::new_root(false).with_remote(true);
        let p = params(Some(&unsampled_parent), "GET", SpanKind::Server, &other);
        assert!(!sampler.should_sample(&p).decision.is_sampled());
    }

    #[test]
    fn rule_conditions() {
        let attrs = [
            KeyValue::new(HTTP_REQUEST_METHOD, "POST"),
            KeyValue::new(HTTP_ROUTE, "/admin/users/{id}"),
            KeyValue::new("tenant", "acme"),
            KeyValue::new("retries", 3_i64),
        ];
        let p = params(None, "POST /admin", SpanKind::Server, &attrs);
        assert!(Rule::name("POST /admin").matches(&p));
        assert!(!Rule::name("POST").matches(&p));
        assert!(Rule::kind(SpanKind::Server).matches(&p));
        assert!(!Rule::kind(SpanKind::Client).matches(&p));
        assert!(Rule::method("POST").matches(&p));
        assert!(!Rule::method("post").matches(&p), "case-sensitive");
        assert!(Rule::route("/admin/users/{id}").matches(&p));
        assert!(!Rule::route("/admin").matches(&p));
        assert!(Rule::route_prefix("/admin/").matches(&p));
        assert!(!Rule::route_prefix("/users").matches(&p));
        assert!(Rule::attribute("tenant", "acme").matches(&p));
        assert!(!Rule::attribute("tenant", "other").matches(&p));
        assert!(!Rule::attribute("missing", "acme").matches(&p));
        // Only string attributes match.
        assert!(!Rule::attribute("retries", "3").matches(&p));
        // `and` needs both.
        assert!(
            Rule::method("POST")
                .and(Rule::route_prefix("/admin"))
                .matches(&p)
        );
        assert!(
            !Rule::method("GET")
                .and(Rule::route_prefix("/admin"))
                .matches(&p)
        );
        assert!(!Rule::method("POST").and(Rule::route("/x")).matches(&p));
        // No attributes at all.
        let bare = params(None, "x", SpanKind::Internal, &[]);
        assert!(!Rule::method("POST").matches(&bare));
        assert!(!Rule::route_prefix("").matches(&bare));
    }

    #[test]
    fn first_matching_rule_wins() {
        let sampler = Sampler::rules(Sampler::always_off())
            .rule(Rule::route_prefix("/api/"), Sampler::always_on())
            .rule(Rule::route("/api/secret"), Sampler::always_off());
        let secret = route("/api/secret");
        let p = params(None, "GET", SpanKind::Server, &secret);
        assert!(sampler.should_sample(&p).decision.is_sampled());
        let elsewhere = route("/home");
        let p = params(None, "GET", SpanKind::Server, &elsewhere);
        assert!(!sampler.should_sample(&p).decision.is_sampled());
        // No rule at all: the fallback.
        let empty = RuleBased::new(Sampler::always_on());
        assert!(empty.should_sample(&p).decision.is_sampled());
    }
}
