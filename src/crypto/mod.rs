//! Cryptographic building blocks: 256-bit keys, AES-256-GCM sealing with AAD, randomness, HMAC.

pub mod barrier;
pub mod keyring;
pub mod password_hash;
pub mod shamir;
pub mod sigv4;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngExt;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

/// Length of every symmetric key in Coffer.
pub const KEY_LEN: usize = 32;
/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;

/// A 256-bit secret key, zeroed on drop, never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, zeroize::ZeroizeOnDrop)]
pub struct Key([u8; KEY_LEN]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key([redacted])")
    }
}

impl Key {
    /// A fresh random key from the OS-seeded CSPRNG.
    pub fn generate() -> Self {
        let mut k = [0u8; KEY_LEN];
        rand::rng().fill(&mut k[..]);
        Key(k)
    }

    /// Builds a key from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; KEY_LEN] = bytes.try_into().ok()?;
        Some(Key(arr))
    }

    /// The raw bytes, for wrapping and for splitting into shares.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

/// Authentication failed: wrong key, wrong AAD or a modified ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("message authentication failed")]
pub struct IntegrityError;

/// Fills a fresh buffer with random bytes.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rng().fill(&mut b[..]);
    b
}

/// Random string over `[A-Za-z0-9]`, for tokens and accessors.
pub fn random_base62(len: usize) -> String {
    random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", len)
}

/// Random string of `len` characters drawn uniformly from `alphabet` (ASCII, not empty).
pub fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| {
            let i = rng.random_range(0..alphabet.len().max(1));
            char::from(alphabet.get(i).copied().unwrap_or(b'A'))
        })
        .collect()
}

/// AES-256-GCM encrypt with a random nonce; output is `nonce || ciphertext || tag`.
pub fn seal(key: &Key, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce: [u8; NONCE_LEN] = random_bytes();
    let cipher = Aes256Gcm::new(key.expose().into());
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    // Encryption with a valid 32-byte key and in-memory buffers cannot fail.
    if let Ok(ct) = cipher.encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad }) {
        out.extend_from_slice(&ct);
    }
    out
}

/// Inverse of [`seal`]; any tampering, a wrong key or a wrong AAD gives [`IntegrityError`].
pub fn open(key: &Key, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, IntegrityError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(IntegrityError);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let cipher = Aes256Gcm::new(key.expose().into());
    cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad }).map(Zeroizing::new).map_err(|_| IntegrityError)
}

/// HMAC-SHA256 of `msg` under `key`.
pub fn hmac_sha256(key: &Key, msg: &[u8]) -> [u8; 32] {
    *hmac(key.expose(), msg)
}

/// HMAC-SHA256 of `msg` under a key of any length, in a buffer wiped on drop (SigV4 chains
/// these, each output the next key).
pub fn hmac(key: &[u8], msg: &[u8]) -> zeroize::Zeroizing<[u8; 32]> {
    use hmac::digest::FixedOutput;
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    // HMAC accepts keys of any length; the error branch is unreachable.
    if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) {
        mac.update(msg);
        FixedOutput::finalize_into(mac, (&mut *out).into());
    }
    out
}

/// A key for one purpose, derived from `parent` with HKDF-SHA256 and `label` as the info string:
/// the same parent and label always give the same key, different labels unrelated keys.
pub fn derive(parent: &Key, label: &[u8]) -> Key {
    let mut key = Key([0u8; KEY_LEN]);
    // 32 bytes is far below HKDF-SHA256's output limit: the error branch is unreachable.
    let _ = hkdf::Hkdf::<Sha256>::new(None, parent.expose()).expand(label, &mut key.0);
    key
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_takes_keys_longer_than_a_block() {
        // RFC 4231, test case 6: a 131-byte key is hashed first.
        let out = hmac(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(hex::encode(*out), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = Key::generate();
        let ct = seal(&k, b"aad-1", b"hello");
        assert_eq!(&open(&k, b"aad-1", &ct).unwrap()[..], b"hello");
        assert_eq!(open(&k, b"aad-2", &ct), Err(IntegrityError));
        assert_eq!(open(&Key::generate(), b"aad-1", &ct), Err(IntegrityError));
        let mut bad = ct.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(open(&k, b"aad-1", &bad), Err(IntegrityError));
        assert_eq!(open(&k, b"aad-1", &ct[..10]), Err(IntegrityError));
    }

    #[test]
    fn key_debug_is_redacted() {
        let k = Key::from_slice(&[7u8; 32]).unwrap();
        assert_eq!(format!("{k:?}"), "Key([redacted])");
    }

    #[test]
    fn base62_is_long_and_varied() {
        let a = random_base62(40);
        assert_eq!(a.len(), 40);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_base62(40));
    }
}
