//! [`TailPolicy`]: named rules, the first that keeps a trace naming it.

use std::borrow::Cow;

use super::policy::Policy;
use super::verdict::{CERTAIN, Verdict};
use super::view::TraceView;
use crate::span::SpanData;

/// A tail sampler's rules: a trace is kept when any rule keeps it, and the first rule that
/// does is the one named in its spans' `sampling.rule` attribute and counted in
/// [`RuleStats`](super::RuleStats).
///
/// The threshold the kept spans carry (`ot=th`) is that of all the rules together (*or*): an
/// erroring trace that the baseline would also have kept is counted once, as certain, not as
/// 1 of 50. Put the certain rules (errors, latency) first, so that they name what they keep.
/// A rule after the one that kept a trace is asked only what it would say: a rate limit there
/// takes no token, a dynamic rule counts nothing.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tracewire::sink::tail::{Policy, TailPolicy};
///
/// let policy = TailPolicy::new()
///     .rule("errors", Policy::errors())
///     .rule("slow", Policy::latency(Duration::from_millis(500)))
///     .rule("baseline", Policy::keep_head_sampled());
/// assert_eq!(policy.rule_names().collect::<Vec<_>>(), ["errors", "slow", "baseline"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TailPolicy {
    pub(crate) rules: Vec<Rule>,
}

/// One named rule.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rule {
    pub(crate) name: Cow<'static, str>,
    pub(crate) policy: Policy,
}

/// What the rules decided for a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    /// The first rule that keeps the trace, if any does.
    pub(crate) rule: Option<usize>,
    /// The verdict of all the rules together: the threshold the kept spans carry.
    pub(crate) verdict: Verdict,
}

impl TailPolicy {
    /// No rules yet: keeps nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// These rules and one more, `policy` named `name`.
    #[must_use]
    pub fn rule(mut self, name: impl Into<Cow<'static, str>>, policy: impl Into<Policy>) -> Self {
        self.rules.push(Rule {
            name: name.into(),
            policy: policy.into(),
        });
        self
    }

    /// The rules' names, in order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_ref())
    }

    /// The decision on the trace in `view`.
    pub(crate) fn decide(&mut self, view: &TraceView<'_>) -> Decision {
        let r = view.randomness;
        let mut decision = Decision {
            rule: None,
            verdict: Verdict::Never,
        };
        for (i, rule) in self.rules.iter_mut().enumerate() {
            if decision.rule.is_some() && decision.verdict == CERTAIN {
                break;
            }
            let verdict = rule.policy.evaluate(view, decision.rule.is_none());
            if decision.rule.is_none() && verdict.keeps(r) {
                decision.rule = Some(i);
            }
            decision.verdict = decision.verdict.or(verdict, r);
        }
        decision
    }

    /// The first rule that keeps the trace for certain now that `span` arrived, if any.
    pub(crate) fn certain_from(&self, span: &SpanData, view: &TraceView<'_>) -> Option<usize> {
        self.rules
            .iter()
            .position(|rule| rule.policy.certain_from(span, view))
    }

    /// The decision by the trace's randomness and head decision alone.
    pub(crate) fn by_id_alone(&self, view: &TraceView<'_>) -> Decision {
        let r = view.randomness;
        let mut decision = Decision {
            rule: None,
            verdict: Verdict::Never,
        };
        for (i, rule) in self.rules.iter().enumerate() {
            let verdict = rule.policy.by_id_alone(view);
            if decision.rule.is_none() && verdict.keeps(r) {
                decision.rule = Some(i);
            }
            decision.verdict = decision.verdict.or(verdict, r);
        }
        decision
    }
}
