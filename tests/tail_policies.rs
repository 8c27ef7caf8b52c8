//! Tail-sampling policies through the sink: and/or/not, the threshold each kind of decision
//! writes into `ot=th`, shutdown's two ways with pending traces, local roots, the span limit
//! and the decision wait.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracewire::sampling::ConsistentProbability;
use tracewire::sink::tail::{OnShutdown, Policy, TailConfig, TailPolicy, TailSink};
use tracewire::sink::{MemorySink, SinkError, SpanSink};
use tracewire::span::{InstrumentationScope, KeyValue, Resource, SpanData, SpanKind, Status};
use tracewire::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

const MS: u64 = 1_000_000;
const BASE: u64 = 1_700_000_000_000 * MS;

/// What a synthetic trace is like.
#[derive(Clone, Copy, Debug)]
struct Shape {
    route: &'static str,
    slow: bool,
    error: bool,
}

/// A trace of `shape`: a child, then the root (as they end), with `state` as their trace
/// state; `n` makes the trace id (its right-most 7 bytes, the randomness, spread over 2^56).
fn trace(n: u64, shape: Shape, state: &str) -> Vec<SpanData> {
    let id = TraceId::from_u128(
        ((n as u128) << 64) | (n.wrapping_mul(0x9e37_79b9_7f4a_7c15) as u128) | 1,
    )
    .unwrap();
    let state: TraceState = state.parse().unwrap();
    let length = if shape.slow { 900 * MS } else { 40 * MS };
    let mut child = span(id, 2, Some(1), "db.query", BASE + MS, length / 2, &state);
    if shape.error {
        child.status = Status::Error {
            message: "constraint violated".into(),
        };
    }
    let mut root = span(id, 1, None, "POST", BASE, length, &state);
    root.attributes
        .push(KeyValue::new("http.route", shape.route));
    vec![child, root]
}

fn span(
    trace: TraceId,
    id: u64,
    parent: Option<u64>,
    name: &'static str,
    start: u64,
    duration: u64,
    state: &TraceState,
) -> SpanData {
    SpanData {
        name: name.into(),
        kind: SpanKind::Internal,
        span_context: SpanContext::new(trace, SpanId::from_u64(id).unwrap(), TraceFlags::RANDOM)
            .with_state(state.clone()),
        parent_span_id: parent.map(|p| SpanId::from_u64(p).unwrap()),
        parent_is_remote: false,
        start_unix_nanos: start,
        end_unix_nanos: start + duration,
        attributes: Vec::new(),
        dropped_attributes: 0,
        events: Vec::new(),
        dropped_events: 0,
        links: Vec::new(),
        dropped_links: 0,
        status: Status::Unset,
        resource: Arc::new(Resource::new([KeyValue::new("service.name", "shop")])),
        scope: Arc::new(InstrumentationScope::default()),
    }
}

/// Every combination of route, slowness and failure, 8 of each.
fn shapes() -> Vec<Shape> {
    let mut all = Vec::new();
    for route in ["/checkout", "/cart", "/health"] {
        for slow in [false, true] {
            for error in [false, true] {
                for _ in 0..8 {
                    all.push(Shape { route, slow, error });
                }
            }
        }
    }
    all
}

/// Runs `shapes` through a sink with `policy`; the numbers of the traces kept, and their
/// spans.
fn run(policy: TailPolicy, shapes: &[Shape], state: &str) -> (BTreeSet<u64>, Vec<SpanData>) {
    let inner = MemorySink::new();
    let sink = TailSink::new(inner.clone(), policy);
    let mut ids = Vec::new();
    for (n, shape) in shapes.iter().enumerate() {
        let spans = trace(n as u64 + 1, *shape, state);
        ids.push(spans[0].span_context.trace_id());
        for span in spans {
            sink.on_end(span);
        }
    }
    sink.shutdown(Duration::from_secs(10)).unwrap();
    assert!(sink.tail_stats().balances());
    let spans = inner.spans();
    let kept = spans
        .iter()
        .map(|s| {
            ids.iter()
                .position(|id| *id == s.span_context.trace_id())
                .unwrap() as u64
        })
        .collect();
    (kept, spans)
}

fn expect(shapes: &[Shape], keep: impl Fn(&Shape) -> bool) -> BTreeSet<u64> {
    (0..shapes.len() as u64)
        .filter(|n| keep(&shapes[*n as usize]))
        .collect()
}

fn only(name: &'static str, policy: impl Into<Policy>) -> TailPolicy {
    TailPolicy::new().rule(name, policy)
}

fn route(route: &'static str) -> Policy {
    Policy::attribute("http.route").equals(route).into()
}

/// Which shapes a policy should keep.
type Keeps = Box<dyn Fn(&Shape) -> bool>;

#[test]
fn and_or_not() {
    let shapes = shapes();
    let slow = || Policy::latency(Duration::from_millis(500));
    let cases: Vec<(TailPolicy, Keeps)> = vec![
        (
            only("slow checkouts", route("/checkout").and(slow())),
            Box::new(|s| s.route == "/checkout" && s.slow),
        ),
        (
            only(
                "checkouts or errors",
                route("/checkout").or(Policy::errors()),
            ),
            Box::new(|s| s.route == "/checkout" || s.error),
        ),
        (
            only("not checkouts", Policy::not(route("/checkout"))),
            Box::new(|s| s.route != "/checkout"),
        ),
        (
            only(
                "errors but not health",
                Policy::errors()
                    .into_policy()
                    .and(Policy::not(route("/health"))),
            ),
            Box::new(|s| s.error && s.route != "/health"),
        ),
        (
            only(
                "neither slow nor failed",
                Policy::not(Policy::any([slow(), Policy::errors().into()])),
            ),
            Box::new(|s| !s.slow && !s.error),
        ),
        (
            only(
                "all three",
                Policy::all([route("/cart"), slow(), Policy::errors().into()]),
            ),
            Box::new(|s| s.route == "/cart" && s.slow && s.error),
        ),
    ];
    for (policy, keep) in cases {
        let name = policy.rule_names().next().unwrap().to_owned();
        let (kept, _) = run(policy, &shapes, "");
        assert_eq!(kept, expect(&shapes, keep), "{name}");
    }
}

/// The `ot` entry kept spans carry, for each kind of decision.
#[test]
fn thresholds_say_how_each_trace_was_kept() {
    let shapes = shapes();
    let t = |p: f64| ConsistentProbability::new(p).threshold().unwrap();
    // The randomness `R` of trace n, as the sink reads it (no rv here: the trace id).
    let r = |n: u64| {
        let spans = trace(n + 1, shapes[n as usize], "");
        spans[0].span_context.trace_id().to_u128() as u64 & ((1 << 56) - 1)
    };
    let ots = |spans: &[SpanData]| -> BTreeSet<Option<String>> {
        spans
            .iter()
            .map(|s| s.span_context.state().get("ot").map(str::to_owned))
            .collect()
    };

    // Certain: th:0, replacing what the head wrote.
    let (_, spans) = run(only("errors", Policy::errors()), &shapes, "ot=th:8,x=1");
    assert_eq!(ots(&spans), BTreeSet::from([Some("th:0".into())]));
    assert!(
        spans
            .iter()
            .all(|s| s.span_context.state().get("x") == Some("1"))
    );

    // Errors, at 25%: the errors whose randomness passes 25%'s threshold, each at th:c.
    let (kept, spans) = run(
        only(
            "some errors",
            Policy::errors()
                .into_policy()
                .and(Policy::probabilistic(0.25)),
        ),
        &shapes,
        "",
    );
    assert_eq!(
        kept,
        expect(&shapes, |_| true)
            .into_iter()
            .filter(|n| shapes[*n as usize].error && r(*n) >= t(0.25))
            .collect()
    );
    assert!(!kept.is_empty());
    assert_eq!(ots(&spans), BTreeSet::from([Some("th:c".into())]));

    // Either of two probabilities: the larger (the smaller threshold).
    let (kept, spans) = run(
        only(
            "half",
            Policy::probabilistic(0.25).or(Policy::probabilistic(0.5)),
        ),
        &shapes,
        "",
    );
    assert_eq!(
        kept,
        (0..shapes.len() as u64)
            .filter(|n| r(*n) >= t(0.5))
            .collect()
    );
    assert_eq!(ots(&spans), BTreeSet::from([Some("th:8".into())]));

    // Unknown probabilities erase the threshold, and keep `rv` and the rest.
    let state = "ot=th:8;rv:ffffffffffffff,x=1";
    for policy in [
        Policy::rate_limit(1_000.0),
        Policy::not(Policy::probabilistic(0.5)).or(Policy::rate_limit(1_000.0)),
        Policy::trace_id_ratio(1.0),
    ] {
        let (kept, spans) = run(only("unknown", policy.clone()), &shapes, state);
        assert_eq!(kept.len(), shapes.len(), "{policy:?}");
        assert_eq!(
            ots(&spans),
            BTreeSet::from([Some("rv:ffffffffffffff".into())]),
            "{policy:?}"
        );
    }
    // A rate limit ahead of a probability makes that probability's keeps unknown too.
    let (_, spans) = run(
        TailPolicy::new()
            .rule("limit", Policy::rate_limit(0.0))
            .rule("half", Policy::probabilistic(0.5)),
        &shapes,
        "",
    );
    assert!(!spans.is_empty());
    assert_eq!(ots(&spans), BTreeSet::from([None]));
    // An error among them is certain whatever else is there.
    let (_, spans) = run(
        TailPolicy::new()
            .rule("limit", Policy::rate_limit(0.0))
            .rule("errors", Policy::errors()),
        &shapes,
        "",
    );
    assert_eq!(ots(&spans), BTreeSet::from([Some("th:0".into())]));
}

/// A trace whose root never ended, at shutdown: decided on what arrived, or dropped; and a
/// deadline that passed drops the rest and says so.
#[test]
fn shutdown_decides_or_drops_pending_traces_and_says_which() {
    let slow = Shape {
        route: "/cart",
        slow: true,
        error: false,
    };
    for on_shutdown in [OnShutdown::DecidePartial, OnShutdown::DropPending] {
        let inner = MemorySink::new();
        let config = TailConfig {
            on_shutdown,
            ..TailConfig::default()
        };
        let policy = only(
            "slow",
            Policy::span_latency(Duration::from_millis(300))
                .or(Policy::latency(Duration::from_millis(500))),
        );
        let sink = TailSink::with_config(inner.clone(), policy, config);
        // Children only: 450 ms each, under the span threshold, and the trace so far too.
        for n in 1..=3 {
            let mut spans = trace(n, slow, "");
            spans.truncate(1);
            spans[0].end_unix_nanos = spans[0].start_unix_nanos + 250 * MS;
            sink.on_end(spans.remove(0));
        }
        // This one's child is 600 ms: over the latency threshold, kept at once.
        let mut spans = trace(4, slow, "");
        spans.truncate(1);
        spans[0].end_unix_nanos = spans[0].start_unix_nanos + 600 * MS;
        sink.on_end(spans.remove(0));
        sink.force_flush(Duration::from_secs(10)).unwrap();
        assert_eq!(sink.tail_stats().buffered_traces, 3);
        assert_eq!(inner.spans().len(), 1);

        assert_eq!(sink.shutdown(Duration::from_secs(10)), Ok(()));
        let report = sink.shutdown_report().unwrap();
        assert_eq!(report.on_shutdown, on_shutdown);
        assert_eq!(report.pending_traces, 3);
        assert!(!report.deadline_passed && report.inner.is_ok());
        match on_shutdown {
            OnShutdown::DecidePartial => {
                assert_eq!(
                    (report.decided, report.kept, report.dropped_undecided),
                    (3, 0, 0)
                );
            }
            OnShutdown::DropPending => {
                assert_eq!(
                    (
                        report.decided,
                        report.dropped_undecided,
                        report.dropped_spans
                    ),
                    (0, 3, 3)
                );
            }
        }
        let stats = sink.tail_stats();
        assert!(stats.balances() && stats.in_flight == 0, "{stats:#?}");
        // In the shape every sink reports: kept spans exported, nothing pending, the rest
        // dropped by decisions.
        let shared = SpanSink::stats(&sink);
        assert_eq!(
            (shared.queued, shared.exported, shared.pending()),
            (4, 1, 0)
        );
        assert_eq!(shared.dropped_unsent, stats.dropped);
        assert_eq!(
            sink.shutdown(Duration::from_secs(1)),
            Err(SinkError::ShutDown)
        );
    }

    // A deadline already passed: the pending traces are dropped, and the error names them.
    let inner = MemorySink::new();
    let sink = TailSink::new(inner.clone(), only("errors", Policy::errors()));
    for n in 1..=5 {
        let mut spans = trace(n, slow, "");
        spans.truncate(1);
        sink.on_end(spans.remove(0));
    }
    sink.force_flush(Duration::from_secs(10)).unwrap();
    let result = sink.shutdown(Duration::ZERO);
    assert_eq!(
        result,
        Err(SinkError::ShutdownTimeout {
            after: Duration::ZERO,
            unsent: 5
        })
    );
    let report = sink.shutdown_report().unwrap();
    assert!(report.deadline_passed);
    assert_eq!(report.dropped_undecided, 5);
    let stats = sink.tail_stats();
    assert!(
        stats.balances() && stats.in_flight == 0 && stats.dropped == 5,
        "{stats:#?}"
    );
}

/// Two services sharing one sink: the callee's local root waits for the caller's spans, so
/// that a trace slow in the caller only is kept whole; with no wait, the callee decides alone.
#[test]
fn a_local_root_waits_for_its_callers_spans() {
    let state = TraceState::default();
    let id = TraceId::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def1).unwrap();
    // Callee: its server span (parent: the caller's client span 11) and a child, both quick.
    let mut callee_child = span(id, 21, Some(20), "db.query", BASE + 2 * MS, 5 * MS, &state);
    callee_child.kind = SpanKind::Client;
    let mut callee_root = span(id, 20, Some(11), "GET /stock", BASE + MS, 10 * MS, &state);
    callee_root.parent_is_remote = true;
    // Caller: its client span, then its root, slow after the call came back.
    let caller_client = span(id, 11, Some(10), "GET", BASE, 12 * MS, &state);
    let caller_root = span(id, 10, None, "POST /orders", BASE, 900 * MS, &state);
    let spans = [callee_child, callee_root, caller_client, caller_root];

    for (wait, whole) in [(Duration::from_secs(3_600), true), (Duration::ZERO, false)] {
        let inner = MemorySink::new();
        let config = TailConfig {
            remote_root_wait: wait,
            ..TailConfig::default()
        };
        let sink = TailSink::with_config(
            inner.clone(),
            only("slow", Policy::latency(Duration::from_millis(500))),
            config,
        );
        sink.on_end(spans[0].clone());
        sink.on_end(spans[1].clone());
        sink.force_flush(Duration::from_secs(10)).unwrap();
        // Waiting for the caller, or decided (dropped: quick) at once.
        assert_eq!(sink.tail_stats().buffered_traces, u64::from(whole));
        sink.on_end(spans[2].clone());
        sink.on_end(spans[3].clone());
        sink.force_flush(Duration::from_secs(10)).unwrap();
        let kept: Vec<u64> = inner
            .spans()
            .iter()
            .map(|s| s.span_context.span_id().to_u64())
            .collect();
        match whole {
            true => assert_eq!(kept, [21, 20, 11, 10]),
            // Decided on the callee's part: its quick spans dropped, the caller's followed.
            false => assert!(kept.is_empty(), "{kept:?}"),
        }
    }
}

#[test]
fn the_span_limit_evicts_all_but_the_root_and_an_error() {
    let inner = MemorySink::new();
    let config = TailConfig {
        max_spans_per_trace: 3,
        ..TailConfig::default()
    };
    let sink = TailSink::with_config(
        inner.clone(),
        TailPolicy::new()
            .rule("all", Policy::span_count_between(0, 100))
            .rule("errors", Policy::errors()),
        config,
    );
    let state = TraceState::default();
    let id = TraceId::from_u128(77).unwrap();
    for child in 2..=6 {
        sink.on_end(span(id, child, Some(1), "step", BASE, MS, &state));
    }
    sink.on_end(span(id, 1, None, "root", BASE, 10 * MS, &state));
    sink.force_flush(Duration::from_secs(10)).unwrap();
    let kept: Vec<u64> = inner
        .take()
        .iter()
        .map(|s| s.span_context.span_id().to_u64())
        .collect();
    assert_eq!(kept, [2, 3, 4, 1]);
    assert_eq!(sink.tail_stats().evicted_over_span_limit, 2);

    // Over the limit, an error still gets in, and keeps the trace at once.
    let config = TailConfig {
        max_spans_per_trace: 2,
        ..TailConfig::default()
    };
    let sink = TailSink::with_config(inner.clone(), only("errors", Policy::errors()), config);
    let id = TraceId::from_u128(78).unwrap();
    for child in 2..=4 {
        sink.on_end(span(id, child, Some(1), "step", BASE, MS, &state));
    }
    let mut failed = span(id, 5, Some(1), "step", BASE, MS, &state);
    failed.status = Status::Error {
        message: "no".into(),
    };
    sink.on_end(failed);
    sink.force_flush(Duration::from_secs(10)).unwrap();
    let kept: Vec<u64> = inner
        .take()
        .iter()
        .map(|s| s.span_context.span_id().to_u64())
        .collect();
    assert_eq!(kept, [2, 3, 5]);
    let stats = sink.tail_stats();
    assert_eq!(
        (stats.evicted_over_span_limit, stats.traces_kept_early),
        (1, 1)
    );
    assert!(stats.balances());
}

/// A trace whose root never comes is decided once `decision_wait` has passed since its first
/// span.
#[test]
fn a_trace_without_its_root_is_decided_after_the_wait() {
    let inner = MemorySink::new();
    let config = TailConfig {
        decision_wait: Duration::from_millis(30),
        ..TailConfig::default()
    };
    let sink = TailSink::with_config(
        inner.clone(),
        only("slow", Policy::latency(Duration::from_millis(500))),
        config,
    );
    let state = TraceState::default();
    let id = TraceId::from_u128(99).unwrap();
    sink.on_end(span(id, 2, Some(1), "step", BASE, 200 * MS, &state));
    sink.on_end(span(
        id,
        3,
        Some(1),
        "step",
        BASE + 500 * MS,
        200 * MS,
        &state,
    ));
    // Decided by the decider's own clock: wait (boundedly) for it.
    let give_up = Instant::now() + Duration::from_secs(10);
    while sink.tail_stats().traces_kept == 0 && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = sink.tail_stats();
    assert_eq!(
        (stats.traces_kept, stats.kept, stats.buffered_traces),
        (1, 2, 0)
    );
    assert_eq!(inner.spans().len(), 2);
}
