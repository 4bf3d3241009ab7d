//! A store wrapper that times every call into the database by operation class (the
//! `coffer_store_duration_seconds` metric). It sits under the KV cache, so cache hits are not
//! store calls.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::leases::{LeaseStore, SecretLeaseRow};
use super::rotation::{RotationRow, RotationStore};
use super::*;
use crate::base::metrics::Histogram;

/// The classes store calls are timed in (a bounded label set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `kv_read`.
    KvRead,
    /// `kv_list`.
    KvList,
    /// `kv_write`.
    KvWrite,
    /// `token_read`.
    TokenRead,
    /// `token_write`.
    TokenWrite,
    /// `entry_read`.
    EntryRead,
    /// `entry_write`.
    EntryWrite,
    /// `lease`.
    Lease,
    /// `rotation`.
    Rotation,
    /// `cluster`.
    Cluster,
    /// `system`.
    System,
}

impl Op {
    /// Every class, in label order.
    pub const ALL: [Op; 11] = [
        Op::KvRead,
        Op::KvList,
        Op::KvWrite,
        Op::TokenRead,
        Op::TokenWrite,
        Op::EntryRead,
        Op::EntryWrite,
        Op::Lease,
        Op::Rotation,
        Op::Cluster,
        Op::System,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::KvRead => "kv_read",
            Op::KvList => "kv_list",
            Op::KvWrite => "kv_write",
            Op::TokenRead => "token_read",
            Op::TokenWrite => "token_write",
            Op::EntryRead => "entry_read",
            Op::EntryWrite => "entry_write",
            Op::Lease => "lease",
            Op::Rotation => "rotation",
            Op::Cluster => "cluster",
            Op::System => "system",
        }
    }
}

/// Latency histograms of the store calls, one per [`Op`].
#[derive(Debug, Default)]
pub struct Timings {
    by_op: [Histogram; 11],
}

impl Timings {
    /// The histogram of one class.
    pub fn of(&self, op: Op) -> Option<&Histogram> {
        self.by_op.get(op as usize)
    }
}

/// `inner`, with each call timed into `timings`.
pub struct Timed {
    inner: SharedStore,
    timings: Arc<Timings>,
}

impl Timed {
    /// Times `inner`'s calls into `timings`.
    pub fn new(inner: SharedStore, timings: Arc<Timings>) -> Self {
        Timed { inner, timings }
    }

    async fn timed<T>(&self, op: Op, call: impl std::future::Future<Output = T>) -> T {
        let start = Instant::now();
        let out = call.await;
        if let Some(h) = self.timings.of(op) {
            h.observe(start.elapsed());
        }
        out
    }
}

#[async_trait]
impl Store for Timed {
    fn storage_type(&self) -> &'static str {
        self.inner.storage_type()
    }

    fn bus(&self) -> Option<Arc<dyn crate::store::bus::Bus>> {
        self.inner.bus()
    }

    async fn dump_tables(&self) -> StoreResult<Vec<copy::TableRows>> {
        self.timed(Op::System, self.inner.dump_tables()).await
    }

    async fn load_tables(&self, tables: Vec<copy::TableRows>) -> StoreResult<()> {
        self.timed(Op::System, self.inner.load_tables(tables)).await
    }

    async fn count_rows(&self) -> StoreResult<Vec<(String, u64)>> {
        self.timed(Op::System, self.inner.count_rows()).await
    }

    async fn replace_tables(
        &self,
        tables: Vec<copy::TableRows>,
        keep_kinds: &'static [&'static str],
        pending: copy::Pending,
    ) -> StoreResult<()> {
        self.timed(Op::System, self.inner.replace_tables(tables, keep_kinds, pending)).await
    }

    async fn restore_pending(&self) -> StoreResult<Option<Vec<u8>>> {
        self.timed(Op::System, self.inner.restore_pending()).await
    }

    async fn restore_pending_clear(&self) -> StoreResult<()> {
        self.timed(Op::System, self.inner.restore_pending_clear()).await
    }

    async fn system_get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.timed(Op::System, self.inner.system_get(key)).await
    }

    async fn system_put(&self, entries: &[(&str, &[u8])]) -> StoreResult<()> {
        self.timed(Op::System, self.inner.system_put(entries)).await
    }

    async fn mount_list(&self) -> StoreResult<Vec<MountRow>> {
        self.timed(Op::System, self.inner.mount_list()).await
    }

    async fn mount_insert(&self, m: &MountRow) -> StoreResult<()> {
        self.timed(Op::System, self.inner.mount_insert(m)).await
    }

    async fn mount_update(&self, m: &MountRow) -> StoreResult<()> {
        self.timed(Op::System, self.inner.mount_update(m)).await
    }

    async fn mount_delete(&self, id: &str) -> StoreResult<()> {
        self.timed(Op::System, self.inner.mount_delete(id)).await
    }

    async fn token_get(&self, hash: &[u8]) -> StoreResult<Option<TokenRow>> {
        self.timed(Op::TokenRead, self.inner.token_get(hash)).await
    }

    async fn token_put(&self, t: &TokenRow) -> StoreResult<()> {
        self.timed(Op::TokenWrite, self.inner.token_put(t)).await
    }

    async fn token_delete(&self, hash: &[u8]) -> StoreResult<()> {
        self.timed(Op::TokenWrite, self.inner.token_delete(hash)).await
    }

    async fn token_by_accessor(&self, accessor: &str) -> StoreResult<Option<TokenRow>> {
        self.timed(Op::TokenRead, self.inner.token_by_accessor(accessor)).await
    }

    async fn token_accessors(&self) -> StoreResult<Vec<String>> {
        self.timed(Op::TokenRead, self.inner.token_accessors()).await
    }

    async fn token_tree(&self, hash: &[u8]) -> StoreResult<Vec<Vec<u8>>> {
        self.timed(Op::TokenRead, self.inner.token_tree(hash)).await
    }

    async fn token_delete_tree(&self, hash: &[u8]) -> StoreResult<()> {
        self.timed(Op::TokenWrite, self.inner.token_delete_tree(hash)).await
    }

    async fn token_delete_orphaning(&self, hash: &[u8]) -> StoreResult<()> {
        self.timed(Op::TokenWrite, self.inner.token_delete_orphaning(hash)).await
    }

    async fn token_use(&self, hash: &[u8], expected: i64) -> StoreResult<()> {
        self.timed(Op::TokenWrite, self.inner.token_use(hash, expected)).await
    }

    async fn token_renew(&self, hash: &[u8], ttl: i64, expire_time: Option<i64>) -> StoreResult<()> {
        self.timed(Op::TokenWrite, self.inner.token_renew(hash, ttl, expire_time)).await
    }

    async fn token_expired(&self, now: i64, limit: i64) -> StoreResult<Vec<Vec<u8>>> {
        self.timed(Op::TokenRead, self.inner.token_expired(now, limit)).await
    }

    async fn entry_get(&self, kind: &str, name: &str) -> StoreResult<Option<String>> {
        self.timed(Op::EntryRead, self.inner.entry_get(kind, name)).await
    }

    async fn entry_put(&self, kind: &str, name: &str, value: &str) -> StoreResult<()> {
        self.timed(Op::EntryWrite, self.inner.entry_put(kind, name, value)).await
    }

    async fn entry_delete(&self, kind: &str, name: &str) -> StoreResult<()> {
        self.timed(Op::EntryWrite, self.inner.entry_delete(kind, name)).await
    }

    async fn entry_list(&self, kind: &str, prefix: &str) -> StoreResult<Vec<String>> {
        self.timed(Op::EntryRead, self.inner.entry_list(kind, prefix)).await
    }

    async fn entry_delete_kind(&self, kind: &str) -> StoreResult<()> {
        self.timed(Op::EntryWrite, self.inner.entry_delete_kind(kind)).await
    }

    async fn kv_config_get(&self, mount_id: &str) -> StoreResult<KvConfigRow> {
        self.timed(Op::KvRead, self.inner.kv_config_get(mount_id)).await
    }

    async fn kv_config_put(&self, mount_id: &str, c: &KvConfigRow) -> StoreResult<()> {
        self.timed(Op::KvWrite, self.inner.kv_config_put(mount_id, c)).await
    }

    async fn kv_read(&self, mount_id: &str, path: &str, version: Option<i64>) -> StoreResult<Option<KvRead>> {
        self.timed(Op::KvRead, self.inner.kv_read(mount_id, path, version)).await
    }

    async fn kv_read_fresh(&self, mount_id: &str, path: &str, version: Option<i64>) -> StoreResult<Option<KvRead>> {
        self.timed(Op::KvRead, self.inner.kv_read_fresh(mount_id, path, version)).await
    }

    async fn kv_metadata_get(&self, mount_id: &str, path: &str) -> StoreResult<Option<KvMetadataRow>> {
        self.timed(Op::KvRead, self.inner.kv_metadata_get(mount_id, path)).await
    }

    async fn kv_metadata_with_versions(
        &self,
        mount_id: &str,
        path: &str,
    ) -> StoreResult<Option<(KvMetadataRow, Vec<KvVersionRow>)>> {
        self.timed(Op::KvRead, self.inner.kv_metadata_with_versions(mount_id, path)).await
    }

    async fn kv_write(&self, w: &KvWrite<'_>) -> StoreResult<WriteOutcome> {
        self.timed(Op::KvWrite, self.inner.kv_write(w)).await
    }

    async fn kv_stages(&self, mount_id: &str, path: &str) -> StoreResult<Vec<(String, i64)>> {
        self.timed(Op::KvRead, self.inner.kv_stages(mount_id, path)).await
    }

    async fn kv_request_tokens(&self, mount_id: &str, path: &str) -> StoreResult<Vec<(String, i64)>> {
        self.timed(Op::KvRead, self.inner.kv_request_tokens(mount_id, path)).await
    }

    async fn kv_stage_move(
        &self,
        mount_id: &str,
        path: &str,
        stage: &str,
        to: Option<i64>,
        from: Option<i64>,
    ) -> StoreResult<()> {
        self.timed(Op::KvWrite, self.inner.kv_stage_move(mount_id, path, stage, to, from)).await
    }

    async fn kv_metadata_put(&self, m: &KvMetadataRow) -> StoreResult<()> {
        self.timed(Op::KvWrite, self.inner.kv_metadata_put(m)).await
    }

    async fn kv_set_deletion(&self, mount_id: &str, path: &str, versions: &[i64], at: Option<&str>) -> StoreResult<()> {
        self.timed(Op::KvWrite, self.inner.kv_set_deletion(mount_id, path, versions, at)).await
    }

    async fn kv_destroy(&self, mount_id: &str, path: &str, versions: &[i64]) -> StoreResult<()> {
        self.timed(Op::KvWrite, self.inner.kv_destroy(mount_id, path, versions)).await
    }

    async fn kv_delete_all(&self, mount_id: &str, path: &str, fence: Option<&Fence>) -> StoreResult<()> {
        self.timed(Op::KvWrite, self.inner.kv_delete_all(mount_id, path, fence)).await
    }

    async fn kv_children(&self, mount_id: &str, prefix: &str, page: Page<'_>) -> StoreResult<Vec<String>> {
        self.timed(Op::KvList, self.inner.kv_children(mount_id, prefix, page)).await
    }

    async fn kv_metadata_page(
        &self,
        mount_id: &str,
        prefix: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<KvMetadataRow>> {
        self.timed(Op::KvList, self.inner.kv_metadata_page(mount_id, prefix, after, limit)).await
    }

    async fn kv_move(&self, m: &moves::KvMove<'_>) -> StoreResult<moves::MoveOutcome> {
        self.timed(Op::KvWrite, self.inner.kv_move(m)).await
    }

    async fn kv_versions_below_term(&self, term: i64, limit: i64) -> StoreResult<Vec<(String, String, KvVersionRow)>> {
        self.timed(Op::KvList, self.inner.kv_versions_below_term(term, limit)).await
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
        self.timed(Op::KvWrite, self.inner.kv_rewrap(mount_id, path, version, old_term, new_term, ciphertext)).await
    }

    async fn lease_acquire(&self, node: &str, now_ms: i64, ttl_ms: i64) -> StoreResult<Option<i64>> {
        self.timed(Op::Cluster, self.inner.lease_acquire(node, now_ms, ttl_ms)).await
    }

    async fn lease_get(&self) -> StoreResult<Option<LeaseRow>> {
        self.timed(Op::Cluster, self.inner.lease_get()).await
    }

    async fn lease_release(&self, node: &str) -> StoreResult<()> {
        self.timed(Op::Cluster, self.inner.lease_release(node)).await
    }

    async fn node_seen(&self, node: &NodeRow) -> StoreResult<()> {
        self.timed(Op::Cluster, self.inner.node_seen(node)).await
    }

    async fn node_forget(&self, node: &str) -> StoreResult<()> {
        self.timed(Op::Cluster, self.inner.node_forget(node)).await
    }

    async fn node_list(&self) -> StoreResult<Vec<NodeRow>> {
        self.timed(Op::Cluster, self.inner.node_list()).await
    }

    async fn token_delete_tree_fenced(&self, hash: &[u8], fence: &Fence) -> StoreResult<()> {
        self.timed(Op::TokenWrite, self.inner.token_delete_tree_fenced(hash, fence)).await
    }

    async fn system_swap(&self, key: &str, expected: &[u8], value: &[u8]) -> StoreResult<()> {
        self.timed(Op::System, self.inner.system_swap(key, expected, value)).await
    }

    async fn system_swap_with(&self, key: &str, expected: &[u8], entries: &[(&str, &[u8])]) -> StoreResult<()> {
        self.timed(Op::System, self.inner.system_swap_with(key, expected, entries)).await
    }
}

#[async_trait]
impl LeaseStore for Timed {
    async fn secret_lease_insert(&self, l: &SecretLeaseRow) -> StoreResult<()> {
        self.timed(Op::Lease, self.inner.secret_lease_insert(l)).await
    }

    async fn secret_lease_get(&self, id: &str) -> StoreResult<Option<SecretLeaseRow>> {
        self.timed(Op::Lease, self.inner.secret_lease_get(id)).await
    }

    async fn secret_lease_ids(&self, prefix: &str, limit: i64) -> StoreResult<Vec<String>> {
        self.timed(Op::Lease, self.inner.secret_lease_ids(prefix, limit)).await
    }

    async fn secret_lease_renew(&self, id: &str, expire_time: i64, now: i64) -> StoreResult<()> {
        self.timed(Op::Lease, self.inner.secret_lease_renew(id, expire_time, now)).await
    }

    async fn secret_lease_delete(&self, id: &str) -> StoreResult<()> {
        self.timed(Op::Lease, self.inner.secret_lease_delete(id)).await
    }

    async fn secret_lease_delete_fenced(&self, id: &str, fence: &Fence) -> StoreResult<()> {
        self.timed(Op::Lease, self.inner.secret_lease_delete_fenced(id, fence)).await
    }

    async fn secret_lease_delete_fenced_many(&self, ids: &[String], fence: &Fence) -> StoreResult<()> {
        self.timed(Op::Lease, self.inner.secret_lease_delete_fenced_many(ids, fence)).await
    }

    async fn secret_lease_due(&self, now: i64, limit: i64) -> StoreResult<Vec<SecretLeaseRow>> {
        self.timed(Op::Lease, self.inner.secret_lease_due(now, limit)).await
    }

    async fn secret_lease_ids_by_token(&self, token_hash: &[u8]) -> StoreResult<Vec<String>> {
        self.timed(Op::Lease, self.inner.secret_lease_ids_by_token(token_hash)).await
    }

    async fn secret_lease_failed(&self, id: &str, attempts: i64, next_attempt: i64, error: &str) -> StoreResult<()> {
        self.timed(Op::Lease, self.inner.secret_lease_failed(id, attempts, next_attempt, error)).await
    }

    async fn secret_lease_count_role(&self, role: &str) -> StoreResult<i64> {
        self.timed(Op::Lease, self.inner.secret_lease_count_role(role)).await
    }

    async fn secret_lease_count_token(&self, token_hash: &[u8], role: Option<&str>) -> StoreResult<i64> {
        self.timed(Op::Lease, self.inner.secret_lease_count_token(token_hash, role)).await
    }

    async fn secret_lease_due_for_token(&self, token_hash: &[u8], now: i64) -> StoreResult<()> {
        self.timed(Op::Lease, self.inner.secret_lease_due_for_token(token_hash, now)).await
    }

    async fn secret_lease_counts(&self) -> StoreResult<(i64, i64)> {
        self.timed(Op::Lease, self.inner.secret_lease_counts()).await
    }

    async fn secret_lease_counts_by_mount(&self, failing: bool) -> StoreResult<Vec<(String, i64)>> {
        self.timed(Op::Lease, self.inner.secret_lease_counts_by_mount(failing)).await
    }
}

#[async_trait]
impl RotationStore for Timed {
    async fn rotation_get(&self, mount_id: &str, path: &str) -> StoreResult<Option<RotationRow>> {
        self.timed(Op::Rotation, self.inner.rotation_get(mount_id, path)).await
    }

    async fn rotation_insert(&self, row: &RotationRow) -> StoreResult<()> {
        self.timed(Op::Rotation, self.inner.rotation_insert(row)).await
    }

    async fn rotation_update(&self, row: &RotationRow, fence: Option<&Fence>) -> StoreResult<()> {
        self.timed(Op::Rotation, self.inner.rotation_update(row, fence)).await
    }

    async fn rotation_delete(&self, mount_id: &str, path: &str, rev: i64, fence: Option<&Fence>) -> StoreResult<()> {
        self.timed(Op::Rotation, self.inner.rotation_delete(mount_id, path, rev, fence)).await
    }

    async fn rotation_claim_due(
        &self,
        now: i64,
        claim_until: i64,
        limit: i64,
        fence: &Fence,
    ) -> StoreResult<Vec<RotationRow>> {
        self.timed(Op::Rotation, self.inner.rotation_claim_due(now, claim_until, limit, fence)).await
    }
}
