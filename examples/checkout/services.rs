//! The seven services of the checkout demo, each a real server on its own 127.0.0.1 port with
//! its own `Tracer` and `service.name`, all in one process:
//!
//! ```text
//! api-gateway  POST /checkout ── auth      POST /validateToken
//!                             ├─ order     POST /createOrder ── postgres.query (a child span)
//!                             │                              ├─ inventory  gRPC inventory.Inventory/ReserveItem
//!                             │                              └─ payment    POST /chargeCard ── stripe  POST /v1/charges (reqwest)
//!                             └─ notify    POST /sendEmail
//! ```
//!
//! Every hop goes through tracewire's layers (`ServerLayer` on every server, `ClientLayer`
//! around the hyper clients and the tonic channel, the reqwest middleware for stripe): there is
//! no hand-written header code anywhere. The trace context, the sampling decision and the
//! baggage travel on their own.
//!
//! What a request does is decided at the gateway, from a seeded generator: an order may carry
//! a card stripe declines (`--fail-rate`, half the failures) or an item that is out of stock
//! (the other half), and one service may be slow (`--slow-rate`), named in the request's
//! baggage (`demo.slow`), which every service reads.
//!
//! With `--tail`, every service records every span but the gateway samples only `--sample`
//! of the traces at the head; all seven share one tail sink, which keeps each trace that
//! failed or was slow, whole across the services, and the head's sample as its baseline.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::{Layer, Service, ServiceExt};
use tracewire::http::{ClientLayer, ServerLayer};
use tracewire::integrations::reqwest::TracingMiddleware;
use tracewire::sampling::Sampler;
use tracewire::sink::tail::{Policy, TailConfig, TailPolicy, TailSink};
use tracewire::sink::{FanOut, MemorySink, SinkError, SinkStats, SpanSink};
use tracewire::span::{SpanData, SpanKind};
use tracewire::{Context, FutureExt, Tracer};

use crate::inventory::{self, InventoryServer, ReserveReply, ReserveRequest};

/// What the demo's requests do.
#[derive(Clone, Debug)]
pub struct Options {
    /// The share of orders that fail: stripe declines the card, or an item is out of stock.
    pub fail_rate: f64,
    /// The share of requests in which one of auth, inventory or notify is slow.
    pub slow_rate: f64,
    /// Head sampling at the gateway (parent-based ratio); every other service follows it.
    pub sample: f64,
    /// Tail sampling: every span recorded, `sample` of the traces sampled at the gateway
    /// (consistent probability, so kept spans carry `ot=th`), and one tail sink for all the
    /// services keeping errors, traces over `tail_latency`, and the head's sample.
    pub tail: bool,
    /// The tail sampler's latency rule ([`TAIL_LATENCY`]).
    pub tail_latency: Duration,
    /// How long stripe takes, before jitter of ±10%.
    pub stripe_latency: Duration,
    /// Seeds the generator that decides each request's fate, so a run can be repeated.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            fail_rate: 0.0,
            slow_rate: 0.0,
            sample: 1.0,
            tail: false,
            tail_latency: TAIL_LATENCY,
            stripe_latency: Duration::from_millis(750),
            seed: 42,
        }
    }
}

/// The tail sampler's latency rule. The README's recipe says 500 ms; here every checkout
/// waits about 750 ms for stripe (±10%), so 500 ms would keep them all. A slow service adds
/// 450 ms: requests take about 0.8 s, slow ones about 1.25 s, and 1 s tells them apart.
pub const TAIL_LATENCY: Duration = Duration::from_secs(1);

/// The running services.
pub struct Demo {
    /// Where `POST /checkout` is served.
    pub gateway: SocketAddr,
    /// With `--tail`: the sink all services share, and where the traces it keeps go.
    pub tail: Option<(TailSink, MemorySink)>,
    services: Vec<Running>,
    stop: watch::Sender<bool>,
}

/// The tail sink as each service's tracer holds it. The services share it, so one tracer's
/// shutdown must not shut it for the others: it only flushes, and the demo shuts the sink
/// down once, after every tracer. (A service of its own gives its tracer the tail sink
/// itself.)
#[derive(Clone, Debug)]
struct SharedTail(TailSink);

impl SpanSink for SharedTail {
    fn on_end(&self, span: SpanData) {
        self.0.on_end(span);
    }

    fn wants_record_only(&self) -> bool {
        true
    }

    fn force_flush(&self, timeout: Duration) -> Result<(), SinkError> {
        self.0.force_flush(timeout)
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        self.0.force_flush(timeout)
    }

    fn stats(&self) -> SinkStats {
        self.0.stats()
    }
}

/// The tail sink of `--tail`: keeps what failed, what took over `latency`, and the head's
/// sample, and forwards it to `kept` (and over OTLP when configured).
fn tail_sink(kept: &MemorySink, latency: Duration) -> TailSink {
    let mut sink = FanOut::new().with(kept.clone());
    if let Some(exporter) = otlp_exporter("tail") {
        sink = sink.with(exporter);
    }
    let policy = TailPolicy::new()
        .rule("errors", Policy::errors())
        .rule("slow", Policy::latency(latency))
        .rule("baseline", Policy::keep_head_sampled());
    let config = TailConfig {
        // The services share the sink: a service's local root waits for its caller's spans,
        // so that each trace is decided whole, when the gateway's root ends.
        remote_root_wait: Duration::from_secs(5),
        ..TailConfig::default()
    };
    TailSink::with_config(sink, policy, config)
}

/// One service: its tracer, the sink that keeps its spans for the tree, and its server task.
struct Running {
    tracer: Tracer,
    spans: MemorySink,
    server: JoinHandle<()>,
}

/// A seeded generator (SplitMix64): each request's fate, reproducible from `--seed`.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as f64 / u64::MAX as f64
    }
}

/// A tracer for one service. With `OTEL_EXPORTER_OTLP_ENDPOINT` set, its spans also go over
/// OTLP (configured by the standard `OTEL_EXPORTER_OTLP_*` variables), so the same trace
/// appears in Jaeger, Tempo or a Collector.
///
/// With `tail`, the tracer's spans all go to the shared tail sink instead, which exports what
/// it keeps.
fn service_tracer(
    name: &'static str,
    sampler: impl Into<Sampler>,
    tail: Option<&TailSink>,
) -> (Tracer, MemorySink) {
    let spans = MemorySink::new();
    let mut sink = FanOut::new();
    match tail {
        Some(tail) => sink = sink.with(SharedTail(tail.clone())),
        None => {
            sink = sink.with(spans.clone());
            if let Some(exporter) = otlp_exporter(name) {
                sink = sink.with(exporter);
            }
        }
    }
    let tracer = Tracer::builder()
        .service_name(name)
        .sampler(sampler)
        .sink(sink)
        .build();
    (tracer, spans)
}

/// An OTLP exporter behind a batch sink, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
fn otlp_exporter(name: &str) -> Option<tracewire::sink::BatchSink> {
    std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT")?;
    let config = tracewire::export::otlp::OtlpConfig::from_env().value;
    match tracewire::export::otlp::OtlpExporter::new(config) {
        Ok(exporter) => Some(tracewire::sink::Exporter::batched(exporter)),
        Err(error) => {
            eprintln!("{name}: OTLP export is off: {error}");
            None
        }
    }
}

/// An HTTP client that traces every call with `tracer` (a CLIENT span, context injected).
#[derive(Clone)]
struct Http {
    client: tracewire::http::client::ClientService<Client<HttpConnector, Full<Bytes>>>,
}

impl Http {
    fn new(tracer: &Tracer) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self {
            client: ClientLayer::new(tracer.clone()).layer(client),
        }
    }

    /// `POST url` with `body`; the answer's status and text.
    async fn post(&self, url: String, body: String) -> Result<(StatusCode, String), String> {
        let request = http::Request::post(url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let mut client = self.client.clone();
        let response = client
            .ready()
            .await
            .map_err(|e| e.to_string())?
            .call(request)
            .await
            .map_err(|e| format!("call failed: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// Sleeps as long as `service` takes, longer when the request's baggage names it slow.
async fn work(service: &str, usual: Duration) {
    let slow = Context::current()
        .baggage()
        .and_then(|baggage| baggage.get("demo.slow"))
        .is_some_and(|slow| slow == service);
    let extra = if slow {
        Duration::from_millis(450)
    } else {
        Duration::ZERO
    };
    tokio::time::sleep(usual + extra).await;
}

/// Serves `app` on a port the OS picks, until `stop` says so.
async fn serve(
    app: Router,
    stop: &watch::Sender<bool>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut stopped = stop.subscribe();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await;
    });
    Ok((addr, server))
}

/// The gateway's state: where the others are, and the generator.
struct Gateway {
    http: Http,
    auth: SocketAddr,
    order: SocketAddr,
    notify: SocketAddr,
    dice: Mutex<Dice>,
    options: Options,
}

/// What the gateway decided for one request.
struct Fate {
    card: &'static str,
    sku: &'static str,
    slow: Option<&'static str>,
}

impl Gateway {
    fn fate(&self) -> Fate {
        let mut dice = self.dice.lock().unwrap();
        let (fails, which, slow, who) = (dice.next(), dice.next(), dice.next(), dice.next());
        let fails = fails < self.options.fail_rate;
        Fate {
            // Stripe's test card numbers: the second is always declined.
            card: if fails && which < 0.5 {
                "4000000000000002"
            } else {
                "4242424242424242"
            },
            sku: if fails && which >= 0.5 {
                "sku-sold-out"
            } else {
                "sku-42"
            },
            slow: (slow < self.options.slow_rate)
                .then(|| ["auth", "inventory", "notify"][(who * 3.0) as usize % 3]),
        }
    }
}

async fn checkout(State(gateway): State<Arc<Gateway>>) -> (StatusCode, String) {
    let fate = gateway.fate();
    let mut baggage = Context::current().baggage().cloned().unwrap_or_default();
    if let Some(slow) = fate.slow {
        let _ = baggage.insert("demo.slow", slow);
    }
    let cx = Context::current().with_baggage(baggage);
    async {
        let http = &gateway.http;
        let auth = format!("http://{}/validateToken", gateway.auth);
        match http.post(auth, r#"{"token":"tok_demo"}"#.into()).await {
            Ok((status, _)) if status.is_success() => {}
            Ok((status, body)) => return (status, body),
            Err(error) => return (StatusCode::BAD_GATEWAY, error),
        }
        let order = format!(
            r#"{{"sku":"{}","quantity":1,"card":"{}","amount":4200}}"#,
            fate.sku, fate.card
        );
        let url = format!("http://{}/createOrder", gateway.order);
        match http.post(url, order).await {
            Ok((status, _)) if status.is_success() => {}
            Ok((status, body)) => return (status, body),
            Err(error) => return (StatusCode::BAD_GATEWAY, error),
        }
        let url = format!("http://{}/sendEmail", gateway.notify);
        let _ = http
            .post(url, r#"{"template":"order-confirmed"}"#.into())
            .await;
        (StatusCode::OK, "order confirmed".into())
    }
    .with_context(cx)
    .await
}

async fn validate_token() -> &'static str {
    work("auth", Duration::from_millis(8)).await;
    r#"{"valid":true}"#
}

async fn send_email() -> &'static str {
    work("notify", Duration::from_millis(15)).await;
    r#"{"queued":true}"#
}

/// The order service's state: its clients to inventory (gRPC) and payment (HTTP).
struct Order {
    inventory: tower::util::BoxCloneSyncService<
        http::Request<tonic::body::Body>,
        http::Response<tracewire::http::ResponseBody<tonic::body::Body>>,
        tonic::transport::Error,
    >,
    http: Http,
    payment: SocketAddr,
}

/// A string field of a JSON body, empty when the body or the field is not what it should be.
fn field(json: &str, name: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|body| body.get(name)?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn create_order(State(order): State<Arc<Order>>, body: String) -> (StatusCode, String) {
    // The database insert: a child span of the request's, with the database conventions.
    tracewire::span("postgres.query")
        .kind(SpanKind::Client)
        .attr("db.system.name", "postgresql")
        .attr("db.namespace", "shop")
        .attr("db.operation.name", "INSERT")
        .attr("db.collection.name", "orders")
        .attr(
            "db.query.text",
            "INSERT INTO orders (sku, quantity) VALUES ($1, $2)",
        )
        .attr("server.address", "db.internal")
        .attr("server.port", 5432_i64)
        .in_scope(tokio::time::sleep(Duration::from_millis(4)))
        .await;

    let reservation = ReserveRequest {
        sku: field(&body, "sku"),
        quantity: 1,
    };
    if let Err(status) = inventory::reserve_item(order.inventory.clone(), reservation).await {
        let answer = match status.code() {
            tonic::Code::FailedPrecondition => StatusCode::CONFLICT,
            _ => StatusCode::BAD_GATEWAY,
        };
        return (answer, format!(r#"{{"error":"{}"}}"#, status.message()));
    }

    let charge = format!(r#"{{"card":"{}","amount":4200}}"#, field(&body, "card"));
    let url = format!("http://{}/chargeCard", order.payment);
    match order.http.post(url, charge).await {
        Ok((status, _)) if status.is_success() => {
            (StatusCode::CREATED, r#"{"order":"ord_1"}"#.into())
        }
        Ok((StatusCode::PAYMENT_REQUIRED, body)) => (StatusCode::PAYMENT_REQUIRED, body),
        Ok((_, body)) => (StatusCode::BAD_GATEWAY, body),
        Err(error) => (StatusCode::BAD_GATEWAY, error),
    }
}

async fn reserve_item(request: ReserveRequest) -> Result<ReserveReply, tonic::Status> {
    work("inventory", Duration::from_millis(10)).await;
    if request.sku == "sku-sold-out" {
        return Err(tonic::Status::failed_precondition(format!(
            "{} is out of stock",
            request.sku
        )));
    }
    Ok(ReserveReply {
        reservation_id: "res_1".into(),
    })
}

/// The payment service's state: reqwest, traced by tracewire's middleware.
struct Payment {
    stripe: ClientWithMiddleware,
    stripe_url: String,
}

async fn charge_card(State(payment): State<Arc<Payment>>, body: String) -> (StatusCode, String) {
    let form = format!("amount=4200&currency=eur&source={}", field(&body, "card"));
    let answer = payment
        .stripe
        .post(&payment.stripe_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await;
    match answer {
        Ok(response) if response.status().is_success() => {
            (StatusCode::OK, r#"{"paid":true}"#.into())
        }
        Ok(response) => {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            match status {
                StatusCode::PAYMENT_REQUIRED => (StatusCode::PAYMENT_REQUIRED, text),
                _ => (StatusCode::BAD_GATEWAY, text),
            }
        }
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()),
    }
}

/// Stripe, simulated: about `latency` per charge, and the test card that is always declined.
async fn stripe_charge(
    State(latency): State<(Duration, Arc<Mutex<Dice>>)>,
    body: String,
) -> (StatusCode, String) {
    let (base, dice) = latency;
    let jitter = dice.lock().unwrap().next() * 0.2 - 0.1;
    tokio::time::sleep(base.mul_f64(1.0 + jitter)).await;
    if body.contains("source=4000000000000002") {
        let error = r#"{"error":{"code":"card_declined","message":"Your card was declined."}}"#;
        return (StatusCode::PAYMENT_REQUIRED, error.into());
    }
    (
        StatusCode::OK,
        r#"{"id":"ch_1","status":"succeeded"}"#.into(),
    )
}

impl Demo {
    /// Starts the seven services.
    pub async fn start(options: Options) -> std::io::Result<Demo> {
        let (stop, _) = watch::channel(false);
        let tail = options.tail.then(|| {
            let kept = MemorySink::new();
            (tail_sink(&kept, options.tail_latency), kept)
        });
        let shared = tail.as_ref().map(|(sink, _)| sink);
        // Every service follows its caller's decision; with tail sampling, what is not
        // sampled is still recorded, for the tail sink.
        let follows = || -> Sampler {
            let follow = Sampler::parent_based(Sampler::always_on());
            match shared {
                Some(_) => Sampler::always_record(follow),
                None => follow.into(),
            }
        };
        let mut services = Vec::new();
        let mut start = |tracer: Tracer, spans: MemorySink, server: JoinHandle<()>| {
            services.push(Running {
                tracer,
                spans,
                server,
            });
        };

        let (tracer, spans) = service_tracer("stripe", follows(), shared);
        let dice = Arc::new(Mutex::new(Dice(options.seed ^ 0x5717_1be5)));
        let app = Router::new()
            .route("/v1/charges", post(stripe_charge))
            .with_state((options.stripe_latency, dice))
            .layer(ServerLayer::new(tracer.clone()));
        let (stripe, server) = serve(app, &stop).await?;
        start(tracer, spans, server);

        let (tracer, spans) = service_tracer("payment", follows(), shared);
        let payment = Payment {
            stripe: ClientBuilder::new(reqwest::Client::new())
                .with(TracingMiddleware::new(tracer.clone()))
                .build(),
            stripe_url: format!("http://{stripe}/v1/charges"),
        };
        let app = Router::new()
            .route("/chargeCard", post(charge_card))
            .with_state(Arc::new(payment))
            .layer(ServerLayer::new(tracer.clone()));
        let (payment, server) = serve(app, &stop).await?;
        start(tracer, spans, server);

        let (tracer, spans) = service_tracer("inventory", follows(), shared);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let inventory = listener.local_addr()?;
        let mut stopped = stop.subscribe();
        let grpc = tonic::transport::Server::builder()
            .layer(ServerLayer::new(tracer.clone()))
            .add_service(InventoryServer::new(reserve_item));
        let server = tokio::spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            let _ = grpc
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await;
        });
        start(tracer, spans, server);

        let (tracer, spans) = service_tracer("order", follows(), shared);
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{inventory}"))
            .expect("a valid URI")
            .connect_lazy();
        let order = Order {
            inventory: tower::util::BoxCloneSyncService::new(
                ClientLayer::new(tracer.clone()).layer(channel),
            ),
            http: Http::new(&tracer),
            payment,
        };
        let app = Router::new()
            .route("/createOrder", post(create_order))
            .with_state(Arc::new(order))
            .layer(ServerLayer::new(tracer.clone()));
        let (order, server) = serve(app, &stop).await?;
        start(tracer, spans, server);

        let (tracer, spans) = service_tracer("auth", follows(), shared);
        let app = Router::new()
            .route("/validateToken", post(validate_token))
            .layer(ServerLayer::new(tracer.clone()));
        let (auth, server) = serve(app, &stop).await?;
        start(tracer, spans, server);

        let (tracer, spans) = service_tracer("notify", follows(), shared);
        let app = Router::new()
            .route("/sendEmail", post(send_email))
            .layer(ServerLayer::new(tracer.clone()));
        let (notify, server) = serve(app, &stop).await?;
        start(tracer, spans, server);

        // The edge decides: a ratio of new traces is sampled, and the decision travels on.
        // With tail sampling the rest are recorded too, and the ratio is consistent
        // probability sampling, whose `ot=th` lets a backend count what each kept trace
        // stands for.
        let sampler = match shared {
            Some(_) => Sampler::always_record(Sampler::parent_based(
                Sampler::consistent_probability(options.sample),
            )),
            None => Sampler::parent_based(Sampler::ratio(options.sample)).into(),
        };
        let (tracer, spans) = service_tracer("api-gateway", sampler, shared);
        let gateway = Gateway {
            http: Http::new(&tracer),
            auth,
            order,
            notify,
            dice: Mutex::new(Dice(options.seed)),
            options,
        };
        let app = Router::new()
            .route("/checkout", post(checkout))
            .with_state(Arc::new(gateway))
            .layer(ServerLayer::new(tracer.clone()));
        let (gateway, server) = serve(app, &stop).await?;
        start(tracer, spans, server);

        Ok(Demo {
            gateway,
            tail,
            services,
            stop,
        })
    }

    /// Stops every server (in-flight requests finish first), flushes every tracer, and
    /// returns the spans of all seven services (with `--tail`, those the tail sink kept).
    pub async fn stop(self) -> Vec<SpanData> {
        let _ = self.stop.send(true);
        let mut spans = Vec::new();
        for service in self.services {
            let _ = service.server.await;
            let tracer = service.tracer.clone();
            // Shutdown waits for the OTLP exporter, if any: off the runtime's threads.
            let flushed =
                tokio::task::spawn_blocking(move || tracer.shutdown(Duration::from_secs(5))).await;
            if let Ok(Err(error)) = flushed {
                eprintln!("{}: {error}", service.tracer.resource().service_name());
            }
            spans.extend(service.spans.take());
        }
        if let Some((tail, kept)) = self.tail {
            // Every tracer has flushed into it: decide what is still pending, and stop.
            let closed = tokio::task::spawn_blocking(move || tail.shutdown(Duration::from_secs(5)));
            if let Ok(Err(error)) = closed.await {
                eprintln!("tail sampling: {error}");
            }
            spans.extend(kept.take());
        }
        spans
    }
}

/// Sends `POST /checkout` to the gateway the way a browser would: without tracing (the
/// gateway's span is the root of the trace). Returns the answer's status.
pub async fn place_order(gateway: SocketAddr) -> Result<StatusCode, String> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let request = http::Request::post(format!("http://{gateway}/checkout"))
        .body(Full::new(Bytes::from_static(b"{}")))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let _ = response.into_body().collect().await;
    Ok(status)
}

/// Sends `requests` orders, at most `concurrency` at a time; the status of each, in order.
pub async fn send_orders(
    gateway: SocketAddr,
    requests: usize,
    concurrency: usize,
) -> Vec<Result<StatusCode, String>> {
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut sent = tokio::task::JoinSet::new();
    for i in 0..requests {
        let slots = slots.clone();
        sent.spawn(async move {
            let _slot = slots.acquire_owned().await;
            (i, place_order(gateway).await)
        });
    }
    let mut statuses: Vec<_> = sent.join_all().await;
    statuses.sort_by_key(|(i, _)| *i);
    statuses.into_iter().map(|(_, status)| status).collect()
}
