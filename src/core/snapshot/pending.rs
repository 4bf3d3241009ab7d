//! A forced restore waiting for its first unseal: the restored snapshot's checksums and signature,
//! and the store as it was before, kept in the store itself (`restore_pending`) so that a crash
//! in between loses neither. The first unseal confirms the restore or puts the old store back.

use serde_json::json;

use super::format;
use crate::base::error::ApiError;
use crate::core::seal::{self, KeysError};
use crate::core::Core;
use crate::crypto::Key;
use crate::store::copy::Pending;

const MAGIC: &[u8] = b"coffer-pending-restore/1\n";

/// What the first unseal after a forced restore checks, and what it puts back if that fails.
pub struct Proof {
    sums: Vec<u8>,
    signature: Vec<u8>,
    /// The store before the restore, as a snapshot.
    previous: Vec<u8>,
}

impl Proof {
    /// The proof of `snap`, with the store it replaces.
    pub fn of(snap: &format::Snapshot, previous: Vec<u8>) -> Self {
        let (sums, signature) = snap.proof();
        Proof { sums: sums.to_vec(), signature: signature.to_vec(), previous }
    }

    /// `MAGIC`, then the sums and the signature each after its length (8 bytes, big-endian),
    /// then the previous store.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(MAGIC.len() + 16 + self.sums.len() + self.signature.len() + self.previous.len());
        out.extend_from_slice(MAGIC);
        for part in [&self.sums, &self.signature] {
            out.extend_from_slice(&(part.len() as u64).to_be_bytes());
            out.extend_from_slice(part);
        }
        out.extend_from_slice(&self.previous);
        out
    }

    fn from_bytes(raw: &[u8]) -> Option<Self> {
        let mut rest = raw.strip_prefix(MAGIC)?;
        let mut part = || {
            let (len, tail) = rest.split_first_chunk::<8>()?;
            let len = usize::try_from(u64::from_be_bytes(*len)).ok()?;
            let (body, tail) = (tail.get(..len)?, tail.get(len..)?);
            rest = tail;
            Some(body.to_vec())
        };
        let (sums, signature) = (part()?, part()?);
        Some(Proof { sums, signature, previous: rest.to_vec() })
    }
}

/// Called by every unseal before it opens the stored keys. Without a forced restore waiting it
/// does nothing (`Ok(false)`). With one, `unseal_key` must open the restored root key and that
/// root key must verify the snapshot's signature: then the restore is confirmed (`Ok(true)`).
/// Otherwise the store as it was before comes back, and the unseal fails (400).
pub async fn settle(core: &Core, unseal_key: &Key) -> Result<bool, ApiError> {
    let Some(raw) = core.store.restore_pending().await.map_err(ApiError::from)? else {
        return Ok(false);
    };
    let proof = Proof::from_bytes(&raw)
        .ok_or_else(|| ApiError::internal(&"the pending restore record is damaged; it was left in place"))?;
    let why = match seal::open_stored_keys(core.store.as_ref(), unseal_key).await {
        Ok(keys) if format::verify(&format::signing_key(&keys.root_key), &proof.sums, &proof.signature) => {
            core.store.restore_pending_clear().await.map_err(ApiError::from)?;
            tracing::info!("the forced snapshot restore is confirmed by its keys");
            return Ok(true);
        }
        Ok(_) => "the snapshot's signature does not verify with its own root key",
        Err(KeysError::WrongKey) => "the unseal key does not open the restored snapshot's root key",
        // A snapshot whose keys are missing or damaged can never be unsealed: roll back too.
        Err(KeysError::Damaged(_)) => "the restored snapshot's root key or keyring is missing or damaged",
        Err(e @ KeysError::Store(_)) => return Err(ApiError::internal(&e)),
    };
    let previous = tokio::task::spawn_blocking(move || format::decode(&proof.previous, u64::MAX))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| {
            ApiError::internal(&format!("the store kept before the forced restore does not read back: {e}"))
        })?;
    core.store.replace_tables(previous.tables, super::NODE_KINDS, Pending::Clear).await.map_err(ApiError::from)?;
    core.seal.forget_config();
    core.seal.reset().await;
    core.changes.changed(crate::store::bus::Topic::Restore);
    tracing::warn!(reason = why, "the forced snapshot restore was rolled back; the store is as it was before");
    Err(ApiError::bad_request(format!(
        "{why}: the forced restore was rolled back and the store is as it was before it; unseal with the keys \
         of the store as it was, or force the restore again"
    )))
}

/// Audits a confirmed forced restore (once the unseal has started the audit devices).
pub fn audit_confirmed(core: &Core) {
    core.audit.event("snapshot_restore_confirmed", json!({}));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_reads_back_and_damage_is_refused() {
        let p = Proof { sums: b"sums".to_vec(), signature: vec![7; 32], previous: b"old store".to_vec() };
        let bytes = p.to_bytes();
        let back = Proof::from_bytes(&bytes).unwrap();
        assert_eq!((back.sums, back.signature, back.previous), (p.sums, p.signature, p.previous));
        assert!(Proof::from_bytes(&bytes[..MAGIC.len() + 5]).is_none());
        assert!(Proof::from_bytes(b"something else").is_none());
    }
}
