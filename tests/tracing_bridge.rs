//! The `tracing` bridge in a real axum service behind the server layer: `#[instrument]`
//! functions three levels deep (one across several `.await`s, one in a spawned task) become
//! children of the request's span, an outgoing call from the deepest names it as parent, and
//! the JSON log lines carry the exported spans' ids.

mod common;

use common::{one_span, serve, service_tracer};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder, ServiceExt};
use tracewire::http::client::ClientService;
use tracewire::http::{ClientLayer, ServerLayer};
use tracewire::integrations::tracing::{TraceIds, TracewireLayer};
use tracewire::sink::MemorySink;
use tracewire::span::{SpanData, SpanKind, Status, Value};
use tracing::instrument;
use tracing_subscriber::layer::SubscriberExt;

type TracedClient = ClientService<Client<HttpConnector, Empty<Bytes>>>;
type PlainClient = Client<HttpConnector, Empty<Bytes>>;

/// The JSON log lines every test's events are written to (one global subscriber, as a service
/// has: the servers' tasks run on the runtime's threads).
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_lines() -> &'static Lines {
    static LINES: OnceLock<Lines> = OnceLock::new();
    LINES.get_or_init(|| {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry()
            .with(TracewireLayer::new())
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .map_event_format(TraceIds::json)
                    .with_writer(move || writer.clone()),
            );
        tracing::subscriber::set_global_default(subscriber).unwrap();
        lines
    })
}

/// This test's JSON log lines of one trace (hyper's own debug lines carry the ids too).
fn lines_of(trace_id: &str) -> Vec<serde_json::Value> {
    let bytes = log_lines().0.lock().unwrap().clone();
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|line| line["trace_id"] == trace_id && line["target"] == "tracing_bridge")
        .collect()
}

#[derive(Clone)]
struct App {
    client: TracedClient,
    downstream: SocketAddr,
}

#[instrument(skip(app))]
async fn level1(app: App, order_id: i64, call: bool) -> String {
    tracing::info!(order_id, "loading order");
    level2(app, order_id, call).await
}

/// Across several `.await`s, renamed with `otel.name`, a field recorded later.
#[instrument(skip(app), fields(otel.name = "load items", items = tracing::field::Empty))]
async fn level2(app: App, order_id: i64, call: bool) -> String {
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tracing::Span::current().record("items", 3_i64);
    // Spawned: the task carries the current context, so the span made inside it is a child.
    tracewire::spawn(async move { level3(app, order_id, call).await })
        .await
        .unwrap()
}

/// The deepest: kind from `otel.kind`, an error event, an outgoing call.
#[instrument(skip(app), fields(otel.kind = "producer"))]
async fn level3(app: App, order_id: i64, call: bool) -> String {
    // A plain child span inside the converted one.
    tracewire::span("validate")
        .attr("order_id", order_id)
        .start()
        .end();
    if call {
        tracing::error!(code = 402_i64, "payment declined");
        let request = Request::get(format!("http://{}/seen", app.downstream))
            .body(Empty::new())
            .unwrap();
        let response = app
            .client
            .clone()
            .ready()
            .await
            .unwrap()
            .call(request)
            .await;
        let body = response.unwrap().into_body().collect().await.unwrap();
        String::from_utf8_lossy(&body.to_bytes()).into_owned()
    } else {
        String::new()
    }
}

/// Reports the `traceparent` it received.
async fn downstream(sink: &MemorySink) -> SocketAddr {
    let app = Router::new()
        .route(
            "/seen",
            get(|headers: http::HeaderMap| async move {
                headers
                    .get("traceparent")
                    .map_or(String::new(), |v| v.to_str().unwrap_or("").to_string())
            }),
        )
        .layer(ServerLayer::new(service_tracer("payments", sink)));
    serve(app).await
}

async fn service(sink: &MemorySink) -> SocketAddr {
    let downstream = downstream(sink).await;
    let tracer = service_tracer("orders", sink);
    let client = ServiceBuilder::new()
        .layer(ClientLayer::new(tracer.clone()))
        .service(Client::builder(TokioExecutor::new()).build_http());
    let app = Router::new()
        .route(
            "/orders/{id}",
            get(|State(app): State<App>, Path(id): Path<i64>| level1(app, id, true)),
        )
        .route(
            "/light/{id}",
            get(|State(app): State<App>, Path(id): Path<i64>| level1(app, id, false)),
        )
        .with_state(App { client, downstream })
        .layer(ServerLayer::new(tracer));
    serve(app).await
}

fn plain_client(http2: bool) -> PlainClient {
    Client::builder(TokioExecutor::new())
        .http2_only(http2)
        .build_http()
}

async fn get_body(client: &PlainClient, url: String) -> String {
    let response = client.get(url.parse().unwrap()).await.unwrap();
    assert!(response.status().is_success());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found: Vec<&SpanData> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "{name}: {spans:#?}");
    found[0]
}

fn duration(span: &SpanData) -> u64 {
    span.end_unix_nanos - span.start_unix_nanos
}

/// `child` runs inside `parent`: its parent, same trace, and within its time.
fn assert_child(child: &SpanData, parent: &SpanData) {
    assert_eq!(
        child.parent_span_id,
        Some(parent.span_context.span_id()),
        "{} under {}",
        child.name,
        parent.name
    );
    assert_eq!(
        child.span_context.trace_id(),
        parent.span_context.trace_id()
    );
    assert!(
        child.start_unix_nanos >= parent.start_unix_nanos,
        "{}",
        child.name
    );
    assert!(
        child.end_unix_nanos <= parent.end_unix_nanos,
        "{}",
        child.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instrumented_functions_become_child_spans_and_log_lines_carry_their_ids() {
    log_lines();
    let sink = MemorySink::new();
    let addr = service(&sink).await;

    let seen_downstream = get_body(&plain_client(false), format!("http://{addr}/orders/42")).await;

    // server, level1, level2, level3, validate, client, downstream server.
    let spans = sink.wait_for(7, Duration::from_secs(5)).unwrap();
    let server = one_span(&spans, "orders", SpanKind::Server);
    let level1 = named(&spans, "level1");
    let level2 = named(&spans, "load items");
    let level3 = named(&spans, "level3");
    let validate = named(&spans, "validate");
    let client = one_span(&spans, "orders", SpanKind::Client);
    let payments = one_span(&spans, "payments", SpanKind::Server);

    assert_child(level1, server);
    assert_child(level2, level1);
    assert_child(level3, level2);
    assert_child(validate, level3);
    assert_child(client, level3);
    assert_eq!(payments.parent_span_id, Some(client.span_context.span_id()));
    let trace_id = server.span_context.trace_id().to_string();
    assert_eq!(
        seen_downstream,
        format!(
            "00-{trace_id}-{}-{:02x}",
            client.span_context.span_id(),
            client.span_context.flags().bits()
        ),
        "the traceparent sent from the deepest span names its client span"
    );

    // Names, kinds and typed attributes.
    assert_eq!(level1.kind, SpanKind::Internal);
    assert_eq!(level1.attribute("order_id"), Some(&Value::I64(42)));
    assert_eq!(level1.attribute("call"), Some(&Value::Bool(true)));
    assert_eq!(
        level2.attribute("items"),
        Some(&Value::I64(3)),
        "recorded later"
    );
    assert_eq!(level2.attribute("otel.name"), None);
    assert_eq!(level3.kind, SpanKind::Producer);
    assert_eq!(level3.attribute("otel.kind"), None);

    // Timed from creation to close across its re-entries: at least its three sleeps.
    assert!(duration(level2) >= 6_000_000, "{}", duration(level2));

    // Events: `info!` on level1, `error!` as an exception on level3, which it marks failed.
    assert_eq!(level1.events.len(), 1);
    assert_eq!(level1.events[0].name, "loading order");
    let exception = &level3.events[0];
    assert_eq!(exception.name, "exception");
    let event_attribute = |key: &str| {
        exception
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| kv.value.clone())
    };
    assert_eq!(
        event_attribute("exception.message"),
        Some(Value::String("payment declined".into()))
    );
    assert_eq!(event_attribute("code"), Some(Value::I64(402)));
    assert_eq!(
        level3.status,
        Status::Error {
            message: "payment declined".into()
        }
    );
    assert_eq!(level1.status, Status::Unset);

    // The JSON log lines carry the ids of the spans they were written in.
    let lines = lines_of(&trace_id);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let info = lines.iter().find(|l| l["level"] == "INFO").unwrap();
    assert_eq!(info["span_id"], level1.span_context.span_id().to_string());
    assert_eq!(
        info["trace_flags"],
        format!("{:02x}", level1.span_context.flags().bits())
    );
    assert_eq!(info["fields"]["message"], "loading order");
    let error = lines.iter().find(|l| l["level"] == "ERROR").unwrap();
    assert_eq!(error["span_id"], level3.span_context.span_id().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_events_leave_the_status_alone_when_so_configured() {
    // A subscriber of this thread only, with both error settings off.
    let sink = MemorySink::new();
    let tracer = service_tracer("orders", &sink);
    let subscriber = tracing_subscriber::registry().with(
        TracewireLayer::new()
            .error_events_to_status(false)
            .error_events_to_exceptions(false),
    );
    let _default = tracing::subscriber::set_default(subscriber);

    #[instrument]
    fn fails() {
        tracing::error!("declined");
    }
    let request = tracer.span("request").start();
    {
        let _entered = request.enter();
        fails();
    }
    request.end();

    let spans = sink.spans();
    let fails = named(&spans, "fails");
    assert_eq!(fails.status, Status::Unset);
    assert_eq!(fails.events[0].name, "declined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_below_the_layers_level_are_not_span_events() {
    let sink = MemorySink::new();
    let tracer = service_tracer("orders", &sink);
    for (layer, expected) in [
        (TracewireLayer::new(), vec!["kept"]),
        (
            TracewireLayer::new().event_level(tracing::Level::TRACE),
            vec!["kept", "library chatter"],
        ),
    ] {
        let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        let request = tracer.span("request").start();
        {
            let _entered = request.enter();
            tracing::info_span!("work").in_scope(|| {
                tracing::info!("kept");
                tracing::debug!("library chatter");
            });
        }
        request.end();
        let spans = sink.take();
        let events: Vec<_> = named(&spans, "work")
            .events
            .iter()
            .map(|e| e.name.to_string())
            .collect();
        assert_eq!(events, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otel_status_fields_set_the_status() {
    let sink = MemorySink::new();
    let tracer = service_tracer("orders", &sink);
    let _default = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(TracewireLayer::new()),
    );

    let request = tracer.span("request").start();
    {
        let _entered = request.enter();
        tracing::info_span!(
            "charge",
            otel.status_code = "ERROR",
            otel.status_message = "card expired"
        )
        .in_scope(|| {});
        let later = tracing::info_span!(
            "refund",
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty
        );
        later.record("otel.status_description", "gateway down");
        later.record("otel.status_code", "error");
    }
    request.end();

    let spans = sink.spans();
    let expected = |message: &'static str| Status::Error {
        message: message.into(),
    };
    assert_eq!(named(&spans, "charge").status, expected("card expired"));
    assert_eq!(named(&spans, "refund").status, expected("gateway down"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_no_sampling_no_conversion() {
    let sink = MemorySink::new();
    let tracer = tracewire::Tracer::builder()
        .sampler(tracewire::sampling::Sampler::always_off())
        .sink(sink.clone())
        .build();
    let _default = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(TracewireLayer::new()),
    );

    tracing::info_span!("outside any request").in_scope(|| tracing::info!("hello"));
    let request = tracer.span("unsampled").start();
    {
        let _entered = request.enter();
        tracing::info_span!("inside an unsampled request").in_scope(|| tracing::info!("hi"));
    }
    request.end();
    assert!(sink.spans().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_never_cross_parents() {
    log_lines();
    let sink = MemorySink::new();
    let addr = service(&sink).await;
    let client = plain_client(true);

    let requests: Vec<_> = (0..1000)
        .map(|id| {
            let client = client.clone();
            tokio::spawn(
                async move { get_body(&client, format!("http://{addr}/light/{id}")).await },
            )
        })
        .collect();
    for request in requests {
        request.await.unwrap();
    }

    // server, level1, level2, level3, validate per request.
    let spans = sink.wait_for(5000, Duration::from_secs(30)).unwrap();
    assert_eq!(spans.len(), 5000);
    let by_id: HashMap<_, _> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), s))
        .collect();
    let parent_of = |span: &SpanData| by_id[&span.parent_span_id.unwrap()];
    let mut seen = std::collections::HashSet::new();
    for validate in spans.iter().filter(|s| s.name == "validate") {
        let level3 = parent_of(validate);
        let level2 = parent_of(level3);
        let level1 = parent_of(level2);
        let server = parent_of(level1);
        assert_eq!(
            (
                level3.name.as_ref(),
                level2.name.as_ref(),
                level1.name.as_ref()
            ),
            ("level3", "load items", "level1")
        );
        assert_eq!(server.kind, SpanKind::Server);
        for span in [level3, level2, level1] {
            assert_child(span, parent_of(span));
        }
        // The request's own id all the way down.
        let Some(Value::I64(id)) = level1.attribute("order_id") else {
            panic!("{level1:?}")
        };
        assert_eq!(level3.attribute("order_id"), Some(&Value::I64(*id)));
        assert_eq!(
            server.attribute("url.path"),
            Some(&Value::String(format!("/light/{id}").into()))
        );
        assert!(seen.insert(*id), "request {id} traced twice");
    }
    assert_eq!(seen.len(), 1000);
}
