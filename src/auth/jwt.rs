//! The JWT auth method (`auth/<path>/`, type `jwt`): machine logins with JSON Web Tokens signed by
//! an identity provider (GitHub Actions, GitLab CI, Kubernetes, any OIDC issuer). The mount holds
//! one key source (`config`: PEM public keys, a JWKS URL or OIDC discovery) and roles that bind
//! audiences, subject and claims (`role/<name>`); `login` verifies a token and issues a Coffer
//! token. Only asymmetric algorithms are accepted and keys are typed by family (SEC-10); header
//! `jku`/`x5u` are refused and `jwk` is never used (SEC-12); time claims must be JSON integers and
//! duplicate claims are refused (SEC-11); audiences match exactly (SEC-09). The browser OIDC flow
//! (`role_type: "oidc"`) is not supported.

mod config;
mod keys;
mod login;
mod role;
mod validate;

use async_trait::async_trait;

use super::common::role_store;
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::core::engine::{Call, Engine};

/// The JWT auth method (stateless; the mount carries the id, the JWKS cache is keyed by it).
pub struct JwtAuth;

#[async_trait]
impl Engine for JwtAuth {
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
            "config" => return config::handle(&call, &req).await,
            "role" => return role_store::list::<role::JwtRole>(&call, op).await,
            _ => {}
        }
        let name = super::common::named(path, "role/", "role name")?;
        role_store::handle::<role::JwtRole>(&call, name, &req).await
    }

    async fn exists(&self, call: Call<'_>, _req: &Request) -> Result<bool, ApiError> {
        role_store::exists::<role::JwtRole>(&call, "role/").await
    }

    fn unauthenticated(&self, path: &str) -> bool {
        path.trim_end_matches('/') == "login"
    }
}

/// Storage kind of a mount's configuration (one entry, named [`CONFIG_ENTRY`]). The mount id in
/// the kind lets unmounting remove it.
fn config_kind(call: &Call<'_>) -> String {
    format!("jwt/{}/config", call.mount.row.id)
}

/// Name of the configuration entry.
const CONFIG_ENTRY: &str = "config";

/// Storage kind of a mount's roles, by name.
fn roles_kind(call: &Call<'_>) -> String {
    format!("jwt/{}/role", call.mount.row.id)
}
