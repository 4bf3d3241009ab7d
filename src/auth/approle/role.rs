//! AppRole roles: `role/<name>` (read, write, delete), `LIST role`, and `role/<name>/role-id`.
//! Role writes on one mount are serialised, so a role-id can never be claimed by two roles.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{role_id_hash, Kinds};
use crate::auth::common::{cidr_list, TokenParams};
use crate::auth::common::{multierror_500, show_cidrs, store_err, token_fields, token_type_field};
use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::engine::Call;

/// A stored role. No `Debug`: the role-id is half of a credential.
#[derive(Clone, Serialize, Deserialize)]
pub struct Role {
    /// Internal id, fixed for the life of the role; secret-ids are stored under it.
    pub uid: String,
    /// The role-id clients log in with.
    pub role_id: String,
    /// Login needs a secret-id.
    pub bind_secret_id: bool,
    /// Networks logins with this role may come from.
    pub secret_id_bound_cidrs: Vec<ipnet::IpNet>,
    /// Default (and maximum) uses of a new secret-id; 0 = unlimited.
    pub secret_id_num_uses: i64,
    /// Default (and maximum) TTL of a new secret-id, seconds; 0 = none.
    pub secret_id_ttl: i64,
    /// Vault's `local_secret_ids` (shown only; every node shares one store).
    pub local_secret_ids: bool,
    /// `default` or `service`.
    pub token_type: String,
    /// Settings of the tokens a login issues.
    pub token: TokenParams,
}

/// What the role-id index points to.
#[derive(Serialize, Deserialize)]
pub struct RoleIdIndex {
    /// Role name.
    pub name: String,
    /// The role's internal id (guards against a stale index after delete and re-create).
    pub uid: String,
}

impl Role {
    /// Loads a role by name.
    pub async fn load(call: &Call<'_>, name: &str) -> Result<Option<Self>, ApiError> {
        let raw = call.host.storage().entry_get(&Kinds::of(call).roles(), name).await.map_err(store_err)?;
        raw.map(|r| crate::base::stored::parse("approle role", &r)).transpose()
    }

    async fn save(&self, call: &Call<'_>, name: &str) -> Result<(), ApiError> {
        let text = serde_json::to_string(self).map_err(|e| ApiError::internal(&e))?;
        call.host.storage().entry_put(&Kinds::of(call).roles(), name, &text).await.map_err(store_err)
    }

    fn describe(&self) -> Value {
        let mut m = token_fields(&self.token, &self.token_type);
        m.insert("bind_secret_id".into(), json!(self.bind_secret_id));
        m.insert("local_secret_ids".into(), json!(self.local_secret_ids));
        m.insert(
            "secret_id_bound_cidrs".into(),
            if self.secret_id_bound_cidrs.is_empty() {
                Value::Null
            } else {
                json!(show_cidrs(&self.secret_id_bound_cidrs))
            },
        );
        m.insert("secret_id_num_uses".into(), json!(self.secret_id_num_uses));
        m.insert("secret_id_ttl".into(), json!(self.secret_id_ttl));
        Value::Object(m)
    }
}

/// 404 `role "<name>" does not exist`.
pub fn no_role(name: &str) -> ApiError {
    ApiError { errors: vec![format!("role \"{name}\" does not exist")], ..ApiError::not_found() }
}

/// Loads a role or answers 404.
pub async fn require(call: &Call<'_>, name: &str) -> Result<Role, ApiError> {
    Role::load(call, name).await?.ok_or_else(|| no_role(name))
}

fn i64_field(data: &serde_json::Map<String, Value>, key: &str) -> Result<Option<i64>, ApiError> {
    params::u64_field(data, key)?
        .map(|v| i64::try_from(v).map_err(|_| ApiError::bad_request(format!("{key} is too large"))))
        .transpose()
}

/// `LIST role`.
pub async fn list(call: &Call<'_>) -> Result<Response, ApiError> {
    let keys = call.host.storage().entry_list(&Kinds::of(call).roles(), "").await.map_err(store_err)?;
    Response::keys(keys)
}

/// Points `role_id` at the role, refusing one that another role uses.
async fn claim_role_id(call: &Call<'_>, role: &Role, name: &str, role_id: &str) -> Result<String, ApiError> {
    let hash = role_id_hash(call, role_id)?;
    let kinds = Kinds::of(call);
    let store = call.host.storage();
    if let Some(raw) = store.entry_get(&kinds.role_ids(), &hash).await.map_err(store_err)? {
        let idx: RoleIdIndex = crate::base::stored::parse("approle role_id index", &raw)?;
        if idx.uid != role.uid && Role::load(call, &idx.name).await?.is_some_and(|r| r.uid == idx.uid) {
            return Err(multierror_500("role_id already in use"));
        }
    }
    let idx = RoleIdIndex { name: name.to_string(), uid: role.uid.clone() };
    let text = serde_json::to_string(&idx).map_err(|e| ApiError::internal(&e))?;
    store.entry_put(&kinds.role_ids(), &hash, &text).await.map_err(store_err)?;
    Ok(hash)
}

/// Removes every secret-id and accessor of a role.
async fn delete_secret_ids(call: &Call<'_>, uid: &str) -> Result<(), ApiError> {
    let kinds = Kinds::of(call);
    let store = call.host.storage();
    for kind in [kinds.secret_ids(uid), kinds.accessors(uid)] {
        for name in store.entry_list(&kind, "").await.map_err(store_err)? {
            store.entry_delete(&kind, &name).await.map_err(store_err)?;
        }
    }
    Ok(())
}

/// `GET|POST|DELETE role/<name>`.
pub async fn handle(call: &Call<'_>, name: &str, req: &Request) -> Result<Response, ApiError> {
    match req.operation {
        Operation::Read => {
            let role = Role::load(call, name).await?.ok_or_else(ApiError::not_found)?;
            Ok(Response::data(role.describe()))
        }
        op if op.is_write() => write(call, name, req).await,
        Operation::Delete => delete(call, name).await,
        _ => Err(ApiError::unsupported_operation()),
    }
}

async fn write(call: &Call<'_>, name: &str, req: &Request) -> Result<Response, ApiError> {
    let d = &req.data;
    let scope = format!("approle-roles:{}", call.mount.row.id);
    let _guard = call.host.locks().lock(&scope, "").await;
    let existing = Role::load(call, name).await?;
    let is_new = existing.is_none();
    let mut role = existing.unwrap_or_else(|| Role {
        uid: uuid::Uuid::new_v4().to_string(),
        role_id: uuid::Uuid::new_v4().to_string(),
        bind_secret_id: true,
        secret_id_bound_cidrs: Vec::new(),
        secret_id_num_uses: 0,
        secret_id_ttl: 0,
        local_secret_ids: false,
        token_type: "default".into(),
        token: TokenParams::default(),
    });
    if let Some(b) = params::bool_field(d, "bind_secret_id")? {
        role.bind_secret_id = b;
    }
    for key in ["secret_id_bound_cidrs", "bound_cidr_list"] {
        if d.get(key).is_some_and(|v| !v.is_null()) {
            role.secret_id_bound_cidrs = cidr_list(d, key)?;
        }
    }
    if let Some(n) = i64_field(d, "secret_id_num_uses")? {
        role.secret_id_num_uses = n;
    }
    if let Some(t) = params::duration_field(d, "secret_id_ttl")? {
        role.secret_id_ttl = i64::try_from(t).map_err(|_| ApiError::bad_request("secret_id_ttl is too large"))?;
    }
    if is_new {
        role.local_secret_ids = params::bool_field(d, "local_secret_ids")?.unwrap_or(false);
    }
    role.token_type = token_type_field(d, &role.token_type)?;
    role.token.update(d)?;
    if !role.bind_secret_id && role.secret_id_bound_cidrs.is_empty() && role.token.token_bound_cidrs.is_empty() {
        return Err(multierror_500("at least one constraint should be enabled on the role"));
    }
    let old_hash = if is_new { None } else { Some(role_id_hash(call, &role.role_id)?) };
    let new_role_id = params::str_field(d, "role_id")?.filter(|r| !r.is_empty()).map(str::to_string);
    if let Some(rid) = new_role_id {
        role.role_id = rid;
    }
    let hash = claim_role_id(call, &role, name, &role.role_id).await?;
    role.save(call, name).await?;
    if let Some(old) = old_hash.filter(|o| *o != hash) {
        call.host.storage().entry_delete(&Kinds::of(call).role_ids(), &old).await.map_err(store_err)?;
    }
    Ok(Response::NoContent)
}

async fn delete(call: &Call<'_>, name: &str) -> Result<Response, ApiError> {
    let scope = format!("approle-roles:{}", call.mount.row.id);
    let _guard = call.host.locks().lock(&scope, "").await;
    let Some(role) = Role::load(call, name).await? else { return Ok(Response::NoContent) };
    let kinds = Kinds::of(call);
    let store = call.host.storage();
    store.entry_delete(&kinds.roles(), name).await.map_err(store_err)?;
    store.entry_delete(&kinds.role_ids(), &role_id_hash(call, &role.role_id)?).await.map_err(store_err)?;
    delete_secret_ids(call, &role.uid).await?;
    Ok(Response::NoContent)
}

/// `GET role/<name>/role-id`.
pub async fn read_role_id(call: &Call<'_>, name: &str) -> Result<Response, ApiError> {
    let role = Role::load(call, name).await?.ok_or_else(ApiError::not_found)?;
    Ok(Response::data(json!({ "role_id": role.role_id })))
}

/// `POST role/<name>/role-id {role_id}`: sets a custom role-id.
pub async fn write_role_id(call: &Call<'_>, name: &str, req: &Request) -> Result<Response, ApiError> {
    let rid = params::str_field(&req.data, "role_id")?
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing role_id"))?;
    let scope = format!("approle-roles:{}", call.mount.row.id);
    let _guard = call.host.locks().lock(&scope, "").await;
    let mut role = require(call, name).await?;
    let old = role_id_hash(call, &role.role_id)?;
    role.role_id = rid.to_string();
    let hash = claim_role_id(call, &role, name, rid).await?;
    role.save(call, name).await?;
    if old != hash {
        call.host.storage().entry_delete(&Kinds::of(call).role_ids(), &old).await.map_err(store_err)?;
    }
    Ok(Response::NoContent)
}
