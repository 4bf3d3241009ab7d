//! The barrier: envelope encryption between engines and the store, and the only way in or out
//! of a [`Sealed`] value.
//!
//! Each value gets a fresh 256-bit DEK. The DEK is wrapped by the active KEK term, and both the
//! wrapped DEK and the value are AES-256-GCM sealed with the same AAD, built from the value's
//! [`Context`] (its kind, mount, path, version...). A ciphertext moved to another place fails
//! authentication.
//!
//! Blob layout: `layout (u8) | term (u32 BE) | wrapped DEK (nonce, key, tag: 60 bytes) | nonce | ct
//! | tag`. The first byte names the [`Layout`] the AAD was built with; opening rebuilds the AAD in
//! that layout, so a new layout can be introduced without re-encrypting what is stored.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use zeroize::Zeroizing;

use crate::crypto::keyring::Keyring;
use crate::crypto::{self, IntegrityError, Key, KEY_LEN, NONCE_LEN, TAG_LEN};

const WRAPPED_DEK_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;
const HEADER_LEN: usize = 1 + 4 + WRAPPED_DEK_LEN;

/// How a [`Context`] becomes AAD bytes; the first byte of every blob names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The layouts the per-module builders made before contexts were typed, byte for byte: most
    /// are `coffer-aad-v1` and length-prefixed parts; rotation configs and values, leases and
    /// database entries are plain strings. Every value stored so far uses it.
    V1 = 1,
    /// One framing for every context: `coffer-aad-v2`, then the context's tag and fields, each
    /// length-prefixed (integers as 8 bytes big-endian). Read, not yet written (see
    /// [`WRITE_LAYOUT`]).
    V2 = 2,
}

/// The layout new values are sealed with. V2 is readable from this release on; writing it is a
/// later, separate step, so that a node of this release can read what a node of the next writes.
pub const WRITE_LAYOUT: Layout = Layout::V1;

impl Layout {
    fn from_byte(b: u8) -> Option<Layout> {
        match b {
            1 => Some(Layout::V1),
            2 => Some(Layout::V2),
            _ => None,
        }
    }
}

/// Where a sealed value lives. Its AAD binds the ciphertext to that place: the one builder of
/// barrier AAD, for every kind of value.
#[derive(Clone, Copy)]
pub enum Context<'a> {
    /// One version of a KV v2 secret.
    KvVersion {
        /// The mount's id.
        mount_id: &'a str,
        /// The secret's path in the mount.
        path: &'a str,
        /// The version number.
        version: i64,
    },
    /// A KV secret's rotation configuration.
    RotationConfig {
        /// The mount's id.
        mount_id: &'a str,
        /// The secret's path in the mount.
        path: &'a str,
    },
    /// A rotation's new value between its generation and the pending write.
    RotationValue {
        /// The mount's id.
        mount_id: &'a str,
        /// The secret's path in the mount.
        path: &'a str,
        /// The rotation's token.
        token: &'a str,
    },
    /// An entry in a token's cubbyhole (response-wrapped answers included).
    Cubbyhole {
        /// The owning token's HMAC.
        token_hash: &'a [u8],
        /// The entry's path.
        path: &'a str,
    },
    /// A lease's engine data.
    Lease {
        /// The lease id.
        id: &'a str,
    },
    /// A barrier-encrypted system record (the token HMAC key).
    System {
        /// The record's key.
        key: &'a str,
    },
    /// An audit device's HMAC salt and signing key.
    AuditKeys {
        /// The device's name.
        device: &'a str,
    },
    /// An encrypted entry of the database engine (a connection or a static role).
    Database {
        /// The entry kind (`database/<mount id>/config` or `.../static-role`).
        kind: &'a str,
        /// The entry name.
        name: &'a str,
    },
    /// An AWS access key's secret half and policies.
    AwsKey {
        /// The access key id.
        id: &'a str,
    },
    /// An alert rule set through `sys/alerts/rules/<name>` (its webhook key is inside).
    AlertRule {
        /// The rule's name.
        name: &'a str,
    },
}

/// `coffer-aad-<v>` followed by each part, length-prefixed.
fn framed(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + parts.iter().map(|p| p.len() + 4).sum::<usize>());
    out.extend_from_slice(prefix);
    for p in parts {
        // No part comes near 4 GiB (a request body is far smaller); past it the prefix saturates.
        out.extend_from_slice(&u32::try_from(p.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

impl Context<'_> {
    /// The AAD of this place in `layout`.
    pub fn aad(&self, layout: Layout) -> Vec<u8> {
        match layout {
            Layout::V1 => self.aad_v1(),
            Layout::V2 => self.aad_v2(),
        }
    }

    /// Today's bytes, as each module built them before: stored values depend on every byte.
    fn aad_v1(&self) -> Vec<u8> {
        const V1: &[u8] = b"coffer-aad-v1";
        match *self {
            Context::KvVersion { mount_id, path, version } => {
                framed(V1, &[b"kv-version", mount_id.as_bytes(), path.as_bytes(), version.to_string().as_bytes()])
            }
            Context::RotationConfig { mount_id, path } => format!("kv_rotation:{mount_id}:{path}").into_bytes(),
            Context::RotationValue { mount_id, path, token } => {
                format!("kv_rotation_value:{mount_id}:{path}:{token}").into_bytes()
            }
            Context::Cubbyhole { token_hash, path } => framed(V1, &[b"cubbyhole", token_hash, path.as_bytes()]),
            Context::Lease { id } => format!("lease:{id}").into_bytes(),
            Context::System { key } => framed(V1, &[b"system", key.as_bytes()]),
            Context::AuditKeys { device } => framed(V1, &[b"audit_keys", device.as_bytes()]),
            Context::Database { kind, name } => format!("{kind}/{name}").into_bytes(),
            Context::AwsKey { id } => framed(V1, &[b"aws-key", id.as_bytes()]),
            Context::AlertRule { name } => framed(V1, &[b"alert-rule", name.as_bytes()]),
        }
    }

    /// One framing for all: a tag naming the context, then its fields.
    fn aad_v2(&self) -> Vec<u8> {
        const V2: &[u8] = b"coffer-aad-v2";
        match *self {
            Context::KvVersion { mount_id, path, version } => {
                framed(V2, &[b"kv-version", mount_id.as_bytes(), path.as_bytes(), &version.to_be_bytes()])
            }
            Context::RotationConfig { mount_id, path } => {
                framed(V2, &[b"rotation-config", mount_id.as_bytes(), path.as_bytes()])
            }
            Context::RotationValue { mount_id, path, token } => {
                framed(V2, &[b"rotation-value", mount_id.as_bytes(), path.as_bytes(), token.as_bytes()])
            }
            Context::Cubbyhole { token_hash, path } => framed(V2, &[b"cubbyhole", token_hash, path.as_bytes()]),
            Context::Lease { id } => framed(V2, &[b"lease", id.as_bytes()]),
            Context::System { key } => framed(V2, &[b"system", key.as_bytes()]),
            Context::AuditKeys { device } => framed(V2, &[b"audit-keys", device.as_bytes()]),
            Context::Database { kind, name } => framed(V2, &[b"database", kind.as_bytes(), name.as_bytes()]),
            Context::AwsKey { id } => framed(V2, &[b"aws-key", id.as_bytes()]),
            Context::AlertRule { name } => framed(V2, &[b"alert-rule", name.as_bytes()]),
        }
    }
}

/// A barrier blob: a value sealed for one [`Context`]. Stores keep and return it as it is; only
/// [`Barrier::open`] turns it back into plaintext. `Debug` shows its size, never its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(Vec<u8>);

impl Sealed {
    /// A blob as a store read it (not checked: opening does that).
    pub fn from_stored(bytes: Vec<u8>) -> Sealed {
        Sealed(bytes)
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The KEK term the DEK is wrapped under, if the header is well formed.
    pub fn term(&self) -> Option<u32> {
        split(&self.0).ok().map(|p| p.term)
    }
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

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

    /// Seals `plaintext` for `ctx`; returns the blob and the KEK term used.
    pub fn seal(&self, ctx: Context<'_>, plaintext: &[u8]) -> Result<(Sealed, u32), BarrierError> {
        self.seal_as(WRITE_LAYOUT, ctx, plaintext)
    }

    fn seal_as(&self, layout: Layout, ctx: Context<'_>, plaintext: &[u8]) -> Result<(Sealed, u32), BarrierError> {
        let keys = self.keys()?;
        let term = keys.keyring.active();
        let aad = ctx.aad(layout);
        let dek = Key::generate();
        let wrapped = crypto::seal(&term.key, &aad, dek.expose());
        let body = crypto::seal(&dek, &aad, plaintext);
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.push(layout as u8);
        out.extend_from_slice(&term.number.to_be_bytes());
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(&body);
        self.count(term.number);
        Ok((Sealed(out), term.number))
    }

    /// Authenticates and opens a value sealed for `ctx`, with the AAD in the layout the blob names.
    pub fn open(&self, sealed: &Sealed, ctx: Context<'_>) -> Result<Zeroizing<Vec<u8>>, BarrierError> {
        let keys = self.keys()?;
        let Parts { layout, term, wrapped, body } = split(&sealed.0)?;
        let aad = ctx.aad(layout);
        let kek = keys.keyring.term(term).ok_or(BarrierError::UnknownTerm)?;
        let dek_bytes = crypto::open(&kek.key, &aad, wrapped)?;
        let dek = Key::from_slice(&dek_bytes).ok_or(BarrierError::Integrity)?;
        Ok(crypto::open(&dek, &aad, body)?)
    }

    /// Re-wraps a value's DEK under the active term without touching the sealed value (nor its
    /// layout). Returns `None` when the value already uses the active term.
    pub fn rewrap(&self, sealed: &Sealed, ctx: Context<'_>) -> Result<Option<(Sealed, u32)>, BarrierError> {
        let keys = self.keys()?;
        let Parts { layout, term, wrapped, body } = split(&sealed.0)?;
        let active = keys.keyring.active();
        if term == active.number {
            return Ok(None);
        }
        let aad = ctx.aad(layout);
        let kek = keys.keyring.term(term).ok_or(BarrierError::UnknownTerm)?;
        let dek = crypto::open(&kek.key, &aad, wrapped)?;
        let rewrapped = crypto::seal(&active.key, &aad, &dek);
        let mut out = Vec::with_capacity(sealed.0.len());
        out.push(layout as u8);
        out.extend_from_slice(&active.number.to_be_bytes());
        out.extend_from_slice(&rewrapped);
        out.extend_from_slice(body);
        Ok(Some((Sealed(out), active.number)))
    }
}

/// A blob's parts.
struct Parts<'a> {
    layout: Layout,
    term: u32,
    wrapped: &'a [u8],
    body: &'a [u8],
}

/// The layout, term, wrapped DEK and sealed body of a blob.
fn split(blob: &[u8]) -> Result<Parts<'_>, BarrierError> {
    if blob.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
        return Err(BarrierError::Integrity);
    }
    let layout = blob.first().copied().and_then(Layout::from_byte).ok_or(BarrierError::Integrity)?;
    let term = u32::from_be_bytes(blob.get(1..5).and_then(|b| b.try_into().ok()).ok_or(BarrierError::Integrity)?);
    let wrapped = blob.get(5..HEADER_LEN).ok_or(BarrierError::Integrity)?;
    let body = blob.get(HEADER_LEN..).ok_or(BarrierError::Integrity)?;
    Ok(Parts { layout, term, wrapped, body })
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

    fn kv(version: i64) -> Context<'static> {
        Context::KvVersion { mount_id: "m1", path: "app/db", version }
    }

    /// The builder every prefixed V1 context used before contexts were typed, copied as it was.
    fn old_aad(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = b"coffer-aad-v1".to_vec();
        for p in parts {
            out.extend_from_slice(&u32::try_from(p.len()).unwrap().to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    #[test]
    fn v1_bytes_are_the_ones_stored_values_were_sealed_with() {
        let v1 = |c: Context<'_>| c.aad(Layout::V1);
        assert_eq!(v1(kv(12)), old_aad(&[b"kv-version", b"m1", b"app/db", b"12"]));
        assert_eq!(v1(Context::RotationConfig { mount_id: "m", path: "a/b" }), b"kv_rotation:m:a/b");
        assert_eq!(v1(Context::RotationValue { mount_id: "m", path: "a/b", token: "t" }), b"kv_rotation_value:m:a/b:t");
        assert_eq!(v1(Context::Cubbyhole { token_hash: &[1, 2], path: "p" }), old_aad(&[b"cubbyhole", &[1, 2], b"p"]));
        assert_eq!(v1(Context::Lease { id: "database/creds/ro/abc" }), b"lease:database/creds/ro/abc");
        assert_eq!(v1(Context::System { key: "core/token-key" }), old_aad(&[b"system", b"core/token-key"]));
        assert_eq!(v1(Context::AuditKeys { device: "file" }), old_aad(&[b"audit_keys", b"file"]));
        assert_eq!(v1(Context::Database { kind: "database/m/config", name: "pg" }), b"database/m/config/pg");
    }

    #[test]
    fn v2_frames_every_part_and_never_meets_a_v1_aad() {
        let v2 = Context::RotationConfig { mount_id: "m:a", path: "b" }.aad(Layout::V2);
        assert_ne!(v2, Context::RotationConfig { mount_id: "m", path: "a:b" }.aad(Layout::V2));
        assert!(v2.starts_with(b"coffer-aad-v2"));
        assert_ne!(
            Context::Database { kind: "a/b", name: "c" }.aad(Layout::V2),
            Context::Database { kind: "a", name: "b/c" }.aad(Layout::V2)
        );
        assert_ne!(kv(1).aad(Layout::V1), kv(1).aad(Layout::V2));
    }

    #[test]
    fn round_trip_and_context_binding() {
        let b = unsealed();
        let (ct, term) = b.seal(kv(1), b"s3cr3t").unwrap();
        assert_eq!(term, 1);
        assert_eq!(ct.term(), Some(1));
        assert_eq!(ct.as_bytes()[0], WRITE_LAYOUT as u8);
        assert_eq!(&b.open(&ct, kv(1)).unwrap()[..], b"s3cr3t");
        assert_eq!(b.open(&ct, kv(2)), Err(BarrierError::Integrity));
        assert_eq!(b.open(&ct, Context::Lease { id: "x" }), Err(BarrierError::Integrity));
        assert!(!ct.as_bytes().windows(6).any(|w| w == b"s3cr3t"));
        assert_eq!(format!("{ct:?}"), format!("Sealed({} bytes)", ct.as_bytes().len()), "Debug shows the size only");
    }

    #[test]
    fn opening_uses_the_layout_the_blob_names() {
        let b = unsealed();
        for layout in [Layout::V1, Layout::V2] {
            let (ct, _) = b.seal_as(layout, kv(3), b"v").unwrap();
            assert_eq!(ct.as_bytes()[0], layout as u8);
            assert_eq!(&b.open(&ct, kv(3)).unwrap()[..], b"v");
            // Naming another layout (or none known) does not authenticate.
            for byte in [1u8, 2, 3, 0] {
                if byte != layout as u8 {
                    let mut other = ct.as_bytes().to_vec();
                    other[0] = byte;
                    assert_eq!(b.open(&Sealed::from_stored(other), kv(3)), Err(BarrierError::Integrity));
                }
            }
        }
    }

    #[test]
    fn sealed_barrier_refuses() {
        let b = Barrier::default();
        assert_eq!(b.seal(kv(1), b"y").unwrap_err(), BarrierError::Sealed);
    }

    #[test]
    fn rotation_keeps_old_data_readable_and_rewrap_moves_term() {
        let b = unsealed();
        let a = Context::System { key: "x" };
        let (old, _) = b.seal(a, b"v").unwrap();
        let (old_v2, _) = b.seal_as(Layout::V2, a, b"v2").unwrap();
        let keys = b.keys().unwrap();
        b.load(Unsealed { root_key: keys.root_key.clone(), keyring: keys.keyring.rotated(SystemClock.now()) });
        let (new, term) = b.seal(a, b"w").unwrap();
        assert_eq!(term, 2);
        assert_eq!(&b.open(&old, a).unwrap()[..], b"v");
        let (rewrapped, t) = b.rewrap(&old, a).unwrap().unwrap();
        assert_eq!(t, 2);
        assert_eq!(&b.open(&rewrapped, a).unwrap()[..], b"v");
        assert!(b.rewrap(&new, a).unwrap().is_none());
        let (rewrapped, _) = b.rewrap(&old_v2, a).unwrap().unwrap();
        assert_eq!(rewrapped.as_bytes()[0], Layout::V2 as u8, "a re-wrap keeps the layout");
        assert_eq!(&b.open(&rewrapped, a).unwrap()[..], b"v2");
    }
}
