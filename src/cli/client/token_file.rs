//! The stored login token, `~/.coffer-token`: written atomically with mode 0600, read back by
//! every command when neither `--token` nor `COFFER_TOKEN`/`VAULT_TOKEN` is set.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::{CliError, Secret};

/// The file name inside the home directory.
pub const FILE_NAME: &str = ".coffer-token";

/// `$HOME/.coffer-token`, or `None` without a home directory.
pub fn path() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(FILE_NAME))
}

/// The stored token, if there is one. A file that others can read is still used, with a warning.
pub fn load() -> Result<Option<Secret>, CliError> {
    let Some(path) = path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => zeroize::Zeroizing::new(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::Other(format!("cannot read {}: {e}", path.display()))),
    };
    if let Ok(meta) = std::fs::metadata(&path) {
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "Warning: {} can be read by other users (mode {:o}); run: chmod 600 {}",
                path.display(),
                meta.permissions().mode() & 0o777,
                path.display()
            );
        }
    }
    let token = text.trim();
    Ok((!token.is_empty()).then(|| Secret::new(token.to_string())))
}

/// Stores `token` in `~/.coffer-token` (mode 0600, replaced atomically); returns the path.
pub fn save(token: &Secret) -> Result<PathBuf, CliError> {
    let path = path().ok_or_else(|| CliError::Other("HOME is not set: cannot store the token".into()))?;
    let dir = path.parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    let err = |e: std::io::Error| CliError::Other(format!("cannot write {}: {e}", path.display()));
    // The temporary file is created 0600 by tempfile and renamed over the old token.
    let mut tmp = tempfile::Builder::new().prefix(".coffer-token.").tempfile_in(&dir).map_err(err)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    tmp.write_all(token.expose().as_bytes()).map_err(err)?;
    tmp.write_all(b"\n").map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(&path).map_err(|e| err(e.error))?;
    Ok(path)
}
