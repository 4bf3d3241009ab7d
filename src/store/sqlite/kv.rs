//! KV v2 writes on SQLite: a new version (with its labels and pruning) as one job of the
//! group-commit writer, and the per-version updates, whose version lists SQLite cannot bind as an
//! array.

use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;

use super::labels::SqliteLabels;
use super::lite::{run_now, LiteArgs};
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
    // What refused the write, if something did (a refused job fails, so its savepoint rolls back).
    let refused = Arc::new(Mutex::new(None::<WriteOutcome>));
    let refused_in = refused.clone();
    let written = store
        .write(move |c| {
            let w = KvWrite {
                mount_id: &mount_id,
                path: &path,
                expected_current: expected,
                row: &row,
                max_versions: max,
                stages: &owned_stages,
                token: owned_token.as_ref().map(|(t, d)| (t.as_str(), d.as_slice())),
            };
            write_job(c, &w).and_then(|r| {
                r.map_err(|o| {
                    *refused_in.lock().unwrap_or_else(PoisonError::into_inner) = Some(o);
                    StoreError::Backend("refused".into())
                })
            })
        })
        .await;
    let refused = refused.lock().unwrap_or_else(PoisonError::into_inner).take();
    match (written, refused) {
        (Ok(o), _) | (Err(_), Some(o)) => Ok(o),
        (Err(e), None) => Err(e),
    }
}

/// The write job: the written outcome, or the outcome that refuses the write (rolled back).
fn write_job(c: &mut Connection, w: &KvWrite<'_>) -> StoreResult<Result<WriteOutcome, WriteOutcome>> {
    if let Some(done) = run_now(stages::check_token(&mut SqliteLabels(c), w))? {
        return Ok(Err(done));
    }
    advance(c, w)?;
    LiteArgs::new().bind(w.mount_id).bind(w.path).bind_version(w.row).execute(c, sql::KV_VERSION_INSERT)?;
    let abandoned = match run_now(stages::label_written(&mut SqliteLabels(c), w))? {
        Ok(abandoned) => abandoned,
        Err(refused) => return Ok(Err(refused)),
    };
    prune(c, w)?;
    Ok(Ok(WriteOutcome::Written { abandoned }))
}

/// Takes the key from `expected` to the new version: updates the metadata row, or creates it
/// when the key is new. `Conflict` if another writer got there first.
fn advance(c: &Connection, w: &KvWrite<'_>) -> StoreResult<()> {
    let updated = LiteArgs::new()
        .bind(w.row.version)
        .bind(&w.row.created_time)
        .bind(w.mount_id)
        .bind(w.path)
        .bind(w.expected_current)
        .execute(c, sql::KV_ADVANCE)?;
    if updated > 0 {
        return Ok(());
    }
    if w.expected_current != 0 {
        return Err(StoreError::Conflict);
    }
    LiteArgs::new()
        .bind(w.mount_id)
        .bind(w.path)
        .bind(&w.row.created_time)
        .bind(w.row.version)
        .execute(c, sql::KV_CREATE)?;
    Ok(())
}

/// Drops the versions older than the last `max_versions` and records the new oldest version.
fn prune(c: &Connection, w: &KvWrite<'_>) -> StoreResult<()> {
    let keep_from = w.row.version - w.max_versions + 1;
    if keep_from <= 1 {
        return Ok(());
    }
    let pruned = LiteArgs::new().bind(w.mount_id).bind(w.path).bind(keep_from).execute(c, sql::KV_PRUNE)?;
    if pruned > 0 {
        LiteArgs::new().bind(keep_from).bind(w.mount_id).bind(w.path).execute(c, sql::KV_OLDEST)?;
        LiteArgs::new().bind(w.mount_id).bind(w.path).execute(c, sql::KV_STAGE_CLEAN)?;
    }
    Ok(())
}

/// `sql` followed by ` and version in (?, ?, …)` for `versions`, with its arguments after `args`.
fn with_versions(sql: &str, args: LiteArgs, versions: &[i64]) -> (String, LiteArgs) {
    let marks = vec!["?"; versions.len()].join(", ");
    let args = versions.iter().fold(args, |a, v| a.bind(*v));
    (format!("{sql} and version in ({marks})"), args)
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
    let (sql, args) = with_versions(
        "update kv_version set deletion_time = ? where destroyed = 0 and mount_id = ? and path = ?",
        LiteArgs::new().bind(at).bind(mount_id).bind(path),
        versions,
    );
    store.write(move |c| args.execute(c, &sql).map(drop)).await
}

/// Destroys the listed versions: their ciphertext is gone for good.
pub(super) async fn destroy(store: &SqliteStore, mount_id: &str, path: &str, versions: &[i64]) -> StoreResult<()> {
    if versions.is_empty() {
        return Ok(());
    }
    let (sql, args) = with_versions(
        "update kv_version set destroyed = 1, ciphertext = null, key_term = null where mount_id = ? and path = ?",
        LiteArgs::new().bind(mount_id).bind(path),
        versions,
    );
    store.write(move |c| args.execute(c, &sql).map(drop)).await
}
