//! `kv/data/<path>` read, write (with check-and-set), merge-patch, and `kv/subkeys/<path>`.

use http::StatusCode;
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use super::{check_key, is_deleted, store_err, timestamp, version_metadata, DEFAULT_MAX_VERSIONS};
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::params;
use crate::core::engine::{Call, Host};
use crate::crypto::barrier::{self, Context};
use crate::store::{KvMetadataRow, KvVersionRow, KvWrite, StoreError, WriteOutcome};

/// Attempts at a write that loses a race (with another node) without a client-given CAS.
const WRITE_ATTEMPTS: usize = 20;

fn cas_mismatch() -> ApiError {
    ApiError::bad_request("check-and-set parameter did not match the current version")
}

/// Why a stored version could not be opened. Names the version, never the value.
#[derive(Debug, thiserror::Error)]
pub enum OpenVersionError {
    /// Destroyed, or never written.
    #[error("version {0} has no ciphertext")]
    NoCiphertext(i64),
    /// The barrier refused the ciphertext (tampered, moved, or another key).
    #[error("version {0}: {1}")]
    Barrier(i64, barrier::BarrierError),
    /// It decrypted, but not to a JSON object.
    #[error("version {0}: stored value is not a JSON object ({1:?})")]
    NotJson(i64, serde_json::error::Category),
}

/// Decrypts a stored version of `path` under the mount `mount_id` into its data object: the one
/// code path every read of a version takes (and `coffer operator migrate` checks).
pub fn decrypt_version(
    barrier: &barrier::Barrier,
    mount_id: &str,
    path: &str,
    v: &KvVersionRow,
) -> Result<Map<String, Value>, OpenVersionError> {
    let ct = v.ciphertext.as_ref().ok_or(OpenVersionError::NoCiphertext(v.version))?;
    let plain = barrier
        .open(ct, Context::KvVersion { mount_id, path, version: v.version })
        .map_err(|e| OpenVersionError::Barrier(v.version, e))?;
    serde_json::from_slice(&plain).map_err(|e| OpenVersionError::NotJson(v.version, e.classify()))
}

/// Decrypts a version's data object.
fn open_version(call: &Call<'_>, path: &str, v: &KvVersionRow) -> Result<Map<String, Value>, ApiError> {
    decrypt_version(call.host.barrier(), &call.mount.row.id, path, v)
        .map_err(|e| ApiError::internal(&format!("kv {}: {e}", call.mount.row.path)))
}

/// Reads the requested version (`?version=`, latest by default) and decrypts it. A deleted or
/// destroyed version becomes Vault's 404 with an envelope whose `field` is `null`.
async fn read_live(
    call: &Call<'_>,
    key: &str,
    req: &Request,
    field: &str,
) -> Result<Result<(Map<String, Value>, Value), Response>, ApiError> {
    check_key(key)?;
    let mut version = params::u64_field(&req.data, "version")?.filter(|v| *v > 0).map(|v| v as i64);
    if let Some(stage) = params::str_field(&req.data, "stage")?.filter(|s| !s.is_empty()) {
        let labels = call.host.storage().kv_stages(key).await.map_err(store_err)?;
        let Some(held) = labels.iter().find(|(l, _)| l == stage).map(|(_, v)| *v) else {
            return Err(ApiError::not_found());
        };
        if version.is_some_and(|v| v != held) {
            return Err(ApiError::bad_request(format!(
                "version and stage disagree: stage {stage:?} is on version {held}"
            )));
        }
        version = Some(held);
    }
    let found = call.host.storage().kv_read(key, version).await.map_err(store_err)?;
    let Some((meta, Some(v))) = found else {
        return Err(ApiError::not_found());
    };
    let metadata = version_metadata(&v, &meta.custom_metadata)?;
    if v.destroyed || is_deleted(&v, call.host.now())? {
        return Ok(Err(Response::Envelope {
            status: StatusCode::NOT_FOUND,
            data: Some(json!({field: null, "metadata": metadata})),
            warnings: Vec::new(),
            auth: None,
            repeat_top_level: false,
            lease: None,
        }));
    }
    Ok(Ok((open_version(call, key, &v)?, metadata)))
}

/// `GET <mount>/data/<path>[?version=N]`.
pub async fn read(call: &Call<'_>, key: &str, req: &Request) -> Result<Response, ApiError> {
    Ok(match read_live(call, key, req, "data").await? {
        Ok((data, metadata)) => Response::data(json!({"data": data, "metadata": metadata})),
        Err(gone) => gone,
    })
}

/// Parses `options.cas`.
fn cas_option(req: &Request) -> Result<Option<i64>, ApiError> {
    match params::map_field(&req.data, "options")? {
        Some(o) => Ok(params::u64_field(&o, "cas")?.map(|c| c as i64)),
        None => Ok(None),
    }
}

/// Labels one version may carry at most (AWS's limit).
pub const MAX_STAGES: usize = 20;

/// `options.stages` and `options.request_token` of a write.
#[derive(Default)]
pub struct Staging {
    /// Labels for the new version (empty: `current`).
    pub stages: Vec<String>,
    /// Idempotency token.
    pub request_token: Option<String>,
}

fn staging_option(req: &Request) -> Result<Staging, ApiError> {
    let Some(o) = params::map_field(&req.data, "options")? else { return Ok(Staging::default()) };
    let stages = params::string_list(&o, "stages")?;
    check_stages(&stages)?;
    let request_token = params::str_field(&o, "request_token")?.map(str::to_string);
    if let Some(t) = &request_token {
        if t.is_empty() || t.len() > 64 || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(ApiError::bad_request(
                "request_token must be 1 to 64 characters of a-z, A-Z, 0-9, '-' and '_'",
            ));
        }
    }
    Ok(Staging { stages, request_token })
}

/// Label names: 1 to 256 printable characters without `/`, at most [`MAX_STAGES`], no repeats.
pub fn check_stages(stages: &[String]) -> Result<(), ApiError> {
    if stages.len() > MAX_STAGES {
        return Err(ApiError::bad_request(format!("a version carries at most {MAX_STAGES} stages")));
    }
    for (i, s) in stages.iter().enumerate() {
        if s.is_empty() || s.len() > 256 || s.contains('/') || s.chars().any(char::is_control) {
            return Err(ApiError::bad_request("a stage name is 1 to 256 printable characters without '/'"));
        }
        // The AWS API's names of the three built-in stages: one spelling per stage.
        if matches!(s.as_str(), "AWSCURRENT" | "AWSPENDING" | "AWSPREVIOUS") {
            return Err(ApiError::bad_request(format!(
                "{s} is the AWS API's name of a built-in stage: use current, pending or previous"
            )));
        }
        if stages.iter().take(i).any(|t| t == s) {
            return Err(ApiError::bad_request(format!("stage {s:?} is listed twice")));
        }
    }
    Ok(())
}

/// Appends a version holding `data`, honouring CAS and the key/mount settings.
async fn append(
    call: &Call<'_>,
    key: &str,
    data: &Map<String, Value>,
    cas: Option<i64>,
    require_existing: bool,
) -> Result<Response, ApiError> {
    append_staged(call.host, key, data, cas, require_existing, &Staging::default()).await.map(|(r, _)| r)
}

/// HMAC of a staged write's value under the barrier-held token key, for `request_token` replays.
pub(super) fn value_digest(host: Host<'_>, mount_id: &str, key: &str, plaintext: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut msg = Zeroizing::new(format!("kv-request-token:{mount_id}:{key}:").into_bytes());
    msg.extend_from_slice(plaintext);
    host.keyed_hash(&msg).map(|h| h.to_vec()).ok_or_else(ApiError::sealed)
}

/// [`append`] with labels and an idempotency token; also returns the version written (or
/// replayed).
pub async fn append_staged(
    host: Host<'_>,
    key: &str,
    data: &Map<String, Value>,
    cas: Option<i64>,
    require_existing: bool,
    staging: &Staging,
) -> Result<(Response, i64), ApiError> {
    let store = host.storage();
    let mount = host.mount();
    let mount_id = mount.row.id.as_str();
    let plaintext = Zeroizing::new(serde_json::to_vec(data).map_err(|e| ApiError::internal(&e))?);
    let digest = match &staging.request_token {
        Some(_) => Some(value_digest(host, mount_id, key, &plaintext)?),
        None => None,
    };
    let config = store.kv_config_get().await.map_err(store_err)?;
    // Writers to one key on this node queue here; the conditional write below still catches a
    // writer on another node.
    let _guard = host.locks().lock(mount_id, key).await;
    for _ in 0..WRITE_ATTEMPTS {
        let meta: Option<KvMetadataRow> = store.kv_metadata_get(key).await.map_err(store_err)?;
        let current = meta.as_ref().map_or(0, |m| m.current_version);
        if require_existing && current == 0 {
            return Err(ApiError::not_found_empty());
        }
        let cas_required = config.cas_required || meta.as_ref().is_some_and(|m| m.cas_required);
        match cas {
            None if cas_required => {
                return Err(ApiError::bad_request("check-and-set parameter required for this call"))
            }
            Some(c) if c != current => return Err(cas_mismatch()),
            _ => {}
        }
        let version = current + 1;
        let now = host.now();
        let dva = meta.as_ref().map_or(0, |m| m.delete_version_after);
        let dva = if dva > 0 { dva } else { config.delete_version_after };
        let deletion_time = (dva > 0).then(|| timestamp(now + chrono::Duration::seconds(dva)));
        let (ciphertext, term) = host
            .barrier()
            .seal(Context::KvVersion { mount_id, path: key, version }, &plaintext)
            .map_err(|e| ApiError::internal(&e))?;
        let row = KvVersionRow {
            version,
            created_time: timestamp(now),
            deletion_time,
            destroyed: false,
            key_term: Some(i64::from(term)),
            ciphertext: Some(ciphertext),
        };
        let max = [meta.as_ref().map_or(0, |m| m.max_versions), config.max_versions, DEFAULT_MAX_VERSIONS]
            .into_iter()
            .find(|m| *m > 0)
            .unwrap_or(DEFAULT_MAX_VERSIONS);
        let token = staging.request_token.as_deref().zip(digest.as_deref());
        let write = KvWrite {
            mount_id,
            path: key,
            expected_current: current,
            row: &row,
            max_versions: max,
            stages: &staging.stages,
            token,
        };
        let custom = meta.and_then(|m| m.custom_metadata);
        match store.kv_write(&write).await {
            Ok(WriteOutcome::Written { abandoned }) => {
                if abandoned {
                    host.audit_event(
                        "rotation.abandoned",
                        json!({"mount": mount.api_path, "path": key, "version": version}),
                    );
                }
                return Ok((Response::data(version_metadata(&row, &custom)?), version));
            }
            Ok(WriteOutcome::Replayed(v)) => {
                let found = store.kv_read(key, Some(v)).await.map_err(store_err)?;
                let Some((m, Some(row))) = found else { return Err(ApiError::not_found()) };
                return Ok((Response::data(version_metadata(&row, &m.custom_metadata)?), v));
            }
            Ok(WriteOutcome::TokenReused) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "request_token was already used for this secret with a different value",
                ))
            }
            Ok(WriteOutcome::PendingBusy) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "a rotation is in progress: the pending stage is on a version other than current",
                ))
            }
            Err(StoreError::Conflict) if cas.is_some() => return Err(cas_mismatch()),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(store_err(e)),
        }
    }
    Err(ApiError::bad_request("the secret changed concurrently too many times; retry the write"))
}

/// `POST|PUT <mount>/data/<path>` with `{"data":{…},"options":{"cas":N}}`.
pub async fn write(call: &Call<'_>, key: &str, req: &Request) -> Result<Response, ApiError> {
    check_key(key)?;
    let data = match req.data.get("data") {
        Some(Value::Object(m)) => m,
        Some(Value::Null) | None => return Err(ApiError::bad_request("no data provided")),
        Some(_) => return Err(ApiError::bad_request("invalid value for \"data\": expected an object")),
    };
    let staging = staging_option(req)?;
    append_staged(call.host, key, data, cas_option(req)?, false, &staging).await.map(|(r, _)| r)
}

/// RFC 7396 JSON merge patch.
fn merge_patch(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        match v {
            Value::Null => {
                target.remove(k);
            }
            Value::Object(p) => {
                let entry = target.entry(k.clone()).or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                if let Value::Object(t) = entry {
                    merge_patch(t, p);
                }
            }
            other => {
                target.insert(k.clone(), other.clone());
            }
        }
    }
}

/// `PATCH <mount>/data/<path>`: merge-patch onto the current version; 404 (empty) if there is none.
pub async fn patch(call: &Call<'_>, key: &str, req: &Request) -> Result<Response, ApiError> {
    check_key(key)?;
    let patch = match req.data.get("data") {
        Some(Value::Object(m)) => m,
        Some(Value::Null) | None => return Err(ApiError::bad_request("no data provided")),
        Some(_) => return Err(ApiError::bad_request("invalid value for \"data\": expected an object")),
    };
    let found = call.host.storage().kv_read(key, None).await.map_err(store_err)?;
    let Some((meta, Some(current))) = found else {
        return Err(ApiError::not_found_empty());
    };
    if current.destroyed || is_deleted(&current, call.host.now())? {
        return Err(ApiError::not_found_empty());
    }
    let cas = cas_option(req)?;
    if let Some(c) = cas {
        if c != meta.current_version {
            return Err(cas_mismatch());
        }
    }
    let mut merged = open_version(call, key, &current)?;
    merge_patch(&mut merged, patch);
    // The merge is based on this version: the append must not skip over a concurrent write.
    append(call, key, &merged, Some(cas.unwrap_or(meta.current_version)), true).await
}

fn subkeys_of(v: &Map<String, Value>, depth: u64, level: u64) -> Value {
    Value::Object(
        v.iter()
            .map(|(k, val)| {
                let inner = match val {
                    Value::Object(m) if depth == 0 || level < depth => subkeys_of(m, depth, level + 1),
                    _ => Value::Null,
                };
                (k.clone(), inner)
            })
            .collect(),
    )
}

/// `GET <mount>/subkeys/<path>[?version=&depth=]`: the key structure with every value `null`.
pub async fn subkeys(call: &Call<'_>, key: &str, req: &Request) -> Result<Response, ApiError> {
    let depth = params::u64_field(&req.data, "depth")?.unwrap_or(0);
    Ok(match read_live(call, key, req, "subkeys").await? {
        Ok((data, metadata)) => Response::data(json!({"subkeys": subkeys_of(&data, depth, 1), "metadata": metadata})),
        Err(gone) => gone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc7396() {
        let mut t = json!({"a": "1", "b": {"c": "2", "d": "3"}, "e": "4"}).as_object().cloned().unwrap();
        let p = json!({"a": null, "b": {"c": null, "x": "y"}, "f": "5"}).as_object().cloned().unwrap();
        merge_patch(&mut t, &p);
        assert_eq!(Value::Object(t), json!({"b": {"d": "3", "x": "y"}, "e": "4", "f": "5"}));
    }

    #[test]
    fn subkeys_respects_depth() {
        let v = json!({"a": {"b": {"c": 1}}, "d": 2}).as_object().cloned().unwrap();
        assert_eq!(subkeys_of(&v, 0, 1), json!({"a": {"b": {"c": null}}, "d": null}));
        assert_eq!(subkeys_of(&v, 1, 1), json!({"a": null, "d": null}));
    }

    #[test]
    fn aad_differs_per_version_path_and_mount() {
        let aad = |mount_id, path, version| Context::KvVersion { mount_id, path, version }.aad(barrier::WRITE_LAYOUT);
        let a = aad("m", "p", 1);
        assert_ne!(a, aad("m", "p", 2));
        assert_ne!(a, aad("m", "q", 1));
        assert_ne!(a, aad("n", "p", 1));
    }
}
