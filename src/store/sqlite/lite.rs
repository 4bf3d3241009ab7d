//! The writer's own SQLite connection (rusqlite, driven synchronously on the writer thread):
//! opening it, bound arguments, error mapping, and running the shared async label rules on it.

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use rusqlite::types::{ToSql, ToSqlOutput, Value};
use rusqlite::{Connection, OpenFlags};

use super::BUSY_TIMEOUT;
use crate::crypto::barrier::Sealed;
use crate::store::{StoreError, StoreResult};

/// Opens the writer's connection to the (already created and migrated) database at `path`, with
/// the pragmas of every connection: WAL, `synchronous` (FULL unless the test hook says
/// otherwise), foreign keys, the busy timeout.
pub(super) fn open(path: &Path) -> StoreResult<Connection> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    c.busy_timeout(BUSY_TIMEOUT)?;
    c.set_prepared_statement_cache_capacity(64);
    let sync = super::file::synchronous_pragma();
    c.execute_batch(&format!(
        "pragma journal_mode = wal; pragma synchronous = {sync}; pragma foreign_keys = on; pragma cache_size = -512;"
    ))?;
    Ok(c)
}

/// Bound values for one statement, in order; built like a sqlx query (`.bind(v)`), so the row
/// binders in [`crate::store::binds`] serve both drivers.
#[derive(Default)]
pub struct LiteArgs {
    values: Vec<Value>,
    /// A value that could not be bound: the statement then fails rather than write a null.
    unbound: bool,
}

impl LiteArgs {
    /// No values yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `v` (copied: the writer thread outlives the caller's borrows).
    pub fn bind<T: ToSql>(mut self, v: T) -> Self {
        let value = match v.to_sql() {
            Ok(ToSqlOutput::Borrowed(r)) => Value::from(r),
            Ok(ToSqlOutput::Owned(v)) => v,
            // Coffer binds only integers, text, blobs and nulls.
            _ => {
                self.unbound = true;
                Value::Null
            }
        };
        self.values.push(value);
        self
    }

    fn values(&self) -> StoreResult<rusqlite::ParamsFromIter<std::slice::Iter<'_, Value>>> {
        if self.unbound {
            return Err(StoreError::Backend("a value of a kind SQLite cannot store was bound".into()));
        }
        Ok(rusqlite::params_from_iter(self.values.iter()))
    }

    /// Runs `sql` with these values; returns the number of rows changed.
    pub fn execute(&self, c: &Connection, sql: &str) -> StoreResult<usize> {
        Ok(c.prepare_cached(sql)?.execute(self.values()?)?)
    }

    /// Runs `sql` with these values and maps every row with `f`.
    pub fn query<T>(
        &self,
        c: &Connection,
        sql: &str,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<Vec<T>> {
        let mut stmt = c.prepare_cached(sql)?;
        let rows = stmt.query_map(self.values()?, f)?;
        Ok(rows.collect::<rusqlite::Result<Vec<T>>>()?)
    }

    /// The first row's mapping, if any.
    pub fn query_optional<T>(
        &self,
        c: &Connection,
        sql: &str,
        f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<Option<T>> {
        Ok(self.query(c, sql, f)?.into_iter().next())
    }
}

impl ToSql for Sealed {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Blob(self.as_bytes())))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(f, msg) = &e {
            let message = msg.clone().unwrap_or_else(|| f.to_string());
            match f.extended_code {
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    return StoreError::Conflict
                }
                _ => {}
            }
            match f.extended_code & 0xff {
                rusqlite::ffi::SQLITE_BUSY | rusqlite::ffi::SQLITE_LOCKED => return StoreError::Unavailable(message),
                rusqlite::ffi::SQLITE_FULL => return StoreError::Full(message),
                _ => {}
            }
        }
        StoreError::Backend(e.to_string())
    }
}

/// Runs a future whose every await completes at once (the label rules over the writer's
/// synchronous connection) to its end, on the calling thread.
pub(super) fn run_now<T>(f: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(StoreError::Backend("a write job waited on something other than the database".into())),
    }
}

impl rusqlite::types::FromSql for Sealed {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        Vec::<u8>::column_result(v).map(Sealed::from_stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_cannot_be_bound_fails_the_statement_instead_of_writing_null() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("create table t (v integer)").unwrap();
        assert!(LiteArgs::new().bind(u64::MAX).execute(&c, "insert into t (v) values (?)").is_err());
        assert!(LiteArgs::new().bind(u64::MAX).query(&c, "select ?", |r| r.get::<_, Option<i64>>(0)).is_err());
        assert_eq!(LiteArgs::new().bind(7_u64).execute(&c, "insert into t (v) values (?)").unwrap(), 1);
        let nulls: i64 = c.query_row("select count(*) from t where v is null", [], |r| r.get(0)).unwrap();
        assert_eq!(nulls, 0);
    }
}
