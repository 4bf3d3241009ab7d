//! [`LabelTx`] on the SQLite writer's connection (synchronous; see [`super::lite::run_now`]).

use async_trait::async_trait;
use rusqlite::Connection;

use super::lite::LiteArgs;
use crate::store::sql;
use crate::store::stages::LabelTx;
use crate::store::StoreResult;

/// The writer connection, inside the transaction of one write job.
pub struct SqliteLabels<'c>(pub &'c mut Connection);

#[async_trait]
impl LabelTx for SqliteLabels<'_> {
    async fn label(&mut self, mount: &str, path: &str, stage: &str) -> StoreResult<Option<i64>> {
        LiteArgs::new().bind(mount).bind(path).bind(stage).query_optional(self.0, sql::LABEL_GET, |r| r.get(0))
    }

    async fn set_label(&mut self, mount: &str, path: &str, stage: &str, version: i64) -> StoreResult<()> {
        LiteArgs::new().bind(mount).bind(path).bind(stage).bind(version).execute(self.0, sql::LABEL_SET).map(drop)
    }

    async fn drop_label(&mut self, mount: &str, path: &str, stage: &str) -> StoreResult<bool> {
        Ok(LiteArgs::new().bind(mount).bind(path).bind(stage).execute(self.0, sql::LABEL_DROP)? > 0)
    }

    async fn token(&mut self, mount: &str, path: &str, token: &str) -> StoreResult<Option<(i64, Vec<u8>)>> {
        LiteArgs::new()
            .bind(mount)
            .bind(path)
            .bind(token)
            .query_optional(self.0, sql::REQUEST_TOKEN_GET, |r| Ok((r.get(0)?, r.get(1)?)))
    }

    async fn put_token(
        &mut self,
        mount: &str,
        path: &str,
        token: &str,
        version: i64,
        digest: &[u8],
    ) -> StoreResult<()> {
        let args = LiteArgs::new().bind(mount).bind(path).bind(token).bind(version).bind(digest);
        args.execute(self.0, sql::REQUEST_TOKEN_PUT).map(drop)
    }
}
