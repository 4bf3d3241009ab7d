//! [`LeaseStore`] on SQLite: writes through the group-commit writer, reads from the reader pool.

use async_trait::async_trait;

use super::{check_fence, Arg, SqliteStore};
use crate::store::leases::{LeaseStore, SecretLeaseRow};
use crate::store::postgres::prefix_upper_bound;
use crate::store::{Fence, StoreResult};

const COLS: &str = "id, mount_id, path, role, token_hash, issue_time, expire_time, max_expire, last_renewal, \
     renewable, key_term, secret, attempts, next_attempt, last_error";

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn secret_lease_insert(&self, l: &SecretLeaseRow) -> StoreResult<()> {
        self.exec(
            "insert into secret_lease (id, mount_id, path, role, token_hash, issue_time, expire_time, max_expire, \
             last_renewal, renewable, key_term, secret, attempts, next_attempt, last_error) \
             values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                Arg::Text(l.id.clone()),
                Arg::Text(l.mount_id.clone()),
                Arg::Text(l.path.clone()),
                Arg::Text(l.role.clone()),
                Arg::OptBlob(l.token_hash.clone()),
                Arg::Int(l.issue_time),
                Arg::Int(l.expire_time),
                Arg::Int(l.max_expire),
                Arg::OptInt(l.last_renewal),
                Arg::Int(i64::from(l.renewable)),
                Arg::Int(l.key_term),
                Arg::Blob(l.secret.as_bytes().to_vec()),
                Arg::Int(l.attempts),
                Arg::Int(l.next_attempt),
                Arg::Text(l.last_error.clone()),
            ],
            false,
        )
        .await
    }

    async fn secret_lease_get(&self, id: &str) -> StoreResult<Option<SecretLeaseRow>> {
        Ok(sqlx::query_as(&format!("select {COLS} from secret_lease where id = ?"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn secret_lease_ids(&self, prefix: &str, limit: i64) -> StoreResult<Vec<String>> {
        let ids = match prefix_upper_bound(prefix) {
            Some(upper) => {
                sqlx::query_scalar("select id from secret_lease where id >= ? and id < ? order by id limit ?")
                    .bind(prefix)
                    .bind(upper)
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?
            }
            None => {
                sqlx::query_scalar("select id from secret_lease order by id limit ?")
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?
            }
        };
        Ok(ids)
    }

    async fn secret_lease_renew(&self, id: &str, expire_time: i64, now: i64) -> StoreResult<()> {
        self.exec(
            "update secret_lease set expire_time = ?, next_attempt = ?, last_renewal = ? where id = ?",
            vec![Arg::Int(expire_time), Arg::Int(expire_time), Arg::Int(now), Arg::Text(id.into())],
            true,
        )
        .await
    }

    async fn secret_lease_delete(&self, id: &str) -> StoreResult<()> {
        self.exec("delete from secret_lease where id = ?", vec![Arg::Text(id.into())], false).await
    }

    async fn secret_lease_delete_fenced(&self, id: &str, fence: &Fence) -> StoreResult<()> {
        self.secret_lease_delete_fenced_many(&[id.to_string()], fence).await
    }

    async fn secret_lease_delete_fenced_many(&self, ids: &[String], fence: &Fence) -> StoreResult<()> {
        let (ids, fence) = (ids.to_vec(), fence.clone());
        self.write(move |c| {
            Box::pin(async move {
                check_fence(&mut *c, Some(&fence)).await?;
                for id in &ids {
                    sqlx::query("delete from secret_lease where id = ?").bind(id).execute(&mut *c).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn secret_lease_due(&self, now: i64, limit: i64) -> StoreResult<Vec<SecretLeaseRow>> {
        Ok(sqlx::query_as(&format!(
            "select {COLS} from secret_lease where next_attempt <= ? order by next_attempt, id limit ?"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.read)
        .await?)
    }

    async fn secret_lease_ids_by_token(&self, token_hash: &[u8]) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar("select id from secret_lease where token_hash = ? order by id")
            .bind(token_hash)
            .fetch_all(&self.read)
            .await?)
    }

    async fn secret_lease_failed(&self, id: &str, attempts: i64, next_attempt: i64, error: &str) -> StoreResult<()> {
        self.exec(
            "update secret_lease set attempts = ?, next_attempt = ?, last_error = ? where id = ?",
            vec![Arg::Int(attempts), Arg::Int(next_attempt), Arg::Text(error.into()), Arg::Text(id.into())],
            false,
        )
        .await
    }

    async fn secret_lease_count_role(&self, role: &str) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("select count(*) from secret_lease where role = ?")
            .bind(role)
            .fetch_one(&self.read)
            .await?)
    }

    async fn secret_lease_count_token(&self, token_hash: &[u8], role: Option<&str>) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("select count(*) from secret_lease where token_hash = ? and (? is null or role = ?)")
            .bind(token_hash)
            .bind(role)
            .bind(role)
            .fetch_one(&self.read)
            .await?)
    }

    async fn secret_lease_due_for_token(&self, token_hash: &[u8], now: i64) -> StoreResult<()> {
        self.exec(
            "update secret_lease set next_attempt = ? where token_hash = ? and next_attempt > ?",
            vec![Arg::Int(now), Arg::Blob(token_hash.to_vec()), Arg::Int(now)],
            false,
        )
        .await
    }

    async fn secret_lease_counts(&self) -> StoreResult<(i64, i64)> {
        Ok(sqlx::query_as(
            "select count(*), coalesce(sum(case when attempts > 0 then 1 else 0 end), 0) from secret_lease",
        )
        .fetch_one(&self.read)
        .await?)
    }

    async fn secret_lease_counts_by_mount(&self, failing: bool) -> StoreResult<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "select mount_id, count(*) from secret_lease where (? = 0 or attempts > 0) group by mount_id order by mount_id",
        )
        .bind(failing)
        .fetch_all(&self.read)
        .await?)
    }
}
