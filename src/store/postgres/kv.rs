//! KV v2 writes on PostgreSQL: a new version, with its labels and pruning, in one transaction.

use sqlx::{Connection, Postgres, Transaction};

use super::conn::Bounded;
use super::errors::{check_version, no_nul, PgResultExt};
use super::labels::PgLabels;
use super::PgStore;
use crate::store::binds::BindRow;
use crate::store::{sql, stages, KvWrite, StoreError, StoreResult, WriteOutcome};

/// Appends a version to a key; see [`crate::store::Store::kv_write`].
pub(super) async fn write(store: &PgStore, w: &KvWrite<'_>) -> StoreResult<WriteOutcome> {
    no_nul(&[w.mount_id, w.path])?;
    no_nul(&w.stages.iter().map(String::as_str).collect::<Vec<_>>())?;
    check_version(w.row)?;
    let mut c = store.conn().await?;
    let mut tx = c.begin().bounded().await.pg()?;
    if let Some(done) = stages::check_token(&mut PgLabels(&mut tx), w).await? {
        return Ok(done);
    }
    advance(&mut tx, w).await?;
    sqlx::query(sql::KV_VERSION_INSERT)
        .bind(w.mount_id)
        .bind(w.path)
        .bind_version(w.row)
        .execute(&mut *tx)
        .bounded()
        .await
        .pg()?;
    let abandoned = match stages::label_written(&mut PgLabels(&mut tx), w).await? {
        Ok(abandoned) => abandoned,
        Err(refused) => return Ok(refused),
    };
    prune(&mut tx, w).await?;
    tx.commit().bounded().await.pg()?;
    Ok(WriteOutcome::Written { abandoned })
}

/// Takes the key from `expected` to the new version: updates the metadata row, or creates it
/// when the key is new. `Conflict` if another writer got there first.
async fn advance(tx: &mut Transaction<'_, Postgres>, w: &KvWrite<'_>) -> StoreResult<()> {
    let updated = sqlx::query(sql::KV_ADVANCE)
        .bind(w.row.version)
        .bind(&w.row.created_time)
        .bind(w.mount_id)
        .bind(w.path)
        .bind(w.expected_current)
        .execute(&mut **tx)
        .bounded()
        .await
        .pg()?
        .rows_affected();
    if updated > 0 {
        return Ok(());
    }
    if w.expected_current != 0 {
        return Err(StoreError::Conflict);
    }
    sqlx::query(sql::KV_CREATE)
        .bind(w.mount_id)
        .bind(w.path)
        .bind(&w.row.created_time)
        .bind(w.row.version)
        .execute(&mut **tx)
        .bounded()
        .await
        .pg()?;
    Ok(())
}

/// Drops the versions older than the last `max_versions` and records the new oldest version.
async fn prune(tx: &mut Transaction<'_, Postgres>, w: &KvWrite<'_>) -> StoreResult<()> {
    let keep_from = w.row.version - w.max_versions + 1;
    if keep_from <= 1 {
        return Ok(());
    }
    let pruned = sqlx::query(sql::KV_PRUNE)
        .bind(w.mount_id)
        .bind(w.path)
        .bind(keep_from)
        .execute(&mut **tx)
        .bounded()
        .await
        .pg()?
        .rows_affected();
    if pruned > 0 {
        sqlx::query(sql::KV_OLDEST)
            .bind(keep_from)
            .bind(w.mount_id)
            .bind(w.path)
            .execute(&mut **tx)
            .bounded()
            .await
            .pg()?;
        sqlx::query(sql::KV_STAGE_CLEAN).bind(w.mount_id).bind(w.path).execute(&mut **tx).bounded().await.pg()?;
    }
    Ok(())
}
