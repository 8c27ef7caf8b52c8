//! The tail sink on synthetic traces, fed straight into `SpanSink::on_end`: what it keeps
//! (errors, slow traces and exactly the head sampler's baseline), the thresholds and rule
//! names kept spans carry, late spans, the memory bounds under a flood, the accounting
//! identity, and replays.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tracewire::sampling::{Sampler, SamplingParams, ShouldSample};
use tracewire::sink::tail::{OnShutdown, Policy, TailConfig, TailPolicy, TailSink, TailStats};
use tracewire::sink::{MemorySink, SpanSink};
use tracewire::span::{
    InstrumentationScope, KeyValue, Resource, SpanData, SpanKind, Status, Value,
};
use tracewire::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// A seeded generator (SplitMix64), so every run sees the same traces.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn chance(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Plain,
    Error,
    Slow,
}

/// One synthetic trace: a server root and three children (they end first, so they arrive
/// first), 50 ms long, or 800 ms when slow; an error trace's database call fails.
struct Synthetic {
    id: TraceId,
    kind: Kind,
    spans: Vec<SpanData>,
}

const MS: u64 = 1_000_000;
const BASE: u64 = 1_700_000_000_000 * MS;

fn resource() -> Arc<Resource> {
    Arc::new(Resource::new([KeyValue::new("service.name", "shop")]))
}

#[allow(clippy::too_many_arguments)]
fn span(
    trace: TraceId,
    id: u64,
    parent: Option<u64>,
    name: &'static str,
    start: u64,
    duration: u64,
    flags: TraceFlags,
    state: &TraceState,
    resource: &Arc<Resource>,
) -> SpanData {
    SpanData {
        name: name.into(),
        kind: if parent.is_none() {
            SpanKind::Server
        } else {
            SpanKind::Client
        },
        span_context: SpanContext::new(trace, SpanId::from_u64(id).unwrap(), flags)
            .with_state(state.clone()),
        parent_span_id: parent.map(|p| SpanId::from_u64(p).unwrap()),
        parent_is_remote: false,
        start_unix_nanos: start,
        end_unix_nanos: start + duration,
        attributes: vec![KeyValue::new(
            "http.route",
            ["/cart", "/checkout", "/search"][(id % 3) as usize],
        )],
        dropped_attributes: 0,
        events: Vec::new(),
        dropped_events: 0,
        links: Vec::new(),
        dropped_links: 0,
        status: Status::Unset,
        resource: resource.clone(),
        scope: Arc::new(InstrumentationScope::default()),
    }
}

/// `count` traces, `error_share` of them failing and `slow_share` slow, sampled at the head
/// (flag and trace state) as `head` decides.
fn traces(count: usize, seed: u64, head: &Sampler) -> Vec<Synthetic> {
    let mut dice = Dice(seed);
    let resource = resource();
    (0..count)
        .map(|i| {
            let id = TraceId::from_u128(((dice.next() as u128) << 64) | dice.next() as u128 | 1)
                .unwrap();
            let roll = dice.chance();
            let kind = match roll {
                r if r < 0.03 => Kind::Error,
                r if r < 0.05 => Kind::Slow,
                _ => Kind::Plain,
            };
            let params = SamplingParams::new(None, id, "GET /cart", SpanKind::Server);
            let decided = head.should_sample(&params);
            let flags = TraceFlags::RANDOM.with_sampled(decided.decision.is_sampled());
            let state = decided.trace_state;
            let start = BASE + i as u64 * 6 * MS;
            let length = if kind == Kind::Slow {
                800 * MS
            } else {
                50 * MS
            };
            let root = dice.next() | 1;
            let mut spans: Vec<SpanData> = ["db.query", "cache.get", "GET /stock"]
                .iter()
                .enumerate()
                .map(|(n, name)| {
                    span(
                        id,
                        root + 1 + n as u64,
                        Some(root),
                        name,
                        start + MS,
                        length / 2,
                        flags,
                        &state,
                        &resource,
                    )
                })
                .collect();
            if kind == Kind::Error {
                spans[0].status = Status::Error {
                    message: "deadlock detected".into(),
                };
            }
            spans.push(span(
                id,
                root,
                None,
                "GET /cart",
                start,
                length,
                flags,
                &state,
                &resource,
            ));
            Synthetic { id, kind, spans }
        })
        .collect()
}

fn tail(inner: &MemorySink, policy: TailPolicy) -> TailSink {
    let config = TailConfig {
        decision_wait: Duration::from_secs(3_600),
        ..TailConfig::default()
    };
    TailSink::with_config(inner.clone(), policy, config)
}

/// Feeds the traces, 25 in flight at a time (their spans interleaved), flushing every so
/// often so that the queue never fills, and checking the identity after each flush.
fn feed(sink: &TailSink, traces: &[Synthetic]) {
    for (n, group) in traces.chunks(25).enumerate() {
        let longest = group.iter().map(|t| t.spans.len()).max().unwrap_or(0);
        for i in 0..longest {
            for trace in group {
                if let Some(span) = trace.spans.get(i) {
                    sink.on_end(span.clone());
                }
            }
        }
        if n % 20 == 19 {
            sink.force_flush(Duration::from_secs(10)).unwrap();
            let stats = sink.tail_stats();
            assert!(stats.balances(), "{stats:#?}");
        }
    }
    sink.force_flush(Duration::from_secs(10)).unwrap();
}

fn recipe(baseline: Policy) -> TailPolicy {
    TailPolicy::new()
        .rule("errors", Policy::errors())
        .rule("slow", Policy::latency(Duration::from_millis(500)))
        .rule("baseline", baseline)
}

fn kept_traces(spans: &[SpanData]) -> BTreeMap<TraceId, Vec<&SpanData>> {
    let mut by_trace: BTreeMap<TraceId, Vec<&SpanData>> = BTreeMap::new();
    for span in spans {
        by_trace
            .entry(span.span_context.trace_id())
            .or_default()
            .push(span);
    }
    by_trace
}

fn rule_of(span: &SpanData) -> &str {
    match span.attribute("sampling.rule") {
        Some(Value::String(rule)) => rule,
        other => panic!("no sampling.rule: {other:?}"),
    }
}

/// 10,000 traces, 3% failing and 2% slow: kept are exactly those and the baseline, which is
/// the set the head sampler picks on the same trace ids; each kept trace is whole, names the
/// rule that kept it, and carries the threshold that counts it.
fn keeps_errors_slow_and_the_head_samplers_set(
    baseline: Policy,
    head: Sampler,
    th_of_baseline: Option<&str>,
) {
    let probability_head = Sampler::always_off();
    let traces = traces(10_000, 18, &probability_head);
    let inner = MemorySink::new();
    let sink = tail(&inner, recipe(baseline));
    feed(&sink, &traces);

    let spans = inner.spans();
    let kept = kept_traces(&spans);
    let in_head_set = |id: TraceId| {
        let params = SamplingParams::new(None, id, "GET /cart", SpanKind::Server);
        head.should_sample(&params).decision.is_sampled()
    };
    let mut expected = BTreeSet::new();
    let (mut errors, mut slow, mut baseline_count, mut rest) = (0, 0, 0, 0);
    for trace in &traces {
        match trace.kind {
            Kind::Error => errors += 1,
            Kind::Slow => slow += 1,
            Kind::Plain => rest += 1,
        }
        if trace.kind != Kind::Plain || in_head_set(trace.id) {
            expected.insert(trace.id);
        }
        if trace.kind == Kind::Plain && in_head_set(trace.id) {
            baseline_count += 1;
        }
    }
    assert!(
        (250..=350).contains(&errors) && (150..=250).contains(&slow),
        "{errors} {slow}"
    );
    assert!(baseline_count > 300, "{baseline_count}");
    assert_eq!(kept.keys().copied().collect::<BTreeSet<_>>(), expected);

    for trace in &traces {
        let Some(spans) = kept.get(&trace.id) else {
            continue;
        };
        assert_eq!(spans.len(), 4, "{} kept whole", trace.id);
        let rule = match trace.kind {
            Kind::Error => "errors",
            Kind::Slow => "slow",
            Kind::Plain => "baseline",
        };
        for span in spans {
            assert!(span.span_context.flags().is_sampled());
            assert_eq!(rule_of(span), rule);
            let ot = span.span_context.state().get("ot");
            match trace.kind {
                Kind::Error | Kind::Slow => assert_eq!(ot, Some("th:0")),
                Kind::Plain => assert_eq!(ot, th_of_baseline),
            }
        }
    }

    let stats = sink.tail_stats();
    assert!(stats.balances(), "{stats:#?}");
    assert_eq!(stats.seen, 40_000);
    assert_eq!(stats.kept, spans.len() as u64);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.traces_kept, expected.len() as u64);
    assert_eq!(stats.traces_dropped, (10_000 - expected.len()) as u64);
    // Errors were kept on their failing span, before their root.
    assert_eq!(stats.traces_kept_early, errors);
    // Their later spans (the others and the root) followed the decision.
    assert_eq!(stats.late_spans, 3 * errors);
    let [e, s, b] = &stats.rules[..] else {
        panic!("{:?}", stats.rules)
    };
    assert_eq!((e.kept_traces, e.estimated_traces), (errors, errors as f64));
    assert_eq!((s.kept_traces, s.estimated_traces), (slow, slow as f64));
    assert_eq!(b.kept_traces, baseline_count);
    if th_of_baseline.is_some() {
        // The baseline's kept traces, counted 1/p each, estimate the traces of their kind.
        let share = b.estimated_traces / rest as f64;
        assert!(
            (0.85..=1.15).contains(&share),
            "{} of {rest}",
            b.estimated_traces
        );
        assert_eq!(b.unknown_probability_traces, 0);
    } else {
        assert_eq!(b.unknown_probability_traces, baseline_count);
    }
    assert_eq!(sink.shutdown(Duration::from_secs(10)), Ok(()));
}

#[test]
fn the_consistent_baseline_is_the_consistent_head_samplers_set() {
    let head = Sampler::consistent_probability(0.05);
    // The threshold the head writes for 5%: the tail writes the same.
    let id = TraceId::from_u128(u128::MAX).unwrap();
    let th = head
        .should_sample(&SamplingParams::new(None, id, "x", SpanKind::Server))
        .trace_state;
    let th = th.get("ot").map(str::to_owned);
    keeps_errors_slow_and_the_head_samplers_set(Policy::probabilistic(0.05), head, th.as_deref());
}

#[test]
fn the_ratio_baseline_is_the_ratio_head_samplers_set() {
    // `Sampler::ratio` is not the consistent scheme: the set is its own, and no threshold.
    keeps_errors_slow_and_the_head_samplers_set(
        Policy::trace_id_ratio(0.05),
        Sampler::ratio(0.05),
        None,
    );
}

/// The recipe: the head samples 5% and records the rest; the tail keeps the head's set as its
/// baseline, with the head's own threshold.
#[test]
fn keep_head_sampled_keeps_the_heads_set_with_its_threshold() {
    let head = Sampler::consistent_probability(0.05);
    let traces = traces(4_000, 7, &head);
    let inner = MemorySink::new();
    let sink = tail(&inner, recipe(Policy::keep_head_sampled()));
    feed(&sink, &traces);
    let spans = inner.spans();
    let kept = kept_traces(&spans);
    for trace in &traces {
        let head_sampled = trace.spans[0].span_context.flags().is_sampled();
        assert_eq!(
            kept.contains_key(&trace.id),
            head_sampled || trace.kind != Kind::Plain,
            "{}",
            trace.id
        );
        if let (Some(spans), Kind::Plain) = (kept.get(&trace.id), trace.kind) {
            for span in spans {
                assert_eq!(
                    span.span_context.state(),
                    trace.spans[0].span_context.state()
                );
                assert_eq!(rule_of(span), "baseline");
            }
        }
    }
    let baseline = &sink.tail_stats().rules[2];
    assert!(
        baseline.kept_traces > 100 && baseline.unknown_probability_traces == 0,
        "{baseline:?}"
    );
}

#[test]
fn late_spans_follow_their_traces_decision() {
    let traces = traces(600, 3, &Sampler::always_off());
    let inner = MemorySink::new();
    let sink = tail(&inner, recipe(Policy::probabilistic(0.1)));
    feed(&sink, &traces);
    let kept: BTreeSet<TraceId> = inner
        .spans()
        .iter()
        .map(|s| s.span_context.trace_id())
        .collect();
    let before = sink.tail_stats();
    inner.take();

    // A late span for each trace: work left running after the response.
    let resource = resource();
    for trace in &traces {
        let root = &trace.spans[3];
        let late = span(
            trace.id,
            root.span_context.span_id().to_u64() ^ 0xabc,
            Some(root.span_context.span_id().to_u64()),
            "send receipt",
            root.end_unix_nanos,
            5 * MS,
            root.span_context.flags(),
            root.span_context.state(),
            &resource,
        );
        sink.on_end(late);
    }
    sink.force_flush(Duration::from_secs(10)).unwrap();
    let late: Vec<SpanData> = inner.take();
    let late_traces: BTreeSet<TraceId> = late.iter().map(|s| s.span_context.trace_id()).collect();
    assert_eq!(late_traces, kept, "only kept traces' late spans come out");
    for span in &late {
        let original = traces
            .iter()
            .find(|t| t.id == span.span_context.trace_id())
            .unwrap();
        let rule = match original.kind {
            Kind::Error => "errors",
            Kind::Slow => "slow",
            Kind::Plain => "baseline",
        };
        assert_eq!(rule_of(span), rule);
        assert!(span.span_context.flags().is_sampled());
    }
    let after = sink.tail_stats();
    assert_eq!(after.late_spans - before.late_spans, 600);
    assert_eq!(after.kept - before.kept, kept.len() as u64);
    assert_eq!(after.dropped - before.dropped, (600 - kept.len()) as u64);
    assert!(after.balances());
}

/// The same spans in the same order give the same decisions, thresholds and counts, dynamic
/// rule included (its intervals are measured in the spans' timestamps).
#[test]
fn replaying_gives_the_same_decisions() {
    let traces = traces(6_000, 99, &Sampler::always_off());
    let run = || {
        let policy = TailPolicy::new()
            .rule("errors", Policy::errors())
            .rule(
                "by route",
                Policy::dynamic(["http.route"], 20.0).interval(Duration::from_secs(5)),
            )
            .rule("baseline", Policy::probabilistic(0.01));
        let inner = MemorySink::new();
        let sink = tail(&inner, policy);
        feed(&sink, &traces);
        let mut out: Vec<(TraceId, SpanId, String, String)> = inner
            .spans()
            .iter()
            .map(|s| {
                (
                    s.span_context.trace_id(),
                    s.span_context.span_id(),
                    rule_of(s).to_owned(),
                    s.span_context.state().to_string(),
                )
            })
            .collect();
        out.sort();
        let stats = sink.tail_stats();
        (out, stats.rules)
    };
    let (first, first_rules) = run();
    let (second, second_rules) = run();
    assert_eq!(first, second);
    assert_eq!(first_rules, second_rules);
    // The dynamic rule sampled down: it kept fewer than all the plain traces, and with
    // several thresholds as its rates moved.
    let by_route = &first_rules[1];
    assert!(
        by_route.kept_traces > 0 && by_route.kept_traces < 5_000,
        "{by_route:?}"
    );
    let thresholds: BTreeSet<&str> = first
        .iter()
        .filter(|(_, _, rule, _)| rule == "by route")
        .map(|(_, _, _, state)| state.as_str())
        .collect();
    assert!(thresholds.len() > 1, "{thresholds:?}");
}

/// A flood of traces that never complete (no root ever arrives): the byte bound holds at
/// every look, the overload valve opens and says so, and no error trace is evicted.
#[test]
fn a_flood_keeps_the_byte_bound_and_every_error() {
    let inner = MemorySink::new();
    let config = TailConfig {
        decision_wait: Duration::from_secs(3_600),
        max_bytes: 256 << 10,
        queue_size: 4_096,
        ..TailConfig::default()
    };
    let sink = TailSink::with_config(
        inner.clone(),
        TailPolicy::new()
            .rule("errors", Policy::errors())
            .rule("baseline", Policy::probabilistic(0.05)),
        config,
    );
    let mut dice = Dice(5);
    let resource = resource();
    let mut errors = BTreeSet::new();
    let mut valve_seen = false;
    let flags = TraceFlags::RANDOM;
    let state = TraceState::default();
    for i in 0..20_000u64 {
        let id =
            TraceId::from_u128(((dice.next() as u128) << 64) | dice.next() as u128 | 1).unwrap();
        let start = BASE + i * MS;
        // Two children of a root that never ends; in 3% the second fails.
        let failing = dice.chance() < 0.03;
        let mut second = span(
            id,
            3,
            Some(1),
            "db.query",
            start,
            MS,
            flags,
            &state,
            &resource,
        );
        if failing {
            second.status = Status::Error {
                message: "timeout".into(),
            };
            errors.insert(id);
        }
        sink.on_end(span(
            id,
            2,
            Some(1),
            "cache.get",
            start,
            MS,
            flags,
            &state,
            &resource,
        ));
        sink.on_end(second);
        if i % 500 == 499 {
            sink.force_flush(Duration::from_secs(10)).unwrap();
            let stats = sink.tail_stats();
            assert!(stats.buffered_bytes <= 256 << 10, "{stats:#?}");
            assert!(stats.balances(), "{stats:#?}");
            valve_seen |= stats.valve_open;
        }
    }
    let stats = sink.tail_stats();
    assert!(
        valve_seen && stats.valve_openings >= 1 && stats.valve_decided > 0,
        "{stats:#?}"
    );
    assert_eq!(stats.evicted_queue_full, 0);
    // Every error span reached the inner sink: error traces are decided on their first error
    // and never buffered, so never evicted; one the valve had dropped is kept from its error on.
    let failed: BTreeSet<TraceId> = inner
        .spans()
        .iter()
        .filter(|s| matches!(s.status, Status::Error { .. }))
        .map(|s| s.span_context.trace_id())
        .collect();
    assert_eq!(failed, errors);
    // The valve, not eviction, kept the bound: new traces were decided on arrival.
    assert_eq!(stats.traces_evicted, 0);
    sink.shutdown(Duration::from_secs(10)).unwrap();
    let report = sink.shutdown_report().unwrap();
    assert_eq!(report.on_shutdown, OnShutdown::DecidePartial);
    assert_eq!(report.decided, report.pending_traces);
    let end = sink.tail_stats();
    assert!(end.balances() && end.in_flight == 0, "{end:#?}");
}

/// With the valve off, a full buffer evicts: first the
/// traces no rule's baseline would keep, so that the baseline's traces survive.
#[test]
fn eviction_spares_the_baseline_and_never_meets_an_error() {
    let inner = MemorySink::new();
    let config = TailConfig {
        decision_wait: Duration::from_secs(3_600),
        max_traces: 1_000,
        valve_fill: f64::INFINITY,
        ..TailConfig::default()
    };
    let policy = TailPolicy::new()
        .rule("errors", Policy::errors())
        .rule("baseline", Policy::probabilistic(0.1));
    let sink = TailSink::with_config(inner.clone(), policy, config);
    let threshold = tracewire::sampling::ConsistentProbability::new(0.1)
        .threshold()
        .unwrap();
    let mut dice = Dice(11);
    let resource = resource();
    let (mut baseline, mut errors) = (BTreeSet::new(), BTreeSet::new());
    for i in 0..5_000u64 {
        let id =
            TraceId::from_u128(((dice.next() as u128) << 64) | dice.next() as u128 | 1).unwrap();
        let mut child = span(
            id,
            2,
            Some(1),
            "db.query",
            BASE + i * MS,
            MS,
            TraceFlags::RANDOM,
            &TraceState::default(),
            &resource,
        );
        if dice.chance() < 0.03 {
            child.status = Status::Error {
                message: "boom".into(),
            };
            errors.insert(id);
        } else if (id.to_u128() as u64 & ((1 << 56) - 1)) >= threshold {
            baseline.insert(id);
        }
        sink.on_end(child);
        if i % 500 == 499 {
            sink.force_flush(Duration::from_secs(10)).unwrap();
            let stats = sink.tail_stats();
            assert!(
                stats.buffered_traces <= 1_000 && stats.balances(),
                "{stats:#?}"
            );
        }
    }
    sink.force_flush(Duration::from_secs(10)).unwrap();
    let stats = sink.tail_stats();
    assert!(stats.traces_evicted >= 3_000, "{stats:#?}");
    assert!(!stats.valve_open);
    // Shutdown decides what is left on what arrived: the baseline's traces are all there.
    sink.shutdown(Duration::from_secs(10)).unwrap();
    let kept: BTreeSet<TraceId> = inner
        .spans()
        .iter()
        .map(|s| s.span_context.trace_id())
        .collect();
    let expected: BTreeSet<TraceId> = baseline.union(&errors).copied().collect();
    assert_eq!(kept, expected);
    let end: TailStats = sink.tail_stats();
    assert!(end.balances() && end.in_flight == 0);
}

/// The identity, read from another thread while spans pour in from several.
#[test]
fn the_identity_holds_at_every_read() {
    let inner = MemorySink::new();
    let config = TailConfig {
        queue_size: 512,
        ..TailConfig::default()
    };
    let sink = TailSink::with_config(inner, recipe(Policy::probabilistic(0.1)), config);
    let traces = Arc::new(traces(4_000, 21, &Sampler::always_off()));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (sink, done) = (sink.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let stats = sink.tail_stats();
                assert!(stats.balances(), "{stats:#?}");
                reads += 1;
            }
            reads
        })
    };
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (sink, traces) = (sink.clone(), traces.clone());
            std::thread::spawn(move || {
                for trace in traces.iter().skip(w).step_by(3) {
                    for span in &trace.spans {
                        sink.on_end(span.clone());
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    sink.shutdown(Duration::from_secs(10)).unwrap();
    // After shutdown, a span is refused and counted.
    sink.on_end(traces[0].spans[0].clone());
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    let stats = sink.tail_stats();
    assert!(stats.balances(), "{stats:#?}");
    assert_eq!(
        (stats.seen, stats.in_flight, stats.dropped_after_shutdown),
        (16_001, 0, 1)
    );
}
