//! Argon2id password hashing kept off the async executor: every hash and every verification runs
//! in `spawn_blocking` while holding one of two permits, so a burst of logins queues instead of
//! starving the runtime or the machine. The queue is bounded (`auth.argon2_queue`): beyond it a
//! login gets 503 with `Retry-After` at once instead of waiting behind everyone else.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::Argon2;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::base::error::ApiError;

/// Concurrent Argon2 computations on this node.
const RUNNING: usize = 2;

/// Seconds a client is asked to wait when the queue is full.
const RETRY_AFTER: u32 = 1;

/// A PHC string with the default parameters (m=19456, t=2, p=1) of a random password nobody
/// knows. Unknown users are verified against it, so they cost what a known user costs (SEC-16).
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$Y29mZmVyLWR1bW15LXNhbHQ$K/iQbzJiAOJqNF3rMrBhsj8OFfo+FRkkFlgEryUiTq4";

/// This node's Argon2 computations: two at a time, at most `queue` running or waiting.
pub struct Hashing {
    permits: Arc<Semaphore>,
    queued: Arc<AtomicUsize>,
    queue: usize,
}

/// One place in the queue, given back when dropped (after the computation, or when a waiting
/// request is cancelled).
pub struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// 503 with `Retry-After` when the queue is full.
fn busy() -> ApiError {
    let mut e =
        ApiError::new(http::StatusCode::SERVICE_UNAVAILABLE, "too many password checks in progress; retry later");
    e.retry_after = Some(RETRY_AFTER);
    e
}

impl Hashing {
    /// At most `queue` computations running or waiting (at least one).
    pub fn new(queue: usize) -> Self {
        Hashing {
            permits: Arc::new(Semaphore::new(RUNNING)),
            queued: Arc::new(AtomicUsize::new(0)),
            queue: queue.max(1),
        }
    }

    /// Computations running or waiting now, and the most there may be.
    pub fn depth(&self) -> (usize, usize) {
        (self.queued.load(Ordering::Relaxed), self.queue)
    }

    /// Takes a place in the queue, or answers 503 at once when it is full. A login takes it
    /// before it waits for its user's lock, so waiting there counts as queueing too.
    pub fn reserve(&self) -> Result<Place, ApiError> {
        if self.queued.fetch_add(1, Ordering::SeqCst) >= self.queue {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(queue = self.queue, "Argon2 queue full: a password check is refused with 503");
            return Err(busy());
        }
        Ok(Place(self.queued.clone()))
    }

    /// Runs `f` on the blocking pool under a hashing permit, in a place taken now.
    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let place = self.reserve()?;
        self.blocking_in(place, f).await
    }

    /// Runs `f` on the blocking pool under a hashing permit, in `place`. Permit and place move
    /// into the task, so a cancelled request does not free them while the computation still runs.
    async fn blocking_in<T: Send + 'static>(
        &self,
        place: Place,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|e| ApiError::internal(&e))?;
        tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            drop(place);
            out
        })
        .await
        .map_err(|e| ApiError::internal(&e))
    }

    /// Hashes a password with Argon2id, the default parameters and a random 16-byte salt;
    /// returns the PHC string.
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<String, ApiError> {
        let salt = SaltString::encode_b64(&crate::crypto::random_bytes::<16>()).map_err(|e| ApiError::internal(&e))?;
        self.blocking(move || Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()))
            .await?
            .map_err(|e| ApiError::internal(&e))
    }

    /// Checks a password against a PHC string (constant-time comparison inside `argon2`). A
    /// stored string that does not parse is treated as a mismatch, after the same work against
    /// the dummy.
    pub async fn verify(&self, password: Zeroizing<String>, phc: String) -> Result<bool, ApiError> {
        self.blocking(move || verify_now(&password, &phc)).await
    }

    /// [`Hashing::verify`] in a place reserved earlier.
    pub async fn verify_in(&self, place: Place, password: Zeroizing<String>, phc: String) -> Result<bool, ApiError> {
        self.blocking_in(place, move || verify_now(&password, &phc)).await
    }
}

/// The verification itself (blocking).
fn verify_now(password: &str, phc: &str) -> bool {
    let argon = Argon2::default();
    match PasswordHash::new(phc) {
        Ok(parsed) => argon.verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => {
            if let Ok(dummy) = PasswordHash::new(DUMMY_HASH) {
                let _ = argon.verify_password(password.as_bytes(), &dummy);
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_uses_the_default_parameters() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let params = argon2::Params::try_from(&parsed).unwrap();
        let default = argon2::Params::default();
        assert_eq!((params.m_cost(), params.t_cost(), params.p_cost()), (19456, 2, 1));
        assert_eq!((default.m_cost(), default.t_cost(), default.p_cost()), (19456, 2, 1));
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hashing = Hashing::new(4);
        let hash = |p: &str| hashing.hash(Zeroizing::new(p.to_string()));
        let verify = |p: &str, phc: String| hashing.verify(Zeroizing::new(p.to_string()), phc);
        let h = hash("correct horse").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse", h.clone()).await.unwrap());
        assert!(!verify("correct horsE", h.clone()).await.unwrap());
        // Two hashes of one password differ (random salt).
        assert_ne!(h, hash("correct horse").await.unwrap());
        // A corrupt stored hash is a mismatch, not an error.
        assert!(!verify("x", "garbage".into()).await.unwrap());
        assert!(!verify("x", DUMMY_HASH.into()).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_answers_503_with_retry_after_and_frees_its_places() {
        let hashing = Arc::new(Hashing::new(3));
        let runs: Vec<_> = (0..12)
            .map(|_| {
                let h = hashing.clone();
                tokio::spawn(async move { h.verify(Zeroizing::new("x".into()), DUMMY_HASH.into()).await })
            })
            .collect();
        let mut refused = 0;
        for r in runs {
            match r.await.unwrap() {
                Ok(matched) => assert!(!matched),
                Err(e) => {
                    assert_eq!((e.status.as_u16(), e.retry_after), (503, Some(RETRY_AFTER)));
                    refused += 1;
                }
            }
        }
        assert!(refused >= 1, "nothing refused");
        assert_eq!(hashing.queued.load(Ordering::SeqCst), 0);
        assert!(!hashing.verify(Zeroizing::new("x".into()), DUMMY_HASH.into()).await.unwrap());
    }
}
