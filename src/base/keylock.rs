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
}
