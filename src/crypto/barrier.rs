//! The barrier: envelope encryption between engines and the store.
//!
//! Each value gets a fresh 256-bit DEK. The DEK is wrapped by the active KEK term, and both the
//! wrapped DEK and the value are AES-256-GCM sealed with the same AAD, which names the value's
//! kind, mount, path and version. A ciphertext moved to another row fails authentication.
//!
//! Blob layout: `0x01 | term (u32 BE) | wrapped DEK (nonce, key, tag: 60 bytes) | nonce | ct | tag`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use zeroize::Zeroizing;

use crate::crypto::keyring::Keyring;
use crate::crypto::{self, IntegrityError, Key, KEY_LEN, NONCE_LEN, TAG_LEN};

const FORMAT_V1: u8 = 1;
const WRAPPED_DEK_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;
const HEADER_LEN: usize = 1 + 4 + WRAPPED_DEK_LEN;

/// Why the barrier refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BarrierError {
    /// No keys are loaded.
    #[error("Vault is sealed")]
    Sealed,
    /// The ciphertext does not authenticate for this place (tampered, moved, or wrong key).
    #[error("ciphertext failed integrity check")]
    Integrity,
    /// The ciphertext names a KEK term the keyring does not have.
    #[error("unknown key term")]
    UnknownTerm,
}

impl From<IntegrityError> for BarrierError {
    fn from(_: IntegrityError) -> Self {
        BarrierError::Integrity
    }
}

/// Builds an unambiguous AAD from parts (each length-prefixed).
pub fn aad(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + parts.iter().map(|p| p.len() + 4).sum::<usize>());
    out.extend_from_slice(b"coffer-aad-v1");
    for p in parts {
        // No part comes near 4 GiB (a request body is far smaller); past it the prefix saturates.
        out.extend_from_slice(&u32::try_from(p.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// The keys the barrier holds while unsealed.
pub struct Unsealed {
    /// Wraps the keyring in storage.
    pub root_key: Key,
    /// KEK terms.
    pub keyring: Keyring,
}

/// The barrier. Sealed when it holds no keys.
#[derive(Default)]
pub struct Barrier {
    keys: ArcSwapOption<Unsealed>,
    /// Values encrypted under `counted_term` since this process started (Vault counts per term).
    encryptions: AtomicU64,
    counted_term: std::sync::atomic::AtomicU32,
}

impl Barrier {
    /// True while no keys are loaded.
    pub fn is_sealed(&self) -> bool {
        self.keys.load().is_none()
    }

    /// Loads keys (unseal).
    pub fn load(&self, keys: Unsealed) {
        self.keys.store(Some(Arc::new(keys)));
    }

    /// Drops the keys (seal). Memory is zeroed when the last reader lets go.
    pub fn clear(&self) {
        self.keys.store(None);
    }

    /// The loaded keys.
    pub fn keys(&self) -> Result<Arc<Unsealed>, BarrierError> {
        self.keys.load_full().ok_or(BarrierError::Sealed)
    }

    /// Number of values encrypted under the active term since this process started; a new term
    /// starts again from zero, as Vault's `sys/key-status` does.
    pub fn encryptions(&self) -> u64 {
        let active = self.keys().map(|k| k.keyring.active().number).ok();
        if active == Some(self.counted_term.load(Ordering::Relaxed)) {
            self.encryptions.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// Counts one encryption under `term`; the first one under a new term restarts the count.
    fn count(&self, term: u32) {
        if self.counted_term.load(Ordering::Relaxed) != term && self.counted_term.swap(term, Ordering::Relaxed) != term
        {
            self.encryptions.store(0, Ordering::Relaxed);
        }
        self.encryptions.fetch_add(1, Ordering::Relaxed);
    }

    /// Encrypts `plaintext` for the place named by `aad`; returns the blob and the KEK term used.
    pub fn encrypt(&self, aad: &[u8], plaintext: &[u8]) -> Result<(Vec<u8>, u32), BarrierError> {
        let keys = self.keys()?;
        let term = keys.keyring.active();
        let dek = Key::generate();
        let wrapped = crypto::seal(&term.key, aad, dek.expose());
        let body = crypto::seal(&dek, aad, plaintext);
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&term.number.to_be_bytes());
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(&body);
        self.count(term.number);
        Ok((out, term.number))
    }

    /// Authenticates and decrypts a blob made by [`Barrier::encrypt`] with the same AAD.
    pub fn decrypt(&self, aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, BarrierError> {
        let keys = self.keys()?;
        let (term, wrapped, body) = split(blob)?;
        let kek = keys.keyring.term(term).ok_or(BarrierError::UnknownTerm)?;
        let dek_bytes = crypto::open(&kek.key, aad, wrapped)?;
        let dek = Key::from_slice(&dek_bytes).ok_or(BarrierError::Integrity)?;
        Ok(crypto::open(&dek, aad, body)?)
    }

    /// Re-wraps a blob's DEK under the active term without touching the sealed value.
    /// Returns `None` when the blob already uses the active term.
    pub fn rewrap(&self, aad: &[u8], blob: &[u8]) -> Result<Option<(Vec<u8>, u32)>, BarrierError> {
        let keys = self.keys()?;
        let (term, wrapped, body) = split(blob)?;
        let active = keys.keyring.active();
        if term == active.number {
            return Ok(None);
        }
        let kek = keys.keyring.term(term).ok_or(BarrierError::UnknownTerm)?;
        let dek = crypto::open(&kek.key, aad, wrapped)?;
        let rewrapped = crypto::seal(&active.key, aad, &dek);
        let mut out = Vec::with_capacity(blob.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&active.number.to_be_bytes());
        out.extend_from_slice(&rewrapped);
        out.extend_from_slice(body);
        Ok(Some((out, active.number)))
    }
}

fn split(blob: &[u8]) -> Result<(u32, &[u8], &[u8]), BarrierError> {
    if blob.len() < HEADER_LEN + NONCE_LEN + TAG_LEN || blob.first() != Some(&FORMAT_V1) {
        return Err(BarrierError::Integrity);
    }
    let term = u32::from_be_bytes(blob.get(1..5).and_then(|b| b.try_into().ok()).ok_or(BarrierError::Integrity)?);
    let wrapped = blob.get(5..HEADER_LEN).ok_or(BarrierError::Integrity)?;
    let body = blob.get(HEADER_LEN..).ok_or(BarrierError::Integrity)?;
    Ok((term, wrapped, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::schedule::{Clock, SystemClock};

    fn unsealed() -> Barrier {
        let b = Barrier::default();
        b.load(Unsealed { root_key: Key::generate(), keyring: Keyring::new(SystemClock.now()) });
        b
    }

    #[test]
    fn round_trip_and_aad_binding() {
        let b = unsealed();
        let a1 = aad(&[b"kv", b"m1", b"app/db", b"1"]);
        let a2 = aad(&[b"kv", b"m1", b"app/db", b"2"]);
        let (ct, term) = b.encrypt(&a1, b"s3cr3t").unwrap();
        assert_eq!(term, 1);
        assert_eq!(&b.decrypt(&a1, &ct).unwrap()[..], b"s3cr3t");
        assert_eq!(b.decrypt(&a2, &ct), Err(BarrierError::Integrity));
        assert!(!ct.windows(6).any(|w| w == b"s3cr3t"));
    }

    #[test]
    fn aad_parts_are_unambiguous() {
        assert_ne!(aad(&[b"ab", b"c"]), aad(&[b"a", b"bc"]));
    }

    #[test]
    fn sealed_barrier_refuses() {
        let b = Barrier::default();
        assert_eq!(b.encrypt(b"x", b"y").unwrap_err(), BarrierError::Sealed);
    }

    #[test]
    fn rotation_keeps_old_data_readable_and_rewrap_moves_term() {
        let b = unsealed();
        let a = aad(&[b"x"]);
        let (old, _) = b.encrypt(&a, b"v").unwrap();
        let keys = b.keys().unwrap();
        b.load(Unsealed { root_key: keys.root_key.clone(), keyring: keys.keyring.rotated(SystemClock.now()) });
        let (new, term) = b.encrypt(&a, b"w").unwrap();
        assert_eq!(term, 2);
        assert_eq!(&b.decrypt(&a, &old).unwrap()[..], b"v");
        let (rewrapped, t) = b.rewrap(&a, &old).unwrap().unwrap();
        assert_eq!(t, 2);
        assert_eq!(&b.decrypt(&a, &rewrapped).unwrap()[..], b"v");
        assert!(b.rewrap(&a, &new).unwrap().is_none());
    }
}
