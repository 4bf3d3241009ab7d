//! Secret-ids of a role: generate (random or custom), list accessors, look up and destroy by
//! value or by accessor. Entries live under a storage kind named after the role's internal id,
//! and the value itself is kept only as an HMAC; an accessor of another role is simply not found
//! (SEC-06). Changes to one secret-id take the same lock as a login that spends it.

use chrono::{DateTime, SecondsFormat};
use http::StatusCode;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::role::{require, Role};
use super::{secret_id_hash, Kinds};
use crate::auth::common::cidr_list;
use crate::auth::common::{multierror_500, show_cidrs, store_err};
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::params;
use crate::core::engine::Call;

/// Lock scope shared by login, destroy and custom secret-id creation (key: the secret's HMAC).
pub const LOCK_SCOPE: &str = "approle";

/// A stored secret-id (its value is the entry name's HMAC, never stored).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretIdEntry {
    /// Public handle.
    pub accessor: String,
    /// Creation, Unix nanoseconds.
    pub created_ns: i64,
    /// Last change (creation or a spent use), Unix nanoseconds.
    pub updated_ns: i64,
    /// Expiry, Unix nanoseconds; `None` = never.
    pub expires_ns: Option<i64>,
    /// TTL as granted, seconds; 0 = none.
    pub ttl: i64,
    /// Remaining uses; 0 = unlimited.
    pub num_uses: i64,
    /// String metadata copied into the login token's metadata.
    pub metadata: Map<String, Value>,
    /// Networks this secret-id may be used from.
    pub cidr_list: Vec<IpNet>,
    /// Networks the issued tokens are bound to (overrides the role's when set).
    pub token_bound_cidrs: Vec<IpNet>,
}

impl SecretIdEntry {
    /// True once the TTL has run out.
    pub fn expired(&self, now_ns: i64) -> bool {
        self.expires_ns.is_some_and(|e| e <= now_ns)
    }

    fn describe(&self) -> Value {
        json!({
            "cidr_list": show_cidrs(&self.cidr_list),
            "creation_time": rfc3339(Some(self.created_ns)),
            "expiration_time": rfc3339(self.expires_ns),
            "last_updated_time": rfc3339(Some(self.updated_ns)),
            "metadata": self.metadata,
            "secret_id_accessor": self.accessor,
            "secret_id_num_uses": self.num_uses,
            "secret_id_ttl": self.ttl,
            "token_bound_cidrs": show_cidrs(&self.token_bound_cidrs),
        })
    }
}

/// Go's RFC 3339 rendering; the zero time for `None` (as OpenBao shows a secret-id without TTL).
fn rfc3339(ns: Option<i64>) -> String {
    match ns {
        Some(ns) => DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => "0001-01-01T00:00:00Z".to_string(),
    }
}

/// The core's time now, Unix nanoseconds.
pub fn now_ns(call: &Call<'_>) -> i64 {
    call.host.now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// Loads the secret-id entry with this HMAC under a role.
pub async fn load(call: &Call<'_>, uid: &str, hash: &str) -> Result<Option<SecretIdEntry>, ApiError> {
    let raw = call.host.storage().entry_get(&Kinds::of(call).secret_ids(uid), hash).await.map_err(store_err)?;
    raw.map(|r| crate::base::stored::parse("approle secret_id", &r)).transpose()
}

/// Deletes a secret-id and its accessor index entry.
pub async fn remove(call: &Call<'_>, uid: &str, hash: &str, accessor: &str) -> Result<(), ApiError> {
    let kinds = Kinds::of(call);
    call.host.storage().entry_delete(&kinds.secret_ids(uid), hash).await.map_err(store_err)?;
    call.host.storage().entry_delete(&kinds.accessors(uid), accessor).await.map_err(store_err)
}

/// Stores a secret-id entry.
pub async fn save(call: &Call<'_>, uid: &str, hash: &str, entry: &SecretIdEntry) -> Result<(), ApiError> {
    let text = serde_json::to_string(entry).map_err(|e| ApiError::internal(&e))?;
    call.host.storage().entry_put(&Kinds::of(call).secret_ids(uid), hash, &text).await.map_err(store_err)
}

/// `metadata`: a JSON-encoded string (what the API documents and hvac sends), an object, or
/// `k=v` pairs (the map rule of `params::map_field`); every value must be a string.
fn metadata(data: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    let bad = || ApiError::bad_request("failed to parse metadata: expected a JSON object of string values");
    let map = params::map_field(data, "metadata")?.unwrap_or_default();
    if map.values().all(Value::is_string) {
        Ok(map)
    } else {
        Err(bad())
    }
}

/// Every network in `inner` lies inside one of `outer` (an empty `outer` allows anything).
fn subset(outer: &[IpNet], inner: &[IpNet]) -> bool {
    outer.is_empty() || inner.iter().all(|i| outer.iter().any(|o| o.contains(i)))
}

fn i64_field(data: &Map<String, Value>, key: &str) -> Result<Option<i64>, ApiError> {
    params::u64_field(data, key)?
        .map(|v| i64::try_from(v).map_err(|_| ApiError::bad_request(format!("{key} is too large"))))
        .transpose()
}

fn missing(field: &str) -> ApiError {
    ApiError::bad_request(format!("missing {field}"))
}

/// `POST role/<name>/secret-id` (random) and `role/<name>/custom-secret-id`.
pub async fn generate(call: &Call<'_>, name: &str, req: &Request, custom: bool) -> Result<Response, ApiError> {
    let d = &req.data;
    let role = require(call, name).await?;
    let secret_id = if custom {
        params::str_field(d, "secret_id")?.filter(|s| !s.is_empty()).ok_or_else(|| missing("secret_id"))?.to_string()
    } else {
        uuid::Uuid::new_v4().to_string()
    };
    let metadata = metadata(d)?;
    let cidrs = cidr_list(d, "cidr_list")?;
    if !subset(&role.secret_id_bound_cidrs, &cidrs) {
        return Err(multierror_500(
            "failed to verify subset relationship between CIDR blocks on the role and CIDR blocks on the secret ID",
        ));
    }
    let token_cidrs = cidr_list(d, "token_bound_cidrs")?;
    if !subset(&role.token.token_bound_cidrs, &token_cidrs) {
        return Err(multierror_500(
            "failed to verify subset relationship between the token CIDR blocks on the role and on the secret ID",
        ));
    }
    let mut num_uses = role.secret_id_num_uses;
    if let Some(n) = i64_field(d, "num_uses")? {
        if role.secret_id_num_uses > 0 && (n == 0 || n > role.secret_id_num_uses) {
            return Err(ApiError::bad_request("num_uses cannot be higher than the role's secret_id_num_uses"));
        }
        num_uses = n;
    }
    let mut ttl = role.secret_id_ttl;
    if let Some(t) = params::duration_field(d, "ttl")? {
        let t = i64::try_from(t).map_err(|_| ApiError::bad_request("ttl is too large"))?;
        if role.secret_id_ttl > 0 && t > role.secret_id_ttl {
            return Err(ApiError::bad_request("ttl cannot be longer than the role's secret_id_ttl"));
        }
        if t > 0 {
            ttl = t;
        }
    }
    let now = now_ns(call);
    let entry = SecretIdEntry {
        accessor: uuid::Uuid::new_v4().to_string(),
        created_ns: now,
        updated_ns: now,
        expires_ns: (ttl > 0).then(|| now.saturating_add(ttl.saturating_mul(1_000_000_000))),
        ttl,
        num_uses,
        metadata,
        cidr_list: cidrs,
        token_bound_cidrs: token_cidrs,
    };
    let hash = secret_id_hash(call, &secret_id)?;
    let _guard = call.host.locks().lock(LOCK_SCOPE, &hash).await;
    if load(call, &role.uid, &hash).await?.is_some() {
        return Err(ApiError::bad_request("secret_id is already registered"));
    }
    save(call, &role.uid, &hash, &entry).await?;
    let kinds = Kinds::of(call);
    call.host.storage().entry_put(&kinds.accessors(&role.uid), &entry.accessor, &hash).await.map_err(store_err)?;
    Ok(Response::data(json!({
        "secret_id": secret_id,
        "secret_id_accessor": entry.accessor,
        "secret_id_num_uses": entry.num_uses,
        "secret_id_ttl": entry.ttl,
    })))
}

/// `LIST role/<name>/secret-id`: the accessors.
pub async fn list(call: &Call<'_>, name: &str) -> Result<Response, ApiError> {
    let role = require(call, name).await?;
    let keys = call.host.storage().entry_list(&Kinds::of(call).accessors(&role.uid), "").await.map_err(store_err)?;
    Response::keys(keys)
}

async fn by_value(call: &Call<'_>, role: &Role, req: &Request) -> Result<(String, Option<SecretIdEntry>), ApiError> {
    let secret_id =
        params::str_field(&req.data, "secret_id")?.filter(|s| !s.is_empty()).ok_or_else(|| missing("secret_id"))?;
    let hash = secret_id_hash(call, secret_id)?;
    let entry = load(call, &role.uid, &hash).await?;
    Ok((hash, entry))
}

/// `POST role/<name>/secret-id/lookup {secret_id}`: 204 when unknown (as OpenBao).
pub async fn lookup(call: &Call<'_>, name: &str, req: &Request) -> Result<Response, ApiError> {
    let role = require(call, name).await?;
    match by_value(call, &role, req).await?.1.filter(|e| !e.expired(now_ns(call))) {
        Some(e) => Ok(Response::data(e.describe())),
        None => Ok(Response::NoContent),
    }
}

/// `POST role/<name>/secret-id/destroy {secret_id}`: 204 whether or not it existed.
pub async fn destroy(call: &Call<'_>, name: &str, req: &Request) -> Result<Response, ApiError> {
    let role = require(call, name).await?;
    let (hash, _) = by_value(call, &role, req).await?;
    let _guard = call.host.locks().lock(LOCK_SCOPE, &hash).await;
    if let Some(e) = load(call, &role.uid, &hash).await? {
        remove(call, &role.uid, &hash, &e.accessor).await?;
    }
    Ok(Response::NoContent)
}

/// The HMAC behind an accessor of this role (`None` for unknown accessors and for accessors of
/// any other role: they live under another kind).
async fn by_accessor<'r>(
    call: &Call<'_>,
    role: &Role,
    req: &'r Request,
) -> Result<(&'r str, Option<String>), ApiError> {
    let accessor = params::str_field(&req.data, "secret_id_accessor")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("secret_id_accessor"))?;
    let hash =
        call.host.storage().entry_get(&Kinds::of(call).accessors(&role.uid), accessor).await.map_err(store_err)?;
    Ok((accessor, hash))
}

/// `POST role/<name>/secret-id-accessor/lookup {secret_id_accessor}`: 404 unless the accessor
/// belongs to this role.
pub async fn lookup_accessor(call: &Call<'_>, name: &str, req: &Request) -> Result<Response, ApiError> {
    let role = require(call, name).await?;
    let (_, Some(hash)) = by_accessor(call, &role, req).await? else { return Err(ApiError::not_found()) };
    match load(call, &role.uid, &hash).await?.filter(|e| !e.expired(now_ns(call))) {
        Some(e) => Ok(Response::data(e.describe())),
        None => Err(ApiError::not_found()),
    }
}

/// `POST role/<name>/secret-id-accessor/destroy {secret_id_accessor}`: 403 unless the accessor
/// belongs to this role (SEC-06; OpenBao answers a foreign accessor the same way).
pub async fn destroy_accessor(call: &Call<'_>, name: &str, req: &Request) -> Result<Response, ApiError> {
    let role = require(call, name).await?;
    let (accessor, Some(hash)) = by_accessor(call, &role, req).await? else {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "invalid secret id accessor"));
    };
    let _guard = call.host.locks().lock(LOCK_SCOPE, &hash).await;
    // Removes the entry and the accessor index (also a dangling index whose entry is gone).
    remove(call, &role.uid, &hash, accessor).await?;
    Ok(Response::NoContent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn metadata_is_a_json_string_or_object_of_strings() {
        assert_eq!(metadata(&m(json!({"metadata": "{\"host\":\"web1\"}"}))).unwrap()["host"], "web1");
        assert_eq!(metadata(&m(json!({"metadata": {"host": "web1"}}))).unwrap()["host"], "web1");
        assert!(metadata(&m(json!({}))).unwrap().is_empty());
        assert!(metadata(&m(json!({"metadata": null}))).unwrap().is_empty());
        assert!(metadata(&m(json!({"metadata": "notjson"}))).is_err());
        assert!(metadata(&m(json!({"metadata": "{\"n\":1}"}))).is_err());
    }

    #[test]
    fn secret_cidrs_must_lie_inside_the_roles() {
        let role: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert!(subset(&role, &["10.2.0.0/16".parse().unwrap()]));
        assert!(!subset(&role, &["192.168.0.0/16".parse().unwrap()]));
        assert!(!subset(&role, &["0.0.0.0/0".parse().unwrap()]));
        assert!(subset(&[], &["192.168.0.0/16".parse().unwrap()]));
        assert!(subset(&role, &[]));
    }

    #[test]
    fn times_render_like_go() {
        assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339(Some(1_500_000_000_123_456_789)), "2017-07-14T02:40:00.123456789Z");
        let e = SecretIdEntry {
            accessor: "a".into(),
            created_ns: 0,
            updated_ns: 0,
            expires_ns: Some(10),
            ttl: 1,
            num_uses: 0,
            metadata: Map::new(),
            cidr_list: vec![],
            token_bound_cidrs: vec![],
        };
        assert!(!e.expired(9));
        assert!(e.expired(10));
    }
}
