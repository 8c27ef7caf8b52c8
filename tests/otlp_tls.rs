//! OTLP over `https`: HTTP/protobuf and gRPC to TLS receivers on 127.0.0.1 whose self-signed
//! certificate is trusted through `OtlpConfig::certificate_pem`
//! (`OTEL_EXPORTER_OTLP_CERTIFICATE`), and refused without it.

mod receiver;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;
use receiver::{assert_request_holds, end_rich_spans, tracer_with};
use tokio_rustls::rustls;
use tracewire::Tracer;
use tracewire::export::otlp::{OtlpConfig, OtlpExporter, Protocol, RetryPolicy};
use tracewire::sink::{BatchConfig, BatchSink, FanOut, MemorySink};

struct Identity {
    cert_pem: String,
    key_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

fn identity() -> Identity {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    Identity {
        cert_pem: certified.cert.pem(),
        key_pem: certified.signing_key.serialize_pem(),
        cert_der: certified.cert.der().to_vec(),
        key_der: certified.signing_key.serialize_der(),
    }
}

/// An HTTPS receiver recording request bodies; with `client`, it accepts only connections that
/// show that certificate (mutual TLS).
async fn https_receiver(
    identity: &Identity,
    client: Option<&Identity>,
) -> (Arc<Mutex<Vec<Vec<u8>>>>, u16) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client {
        None => builder.with_no_client_auth(),
        Some(client) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(client.cert_der.clone().into()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(
            vec![identity.cert_der.clone().into()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(identity.key_der.clone().into()),
        )
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let recorded = bodies.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let recorded = recorded.clone();
            tokio::spawn(async move {
                // A client that does not trust us hangs up during the handshake.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let recorded = recorded.clone();
                        async move {
                            let body = request.into_body().collect().await.unwrap().to_bytes();
                            recorded.lock().unwrap().push(body.to_vec());
                            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
                        }
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (bodies, port)
}

/// The receiver got one request, holding exactly the spans the memory sink saw.
fn assert_delivered_once(bodies: &Mutex<Vec<Vec<u8>>>, memory: &MemorySink) {
    let received = bodies.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let decoded = ExportTraceServiceRequest::decode(&received[0][..]).unwrap();
    assert_request_holds(&decoded, &memory.spans());
}

fn traced(config: OtlpConfig) -> (Tracer, MemorySink) {
    let memory = MemorySink::new();
    let batch = BatchSink::with_config(
        OtlpExporter::new(config).unwrap(),
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

async fn shutdown(tracer: &Tracer) -> Result<(), tracewire::sink::SinkError> {
    let tracer = tracer.clone();
    tokio::task::spawn_blocking(move || tracer.shutdown(Duration::from_secs(30)))
        .await
        .unwrap()
        .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_trusted_private_ca_delivers_and_an_untrusted_one_fails() {
    let identity = identity();
    let (bodies, port) = https_receiver(&identity, None).await;
    let endpoint = format!("https://localhost:{port}/v1/traces");

    let (tracer, memory) = traced(OtlpConfig {
        endpoint: endpoint.clone(),
        certificate_pem: Some(identity.cert_pem.clone().into_bytes()),
        ..OtlpConfig::default()
    });
    end_rich_spans(&tracer);
    shutdown(&tracer).await.unwrap();
    assert_delivered_once(&bodies, &memory);

    // Without the CA the handshake fails, and the spans are counted as failed.
    let (tracer, _) = traced(OtlpConfig {
        endpoint,
        retry: RetryPolicy::disabled(),
        ..OtlpConfig::default()
    });
    end_rich_spans(&tracer);
    assert!(shutdown(&tracer).await.is_err());
    assert_eq!(tracer.stats().sink.export_failed, 3);
    assert_eq!(bodies.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_shows_the_client_certificate() {
    let (server, client) = (identity(), identity());
    let (bodies, port) = https_receiver(&server, Some(&client)).await;
    let endpoint = format!("https://localhost:{port}/v1/traces");
    let config = |client_identity_pem| OtlpConfig {
        endpoint: endpoint.clone(),
        certificate_pem: Some(server.cert_pem.clone().into_bytes()),
        client_identity_pem,
        retry: RetryPolicy::disabled(),
        ..OtlpConfig::default()
    };

    // Without a client certificate the receiver refuses the connection.
    let (tracer, _) = traced(config(None));
    end_rich_spans(&tracer);
    assert!(shutdown(&tracer).await.is_err());
    assert!(bodies.lock().unwrap().is_empty());

    // With it (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and _CLIENT_KEY), the spans arrive.
    let pem = (
        client.cert_pem.clone().into_bytes(),
        client.key_pem.clone().into_bytes(),
    );
    let (tracer, memory) = traced(config(Some(pem)));
    end_rich_spans(&tracer);
    shutdown(&tracer).await.unwrap();
    assert_delivered_once(&bodies, &memory);
}

#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_delivers() {
    let identity = identity();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let collector = Collector::default();
    let tls = tonic::transport::ServerTlsConfig::new().identity(
        tonic::transport::Identity::from_pem(&identity.cert_pem, &identity.key_pem),
    );
    let service = TraceServiceServer::new(collector.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .tls_config(tls)
            .unwrap()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });

    let (tracer, memory) = traced(OtlpConfig {
        protocol: Protocol::Grpc,
        endpoint: format!("https://localhost:{port}"),
        certificate_pem: Some(identity.cert_pem.clone().into_bytes()),
        ..OtlpConfig::default()
    });
    end_rich_spans(&tracer);
    shutdown(&tracer).await.unwrap();
    let requests = collector.0.lock().unwrap();
    assert_eq!(requests.len(), 1);
    assert_request_holds(&requests[0], &memory.spans());
}
