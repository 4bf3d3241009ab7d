//! The embedded SQLite store: WAL, `synchronous=FULL`, a pool of readers, and one writer
//! connection that commits queued writes together (group commit). The statements shared with
//! PostgreSQL are in [`super::sql`]; the SQLite-only ones are here and in the submodules.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection as _, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::binds::{BindRow, KeyedVersion};
use super::sql::{self, prefix_upper_bound};
use super::*;
use labels::SqliteLabels;
use lite::LiteArgs;
use writer::Job;

mod copy;
mod file;
mod inline;
mod kv;
mod kv_move;
mod labels;
mod leases;
pub(super) mod lite;
mod lock;
mod rebuild;
mod rotation;
#[cfg(test)]
mod walk_cost;
mod writer;

pub use file::SYNCHRONOUS_ENV;
pub use lock::{lock_database, DbLock};

/// SQLite implementation of [`Store`].
pub struct SqliteStore {
    read: SqlitePool,
    /// Point reads on the calling thread.
    inline: inline::Readers,
    writer: mpsc::Sender<Job>,
    _temp: Option<tempfile::TempDir>,
}

/// `insert or replace` also drops another token holding the same accessor (PostgreSQL deletes it
/// first, then upserts).
const TOKEN_PUT: &str =
    concat!("insert or replace into token (", sql::token_cols!(), ") values (", sql::token_values!(), ")");

/// Auth methods keep their roles, users and secret-id hashes in entries whose kind names the
/// mount id (`instr`: SQLite has no `strpos`).
const MOUNT_DELETE_ENTRIES: &str = "delete from entry where instr(kind, $1) > 0";

/// One page of a KV folder ([`sql::kv_children`]).
const KV_CHILDREN: &str = sql::kv_children!("instr", "$3");

/// How long a statement waits for a lock that another connection or process holds before it
/// fails with `SQLITE_BUSY` (answered as 503 with `Retry-After`).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `url`. `sqlite::memory:` gets a
    /// private temporary file, removed when the store is dropped.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let (path, temp) = match file::url_to_path(url) {
            Some(p) => (p, None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("coffer-mem-")
                    .tempdir()
                    .map_err(|e| StoreError::Backend(format!("temporary directory: {e}")))?;
                (dir.path().join("coffer.db"), Some(dir))
            }
        };
        file::prepare_file(&path)?;
        let opts = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .statement_cache_capacity(64)
            .pragma("cache_size", "-512");
        let mut conn = SqliteConnection::connect_with(&opts).await?;
        sqlx::migrate!("migrations/sqlite")
            .run(&mut conn)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        conn.close().await?;
        let writer_conn = lite::open(&path)?;
        rebuild::kv_without_rowid(&writer_conn)?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts.read_only(true))
            .await?;
        let (tx, rx) = mpsc::channel(1024);
        writer::spawn(writer_conn, rx)?;
        Ok(Self { read, inline: inline::Readers::new(&path), writer: tx, _temp: temp })
    }

    /// Runs `work` on the writer thread in its next batch; returns its output once the batch is
    /// durably committed.
    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let stopped = || StoreError::Backend("the database writer has stopped".into());
        let (reply, rx) = oneshot::channel();
        let work: writer::WriteFn = Box::new(move |c| work(c).map(|t| Box::new(t) as writer::Output));
        self.writer.send(Job { work, reply }).await.map_err(|_| stopped())?;
        let out = rx.await.map_err(|_| stopped())??;
        out.downcast::<T>().map(|t| *t).map_err(|_| StoreError::Backend("a write job answered the wrong type".into()))
    }
}

/// `Conflict` unless `fence` (when given) still holds the singleton lease; run first inside the
/// write job of every fenced write, so the check and the write commit together.
pub(super) fn check_fence(c: &Connection, fence: Option<&Fence>) -> StoreResult<()> {
    let Some(f) = fence else { return Ok(()) };
    let held =
        LiteArgs::new().bind(LEASE_NAME).bind(&f.node).bind(f.epoch).query_optional(c, sql::FENCE_HELD, |_| Ok(()))?;
    if held.is_none() {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

impl SqliteStore {
    /// Runs one statement in the writer. With `must_change`, no affected row means `Conflict`.
    async fn exec(&self, sql: &'static str, args: LiteArgs, must_change: bool) -> StoreResult<()> {
        self.write(move |c| {
            let changed = args.execute(c, sql)?;
            if must_change && changed == 0 {
                return Err(StoreError::Conflict);
            }
            Ok(())
        })
        .await
    }

    /// Names under `prefix` by `bounded` (scope, prefix, upper bound) or `from` (scope, prefix).
    async fn list_prefix(
        &self,
        bounded: &'static str,
        from: &'static str,
        scope: &str,
        prefix: &str,
    ) -> StoreResult<Vec<String>> {
        let q = match prefix_upper_bound(prefix) {
            Some(upper) => sqlx::query_scalar(bounded).bind(scope).bind(prefix).bind(upper),
            None => sqlx::query_scalar(from).bind(scope).bind(prefix),
        };
        Ok(q.fetch_all(&self.read).await?)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn storage_type(&self) -> &'static str {
        "sqlite"
    }

    // ---- Whole-store copy, for `coffer operator migrate` (src/migrate.rs, src/store/copy.rs) ----
    // All three run on the writer: one transaction, so every table comes from one snapshot.
    async fn dump_tables(&self) -> StoreResult<Vec<super::copy::TableRows>> {
        self.write(copy::dump).await
    }

    async fn load_tables(&self, tables: Vec<super::copy::TableRows>) -> StoreResult<()> {
        self.write(move |c| copy::load(c, tables)).await
    }

    async fn count_rows(&self) -> StoreResult<Vec<(String, u64)>> {
        self.write(copy::counts).await
    }

    async fn replace_tables(
        &self,
        tables: Vec<super::copy::TableRows>,
        keep_kinds: &'static [&'static str],
        pending: super::copy::Pending,
    ) -> StoreResult<()> {
        self.write(move |c| copy::replace(c, tables, keep_kinds, pending)).await
    }

    async fn restore_pending(&self) -> StoreResult<Option<Vec<u8>>> {
        self.write(copy::pending).await
    }

    async fn restore_pending_clear(&self) -> StoreResult<()> {
        self.write(|c| Ok(c.execute("delete from restore_pending", []).map(|_| ())?)).await
    }
    // ---- end of whole-store copy ----

    async fn system_get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(sql::SYSTEM_GET).bind(key).fetch_optional(&self.read).await?)
    }

    async fn system_put(&self, entries: &[(&str, &[u8])]) -> StoreResult<()> {
        let entries: Vec<(String, Vec<u8>)> = entries.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect();
        self.write(move |c| {
            for (k, v) in &entries {
                LiteArgs::new().bind(k).bind(v).execute(c, sql::SYSTEM_PUT)?;
            }
            Ok(())
        })
        .await
    }

    async fn mount_list(&self) -> StoreResult<Vec<MountRow>> {
        Ok(sqlx::query_as(sql::MOUNT_LIST).fetch_all(&self.read).await?)
    }

    async fn mount_insert(&self, m: &MountRow) -> StoreResult<()> {
        let m = m.clone();
        self.write(move |c| LiteArgs::new().bind_mount(&m).execute(c, sql::MOUNT_INSERT).map(drop)).await
    }

    async fn mount_update(&self, m: &MountRow) -> StoreResult<()> {
        let args = LiteArgs::new().bind(&m.description).bind(&m.config).bind(&m.options).bind(&m.id);
        self.exec(sql::MOUNT_UPDATE, args, false).await
    }

    async fn mount_delete(&self, id: &str) -> StoreResult<()> {
        let id = id.to_string();
        self.write(move |c| {
            let args = LiteArgs::new().bind(&id);
            for stmt in sql::MOUNT_DELETE_KV.into_iter().chain([MOUNT_DELETE_ENTRIES, sql::MOUNT_DELETE]) {
                args.execute(c, stmt)?;
            }
            Ok(())
        })
        .await
    }

    async fn token_get(&self, hash: &[u8]) -> StoreResult<Option<TokenRow>> {
        Ok(sqlx::query_as(sql::TOKEN_GET).bind(hash).fetch_optional(&self.read).await?)
    }

    async fn token_put(&self, t: &TokenRow) -> StoreResult<()> {
        let t = t.clone();
        self.write(move |c| LiteArgs::new().bind_token(&t).execute(c, TOKEN_PUT).map(drop)).await
    }

    async fn token_delete(&self, hash: &[u8]) -> StoreResult<()> {
        self.exec(sql::TOKEN_DELETE, LiteArgs::new().bind(hash), false).await
    }

    async fn token_by_accessor(&self, accessor: &str) -> StoreResult<Option<TokenRow>> {
        Ok(sqlx::query_as(sql::TOKEN_BY_ACCESSOR).bind(accessor).fetch_optional(&self.read).await?)
    }

    async fn token_accessors(&self) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(sql::TOKEN_ACCESSORS).fetch_all(&self.read).await?)
    }

    async fn token_tree(&self, hash: &[u8]) -> StoreResult<Vec<Vec<u8>>> {
        Ok(sqlx::query_scalar(sql::TOKEN_TREE).bind(hash).fetch_all(&self.read).await?)
    }

    async fn token_delete_tree(&self, hash: &[u8]) -> StoreResult<()> {
        self.exec(sql::TOKEN_TREE_DELETE, LiteArgs::new().bind(hash), false).await
    }

    async fn token_delete_orphaning(&self, hash: &[u8]) -> StoreResult<()> {
        let hash = hash.to_vec();
        self.write(move |c| {
            let args = LiteArgs::new().bind(&hash);
            for stmt in [sql::TOKEN_ORPHAN_CHILDREN, sql::TOKEN_DELETE] {
                args.execute(c, stmt)?;
            }
            Ok(())
        })
        .await
    }

    async fn token_use(&self, hash: &[u8], expected: i64) -> StoreResult<()> {
        self.exec(sql::TOKEN_USE, LiteArgs::new().bind(hash).bind(expected), true).await
    }

    async fn token_renew(&self, hash: &[u8], ttl: i64, expire_time: Option<i64>) -> StoreResult<()> {
        self.exec(sql::TOKEN_RENEW, LiteArgs::new().bind(ttl).bind(expire_time).bind(hash), true).await
    }

    async fn token_expired(&self, now: i64, limit: i64) -> StoreResult<Vec<Vec<u8>>> {
        Ok(sqlx::query_scalar(sql::TOKEN_EXPIRED).bind(now).bind(limit).fetch_all(&self.read).await?)
    }

    async fn entry_get(&self, kind: &str, name: &str) -> StoreResult<Option<String>> {
        self.inline.entry_get(kind, name)
    }

    async fn entry_put(&self, kind: &str, name: &str, value: &str) -> StoreResult<()> {
        self.exec(sql::ENTRY_PUT, LiteArgs::new().bind(kind).bind(name).bind(value), false).await
    }

    async fn entry_delete(&self, kind: &str, name: &str) -> StoreResult<()> {
        self.exec(sql::ENTRY_DELETE, LiteArgs::new().bind(kind).bind(name), false).await
    }

    async fn entry_delete_kind(&self, kind: &str) -> StoreResult<()> {
        self.exec(sql::ENTRY_DELETE_KIND, LiteArgs::new().bind(kind), false).await
    }

    async fn entry_list(&self, kind: &str, prefix: &str) -> StoreResult<Vec<String>> {
        self.list_prefix(sql::ENTRY_LIST, sql::ENTRY_LIST_FROM, kind, prefix).await
    }

    async fn kv_config_get(&self, mount_id: &str) -> StoreResult<KvConfigRow> {
        self.inline.kv_config_get(mount_id)
    }

    async fn kv_config_put(&self, mount_id: &str, cfg: &KvConfigRow) -> StoreResult<()> {
        let args =
            LiteArgs::new().bind(mount_id).bind(cfg.max_versions).bind(cfg.cas_required).bind(cfg.delete_version_after);
        self.exec(sql::KV_CONFIG_PUT, args, false).await
    }

    async fn kv_read(&self, mount_id: &str, path: &str, version: Option<i64>) -> StoreResult<Option<KvRead>> {
        self.inline.kv_read(mount_id, path, version)
    }

    async fn kv_metadata_get(&self, mount_id: &str, path: &str) -> StoreResult<Option<KvMetadataRow>> {
        self.inline.kv_metadata_get(mount_id, path)
    }

    async fn kv_metadata_with_versions(
        &self,
        mount_id: &str,
        path: &str,
    ) -> StoreResult<Option<(KvMetadataRow, Vec<KvVersionRow>)>> {
        let Some(meta) = self.kv_metadata_get(mount_id, path).await? else {
            return Ok(None);
        };
        Ok(Some((meta, self.inline.kv_versions(mount_id, path)?)))
    }

    async fn kv_write(&self, w: &KvWrite<'_>) -> StoreResult<WriteOutcome> {
        kv::write(self, w).await
    }

    async fn kv_stages(&self, mount_id: &str, path: &str) -> StoreResult<Vec<(String, i64)>> {
        self.inline.key_pairs(sql::KV_STAGES, mount_id, path)
    }

    async fn kv_request_tokens(&self, mount_id: &str, path: &str) -> StoreResult<Vec<(String, i64)>> {
        self.inline.key_pairs(sql::KV_REQUEST_TOKENS, mount_id, path)
    }

    async fn kv_stage_move(
        &self,
        mount_id: &str,
        path: &str,
        stage: &str,
        to: Option<i64>,
        from: Option<i64>,
    ) -> StoreResult<()> {
        let (mount_id, path, stage) = (mount_id.to_string(), path.to_string(), stage.to_string());
        self.write(move |c| lite::run_now(stages::move_label(&mut SqliteLabels(c), &mount_id, &path, &stage, to, from)))
            .await
    }

    async fn kv_metadata_put(&self, m: &KvMetadataRow) -> StoreResult<()> {
        let m = m.clone();
        self.write(move |c| LiteArgs::new().bind_metadata(&m).execute(c, sql::KV_METADATA_PUT).map(drop)).await
    }

    async fn kv_set_deletion(&self, mount_id: &str, path: &str, versions: &[i64], at: Option<&str>) -> StoreResult<()> {
        kv::set_deletion(self, mount_id, path, versions, at).await
    }

    async fn kv_destroy(&self, mount_id: &str, path: &str, versions: &[i64]) -> StoreResult<()> {
        kv::destroy(self, mount_id, path, versions).await
    }

    async fn kv_delete_all(&self, mount_id: &str, path: &str, fence: Option<&Fence>) -> StoreResult<()> {
        let (mount_id, path, fence) = (mount_id.to_string(), path.to_string(), fence.cloned());
        self.write(move |c| {
            check_fence(c, fence.as_ref())?;
            let args = LiteArgs::new().bind(&mount_id).bind(&path);
            for stmt in sql::KV_DELETE_ALL {
                args.execute(c, stmt)?;
            }
            Ok(())
        })
        .await
    }

    async fn kv_children(&self, mount_id: &str, prefix: &str, page: Page<'_>) -> StoreResult<Vec<String>> {
        let walk = children::Walk::new(prefix, page);
        let paths = sqlx::query_scalar(KV_CHILDREN)
            .bind(mount_id)
            .bind(prefix)
            .bind(&walk.seed)
            .bind(walk.steps)
            .fetch_all(&self.read)
            .await?;
        Ok(children::names(prefix, paths))
    }

    async fn kv_metadata_page(
        &self,
        mount_id: &str,
        prefix: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<KvMetadataRow>> {
        let (from, except) = sql::page_start(prefix, after);
        let q = match prefix_upper_bound(prefix) {
            Some(upper) => sqlx::query_as(sql::KV_METADATA_PAGE).bind(mount_id).bind(from).bind(upper).bind(except),
            None => sqlx::query_as(sql::KV_METADATA_PAGE_FROM).bind(mount_id).bind(from).bind(except),
        };
        Ok(q.bind(limit).fetch_all(&self.read).await?)
    }

    async fn kv_move(&self, m: &super::moves::KvMove<'_>) -> StoreResult<super::moves::MoveOutcome> {
        kv_move::run(self, m).await
    }

    async fn kv_versions_below_term(&self, term: i64, limit: i64) -> StoreResult<Vec<(String, String, KvVersionRow)>> {
        let rows: Vec<KeyedVersion> =
            sqlx::query_as(sql::KV_BELOW_TERM).bind(term).bind(limit).fetch_all(&self.read).await?;
        Ok(rows.into_iter().map(KeyedVersion::split).collect())
    }

    async fn kv_rewrap(
        &self,
        mount_id: &str,
        path: &str,
        version: i64,
        old_term: i64,
        new_term: i64,
        ciphertext: &super::Sealed,
    ) -> StoreResult<()> {
        let args =
            LiteArgs::new().bind(ciphertext).bind(new_term).bind(mount_id).bind(path).bind(version).bind(old_term);
        self.exec(sql::KV_REWRAP, args, false).await
    }

    async fn lease_acquire(&self, node: &str, now_ms: i64, ttl_ms: i64) -> StoreResult<Option<i64>> {
        let args = LiteArgs::new().bind(LEASE_NAME).bind(node).bind(now_ms + ttl_ms).bind(now_ms);
        self.exec(sql::LEASE_ACQUIRE, args, false).await?;
        Ok(self.lease_get().await?.filter(|l| l.holder == node).map(|l| l.epoch))
    }

    async fn lease_get(&self) -> StoreResult<Option<LeaseRow>> {
        Ok(sqlx::query_as(sql::LEASE_GET).bind(LEASE_NAME).fetch_optional(&self.read).await?)
    }

    async fn lease_release(&self, node: &str) -> StoreResult<()> {
        self.exec(sql::LEASE_RELEASE, LiteArgs::new().bind(LEASE_NAME).bind(node), false).await
    }

    async fn node_seen(&self, node: &NodeRow) -> StoreResult<()> {
        let args = LiteArgs::new().bind(&node.id).bind(&node.name).bind(&node.address).bind(node.last_seen);
        self.exec(sql::NODE_SEEN, args, false).await
    }

    async fn node_forget(&self, node: &str) -> StoreResult<()> {
        self.exec(sql::NODE_FORGET, LiteArgs::new().bind(node), false).await
    }

    async fn node_list(&self) -> StoreResult<Vec<NodeRow>> {
        Ok(sqlx::query_as(sql::NODE_LIST).fetch_all(&self.read).await?)
    }

    async fn system_swap(&self, key: &str, expected: &[u8], value: &[u8]) -> StoreResult<()> {
        self.exec(sql::SYSTEM_SWAP, LiteArgs::new().bind(value).bind(key).bind(expected), true).await
    }

    async fn system_swap_with(&self, key: &str, expected: &[u8], entries: &[(&str, &[u8])]) -> StoreResult<()> {
        let (key, expected) = (key.to_string(), expected.to_vec());
        let entries: Vec<(String, Vec<u8>)> = entries.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect();
        self.write(move |c| {
            // An update to the same value: it matches only while `key` still holds `expected`.
            if LiteArgs::new().bind(&expected).bind(&key).bind(&expected).execute(c, sql::SYSTEM_SWAP)? == 0 {
                return Err(StoreError::Conflict);
            }
            for (k, v) in &entries {
                LiteArgs::new().bind(k).bind(v).execute(c, sql::SYSTEM_PUT)?;
            }
            Ok(())
        })
        .await
    }

    async fn token_delete_tree_fenced(&self, hash: &[u8], fence: &Fence) -> StoreResult<()> {
        let (hash, fence) = (hash.to_vec(), fence.clone());
        self.write(move |c| {
            check_fence(c, Some(&fence))?;
            LiteArgs::new().bind(&hash).execute(c, sql::TOKEN_TREE_DELETE).map(drop)
        })
        .await
    }
}
