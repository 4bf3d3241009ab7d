//! The embedded SQLite store: WAL, `synchronous=FULL`, one writer connection, a pool of readers.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::*;

/// SQLite implementation of [`Store`].
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
}

const VERSION_COLS: &str = "version, created_time, deletion_time, destroyed, key_term, ciphertext";

fn url_to_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
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
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "database file is readable by group or others");
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `url`.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let base = SqliteConnectOptions::from_str("sqlite::memory:")?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .statement_cache_capacity(256);
        let (read, write) = match url_to_path(url) {
            None => {
                // Each connection to :memory: is its own database: one connection serves all.
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(base)
                    .await?;
                (pool.clone(), pool)
            }
            Some(path) => {
                prepare_file(&path)?;
                let opts = base.filename(&path).create_if_missing(true);
                let write = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(opts.clone())
                    .await?;
                sqlx::migrate!("migrations/sqlite")
                    .run(&write)
                    .await
                    .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
                let read = SqlitePoolOptions::new()
                    .max_connections(8)
                    .min_connections(2)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(opts.read_only(true))
                    .await?;
                return Ok(Self { read, write });
            }
        };
        sqlx::migrate!("migrations/sqlite")
            .run(&write)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        Ok(Self { read, write })
    }
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
    async fn system_get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("select value from system_entry where key = ?")
                .bind(key)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    async fn system_put(&self, entries: &[(&str, &[u8])]) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        for (k, v) in entries {
            sqlx::query(
                "insert into system_entry (key, value) values (?, ?) \
                         on conflict (key) do update set value = excluded.value",
            )
            .bind(*k)
            .bind(*v)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn mount_list(&self) -> StoreResult<Vec<MountRow>> {
        Ok(sqlx::query_as("select * from mount order by path")
            .fetch_all(&self.read)
            .await?)
    }

    async fn mount_insert(&self, m: &MountRow) -> StoreResult<()> {
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
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn mount_update(&self, m: &MountRow) -> StoreResult<()> {
        sqlx::query("update mount set description = ?, config = ?, options = ? where id = ?")
            .bind(&m.description)
            .bind(&m.config)
            .bind(&m.options)
            .bind(&m.id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn mount_delete(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("delete from kv_version where mount_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("delete from kv_metadata where mount_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("delete from kv_config where mount_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("delete from mount where id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn token_get(&self, hash: &[u8]) -> StoreResult<Option<TokenRow>> {
        Ok(sqlx::query_as("select * from token where hash = ?")
            .bind(hash)
            .fetch_optional(&self.read)
            .await?)
    }

    async fn token_put(&self, t: &TokenRow) -> StoreResult<()> {
        sqlx::query("insert or replace into token (hash, accessor, parent_hash, policies, meta, \
                     display_name, path, token_type, creation_time, ttl, explicit_max_ttl, period, \
                     num_uses, expire_time, renewable, orphan) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
            .bind(&t.hash).bind(&t.accessor).bind(&t.parent_hash).bind(&t.policies).bind(&t.meta)
            .bind(&t.display_name).bind(&t.path).bind(&t.token_type).bind(t.creation_time)
            .bind(t.ttl).bind(t.explicit_max_ttl).bind(t.period).bind(t.num_uses)
            .bind(t.expire_time).bind(t.renewable).bind(t.orphan)
            .execute(&self.write).await?;
        Ok(())
    }

    async fn token_delete(&self, hash: &[u8]) -> StoreResult<()> {
        sqlx::query("delete from token where hash = ?")
            .bind(hash)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn kv_config_get(&self, mount_id: &str) -> StoreResult<KvConfigRow> {
        Ok(sqlx::query_as(
            "select max_versions, cas_required, delete_version_after from kv_config \
                           where mount_id = ?",
        )
        .bind(mount_id)
        .fetch_optional(&self.read)
        .await?
        .unwrap_or_default())
    }

    async fn kv_config_put(&self, mount_id: &str, c: &KvConfigRow) -> StoreResult<()> {
        sqlx::query(
            "insert into kv_config (mount_id, max_versions, cas_required, delete_version_after) \
                     values (?,?,?,?) on conflict (mount_id) do update set \
                     max_versions = excluded.max_versions, cas_required = excluded.cas_required, \
                     delete_version_after = excluded.delete_version_after",
        )
        .bind(mount_id)
        .bind(c.max_versions)
        .bind(c.cas_required)
        .bind(c.delete_version_after)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn kv_read(
        &self,
        mount_id: &str,
        path: &str,
        version: Option<i64>,
    ) -> StoreResult<Option<KvRead>> {
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
             and v.path = m.path and v.version = coalesce(?, m.current_version) \
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

    async fn kv_metadata_get(
        &self,
        mount_id: &str,
        path: &str,
    ) -> StoreResult<Option<KvMetadataRow>> {
        Ok(
            sqlx::query_as("select * from kv_metadata where mount_id = ? and path = ?")
                .bind(mount_id)
                .bind(path)
                .fetch_optional(&self.read)
                .await?,
        )
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

    async fn kv_write(&self, w: &KvWrite<'_>) -> StoreResult<()> {
        let r = w.row;
        let mut tx = self.write.begin().await?;
        let updated = sqlx::query(
            "update kv_metadata set current_version = ?, updated_time = ? \
                                   where mount_id = ? and path = ? and current_version = ?",
        )
        .bind(r.version)
        .bind(&r.created_time)
        .bind(w.mount_id)
        .bind(w.path)
        .bind(w.expected_current)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            if w.expected_current != 0 {
                return Err(StoreError::Conflict);
            }
            // A unique violation here (someone created the key meanwhile) maps to Conflict.
            sqlx::query(
                "insert into kv_metadata (mount_id, path, created_time, updated_time, \
                         current_version) values (?,?,?,?,?)",
            )
            .bind(w.mount_id)
            .bind(w.path)
            .bind(&r.created_time)
            .bind(&r.created_time)
            .bind(r.version)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(&format!(
            "insert into kv_version (mount_id, path, {VERSION_COLS}) values (?,?,?,?,?,?,?,?)"
        ))
        .bind(w.mount_id)
        .bind(w.path)
        .bind(r.version)
        .bind(&r.created_time)
        .bind(&r.deletion_time)
        .bind(r.destroyed)
        .bind(r.key_term)
        .bind(&r.ciphertext)
        .execute(&mut *tx)
        .await?;
        let keep_from = r.version - w.max_versions + 1;
        if keep_from > 1 {
            let pruned = sqlx::query(
                "delete from kv_version where mount_id = ? and path = ? and version < ?",
            )
            .bind(w.mount_id)
            .bind(w.path)
            .bind(keep_from)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if pruned > 0 {
                sqlx::query(
                    "update kv_metadata set oldest_version = ? where mount_id = ? and path = ?",
                )
                .bind(keep_from)
                .bind(w.mount_id)
                .bind(w.path)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn kv_metadata_put(&self, m: &KvMetadataRow) -> StoreResult<()> {
        sqlx::query("insert into kv_metadata (mount_id, path, max_versions, cas_required, \
                     delete_version_after, custom_metadata, created_time, updated_time, current_version, \
                     oldest_version) values (?,?,?,?,?,?,?,?,?,?) on conflict (mount_id, path) do update set \
                     max_versions = excluded.max_versions, cas_required = excluded.cas_required, \
                     delete_version_after = excluded.delete_version_after, \
                     custom_metadata = excluded.custom_metadata, updated_time = excluded.updated_time")
            .bind(&m.mount_id).bind(&m.path).bind(m.max_versions).bind(m.cas_required)
            .bind(m.delete_version_after).bind(&m.custom_metadata).bind(&m.created_time)
            .bind(&m.updated_time).bind(m.current_version).bind(m.oldest_version)
            .execute(&self.write).await?;
        Ok(())
    }

    async fn kv_set_deletion(
        &self,
        mount_id: &str,
        path: &str,
        versions: &[i64],
        at: Option<&str>,
    ) -> StoreResult<()> {
        if versions.is_empty() {
            return Ok(());
        }
        let mut qb = QueryBuilder::<Sqlite>::new("update kv_version set deletion_time = ");
        qb.push_bind(at)
            .push(" where destroyed = 0 and mount_id = ")
            .push_bind(mount_id)
            .push(" and path = ")
            .push_bind(path);
        push_versions(&mut qb, versions);
        qb.build().execute(&self.write).await?;
        Ok(())
    }

    async fn kv_destroy(&self, mount_id: &str, path: &str, versions: &[i64]) -> StoreResult<()> {
        if versions.is_empty() {
            return Ok(());
        }
        let mut qb = QueryBuilder::<Sqlite>::new(
            "update kv_version set destroyed = 1, ciphertext = null, key_term = null where mount_id = ");
        qb.push_bind(mount_id).push(" and path = ").push_bind(path);
        push_versions(&mut qb, versions);
        qb.build().execute(&self.write).await?;
        Ok(())
    }

    async fn kv_delete_all(&self, mount_id: &str, path: &str) -> StoreResult<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("delete from kv_version where mount_id = ? and path = ?")
            .bind(mount_id)
            .bind(path)
            .execute(&mut *tx)
            .await?;
        sqlx::query("delete from kv_metadata where mount_id = ? and path = ?")
            .bind(mount_id)
            .bind(path)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn kv_list(&self, mount_id: &str, prefix: &str) -> StoreResult<Vec<String>> {
        // A range on the primary key instead of LIKE: no wildcard escaping, index-only scan.
        let upper = format!("{prefix}{}", char::MAX);
        Ok(sqlx::query_scalar(
            "select path from kv_metadata where mount_id = ? and path >= ? \
                               and path < ? order by path",
        )
        .bind(mount_id)
        .bind(prefix)
        .bind(upper)
        .fetch_all(&self.read)
        .await?)
    }

    async fn kv_versions_below_term(
        &self,
        term: i64,
        limit: i64,
    ) -> StoreResult<Vec<(String, String, KvVersionRow)>> {
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
        Ok(rows
            .into_iter()
            .map(|r| (r.mount_id, r.path, r.v))
            .collect())
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
        sqlx::query(
            "update kv_version set ciphertext = ?, key_term = ? where mount_id = ? and path = ? \
                     and version = ? and key_term = ?",
        )
        .bind(ciphertext)
        .bind(new_term)
        .bind(mount_id)
        .bind(path)
        .bind(version)
        .bind(old_term)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}
