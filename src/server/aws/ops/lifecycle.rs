//! `DeleteSecret` (a recovery window of 7 to 30 days, or at once), `RestoreSecret`, and the sweep
//! that destroys secrets whose window has passed (run by the leader only).

use serde_json::{json, Map, Value};

use super::super::context::{Ctx, Need};
use super::super::params;
use super::super::protocol::AwsError;
use super::super::secret::{Attrs, DELETION_KIND};
use crate::core::engine::Host;
use crate::core::Core;

/// Seconds in a day.
const DAY: i64 = 86_400;

/// `DeleteSecret`.
pub async fn delete(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["SecretId", "RecoveryWindowInDays", "ForceDeleteWithoutRecovery"])?;
    let secret_id = params::req_str(body, "SecretId")?;
    let window = params::opt_int(body, "RecoveryWindowInDays", 7, 30)?;
    let force = params::opt_bool(body, "ForceDeleteWithoutRecovery")?.unwrap_or(false);
    if force && window.is_some() {
        return Err(AwsError::invalid_parameter(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        ));
    }
    let found = ctx.find(secret_id).await?;
    ctx.allow(Need::Delete, "metadata", &ctx.name_for_check(secret_id, found.as_ref())).await?;
    let found = found.ok_or_else(AwsError::not_found)?;
    let arn = ctx.arn(&found.name, &found.meta)?;
    let now = ctx.now().timestamp();
    if force {
        ctx.host().storage().kv_delete_all(&found.name, None).await.map_err(AwsError::store)?;
        ctx.drop_attrs(&found.name).await?;
        return Ok(json!({"ARN": arn, "Name": found.name, "DeletionDate": now}));
    }
    let mut attrs = found.attrs.clone();
    if attrs.deletion.is_some() {
        return Err(AwsError::invalid_request(
            "You can't perform this operation on the secret because it was already scheduled for deletion.",
        ));
    }
    let at = now + window.unwrap_or(30) * DAY;
    attrs.deletion = Some(at);
    ctx.put_attrs(&found, &attrs).await?;
    Ok(json!({"ARN": arn, "Name": found.name, "DeletionDate": at}))
}

/// `RestoreSecret`: cancels a scheduled deletion (a no-op on a secret not scheduled).
pub async fn restore(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["SecretId"])?;
    let secret_id = params::req_str(body, "SecretId")?;
    let found = ctx.find(secret_id).await?;
    ctx.allow(Need::Update, "undelete", &ctx.name_for_check(secret_id, found.as_ref())).await?;
    let found = found.ok_or_else(AwsError::not_found)?;
    let mut attrs = found.attrs.clone();
    if attrs.deletion.take().is_some() {
        ctx.put_attrs(&found, &attrs).await?;
    }
    Ok(json!({"ARN": ctx.arn(&found.name, &found.meta)?, "Name": found.name}))
}

/// Destroys every secret whose recovery window has passed by `now` (Unix seconds), while `fence`
/// holds the singleton lease. Returns how many went.
pub async fn sweep(core: &Core, fence: &crate::store::Fence, now: i64) -> Result<usize, String> {
    let due = core.store.entry_list(DELETION_KIND, "").await.map_err(|e| e.to_string())?;
    let table = core.mounts.load_full();
    let mut destroyed = 0;
    for key in due {
        let Some((mount_id, path)) = key.split_once('/') else { continue };
        let when = core.store.entry_get(DELETION_KIND, &key).await.map_err(|e| e.to_string())?;
        if when.and_then(|w| w.parse::<i64>().ok()).is_none_or(|w| w > now) {
            continue;
        }
        let Some(mount) = table.all().iter().find(|m| m.row.id == mount_id).cloned() else {
            // The mount is gone, and the secret with it.
            core.store.entry_delete(DELETION_KIND, &key).await.map_err(|e| e.to_string())?;
            continue;
        };
        let host = Host::new(core, &mount);
        // Only a deletion still scheduled for this very secret (not restored, not made again).
        let meta = host.storage().kv_metadata_get(path).await.map_err(|e| e.to_string())?;
        let attrs: Option<Attrs> = core
            .store
            .entry_get(super::super::secret::ATTRS_KIND, &key)
            .await
            .map_err(|e| e.to_string())?
            .and_then(|t| serde_json::from_str(&t).ok());
        let scheduled = match (&meta, &attrs) {
            (Some(m), Some(a)) => a.created == m.created_time && a.deletion.is_some_and(|d| d <= now),
            _ => false,
        };
        if scheduled {
            host.storage().kv_delete_all(path, Some(fence)).await.map_err(|e| e.to_string())?;
            core.audit.event("aws.secret_destroyed", json!({"mount": mount.api_path, "path": path}));
            core.store.entry_delete(super::super::secret::ATTRS_KIND, &key).await.map_err(|e| e.to_string())?;
            destroyed += 1;
        }
        core.store.entry_delete(DELETION_KIND, &key).await.map_err(|e| e.to_string())?;
    }
    Ok(destroyed)
}
