//! [`RotationStore`] on SQLite: every write goes through the group-commit writer, and the fenced
//! ones check the `leader` row inside the same transaction.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use super::{check_fence, SqliteStore};
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
            Box::pin(async move {
                let done = sqlx::query(sql::ROTATION_INSERT)
                    .bind(&r.mount_id)
                    .bind(&r.path)
                    .bind_rotation_state(&r)
                    .bind(r.rev)
                    .execute(&mut *c)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict);
                }
                Ok(())
            })
        })
        .await
    }

    async fn rotation_update(&self, row: &RotationRow, fence: Option<&Fence>) -> StoreResult<()> {
        let (r, fence) = (row.clone(), fence.cloned());
        self.write(move |c| {
            Box::pin(async move {
                check_fence(&mut *c, fence.as_ref()).await?;
                let done = sqlx::query(sql::ROTATION_UPDATE)
                    .bind_rotation_state(&r)
                    .bind(&r.mount_id)
                    .bind(&r.path)
                    .bind(r.rev)
                    .execute(&mut *c)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict);
                }
                Ok(())
            })
        })
        .await
    }

    async fn rotation_delete(&self, mount_id: &str, path: &str, rev: i64, fence: Option<&Fence>) -> StoreResult<()> {
        let (mount_id, path, fence) = (mount_id.to_string(), path.to_string(), fence.cloned());
        self.write(move |c| {
            Box::pin(async move {
                check_fence(&mut *c, fence.as_ref()).await?;
                let done =
                    sqlx::query(sql::ROTATION_DELETE).bind(&mount_id).bind(&path).bind(rev).execute(&mut *c).await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict);
                }
                Ok(())
            })
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
        let out: Arc<Mutex<Vec<RotationRow>>> = Arc::default();
        let sink = out.clone();
        self.write(move |c| {
            Box::pin(async move {
                check_fence(&mut *c, Some(&fence)).await?;
                sqlx::query(sql::ROTATION_RELEASE_STALE).bind(now).bind(fence.epoch).execute(&mut *c).await?;
                let rows: Vec<RotationRow> = sqlx::query_as(CLAIM_DUE)
                    .bind(claim_until)
                    .bind(fence.epoch)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *c)
                    .await?;
                *sink.lock().unwrap_or_else(PoisonError::into_inner) = rows;
                Ok(())
            })
        })
        .await?;
        let rows = std::mem::take(&mut *out.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(rows)
    }
}
