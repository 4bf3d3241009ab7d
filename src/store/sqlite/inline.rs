//! Point reads run on the calling thread: a handful of read-only rusqlite connections, taken from
//! a stack for one indexed query and put back. A KV read that misses the cache (and the metadata
//! read before every write) no longer crosses to a worker thread and back.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Row};

use crate::store::{KvConfigRow, KvMetadataRow, KvRead, KvVersionRow, StoreResult};

/// Connections kept between reads (more may be open at once; the extra ones are closed after use).
const KEEP: usize = 4;

/// How long a point read waits for a lock another process holds (in WAL mode readers are not
/// blocked by writers; this covers recovery and exclusive locks). Short: it runs on a runtime
/// thread. A read still locked out after it answers 503 (`Unavailable`).
const READ_BUSY_TIMEOUT: Duration = Duration::from_millis(200);

/// The read-only connections of one database file.
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(super) fn new(path: &Path) -> Self {
        Readers { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) }
    }

    fn open(&self) -> StoreResult<Connection> {
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        c.busy_timeout(READ_BUSY_TIMEOUT)?;
        c.execute_batch("pragma cache_size = -512;")?;
        Ok(c)
    }

    /// Runs `f` on an idle connection (or a new one).
    fn with<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let taken = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let c = match taken {
            Some(c) => c,
            None => self.open()?,
        };
        let out = f(&c);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < KEEP {
            idle.push(c);
        }
        out
    }

    /// [`crate::store::Store::kv_read`].
    pub(super) fn kv_read(&self, mount_id: &str, path: &str, version: Option<i64>) -> StoreResult<Option<KvRead>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(crate::store::sql::KV_READ)?;
            let mut rows = stmt.query(rusqlite::params![version, mount_id, path])?;
            let Some(r) = rows.next()? else { return Ok(None) };
            let meta = metadata(r)?;
            let v = match (r.get::<_, Option<i64>>("v_version")?, r.get::<_, Option<String>>("v_created_time")?) {
                (Some(version), Some(created_time)) => Some(KvVersionRow {
                    version,
                    created_time,
                    deletion_time: r.get("v_deletion_time")?,
                    destroyed: r.get::<_, Option<bool>>("v_destroyed")?.unwrap_or(false),
                    key_term: r.get("v_key_term")?,
                    ciphertext: r.get("v_ciphertext")?,
                }),
                _ => None,
            };
            Ok(Some((meta, v)))
        })
    }

    /// [`crate::store::Store::kv_metadata_get`].
    pub(super) fn kv_metadata_get(&self, mount_id: &str, path: &str) -> StoreResult<Option<KvMetadataRow>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(crate::store::sql::KV_METADATA_GET)?;
            let mut rows = stmt.query(rusqlite::params![mount_id, path])?;
            Ok(rows.next()?.map(metadata).transpose()?)
        })
    }

    /// A key's versions without their values ([`crate::store::Store::kv_metadata_with_versions`]).
    pub(super) fn kv_versions(&self, mount_id: &str, path: &str) -> StoreResult<Vec<KvVersionRow>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(crate::store::sql::KV_VERSIONS)?;
            let rows = stmt.query_map(rusqlite::params![mount_id, path], version_without_value)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// `(text, number)` rows of a query on one key: its labels, or its request tokens.
    pub(super) fn key_pairs(&self, sql: &str, mount_id: &str, path: &str) -> StoreResult<Vec<(String, i64)>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(sql)?;
            let rows = stmt.query_map(rusqlite::params![mount_id, path], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// [`crate::store::Store::entry_get`].
    pub(super) fn entry_get(&self, kind: &str, name: &str) -> StoreResult<Option<String>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(crate::store::sql::ENTRY_GET)?;
            let mut rows = stmt.query(rusqlite::params![kind, name])?;
            Ok(rows.next()?.map(|r| r.get(0)).transpose()?)
        })
    }

    /// [`crate::store::Store::kv_config_get`].
    pub(super) fn kv_config_get(&self, mount_id: &str) -> StoreResult<KvConfigRow> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(crate::store::sql::KV_CONFIG_GET)?;
            let mut rows = stmt.query(rusqlite::params![mount_id])?;
            let Some(r) = rows.next()? else { return Ok(KvConfigRow::default()) };
            Ok(KvConfigRow {
                max_versions: r.get("max_versions")?,
                cas_required: r.get("cas_required")?,
                delete_version_after: r.get("delete_version_after")?,
            })
        })
    }
}

/// A `kv_version` row without its ciphertext, by column name.
pub(super) fn version_without_value(r: &Row<'_>) -> rusqlite::Result<KvVersionRow> {
    Ok(KvVersionRow {
        version: r.get("version")?,
        created_time: r.get("created_time")?,
        deletion_time: r.get("deletion_time")?,
        destroyed: r.get("destroyed")?,
        key_term: r.get("key_term")?,
        ciphertext: None,
    })
}

/// A `kv_metadata` row, by column name.
pub(super) fn metadata(r: &Row<'_>) -> rusqlite::Result<KvMetadataRow> {
    Ok(KvMetadataRow {
        mount_id: r.get("mount_id")?,
        path: r.get("path")?,
        max_versions: r.get("max_versions")?,
        cas_required: r.get("cas_required")?,
        delete_version_after: r.get("delete_version_after")?,
        custom_metadata: r.get("custom_metadata")?,
        created_time: r.get("created_time")?,
        updated_time: r.get("updated_time")?,
        current_version: r.get("current_version")?,
        oldest_version: r.get("oldest_version")?,
    })
}
