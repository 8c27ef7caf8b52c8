//! What a tail sink counts: every span in exactly one place, per-rule counters, and estimated
//! true counts.

use std::borrow::Cow;

use super::config::OnShutdown;
use super::threshold::adjusted_count;
use super::verdict::Verdict;
use crate::sink::{SinkError, SinkStats};

/// A tail sink's accounting, readable at any moment ([`TailSink::tail_stats`]).
///
/// Every span offered to the sink is in exactly one of four places, so that at every moment
///
/// ```text
/// seen = kept + dropped + evicted + in_flight
/// ```
///
/// ([`balances`](Self::balances) checks it). Kept spans went to the inner sink; dropped ones were
/// dropped by a decision (the rules, the overload valve, a shutdown that drops what is
/// pending, or a span arriving after shutdown); evicted ones were let go for room without a
/// decision (the buffer full, a trace over its span limit, the hand-off queue full); spans in
/// flight wait in the hand-off queue or in the buffer.
///
/// [`TailSink::tail_stats`]: super::TailSink::tail_stats
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tracewire::Tracer;
/// use tracewire::sampling::Sampler;
/// use tracewire::sink::{MemorySink, SpanSink};
/// use tracewire::sink::tail::{Policy, TailPolicy, TailSink};
///
/// let tail = TailSink::new(MemorySink::new(), TailPolicy::new().rule("errors", Policy::errors()));
/// let tracer = Tracer::builder()
///     .sampler(Sampler::always_record(Sampler::always_off()))
///     .sink(tail.clone())
///     .build();
/// tracer.span("GET /").start().end();
/// tail.force_flush(Duration::from_secs(5)).unwrap();
///
/// let stats = tail.tail_stats();
/// assert!(stats.balances());
/// assert_eq!((stats.seen, stats.dropped, stats.traces_dropped), (1, 1, 1));
/// assert_eq!(stats.rules[0].name, "errors");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TailStats {
    /// Spans offered to the sink.
    pub seen: u64,
    /// Spans forwarded to the inner sink.
    pub kept: u64,
    /// Spans dropped by a decision.
    pub dropped: u64,
    /// Spans let go for room, without a decision.
    pub evicted: u64,
    /// Spans in the hand-off queue or the buffer.
    pub in_flight: u64,

    /// Of the spans in flight, those in the buffer.
    pub buffered_spans: u64,
    /// Traces in the buffer.
    pub buffered_traces: u64,
    /// The buffered spans' estimated size, bytes.
    pub buffered_bytes: u64,
    /// Of the dropped spans, those that arrived after shutdown.
    pub dropped_after_shutdown: u64,
    /// Of the evicted spans, those refused because the hand-off queue was full.
    pub evicted_queue_full: u64,
    /// Of the evicted spans, those over their trace's span limit.
    pub evicted_over_span_limit: u64,
    /// Spans that arrived after their trace was decided and followed the decision.
    pub late_spans: u64,

    /// Traces kept.
    pub traces_kept: u64,
    /// Traces dropped by a decision.
    pub traces_dropped: u64,
    /// Traces evicted from the buffer.
    pub traces_evicted: u64,
    /// Of the kept traces, those kept at once on a span that made a rule certain (an error):
    /// their later spans streamed through.
    pub traces_kept_early: u64,
    /// Traces the valve or an eviction had let go that a later span (an error) kept after all,
    /// from that span on.
    pub traces_rescued: u64,

    /// Whether the overload valve is open now: new traces are decided by trace id alone.
    pub valve_open: bool,
    /// How many times the valve opened.
    pub valve_openings: u64,
    /// Traces the valve decided.
    pub valve_decided: u64,

    /// Decisions remembered, of kept traces and of the others.
    pub cached_decisions: (u64, u64),
    /// Each rule's counters, in the rules' order.
    pub rules: Vec<RuleStats>,
    /// The inner sink's own counters.
    pub inner: SinkStats,
}

impl TailStats {
    /// Whether `seen = kept + dropped + evicted + in_flight`.
    pub fn balances(&self) -> bool {
        self.seen == self.kept + self.dropped + self.evicted + self.in_flight
    }

    /// The estimated number of traces the kept ones stand for, over all rules whose
    /// thresholds are known, and how many kept traces had no known probability.
    pub fn estimated_traces(&self) -> (f64, u64) {
        let estimated = self.rules.iter().map(|r| r.estimated_traces).sum();
        let unknown = self
            .rules
            .iter()
            .map(|r| r.unknown_probability_traces)
            .sum();
        (estimated, unknown)
    }
}

/// One rule's counters.
///
/// A kept trace is counted under the first rule that kept it. Its estimated count is the
/// number of traces it stands for, `1 / p` for the probability `p` its threshold states (1 for
/// a certain rule such as errors): so `estimated_traces` of a 2% baseline rule estimates how
/// many traces of its kind there were. Traces kept with an unknown probability (a rate limit)
/// are counted apart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleStats {
    /// The rule's name.
    pub name: Cow<'static, str>,
    /// Traces this rule was the first to keep.
    pub kept_traces: u64,
    /// Their spans forwarded, late ones included.
    pub kept_spans: u64,
    /// The traces the kept ones stand for (`Σ 1/p`).
    pub estimated_traces: f64,
    /// The spans the kept ones stand for.
    pub estimated_spans: f64,
    /// Kept traces whose probability is unknown (not in the estimates).
    pub unknown_probability_traces: u64,
}

/// One rule's counts, as the decider keeps them (named when read).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct RuleCounts {
    pub(crate) kept_traces: u64,
    pub(crate) kept_spans: u64,
    pub(crate) estimated_traces: f64,
    pub(crate) estimated_spans: f64,
    pub(crate) unknown_probability_traces: u64,
}

impl RuleCounts {
    /// Counts a kept trace with `verdict`.
    pub(crate) fn count_trace(&mut self, verdict: Verdict) {
        self.kept_traces += 1;
        match verdict {
            Verdict::AtLeast(t) => self.estimated_traces += adjusted_count(t),
            _ => self.unknown_probability_traces += 1,
        }
    }

    /// Counts a forwarded span of a trace kept with `verdict`.
    pub(crate) fn count_span(&mut self, verdict: Verdict) {
        self.kept_spans += 1;
        if let Verdict::AtLeast(t) = verdict {
            self.estimated_spans += adjusted_count(t);
        }
    }

    pub(crate) fn named(self, name: Cow<'static, str>) -> RuleStats {
        RuleStats {
            name,
            kept_traces: self.kept_traces,
            kept_spans: self.kept_spans,
            estimated_traces: self.estimated_traces,
            estimated_spans: self.estimated_spans,
            unknown_probability_traces: self.unknown_probability_traces,
        }
    }
}

/// What the decider counts, published to readers after each round of work.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counters {
    /// Spans taken out of the hand-off queue.
    pub(crate) taken: u64,
    pub(crate) kept: u64,
    /// Dropped by a decision (not counting spans refused after shutdown, counted at the door).
    pub(crate) dropped: u64,
    /// Evicted after the queue (not counting those refused at a full queue).
    pub(crate) evicted: u64,
    pub(crate) evicted_over_span_limit: u64,
    pub(crate) late_spans: u64,
    pub(crate) buffered_spans: u64,
    pub(crate) buffered_traces: u64,
    pub(crate) buffered_bytes: u64,
    pub(crate) traces_kept: u64,
    pub(crate) traces_dropped: u64,
    pub(crate) traces_evicted: u64,
    pub(crate) traces_kept_early: u64,
    pub(crate) traces_rescued: u64,
    pub(crate) valve_open: bool,
    pub(crate) valve_openings: u64,
    pub(crate) valve_decided: u64,
    pub(crate) cached_kept: u64,
    pub(crate) cached_other: u64,
    pub(crate) rules: Vec<RuleCounts>,
}

/// What a tail sink's shutdown did with the traces still waiting for a decision, and how the
/// inner sink's shutdown went ([`TailSink::shutdown_report`]).
///
/// [`TailSink::shutdown_report`]: super::TailSink::shutdown_report
#[derive(Clone, Debug, PartialEq)]
pub struct ShutdownReport {
    /// What was done with the pending traces, as configured.
    pub on_shutdown: OnShutdown,
    /// Traces waiting for a decision when the shutdown began (after the hand-off queue was
    /// emptied).
    pub pending_traces: u64,
    /// Of those, the ones decided on the spans that had arrived
    /// ([`OnShutdown::DecidePartial`]).
    pub decided: u64,
    /// Of the decided ones, those kept.
    pub kept: u64,
    /// Pending traces dropped undecided: all of them with [`OnShutdown::DropPending`], the
    /// rest when the deadline passed.
    pub dropped_undecided: u64,
    /// The spans of the pending traces dropped undecided.
    pub dropped_spans: u64,
    /// Whether the deadline passed before every pending trace was decided.
    pub deadline_passed: bool,
    /// The inner sink's shutdown.
    pub inner: Result<(), SinkError>,
}
