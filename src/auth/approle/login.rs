//! `POST login {role_id, secret_id}`. An unknown role-id, a wrong, missing, expired or used-up
//! secret-id all get the same 400 after the same HMACs, reads and lock (SEC-16). Spending a use is
//! serialised per secret-id, so a secret-id with N uses logs in at most N times.

use http::StatusCode;
use serde_json::{Map, Value};

use super::role::{Role, RoleIdIndex};
use super::secret_id::{self, LOCK_SCOPE};
use super::{role_id_hash, secret_id_hash, store_err, Kinds};
use crate::auth::common::{self, addr_allowed};
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::params;
use crate::core::engine::Call;

/// Internal id that no role has (uuids are never all zero): the secret-id read made when the
/// role-id is unknown, so both failures do the same work.
const NO_ROLE_UID: &str = "00000000-0000-0000-0000-000000000000";

fn invalid() -> ApiError {
    ApiError::bad_request("invalid role or secret ID")
}

fn cidr_denied(on: &str) -> ApiError {
    ApiError::bad_request(format!("source address unauthorized through CIDR restrictions on the {on}"))
}

/// `POST login`.
pub async fn login(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let d = &req.data;
    let Some(role_id) = params::str_field(d, "role_id")?.filter(|r| !r.is_empty()) else {
        // OpenBao answers this plugin error with a 500 (API-CONTRACT §5).
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "missing role_id"));
    };
    let secret = params::str_field(d, "secret_id")?.unwrap_or("");
    let role_hash = role_id_hash(call, role_id)?;
    let secret_hash = secret_id_hash(call, secret)?;
    let kinds = Kinds::of(call);
    let store = call.host.storage();

    // The same reads happen whether or not the role exists.
    let index: Option<RoleIdIndex> = store
        .entry_get(&kinds.role_ids(), &role_hash)
        .await
        .map_err(store_err)?
        .map(|raw| crate::base::stored::parse("approle role_id index", &raw))
        .transpose()?;
    let (name, role) = match index {
        Some(idx) => {
            let role = Role::load(call, &idx.name).await?.filter(|r| r.uid == idx.uid);
            (idx.name, role)
        }
        None => {
            Role::load(call, "").await?;
            (String::new(), None)
        }
    };
    let uid = role.as_ref().map_or(NO_ROLE_UID, |r| r.uid.as_str()).to_string();
    let guard = call
        .host
        .locks()
        .lock(LOCK_SCOPE, &secret_hash)
        .await
        .ok_or_else(|| ApiError::internal(&"secret-id lock unavailable"))?;
    let entry = secret_id::load(call, &uid, &secret_hash).await?;
    let Some(role) = role else { return Err(invalid()) };

    let client = req.client_addr.map(|a| a.ip());
    let mut token = role.token.clone();
    if role.bind_secret_id {
        let Some(mut entry) = entry.filter(|_| !secret.is_empty()) else { return Err(invalid()) };
        let now = secret_id::now_ns(call);
        if entry.expired(now) {
            secret_id::remove(call, &uid, &secret_hash, &entry.accessor).await?;
            return Err(invalid());
        }
        // Address checks come after the secret-id is known to be valid, so they reveal nothing to
        // a caller without credentials; a refused address does not spend a use.
        if !addr_allowed(&entry.cidr_list, client) {
            return Err(cidr_denied("secret ID"));
        }
        if !addr_allowed(&role.secret_id_bound_cidrs, client) {
            return Err(cidr_denied("role"));
        }
        if !entry.token_bound_cidrs.is_empty() {
            token.token_bound_cidrs = entry.token_bound_cidrs.clone();
        }
        match entry.num_uses {
            0 => {}
            1 => secret_id::remove(call, &uid, &secret_hash, &entry.accessor).await?,
            n => {
                entry.num_uses = n - 1;
                entry.updated_ns = now;
                secret_id::save(call, &uid, &secret_hash, &entry).await?;
            }
        }
    } else if !addr_allowed(&role.secret_id_bound_cidrs, client) {
        return Err(cidr_denied("role"));
    }
    drop(guard);
    // Only `role_name`: `common::login` also makes the token's identity (the alias name and
    // the metadata templated policies may read) from these, and secret-id metadata is written by
    // whoever may generate secret-ids, not by an administrator (SEC-08). OpenBao would copy it
    // into the token's metadata as well.
    let mut meta: Map<String, Value> = Map::new();
    meta.insert("role_name".into(), Value::String(name.clone()));
    common::login(call, &token, &name, meta).await
}
