//! What receivers make tracewire log (its own test binary, since it installs the process's
//! logger): a receiver that rejects some spans of every batch is logged once at `warn` level,
//! not once per batch; and whatever text a hostile receiver sends (a partial success's message,
//! an error body, a gRPC status message) becomes one bounded, escaped log line.

mod receiver;

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message as _;
use receiver::{Answer, Receiver, tracer_with};
use tracewire::export::otlp::{OtlpConfig, OtlpExporter};
use tracewire::sink::{BatchConfig, BatchSink};

#[path = "common/log_capture.rs"]
mod log_capture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_successes_are_counted_every_time_and_warned_about_once() {
    log_capture::install();

    let receiver = Receiver::start().await;
    let partial = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 1,
            error_message: "span too old".into(),
        }),
    };
    receiver.script((0..3).map(|_| Answer {
        body: partial.encode_to_vec(),
        ..Answer::status(200)
    }));
    let exporter = OtlpExporter::new(OtlpConfig {
        endpoint: format!("{}/v1/traces", receiver.base_url()),
        ..OtlpConfig::default()
    })
    .unwrap();
    let tracer = tracer_with(BatchSink::with_config(
        exporter,
        BatchConfig {
            scheduled_delay: Duration::from_secs(60),
            ..BatchConfig::default()
        },
    ));
    for batch in 0..3 {
        for i in 0..2 {
            tracer.span(format!("batch {batch} span {i}")).start().end();
        }
        let flush = tracer.clone();
        tokio::task::spawn_blocking(move || flush.force_flush(Duration::from_secs(10)))
            .await
            .unwrap()
            .unwrap();
    }

    assert_eq!(receiver.received().len(), 3);
    let stats = tracer.stats().sink;
    assert_eq!((stats.exported, stats.export_rejected), (3, 3));
    let partial = log_capture::warnings_with("span too old");
    assert_eq!(partial.len(), 1, "{partial:?}");
    assert!(partial[0].contains("span too old"));
}

/// What a hostile receiver writes: forged log lines, terminal escapes, a bidi override.
fn hostile_text(bytes: usize) -> String {
    let pattern = "HOSTILE\n[ERROR forged] service is down\r\n\u{1b}[2J\u{202e}";
    pattern.repeat(bytes / pattern.len() + 1)
}

/// A log line that came from untrusted text: one line, no control characters, bounded.
fn assert_one_safe_line(line: &str) {
    assert!(
        !line
            .chars()
            .any(|c| c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}')),
        "unescaped characters in {line:?}"
    );
    assert!(line.len() < 2048, "{} bytes", line.len());
    assert!(line.contains("HOSTILE\\n[ERROR forged]"), "{line}");
}

fn flushing_tracer(endpoint: String) -> tracewire::Tracer {
    let exporter = OtlpExporter::new(OtlpConfig {
        endpoint,
        retry: tracewire::export::otlp::RetryPolicy::disabled(),
        ..OtlpConfig::default()
    })
    .unwrap();
    tracer_with(BatchSink::with_config(
        exporter,
        BatchConfig {
            scheduled_delay: Duration::from_secs(60),
            ..BatchConfig::default()
        },
    ))
}

async fn send_two_spans(tracer: &tracewire::Tracer) {
    tracer.span("first").start().end();
    tracer.span("second").start().end();
    let flush = tracer.clone();
    let _ = tokio::task::spawn_blocking(move || flush.force_flush(Duration::from_secs(10))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_partial_success_is_one_bounded_escaped_line() {
    log_capture::install();
    let receiver = Receiver::start().await;
    let partial = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 1 << 62,
            error_message: format!("PARTIAL{}", hostile_text(4_000_000)),
        }),
    };
    receiver.script([Answer {
        body: partial.encode_to_vec(),
        ..Answer::status(200)
    }]);
    let tracer = flushing_tracer(format!("{}/v1/traces", receiver.base_url()));
    send_two_spans(&tracer).await;

    let stats = tracer.stats().sink;
    assert_eq!((stats.exported, stats.export_rejected), (0, 2));
    let lines = log_capture::warnings_with("PARTIALHOSTILE");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_one_safe_line(&lines[0]);
    // The count is what this exporter sent, not the 2^62 the receiver claimed.
    assert!(lines[0].contains("rejected 2 spans"), "{}", lines[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_error_body_is_one_bounded_escaped_line() {
    log_capture::install();
    let receiver = Receiver::start().await;
    receiver.script([Answer {
        body: format!("BODY{}", hostile_text(3 << 20)).into_bytes(),
        ..Answer::status(400)
    }]);
    let tracer = flushing_tracer(format!("{}/v1/traces", receiver.base_url()));
    send_two_spans(&tracer).await;

    assert_eq!(tracer.stats().sink.export_failed, 2);
    let lines = log_capture::warnings_with("BODYHOSTILE");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_one_safe_line(&lines[0]);
    assert!(lines[0].contains("HTTP 400"), "{}", lines[0]);
}

/// A gRPC receiver that answers every call with a trailers-only `INVALID_ARGUMENT` whose
/// `grpc-message` is hostile (percent-encoded, as gRPC sends it; tonic decodes it).
#[cfg(feature = "otlp-grpc")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_grpc_status_message_is_one_bounded_escaped_line() {
    use axum::response::Response;

    log_capture::install();
    let message = format!("GRPC{}", hostile_text(6 << 10));
    let mut encoded = String::new();
    for b in message.bytes() {
        match b {
            0x20..=0x7e if b != b'%' => encoded.push(b as char),
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    let app = axum::Router::new().fallback(move || {
        let encoded = encoded.clone();
        async move {
            Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "3")
                .header("grpc-message", encoded)
                .body(axum::body::Body::empty())
                .unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let exporter = OtlpExporter::new(OtlpConfig {
        protocol: tracewire::export::otlp::Protocol::Grpc,
        endpoint: format!("http://{addr}"),
        retry: tracewire::export::otlp::RetryPolicy::disabled(),
        ..OtlpConfig::default()
    })
    .unwrap();
    let tracer = tracer_with(BatchSink::with_config(
        exporter,
        BatchConfig {
            scheduled_delay: Duration::from_secs(60),
            ..BatchConfig::default()
        },
    ));
    send_two_spans(&tracer).await;

    assert_eq!(tracer.stats().sink.export_failed, 2);
    let lines = log_capture::warnings_with("GRPCHOSTILE");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_one_safe_line(&lines[0]);
    assert!(lines[0].contains("InvalidArgument"), "{}", lines[0]);
}
