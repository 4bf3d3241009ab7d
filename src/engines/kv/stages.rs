//! Staging labels on KV v2 versions (ROTATION.md): `current`, `pending`, `previous` and custom
//! labels; the `<mount>/stages/<path>` endpoint that moves one by compare-and-set; and the calls
//! the rotation engine makes on them. The rules themselves run in the store
//! (`crate::store::stages`), inside the transaction of each write.

use http::StatusCode;
use serde_json::{json, Map, Value};

use super::data::{append_staged, check_stages, decrypt_version, Staging};
use super::{check_key, store_err};
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::params;
use crate::core::engine::{Call, Host};
use crate::store::StoreError;

pub use crate::store::stages::{CURRENT, PENDING, PREVIOUS};

/// Writes a new version of `path` carrying `stages` (empty: `current`, as a plain write), with an
/// optional idempotency token. Returns the version number (the existing one when `request_token`
/// was already used with the same value; 409 when it was used with another value, or when
/// `pending` is asked for while another rotation holds it).
pub async fn write_version(
    host: Host<'_>,
    path: &str,
    data: &Map<String, Value>,
    stages: &[&str],
    request_token: Option<&str>,
) -> Result<i64, ApiError> {
    let staging = Staging {
        stages: stages.iter().map(|s| s.to_string()).collect(),
        request_token: request_token.map(str::to_string),
    };
    check_stages(&staging.stages)?;
    append_staged(host, path, data, None, false, &staging).await.map(|(_, v)| v)
}

/// The version holding `stage` and its decrypted data, if any version holds it (and is live).
pub async fn read_stage(
    host: Host<'_>,
    path: &str,
    stage: &str,
) -> Result<Option<(i64, Map<String, Value>)>, ApiError> {
    let labels = host.storage().kv_stages(path).await.map_err(store_err)?;
    let Some(version) = labels.iter().find(|(l, _)| l == stage).map(|(_, v)| *v) else { return Ok(None) };
    let Some((_, Some(row))) = host.storage().kv_read(path, Some(version)).await.map_err(store_err)? else {
        return Ok(None);
    };
    if row.destroyed || row.ciphertext.is_none() {
        return Ok(None);
    }
    let mount = host.mount();
    let data = decrypt_version(host.barrier(), &mount.row.id, path, &row)
        .map_err(|e| ApiError::internal(&format!("kv {}: {e}", mount.row.path)))?;
    Ok(Some((version, data)))
}

/// Moves `stage` to `to` (or removes it when `None`) if it is now on `from` (`None`: on no
/// version). Moving `current` moves `previous` to the old holder. 409 when `from` is stale; 400
/// when `to` is not a kept version.
pub async fn move_stage(
    host: Host<'_>,
    path: &str,
    stage: &str,
    to: Option<i64>,
    from: Option<i64>,
) -> Result<(), ApiError> {
    check_stages(&[stage.to_string()])?;
    if let Some(v) = to {
        let kept = host.storage().kv_metadata_with_versions(path).await.map_err(store_err)?;
        let exists = kept.as_ref().is_some_and(|(_, versions)| versions.iter().any(|x| x.version == v && !x.destroyed));
        if !exists {
            return Err(ApiError::bad_request(format!("version {v} of this secret does not exist or is destroyed")));
        }
    }
    host.storage().kv_stage_move(path, stage, to, from).await.map_err(|e| match e {
        StoreError::Conflict => ApiError::new(
            StatusCode::CONFLICT,
            format!("stage {stage:?} is not on the version given in remove_from_version"),
        ),
        other => store_err(other),
    })
}

/// Every label of `path` with the version holding it, sorted by label.
pub async fn stages(host: Host<'_>, path: &str) -> Result<Vec<(String, i64)>, ApiError> {
    host.storage().kv_stages(path).await.map_err(store_err)
}

fn version_field(data: &Map<String, Value>, key: &str) -> Result<Option<i64>, ApiError> {
    Ok(params::u64_field(data, key)?.filter(|v| *v > 0).map(|v| i64::try_from(v).unwrap_or(i64::MAX)))
}

/// `POST <mount>/stages/<path>` `{stage, move_to_version, remove_from_version}`.
pub async fn move_endpoint(call: &Call<'_>, key: &str, req: &Request) -> Result<Response, ApiError> {
    check_key(key)?;
    let stage = params::str_field(&req.data, "stage")?.ok_or_else(|| ApiError::bad_request("missing stage"))?;
    let to = version_field(&req.data, "move_to_version")?;
    let from = version_field(&req.data, "remove_from_version")?;
    if to.is_none() && from.is_none() {
        return Err(ApiError::bad_request("give move_to_version, remove_from_version or both"));
    }
    if stage == PREVIOUS && to.is_some() {
        // `previous` follows `current`; it can be removed but not placed by hand.
        return Err(ApiError::bad_request("the previous stage moves with current and cannot be set directly"));
    }
    if stage == CURRENT && to.is_none() {
        return Err(ApiError::bad_request("the current stage can be moved but not removed"));
    }
    if call.host.storage().kv_metadata_get(key).await.map_err(store_err)?.is_none() {
        return Err(ApiError::not_found());
    }
    move_stage(call.host, key, stage, to, from).await?;
    Ok(Response::NoContent)
}

/// `GET <mount>/stages/<path>`: `{"stages": {label: version}}`.
pub async fn read_endpoint(call: &Call<'_>, key: &str) -> Result<Response, ApiError> {
    check_key(key)?;
    if call.host.storage().kv_metadata_get(key).await.map_err(store_err)?.is_none() {
        return Err(ApiError::not_found());
    }
    let labels = stages(call.host, key).await?;
    let map: Map<String, Value> = labels.into_iter().map(|(l, v)| (l, json!(v))).collect();
    Ok(Response::data(json!({ "stages": map })))
}
