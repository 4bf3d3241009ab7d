//! Storage of secret leases (dynamic credentials): the row, and the queries the lease manager
//! needs, all by index (expiry, owning token, role), so no query loads every lease.

use async_trait::async_trait;

use super::{Fence, Sealed, StoreResult};

/// One lease of a dynamic secret. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SecretLeaseRow {
    /// `<mount path><path>/<random>`, as clients see it.
    pub id: String,
    /// The mount whose engine revokes and renews it.
    pub mount_id: String,
    /// The request path that created it, relative to the mount (`creds/readonly`).
    pub path: String,
    /// What quotas count it under (`<mount id>:<role>`).
    pub role: String,
    /// The token that created it: revoking that token revokes the lease.
    pub token_hash: Option<Vec<u8>>,
    /// When it was issued.
    pub issue_time: i64,
    /// When it expires (and is revoked).
    pub expire_time: i64,
    /// The latest a renewal may push `expire_time` to.
    pub max_expire: i64,
    /// The last renewal.
    pub last_renewal: Option<i64>,
    /// Whether `sys/leases/renew` may extend it.
    pub renewable: bool,
    /// The keyring term `secret` is encrypted under.
    pub key_term: i64,
    /// The engine's internal data, encrypted.
    pub secret: Sealed,
    /// Failed revocation attempts so far.
    pub attempts: i64,
    /// When the expiry worker next looks at it: `expire_time`, or later after a failed attempt.
    pub next_attempt: i64,
    /// The last revocation error (empty if none).
    pub last_error: String,
}

/// The lease queries, implemented by every store.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Adds a lease.
    async fn secret_lease_insert(&self, l: &SecretLeaseRow) -> StoreResult<()>;
    /// A lease by id.
    async fn secret_lease_get(&self, id: &str) -> StoreResult<Option<SecretLeaseRow>>;
    /// Ids that start with `prefix`, sorted, at most `limit`.
    async fn secret_lease_ids(&self, prefix: &str, limit: i64) -> StoreResult<Vec<String>>;
    /// Sets a new expiry after a renewal; `Conflict` if the lease is gone.
    async fn secret_lease_renew(&self, id: &str, expire_time: i64, now: i64) -> StoreResult<()>;
    /// Deletes a lease (it has been revoked). Deleting a missing lease is not an error.
    async fn secret_lease_delete(&self, id: &str) -> StoreResult<()>;
    /// Deletes a lease only while `fence` holds the singleton lease; `Conflict` otherwise.
    async fn secret_lease_delete_fenced(&self, id: &str, fence: &Fence) -> StoreResult<()>;
    /// Deletes several leases in one transaction, only while `fence` holds; `Conflict` otherwise.
    async fn secret_lease_delete_fenced_many(&self, ids: &[String], fence: &Fence) -> StoreResult<()>;
    /// Leases whose `next_attempt` is at or before `now`, earliest first, at most `limit`.
    async fn secret_lease_due(&self, now: i64, limit: i64) -> StoreResult<Vec<SecretLeaseRow>>;
    /// Ids of the leases created by one token.
    async fn secret_lease_ids_by_token(&self, token_hash: &[u8]) -> StoreResult<Vec<String>>;
    /// Records a failed revocation: attempts, when to try again, and why.
    async fn secret_lease_failed(&self, id: &str, attempts: i64, next_attempt: i64, error: &str) -> StoreResult<()>;
    /// Leases counted under `role`.
    async fn secret_lease_count_role(&self, role: &str) -> StoreResult<i64>;
    /// Leases created by one token (under `role` only, when given).
    async fn secret_lease_count_token(&self, token_hash: &[u8], role: Option<&str>) -> StoreResult<i64>;
    /// Makes the leases of a revoked token due now, so the expiry worker revokes them.
    async fn secret_lease_due_for_token(&self, token_hash: &[u8], now: i64) -> StoreResult<()>;
    /// All leases, and those whose revocation has failed at least once.
    async fn secret_lease_counts(&self) -> StoreResult<(i64, i64)>;
    /// Leases per mount id (only those whose revocation has failed at least once, with
    /// `failing`), sorted by mount id.
    async fn secret_lease_counts_by_mount(&self, failing: bool) -> StoreResult<Vec<(String, i64)>>;
}
