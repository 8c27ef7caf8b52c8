//! Whole-request overhead of the HTTP layers: an axum hello-world request carrying a sampled
//! `traceparent`, through the server layer or not, at 100% and 0% sampling, in process
//! (`oneshot`) and over a real keep-alive hyper connection on 127.0.0.1; and a client call
//! through the client layer or not. Every variant runs in the same process and run.
//!
//! ```text
//! cargo bench --bench http
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::runtime::Runtime;
use tower::{Service, ServiceBuilder, ServiceExt};
use tracewire::Tracer;
use tracewire::http::{ClientLayer, ServerLayer};
use tracewire::sampling::Sampler;
use tracewire::sink::{BatchSink, BoxFuture, ExportError, Exporter};
use tracewire::span::SpanData;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[derive(Debug)]
struct Discard;

impl Exporter for Discard {
    fn export<'a>(&'a self, batch: &'a [SpanData]) -> BoxFuture<'a, Result<(), ExportError>> {
        std::hint::black_box(batch);
        Box::pin(async { Ok(()) })
    }
}

fn tracer(sampler: Sampler) -> Tracer {
    Tracer::builder()
        .service_name("bench")
        .sampler(sampler)
        .sink(BatchSink::new(Discard))
        .build()
}

fn hello() -> Router {
    Router::new().route("/hello", get(|| async { "hello, world" }))
}

fn variants() -> [(&'static str, Router); 3] {
    [
        ("untraced", hello()),
        (
            "traced_100pct",
            hello().layer(ServerLayer::new(tracer(Sampler::always_on()))),
        ),
        (
            "traced_0pct",
            hello().layer(ServerLayer::new(tracer(Sampler::always_off()))),
        ),
    ]
}

fn request() -> Request<Body> {
    Request::get("/hello")
        .header("traceparent", TRACEPARENT)
        .body(Body::empty())
        .unwrap()
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn get_over<S, B>(client: &mut S, url: &str)
where
    S: Service<Request<Empty<Bytes>>, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let request = Request::get(url)
        .header("traceparent", TRACEPARENT)
        .body(Empty::new())
        .unwrap();
    let response = client.ready().await.unwrap().call(request).await.unwrap();
    response.into_body().collect().await.unwrap();
}

/// Times `iters` sequential requests inside the runtime.
fn timed<F: std::future::Future<Output = ()>>(
    rt: &Runtime,
    iters: u64,
    mut make: impl FnMut() -> F,
) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            make().await;
        }
        start.elapsed()
    })
}

fn http(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("server_in_process");
    for (name, router) in variants() {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed(&rt, iters, || {
                    let router = router.clone();
                    async move {
                        let response = router.oneshot(request()).await.unwrap();
                        response.into_body().collect().await.unwrap();
                    }
                })
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("server_over_keep_alive_connection");
    for (name, router) in variants() {
        let addr = rt.block_on(serve(router));
        let url = format!("http://{addr}/hello");
        let client: Client<HttpConnector, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed(&rt, iters, || {
                    let mut client = client.clone();
                    let url = url.clone();
                    async move { get_over(&mut client, &url).await }
                })
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("client_call");
    let addr = rt.block_on(serve(hello()));
    let url = format!("http://{addr}/hello");
    let plain: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let traced = ServiceBuilder::new()
        .layer(ClientLayer::new(tracer(Sampler::always_on())))
        .service(plain.clone());
    group.bench_function("untraced", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                let mut client = plain.clone();
                let url = url.clone();
                async move { get_over(&mut client, &url).await }
            })
        })
    });
    group.bench_function("traced_100pct", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, || {
                let mut client = traced.clone();
                let url = url.clone();
                async move { get_over(&mut client, &url).await }
            })
        })
    });
    group.finish();
}

/// A layer's service that only forwards: what any layer costs in axum.
#[derive(Clone)]
struct PassThrough<S>(S);

impl<S: Service<R>, R> Service<R> for PassThrough<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        self.0.call(request)
    }
}

/// A layer that wraps the response future and body and does nothing else: what axum charges
/// any middleware of that shape (tower-http's trace, compression, timeouts…), the floor under
/// a tracing layer, which must end its span when the body ends.
#[derive(Clone)]
struct WrapsResponse<S>(S);

impl<S, R, B> Service<R> for WrapsResponse<S>
where
    S: Service<R, Response = http::Response<B>>,
{
    type Response = http::Response<Wrapped<B>>;
    type Error = S::Error;
    type Future = Wrapped<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        Wrapped {
            inner: self.0.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future and the body of [`WrapsResponse`].
    struct Wrapped<T> {
        #[pin]
        inner: T,
    }
}

impl<F, B, E> std::future::Future for Wrapped<F>
where
    F: std::future::Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<Wrapped<B>>, E>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let response = std::task::ready!(self.project().inner.poll(cx));
        std::task::Poll::Ready(response.map(|r| r.map(|inner| Wrapped { inner })))
    }
}

impl<B: http_body::Body> http_body::Body for Wrapped<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The connection benchmarks above run one after another, so drift on a shared machine
/// (seen here: the same untraced request measured 73 µs and 105 µs in two runs) can swamp a
/// few percent. This sends one request to each variant in turn, in a new random order every
/// round, thousands of times, timing each, and prints each variant's median and its ratio to
/// the untraced one: drift hits every variant alike, so these are the figures to compare. A
/// second untraced server shows the noise floor.
///
/// The servers run on a two-worker runtime and the client on a current-thread runtime of its
/// own, as a remote caller would: a client sharing the servers' workers adds its own polling
/// and work stealing to every request (the figures for that layout are in the closing note of
/// the issue that added this bench).
fn interleaved_overhead(_: &mut Criterion) {
    const REQUESTS: usize = 5000;
    const WARM_UP: usize = 200;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let traced_client = ServiceBuilder::new()
        .layer(ClientLayer::new(tracer(Sampler::always_on())))
        .service(client.clone());
    // A second untraced server: its difference from the first is this machine's noise floor.
    let mut servers = vec![("untraced (A/A)", hello())];
    servers.extend(variants());
    // What axum charges for any layer at all (it boxes and clones the layered route per
    // request): the floor under the traced variants.
    servers.push((
        "pass-through layer",
        hello().layer(tower::layer::layer_fn(PassThrough)),
    ));
    servers.push((
        "wrapping layer (future + body)",
        hello().layer(tower::layer::layer_fn(WrapsResponse)),
    ));
    let mut names: Vec<&str> = Vec::new();
    let mut urls: Vec<String> = Vec::new();
    for (name, router) in servers {
        names.push(name);
        urls.push(format!("http://{}/hello", rt.block_on(serve(router))));
    }
    let untraced = names.iter().position(|n| *n == "untraced").unwrap();
    // One slot more: the traced client calling the untraced server.
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(REQUESTS); urls.len() + 1];
    let mut order: Vec<usize> = (0..=urls.len()).collect();
    let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(0x7ace);
    let caller = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    caller.block_on(async {
        for round in 0..REQUESTS + WARM_UP {
            // A new order every round, so that no variant always follows the same one.
            rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
            for &slot in &order {
                let start = Instant::now();
                match urls.get(slot) {
                    Some(url) => get_over(&mut client.clone(), url).await,
                    None => get_over(&mut traced_client.clone(), &urls[untraced]).await,
                }
                if round >= WARM_UP {
                    samples[slot].push(start.elapsed().as_secs_f64() * 1e6);
                }
            }
        }
    });
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let medians: Vec<f64> = samples.iter_mut().map(median).collect();
    let base = medians[untraced];
    eprintln!(
        "interleaved in random order, median of {REQUESTS} requests each over keep-alive connections:"
    );
    names.push("client traced_100pct -> untraced");
    for (name, median) in names.iter().zip(&medians) {
        eprintln!(
            "  {name:<34} {median:8.2} µs  {:+.1}%",
            (median / base - 1.0) * 100.0
        );
    }
}

criterion_group!(benches, interleaved_overhead, http);
criterion_main!(benches);
