//! The checkout demo with `--tail`: seven services in one process share one tail sink; only
//! the checkouts that failed or were slow come out, each whole across the services.

#[path = "../examples/checkout/inventory.rs"]
mod inventory;
#[path = "../examples/checkout/services.rs"]
#[allow(dead_code)]
mod services;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use services::{Demo, Options, send_orders};
use tracewire::TraceId;
use tracewire::span::{SpanData, Status, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_failed_and_slow_checkouts_come_out_whole() {
    let threshold = Duration::from_millis(450);
    let demo = Demo::start(Options {
        tail: true,
        // Checkouts take about 190 ms (stripe 150 ms), slow ones 450 ms more.
        stripe_latency: Duration::from_millis(150),
        tail_latency: threshold,
        fail_rate: 0.25,
        slow_rate: 0.25,
        sample: 0.0,
        ..Options::default()
    })
    .await
    .unwrap();
    let tail = demo.tail.as_ref().unwrap().0.clone();
    let statuses = send_orders(demo.gateway, 40, 10).await;
    let spans = demo.stop().await;
    let failed = statuses
        .iter()
        .filter(|s| !matches!(s, Ok(s) if s.is_success()))
        .count();
    assert!((3..=20).contains(&failed), "{statuses:?}");

    let mut traces: BTreeMap<TraceId, Vec<&SpanData>> = BTreeMap::new();
    for span in &spans {
        traces
            .entry(span.span_context.trace_id())
            .or_default()
            .push(span);
    }
    let mut kept_failed = 0;
    for (id, spans) in &traces {
        // Whole: the gateway's root, and every other span's parent among the trace's spans.
        let ids: BTreeSet<_> = spans.iter().map(|s| s.span_context.span_id()).collect();
        let roots: Vec<_> = spans
            .iter()
            .filter(|s| s.parent_span_id.is_none())
            .collect();
        assert_eq!(roots.len(), 1, "{id}");
        assert_eq!(roots[0].resource.service_name(), "api-gateway");
        for span in spans {
            if let Some(parent) = span.parent_span_id {
                assert!(ids.contains(&parent), "{id}: {} lost its parent", span.name);
            }
            assert!(span.span_context.flags().is_sampled());
        }
        let failed = spans
            .iter()
            .any(|s| matches!(s.status, Status::Error { .. }));
        let slow = roots[0].duration_nanos() > threshold.as_nanos() as u64;
        assert!(failed || slow, "{id} kept, neither failed nor slow");
        let rule = match roots[0].attribute("sampling.rule") {
            Some(Value::String(rule)) => rule.to_string(),
            other => panic!("{other:?}"),
        };
        // A trace is named by the first rule that kept it when it was decided: a slow one
        // may be kept as slow before its error arrives.
        match failed {
            true => assert!(rule == "errors" || (slow && rule == "slow"), "{id}: {rule}"),
            false => assert_eq!(rule, "slow"),
        }
        kept_failed += usize::from(failed);
    }
    // Every failed checkout came out.
    assert_eq!(kept_failed, failed);
    let stats = tail.tail_stats();
    assert!(stats.balances() && stats.in_flight == 0, "{stats:#?}");
    assert_eq!(stats.traces_kept, traces.len() as u64);
    assert_eq!(stats.traces_kept + stats.traces_dropped, 40);
    assert!(
        stats.rules[1].kept_traces > 0,
        "some slow checkouts: {stats:#?}"
    );
}
