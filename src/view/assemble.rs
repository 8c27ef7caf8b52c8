//! From finished spans of any services to [`Trace`]s: grouped by trace id, linked by parent span
//! id, checked for duplicates, orphans, cycles and spans outside their parent.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::critical_path;
use super::trace::{Node, Trace, Warning};
use crate::id::{SpanId, TraceId};
use crate::span::SpanData;

/// Groups spans into traces and each trace into a tree, and finds its critical path, self
/// times, root cause and error origin.
///
/// Spans may come from any number of services, in any order. Within a trace:
///
/// - a span is placed under the span whose id is its parent span id; one whose parent never
///   arrived is kept as a root of its own, marked [orphan](super::Node::is_orphan);
/// - a span with the id of an earlier one is dropped, with a
///   [`Warning::DuplicateSpanId`];
/// - a span starting before its parent or ending after it stays where its timestamps put it,
///   with a [`Warning::OutsideParent`];
/// - parent links that go round in a circle are broken at the earliest span of the circle, with
///   a [`Warning::ParentCycle`];
/// - children are sorted by start time (spans starting together keep their arrival order).
///
/// Traces are returned by start time.
///
/// # Example
///
/// ```
/// use tracewire::view;
///
/// let lines = r#"{"service":"db","name":"SELECT","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b8","parentSpanId":"00f067aa0ba902b7","startTimeUnixNano":2000,"endTimeUnixNano":9000}
/// {"service":"api","name":"GET /","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","startTimeUnixNano":0,"endTimeUnixNano":10000}"#;
/// let traces = view::assemble(view::read_spans(lines).spans);
/// let names: Vec<_> = traces[0].spans().iter().map(|n| n.span().name.as_ref()).collect();
/// assert_eq!(names, ["GET /", "SELECT"]);
/// ```
pub fn assemble(spans: impl IntoIterator<Item = SpanData>) -> Vec<Trace> {
    // Traces in order of first appearance, so equal start times sort the same way every run.
    let mut by_trace: HashMap<TraceId, usize> = HashMap::new();
    let mut groups: Vec<Vec<SpanData>> = Vec::new();
    for span in spans {
        match by_trace.entry(span.span_context.trace_id()) {
            Entry::Occupied(at) => groups[*at.get()].push(span),
            Entry::Vacant(slot) => {
                slot.insert(groups.len());
                groups.push(vec![span]);
            }
        }
    }
    let mut traces: Vec<Trace> = groups.into_iter().map(build).collect();
    traces.sort_by_key(|t| (t.start, t.trace_id));
    traces
}

/// One trace from its spans (at least one, all of the same trace id).
fn build(spans: Vec<SpanData>) -> Trace {
    let trace_id = spans[0].span_context.trace_id();
    let mut warnings = Vec::new();

    // Duplicates: the first span with an id is kept.
    let mut index: HashMap<SpanId, usize> = HashMap::with_capacity(spans.len());
    let mut kept: Vec<SpanData> = Vec::with_capacity(spans.len());
    for span in spans {
        let id = span.span_context.span_id();
        match index.entry(id) {
            Entry::Occupied(_) => warnings.push(Warning::DuplicateSpanId {
                span_id: id,
                dropped_name: span.name.to_string(),
            }),
            Entry::Vacant(slot) => {
                slot.insert(kept.len());
                kept.push(span);
            }
        }
    }

    // Links, in arrival indices. A span naming itself as parent is a cycle of one.
    let count = kept.len();
    let mut parent: Vec<Option<usize>> = kept
        .iter()
        .map(|s| s.parent_span_id.and_then(|p| index.get(&p).copied()))
        .collect();
    let mut orphan: Vec<bool> = kept
        .iter()
        .zip(&parent)
        .map(|(s, p)| s.parent_span_id.is_some() && p.is_none())
        .collect();
    let by_start = |a: &usize, b: &usize| kept[*a].start_unix_nanos.cmp(&kept[*b].start_unix_nanos);
    let children_of = |parent: &[Option<usize>]| {
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); count];
        for (child, p) in parent.iter().enumerate() {
            if let Some(p) = p {
                children[*p].push(child);
            }
        }
        // Stable: spans starting together keep their arrival order.
        for list in &mut children {
            list.sort_by(by_start);
        }
        children
    };
    let mut children = children_of(&parent);

    // Every span not reachable from a root is in (or under) a cycle: break each cycle at its
    // earliest span, which becomes an orphan root.
    let mut reached = vec![false; count];
    let mut stack: Vec<usize> = (0..count).filter(|&i| parent[i].is_none()).collect();
    mark_reached(&mut stack, &children, &mut reached);
    if reached.iter().any(|r| !r) {
        let mut unreached: Vec<usize> = (0..count).filter(|&i| !reached[i]).collect();
        unreached.sort_by(by_start);
        let mut walked = vec![usize::MAX; count];
        for i in unreached {
            if reached[i] {
                continue;
            }
            // Walk up to the cycle itself (i may hang below it), then cut at its earliest span.
            let cycle = cycle_above(i, &parent, &mut walked);
            let Some(&cut) = cycle.iter().min_by(|a, b| by_start(a, b)) else {
                continue;
            };
            parent[cut] = None;
            orphan[cut] = true;
            warnings.push(Warning::ParentCycle {
                span_id: kept[cut].span_context.span_id(),
            });
            stack.push(cut);
            mark_reached(&mut stack, &children, &mut reached);
        }
        children = children_of(&parent);
    }

    // Tree order: roots by start, then depth first.
    let mut roots: Vec<usize> = (0..count).filter(|&i| parent[i].is_none()).collect();
    roots.sort_by(by_start);
    let mut order: Vec<(usize, usize)> = Vec::with_capacity(count); // (arrival index, depth)
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&r| (r, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        order.push((i, depth));
        stack.extend(children[i].iter().rev().map(|&c| (c, depth + 1)));
    }

    let mut position = vec![0usize; count];
    for (at, (i, _)) in order.iter().enumerate() {
        position[*i] = at;
    }
    let mut slots: Vec<Option<SpanData>> = kept.into_iter().map(Some).collect();
    let mut nodes: Vec<Node> = Vec::with_capacity(count);
    for &(i, depth) in &order {
        let Some(span) = slots[i].take() else {
            continue;
        };
        let mut node = Node::new(span);
        node.depth = depth;
        node.parent = parent[i].map(|p| position[p]);
        node.children = children[i].iter().map(|&c| position[c]).collect();
        node.orphan = orphan[i];
        nodes.push(node);
    }
    // Subtree sizes, children before parents (they come later in tree order).
    for at in (0..nodes.len()).rev() {
        let size = 1 + nodes[at]
            .children
            .iter()
            .map(|&c| nodes[c].subtree_len)
            .sum::<usize>();
        nodes[at].subtree_len = size;
    }
    outside_parent(&mut nodes, &mut warnings);

    let start = nodes.iter().map(|n| n.interval().0).min().unwrap_or(0);
    let end = nodes.iter().map(|n| n.interval().1).max().unwrap_or(0);
    let mut trace = Trace {
        trace_id,
        nodes,
        start,
        end,
        warnings,
        root_cause: None,
        error_origin: None,
    };
    critical_path::analyse(&mut trace);
    trace
}

fn mark_reached(stack: &mut Vec<usize>, children: &[Vec<usize>], reached: &mut [bool]) {
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut reached[i], true) {
            stack.extend(&children[i]);
        }
    }
}

/// The spans of the cycle that `start` is in or hangs below. `walked` marks, per span, the walk
/// that passed it (by its starting span), so that the walks of a whole trace stay linear: every
/// span they pass is reached once its cycle is cut, and never walked again.
fn cycle_above(start: usize, parent: &[Option<usize>], walked: &mut [usize]) -> Vec<usize> {
    let mut at = start;
    // Walk up until a span repeats: that span is on the cycle.
    loop {
        if std::mem::replace(&mut walked[at], start) == start {
            break;
        }
        match parent[at] {
            Some(p) => at = p,
            // Not a cycle after all (cannot happen for an unreached span).
            None => return vec![at],
        }
    }
    let mut cycle = vec![at];
    let mut next = parent[at];
    while let Some(p) = next {
        if p == at || cycle.len() > parent.len() {
            break;
        }
        cycle.push(p);
        next = parent[p];
    }
    cycle
}

/// Flags spans that start before or end after their parent.
fn outside_parent(nodes: &mut [Node], warnings: &mut Vec<Warning>) {
    for at in 0..nodes.len() {
        let Some(p) = nodes[at].parent else {
            continue;
        };
        let (start, end) = nodes[at].interval();
        let (parent_start, parent_end) = nodes[p].interval();
        let before = parent_start.saturating_sub(start);
        let after = end.saturating_sub(parent_end);
        if before > 0 || after > 0 {
            let parent_span_id = nodes[p].span_id();
            let node = &mut nodes[at];
            node.starts_before_parent = before;
            node.ends_after_parent = after;
            warnings.push(Warning::OutsideParent {
                span_id: node.span_id(),
                parent_span_id,
                starts_before_nanos: before,
                ends_after_nanos: after,
            });
        }
    }
}
