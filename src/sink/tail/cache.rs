//! Recent decisions, so that spans arriving after their trace was decided follow it.

use std::collections::{HashMap, VecDeque};

use super::verdict::Verdict;
use crate::id::TraceId;

/// What became of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Kept by rule `rule`, its spans carrying `verdict`'s threshold.
    Kept { rule: usize, verdict: Verdict },
    /// Dropped by the rules, on its spans: late spans are dropped.
    Dropped,
    /// Dropped by the overload valve, by trace id alone: late spans are dropped unless one
    /// makes a rule keep it for certain (an error), which keeps the rest.
    ValveDropped,
    /// Evicted for room: late spans are evicted too, unless one makes a rule keep the trace
    /// for certain.
    Evicted,
}

/// Two bounded first-in-first-out maps, one of kept traces and one of the others, looked up
/// kept first: a trace in both (kept after the valve dropped it) counts as kept.
#[derive(Debug)]
pub(crate) struct DecisionCache {
    capacity: usize,
    kept: Fifo,
    other: Fifo,
}

#[derive(Debug, Default)]
struct Fifo {
    /// Each trace's fate and the number of its entry in `order`.
    fates: HashMap<TraceId, (Fate, u64)>,
    order: VecDeque<(TraceId, u64)>,
    next: u64,
}

impl Fifo {
    fn insert(&mut self, trace_id: TraceId, fate: Fate, capacity: usize) {
        let entry = self.next;
        self.next += 1;
        self.fates.insert(trace_id, (fate, entry));
        self.order.push_back((trace_id, entry));
        while self.fates.len() > capacity {
            let Some((oldest, entry)) = self.order.pop_front() else {
                break;
            };
            // Skipped when the trace was inserted again since (a newer entry).
            if self.fates.get(&oldest).is_some_and(|(_, e)| *e == entry) {
                self.fates.remove(&oldest);
            }
        }
        // Entries of traces removed since, or inserted again, are skipped above; they are
        // pruned here so that the queue stays within twice the map.
        if self.order.len() > 2 * capacity + 16 {
            let fates = &self.fates;
            self.order
                .retain(|(id, entry)| fates.get(id).is_some_and(|(_, e)| e == entry));
        }
    }

    fn remove(&mut self, trace_id: TraceId) {
        self.fates.remove(&trace_id);
    }
}

impl DecisionCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            kept: Fifo::default(),
            other: Fifo::default(),
        }
    }

    /// The trace's fate, if remembered (kept first).
    pub(crate) fn get(&self, trace_id: TraceId) -> Option<Fate> {
        self.kept
            .fates
            .get(&trace_id)
            .or_else(|| self.other.fates.get(&trace_id))
            .map(|(fate, _)| *fate)
    }

    /// Remembers a fate; a kept one replaces the trace's other one.
    pub(crate) fn insert(&mut self, trace_id: TraceId, fate: Fate) {
        match fate {
            Fate::Kept { .. } => {
                self.other.remove(trace_id);
                self.kept.insert(trace_id, fate, self.capacity);
            }
            _ => self.other.insert(trace_id, fate, self.capacity),
        }
    }

    /// Entries held (kept, others).
    pub(crate) fn len(&self) -> (usize, usize) {
        (self.kept.fates.len(), self.other.fates.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::tail::verdict::CERTAIN;

    fn id(n: u128) -> TraceId {
        TraceId::from_u128(n).unwrap()
    }

    #[test]
    fn bounded_and_kept_first() {
        let mut cache = DecisionCache::new(3);
        for n in 1..=10 {
            cache.insert(id(n), Fate::Dropped);
        }
        assert_eq!(cache.len(), (0, 3));
        assert_eq!(cache.get(id(1)), None);
        assert_eq!(cache.get(id(10)), Some(Fate::Dropped));
        // The valve dropped it, an error kept it after all: kept wins.
        cache.insert(id(9), Fate::ValveDropped);
        let kept = Fate::Kept {
            rule: 0,
            verdict: CERTAIN,
        };
        cache.insert(id(9), kept);
        assert_eq!(cache.get(id(9)), Some(kept));
        // Inserted again: the older entry does not remove the newer one.
        for n in 11..=12 {
            cache.insert(id(n), Fate::Evicted);
        }
        assert_eq!(cache.get(id(9)), Some(kept));
        for n in 100..1_000 {
            cache.insert(id(n), Fate::Dropped);
            cache.insert(id(n), Fate::Evicted);
        }
        assert!(cache.other.order.len() <= 2 * 3 + 16);
    }
}
