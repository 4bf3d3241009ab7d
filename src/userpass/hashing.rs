//! Argon2id password hashing kept off the async executor: every hash and every verification runs
//! in `spawn_blocking` while holding one of two permits, so a burst of logins queues instead of
//! starving the runtime or the machine.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::error::ApiError;

/// Concurrent Argon2 computations on this node.
static HASHING: Semaphore = Semaphore::const_new(2);

/// A PHC string with the default parameters (m=19456, t=2, p=1) of a random password nobody
/// knows. Unknown users are verified against it, so they cost what a known user costs (SEC-16).
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$Y29mZmVyLWR1bW15LXNhbHQ$K/iQbzJiAOJqNF3rMrBhsj8OFfo+FRkkFlgEryUiTq4";

/// Runs `f` on the blocking pool under a hashing permit. The permit moves into the task, so a
/// cancelled request does not free it while the computation still runs.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    let permit = HASHING.acquire().await.map_err(|e| ApiError::internal(&e))?;
    tokio::task::spawn_blocking(move || {
        let out = f();
        drop(permit);
        out
    })
    .await
    .map_err(|e| ApiError::internal(&e))
}

/// Hashes a password with Argon2id, the default parameters and a random 16-byte salt; returns the
/// PHC string.
pub async fn hash(password: Zeroizing<String>) -> Result<String, ApiError> {
    let salt = SaltString::encode_b64(&crate::crypto::random_bytes::<16>()).map_err(|e| ApiError::internal(&e))?;
    blocking(move || Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()))
        .await?
        .map_err(|e| ApiError::internal(&e))
}

/// Checks a password against a PHC string (constant-time comparison inside `argon2`). A stored
/// string that does not parse is treated as a mismatch, after the same work against the dummy.
pub async fn verify(password: Zeroizing<String>, phc: String) -> Result<bool, ApiError> {
    blocking(move || {
        let argon = Argon2::default();
        match PasswordHash::new(&phc) {
            Ok(parsed) => argon.verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => {
                if let Ok(dummy) = PasswordHash::new(DUMMY_HASH) {
                    let _ = argon.verify_password(password.as_bytes(), &dummy);
                }
                false
            }
        }
    })
    .await
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
        let h = hash(Zeroizing::new("correct horse".into())).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify(Zeroizing::new("correct horse".into()), h.clone()).await.unwrap());
        assert!(!verify(Zeroizing::new("correct horsE".into()), h.clone()).await.unwrap());
        // Two hashes of one password differ (random salt).
        assert_ne!(h, hash(Zeroizing::new("correct horse".into())).await.unwrap());
        // A corrupt stored hash is a mismatch, not an error.
        assert!(!verify(Zeroizing::new("x".into()), "garbage".into()).await.unwrap());
        assert!(!verify(Zeroizing::new("x".into()), DUMMY_HASH.into()).await.unwrap());
    }
}
