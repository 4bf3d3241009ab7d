//! PostgreSQL driver errors mapped to [`StoreError`], and the values PostgreSQL cannot store
//! (NUL in `text`), refused up front.

use crate::store::leases::SecretLeaseRow;
use crate::store::{KvMetadataRow, KvVersionRow, MountRow, StoreError, StoreResult, TokenRow};

/// SQLSTATEs that mean the server is gone or refusing work (not a fault of the statement):
/// admin/crash shutdown, starting up, too many connections.
const UNAVAILABLE_STATES: [&str; 4] = ["57P01", "57P02", "57P03", "53300"];

/// SQLSTATE `disk_full`.
const DISK_FULL: &str = "53100";

/// Maps a driver error: a unique violation is a lost conditional write, a lost or refused
/// connection is reported as the database being unavailable, anything else is a fault.
pub(super) fn pg_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict,
        sqlx::Error::Database(d) => {
            let code = d.code().unwrap_or_default();
            if code.starts_with("08") || UNAVAILABLE_STATES.contains(&code.as_ref()) {
                StoreError::Unavailable(d.message().to_string())
            } else if code == DISK_FULL {
                StoreError::Full(d.message().to_string())
            } else {
                StoreError::Backend(e.to_string())
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

/// `.pg()` turns a driver result into a [`StoreResult`] through [`pg_error`].
pub(super) trait PgResultExt<T> {
    fn pg(self) -> StoreResult<T>;
}

impl<T> PgResultExt<T> for Result<T, sqlx::Error> {
    fn pg(self) -> StoreResult<T> {
        self.map_err(pg_error)
    }
}

/// PostgreSQL `text` cannot hold NUL: refuse such a value up front with a clear error.
pub(super) fn no_nul(values: &[&str]) -> StoreResult<()> {
    if values.iter().any(|v| v.contains('\0')) {
        return Err(StoreError::Backend("a text value contains a NUL character, which PostgreSQL cannot store".into()));
    }
    Ok(())
}

/// No affected row means the condition of a conditional write did not hold.
pub(super) fn must_change(rows: u64) -> StoreResult<()> {
    if rows == 0 {
        Err(StoreError::Conflict)
    } else {
        Ok(())
    }
}

/// SQLite reads a negative `LIMIT` as "no limit"; PostgreSQL rejects it, and reads `NULL` so.
pub(super) fn limit(n: i64) -> Option<i64> {
    (n >= 0).then_some(n)
}

pub(super) fn check_mount(m: &MountRow) -> StoreResult<()> {
    no_nul(&[&m.id, &m.table_name, &m.path, &m.kind, &m.description, &m.accessor, &m.config, &m.options, &m.created_at])
}

pub(super) fn check_token(t: &TokenRow) -> StoreResult<()> {
    no_nul(&[&t.accessor, &t.policies, &t.meta, &t.display_name, &t.path, &t.token_type, &t.bound_cidrs, &t.identity])
}

pub(super) fn check_metadata(m: &KvMetadataRow) -> StoreResult<()> {
    no_nul(&[&m.mount_id, &m.path, m.custom_metadata.as_deref().unwrap_or(""), &m.created_time, &m.updated_time])
}

pub(super) fn check_version(v: &KvVersionRow) -> StoreResult<()> {
    no_nul(&[&v.created_time, v.deletion_time.as_deref().unwrap_or("")])
}

pub(super) fn check_secret_lease(l: &SecretLeaseRow) -> StoreResult<()> {
    no_nul(&[&l.id, &l.mount_id, &l.path, &l.role, &l.last_error])
}
