//! One mount's view of the store, the only storage an engine reaches: every call is keyed by the
//! mount's id, so an engine cannot read or write another mount's rows.

use crate::core::mounts::MountEntry;
use crate::store::moves::{KvMove, MoveOutcome};
use crate::store::rotation::RotationRow;
use crate::store::{
    Fence, KvConfigRow, KvMetadataRow, KvRead, KvVersionRow, KvWrite, Page, Sealed, SharedStore, StoreError,
    StoreResult, TextForm, WriteOutcome,
};

/// The rows of one mount.
#[derive(Clone, Copy)]
pub struct MountStorage<'a> {
    store: &'a SharedStore,
    mount: &'a MountEntry,
    strong: bool,
}

/// A call that named another mount's rows: a fault of the engine, never served.
fn foreign(what: &str) -> StoreError {
    StoreError::Backend(format!("an engine asked for {what} of another mount"))
}

impl<'a> MountStorage<'a> {
    /// The view of `mount` (built by the core only).
    pub(in crate::core) fn new(store: &'a SharedStore, mount: &'a MountEntry, strong: bool) -> Self {
        Self { store, mount, strong }
    }

    fn id(&self) -> &'a str {
        &self.mount.row.id
    }

    /// Entry kinds of a mount carry its id as their second segment (`approle/<id>/role`,
    /// `userpass-lockout/<id>`); any other kind is refused.
    fn own_kind(&self, kind: &str) -> StoreResult<()> {
        match kind.split('/').nth(1) {
            Some(id) if id == self.id() => Ok(()),
            _ => Err(foreign("entries")),
        }
    }

    fn own_row(&self, mount_id: &str) -> StoreResult<()> {
        if mount_id == self.id() {
            Ok(())
        } else {
            Err(foreign("rows"))
        }
    }

    /// One entry of this mount.
    pub async fn entry_get(&self, kind: &str, name: &str) -> StoreResult<Option<String>> {
        self.own_kind(kind)?;
        self.store.entry_get(kind, name).await
    }

    /// Creates or replaces an entry of this mount.
    pub async fn entry_put(&self, kind: &str, name: &str, value: &str) -> StoreResult<()> {
        self.own_kind(kind)?;
        self.store.entry_put(kind, name, value).await
    }

    /// Deletes an entry of this mount (absent is fine).
    pub async fn entry_delete(&self, kind: &str, name: &str) -> StoreResult<()> {
        self.own_kind(kind)?;
        self.store.entry_delete(kind, name).await
    }

    /// Entry names of one of this mount's kinds under `prefix`, sorted.
    pub async fn entry_list(&self, kind: &str, prefix: &str) -> StoreResult<Vec<String>> {
        self.own_kind(kind)?;
        self.store.entry_list(kind, prefix).await
    }

    /// A sealed entry of this mount.
    pub async fn entry_get_sealed(&self, kind: &str, name: &str, form: TextForm) -> StoreResult<Option<Sealed>> {
        self.own_kind(kind)?;
        self.store.entry_get_sealed(kind, name, form).await
    }

    /// Creates or replaces a sealed entry of this mount.
    pub async fn entry_put_sealed(&self, kind: &str, name: &str, value: &Sealed, form: TextForm) -> StoreResult<()> {
        self.own_kind(kind)?;
        self.store.entry_put_sealed(kind, name, value, form).await
    }

    /// This KV mount's settings.
    pub async fn kv_config_get(&self) -> StoreResult<KvConfigRow> {
        self.store.kv_config_get(self.id()).await
    }

    /// Writes this KV mount's settings.
    pub async fn kv_config_put(&self, c: &KvConfigRow) -> StoreResult<()> {
        self.store.kv_config_put(self.id(), c).await
    }

    /// A key's metadata and one version (the current one when `None`); past the cache for a
    /// request that asked for strong consistency.
    pub async fn kv_read(&self, path: &str, version: Option<i64>) -> StoreResult<Option<KvRead>> {
        if self.strong {
            self.store.kv_read_fresh(self.id(), path, version).await
        } else {
            self.store.kv_read(self.id(), path, version).await
        }
    }

    /// A key's metadata alone.
    pub async fn kv_metadata_get(&self, path: &str) -> StoreResult<Option<KvMetadataRow>> {
        self.store.kv_metadata_get(self.id(), path).await
    }

    /// A key's metadata and every kept version, without ciphertexts.
    pub async fn kv_metadata_with_versions(
        &self,
        path: &str,
    ) -> StoreResult<Option<(KvMetadataRow, Vec<KvVersionRow>)>> {
        self.store.kv_metadata_with_versions(self.id(), path).await
    }

    /// Appends a version (see [`crate::store::Store::kv_write`]); the write must name this mount.
    pub async fn kv_write(&self, w: &KvWrite<'_>) -> StoreResult<WriteOutcome> {
        self.own_row(w.mount_id)?;
        self.store.kv_write(w).await
    }

    /// Every label of a key with its version.
    pub async fn kv_stages(&self, path: &str) -> StoreResult<Vec<(String, i64)>> {
        self.store.kv_stages(self.id(), path).await
    }

    /// The idempotency tokens of a key's staged writes, with the version each made.
    pub async fn kv_request_tokens(&self, path: &str) -> StoreResult<Vec<(String, i64)>> {
        self.store.kv_request_tokens(self.id(), path).await
    }

    /// Moves a label (see [`crate::store::Store::kv_stage_move`]).
    pub async fn kv_stage_move(&self, path: &str, stage: &str, to: Option<i64>, from: Option<i64>) -> StoreResult<()> {
        self.store.kv_stage_move(self.id(), path, stage, to, from).await
    }

    /// Creates or replaces a key's settings; the row must name this mount.
    pub async fn kv_metadata_put(&self, m: &KvMetadataRow) -> StoreResult<()> {
        self.own_row(&m.mount_id)?;
        self.store.kv_metadata_put(m).await
    }

    /// Sets or clears the deletion time of versions.
    pub async fn kv_set_deletion(&self, path: &str, versions: &[i64], at: Option<&str>) -> StoreResult<()> {
        self.store.kv_set_deletion(self.id(), path, versions, at).await
    }

    /// Destroys versions.
    pub async fn kv_destroy(&self, path: &str, versions: &[i64]) -> StoreResult<()> {
        self.store.kv_destroy(self.id(), path, versions).await
    }

    /// Deletes a key's metadata and all its versions.
    pub async fn kv_delete_all(&self, path: &str, fence: Option<&crate::store::Fence>) -> StoreResult<()> {
        self.store.kv_delete_all(self.id(), path, fence).await
    }

    /// One page of the children of folder `prefix` ([`crate::store::Store::kv_children`]).
    pub async fn kv_children(&self, prefix: &str, page: Page<'_>) -> StoreResult<Vec<String>> {
        self.store.kv_children(self.id(), prefix, page).await
    }

    /// [`MountStorage::kv_read`] from the database itself, past any cache.
    pub async fn kv_read_fresh(&self, path: &str, version: Option<i64>) -> StoreResult<Option<KvRead>> {
        self.store.kv_read_fresh(self.id(), path, version).await
    }

    /// A page of this mount's metadata rows under `prefix` ([`crate::store::Store::kv_metadata_page`]).
    pub async fn kv_metadata_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<KvMetadataRow>> {
        self.store.kv_metadata_page(self.id(), prefix, after, limit).await
    }

    /// Moves a secret inside this mount ([`crate::store::Store::kv_move`]); every row must name
    /// this mount.
    pub async fn kv_move(&self, m: &KvMove<'_>) -> StoreResult<MoveOutcome> {
        self.own_row(m.mount_id)?;
        self.own_row(&m.expected.mount_id)?;
        self.store.kv_move(m).await
    }

    /// The rotation row of one secret.
    pub async fn rotation_get(&self, path: &str) -> StoreResult<Option<RotationRow>> {
        self.store.rotation_get(self.id(), path).await
    }

    /// Adds a rotation row; it must name this mount.
    pub async fn rotation_insert(&self, row: &RotationRow) -> StoreResult<()> {
        self.own_row(&row.mount_id)?;
        self.store.rotation_insert(row).await
    }

    /// Updates a rotation row of this mount if its revision still matches.
    pub async fn rotation_update(&self, row: &RotationRow, fence: Option<&Fence>) -> StoreResult<()> {
        self.own_row(&row.mount_id)?;
        self.store.rotation_update(row, fence).await
    }

    /// Deletes a rotation row of this mount if its revision still matches.
    pub async fn rotation_delete(&self, path: &str, rev: i64, fence: Option<&Fence>) -> StoreResult<()> {
        self.store.rotation_delete(self.id(), path, rev, fence).await
    }

    /// Deletes one of this mount's secret leases (ids start with the mount's API path).
    pub async fn secret_lease_delete(&self, id: &str) -> StoreResult<()> {
        if !id.starts_with(&self.mount.api_path) {
            return Err(foreign("a lease"));
        }
        self.store.secret_lease_delete(id).await
    }
}
