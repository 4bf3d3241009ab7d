//! The per-request deadline: a request that runs longer (a database that went silent in the
//! middle of a query) is answered 503 with `Retry-After`, never left hanging (FLT-10).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;

use crate::base::error::{ApiError, STORAGE_RETRY_AFTER};

/// The longest a request runs by default.
pub const DEFAULT_REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// The deadline in force on this node (milliseconds, so it can change without a lock).
#[derive(Debug)]
pub struct RequestDeadline(AtomicU64);

impl Default for RequestDeadline {
    fn default() -> Self {
        Self(AtomicU64::new(u64::try_from(DEFAULT_REQUEST_DEADLINE.as_millis()).unwrap_or(u64::MAX)))
    }
}

impl RequestDeadline {
    /// The deadline in force.
    pub fn get(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::Relaxed))
    }

    /// Sets the deadline (at least 1 ms).
    pub fn set(&self, limit: Duration) {
        self.0.store(u64::try_from(limit.as_millis()).unwrap_or(u64::MAX).max(1), Ordering::Relaxed);
    }
}

/// 503 with `Retry-After`: the request ran out of time. What it had done may or may not have
/// committed (each store write is atomic on its own), so the client should read before it retries
/// a non-idempotent write.
pub fn exceeded(limit: Duration) -> ApiError {
    tracing::warn!(limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX), "request deadline exceeded");
    let mut err = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "request deadline exceeded; retry later");
    err.retry_after = Some(STORAGE_RETRY_AFTER);
    err
}
