//! Bounded use of the PostgreSQL pool: a checked-out connection that always goes back (or is
//! closed) within a bound, and a bound on every statement. sqlx returns a connection by pinging
//! it with no time limit, so one that went silent (a black-holed network) would keep its place in
//! the pool forever (docs/decisions.md, FLT-10: the PostgreSQL pool).

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};
use tokio::time::{error::Elapsed, Timeout};

use super::errors::PgResultExt;
use crate::store::StoreResult;

/// Longest wait for the answer to one statement (or `begin`/`commit`). Requests are bounded by
/// their own deadline; this bounds the background workers, which have none, so that a worker
/// waiting on a silent connection gives it up and its place in the pool comes back.
pub(crate) const STATEMENT_BOUND: Duration = Duration::from_secs(30);

/// A connection checked out of the pool. Dropping it returns it the way sqlx does (a ping that
/// also flushes a pending `ROLLBACK`), but within `back_within`: a connection that does not
/// answer by then is closed, and its place in the pool is freed.
pub(crate) struct Conn {
    inner: PoolConnection<Postgres>,
    back_within: Duration,
}

impl Conn {
    /// Checks a connection out of `pool` (bounded by the pool's `acquire_timeout`).
    pub(crate) async fn acquire(pool: &PgPool, back_within: Duration) -> StoreResult<Self> {
        Ok(Conn { inner: pool.acquire().await.pg()?, back_within })
    }
}

impl Deref for Conn {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.inner
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.inner
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Takes the connection out of `inner` (whose own drop then does nothing) into a future
        // that pings it and puts it back in the pool. Dropping that future unfinished (after
        // `back_within`, or unpolled when there is no runtime) closes the connection and frees
        // its place.
        let back = self.inner.return_to_pool();
        let within = self.back_within;
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if tokio::time::timeout(within, back).await.is_err() {
                    tracing::warn!(?within, "PostgreSQL connection did not answer on its way back to the pool; closed");
                }
            });
        }
    }
}

/// `.bounded()` puts a statement's future under [`STATEMENT_BOUND`]; `.pg()` on the result reads
/// running out of time as the database being unavailable.
pub(crate) trait Bounded: Future + Sized {
    fn bounded(self) -> Timeout<Self> {
        tokio::time::timeout(STATEMENT_BOUND, self)
    }
}

impl<F: Future> Bounded for F {}

impl<T> PgResultExt<T> for Result<Result<T, sqlx::Error>, Elapsed> {
    fn pg(self) -> StoreResult<T> {
        match self {
            Ok(r) => r.pg(),
            Err(_) => Err(crate::store::StoreError::Unavailable(format!(
                "no answer from PostgreSQL within {} s",
                STATEMENT_BOUND.as_secs()
            ))),
        }
    }
}
