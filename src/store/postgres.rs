//! The PostgreSQL store: a connection pool, one transaction per multi-statement operation, and
//! conditional `update … where` statements for every compare-and-set, so several Coffer processes
//! can share one database.

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};

use super::*;
use labels::PgLabels;

mod labels;
mod leases;
mod rotation;

/// A token and all its descendants, by parent links.
const TOKEN_TREE: &str = "with recursive tree(h) as (select hash from token where hash = $1 \
     union select t.hash from token t join tree on t.parent_hash = tree.h) select h from tree";

/// Deletes a token and all its descendants.
const TOKEN_TREE_DELETE: &str = "delete from token where hash in (with recursive tree(h) as (select hash from \
     token where hash = $1 union select t.hash from token t join tree on t.parent_hash = tree.h) select h from tree)";

const VERSION_COLS: &str = "version, created_time, deletion_time, destroyed, key_term, ciphertext";

/// SQLSTATEs that mean the server is gone or refusing work (not a fault of the statement):
/// admin/crash shutdown, starting up, too many connections.
const UNAVAILABLE_STATES: [&str; 4] = ["57P01", "57P02", "57P03", "53300"];

/// SQLSTATE `disk_full`.
const DISK_FULL: &str = "53100";

/// PostgreSQL implementation of [`Store`].
pub struct PgStore {
    pool: PgPool,
}

/// Maps a driver error: a unique violation is a lost conditional write, a lost or refused
/// connection is reported as the database being unavailable, anything else is a fault.
fn pg_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict,
        sqlx::Error::Database(d) => {
            let code = d.code().unwrap_or_default();
            if code.starts_with("08") || UNAVAILABLE_STATES.contains(&code.as_ref()) {
                StoreError::Unavailable(d.message().to_string())
            } else if code == DISK_FULL {
                StoreError::Full(d.message().to_string())
            } else {
                StoreError::Backend(e.to_string())
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

/// `.pg()` turns a driver result into a [`StoreResult`] through [`pg_error`].
trait PgResultExt<T> {
    fn pg(self) -> StoreResult<T>;
}

impl<T> PgResultExt<T> for Result<T, sqlx::Error> {
    fn pg(self) -> StoreResult<T> {
        self.map_err(pg_error)
    }
}

/// PostgreSQL `text` cannot hold NUL: refuse such a value up front with a clear error.
fn no_nul(values: &[&str]) -> StoreResult<()> {
    if values.iter().any(|v| v.contains('\0')) {
        return Err(StoreError::Backend("a text value contains a NUL character, which PostgreSQL cannot store".into()));
    }
    Ok(())
}

/// No affected row means the condition of a conditional write did not hold.
fn must_change(rows: u64) -> StoreResult<()> {
    if rows == 0 {
        Err(StoreError::Conflict)
    } else {
        Ok(())
    }
}

/// SQLite reads a negative `LIMIT` as "no limit"; PostgreSQL rejects it, and reads `NULL` so.
fn limit(n: i64) -> Option<i64> {
    (n >= 0).then_some(n)
}

/// The least string greater than every string that starts with `prefix`, in code point order;
/// `None` when there is none (empty prefix, or only U+10FFFF). With the "C" collation,
/// `prefix <= s < upper` is exactly "`s` starts with `prefix`": no wildcard to escape, and an
/// index range scan.
pub(super) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Key names of one scope (`scope_col = $1`) that start with `$2`, sorted.
fn prefix_query(table: &str, scope_col: &str, name_col: &str, bounded: bool) -> String {
    let range =
        if bounded { format!("{name_col} >= $2 and {name_col} < $3") } else { format!("starts_with({name_col}, $2)") };
    format!("select {name_col} from {table} where {scope_col} = $1 and {range} order by {name_col}")
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://` or `postgresql://`; `sslmode` and the
    /// other libpq-style parameters sqlx understands apply) and runs the migrations.
    pub async fn open(url: &str, settings: &Pool) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .idle_timeout(Some(settings.idle_timeout))
            .connect(url)
            .await
            .pg()?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }

    /// Closes every connection of the pool; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.pg()
    }

    /// Runs one statement with a single bytea argument.
    async fn exec_hash(&self, sql: &str, hash: &[u8]) -> StoreResult<u64> {
        Ok(sqlx::query(sql).bind(hash).execute(&self.pool).await.pg()?.rows_affected())
    }

    /// Names under `prefix` within one scope (`kind` or mount id), sorted.
    async fn list_prefix(
        &self,
        table: &str,
        scope_col: &str,
        name_col: &str,
        scope: &str,
        prefix: &str,
    ) -> StoreResult<Vec<String>> {
        no_nul(&[scope, prefix])?;
        let upper = prefix_upper_bound(prefix);
        let sql = prefix_query(table, scope_col, name_col, upper.is_some());
        let mut q = sqlx::query_scalar(&sql).bind(scope).bind(prefix);
        if let Some(upper) = upper {
            q = q.bind(upper);
        }
        q.fetch_all(&self.pool).await.pg()
    }
}

fn check_mount(m: &MountRow) -> StoreResult<()> {
    no_nul(&[&m.id, &m.table_name, &m.path, &m.kind, &m.description, &m.accessor, &m.config, &m.options, &m.created_at])
}

fn check_token(t: &TokenRow) -> StoreResult<()> {
    no_nul(&[&t.accessor, &t.policies, &t.meta, &t.display_name, &t.path, &t.token_type, &t.bound_cidrs, &t.identity])
}

fn check_metadata(m: &KvMetadataRow) -> StoreResult<()> {
    no_nul(&[&m.mount_id, &m.path, m.custom_metadata.as_deref().unwrap_or(""), &m.created_time, &m.updated_time])
}

fn check_version(v: &KvVersionRow) -> StoreResult<()> {
    no_nul(&[&v.created_time, v.deletion_time.as_deref().unwrap_or("")])
}

/// `kv_read`'s row: the metadata and the columns of the joined version (all null if none).
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

impl Joined {
    fn split(self) -> KvRead {
        let v = match (self.v_version, self.v_created_time) {
            (Some(version), Some(created_time)) => Some(KvVersionRow {
                version,
                created_time,
                deletion_time: self.v_deletion_time,
                destroyed: self.v_destroyed.unwrap_or(false),
                key_term: self.v_key_term,
                ciphertext: self.v_ciphertext,
            }),
            _ => None,
        };
        (self.meta, v)
    }
}

/// Takes the key from `expected` to the new version: updates the metadata row, or creates it
/// when the key is new. `Conflict` if another writer got there first.
/// `Conflict` unless `fence` (when given) still holds the singleton lease. `FOR SHARE` on the
/// lease row makes a takeover wait until this transaction ends: every fenced write calls this
/// first, in its own transaction.
pub(super) async fn check_fence(tx: &mut Transaction<'static, Postgres>, fence: Option<&Fence>) -> StoreResult<()> {
    let Some(f) = fence else { return Ok(()) };
    no_nul(&[&f.node])?;
    let held: Option<i64> =
        sqlx::query_scalar("select epoch from leader where name = $1 and holder = $2 and epoch = $3 for share")
            .bind(LEASE_NAME)
            .bind(&f.node)
            .bind(f.epoch)
            .fetch_optional(&mut **tx)
            .await
            .pg()?;
    if held.is_none() {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

async fn kv_advance(tx: &mut Transaction<'static, Postgres>, w: &KvWrite<'_>) -> StoreResult<()> {
    let updated = sqlx::query(
        "update kv_metadata set current_version = $1, updated_time = $2 \
         where mount_id = $3 and path = $4 and current_version = $5",
    )
    .bind(w.row.version)
    .bind(&w.row.created_time)
    .bind(w.mount_id)
    .bind(w.path)
    .bind(w.expected_current)
    .execute(&mut **tx)
    .await
    .pg()?
    .rows_affected();
    if updated > 0 {
        return Ok(());
    }
    if w.expected_current != 0 {
        return Err(StoreError::Conflict);
    }
    // A unique violation here (someone created the key meanwhile) maps to Conflict.
    sqlx::query(
        "insert into kv_metadata (mount_id, path, created_time, updated_time, current_version) \
         values ($1, $2, $3, $3, $4)",
    )
    .bind(w.mount_id)
    .bind(w.path)
    .bind(&w.row.created_time)
    .bind(w.row.version)
    .execute(&mut **tx)
    .await
    .pg()?;
    Ok(())
}

/// Drops the versions older than the last `max_versions` and records the new oldest version.
async fn kv_prune(tx: &mut Transaction<'static, Postgres>, w: &KvWrite<'_>) -> StoreResult<()> {
    let keep_from = w.row.version - w.max_versions + 1;
    if keep_from <= 1 {
        return Ok(());
    }
    // Versions with a label other than `previous` stay (ROTATION.md rule 5).
    let pruned = sqlx::query(
        "delete from kv_version where mount_id = $1 and path = $2 and version < $3 and version not in \
         (select version from kv_stage where mount_id = $1 and path = $2 and stage <> 'previous')",
    )
    .bind(w.mount_id)
    .bind(w.path)
    .bind(keep_from)
    .execute(&mut **tx)
    .await
    .pg()?
    .rows_affected();
    if pruned > 0 {
        sqlx::query(
            "update kv_metadata set oldest_version = (select coalesce(min(version), $1) from kv_version \
             where mount_id = $2 and path = $3) where mount_id = $2 and path = $3",
        )
        .bind(keep_from)
        .bind(w.mount_id)
        .bind(w.path)
        .execute(&mut **tx)
        .await
        .pg()?;
        sqlx::query(
            "delete from kv_stage where mount_id = $1 and path = $2 and version not in \
             (select version from kv_version where mount_id = $1 and path = $2)",
        )
        .bind(w.mount_id)
        .bind(w.path)
        .execute(&mut **tx)
        .await
        .pg()?;
    }
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    fn storage_type(&self) -> &'static str {
        "postgresql"
    }

    // ---- Whole-store copy, for `coffer operator migrate` (src/migrate.rs, src/store/copy.rs) ----
    async fn dump_tables(&self) -> StoreResult<Vec<copy::TableRows>> {
        // One repeatable-read transaction: every table from the same snapshot.
        let mut tx = self.begin().await?;
        sqlx::query("set transaction isolation level repeatable read, read only").execute(&mut *tx).await.pg()?;
        let tables = copy::pg_dump(&mut tx).await?;
        tx.commit().await.pg()?;
        Ok(tables)
    }

    async fn load_tables(&self, tables: Vec<copy::TableRows>) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        copy::pg_load(&mut tx, tables).await?;
        tx.commit().await.pg()
    }

    async fn count_rows(&self) -> StoreResult<Vec<(String, u64)>> {
        let mut conn = self.pool.acquire().await.pg()?;
        copy::pg_counts(&mut conn).await
    }
    // ---- end of whole-store copy ----

    fn bus(&self) -> Option<Arc<dyn crate::store::bus::Bus>> {
        Some(Arc::new(crate::store::bus::pg::PgBus::new(self.pool.clone())))
    }

    async fn system_get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        no_nul(&[key])?;
        sqlx::query_scalar("select value from system_entry where key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .pg()
    }

    async fn system_put(&self, entries: &[(&str, &[u8])]) -> StoreResult<()> {
        no_nul(&entries.iter().map(|(k, _)| *k).collect::<Vec<_>>())?;
        let mut tx = self.begin().await?;
        for (k, v) in entries {
            sqlx::query(
                "insert into system_entry (key, value) values ($1, $2) \
                 on conflict (key) do update set value = excluded.value",
            )
            .bind(*k)
            .bind(*v)
            .execute(&mut *tx)
            .await
            .pg()?;
        }
        tx.commit().await.pg()
    }

    async fn mount_list(&self) -> StoreResult<Vec<MountRow>> {
        sqlx::query_as("select * from mount order by path").fetch_all(&self.pool).await.pg()
    }

    async fn mount_insert(&self, m: &MountRow) -> StoreResult<()> {
        check_mount(m)?;
        sqlx::query(
            "insert into mount (id, table_name, path, kind, description, accessor, config, \
             options, local, seal_wrap, created_at) values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
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
        .execute(&self.pool)
        .await
        .pg()?;
        Ok(())
    }

    async fn mount_update(&self, m: &MountRow) -> StoreResult<()> {
        check_mount(m)?;
        sqlx::query("update mount set description = $1, config = $2, options = $3 where id = $4")
            .bind(&m.description)
            .bind(&m.config)
            .bind(&m.options)
            .bind(&m.id)
            .execute(&self.pool)
            .await
            .pg()?;
        Ok(())
    }

    async fn mount_delete(&self, id: &str) -> StoreResult<()> {
        no_nul(&[id])?;
        let mut tx = self.begin().await?;
        for sql in [
            "delete from kv_version where mount_id = $1",
            "delete from kv_metadata where mount_id = $1",
            "delete from kv_config where mount_id = $1",
            "delete from kv_stage where mount_id = $1",
            "delete from kv_request_token where mount_id = $1",
            // Auth methods keep their roles, users and secret-id hashes in entries whose kind
            // names the mount id.
            "delete from entry where strpos(kind, $1) > 0",
            "delete from mount where id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await.pg()?;
        }
        tx.commit().await.pg()
    }

    async fn token_get(&self, hash: &[u8]) -> StoreResult<Option<TokenRow>> {
        sqlx::query_as("select * from token where hash = $1").bind(hash).fetch_optional(&self.pool).await.pg()
    }

    async fn token_put(&self, t: &TokenRow) -> StoreResult<()> {
        check_token(t)?;
        let mut tx = self.begin().await?;
        // SQLite's `insert or replace` also drops another token holding the same accessor.
        sqlx::query("delete from token where accessor = $1 and hash <> $2")
            .bind(&t.accessor)
            .bind(&t.hash)
            .execute(&mut *tx)
            .await
            .pg()?;
        sqlx::query(
            "insert into token (hash, accessor, parent_hash, policies, meta, display_name, path, token_type, \
             creation_time, ttl, explicit_max_ttl, period, num_uses, expire_time, renewable, orphan, bound_cidrs, \
             identity, max_ttl) values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19) \
             on conflict (hash) do update set accessor = excluded.accessor, parent_hash = excluded.parent_hash, \
             policies = excluded.policies, meta = excluded.meta, display_name = excluded.display_name, \
             path = excluded.path, token_type = excluded.token_type, creation_time = excluded.creation_time, \
             ttl = excluded.ttl, explicit_max_ttl = excluded.explicit_max_ttl, period = excluded.period, \
             num_uses = excluded.num_uses, expire_time = excluded.expire_time, renewable = excluded.renewable, \
             orphan = excluded.orphan, bound_cidrs = excluded.bound_cidrs, identity = excluded.identity, \
             max_ttl = excluded.max_ttl",
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
        .execute(&mut *tx)
        .await
        .pg()?;
        tx.commit().await.pg()
    }

    async fn token_delete(&self, hash: &[u8]) -> StoreResult<()> {
        self.exec_hash("delete from token where hash = $1", hash).await.map(drop)
    }

    async fn token_by_accessor(&self, accessor: &str) -> StoreResult<Option<TokenRow>> {
        no_nul(&[accessor])?;
        sqlx::query_as("select * from token where accessor = $1").bind(accessor).fetch_optional(&self.pool).await.pg()
    }

    async fn token_accessors(&self) -> StoreResult<Vec<String>> {
        sqlx::query_scalar("select accessor from token order by accessor").fetch_all(&self.pool).await.pg()
    }

    async fn token_tree(&self, hash: &[u8]) -> StoreResult<Vec<Vec<u8>>> {
        sqlx::query_scalar(TOKEN_TREE).bind(hash).fetch_all(&self.pool).await.pg()
    }

    async fn token_delete_tree(&self, hash: &[u8]) -> StoreResult<()> {
        self.exec_hash(TOKEN_TREE_DELETE, hash).await.map(drop)
    }

    async fn token_delete_orphaning(&self, hash: &[u8]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for sql in [
            "update token set parent_hash = null, orphan = true where parent_hash = $1",
            "delete from token where hash = $1",
        ] {
            sqlx::query(sql).bind(hash).execute(&mut *tx).await.pg()?;
        }
        tx.commit().await.pg()
    }

    async fn token_use(&self, hash: &[u8], expected: i64) -> StoreResult<()> {
        // The last use leaves -1 ("used up"), never 0, which would mean unlimited.
        let rows = sqlx::query(
            "update token set num_uses = case when num_uses = 1 then -1 else num_uses - 1 end \
             where hash = $1 and num_uses = $2",
        )
        .bind(hash)
        .bind(expected)
        .execute(&self.pool)
        .await
        .pg()?
        .rows_affected();
        must_change(rows)
    }

    async fn token_renew(&self, hash: &[u8], ttl: i64, expire_time: Option<i64>) -> StoreResult<()> {
        let rows = sqlx::query("update token set ttl = $1, expire_time = $2 where hash = $3")
            .bind(ttl)
            .bind(expire_time)
            .bind(hash)
            .execute(&self.pool)
            .await
            .pg()?
            .rows_affected();
        must_change(rows)
    }

    async fn token_expired(&self, now: i64, limit_n: i64) -> StoreResult<Vec<Vec<u8>>> {
        sqlx::query_scalar("select hash from token where expire_time is not null and expire_time <= $1 limit $2")
            .bind(now)
            .bind(limit(limit_n))
            .fetch_all(&self.pool)
            .await
            .pg()
    }

    async fn entry_get(&self, kind: &str, name: &str) -> StoreResult<Option<String>> {
        no_nul(&[kind, name])?;
        sqlx::query_scalar("select value from entry where kind = $1 and name = $2")
            .bind(kind)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .pg()
    }

    async fn entry_put(&self, kind: &str, name: &str, value: &str) -> StoreResult<()> {
        no_nul(&[kind, name, value])?;
        sqlx::query(
            "insert into entry (kind, name, value) values ($1, $2, $3) \
             on conflict (kind, name) do update set value = excluded.value",
        )
        .bind(kind)
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await
        .pg()?;
        Ok(())
    }

    async fn entry_delete(&self, kind: &str, name: &str) -> StoreResult<()> {
        no_nul(&[kind, name])?;
        sqlx::query("delete from entry where kind = $1 and name = $2")
            .bind(kind)
            .bind(name)
            .execute(&self.pool)
            .await
            .pg()?;
        Ok(())
    }

    async fn entry_list(&self, kind: &str, prefix: &str) -> StoreResult<Vec<String>> {
        self.list_prefix("entry", "kind", "name", kind, prefix).await
    }

    async fn entry_delete_kind(&self, kind: &str) -> StoreResult<()> {
        no_nul(&[kind])?;
        sqlx::query("delete from entry where kind = $1").bind(kind).execute(&self.pool).await.pg()?;
        Ok(())
    }

    async fn kv_config_get(&self, mount_id: &str) -> StoreResult<KvConfigRow> {
        no_nul(&[mount_id])?;
        let row = sqlx::query_as(
            "select max_versions, cas_required, delete_version_after from kv_config where mount_id = $1",
        )
        .bind(mount_id)
        .fetch_optional(&self.pool)
        .await
        .pg()?;
        Ok(row.unwrap_or_default())
    }

    async fn kv_config_put(&self, mount_id: &str, cfg: &KvConfigRow) -> StoreResult<()> {
        no_nul(&[mount_id])?;
        sqlx::query(
            "insert into kv_config (mount_id, max_versions, cas_required, delete_version_after) \
             values ($1,$2,$3,$4) on conflict (mount_id) do update set \
             max_versions = excluded.max_versions, cas_required = excluded.cas_required, \
             delete_version_after = excluded.delete_version_after",
        )
        .bind(mount_id)
        .bind(cfg.max_versions)
        .bind(cfg.cas_required)
        .bind(cfg.delete_version_after)
        .execute(&self.pool)
        .await
        .pg()?;
        Ok(())
    }

    async fn kv_read(&self, mount_id: &str, path: &str, version: Option<i64>) -> StoreResult<Option<KvRead>> {
        no_nul(&[mount_id, path])?;
        // One indexed query: the metadata row joined to the wanted version by primary key.
        let row: Option<Joined> = sqlx::query_as(
            "select m.*, v.version as v_version, v.created_time as v_created_time, \
             v.deletion_time as v_deletion_time, v.destroyed as v_destroyed, \
             v.key_term as v_key_term, v.ciphertext as v_ciphertext \
             from kv_metadata m left join kv_version v on v.mount_id = m.mount_id \
             and v.path = m.path and v.version = coalesce($1::bigint, (select s.version from kv_stage s \
             where s.mount_id = m.mount_id and s.path = m.path and s.stage = 'current'), m.current_version) \
             where m.mount_id = $2 and m.path = $3",
        )
        .bind(version)
        .bind(mount_id)
        .bind(path)
        .fetch_optional(&self.pool)
        .await
        .pg()?;
        Ok(row.map(Joined::split))
    }

    async fn kv_metadata_get(&self, mount_id: &str, path: &str) -> StoreResult<Option<KvMetadataRow>> {
        no_nul(&[mount_id, path])?;
        sqlx::query_as("select * from kv_metadata where mount_id = $1 and path = $2")
            .bind(mount_id)
            .bind(path)
            .fetch_optional(&self.pool)
            .await
            .pg()
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
            "select version, created_time, deletion_time, destroyed, key_term, null::bytea as ciphertext \
             from kv_version where mount_id = $1 and path = $2 order by version",
        )
        .bind(mount_id)
        .bind(path)
        .fetch_all(&self.pool)
        .await
        .pg()?;
        Ok(Some((meta, versions)))
    }

    async fn kv_write(&self, w: &KvWrite<'_>) -> StoreResult<WriteOutcome> {
        no_nul(&[w.mount_id, w.path])?;
        no_nul(&w.stages.iter().map(String::as_str).collect::<Vec<_>>())?;
        check_version(w.row)?;
        let mut tx = self.begin().await?;
        if let Some(done) = stages::check_token(&mut PgLabels(&mut tx), w).await? {
            return Ok(done);
        }
        kv_advance(&mut tx, w).await?;
        let r = w.row;
        sqlx::query(&format!(
            "insert into kv_version (mount_id, path, {VERSION_COLS}) values ($1,$2,$3,$4,$5,$6,$7,$8)"
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
        .await
        .pg()?;
        let abandoned = match stages::label_written(&mut PgLabels(&mut tx), w).await? {
            Ok(abandoned) => abandoned,
            Err(refused) => return Ok(refused),
        };
        kv_prune(&mut tx, w).await?;
        tx.commit().await.pg()?;
        Ok(WriteOutcome::Written { abandoned })
    }

    async fn kv_stages(&self, mount_id: &str, path: &str) -> StoreResult<Vec<(String, i64)>> {
        no_nul(&[mount_id, path])?;
        sqlx::query_as("select stage, version from kv_stage where mount_id = $1 and path = $2 order by stage")
            .bind(mount_id)
            .bind(path)
            .fetch_all(&self.pool)
            .await
            .pg()
    }

    async fn kv_stage_move(
        &self,
        mount_id: &str,
        path: &str,
        stage: &str,
        to: Option<i64>,
        from: Option<i64>,
    ) -> StoreResult<()> {
        no_nul(&[mount_id, path, stage])?;
        let mut tx = self.begin().await?;
        // Serialises label moves and writes of one key (the metadata row is the key's lock).
        sqlx::query("select 1 from kv_metadata where mount_id = $1 and path = $2 for update")
            .bind(mount_id)
            .bind(path)
            .execute(&mut *tx)
            .await
            .pg()?;
        stages::move_label(&mut PgLabels(&mut tx), mount_id, path, stage, to, from).await?;
        tx.commit().await.pg()
    }

    async fn kv_metadata_put(&self, m: &KvMetadataRow) -> StoreResult<()> {
        check_metadata(m)?;
        sqlx::query(
            "insert into kv_metadata (mount_id, path, max_versions, cas_required, \
             delete_version_after, custom_metadata, created_time, updated_time, current_version, \
             oldest_version) values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) on conflict (mount_id, path) do update set \
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
        .execute(&self.pool)
        .await
        .pg()?;
        Ok(())
    }

    async fn kv_set_deletion(&self, mount_id: &str, path: &str, versions: &[i64], at: Option<&str>) -> StoreResult<()> {
        if versions.is_empty() {
            return Ok(());
        }
        no_nul(&[mount_id, path, at.unwrap_or("")])?;
        sqlx::query(
            "update kv_version set deletion_time = $1 where destroyed = false and mount_id = $2 \
             and path = $3 and version = any($4)",
        )
        .bind(at)
        .bind(mount_id)
        .bind(path)
        .bind(versions)
        .execute(&self.pool)
        .await
        .pg()?;
        Ok(())
    }

    async fn kv_destroy(&self, mount_id: &str, path: &str, versions: &[i64]) -> StoreResult<()> {
        if versions.is_empty() {
            return Ok(());
        }
        no_nul(&[mount_id, path])?;
        sqlx::query(
            "update kv_version set destroyed = true, ciphertext = null, key_term = null \
             where mount_id = $1 and path = $2 and version = any($3)",
        )
        .bind(mount_id)
        .bind(path)
        .bind(versions)
        .execute(&self.pool)
        .await
        .pg()?;
        Ok(())
    }

    async fn kv_delete_all(&self, mount_id: &str, path: &str) -> StoreResult<()> {
        no_nul(&[mount_id, path])?;
        let mut tx = self.begin().await?;
        for sql in [
            "delete from kv_version where mount_id = $1 and path = $2",
            "delete from kv_metadata where mount_id = $1 and path = $2",
            "delete from kv_stage where mount_id = $1 and path = $2",
            "delete from kv_request_token where mount_id = $1 and path = $2",
        ] {
            sqlx::query(sql).bind(mount_id).bind(path).execute(&mut *tx).await.pg()?;
        }
        tx.commit().await.pg()
    }

    async fn kv_list(&self, mount_id: &str, prefix: &str) -> StoreResult<Vec<String>> {
        self.list_prefix("kv_metadata", "mount_id", "path", mount_id, prefix).await
    }

    async fn kv_versions_below_term(
        &self,
        term: i64,
        limit_n: i64,
    ) -> StoreResult<Vec<(String, String, KvVersionRow)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            mount_id: String,
            path: String,
            #[sqlx(flatten)]
            v: KvVersionRow,
        }
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "select mount_id, path, {VERSION_COLS} from kv_version where key_term < $1 limit $2"
        ))
        .bind(term)
        .bind(limit(limit_n))
        .fetch_all(&self.pool)
        .await
        .pg()?;
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
        no_nul(&[mount_id, path])?;
        sqlx::query(
            "update kv_version set ciphertext = $1, key_term = $2 where mount_id = $3 and path = $4 \
             and version = $5 and key_term = $6",
        )
        .bind(ciphertext)
        .bind(new_term)
        .bind(mount_id)
        .bind(path)
        .bind(version)
        .bind(old_term)
        .execute(&self.pool)
        .await
        .pg()?;
        Ok(())
    }

    async fn lease_acquire(&self, node: &str, now_ms: i64, ttl_ms: i64) -> StoreResult<Option<i64>> {
        no_nul(&[node])?;
        let epoch: Option<i64> = sqlx::query_scalar(
            "insert into leader (name, holder, epoch, expires_at) values ($1, $2, 1, $3) \
             on conflict (name) do update set \
             epoch = case when leader.holder = excluded.holder then leader.epoch else leader.epoch + 1 end, \
             holder = excluded.holder, expires_at = excluded.expires_at \
             where leader.holder = excluded.holder or leader.expires_at <= $4 \
             returning epoch",
        )
        .bind(LEASE_NAME)
        .bind(node)
        .bind(now_ms + ttl_ms)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await
        .pg()?;
        Ok(epoch)
    }

    async fn lease_get(&self) -> StoreResult<Option<LeaseRow>> {
        sqlx::query_as("select holder, epoch, expires_at from leader where name = $1")
            .bind(LEASE_NAME)
            .fetch_optional(&self.pool)
            .await
            .pg()
    }

    async fn lease_release(&self, node: &str) -> StoreResult<()> {
        no_nul(&[node])?;
        sqlx::query("update leader set expires_at = 0 where name = $1 and holder = $2")
            .bind(LEASE_NAME)
            .bind(node)
            .execute(&self.pool)
            .await
            .pg()?;
        Ok(())
    }

    async fn node_seen(&self, node: &NodeRow) -> StoreResult<()> {
        no_nul(&[&node.id, &node.name, &node.address])?;
        sqlx::query(
            "insert into node (id, name, address, last_seen) values ($1, $2, $3, $4) \
             on conflict (id) do update set name = excluded.name, address = excluded.address, \
             last_seen = excluded.last_seen",
        )
        .bind(&node.id)
        .bind(&node.name)
        .bind(&node.address)
        .bind(node.last_seen)
        .execute(&self.pool)
        .await
        .pg()
        .map(drop)
    }

    async fn node_forget(&self, node: &str) -> StoreResult<()> {
        no_nul(&[node])?;
        sqlx::query("delete from node where id = $1").bind(node).execute(&self.pool).await.pg().map(drop)
    }

    async fn node_list(&self) -> StoreResult<Vec<NodeRow>> {
        sqlx::query_as("select id, name, address, last_seen from node order by last_seen desc")
            .fetch_all(&self.pool)
            .await
            .pg()
    }

    async fn system_swap(&self, key: &str, expected: &[u8], value: &[u8]) -> StoreResult<()> {
        no_nul(&[key])?;
        let changed = sqlx::query("update system_entry set value = $1 where key = $2 and value = $3")
            .bind(value)
            .bind(key)
            .bind(expected)
            .execute(&self.pool)
            .await
            .pg()?
            .rows_affected();
        if changed == 0 {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }

    async fn token_delete_tree_fenced(&self, hash: &[u8], fence: &Fence) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        check_fence(&mut tx, Some(fence)).await?;
        sqlx::query(TOKEN_TREE_DELETE).bind(hash).execute(&mut *tx).await.pg()?;
        tx.commit().await.pg()
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_upper_bound;

    #[test]
    fn prefix_upper_bound_is_the_next_string_after_every_extension() {
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_upper_bound("a%").as_deref(), Some("a&"));
        assert_eq!(prefix_upper_bound("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        let upper = prefix_upper_bound("🔑/").unwrap_or_default();
        for key in ["🔑/", "🔑/x", "🔑/\u{10FFFF}\u{10FFFF}"] {
            assert!(key >= "🔑/" && key < upper.as_str(), "{key}");
        }
        assert!("🔑0" >= upper.as_str());
    }
}
