//! The embedded SQLite store: WAL, `synchronous=FULL`, a pool of readers, and one writer
//! connection that commits queued writes together (group commit).

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Executor, QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::*;
use labels::SqliteLabels;

mod labels;
mod leases;
mod lock;
mod rotation;

pub use lock::{lock_database, DbLock};

/// SQLite implementation of [`Store`].
pub struct SqliteStore {
    read: SqlitePool,
    writer: mpsc::Sender<Job>,
    _temp: Option<tempfile::TempDir>,
}

/// A token and all its descendants, by parent links.
const TOKEN_TREE: &str = "with recursive tree(h) as (select hash from token where hash = ? \
     union select t.hash from token t join tree on t.parent_hash = tree.h) select h from tree";

/// Deletes a token and all its descendants.
const TOKEN_TREE_DELETE: &str = "delete from token where hash in (with recursive tree(h) as (select hash from \
     token where hash = ? union select t.hash from token t join tree on t.parent_hash = tree.h) select h from tree)";

const VERSION_COLS: &str = "version, created_time, deletion_time, destroyed, key_term, ciphertext";

fn url_to_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let rest = rest.split('?').next().unwrap_or(rest);
    if rest.is_empty() || rest == ":memory:" {
        None
    } else {
        Some(PathBuf::from(rest))
    }
}

/// Creates the database file 0600 (and its directory 0700) before SQLite does, so the file is
/// never world-readable whatever the umask; -wal and -shm inherit the file's mode.
fn prepare_file(path: &Path) -> StoreResult<()> {
    let io = |e: std::io::Error| StoreError::Backend(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(io)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        warn_if_shared(dir, "data directory").map_err(io)?;
    }
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(io)?;
    warn_if_shared(path, "database file").map_err(io)?;
    Ok(())
}

/// Completes `select … and <col> >= ?` into an exact prefix match: `and <col> < ?` with the least
/// string above every extension of the prefix (bound as the third parameter), or, when there is
/// none (empty prefix, only U+10FFFF), a condition that binds it without using it. Either way an
/// index range, with no wildcard to escape.
fn prefix_range(select: &str, col: &str, prefix: &str) -> (String, Option<String>) {
    match super::postgres::prefix_upper_bound(prefix) {
        Some(upper) => (format!("{select} and {col} < ? order by {col}"), Some(upper)),
        None => (format!("{select} and ? is null order by {col}"), None),
    }
}

/// Warns (kanidm style: the server still starts) when group or others have any access to an
/// existing data directory or database file; Coffer itself only creates them 0700 and 0600.
fn warn_if_shared(path: &Path, what: &str) -> std::io::Result<()> {
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{mode:o}"),
            "{what} is accessible to group or others; chmod go-rwx it"
        );
    }
    Ok(())
}

/// Test hook (the FLT-02 control run): with `COFFER_TEST_SQLITE_SYNCHRONOUS=normal`, commits use
/// `synchronous=NORMAL`, which does not fsync the WAL at commit, so an acknowledged write can be
/// lost on power failure. Unset (as in production), it is always `FULL`; there is no config key.
pub const SYNCHRONOUS_ENV: &str = "COFFER_TEST_SQLITE_SYNCHRONOUS";

fn synchronous() -> SqliteSynchronous {
    if std::env::var_os(SYNCHRONOUS_ENV).is_some_and(|v| v == "normal") {
        tracing::error!("{SYNCHRONOUS_ENV}=normal is set: commits are not fsynced (test hook, never in production)");
        SqliteSynchronous::Normal
    } else {
        SqliteSynchronous::Full
    }
}

/// A write to run inside the writer's batch transaction.
type WriteFn = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<()>> + Send>;

struct Job {
    work: WriteFn,
    reply: oneshot::Sender<StoreResult<()>>,
}

/// Most writes committed together in one transaction (one fsync).
const MAX_BATCH: usize = 128;

/// How long a statement waits for a lock that another connection or process holds before it
/// fails with `SQLITE_BUSY` (answered as 503 with `Retry-After`).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `url`. `sqlite::memory:` gets a
    /// private temporary file, removed when the store is dropped.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let (path, temp) = match url_to_path(url) {
            Some(p) => (p, None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("coffer-mem-")
                    .tempdir()
                    .map_err(|e| StoreError::Backend(format!("temporary directory: {e}")))?;
                (dir.path().join("coffer.db"), Some(dir))
            }
        };
        prepare_file(&path)?;
        let opts = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous())
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
        tokio::spawn(writer_loop(conn, rx));
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
    let held: i64 = sqlx::query_scalar("select count(*) from leader where name = ? and holder = ? and epoch = ?")
        .bind(LEASE_NAME)
        .bind(&f.node)
        .bind(f.epoch)
        .fetch_one(&mut *c)
        .await?;
    if held == 0 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

/// A bound value for [`SqliteStore::exec`].
enum Arg {
    Blob(Vec<u8>),
    OptBlob(Option<Vec<u8>>),
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
                        Arg::OptBlob(v) => q.bind(v),
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
}

/// Group commit: takes every queued write (up to [`MAX_BATCH`]), runs each inside its own
/// savepoint so one failure does not undo the others, commits once, then answers each caller.
async fn writer_loop(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Some(busy) = run_batch(&mut conn, batch).await {
            // The database stayed locked for a whole `busy_timeout`: writes queued meanwhile get
            // the same answer now rather than waiting out another timeout each.
            while let Ok(job) = rx.try_recv() {
                let _ = job.reply.send(Err(busy.clone()));
            }
        }
    }
}

/// Runs one batch; returns the error when the transaction could not even start because the
/// database stayed locked (`Unavailable`).
async fn run_batch(conn: &mut SqliteConnection, batch: Vec<Job>) -> Option<StoreError> {
    let fail_all = |replies: Vec<oneshot::Sender<StoreResult<()>>>, err: StoreError| {
        for reply in replies {
            let _ = reply.send(Err(err.clone()));
        }
    };
    // Another process holding the write lock past `busy_timeout` fails here (503).
    if let Err(e) = conn.execute("begin immediate").await {
        let e = StoreError::from(e);
        fail_all(batch.into_iter().map(|j| j.reply).collect(), e.clone());
        return matches!(e, StoreError::Unavailable(_)).then_some(e);
    }
    let mut done = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        if let Err(e) = conn.execute("savepoint w").await {
            let _ = job.reply.send(Err(e.into()));
            continue;
        }
        let result = (job.work)(&mut *conn).await;
        // After a full disk SQLite may already have rolled the whole transaction back: keep
        // nothing of the batch, and tell every caller why (507), never a half-committed batch.
        if let Err(e @ (StoreError::Full(_) | StoreError::Unavailable(_))) = &result {
            let e = e.clone();
            let _ = conn.execute("rollback").await;
            let replies =
                done.into_iter().map(|(r, _)| r).chain(std::iter::once(job.reply)).chain(jobs.map(|j| j.reply));
            fail_all(replies.collect(), e);
            return None;
        }
        let end = if result.is_ok() { "release w" } else { "rollback to w; release w" };
        if let Err(e) = conn.execute(end).await {
            tracing::error!(error = %e, "savepoint cleanup failed");
        }
        done.push((job.reply, result));
    }
    match conn.execute("commit").await {
        Ok(_) => {
            for (reply, result) in done {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            let _ = conn.execute("rollback").await;
            fail_all(done.into_iter().map(|(r, _)| r).collect(), e.into());
        }
    }
    None
}

fn push_versions(qb: &mut QueryBuilder<'_, Sqlite>, versions: &[i64]) {
    qb.push(" and version in (");
    let mut sep = qb.separated(", ");
    for v in versions {
        sep.push_bind(*v);
    }
    qb.push(")");
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
        Ok(sqlx::query_scalar("select value from system_entry where key = ?")
            .bind(key)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn system_put(&self, entries: &[(&str, &[u8])]) -> StoreResult<()> {
        let entries: Vec<(String, Vec<u8>)> = entries.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect();
        self.write(move |c| {
            Box::pin(async move {
                for (k, v) in &entries {
                    sqlx::query(
                        "insert into system_entry (key, value) values (?, ?) \
                         on conflict (key) do update set value = excluded.value",
                    )
                    .bind(k)
                    .bind(v)
                    .execute(&mut *c)
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn mount_list(&self) -> StoreResult<Vec<MountRow>> {
        Ok(sqlx::query_as("select * from mount order by path").fetch_all(&self.read).await?)
    }

    async fn mount_insert(&self, m: &MountRow) -> StoreResult<()> {
        let m = m.clone();
        self.write(move |c| {
            Box::pin(async move {
                sqlx::query(
                    "insert into mount (id, table_name, path, kind, description, accessor, config, \
                     options, local, seal_wrap, created_at) values (?,?,?,?,?,?,?,?,?,?,?)",
                )
                .bind(&m.id)
                .bind(&m.table_name)
                .bind(&m.path)
                .bind(&m.kind)
                .bind(&m.description)
                .bind(&m.accessor)
                .bind(&m.config)
                .bind(&m.options)
                .bind(m.local)
                .bind(m.seal_wrap)
                .bind(&m.created_at)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn mount_update(&self, m: &MountRow) -> StoreResult<()> {
        let m = m.clone();
        self.write(move |c| {
            Box::pin(async move {
                sqlx::query("update mount set description = ?, config = ?, options = ? where id = ?")
                    .bind(&m.description)
                    .bind(&m.config)
                    .bind(&m.options)
                    .bind(&m.id)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    async fn mount_delete(&self, id: &str) -> StoreResult<()> {
        let id = id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                for table in ["kv_version", "kv_metadata", "kv_config", "kv_stage", "kv_request_token"] {
                    sqlx::query(&format!("delete from {table} where mount_id = ?")).bind(&id).execute(&mut *c).await?;
                }
                // Auth methods keep their roles, users and secret-id hashes in entries whose kind
                // names the mount id.
                sqlx::query("delete from entry where instr(kind, ?) > 0").bind(&id).execute(&mut *c).await?;
                sqlx::query("delete from mount where id = ?").bind(&id).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    async fn token_get(&self, hash: &[u8]) -> StoreResult<Option<TokenRow>> {
        Ok(sqlx::query_as("select * from token where hash = ?").bind(hash).fetch_optional(&self.read).await?)
    }

    async fn token_put(&self, t: &TokenRow) -> StoreResult<()> {
        let t = t.clone();
        self.write(move |c| {
            Box::pin(async move {
                sqlx::query(
                    "insert or replace into token (hash, accessor, parent_hash, policies, meta, \
                     display_name, path, token_type, creation_time, ttl, explicit_max_ttl, period, \
                     num_uses, expire_time, renewable, orphan, bound_cidrs, identity, max_ttl) \
                     values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                )
                .bind(&t.hash)
                .bind(&t.accessor)
                .bind(&t.parent_hash)
                .bind(&t.policies)
                .bind(&t.meta)
                .bind(&t.display_name)
                .bind(&t.path)
                .bind(&t.token_type)
                .bind(t.creation_time)
                .bind(t.ttl)
                .bind(t.explicit_max_ttl)
                .bind(t.period)
                .bind(t.num_uses)
                .bind(t.expire_time)
                .bind(t.renewable)
                .bind(t.orphan)
                .bind(&t.bound_cidrs)
                .bind(&t.identity)
                .bind(t.max_ttl)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn token_delete(&self, hash: &[u8]) -> StoreResult<()> {
        self.exec("delete from token where hash = ?", vec![Arg::Blob(hash.to_vec())], false).await
    }

    async fn token_by_accessor(&self, accessor: &str) -> StoreResult<Option<TokenRow>> {
        Ok(sqlx::query_as("select * from token where accessor = ?").bind(accessor).fetch_optional(&self.read).await?)
    }

    async fn token_accessors(&self) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar("select accessor from token order by accessor").fetch_all(&self.read).await?)
    }

    async fn token_tree(&self, hash: &[u8]) -> StoreResult<Vec<Vec<u8>>> {
        Ok(sqlx::query_scalar(TOKEN_TREE).bind(hash).fetch_all(&self.read).await?)
    }

    async fn token_delete_tree(&self, hash: &[u8]) -> StoreResult<()> {
        self.exec(TOKEN_TREE_DELETE, vec![Arg::Blob(hash.to_vec())], false).await
    }

    async fn token_delete_orphaning(&self, hash: &[u8]) -> StoreResult<()> {
        let hash = hash.to_vec();
        self.write(move |c| {
            Box::pin(async move {
                sqlx::query("update token set parent_hash = null, orphan = 1 where parent_hash = ?")
                    .bind(&hash)
                    .execute(&mut *c)
                    .await?;
                sqlx::query("delete from token where hash = ?").bind(&hash).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }

    async fn token_use(&self, hash: &[u8], expected: i64) -> StoreResult<()> {
        self.exec(
            // The last use leaves -1 ("used up"), never 0, which would mean unlimited.
            "update token set num_uses = case when num_uses = 1 then -1 else num_uses - 1 end \
             where hash = ? and num_uses = ?",
            vec![Arg::Blob(hash.to_vec()), Arg::Int(expected)],
            true,
        )
        .await
    }

    async fn token_renew(&self, hash: &[u8], ttl: i64, expire_time: Option<i64>) -> StoreResult<()> {
        self.exec(
            "update token set ttl = ?, expire_time = ? where hash = ?",
            vec![Arg::Int(ttl), Arg::OptInt(expire_time), Arg::Blob(hash.to_vec())],
            true,
        )
        .await
    }

    async fn token_expired(&self, now: i64, limit: i64) -> StoreResult<Vec<Vec<u8>>> {
        Ok(sqlx::query_scalar("select hash from token where expire_time is not null and expire_time <= ? limit ?")
            .bind(now)
            .bind(limit)
            .fetch_all(&self.read)
            .await?)
    }

    async fn entry_get(&self, kind: &str, name: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar("select value from entry where kind = ? and name = ?")
            .bind(kind)
            .bind(name)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn entry_put(&self, kind: &str, name: &str, value: &str) -> StoreResult<()> {
        self.exec(
            "insert into entry (kind, name, value) values (?, ?, ?) \
             on conflict (kind, name) do update set value = excluded.value",
            vec![Arg::Text(kind.into()), Arg::Text(name.into()), Arg::Text(value.into())],
            false,
        )
        .await
    }

    async fn entry_delete(&self, kind: &str, name: &str) -> StoreResult<()> {
        self.exec(
            "delete from entry where kind = ? and name = ?",
            vec![Arg::Text(kind.into()), Arg::Text(name.into())],
            false,
        )
        .await
    }

    async fn entry_delete_kind(&self, kind: &str) -> StoreResult<()> {
        self.exec("delete from entry where kind = ?", vec![Arg::Text(kind.into())], false).await
    }

    async fn entry_list(&self, kind: &str, prefix: &str) -> StoreResult<Vec<String>> {
        let (sql, upper) = prefix_range("select name from entry where kind = ? and name >= ?", "name", prefix);
        Ok(sqlx::query_scalar(&sql).bind(kind).bind(prefix).bind(upper).fetch_all(&self.read).await?)
    }

    async fn kv_config_get(&self, mount_id: &str) -> StoreResult<KvConfigRow> {
        Ok(sqlx::query_as("select max_versions, cas_required, delete_version_after from kv_config where mount_id = ?")
            .bind(mount_id)
            .fetch_optional(&self.read)
            .await?
            .unwrap_or_default())
    }

    async fn kv_config_put(&self, mount_id: &str, cfg: &KvConfigRow) -> StoreResult<()> {
        let (mount_id, cfg) = (mount_id.to_string(), cfg.clone());
        self.write(move |c| {
            Box::pin(async move {
                sqlx::query(
                    "insert into kv_config (mount_id, max_versions, cas_required, delete_version_after) \
                     values (?,?,?,?) on conflict (mount_id) do update set \
                     max_versions = excluded.max_versions, cas_required = excluded.cas_required, \
                     delete_version_after = excluded.delete_version_after",
                )
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
        #[derive(sqlx::FromRow)]
        struct Joined {
            #[sqlx(flatten)]
            meta: KvMetadataRow,
            v_version: Option<i64>,
            v_created_time: Option<String>,
            v_deletion_time: Option<String>,
            v_destroyed: Option<bool>,
            v_key_term: Option<i64>,
            v_ciphertext: Option<Vec<u8>>,
        }
        // One indexed query: the metadata row joined to the wanted version by primary key.
        let row: Option<Joined> = sqlx::query_as(
            "select m.*, v.version as v_version, v.created_time as v_created_time, \
             v.deletion_time as v_deletion_time, v.destroyed as v_destroyed, \
             v.key_term as v_key_term, v.ciphertext as v_ciphertext \
             from kv_metadata m left join kv_version v on v.mount_id = m.mount_id \
             and v.path = m.path and v.version = coalesce(?, (select s.version from kv_stage s where s.mount_id = m.mount_id \
             and s.path = m.path and s.stage = 'current'), m.current_version) \
             where m.mount_id = ? and m.path = ?",
        )
        .bind(version)
        .bind(mount_id)
        .bind(path)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|j| {
            let v = match (j.v_version, j.v_created_time) {
                (Some(version), Some(created_time)) => Some(KvVersionRow {
                    version,
                    created_time,
                    deletion_time: j.v_deletion_time,
                    destroyed: j.v_destroyed.unwrap_or(false),
                    key_term: j.v_key_term,
                    ciphertext: j.v_ciphertext,
                }),
                _ => None,
            };
            (j.meta, v)
        }))
    }

    async fn kv_metadata_get(&self, mount_id: &str, path: &str) -> StoreResult<Option<KvMetadataRow>> {
        Ok(sqlx::query_as("select * from kv_metadata where mount_id = ? and path = ?")
            .bind(mount_id)
            .bind(path)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn kv_metadata_with_versions(
        &self,
        mount_id: &str,
        path: &str,
    ) -> StoreResult<Option<(KvMetadataRow, Vec<KvVersionRow>)>> {
        let Some(meta) = self.kv_metadata_get(mount_id, path).await? else {
            return Ok(None);
        };
        let versions = sqlx::query_as(
            "select version, created_time, deletion_time, destroyed, key_term, null as ciphertext \
             from kv_version where mount_id = ? and path = ? order by version",
        )
        .bind(mount_id)
        .bind(path)
        .fetch_all(&self.read)
        .await?;
        Ok(Some((meta, versions)))
    }

    async fn kv_write(&self, w: &KvWrite<'_>) -> StoreResult<WriteOutcome> {
        let (mount_id, path, expected, max) =
            (w.mount_id.to_string(), w.path.to_string(), w.expected_current, w.max_versions);
        let r = w.row.clone();
        let owned_stages = w.stages.to_vec();
        let owned_token = w.token.map(|(t, d)| (t.to_string(), d.to_vec()));
        // What the job decided, when it is not a plain success (a refused job rolls back).
        let decided = Arc::new(std::sync::Mutex::new(None::<WriteOutcome>));
        let decided_in = decided.clone();
        let written = self
            .write(move |c| {
                Box::pin(async move {
                    let w = KvWrite {
                        mount_id: &mount_id,
                        path: &path,
                        expected_current: expected,
                        row: &r,
                        max_versions: max,
                        stages: &owned_stages,
                        token: owned_token.as_ref().map(|(t, d)| (t.as_str(), d.as_slice())),
                    };
                    let decide = |o: WriteOutcome| {
                        if let Ok(mut d) = decided_in.lock() {
                            *d = Some(o);
                        }
                    };
                    if let Some(done) = stages::check_token(&mut SqliteLabels(&mut *c), &w).await? {
                        decide(done);
                        return Err(StoreError::Backend("refused".into()));
                    }
                    let updated = sqlx::query(
                        "update kv_metadata set current_version = ?, updated_time = ? \
                     where mount_id = ? and path = ? and current_version = ?",
                    )
                    .bind(r.version)
                    .bind(&r.created_time)
                    .bind(&mount_id)
                    .bind(&path)
                    .bind(expected)
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
                    if updated == 0 {
                        if expected != 0 {
                            return Err(StoreError::Conflict);
                        }
                        // A unique violation here (someone created the key meanwhile) maps to Conflict.
                        sqlx::query(
                            "insert into kv_metadata (mount_id, path, created_time, updated_time, current_version) \
                         values (?,?,?,?,?)",
                        )
                        .bind(&mount_id)
                        .bind(&path)
                        .bind(&r.created_time)
                        .bind(&r.created_time)
                        .bind(r.version)
                        .execute(&mut *c)
                        .await?;
                    }
                    sqlx::query(&format!(
                        "insert into kv_version (mount_id, path, {VERSION_COLS}) values (?,?,?,?,?,?,?,?)"
                    ))
                    .bind(&mount_id)
                    .bind(&path)
                    .bind(r.version)
                    .bind(&r.created_time)
                    .bind(&r.deletion_time)
                    .bind(r.destroyed)
                    .bind(r.key_term)
                    .bind(&r.ciphertext)
                    .execute(&mut *c)
                    .await?;
                    match stages::label_written(&mut SqliteLabels(&mut *c), &w).await? {
                        Ok(abandoned) => decide(WriteOutcome::Written { abandoned }),
                        Err(refused) => {
                            decide(refused);
                            return Err(StoreError::Backend("refused".into()));
                        }
                    }
                    let keep_from = r.version - max + 1;
                    if keep_from > 1 {
                        // Versions with a label other than `previous` stay (ROTATION.md rule 5).
                        let pruned = sqlx::query(
                            "delete from kv_version where mount_id = ?1 and path = ?2 and version < ?3 and version \
                         not in (select version from kv_stage where mount_id = ?1 and path = ?2 \
                         and stage <> 'previous')",
                        )
                        .bind(&mount_id)
                        .bind(&path)
                        .bind(keep_from)
                        .execute(&mut *c)
                        .await?
                        .rows_affected();
                        if pruned > 0 {
                            sqlx::query(
                                "update kv_metadata set oldest_version = (select coalesce(min(version), ?1) \
                             from kv_version where mount_id = ?2 and path = ?3) where mount_id = ?2 and path = ?3",
                            )
                            .bind(keep_from)
                            .bind(&mount_id)
                            .bind(&path)
                            .execute(&mut *c)
                            .await?;
                            sqlx::query(
                                "delete from kv_stage where mount_id = ?1 and path = ?2 and version not in \
                             (select version from kv_version where mount_id = ?1 and path = ?2)",
                            )
                            .bind(&mount_id)
                            .bind(&path)
                            .execute(&mut *c)
                            .await?;
                        }
                    }
                    Ok(())
                })
            })
            .await;
        let decided = decided.lock().ok().and_then(|mut d| d.take());
        match (written, decided) {
            (Ok(()), Some(o)) => Ok(o),
            (Ok(()), None) => Ok(WriteOutcome::Written { abandoned: false }),
            (Err(_), Some(o)) if !matches!(o, WriteOutcome::Written { .. }) => Ok(o),
            (Err(e), _) => Err(e),
        }
    }

    async fn kv_stages(&self, mount_id: &str, path: &str) -> StoreResult<Vec<(String, i64)>> {
        Ok(sqlx::query_as("select stage, version from kv_stage where mount_id = ? and path = ? order by stage")
            .bind(mount_id)
            .bind(path)
            .fetch_all(&self.read)
            .await?)
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
                sqlx::query(
                    "insert into kv_metadata (mount_id, path, max_versions, cas_required, \
                     delete_version_after, custom_metadata, created_time, updated_time, current_version, \
                     oldest_version) values (?,?,?,?,?,?,?,?,?,?) on conflict (mount_id, path) do update set \
                     max_versions = excluded.max_versions, cas_required = excluded.cas_required, \
                     delete_version_after = excluded.delete_version_after, \
                     custom_metadata = excluded.custom_metadata, updated_time = excluded.updated_time",
                )
                .bind(&m.mount_id)
                .bind(&m.path)
                .bind(m.max_versions)
                .bind(m.cas_required)
                .bind(m.delete_version_after)
                .bind(&m.custom_metadata)
                .bind(&m.created_time)
                .bind(&m.updated_time)
                .bind(m.current_version)
                .bind(m.oldest_version)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn kv_set_deletion(&self, mount_id: &str, path: &str, versions: &[i64], at: Option<&str>) -> StoreResult<()> {
        if versions.is_empty() {
            return Ok(());
        }
        let (mount_id, path, versions, at) =
            (mount_id.to_string(), path.to_string(), versions.to_vec(), at.map(str::to_string));
        self.write(move |c| {
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

    async fn kv_destroy(&self, mount_id: &str, path: &str, versions: &[i64]) -> StoreResult<()> {
        if versions.is_empty() {
            return Ok(());
        }
        let (mount_id, path, versions) = (mount_id.to_string(), path.to_string(), versions.to_vec());
        self.write(move |c| {
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

    async fn kv_delete_all(&self, mount_id: &str, path: &str) -> StoreResult<()> {
        let (mount_id, path) = (mount_id.to_string(), path.to_string());
        self.write(move |c| {
            Box::pin(async move {
                for table in ["kv_version", "kv_metadata", "kv_stage", "kv_request_token"] {
                    sqlx::query(&format!("delete from {table} where mount_id = ? and path = ?"))
                        .bind(&mount_id)
                        .bind(&path)
                        .execute(&mut *c)
                        .await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn kv_list(&self, mount_id: &str, prefix: &str) -> StoreResult<Vec<String>> {
        // A range on the primary key instead of LIKE: no wildcard escaping, index-only scan.
        let (sql, upper) =
            prefix_range("select path from kv_metadata where mount_id = ? and path >= ?", "path", prefix);
        Ok(sqlx::query_scalar(&sql).bind(mount_id).bind(prefix).bind(upper).fetch_all(&self.read).await?)
    }

    async fn kv_versions_below_term(&self, term: i64, limit: i64) -> StoreResult<Vec<(String, String, KvVersionRow)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            mount_id: String,
            path: String,
            #[sqlx(flatten)]
            v: KvVersionRow,
        }
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "select mount_id, path, {VERSION_COLS} from kv_version where key_term < ? limit ?"
        ))
        .bind(term)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(|r| (r.mount_id, r.path, r.v)).collect())
    }

    async fn kv_rewrap(
        &self,
        mount_id: &str,
        path: &str,
        version: i64,
        old_term: i64,
        new_term: i64,
        ciphertext: &[u8],
    ) -> StoreResult<()> {
        let (mount_id, path, ciphertext) = (mount_id.to_string(), path.to_string(), ciphertext.to_vec());
        self.write(move |c| {
            Box::pin(async move {
                sqlx::query(
                    "update kv_version set ciphertext = ?, key_term = ? where mount_id = ? and path = ? \
                     and version = ? and key_term = ?",
                )
                .bind(&ciphertext)
                .bind(new_term)
                .bind(&mount_id)
                .bind(&path)
                .bind(version)
                .bind(old_term)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn lease_acquire(&self, node: &str, now_ms: i64, ttl_ms: i64) -> StoreResult<Option<i64>> {
        self.exec(
            "insert into leader (name, holder, epoch, expires_at) values (?, ?, 1, ?) \
             on conflict (name) do update set \
             epoch = case when leader.holder = excluded.holder then leader.epoch else leader.epoch + 1 end, \
             holder = excluded.holder, expires_at = excluded.expires_at \
             where leader.holder = excluded.holder or leader.expires_at <= ?",
            vec![Arg::Text(LEASE_NAME.into()), Arg::Text(node.into()), Arg::Int(now_ms + ttl_ms), Arg::Int(now_ms)],
            false,
        )
        .await?;
        Ok(self.lease_get().await?.filter(|l| l.holder == node).map(|l| l.epoch))
    }

    async fn lease_get(&self) -> StoreResult<Option<LeaseRow>> {
        Ok(sqlx::query_as("select holder, epoch, expires_at from leader where name = ?")
            .bind(LEASE_NAME)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn lease_release(&self, node: &str) -> StoreResult<()> {
        self.exec(
            "update leader set expires_at = 0 where name = ? and holder = ?",
            vec![Arg::Text(LEASE_NAME.into()), Arg::Text(node.into())],
            false,
        )
        .await
    }

    async fn node_seen(&self, node: &NodeRow) -> StoreResult<()> {
        self.exec(
            "insert into node (id, name, address, last_seen) values (?, ?, ?, ?) \
             on conflict (id) do update set name = excluded.name, address = excluded.address, \
             last_seen = excluded.last_seen",
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
        self.exec("delete from node where id = ?", vec![Arg::Text(node.into())], false).await
    }

    async fn node_list(&self) -> StoreResult<Vec<NodeRow>> {
        Ok(sqlx::query_as("select id, name, address, last_seen from node order by last_seen desc")
            .fetch_all(&self.read)
            .await?)
    }

    async fn system_swap(&self, key: &str, expected: &[u8], value: &[u8]) -> StoreResult<()> {
        self.exec(
            "update system_entry set value = ? where key = ? and value = ?",
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
                sqlx::query(TOKEN_TREE_DELETE).bind(&hash).execute(&mut *c).await?;
                Ok(())
            })
        })
        .await
    }
}
