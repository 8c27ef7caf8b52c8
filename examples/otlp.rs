//! Sends a few spans to an OTLP receiver configured by the standard variables, then prints what
//! the batch sink did with them.
//!
//! ```text
//! # an OpenTelemetry Collector, Jaeger or Tempo listening on localhost:4318 (the default):
//! cargo run --example otlp --features otlp
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 OTEL_SERVICE_NAME=demo \
//!     cargo run --example otlp --features otlp
//! OTEL_EXPORTER_OTLP_PROTOCOL=grpc cargo run --example otlp --features otlp-grpc
//! OTEL_TRACES_EXPORTER=zipkin cargo run --example otlp --features zipkin
//! ```
//!
//! A bad variable stops the program with a message naming it (strict mode): a service would
//! rather fail at start-up than run without the traces it thinks it sends.

use std::time::Duration;

use tracewire::Tracer;
use tracewire::span::{KeyValue, SpanKind, Status};

fn main() {
    let tracer = match Tracer::from_env().strict() {
        Ok(builder) => builder.build(),
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };

    let server = tracer
        .span("GET /orders/{id}")
        .kind(SpanKind::Server)
        .attr("http.request.method", "GET")
        .attr("http.route", "/orders/{id}")
        .start();
    {
        let query = server
            .child("SELECT orders")
            .kind(SpanKind::Client)
            .attr("db.system.name", "postgresql")
            .start();
        query.add_event(
            "rows",
            vec![KeyValue::new("db.response.returned_rows", 1_i64)],
        );
        query.end();
    }
    server.set_attribute("http.response.status_code", 200_i64);
    server.set_status(Status::Ok);
    server.end();

    let flushed = tracer.shutdown(Duration::from_secs(30));
    let stats = tracer.stats().sink;
    println!(
        "exported {}, failed {}, rejected {}, dropped (queue full) {}: {}",
        stats.exported,
        stats.export_failed,
        stats.export_rejected,
        stats.dropped_queue_full,
        match flushed {
            Ok(_) => "flushed".to_string(),
            Err(error) => error.to_string(),
        }
    );
}
