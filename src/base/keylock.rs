//! Striped per-key locks: writes to one key on this node queue up instead of racing; the store's
//! conditional write still guards against other nodes.

use std::hash::BuildHasher;

use tokio::sync::{Mutex, MutexGuard};

const STRIPES: usize = 1024;

/// A fixed set of async mutexes; a key maps to one of them by hash.
pub struct KeyLocks {
    stripes: Vec<Mutex<()>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for KeyLocks {
    fn default() -> Self {
        Self { stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(), hasher: Default::default() }
    }
}

impl KeyLocks {
    /// Waits for the lock of `(scope, key)`; FIFO, so concurrent writers are served in order.
    pub async fn lock(&self, scope: &str, key: &str) -> Option<MutexGuard<'_, ()>> {
        let i = usize::try_from(self.hasher.hash_one((scope, key)) % STRIPES as u64).ok()?;
        Some(self.stripes.get(i)?.lock().await)
    }

    fn stripe(&self, scope: &str, key: &str) -> Option<&Mutex<()>> {
        let i = usize::try_from(self.hasher.hash_one((scope, key)) % STRIPES as u64).ok()?;
        self.stripes.get(i)
    }

    /// The locks of two keys of one scope (one lock when both map to the same stripe). It never
    /// waits while holding one of them, so it cannot deadlock with a holder of one lock that
    /// waits for another, whatever order that holder takes them in.
    pub async fn lock_both(&self, scope: &str, a: &str, b: &str) -> Option<Vec<MutexGuard<'_, ()>>> {
        let (first, second) = (self.stripe(scope, a)?, self.stripe(scope, b)?);
        if std::ptr::eq(first, second) {
            return Some(vec![first.lock().await]);
        }
        let (mut wait, mut take) = (first, second);
        loop {
            let held = wait.lock().await;
            if let Ok(other) = take.try_lock() {
                return Some(vec![held, other]);
            }
            drop(held);
            std::mem::swap(&mut wait, &mut take);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_key_is_exclusive_other_keys_are_not() {
        let locks = KeyLocks::default();
        let a = locks.lock("m", "a").await.unwrap();
        assert!(tokio::time::timeout(std::time::Duration::from_millis(20), locks.lock("m", "a")).await.is_err());
        drop(a);
        assert!(locks.lock("m", "a").await.is_some());
    }

    #[tokio::test]
    async fn both_keys_are_held_together_and_the_same_stripe_once() {
        let locks = KeyLocks::default();
        // Two keys on different stripes (the hasher is random).
        let b = (0..)
            .map(|i| format!("b{i}"))
            .find(|b| !std::ptr::eq(locks.stripe("m", "a").unwrap(), locks.stripe("m", b).unwrap()))
            .unwrap();
        let b = b.as_str();
        let both = locks.lock_both("m", "a", b).await.unwrap();
        for k in ["a", b] {
            assert!(tokio::time::timeout(std::time::Duration::from_millis(20), locks.lock("m", k)).await.is_err());
        }
        drop(both);
        // A key with itself is one lock, not a wait on itself.
        assert_eq!(locks.lock_both("m", "a", "a").await.unwrap().len(), 1);
        // Held by someone else, the pair waits for it, then gets both.
        let a = locks.lock("m", "a").await.unwrap();
        let pending = locks.lock_both("m", b, "a");
        tokio::pin!(pending);
        assert!(tokio::time::timeout(std::time::Duration::from_millis(20), &mut pending).await.is_err());
        assert!(locks.lock("m", b).await.is_some(), "b is not held while the pair waits for a");
        drop(a);
        assert!(pending.await.is_some());
    }
}
