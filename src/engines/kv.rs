//! The KV version 2 secrets engine: versioned secrets with check-and-set, soft delete, destroy and
//! metadata, every version sealed by the barrier with an AAD naming mount, path and version.

mod config;
mod data;
mod list;
mod metadata;
mod moves;
pub mod rotation;
mod search;
pub mod stages;
mod versions;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::core::engine::{Call, Engine};
use crate::core::search::{Found, SearchQuery, Visibility};
use crate::store::StoreError;

pub use data::{append_staged, decrypt_version, OpenVersionError, Staging};
pub use search::MAX_EXAMINED as SEARCH_MAX_EXAMINED;

/// Versions kept when neither the key nor the mount sets `max_versions`.
pub const DEFAULT_MAX_VERSIONS: i64 = 10;

/// The KV v2 engine (stateless; the mount carries the id).
pub struct KvV2;

#[async_trait]
impl Engine for KvV2 {
    async fn handle(&self, call: Call<'_>, req: Request) -> Result<Response, ApiError> {
        let (section, key) = call.path.split_once('/').unwrap_or((call.path, ""));
        let op = req.operation;
        match (section, op) {
            ("config", Operation::Read) if key.is_empty() => config::read(&call).await,
            ("config", o) if o.is_write() && key.is_empty() => config::write(&call, &req).await,
            ("data", Operation::List) => Err(ApiError::unsupported_operation()),
            ("data", _) if key.is_empty() => Err(ApiError::unsupported_path()),
            ("data", Operation::Read) => data::read(&call, key, &req).await,
            ("data", o) if o.is_write() => data::write(&call, key, &req).await,
            ("data", Operation::Patch) => data::patch(&call, key, &req).await,
            ("data", Operation::Delete) => versions::delete_latest(&call, key).await,
            ("subkeys", Operation::Read) if !key.is_empty() => data::subkeys(&call, key, &req).await,
            ("delete", o) if o.is_write() && !key.is_empty() => versions::delete(&call, key, &req).await,
            ("undelete", o) if o.is_write() && !key.is_empty() => versions::undelete(&call, key, &req).await,
            ("destroy", o) if o.is_write() && !key.is_empty() => versions::destroy(&call, key, &req).await,
            ("metadata", Operation::List) => list::list(&call, key, &req).await,
            ("metadata", _) if key.is_empty() => Err(ApiError::unsupported_path()),
            ("metadata", Operation::Read) => metadata::read(&call, key).await,
            ("metadata", o) if o.is_write() => metadata::write(&call, key, &req).await,
            ("metadata", Operation::Patch) => metadata::patch(&call, key, &req).await,
            ("metadata", Operation::Delete) => metadata::delete(&call, key).await,
            ("stages", o) if o.is_write() && !key.is_empty() => stages::move_endpoint(&call, key, &req).await,
            ("stages", Operation::Read) if !key.is_empty() => stages::read_endpoint(&call, key).await,
            ("move", o) if o.is_write() && !key.is_empty() => moves::move_endpoint(&call, key, &req).await,
            ("rotation", _) if !key.is_empty() => crate::engines::kv::rotation::endpoint(&call, key, &req).await,
            ("rotate", o) if o.is_write() && !key.is_empty() => {
                crate::engines::kv::rotation::rotate_now(&call, key, &req).await
            }
            (
                "config" | "data" | "subkeys" | "delete" | "undelete" | "destroy" | "metadata" | "rotate" | "stages"
                | "move",
                _,
            ) => Err(ApiError::unsupported_operation()),
            _ => Ok(Response::Envelope {
                status: http::StatusCode::NOT_FOUND,
                data: None,
                warnings: vec![
                    "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API \
                     endpoints to use. If using the Coffer or Vault CLI, use 'kv get' for this operation."
                        .into(),
                ],
                auth: None,
                repeat_top_level: false,
                lease: None,
            }),
        }
    }

    fn policy_checks(&self, mount: &str, path: &str, req: &Request) -> Option<Vec<(String, Operation)>> {
        let from = path.strip_prefix("move/").filter(|_| req.operation.is_write())?;
        Some(moves::policy_checks(mount, from, req))
    }

    async fn search(
        &self,
        call: Call<'_>,
        query: &SearchQuery,
        visible: &Visibility,
    ) -> Option<Result<Found, ApiError>> {
        Some(search::search(&call, query, visible).await)
    }

    async fn exists(&self, call: Call<'_>, _req: &Request) -> Result<bool, ApiError> {
        let (section, key) = call.path.split_once('/').unwrap_or((call.path, ""));
        if key.is_empty() || !matches!(section, "data" | "metadata") {
            return Ok(true);
        }
        let meta = call.host.storage().kv_metadata_get(key).await.map_err(store_err)?;
        Ok(match section {
            "data" => meta.is_some_and(|m| m.current_version > 0),
            _ => meta.is_some(),
        })
    }
}

pub use crate::base::logical::timestamp;

/// Maps a store failure to the client's error.
pub fn store_err(e: StoreError) -> ApiError {
    e.into()
}

/// A key path must not be empty or end in `/` for data operations.
fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.ends_with('/') {
        return Err(ApiError::bad_request("invalid secret path: a key path must not be empty or end with '/'"));
    }
    Ok(())
}

/// `custom_metadata` as stored JSON text → JSON value (`null` when unset; a 500 if it does not
/// parse).
fn custom_metadata_value(raw: &Option<String>) -> Result<Value, ApiError> {
    match raw.as_deref() {
        None => Ok(Value::Null),
        Some(text) => crate::base::stored::parse("kv custom_metadata", text),
    }
}

/// Version metadata as returned by writes and reads.
fn version_metadata(v: &crate::store::KvVersionRow, custom: &Option<String>) -> Result<Value, ApiError> {
    Ok(json!({
        "created_time": v.created_time,
        "custom_metadata": custom_metadata_value(custom)?,
        "deletion_time": v.deletion_time.clone().unwrap_or_default(),
        "destroyed": v.destroyed,
        "version": v.version,
    }))
}

/// True when the version has a deletion time that has passed. A stored deletion time that does
/// not parse is a 500 (logged under an error id), never "not deleted".
fn is_deleted(v: &crate::store::KvVersionRow, now: DateTime<Utc>) -> Result<bool, ApiError> {
    match v.deletion_time.as_deref() {
        None => Ok(false),
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|t| t <= now)
            .map_err(|_| ApiError::internal(&"stored kv deletion_time is corrupt: not an RFC 3339 time")),
    }
}
