//! The decider: a thread of its own that takes spans from the hand-off queue, buffers them by
//! trace, decides each trace and forwards or drops its spans. Only it touches the buffer, the
//! decision cache and the rules' state, so none of them needs a lock, and the request path
//! shares none with it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use super::buffer::Buffer;
use super::cache::{DecisionCache, Fate};
use super::config::{OnShutdown, TailConfig};
use super::rules::{Decision, TailPolicy};
use super::sink::{Request, Shared};
use super::stats::{Counters, RuleCounts, ShutdownReport};
use super::threshold::{randomness, with_threshold};
use super::verdict::{CERTAIN, Verdict};
use super::view::TraceView;
use crate::context::TraceState;
use crate::id::TraceId;
use crate::sampling::erase_threshold;
use crate::span::{KeyValue, SpanData};

/// The attribute that names the rule that kept a span's trace.
pub(crate) const SAMPLING_RULE: &str = "sampling.rule";

/// The longest the decider sleeps with nothing to do: spans waiting in the queue are decided
/// at most this late (producers wake it sooner when the queue fills).
const TICK: Duration = Duration::from_millis(20);

/// Spans taken per round before timers and requests are looked at again.
const ROUND: usize = 1_024;

pub(crate) struct Decider {
    pub(crate) shared: Arc<Shared>,
    pub(crate) policy: TailPolicy,
    pub(crate) config: TailConfig,
    pub(crate) buffer: Buffer,
    pub(crate) cache: DecisionCache,
    pub(crate) counts: Counters,
    /// The last trace state rewritten, and what it became, for the spans of one trace (they
    /// mostly share one).
    rewritten: Option<(TraceState, Verdict, TraceState)>,
}

impl Decider {
    pub(crate) fn new(shared: Arc<Shared>, policy: TailPolicy, config: TailConfig) -> Self {
        let counts = Counters {
            rules: vec![RuleCounts::default(); policy.rules.len()],
            ..Counters::default()
        };
        Self {
            cache: DecisionCache::new(config.decision_cache),
            shared,
            policy,
            config,
            buffer: Buffer::default(),
            counts,
            rewritten: None,
        }
    }

    pub(crate) fn run(mut self) {
        loop {
            let now = Instant::now();
            let requests = std::mem::take(
                &mut *self
                    .shared
                    .requests
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            for request in requests {
                match request {
                    Request::Flush(ack) => {
                        // Everything queued before the request, and no more: a steady stream
                        // cannot keep a flush from finishing.
                        let queued = self.shared.queue.len();
                        self.take_queued(queued, None);
                        self.publish();
                        let _ = ack.try_send(());
                    }
                    Request::Shutdown { deadline, ack } => {
                        self.finish(deadline);
                        if let Some(ack) = ack {
                            let _ = ack.try_send(());
                        }
                        return;
                    }
                }
            }
            self.shared.wake_pending.store(false, Ordering::Release);
            let taken = self.take_queued(ROUND, None);
            let now = if taken > 0 { Instant::now() } else { now };
            while let Some(trace_id) = self.buffer.pop_due(now) {
                self.decide_buffered(trace_id, now);
            }
            self.publish();
            if taken == ROUND {
                continue;
            }
            let sleep = self
                .buffer
                .next_due()
                .map_or(TICK, |due| due.saturating_duration_since(Instant::now()))
                .min(TICK);
            if !sleep.is_zero() && self.shared.queue.is_empty() {
                std::thread::park_timeout(sleep);
            }
        }
    }

    /// Takes at most `most` spans from the queue (stopping at `deadline`); returns how many.
    fn take_queued(&mut self, most: usize, deadline: Option<Instant>) -> usize {
        let mut now = Instant::now();
        let mut taken = 0;
        while taken < most {
            let Some(span) = self.shared.queue.pop() else {
                break;
            };
            taken += 1;
            // The clock is read every so many spans: decisions need no finer time.
            if taken % 64 == 0 {
                now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    self.take(span, now);
                    break;
                }
            }
            self.take(span, now);
        }
        taken
    }

    /// Makes the counters readable.
    fn publish(&mut self) {
        let counts = &mut self.counts;
        counts.buffered_spans = self.buffer.spans() as u64;
        counts.buffered_traces = self.buffer.len() as u64;
        counts.buffered_bytes = self.buffer.bytes() as u64;
        let (kept, other) = self.cache.len();
        counts.cached_kept = kept as u64;
        counts.cached_other = other as u64;
        self.shared
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone_from(counts);
    }

    /// One span from the queue.
    pub(crate) fn take(&mut self, span: SpanData, now: Instant) {
        self.counts.taken += 1;
        let trace_id = span.span_context.trace_id();
        if let Some(fate) = self.cache.get(trace_id) {
            self.late(trace_id, span, fate, now);
        } else if self.buffer.get(trace_id).is_some() {
            self.add(trace_id, span, now);
        } else {
            self.first(trace_id, span, now);
        }
    }

    /// A span of a trace already decided: it follows the decision.
    fn late(&mut self, trace_id: TraceId, span: SpanData, fate: Fate, now: Instant) {
        self.counts.late_spans += 1;
        match fate {
            Fate::Kept { rule, verdict } => self.forward(span, rule, verdict),
            Fate::Dropped => self.counts.dropped += 1,
            Fate::ValveDropped | Fate::Evicted => {
                // Let go without seeing the trace: an error arriving now keeps the rest.
                let r = randomness(trace_id, span.span_context.state());
                let spans = std::slice::from_ref(&span);
                let view = single(spans, trace_id, r, now);
                match self.policy.certain_from(&span, &view) {
                    Some(rule) => {
                        self.counts.traces_rescued += 1;
                        self.keep(trace_id, vec![span], rule, CERTAIN);
                    }
                    None if fate == Fate::Evicted => self.counts.evicted += 1,
                    None => self.counts.dropped += 1,
                }
            }
        }
    }

    /// The first span of a trace this sink has not seen (or no longer remembers).
    fn first(&mut self, trace_id: TraceId, span: SpanData, now: Instant) {
        let r = randomness(trace_id, span.span_context.state());
        let spans = std::slice::from_ref(&span);
        let view = single(spans, trace_id, r, now);
        // A trace becomes must-keep on its first error: decided at once, never buffered.
        if let Some(rule) = self.policy.certain_from(&span, &view) {
            if span.parent_span_id.is_some() {
                self.counts.traces_kept_early += 1;
            }
            self.keep(trace_id, vec![span], rule, CERTAIN);
            return;
        }
        // The root, first: a trace of one span here (its children ended elsewhere, or it has
        // none). A local root whose caller's spans will not come here is decided at once too.
        let local_root_now = span.parent_is_remote && self.config.remote_root_wait.is_zero();
        if span.parent_span_id.is_none() || local_root_now {
            let decision = self.policy.decide(&view);
            self.settle(trace_id, vec![span], decision);
            return;
        }
        let baseline = self.policy.by_id_alone(&view);
        if self.valve() {
            self.counts.valve_decided += 1;
            match baseline.rule {
                Some(rule) => self.keep(trace_id, vec![span], rule, baseline.verdict),
                None => self.drop_trace(trace_id, 1, Fate::ValveDropped),
            }
            return;
        }
        let remote_parent = span.parent_span_id.filter(|_| span.parent_is_remote);
        let due = later(now, self.config.decision_wait);
        self.buffer
            .insert(trace_id, span, r, baseline.rule.is_some(), due);
        if let Some(parent) = remote_parent {
            let due = later(now, self.config.remote_root_wait);
            self.buffer.wait_for_caller(trace_id, parent, due);
        }
        self.enforce_bounds();
    }

    /// Another span of a buffered trace.
    fn add(&mut self, trace_id: TraceId, span: SpanData, now: Instant) {
        let is_root = span.parent_span_id.is_none();
        let span_id = span.span_context.span_id();
        let remote_parent = span.parent_span_id.filter(|_| span.parent_is_remote);
        let Some(pending) = self.buffer.get(trace_id) else {
            return;
        };
        // Over the span limit only a root gets in (the decision waits for it), or a span that
        // keeps the trace for certain (an error), which is then decided at once.
        if pending.spans.len() >= self.config.max_spans_per_trace && !is_root {
            let spans = std::slice::from_ref(&span);
            let mut view = single(spans, trace_id, pending.randomness, now);
            let held = pending.view(trace_id, now);
            (view.start, view.end) = (view.start.min(held.start), view.end.max(held.end));
            match self.policy.certain_from(&span, &view) {
                Some(rule) => {
                    self.counts.traces_kept_early += 1;
                    let mut spans = self
                        .buffer
                        .remove(trace_id)
                        .map(|p| p.spans)
                        .unwrap_or_default();
                    spans.push(span);
                    self.keep(trace_id, spans, rule, CERTAIN);
                }
                None => {
                    self.counts.evicted += 1;
                    self.counts.evicted_over_span_limit += 1;
                }
            }
            return;
        }
        let caller_arrived = pending
            .remote_wait
            .is_some_and(|(parent, _)| parent == span_id);
        let parent_held = remote_parent.is_some_and(|parent| pending.holds(parent));
        self.buffer.push(trace_id, span);
        let Some(pending) = self.buffer.get_mut(trace_id) else {
            return;
        };
        if caller_arrived {
            // The caller's span is here: the trace now waits for the root above it.
            pending.remote_wait = None;
        }
        let certain = match pending.spans.last() {
            Some(last) => self.policy.certain_from(last, &pending.view(trace_id, now)),
            None => None,
        };
        if let Some(rule) = certain {
            // Kept before its root ended (a root decides now in any case).
            if !is_root {
                self.counts.traces_kept_early += 1;
            }
            if let Some(pending) = self.buffer.remove(trace_id) {
                self.keep(trace_id, pending.spans, rule, CERTAIN);
            }
            return;
        }
        if is_root {
            self.decide_buffered(trace_id, now);
            return;
        }
        if let Some(parent) = remote_parent.filter(|_| !parent_held) {
            if self.config.remote_root_wait.is_zero() {
                self.decide_buffered(trace_id, now);
                return;
            }
            let due = later(now, self.config.remote_root_wait);
            self.buffer.wait_for_caller(trace_id, parent, due);
        }
        self.enforce_bounds();
    }

    /// Whether the overload valve is open: opened at the fill mark, closed below 0.8 of it.
    fn valve(&mut self) -> bool {
        let fill = (self.buffer.bytes() as f64 / self.config.max_bytes as f64)
            .max(self.buffer.len() as f64 / self.config.max_traces as f64);
        let mark = self.config.valve_fill;
        let open = match self.counts.valve_open {
            false => fill >= mark,
            true => fill >= mark * 0.8,
        };
        if open && !self.counts.valve_open {
            self.counts.valve_openings += 1;
        }
        self.counts.valve_open = open;
        open
    }

    /// Evicts traces until the buffer is within its bounds: first those the baseline would not
    /// keep, oldest first, then the others. Must-keep traces were decided on their first error
    /// and are never here.
    fn enforce_bounds(&mut self) {
        while self.buffer.bytes() > self.config.max_bytes
            || self.buffer.len() > self.config.max_traces
        {
            let Some(trace_id) = self.buffer.eviction_candidate() else {
                break;
            };
            if let Some(pending) = self.buffer.remove(trace_id) {
                self.counts.evicted += pending.spans.len() as u64;
                self.counts.traces_evicted += 1;
                self.cache.insert(trace_id, Fate::Evicted);
            }
        }
    }

    /// Decides a buffered trace on the spans it has.
    fn decide_buffered(&mut self, trace_id: TraceId, now: Instant) {
        let Some(pending) = self.buffer.remove(trace_id) else {
            return;
        };
        let decision = self.policy.decide(&pending.view(trace_id, now));
        self.settle(trace_id, pending.spans, decision);
    }

    fn settle(&mut self, trace_id: TraceId, spans: Vec<SpanData>, decision: Decision) {
        match decision.rule {
            Some(rule) => self.keep(trace_id, spans, rule, decision.verdict),
            None => self.drop_trace(trace_id, spans.len(), Fate::Dropped),
        }
    }

    fn keep(&mut self, trace_id: TraceId, spans: Vec<SpanData>, rule: usize, verdict: Verdict) {
        self.counts.traces_kept += 1;
        if let Some(counts) = self.counts.rules.get_mut(rule) {
            counts.count_trace(verdict);
        }
        self.cache.insert(trace_id, Fate::Kept { rule, verdict });
        for span in spans {
            self.forward(span, rule, verdict);
        }
    }

    fn drop_trace(&mut self, trace_id: TraceId, spans: usize, fate: Fate) {
        self.counts.traces_dropped += 1;
        self.counts.dropped += spans as u64;
        self.cache.insert(trace_id, fate);
    }

    /// Hands a span of a kept trace to the inner sink: sampled (exporters take only sampled
    /// spans), its `ot=th` the decision's threshold (erased where the probability is unknown),
    /// and the rule that kept it named.
    fn forward(&mut self, mut span: SpanData, rule: usize, verdict: Verdict) {
        let state = span.span_context.state();
        let state = match &self.rewritten {
            Some((from, v, to)) if *v == verdict && from == state => to.clone(),
            _ => {
                let to = match verdict {
                    Verdict::AtLeast(t) => with_threshold(state, t),
                    _ => erase_threshold(state),
                };
                self.rewritten = Some((state.clone(), verdict, to.clone()));
                to
            }
        };
        let flags = span.span_context.flags().with_sampled(true);
        span.span_context = span
            .span_context
            .clone()
            .with_flags(flags)
            .with_state(state);
        if let Some(name) = self.policy.rules.get(rule).map(|r| r.name.clone()) {
            match span.attributes.iter_mut().find(|a| a.key == SAMPLING_RULE) {
                Some(existing) => existing.value = name.into(),
                None => span.attributes.push(KeyValue::new(SAMPLING_RULE, name)),
            }
        }
        if let Some(counts) = self.counts.rules.get_mut(rule) {
            counts.count_span(verdict);
        }
        self.counts.kept += 1;
        self.shared.inner.on_end(span);
    }

    /// Shutdown: everything queued is taken, every pending trace decided or dropped as
    /// configured, all before `deadline`; what is left then is dropped. The report is left
    /// for the caller.
    fn finish(&mut self, deadline: Option<Instant>) {
        self.take_queued(usize::MAX, deadline);
        let pending = self.buffer.in_arrival_order();
        let mut report = ShutdownReport {
            on_shutdown: self.config.on_shutdown,
            pending_traces: pending.len() as u64,
            decided: 0,
            kept: 0,
            dropped_undecided: 0,
            dropped_spans: 0,
            deadline_passed: false,
            inner: Ok(()),
        };
        for (i, trace_id) in pending.into_iter().enumerate() {
            let now = Instant::now();
            if i % 16 == 0 && deadline.is_some_and(|d| now >= d) {
                report.deadline_passed = true;
            }
            if report.deadline_passed || self.config.on_shutdown == OnShutdown::DropPending {
                if let Some(held) = self.buffer.remove(trace_id) {
                    report.dropped_undecided += 1;
                    report.dropped_spans += held.spans.len() as u64;
                    self.drop_trace(trace_id, held.spans.len(), Fate::Dropped);
                }
                continue;
            }
            let kept_before = self.counts.traces_kept;
            self.decide_buffered(trace_id, now);
            report.decided += 1;
            report.kept += self.counts.traces_kept - kept_before;
        }
        // Past the deadline, what is still queued is dropped.
        while let Some(_span) = self.shared.queue.pop() {
            self.counts.taken += 1;
            self.counts.dropped += 1;
            report.dropped_spans += 1;
            report.deadline_passed = true;
        }
        self.counts.valve_open = false;
        self.publish();
        *self
            .shared
            .report
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(report);
        // Producers racing the shutdown may push after this: they find `drained` set and take
        // their spans back out (see `TailSink::on_end`).
        self.shared.drained.store(true, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        self.shared.drop_leftovers();
    }
}

/// `wait` after `now`, or as far as the clock goes.
fn later(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// A view of one span.
fn single<'a>(spans: &'a [SpanData], trace_id: TraceId, r: u64, now: Instant) -> TraceView<'a> {
    let (start, end) = spans
        .first()
        .map_or((0, 0), |s| (s.start_unix_nanos, s.end_unix_nanos));
    TraceView {
        spans,
        trace_id,
        randomness: r,
        start,
        end,
        now,
    }
}
