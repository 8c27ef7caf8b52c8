//! OpenTelemetry semantic-convention attribute keys, as constants so that setting them never
//! allocates.
//!
//! Only the names tracewire's layers and exporters use are here: the stable ones, and the RPC
//! ones in both their experimental (v1.37 and before) and release-candidate spellings, for the
//! migration [`RpcSemconv`](crate::http::RpcSemconv) selects. See the OpenTelemetry semantic
//! conventions for their meaning.

/// `service.name`: the logical name of the service (resource).
pub const SERVICE_NAME: &str = "service.name";
/// `service.version` (resource).
pub const SERVICE_VERSION: &str = "service.version";
/// `deployment.environment.name` (resource).
pub const DEPLOYMENT_ENVIRONMENT_NAME: &str = "deployment.environment.name";
/// `telemetry.sdk.name` (resource).
pub const TELEMETRY_SDK_NAME: &str = "telemetry.sdk.name";
/// `telemetry.sdk.language` (resource).
pub const TELEMETRY_SDK_LANGUAGE: &str = "telemetry.sdk.language";
/// `telemetry.sdk.version` (resource).
pub const TELEMETRY_SDK_VERSION: &str = "telemetry.sdk.version";

/// `http.request.method`.
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// `http.request.method_original`.
pub const HTTP_REQUEST_METHOD_ORIGINAL: &str = "http.request.method_original";
/// `http.response.status_code`.
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// `http.route`: the matched route template, e.g. `/users/{id}`.
pub const HTTP_ROUTE: &str = "http.route";
/// `url.path`.
pub const URL_PATH: &str = "url.path";
/// `url.query`.
pub const URL_QUERY: &str = "url.query";
/// `url.scheme`.
pub const URL_SCHEME: &str = "url.scheme";
/// `url.full`.
pub const URL_FULL: &str = "url.full";
/// `server.address`.
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port`.
pub const SERVER_PORT: &str = "server.port";
/// `client.address`.
pub const CLIENT_ADDRESS: &str = "client.address";
/// `network.peer.address`: the IP address (or Unix domain socket name) of the other end of
/// the connection, whatever proxies it came through.
pub const NETWORK_PEER_ADDRESS: &str = "network.peer.address";
/// `network.peer.port`: the port of the other end of the connection.
pub const NETWORK_PEER_PORT: &str = "network.peer.port";
/// `network.protocol.version`.
pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
/// `user_agent.original`.
pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";
/// `error.type`.
pub const ERROR_TYPE: &str = "error.type";

/// `rpc.system` (RPC, up to v1.37): `grpc`.
pub const RPC_SYSTEM: &str = "rpc.system";
/// `rpc.system.name` (RPC, release candidate): `grpc`.
pub const RPC_SYSTEM_NAME: &str = "rpc.system.name";
/// `rpc.service` (RPC, up to v1.37): the fully qualified service, e.g. `shop.Cart`.
pub const RPC_SERVICE: &str = "rpc.service";
/// `rpc.method`: up to v1.37 the method alone (`Add`); in the release candidate the fully
/// qualified method (`shop.Cart/Add`).
pub const RPC_METHOD: &str = "rpc.method";
/// `rpc.method_original` (RPC, release candidate): the method the caller named, when
/// `rpc.method` is `_OTHER`.
pub const RPC_METHOD_ORIGINAL: &str = "rpc.method_original";
/// `rpc.grpc.status_code` (RPC, up to v1.37): the gRPC status code as an integer.
pub const RPC_GRPC_STATUS_CODE: &str = "rpc.grpc.status_code";
/// `rpc.response.status_code` (RPC, release candidate): the status code's name, e.g.
/// `UNAVAILABLE`.
pub const RPC_RESPONSE_STATUS_CODE: &str = "rpc.response.status_code";

/// `exception.type`, on an `exception` event.
pub const EXCEPTION_TYPE: &str = "exception.type";
/// `exception.message`, on an `exception` event.
pub const EXCEPTION_MESSAGE: &str = "exception.message";
/// The name of the event that records an error.
pub const EXCEPTION_EVENT: &str = "exception";

/// The gRPC status codes by number, as their names (gRPC `statuscodes.md`), which
/// `rpc.response.status_code` carries in the RPC conventions' release candidate.
pub(crate) const GRPC_STATUS_CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];
