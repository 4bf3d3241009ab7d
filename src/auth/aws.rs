//! The AWS auth method (`auth/<path>/`, type `aws`), IAM type only: a client signs an
//! `sts:GetCallerIdentity` request with its AWS credentials and hands it over; Coffer checks it
//! (the action, the server-id header against replay to other servers, a fresh date), forwards it
//! to the operator's STS endpoint (`config/client`, sudo, on the outbound allow-list) and never to
//! a host the client names, and matches the ARN STS answers against the role
//! (`role/<name>`, `bound_iam_principal_arn`). The EC2 type is not supported.

mod arn;
mod config;
mod login;
mod request;
mod role;

use async_trait::async_trait;

use super::common::role_store;
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::core::engine::{Call, Engine};

/// The AWS auth method (stateless; the mount carries the id).
pub struct AwsAuth;

#[async_trait]
impl Engine for AwsAuth {
    async fn handle(&self, call: Call<'_>, req: Request) -> Result<Response, ApiError> {
        let path = call.path.trim_end_matches('/');
        let op = req.operation;
        match path {
            "login" => {
                return if op.is_write() {
                    login::login(&call, &req).await
                } else {
                    Err(ApiError::unsupported_operation())
                }
            }
            "config/client" => return config::handle(&call, &req).await,
            "role" | "roles" => return role_store::list::<role::AwsRole>(&call, op).await,
            _ => {}
        }
        let name = super::common::named(path, "role/", "role name")?;
        role_store::handle::<role::AwsRole>(&call, name, &req).await
    }

    async fn exists(&self, call: Call<'_>, _req: &Request) -> Result<bool, ApiError> {
        role_store::exists::<role::AwsRole>(&call, "role/").await
    }

    fn unauthenticated(&self, path: &str) -> bool {
        path.trim_end_matches('/') == "login"
    }
}

/// Storage kind of a mount's client configuration (the mount id lets unmounting remove it).
fn config_kind(call: &Call<'_>) -> String {
    format!("aws-auth/{}/config", call.mount.row.id)
}

/// Storage kind of a mount's roles, by name.
fn roles_kind(call: &Call<'_>) -> String {
    format!("aws-auth/{}/role", call.mount.row.id)
}
