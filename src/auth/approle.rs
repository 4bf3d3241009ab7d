//! The AppRole auth method (`auth/<path>/`, type `approle`): roles with a role-id, secret-ids
//! stored only as keyed HMACs under a per-role storage kind (so an accessor of one role is never
//! found through another role's path, SEC-06), and a login that answers an unknown role and a
//! wrong secret with the same status, body and amount of work (SEC-16).

mod login;
mod role;
mod secret_id;

use async_trait::async_trait;
use axum::http::StatusCode;
use ipnet::IpNet;
use serde_json::{Map, Value};

use crate::auth::common::TokenParams;
use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::names::{self, Case};
use crate::core::engine::{Call, Engine};

/// The AppRole auth method (stateless; the mount carries the id).
pub struct AppRole;

#[async_trait]
impl Engine for AppRole {
    async fn handle(&self, call: Call<'_>, req: Request) -> Result<Response, ApiError> {
        let path = call.path.trim_end_matches('/');
        let op = req.operation;
        if path == "login" {
            return if op.is_write() {
                login::login(&call, &req).await
            } else {
                Err(ApiError::unsupported_operation())
            };
        }
        if path == "role" {
            return if op == Operation::List {
                role::list(&call).await
            } else {
                Err(ApiError::unsupported_operation())
            };
        }
        let Some(rest) = path.strip_prefix("role/") else { return Err(ApiError::unsupported_path()) };
        let (raw_name, sub) = rest.split_once('/').unwrap_or((rest, ""));
        let name = names::check("role name", raw_name, Case::Lower)?;
        match (sub, op) {
            ("", _) => role::handle(&call, name, &req).await,
            ("role-id", Operation::Read) => role::read_role_id(&call, name).await,
            ("role-id", o) if o.is_write() => role::write_role_id(&call, name, &req).await,
            ("secret-id", o) if o.is_write() => secret_id::generate(&call, name, &req, false).await,
            ("secret-id", Operation::List) => secret_id::list(&call, name).await,
            ("custom-secret-id", o) if o.is_write() => secret_id::generate(&call, name, &req, true).await,
            ("secret-id/lookup", o) if o.is_write() => secret_id::lookup(&call, name, &req).await,
            ("secret-id/destroy", o) if o.is_write() || o == Operation::Delete => {
                secret_id::destroy(&call, name, &req).await
            }
            ("secret-id-accessor/lookup", o) if o.is_write() => secret_id::lookup_accessor(&call, name, &req).await,
            ("secret-id-accessor/destroy", o) if o.is_write() || o == Operation::Delete => {
                secret_id::destroy_accessor(&call, name, &req).await
            }
            (
                "role-id"
                | "secret-id"
                | "custom-secret-id"
                | "secret-id/lookup"
                | "secret-id/destroy"
                | "secret-id-accessor/lookup"
                | "secret-id-accessor/destroy",
                _,
            ) => Err(ApiError::unsupported_operation()),
            _ => Err(ApiError::unsupported_path()),
        }
    }

    async fn exists(&self, call: Call<'_>, _req: &Request) -> Result<bool, ApiError> {
        let path = call.path.trim_end_matches('/');
        match path.strip_prefix("role/").filter(|n| names::problem(n, Case::Lower).is_none()) {
            Some(name) => Ok(role::Role::load(&call, name).await?.is_some()),
            None => Ok(true),
        }
    }

    fn unauthenticated(&self, path: &str) -> bool {
        path.trim_end_matches('/') == "login"
    }
}

/// CIDRs as Vault shows them: a single-host network as the bare address.
pub(crate) fn show_cidrs(cidrs: &[IpNet]) -> Vec<String> {
    cidrs
        .iter()
        .map(|c| if c.prefix_len() == c.max_prefix_len() { c.addr().to_string() } else { c.to_string() })
        .collect()
}

/// The `token_*` fields of a role or user as OpenBao's read shows them.
pub(crate) fn token_fields(p: &TokenParams, token_type: &str) -> Map<String, Value> {
    let mut m = p.to_json();
    m.remove("policies");
    m.insert("token_bound_cidrs".into(), Value::from(show_cidrs(&p.token_bound_cidrs)));
    m.insert("token_strictly_bind_ip".into(), Value::Bool(false));
    m.insert("token_type".into(), Value::from(token_type));
    m
}

/// Reads `token_type`: only service tokens exist in Coffer. Returns the value to store.
pub(crate) fn token_type_field(data: &Map<String, Value>, current: &str) -> Result<String, ApiError> {
    match crate::base::params::str_field(data, "token_type")? {
        None => Ok(current.to_string()),
        Some(t @ ("default" | "service" | "default-service")) => Ok(t.to_string()),
        Some("batch" | "default-batch") => Err(ApiError::bad_request("batch tokens are not supported by Coffer")),
        Some(_) => Err(ApiError::bad_request("invalid 'token_type' value")),
    }
}

/// OpenBao's 500 with a Go multierror text (plugin errors such as `role_id already in use`).
pub(crate) fn multierror_500(msg: &str) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("1 error occurred:\n\t* {msg}\n\n"))
}

/// Maps a storage failure to an opaque 500.
pub(crate) fn store_err(e: crate::store::StoreError) -> ApiError {
    e.into()
}

/// Storage kinds of one mount (the mount id keeps two AppRole mounts apart).
pub(crate) struct Kinds {
    mount: String,
}

impl Kinds {
    /// The kinds of the mount a call is routed to.
    pub(crate) fn of(call: &Call<'_>) -> Self {
        Self { mount: call.mount.row.id.clone() }
    }

    /// Role definitions, by name.
    pub(crate) fn roles(&self) -> String {
        format!("approle/{}/role", self.mount)
    }

    /// role-id index: hex HMAC of the role-id → role name and internal id.
    pub(crate) fn role_ids(&self) -> String {
        format!("approle/{}/role-id", self.mount)
    }

    /// Secret-ids of one role (by internal role id): hex HMAC of the secret-id → entry.
    pub(crate) fn secret_ids(&self, role_uid: &str) -> String {
        format!("approle/{}/secret-id/{role_uid}", self.mount)
    }

    /// Accessors of one role's secret-ids: accessor → hex HMAC of the secret-id.
    pub(crate) fn accessors(&self, role_uid: &str) -> String {
        format!("approle/{}/accessor/{role_uid}", self.mount)
    }
}

/// HMAC of a role-id under the barrier-held token key, in its own domain.
pub(crate) fn role_id_hash(call: &Call<'_>, role_id: &str) -> Result<String, ApiError> {
    let msg = zeroize::Zeroizing::new(format!("approle-role-id:{role_id}"));
    call.core.tokens.hash(&msg).map(hex::encode).ok_or_else(ApiError::sealed)
}

/// HMAC of a secret-id under the barrier-held token key, in its own domain.
pub(crate) fn secret_id_hash(call: &Call<'_>, secret_id: &str) -> Result<String, ApiError> {
    let msg = zeroize::Zeroizing::new(format!("approle-secret-id:{secret_id}"));
    call.core.tokens.hash(&msg).map(hex::encode).ok_or_else(ApiError::sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_cidrs_show_as_addresses() {
        let nets: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        assert_eq!(show_cidrs(&nets), vec!["127.0.0.1", "10.0.0.0/8"]);
    }

    #[test]
    fn token_fields_look_like_openbao() {
        let p = TokenParams { token_policies: vec!["app".into()], token_ttl: 1200, ..Default::default() };
        let m = token_fields(&p, "default");
        assert!(!m.contains_key("policies"));
        assert_eq!(m["token_strictly_bind_ip"], false);
        assert_eq!(m["token_ttl"], 1200);
        assert_eq!(m["token_type"], "default");
    }

    #[test]
    fn batch_tokens_are_refused() {
        let d = serde_json::json!({"token_type": "batch"}).as_object().cloned().unwrap();
        assert!(token_type_field(&d, "default").is_err());
        let d = serde_json::json!({"token_type": "service"}).as_object().cloned().unwrap();
        assert_eq!(token_type_field(&d, "default").unwrap(), "service");
    }
}
