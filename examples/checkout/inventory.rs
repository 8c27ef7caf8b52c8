//! The inventory service's gRPC API, `inventory.Inventory/ReserveItem`, written out by hand
//! (what `tonic-build` would generate from a one-method `.proto`), so that the demo needs no
//! protobuf compiler.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use tonic::body::Body;
use tonic::server::{NamedService, UnaryService};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

/// The full method name, as it travels in the request path.
const RESERVE_ITEM: &str = "/inventory.Inventory/ReserveItem";

/// `message ReserveRequest { string sku = 1; uint32 quantity = 2; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReserveRequest {
    #[prost(string, tag = "1")]
    pub sku: String,
    #[prost(uint32, tag = "2")]
    pub quantity: u32,
}

/// `message ReserveReply { string reservation_id = 1; }`
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReserveReply {
    #[prost(string, tag = "1")]
    pub reservation_id: String,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The server: one method, answered by `reserve`.
#[derive(Clone)]
pub struct InventoryServer<F> {
    reserve: F,
}

impl<F, Fut> InventoryServer<F>
where
    F: Fn(ReserveRequest) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<ReserveReply, Status>> + Send + 'static,
{
    pub fn new(reserve: F) -> Self {
        Self { reserve }
    }
}

impl<F> NamedService for InventoryServer<F> {
    const NAME: &'static str = "inventory.Inventory";
}

/// One call of `reserve`, in the shape tonic's `Grpc::unary` takes.
struct Reserve<F>(F);

impl<F, Fut> UnaryService<ReserveRequest> for Reserve<F>
where
    F: Fn(ReserveRequest) -> Fut,
    Fut: Future<Output = Result<ReserveReply, Status>> + Send + 'static,
{
    type Response = ReserveReply;
    type Future = BoxFuture<Result<Response<ReserveReply>, Status>>;

    fn call(&mut self, request: Request<ReserveRequest>) -> Self::Future {
        let reply = (self.0)(request.into_inner());
        Box::pin(async move { reply.await.map(Response::new) })
    }
}

impl<F, Fut> tower::Service<http::Request<Body>> for InventoryServer<F>
where
    F: Fn(ReserveRequest) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<ReserveReply, Status>> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let reserve = self.reserve.clone();
        Box::pin(async move {
            if request.uri().path() != RESERVE_ITEM {
                return Ok(Status::unimplemented("no such method").into_http());
            }
            let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
            Ok(grpc.unary(Reserve(reserve), request).await)
        })
    }
}

/// Calls `ReserveItem` over `channel` (any tower service speaking gRPC over HTTP/2, such as a
/// `Channel` wrapped in tracewire's client layer).
pub async fn reserve_item<T>(channel: T, request: ReserveRequest) -> Result<ReserveReply, Status>
where
    T: tonic::client::GrpcService<Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("inventory is not reachable: {}", e.into())))?;
    let codec = ProstCodec::<ReserveRequest, ReserveReply>::default();
    let path = PathAndQuery::from_static(RESERVE_ITEM);
    grpc.unary(Request::new(request), path, codec)
        .await
        .map(Response::into_inner)
}
