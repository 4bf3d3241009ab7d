//! The `auth/token/` method: create, look up, renew and revoke tokens, by value or accessor, and
//! token roles.

mod create;
mod manage;
mod roles;

use async_trait::async_trait;

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::names::{self, Case};
use crate::core::engine::{Call, Engine};

/// The token auth method.
pub struct TokenAuth;

#[async_trait]
impl Engine for TokenAuth {
    async fn handle(&self, call: Call<'_>, req: Request) -> Result<Response, ApiError> {
        let path = call.path.trim_end_matches('/');
        let op = req.operation;
        let write = op.is_write();
        match path {
            "create" | "create-orphan" if write => create::create(&call, &req, None).await,
            "lookup-self" if op == Operation::Read || write => manage::lookup_self(&call, &req),
            "lookup" if write || op == Operation::Read => manage::lookup(&call, &req).await,
            "lookup-accessor" if write => manage::lookup_accessor(&call, &req).await,
            "renew-self" if write => manage::renew_self(&call, &req).await,
            "renew" if write => manage::renew(&call, &req).await,
            "renew-accessor" if write => manage::renew_accessor(&call, &req).await,
            "revoke-self" if write => manage::revoke_self(&call).await,
            "revoke" if write => manage::revoke(&call, &req).await,
            "revoke-accessor" if write => manage::revoke_accessor(&call, &req).await,
            "revoke-orphan" if write => manage::revoke_orphan(&call, &req).await,
            "accessors" if op == Operation::List => manage::list_accessors(&call).await,
            "roles" if op == Operation::List => roles::list(&call).await,
            _ => {
                // Role names are checked here, so the folding in `roles` never changes one (SEC-33).
                if let Some(role) = path.strip_prefix("create/").filter(|_| write) {
                    let role = names::check("role name", role, Case::Lower)?;
                    create::create(&call, &req, Some(role)).await
                } else if let Some(name) = path.strip_prefix("roles/") {
                    roles::handle(&call, names::check("role name", name, Case::Lower)?, &req).await
                } else if matches!(
                    path,
                    "create"
                        | "create-orphan"
                        | "lookup-self"
                        | "lookup"
                        | "lookup-accessor"
                        | "renew-self"
                        | "renew"
                        | "renew-accessor"
                        | "revoke-self"
                        | "revoke"
                        | "revoke-accessor"
                        | "revoke-orphan"
                        | "accessors"
                ) {
                    Err(ApiError::unsupported_operation())
                } else {
                    Err(ApiError::unsupported_path())
                }
            }
        }
    }
}
