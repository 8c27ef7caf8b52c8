//! An unsampled, request-shaped span allocates nothing: counted by a global allocator that
//! this test binary installs.

use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};

use http::HeaderMap;
use tracewire::sampling::Sampler;
use tracewire::sink::MemorySink;
use tracewire::span::SpanKind;
use tracewire::{FutureExt, Tracer};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{allocations_during, run};

async fn handler() {
    // What instrumented handler code does: child spans, attributes, events, errors.
    let query = tracewire::span("postgres.query")
        .attr("db.system.name", "postgresql")
        .attr("db.operation.name", "SELECT")
        .start();
    query.set_attribute("db.response.returned_rows", 3_i64);
    query.add_event("rows fetched", Vec::new());
    query.end();
    let validate = tracewire::local_span("validate rows");
    validate.set_attribute("rows", 3_i64);
    drop(validate);
    async {
        tracewire::span("render").start().end();
    }
    .in_current_span()
    .await;
}

#[test]
fn an_unsampled_request_allocates_nothing() {
    let sink = MemorySink::new();
    let tracer = Tracer::builder()
        .service_name("alloc-test")
        .sampler(Sampler::parent_based(Sampler::always_on()))
        .sink(sink.clone())
        .build();
    let mut headers = HeaderMap::new();
    headers.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
            .parse()
            .unwrap(),
    );
    // Warm up thread-locals (the id generator's seed, the current-context slot).
    drop(tracer.span("warm-up").start());
    let _ = tracer.propagator().extract(&headers);
    assert_eq!(sink.take().len(), 1);

    let unsampled_request = |headers: &HeaderMap| {
        let incoming = tracer.propagator().extract(headers);
        let span = tracer
            .span("GET /users/{id}")
            .kind(SpanKind::Server)
            .parent(incoming.span_context.as_ref())
            .attr("http.request.method", "GET")
            .attr("http.route", "/users/{id}")
            .attr("url.scheme", "http")
            .start();
        assert!(!span.is_recording());
        assert!(!span.span_context().unwrap().flags().is_sampled());
        span.set_attribute("http.response.status_code", 200_i64);
        run(span.in_scope(handler()));
    };
    let allocations = allocations_during(|| unsampled_request(&headers));
    assert_eq!(allocations, 0, "an unsampled request allocated");
    assert!(sink.spans().is_empty());
    assert_eq!(
        tracer.stats().sampled_out,
        3,
        "server, query and render spans (a local span under a span that does not record is \
         not even started)"
    );

    // The same request, sampled, does allocate: the counter is live.
    let mut sampled_headers = headers.clone();
    sampled_headers.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    let sampled = allocations_during(|| {
        let incoming = tracer.propagator().extract(&sampled_headers);
        let span = tracer
            .span("GET /users/{id}")
            .kind(SpanKind::Server)
            .parent(incoming.span_context.as_ref())
            .start();
        run(span.in_scope(handler()));
    });
    assert!(sampled > 0);
    assert_eq!(
        sink.spans().len(),
        4,
        "server, query, validate and render spans"
    );

    // A sampled request in between changes nothing for the next unsampled one.
    let allocations = allocations_during(|| unsampled_request(&headers));
    assert_eq!(
        allocations, 0,
        "an unsampled request after a sampled one allocated"
    );
}

/// The whole path through the layers: a server layer whose handler calls a downstream
/// service through the client layer, unsampled, against the same stack without tracing.
/// Injecting `traceparent` writes into a per-thread buffer that is replaced every few dozen
/// requests (two allocations: the buffer and its shared header), so tracing may add that,
/// and nothing per request.
#[test]
fn unsampled_requests_through_the_layers_allocate_nothing_per_request() {
    use http::{Request, Response};
    use http_body_util::BodyExt;
    use tower::{Layer, Service, ServiceExt, service_fn};
    use tracewire::http::{ClientLayer, ServerLayer};

    const REQUESTS: usize = 300;
    let tracer = Tracer::builder()
        .service_name("alloc-test")
        .sampler(Sampler::parent_based(Sampler::always_off()))
        .build();

    let downstream = service_fn(|request: Request<String>| async move {
        // The trace travels on, not sampled, whatever the layers did.
        let flags = match request.headers().get("traceparent") {
            Some(value) if value.as_bytes().ends_with(b"-00") => "not sampled",
            Some(_) => "sampled",
            None => "no traceparent",
        };
        Ok::<_, std::convert::Infallible>(Response::new(flags.to_string()))
    });
    let handler = |client: Option<ClientLayer>| {
        service_fn(move |_request: Request<String>| {
            let client = client.clone();
            async move {
                let call = Request::get("http://downstream/items")
                    .header("accept", "text/plain")
                    .body(String::new())
                    .unwrap();
                let answer = match client {
                    Some(layer) => {
                        let response = layer.layer(downstream).oneshot(call).await.unwrap();
                        response.into_body().collect().await.unwrap().to_bytes()
                    }
                    None => {
                        let response = downstream.oneshot(call).await.unwrap();
                        response.into_body().collect().await.unwrap().to_bytes()
                    }
                };
                Ok::<_, std::convert::Infallible>(Response::new(
                    String::from_utf8_lossy(&answer).into_owned(),
                ))
            }
        })
    };
    let incoming = || {
        Request::get("http://edge/checkout")
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            )
            .body(String::new())
            .unwrap()
    };

    let mut plain = handler(None);
    let mut traced =
        ServerLayer::new(tracer.clone()).layer(handler(Some(ClientLayer::new(tracer.clone()))));
    let mut answers = Vec::with_capacity(2);
    let mut serve_plain = || {
        let response = run(plain.call(incoming())).unwrap();
        run(response.into_body().collect()).unwrap().to_bytes()
    };
    let mut serve_traced = || {
        let response = run(traced.call(incoming())).unwrap();
        run(response.into_body().collect()).unwrap().to_bytes()
    };
    // Warm up thread-locals and interned names on both paths.
    answers.push(serve_plain());
    answers.push(serve_traced());
    assert_eq!(answers, ["no traceparent", "not sampled"]);

    let untraced = allocations_during(|| {
        for _ in 0..REQUESTS {
            serve_plain();
        }
    });
    let with_tracing = allocations_during(|| {
        for _ in 0..REQUESTS {
            serve_traced();
        }
    });
    let extra = with_tracing.saturating_sub(untraced);
    assert!(
        extra <= REQUESTS / 25,
        "tracing added {extra} allocations to {REQUESTS} unsampled requests \
         ({with_tracing} against {untraced})"
    );
    assert_eq!(tracer.stats().spans_started, 0);
}

/// A body of two ready frames (a message, then trailers), made before counting.
struct GrpcBody(Option<http_body::Frame<bytes::Bytes>>, Option<HeaderMap>);

impl http_body::Body for GrpcBody {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        let frame = match self.0.take() {
            Some(data) => Some(data),
            None => self.1.take().map(http_body::Frame::trailers),
        };
        Poll::Ready(frame.map(Ok))
    }
}

#[test]
fn an_unsampled_grpc_call_through_the_server_layer_allocates_nothing() {
    use tower::{Layer, Service};
    use tracewire::http::{RpcSemconv, ServerLayer};

    let sink = MemorySink::new();
    let tracer = Tracer::builder()
        .sampler(Sampler::parent_based(Sampler::always_on()))
        .sink(sink.clone())
        .build();
    // Requests and responses are made before counting: only the layer's work is counted.
    let request = || {
        http::Request::post("/shop.Cart/Add")
            .header("content-type", "application/grpc")
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            )
            .body(())
            .unwrap()
    };
    let response = || {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "14".parse().unwrap());
        trailers.insert("grpc-message", "down%20for%20now".parse().unwrap());
        let message = http_body::Frame::data(bytes::Bytes::from_static(b"\0"));
        http::Response::new(GrpcBody(Some(message), Some(trailers)))
    };
    let mut requests = vec![request(), request()];
    let mut responses = vec![response(), response()];
    let inner = tower::service_fn(move |_: http::Request<()>| {
        std::future::ready(Ok::<_, std::convert::Infallible>(responses.pop().unwrap()))
    });
    let mut service = ServerLayer::new(tracer.clone())
        .rpc_semconv(RpcSemconv::Dup)
        .layer(inner);
    let mut one_call = || {
        let response = run(service.call(requests.pop().unwrap())).unwrap();
        let mut body = pin!(response.into_body());
        let mut cx = TaskContext::from_waker(Waker::noop());
        while let Poll::Ready(Some(_)) = http_body::Body::poll_frame(body.as_mut(), &mut cx) {}
    };
    // The first call interns `shop.Cart/Add` and warms up thread-locals.
    one_call();
    let allocations = allocations_during(one_call);
    assert_eq!(allocations, 0, "an unsampled gRPC call allocated");
    assert!(sink.spans().is_empty());
    assert_eq!(tracer.stats().sampled_out, 2);
}

/// What extracting `headers` with every propagator allocates.
fn extraction_allocations(headers: &HeaderMap) -> usize {
    use tracewire::propagation::{
        B3Propagator, BaggagePropagator, CompositePropagator, JaegerPropagator, Propagator,
        TraceContextPropagator, XRayPropagator,
    };
    let propagator = CompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator),
        Box::new(B3Propagator::single()),
        Box::new(JaegerPropagator),
        Box::new(XRayPropagator),
    ]);
    allocations_during(|| drop(propagator.extract(headers)))
}

fn with_header(name: &'static str, value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "traceparent",
        http::HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    );
    headers.insert(name, http::HeaderValue::from_str(value).unwrap());
    headers
}

/// A hostile header costs what the largest valid one of its kind costs, give or take a small
/// factor, however large it is: parsing stops building once the limits are reached.
#[test]
fn hostile_propagation_headers_allocate_within_a_bound() {
    // The largest baggage that must be propagated: 64 members, 8192 bytes.
    let largest_valid: Vec<String> = (0..64)
        .map(|i| format!("key{i:02}={}", "v".repeat(120)))
        .collect();
    let largest_valid = largest_valid.join(",");
    assert!(largest_valid.len() <= 8192);
    let valid = extraction_allocations(&with_header("baggage", &largest_valid));

    let ten_thousand: Vec<String> = (0..10_000).map(|i| format!("k{i}=v{i}")).collect();
    let hostile = [
        ("10,000 entries", ten_thousand.join(",")),
        ("380 KB", format!("k={}", "x".repeat(380_000))),
        ("380 KB of small members", "a=b,".repeat(95_000)),
        ("bad escapes", "k=%zz%%,".repeat(10_000)),
    ];
    for (what, value) in hostile {
        let cost = extraction_allocations(&with_header("baggage", &value));
        assert!(
            cost <= 3 * valid,
            "baggage, {what}: {cost} allocations, {valid} for the largest valid one"
        );
    }

    let largest_state: Vec<String> = (0..32).map(|i| format!("vendor{i}=value{i}")).collect();
    let valid = extraction_allocations(&with_header("tracestate", &largest_state.join(",")));
    let members: Vec<String> = (0..10_000).map(|i| format!("k{i}=v")).collect();
    let cost = extraction_allocations(&with_header("tracestate", &members.join(",")));
    assert!(
        cost <= 3 * valid.max(1),
        "tracestate: {cost} allocations, {valid} valid"
    );

    let valid = extraction_allocations(&with_header("uberctx-tenant", "acme"));
    let mut headers = with_header("uber-trace-id", &"4bf92f3577b34da6:".repeat(500));
    for i in 0..90 {
        let name = http::HeaderName::try_from(format!("uberctx-k{i}")).unwrap();
        headers.insert(
            name,
            http::HeaderValue::from_str(&"v".repeat(4000)).unwrap(),
        );
    }
    let cost = extraction_allocations(&headers);
    assert!(cost <= 64 * 3 * valid.max(1), "jaeger: {cost} allocations");
}
