//! [`LeaseStore`] on PostgreSQL: single statements on the pool; the fenced delete locks the lease
//! row `FOR SHARE` in the same transaction, like every singleton write.

use async_trait::async_trait;

use super::{check_fence, no_nul, prefix_upper_bound, PgResultExt, PgStore};
use crate::store::leases::{LeaseStore, SecretLeaseRow};
use crate::store::{Fence, StoreError, StoreResult};

const COLS: &str = "id, mount_id, path, role, token_hash, issue_time, expire_time, max_expire, last_renewal, \
     renewable, key_term, secret, attempts, next_attempt, last_error";

#[async_trait]
impl LeaseStore for PgStore {
    async fn secret_lease_insert(&self, l: &SecretLeaseRow) -> StoreResult<()> {
        no_nul(&[&l.id, &l.mount_id, &l.path, &l.role, &l.last_error])?;
        sqlx::query(
            "insert into secret_lease (id, mount_id, path, role, token_hash, issue_time, expire_time, max_expire, \
             last_renewal, renewable, key_term, secret, attempts, next_attempt, last_error) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&l.id)
        .bind(&l.mount_id)
        .bind(&l.path)
        .bind(&l.role)
        .bind(&l.token_hash)
        .bind(l.issue_time)
        .bind(l.expire_time)
        .bind(l.max_expire)
        .bind(l.last_renewal)
        .bind(l.renewable)
        .bind(l.key_term)
        .bind(&l.secret)
        .bind(l.attempts)
        .bind(l.next_attempt)
        .bind(&l.last_error)
        .execute(&self.pool)
        .await
        .pg()
        .map(|_| ())
    }

    async fn secret_lease_get(&self, id: &str) -> StoreResult<Option<SecretLeaseRow>> {
        no_nul(&[id])?;
        sqlx::query_as(&format!("select {COLS} from secret_lease where id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .pg()
    }

    async fn secret_lease_ids(&self, prefix: &str, limit: i64) -> StoreResult<Vec<String>> {
        no_nul(&[prefix])?;
        match prefix_upper_bound(prefix) {
            Some(upper) => {
                sqlx::query_scalar("select id from secret_lease where id >= $1 and id < $2 order by id limit $3")
                    .bind(prefix)
                    .bind(upper)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query_scalar("select id from secret_lease order by id limit $1")
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .pg()
    }

    async fn secret_lease_renew(&self, id: &str, expire_time: i64, now: i64) -> StoreResult<()> {
        no_nul(&[id])?;
        let done =
            sqlx::query("update secret_lease set expire_time = $1, next_attempt = $1, last_renewal = $2 where id = $3")
                .bind(expire_time)
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await
                .pg()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }

    async fn secret_lease_delete(&self, id: &str) -> StoreResult<()> {
        no_nul(&[id])?;
        sqlx::query("delete from secret_lease where id = $1").bind(id).execute(&self.pool).await.pg().map(|_| ())
    }

    async fn secret_lease_delete_fenced(&self, id: &str, fence: &Fence) -> StoreResult<()> {
        self.secret_lease_delete_fenced_many(&[id.to_string()], fence).await
    }

    async fn secret_lease_delete_fenced_many(&self, ids: &[String], fence: &Fence) -> StoreResult<()> {
        no_nul(&ids.iter().map(String::as_str).collect::<Vec<_>>())?;
        no_nul(&[&fence.node])?;
        let mut tx = self.begin().await?;
        check_fence(&mut tx, Some(fence)).await?;
        sqlx::query("delete from secret_lease where id = any($1)").bind(ids).execute(&mut *tx).await.pg()?;
        tx.commit().await.pg()
    }

    async fn secret_lease_due(&self, now: i64, limit: i64) -> StoreResult<Vec<SecretLeaseRow>> {
        sqlx::query_as(&format!(
            "select {COLS} from secret_lease where next_attempt <= $1 order by next_attempt, id limit $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .pg()
    }

    async fn secret_lease_ids_by_token(&self, token_hash: &[u8]) -> StoreResult<Vec<String>> {
        sqlx::query_scalar("select id from secret_lease where token_hash = $1 order by id")
            .bind(token_hash)
            .fetch_all(&self.pool)
            .await
            .pg()
    }

    async fn secret_lease_failed(&self, id: &str, attempts: i64, next_attempt: i64, error: &str) -> StoreResult<()> {
        no_nul(&[id])?;
        let error = error.replace('\0', "");
        sqlx::query("update secret_lease set attempts = $1, next_attempt = $2, last_error = $3 where id = $4")
            .bind(attempts)
            .bind(next_attempt)
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await
            .pg()
            .map(|_| ())
    }

    async fn secret_lease_count_role(&self, role: &str) -> StoreResult<i64> {
        no_nul(&[role])?;
        sqlx::query_scalar("select count(*) from secret_lease where role = $1")
            .bind(role)
            .fetch_one(&self.pool)
            .await
            .pg()
    }

    async fn secret_lease_count_token(&self, token_hash: &[u8], role: Option<&str>) -> StoreResult<i64> {
        no_nul(&[role.unwrap_or("")])?;
        sqlx::query_scalar(
            "select count(*) from secret_lease where token_hash = $1 and ($2::text is null or role = $2)",
        )
        .bind(token_hash)
        .bind(role)
        .fetch_one(&self.pool)
        .await
        .pg()
    }

    async fn secret_lease_due_for_token(&self, token_hash: &[u8], now: i64) -> StoreResult<()> {
        sqlx::query("update secret_lease set next_attempt = $1 where token_hash = $2 and next_attempt > $1")
            .bind(now)
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .pg()
            .map(|_| ())
    }

    async fn secret_lease_counts(&self) -> StoreResult<(i64, i64)> {
        sqlx::query_as("select count(*), count(*) filter (where attempts > 0) from secret_lease")
            .fetch_one(&self.pool)
            .await
            .pg()
    }

    async fn secret_lease_counts_by_mount(&self, failing: bool) -> StoreResult<Vec<(String, i64)>> {
        sqlx::query_as(
            "select mount_id, count(*) from secret_lease where (not $1 or attempts > 0) group by mount_id order by mount_id",
        )
        .bind(failing)
        .fetch_all(&self.pool)
        .await
        .pg()
    }
}
