//! The HTTP edge: turns `/v1/…` calls into logical requests and logical responses into Vault's
//! JSON envelopes. Nothing below this module sees HTTP.

mod admit;
mod limits;
mod render;
mod serve;
mod watch;

pub use admit::UNAUTHENTICATED_BODY_LIMIT;
pub(crate) use limits::parse_body;
pub use serve::{serve, Listener};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request as HttpRequest, State};
use axum::http::{header, HeaderMap, Method};
use axum::response::Response as HttpResponse;
use axum::Router;
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request};
use crate::core::Core;

/// The header that makes a read bypass the KV cache.
pub const CONSISTENCY_HEADER: &str = "x-coffer-consistency";

/// Per-server limits on what one client may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Body limit in bytes.
    pub max_request_size: usize,
    /// JSON nesting limit.
    pub max_json_depth: usize,
    /// Longest wait for a request's headers, from the connection's start or its first byte
    /// after an idle period.
    pub header_read_timeout: std::time::Duration,
    /// A connection with no request in flight and no bytes arriving is closed after this long.
    pub idle_timeout: std::time::Duration,
    /// Longest wait for a request's whole body once its headers are in; 408 after it.
    pub body_read_timeout: std::time::Duration,
    /// Most connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Most Argon2 computations running or waiting at once; more get 503 with `Retry-After`.
    pub argon2_queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_size: crate::server::config::DEFAULT_MAX_REQUEST_SIZE,
            max_json_depth: crate::server::config::DEFAULT_MAX_JSON_DEPTH,
            header_read_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(300),
            body_read_timeout: std::time::Duration::from_secs(30),
            max_connections: 4096,
            argon2_queue: 64,
        }
    }
}

#[derive(Clone)]
struct AppState {
    core: Arc<Core>,
    limits: Limits,
}

/// The router: one handler for every `/v1/` path; routing by mount happens in the core.
pub fn router(core: Arc<Core>, limits: Limits) -> Router {
    Router::new().fallback(handle).with_state(AppState { core, limits })
}

/// The client's address, set per connection by the server loop.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The client's certificate chain (DER, leaf first), set per TLS connection by the server loop
/// when the client presented one; the handshake proved it holds the leaf's key.
#[derive(Debug, Clone)]
pub struct PeerCerts(pub Arc<Vec<Vec<u8>>>);

/// Paths that get the client's certificate chain: logins (the cert method) and token renewals
/// (SEC-15: a cert-login token renews only with the same certificate).
fn takes_peer_certs(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    (path.starts_with("auth/") && path.ends_with("/login"))
        || matches!(path, "auth/token/renew-self" | "auth/token/renew" | "auth/token/renew-accessor")
}

/// A request as the edge hands it on.
enum Incoming {
    /// Body read: the core runs it.
    Run(Request),
    /// Refused from its headers, body unread: the core only audits and answers the refusal.
    Refused(Request),
}

/// Serves one request and counts it (`coffer_request_duration_seconds`), by method, the type
/// of the mount its path reaches and the status class: never by path, token or anything else a
/// client chose.
async fn handle(State(state): State<AppState>, req: HttpRequest) -> HttpResponse {
    let start = std::time::Instant::now();
    let method = crate::core::metrics::METHODS.iter().copied().find(|m| *m == req.method().as_str()).unwrap_or("other");
    let aws = crate::server::aws::serve::is_aws(&req);
    let kind = if aws { crate::core::metrics::AWS } else { mount_type(&state.core, req.uri().path()) };
    let core = state.core.clone();
    let resp = serve_one(state, req, aws).await;
    core.metrics.request(method, kind, resp.status().as_u16(), start.elapsed());
    resp
}

/// The type of the mount `path` (`/v1/…`) reaches, `none` if it reaches none.
fn mount_type(core: &Core, path: &str) -> &'static str {
    let Some(rest) = path.strip_prefix("/v1/") else { return crate::core::metrics::NO_MOUNT };
    let table = core.mounts.load();
    match table.route(rest) {
        Some((mount, _)) => core.metrics.kind(&mount.row.kind),
        None => crate::core::metrics::NO_MOUNT,
    }
}

/// Serves one request: the AWS API's (`aws`, SigV4 on `POST /`) or the Vault API's.
async fn serve_one(state: AppState, req: HttpRequest, aws: bool) -> HttpResponse {
    if aws {
        let limits = crate::server::aws::serve::BodyLimits {
            max_size: state.limits.max_request_size,
            max_depth: state.limits.max_json_depth,
            read_timeout: state.limits.body_read_timeout,
        };
        return crate::server::aws::serve::serve(&state.core, req, limits).await;
    }
    let head = req.method() == Method::HEAD;
    let (request_id, result) = match to_logical(&state, req).await {
        Ok(incoming) => {
            let (Incoming::Run(logical) | Incoming::Refused(logical)) = &incoming;
            let id = logical.id.clone();
            // Path and operation only: bodies, query values and tokens are never logged.
            tracing::debug!(request_id = %id, operation = logical.operation.as_str(), path = %logical.path, "request");
            let result = match incoming {
                Incoming::Run(logical) => state.core.handle(logical).await,
                Incoming::Refused(logical) => state.core.refuse_unread(logical).await,
            };
            (id, result)
        }
        Err(e) => (String::new(), Err(e)),
    };
    match &result {
        Ok(_) => tracing::debug!(request_id = %request_id, "request served"),
        Err(e) => tracing::debug!(request_id = %request_id, status = e.status.as_u16(), "request failed"),
    }
    let resp = match result {
        Ok(r) => render::response(&request_id, r),
        Err(e) => render::error(&e),
    };
    if head {
        let (parts, _) = resp.into_parts();
        return HttpResponse::from_parts(parts, Body::empty());
    }
    resp
}

fn token_from(headers: &HeaderMap) -> Option<SecretString> {
    if let Some(t) = headers.get("x-vault-token").and_then(|v| v.to_str().ok()).filter(|t| !t.is_empty()) {
        return Some(SecretString::from(t.to_string()));
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, value) = auth.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !value.trim().is_empty())
        .then(|| SecretString::from(value.trim().to_string()))
}

async fn to_logical(state: &AppState, req: HttpRequest) -> Result<Incoming, ApiError> {
    let (parts, body) = req.into_parts();
    let raw_path = parts.uri.path();
    let Some(rest) = raw_path.strip_prefix("/v1/") else {
        return Err(ApiError::not_found());
    };
    limits::check_path_length(rest)?;
    let path = limits::clean_path(rest)?;
    if let Some(ns) = parts.headers.get("x-vault-namespace").and_then(|v| v.to_str().ok()) {
        if !ns.is_empty() && ns.trim_matches('/') != "root" {
            return Err(ApiError::bad_request("namespaces are not supported"));
        }
    }
    let query: Vec<(String, String)> = match parts.uri.query() {
        Some(q) => serde_urlencoded::from_str(q).map_err(|_| ApiError::bad_request("invalid query string"))?,
        None => Vec::new(),
    };
    let list_param = query.iter().any(|(k, v)| k == "list" && v == "true");
    let operation = match parts.method.as_str() {
        "GET" | "HEAD" if list_param => Operation::List,
        "GET" | "HEAD" => Operation::Read,
        "LIST" => Operation::List,
        "POST" | "PUT" => Operation::Update,
        "DELETE" => Operation::Delete,
        "PATCH" => {
            let ct = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            if ct.split(';').next().map(str::trim) != Some("application/merge-patch+json") {
                return Err(ApiError::unsupported_media(ct));
            }
            Operation::Patch
        }
        _ => return Err(ApiError { errors: Vec::new(), ..ApiError::unsupported_operation() }),
    };
    if parts.method == Method::HEAD && path != "sys/health" {
        return Err(ApiError { errors: Vec::new(), ..ApiError::unsupported_operation() });
    }
    let path = if operation == Operation::List && !path.ends_with('/') && !path.is_empty() {
        format!("{path}/")
    } else {
        path
    };
    let wrap_ttl = match parts.headers.get("x-vault-wrap-ttl").and_then(|v| v.to_str().ok()) {
        Some(v) if !v.trim().is_empty() => Some(
            crate::base::duration::parse_str(v)
                .map_err(|e| ApiError::bad_request(format!("error parsing X-Vault-Wrap-TTL header: {e}")))?,
        ),
        _ => None,
    };
    // One spelling only: anything but `strong` is refused rather than read as the default.
    let strong = match parts.headers.get(CONSISTENCY_HEADER).map(|v| v.to_str()) {
        None => false,
        Some(Ok("strong")) => true,
        Some(_) => return Err(ApiError::bad_request(format!("{CONSISTENCY_HEADER}: the only value is \"strong\""))),
    };
    let mut logical = Request {
        id: uuid::Uuid::new_v4().to_string(),
        wrap_ttl,
        strong,
        operation,
        path,
        data: Map::new(),
        token: token_from(&parts.headers),
        client_addr: parts.extensions.get::<PeerAddr>().map(|p| p.0),
        raw: None,
        peer_certs: None,
    };
    if takes_peer_certs(&logical.path) {
        logical.peer_certs = parts.extensions.get::<PeerCerts>().map(|c| c.0.clone());
    }
    let client = logical.client_addr.map(|a| a.ip());
    // Rate-limit quotas count every request, before its token or body is looked at.
    state.core.rate_limits.check(&logical.path, client)?;
    // A snapshot to restore is the whole body, not JSON, and may be larger than other bodies.
    let snapshot = crate::engines::sys::takes_snapshot(&logical.path, operation);
    let snapshot_max = snapshot.then(|| usize::try_from(state.core.snapshots.load().max_size).unwrap_or(usize::MAX));
    // SEC-35: the token is checked from the headers before a byte of the body is read. A request
    // that has no body (most reads) has nothing to protect: the pipeline checks its token once.
    let limit = if axum::body::HttpBody::is_end_stream(&body) {
        0
    } else {
        let max = state.limits.max_request_size;
        match admit::admit(&state.core, &logical.path, operation, logical.token.as_ref(), client, max, snapshot_max)
            .await
        {
            admit::Admission::Read(limit) => limit,
            admit::Admission::Refuse => return Ok(Incoming::Refused(logical)),
        }
    };
    let declared =
        parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    // A body dribbled in byte by byte must not hold the connection (and its slot) for ever.
    let bytes = tokio::time::timeout(state.limits.body_read_timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| ApiError::new(axum::http::StatusCode::REQUEST_TIMEOUT, "timed out reading the request body"))?
        .map_err(|_| ApiError::too_large(limit))?;
    if snapshot {
        logical.raw = Some(Vec::from(bytes));
        return Ok(Incoming::Run(logical));
    }
    let mut data = limits::parse_body(&bytes, state.limits.max_json_depth)?;
    for (k, v) in query {
        if k != "list" {
            data.entry(k).or_insert(Value::String(v));
        }
    }
    logical.data = data;
    Ok(Incoming::Run(logical))
}

/// Parses a body that may be empty, `null` or an object.
pub(crate) fn body_to_map(v: Value) -> Result<Map<String, Value>, ApiError> {
    match v {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_request("failed to decode JSON input: the body must be a JSON object")),
    }
}
