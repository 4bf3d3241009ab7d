//! Storage of KV rotation schedules and their in-flight state, found by an index on the next
//! time the scheduler has work for them (`due_at`).
//!
//! Every state change is a compare-and-set on the row's revision; the scheduler's changes are
//! also fenced by the leader epoch, so a paused ex-leader commits nothing.

use async_trait::async_trait;

use super::{Fence, Sealed, StoreResult};

/// One rotated secret: its configuration and the state of the rotation in flight. Times are Unix
/// milliseconds. `Debug` leaves out the encrypted blobs.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RotationRow {
    /// The KV v2 mount.
    pub mount_id: String,
    /// The secret's path inside the mount.
    pub path: String,
    /// The configuration (schedule, window, rotator with its HMAC key), encrypted.
    pub config: Sealed,
    /// The keyring term `config` is encrypted under.
    pub key_term: i64,
    /// Whether the schedule runs (false after `DELETE` while a rotation finishes).
    pub scheduled: bool,
    /// The schedule tick that `next_rotation_at` belongs to.
    pub fire_at: Option<i64>,
    /// The next scheduled start (the tick plus a random offset inside the window).
    pub next_rotation_at: Option<i64>,
    /// When the scheduler next has work here (indexed): the next start while idle, the next
    /// attempt while a rotation waits, a short claim while a node works on it.
    pub due_at: Option<i64>,
    /// The leader epoch of the node working on it now, if any.
    pub claim_epoch: Option<i64>,
    /// The step in flight (`create`, `set`, `test`, `finish`); empty while idle.
    pub step: String,
    /// Whether `step` has completed (persisted before and after every step).
    pub step_done: bool,
    /// What started the rotation in flight: `schedule` or `manual`.
    pub cause: String,
    /// The rotation's idempotency token (the KV `request_token` of its pending write).
    pub version_token: String,
    /// The version holding `current` when the rotation started.
    pub from_version: Option<i64>,
    /// The version the rotation wrote as `pending`.
    pub pending_version: Option<i64>,
    /// The new value between its generation and the pending write, encrypted.
    pub new_value: Option<Sealed>,
    /// Failed attempts of the rotation in flight.
    pub attempts: i64,
    /// When the rotation in flight started.
    pub started_at: Option<i64>,
    /// When the last rotation succeeded.
    pub last_rotated_at: Option<i64>,
    /// How the last rotation ended: `succeeded`, `failed`, `abandoned` (empty: none yet).
    pub last_outcome: String,
    /// The last error (of an attempt in flight, or of the last failed rotation).
    pub last_error: String,
    /// Rotations that succeeded.
    pub succeeded: i64,
    /// Rotations that failed.
    pub failed: i64,
    /// Rotations abandoned because the secret changed under them.
    pub abandoned: i64,
    /// Revision, raised by every write: the compare-and-set guard.
    pub rev: i64,
}

impl RotationRow {
    /// A scheduled row with nothing in flight, no history and no configuration yet.
    pub fn new(mount_id: &str, path: &str) -> Self {
        RotationRow {
            mount_id: mount_id.to_string(),
            path: path.to_string(),
            config: Sealed::from_stored(Vec::new()),
            key_term: 0,
            scheduled: true,
            fire_at: None,
            next_rotation_at: None,
            due_at: None,
            claim_epoch: None,
            step: String::new(),
            step_done: false,
            cause: String::new(),
            version_token: String::new(),
            from_version: None,
            pending_version: None,
            new_value: None,
            attempts: 0,
            started_at: None,
            last_rotated_at: None,
            last_outcome: String::new(),
            last_error: String::new(),
            succeeded: 0,
            failed: 0,
            abandoned: 0,
            rev: 0,
        }
    }
}

impl std::fmt::Debug for RotationRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotationRow")
            .field("mount_id", &self.mount_id)
            .field("path", &self.path)
            .field("step", &self.step)
            .field("step_done", &self.step_done)
            .field("due_at", &self.due_at)
            .field("rev", &self.rev)
            .finish_non_exhaustive()
    }
}

/// The rotation queries, implemented by every store.
#[async_trait]
pub trait RotationStore: Send + Sync {
    /// The row of one secret.
    async fn rotation_get(&self, mount_id: &str, path: &str) -> StoreResult<Option<RotationRow>>;
    /// Adds a row (its `rev` as given). `Conflict` if the secret has one already, or if the secret
    /// does not exist (the row references the key's metadata).
    async fn rotation_insert(&self, row: &RotationRow) -> StoreResult<()>;
    /// Writes every column of `row` with `rev + 1` if the stored revision is still `row.rev`
    /// (and, with a fence, while the fence holds the singleton lease); `Conflict` otherwise.
    async fn rotation_update(&self, row: &RotationRow, fence: Option<&Fence>) -> StoreResult<()>;
    /// Deletes the row if its revision is still `rev`; `Conflict` otherwise (also when fenced out).
    async fn rotation_delete(&self, mount_id: &str, path: &str, rev: i64, fence: Option<&Fence>) -> StoreResult<()>;
    /// Claims up to `limit` rows due at `now` for the leader `fence`, earliest first: sets
    /// `due_at = claim_until` and `claim_epoch` (the revision is unchanged), and returns them.
    /// Claims held under an older epoch are released first, so a new leader resumes at once what
    /// a crashed one was doing. PostgreSQL skips rows locked by a concurrent claim.
    async fn rotation_claim_due(
        &self,
        now: i64,
        claim_until: i64,
        limit: i64,
        fence: &Fence,
    ) -> StoreResult<Vec<RotationRow>>;
}
