//! [`LeaseStore`] on SQLite: writes through the group-commit writer, reads from the reader pool.

use async_trait::async_trait;

use super::{check_fence, LiteArgs, SqliteStore};
use crate::store::binds::BindRow;
use crate::store::leases::{LeaseStore, SecretLeaseRow};
use crate::store::sql::{self, prefix_upper_bound};
use crate::store::{Fence, StoreResult};

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn secret_lease_insert(&self, l: &SecretLeaseRow) -> StoreResult<()> {
        let l = l.clone();
        self.write(move |c| LiteArgs::new().bind_secret_lease(&l).execute(c, sql::SECRET_LEASE_INSERT).map(drop)).await
    }

    async fn secret_lease_get(&self, id: &str) -> StoreResult<Option<SecretLeaseRow>> {
        Ok(sqlx::query_as(sql::SECRET_LEASE_GET).bind(id).fetch_optional(&self.read).await?)
    }

    async fn secret_lease_ids(&self, prefix: &str, limit: i64) -> StoreResult<Vec<String>> {
        let q = match prefix_upper_bound(prefix) {
            Some(upper) => sqlx::query_scalar(sql::SECRET_LEASE_IDS).bind(prefix).bind(upper).bind(limit),
            None => sqlx::query_scalar(sql::SECRET_LEASE_IDS_ALL).bind(limit),
        };
        Ok(q.fetch_all(&self.read).await?)
    }

    async fn secret_lease_renew(&self, id: &str, expire_time: i64, now: i64) -> StoreResult<()> {
        self.exec(sql::SECRET_LEASE_RENEW, LiteArgs::new().bind(expire_time).bind(now).bind(id), true).await
    }

    async fn secret_lease_delete(&self, id: &str) -> StoreResult<()> {
        self.exec(sql::SECRET_LEASE_DELETE, LiteArgs::new().bind(id), false).await
    }

    async fn secret_lease_delete_fenced(&self, id: &str, fence: &Fence) -> StoreResult<()> {
        self.secret_lease_delete_fenced_many(&[id.to_string()], fence).await
    }

    async fn secret_lease_delete_fenced_many(&self, ids: &[String], fence: &Fence) -> StoreResult<()> {
        let (ids, fence) = (ids.to_vec(), fence.clone());
        self.write(move |c| {
            check_fence(c, Some(&fence))?;
            // One statement per id: SQLite binds no arrays.
            for id in &ids {
                LiteArgs::new().bind(id).execute(c, sql::SECRET_LEASE_DELETE)?;
            }
            Ok(())
        })
        .await
    }

    async fn secret_lease_due(&self, now: i64, limit: i64) -> StoreResult<Vec<SecretLeaseRow>> {
        Ok(sqlx::query_as(sql::SECRET_LEASE_DUE).bind(now).bind(limit).fetch_all(&self.read).await?)
    }

    async fn secret_lease_ids_by_token(&self, token_hash: &[u8]) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(sql::SECRET_LEASE_BY_TOKEN).bind(token_hash).fetch_all(&self.read).await?)
    }

    async fn secret_lease_failed(&self, id: &str, attempts: i64, next_attempt: i64, error: &str) -> StoreResult<()> {
        let args = LiteArgs::new().bind(attempts).bind(next_attempt).bind(error).bind(id);
        self.exec(sql::SECRET_LEASE_FAILED, args, false).await
    }

    async fn secret_lease_count_role(&self, role: &str) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(sql::SECRET_LEASE_COUNT_ROLE).bind(role).fetch_one(&self.read).await?)
    }

    async fn secret_lease_count_token(&self, token_hash: &[u8], role: Option<&str>) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(sql::SECRET_LEASE_COUNT_TOKEN).bind(token_hash).bind(role).fetch_one(&self.read).await?)
    }

    async fn secret_lease_due_for_token(&self, token_hash: &[u8], now: i64) -> StoreResult<()> {
        self.exec(sql::SECRET_LEASE_DUE_FOR_TOKEN, LiteArgs::new().bind(now).bind(token_hash), false).await
    }

    async fn secret_lease_counts(&self) -> StoreResult<(i64, i64)> {
        Ok(sqlx::query_as(sql::SECRET_LEASE_COUNTS).fetch_one(&self.read).await?)
    }

    async fn secret_lease_counts_by_mount(&self, failing: bool) -> StoreResult<Vec<(String, i64)>> {
        Ok(sqlx::query_as(sql::SECRET_LEASE_COUNTS_BY_MOUNT).bind(failing).fetch_all(&self.read).await?)
    }
}
