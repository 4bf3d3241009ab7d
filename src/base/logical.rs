//! The one logical request and response types that everything below the HTTP layer works on.

use http::StatusCode;
use serde_json::{Map, Value};

/// What a request does, after the HTTP verb is mapped (API-CONTRACT §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// GET.
    Read,
    /// LIST or `GET ?list=true`.
    List,
    /// POST/PUT on a path where nothing exists yet.
    Create,
    /// POST/PUT on an existing path, or on a path that does not check existence.
    Update,
    /// PATCH (merge-patch).
    Patch,
    /// DELETE.
    Delete,
}

impl Operation {
    /// True for the two write operations that Vault decides between with an existence check.
    pub fn is_write(self) -> bool {
        matches!(self, Operation::Create | Operation::Update)
    }

    /// The lowercase name used in policies and audit entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::List => "list",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
        }
    }
}

/// A client request, independent of HTTP. Debug leaves out the token and the body.
#[derive(Clone)]
pub struct Request {
    /// Unique id, echoed as `request_id`.
    pub id: String,
    /// The logical operation.
    pub operation: Operation,
    /// Full path after `/v1/`, without a leading slash; list paths keep their trailing slash.
    pub path: String,
    /// JSON body merged with query parameters.
    pub data: Map<String, Value>,
    /// The client token, if one was sent.
    pub token: Option<secrecy::SecretString>,
    /// The caller's address.
    pub client_addr: Option<std::net::SocketAddr>,
    /// `X-Vault-Wrap-TTL` in seconds: wrap the response in a single-use token.
    pub wrap_ttl: Option<u64>,
    /// `X-Coffer-Consistency: strong`: read from the database itself, past any cache.
    pub strong: bool,
    /// The body as sent, for the endpoints that take one that is not JSON (a snapshot to
    /// restore); `None` everywhere else. Never audited.
    pub raw: Option<Vec<u8>>,
    /// The client certificate chain from the TLS handshake (DER, leaf first), carried only on
    /// login and token-renewal paths (`auth/*/login`, `auth/token/renew*`); `None` elsewhere.
    pub peer_certs: Option<std::sync::Arc<Vec<Vec<u8>>>>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl Request {
    /// A request with an empty body, used by tests and internal callers.
    pub fn new(operation: Operation, path: impl Into<String>) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            operation,
            path: path.into(),
            data: Map::new(),
            token: None,
            client_addr: None,
            wrap_ttl: None,
            strong: false,
            raw: None,
            peer_certs: None,
        }
    }
}

/// The lease fields of a leased answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    /// The lease id (`database/creds/<role>/<random>`).
    pub id: String,
    /// Seconds until it expires.
    pub duration: i64,
    /// Whether it can be renewed.
    pub renewable: bool,
}

/// The answer of an engine. The HTTP layer renders it.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// 204 with no body.
    NoContent,
    /// The standard envelope (§1.5).
    Envelope {
        /// Status code, 200 unless an engine says otherwise (e.g. KV's 404 for a deleted version).
        status: StatusCode,
        /// `data`.
        data: Option<Value>,
        /// `warnings`; rendered as `null` when empty.
        warnings: Vec<String>,
        /// `auth`.
        auth: Option<Value>,
        /// Repeat `data`'s keys at the top level (the sys quirk).
        repeat_top_level: bool,
        /// `lease_id`, `lease_duration` and `renewable` of a leased secret.
        lease: Option<LeaseInfo>,
    },
    /// A bare JSON body with no envelope (sys/health, sys/seal-status, sys/init …).
    Bare {
        /// Status code.
        status: StatusCode,
        /// Body.
        body: Value,
    },
    /// A status code with an empty body (HEAD sys/health).
    Status(StatusCode),
    /// A non-JSON body (`sys/metrics?format=prometheus`).
    Text {
        /// The `Content-Type` header.
        content_type: &'static str,
        /// Body.
        body: String,
    },
    /// Bytes that are not JSON nor text (a snapshot).
    Binary {
        /// The `Content-Type` header.
        content_type: &'static str,
        /// Body.
        body: Vec<u8>,
    },
    /// A wrapped response: only `wrap_info`, with an empty `request_id`.
    Wrapped {
        /// `token`, `accessor`, `ttl`, `creation_time`, `creation_path` (and `wrapped_accessor`).
        wrap_info: Value,
    },
}

impl Response {
    /// 200 with `data`.
    pub fn data(data: Value) -> Self {
        Response::Envelope {
            status: StatusCode::OK,
            data: Some(data),
            warnings: Vec::new(),
            auth: None,
            repeat_top_level: false,
            lease: None,
        }
    }

    /// 200 with `data`, also repeated at the top level (many sys reads).
    pub fn sys_data(data: Value) -> Self {
        Response::Envelope {
            status: StatusCode::OK,
            data: Some(data),
            warnings: Vec::new(),
            auth: None,
            repeat_top_level: true,
            lease: None,
        }
    }

    /// A list answer: `data.keys`, or Vault's 404 `{"errors":[]}` when there is nothing.
    pub fn keys(keys: Vec<String>) -> Result<Self, crate::base::error::ApiError> {
        if keys.is_empty() {
            return Err(crate::base::error::ApiError::not_found());
        }
        Ok(Response::data(serde_json::json!({ "keys": keys })))
    }

    /// A bare 200 JSON body.
    pub fn bare(body: Value) -> Self {
        Response::Bare { status: StatusCode::OK, body }
    }
}

/// RFC 3339 with nanoseconds, as Vault prints times.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
