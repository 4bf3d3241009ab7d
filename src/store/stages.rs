//! The staging-label rules of ROTATION.md, written once over a small per-backend interface and
//! run inside the transaction of each KV write or label move.

use async_trait::async_trait;

use super::{KvWrite, StoreError, StoreResult, WriteOutcome};

/// The label reads return by default.
pub const CURRENT: &str = "current";
/// The candidate being rotated in.
pub const PENDING: &str = "pending";
/// The last known good value.
pub const PREVIOUS: &str = "previous";

/// Label and token rows, read and written inside one open transaction.
#[async_trait]
pub trait LabelTx: Send {
    /// The version holding `stage`.
    async fn label(&mut self, mount: &str, path: &str, stage: &str) -> StoreResult<Option<i64>>;
    /// Puts `stage` on `version` (replacing its holder).
    async fn set_label(&mut self, mount: &str, path: &str, stage: &str, version: i64) -> StoreResult<()>;
    /// Removes `stage`; returns whether it was there.
    async fn drop_label(&mut self, mount: &str, path: &str, stage: &str) -> StoreResult<bool>;
    /// A request token's version and value digest.
    async fn token(&mut self, mount: &str, path: &str, token: &str) -> StoreResult<Option<(i64, Vec<u8>)>>;
    /// Records a request token.
    async fn put_token(&mut self, mount: &str, path: &str, token: &str, version: i64, digest: &[u8])
        -> StoreResult<()>;
}

/// Rule 7, before anything is written: a used token replays its version or is refused.
pub async fn check_token(tx: &mut dyn LabelTx, w: &KvWrite<'_>) -> StoreResult<Option<WriteOutcome>> {
    let Some((token, digest)) = w.token else { return Ok(None) };
    Ok(match tx.token(w.mount_id, w.path, token).await? {
        None => None,
        Some((version, stored)) if crate::crypto::ct_eq(&stored, digest) => Some(WriteOutcome::Replayed(version)),
        Some(_) => Some(WriteOutcome::TokenReused),
    })
}

/// Labels the version `w` has just appended (rules 1–3, 8, 9) and records its token. Returns
/// whether a rotation in flight was abandoned, or `PendingBusy` (the caller rolls back).
pub async fn label_written(tx: &mut dyn LabelTx, w: &KvWrite<'_>) -> StoreResult<Result<bool, WriteOutcome>> {
    let (m, p, new) = (w.mount_id, w.path, w.row.version);
    let mut current = tx.label(m, p, CURRENT).await?;
    // The first version of a key is always `current` (as a new AWS secret's first version).
    let mut with_current;
    let stages: &[String] = if w.stages.is_empty() || (current.is_none() && w.expected_current == 0) {
        with_current = w.stages.to_vec();
        if !with_current.iter().any(|s| s == CURRENT) {
            with_current.insert(0, CURRENT.to_string());
        }
        &with_current
    } else {
        w.stages
    };
    let takes_current = stages.iter().any(|s| s == CURRENT);
    if current.is_none() && w.expected_current > 0 && !takes_current {
        // A key written before labels existed: its newest version was what reads returned.
        tx.set_label(m, p, CURRENT, w.expected_current).await?;
        current = Some(w.expected_current);
    }
    let mut abandoned = false;
    for stage in stages {
        match stage.as_str() {
            CURRENT => {
                if let Some(old) = current.filter(|old| *old != new) {
                    tx.set_label(m, p, PREVIOUS, old).await?;
                }
                tx.set_label(m, p, CURRENT, new).await?;
                if !stages.iter().any(|s| s == PENDING) {
                    // Rule 8: a new current abandons a rotation in flight.
                    let pending = tx.label(m, p, PENDING).await?;
                    if pending.is_some_and(|v| v != new) {
                        abandoned = tx.drop_label(m, p, PENDING).await?;
                    }
                }
            }
            PENDING => {
                // Rule 9: one rotation at a time.
                if tx.label(m, p, PENDING).await?.is_some_and(|v| Some(v) != current) {
                    return Ok(Err(WriteOutcome::PendingBusy));
                }
                tx.set_label(m, p, PENDING, new).await?;
            }
            other => tx.set_label(m, p, other, new).await?,
        }
    }
    if let Some((token, digest)) = w.token {
        tx.put_token(m, p, token, new, digest).await?;
    }
    Ok(Ok(abandoned))
}

/// Rule 4: moves `stage` from `from` to `to` by compare-and-set; `current` drags `previous`.
pub async fn move_label(
    tx: &mut dyn LabelTx,
    mount: &str,
    path: &str,
    stage: &str,
    to: Option<i64>,
    from: Option<i64>,
) -> StoreResult<()> {
    let holder = tx.label(mount, path, stage).await?;
    if holder != from {
        return Err(StoreError::Conflict);
    }
    match to {
        None => {
            tx.drop_label(mount, path, stage).await?;
        }
        Some(v) if holder == Some(v) => {}
        Some(v) => {
            if stage == CURRENT {
                if let Some(old) = holder {
                    tx.set_label(mount, path, PREVIOUS, old).await?;
                }
            }
            tx.set_label(mount, path, stage, v).await?;
        }
    }
    Ok(())
}
