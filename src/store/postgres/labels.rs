//! [`LabelTx`] on an open PostgreSQL transaction.

use async_trait::async_trait;
use sqlx::{Postgres, Transaction};

use super::conn::Bounded;
use super::errors::{no_nul, PgResultExt};
use crate::store::sql;
use crate::store::stages::LabelTx;
use crate::store::StoreResult;

/// One transaction of a KV write or label move.
pub struct PgLabels<'t, 'c>(pub &'t mut Transaction<'c, Postgres>);

#[async_trait]
impl LabelTx for PgLabels<'_, '_> {
    async fn label(&mut self, mount: &str, path: &str, stage: &str) -> StoreResult<Option<i64>> {
        no_nul(&[stage])?;
        sqlx::query_scalar(sql::LABEL_GET)
            .bind(mount)
            .bind(path)
            .bind(stage)
            .fetch_optional(&mut **self.0)
            .bounded()
            .await
            .pg()
    }

    async fn set_label(&mut self, mount: &str, path: &str, stage: &str, version: i64) -> StoreResult<()> {
        sqlx::query(sql::LABEL_SET)
            .bind(mount)
            .bind(path)
            .bind(stage)
            .bind(version)
            .execute(&mut **self.0)
            .bounded()
            .await
            .pg()?;
        Ok(())
    }

    async fn drop_label(&mut self, mount: &str, path: &str, stage: &str) -> StoreResult<bool> {
        let n = sqlx::query(sql::LABEL_DROP)
            .bind(mount)
            .bind(path)
            .bind(stage)
            .execute(&mut **self.0)
            .bounded()
            .await
            .pg()?
            .rows_affected();
        Ok(n > 0)
    }

    async fn token(&mut self, mount: &str, path: &str, token: &str) -> StoreResult<Option<(i64, Vec<u8>)>> {
        no_nul(&[token])?;
        sqlx::query_as(sql::REQUEST_TOKEN_GET)
            .bind(mount)
            .bind(path)
            .bind(token)
            .fetch_optional(&mut **self.0)
            .bounded()
            .await
            .pg()
    }

    async fn put_token(
        &mut self,
        mount: &str,
        path: &str,
        token: &str,
        version: i64,
        digest: &[u8],
    ) -> StoreResult<()> {
        sqlx::query(sql::REQUEST_TOKEN_PUT)
            .bind(mount)
            .bind(path)
            .bind(token)
            .bind(version)
            .bind(digest)
            .execute(&mut **self.0)
            .bounded()
            .await
            .pg()?;
        Ok(())
    }
}
