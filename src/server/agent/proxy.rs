//! The agent's local API proxy: a loopback TCP listener or a unix socket (mode 0600, created in a
//! private directory and renamed into place, so it is never reachable with a wider mode). Requests
//! go to the server with the caller's token; a request without one gets the agent's token only
//! when `use_auto_auth_token = true`. GET answers are cached per caller (see `cache`); leased ones
//! are kept alive by `renewer`.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use http::{HeaderMap, HeaderValue, StatusCode};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};

use super::auth::expose;
use super::cache::{Cache, Lease};
use super::client::Client;
use super::config::{Listen, Proxy};
use super::lifetime::{two_thirds, Shared};

/// The largest request body the proxy forwards.
const MAX_BODY: usize = 32 << 20;

/// A bound listener.
pub enum Bound {
    /// TCP on loopback.
    Tcp(tokio::net::TcpListener),
    /// A unix socket.
    Unix(tokio::net::UnixListener),
}

/// Binds the listener (and logs where, for a port 0 listener).
pub async fn bind(listen: &Listen) -> Result<Bound, String> {
    match listen {
        Listen::Tcp(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("proxy: cannot listen on {addr}: {e}"))?;
            let local = l.local_addr().map_err(|e| format!("proxy: {e}"))?;
            tracing::info!("agent: proxy listening on http://{local}");
            Ok(Bound::Tcp(l))
        }
        Listen::Unix(path) => {
            let err = |e: std::io::Error| format!("proxy: cannot listen on {}: {e}", path.display());
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            // Bound in a directory only we may enter (0700), made 0600, then renamed into place.
            let private = tempfile::Builder::new().prefix(".coffer-agent.").tempdir_in(dir).map_err(err)?;
            let tmp = private.path().join("s");
            let l = tokio::net::UnixListener::bind(&tmp).map_err(err)?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                if std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) {
                    std::fs::remove_file(path).map_err(err)?;
                }
            }
            std::fs::rename(&tmp, path).map_err(err)?;
            tracing::info!("agent: proxy listening on unix:{}", path.display());
            Ok(Bound::Unix(l))
        }
    }
}

struct Ctx {
    client: Client,
    token: Shared,
    use_auto_auth_token: bool,
    kv_ttl: Duration,
    cache: Arc<Cache>,
}

/// Serves until the task is aborted; `cache` is the one the renewer keeps alive.
pub async fn serve(bound: Bound, cfg: Proxy, client: Client, token: Shared, cache: Arc<Cache>) {
    let ctx =
        Arc::new(Ctx { client, token, use_auto_auth_token: cfg.use_auto_auth_token, kv_ttl: cfg.kv_cache_ttl, cache });
    let app = Router::new().fallback(handle).with_state(ctx);
    let result = match bound {
        Bound::Tcp(l) => axum::serve(l, app).await,
        Bound::Unix(l) => axum::serve(l, app).await,
    };
    if let Err(e) = result {
        tracing::error!("agent: the proxy stopped: {e}");
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"errors": [message]}).to_string();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// The caller's token: `X-Vault-Token`, else `Authorization: Bearer`.
fn caller_token(h: &HeaderMap) -> Option<SecretString> {
    let raw = h.get("x-vault-token").and_then(|v| v.to_str().ok()).or_else(|| {
        h.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
    })?;
    let t = raw.trim();
    (!t.is_empty()).then(|| SecretString::from(t.to_string()))
}

async fn handle(State(ctx): State<Arc<Ctx>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let target = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    if !target.starts_with("/v1/") {
        return error(StatusCode::NOT_FOUND, "the agent proxies /v1/ paths only");
    }
    let token = match caller_token(&parts.headers) {
        Some(t) => Some(t),
        None if ctx.use_auto_auth_token => match ctx.token.borrow().clone() {
            Some(t) => Some((*t).clone()),
            None => return error(StatusCode::SERVICE_UNAVAILABLE, "the agent has not logged in yet"),
        },
        None => None,
    };
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large");
    };
    let path = parts.uri.path();
    let cacheable = parts.method == http::Method::GET
        && !parts.headers.contains_key("x-vault-wrap-ttl")
        && !path.starts_with("/v1/sys/")
        && !path.starts_with("/v1/auth/");
    let key = match (&token, cacheable) {
        (Some(t), true) => Some(ctx.cache.key(t, parts.method.as_str(), &target)),
        _ => None,
    };
    if let Some(hit) = key.as_deref().and_then(|k| ctx.cache.get(k)) {
        let mut r = Response::new(Body::from(hit.to_vec()));
        r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return r;
    }
    let Ok(method) = Method::from_bytes(parts.method.as_str().as_bytes()) else {
        return error(StatusCode::METHOD_NOT_ALLOWED, "unsupported method");
    };
    let (http, addr) = ctx.client.parts();
    let mut out = http.request(method, format!("{addr}{target}")).body(body.to_vec());
    if let Some(t) = &token {
        out = out.header("X-Vault-Token", expose(t));
    }
    for name in ["content-type", "x-vault-wrap-ttl", "x-vault-request", "x-vault-wrap-format"] {
        if let Some(v) = parts.headers.get(name) {
            out = out.header(name, v.as_bytes());
        }
    }
    let resp = match out.send().await {
        Ok(r) => r,
        Err(_) => return error(StatusCode::BAD_GATEWAY, "the agent cannot reach the server"),
    };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = resp.headers().get(reqwest::header::CONTENT_TYPE).map(|v| v.as_bytes().to_vec());
    let Ok(bytes) = resp.bytes().await else {
        return error(StatusCode::BAD_GATEWAY, "the server's answer was cut off");
    };
    if parts.method != http::Method::GET && status.is_success() {
        ctx.cache.clear();
    }
    if let (Some(k), Some(t), true) = (key, &token, status == StatusCode::OK) {
        remember(&ctx, k, t, &bytes);
    }
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = status;
    if let Some(ct) = content_type.and_then(|c| HeaderValue::from_bytes(&c).ok()) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, ct);
    }
    r
}

/// Caches a 200 answer: a renewable leased one for the renewer to keep alive, a leased one that
/// cannot be renewed until two thirds of its lease, others for the KV time.
fn remember(ctx: &Ctx, key: String, token: &SecretString, bytes: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(bytes) else { return };
    let lease_id = v.get("lease_id").and_then(Value::as_str).unwrap_or("");
    let duration = v.get("lease_duration").and_then(Value::as_u64).unwrap_or(0);
    if !lease_id.is_empty() && duration > 0 {
        if v.get("renewable").and_then(Value::as_bool).unwrap_or(false) {
            let lease = Lease { id: lease_id.to_string(), duration, token: token.clone() };
            ctx.cache.put_leased(key, bytes.to_vec(), lease);
        } else {
            ctx.cache.put(key, bytes.to_vec(), two_thirds(duration));
        }
    } else if !ctx.kv_ttl.is_zero() {
        ctx.cache.put(key, bytes.to_vec(), ctx.kv_ttl);
    }
}
