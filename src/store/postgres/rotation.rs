//! [`RotationStore`] on PostgreSQL: compare-and-set updates on the revision; the fenced ones lock
//! the leader row `FOR SHARE` in the same transaction, and due rows are claimed with
//! `FOR UPDATE SKIP LOCKED`.

use async_trait::async_trait;
use sqlx::Connection;

use super::conn::Bounded;
use super::errors::{must_change, no_nul, PgResultExt};
use super::{check_fence, PgStore};
use crate::store::binds::BindRow;
use crate::store::rotation::{RotationRow, RotationStore};
use crate::store::sql::{self, ROTATION_COLS};
use crate::store::{Fence, StoreResult};

fn texts(r: &RotationRow) -> [&str; 7] {
    [&r.mount_id, &r.path, &r.step, &r.cause, &r.version_token, &r.last_outcome, &r.last_error]
}

/// [`ROTATION_COLS`] qualified by a table alias, for `returning`.
fn cols_of(alias: &str) -> String {
    ROTATION_COLS.split(',').map(|c| format!("{alias}.{}", c.trim())).collect::<Vec<_>>().join(", ")
}

#[async_trait]
impl RotationStore for PgStore {
    async fn rotation_get(&self, mount_id: &str, path: &str) -> StoreResult<Option<RotationRow>> {
        no_nul(&[mount_id, path])?;
        sqlx::query_as(sql::ROTATION_GET)
            .bind(mount_id)
            .bind(path)
            .fetch_optional(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()
    }

    async fn rotation_insert(&self, r: &RotationRow) -> StoreResult<()> {
        no_nul(&texts(r))?;
        let done = sqlx::query(sql::ROTATION_INSERT)
            .bind(&r.mount_id)
            .bind(&r.path)
            .bind_rotation_state(r)
            .bind(r.rev)
            .execute(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
        must_change(done.rows_affected())
    }

    async fn rotation_update(&self, r: &RotationRow, fence: Option<&Fence>) -> StoreResult<()> {
        no_nul(&texts(r))?;
        let mut c = self.conn().await?;
        let mut tx = c.begin().bounded().await.pg()?;
        check_fence(&mut tx, fence).await?;
        let done = sqlx::query(sql::ROTATION_UPDATE)
            .bind_rotation_state(r)
            .bind(&r.mount_id)
            .bind(&r.path)
            .bind(r.rev)
            .execute(&mut *tx)
            .bounded()
            .await
            .pg()?;
        must_change(done.rows_affected())?;
        tx.commit().bounded().await.pg()
    }

    async fn rotation_delete(&self, mount_id: &str, path: &str, rev: i64, fence: Option<&Fence>) -> StoreResult<()> {
        no_nul(&[mount_id, path])?;
        let mut c = self.conn().await?;
        let mut tx = c.begin().bounded().await.pg()?;
        check_fence(&mut tx, fence).await?;
        let done = sqlx::query(sql::ROTATION_DELETE)
            .bind(mount_id)
            .bind(path)
            .bind(rev)
            .execute(&mut *tx)
            .bounded()
            .await
            .pg()?;
        must_change(done.rows_affected())?;
        tx.commit().bounded().await.pg()
    }

    async fn rotation_claim_due(
        &self,
        now: i64,
        claim_until: i64,
        limit: i64,
        fence: &Fence,
    ) -> StoreResult<Vec<RotationRow>> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().bounded().await.pg()?;
        check_fence(&mut tx, Some(fence)).await?;
        sqlx::query(sql::ROTATION_RELEASE_STALE).bind(now).bind(fence.epoch).execute(&mut *tx).bounded().await.pg()?;
        let rows: Vec<RotationRow> = sqlx::query_as(&format!(
            "with due as (select mount_id, path from kv_rotation where due_at <= $1 order by due_at limit $2 \
             for update skip locked) \
             update kv_rotation r set due_at = $3, claim_epoch = $4 from due \
             where r.mount_id = due.mount_id and r.path = due.path returning {}",
            cols_of("r")
        ))
        .bind(now)
        .bind(limit)
        .bind(claim_until)
        .bind(fence.epoch)
        .fetch_all(&mut *tx)
        .bounded()
        .await
        .pg()?;
        tx.commit().bounded().await.pg()?;
        Ok(rows)
    }
}
