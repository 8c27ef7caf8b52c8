//! The OTLP/gRPC exporter against a real tonic `TraceService` on 127.0.0.1, generated from the
//! official `opentelemetry-proto` definitions.

mod receiver;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use receiver::{assert_request_holds, end_rich_spans, shutdown, tracer_with};
use tonic::codec::CompressionEncoding;
use tonic::{Code, Request, Response, Status};
use tracewire::Tracer;
use tracewire::export::Compression;
use tracewire::export::otlp::{OtlpConfig, OtlpExporter, Protocol};
use tracewire::sink::{BatchConfig, BatchSink, FanOut, MemorySink};

#[derive(Default)]
struct Recorded {
    requests: Vec<(
        tonic::metadata::MetadataMap,
        ExportTraceServiceRequest,
        Instant,
    )>,
    script: VecDeque<Result<ExportTraceServiceResponse, Status>>,
}

#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Recorded>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut recorded = self.0.lock().unwrap();
        let metadata = request.metadata().clone();
        recorded
            .requests
            .push((metadata, request.into_inner(), Instant::now()));
        match recorded.script.pop_front() {
            Some(Ok(response)) => Ok(Response::new(response)),
            Some(Err(status)) => Err(status),
            None => Ok(Response::new(ExportTraceServiceResponse::default())),
        }
    }
}

async fn start_collector() -> (Collector, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let collector = Collector::default();
    let service =
        TraceServiceServer::new(collector.clone()).accept_compressed(CompressionEncoding::Gzip);
    #[cfg(feature = "zstd")]
    let service = service.accept_compressed(CompressionEncoding::Zstd);
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    (collector, format!("http://{addr}"))
}

fn traced(config: OtlpConfig) -> (Tracer, MemorySink) {
    let memory = MemorySink::new();
    let exporter = OtlpExporter::new(config).unwrap();
    let batch = BatchSink::with_config(
        exporter,
        BatchConfig {
            scheduled_delay: Duration::from_millis(50),
            ..BatchConfig::default()
        },
    );
    (
        tracer_with(FanOut::new().with(memory.clone()).with(batch)),
        memory,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_arrive_over_grpc_with_gzip_and_metadata() {
    let (collector, endpoint) = start_collector().await;
    let (tracer, memory) = traced(OtlpConfig {
        protocol: Protocol::Grpc,
        endpoint,
        compression: Compression::Gzip,
        headers: vec![("x-api-key".into(), "s3cret".into())],
        ..OtlpConfig::default()
    });
    end_rich_spans(&tracer);
    shutdown(&tracer).await;

    let recorded = collector.0.lock().unwrap();
    assert_eq!(recorded.requests.len(), 1);
    let (metadata, request, _) = &recorded.requests[0];
    assert_eq!(metadata.get("x-api-key").unwrap(), "s3cret");
    assert_eq!(metadata.get("grpc-encoding").unwrap(), "gzip");
    // The exporter names itself first (tonic appends its own token).
    let agent = metadata.get("user-agent").unwrap().to_str().unwrap();
    let ours = concat!("tracewire/", env!("CARGO_PKG_VERSION"));
    assert!(agent.starts_with(&format!("{ours} ")), "{agent}");
    assert_request_holds(request, &memory.spans());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_is_retried_invalid_argument_is_not_and_partial_success_counts() {
    let (collector, endpoint) = start_collector().await;
    collector.0.lock().unwrap().script.extend([
        Err(Status::unavailable("restarting")),
        Ok(ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 1,
                error_message: "too old".into(),
            }),
        }),
        Err(Status::new(Code::InvalidArgument, "bad")),
    ]);
    let (tracer, _memory) = traced(OtlpConfig {
        protocol: Protocol::Grpc,
        endpoint,
        ..OtlpConfig::default()
    });
    end_rich_spans(&tracer);
    let flush = tracer.clone();
    tokio::task::spawn_blocking(move || flush.force_flush(Duration::from_secs(30)))
        .await
        .unwrap()
        .unwrap();
    end_rich_spans(&tracer);
    let _ = tokio::task::spawn_blocking({
        let tracer = tracer.clone();
        move || tracer.shutdown(Duration::from_secs(30))
    })
    .await;

    assert_eq!(collector.0.lock().unwrap().requests.len(), 3);
    let stats = tracer.stats().sink;
    // The memory sink counts 6 exported; the batch sink 2 exported, 1 rejected, 3 failed.
    assert_eq!(stats.exported, 6 + 2);
    assert_eq!(stats.export_rejected, 1);
    assert_eq!(stats.export_failed, 3);
}

#[cfg(feature = "zstd")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_over_grpc() {
    let (collector, endpoint) = start_collector().await;
    let (tracer, memory) = traced(OtlpConfig {
        protocol: Protocol::Grpc,
        endpoint,
        compression: Compression::Zstd,
        ..OtlpConfig::default()
    });
    end_rich_spans(&tracer);
    shutdown(&tracer).await;
    let recorded = collector.0.lock().unwrap();
    let (metadata, request, _) = &recorded.requests[0];
    assert_eq!(metadata.get("grpc-encoding").unwrap(), "zstd");
    assert_request_holds(request, &memory.spans());
}

/// `google.rpc.Status` details holding a `google.rpc.RetryInfo` with a one-second delay.
fn retry_info_one_second() -> Vec<u8> {
    let duration = [0x08, 0x01]; // google.protobuf.Duration { seconds: 1 }
    let mut retry_info = vec![0x0a, duration.len() as u8];
    retry_info.extend_from_slice(&duration);
    let url = b"type.googleapis.com/google.rpc.RetryInfo";
    let mut any = vec![0x0a, url.len() as u8];
    any.extend_from_slice(url);
    any.extend_from_slice(&[0x12, retry_info.len() as u8]);
    any.extend_from_slice(&retry_info);
    let mut details = vec![0x08, 0x08, 0x1a, any.len() as u8];
    details.extend_from_slice(&any);
    details
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_exhausted_with_retry_info_waits_the_delay_and_is_retried() {
    let (collector, endpoint) = start_collector().await;
    collector
        .0
        .lock()
        .unwrap()
        .script
        .extend([Err(Status::with_details(
            Code::ResourceExhausted,
            "slow down",
            retry_info_one_second().into(),
        ))]);
    let (tracer, memory) = traced(OtlpConfig {
        protocol: Protocol::Grpc,
        endpoint,
        ..OtlpConfig::default()
    });
    end_rich_spans(&tracer);
    shutdown(&tracer).await;
    let recorded = collector.0.lock().unwrap();
    assert_eq!(recorded.requests.len(), 2);
    assert!(recorded.requests[1].2 - recorded.requests[0].2 >= Duration::from_secs(1));
    assert_request_holds(&recorded.requests[1].1, &memory.spans());
    assert_eq!(tracer.stats().sink.export_failed, 0);
}
