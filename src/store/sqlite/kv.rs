//! KV v2 writes on SQLite: a new version (with its labels and pruning) as one job of the
//! group-commit writer, and the per-version updates, whose version lists SQLite cannot bind as an
//! array.

use std::sync::{Arc, Mutex, PoisonError};

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::labels::SqliteLabels;
use super::SqliteStore;
use crate::store::binds::BindRow;
use crate::store::{sql, stages, KvWrite, StoreError, StoreResult, WriteOutcome};

/// Appends a version to a key; see [`crate::store::Store::kv_write`].
pub(super) async fn write(store: &SqliteStore, w: &KvWrite<'_>) -> StoreResult<WriteOutcome> {
    let (mount_id, path, expected, max) =
        (w.mount_id.to_string(), w.path.to_string(), w.expected_current, w.max_versions);
    let row = w.row.clone();
    let owned_stages = w.stages.to_vec();
    let owned_token = w.token.map(|(t, d)| (t.to_string(), d.to_vec()));
    // What the job decided, when it is not a plain success (a refused job rolls back).
    let decided = Arc::new(Mutex::new(None::<WriteOutcome>));
    let decided_in = decided.clone();
    let written = store
        .write(move |c| {
            Box::pin(async move {
                let w = KvWrite {
                    mount_id: &mount_id,
                    path: &path,
                    expected_current: expected,
                    row: &row,
                    max_versions: max,
                    stages: &owned_stages,
                    token: owned_token.as_ref().map(|(t, d)| (t.as_str(), d.as_slice())),
                };
                let decide = |o: WriteOutcome| *decided_in.lock().unwrap_or_else(PoisonError::into_inner) = Some(o);
                write_job(c, &w, decide).await
            })
        })
        .await;
    let decided = decided.lock().unwrap_or_else(PoisonError::into_inner).take();
    match (written, decided) {
        (Ok(()), Some(o)) => Ok(o),
        (Ok(()), None) => Ok(WriteOutcome::Written { abandoned: false }),
        (Err(_), Some(o)) if !matches!(o, WriteOutcome::Written { .. }) => Ok(o),
        (Err(e), _) => Err(e),
    }
}

/// The write job: an outcome other than a plain success is handed to `decide`, and a refusal
/// fails the job so its savepoint rolls back.
async fn write_job(c: &mut SqliteConnection, w: &KvWrite<'_>, decide: impl Fn(WriteOutcome)) -> StoreResult<()> {
    if let Some(done) = stages::check_token(&mut SqliteLabels(&mut *c), w).await? {
        decide(done);
        return Err(StoreError::Backend("refused".into()));
    }
    advance(c, w).await?;
    sqlx::query(sql::KV_VERSION_INSERT).bind(w.mount_id).bind(w.path).bind_version(w.row).execute(&mut *c).await?;
    match stages::label_written(&mut SqliteLabels(&mut *c), w).await? {
        Ok(abandoned) => decide(WriteOutcome::Written { abandoned }),
        Err(refused) => {
            decide(refused);
            return Err(StoreError::Backend("refused".into()));
        }
    }
    prune(c, w).await
}

/// Takes the key from `expected` to the new version: updates the metadata row, or creates it
/// when the key is new. `Conflict` if another writer got there first.
async fn advance(c: &mut SqliteConnection, w: &KvWrite<'_>) -> StoreResult<()> {
    let updated = sqlx::query(sql::KV_ADVANCE)
        .bind(w.row.version)
        .bind(&w.row.created_time)
        .bind(w.mount_id)
        .bind(w.path)
        .bind(w.expected_current)
        .execute(&mut *c)
        .await?
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
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Drops the versions older than the last `max_versions` and records the new oldest version.
async fn prune(c: &mut SqliteConnection, w: &KvWrite<'_>) -> StoreResult<()> {
    let keep_from = w.row.version - w.max_versions + 1;
    if keep_from <= 1 {
        return Ok(());
    }
    let pruned = sqlx::query(sql::KV_PRUNE)
        .bind(w.mount_id)
        .bind(w.path)
        .bind(keep_from)
        .execute(&mut *c)
        .await?
        .rows_affected();
    if pruned > 0 {
        sqlx::query(sql::KV_OLDEST).bind(keep_from).bind(w.mount_id).bind(w.path).execute(&mut *c).await?;
        sqlx::query(sql::KV_STAGE_CLEAN).bind(w.mount_id).bind(w.path).execute(&mut *c).await?;
    }
    Ok(())
}

fn push_versions(qb: &mut QueryBuilder<'_, Sqlite>, versions: &[i64]) {
    qb.push(" and version in (");
    let mut sep = qb.separated(", ");
    for v in versions {
        sep.push_bind(*v);
    }
    qb.push(")");
}

/// Sets (or clears) the deletion time of the listed versions that are not destroyed.
pub(super) async fn set_deletion(
    store: &SqliteStore,
    mount_id: &str,
    path: &str,
    versions: &[i64],
    at: Option<&str>,
) -> StoreResult<()> {
    if versions.is_empty() {
        return Ok(());
    }
    let (mount_id, path, versions, at) =
        (mount_id.to_string(), path.to_string(), versions.to_vec(), at.map(str::to_string));
    store
        .write(move |c| {
            Box::pin(async move {
                let mut qb = QueryBuilder::<Sqlite>::new("update kv_version set deletion_time = ");
                qb.push_bind(at)
                    .push(" where destroyed = 0 and mount_id = ")
                    .push_bind(mount_id)
                    .push(" and path = ")
                    .push_bind(path);
                push_versions(&mut qb, &versions);
                qb.build().execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
}

/// Destroys the listed versions: their ciphertext is gone for good.
pub(super) async fn destroy(store: &SqliteStore, mount_id: &str, path: &str, versions: &[i64]) -> StoreResult<()> {
    if versions.is_empty() {
        return Ok(());
    }
    let (mount_id, path, versions) = (mount_id.to_string(), path.to_string(), versions.to_vec());
    store
        .write(move |c| {
            Box::pin(async move {
                let mut qb = QueryBuilder::<Sqlite>::new(
                    "update kv_version set destroyed = 1, ciphertext = null, key_term = null where mount_id = ",
                );
                qb.push_bind(mount_id).push(" and path = ").push_bind(path);
                push_versions(&mut qb, &versions);
                qb.build().execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
}
