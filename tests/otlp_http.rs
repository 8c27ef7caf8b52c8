//! The OTLP/HTTP exporter against a real HTTP receiver on 127.0.0.1: protobuf and JSON decode
//! with the official `opentelemetry-proto` types; gzip, headers, retries, partial success,
//! a receiver that is down, and shutdown.

mod receiver;

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use receiver::{
    Answer, Receiver, assert_request_holds, end_rich_spans, eventually, shutdown, tracer_with,
};
use tracewire::Tracer;
use tracewire::export::Compression;
use tracewire::export::otlp::{OtlpConfig, OtlpExporter, Protocol, RetryPolicy};
use tracewire::sink::{BatchConfig, BatchSink, FanOut, MemorySink, SpanSink};

fn config(receiver: &Receiver) -> OtlpConfig {
    OtlpConfig {
        endpoint: format!("{}/v1/traces", receiver.base_url()),
        ..OtlpConfig::default()
    }
}

fn quick_batches() -> BatchConfig {
    BatchConfig {
        scheduled_delay: Duration::from_millis(50),
        ..BatchConfig::default()
    }
}

/// A tracer exporting through `config`, and a memory copy of every span it ends.
fn traced(config: OtlpConfig) -> (Tracer, MemorySink) {
    let memory = MemorySink::new();
    let exporter = OtlpExporter::new(config).unwrap();
    let sink = FanOut::new()
        .with(memory.clone())
        .with(BatchSink::with_config(exporter, quick_batches()));
    (tracer_with(sink), memory)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_spans_arrive_complete_and_decode_with_the_official_types() {
    let receiver = Receiver::start().await;
    let (tracer, memory) = traced(config(&receiver));
    end_rich_spans(&tracer);
    shutdown(&tracer).await;

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.path, "/v1/traces");
    assert_eq!(request.headers["content-type"], "application/x-protobuf");
    assert!(
        request.headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("tracewire/")
    );
    let decoded = ExportTraceServiceRequest::decode(&request.body[..]).unwrap();
    let spans = memory.spans();
    assert_eq!(spans.len(), 3);
    assert!(spans.iter().any(|s| s.parent_is_remote));
    assert_request_holds(&decoded, &spans);
    let stats = tracer.stats().sink;
    assert_eq!(stats.exported, 3 + 3, "memory and batch sink each count 3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_spans_decode_with_the_official_serde_types() {
    let receiver = Receiver::start().await;
    let (tracer, memory) = traced(OtlpConfig {
        protocol: Protocol::HttpJson,
        ..config(&receiver)
    });
    end_rich_spans(&tracer);
    shutdown(&tracer).await;

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].headers["content-type"], "application/json");
    let body = &received[0].body;
    let decoded: ExportTraceServiceRequest = serde_json::from_slice(body).unwrap();
    assert_request_holds(&decoded, &memory.spans());

    // The OTLP/JSON rules the serde types do not check: hex ids, integer enums, 64-bit
    // integers as strings, lowerCamelCase.
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    let span = &json["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == 2)
        .unwrap()
        .clone();
    assert_eq!(span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span["parentSpanId"], "00f067aa0ba902b7");
    assert!(span["startTimeUnixNano"].is_string());
    assert_eq!(span["status"]["code"], 2);
    assert_eq!(span["traceState"], "vendor=abc,other=x-1");
    let negative = span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "negative")
        .unwrap();
    assert_eq!(negative["value"]["intValue"], "-7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bodies_and_configured_headers_arrive() {
    let receiver = Receiver::start().await;
    let (tracer, memory) = traced(OtlpConfig {
        compression: Compression::Gzip,
        headers: vec![
            ("x-api-key".into(), "s3cret".into()),
            ("x-tenant".into(), "a b".into()),
        ],
        ..config(&receiver)
    });
    end_rich_spans(&tracer);
    shutdown(&tracer).await;

    let received = receiver.received();
    let request = &received[0];
    assert_eq!(request.headers["content-encoding"], "gzip");
    assert_eq!(request.headers["x-api-key"], "s3cret");
    assert_eq!(request.headers["x-tenant"], "a b");
    let decoded = ExportTraceServiceRequest::decode(&request.body[..]).unwrap();
    assert_request_holds(&decoded, &memory.spans());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_every_span_arrives() {
    let receiver = Receiver::start().await;
    let throttled = Answer {
        status: 503,
        retry_after: Some("1"),
        ..Answer::status(503)
    };
    receiver.script([throttled.clone(), throttled]);
    let (tracer, memory) = traced(config(&receiver));
    end_rich_spans(&tracer);
    shutdown(&tracer).await;

    let received = receiver.received();
    assert_eq!(received.len(), 3, "two 503s, then the accepted attempt");
    for pair in received.windows(2) {
        assert!(
            pair[1].at - pair[0].at >= Duration::from_secs(1),
            "each retry waits the Retry-After"
        );
        assert_eq!(pair[0].body, pair[1].body, "the same batch is sent again");
    }
    let decoded = ExportTraceServiceRequest::decode(&received[2].body[..]).unwrap();
    assert_request_holds(&decoded, &memory.spans());
    let stats = tracer.stats().sink;
    assert_eq!((stats.export_failed, stats.export_rejected), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_errors_are_not_retried_and_are_counted() {
    let receiver = Receiver::start().await;
    receiver.script([Answer::status(400), Answer::status(500)]);
    let (tracer, _memory) = traced(config(&receiver));
    end_rich_spans(&tracer);
    tracer.force_flush(Duration::from_secs(10)).unwrap_err();
    end_rich_spans(&tracer);
    let _ = tokio::task::spawn_blocking({
        let tracer = tracer.clone();
        move || tracer.shutdown(Duration::from_secs(10))
    })
    .await;
    assert_eq!(receiver.received().len(), 2, "one attempt per batch");
    assert_eq!(tracer.stats().sink.export_failed, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_success_is_counted_and_not_retried() {
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTracePartialSuccess, ExportTraceServiceResponse,
    };
    let receiver = Receiver::start().await;
    let response = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 2,
            error_message: "spans too old".into(),
        }),
    };
    receiver.script([Answer {
        body: response.encode_to_vec(),
        ..Answer::status(200)
    }]);
    let exporter = OtlpExporter::new(config(&receiver)).unwrap();
    let tracer = tracer_with(BatchSink::with_config(exporter, quick_batches()));
    end_rich_spans(&tracer);
    shutdown(&tracer).await;

    assert_eq!(receiver.received().len(), 1);
    let stats = tracer.stats().sink;
    assert_eq!((stats.exported, stats.export_rejected), (1, 2));
    assert_eq!(stats.exported + stats.dropped(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_then_back_gets_what_fits_and_every_span_is_counted() {
    // Find a free port, and leave it closed for now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let exporter = OtlpExporter::new(OtlpConfig {
        endpoint: format!("http://{port}/v1/traces"),
        timeout: Duration::from_millis(500),
        retry: RetryPolicy {
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            max_elapsed: Duration::from_secs(2),
            ..RetryPolicy::default()
        },
        ..OtlpConfig::default()
    })
    .unwrap();
    let sink = BatchSink::with_config(
        exporter,
        BatchConfig {
            max_queue_size: 64,
            max_export_batch_size: 16,
            scheduled_delay: Duration::from_millis(20),
            export_timeout: Duration::from_secs(5),
        },
    );
    let tracer = tracer_with(sink);

    // While it is down: spans are taken without blocking, the queue fills, the rest is dropped.
    let started = Instant::now();
    for i in 0..500 {
        tracer.span(format!("down {i}")).start().end();
    }
    assert!(started.elapsed() < Duration::from_secs(1), "never blocks");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let receiver = Receiver::start_on(port).await;
    let ended_down = 500;
    // Everything ended while it was down is exported or counted as dropped, and spans flow.
    assert!(
        eventually(Duration::from_secs(20), || {
            let stats = tracer.stats().sink;
            stats.exported > 0 && stats.exported + stats.dropped() == ended_down
        })
        .await,
        "spans flow again once the receiver is back: {:?}",
        tracer.stats().sink
    );
    for i in 0..20 {
        tracer.span(format!("up {i}")).start().end();
    }
    shutdown(&tracer).await;

    let stats = tracer.stats().sink;
    let ended = ended_down + 20;
    assert_eq!(stats.exported + stats.dropped(), ended, "{stats:?}");
    assert!(stats.dropped_queue_full > 0, "{stats:?}");
    let arrived: usize = receiver
        .received()
        .iter()
        .map(|r| {
            let request = ExportTraceServiceRequest::decode(&r.body[..]).unwrap();
            request.resource_spans[0].scope_spans[0].spans.len()
        })
        .sum();
    assert_eq!(arrived as u64, stats.exported);
    let names: Vec<String> = receiver
        .received()
        .iter()
        .flat_map(|r| {
            let request = ExportTraceServiceRequest::decode(&r.body[..]).unwrap();
            request.resource_spans[0].scope_spans[0]
                .spans
                .iter()
                .map(|s| s.name.clone())
                .collect::<Vec<_>>()
        })
        .collect();
    for i in 0..20 {
        assert!(
            names.contains(&format!("up {i}")),
            "shutdown flushed up {i}"
        );
    }
}

#[test]
fn bad_endpoints_are_refused_with_their_value() {
    for endpoint in [
        "localhost:4318",
        "ftp://x/v1/traces",
        "http://",
        "not a url",
    ] {
        let error = OtlpExporter::new(OtlpConfig {
            endpoint: endpoint.into(),
            ..OtlpConfig::default()
        })
        .unwrap_err();
        assert!(error.to_string().contains(endpoint), "{error}");
    }
    let error = OtlpExporter::new(OtlpConfig {
        headers: vec![("bad header".into(), "x".into())],
        ..OtlpConfig::default()
    })
    .unwrap_err();
    assert!(error.to_string().contains("bad header"), "{error}");
}

#[test]
fn shared_sink_stats_trait_is_usable() {
    // The exporter is an `Exporter`; its batch sink reports the new rejected counter.
    let sink = BatchSink::new(OtlpExporter::http("http://127.0.0.1:9").unwrap());
    assert_eq!(sink.stats().export_rejected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracer_from_env_picks_the_otlp_exporter_and_its_variables() {
    let receiver = Receiver::start().await;
    let base = receiver.base_url();
    let configured = tracewire::TracerBuilder::from_env_with(|name| match name {
        "OTEL_SERVICE_NAME" => Some("from-env".into()),
        "OTEL_TRACES_EXPORTER" => Some("otlp".into()),
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(base.clone()),
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" => Some("http/json".into()),
        "OTEL_EXPORTER_OTLP_HEADERS" => Some("authorization=Bearer%20t0ken".into()),
        "OTEL_BSP_SCHEDULE_DELAY" => Some("50".into()),
        _ => None,
    });
    assert!(
        configured.warnings().is_empty(),
        "{:?}",
        configured.warnings()
    );
    let tracer = configured.build();
    tracer.span("from env").start().end();
    shutdown(&tracer).await;

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].headers["authorization"], "Bearer t0ken");
    let decoded: ExportTraceServiceRequest = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(
        decoded.resource_spans[0].scope_spans[0].spans[0].name,
        "from env"
    );
    assert_eq!(tracer.stats().sink.exported, 1);
}

#[test]
fn unknown_exporters_and_unusable_endpoints_are_warned_about() {
    // An exporter that cannot start: an https endpoint without the `tls` feature, or with it a
    // certificate file that holds no certificate.
    let not_pem = std::env::temp_dir().join(format!("tracewire-not-pem-{}", std::process::id()));
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let not_pem = not_pem.to_string_lossy().into_owned();
    let configured = tracewire::TracerBuilder::from_env_with(|name| match name {
        "OTEL_TRACES_EXPORTER" => Some("otlp,jaeger".into()),
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" => Some("https://collector:4318/v1/traces".into()),
        "OTEL_EXPORTER_OTLP_CERTIFICATE" => Some(not_pem.clone()),
        _ => None,
    });
    let _ = std::fs::remove_file(&not_pem);
    let warnings: Vec<String> = configured
        .warnings()
        .iter()
        .map(|w| w.to_string())
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].starts_with("OTEL_TRACES_EXPORTER=\"otlp\""));
    if cfg!(feature = "tls") {
        assert!(warnings[0].contains("no PEM certificate"), "{warnings:?}");
    } else {
        assert!(warnings[0].contains("https://collector:4318/v1/traces"));
    }
    assert!(warnings[1].starts_with("OTEL_TRACES_EXPORTER=\"jaeger\""));
    assert!(configured.strict().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_bounds_each_batch_export_retries_included() {
    // "Maximum time the OTLP exporter will wait for each batch export": a receiver slower
    // than that gets no second attempt, however many the retry policy allows.
    let receiver = Receiver::start().await;
    receiver.script([Answer {
        delay: Duration::from_secs(2),
        ..Answer::status(200)
    }]);
    let (tracer, _memory) = traced(OtlpConfig {
        timeout: Duration::from_millis(300),
        retry: RetryPolicy {
            initial_backoff: Duration::from_millis(10),
            ..RetryPolicy::default()
        },
        ..config(&receiver)
    });
    let started = Instant::now();
    end_rich_spans(&tracer);
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "never blocks"
    );
    let flush = tracer.clone();
    let result = tokio::task::spawn_blocking(move || flush.force_flush(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(result.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "gave up at the timeout"
    );
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(tracer.stats().sink.export_failed, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_timeout_is_no_limit() {
    // "SHOULD interpret timeout zero values (i.e. 0 indicating 0 milliseconds) as no limit".
    let receiver = Receiver::start().await;
    receiver.script([Answer {
        delay: Duration::from_millis(300),
        ..Answer::status(200)
    }]);
    let configured = OtlpConfig::from_env_with(|name| {
        (name == "OTEL_EXPORTER_OTLP_TIMEOUT").then(|| "0".to_string())
    });
    assert!(configured.warnings.is_empty());
    assert_eq!(configured.value.timeout, Duration::ZERO);
    let (tracer, _memory) = traced(OtlpConfig {
        timeout: configured.value.timeout,
        ..config(&receiver)
    });
    end_rich_spans(&tracer);
    shutdown(&tracer).await;
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(tracer.stats().sink.export_failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_whose_body_stalls_is_not_sent_again() {
    let receiver = Receiver::start().await;
    receiver.script([Answer {
        body: b"late".to_vec(),
        body_delay: Duration::from_secs(2),
        ..Answer::status(200)
    }]);
    let (tracer, _memory) = traced(OtlpConfig {
        timeout: Duration::from_millis(300),
        retry: RetryPolicy {
            initial_backoff: Duration::from_millis(10),
            ..RetryPolicy::default()
        },
        ..config(&receiver)
    });
    end_rich_spans(&tracer);
    shutdown(&tracer).await;
    // The 200 said the spans were taken: the stalled body is read as empty, not retried.
    assert_eq!(receiver.received().len(), 1);
    let stats = tracer.stats().sink;
    assert_eq!((stats.exported, stats.export_failed), (6, 0));
}

/// 70 spans of a 1 MiB attribute each: together over the 64 MiB a request may carry.
fn end_70_one_mib_spans(tracer: &Tracer) {
    let big = "x".repeat(1 << 20);
    for i in 0..70 {
        tracer
            .span(format!("big {i}"))
            .attr("payload", big.clone())
            .start()
            .end();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_64_mib_is_split_into_requests_under_it() {
    let receiver = Receiver::start().await;
    let (tracer, memory) = traced(config(&receiver));
    end_70_one_mib_spans(&tracer);
    shutdown(&tracer).await;
    let received = receiver.received();
    assert!(received.len() >= 2, "{} requests", received.len());
    let mut names = Vec::new();
    for request in &received {
        assert!(
            request.body.len() <= 64 << 20,
            "{} bytes",
            request.body.len()
        );
        let decoded = ExportTraceServiceRequest::decode(&request.body[..]).unwrap();
        names.extend(
            decoded.resource_spans[0].scope_spans[0]
                .spans
                .iter()
                .map(|s| s.name.clone()),
        );
    }
    let expected: Vec<String> = memory.spans().iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, expected);
    assert_eq!(tracer.stats().sink.export_failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_one_part_of_a_split_batch_fails_only_its_spans_count_as_failed() {
    let receiver = Receiver::start().await;
    // The first request is refused for good (400 is not retried); the rest are taken.
    receiver.script([Answer::status(400)]);
    // One batch of all 70 spans (sent at shutdown, the schedule being far off), so that it
    // has to be split.
    let exporter = OtlpExporter::new(config(&receiver)).unwrap();
    let tracer = tracer_with(BatchSink::with_config(exporter, BatchConfig::default()));
    end_70_one_mib_spans(&tracer);
    let closing = tracer.clone();
    let result = tokio::task::spawn_blocking(move || closing.shutdown(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(result.is_err(), "a shutdown that lost spans says so");
    let received = receiver.received();
    assert!(received.len() >= 2, "{} requests", received.len());
    let spans_in = |body: &[u8]| {
        ExportTraceServiceRequest::decode(body)
            .unwrap()
            .resource_spans[0]
            .scope_spans[0]
            .spans
            .len() as u64
    };
    let refused = spans_in(&received[0].body);
    let taken: u64 = received[1..].iter().map(|r| spans_in(&r.body)).sum();
    assert_eq!(refused + taken, 70);
    let stats = tracer.stats().sink;
    assert_eq!(stats.export_failed, refused, "{stats:?}");
    assert_eq!(stats.exported, taken, "{stats:?}");
}

#[cfg(feature = "zstd")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_bodies_arrive() {
    let receiver = Receiver::start().await;
    let (tracer, memory) = traced(OtlpConfig {
        compression: Compression::Zstd,
        ..config(&receiver)
    });
    end_rich_spans(&tracer);
    shutdown(&tracer).await;
    let received = receiver.received();
    assert_eq!(received[0].headers["content-encoding"], "zstd");
    let decoded = ExportTraceServiceRequest::decode(&received[0].body[..]).unwrap();
    assert_request_holds(&decoded, &memory.spans());
}

#[cfg(not(feature = "zstd"))]
#[test]
fn zstd_without_the_feature_is_refused() {
    let error = OtlpExporter::new(OtlpConfig {
        compression: Compression::Zstd,
        ..OtlpConfig::default()
    })
    .unwrap_err();
    assert!(error.to_string().contains("`zstd` feature"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_or_garbage_success_bodies_are_not_read_and_not_errors() {
    let receiver = Receiver::start().await;
    receiver.script([
        Answer {
            body: vec![0x0a; 5 << 20], // over the 4 MiB limit
            ..Answer::status(200)
        },
        Answer {
            body: b"\xff\xff not protobuf".to_vec(),
            ..Answer::status(200)
        },
    ]);
    let (tracer, _memory) = traced(config(&receiver));
    end_rich_spans(&tracer);
    let flush = tracer.clone();
    tokio::task::spawn_blocking(move || flush.force_flush(Duration::from_secs(10)))
        .await
        .unwrap()
        .unwrap();
    end_rich_spans(&tracer);
    shutdown(&tracer).await;
    assert_eq!(receiver.received().len(), 2);
    let stats = tracer.stats().sink;
    assert_eq!((stats.export_failed, stats.export_rejected), (0, 0));
    assert_eq!(
        stats.exported, 12,
        "6 in the memory sink, 6 in the batch sink"
    );
}

/// A collector that takes the request and never answers: once shutdown's deadline passes,
/// every span is in exactly one counter and the result names the ones given up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_collector_loses_nothing_silently_at_shutdown() {
    let receiver = Receiver::start().await;
    receiver.script([Answer {
        delay: Duration::from_secs(3600),
        ..Answer::status(200)
    }]);
    let exporter = OtlpExporter::http(&receiver.base_url()).unwrap();
    let tracer = tracer_with(BatchSink::with_config(
        exporter,
        BatchConfig {
            max_export_batch_size: 64,
            scheduled_delay: Duration::from_millis(10),
            ..BatchConfig::default()
        },
    ));
    for i in 0..200 {
        tracer.span(format!("span {i}")).start().end();
    }
    assert!(eventually(Duration::from_secs(10), || receiver.received().len() == 1).await);

    let shut = tracer.clone();
    let result = tokio::task::spawn_blocking(move || shut.shutdown(Duration::from_millis(200)))
        .await
        .unwrap();
    let stats = tracer.stats().sink;
    assert_eq!(
        result,
        Err(tracewire::sink::SinkError::ShutdownTimeout {
            after: Duration::from_millis(200),
            unsent: 200
        })
    );
    assert_eq!(
        (stats.queued, stats.dropped_unsent, stats.pending()),
        (200, 200, 0)
    );
    assert_eq!(
        receiver.received().len(),
        1,
        "nothing is sent after giving up"
    );
}
