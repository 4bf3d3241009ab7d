//! The `auth/token/` method (minimal here): `lookup-self`.

use async_trait::async_trait;
use chrono::Utc;
use secrecy::ExposeSecret;

use crate::engine::{Call, Engine};
use crate::error::ApiError;
use crate::logical::{Operation, Request, Response};

/// The token auth method.
pub struct TokenAuth;

#[async_trait]
impl Engine for TokenAuth {
    async fn handle(&self, call: Call<'_>, req: Request) -> Result<Response, ApiError> {
        match (call.path.trim_end_matches('/'), req.operation) {
            ("lookup-self", Operation::Read | Operation::Update | Operation::Create) => {
                let id = req.token.as_ref().map(|t| t.expose_secret());
                Ok(Response::data(call.token.lookup_data(id, Utc::now())))
            }
            ("lookup-self", _) => Err(ApiError::unsupported_operation()),
            _ => Err(ApiError::unsupported_path()),
        }
    }
}
