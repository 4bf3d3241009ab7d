//! The proxy's answer cache. Every key starts with the HMAC of the caller's token under a key made
//! at random for this process, so an answer is only ever served to the token that asked for it,
//! and the token itself is not kept in the key. KV reads (answers without a lease) live for a short
//! configured time; a renewable leased answer lives until its lease ends, and keeps the caller's
//! token (in memory, wiped on drop) so that the renewer (`renewer`) can renew it at two thirds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::lifetime::{in_secs, two_thirds};

/// Entries beyond this many, or answers beyond this many bytes in all, are not cached (expired
/// ones are dropped first): callers with valid tokens cannot grow the agent without bound.
const MAX_ENTRIES: usize = 10_000;
const MAX_BYTES: usize = 64 << 20;

/// A lease the renewer keeps alive: its id, the duration asked for at each renewal, and the token
/// of the caller it was read for (the renewal is made with that token, as the caller would).
#[derive(Clone)]
pub struct Lease {
    /// The lease id.
    pub id: String,
    /// The increment asked for at each renewal, in seconds (the lease's first duration).
    pub duration: u64,
    /// The caller's token.
    pub token: SecretString,
}

/// A cached answer.
struct Entry {
    /// The JSON body as the server sent it (with `lease_duration` updated by renewals).
    body: Zeroizing<Vec<u8>>,
    /// When it stops being served.
    fresh_until: Instant,
    /// For a renewable leased answer: when to renew it next, and the lease.
    renew: Option<(Instant, Lease)>,
}

impl Entry {
    fn size(&self, key: &str) -> usize {
        key.len() + self.body.len()
    }
}

/// The entries and the bytes they hold.
#[derive(Default)]
struct Entries {
    map: HashMap<String, Entry>,
    bytes: usize,
}

impl Entries {
    fn insert(&mut self, key: String, entry: Entry) {
        self.bytes += entry.size(&key);
        if let Some(old) = self.map.get(&key) {
            self.bytes -= old.size(&key);
        }
        self.map.insert(key, entry);
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.map.remove(key) {
            self.bytes -= old.size(key);
        }
    }

    /// Drops the entries past their end.
    fn drop_stale(&mut self, now: Instant) {
        self.map.retain(|_, e| e.fresh_until > now);
        self.bytes = self.map.iter().map(|(k, e)| e.size(k)).sum();
    }

    fn full_for(&self, size: usize) -> bool {
        self.map.len() >= MAX_ENTRIES || self.bytes + size > MAX_BYTES
    }
}

/// The cache.
pub struct Cache {
    key: Zeroizing<[u8; 32]>,
    entries: Mutex<Entries>,
    /// Wakes the renewer when a leased entry arrives.
    pub(super) changed: Notify,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            key: Zeroizing::new(crate::crypto::random_bytes::<32>()),
            entries: Mutex::new(Entries::default()),
            changed: Notify::new(),
        }
    }
}

impl Cache {
    /// The key for `token` asking `method target`.
    pub fn key(&self, token: &SecretString, method: &str, target: &str) -> String {
        let mac = crate::crypto::hmac(self.key.as_slice(), token.expose_secret().as_bytes());
        format!("{}\0{method}\0{target}", hex::encode(mac.as_slice()))
    }

    /// The body under `key` while it is fresh; a stale entry is dropped.
    pub fn get(&self, key: &str) -> Option<Zeroizing<Vec<u8>>> {
        let mut entries = self.entries.lock().ok()?;
        match entries.map.get(key) {
            Some(e) if e.fresh_until > Instant::now() => Some(e.body.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Stores an answer without a renewable lease, served for `ttl`.
    pub fn put(&self, key: String, body: Vec<u8>, ttl: Duration) {
        self.insert(
            key,
            Entry {
                body: Zeroizing::new(body),
                fresh_until: Instant::now() + ttl.min(two_thirds(u64::MAX)),
                renew: None,
            },
        );
    }

    /// Stores a renewable leased answer: served until the lease ends, renewed at two thirds.
    pub fn put_leased(&self, key: String, body: Vec<u8>, lease: Lease) {
        let now = Instant::now();
        let entry = Entry {
            body: Zeroizing::new(body),
            fresh_until: in_secs(lease.duration),
            renew: Some((now + two_thirds(lease.duration), lease)),
        };
        self.insert(key, entry);
        self.changed.notify_one();
    }

    fn insert(&self, key: String, entry: Entry) {
        let Ok(mut entries) = self.entries.lock() else { return };
        let size = entry.size(&key);
        if entries.full_for(size) {
            entries.drop_stale(Instant::now());
            if entries.full_for(size) {
                return;
            }
        }
        entries.insert(key, entry);
    }

    /// The leases due for renewal at `now` (with their keys), and when the next one after them is
    /// due. Entries past their end are dropped here.
    pub fn due(&self, now: Instant) -> (Vec<(String, Lease)>, Option<Instant>) {
        let Ok(mut entries) = self.entries.lock() else { return (Vec::new(), None) };
        entries.drop_stale(now);
        let mut due = Vec::new();
        let mut next: Option<Instant> = None;
        for (k, e) in entries.map.iter() {
            let Some((at, lease)) = &e.renew else { continue };
            if *at <= now {
                due.push((k.clone(), lease.clone()));
            } else {
                next = Some(next.map_or(*at, |n| n.min(*at)));
            }
        }
        (due, next)
    }

    /// Records a renewal of `lease_id` under `key` for `secs` seconds: the answer's
    /// `lease_duration` becomes `secs`, it is served until then and renewed again at two thirds.
    /// Nothing happens if the entry has gone or now holds another lease.
    pub fn renewed(&self, key: &str, lease_id: &str, secs: u64) {
        let Ok(mut guard) = self.entries.lock() else { return };
        let entries = &mut *guard;
        let Some(e) = entries.map.get_mut(key) else { return };
        let Some((at, lease)) = &mut e.renew else { return };
        if lease.id != lease_id {
            return;
        }
        let now = Instant::now();
        *at = now + two_thirds(secs);
        e.fresh_until = in_secs(secs);
        if let Ok(mut v) = serde_json::from_slice::<Value>(&e.body) {
            crate::base::json::set(&mut v, "lease_duration", json!(secs));
            if let Ok(bytes) = serde_json::to_vec(&v) {
                entries.bytes = entries.bytes - e.body.len() + bytes.len();
                e.body = Zeroizing::new(bytes);
            }
        }
    }

    /// Puts off the next renewal attempt of `lease_id` under `key` to `at` (the server could not
    /// be reached); the entry is still served only until its lease ends.
    pub fn retry_at(&self, key: &str, lease_id: &str, at: Instant) {
        let Ok(mut entries) = self.entries.lock() else { return };
        if let Some(Entry { renew: Some((when, lease)), .. }) = entries.map.get_mut(key) {
            if lease.id == lease_id {
                *when = at;
            }
        }
    }

    /// Forgets the entry under `key` if it still holds `lease_id` (its renewal was refused).
    pub fn drop_lease(&self, key: &str, lease_id: &str) {
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.map.get(key).and_then(|e| e.renew.as_ref()).is_some_and(|(_, l)| l.id == lease_id) {
            entries.remove(key);
        }
    }

    /// Forgets everything (after a write through the proxy).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            *entries = Entries::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(id: &str, secs: u64) -> Lease {
        Lease { id: id.into(), duration: secs, token: SecretString::from("s.alpha".to_string()) }
    }

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

    #[test]
    fn a_leased_entry_is_due_at_two_thirds_and_a_renewal_moves_it_on() {
        let c = Cache::default();
        let t0 = Instant::now();
        c.put_leased("k".into(), br#"{"lease_id":"l1","lease_duration":30}"#.to_vec(), lease("l1", 30));
        let (due, next) = c.due(t0);
        assert!(due.is_empty());
        let next = next.unwrap();
        assert!(
            next >= t0 + Duration::from_secs(20)
                && next < Instant::now() + Duration::from_secs(20) + Duration::from_millis(1)
        );
        let (due, _) = c.due(next);
        assert_eq!(due.iter().map(|(k, l)| (k.as_str(), l.id.as_str())).collect::<Vec<_>>(), vec![("k", "l1")]);
        // A renewal for another lease (the entry was replaced meanwhile) changes nothing.
        c.renewed("k", "other", 90);
        assert_eq!(c.due(next).0.len(), 1);
        c.renewed("k", "l1", 90);
        assert!(c.due(next).0.is_empty());
        let body: Value = serde_json::from_slice(&c.get("k").unwrap()).unwrap();
        assert_eq!(body["lease_duration"], 90);
        // Served until the renewed lease ends (90 s from now), not the first one (30 s).
        c.due(Instant::now() + Duration::from_secs(80));
        assert!(c.get("k").is_some());
        c.due(Instant::now() + Duration::from_secs(91));
        assert!(c.get("k").is_none());
    }

    #[test]
    fn the_cache_holds_at_most_its_byte_budget() {
        let c = Cache::default();
        let big = vec![b'x'; MAX_BYTES / 4];
        for i in 0..4 {
            c.put(format!("k{i}"), big.clone(), Duration::from_secs(60));
        }
        // The keys' bytes count too: the fourth answer no longer fits.
        assert!((0..3).all(|i| c.get(&format!("k{i}")).is_some()));
        assert!(c.get("k3").is_none());
        // Replacing an entry frees its old size; removing one frees room for another.
        c.put("k0".into(), big.clone(), Duration::from_secs(60));
        c.put_leased("k1".into(), b"{}".to_vec(), lease("l1", 30));
        c.put("k3".into(), big.clone(), Duration::from_secs(60));
        assert!(c.get("k3").is_some());
        // A single answer over the budget is never cached.
        c.clear();
        c.put("huge".into(), vec![b'x'; MAX_BYTES + 1], Duration::from_secs(60));
        assert!(c.get("huge").is_none());
        c.put("small".into(), b"{}".to_vec(), Duration::from_secs(60));
        assert!(c.get("small").is_some());
    }

    #[test]
    fn a_lease_of_u64_max_seconds_does_not_overflow() {
        let c = Cache::default();
        c.put_leased("k".into(), b"{}".to_vec(), lease("l1", u64::MAX));
        c.renewed("k", "l1", u64::MAX);
        c.put("kv".into(), b"{}".to_vec(), Duration::MAX);
        assert!(c.get("k").is_some() && c.get("kv").is_some());
        assert!(c.due(Instant::now()).1.is_some());
    }

    #[test]
    fn a_refused_or_unreachable_renewal_drops_or_delays_only_its_own_lease() {
        let c = Cache::default();
        c.put_leased("k".into(), b"{}".to_vec(), lease("l1", 30));
        c.drop_lease("k", "other");
        assert!(c.get("k").is_some());
        let later = Instant::now() + Duration::from_secs(25);
        c.retry_at("k", "l1", later);
        assert_eq!(c.due(Instant::now()).1, Some(later));
        c.drop_lease("k", "l1");
        assert!(c.get("k").is_none());
        // A KV entry is never due for renewal and ends at its ttl.
        c.put("kv".into(), b"{}".to_vec(), Duration::from_secs(5));
        let (due, next) = c.due(Instant::now());
        assert!(due.is_empty() && next.is_none());
        c.due(Instant::now() + Duration::from_secs(6));
        assert!(c.get("kv").is_none());
    }
}
