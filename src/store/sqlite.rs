//! The embedded SQLite store: WAL, `synchronous=FULL`, a pool of readers, and one writer
//! connection that commits queued writes together (group commit). The statements shared with
//! PostgreSQL are in [`super::sql`]; the SQLite-only ones are here and in the submodules.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::binds::{BindRow, Joined, KeyedVersion};
use super::sql::{self, prefix_upper_bound};
use super::*;
use labels::SqliteLabels;
use writer::Job;

mod file;
mod kv;
mod labels;
mod leases;
mod lock;
mod rotation;
#[cfg(test)]
mod walk_cost;
mod writer;

pub use file::SYNCHRONOUS_ENV;
pub use lock::{lock_database, DbLock};

/// SQLite implementation of [`Store`].
pub struct SqliteStore {
    read: SqlitePool,
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
            .synchronous(file::synchronous())
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .statement_cache_capacity(64)
            .pragma("cache_size", "-512");
        let mut conn = SqliteConnection::connect_with(&opts).await?;
        sqlx::migrate!("migrations/sqlite")
            .run(&mut conn)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts.read_only(true))
            .await?;
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(writer::writer_loop(conn, rx));
        Ok(Self { read, writer: tx, _temp: temp })
    }

    /// Runs `work` in the writer's next batch; returns once the batch is durably committed.
    async fn write<F>(&self, work: F) -> StoreResult<()>
    where
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<()>> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Job { work: Box::new(work), reply })
            .await
            .map_err(|_| StoreError::Backend("the database writer has stopped".into()))?;
        rx.await.map_err(|_| StoreError::Backend("the database writer has stopped".into()))?
    }
}

/// `Conflict` unless `fence` (when given) still holds the singleton lease; run first inside the
/// write job of every fenced write, so the check and the write commit together.
pub(super) async fn check_fence(c: &mut SqliteConnection, fence: Option<&Fence>) -> StoreResult<()> {
    let Some(f) = fence else { return Ok(()) };
    let held: Option<i64> = sqlx::query_scalar(sql::FENCE_HELD)
        .bind(LEASE_NAME)
        .bind(&f.node)
        .bind(f.epoch)
        .fetch_optional(&mut *c)
        .await?;
    if held.is_none() {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

/// A bound value for [`SqliteStore::exec`].
enum Arg {
    Blob(Vec<u8>),
    Text(String),
    Int(i64),
    OptInt(Option<i64>),
}

impl SqliteStore {
    /// Runs one statement in the writer. With `must_change`, no affected row means `Conflict`.
    async fn exec(&self, sql: &'static str, args: Vec<Arg>, must_change: bool) -> StoreResult<()> {
        self.write(move |c| {
            Box::pin(async move {
                let mut q = sqlx::query(sql);
                for a in args {
                    q = match a {
                        Arg::Blob(v) => q.bind(v),
                        Arg::Text(v) => q.bind(v),
                        Arg::Int(v) => q.bind(v),
                        Arg::OptInt(v) => q.bind(v),
                    };
                }
                let changed = q.execute(&mut *c).await?.rows_affected();
                if must_change && changed == 0 {
                    return Err(StoreError::Conflict);
                }
                Ok(())
            })
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
    async fn dump_tables(&self) -> StoreResult<Vec<copy::TableRows>> {
        // One read transaction: every table from the same snapshot.
        let mut tx = self.read.begin().await?;
        let tables = copy::sqlite_dump(&mut tx).await?;
        tx.commit().await?;
        Ok(tables)
    }

    async fn load_tables(&self, tables: Vec<copy::TableRows>) -> StoreResult<()> {
        self.write(move |c| Box::pin(copy::sqlite_load(c, tables))).await
    }

    async fn count_rows(&self) -> StoreResult<Vec<(String, u64)>> {
        let mut conn = self.read.acquire().await?;
        copy::sqlite_counts(&mut conn).await
    }
    // ---- end of whole-store copy ----

    async fn system_get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(sql::SYSTEM_GET).bind(key).fetch_optional(&self.read).await?)
    }

    async fn system_put(&self, entries: &[(&str, &[u8])]) -> StoreResult<()> {
        let entries: Vec<(String, Vec<u8>)> = entries.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect();
        self.write(move |c| {
            Box::pin(async move {
                for (k, v) in &entries {
                    sqlx::query(sql::SYSTEM_PUT).bind(k).bind(v).execute(&mut *c).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn mount_list(&self) -> StoreResult<Vec<MountRow>> {
        Ok(sqlx::query_as(sql::MOUNT_LIST).fetch_all(&self.read).await?)
    }

    async fn mount_insert(&self, m: &MountRow) -> StoreResult<()> {
        let m = m.clone();
        self.write(move |c| {
            Box::pin(async move {
                sqlx::query(sql::MOUNT_INSERT).bind_mount(&m).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    async fn mount_update(&self, m: &MountRow) -> StoreResult<()> {
        self.exec(
            sql::MOUNT_UPDATE,
            vec![
                Arg::Text(m.description.clone()),
                Arg::Text(m.config.clone()),
                Arg::Text(m.options.clone()),
                Arg::Text(m.id.clone()),
            ],
            false,
        )
        .await
    }

    async fn mount_delete(&self, id: &str) -> StoreResult<()> {
        let id = id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                for stmt in sql::MOUNT_DELETE_KV.into_iter().chain([MOUNT_DELETE_ENTRIES, sql::MOUNT_DELETE]) {
                    sqlx::query(stmt).bind(&id).execute(&mut *c).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn token_get(&self, hash: &[u8]) -> StoreResult<Option<TokenRow>> {
        Ok(sqlx::query_as(sql::TOKEN_GET).bind(hash).fetch_optional(&self.read).await?)
    }

    async fn token_put(&self, t: &TokenRow) -> StoreResult<()> {
        let t = t.clone();
        self.write(move |c| {
            Box::pin(async move {
                sqlx::query(TOKEN_PUT).bind_token(&t).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    async fn token_delete(&self, hash: &[u8]) -> StoreResult<()> {
        self.exec(sql::TOKEN_DELETE, vec![Arg::Blob(hash.to_vec())], false).await
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
        self.exec(sql::TOKEN_TREE_DELETE, vec![Arg::Blob(hash.to_vec())], false).await
    }

    async fn token_delete_orphaning(&self, hash: &[u8]) -> StoreResult<()> {
        let hash = hash.to_vec();
        self.write(move |c| {
            Box::pin(async move {
                for stmt in [sql::TOKEN_ORPHAN_CHILDREN, sql::TOKEN_DELETE] {
                    sqlx::query(stmt).bind(&hash).execute(&mut *c).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn token_use(&self, hash: &[u8], expected: i64) -> StoreResult<()> {
        self.exec(sql::TOKEN_USE, vec![Arg::Blob(hash.to_vec()), Arg::Int(expected)], true).await
    }

    async fn token_renew(&self, hash: &[u8], ttl: i64, expire_time: Option<i64>) -> StoreResult<()> {
        self.exec(sql::TOKEN_RENEW, vec![Arg::Int(ttl), Arg::OptInt(expire_time), Arg::Blob(hash.to_vec())], true).await
    }

    async fn token_expired(&self, now: i64, limit: i64) -> StoreResult<Vec<Vec<u8>>> {
        Ok(sqlx::query_scalar(sql::TOKEN_EXPIRED).bind(now).bind(limit).fetch_all(&self.read).await?)
    }

    async fn entry_get(&self, kind: &str, name: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(sql::ENTRY_GET).bind(kind).bind(name).fetch_optional(&self.read).await?)
    }

    async fn entry_put(&self, kind: &str, name: &str, value: &str) -> StoreResult<()> {
        self.exec(sql::ENTRY_PUT, vec![Arg::Text(kind.into()), Arg::Text(name.into()), Arg::Text(value.into())], false)
            .await
    }

    async fn entry_delete(&self, kind: &str, name: &str) -> StoreResult<()> {
        self.exec(sql::ENTRY_DELETE, vec![Arg::Text(kind.into()), Arg::Text(name.into())], false).await
    }

    async fn entry_delete_kind(&self, kind: &str) -> StoreResult<()> {
        self.exec(sql::ENTRY_DELETE_KIND, vec![Arg::Text(kind.into())], false).await
    }

    async fn entry_list(&self, kind: &str, prefix: &str) -> StoreResult<Vec<String>> {
        self.list_prefix(sql::ENTRY_LIST, sql::ENTRY_LIST_FROM, kind, prefix).await
    }

    async fn kv_config_get(&self, mount_id: &str) -> StoreResult<KvConfigRow> {
        Ok(sqlx::query_as(sql::KV_CONFIG_GET).bind(mount_id).fetch_optional(&self.read).await?.unwrap_or_default())
    }

    async fn kv_config_put(&self, mount_id: &str, cfg: &KvConfigRow) -> StoreResult<()> {
        let (mount_id, cfg) = (mount_id.to_string(), cfg.clone());
        self.write(move |c| {
            Box::pin(async move {
                sqlx::query(sql::KV_CONFIG_PUT)
                    .bind(&mount_id)
                    .bind(cfg.max_versions)
                    .bind(cfg.cas_required)
                    .bind(cfg.delete_version_after)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    async fn kv_read(&self, mount_id: &str, path: &str, version: Option<i64>) -> StoreResult<Option<KvRead>> {
        let row: Option<Joined> =
            sqlx::query_as(sql::KV_READ).bind(version).bind(mount_id).bind(path).fetch_optional(&self.read).await?;
        Ok(row.map(Joined::split))
    }

    async fn kv_metadata_get(&self, mount_id: &str, path: &str) -> StoreResult<Option<KvMetadataRow>> {
        Ok(sqlx::query_as(sql::KV_METADATA_GET).bind(mount_id).bind(path).fetch_optional(&self.read).await?)
    }

    async fn kv_metadata_with_versions(
        &self,
        mount_id: &str,
        path: &str,
    ) -> StoreResult<Option<(KvMetadataRow, Vec<KvVersionRow>)>> {
        let Some(meta) = self.kv_metadata_get(mount_id, path).await? else {
            return Ok(None);
        };
        let versions = sqlx::query_as(sql::KV_VERSIONS).bind(mount_id).bind(path).fetch_all(&self.read).await?;
        Ok(Some((meta, versions)))
    }

    async fn kv_write(&self, w: &KvWrite<'_>) -> StoreResult<WriteOutcome> {
        kv::write(self, w).await
    }

    async fn kv_stages(&self, mount_id: &str, path: &str) -> StoreResult<Vec<(String, i64)>> {
        Ok(sqlx::query_as(sql::KV_STAGES).bind(mount_id).bind(path).fetch_all(&self.read).await?)
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
        self.write(move |c| {
            Box::pin(
                async move { stages::move_label(&mut SqliteLabels(&mut *c), &mount_id, &path, &stage, to, from).await },
            )
        })
        .await
    }

    async fn kv_metadata_put(&self, m: &KvMetadataRow) -> StoreResult<()> {
        let m = m.clone();
        self.write(move |c| {
            Box::pin(async move {
                sqlx::query(sql::KV_METADATA_PUT).bind_metadata(&m).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    async fn kv_set_deletion(&self, mount_id: &str, path: &str, versions: &[i64], at: Option<&str>) -> StoreResult<()> {
        kv::set_deletion(self, mount_id, path, versions, at).await
    }

    async fn kv_destroy(&self, mount_id: &str, path: &str, versions: &[i64]) -> StoreResult<()> {
        kv::destroy(self, mount_id, path, versions).await
    }

    async fn kv_delete_all(&self, mount_id: &str, path: &str) -> StoreResult<()> {
        let (mount_id, path) = (mount_id.to_string(), path.to_string());
        self.write(move |c| {
            Box::pin(async move {
                for stmt in sql::KV_DELETE_ALL {
                    sqlx::query(stmt).bind(&mount_id).bind(&path).execute(&mut *c).await?;
                }
                Ok(())
            })
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
        self.exec(
            sql::KV_REWRAP,
            vec![
                Arg::Blob(ciphertext.as_bytes().to_vec()),
                Arg::Int(new_term),
                Arg::Text(mount_id.into()),
                Arg::Text(path.into()),
                Arg::Int(version),
                Arg::Int(old_term),
            ],
            false,
        )
        .await
    }

    async fn lease_acquire(&self, node: &str, now_ms: i64, ttl_ms: i64) -> StoreResult<Option<i64>> {
        self.exec(
            sql::LEASE_ACQUIRE,
            vec![Arg::Text(LEASE_NAME.into()), Arg::Text(node.into()), Arg::Int(now_ms + ttl_ms), Arg::Int(now_ms)],
            false,
        )
        .await?;
        Ok(self.lease_get().await?.filter(|l| l.holder == node).map(|l| l.epoch))
    }

    async fn lease_get(&self) -> StoreResult<Option<LeaseRow>> {
        Ok(sqlx::query_as(sql::LEASE_GET).bind(LEASE_NAME).fetch_optional(&self.read).await?)
    }

    async fn lease_release(&self, node: &str) -> StoreResult<()> {
        self.exec(sql::LEASE_RELEASE, vec![Arg::Text(LEASE_NAME.into()), Arg::Text(node.into())], false).await
    }

    async fn node_seen(&self, node: &NodeRow) -> StoreResult<()> {
        self.exec(
            sql::NODE_SEEN,
            vec![
                Arg::Text(node.id.clone()),
                Arg::Text(node.name.clone()),
                Arg::Text(node.address.clone()),
                Arg::Int(node.last_seen),
            ],
            false,
        )
        .await
    }

    async fn node_forget(&self, node: &str) -> StoreResult<()> {
        self.exec(sql::NODE_FORGET, vec![Arg::Text(node.into())], false).await
    }

    async fn node_list(&self) -> StoreResult<Vec<NodeRow>> {
        Ok(sqlx::query_as(sql::NODE_LIST).fetch_all(&self.read).await?)
    }

    async fn system_swap(&self, key: &str, expected: &[u8], value: &[u8]) -> StoreResult<()> {
        self.exec(
            sql::SYSTEM_SWAP,
            vec![Arg::Blob(value.to_vec()), Arg::Text(key.into()), Arg::Blob(expected.to_vec())],
            true,
        )
        .await
    }

    async fn token_delete_tree_fenced(&self, hash: &[u8], fence: &Fence) -> StoreResult<()> {
        let (hash, fence) = (hash.to_vec(), fence.clone());
        self.write(move |c| {
            Box::pin(async move {
                check_fence(&mut *c, Some(&fence)).await?;
                sqlx::query(sql::TOKEN_TREE_DELETE).bind(&hash).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }
}
