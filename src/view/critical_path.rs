//! The analysis of an assembled trace: self times, the critical path (as Jaeger computes it),
//! the root cause, the `slow` mark and where the error started.

use super::trace::{Node, Trace, call_answered_by};
use crate::span::Status;

/// Fills in self times, the critical path and the marks of `trace`.
pub(super) fn analyse(trace: &mut Trace) {
    let total = trace.duration_nanos();
    self_times(&mut trace.nodes);
    if let Some(root) = main_root(&trace.nodes) {
        critical_path(&mut trace.nodes, root);
    }
    for node in &mut trace.nodes {
        node.critical_share = match total {
            0 if node.on_critical_path => 1.0,
            0 => 0.0,
            total => node.critical_nanos as f64 / total as f64,
        };
    }
    trace.root_cause = root_cause(&trace.nodes);
    if let Some(cause) = trace.root_cause {
        trace.nodes[cause].root_cause = true;
        if let Some(parent) = slow(&trace.nodes, cause, total) {
            trace.nodes[parent].slow = true;
        }
    }
    trace.error_origin = error_origin(&trace.nodes);
    if let Some(origin) = trace.error_origin {
        trace.nodes[origin].error_origin = true;
    }
}

/// Self time as Jaeger computes it: the duration minus the union of the direct children's
/// intervals, each clipped to the span.
fn self_times(nodes: &mut [Node]) {
    for at in 0..nodes.len() {
        let (start, end) = nodes[at].interval();
        let mut covered = 0;
        // Children are sorted by start, so one pass merges their intervals.
        let mut run: Option<(u64, u64)> = None;
        for &c in &nodes[at].children {
            let (c_start, c_end) = nodes[c].interval();
            let (c_start, c_end) = (c_start.max(start), c_end.min(end));
            if c_end <= c_start {
                continue;
            }
            run = match run {
                Some((run_start, run_end)) if c_start <= run_end => {
                    Some((run_start, run_end.max(c_end)))
                }
                Some((run_start, run_end)) => {
                    covered += run_end - run_start;
                    Some((c_start, c_end))
                }
                None => Some((c_start, c_end)),
            };
        }
        if let Some((run_start, run_end)) = run {
            covered += run_end - run_start;
        }
        nodes[at].self_nanos = (end - start).saturating_sub(covered);
    }
}

/// The root the critical path starts from: a span without a parent rather than an orphan, then
/// the longest, then the earliest.
fn main_root(nodes: &[Node]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (at, node) in nodes.iter().enumerate() {
        if node.parent.is_some() {
            continue;
        }
        let key = |n: &Node| (!n.orphan, n.span.duration_nanos());
        // Roots come by start time, so keeping the first of equals keeps the earliest.
        if best.is_none_or(|b| key(node) > key(&nodes[b])) {
            best = Some(at);
        }
    }
    best
}

/// The critical path of the tree under `root`, as Jaeger computes it: from the end of a span,
/// take the child that finished last before that point (children clipped to their parent,
/// children wholly outside it left out), follow the path into it, then continue in the parent
/// from that child's start; what no child covers is the parent's own time on the path.
///
/// One difference: Jaeger takes only a child that ended strictly before the point, so of two
/// children back to back (one ends the nanosecond the next starts) it skips the first; here a
/// child ending exactly at the point counts.
///
/// Written with an explicit stack: a trace from the network may be any number of levels deep.
fn critical_path(nodes: &mut [Node], root: usize) {
    let Some(subtree) = nodes.get(root..root + nodes[root].subtree_len) else {
        return;
    };
    // Clipped intervals of the root's subtree (tree order: a parent comes before its children),
    // `None` for a span wholly outside its (clipped) parent, and for everything below it.
    let mut clipped: Vec<Option<(u64, u64)>> = Vec::with_capacity(subtree.len());
    for node in subtree {
        let (start, end) = node.interval();
        let within = match node.parent {
            Some(p) if p >= root => clipped.get(p - root).copied().flatten(),
            _ => Some((start, end)),
        };
        clipped.push(within.and_then(|(p_start, p_end)| {
            (start <= p_end && end >= p_start).then(|| (start.max(p_start), end.min(p_end)))
        }));
    }
    let interval = |at: usize| clipped[at - root];

    struct Frame {
        node: usize,
        /// The point the walk goes back from in this span.
        until: u64,
        /// Children with a clipped interval, latest end first (then longest first).
        candidates: Vec<(usize, u64, u64)>,
        next: usize,
    }
    let frame = |node: usize, nodes: &[Node]| -> Option<Frame> {
        let (_, end) = interval(node)?;
        let mut candidates: Vec<_> = nodes[node]
            .children
            .iter()
            .filter_map(|&c| interval(c).map(|(s, e)| (c, s, e)))
            .collect();
        candidates.sort_by(|a, b| b.2.cmp(&a.2).then(a.1.cmp(&b.1)));
        Some(Frame {
            node,
            until: end,
            candidates,
            next: 0,
        })
    };

    let mut stack: Vec<Frame> = frame(root, nodes).into_iter().collect();
    while let Some(top) = stack.last_mut() {
        let node = top.node;
        nodes[node].on_critical_path = true;
        // The point only moves back, so a child skipped once (ends after it, or is an empty
        // interval at it) is never taken later: one pass over the candidates per span.
        let until = top.until;
        let mut next_child = None;
        while let Some(&(child, start, end)) = top.candidates.get(top.next) {
            top.next += 1;
            if end <= until && start < until {
                next_child = Some((child, start, end));
                break;
            }
        }
        match next_child {
            Some((child, start, end)) => {
                nodes[node].critical_nanos += until - end;
                top.until = start;
                if let Some(child_frame) = frame(child, nodes) {
                    stack.push(child_frame);
                }
            }
            None => {
                let start = interval(node).map_or(until, |(start, _)| start);
                nodes[node].critical_nanos += until.saturating_sub(start);
                stack.pop();
            }
        }
    }
}

/// The critical-path span with the largest self time; of equals, the deepest, then the first in
/// tree order. `None` for a trace of one span: there is nothing to point at.
fn root_cause(nodes: &[Node]) -> Option<usize> {
    if nodes.len() < 2 {
        return None;
    }
    let mut best: Option<usize> = None;
    for (at, node) in nodes.iter().enumerate() {
        if !node.on_critical_path {
            continue;
        }
        let key = |n: &Node| (n.self_nanos, n.depth);
        if best.is_none_or(|b| key(node) > key(&nodes[b])) {
            best = Some(at);
        }
    }
    best
}

/// The `slow` mark: the root cause's parent, the call that waited on it, when it is on the
/// critical path, is not a root itself (a root always holds the whole latency) and lasts at
/// least half of the trace. A CLIENT span whose only child is the root cause is the caller's
/// half of the same call, not a step of its own: the mark goes to the span that made the call.
fn slow(nodes: &[Node], cause: usize, total: u64) -> Option<usize> {
    let mut parent = nodes[cause].parent?;
    if call_answered_by(nodes, parent) == Some(cause) {
        parent = nodes[parent].parent?;
    }
    let node = &nodes[parent];
    let holds_half = u128::from(node.span.duration_nanos()) * 2 >= u128::from(total);
    (node.on_critical_path && node.parent.is_some() && holds_half).then_some(parent)
}

/// Where the error started: among the error spans none of whose children has an error status,
/// the one that ended first (an error travels up to the callers, which end later); of equals,
/// the deepest, then the first in tree order.
fn error_origin(nodes: &[Node]) -> Option<usize> {
    let failed = |n: &Node| matches!(n.span.status, Status::Error { .. });
    let mut best: Option<usize> = None;
    for (at, node) in nodes.iter().enumerate() {
        if !failed(node) || node.children.iter().any(|&c| failed(&nodes[c])) {
            continue;
        }
        let key = |n: &Node| (std::cmp::Reverse(n.span.end_unix_nanos), n.depth);
        if best.is_none_or(|b| key(node) > key(&nodes[b])) {
            best = Some(at);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::TextOptions;
    use super::super::test_spans::{BASE, MS, checkout, span};
    use super::super::{Warning, assemble};
    use super::*;
    use crate::context::{SpanContext, TraceFlags};
    use crate::id::{SpanId, TraceId};
    use crate::span::{SpanData, SpanKind};

    fn one(spans: Vec<SpanData>) -> Trace {
        let mut traces = assemble(spans);
        assert_eq!(traces.len(), 1);
        traces.remove(0)
    }

    fn node(trace: &Trace, id: u64) -> &Node {
        trace.find(SpanId::from_u64(id).unwrap()).unwrap()
    }

    /// (critical-path ms, self ms) of each span id.
    fn times(trace: &Trace, ids: &[u64]) -> Vec<(u64, u64)> {
        ids.iter()
            .map(|&id| {
                let n = node(trace, id);
                (n.critical_path_nanos() / MS, n.self_nanos() / MS)
            })
            .collect()
    }

    #[test]
    fn checkout_critical_path_root_cause_and_slow() {
        let trace = one(checkout());
        assert_eq!(trace.duration_nanos(), 812 * MS);
        assert!(trace.spans().iter().all(Node::is_on_critical_path));
        assert_eq!(
            times(&trace, &[1, 2, 3, 4, 5, 6, 7]),
            [
                (6, 6),
                (8, 8),
                (6, 6),
                (12, 12),
                (14, 14),
                (748, 748),
                (18, 18)
            ]
        );
        let cause = trace.root_cause().unwrap();
        assert_eq!(cause.span().name, "POST /charges");
        let slow: Vec<_> = trace.spans().iter().filter(|n| n.is_slow()).collect();
        assert_eq!(slow.len(), 1);
        assert_eq!(slow[0].span().name, "chargeCard");
        assert!((cause.critical_path_share() - 748.0 / 812.0).abs() < 1e-12);
        assert!(trace.warnings().is_empty());
    }

    #[test]
    fn sequential_children_are_all_on_the_path() {
        // Back to back: b starts the nanosecond a ends.
        let trace = one(vec![
            span("s", "root", 1, None, 0, 100),
            span("s", "a", 2, Some(1), 10, 40),
            span("s", "b", 3, Some(1), 40, 90),
        ]);
        assert_eq!(times(&trace, &[1, 2, 3]), [(20, 20), (30, 30), (50, 50)]);
        assert!(trace.spans().iter().all(Node::is_on_critical_path));
        assert_eq!(trace.root_cause().unwrap().span().name, "b");
    }

    #[test]
    fn of_concurrent_children_the_last_to_finish_is_on_the_path() {
        let trace = one(vec![
            span("s", "root", 1, None, 0, 100),
            span("s", "fast", 2, Some(1), 10, 50),
            span("s", "slow", 3, Some(1), 10, 90),
            span("s", "overlapping", 4, Some(1), 20, 60),
        ]);
        assert_eq!(
            times(&trace, &[1, 2, 3, 4]),
            [(20, 20), (0, 40), (80, 80), (0, 40)]
        );
        assert!(!node(&trace, 2).is_on_critical_path());
        assert!(!node(&trace, 4).is_on_critical_path());
        assert_eq!(trace.root_cause().unwrap().span().name, "slow");
        // The root's self time: 100 minus the union [10, 90].
        assert_eq!(node(&trace, 1).self_nanos(), 20 * MS);
    }

    #[test]
    fn a_child_outliving_its_parent_is_clipped_and_flagged() {
        let trace = one(vec![
            span("s", "root", 1, None, 0, 100),
            span("s", "fire and forget", 2, Some(1), 50, 150),
        ]);
        // Clipped to [50, 100]: the child holds the end of the path, the root its start.
        assert_eq!(times(&trace, &[1, 2]), [(50, 50), (50, 100)]);
        assert_eq!(trace.duration_nanos(), 150 * MS);
        assert_eq!(node(&trace, 2).ends_after_parent_nanos(), 50 * MS);
        assert!(matches!(
            trace.warnings(),
            [Warning::OutsideParent { ends_after_nanos, starts_before_nanos: 0, .. }]
                if *ends_after_nanos == 50 * MS
        ));
    }

    #[test]
    fn clock_skew_is_flagged_never_moved() {
        let trace = one(vec![
            span("s", "root", 1, None, 100, 200),
            // Another host's clock is 30 ms behind.
            span("t", "skewed", 2, Some(1), 70, 150),
            // Wholly outside its parent: left off the path, kept in the tree.
            span("t", "far off", 3, Some(1), 300, 310),
        ]);
        let skewed = node(&trace, 2);
        assert_eq!(skewed.starts_before_parent_nanos(), 30 * MS);
        assert_eq!(skewed.span().start_unix_nanos, BASE + 70 * MS);
        assert_eq!(skewed.parent(), Some(0));
        assert_eq!(times(&trace, &[1, 2, 3]), [(50, 50), (50, 80), (0, 10)]);
        assert!(!node(&trace, 3).is_on_critical_path());
        assert_eq!(trace.warnings().len(), 2);
        assert_eq!(trace.start_unix_nanos(), BASE + 70 * MS);
    }

    #[test]
    fn orphans_are_roots_of_their_own_and_the_path_starts_at_the_real_root() {
        let trace = one(vec![
            span("s", "root", 1, None, 0, 100),
            span("s", "child", 2, Some(1), 10, 20),
            // Its parent (9) never arrived.
            span("t", "orphan", 3, Some(9), 30, 200),
            span("t", "orphan's child", 4, Some(3), 40, 50),
        ]);
        let roots: Vec<_> = trace.roots().map(|n| n.span().name.as_ref()).collect();
        assert_eq!(roots, ["root", "orphan"]);
        assert!(node(&trace, 3).is_orphan() && !node(&trace, 1).is_orphan());
        assert_eq!(node(&trace, 4).parent(), Some(2));
        assert!(!node(&trace, 3).is_on_critical_path());
        assert_eq!(times(&trace, &[1, 2]), [(90, 90), (10, 10)]);
        assert_eq!(trace.duration_nanos(), 200 * MS);
        assert_eq!(trace.root_cause().unwrap().span().name, "root");
    }

    #[test]
    fn without_a_real_root_the_longest_orphan_leads() {
        let trace = one(vec![
            span("s", "short", 1, Some(9), 0, 10),
            span("s", "long", 2, Some(9), 5, 100),
        ]);
        assert!(node(&trace, 2).is_on_critical_path());
        assert!(!node(&trace, 1).is_on_critical_path());
    }

    #[test]
    fn a_single_span_is_its_whole_path_and_no_root_cause() {
        let trace = one(vec![span("s", "alone", 1, None, 0, 5)]);
        let alone = &trace.spans()[0];
        assert_eq!(
            (alone.critical_path_nanos(), alone.self_nanos()),
            (5 * MS, 5 * MS)
        );
        assert_eq!(alone.critical_path_share(), 1.0);
        assert!(trace.root_cause().is_none() && trace.error_origin().is_none());
        // Zero length: still whole.
        let trace = one(vec![span("s", "instant", 1, None, 3, 3)]);
        assert_eq!(trace.spans()[0].critical_path_share(), 1.0);
    }

    #[test]
    fn duplicate_ids_keep_the_first() {
        let trace = one(vec![
            span("s", "root", 1, None, 0, 100),
            span("s", "first", 2, Some(1), 10, 20),
            span("s", "second", 2, Some(1), 30, 40),
        ]);
        assert_eq!(trace.spans().len(), 2);
        assert_eq!(node(&trace, 2).span().name, "first");
        assert_eq!(
            trace.warnings(),
            [Warning::DuplicateSpanId {
                span_id: SpanId::from_u64(2).unwrap(),
                dropped_name: "second".into(),
            }]
        );
    }

    #[test]
    fn parent_cycles_are_broken_without_losing_spans() {
        let trace = one(vec![
            span("s", "a", 1, Some(2), 10, 20),
            span("s", "b", 2, Some(1), 0, 30),
            span("s", "below", 3, Some(1), 12, 15),
            span("s", "self", 4, Some(4), 50, 60),
        ]);
        assert_eq!(trace.spans().len(), 4);
        let roots: Vec<_> = trace.roots().map(|n| n.span().name.as_ref()).collect();
        assert_eq!(roots, ["b", "self"]);
        assert_eq!(
            trace
                .warnings()
                .iter()
                .filter(|w| matches!(w, Warning::ParentCycle { .. }))
                .count(),
            2
        );
    }

    #[test]
    fn the_error_origin_is_the_first_failed_span_without_failed_children() {
        let mut spans = checkout();
        let fail = |s: &mut SpanData, message: &'static str| {
            s.status = Status::Error {
                message: message.into(),
            }
        };
        fail(&mut spans[0], "card declined"); // stripe, ends at 782
        fail(&mut spans[1], "charge failed"); // payment, parent of stripe
        fail(&mut spans[3], "token expired"); // auth, ends at 10: earlier
        let trace = one(spans);
        assert_eq!(trace.error_origin().unwrap().span().name, "validateToken");
        let mut spans = checkout();
        fail(&mut spans[0], "card declined");
        fail(&mut spans[1], "charge failed");
        let trace = one(spans);
        assert_eq!(trace.error_origin().unwrap().span().name, "POST /charges");
        assert!(node(&trace, 6).is_error_origin() && !node(&trace, 5).is_error_origin());
    }

    #[test]
    fn deep_chains_do_not_overflow_the_stack() {
        let spans: Vec<_> = (1..=100_000u64)
            .map(|i| span("s", "level", i, (i > 1).then(|| i - 1), i, 300_000 - i))
            .collect();
        let trace = one(spans);
        assert_eq!(trace.spans()[99_999].depth(), 99_999);
        assert!(trace.spans().iter().all(Node::is_on_critical_path));
        assert!(trace.root_cause().is_some());
    }

    #[test]
    fn traces_are_split_and_sorted_by_start() {
        let mut other = span("s", "other", 1, None, 0, 10);
        other.span_context = SpanContext::new(
            TraceId::from_u128(7).unwrap(),
            SpanId::from_u64(1).unwrap(),
            TraceFlags::SAMPLED,
        );
        let mut spans = checkout();
        for s in &mut spans {
            s.start_unix_nanos += MS;
            s.end_unix_nanos += MS;
        }
        spans.insert(3, other);
        let traces = assemble(spans);
        assert_eq!(traces.len(), 2);
        assert_eq!(traces[0].spans()[0].span().name, "other");
        assert_eq!(traces[1].spans().len(), 7);
        // Children by start time.
        let root = &traces[1].spans()[0];
        let names: Vec<_> = root
            .children()
            .iter()
            .map(|&c| traces[1].spans()[c].span().name.as_ref())
            .collect();
        assert_eq!(names, ["validateToken", "createOrder", "sendEmail"]);
    }

    proptest! {
        /// Any spans at all (duplicate ids, cycles, ends before starts, extreme times) are
        /// assembled, analysed, drawn and written without a panic, and none is lost.
        #[test]
        fn any_spans_are_assembled_and_drawn(
            spans in proptest::collection::vec(
                (1u64..24, proptest::option::of(1u64..24), any::<u64>(), any::<u64>(), any::<bool>()),
                1..60,
            ),
            collapse_after in 0usize..4,
            max_depth in proptest::option::of(0usize..4),
            fold_calls in any::<bool>(),
        ) {
            let distinct: std::collections::HashSet<u64> = spans.iter().map(|s| s.0).collect();
            let spans: Vec<SpanData> = spans
                .into_iter()
                .map(|(id, parent, start, end, failed)| {
                    let mut s = span("s", "x", id, parent, 0, 0);
                    // Client and server spans in turn, so that calls are folded too.
                    s.kind = [SpanKind::Client, SpanKind::Server][id as usize % 2];
                    s.start_unix_nanos = start;
                    s.end_unix_nanos = end;
                    if failed {
                        s.status = Status::Error { message: "no".into() };
                    }
                    s
                })
                .collect();
            let trace = one(spans);
            prop_assert_eq!(trace.spans().len(), distinct.len());
            for node in trace.spans() {
                prop_assert!(node.critical_path_nanos() <= node.span().duration_nanos());
                prop_assert!(node.self_nanos() <= node.span().duration_nanos());
            }
            let options = TextOptions { color: true, max_depth, collapse_after, fold_calls };
            let _ = trace.render(&options);
            let _ = trace.to_json().to_string();
        }
    }
}
