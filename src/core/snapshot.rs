//! Snapshots of the whole store: taking one (one consistent read, every row still sealed as it is
//! stored), restoring one of this cluster, and the forced restore of any cluster's snapshot, which
//! the first unseal proves or rolls back (D194).

pub mod format;
mod pending;
pub mod schedule;

use chrono::SecondsFormat;
use serde_json::json;

use crate::base::error::ApiError;
use crate::core::seal;
use crate::core::Core;
use crate::store::copy::{restorable, Cell, Pending, TableRows};

pub use pending::{audit_confirmed, settle};

/// Entry kinds that follow this node rather than the data: audit chain heads describe this
/// node's audit files. A snapshot leaves them out and a restore keeps this node's.
pub const NODE_KINDS: &[&str] = &[crate::core::audit::device::KIND_HEAD];

/// The largest snapshot a restore reads, compressed or not, unless `[snapshot] max_size` says.
pub const DEFAULT_MAX_SIZE: u64 = 256 << 20;

fn invalid(e: format::FormatError) -> ApiError {
    ApiError::bad_request(format!("invalid snapshot: {e}; nothing was changed"))
}

/// The cluster this node has unsealed.
fn cluster(core: &Core) -> Result<seal::Cluster, ApiError> {
    core.cluster.load().as_ref().clone().ok_or_else(|| ApiError::internal(&"the cluster identity is not loaded"))
}

/// A snapshot of the whole store as it is now, signed with this cluster's key. Needs an unsealed
/// node (the signing key comes from the root key).
pub async fn take(core: &Core) -> Result<Vec<u8>, ApiError> {
    let keys = core.barrier.keys().map_err(|_| ApiError::sealed())?;
    let cluster = cluster(core)?;
    let tables = restorable(core.store.dump_tables().await.map_err(ApiError::from)?, NODE_KINDS);
    let header = format::Header {
        format: format::FORMAT_VERSION,
        coffer_version: env!("CARGO_PKG_VERSION").into(),
        storage_type: core.storage_type.into(),
        created: core.clock.now().to_rfc3339_opts(SecondsFormat::Secs, true),
        cluster_id: cluster.id,
        cluster_name: cluster.name,
        keyring_term: keys.keyring.active().number,
        tables: Vec::new(),
    };
    let key = format::signing_key(&keys.root_key);
    drop(keys);
    tokio::task::spawn_blocking(move || format::encode(header, &tables, &key))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))
}

/// Decodes and checks a snapshot off the async threads.
async fn decode(body: Vec<u8>, max: u64) -> Result<format::Snapshot, ApiError> {
    tokio::task::spawn_blocking(move || format::decode(&body, max))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(invalid)
}

/// `POST sys/storage/raft/snapshot`: restores a snapshot of this cluster. The checksum, the
/// signature (this cluster's key) and the cluster id must all hold, or nothing changes (400).
pub async fn restore(core: &Core, body: Vec<u8>, max: u64) -> Result<(), ApiError> {
    let keys = core.barrier.keys().map_err(|_| ApiError::sealed())?;
    let mut snap = decode(body, max).await?;
    let ours = cluster(core)?;
    if snap.header.cluster_id != ours.id {
        return Err(ApiError::bad_request(format!(
            "the snapshot belongs to cluster {} ({}), not to this one ({}); nothing was changed. \
             To replace this cluster's data with it, use snapshot-force and unseal with that cluster's keys",
            snap.header.cluster_id, snap.header.cluster_name, ours.id
        )));
    }
    if !snap.signed_by(&format::signing_key(&keys.root_key)) {
        return Err(ApiError::bad_request(
            "invalid snapshot: its signature does not verify with this cluster's key; nothing was changed",
        ));
    }
    let restored = snap.system_record(seal::KEYRING).map(<[u8]>::to_vec);
    let restored = restored.ok_or_else(|| ApiError::bad_request("invalid snapshot: it holds no keyring"))?;
    let restored_term = seal::open_keyring(&keys.root_key, &restored)
        .map_err(|_| ApiError::bad_request("invalid snapshot: this cluster's root key does not open its keyring"))?
        .active()
        .number;
    // Terms only grow: a snapshot older than a key rotation gets today's keyring, which holds every
    // term it used, so nothing written meanwhile under a newer term becomes unreadable.
    let current = core.store.system_get(seal::KEYRING).await.map_err(ApiError::from)?;
    if let Some(current) = current.filter(|_| keys.keyring.active().number > restored_term) {
        set_system_record(&mut snap.tables, seal::KEYRING, current);
    }
    // The root key is the same (the signature proved it), but a rekey since the snapshot changed
    // its sealed form and the share configuration: keep today's, or the replaced shares (perhaps
    // the leaked ones a rekey was for) would unseal again and today's would not.
    for record in [seal::ROOT_KEY, seal::SEAL_CONFIG] {
        if let Some(current) = core.store.system_get(record).await.map_err(ApiError::from)? {
            set_system_record(&mut snap.tables, record, current);
        }
    }
    drop(keys);
    let (created, rows) = (snap.header.created.clone(), snap.rows());
    core.store.replace_tables(snap.tables, NODE_KINDS, Pending::Clear).await.map_err(ApiError::from)?;
    reload(core).await?;
    core.changes.changed(crate::store::bus::Topic::Restore);
    core.audit.event("snapshot_restore", json!({"created": created, "rows": rows, "force": false}));
    tracing::info!(created = %created, rows, "snapshot restored");
    Ok(())
}

/// `POST sys/storage/raft/snapshot-force`: replaces the store with any cluster's snapshot whose
/// checksum holds, keeps the old store beside it and seals. The first unseal must use the
/// snapshot's keys and verifies its signature; if either fails, the old store comes back
/// ([`settle`]).
pub async fn restore_force(core: &Core, body: Vec<u8>, max: u64) -> Result<(), ApiError> {
    if core.barrier.is_sealed() {
        return Err(ApiError::sealed());
    }
    let snap = decode(body, max).await?;
    // Without these the node could never be unsealed again; refuse before anything changes.
    for record in [seal::SEAL_CONFIG, seal::ROOT_KEY, seal::KEYRING] {
        if snap.system_record(record).is_none() {
            return Err(ApiError::bad_request(format!(
                "invalid snapshot: it holds no {record} record, so no key could unseal it; nothing was changed"
            )));
        }
    }
    let previous = take(core).await?;
    let proof = pending::Proof::of(&snap, previous);
    let (created, rows, from) = (snap.header.created.clone(), snap.rows(), snap.header.cluster_id.clone());
    core.audit.event("snapshot_restore", json!({"created": created, "rows": rows, "force": true, "cluster_id": from}));
    core.seal_now().await;
    core.seal.forget_config();
    core.store.replace_tables(snap.tables, NODE_KINDS, Pending::Set(proof.to_bytes())).await.map_err(ApiError::from)?;
    core.changes.changed(crate::store::bus::Topic::Restore);
    tracing::warn!(
        created = %created, rows, cluster_id = %from,
        "snapshot force-restored; the node is sealed until it is unsealed with the snapshot's keys"
    );
    // A key-file seal has its key at hand: the first unseal happens now.
    if let seal::SealKind::KeyFile(_) = core.seal.kind() {
        core.seal.auto_unseal(core).await.map_err(ApiError::bad_request)?;
    }
    Ok(())
}

/// Replaces the value of the system record `key` among the rows of a snapshot.
fn set_system_record(tables: &mut [TableRows], key: &str, value: Vec<u8>) {
    let Some(t) = tables.iter_mut().find(|t| t.table == "system_entry") else { return };
    let (Some(k), Some(v)) = (t.column("key"), t.column("value")) else { return };
    for row in &mut t.rows {
        if matches!(row.get(k), Some(Cell::Text(s)) if s == key) {
            if let Some(cell) = row.get_mut(v) {
                *cell = Cell::Blob(value.clone());
            }
        }
    }
}

/// Reloads every per-node state from a store that a restore replaced: the seal configuration,
/// the keyring, the token key, the mounts, the caches, the audit devices, quotas and alert rules.
/// A node whose root key does not open the restored keyring, or that finds a forced restore
/// waiting for its unseal, seals itself.
pub async fn reload(core: &Core) -> Result<(), ApiError> {
    core.seal.forget_config();
    if core.barrier.is_sealed() {
        return Ok(());
    }
    let pending = core.store.restore_pending().await.map_err(ApiError::from)?.is_some();
    let opens = match core.barrier.keys() {
        Ok(keys) => match core.store.system_get(seal::KEYRING).await.map_err(ApiError::from)? {
            Some(ct) => seal::open_keyring(&keys.root_key, &ct).is_ok(),
            None => false,
        },
        Err(_) => false,
    };
    if pending || !opens {
        tracing::warn!(
            "the store was replaced by a forced snapshot restore; sealing until it is unsealed with its keys"
        );
        core.seal_now().await;
        return Ok(());
    }
    core.seal.reload_keyring(core).await?;
    if let Some(cache) = core.kv_cache.load().as_ref() {
        cache.clear();
    }
    core.tokens.invalidate_local();
    core.policies.invalidate_local();
    core.aws_keys.clear();
    core.post_unseal_state().await?;
    core.audit.reload(&core.store, &core.barrier).await
}

/// `[snapshot]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Largest snapshot a restore reads, compressed and uncompressed.
    pub max_size: u64,
    /// Scheduled snapshots, if configured.
    pub schedule: Option<schedule::Schedule>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { max_size: DEFAULT_MAX_SIZE, schedule: None }
    }
}
