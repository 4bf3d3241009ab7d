//! The proxy's answer cache. Every key starts with the HMAC of the caller's token under a key made
//! at random for this process, so an answer is only ever served to the token that asked for it,
//! and the token itself is not kept in the key. KV reads (answers without a lease) live for a short
//! configured time; leased answers until two thirds of their lease, when the proxy renews them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
use zeroize::Zeroizing;

/// Entries beyond this many are not cached (expired ones are dropped first).
const MAX_ENTRIES: usize = 10_000;

/// A cached answer.
#[derive(Clone)]
pub struct Entry {
    /// The JSON body as the server sent it.
    pub body: Zeroizing<Vec<u8>>,
    /// When it stops being served as it is.
    pub fresh_until: Instant,
    /// The lease to renew, with its duration in seconds.
    pub lease: Option<(String, u64)>,
}

/// The cache.
pub struct Cache {
    key: Zeroizing<[u8; 32]>,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Default for Cache {
    fn default() -> Self {
        Cache { key: Zeroizing::new(crate::crypto::random_bytes::<32>()), entries: Mutex::new(HashMap::new()) }
    }
}

impl Cache {
    /// The key for `token` asking `method target`.
    pub fn key(&self, token: &SecretString, method: &str, target: &str) -> String {
        let mac = crate::crypto::hmac(self.key.as_slice(), token.expose_secret().as_bytes());
        format!("{}\0{method}\0{target}", hex::encode(mac.as_slice()))
    }

    /// The entry under `key`, fresh or not (the caller renews a stale leased one).
    pub fn get(&self, key: &str) -> Option<Entry> {
        self.entries.lock().ok()?.get(key).cloned()
    }

    /// Stores an entry living `ttl`.
    pub fn put(&self, key: String, body: Vec<u8>, ttl: Duration, lease: Option<(String, u64)>) {
        let Ok(mut map) = self.entries.lock() else { return };
        let now = Instant::now();
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, e| e.fresh_until > now);
            if map.len() >= MAX_ENTRIES {
                return;
            }
        }
        map.insert(key, Entry { body: Zeroizing::new(body), fresh_until: now + ttl, lease });
    }

    /// Forgets one entry.
    pub fn remove(&self, key: &str) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(key);
        }
    }

    /// Forgets everything (after a write through the proxy).
    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.lock() {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_token_and_hide_it() {
        let c = Cache::default();
        let a = c.key(&SecretString::from("s.alpha".to_string()), "GET", "/v1/secret/data/x");
        let b = c.key(&SecretString::from("s.beta".to_string()), "GET", "/v1/secret/data/x");
        assert_ne!(a, b);
        assert!(!a.contains("alpha"));
        // Another process (another random key) makes other keys for the same token.
        let other = Cache::default().key(&SecretString::from("s.alpha".to_string()), "GET", "/v1/secret/data/x");
        assert_ne!(a, other);
    }
}
