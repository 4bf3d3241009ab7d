//! [`RotationStore`] on SQLite: every write goes through the group-commit writer, and the fenced
//! ones check the `leader` row inside the same transaction.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use super::{check_fence, SqliteStore};
use crate::store::rotation::{RotationRow, RotationStore, COLS};
use crate::store::{Fence, StoreError, StoreResult};

/// Binds a row's state columns, `config` to `abandoned`, in table order (shared by insert and
/// update).
trait BindState<'q> {
    fn bind_state(self, r: &'q RotationRow) -> Self;
}

impl<'q> BindState<'q> for sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    fn bind_state(self, r: &'q RotationRow) -> Self {
        self.bind(&r.config)
            .bind(r.key_term)
            .bind(r.scheduled)
            .bind(r.fire_at)
            .bind(r.next_rotation_at)
            .bind(r.due_at)
            .bind(r.claim_epoch)
            .bind(&r.step)
            .bind(r.step_done)
            .bind(&r.cause)
            .bind(&r.version_token)
            .bind(r.from_version)
            .bind(r.pending_version)
            .bind(&r.new_value)
            .bind(r.attempts)
            .bind(r.started_at)
            .bind(r.last_rotated_at)
            .bind(&r.last_outcome)
            .bind(&r.last_error)
            .bind(r.succeeded)
            .bind(r.failed)
            .bind(r.abandoned)
    }
}

#[async_trait]
impl RotationStore for SqliteStore {
    async fn rotation_get(&self, mount_id: &str, path: &str) -> StoreResult<Option<RotationRow>> {
        Ok(sqlx::query_as(&format!("select {COLS} from kv_rotation where mount_id = ? and path = ?"))
            .bind(mount_id)
            .bind(path)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn rotation_insert(&self, row: &RotationRow) -> StoreResult<()> {
        let r = row.clone();
        self.write(move |c| {
            Box::pin(async move {
                let done = sqlx::query(&format!(
                    "insert into kv_rotation ({COLS}) select ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \
                     ?, ?, ?, ?, ?, ? where exists (select 1 from kv_metadata where mount_id = ? and path = ?)"
                ))
                .bind(&r.mount_id)
                .bind(&r.path)
                .bind_state(&r)
                .bind(r.rev)
                .bind(&r.mount_id)
                .bind(&r.path)
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
                let done = sqlx::query(
                    "update kv_rotation set config = ?, key_term = ?, scheduled = ?, fire_at = ?, \
                     next_rotation_at = ?, due_at = ?, claim_epoch = ?, step = ?, step_done = ?, cause = ?, \
                     version_token = ?, from_version = ?, pending_version = ?, new_value = ?, attempts = ?, \
                     started_at = ?, last_rotated_at = ?, last_outcome = ?, last_error = ?, succeeded = ?, \
                     failed = ?, abandoned = ?, rev = rev + 1 where mount_id = ? and path = ? and rev = ?",
                )
                .bind_state(&r)
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
                let done = sqlx::query("delete from kv_rotation where mount_id = ? and path = ? and rev = ?")
                    .bind(&mount_id)
                    .bind(&path)
                    .bind(rev)
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
                // A claim of an older epoch belongs to a leader that crashed or was deposed.
                sqlx::query(
                    "update kv_rotation set due_at = ? where claim_epoch is not null and claim_epoch <> ? \
                     and due_at > ?",
                )
                .bind(now)
                .bind(fence.epoch)
                .bind(now)
                .execute(&mut *c)
                .await?;
                let rows: Vec<RotationRow> = sqlx::query_as(&format!(
                    "update kv_rotation set due_at = ?, claim_epoch = ? where rowid in (select rowid from \
                     kv_rotation where due_at <= ? order by due_at limit ?) returning {COLS}"
                ))
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
