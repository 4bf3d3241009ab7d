//! The AWS JSON 1.1 wire: errors as `{"__type", "message"}` with AWS's exception names, answers
//! as `application/x-amz-json-1.1`, and the mapping from Coffer's own errors.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response as HttpResponse;
use serde_json::Value;

use crate::base::error::ApiError;

/// The content type of requests and answers.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// An error as AWS reports it.
#[derive(Debug, Clone)]
pub struct AwsError {
    /// HTTP status (400 for the caller's faults, 500 for Coffer's, 503 while sealed).
    pub status: StatusCode,
    /// AWS's exception name (`__type`).
    pub code: &'static str,
    /// What is wrong; never a secret value.
    pub message: String,
}

impl AwsError {
    /// A 400 with `code`.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        AwsError { status: StatusCode::BAD_REQUEST, code, message: message.into() }
    }

    /// `InvalidParameterException`.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", message)
    }

    /// `InvalidRequestException` (a parameter is fine but not for this secret's state).
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new("InvalidRequestException", message)
    }

    /// `ResourceNotFoundException` with AWS's text.
    pub fn not_found() -> Self {
        Self::new("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
    }

    /// `ResourceNotFoundException` for a version id or stage.
    pub fn version_not_found() -> Self {
        Self::new(
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
        )
    }

    /// `ResourceExistsException`.
    pub fn exists(message: impl Into<String>) -> Self {
        Self::new("ResourceExistsException", message)
    }

    /// `AccessDeniedException`, naming the capability and path the ACL refused.
    pub fn access_denied(detail: &str) -> Self {
        Self::new("AccessDeniedException", format!("User is not authorized to perform this action: {detail}"))
    }

    /// Coffer's own fault (`InternalServiceError`, 500); the detail is in the server log.
    pub fn internal() -> Self {
        AwsError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalServiceError",
            message: "An error occurred on the server side.".into(),
        }
    }

    /// The server is sealed (503: SDKs retry).
    pub fn sealed() -> Self {
        Self::unavailable("Coffer is sealed.")
    }

    /// The server is sealed or overloaded (503: SDKs retry).
    pub fn unavailable(message: impl Into<String>) -> Self {
        AwsError { status: StatusCode::SERVICE_UNAVAILABLE, code: "ServiceUnavailable", message: message.into() }
    }

    /// A store failure, in AWS's terms.
    pub fn store(e: crate::store::StoreError) -> Self {
        AwsError::from(ApiError::from(e))
    }

    /// The answer on the wire.
    pub fn render(&self) -> HttpResponse {
        let body = serde_json::json!({ "__type": self.code, "message": self.message });
        let mut resp = json(self.status, &body);
        if let Ok(v) = HeaderValue::from_str(self.code) {
            resp.headers_mut().insert("x-amzn-errortype", v);
        }
        resp
    }

    /// The same error as Coffer's logical error (for the audit log).
    pub fn to_api(&self) -> ApiError {
        ApiError::new(self.status, format!("{}: {}", self.code, self.message))
    }
}

impl From<ApiError> for AwsError {
    /// Errors from the KV engine's functions, in AWS's terms.
    fn from(e: ApiError) -> Self {
        let message = e.errors.first().cloned().unwrap_or_default();
        match e.status {
            StatusCode::NOT_FOUND => AwsError::not_found(),
            StatusCode::FORBIDDEN => AwsError::access_denied(&message),
            StatusCode::CONFLICT => AwsError::invalid_request(message),
            StatusCode::SERVICE_UNAVAILABLE => AwsError::unavailable(message),
            s if s.is_client_error() => AwsError::invalid_parameter(message),
            _ => AwsError::internal(),
        }
    }
}

/// A JSON answer with AWS's content type.
pub fn json(status: StatusCode, body: &Value) -> HttpResponse {
    let mut resp = HttpResponse::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_errors_become_aws_names() {
        assert_eq!(AwsError::from(ApiError::not_found()).code, "ResourceNotFoundException");
        assert_eq!(AwsError::from(ApiError::bad_request("x")).code, "InvalidParameterException");
        assert_eq!(AwsError::from(ApiError::permission_denied()).code, "AccessDeniedException");
        assert_eq!(AwsError::from(ApiError::sealed()).status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(AwsError::from(ApiError::internal(&"boom")).code, "InternalServiceError");
    }
}
