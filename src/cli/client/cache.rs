//! The encrypted local cache of `coffer run --cache-dir`: every secret fetched is stored
//! AES-256-GCM-encrypted under a key derived with HKDF-SHA256 from the token and a random
//! per-directory salt, so the files are useless without the token; entries are bound (AAD) to
//! the server address and the secret's path, and carry the time they were fetched.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hkdf::Hkdf;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{CliError, Secret};
use crate::base::schedule::{Clock, SystemClock};
use crate::crypto::{self, Key};

/// The salt's file name inside the cache directory.
const SALT_FILE: &str = "salt";
/// HKDF `info`, and the AAD prefix: a new format gets a new label.
const LABEL: &[u8] = b"coffer run cache v1";

/// A cache directory opened with one token.
pub struct Cache {
    dir: PathBuf,
    key: Key,
    addr: String,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("dir", &self.dir).field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// A cached secret.
#[derive(Debug)]
pub struct Cached {
    /// The secret's fields.
    pub data: Map<String, Value>,
    /// The version it had when fetched.
    pub version: Value,
    /// How long ago it was fetched.
    pub age: Duration,
}

impl Cache {
    /// Opens (or creates, mode 0700) the cache directory and derives the key from `token`.
    pub fn open(dir: &Path, addr: &str, token: &Secret) -> Result<Cache, CliError> {
        let err = |e: std::io::Error| CliError::Other(format!("cache directory {}: {e}", dir.display()));
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(err)?;
        let meta = std::fs::metadata(dir).map_err(err)?;
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "Warning: the cache directory {} can be entered by other users (mode {:o}); its entries are \
                 encrypted, but chmod 700 it",
                dir.display(),
                meta.permissions().mode() & 0o777
            );
        }
        let salt = salt(dir)?;
        let hk = Hkdf::<Sha256>::new(Some(&salt), token.expose().as_bytes());
        let mut okm = Zeroizing::new([0u8; crypto::KEY_LEN]);
        hk.expand(LABEL, &mut okm[..]).map_err(|_| CliError::Other("cannot derive the cache key".into()))?;
        let key = Key::from_slice(&okm[..]).ok_or_else(|| CliError::Other("cannot derive the cache key".into()))?;
        Ok(Cache { dir: dir.to_path_buf(), key, addr: addr.to_string() })
    }

    fn entry_path(&self, path: &str) -> PathBuf {
        let digest = Sha256::digest([self.addr.as_bytes(), b"\0", path.as_bytes()].concat());
        self.dir.join(format!("{}.entry", hex::encode(digest)))
    }

    fn aad(&self, path: &str) -> Vec<u8> {
        [LABEL, b"\0", self.addr.as_bytes(), b"\0", path.as_bytes()].concat()
    }

    /// Stores a freshly fetched secret (replacing the file atomically, mode 0600).
    pub fn store(&self, path: &str, data: &Map<String, Value>, version: &Value) -> Result<(), CliError> {
        let plain = Zeroizing::new(
            serde_json::to_vec(&json!({"fetched_at_ms": now_ms(), "version": version, "data": data}))
                .map_err(|e| CliError::Other(format!("cannot encode a cache entry: {e}")))?,
        );
        let sealed = crypto::seal(&self.key, &self.aad(path), &plain);
        let target = self.entry_path(path);
        let err =
            |e: std::io::Error| CliError::Other(format!("cannot write the cache entry {}: {e}", target.display()));
        let mut tmp = tempfile::Builder::new().prefix(".entry.").tempfile_in(&self.dir).map_err(err)?;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        tmp.write_all(&sealed).map_err(err)?;
        tmp.as_file().sync_all().map_err(err)?;
        tmp.persist(&target).map_err(|e| err(e.error))?;
        Ok(())
    }

    /// The cached copy of `path`, if there is one. An entry that does not decrypt (written with
    /// another token, or damaged) is an error that says so.
    pub fn load(&self, path: &str) -> Result<Option<Cached>, CliError> {
        let file = self.entry_path(path);
        let sealed = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CliError::Other(format!("cannot read the cache entry {}: {e}", file.display()))),
        };
        let plain = crypto::open(&self.key, &self.aad(path), &sealed).map_err(|_| {
            CliError::Other(format!(
                "the cached copy of {path} cannot be decrypted (written with another token, or damaged)"
            ))
        })?;
        let v: Value = serde_json::from_slice(&plain)
            .map_err(|_| CliError::Other(format!("the cached copy of {path} is malformed")))?;
        let fetched = v.get("fetched_at_ms").and_then(Value::as_u64).unwrap_or(0);
        Ok(Some(Cached {
            data: v.get("data").and_then(Value::as_object).cloned().unwrap_or_default(),
            version: v.get("version").cloned().unwrap_or(Value::Null),
            age: Duration::from_millis(now_ms().saturating_sub(fetched)),
        }))
    }
}

/// Milliseconds since the Unix epoch (0 before it), by the system clock: the CLI has no core.
fn now_ms() -> u64 {
    u64::try_from(SystemClock.now().timestamp_millis()).unwrap_or(0)
}

/// The directory's random salt, created (0600) on first use.
fn salt(dir: &Path) -> Result<[u8; 32], CliError> {
    let path = dir.join(SALT_FILE);
    let err = |e: std::io::Error| CliError::Other(format!("cache salt {}: {e}", path.display()));
    match std::fs::read(&path) {
        Ok(b) => return b.try_into().map_err(|_| CliError::Other(format!("cache salt {} is damaged", path.display()))),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
        Err(_) => {}
    }
    let salt: [u8; 32] = crypto::random_bytes();
    let mut tmp = tempfile::Builder::new().prefix(".salt.").tempfile_in(dir).map_err(err)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    tmp.write_all(&salt).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    // Two runs starting together: the first salt wins and the other run reads it.
    match tmp.persist_noclobber(&path) {
        Ok(_) => Ok(salt),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            let b = std::fs::read(&path).map_err(err)?;
            b.try_into().map_err(|_| CliError::Other(format!("cache salt {} is damaged", path.display())))
        }
        Err(e) => Err(err(e.error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let dir = tempfile::tempdir().unwrap();
        let t = Secret::new("s.token".into());
        let c = Cache::open(dir.path(), "http://a", &t).unwrap();
        let mut data = Map::new();
        data.insert("k".into(), json!("v"));
        c.store("secret/app", &data, &json!(3)).unwrap();
        let got = c.load("secret/app").unwrap().unwrap();
        assert_eq!(got.data, data);
        assert_eq!(got.version, json!(3));
        assert!(c.load("secret/other").unwrap().is_none());
        // Another token cannot read it; nor can the same file under another path or server.
        let other = Cache::open(dir.path(), "http://a", &Secret::new("s.other".into())).unwrap();
        assert!(other.load("secret/app").is_err());
        let moved = dir.path().join("moved");
        std::fs::rename(c.entry_path("secret/app"), &moved).unwrap();
        std::fs::rename(&moved, c.entry_path("secret/b")).unwrap();
        assert!(c.load("secret/b").is_err());
        // Nothing in the directory holds the value in clear.
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            assert!(!bytes.windows(8).any(|w| w == b"\"k\":\"v\""));
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
