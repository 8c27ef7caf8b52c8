//! A service for the official W3C Trace Context test suite (`test/test.py` of the
//! w3c/trace-context repository), built on tracewire's propagator.
//!
//! The suite POSTs a JSON array of `{"url": …, "arguments": […]}` to this service; for each
//! element the service POSTs `arguments` to `url`, propagating the trace context of the
//! incoming request as a real service would: a server span that is a child of the caller, and
//! one child span (a new parent-id) per outgoing call.
//!
//! ```text
//! cargo run --example w3c_harness -- 127.0.0.1:5000 &
//! pip install aiohttp
//! SPEC_LEVEL=2 STRICT_LEVEL=2 python test/test.py http://127.0.0.1:5000/test
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tracewire::propagation::{Propagator, TraceContextPropagator};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5000".into())
        .parse()
        .map_err(|e| {
            format!("the first argument must be an address such as 127.0.0.1:5000: {e}")
        })?;
    let listener = TcpListener::bind(addr).await?;
    println!("W3C Trace Context harness service on http://{addr}/test");
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    loop {
        let (stream, _) = listener.accept().await?;
        let client = client.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(client.clone(), request));
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("connection error: {error}");
            }
        });
    }
}

async fn handle(
    client: HttpClient,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let propagator = TraceContextPropagator::new();
    let incoming = propagator.extract(request.headers());
    // The span this service would record for the request.
    let server = incoming.child();

    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => return Ok(reply(StatusCode::BAD_REQUEST, error.to_string())),
    };
    let calls: Vec<serde_json::Value> = match serde_json::from_slice(&body) {
        Ok(serde_json::Value::Array(calls)) => calls,
        Ok(_) => Vec::new(),
        Err(error) => return Ok(reply(StatusCode::BAD_REQUEST, error.to_string())),
    };

    for call in calls {
        let Some(url) = call.get("url").and_then(|u| u.as_str()) else {
            continue;
        };
        let arguments = call
            .get("arguments")
            .cloned()
            .unwrap_or(serde_json::Value::Array(Vec::new()));
        // One client span per call, so each callback sees a new parent-id.
        let outgoing = server.child();
        let mut headers = HeaderMap::new();
        propagator.inject(&outgoing, &mut headers);

        let mut builder = Request::post(url).header("content-type", "application/json");
        if let Some(map) = builder.headers_mut() {
            map.extend(headers);
        }
        let Ok(callback) = builder.body(Full::new(Bytes::from(arguments.to_string()))) else {
            continue;
        };
        match client.request(callback).await {
            Ok(response) => {
                let _ = response.into_body().collect().await;
            }
            Err(error) => eprintln!("callback to {url} failed: {error}"),
        }
    }
    Ok(reply(StatusCode::OK, "{}".into()))
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}
