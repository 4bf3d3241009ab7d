//! The exclusive lock file next to a SQLite database: at most one Coffer server per database file.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::store::{StoreError, StoreResult};

/// Holds the lock until dropped (or until the process ends, however it ends: the kernel releases
/// a `flock` with the last descriptor, so a killed server leaves no stale lock behind).
#[derive(Debug)]
pub struct DbLock {
    _file: std::fs::File,
}

/// Takes the exclusive lock on `<database>.lock` for the SQLite database at `url`, creating the
/// file (0600) if needed, and writes this process's id into it. Fails at once, saying so, when
/// another process holds it. Other URLs (PostgreSQL, `sqlite::memory:`) need no lock: `None`.
pub fn lock_database(url: &str) -> StoreResult<Option<DbLock>> {
    if !url.starts_with("sqlite:") {
        return Ok(None);
    }
    let Some(path) = super::file::url_to_path(url) else { return Ok(None) };
    super::file::prepare_file(&path)?;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock_path = path.with_file_name(name);
    lock_file(&path, &lock_path).map(Some)
}

fn lock_file(db: &Path, lock_path: &Path) -> StoreResult<DbLock> {
    let io = |e: std::io::Error| StoreError::Backend(format!("{}: {e}", lock_path.display()));
    let mut file =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(lock_path).map_err(io)?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            let holder = std::fs::read_to_string(lock_path).unwrap_or_default();
            let holder = holder.trim();
            let holder = if holder.is_empty() { String::new() } else { format!(" (process {holder})") };
            return Err(StoreError::Backend(format!(
                "the database {} is in use by another Coffer server{holder}: it holds the lock on {}. Stop that \
                 server first, or give this one its own database",
                db.display(),
                lock_path.display()
            )));
        }
        Err(e) => return Err(io(e.into())),
    }
    file.set_len(0).map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    Ok(DbLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_database_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("data/coffer.db").display());
        let first = lock_database(&url).unwrap().unwrap();
        let err = lock_database(&url).unwrap_err().to_string();
        assert!(err.contains("in use by another Coffer server") && err.contains("coffer.db.lock"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        assert!(lock_database(&url).unwrap().is_some());
        assert!(lock_database("sqlite::memory:").unwrap().is_none());
        assert!(lock_database("postgres://localhost/x").unwrap().is_none());
    }
}
