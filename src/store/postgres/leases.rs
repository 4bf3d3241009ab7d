//! [`LeaseStore`] on PostgreSQL: single statements on the pool; the fenced delete locks the lease
//! row `FOR SHARE` in the same transaction, like every singleton write.

use async_trait::async_trait;
use sqlx::Connection;

use super::conn::Bounded;
use super::errors::{check_secret_lease, must_change, no_nul, PgResultExt};
use super::{check_fence, PgStore};
use crate::store::binds::BindRow;
use crate::store::leases::{LeaseStore, SecretLeaseRow};
use crate::store::sql::{self, prefix_upper_bound};
use crate::store::{Fence, StoreResult};

/// Deletes the listed leases (an array) in one statement.
const DELETE_MANY: &str = "delete from secret_lease where id = any($1)";

#[async_trait]
impl LeaseStore for PgStore {
    async fn secret_lease_insert(&self, l: &SecretLeaseRow) -> StoreResult<()> {
        check_secret_lease(l)?;
        sqlx::query(sql::SECRET_LEASE_INSERT)
            .bind_secret_lease(l)
            .execute(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()
            .map(drop)
    }

    async fn secret_lease_get(&self, id: &str) -> StoreResult<Option<SecretLeaseRow>> {
        no_nul(&[id])?;
        sqlx::query_as(sql::SECRET_LEASE_GET).bind(id).fetch_optional(&mut *self.conn().await?).bounded().await.pg()
    }

    async fn secret_lease_ids(&self, prefix: &str, limit: i64) -> StoreResult<Vec<String>> {
        no_nul(&[prefix])?;
        let q = match prefix_upper_bound(prefix) {
            Some(upper) => sqlx::query_scalar(sql::SECRET_LEASE_IDS).bind(prefix).bind(upper).bind(limit),
            None => sqlx::query_scalar(sql::SECRET_LEASE_IDS_ALL).bind(limit),
        };
        q.fetch_all(&mut *self.conn().await?).bounded().await.pg()
    }

    async fn secret_lease_renew(&self, id: &str, expire_time: i64, now: i64) -> StoreResult<()> {
        no_nul(&[id])?;
        let done = sqlx::query(sql::SECRET_LEASE_RENEW)
            .bind(expire_time)
            .bind(now)
            .bind(id)
            .execute(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
        must_change(done.rows_affected())
    }

    async fn secret_lease_delete(&self, id: &str) -> StoreResult<()> {
        no_nul(&[id])?;
        sqlx::query(sql::SECRET_LEASE_DELETE).bind(id).execute(&mut *self.conn().await?).bounded().await.pg().map(drop)
    }

    async fn secret_lease_delete_fenced(&self, id: &str, fence: &Fence) -> StoreResult<()> {
        self.secret_lease_delete_fenced_many(&[id.to_string()], fence).await
    }

    async fn secret_lease_delete_fenced_many(&self, ids: &[String], fence: &Fence) -> StoreResult<()> {
        no_nul(&ids.iter().map(String::as_str).collect::<Vec<_>>())?;
        no_nul(&[&fence.node])?;
        let mut c = self.conn().await?;
        let mut tx = c.begin().bounded().await.pg()?;
        check_fence(&mut tx, Some(fence)).await?;
        sqlx::query(DELETE_MANY).bind(ids).execute(&mut *tx).bounded().await.pg()?;
        tx.commit().bounded().await.pg()
    }

    async fn secret_lease_due(&self, now: i64, limit: i64) -> StoreResult<Vec<SecretLeaseRow>> {
        sqlx::query_as(sql::SECRET_LEASE_DUE)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()
    }

    async fn secret_lease_ids_by_token(&self, token_hash: &[u8]) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(sql::SECRET_LEASE_BY_TOKEN)
            .bind(token_hash)
            .fetch_all(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()
    }

    async fn secret_lease_failed(&self, id: &str, attempts: i64, next_attempt: i64, error: &str) -> StoreResult<()> {
        no_nul(&[id])?;
        let error = error.replace('\0', "");
        sqlx::query(sql::SECRET_LEASE_FAILED)
            .bind(attempts)
            .bind(next_attempt)
            .bind(error)
            .bind(id)
            .execute(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()
            .map(drop)
    }

    async fn secret_lease_count_role(&self, role: &str) -> StoreResult<i64> {
        no_nul(&[role])?;
        sqlx::query_scalar(sql::SECRET_LEASE_COUNT_ROLE)
            .bind(role)
            .fetch_one(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()
    }

    async fn secret_lease_count_token(&self, token_hash: &[u8], role: Option<&str>) -> StoreResult<i64> {
        no_nul(&[role.unwrap_or("")])?;
        sqlx::query_scalar(sql::SECRET_LEASE_COUNT_TOKEN)
            .bind(token_hash)
            .bind(role)
            .fetch_one(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()
    }

    async fn secret_lease_due_for_token(&self, token_hash: &[u8], now: i64) -> StoreResult<()> {
        sqlx::query(sql::SECRET_LEASE_DUE_FOR_TOKEN)
            .bind(now)
            .bind(token_hash)
            .execute(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()
            .map(drop)
    }

    async fn secret_lease_counts(&self) -> StoreResult<(i64, i64)> {
        sqlx::query_as(sql::SECRET_LEASE_COUNTS).fetch_one(&mut *self.conn().await?).bounded().await.pg()
    }

    async fn secret_lease_counts_by_mount(&self, failing: bool) -> StoreResult<Vec<(String, i64)>> {
        sqlx::query_as(sql::SECRET_LEASE_COUNTS_BY_MOUNT)
            .bind(failing)
            .fetch_all(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()
    }
}
