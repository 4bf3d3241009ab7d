//! The HTTP entry of the AWS APIs (`POST /`): the access key is looked up from the headers before
//! a byte of the body is read, the body is read within the server's limits, the SigV4 signature is
//! recomputed, and the operation runs as the key's identity.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request as HttpRequest;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response as HttpResponse;
use serde_json::{Map, Value};

use super::context::Ctx;
use super::protocol::{AwsError, CONTENT_TYPE};
use super::{ops, sts};
use crate::core::aws::keys::{self, AccessKey};
use crate::core::mounts::MountEntry;
use crate::core::tokens::TokenEntry;
use crate::core::Core;
use crate::crypto::sigv4::{self, SigError, Signed};

/// Body limits of the listener.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Largest body in bytes.
    pub max_size: usize,
    /// Deepest JSON nesting.
    pub max_depth: usize,
    /// Longest wait for the whole body.
    pub read_timeout: Duration,
}

/// Which AWS protocol a request speaks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// Secrets Manager, JSON 1.1 (`X-Amz-Target`).
    Json,
    /// STS, the query protocol (a form body).
    Query,
}

impl Protocol {
    fn service(self) -> &'static str {
        match self {
            Protocol::Json => "secretsmanager",
            Protocol::Query => "sts",
        }
    }

    fn error(self, e: &AwsError, request_id: &str) -> HttpResponse {
        let mut resp = match self {
            Protocol::Json => e.render(),
            Protocol::Query => sts::error(e, request_id),
        };
        if let Ok(v) = HeaderValue::from_str(request_id) {
            resp.headers_mut().insert("x-amzn-requestid", v);
        }
        resp
    }

    fn sig_error(self, e: &SigError) -> AwsError {
        match self {
            Protocol::Json => AwsError { status: e.http_status(), code: e.aws_code(), message: e.to_string() },
            Protocol::Query => AwsError {
                status: e.http_status_for_query_protocol(),
                code: e.aws_code_for_query_protocol(),
                message: e.to_string(),
            },
        }
    }
}

/// Whether a request is for the AWS APIs: `POST /`.
pub fn is_aws(req: &HttpRequest) -> bool {
    req.method() == axum::http::Method::POST && req.uri().path() == "/"
}

/// Serves one AWS request.
pub async fn serve(core: &Arc<Core>, req: HttpRequest, limits: BodyLimits) -> HttpResponse {
    let request_id = uuid::Uuid::new_v4().to_string();
    let target = req.headers().get("x-amz-target").map(|v| v.to_str().unwrap_or("").to_string());
    let protocol = if target.is_some() { Protocol::Json } else { Protocol::Query };
    let client = req.extensions().get::<crate::server::http::PeerAddr>().map(|p| p.0);
    match run(core, req, limits, protocol, target, &request_id).await {
        Ok(resp) => resp,
        Err(Refusal::Unsigned(e)) => {
            refused(core, &request_id, client, &e).await;
            protocol.error(&e, &request_id)
        }
        Err(Refusal::Answered(e)) => protocol.error(&e, &request_id),
    }
}

/// Why a request got no answer of its own.
enum Refusal {
    /// Its signature or key was refused: no identity to record it under.
    Unsigned(AwsError),
    /// Anything else (already recorded, or refused before the signature was looked at).
    Answered(AwsError),
}

impl From<AwsError> for Refusal {
    fn from(e: AwsError) -> Self {
        Refusal::Answered(e)
    }
}

/// Records a refused signature or unknown key in the audit log, as the Vault API records a
/// refused token: an attacker's attempts are on record too.
async fn refused(core: &Core, request_id: &str, client: Option<std::net::SocketAddr>, e: &AwsError) {
    let req = crate::base::logical::Request {
        id: request_id.to_string(),
        operation: crate::base::logical::Operation::Update,
        path: "sys/aws/signature".into(),
        data: Map::new(),
        token: None,
        client_addr: client,
        wrap_ttl: None,
        strong: false,
        raw: None,
        peer_certs: None,
    };
    let mut trail = crate::core::audit::Trail::new(&core.audit);
    let _ = trail.refuse(&req, None, &crate::core::audit::entry::Caller::default(), e.to_api()).await;
}

async fn run(
    core: &Arc<Core>,
    req: HttpRequest,
    limits: BodyLimits,
    protocol: Protocol,
    target: Option<String>,
    request_id: &str,
) -> Result<HttpResponse, Refusal> {
    let operation = match &target {
        Some(t) => match t.strip_prefix("secretsmanager.") {
            Some(op) if ops::serves(op) => op.to_string(),
            _ => {
                return Err(Refusal::from(AwsError::new(
                    "UnknownOperationException",
                    "The operation in X-Amz-Target is not one Coffer serves.",
                )))
            }
        },
        None => "GetCallerIdentity".to_string(),
    };
    if protocol == Protocol::Json {
        let ct = req.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if ct.split(';').next().map(str::trim) != Some(CONTENT_TYPE) {
            return Err(Refusal::from(AwsError::new(
                "SerializationException",
                format!("The Content-Type must be {CONTENT_TYPE}."),
            )));
        }
    }
    if core.barrier.is_sealed() {
        return Err(Refusal::from(AwsError::sealed()));
    }
    let (parts, body) = req.into_parts();
    let auth = sigv4::parse_authorization(&parts.headers, &parts.uri)
        .map_err(|e| Refusal::Unsigned(protocol.sig_error(&e)))?;
    let now = core.clock.now();
    // The key is looked up before the body is read: an unknown key costs no body.
    let key = match keys::load(core, &auth.access_key_id).await {
        Ok(Some(k)) if !k.expired(now) => k,
        Ok(_) => return Err(Refusal::Unsigned(protocol.sig_error(&SigError::UnrecognizedClient))),
        Err(e) => {
            tracing::error!(status = e.status.as_u16(), "aws access key lookup failed");
            return Err(AwsError::internal().into());
        }
    };
    let client = parts.extensions.get::<crate::server::http::PeerAddr>().map(|p| p.0);
    core.rate_limits.check("sys/aws", client.map(|a| a.ip())).map_err(|e| {
        Refusal::Answered(AwsError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "ThrottlingException",
            message: e.errors.first().cloned().unwrap_or_else(|| "Rate exceeded".into()),
        })
    })?;
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || AwsError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "RequestEntityTooLargeException",
        message: format!("The request body is larger than {} bytes.", limits.max_size),
    };
    if declared.is_some_and(|n| n > limits.max_size as u64) {
        return Err(Refusal::from(too_large()));
    }
    let bytes = tokio::time::timeout(limits.read_timeout, axum::body::to_bytes(body, limits.max_size))
        .await
        .map_err(|_| AwsError {
            status: StatusCode::REQUEST_TIMEOUT,
            code: "RequestTimeout",
            message: "Timed out reading the request body.".into(),
        })?
        .map_err(|_| too_large())?;
    let signed = Signed { method: &parts.method, uri: &parts.uri, headers: &parts.headers, body: &bytes };
    sigv4::verify(&auth, &signed, &key.secret, protocol.service(), now)
        .map_err(|e| Refusal::Unsigned(protocol.sig_error(&e)))?;
    if protocol == Protocol::Query {
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| AwsError::new("MalformedQueryString", "The request body is not a form."))?;
        sts::check_action(&form)?;
        let ctx = context(core, &key, &auth.region, operation, request_id, client, Map::new())?;
        ctx.finish(Ok(Value::Null)).await?;
        return Ok(sts::identity(&ctx.account, &key.id, request_id));
    }
    let body = crate::server::http::parse_body(&bytes, limits.max_depth)
        .map_err(|e| AwsError::new("SerializationException", e.errors.first().cloned().unwrap_or_default()))?;
    // The audit entry gets the request without its value, and only when a device will write it.
    let audit_data = match core.audit.active().is_empty() {
        true => Map::new(),
        false => body
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "SecretString" | "SecretBinary"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    let ctx = context(core, &key, &auth.region, operation, request_id, client, audit_data)?;
    let deadline = core.request_deadline.get();
    let result = match tokio::time::timeout(deadline, ops::run(&ctx, &body)).await {
        Ok(r) => r,
        Err(_) => Err(AwsError::unavailable("The request took too long.")),
    };
    let value = ctx.finish(result).await?;
    let mut resp = super::protocol::json(StatusCode::OK, &value);
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    Ok(resp)
}

/// The KV v2 mount the AWS API works on.
fn mount(core: &Core, path: &str) -> Result<Arc<MountEntry>, AwsError> {
    let table = core.mounts.load_full();
    let api_path = format!("{}/", path.trim_end_matches('/'));
    match table.get(&api_path) {
        Some(m) if m.row.kind == "kv" => Ok(m),
        _ => Err(AwsError::invalid_request(format!(
            "The AWS API works on the KV version 2 mount {api_path}, and there is none: mount one, or set [aws] mount."
        ))),
    }
}

/// The context of one signed request, on the mount and account of the `[aws]` settings.
fn context<'a>(
    core: &'a Core,
    key: &AccessKey,
    region: &str,
    operation: String,
    request_id: &str,
    client: Option<std::net::SocketAddr>,
    audit_data: Map<String, Value>,
) -> Result<Ctx<'a>, AwsError> {
    let settings = core.aws.load_full();
    let mount = mount(core, &settings.mount)?;
    let identity = TokenEntry::for_access_key(&key.id, key.policies.clone(), core.clock.now());
    Ok(Ctx::new(
        core,
        mount,
        identity,
        key.id.clone(),
        region.to_string(),
        settings.account_id.clone(),
        operation,
        request_id.to_string(),
        client,
        audit_data,
    ))
}
