//! The storage boundary: the `Store` trait, its row types and errors. Rows hold ciphertext only
//! for secret values; the barrier encrypts before anything reaches a `Store`.

mod binds;
pub mod bus;
pub mod cache;
mod children;
pub use children::Page;
pub mod copy;
pub mod leases;
pub mod moves;
pub mod postgres;
pub mod rotation;
mod sealed;

pub use sealed::TextForm;
mod sql;
pub mod sqlite;
pub mod stages;
pub mod timed;

use async_trait::async_trait;
use std::sync::Arc;

pub use crate::crypto::barrier::Sealed;

/// A storage failure. `Conflict` is a failed conditional write; everything else is a fault.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost (CAS mismatch, unique key taken).
    #[error("conflict")]
    Conflict,
    /// The database cannot be reached or refuses work for now (connection lost, server
    /// restarting, pool exhausted): the client may retry.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The disk under the database is full (SQLite `SQLITE_FULL`, PostgreSQL SQLSTATE 53100):
    /// nothing of the write was kept; writes work again once space is freed.
    #[error("storage is full: {0}")]
    Full(String),
    /// The database failed.
    #[error("storage error: {0}")]
    Backend(String),
}

/// SQLite primary result codes (the low byte of an extended code) that are not faults of the
/// statement: `SQLITE_BUSY` (5) and `SQLITE_LOCKED` (6) mean another connection holds the lock
/// past `busy_timeout`; `SQLITE_FULL` (13) means the disk is full.
fn sqlite_error(d: &dyn sqlx::error::DatabaseError) -> Option<StoreError> {
    d.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
    let code: i64 = d.code()?.parse().ok()?;
    match code & 0xff {
        5 | 6 => Some(StoreError::Unavailable(d.message().to_string())),
        13 => Some(StoreError::Full(d.message().to_string())),
        _ => None,
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(d) = &e {
            if d.is_unique_violation() {
                return StoreError::Conflict;
            }
            if let Some(mapped) = sqlite_error(d.as_ref()) {
                return mapped;
            }
        }
        StoreError::Backend(e.to_string())
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// A mounted secrets engine or auth method.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MountRow {
    /// Stable id (UUID); part of every AAD under this mount.
    pub id: String,
    /// `mounts` or `auth`.
    pub table_name: String,
    /// Path with a trailing slash, e.g. `secret/`.
    pub path: String,
    /// Engine type, e.g. `kv`.
    pub kind: String,
    /// Free text.
    pub description: String,
    /// `kv_1a2b3c4d`.
    pub accessor: String,
    /// JSON object: `default_lease_ttl`, `max_lease_ttl`, `force_no_cache`.
    pub config: String,
    /// JSON object: engine options such as `{"version":"2"}`.
    pub options: String,
    /// Vault's `local` flag.
    pub local: bool,
    /// Vault's `seal_wrap` flag.
    pub seal_wrap: bool,
    /// RFC 3339.
    pub created_at: String,
}

/// A token, stored under the HMAC of its value.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenRow {
    /// HMAC-SHA256(token).
    pub hash: Vec<u8>,
    /// Public handle for the token.
    pub accessor: String,
    /// The parent's hash; `None` for orphans.
    pub parent_hash: Option<Vec<u8>>,
    /// JSON array of policy names.
    pub policies: String,
    /// JSON object of string metadata.
    pub meta: String,
    /// `token-…` or the auth method name.
    pub display_name: String,
    /// The path that created the token.
    pub path: String,
    /// `service` or `batch`.
    pub token_type: String,
    /// Unix seconds.
    pub creation_time: i64,
    /// Seconds; 0 = no expiry.
    pub ttl: i64,
    /// Seconds; 0 = none.
    pub explicit_max_ttl: i64,
    /// Seconds; 0 = not periodic.
    pub period: i64,
    /// Remaining uses; 0 = unlimited.
    pub num_uses: i64,
    /// Unix seconds; `None` = never expires.
    pub expire_time: Option<i64>,
    /// Renewable.
    pub renewable: bool,
    /// No parent.
    pub orphan: bool,
    /// JSON array of CIDRs the token may be used from; `[]` = anywhere.
    pub bound_cidrs: String,
    /// JSON [`crate::base::identity::Identity`] from the login behind the token; `""` for none.
    pub identity: String,
    /// Seconds; 0 = none. A login's role or mount cap on renewals, not shown (Vault shows only
    /// `explicit_max_ttl`, and applies the role's limit at renewal; D110).
    pub max_ttl: i64,
}

/// KV v2 mount-wide settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct KvConfigRow {
    /// 0 = default (10).
    pub max_versions: i64,
    /// Writes must carry `cas`.
    pub cas_required: bool,
    /// Seconds; 0 = never.
    pub delete_version_after: i64,
}

/// KV v2 metadata of one key.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KvMetadataRow {
    /// Mount id.
    pub mount_id: String,
    /// Key path inside the mount.
    pub path: String,
    /// 0 = the mount's setting.
    pub max_versions: i64,
    /// Writes must carry `cas`.
    pub cas_required: bool,
    /// Seconds; 0 = the mount's setting.
    pub delete_version_after: i64,
    /// JSON object or `None`.
    pub custom_metadata: Option<String>,
    /// RFC 3339.
    pub created_time: String,
    /// RFC 3339.
    pub updated_time: String,
    /// 0 when no version was written yet.
    pub current_version: i64,
    /// Oldest version still kept (0 before any pruning).
    pub oldest_version: i64,
}

impl KvMetadataRow {
    /// The metadata of a key made at `now` (RFC 3339), before any version and with every setting
    /// at its default.
    pub fn new(mount_id: &str, path: &str, now: String) -> Self {
        KvMetadataRow {
            mount_id: mount_id.to_string(),
            path: path.to_string(),
            max_versions: 0,
            cas_required: false,
            delete_version_after: 0,
            custom_metadata: None,
            created_time: now.clone(),
            updated_time: now,
            current_version: 0,
            oldest_version: 0,
        }
    }
}

#[cfg(test)]
impl KvMetadataRow {
    /// A key's metadata with every setting at its default and empty times (unit tests).
    pub fn bare(mount_id: &str, path: &str, current_version: i64, oldest_version: i64) -> Self {
        KvMetadataRow {
            mount_id: mount_id.into(),
            path: path.into(),
            max_versions: 0,
            cas_required: false,
            delete_version_after: 0,
            custom_metadata: None,
            created_time: String::new(),
            updated_time: String::new(),
            current_version,
            oldest_version,
        }
    }
}

/// One KV v2 version.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KvVersionRow {
    /// Version number, from 1.
    pub version: i64,
    /// RFC 3339.
    pub created_time: String,
    /// RFC 3339; the version reads as deleted once this time has passed.
    pub deletion_time: Option<String>,
    /// Destroyed: the ciphertext is gone for good.
    pub destroyed: bool,
    /// KEK term that wraps the DEK (for re-wrapping after rotation).
    pub key_term: Option<i64>,
    /// The sealed value; `None` once destroyed.
    pub ciphertext: Option<Sealed>,
}

impl std::fmt::Debug for KvVersionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvVersionRow")
            .field("version", &self.version)
            .field("destroyed", &self.destroyed)
            .finish_non_exhaustive()
    }
}

/// A new version to append, conditional on the key's current version.
#[derive(Debug, Clone)]
pub struct KvWrite<'a> {
    /// Mount id.
    pub mount_id: &'a str,
    /// Key path.
    pub path: &'a str,
    /// The write succeeds only if the key's current version is still this (0 = absent).
    pub expected_current: i64,
    /// The new version's row; its `version` must be `expected_current + 1`.
    pub row: &'a KvVersionRow,
    /// Keep at most this many versions (already resolved; ≥ 1).
    pub max_versions: i64,
    /// Labels for the new version; empty means `current` (a plain write).
    pub stages: &'a [String],
    /// Idempotency: `(request_token, HMAC of the value)`.
    pub token: Option<(&'a str, &'a [u8])>,
}

/// What a KV write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The version was appended; `abandoned` when it took `current` from an unfinished rotation
    /// (its `pending` label was removed).
    Written {
        /// A rotation in flight was abandoned.
        abandoned: bool,
    },
    /// The request token was already used with the same value: nothing written; its version.
    Replayed(i64),
    /// The request token was already used with another value.
    TokenReused,
    /// `pending` sits on a version other than `current` (a rotation is in flight).
    PendingBusy,
}

/// What `kv_read` finds: the metadata and, if it exists, the requested version.
pub type KvRead = (KvMetadataRow, Option<KvVersionRow>);

/// Everything Coffer persists. One implementation per database; the contract suite runs on each.
#[async_trait]
pub trait Store: leases::LeaseStore + rotation::RotationStore + Send + Sync + 'static {
    /// The database behind this store as `sys/seal-status` names it: `sqlite` or `postgresql`.
    fn storage_type(&self) -> &'static str;

    /// The change feed between nodes sharing this store (`None`: a single-node store).
    fn bus(&self) -> Option<Arc<dyn crate::store::bus::Bus>> {
        None
    }

    // ---- Whole-store copy, for `coffer operator migrate` (src/migrate.rs, src/store/copy.rs) ----
    /// Every row of every data table (all but the migrations bookkeeping), read from one
    /// consistent snapshot, tables in copy order ([`copy::TABLE_ORDER`]: parents first).
    async fn dump_tables(&self) -> StoreResult<Vec<copy::TableRows>>;
    /// Inserts `tables` exactly as given, in one transaction, into a store whose data tables are all
    /// empty; fails and changes nothing if any holds a row or lacks a table or column.
    async fn load_tables(&self, tables: Vec<copy::TableRows>) -> StoreResult<()>;
    /// The number of rows in each data table, in copy order.
    async fn count_rows(&self) -> StoreResult<Vec<(String, u64)>>;
    /// Replaces every data table's rows with `tables` in one transaction (a snapshot restore):
    /// the runtime tables ([`copy::RUNTIME_TABLES`]) and the entry rows of `keep_kinds` stay, and
    /// the pre-restore copy is set or cleared with the same commit.
    async fn replace_tables(
        &self,
        tables: Vec<copy::TableRows>,
        keep_kinds: &'static [&'static str],
        pending: copy::Pending,
    ) -> StoreResult<()>;
    /// The store as it was before a forced restore, while that restore waits for its first unseal.
    async fn restore_pending(&self) -> StoreResult<Option<Vec<u8>>>;
    /// Forgets the pre-restore store once the first unseal has confirmed the forced restore.
    async fn restore_pending_clear(&self) -> StoreResult<()>;
    // ---- end of whole-store copy ----

    /// Reads a system record.
    async fn system_get(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Writes several system records in one transaction.
    async fn system_put(&self, entries: &[(&str, &[u8])]) -> StoreResult<()>;
    /// A system record the barrier sealed (the token key).
    async fn system_get_sealed(&self, key: &str) -> StoreResult<Option<Sealed>> {
        Ok(self.system_get(key).await?.map(Sealed::from_stored))
    }

    /// All mounts of both tables.
    async fn mount_list(&self) -> StoreResult<Vec<MountRow>>;
    /// Adds a mount; `Conflict` if the path is taken in its table.
    async fn mount_insert(&self, m: &MountRow) -> StoreResult<()>;
    /// Replaces a mount's description, config and options.
    async fn mount_update(&self, m: &MountRow) -> StoreResult<()>;
    /// Removes a mount and everything stored under it.
    async fn mount_delete(&self, id: &str) -> StoreResult<()>;

    /// Looks a token up by hash.
    async fn token_get(&self, hash: &[u8]) -> StoreResult<Option<TokenRow>>;
    /// Inserts or replaces a token.
    async fn token_put(&self, t: &TokenRow) -> StoreResult<()>;
    /// Deletes a token.
    async fn token_delete(&self, hash: &[u8]) -> StoreResult<()>;

    /// Looks a token up by accessor.
    async fn token_by_accessor(&self, accessor: &str) -> StoreResult<Option<TokenRow>>;
    /// Every token accessor.
    async fn token_accessors(&self) -> StoreResult<Vec<String>>;
    /// The hashes of `hash` and all its descendants.
    async fn token_tree(&self, hash: &[u8]) -> StoreResult<Vec<Vec<u8>>>;
    /// Deletes a token and every descendant, in one transaction.
    async fn token_delete_tree(&self, hash: &[u8]) -> StoreResult<()>;
    /// Turns the children of `hash` into orphans, then deletes `hash`.
    async fn token_delete_orphaning(&self, hash: &[u8]) -> StoreResult<()>;
    /// Uses up one use of a limited-use token: `num_uses` goes from `expected` to `expected - 1`.
    /// `Conflict` if another request took that use first.
    async fn token_use(&self, hash: &[u8], expected: i64) -> StoreResult<()>;
    /// Sets a token's expiry and TTL (renewal).
    async fn token_renew(&self, hash: &[u8], ttl: i64, expire_time: Option<i64>) -> StoreResult<()>;
    /// Hashes of tokens that expired at or before `now` (at most `limit`).
    async fn token_expired(&self, now: i64, limit: i64) -> StoreResult<Vec<Vec<u8>>>;

    /// A configuration entry (JSON) of `kind` by name.
    async fn entry_get(&self, kind: &str, name: &str) -> StoreResult<Option<String>>;
    /// Creates or replaces an entry.
    async fn entry_put(&self, kind: &str, name: &str, value: &str) -> StoreResult<()>;
    /// Deletes an entry.
    async fn entry_delete(&self, kind: &str, name: &str) -> StoreResult<()>;
    /// Names of the entries of `kind` that start with `prefix`, sorted.
    async fn entry_list(&self, kind: &str, prefix: &str) -> StoreResult<Vec<String>>;
    /// Deletes every entry of `kind`.
    async fn entry_delete_kind(&self, kind: &str) -> StoreResult<()>;
    /// A sealed entry, as the barrier wrote it (`form` is the text the kind has always been kept
    /// in). Text that does not decode is a fault, never an absent entry.
    async fn entry_get_sealed(&self, kind: &str, name: &str, form: TextForm) -> StoreResult<Option<Sealed>> {
        match self.entry_get(kind, name).await? {
            None => Ok(None),
            Some(text) => form.decode(&text).map(Some),
        }
    }
    /// Creates or replaces a sealed entry.
    async fn entry_put_sealed(&self, kind: &str, name: &str, value: &Sealed, form: TextForm) -> StoreResult<()> {
        self.entry_put(kind, name, &form.encode(value)).await
    }

    /// A KV mount's settings (defaults when never written).
    async fn kv_config_get(&self, mount_id: &str) -> StoreResult<KvConfigRow>;
    /// Writes a KV mount's settings.
    async fn kv_config_put(&self, mount_id: &str, c: &KvConfigRow) -> StoreResult<()>;
    /// A key's metadata and the given version (the current one when `None`), in one query.
    async fn kv_read(&self, mount_id: &str, path: &str, version: Option<i64>) -> StoreResult<Option<KvRead>>;
    /// [`Store::kv_read`] from the database itself, past any cache (`X-Coffer-Consistency: strong`).
    async fn kv_read_fresh(&self, mount_id: &str, path: &str, version: Option<i64>) -> StoreResult<Option<KvRead>> {
        self.kv_read(mount_id, path, version).await
    }
    /// A key's metadata alone.
    async fn kv_metadata_get(&self, mount_id: &str, path: &str) -> StoreResult<Option<KvMetadataRow>>;
    /// A key's metadata and every kept version, without ciphertexts.
    async fn kv_metadata_with_versions(
        &self,
        mount_id: &str,
        path: &str,
    ) -> StoreResult<Option<(KvMetadataRow, Vec<KvVersionRow>)>>;
    /// Appends a version if the key is still at `expected_current`, labels it (ROTATION.md rules
    /// 1–3, 7–9) and prunes old unlabelled versions, all in one transaction.
    async fn kv_write(&self, w: &KvWrite<'_>) -> StoreResult<WriteOutcome>;
    /// Every label of a key with its version, sorted by label.
    async fn kv_stages(&self, mount_id: &str, path: &str) -> StoreResult<Vec<(String, i64)>>;
    /// The idempotency tokens of a key's staged writes, with the version each made (by version).
    async fn kv_request_tokens(&self, mount_id: &str, path: &str) -> StoreResult<Vec<(String, i64)>>;
    /// Moves `stage` to `to` (removes it when `None`) if it is now on `from`; `Conflict` otherwise.
    /// Moving `current` puts `previous` on the old holder.
    async fn kv_stage_move(
        &self,
        mount_id: &str,
        path: &str,
        stage: &str,
        to: Option<i64>,
        from: Option<i64>,
    ) -> StoreResult<()>;
    /// Creates or replaces a key's settings and custom metadata (versions untouched).
    async fn kv_metadata_put(&self, m: &KvMetadataRow) -> StoreResult<()>;
    /// Sets (`Some`) or clears (`None`) the deletion time of versions that are not destroyed.
    async fn kv_set_deletion(&self, mount_id: &str, path: &str, versions: &[i64], at: Option<&str>) -> StoreResult<()>;
    /// Destroys versions: drops their ciphertext for good.
    async fn kv_destroy(&self, mount_id: &str, path: &str, versions: &[i64]) -> StoreResult<()>;
    /// Deletes a key's metadata and all its versions.
    async fn kv_delete_all(&self, mount_id: &str, path: &str, fence: Option<&Fence>) -> StoreResult<()>;
    /// The children of folder `prefix` (empty, or ending in `/`) in `page`: key names, and
    /// sub-folders with a trailing `/`, each once however many keys it holds, sorted. Paged in
    /// the database: a page reads one index entry per child, never the whole folder.
    async fn kv_children(&self, mount_id: &str, prefix: &str, page: Page<'_>) -> StoreResult<Vec<String>>;
    /// Metadata rows of the keys that start with `prefix`, sorted by path, strictly after `after`
    /// when given, at most `limit` of them: one index range scan per page, whatever the size of
    /// the mount (`sys/search` walks a mount this way, a page at a time).
    async fn kv_metadata_page(
        &self,
        mount_id: &str,
        prefix: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<KvMetadataRow>>;
    /// Moves a secret (metadata, versions, labels, request tokens, rotation row) to another path
    /// of its mount, all or nothing, in one transaction; see [`moves::KvMove`]. Anything but
    /// [`moves::MoveOutcome::Moved`] leaves both paths as they were.
    async fn kv_move(&self, m: &moves::KvMove<'_>) -> StoreResult<moves::MoveOutcome>;
    /// Versions whose DEK is wrapped by a term older than `term` (at most `limit`).
    async fn kv_versions_below_term(&self, term: i64, limit: i64) -> StoreResult<Vec<(String, String, KvVersionRow)>>;
    /// Replaces one version's ciphertext if its term is still `old_term` (re-wrap after rotation).
    async fn kv_rewrap(
        &self,
        mount_id: &str,
        path: &str,
        version: i64,
        old_term: i64,
        new_term: i64,
        ciphertext: &Sealed,
    ) -> StoreResult<()>;

    /// Takes the singleton lease for `node` if it is free or expired, or renews it if `node`
    /// holds it; the epoch grows whenever the holder changes. Returns the epoch `node` now holds,
    /// or `None` if another node holds an unexpired lease.
    async fn lease_acquire(&self, node: &str, now_ms: i64, ttl_ms: i64) -> StoreResult<Option<i64>>;
    /// The lease as stored.
    async fn lease_get(&self) -> StoreResult<Option<LeaseRow>>;
    /// Ends `node`'s hold on the lease now (a clean shutdown), so another node takes it at once.
    async fn lease_release(&self, node: &str) -> StoreResult<()>;
    /// Records `node`'s heartbeat (its name, address and `last_seen`).
    async fn node_seen(&self, node: &NodeRow) -> StoreResult<()>;
    /// Removes `node`'s row (a clean shutdown), so that it is no longer listed as alive.
    async fn node_forget(&self, node: &str) -> StoreResult<()>;
    /// Every node seen, most recent first.
    async fn node_list(&self) -> StoreResult<Vec<NodeRow>>;
    /// Deletes a token and its descendants only while `fence` still holds the lease; `Conflict`
    /// when it does not (a paused ex-leader).
    async fn token_delete_tree_fenced(&self, hash: &[u8], fence: &Fence) -> StoreResult<()>;
    /// Replaces a system record only if it still holds `expected`; `Conflict` otherwise (another
    /// node changed it first, e.g. two concurrent keyring rotations).
    async fn system_swap(&self, key: &str, expected: &[u8], value: &[u8]) -> StoreResult<()>;
    /// Writes several system records in one transaction only if `key` still holds `expected`;
    /// `Conflict` (and nothing written) otherwise. A rekey replaces the root key's ciphertext and
    /// the seal configuration together this way.
    async fn system_swap_with(&self, key: &str, expected: &[u8], entries: &[(&str, &[u8])]) -> StoreResult<()>;
}

/// How long after its last heartbeat a node still counts as alive: listed by `sys/ha-status`, and
/// a running server to `coffer operator migrate`. A cleanly stopped node removes its row at once.
pub const NODE_ALIVE_MS: i64 = 60_000;

/// The name of the one singleton lease.
pub const LEASE_NAME: &str = "singletons";

/// The singleton lease row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LeaseRow {
    /// Node id of the holder.
    pub holder: String,
    /// Fencing epoch: grows by one each time the holder changes.
    pub epoch: i64,
    /// Unix milliseconds.
    pub expires_at: i64,
}

/// A node sharing this store.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NodeRow {
    /// Per-process node id.
    pub id: String,
    /// The configured `ha.node_name` (the host name by default).
    pub name: String,
    /// API address it serves on.
    pub address: String,
    /// Unix milliseconds of its last heartbeat.
    pub last_seen: i64,
}

/// What a singleton write must still hold to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The leader's node id.
    pub node: String,
    /// The epoch it was granted.
    pub epoch: i64,
}

/// A shared handle to the configured store.
pub type SharedStore = Arc<dyn Store>;

/// Connection pool settings of a PostgreSQL store (`[storage]`; SQLite keeps its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// Most connections this process opens to the database.
    pub max_connections: u32,
    /// How long a request waits for a free connection (or a new one) before it gets 503; also
    /// how long a used connection may take to answer on its way back to the pool before it is
    /// closed instead (PostgreSQL).
    pub acquire_timeout: std::time::Duration,
    /// Idle connections are closed after this long.
    pub idle_timeout: std::time::Duration,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            max_connections: 16,
            acquire_timeout: std::time::Duration::from_secs(5),
            idle_timeout: std::time::Duration::from_secs(600),
        }
    }
}

/// Opens the store named by a URL with the default pool settings.
pub async fn open(url: &str) -> StoreResult<SharedStore> {
    open_with(url, &Pool::default()).await
}

/// Opens the store named by a URL: `sqlite://…` or `sqlite::memory:` for the embedded store,
/// `postgres://…` or `postgresql://…` for PostgreSQL (with `pool`).
pub async fn open_with(url: &str, pool: &Pool) -> StoreResult<SharedStore> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::open(url, pool).await?))
    } else {
        Err(StoreError::Backend(format!(
            "unsupported storage url scheme {:?}: use sqlite:// or postgres://",
            url.split(':').next().unwrap_or("")
        )))
    }
}

impl From<StoreError> for crate::base::error::ApiError {
    /// A database that cannot be reached (or a SQLite file locked by another process past
    /// `busy_timeout`) is 503 with `Retry-After` (the request did nothing and may be repeated); a
    /// full disk is 507; any other store failure is an opaque 500 logged under an error id.
    fn from(e: StoreError) -> crate::base::error::ApiError {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "storage unavailable");
                let mut err = crate::base::error::ApiError::new(
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "storage is unavailable; retry later",
                );
                err.retry_after = Some(crate::base::error::STORAGE_RETRY_AFTER);
                err
            }
            StoreError::Full(cause) => {
                tracing::error!(error = %cause, "storage is full: writes fail until space is freed");
                crate::base::error::ApiError::new(
                    http::StatusCode::INSUFFICIENT_STORAGE,
                    "storage is full; the write was not saved",
                )
            }
            other => crate::base::error::ApiError::internal(&other),
        }
    }
}
