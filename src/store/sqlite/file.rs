//! The SQLite database file: where a URL puts it, its permissions, and the `synchronous` level.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::store::{StoreError, StoreResult};

/// The file a `sqlite:` URL names; `None` for `sqlite::memory:` (or no path).
pub(super) fn url_to_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let rest = rest.split('?').next().unwrap_or(rest);
    if rest.is_empty() || rest == ":memory:" {
        None
    } else {
        Some(PathBuf::from(rest))
    }
}

/// Creates the database file 0600 (and its directory 0700) before SQLite does, so the file is
/// never world-readable whatever the umask; -wal and -shm inherit the file's mode.
pub(super) fn prepare_file(path: &Path) -> StoreResult<()> {
    let io = |e: std::io::Error| StoreError::Backend(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(io)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        warn_if_shared(dir, "data directory").map_err(io)?;
    }
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(io)?;
    warn_if_shared(path, "database file").map_err(io)?;
    Ok(())
}

/// Warns (kanidm style: the server still starts) when group or others have any access to an
/// existing data directory or database file; Coffer itself only creates them 0700 and 0600.
fn warn_if_shared(path: &Path, what: &str) -> std::io::Result<()> {
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{mode:o}"),
            "{what} is accessible to group or others; chmod go-rwx it"
        );
    }
    Ok(())
}

/// Test hook (the FLT-02 control run): with `COFFER_TEST_SQLITE_SYNCHRONOUS=normal`, commits use
/// `synchronous=NORMAL`, which does not fsync the WAL at commit, so an acknowledged write can be
/// lost on power failure. Unset (as in production), it is always `FULL`; there is no config key.
pub const SYNCHRONOUS_ENV: &str = "COFFER_TEST_SQLITE_SYNCHRONOUS";

/// The writer's `synchronous` pragma value (the writer commits every acknowledged write).
pub(super) fn synchronous_pragma() -> &'static str {
    if std::env::var_os(SYNCHRONOUS_ENV).is_some_and(|v| v == "normal") {
        tracing::error!("{SYNCHRONOUS_ENV}=normal is set: commits are not fsynced (test hook, never in production)");
        "normal"
    } else {
        "full"
    }
}
