//! The seal lifecycle: init (root key, keyring, shares, root token), unseal by shares or key file,
//! and seal. Wrong shares never say which share was wrong.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use crate::base::error::ApiError;
use crate::core::tokens::{self, TokenStore};
use crate::core::Core;
use crate::crypto::barrier::{Barrier, Context, Unsealed};
use crate::crypto::keyring::Keyring;
use crate::crypto::shamir;
use crate::crypto::{self, Key};

pub mod rekey;

/// How the unseal key is obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealKind {
    /// Operators submit key shares to `sys/unseal`.
    Shamir,
    /// The unseal key is read from a file at start (auto-unseal).
    KeyFile(std::path::PathBuf),
}

/// System-table keys.
pub const SEAL_CONFIG: &str = "seal_config";
/// The root key, sealed by the unseal key.
pub const ROOT_KEY: &str = "root_key";
/// The keyring, sealed by the root key.
pub const KEYRING: &str = "keyring";
/// Barrier-encrypted token HMAC key.
pub const TOKEN_HMAC_KEY: &str = "token_hmac_key";
/// Cluster name and id.
pub const CLUSTER: &str = "cluster";

const ROOT_KEY_AAD: &[u8] = b"coffer/root-key";
const KEYRING_AAD: &[u8] = b"coffer/keyring";

/// Stored seal configuration (not secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealConfig {
    /// `shamir` or `keyfile`.
    #[serde(rename = "type")]
    pub kind: String,
    /// n.
    pub secret_shares: u64,
    /// t.
    pub secret_threshold: u64,
}

/// Cluster identity, generated at init.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cluster {
    /// `coffer-cluster-1a2b3c4d`.
    pub name: String,
    /// UUID.
    pub id: String,
}

/// What init hands back once.
pub struct InitOutput {
    /// Key shares (empty for the key-file seal).
    pub shares: Vec<Zeroizing<Vec<u8>>>,
    /// The initial root token; empty with `[bootstrap] revoke_root` (none exists).
    pub root_token: SecretString,
}

#[derive(Default)]
struct Progress {
    nonce: String,
    parts: Vec<Zeroizing<Vec<u8>>>,
}

/// Seal state and the unseal progress of this node.
pub struct SealManager {
    kind: SealKind,
    progress: Mutex<Progress>,
    /// The seal configuration once storage is initialised; a rekey changes it (reloaded here, and
    /// on the other nodes through `Topic::Seal`).
    config: ArcSwapOption<SealConfig>,
    /// The rekey in progress on this node, if any.
    pub rekey: rekey::Rekey,
    /// Held from reading the stored keyring to loading it (`rotate`, `reload_keyring`), so that a
    /// reload that read the keyring before this node's own rotation cannot load it after.
    keyring_lock: tokio::sync::Mutex<()>,
}

/// Reads a key file: 32 raw bytes, 64 hex characters, or base64 of 32 bytes. Refuses a file that
/// group or others can read.
pub fn read_key_file(path: &Path) -> Result<Key, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("seal key file {}: {e}", path.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "seal key file {} has mode {:o}; it must not be readable by group or others (chmod 600)",
            path.display(),
            mode & 0o777
        ));
    }
    let raw = Zeroizing::new(std::fs::read(path).map_err(|e| format!("seal key file {}: {e}", path.display()))?);
    if let Some(k) = Key::from_slice(&raw) {
        return Ok(k);
    }
    let text = std::str::from_utf8(&raw).map(str::trim).unwrap_or("");
    let decoded = Zeroizing::new(
        hex::decode(text)
            .ok()
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .unwrap_or_default(),
    );
    Key::from_slice(&decoded).ok_or_else(|| {
        format!("seal key file {} must hold 32 bytes (raw, 64 hex characters or base64)", path.display())
    })
}

/// Why the stored root key and keyring could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The unseal key does not open the root key.
    #[error("invalid unseal key")]
    WrongKey,
    /// A record is missing or damaged (the unseal key itself was right).
    #[error("{0}")]
    Damaged(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Opens the stored root key with `unseal_key` and the keyring with the root key: the keys that
/// unsealing loads into the barrier.
pub async fn open_stored_keys(store: &dyn crate::store::Store, unseal_key: &Key) -> Result<Unsealed, KeysError> {
    let missing = |k: &str| KeysError::Damaged(format!("system record {k} is missing"));
    let root_ct = store.system_get(ROOT_KEY).await?.ok_or_else(|| missing(ROOT_KEY))?;
    let root_bytes = crypto::open(unseal_key, ROOT_KEY_AAD, &root_ct).map_err(|_| KeysError::WrongKey)?;
    let root_key =
        Key::from_slice(&root_bytes).ok_or_else(|| KeysError::Damaged("root key has wrong length".into()))?;
    let keyring_ct = store.system_get(KEYRING).await?.ok_or_else(|| missing(KEYRING))?;
    let keyring = open_keyring(&root_key, &keyring_ct).map_err(KeysError::Damaged)?;
    Ok(Unsealed { root_key, keyring })
}

/// Opens a stored keyring record with the root key.
pub fn open_keyring(root_key: &Key, sealed: &[u8]) -> Result<Keyring, String> {
    let bytes = crypto::open(root_key, KEYRING_AAD, sealed).map_err(|e| format!("keyring: {e}"))?;
    Keyring::from_bytes(&bytes).ok_or_else(|| "keyring is malformed".into())
}

/// Parses the stored seal configuration; it must name a known seal type and a usable threshold.
fn parse_seal_config(raw: &[u8]) -> Result<SealConfig, String> {
    let config: SealConfig = serde_json::from_slice(raw).map_err(|e| {
        format!("the stored seal configuration does not parse (line {}, column {})", e.line(), e.column())
    })?;
    let usable = match config.kind.as_str() {
        "keyfile" => true,
        "shamir" => config.secret_threshold >= 1 && config.secret_threshold <= config.secret_shares,
        _ => false,
    };
    if !usable {
        return Err("the stored seal configuration names no usable seal".into());
    }
    Ok(config)
}

/// 500 naming what is damaged in the stored keys or seal configuration (never a key byte); the
/// server stays sealed.
fn damaged(what: impl std::fmt::Display) -> ApiError {
    tracing::error!(problem = %what, "stored seal data is damaged; the server stays sealed");
    ApiError::new(
        http::StatusCode::INTERNAL_SERVER_ERROR,
        format!("stored seal data is damaged: {what}; the server stays sealed (restore the store from a backup)"),
    )
}

/// Decodes a share given as hex or base64 (as `sys/unseal` takes it).
pub fn decode_share(text: &str) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let t = text.trim();
    let bytes = hex::decode(t)
        .ok()
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(t).ok())
        .ok_or_else(|| ApiError::bad_request("invalid key: not hex or base64"))?;
    let bytes = Zeroizing::new(bytes);
    if bytes.len() < 16 {
        return Err(ApiError::bad_request("invalid key: key is shorter than minimum 16 bytes"));
    }
    if bytes.len() > crypto::KEY_LEN + 1 {
        return Err(ApiError::bad_request("invalid key: key is longer than maximum 33 bytes"));
    }
    Ok(bytes)
}

impl SealManager {
    /// A manager for the configured seal.
    pub fn new(kind: SealKind) -> Self {
        Self {
            kind,
            progress: Mutex::new(Progress::default()),
            config: ArcSwapOption::empty(),
            rekey: Default::default(),
            keyring_lock: Default::default(),
        }
    }

    /// The stored seal configuration; `None` before init.
    pub async fn config(&self, core: &Core) -> Result<Option<Arc<SealConfig>>, ApiError> {
        if let Some(c) = self.config.load_full() {
            return Ok(Some(c));
        }
        self.reload_config(core).await
    }

    /// Reads the stored seal configuration again (a rekey changed it, here or on another node).
    pub async fn reload_config(&self, core: &Core) -> Result<Option<Arc<SealConfig>>, ApiError> {
        let raw = core.store.system_get(SEAL_CONFIG).await.map_err(ApiError::from)?;
        // A record that does not parse is damage, never "not initialised": that would let init
        // write fresh keys over the existing ones.
        let parsed = match raw {
            None => None,
            Some(r) => Some(Arc::new(parse_seal_config(&r).map_err(damaged)?)),
        };
        if let Some(c) = &parsed {
            self.config.store(Some(c.clone()));
        }
        Ok(parsed)
    }

    /// Drops the cached seal configuration: the store's may have changed (a snapshot restore).
    pub fn forget_config(&self) {
        self.config.store(None);
    }

    /// How this node obtains its unseal key.
    pub fn kind(&self) -> &SealKind {
        &self.kind
    }

    /// `shamir` or `keyfile`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            SealKind::Shamir => "shamir",
            SealKind::KeyFile(_) => "keyfile",
        }
    }

    /// Initialises storage. Shamir seals stay sealed afterwards; the key-file seal unseals.
    /// Refuses when any key record of an earlier init is present, even without a seal
    /// configuration (a damaged or half-restored store is never overwritten).
    pub async fn init(&self, core: &Core, shares: u64, threshold: u64) -> Result<InitOutput, ApiError> {
        if self.config(core).await?.is_some() {
            return Err(ApiError::bad_request("Vault is already initialized"));
        }
        for key in [ROOT_KEY, KEYRING, TOKEN_HMAC_KEY, CLUSTER] {
            if core.store.system_get(key).await.map_err(ApiError::from)?.is_some() {
                return Err(damaged(format!(
                    "storage holds the {key} record of an earlier init but no seal configuration; \
                     refusing to initialise over existing data"
                )));
            }
        }
        let (unseal_key, shares, threshold) = match &self.kind {
            SealKind::Shamir => {
                shamir::check_config(shares, threshold).map_err(|e| ApiError::bad_request(e.to_string()))?;
                (Key::generate(), shares, threshold)
            }
            SealKind::KeyFile(path) => (read_key_file(path).map_err(ApiError::bad_request)?, 0, 0),
        };
        let now = core.clock.now();
        let root_key = Key::generate();
        let keyring = Keyring::new(now);
        let root_key_ct = crypto::seal(&unseal_key, ROOT_KEY_AAD, root_key.expose());
        let keyring_ct = crypto::seal(&root_key, KEYRING_AAD, &keyring.to_bytes());
        // A private barrier encrypts the token key without unsealing the server.
        let staging = Barrier::default();
        staging.load(Unsealed { root_key, keyring });
        let token_key = Key::generate();
        let (token_key_ct, _) = staging
            .seal(Context::System { key: TOKEN_HMAC_KEY }, token_key.expose())
            .map_err(|e| ApiError::internal(&e))?;
        // With `[bootstrap] revoke_root` no root token is made at all: no row, nothing returned.
        let revoke_root = core.bootstrap.revoke_root();
        let root_token = if revoke_root { SecretString::from(String::new()) } else { TokenStore::generate() };
        let hash = crypto::hmac_sha256(&token_key, root_token.expose_secret().as_bytes());
        let suffix = crypto::random_base62(8).to_lowercase();
        let cluster = Cluster { name: format!("coffer-cluster-{suffix}"), id: uuid::Uuid::new_v4().to_string() };
        let cluster_json = serde_json::to_vec(&cluster).map_err(|e| ApiError::internal(&e))?;
        let config = SealConfig { kind: self.kind_name().into(), secret_shares: shares, secret_threshold: threshold };
        let config_json = serde_json::to_vec(&config).map_err(|e| ApiError::internal(&e))?;
        let internal = ApiError::from;
        if !revoke_root {
            core.store.token_put(&tokens::root_row(hash, now)).await.map_err(internal)?;
        }
        // The seal configuration goes in the same transaction as the keys: it is what marks the
        // store as initialised, so a crash mid-init leaves an uninitialised store.
        core.store
            .system_put(&[
                (ROOT_KEY, &root_key_ct),
                (KEYRING, &keyring_ct),
                (TOKEN_HMAC_KEY, token_key_ct.as_bytes()),
                (CLUSTER, &cluster_json),
                (SEAL_CONFIG, &config_json),
            ])
            .await
            .map_err(internal)?;
        let parts = match &self.kind {
            SealKind::Shamir => shamir::split(&unseal_key, shares, threshold).map_err(|e| ApiError::internal(&e))?,
            SealKind::KeyFile(_) => {
                self.unseal_with_key(core, &unseal_key).await?;
                Vec::new()
            }
        };
        tracing::info!(shares, threshold, seal = self.kind_name(), revoke_root, "storage initialised");
        Ok(InitOutput { shares: parts, root_token })
    }

    /// Adds one share; unseals once the threshold is reached.
    pub async fn submit_share(&self, core: &Core, share: &str) -> Result<(), ApiError> {
        let config = self.config(core).await?.ok_or_else(|| ApiError::bad_request("Vault is not initialized"))?;
        if !core.barrier.is_sealed() {
            return Ok(());
        }
        // The stored threshold, not a cached one: another node may have rekeyed meanwhile.
        let config = self.reload_config(core).await?.unwrap_or(config);
        let part = decode_share(share)?;
        let mut progress = self.progress.lock().await;
        if progress.parts.iter().any(|p| p[..] == part[..]) {
            return Ok(());
        }
        if progress.parts.is_empty() {
            progress.nonce = uuid::Uuid::new_v4().to_string();
        }
        progress.parts.push(part);
        if (progress.parts.len() as u64) < config.secret_threshold.max(1) {
            return Ok(());
        }
        let parts = std::mem::take(&mut *progress);
        drop(progress);
        let failed = || {
            ApiError::bad_request(
                "unable to retrieve stored keys: invalid key: failed to decrypt keys from storage: \
                 cipher: message authentication failed",
            )
        };
        let key = shamir::combine(&parts.parts, config.secret_threshold.max(1)).map_err(|_| failed())?;
        // A forced restore waiting for these keys answers in its own words (it may roll back).
        let confirmed = crate::core::snapshot::settle(core, &key).await?;
        match self.load_keys(core, &key, confirmed).await {
            Err(e) if e.status.is_client_error() => Err(failed()),
            other => other,
        }
    }

    /// Forgets submitted shares.
    pub async fn reset(&self) {
        *self.progress.lock().await = Progress::default();
    }

    /// `(progress, nonce)` of the unseal in flight.
    pub async fn progress(&self) -> (usize, String) {
        let p = self.progress.lock().await;
        (p.parts.len(), p.nonce.clone())
    }

    /// Decrypts the root key and keyring with the unseal key and loads them.
    pub async fn unseal_with_key(&self, core: &Core, unseal_key: &Key) -> Result<(), ApiError> {
        // A forced snapshot restore is proven by this key, or rolled back (and this unseal fails).
        let confirmed = crate::core::snapshot::settle(core, unseal_key).await?;
        self.load_keys(core, unseal_key, confirmed).await
    }

    /// Opens the stored keys with the unseal key and loads them; `confirmed`: this unseal has just
    /// confirmed a forced snapshot restore (audited once the devices run).
    async fn load_keys(&self, core: &Core, unseal_key: &Key, confirmed: bool) -> Result<(), ApiError> {
        let keys = open_stored_keys(core.store.as_ref(), unseal_key).await.map_err(|e| match e {
            KeysError::WrongKey => ApiError::bad_request("invalid unseal key"),
            KeysError::Damaged(what) => damaged(what),
            other => ApiError::internal(&other),
        })?;
        core.barrier.load(keys);
        if let Err(e) = core.post_unseal().await {
            core.seal_now().await;
            return Err(e);
        }
        if confirmed {
            crate::core::snapshot::audit_confirmed(core);
        }
        tracing::info!("unsealed");
        Ok(())
    }

    /// Unseals from the key file at start, if this is a key-file seal and storage is initialised.
    pub async fn auto_unseal(&self, core: &Core) -> Result<bool, String> {
        let SealKind::KeyFile(path) = &self.kind else {
            return Ok(false);
        };
        let key = read_key_file(path)?;
        if self.config(core).await.map_err(|e| e.to_string())?.is_none() {
            return Ok(false);
        }
        // The reasons only, not an HTTP status: this is a start-up error, not an answer.
        self.unseal_with_key(core, &key)
            .await
            .map_err(|e| format!("auto-unseal with the key file {} failed: {}", path.display(), e.errors.join("; ")))?;
        Ok(true)
    }

    /// Reloads the keyring from storage (another node added a term).
    pub async fn reload_keyring(&self, core: &Core) -> Result<(), ApiError> {
        let _one_at_a_time = self.keyring_lock.lock().await;
        let keys = core.barrier.keys().map_err(|_| ApiError::sealed())?;
        let ct = core
            .store
            .system_get(KEYRING)
            .await
            .map_err(|e| ApiError::internal(&e))?
            .ok_or_else(|| ApiError::internal(&"keyring is missing"))?;
        let keyring = open_keyring(&keys.root_key, &ct).map_err(|e| ApiError::internal(&e))?;
        // Terms only grow: a keyring older than the one held is never loaded over it.
        if keyring.active().number >= keys.keyring.active().number {
            core.barrier.load(Unsealed { root_key: keys.root_key.clone(), keyring });
        }
        Ok(())
    }

    /// Stores a keyring with a new term; returns the new term number. The stored keyring (not
    /// this node's copy) is the base, and the write is a compare-and-set on it, so two nodes
    /// rotating at once both get a term and neither is lost.
    pub async fn rotate(&self, core: &Core) -> Result<u32, ApiError> {
        let _one_at_a_time = self.keyring_lock.lock().await;
        for _ in 0..5 {
            let keys = core.barrier.keys().map_err(|_| ApiError::sealed())?;
            let stored = core
                .store
                .system_get(KEYRING)
                .await
                .map_err(|e| ApiError::internal(&e))?
                .ok_or_else(|| ApiError::internal(&"keyring is missing"))?;
            let bytes = crypto::open(&keys.root_key, KEYRING_AAD, &stored)
                .map_err(|e| ApiError::internal(&format!("keyring: {e}")))?;
            let current = Keyring::from_bytes(&bytes).ok_or_else(|| ApiError::internal(&"keyring is malformed"))?;
            let keyring = current.rotated(core.clock.now());
            let ct = crypto::seal(&keys.root_key, KEYRING_AAD, &keyring.to_bytes());
            crate::crypto::keyring::crash::crash_point("before-persist");
            // The new term is committed (the store's write is durable) before this node loads
            // it, so no row can be sealed under a term that a crash would lose.
            match core.store.system_swap(KEYRING, &stored, &ct).await {
                Ok(()) => {
                    crate::crypto::keyring::crash::crash_point("after-persist");
                    let term = keyring.active().number;
                    core.barrier.load(Unsealed { root_key: keys.root_key.clone(), keyring });
                    tracing::info!(term, "keyring rotated");
                    return Ok(term);
                }
                Err(crate::store::StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::internal(&"the keyring kept changing during rotation"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_must_be_private_and_well_formed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k");
        std::fs::write(&f, hex::encode([9u8; 32])).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_key_file(&f).unwrap_err().contains("chmod 600"));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_key_file(&f).unwrap(), Key::from_slice(&[9u8; 32]).unwrap());
        std::fs::write(&f, "short").unwrap();
        assert!(read_key_file(&f).is_err());
    }

    #[test]
    fn shares_decode_from_hex_and_base64() {
        assert_eq!(decode_share(&hex::encode([1u8; 33])).unwrap().len(), 33);
        let b64 = base64::engine::general_purpose::STANDARD.encode([1u8; 33]);
        assert_eq!(decode_share(&b64).unwrap().len(), 33);
        assert!(decode_share("abcd").is_err());
    }
}
