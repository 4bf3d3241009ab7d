//! The AppRole auth method (`auth/<path>/`, type `approle`): roles with a role-id, secret-ids
//! stored only as keyed HMACs under a per-role storage kind (so an accessor of one role is never
//! found through another role's path, SEC-06), and a login that answers an unknown role and a
//! wrong secret with the same status, body and amount of work (SEC-16).

mod login;
mod role;
mod secret_id;

use async_trait::async_trait;

use crate::auth::common::store_err;
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
    call.host.keyed_hash(msg.as_bytes()).map(hex::encode).ok_or_else(ApiError::sealed)
}

/// HMAC of a secret-id under the barrier-held token key, in its own domain.
pub(crate) fn secret_id_hash(call: &Call<'_>, secret_id: &str) -> Result<String, ApiError> {
    let msg = zeroize::Zeroizing::new(format!("approle-secret-id:{secret_id}"));
    call.host.keyed_hash(msg.as_bytes()).map(hex::encode).ok_or_else(ApiError::sealed)
}
