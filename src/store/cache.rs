//! A byte-bounded cache of KV rows in front of a store, as they sit in storage (still sealed: a
//! memory dump of it shows no more than the database would). Write-through: every KV write drops
//! the key's entry in the call that commits it, and a read that raced a write never fills.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use hashlink::LruCache;

use super::leases::{LeaseStore, SecretLeaseRow};
use packed::{pack_meta, pack_version, unpack_meta, unpack_version};

mod packed;
use super::rotation::{RotationRow, RotationStore};
use super::*;

/// Stripes of the fill guard: a write bumps its key's stripe, and a read started before that
/// bump does not fill.
const STRIPES: usize = 64;

/// Slots of the admission doorkeeper (8 bytes each).
const DOORKEEPER: usize = 8192;

/// Bytes counted per entry and per version besides their packed rows and key.
const OVERHEAD: usize = 192;

/// On a store several nodes share, an entry is served for at most this long: the bound on how
/// stale a read can be when another node's change notice was lost on the way.
pub const SHARED_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(5);

/// What the cache holds for one key: its metadata and the versions read so far, each packed into
/// one allocation (about 500 bytes for a small secret, against 1.3 KB as row structs).
struct Entry {
    meta: Box<[u8]>,
    /// The version a read that names none gets (the `current` label's, else the latest), once
    /// such a read has been answered by the store: the cache never works it out by itself.
    default: Option<i64>,
    versions: Vec<(i64, Box<[u8]>)>,
    bytes: usize,
    filled: std::time::Instant,
}

/// What an entry (its key and packed metadata) or a packed version counts against the budget.
fn charge(packed: &[u8], key: &str) -> usize {
    OVERHEAD + packed.len() + key.len()
}

/// The key of one KV secret: mount id, a NUL, the path (neither holds a NUL).
fn key(mount_id: &str, path: &str) -> String {
    let mut k = String::with_capacity(mount_id.len() + path.len() + 1);
    k.push_str(mount_id);
    k.push('\0');
    k.push_str(path);
    k
}

/// Whether a key missing from a full cache may come in: yes at its second miss in a row of its
/// doorkeeper slot, no (and noted) at its first.
fn admitted(doorkeeper: &mut [u64], k: &str) -> bool {
    use std::hash::Hasher;
    let mut h = std::hash::DefaultHasher::new();
    h.write(k.as_bytes());
    let hash = h.finish() | 1;
    let slot = usize::try_from(hash % DOORKEEPER as u64).unwrap_or(0);
    match doorkeeper.get_mut(slot) {
        Some(seen) if *seen == hash => {
            *seen = 0;
            true
        }
        Some(seen) => {
            *seen = hash;
            false
        }
        None => true,
    }
}

fn stripe(k: &str) -> usize {
    use std::hash::Hasher;
    let mut h = std::hash::DefaultHasher::new();
    h.write(k.as_bytes());
    usize::try_from(h.finish() % STRIPES as u64).unwrap_or(0)
}

struct State {
    entries: LruCache<String, Entry>,
    bytes: usize,
    /// Bumped by every write (per stripe) and by every clear (all of them).
    generations: [u64; STRIPES],
    /// Off while the change feed is down (another node's writes would go unheard).
    serving: bool,
    /// Each KV mount's settings, read before every write (single-node stores only; a few bytes
    /// per mount, outside the budget).
    configs: std::collections::HashMap<String, KvConfigRow>,
    /// Bumped by every settings write and every clear.
    config_generation: u64,
    /// Admission once the cache is full: a key's hash is noted at its first miss and the key is
    /// kept only at its second, so a working set larger than the cache (reads spread over a
    /// million secrets) does not evict the whole cache one read at a time for entries that are
    /// never read again. Direct-mapped; a collision only delays an admission.
    doorkeeper: Box<[u64]>,
}

/// Counters for the figures (`sys/metrics` later).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Reads answered from the cache.
    pub hits: u64,
    /// Reads that went to the store.
    pub misses: u64,
    /// Entries held now.
    pub entries: usize,
    /// Bytes held now (as counted).
    pub bytes: usize,
}

/// The KV rows cache itself (shared by the store wrapper and the change feed).
pub struct KvCache {
    budget: usize,
    /// Entries older than this are not served (a store shared with other nodes).
    max_age: Option<std::time::Duration>,
    /// Where this node's writes are announced to the other nodes.
    changes: std::sync::OnceLock<crate::store::bus::Changes>,
    state: Mutex<State>,
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
}

/// A read's ticket: the fill it may make is refused if its key was written since.
pub struct Ticket {
    stripe: usize,
    generation: u64,
}

impl KvCache {
    /// A cache of at most `budget` bytes (0: nothing is ever kept).
    pub fn new(budget: usize) -> Self {
        Self::build(budget, None, true)
    }

    /// A cache for a store other nodes write too: it serves only once the change feed has
    /// subscribed ([`KvCache::set_serving`]), and no entry older than [`SHARED_MAX_AGE`].
    pub fn shared(budget: usize) -> Self {
        Self::build(budget, Some(SHARED_MAX_AGE), false)
    }

    fn build(budget: usize, max_age: Option<std::time::Duration>, serving: bool) -> Self {
        KvCache {
            budget,
            max_age,
            changes: std::sync::OnceLock::new(),
            state: Mutex::new(State {
                entries: LruCache::new_unbounded(),
                bytes: 0,
                generations: [0; STRIPES],
                serving,
                configs: Default::default(),
                config_generation: 0,
                doorkeeper: vec![0; if budget > 0 { DOORKEEPER } else { 0 }].into_boxed_slice(),
            }),
            hits: Default::default(),
            misses: Default::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The rows of `version` (the current one when `None`) of a key, if held.
    pub fn get(&self, mount_id: &str, path: &str, version: Option<i64>) -> Option<KvRead> {
        use std::sync::atomic::Ordering::Relaxed;
        let found = {
            let mut st = self.state();
            if !st.serving {
                None
            } else {
                st.entries.get(&key(mount_id, path)).filter(|e| !self.expired(e)).and_then(|e| {
                    let want = version.or(e.default)?;
                    let (_, v) = e.versions.iter().find(|(n, _)| *n == want)?;
                    Some((unpack_meta(mount_id, path, &e.meta)?, Some(unpack_version(want, v)?)))
                })
            }
        };
        match found {
            Some(_) => self.hits.fetch_add(1, Relaxed),
            None => self.misses.fetch_add(1, Relaxed),
        };
        found
    }

    fn expired(&self, e: &Entry) -> bool {
        self.max_age.is_some_and(|m| e.filled.elapsed() > m)
    }

    /// Taken before a store read whose answer may fill the cache.
    pub fn ticket(&self, mount_id: &str, path: &str) -> Ticket {
        let stripe = stripe(&key(mount_id, path));
        let generation = self.state().generations.get(stripe).copied().unwrap_or(0);
        Ticket { stripe, generation }
    }

    /// Keeps what a store read answered, unless the key was written (or the cache cleared) since
    /// the ticket was taken.
    pub fn fill(&self, ticket: Ticket, asked: Option<i64>, read: &KvRead) {
        let (meta, Some(version)) = read else { return };
        if self.budget == 0 {
            return;
        }
        let k = key(&meta.mount_id, &meta.path);
        let mut st = self.state();
        if !st.serving || st.generations.get(ticket.stripe).copied() != Some(ticket.generation) {
            return;
        }
        let size = 2 * OVERHEAD + k.len() + version.ciphertext.as_ref().map_or(0, |c| c.as_bytes().len());
        if st.bytes + size > self.budget && !st.entries.contains_key(&k) && !admitted(&mut st.doorkeeper, &k) {
            return;
        }
        let packed_meta = pack_meta(meta);
        let fresh = || Entry {
            bytes: charge(&packed_meta, &k),
            meta: packed_meta.clone(),
            default: None,
            versions: Vec::new(),
            filled: std::time::Instant::now(),
        };
        let (mut entry, counted) = match st.entries.remove(&k) {
            // Same metadata (and not expired): the entry gains a version.
            Some(e) if e.meta == packed_meta && !self.expired(&e) => {
                let counted = e.bytes;
                (e, counted)
            }
            Some(e) => (fresh(), e.bytes),
            None => (fresh(), 0),
        };
        st.bytes = st.bytes.saturating_sub(counted);
        if asked.is_none() {
            entry.default = Some(version.version);
        }
        if !entry.versions.iter().any(|(n, _)| *n == version.version) {
            let packed = pack_version(version);
            entry.bytes += charge(&packed, "");
            entry.versions.push((version.version, packed));
        }
        if entry.bytes <= self.budget {
            st.bytes += entry.bytes;
            st.entries.insert(k, entry);
        }
        while st.bytes > self.budget {
            match st.entries.remove_lru() {
                Some((_, e)) => st.bytes = st.bytes.saturating_sub(e.bytes),
                None => {
                    st.bytes = 0;
                    break;
                }
            }
        }
    }

    /// Where this node's KV writes are announced (the core's change feed).
    pub fn announce_to(&self, changes: crate::store::bus::Changes) {
        let _ = self.changes.set(changes);
    }

    /// A KV write on this node: drops the key here, and tells the other nodes to drop it too.
    pub fn written(&self, mount_id: &str, path: &str) {
        self.drop_key(mount_id, path);
        if let Some(c) = self.changes.get() {
            c.changed_kv(mount_id, path);
        }
    }

    /// Drops a key (a write here or on another node).
    pub fn drop_key(&self, mount_id: &str, path: &str) {
        let k = key(mount_id, path);
        let s = stripe(&k);
        let mut st = self.state();
        if let Some(g) = st.generations.get_mut(s) {
            *g += 1;
        }
        if let Some(e) = st.entries.remove(&k) {
            st.bytes = st.bytes.saturating_sub(e.bytes);
        }
    }

    /// A KV mount's settings, if held. Only on a single-node store: another node's settings
    /// writes are not announced.
    pub fn config(&self, mount_id: &str) -> Option<KvConfigRow> {
        if self.max_age.is_some() {
            return None;
        }
        self.state().configs.get(mount_id).cloned()
    }

    /// Taken before a settings read from the store.
    pub fn config_ticket(&self) -> u64 {
        self.state().config_generation
    }

    /// Keeps a mount's settings as read, unless settings were written (or the cache cleared)
    /// since `ticket`.
    pub fn config_fill(&self, ticket: u64, mount_id: &str, row: &KvConfigRow) {
        if self.max_age.is_some() || self.budget == 0 {
            return;
        }
        let mut st = self.state();
        if st.config_generation == ticket {
            st.configs.insert(mount_id.to_string(), row.clone());
        }
    }

    /// A mount's settings were written.
    pub fn config_written(&self, mount_id: &str) {
        let mut st = self.state();
        st.config_generation += 1;
        st.configs.remove(mount_id);
    }

    /// Drops everything (seal, a mount removed, a restore, messages from other nodes lost).
    pub fn clear(&self) {
        let mut st = self.state();
        st.config_generation += 1;
        st.configs.clear();
        for g in st.generations.iter_mut() {
            *g += 1;
        }
        st.entries.clear();
        st.bytes = 0;
    }

    /// Stops (`false`: the change feed is down) or resumes serving; either way everything held
    /// is dropped, since changes may have gone unheard.
    pub fn set_serving(&self, serving: bool) {
        self.clear();
        self.state().serving = serving;
    }

    /// Whether reads are answered from the cache now.
    pub fn is_serving(&self) -> bool {
        self.state().serving
    }

    /// Hits, misses and what is held.
    pub fn counts(&self) -> Counts {
        use std::sync::atomic::Ordering::Relaxed;
        let st = self.state();
        Counts {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            entries: st.entries.len(),
            bytes: st.bytes,
        }
    }
}

/// `[cache]`: the KV rows cache's budget, and whether it may serve on a store shared by several
/// nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Bytes of KV rows kept (0: no cache).
    pub size: usize,
    /// On a store other nodes may write (PostgreSQL), keep the cache, dropping entries as other
    /// nodes' changes arrive over the change feed. Off by default: a client that writes on one
    /// node and reads on another must not see an older value.
    pub multi_node: bool,
}

/// The default budget: 64 MiB.
pub const DEFAULT_SIZE: usize = 64 << 20;

impl Default for Settings {
    fn default() -> Self {
        Settings { size: DEFAULT_SIZE, multi_node: false }
    }
}

/// `store` behind a KV cache, when `settings` and the store allow one: always on a single-node
/// store (SQLite), on a shared one (PostgreSQL) only with `multi_node`.
pub fn wrap(store: SharedStore, settings: &Settings) -> (SharedStore, Option<Arc<KvCache>>) {
    if settings.size == 0 || (store.bus().is_some() && !settings.multi_node) {
        return (store, None);
    }
    let cache = Arc::new(match store.bus() {
        Some(_) => KvCache::shared(settings.size),
        None => KvCache::new(settings.size),
    });
    (Arc::new(Cached::new(store, cache.clone())), Some(cache))
}

/// A store with a [`KvCache`] in front of its KV reads.
pub struct Cached {
    inner: SharedStore,
    cache: Arc<KvCache>,
}

impl Cached {
    /// `inner` behind `cache`.
    pub fn new(inner: SharedStore, cache: Arc<KvCache>) -> Self {
        Cached { inner, cache }
    }

    fn dropping<T>(&self, mount_id: &str, path: &str, r: StoreResult<T>) -> StoreResult<T> {
        // Whatever the outcome (a failed commit may still have landed), the entry goes.
        self.cache.written(mount_id, path);
        r
    }
}
#[async_trait]
impl Store for Cached {
    fn bus(&self) -> Option<Arc<dyn crate::store::bus::Bus>> {
        self.inner.bus()
    }

    fn storage_type(&self) -> &'static str {
        self.inner.storage_type()
    }

    async fn dump_tables(&self) -> StoreResult<Vec<copy::TableRows>> {
        self.inner.dump_tables().await
    }

    async fn load_tables(&self, tables: Vec<copy::TableRows>) -> StoreResult<()> {
        let r = self.inner.load_tables(tables).await;
        self.cache.clear();
        r
    }

    async fn count_rows(&self) -> StoreResult<Vec<(String, u64)>> {
        self.inner.count_rows().await
    }

    async fn replace_tables(
        &self,
        tables: Vec<copy::TableRows>,
        keep_kinds: &'static [&'static str],
        pending: copy::Pending,
    ) -> StoreResult<()> {
        let r = self.inner.replace_tables(tables, keep_kinds, pending).await;
        self.cache.clear();
        r
    }

    async fn restore_pending(&self) -> StoreResult<Option<Vec<u8>>> {
        self.inner.restore_pending().await
    }

    async fn restore_pending_clear(&self) -> StoreResult<()> {
        self.inner.restore_pending_clear().await
    }

    async fn system_get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.inner.system_get(key).await
    }

    async fn system_put(&self, entries: &[(&str, &[u8])]) -> StoreResult<()> {
        self.inner.system_put(entries).await
    }

    async fn mount_list(&self) -> StoreResult<Vec<MountRow>> {
        self.inner.mount_list().await
    }

    async fn mount_insert(&self, m: &MountRow) -> StoreResult<()> {
        self.inner.mount_insert(m).await
    }

    async fn mount_update(&self, m: &MountRow) -> StoreResult<()> {
        self.inner.mount_update(m).await
    }

    async fn mount_delete(&self, id: &str) -> StoreResult<()> {
        let r = self.inner.mount_delete(id).await;
        self.cache.clear();
        r
    }

    async fn token_get(&self, hash: &[u8]) -> StoreResult<Option<TokenRow>> {
        self.inner.token_get(hash).await
    }

    async fn token_put(&self, t: &TokenRow) -> StoreResult<()> {
        self.inner.token_put(t).await
    }

    async fn token_delete(&self, hash: &[u8]) -> StoreResult<()> {
        self.inner.token_delete(hash).await
    }

    async fn token_by_accessor(&self, accessor: &str) -> StoreResult<Option<TokenRow>> {
        self.inner.token_by_accessor(accessor).await
    }

    async fn token_accessors(&self) -> StoreResult<Vec<String>> {
        self.inner.token_accessors().await
    }

    async fn token_tree(&self, hash: &[u8]) -> StoreResult<Vec<Vec<u8>>> {
        self.inner.token_tree(hash).await
    }

    async fn token_delete_tree(&self, hash: &[u8]) -> StoreResult<()> {
        self.inner.token_delete_tree(hash).await
    }

    async fn token_delete_orphaning(&self, hash: &[u8]) -> StoreResult<()> {
        self.inner.token_delete_orphaning(hash).await
    }

    async fn token_use(&self, hash: &[u8], expected: i64) -> StoreResult<()> {
        self.inner.token_use(hash, expected).await
    }

    async fn token_renew(&self, hash: &[u8], ttl: i64, expire_time: Option<i64>) -> StoreResult<()> {
        self.inner.token_renew(hash, ttl, expire_time).await
    }

    async fn token_expired(&self, now: i64, limit: i64) -> StoreResult<Vec<Vec<u8>>> {
        self.inner.token_expired(now, limit).await
    }

    async fn entry_get(&self, kind: &str, name: &str) -> StoreResult<Option<String>> {
        self.inner.entry_get(kind, name).await
    }

    async fn entry_put(&self, kind: &str, name: &str, value: &str) -> StoreResult<()> {
        self.inner.entry_put(kind, name, value).await
    }

    async fn entry_delete(&self, kind: &str, name: &str) -> StoreResult<()> {
        self.inner.entry_delete(kind, name).await
    }

    async fn entry_list(&self, kind: &str, prefix: &str) -> StoreResult<Vec<String>> {
        self.inner.entry_list(kind, prefix).await
    }

    async fn entry_delete_kind(&self, kind: &str) -> StoreResult<()> {
        self.inner.entry_delete_kind(kind).await
    }

    async fn kv_config_get(&self, mount_id: &str) -> StoreResult<KvConfigRow> {
        if let Some(c) = self.cache.config(mount_id) {
            return Ok(c);
        }
        let ticket = self.cache.config_ticket();
        let c = self.inner.kv_config_get(mount_id).await?;
        self.cache.config_fill(ticket, mount_id, &c);
        Ok(c)
    }

    async fn kv_config_put(&self, mount_id: &str, c: &KvConfigRow) -> StoreResult<()> {
        let r = self.inner.kv_config_put(mount_id, c).await;
        self.cache.config_written(mount_id);
        r
    }

    async fn kv_read(&self, mount_id: &str, path: &str, version: Option<i64>) -> StoreResult<Option<KvRead>> {
        if let Some(hit) = self.cache.get(mount_id, path, version) {
            return Ok(Some(hit));
        }
        let ticket = self.cache.ticket(mount_id, path);
        let read = self.inner.kv_read(mount_id, path, version).await?;
        if let Some(r) = &read {
            self.cache.fill(ticket, version, r);
        }
        Ok(read)
    }

    async fn kv_read_fresh(&self, mount_id: &str, path: &str, version: Option<i64>) -> StoreResult<Option<KvRead>> {
        self.inner.kv_read(mount_id, path, version).await
    }

    async fn kv_metadata_get(&self, mount_id: &str, path: &str) -> StoreResult<Option<KvMetadataRow>> {
        self.inner.kv_metadata_get(mount_id, path).await
    }

    async fn kv_metadata_with_versions(
        &self,
        mount_id: &str,
        path: &str,
    ) -> StoreResult<Option<(KvMetadataRow, Vec<KvVersionRow>)>> {
        self.inner.kv_metadata_with_versions(mount_id, path).await
    }

    async fn kv_write(&self, w: &KvWrite<'_>) -> StoreResult<WriteOutcome> {
        let r = self.inner.kv_write(w).await;
        self.dropping(w.mount_id, w.path, r)
    }

    async fn kv_stages(&self, mount_id: &str, path: &str) -> StoreResult<Vec<(String, i64)>> {
        self.inner.kv_stages(mount_id, path).await
    }

    async fn kv_request_tokens(&self, mount_id: &str, path: &str) -> StoreResult<Vec<(String, i64)>> {
        self.inner.kv_request_tokens(mount_id, path).await
    }

    async fn kv_stage_move(
        &self,
        mount_id: &str,
        path: &str,
        stage: &str,
        to: Option<i64>,
        from: Option<i64>,
    ) -> StoreResult<()> {
        let r = self.inner.kv_stage_move(mount_id, path, stage, to, from).await;
        self.dropping(mount_id, path, r)
    }

    async fn kv_metadata_put(&self, m: &KvMetadataRow) -> StoreResult<()> {
        let r = self.inner.kv_metadata_put(m).await;
        self.dropping(&m.mount_id, &m.path, r)
    }

    async fn kv_set_deletion(&self, mount_id: &str, path: &str, versions: &[i64], at: Option<&str>) -> StoreResult<()> {
        let r = self.inner.kv_set_deletion(mount_id, path, versions, at).await;
        self.dropping(mount_id, path, r)
    }

    async fn kv_destroy(&self, mount_id: &str, path: &str, versions: &[i64]) -> StoreResult<()> {
        let r = self.inner.kv_destroy(mount_id, path, versions).await;
        self.dropping(mount_id, path, r)
    }

    async fn kv_delete_all(&self, mount_id: &str, path: &str, fence: Option<&Fence>) -> StoreResult<()> {
        let r = self.inner.kv_delete_all(mount_id, path, fence).await;
        self.dropping(mount_id, path, r)
    }

    async fn kv_children(&self, mount_id: &str, prefix: &str, page: Page<'_>) -> StoreResult<Vec<String>> {
        self.inner.kv_children(mount_id, prefix, page).await
    }

    async fn kv_metadata_page(
        &self,
        mount_id: &str,
        prefix: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<KvMetadataRow>> {
        self.inner.kv_metadata_page(mount_id, prefix, after, limit).await
    }

    async fn kv_move(&self, m: &moves::KvMove<'_>) -> StoreResult<moves::MoveOutcome> {
        let r = self.inner.kv_move(m).await;
        // Both keys go, here and (announced) on the other nodes: the old path must not be served
        // from the cache once the move committed, nor the new one from before it.
        self.cache.written(m.mount_id, m.to);
        self.dropping(m.mount_id, m.from, r)
    }

    async fn kv_versions_below_term(&self, term: i64, limit: i64) -> StoreResult<Vec<(String, String, KvVersionRow)>> {
        self.inner.kv_versions_below_term(term, limit).await
    }

    async fn kv_rewrap(
        &self,
        mount_id: &str,
        path: &str,
        version: i64,
        old_term: i64,
        new_term: i64,
        ciphertext: &Sealed,
    ) -> StoreResult<()> {
        let r = self.inner.kv_rewrap(mount_id, path, version, old_term, new_term, ciphertext).await;
        self.dropping(mount_id, path, r)
    }

    async fn lease_acquire(&self, node: &str, now_ms: i64, ttl_ms: i64) -> StoreResult<Option<i64>> {
        self.inner.lease_acquire(node, now_ms, ttl_ms).await
    }

    async fn lease_get(&self) -> StoreResult<Option<LeaseRow>> {
        self.inner.lease_get().await
    }

    async fn lease_release(&self, node: &str) -> StoreResult<()> {
        self.inner.lease_release(node).await
    }

    async fn node_seen(&self, node: &NodeRow) -> StoreResult<()> {
        self.inner.node_seen(node).await
    }

    async fn node_forget(&self, node: &str) -> StoreResult<()> {
        self.inner.node_forget(node).await
    }

    async fn node_list(&self) -> StoreResult<Vec<NodeRow>> {
        self.inner.node_list().await
    }

    async fn token_delete_tree_fenced(&self, hash: &[u8], fence: &Fence) -> StoreResult<()> {
        self.inner.token_delete_tree_fenced(hash, fence).await
    }

    async fn system_swap(&self, key: &str, expected: &[u8], value: &[u8]) -> StoreResult<()> {
        self.inner.system_swap(key, expected, value).await
    }

    async fn system_swap_with(&self, key: &str, expected: &[u8], entries: &[(&str, &[u8])]) -> StoreResult<()> {
        self.inner.system_swap_with(key, expected, entries).await
    }
}

#[async_trait]
impl LeaseStore for Cached {
    async fn secret_lease_insert(&self, l: &SecretLeaseRow) -> StoreResult<()> {
        self.inner.secret_lease_insert(l).await
    }

    async fn secret_lease_get(&self, id: &str) -> StoreResult<Option<SecretLeaseRow>> {
        self.inner.secret_lease_get(id).await
    }

    async fn secret_lease_ids(&self, prefix: &str, limit: i64) -> StoreResult<Vec<String>> {
        self.inner.secret_lease_ids(prefix, limit).await
    }

    async fn secret_lease_renew(&self, id: &str, expire_time: i64, now: i64) -> StoreResult<()> {
        self.inner.secret_lease_renew(id, expire_time, now).await
    }

    async fn secret_lease_delete(&self, id: &str) -> StoreResult<()> {
        self.inner.secret_lease_delete(id).await
    }

    async fn secret_lease_delete_fenced(&self, id: &str, fence: &Fence) -> StoreResult<()> {
        self.inner.secret_lease_delete_fenced(id, fence).await
    }

    async fn secret_lease_delete_fenced_many(&self, ids: &[String], fence: &Fence) -> StoreResult<()> {
        self.inner.secret_lease_delete_fenced_many(ids, fence).await
    }

    async fn secret_lease_due(&self, now: i64, limit: i64) -> StoreResult<Vec<SecretLeaseRow>> {
        self.inner.secret_lease_due(now, limit).await
    }

    async fn secret_lease_ids_by_token(&self, token_hash: &[u8]) -> StoreResult<Vec<String>> {
        self.inner.secret_lease_ids_by_token(token_hash).await
    }

    async fn secret_lease_failed(&self, id: &str, attempts: i64, next_attempt: i64, error: &str) -> StoreResult<()> {
        self.inner.secret_lease_failed(id, attempts, next_attempt, error).await
    }

    async fn secret_lease_count_role(&self, role: &str) -> StoreResult<i64> {
        self.inner.secret_lease_count_role(role).await
    }

    async fn secret_lease_count_token(&self, token_hash: &[u8], role: Option<&str>) -> StoreResult<i64> {
        self.inner.secret_lease_count_token(token_hash, role).await
    }

    async fn secret_lease_due_for_token(&self, token_hash: &[u8], now: i64) -> StoreResult<()> {
        self.inner.secret_lease_due_for_token(token_hash, now).await
    }

    async fn secret_lease_counts(&self) -> StoreResult<(i64, i64)> {
        self.inner.secret_lease_counts().await
    }

    async fn secret_lease_counts_by_mount(&self, failing: bool) -> StoreResult<Vec<(String, i64)>> {
        self.inner.secret_lease_counts_by_mount(failing).await
    }
}

#[async_trait]
impl RotationStore for Cached {
    async fn rotation_get(&self, mount_id: &str, path: &str) -> StoreResult<Option<RotationRow>> {
        self.inner.rotation_get(mount_id, path).await
    }

    async fn rotation_insert(&self, row: &RotationRow) -> StoreResult<()> {
        self.inner.rotation_insert(row).await
    }

    async fn rotation_update(&self, row: &RotationRow, fence: Option<&Fence>) -> StoreResult<()> {
        self.inner.rotation_update(row, fence).await
    }

    async fn rotation_delete(&self, mount_id: &str, path: &str, rev: i64, fence: Option<&Fence>) -> StoreResult<()> {
        self.inner.rotation_delete(mount_id, path, rev, fence).await
    }

    async fn rotation_claim_due(
        &self,
        now: i64,
        claim_until: i64,
        limit: i64,
        fence: &Fence,
    ) -> StoreResult<Vec<RotationRow>> {
        self.inner.rotation_claim_due(now, claim_until, limit, fence).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(mount: &str, path: &str, current: i64, bytes: usize) -> KvRead {
        let meta = KvMetadataRow::bare(mount, path, current, 1);
        let version = KvVersionRow {
            version: current,
            created_time: String::new(),
            deletion_time: None,
            destroyed: false,
            key_term: Some(1),
            ciphertext: Some(Sealed::from_stored(vec![7; bytes])),
        };
        (meta, Some(version))
    }

    #[test]
    fn a_read_that_raced_a_write_does_not_fill() {
        let c = KvCache::new(1 << 20);
        let ticket = c.ticket("m", "k");
        // The write lands (and drops the key) while the read is at the store.
        c.drop_key("m", "k");
        c.fill(ticket, None, &read("m", "k", 1, 10));
        assert!(c.get("m", "k", None).is_none(), "an answer older than the write was kept");
        // A read that starts after the write fills.
        let ticket = c.ticket("m", "k");
        c.fill(ticket, None, &read("m", "k", 2, 10));
        assert_eq!(c.get("m", "k", None).map(|(m, _)| m.current_version), Some(2));
        assert_eq!(c.get("m", "k", Some(2)).and_then(|(_, v)| v).map(|v| v.version), Some(2));
        assert!(c.get("m", "k", Some(1)).is_none(), "a version never read is not invented");
        // A clear also refuses fills of reads started before it.
        let ticket = c.ticket("m", "other");
        c.clear();
        c.fill(ticket, None, &read("m", "other", 1, 10));
        assert!(c.get("m", "other", None).is_none());
    }

    #[test]
    fn a_read_naming_no_version_is_answered_only_as_the_store_answered_it() {
        let c = KvCache::new(1 << 20);
        // Version 2 is the newest, read by number: a plain read is not worked out from it.
        let t = c.ticket("m", "k");
        c.fill(t, Some(2), &read("m", "k", 2, 10));
        assert!(c.get("m", "k", None).is_none(), "the cache guessed the default version");
        // The store answered a plain read with version 1 (the `current` label sits there).
        let (meta, _) = read("m", "k", 2, 10);
        let (_, v1) = read("m", "k", 1, 10);
        let t = c.ticket("m", "k");
        c.fill(t, None, &(meta, v1));
        assert_eq!(c.get("m", "k", None).and_then(|(_, v)| v).map(|v| v.version), Some(1));
        assert_eq!(c.get("m", "k", Some(2)).and_then(|(_, v)| v).map(|v| v.version), Some(2));
    }

    #[test]
    fn mount_settings_are_kept_on_one_node_only_and_never_over_a_newer_write() {
        let c = KvCache::new(1 << 20);
        let row = KvConfigRow { max_versions: 3, ..Default::default() };
        let t = c.config_ticket();
        c.config_written("m");
        c.config_fill(t, "m", &KvConfigRow::default());
        assert_eq!(c.config("m"), None, "a read older than the write was kept");
        let t = c.config_ticket();
        c.config_fill(t, "m", &row);
        assert_eq!(c.config("m"), Some(row.clone()));
        c.clear();
        assert_eq!(c.config("m"), None);
        // A store other nodes write: their settings writes are not announced, so none are kept.
        let shared = KvCache::shared(1 << 20);
        let t = shared.config_ticket();
        shared.config_fill(t, "m", &row);
        assert_eq!(shared.config("m"), None);
    }

    #[test]
    fn the_budget_bounds_what_is_held() {
        let c = KvCache::new(4096);
        for i in 0..100 {
            let path = format!("k{i}");
            // Twice: once the cache is full, a key comes in at its second miss.
            for _ in 0..2 {
                let t = c.ticket("m", &path);
                c.fill(t, None, &read("m", &path, 1, 500));
            }
        }
        let n = c.counts();
        assert!(n.bytes <= 4096, "{n:?}");
        assert!(n.entries >= 1 && n.entries < 10, "{n:?}");
        // The newest is kept, the oldest went first.
        assert!(c.get("m", "k99", None).is_some());
        assert!(c.get("m", "k0", None).is_none());
        // An entry larger than the whole budget is not kept.
        let t = c.ticket("m", "big");
        c.fill(t, None, &read("m", "big", 1, 10_000));
        assert!(c.get("m", "big", None).is_none());
        assert!(c.counts().bytes <= 4096);
        // A cache of size 0 keeps nothing.
        let off = KvCache::new(0);
        let t = off.ticket("m", "k");
        off.fill(t, None, &read("m", "k", 1, 1));
        assert_eq!(off.counts().entries, 0);
    }

    #[test]
    fn a_full_cache_admits_a_key_at_its_second_miss_and_one_off_reads_evict_nothing() {
        let c = KvCache::new(4096);
        let fill = |path: &str| {
            let t = c.ticket("m", path);
            c.fill(t, None, &read("m", path, 1, 500));
        };
        // While there is room, a first read is kept.
        for i in 0..4 {
            fill(&format!("hot{i}"));
        }
        let held = c.counts().entries;
        assert!(held >= 3, "{:?}", c.counts());
        // Full: a thousand keys read once each (a working set far larger than the cache) leave the
        // held entries where they are.
        for i in 0..1000 {
            fill(&format!("cold{i}"));
        }
        assert_eq!(c.counts().entries, held);
        assert!(c.get("m", "hot0", None).is_some());
        assert!(c.get("m", "cold999", None).is_none());
        // A key read again comes in (and the least recently used one goes).
        fill("cold999");
        assert!(c.get("m", "cold999", None).is_some());
    }

    #[test]
    fn while_not_serving_nothing_is_answered_or_kept() {
        let c = KvCache::new(1 << 20);
        let t = c.ticket("m", "k");
        c.fill(t, None, &read("m", "k", 1, 10));
        c.set_serving(false);
        assert!(c.get("m", "k", None).is_none());
        let t = c.ticket("m", "k");
        c.fill(t, None, &read("m", "k", 1, 10));
        assert_eq!(c.counts().entries, 0);
        c.set_serving(true);
        let t = c.ticket("m", "k");
        c.fill(t, None, &read("m", "k", 1, 10));
        assert!(c.get("m", "k", None).is_some());
    }
}
