//! A KV move on PostgreSQL ([`crate::store::Store::kv_move`]): one transaction that locks the
//! source's metadata, versions and rotation row first (a concurrent write, destroy or rotation
//! step on the source waits for the move), so the checks hold until the commit. A refused move
//! returns before the commit and the transaction rolls back when dropped.

use sqlx::{Connection, Postgres, Transaction};

use super::conn::Bounded;
use super::errors::{check_metadata, check_version, no_nul, PgResultExt};
use super::PgStore;
use crate::store::binds::BindRow;
use crate::store::moves::{self, KvMove, MoveOutcome};
use crate::store::{sql, KvMetadataRow, KvVersionRow, StoreError, StoreResult};

/// Refuses the values PostgreSQL cannot store before the transaction starts.
fn storable(m: &KvMove<'_>) -> StoreResult<()> {
    no_nul(&[m.mount_id, m.from, m.to])?;
    check_metadata(m.expected)?;
    for v in m.versions {
        check_version(v)?;
    }
    no_nul(&m.tokens.iter().map(|(t, _, _)| t.as_str()).collect::<Vec<_>>())
}

/// Moves a secret; see [`crate::store::Store::kv_move`].
pub(super) async fn run(store: &PgStore, m: &KvMove<'_>) -> StoreResult<MoveOutcome> {
    storable(m)?;
    let mut c = store.conn().await?;
    let mut tx = c.begin().bounded().await.pg()?;
    let outcome = statements(&mut tx, m).await?;
    if outcome == MoveOutcome::Moved {
        tx.commit().bounded().await.pg()?;
    }
    Ok(outcome)
}

async fn exec(tx: &mut Transaction<'_, Postgres>, stmt: &str, mount_id: &str, path: &str) -> StoreResult<()> {
    sqlx::query(stmt).bind(mount_id).bind(path).execute(&mut **tx).bounded().await.pg().map(drop)
}

/// The move's statements, in the order of [`crate::store::moves`].
async fn statements(tx: &mut Transaction<'_, Postgres>, m: &KvMove<'_>) -> StoreResult<MoveOutcome> {
    let meta: Option<KvMetadataRow> = sqlx::query_as(sql::KV_MOVE_SOURCE_FOR_UPDATE)
        .bind(m.mount_id)
        .bind(m.from)
        .fetch_optional(&mut **tx)
        .bounded()
        .await
        .pg()?;
    let Some(meta) = meta else { return Ok(MoveOutcome::SourceMissing) };
    let versions: Vec<KvVersionRow> = sqlx::query_as(sql::KV_MOVE_VERSIONS_FOR_UPDATE)
        .bind(m.mount_id)
        .bind(m.from)
        .fetch_all(&mut **tx)
        .bounded()
        .await
        .pg()?;
    let tokens: Vec<(String, i64)> = sqlx::query_as(sql::KV_REQUEST_TOKENS)
        .bind(m.mount_id)
        .bind(m.from)
        .fetch_all(&mut **tx)
        .bounded()
        .await
        .pg()?;
    if let Some(o) = moves::changed(m, &meta, &versions, &tokens) {
        return Ok(o);
    }
    let rotation: Option<(String, i64)> = sqlx::query_as(sql::KV_MOVE_ROTATION_FOR_UPDATE)
        .bind(m.mount_id)
        .bind(m.from)
        .fetch_optional(&mut **tx)
        .bounded()
        .await
        .pg()?;
    if let Some(o) = moves::rotation_refuses(m, rotation.as_ref().map(|(s, r)| (s.as_str(), *r))) {
        return Ok(o);
    }
    let taken: Option<KvMetadataRow> = sqlx::query_as(sql::KV_METADATA_GET)
        .bind(m.mount_id)
        .bind(m.to)
        .fetch_optional(&mut **tx)
        .bounded()
        .await
        .pg()?;
    if taken.is_some() {
        return Ok(MoveOutcome::TargetExists);
    }
    // Labels or tokens at a path without a key belong to no secret: they make way.
    for stmt in [sql::KV_DELETE_LABELS, sql::KV_DELETE_TOKENS] {
        exec(tx, stmt, m.mount_id, m.to).await?;
    }
    // A writer that created the target since the check above: the unique key refuses this row
    // (after waiting for the writer's commit).
    let inserted = sqlx::query(sql::KV_MOVE_INSERT_METADATA)
        .bind_metadata(&moves::target_metadata(m))
        .execute(&mut **tx)
        .bounded()
        .await
        .pg();
    match inserted {
        Err(StoreError::Conflict) => return Ok(MoveOutcome::TargetExists),
        other => other?,
    };
    for v in m.versions {
        sqlx::query(sql::KV_VERSION_INSERT)
            .bind(m.mount_id)
            .bind(m.to)
            .bind_version(v)
            .execute(&mut **tx)
            .bounded()
            .await
            .pg()?;
    }
    sqlx::query(sql::KV_MOVE_LABELS)
        .bind(m.to)
        .bind(m.mount_id)
        .bind(m.from)
        .execute(&mut **tx)
        .bounded()
        .await
        .pg()?;
    for (token, version, digest) in m.tokens {
        sqlx::query(sql::REQUEST_TOKEN_PUT)
            .bind(m.mount_id)
            .bind(m.to)
            .bind(token)
            .bind(*version)
            .bind(digest)
            .execute(&mut **tx)
            .bounded()
            .await
            .pg()?;
    }
    if let Some(r) = m.rotation {
        let moved = sqlx::query(sql::KV_MOVE_ROTATION_UPDATE)
            .bind(m.to)
            .bind(r.config)
            .bind(r.key_term)
            .bind(m.mount_id)
            .bind(m.from)
            .bind(r.rev)
            .execute(&mut **tx)
            .bounded()
            .await
            .pg()?;
        if moved.rows_affected() == 0 {
            return Ok(MoveOutcome::Changed);
        }
    }
    moves::crash_point("after-copy");
    for stmt in sql::KV_DELETE_ALL {
        exec(tx, stmt, m.mount_id, m.from).await?;
    }
    Ok(MoveOutcome::Moved)
}
