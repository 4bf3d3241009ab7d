//! `POST login {role, jwt}`: verifies the token against the mount's keys and the role's bindings
//! and issues a token whose metadata is `role` plus the role's `claim_mappings`. Every failure is
//! a 400 whose message names the check, never the token or a claim's value.

use std::time::Instant;

use serde_json::Value;

use super::config::JwtConfig;
use super::keys::{self, KeySet};
use super::role::JwtRole;
use super::validate::{self, MAX_TOKEN_LEN};
use crate::auth::common;
use crate::auth::common::role_store;
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::names::{self, Case};
use crate::base::params;
use crate::core::engine::Call;

/// `POST login`.
pub async fn login(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let d = &req.data;
    let config = JwtConfig::load(call).await?;
    let requested = params::str_field(d, "role")?.unwrap_or("");
    let role_name = if requested.is_empty() {
        config.as_ref().map(|c| c.default_role.clone()).unwrap_or_default()
    } else {
        requested.to_string()
    };
    if role_name.is_empty() {
        return Err(ApiError::bad_request("missing role"));
    }
    let token = match d.get("jwt") {
        Some(Value::String(t)) if !t.is_empty() => t.as_str(),
        Some(Value::String(_)) | None | Some(Value::Null) => return Err(ApiError::bad_request("missing token")),
        Some(_) => return Err(ApiError::bad_request("invalid value for \"jwt\": expected a string")),
    };
    if token.len() > MAX_TOKEN_LEN {
        return Err(validate::token_err("malformed token"));
    }
    let config = config.ok_or_else(|| ApiError::bad_request("could not load configuration"))?;
    let name = names::check("role name", &role_name, Case::Lower)?;
    let role = role_store::load::<JwtRole>(call, name)
        .await?
        .ok_or_else(|| ApiError::bad_request(format!("role {name:?} could not be found")))?;
    if role.role_type != "jwt" {
        return Err(ApiError::bad_request("role is not a \"jwt\" role"));
    }

    let parsed = validate::parse(token, &config.allowed_algs())?;
    let set = match config.remote() {
        Some(remote) => keys::remote_keys(&call.mount.row.id, &remote, parsed.kid.as_deref(), Instant::now()).await?,
        None => std::sync::Arc::new(
            config.static_keys().map_err(|_| ApiError::internal(&"stored jwt_validation_pubkeys do not parse"))?,
        ),
    };
    let set: &KeySet = &set;
    let now = u64::try_from(call.host.now().timestamp()).unwrap_or(0);
    let checked = validate::finish(&parsed, set, &role, config.issuer(), now)?;

    let mut meta = checked.meta;
    meta.insert("role".into(), Value::String(name.to_string()));
    common::login(call, &role.token, &checked.user, meta).await
}
