//! The token store (minimal): tokens are random, stored only as HMAC-SHA256 under a key kept
//! inside the barrier, and looked up through a small per-node cache.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::crypto::{self, Key};
use crate::error::ApiError;
use crate::store::{SharedStore, TokenRow};

/// Prefix of issued service tokens (OpenBao style).
pub const SERVICE_PREFIX: &str = "s.";
/// Random characters after the prefix: 40 base62 characters ≈ 238 bits.
pub const TOKEN_RANDOM_LEN: usize = 40;
const CACHE_LIMIT: usize = 10_000;

/// A resolved token: its stored row, parsed.
#[derive(Debug, Clone)]
pub struct TokenEntry {
    /// Stored row.
    pub row: TokenRow,
    /// Parsed policy list.
    pub policies: Vec<String>,
}

impl TokenEntry {
    /// True for tokens carrying the `root` policy.
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    /// Vault's token-lookup `data`; `id` is the token itself when the caller presented it.
    pub fn lookup_data(&self, id: Option<&str>, now: DateTime<Utc>) -> Value {
        let r = &self.row;
        let rfc = |secs: i64| {
            DateTime::from_timestamp(secs, 0).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        };
        let ttl = r.expire_time.map(|e| (e - now.timestamp()).max(0)).unwrap_or(0);
        let meta: Value = serde_json::from_str(&r.meta).unwrap_or(Value::Null);
        json!({
            "accessor": r.accessor,
            "creation_time": r.creation_time,
            "creation_ttl": r.ttl,
            "display_name": r.display_name,
            "entity_id": "",
            "expire_time": r.expire_time.and_then(rfc),
            "explicit_max_ttl": r.explicit_max_ttl,
            "id": id.unwrap_or(""),
            "issue_time": rfc(r.creation_time),
            "meta": if meta.as_object().is_some_and(|m| m.is_empty()) { Value::Null } else { meta },
            "num_uses": r.num_uses,
            "orphan": r.orphan,
            "path": r.path,
            "policies": self.policies,
            "renewable": r.renewable,
            "ttl": ttl,
            "type": r.token_type,
        })
    }
}

/// Token hashing and look-up.
#[derive(Default)]
pub struct TokenStore {
    hmac_key: ArcSwapOption<Key>,
    cache: RwLock<HashMap<[u8; 32], Arc<TokenEntry>>>,
}

impl TokenStore {
    /// Installs the HMAC key (at unseal).
    pub fn load_key(&self, key: Key) {
        self.hmac_key.store(Some(Arc::new(key)));
    }

    /// Forgets the key and every cached entry (at seal).
    pub fn clear(&self) {
        self.hmac_key.store(None);
        if let Ok(mut c) = self.cache.write() {
            c.clear();
        }
    }

    /// HMAC of a token value; `None` while sealed.
    pub fn hash(&self, token: &str) -> Option<[u8; 32]> {
        let key = self.hmac_key.load_full()?;
        Some(crypto::hmac_sha256(&key, token.as_bytes()))
    }

    /// A new random token value.
    pub fn generate() -> SecretString {
        SecretString::from(format!("{SERVICE_PREFIX}{}", crypto::random_base62(TOKEN_RANDOM_LEN)))
    }

    /// Stores a root token (at init, or the dev root token).
    pub async fn create_root(
        &self,
        store: &SharedStore,
        token: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let hash = self.hash(token.expose_secret()).ok_or_else(ApiError::sealed)?;
        store.token_put(&root_row(hash, now)).await.map_err(|e| ApiError::internal(&e))
    }

    /// Resolves a presented token; every failure is the same 403.
    pub async fn authenticate(
        &self,
        store: &SharedStore,
        token: Option<&SecretString>,
        now: DateTime<Utc>,
    ) -> Result<Arc<TokenEntry>, ApiError> {
        let token = token.ok_or_else(ApiError::permission_denied)?;
        let hash = self.hash(token.expose_secret()).ok_or_else(ApiError::sealed)?;
        let cached = self.cache.read().ok().and_then(|c| c.get(&hash).cloned());
        let entry = match cached {
            Some(e) => e,
            None => {
                let row = store
                    .token_get(&hash)
                    .await
                    .map_err(|e| ApiError::internal(&e))?
                    .ok_or_else(ApiError::permission_denied)?;
                let policies: Vec<String> = serde_json::from_str(&row.policies).unwrap_or_default();
                let entry = Arc::new(TokenEntry { row, policies });
                if entry.row.num_uses == 0 {
                    if let Ok(mut c) = self.cache.write() {
                        if c.len() >= CACHE_LIMIT {
                            c.clear();
                        }
                        c.insert(hash, entry.clone());
                    }
                }
                entry
            }
        };
        if entry.row.expire_time.is_some_and(|e| e <= now.timestamp()) {
            return Err(ApiError::permission_denied());
        }
        Ok(entry)
    }
}

/// The stored form of a root token with the given hash.
pub fn root_row(hash: [u8; 32], now: DateTime<Utc>) -> TokenRow {
    TokenRow {
        hash: hash.to_vec(),
        accessor: crypto::random_base62(24),
        parent_hash: None,
        policies: "[\"root\"]".into(),
        meta: "{}".into(),
        display_name: "root".into(),
        path: "auth/token/root".into(),
        token_type: "service".into(),
        creation_time: now.timestamp(),
        ttl: 0,
        explicit_max_ttl: 0,
        period: 0,
        num_uses: 0,
        expire_time: None,
        renewable: false,
        orphan: true,
    }
}
