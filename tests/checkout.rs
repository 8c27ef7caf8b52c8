//! The checkout demo's seven services, run in-process as `cargo run --example checkout` runs
//! them: one trace across HTTP (hyper), gRPC (tonic) and reqwest hops, its root cause, and the
//! error path with the statuses the conventions give each span.

#[path = "../examples/checkout/inventory.rs"]
mod inventory;
#[path = "../examples/checkout/services.rs"]
#[allow(dead_code)]
mod services;

use std::time::Duration;

use http::StatusCode;
use services::{Demo, Options, send_orders};
use tracewire::span::{SpanData, SpanKind, Status, Value};
use tracewire::view;

fn options() -> Options {
    Options {
        // Slow enough to stand out from the other hops, fast enough for a test.
        stripe_latency: Duration::from_millis(150),
        ..Options::default()
    }
}

/// The one span `service` recorded of `kind` named `name`.
fn span<'a>(spans: &'a [SpanData], service: &str, kind: SpanKind, name: &str) -> &'a SpanData {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.resource.service_name() == service && s.kind == kind && s.name == name)
        .collect();
    assert_eq!(found.len(), 1, "{service} {kind:?} {name}: {spans:#?}");
    found[0]
}

fn parent_of<'a>(spans: &'a [SpanData], child: &SpanData) -> &'a SpanData {
    let parent = child.parent_span_id.expect("a parent");
    spans
        .iter()
        .find(|s| s.span_context.span_id() == parent)
        .unwrap_or_else(|| panic!("the parent of {} is missing", child.name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_checkout_is_one_trace_across_http_grpc_and_reqwest_with_stripe_the_root_cause() {
    let demo = Demo::start(options()).await.unwrap();
    let statuses = send_orders(demo.gateway, 1, 1).await;
    let spans = demo.stop().await;
    assert_eq!(statuses, [Ok(StatusCode::OK)]);

    // 7 server spans, a client span for each of the 6 calls, and the database query.
    assert_eq!(spans.len(), 14, "{spans:#?}");
    let trace_id = spans[0].span_context.trace_id();
    assert!(spans.iter().all(|s| s.span_context.trace_id() == trace_id));

    let gateway = span(&spans, "api-gateway", SpanKind::Server, "POST /checkout");
    assert_eq!(gateway.parent_span_id, None);
    // Each hop: a server span whose parent is the caller's client span, a child of the
    // caller's server span.
    let hops = [
        (
            "auth",
            "POST /validateToken",
            "api-gateway",
            "POST /checkout",
        ),
        (
            "order",
            "POST /createOrder",
            "api-gateway",
            "POST /checkout",
        ),
        ("notify", "POST /sendEmail", "api-gateway", "POST /checkout"),
        (
            "inventory",
            "inventory.Inventory/ReserveItem",
            "order",
            "POST /createOrder",
        ),
        ("payment", "POST /chargeCard", "order", "POST /createOrder"),
        ("stripe", "POST /v1/charges", "payment", "POST /chargeCard"),
    ];
    for (service, name, caller, caller_name) in hops {
        let server = span(&spans, service, SpanKind::Server, name);
        assert!(server.parent_is_remote, "{service}");
        let client = parent_of(&spans, server);
        assert_eq!(
            (client.resource.service_name().as_ref(), client.kind),
            (caller, SpanKind::Client),
            "{service}"
        );
        let caller_span = parent_of(&spans, client);
        assert_eq!(
            (
                caller_span.resource.service_name().as_ref(),
                caller_span.name.as_ref()
            ),
            (caller, caller_name),
            "{service}"
        );
    }
    // The gRPC hop is recorded with the RPC conventions, the database call with the database
    // ones, as a child of the order's span.
    let reserve = span(
        &spans,
        "inventory",
        SpanKind::Server,
        "inventory.Inventory/ReserveItem",
    );
    assert_eq!(reserve.attribute("rpc.system"), Some(&Value::from("grpc")));
    let query = span(&spans, "order", SpanKind::Client, "postgres.query");
    assert_eq!(
        query.attribute("db.system.name"),
        Some(&Value::from("postgresql"))
    );
    assert_eq!(parent_of(&spans, query).name, "POST /createOrder");

    let traces = view::assemble(spans.clone());
    assert_eq!(traces.len(), 1);
    let cause = traces[0].root_cause().expect("a root cause").span();
    assert_eq!(
        (cause.resource.service_name().as_ref(), cause.name.as_ref()),
        ("stripe", "POST /v1/charges")
    );
    assert!(traces[0].error_origin().is_none());
    let tree = traces[0].render(&view::TextOptions::default());
    assert!(tree.contains("[stripe] POST /v1/charges"), "{tree}");
    assert!(tree.contains("← root cause"), "{tree}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_orders_carry_the_error_up_with_the_conventions_statuses() {
    let demo = Demo::start(Options {
        fail_rate: 1.0,
        ..options()
    })
    .await
    .unwrap();
    // Every order fails; the seed gives both kinds within a few requests.
    let statuses = send_orders(demo.gateway, 6, 2).await;
    let spans = demo.stop().await;
    let statuses: Vec<StatusCode> = statuses.into_iter().map(Result::unwrap).collect();
    assert!(
        statuses.contains(&StatusCode::PAYMENT_REQUIRED),
        "{statuses:?}"
    );
    assert!(statuses.contains(&StatusCode::CONFLICT), "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::PAYMENT_REQUIRED || *s == StatusCode::CONFLICT)
    );

    let traces = view::assemble(spans);
    assert_eq!(traces.len(), 6);
    for trace in &traces {
        let gateway = trace.roots().next().expect("a root").span();
        let status = match gateway.attribute("http.response.status_code") {
            Some(Value::I64(status)) => *status,
            other => panic!("no status code: {other:?}"),
        };
        // A 4xx answer is the caller's error, not the server's (HTTP conventions, status):
        // the gateway's server span stays unset; every client span on the way is an error.
        assert_eq!(gateway.status, Status::Unset);
        let origin = trace.error_origin().expect("an error origin").span();
        assert_eq!(origin.kind, SpanKind::Client);
        match status {
            402 => {
                // Stripe declined: the error starts at payment's call to stripe.
                assert_eq!(origin.resource.service_name(), "payment");
                assert_eq!(
                    origin.attribute("http.response.status_code"),
                    Some(&Value::I64(402))
                );
            }
            409 => {
                // Out of stock: it starts at order's gRPC call to inventory.
                assert_eq!(origin.resource.service_name(), "order");
                assert_eq!(origin.name, "inventory.Inventory/ReserveItem");
                let Status::Error { message } = &origin.status else {
                    panic!("{:?}", origin.status)
                };
                assert!(message.contains("out of stock"), "{message}");
            }
            other => panic!("unexpected status {other}"),
        }
        let errors: Vec<_> = trace
            .spans()
            .iter()
            .map(|node| node.span())
            .filter(|s| matches!(s.status, Status::Error { .. }))
            .collect();
        assert!(
            errors.iter().all(|s| s.kind == SpanKind::Client),
            "{errors:#?}"
        );
        // The gateway's call to order, and each call below it on the failing path.
        assert!(errors.len() >= 2, "{errors:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_sampling_decision_travels_to_every_service() {
    let demo = Demo::start(Options {
        sample: 0.0,
        ..options()
    })
    .await
    .unwrap();
    let statuses = send_orders(demo.gateway, 3, 3).await;
    let spans = demo.stop().await;
    assert!(
        statuses.iter().all(|s| s == &Ok(StatusCode::OK)),
        "{statuses:?}"
    );
    // Not sampled at the edge: not one service records a span of these requests.
    assert!(spans.is_empty(), "{spans:#?}");
}
