//! [`RotationStore`] on SQLite: every write goes through the group-commit writer, and the fenced
//! ones check the `leader` row inside the same transaction.

use async_trait::async_trait;

use super::{check_fence, LiteArgs, SqliteStore};
use crate::store::binds::BindRow;
use crate::store::rotation::{RotationRow, RotationStore};
use crate::store::{sql, Fence, StoreError, StoreResult};

/// Claims up to `$4` due rows (due before `$3`) for epoch `$2` until `$1`; the single writer
/// makes the `rowid` subselect safe without row locks.
const CLAIM_DUE: &str = concat!(
    "update kv_rotation set due_at = $1, claim_epoch = $2 where rowid in (select rowid from kv_rotation \
     where due_at <= $3 order by due_at limit $4) returning ",
    sql::rotation_cols!()
);

#[async_trait]
impl RotationStore for SqliteStore {
    async fn rotation_get(&self, mount_id: &str, path: &str) -> StoreResult<Option<RotationRow>> {
        Ok(sqlx::query_as(sql::ROTATION_GET).bind(mount_id).bind(path).fetch_optional(&self.read).await?)
    }

    async fn rotation_insert(&self, row: &RotationRow) -> StoreResult<()> {
        let r = row.clone();
        self.write(move |c| {
            let args = LiteArgs::new().bind(&r.mount_id).bind(&r.path).bind_rotation_state(&r).bind(r.rev);
            changed(args.execute(c, sql::ROTATION_INSERT)?)
        })
        .await
    }

    async fn rotation_update(&self, row: &RotationRow, fence: Option<&Fence>) -> StoreResult<()> {
        let (r, fence) = (row.clone(), fence.cloned());
        self.write(move |c| {
            check_fence(c, fence.as_ref())?;
            let args = LiteArgs::new().bind_rotation_state(&r).bind(&r.mount_id).bind(&r.path).bind(r.rev);
            changed(args.execute(c, sql::ROTATION_UPDATE)?)
        })
        .await
    }

    async fn rotation_delete(&self, mount_id: &str, path: &str, rev: i64, fence: Option<&Fence>) -> StoreResult<()> {
        let (mount_id, path, fence) = (mount_id.to_string(), path.to_string(), fence.cloned());
        self.write(move |c| {
            check_fence(c, fence.as_ref())?;
            changed(LiteArgs::new().bind(&mount_id).bind(&path).bind(rev).execute(c, sql::ROTATION_DELETE)?)
        })
        .await
    }

    async fn rotation_claim_due(
        &self,
        now: i64,
        claim_until: i64,
        limit: i64,
        fence: &Fence,
    ) -> StoreResult<Vec<RotationRow>> {
        let fence = fence.clone();
        self.write(move |c| {
            check_fence(c, Some(&fence))?;
            LiteArgs::new().bind(now).bind(fence.epoch).execute(c, sql::ROTATION_RELEASE_STALE)?;
            LiteArgs::new().bind(claim_until).bind(fence.epoch).bind(now).bind(limit).query(c, CLAIM_DUE, rotation_row)
        })
        .await
    }
}

/// `Conflict` when a conditional statement changed no row.
fn changed(rows: usize) -> StoreResult<()> {
    if rows == 0 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

/// A row of [`sql::rotation_cols`], in that column order.
fn rotation_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RotationRow> {
    Ok(RotationRow {
        mount_id: r.get(0)?,
        path: r.get(1)?,
        config: r.get(2)?,
        key_term: r.get(3)?,
        scheduled: r.get(4)?,
        fire_at: r.get(5)?,
        next_rotation_at: r.get(6)?,
        due_at: r.get(7)?,
        claim_epoch: r.get(8)?,
        step: r.get(9)?,
        step_done: r.get(10)?,
        cause: r.get(11)?,
        version_token: r.get(12)?,
        from_version: r.get(13)?,
        pending_version: r.get(14)?,
        new_value: r.get(15)?,
        attempts: r.get(16)?,
        started_at: r.get(17)?,
        last_rotated_at: r.get(18)?,
        last_outcome: r.get(19)?,
        last_error: r.get(20)?,
        succeeded: r.get(21)?,
        failed: r.get(22)?,
        abandoned: r.get(23)?,
        rev: r.get(24)?,
    })
}
