//! The PostgreSQL store: a connection pool, one transaction per multi-statement operation, and
//! conditional `update … where` statements for every compare-and-set, so several Coffer processes
//! can share one database. The statements shared with SQLite are in [`super::sql`]; the
//! PostgreSQL-only ones are here and in the submodules.

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgPool, Postgres, Transaction};

use super::binds::{BindRow, Joined, KeyedVersion};
use super::sql::{self, prefix_upper_bound};
use super::*;
use conn::{Bounded, Conn};
use errors::{check_metadata, check_mount, check_token, limit, must_change, no_nul, PgResultExt};
use labels::PgLabels;

pub(crate) mod conn;
mod errors;
mod kv;
mod kv_move;
mod labels;
mod leases;
mod rotation;

/// SQLite's `insert or replace` also drops another token holding the same accessor: PostgreSQL
/// deletes it first ([`TOKEN_DROP_ACCESSOR`]), then upserts.
const TOKEN_PUT: &str = concat!(
    "insert into token (",
    sql::token_cols!(),
    ") values (",
    sql::token_values!(),
    ") on conflict (hash) do update set accessor = excluded.accessor, parent_hash = excluded.parent_hash, \
     policies = excluded.policies, meta = excluded.meta, display_name = excluded.display_name, \
     path = excluded.path, token_type = excluded.token_type, creation_time = excluded.creation_time, \
     ttl = excluded.ttl, explicit_max_ttl = excluded.explicit_max_ttl, period = excluded.period, \
     num_uses = excluded.num_uses, expire_time = excluded.expire_time, renewable = excluded.renewable, \
     orphan = excluded.orphan, bound_cidrs = excluded.bound_cidrs, identity = excluded.identity, \
     max_ttl = excluded.max_ttl"
);
/// Drops another token holding the accessor `$1` (before [`TOKEN_PUT`] of hash `$2`).
const TOKEN_DROP_ACCESSOR: &str = "delete from token where accessor = $1 and hash <> $2";

/// Auth methods keep their roles, users and secret-id hashes in entries whose kind names the
/// mount id (`strpos`: PostgreSQL has no `instr`).
const MOUNT_DELETE_ENTRIES: &str = "delete from entry where strpos(kind, $1) > 0";

/// One page of a KV folder ([`sql::kv_children`]); the seed takes the key column's collation.
const KV_CHILDREN: &str = sql::kv_children!("strpos", "cast($3 as text) collate \"C\"");

/// Serialises label moves and writes of one key (the metadata row is the key's lock).
const KV_LOCK_KEY: &str = "select 1 from kv_metadata where mount_id = $1 and path = $2 for update";

/// The listed versions (an array) that are not destroyed get deletion time `$1`.
const KV_SET_DELETION: &str = "update kv_version set deletion_time = $1 where destroyed = false and mount_id = $2 \
     and path = $3 and version = any($4)";

/// The listed versions (an array) lose their ciphertext for good.
const KV_DESTROY: &str = "update kv_version set destroyed = true, ciphertext = null, key_term = null \
     where mount_id = $1 and path = $2 and version = any($3)";

/// PostgreSQL implementation of [`Store`].
pub struct PgStore {
    pool: PgPool,
    /// How long a connection may take to go back to the pool (the pool's `acquire_timeout`).
    back_within: std::time::Duration,
}

impl PgStore {
    /// `(text, number)` rows of a query on one key: its labels, or its request tokens.
    async fn key_pairs(&self, query: &str, mount_id: &str, path: &str) -> StoreResult<Vec<(String, i64)>> {
        no_nul(&[mount_id, path])?;
        sqlx::query_as(query).bind(mount_id).bind(path).fetch_all(&mut *self.conn().await?).bounded().await.pg()
    }

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
        Ok(Self { pool, back_within: settings.acquire_timeout })
    }

    /// Closes every connection of the pool; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Checks a connection out of the pool; it goes back (or is closed) within a bound when
    /// dropped. Every statement of the store runs on one of these, never on the pool itself.
    async fn conn(&self) -> StoreResult<Conn> {
        Conn::acquire(&self.pool, self.back_within).await
    }

    /// Runs one statement with a single bytea argument.
    async fn exec_hash(&self, sql: &str, hash: &[u8]) -> StoreResult<u64> {
        Ok(sqlx::query(sql).bind(hash).execute(&mut *self.conn().await?).bounded().await.pg()?.rows_affected())
    }

    /// Names under `prefix` by `bounded` (scope, prefix, upper bound) or `from` (scope, prefix).
    async fn list_prefix(
        &self,
        bounded: &'static str,
        from: &'static str,
        scope: &str,
        prefix: &str,
    ) -> StoreResult<Vec<String>> {
        no_nul(&[scope, prefix])?;
        let q = match prefix_upper_bound(prefix) {
            Some(upper) => sqlx::query_scalar(bounded).bind(scope).bind(prefix).bind(upper),
            None => sqlx::query_scalar(from).bind(scope).bind(prefix),
        };
        q.fetch_all(&mut *self.conn().await?).bounded().await.pg()
    }
}

/// `Conflict` unless `fence` (when given) still holds the singleton lease. `FOR SHARE` on the
/// lease row makes a takeover wait until this transaction ends: every fenced write calls this
/// first, in its own transaction.
pub(super) async fn check_fence(tx: &mut Transaction<'_, Postgres>, fence: Option<&Fence>) -> StoreResult<()> {
    let Some(f) = fence else { return Ok(()) };
    no_nul(&[&f.node])?;
    let held: Option<i64> = sqlx::query_scalar(sql::FENCE_HELD_FOR_SHARE)
        .bind(LEASE_NAME)
        .bind(&f.node)
        .bind(f.epoch)
        .fetch_optional(&mut **tx)
        .bounded()
        .await
        .pg()?;
    if held.is_none() {
        return Err(StoreError::Conflict);
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
        let mut c = self.conn().await?;
        let mut tx = c.begin().bounded().await.pg()?;
        sqlx::query("set transaction isolation level repeatable read, read only")
            .execute(&mut *tx)
            .bounded()
            .await
            .pg()?;
        let tables = copy::pg_dump(&mut tx).await?;
        tx.commit().bounded().await.pg()?;
        Ok(tables)
    }

    async fn load_tables(&self, tables: Vec<copy::TableRows>) -> StoreResult<()> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().bounded().await.pg()?;
        copy::pg_load(&mut tx, tables).await?;
        tx.commit().bounded().await.pg()
    }

    async fn count_rows(&self) -> StoreResult<Vec<(String, u64)>> {
        copy::pg_counts(&mut *self.conn().await?).await
    }

    async fn replace_tables(
        &self,
        tables: Vec<copy::TableRows>,
        keep_kinds: &'static [&'static str],
        pending: copy::Pending,
    ) -> StoreResult<()> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().bounded().await.pg()?;
        copy::pg_replace(&mut tx, tables, keep_kinds, pending).await?;
        tx.commit().bounded().await.pg()
    }

    async fn restore_pending(&self) -> StoreResult<Option<Vec<u8>>> {
        sqlx::query_scalar("select snapshot from restore_pending where id = 1")
            .fetch_optional(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()
    }

    async fn restore_pending_clear(&self) -> StoreResult<()> {
        sqlx::query("delete from restore_pending").execute(&mut *self.conn().await?).bounded().await.pg().map(|_| ())
    }
    // ---- end of whole-store copy ----

    fn bus(&self) -> Option<Arc<dyn crate::store::bus::Bus>> {
        Some(Arc::new(crate::store::bus::pg::PgBus::new(self.pool.clone(), self.back_within)))
    }

    async fn system_get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        no_nul(&[key])?;
        sqlx::query_scalar(sql::SYSTEM_GET).bind(key).fetch_optional(&mut *self.conn().await?).bounded().await.pg()
    }

    async fn system_put(&self, entries: &[(&str, &[u8])]) -> StoreResult<()> {
        no_nul(&entries.iter().map(|(k, _)| *k).collect::<Vec<_>>())?;
        let mut c = self.conn().await?;
        let mut tx = c.begin().bounded().await.pg()?;
        for (k, v) in entries {
            sqlx::query(sql::SYSTEM_PUT).bind(*k).bind(*v).execute(&mut *tx).bounded().await.pg()?;
        }
        tx.commit().bounded().await.pg()
    }

    async fn mount_list(&self) -> StoreResult<Vec<MountRow>> {
        sqlx::query_as(sql::MOUNT_LIST).fetch_all(&mut *self.conn().await?).bounded().await.pg()
    }

    async fn mount_insert(&self, m: &MountRow) -> StoreResult<()> {
        check_mount(m)?;
        sqlx::query(sql::MOUNT_INSERT).bind_mount(m).execute(&mut *self.conn().await?).bounded().await.pg()?;
        Ok(())
    }

    async fn mount_update(&self, m: &MountRow) -> StoreResult<()> {
        check_mount(m)?;
        sqlx::query(sql::MOUNT_UPDATE)
            .bind(&m.description)
            .bind(&m.config)
            .bind(&m.options)
            .bind(&m.id)
            .execute(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
        Ok(())
    }

    async fn mount_delete(&self, id: &str) -> StoreResult<()> {
        no_nul(&[id])?;
        let mut c = self.conn().await?;
        let mut tx = c.begin().bounded().await.pg()?;
        for stmt in sql::MOUNT_DELETE_KV.into_iter().chain([MOUNT_DELETE_ENTRIES, sql::MOUNT_DELETE]) {
            sqlx::query(stmt).bind(id).execute(&mut *tx).bounded().await.pg()?;
        }
        tx.commit().bounded().await.pg()
    }

    async fn token_get(&self, hash: &[u8]) -> StoreResult<Option<TokenRow>> {
        sqlx::query_as(sql::TOKEN_GET).bind(hash).fetch_optional(&mut *self.conn().await?).bounded().await.pg()
    }

    async fn token_put(&self, t: &TokenRow) -> StoreResult<()> {
        check_token(t)?;
        let mut c = self.conn().await?;
        let mut tx = c.begin().bounded().await.pg()?;
        sqlx::query(TOKEN_DROP_ACCESSOR).bind(&t.accessor).bind(&t.hash).execute(&mut *tx).bounded().await.pg()?;
        sqlx::query(TOKEN_PUT).bind_token(t).execute(&mut *tx).bounded().await.pg()?;
        tx.commit().bounded().await.pg()
    }

    async fn token_delete(&self, hash: &[u8]) -> StoreResult<()> {
        self.exec_hash(sql::TOKEN_DELETE, hash).await.map(drop)
    }

    async fn token_by_accessor(&self, accessor: &str) -> StoreResult<Option<TokenRow>> {
        no_nul(&[accessor])?;
        sqlx::query_as(sql::TOKEN_BY_ACCESSOR)
            .bind(accessor)
            .fetch_optional(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()
    }

    async fn token_accessors(&self) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(sql::TOKEN_ACCESSORS).fetch_all(&mut *self.conn().await?).bounded().await.pg()
    }

    async fn token_tree(&self, hash: &[u8]) -> StoreResult<Vec<Vec<u8>>> {
        sqlx::query_scalar(sql::TOKEN_TREE).bind(hash).fetch_all(&mut *self.conn().await?).bounded().await.pg()
    }

    async fn token_delete_tree(&self, hash: &[u8]) -> StoreResult<()> {
        self.exec_hash(sql::TOKEN_TREE_DELETE, hash).await.map(drop)
    }

    async fn token_delete_orphaning(&self, hash: &[u8]) -> StoreResult<()> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().bounded().await.pg()?;
        for stmt in [sql::TOKEN_ORPHAN_CHILDREN, sql::TOKEN_DELETE] {
            sqlx::query(stmt).bind(hash).execute(&mut *tx).bounded().await.pg()?;
        }
        tx.commit().bounded().await.pg()
    }

    async fn token_use(&self, hash: &[u8], expected: i64) -> StoreResult<()> {
        let rows = sqlx::query(sql::TOKEN_USE)
            .bind(hash)
            .bind(expected)
            .execute(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
        must_change(rows.rows_affected())
    }

    async fn token_renew(&self, hash: &[u8], ttl: i64, expire_time: Option<i64>) -> StoreResult<()> {
        let rows = sqlx::query(sql::TOKEN_RENEW)
            .bind(ttl)
            .bind(expire_time)
            .bind(hash)
            .execute(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
        must_change(rows.rows_affected())
    }

    async fn token_expired(&self, now: i64, limit_n: i64) -> StoreResult<Vec<Vec<u8>>> {
        sqlx::query_scalar(sql::TOKEN_EXPIRED)
            .bind(now)
            .bind(limit(limit_n))
            .fetch_all(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()
    }

    async fn entry_get(&self, kind: &str, name: &str) -> StoreResult<Option<String>> {
        no_nul(&[kind, name])?;
        sqlx::query_scalar(sql::ENTRY_GET)
            .bind(kind)
            .bind(name)
            .fetch_optional(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()
    }

    async fn entry_put(&self, kind: &str, name: &str, value: &str) -> StoreResult<()> {
        no_nul(&[kind, name, value])?;
        sqlx::query(sql::ENTRY_PUT)
            .bind(kind)
            .bind(name)
            .bind(value)
            .execute(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
        Ok(())
    }

    async fn entry_delete(&self, kind: &str, name: &str) -> StoreResult<()> {
        no_nul(&[kind, name])?;
        sqlx::query(sql::ENTRY_DELETE).bind(kind).bind(name).execute(&mut *self.conn().await?).bounded().await.pg()?;
        Ok(())
    }

    async fn entry_list(&self, kind: &str, prefix: &str) -> StoreResult<Vec<String>> {
        self.list_prefix(sql::ENTRY_LIST, sql::ENTRY_LIST_FROM, kind, prefix).await
    }

    async fn entry_delete_kind(&self, kind: &str) -> StoreResult<()> {
        no_nul(&[kind])?;
        sqlx::query(sql::ENTRY_DELETE_KIND).bind(kind).execute(&mut *self.conn().await?).bounded().await.pg()?;
        Ok(())
    }

    async fn kv_config_get(&self, mount_id: &str) -> StoreResult<KvConfigRow> {
        no_nul(&[mount_id])?;
        let row = sqlx::query_as(sql::KV_CONFIG_GET)
            .bind(mount_id)
            .fetch_optional(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
        Ok(row.unwrap_or_default())
    }

    async fn kv_config_put(&self, mount_id: &str, cfg: &KvConfigRow) -> StoreResult<()> {
        no_nul(&[mount_id])?;
        sqlx::query(sql::KV_CONFIG_PUT)
            .bind(mount_id)
            .bind(cfg.max_versions)
            .bind(cfg.cas_required)
            .bind(cfg.delete_version_after)
            .execute(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
        Ok(())
    }

    async fn kv_read(&self, mount_id: &str, path: &str, version: Option<i64>) -> StoreResult<Option<KvRead>> {
        no_nul(&[mount_id, path])?;
        let row: Option<Joined> = sqlx::query_as(sql::KV_READ)
            .bind(version)
            .bind(mount_id)
            .bind(path)
            .fetch_optional(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
        Ok(row.map(Joined::split))
    }

    async fn kv_metadata_get(&self, mount_id: &str, path: &str) -> StoreResult<Option<KvMetadataRow>> {
        no_nul(&[mount_id, path])?;
        sqlx::query_as(sql::KV_METADATA_GET)
            .bind(mount_id)
            .bind(path)
            .fetch_optional(&mut *self.conn().await?)
            .bounded()
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
        let versions = sqlx::query_as(sql::KV_VERSIONS)
            .bind(mount_id)
            .bind(path)
            .fetch_all(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
        Ok(Some((meta, versions)))
    }

    async fn kv_write(&self, w: &KvWrite<'_>) -> StoreResult<WriteOutcome> {
        kv::write(self, w).await
    }

    async fn kv_stages(&self, mount_id: &str, path: &str) -> StoreResult<Vec<(String, i64)>> {
        self.key_pairs(sql::KV_STAGES, mount_id, path).await
    }

    async fn kv_request_tokens(&self, mount_id: &str, path: &str) -> StoreResult<Vec<(String, i64)>> {
        self.key_pairs(sql::KV_REQUEST_TOKENS, mount_id, path).await
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
        let mut c = self.conn().await?;
        let mut tx = c.begin().bounded().await.pg()?;
        sqlx::query(KV_LOCK_KEY).bind(mount_id).bind(path).execute(&mut *tx).bounded().await.pg()?;
        stages::move_label(&mut PgLabels(&mut tx), mount_id, path, stage, to, from).await?;
        tx.commit().bounded().await.pg()
    }

    async fn kv_metadata_put(&self, m: &KvMetadataRow) -> StoreResult<()> {
        check_metadata(m)?;
        sqlx::query(sql::KV_METADATA_PUT).bind_metadata(m).execute(&mut *self.conn().await?).bounded().await.pg()?;
        Ok(())
    }

    async fn kv_set_deletion(&self, mount_id: &str, path: &str, versions: &[i64], at: Option<&str>) -> StoreResult<()> {
        if versions.is_empty() {
            return Ok(());
        }
        no_nul(&[mount_id, path, at.unwrap_or("")])?;
        sqlx::query(KV_SET_DELETION)
            .bind(at)
            .bind(mount_id)
            .bind(path)
            .bind(versions)
            .execute(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
        Ok(())
    }

    async fn kv_destroy(&self, mount_id: &str, path: &str, versions: &[i64]) -> StoreResult<()> {
        if versions.is_empty() {
            return Ok(());
        }
        no_nul(&[mount_id, path])?;
        sqlx::query(KV_DESTROY)
            .bind(mount_id)
            .bind(path)
            .bind(versions)
            .execute(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
        Ok(())
    }

    async fn kv_delete_all(&self, mount_id: &str, path: &str, fence: Option<&Fence>) -> StoreResult<()> {
        no_nul(&[mount_id, path])?;
        let mut c = self.conn().await?;
        let mut tx = c.begin().bounded().await.pg()?;
        check_fence(&mut tx, fence).await?;
        for stmt in sql::KV_DELETE_ALL {
            sqlx::query(stmt).bind(mount_id).bind(path).execute(&mut *tx).bounded().await.pg()?;
        }
        tx.commit().bounded().await.pg()
    }

    async fn kv_children(&self, mount_id: &str, prefix: &str, page: Page<'_>) -> StoreResult<Vec<String>> {
        let walk = children::Walk::new(prefix, page);
        no_nul(&[mount_id, prefix, &walk.seed])?;
        let paths = sqlx::query_scalar(KV_CHILDREN)
            .bind(mount_id)
            .bind(prefix)
            .bind(&walk.seed)
            .bind(walk.steps)
            .fetch_all(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
        Ok(children::names(prefix, paths))
    }

    async fn kv_metadata_page(
        &self,
        mount_id: &str,
        prefix: &str,
        after: Option<&str>,
        limit_n: i64,
    ) -> StoreResult<Vec<KvMetadataRow>> {
        let (from, except) = sql::page_start(prefix, after);
        no_nul(&[mount_id, prefix, except])?;
        let q = match prefix_upper_bound(prefix) {
            Some(upper) => sqlx::query_as(sql::KV_METADATA_PAGE).bind(mount_id).bind(from).bind(upper).bind(except),
            None => sqlx::query_as(sql::KV_METADATA_PAGE_FROM).bind(mount_id).bind(from).bind(except),
        };
        q.bind(limit(limit_n)).fetch_all(&mut *self.conn().await?).bounded().await.pg()
    }

    async fn kv_move(&self, m: &super::moves::KvMove<'_>) -> StoreResult<super::moves::MoveOutcome> {
        kv_move::run(self, m).await
    }

    async fn kv_versions_below_term(
        &self,
        term: i64,
        limit_n: i64,
    ) -> StoreResult<Vec<(String, String, KvVersionRow)>> {
        let rows: Vec<KeyedVersion> = sqlx::query_as(sql::KV_BELOW_TERM)
            .bind(term)
            .bind(limit(limit_n))
            .fetch_all(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
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
        no_nul(&[mount_id, path])?;
        sqlx::query(sql::KV_REWRAP)
            .bind(ciphertext)
            .bind(new_term)
            .bind(mount_id)
            .bind(path)
            .bind(version)
            .bind(old_term)
            .execute(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
        Ok(())
    }

    async fn lease_acquire(&self, node: &str, now_ms: i64, ttl_ms: i64) -> StoreResult<Option<i64>> {
        no_nul(&[node])?;
        sqlx::query_scalar(sql::LEASE_ACQUIRE_RETURNING)
            .bind(LEASE_NAME)
            .bind(node)
            .bind(now_ms + ttl_ms)
            .bind(now_ms)
            .fetch_optional(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()
    }

    async fn lease_get(&self) -> StoreResult<Option<LeaseRow>> {
        sqlx::query_as(sql::LEASE_GET).bind(LEASE_NAME).fetch_optional(&mut *self.conn().await?).bounded().await.pg()
    }

    async fn lease_release(&self, node: &str) -> StoreResult<()> {
        no_nul(&[node])?;
        sqlx::query(sql::LEASE_RELEASE)
            .bind(LEASE_NAME)
            .bind(node)
            .execute(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
        Ok(())
    }

    async fn node_seen(&self, node: &NodeRow) -> StoreResult<()> {
        no_nul(&[&node.id, &node.name, &node.address])?;
        sqlx::query(sql::NODE_SEEN)
            .bind(&node.id)
            .bind(&node.name)
            .bind(&node.address)
            .bind(node.last_seen)
            .execute(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()
            .map(drop)
    }

    async fn node_forget(&self, node: &str) -> StoreResult<()> {
        no_nul(&[node])?;
        sqlx::query(sql::NODE_FORGET).bind(node).execute(&mut *self.conn().await?).bounded().await.pg().map(drop)
    }

    async fn node_list(&self) -> StoreResult<Vec<NodeRow>> {
        sqlx::query_as(sql::NODE_LIST).fetch_all(&mut *self.conn().await?).bounded().await.pg()
    }

    async fn system_swap(&self, key: &str, expected: &[u8], value: &[u8]) -> StoreResult<()> {
        no_nul(&[key])?;
        let rows = sqlx::query(sql::SYSTEM_SWAP)
            .bind(value)
            .bind(key)
            .bind(expected)
            .execute(&mut *self.conn().await?)
            .bounded()
            .await
            .pg()?;
        must_change(rows.rows_affected())
    }

    async fn system_swap_with(&self, key: &str, expected: &[u8], entries: &[(&str, &[u8])]) -> StoreResult<()> {
        no_nul(&[key])?;
        no_nul(&entries.iter().map(|(k, _)| *k).collect::<Vec<_>>())?;
        let mut c = self.conn().await?;
        let mut tx = c.begin().bounded().await.pg()?;
        // An update to the same value: it locks the row, and matches only while it holds `expected`.
        let rows = sqlx::query(sql::SYSTEM_SWAP)
            .bind(expected)
            .bind(key)
            .bind(expected)
            .execute(&mut *tx)
            .bounded()
            .await
            .pg()?;
        must_change(rows.rows_affected())?;
        for (k, v) in entries {
            sqlx::query(sql::SYSTEM_PUT).bind(*k).bind(*v).execute(&mut *tx).bounded().await.pg()?;
        }
        tx.commit().bounded().await.pg()
    }

    async fn token_delete_tree_fenced(&self, hash: &[u8], fence: &Fence) -> StoreResult<()> {
        let mut c = self.conn().await?;
        let mut tx = c.begin().bounded().await.pg()?;
        check_fence(&mut tx, Some(fence)).await?;
        sqlx::query(sql::TOKEN_TREE_DELETE).bind(hash).execute(&mut *tx).bounded().await.pg()?;
        tx.commit().bounded().await.pg()
    }
}
