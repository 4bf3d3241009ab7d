//! Per-device HMAC of sensitive audit values: `hmac-sha256:<hex>` under the device's own salt,
//! with Vault's `hmac_accessor` and `log_raw` options.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::borrow::Cow;

use crate::crypto::Key;

/// Hashes the values one device must not write in clear.
#[derive(Clone)]
pub struct Hasher {
    keyed: Hmac<Sha256>,
    hmac_accessor: bool,
    log_raw: bool,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher").field("hmac_accessor", &self.hmac_accessor).field("log_raw", &self.log_raw).finish()
    }
}

impl Hasher {
    /// A hasher over `salt`.
    pub fn new(salt: &Key, hmac_accessor: bool, log_raw: bool) -> Self {
        // A 32-byte key zero-padded to the 64-byte block is exactly HMAC's own key padding, so this
        // equals `new_from_slice(salt)` without its (never taken) error branch.
        let mut block = zeroize::Zeroizing::new([0u8; 64]);
        for (to, from) in block.iter_mut().zip(salt.expose()) {
            *to = *from;
        }
        let keyed = <Hmac<Sha256> as KeyInit>::new(&(*block).into());
        Self { keyed, hmac_accessor, log_raw }
    }

    /// This hasher, hashing every sensitive value even when the device has `log_raw` (entries
    /// that carry unseal key shares).
    pub fn never_raw(&self) -> Cow<'_, Hasher> {
        if self.log_raw {
            Cow::Owned(Hasher { log_raw: false, ..self.clone() })
        } else {
            Cow::Borrowed(self)
        }
    }

    /// `hmac-sha256:<hex>` of `input`, whatever the options (`sys/audit-hash`).
    pub fn hash(&self, input: &str) -> String {
        let mut mac = self.keyed.clone();
        mac.update(input.as_bytes());
        Self::finish(mac)
    }

    /// `hmac-sha256:<hex>` of the compact JSON text of `value` (what `sys/audit-hash` gives for
    /// that text), and the text's length in bytes; the text itself is never held in memory.
    pub fn hash_json(&self, value: &impl serde::Serialize) -> (String, usize) {
        struct Sink(Hmac<Sha256>, usize);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.update(buf);
                self.1 += buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut sink = Sink(self.keyed.clone(), 0);
        // Writing into memory cannot fail, and the values are JSON already.
        let _ = serde_json::to_writer(&mut sink, value);
        let len = sink.1;
        (Self::finish(sink.0), len)
    }

    /// True when this device writes sensitive strings in clear (`log_raw`).
    pub fn is_raw(&self) -> bool {
        self.log_raw
    }

    fn finish(mac: Hmac<Sha256>) -> String {
        let mut hex = [0u8; 64];
        // 32 bytes always fit 64 hex digits; the fallback keeps this total without a panic.
        let digits = match hex::encode_to_slice(mac.finalize().into_bytes(), &mut hex) {
            Ok(()) => std::str::from_utf8(&hex).unwrap_or_default(),
            Err(_) => "",
        };
        let mut out = String::with_capacity(12 + 64);
        out.push_str("hmac-sha256:");
        out.push_str(digits);
        out
    }

    /// A sensitive string (token, secret value): hashed unless `log_raw`.
    pub fn secret<'a>(&self, input: &'a str) -> Cow<'a, str> {
        if self.log_raw {
            Cow::Borrowed(input)
        } else {
            Cow::Owned(self.hash(input))
        }
    }

    /// An accessor: hashed unless `log_raw` or `hmac_accessor = false`.
    pub fn accessor<'a>(&self, input: &'a str) -> Cow<'a, str> {
        if self.hmac_accessor {
            self.secret(input)
        } else {
            Cow::Borrowed(input)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn salt() -> Key {
        Key::from_slice(&[3; 32]).unwrap()
    }

    #[test]
    fn hashes_are_keyed_hmacs_in_vaults_format() {
        let h = Hasher::new(&salt(), true, false);
        assert_eq!(h.secret(""), h.hash(""));
        assert!(h.hash("root").starts_with("hmac-sha256:") && h.hash("root").len() == 12 + 64);
        let expected = crate::crypto::hmac_sha256(&salt(), b"root");
        assert_eq!(h.hash("root"), format!("hmac-sha256:{}", hex::encode(expected)));
    }

    #[test]
    fn options_and_salts_are_per_device() {
        let a = Hasher::new(&salt(), false, false);
        let b = Hasher::new(&Key::from_slice(&[4; 32]).unwrap(), true, true);
        assert_eq!(a.accessor("acc"), "acc");
        assert_ne!(a.secret("t"), "t");
        assert_eq!(b.secret("t"), "t");
        assert_ne!(a.hash("x"), b.hash("x"));
    }
}
