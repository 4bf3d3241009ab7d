//! `kv/metadata/<path>`: read, write, merge-patch and delete (LIST is in `list`).

use serde_json::{json, Map, Value};

use super::{check_key, custom_metadata_value, store_err, timestamp};
use crate::base::duration;
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::params;
use crate::core::engine::Call;
use crate::store::KvMetadataRow;

const MAX_CUSTOM_KEYS: usize = 64;
const MAX_CUSTOM_KEY_LEN: usize = 128;
const MAX_CUSTOM_VALUE_LEN: usize = 512;

/// `GET <mount>/metadata/<path>`.
pub async fn read(call: &Call<'_>, key: &str) -> Result<Response, ApiError> {
    check_key(key)?;
    let found = call.host.storage().kv_metadata_with_versions(key).await.map_err(store_err)?;
    let Some((m, versions)) = found else {
        return Err(ApiError::not_found());
    };
    let labels = call.host.storage().kv_stages(key).await.map_err(store_err)?;
    let versions: Map<String, Value> = versions
        .iter()
        .map(|v| {
            (
                v.version.to_string(),
                json!({
                    "created_time": v.created_time,
                    "deletion_time": v.deletion_time.clone().unwrap_or_default(),
                    "destroyed": v.destroyed,
                }),
            )
        })
        .collect();
    // ROTATION.md rule 2: the version labelled `current` (the newest one for a key never staged).
    let current = labels.iter().find(|(l, _)| l == super::stages::CURRENT).map_or(m.current_version, |(_, v)| *v);
    Ok(Response::data(json!({
        "cas_required": m.cas_required,
        "created_time": m.created_time,
        "current_metadata_version": 1,
        "current_version": current,
        "custom_metadata": custom_metadata_value(&m.custom_metadata)?,
        "delete_version_after": duration::format(m.delete_version_after as u64),
        "max_versions": m.max_versions,
        "metadata_cas_required": false,
        "oldest_version": m.oldest_version,
        "updated_time": m.updated_time,
        "versions": versions,
    })))
}

/// Checks custom metadata: string values, bounded counts and sizes. Errors name keys, not values.
fn custom_metadata(obj: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    if obj.len() > MAX_CUSTOM_KEYS {
        return Err(ApiError::bad_request(format!("custom_metadata has more than {MAX_CUSTOM_KEYS} keys")));
    }
    for (k, v) in obj {
        if k.is_empty() || k.len() > MAX_CUSTOM_KEY_LEN {
            return Err(ApiError::bad_request(format!("custom_metadata keys must be 1 to {MAX_CUSTOM_KEY_LEN} bytes")));
        }
        match v {
            Value::String(s) if s.len() <= MAX_CUSTOM_VALUE_LEN => {}
            Value::String(_) => {
                return Err(ApiError::bad_request(format!(
                    "custom_metadata value of key {k:?} is longer than {MAX_CUSTOM_VALUE_LEN} bytes"
                )))
            }
            _ => return Err(ApiError::bad_request(format!("custom_metadata value of key {k:?} must be a string"))),
        }
    }
    Ok(obj.clone())
}

/// Applies the settable fields of `data` to `m`.
fn apply(m: &mut KvMetadataRow, data: &Map<String, Value>, custom: Option<Map<String, Value>>) -> Result<(), ApiError> {
    if let Some(v) = params::u64_field(data, "max_versions")? {
        m.max_versions = i64::try_from(v).map_err(|_| ApiError::bad_request("max_versions is too large"))?;
    }
    if let Some(b) = params::bool_field(data, "cas_required")? {
        m.cas_required = b;
    }
    if let Some(d) = params::duration_field(data, "delete_version_after")? {
        m.delete_version_after =
            i64::try_from(d).map_err(|_| ApiError::bad_request("delete_version_after is too large"))?;
    }
    if let Some(c) = custom {
        m.custom_metadata = if c.is_empty() { None } else { Some(Value::Object(c).to_string()) };
    }
    Ok(())
}

async fn load_or_new(call: &Call<'_>, key: &str) -> Result<(KvMetadataRow, bool), ApiError> {
    let now = timestamp(call.host.now());
    let found = call.host.storage().kv_metadata_get(key).await.map_err(store_err)?;
    Ok(match found {
        Some(mut m) => {
            m.updated_time = now;
            (m, true)
        }
        None => (KvMetadataRow::new(&call.mount.row.id, key, now), false),
    })
}

/// `POST <mount>/metadata/<path>`: sets the fields given; `custom_metadata` replaces the map.
pub async fn write(call: &Call<'_>, key: &str, req: &Request) -> Result<Response, ApiError> {
    check_key(key)?;
    let custom = params::map_field(&req.data, "custom_metadata")?.as_ref().map(custom_metadata).transpose()?;
    let (mut m, _) = load_or_new(call, key).await?;
    apply(&mut m, &req.data, custom)?;
    call.host.storage().kv_metadata_put(&m).await.map_err(store_err)?;
    Ok(Response::NoContent)
}

/// `PATCH <mount>/metadata/<path>`: merge-patch; `null` in `custom_metadata` removes a key.
pub async fn patch(call: &Call<'_>, key: &str, req: &Request) -> Result<Response, ApiError> {
    check_key(key)?;
    let (mut m, exists) = load_or_new(call, key).await?;
    if !exists {
        return Err(ApiError::not_found_empty());
    }
    let custom = match params::map_field(&req.data, "custom_metadata")? {
        None => None,
        Some(p) => {
            let mut current: Map<String, Value> = match m.custom_metadata.as_deref() {
                None => Map::new(),
                Some(text) => crate::base::stored::parse("kv custom_metadata", text)?,
            };
            for (k, v) in p {
                if v.is_null() {
                    current.remove(&k);
                } else {
                    current.insert(k, v);
                }
            }
            Some(custom_metadata(&current)?)
        }
    };
    apply(&mut m, &req.data, custom)?;
    call.host.storage().kv_metadata_put(&m).await.map_err(store_err)?;
    Ok(Response::NoContent)
}

/// `DELETE <mount>/metadata/<path>`: every version and the metadata.
pub async fn delete(call: &Call<'_>, key: &str) -> Result<Response, ApiError> {
    check_key(key)?;
    call.host.storage().kv_delete_all(key, None).await.map_err(store_err)?;
    Ok(Response::NoContent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_metadata_is_bounded_and_never_echoes_values() {
        let long = "v".repeat(600);
        let obj = json!({"k": long}).as_object().cloned().unwrap();
        let e = custom_metadata(&obj).unwrap_err();
        assert!(!e.errors[0].contains(&long));
        assert!(custom_metadata(&json!({"k": 1}).as_object().cloned().unwrap()).is_err());
        assert!(custom_metadata(&json!({"k": "ok"}).as_object().cloned().unwrap()).is_ok());
    }
}
