//! The lease manager: issues leases for dynamic secrets, renews and revokes them through the
//! engine that made them, and revokes expired ones in a background worker that streams due rows
//! from the expiry index in batches (nothing is loaded at unseal).

pub mod quota;
pub mod worker;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::crypto::barrier::Context;

use crate::base::error::ApiError;
use crate::base::logical::{LeaseInfo, Response};
use crate::core::engine::{Call, Host};
use crate::core::mounts::MountEntry;
use crate::core::Core;
use crate::store::leases::SecretLeaseRow;
use crate::store::{Fence, StoreError};

/// The longest a lease may last when neither the role nor the mount says (Vault's 768h).
pub const SYSTEM_MAX_TTL: i64 = 2_764_800;

/// Random characters at the end of a lease id.
const ID_RANDOM_LEN: usize = 24;

/// Longest wait between two revocation attempts of one lease.
const MAX_BACKOFF_SECS: i64 = 600;

/// Failed attempts after which a lease is reported at error level (Vault gives up after six and
/// calls the lease irrevocable; Coffer keeps retrying and repeats the error every six).
const IRREVOCABLE_AFTER: i64 = 6;

/// A lease with its engine data decrypted, as engines see it for revocation and renewal.
pub struct OpenLease {
    /// The stored row.
    pub row: SecretLeaseRow,
    /// The engine's data (e.g. `{"username": …}`); held zeroized.
    pub data: Zeroizing<Vec<u8>>,
}

impl OpenLease {
    /// The engine data as JSON; an error (logged under an error id) if it does not parse.
    pub fn json(&self) -> Result<Value, String> {
        crate::base::stored::parse_bytes("lease data", &self.data).map_err(|e| e.errors.join("; "))
    }
}

/// What an engine asks for when it hands out a leased secret.
pub struct Grant<'a> {
    /// The path inside the mount that created it (`creds/readonly`).
    pub path: &'a str,
    /// Seconds it lasts.
    pub ttl: i64,
    /// Seconds from issue that renewals may not go past.
    pub max_ttl: i64,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// What the engine needs later to revoke or renew it (never a password).
    pub data: &'a Value,
}

fn invalid() -> ApiError {
    ApiError::bad_request("invalid lease")
}

fn rfc3339(ms: i64) -> Value {
    Utc.timestamp_millis_opt(ms).single().map_or(Value::Null, |t| json!(crate::base::logical::timestamp(t)))
}

/// Creates a lease owned by the caller's token; answers 429 when a lease-count quota is full.
pub async fn issue(call: &Call<'_>, grant: Grant<'_>) -> Result<LeaseInfo, ApiError> {
    let core = call.host.inner();
    let role = format!("{}{}", call.mount.api_path, grant.path.trim_end_matches('/'));
    let token_hash = (!call.token.row.hash.is_empty()).then(|| call.token.row.hash.clone());
    let _quota = quota::admit(core, &role, token_hash.as_deref()).await?;
    let id = format!("{role}/{}", crate::crypto::random_base62(ID_RANDOM_LEN));
    let plain = Zeroizing::new(serde_json::to_vec(grant.data).map_err(|e| ApiError::internal(&e))?);
    let (secret, term) = core.barrier.seal(Context::Lease { id: &id }, &plain).map_err(|e| ApiError::internal(&e))?;
    let now = core.clock.now().timestamp_millis();
    let ttl = grant.ttl.clamp(1, grant.max_ttl.max(1));
    let row = SecretLeaseRow {
        id: id.clone(),
        mount_id: call.mount.row.id.clone(),
        path: grant.path.to_string(),
        role,
        token_hash,
        issue_time: now,
        expire_time: now + ttl * 1000,
        max_expire: now + grant.max_ttl.max(ttl) * 1000,
        last_renewal: None,
        renewable: grant.renewable,
        key_term: i64::from(term),
        secret,
        attempts: 0,
        next_attempt: now + ttl * 1000,
        last_error: String::new(),
    };
    core.store.secret_lease_insert(&row).await?;
    Ok(LeaseInfo { id, duration: ttl, renewable: grant.renewable })
}

/// A lease by id, with its data decrypted.
async fn open(core: &Core, id: &str) -> Result<Option<OpenLease>, ApiError> {
    let Some(row) = core.store.secret_lease_get(id).await? else { return Ok(None) };
    let data = core.barrier.open(&row.secret, Context::Lease { id: &row.id }).map_err(|e| ApiError::internal(&e))?;
    Ok(Some(OpenLease { row, data }))
}

/// The mount a lease belongs to, if it is still mounted.
fn mount_of(core: &Core, row: &SecretLeaseRow) -> Option<Arc<MountEntry>> {
    core.mounts.load().all().iter().find(|m| m.row.id == row.mount_id).cloned()
}

/// `sys/leases/lookup`.
pub async fn lookup(core: &Core, id: &str) -> Result<Response, ApiError> {
    let row = core.store.secret_lease_get(id).await?.ok_or_else(invalid)?;
    let now = core.clock.now().timestamp_millis();
    let mut data = json!({
        "id": row.id,
        "issue_time": rfc3339(row.issue_time),
        "expire_time": rfc3339(row.expire_time),
        "last_renewal": row.last_renewal.map_or(Value::Null, rfc3339),
        "path": row.role,
        "renewable": row.renewable,
        "ttl": ((row.expire_time - now) / 1000).max(0),
    });
    if row.attempts > 0 {
        crate::base::json::set(&mut data, "revocation_attempts", json!(row.attempts));
        crate::base::json::set(&mut data, "revocation_error", json!(row.last_error));
        crate::base::json::set(&mut data, "next_revocation_attempt", rfc3339(row.next_attempt));
    }
    Ok(Response::data(data))
}

/// `LIST sys/leases/lookup/<prefix>/`: the next path segment of every lease under the prefix.
pub async fn list(core: &Core, prefix: &str) -> Result<Response, ApiError> {
    let prefix = if prefix.is_empty() || prefix.ends_with('/') { prefix.to_string() } else { format!("{prefix}/") };
    let ids = core.store.secret_lease_ids(&prefix, i64::MAX).await?;
    let mut keys: Vec<String> = Vec::new();
    for id in &ids {
        let rest = &id[prefix.len()..];
        let key = match rest.find('/') {
            Some(i) => &rest[..=i],
            None => rest,
        };
        if keys.last().map(String::as_str) != Some(key) {
            keys.push(key.to_string());
        }
    }
    if keys.is_empty() {
        return Err(ApiError::not_found());
    }
    Ok(Response::data(json!({ "keys": keys })))
}

/// `sys/leases/renew`: extends a renewable lease by `increment` seconds (its original TTL when
/// absent), never past its max TTL (with Vault's warning), after the engine has agreed.
pub async fn renew(core: &Core, id: &str, increment: Option<i64>) -> Result<Response, ApiError> {
    let lease = open(core, id).await?.ok_or_else(invalid)?;
    let row = &lease.row;
    if !row.renewable {
        return Err(ApiError::bad_request("lease is not renewable"));
    }
    let now = core.clock.now().timestamp_millis();
    if row.expire_time <= now {
        return Err(invalid());
    }
    let original = (row.expire_time - row.last_renewal.unwrap_or(row.issue_time)) / 1000;
    let wanted = increment.filter(|i| *i > 0).unwrap_or(original).max(1);
    let remaining_max = ((row.max_expire - now) / 1000).max(0);
    let mut warnings = Vec::new();
    let ttl = if wanted > remaining_max {
        warnings.push(format!(
            "TTL of \"{}\" exceeded the effective max_ttl of \"{}\"; TTL value is capped accordingly",
            crate::base::duration::format(wanted.unsigned_abs()),
            crate::base::duration::format(remaining_max.unsigned_abs())
        ));
        remaining_max
    } else {
        wanted
    };
    let expire = now + ttl * 1000;
    let mount = mount_of(core, row).ok_or_else(invalid)?;
    let until = Utc.timestamp_millis_opt(expire).single().unwrap_or_else(|| core.clock.now());
    mount
        .engine
        .renew_lease(Host::new(core, &mount), &lease, until)
        .await
        .map_err(|e| ApiError::bad_request(format!("failed to renew lease: {e}")))?;
    core.store.secret_lease_renew(id, expire, now).await.map_err(|e| match e {
        StoreError::Conflict => invalid(),
        other => other.into(),
    })?;
    Ok(Response::Envelope {
        status: http::StatusCode::OK,
        data: None,
        warnings,
        auth: None,
        repeat_top_level: false,
        lease: Some(LeaseInfo { id: id.to_string(), duration: ttl, renewable: true }),
    })
}

/// Backoff before the next attempt after `attempts` failures: 2^n seconds up to ten minutes,
/// with ±20 % jitter so that many failing leases do not retry in step.
pub fn backoff_ms(attempts: i64) -> i64 {
    let base = 1i64.checked_shl(attempts.clamp(0, 20) as u32).unwrap_or(i64::MAX).min(MAX_BACKOFF_SECS) * 1000;
    let jitter = i64::from(u16::from_le_bytes(crate::crypto::random_bytes::<2>())) % (base / 5 + 1);
    base - base / 10 + jitter
}

/// Revokes one lease: the engine first, then the row (conditional on `fence` for the
/// background worker). A failure is recorded on the row (attempts, next try, error) and returned.
pub async fn revoke_row(core: &Core, row: SecretLeaseRow, fence: Option<&Fence>) -> Result<(), String> {
    let id = row.id.clone();
    revoke_in_engine(core, row).await?;
    let deleted = match fence {
        Some(f) => core.store.secret_lease_delete_fenced(&id, f).await,
        None => core.store.secret_lease_delete(&id).await,
    };
    deleted.map_err(|e| e.to_string())
}

/// Revokes what a lease stands for through its engine, without deleting the row. A failure is
/// recorded on the row (attempts, next try, error) and returned.
pub async fn revoke_in_engine(core: &Core, row: SecretLeaseRow) -> Result<(), String> {
    let id = row.id.clone();
    let outcome = match mount_of(core, &row) {
        // The mount is gone, and with it whatever could revoke the secret.
        None => Ok(()),
        Some(mount) => match core.barrier.open(&row.secret, Context::Lease { id: &row.id }) {
            Ok(data) => {
                let lease = OpenLease { row, data };
                let r = mount.engine.revoke_lease(Host::new(core, &mount), &lease).await;
                r.map_err(|e| (e, lease.row.attempts))
            }
            Err(e) => Err((format!("cannot decrypt the lease: {e}"), row.attempts)),
        },
    };
    match outcome {
        Ok(()) => Ok(()),
        Err((error, attempts)) => {
            let now = core.clock.now().timestamp_millis();
            let attempts = attempts + 1;
            let retry_in = backoff_ms(attempts);
            if attempts >= IRREVOCABLE_AFTER && attempts % IRREVOCABLE_AFTER == 0 {
                tracing::error!(
                    lease = %id,
                    attempts,
                    error = %error,
                    "lease revocation keeps failing: the secret it stands for is still live; it is counted \
                     in sys/leases/count?type=irrevocable and retried (revoke-force gives up on it)"
                );
            } else {
                tracing::warn!(
                    lease = %id,
                    attempts,
                    retry_in_s = retry_in / 1000,
                    error = %error,
                    "lease revocation failed; counted in sys/leases/count?type=irrevocable; will retry"
                );
            }
            if let Err(e) = core.store.secret_lease_failed(&id, attempts, now + retry_in, &error).await {
                tracing::warn!(lease = %id, error = %e, "cannot record the failed revocation");
            }
            Err(error)
        }
    }
}

/// `sys/leases/revoke`: revokes one lease now. An unknown lease is not an error (as Vault).
pub async fn revoke(core: &Core, id: &str) -> Result<(), ApiError> {
    let Some(row) = core.store.secret_lease_get(id).await? else { return Ok(()) };
    revoke_row(core, row, None).await.map_err(|e| ApiError::bad_request(format!("failed to revoke lease: {e}")))?;
    core.audit.event("lease_revocation", json!({ "lease_id": id, "reason": "revoke" }));
    Ok(())
}

/// `sys/leases/revoke-prefix` (and `revoke-force` with `force`: rows are deleted even when the
/// engine fails, which leaves the secret to the operator). Works through the ids in batches.
pub async fn revoke_prefix(core: &Core, prefix: &str, force: bool) -> Result<(), ApiError> {
    let prefix = if prefix.is_empty() || prefix.ends_with('/') { prefix.to_string() } else { format!("{prefix}/") };
    let mut failed: Vec<String> = Vec::new();
    loop {
        let ids = core.store.secret_lease_ids(&prefix, 500).await?;
        let ids: Vec<String> = ids.into_iter().filter(|id| !failed.contains(id)).collect();
        if ids.is_empty() {
            break;
        }
        for id in ids {
            let Some(row) = core.store.secret_lease_get(&id).await? else { continue };
            if let Err(e) = revoke_row(core, row, None).await {
                if force {
                    core.store.secret_lease_delete(&id).await?;
                    tracing::warn!(lease = %id, error = %e, "revoke-force removed a lease its engine could not revoke");
                } else {
                    failed.push(id);
                }
            }
        }
    }
    core.audit.event("lease_revocation", json!({ "prefix": prefix, "force": force, "failed": failed.len() }));
    if !failed.is_empty() {
        return Err(ApiError::bad_request(format!(
            "failed to revoke {} lease(s) under {prefix:?}; they stay and are retried (see sys/leases/lookup)",
            failed.len()
        )));
    }
    Ok(())
}

/// Revokes every lease of the given (already revoked) tokens. Failures stay on the lease rows
/// and are retried by the expiry worker.
pub async fn revoke_for_tokens(core: &Core, hashes: &[Vec<u8>]) {
    for hash in hashes {
        let ids = match core.store.secret_lease_ids_by_token(hash).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list a revoked token's leases; the expiry worker will");
                continue;
            }
        };
        for id in ids {
            if let Ok(Some(row)) = core.store.secret_lease_get(&id).await {
                let _ = revoke_row(core, row, None).await;
            }
        }
    }
}

/// `sys/leases/count`: Vault's shape, `lease_count` and `counts` per mount accessor (a mount that
/// is gone counts under `mount-accessor-not-found`, as in Vault), both from one query so they
/// always agree. With `irrevocable`, only the leases whose revocation has failed; without it
/// (Vault answers nothing there), every lease.
pub async fn count(core: &Core, irrevocable: bool) -> Result<Response, ApiError> {
    let rows = core.store.secret_lease_counts_by_mount(irrevocable).await?;
    let mounts = core.mounts.load();
    let mut counts = serde_json::Map::new();
    let mut total = 0i64;
    for (mount_id, n) in rows {
        let accessor = mounts
            .all()
            .iter()
            .find(|m| m.row.id == mount_id)
            .map_or_else(|| "mount-accessor-not-found".to_string(), |m| m.row.accessor.clone());
        let entry = counts.entry(accessor).or_insert(json!(0));
        *entry = json!(entry.as_i64().unwrap_or(0) + n);
        total += n;
    }
    Ok(Response::data(json!({ "counts": counts, "lease_count": total })))
}
