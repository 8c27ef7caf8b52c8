//! The `tracing` bridge allocates nothing for an unsampled request: `#[instrument]` spans and
//! events inside it are left alone. Counted by a global allocator this test binary installs
//! (its own binary, so no other test's allocator interferes).

use http::HeaderMap;
use tracewire::integrations::tracing::TracewireLayer;
use tracewire::sampling::Sampler;
use tracewire::sink::MemorySink;
use tracewire::span::SpanKind;
use tracewire::{FutureExt, Tracer};
use tracing::instrument;
use tracing_subscriber::layer::SubscriberExt;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{allocations_during, run};

#[instrument(fields(otel.kind = "internal", rows = tracing::field::Empty))]
async fn load_order(order_id: i64) {
    tracing::info!(order_id, "loading");
    tracing::Span::current().record("rows", 3_i64);
    load_items(order_id).await;
}

#[instrument]
async fn load_items(order_id: i64) {
    async {
        tracing::info_span!("render", items = 3_i64).in_scope(|| tracing::error!("declined"));
    }
    .in_current_span()
    .await;
}

fn request(tracer: &Tracer, traceparent: &'static str) {
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", http::HeaderValue::from_static(traceparent));
    let incoming = tracer.propagator().extract(&headers);
    let span = tracer
        .span("GET /orders/{id}")
        .kind(SpanKind::Server)
        .parent(incoming.span_context.as_ref())
        .start();
    run(span.in_scope(load_order(7)));
}

const UNSAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
const SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The allocations of an unsampled request after warm-up, under `subscriber`: the least of
/// a few runs (the registry's slab grows in its first ones).
fn unsampled_allocations(
    tracer: &Tracer,
    subscriber: impl tracing::Subscriber + Send + Sync,
) -> usize {
    let _default = tracing::subscriber::set_default(subscriber);
    request(tracer, SAMPLED);
    (0..5)
        .map(|_| allocations_during(|| request(tracer, UNSAMPLED)))
        .min()
        .unwrap_or(usize::MAX)
}

#[test]
fn an_unsampled_request_through_the_bridge_allocates_nothing_for_tracewire() {
    let sink = MemorySink::new();
    let tracer = Tracer::builder()
        .service_name("alloc-test")
        .sampler(Sampler::parent_based(Sampler::always_on()))
        .sink(sink.clone())
        .build();

    // `tracing-subscriber`'s registry allocates a little per request whoever listens: the
    // baseline is the same request with the registry alone.
    let registry_alone = unsampled_allocations(&tracer, tracing_subscriber::registry());
    let with_bridge = unsampled_allocations(
        &tracer,
        tracing_subscriber::registry().with(TracewireLayer::new()),
    );
    assert_eq!(
        with_bridge, registry_alone,
        "the bridge allocated for an unsampled request"
    );
    // Only the two warm-up requests were sampled: server span, and under the bridge its
    // three `tracing` spans.
    assert_eq!(sink.take().len(), 1 + 4);

    // Under the bridge, every unsampled request after a sampled one allocates no more than
    // the registry alone; the sampled one allocates (the counter is live) and converts.
    let _default = tracing::subscriber::set_default(
        tracing_subscriber::registry().with(TracewireLayer::new()),
    );
    for _ in 0..3 {
        assert!(allocations_during(|| request(&tracer, SAMPLED)) > registry_alone);
        assert_eq!(sink.take().len(), 4);
        let unsampled = allocations_during(|| request(&tracer, UNSAMPLED));
        assert!(
            unsampled <= registry_alone,
            "{unsampled} > {registry_alone}"
        );
        assert!(sink.spans().is_empty());
    }
}
