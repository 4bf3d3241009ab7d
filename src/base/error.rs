//! The API error type: a status code plus Vault's `{"errors":[…]}` list, never carrying a secret.

use http::StatusCode;

/// An error as the client sees it. Messages name fields and paths, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: StatusCode,
    /// The `errors` array of the body; empty for Vault's bare not-found.
    pub errors: Vec<String>,
    /// When set, the body is empty (Vault's 404 for PATCH of a missing key).
    pub empty_body: bool,
    /// Seconds for a `Retry-After` header (503 while the database is unreachable).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error with any status and one message.
    pub fn new(status: StatusCode, msg: impl Into<String>) -> Self {
        Self { status, errors: vec![msg.into()], empty_body: false, retry_after: None }
    }

    /// 400 with a message.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, msg)
    }

    /// 403 `permission denied`: the answer for every authentication or authorisation failure.
    pub fn permission_denied() -> Self {
        Self::new(StatusCode::FORBIDDEN, "permission denied")
    }

    /// 404 with an empty `errors` list, as Vault answers a missing item.
    pub fn not_found() -> Self {
        Self { status: StatusCode::NOT_FOUND, errors: Vec::new(), empty_body: false, retry_after: None }
    }

    /// 404 with no body at all.
    pub fn not_found_empty() -> Self {
        Self { status: StatusCode::NOT_FOUND, errors: Vec::new(), empty_body: true, retry_after: None }
    }

    /// 404 for a path no mount serves.
    pub fn no_route(path: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("no handler for route \"{path}\". route entry not found."))
    }

    /// 404 for a path inside a mount that the engine does not know.
    pub fn unsupported_path() -> Self {
        Self::new(StatusCode::NOT_FOUND, "1 error occurred:\n\t* unsupported path\n\n")
    }

    /// 405 for a verb the path does not support.
    pub fn unsupported_operation() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "1 error occurred:\n\t* unsupported operation\n\n")
    }

    /// 503 while the barrier is sealed.
    pub fn sealed() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "Vault is sealed")
    }

    /// 500 when no audit device recorded the request (fail closed; the log says why).
    pub fn audit_failed() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }

    /// 413 for a body over the configured limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body exceeds the limit of {limit} bytes"))
    }

    /// 415 for PATCH without the merge-patch content type.
    pub fn unsupported_media(provided: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("PATCH requires Content-Type of application/merge-patch+json, provided {provided}"),
        )
    }

    /// 500 with an opaque message; the cause goes to the log under an error id.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        let id = uuid::Uuid::new_v4();
        tracing::error!(error_id = %id, error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error (id {id})"))
    }
}

/// Seconds a client is asked to wait before retrying while the database is unreachable.
pub const STORAGE_RETRY_AFTER: u32 = 1;

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status.as_u16(), self.errors.join("; "))
    }
}

impl std::error::Error for ApiError {}
