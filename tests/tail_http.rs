//! Tail sampling through the layers: two axum services whose head sampler records every span
//! but samples none share one tail sink. Only the requests that failed or were slow come out,
//! each whole: both services' spans.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder, ServiceExt};
use tracewire::TraceId;
use tracewire::Tracer;
use tracewire::http::client::ClientService;
use tracewire::http::{ClientLayer, ServerLayer};
use tracewire::sampling::Sampler;
use tracewire::sink::tail::{Policy, TailConfig, TailPolicy, TailSink};
use tracewire::sink::{FanOut, MemorySink, SpanSink};
use tracewire::span::{SpanData, SpanKind, Status, Value};

type TracedClient = ClientService<Client<HttpConnector, Empty<Bytes>>>;

/// How long a slow request sleeps, and the latency rule's threshold below it.
const SLOW: Duration = Duration::from_millis(700);
const THRESHOLD: Duration = Duration::from_millis(500);

/// A service's tracer: every span recorded, none sampled at the head (parent-based, 0% for
/// new traces), into the shared tail sink and a record-everything sink the test reads.
fn tracer(service: &'static str, tail: &TailSink, everything: &MemorySink) -> Tracer {
    Tracer::builder()
        .service_name(service)
        .sampler(Sampler::always_record(Sampler::parent_based(
            Sampler::ratio(0.0),
        )))
        .sink(FanOut::new().with(tail.clone()).with(everything.clone()))
        .build()
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Inventory: `/stock/{fate}` answers 503 for `fail`, sleeps for `slow-inventory`.
async fn inventory(tracer: Tracer) -> SocketAddr {
    let app = Router::new()
        .route(
            "/stock/{fate}",
            get(|Path(fate): Path<String>| async move {
                match fate.as_str() {
                    "fail" => StatusCode::SERVICE_UNAVAILABLE,
                    "slow-inventory" => {
                        tokio::time::sleep(SLOW).await;
                        StatusCode::OK
                    }
                    _ => StatusCode::OK,
                }
            }),
        )
        .layer(ServerLayer::new(tracer));
    serve(app).await
}

/// Orders: `/orders/{fate}` asks inventory, answers 502 when inventory failed, and sleeps
/// after the call for `slow-orders`.
async fn orders(tracer: Tracer, inventory: SocketAddr) -> SocketAddr {
    let client: TracedClient = ServiceBuilder::new()
        .layer(ClientLayer::new(tracer.clone()))
        .service(Client::builder(TokioExecutor::new()).build_http());
    let app = Router::new()
        .route(
            "/orders/{fate}",
            get(
                |State((client, inventory)): State<(TracedClient, SocketAddr)>,
                 Path(fate): Path<String>| async move {
                    let url = format!("http://{inventory}/stock/{fate}");
                    let request = Request::get(url).body(Empty::new()).unwrap();
                    let response = client.clone().ready().await.unwrap().call(request).await;
                    let ok = response.is_ok_and(|r| r.status().is_success());
                    if fate == "slow-orders" {
                        tokio::time::sleep(SLOW).await;
                    }
                    match ok {
                        true => StatusCode::OK,
                        false => StatusCode::BAD_GATEWAY,
                    }
                },
            ),
        )
        .with_state((client, inventory))
        .layer(ServerLayer::new(tracer));
    serve(app).await
}

/// The rule that kept a span.
fn rule(span: &SpanData) -> Option<&str> {
    match span.attribute("sampling.rule") {
        Some(Value::String(rule)) => Some(rule),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_failed_and_slow_requests_come_out_whole_across_both_services() {
    let exported = MemorySink::new();
    let everything = MemorySink::new().with_record_only(true);
    let config = TailConfig {
        // Both services share the sink: inventory's local root waits for orders' spans, so
        // the decision is made on the whole trace, when orders' root ends.
        remote_root_wait: Duration::from_secs(3_600),
        ..TailConfig::default()
    };
    let policy = TailPolicy::new()
        .rule("errors", Policy::errors())
        .rule("slow", Policy::latency(THRESHOLD));
    let tail = TailSink::with_config(exported.clone(), policy, config);
    let inventory = inventory(tracer("inventory", &tail, &everything)).await;
    let orders_tracer = tracer("orders", &tail, &everything);
    let orders = orders(orders_tracer.clone(), inventory).await;

    // A browser: no trace context, so orders' span is the root.
    let browser: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let fates = [
        "ok",
        "fail",
        "ok",
        "slow-orders",
        "ok",
        "slow-inventory",
        "ok",
        "ok",
        "fail",
        "ok",
    ];
    let mut requests = tokio::task::JoinSet::new();
    for fate in fates {
        let browser = browser.clone();
        requests.spawn(async move {
            let url = format!("http://{orders}/orders/{fate}");
            let response = browser
                .request(Request::get(url).body(Empty::new()).unwrap())
                .await
                .unwrap();
            let status = response.status();
            let _ = response.into_body().collect().await;
            (fate, status)
        });
    }
    for (fate, status) in requests.join_all().await {
        let expected = match fate {
            "fail" => StatusCode::BAD_GATEWAY,
            _ => StatusCode::OK,
        };
        assert_eq!(status, expected, "{fate}");
    }

    // Three spans a request (orders' server and client spans, inventory's server span); a
    // span ends once its body is done, which may be just after the client has read it.
    let give_up = Instant::now() + Duration::from_secs(10);
    while everything.spans().len() < 3 * fates.len() && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let all = everything.spans();
    assert_eq!(all.len(), 3 * fates.len());
    // Recorded, never sampled at the head.
    assert!(all.iter().all(|s| !s.span_context.flags().is_sampled()));
    let flushed = tail.clone();
    tokio::task::spawn_blocking(move || flushed.force_flush(Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();

    // What should come out: every trace with an error span or a root over the threshold,
    // judged on the spans recorded.
    let mut traces: BTreeMap<TraceId, Vec<&SpanData>> = BTreeMap::new();
    for span in &all {
        traces
            .entry(span.span_context.trace_id())
            .or_default()
            .push(span);
    }
    let fate_of = |spans: &[&SpanData]| {
        let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
        match root.attribute("url.path") {
            Some(Value::String(path)) => path.trim_start_matches("/orders/").to_owned(),
            other => panic!("no path: {other:?}"),
        }
    };
    let mut expected = BTreeMap::new();
    for (id, spans) in &traces {
        let failed = spans
            .iter()
            .any(|s| matches!(s.status, Status::Error { .. }));
        let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
        let slow = root.duration_nanos() > THRESHOLD.as_nanos() as u64;
        let fate = fate_of(spans);
        // The failed and slow requests are among them (the others are, unless the machine
        // took over half a second to answer one).
        if fate != "ok" {
            assert!(failed || slow, "{fate} {spans:#?}");
        }
        if failed {
            expected.insert(*id, "errors");
        } else if slow {
            expected.insert(*id, "slow");
        }
    }
    assert!(expected.len() >= 4, "{expected:?}");

    let out = exported.spans();
    let mut kept: BTreeMap<TraceId, Vec<&SpanData>> = BTreeMap::new();
    for span in &out {
        kept.entry(span.span_context.trace_id())
            .or_default()
            .push(span);
    }
    assert_eq!(
        kept.keys().collect::<BTreeSet<_>>(),
        expected.keys().collect::<BTreeSet<_>>()
    );
    for (id, spans) in &kept {
        // Whole: both services, server and client spans, each once.
        let mut parts: Vec<(String, SpanKind)> = spans
            .iter()
            .map(|s| (s.resource.service_name().into_owned(), s.kind))
            .collect();
        parts.sort_by_key(|(service, kind)| (service.clone(), format!("{kind:?}")));
        assert_eq!(
            parts,
            [
                ("inventory".to_owned(), SpanKind::Server),
                ("orders".to_owned(), SpanKind::Client),
                ("orders".to_owned(), SpanKind::Server),
            ],
            "{id}"
        );
        for span in spans {
            assert!(span.span_context.flags().is_sampled());
            assert_eq!(rule(span), Some(expected[id]));
            assert_eq!(span.span_context.state().get("ot"), Some("th:0"));
        }
    }

    let stats = tail.tail_stats();
    assert!(stats.balances(), "{stats:#?}");
    assert_eq!((stats.seen, stats.in_flight), (30, 0));
    assert_eq!(stats.traces_kept + stats.traces_dropped, fates.len() as u64);
    // The tracer counts the same spans as ended, all of them record-only.
    let tracer_stats = orders_tracer.stats();
    assert_eq!(tracer_stats.record_only_ended, tracer_stats.spans_ended);
    let closing = tail.clone();
    tokio::task::spawn_blocking(move || closing.shutdown(Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();
}
