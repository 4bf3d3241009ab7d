//! [`RotationStore`] on PostgreSQL: compare-and-set updates on the revision; the fenced ones lock
//! the leader row `FOR SHARE` in the same transaction, and due rows are claimed with
//! `FOR UPDATE SKIP LOCKED`.

use async_trait::async_trait;

use super::{check_fence, no_nul, PgResultExt, PgStore};
use crate::store::rotation::{RotationRow, RotationStore, COLS};
use crate::store::{Fence, StoreError, StoreResult};

fn texts(r: &RotationRow) -> [&str; 7] {
    [&r.mount_id, &r.path, &r.step, &r.cause, &r.version_token, &r.last_outcome, &r.last_error]
}

/// `COLS` qualified by a table alias, for `returning`.
fn cols_of(alias: &str) -> String {
    COLS.split(',').map(|c| format!("{alias}.{}", c.trim())).collect::<Vec<_>>().join(", ")
}

/// Binds a row's state columns, `config` to `abandoned`, in table order (shared by insert and
/// update).
trait BindState<'q> {
    fn bind_state(self, r: &'q RotationRow) -> Self;
}

impl<'q> BindState<'q> for sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
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
impl RotationStore for PgStore {
    async fn rotation_get(&self, mount_id: &str, path: &str) -> StoreResult<Option<RotationRow>> {
        no_nul(&[mount_id, path])?;
        sqlx::query_as(&format!("select {COLS} from kv_rotation where mount_id = $1 and path = $2"))
            .bind(mount_id)
            .bind(path)
            .fetch_optional(&self.pool)
            .await
            .pg()
    }

    async fn rotation_insert(&self, r: &RotationRow) -> StoreResult<()> {
        no_nul(&texts(r))?;
        let done = sqlx::query(&format!(
            "insert into kv_rotation ({COLS}) select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
             $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25 \
             where exists (select 1 from kv_metadata where mount_id = $1 and path = $2)"
        ))
        .bind(&r.mount_id)
        .bind(&r.path)
        .bind_state(r)
        .bind(r.rev)
        .execute(&self.pool)
        .await
        .pg()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }

    async fn rotation_update(&self, r: &RotationRow, fence: Option<&Fence>) -> StoreResult<()> {
        no_nul(&texts(r))?;
        let mut tx = self.begin().await?;
        check_fence(&mut tx, fence).await?;
        let done = sqlx::query(
            "update kv_rotation set config = $1, key_term = $2, scheduled = $3, fire_at = $4, \
             next_rotation_at = $5, due_at = $6, claim_epoch = $7, step = $8, step_done = $9, cause = $10, \
             version_token = $11, from_version = $12, pending_version = $13, new_value = $14, attempts = $15, \
             started_at = $16, last_rotated_at = $17, last_outcome = $18, last_error = $19, succeeded = $20, \
             failed = $21, abandoned = $22, rev = rev + 1 where mount_id = $23 and path = $24 and rev = $25",
        )
        .bind_state(r)
        .bind(&r.mount_id)
        .bind(&r.path)
        .bind(r.rev)
        .execute(&mut *tx)
        .await
        .pg()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        tx.commit().await.pg()
    }

    async fn rotation_delete(&self, mount_id: &str, path: &str, rev: i64, fence: Option<&Fence>) -> StoreResult<()> {
        no_nul(&[mount_id, path])?;
        let mut tx = self.begin().await?;
        check_fence(&mut tx, fence).await?;
        let done = sqlx::query("delete from kv_rotation where mount_id = $1 and path = $2 and rev = $3")
            .bind(mount_id)
            .bind(path)
            .bind(rev)
            .execute(&mut *tx)
            .await
            .pg()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        tx.commit().await.pg()
    }

    async fn rotation_claim_due(
        &self,
        now: i64,
        claim_until: i64,
        limit: i64,
        fence: &Fence,
    ) -> StoreResult<Vec<RotationRow>> {
        let mut tx = self.begin().await?;
        check_fence(&mut tx, Some(fence)).await?;
        // A claim of an older epoch belongs to a leader that crashed or was deposed.
        sqlx::query(
            "update kv_rotation set due_at = $1 where claim_epoch is not null and claim_epoch <> $2 and due_at > $1",
        )
        .bind(now)
        .bind(fence.epoch)
        .execute(&mut *tx)
        .await
        .pg()?;
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
        .await
        .pg()?;
        tx.commit().await.pg()?;
        Ok(rows)
    }
}
