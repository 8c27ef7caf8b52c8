//! The traces waiting for a decision: their spans, their size, and the order in which they
//! are evicted and come due.

use std::collections::{HashMap, VecDeque};
use std::mem::size_of;
use std::time::Instant;

use super::size::{PER_TRACE, heap_bytes};
use super::view::TraceView;
use crate::id::{SpanId, TraceId};
use crate::span::SpanData;

/// One trace waiting for a decision.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) spans: Vec<SpanData>,
    /// The estimated bytes of the spans and of the trace's own bookkeeping.
    bytes: usize,
    pub(crate) randomness: u64,
    start: u64,
    end: u64,
    /// The number of this trace's entries in the queues (a trace decided and seen again gets
    /// a new one, so stale entries are told apart).
    entry: u64,
    /// The parent of a local root that has ended, and when its wait for the caller's spans
    /// ends.
    pub(crate) remote_wait: Option<(SpanId, Instant)>,
}

impl Pending {
    /// The trace as policies see it.
    pub(crate) fn view(&self, trace_id: TraceId, now: Instant) -> TraceView<'_> {
        TraceView {
            spans: &self.spans,
            trace_id,
            randomness: self.randomness,
            start: self.start,
            end: self.end,
            now,
        }
    }

    /// Whether one of the spans is `span_id`.
    pub(crate) fn holds(&self, span_id: SpanId) -> bool {
        self.spans
            .iter()
            .any(|s| s.span_context.span_id() == span_id)
    }
}

/// The traces waiting for a decision.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    traces: HashMap<TraceId, Pending>,
    bytes: usize,
    spans: usize,
    /// Eviction order, oldest first: traces the baseline would not keep, then those it would.
    plain: VecDeque<(TraceId, u64)>,
    baseline: VecDeque<(TraceId, u64)>,
    /// When each trace's wait from its first span ends, in arrival order (the wait is the same
    /// for all, so this is also the order they come due).
    deadlines: VecDeque<(Instant, TraceId, u64)>,
    /// When local roots' waits for their callers end, in the order they started.
    remote_waits: VecDeque<(Instant, TraceId, u64)>,
    next_entry: u64,
}

impl Buffer {
    pub(crate) fn len(&self) -> usize {
        self.traces.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn spans(&self) -> usize {
        self.spans
    }

    pub(crate) fn get(&self, trace_id: TraceId) -> Option<&Pending> {
        self.traces.get(&trace_id)
    }

    pub(crate) fn get_mut(&mut self, trace_id: TraceId) -> Option<&mut Pending> {
        self.traces.get_mut(&trace_id)
    }

    /// Holds the first span of a trace; `baseline` says whether the baseline would keep it
    /// (such traces are evicted last), `due` when it is decided at the latest.
    pub(crate) fn insert(
        &mut self,
        trace_id: TraceId,
        span: SpanData,
        randomness: u64,
        baseline: bool,
        due: Instant,
    ) {
        let entry = self.next_entry;
        self.next_entry += 1;
        let spans = Vec::with_capacity(4);
        let bytes = PER_TRACE + spans.capacity() * size_of::<SpanData>();
        let mut pending = Pending {
            spans,
            bytes,
            randomness,
            start: u64::MAX,
            end: 0,
            entry,
            remote_wait: None,
        };
        self.bytes += bytes;
        Self::push_into(&mut pending, &mut self.bytes, &mut self.spans, span);
        self.traces.insert(trace_id, pending);
        match baseline {
            true => self.baseline.push_back((trace_id, entry)),
            false => self.plain.push_back((trace_id, entry)),
        }
        self.deadlines.push_back((due, trace_id, entry));
        self.compact();
    }

    /// Adds a span to a held trace.
    pub(crate) fn push(&mut self, trace_id: TraceId, span: SpanData) {
        if let Some(pending) = self.traces.get_mut(&trace_id) {
            Self::push_into(pending, &mut self.bytes, &mut self.spans, span);
        }
    }

    fn push_into(pending: &mut Pending, bytes: &mut usize, spans: &mut usize, span: SpanData) {
        let capacity = pending.spans.capacity();
        let heap = heap_bytes(&span);
        pending.start = pending.start.min(span.start_unix_nanos);
        pending.end = pending.end.max(span.end_unix_nanos);
        pending.spans.push(span);
        // The records are counted as the vector holds them: at its capacity.
        let grown = (pending.spans.capacity() - capacity) * size_of::<SpanData>();
        pending.bytes += heap + grown;
        *bytes += heap + grown;
        *spans += 1;
    }

    /// Starts (or restarts) the wait of a trace's local root for its caller's spans.
    pub(crate) fn wait_for_caller(&mut self, trace_id: TraceId, parent: SpanId, due: Instant) {
        if let Some(pending) = self.traces.get_mut(&trace_id) {
            pending.remote_wait = Some((parent, due));
            self.remote_waits.push_back((due, trace_id, pending.entry));
            self.compact();
        }
    }

    /// Takes a trace out.
    pub(crate) fn remove(&mut self, trace_id: TraceId) -> Option<Pending> {
        let pending = self.traces.remove(&trace_id)?;
        self.bytes -= pending.bytes;
        self.spans -= pending.spans.len();
        Some(pending)
    }

    fn current(&self, trace_id: TraceId, entry: u64) -> bool {
        self.traces.get(&trace_id).is_some_and(|p| p.entry == entry)
    }

    /// The next trace to evict: the oldest the baseline would not keep, else the oldest.
    pub(crate) fn eviction_candidate(&mut self) -> Option<TraceId> {
        for queue in [0, 1] {
            loop {
                let front = match queue {
                    0 => self.plain.front(),
                    _ => self.baseline.front(),
                };
                let Some(&(trace_id, entry)) = front else {
                    break;
                };
                if self.current(trace_id, entry) {
                    return Some(trace_id);
                }
                match queue {
                    0 => self.plain.pop_front(),
                    _ => self.baseline.pop_front(),
                };
            }
        }
        None
    }

    /// A trace whose wait has ended by `now`, if any: the wait from its first span, or its
    /// local root's wait for the caller.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TraceId> {
        while let Some(&(due, trace_id, entry)) = self.deadlines.front() {
            if due > now {
                break;
            }
            self.deadlines.pop_front();
            if self.current(trace_id, entry) {
                return Some(trace_id);
            }
        }
        while let Some(&(due, trace_id, entry)) = self.remote_waits.front() {
            if due > now {
                break;
            }
            self.remote_waits.pop_front();
            let ended = self.traces.get(&trace_id).is_some_and(|p| {
                p.entry == entry && p.remote_wait.is_some_and(|(_, due)| due <= now)
            });
            if ended {
                return Some(trace_id);
            }
        }
        None
    }

    /// When the next wait ends, if any is running.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        let first = self.deadlines.front().map(|d| d.0);
        let remote = self.remote_waits.front().map(|d| d.0);
        match (first, remote) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The traces held, oldest first.
    pub(crate) fn in_arrival_order(&self) -> Vec<TraceId> {
        let mut all: Vec<(u64, TraceId)> = self
            .traces
            .iter()
            .map(|(id, pending)| (pending.entry, *id))
            .collect();
        all.sort_unstable();
        all.into_iter().map(|(_, id)| id).collect()
    }

    /// Drops queue entries of traces no longer held, once the queues hold more than twice
    /// the traces: they stay within a bound whatever the rate of traces decided early.
    fn compact(&mut self) {
        let bound = 2 * self.traces.len() + 64;
        let traces = &self.traces;
        let current = |id: &TraceId, entry: &u64| traces.get(id).is_some_and(|p| p.entry == *entry);
        if self.plain.len() > bound {
            self.plain.retain(|(id, entry)| current(id, entry));
        }
        if self.baseline.len() > bound {
            self.baseline.retain(|(id, entry)| current(id, entry));
        }
        if self.deadlines.len() > bound {
            self.deadlines.retain(|(_, id, entry)| current(id, entry));
        }
        if self.remote_waits.len() > bound {
            self.remote_waits
                .retain(|(_, id, entry)| current(id, entry));
        }
    }
}
