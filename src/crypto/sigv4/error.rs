//! Why a SigV4-signed request was refused: one variant per AWS error code, with AWS's wording.

/// AWS's message for a signature that does not match the one recomputed with the key's secret.
pub(super) const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// A refused signature. Each variant is one AWS error code; the message says what is wrong and
/// never holds the secret, a derived key or the signature the server computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// No `Authorization` header (and no other way of authenticating was tried).
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    /// The `Authorization` header, or a header the signature must cover, is malformed, missing
    /// or of a kind Coffer does not accept (another algorithm, an unsigned or streaming payload,
    /// a presigned URL).
    #[error("{0}")]
    IncompleteSignature(String),
    /// The signature is well formed but wrong: it does not match, it is outside the five-minute
    /// window, or its credential scope is not this service's.
    #[error("{0}")]
    InvalidSignature(String),
    /// The access key id is not known (the caller looks the key up and returns this).
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
}

impl SigError {
    /// The error code a JSON-protocol service (Secrets Manager) answers with, in `__type` and
    /// `x-amzn-ErrorType`.
    pub fn aws_code(&self) -> &'static str {
        match self {
            SigError::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            SigError::IncompleteSignature(_) => "IncompleteSignatureException",
            SigError::InvalidSignature(_) => "InvalidSignatureException",
            SigError::UnrecognizedClient => "UnrecognizedClientException",
        }
    }

    /// The error code a query-protocol service (STS) answers with, in `<Error><Code>`.
    pub fn aws_code_for_query_protocol(&self) -> &'static str {
        match self {
            SigError::MissingAuthenticationToken => "MissingAuthenticationToken",
            SigError::IncompleteSignature(_) => "IncompleteSignature",
            SigError::InvalidSignature(_) => "SignatureDoesNotMatch",
            SigError::UnrecognizedClient => "InvalidClientTokenId",
        }
    }

    /// The HTTP status of a JSON-protocol answer: 400, as Secrets Manager answers these errors.
    pub fn http_status(&self) -> http::StatusCode {
        http::StatusCode::BAD_REQUEST
    }

    /// The HTTP status of a query-protocol (STS) answer: 400 for a malformed signature, 403 for
    /// the rest.
    pub fn http_status_for_query_protocol(&self) -> http::StatusCode {
        match self {
            SigError::IncompleteSignature(_) => http::StatusCode::BAD_REQUEST,
            _ => http::StatusCode::FORBIDDEN,
        }
    }

    pub(super) fn incomplete(message: impl Into<String>) -> Self {
        SigError::IncompleteSignature(message.into())
    }

    pub(super) fn invalid(message: impl Into<String>) -> Self {
        SigError::InvalidSignature(message.into())
    }
}
