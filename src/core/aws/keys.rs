//! AWS access keys: an id, a secret kept only inside the barrier, and the Coffer policies a
//! request signed with it runs under.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::base::error::ApiError;
use crate::core::Core;
use crate::crypto::barrier::{Barrier, Context, Sealed};
use crate::store::TextForm;

/// Entry kind of stored keys (the name is the access key id).
pub const KIND: &str = "aws-key";
/// Characters of an access key id after its prefix (AWS's ids are 20 characters in all).
const ID_RANDOM_LEN: usize = 16;
/// Prefix of the ids Coffer makes (AWS's prefix for long-term keys; some tools check it).
pub const ID_PREFIX: &str = "AKIA";
/// Characters of a secret access key (as AWS's).
const SECRET_LEN: usize = 40;
/// Keys kept in memory at most (the others are read from the store when used).
const CACHE_MAX: usize = 4096;

/// One access key.
pub struct AccessKey {
    /// The access key id (public).
    pub id: String,
    /// The secret access key.
    pub secret: SecretString,
    /// Policies a request signed with this key holds.
    pub policies: Vec<String>,
    /// Unix seconds of creation.
    pub created: i64,
    /// Unix seconds after which the key is refused (`None`: never).
    pub expires: Option<i64>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey").field("id", &self.id).field("policies", &self.policies).finish_non_exhaustive()
    }
}

impl AccessKey {
    /// True once the key's time is up.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_some_and(|e| now.timestamp() >= e)
    }

    /// What `GET sys/aws/keys/<id>` and `LIST` show: everything but the secret.
    pub fn info(&self) -> serde_json::Value {
        let time = |t: i64| DateTime::<Utc>::from_timestamp(t, 0).map(crate::base::logical::timestamp);
        serde_json::json!({
            "access_key_id": self.id,
            "policies": self.policies,
            "creation_time": time(self.created),
            "expire_time": self.expires.and_then(time),
        })
    }
}

/// The sealed form (wiped when dropped: it holds the secret in plain text).
#[derive(Serialize, Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
struct Stored {
    secret: String,
    policies: Vec<String>,
    created: i64,
    expires: Option<i64>,
}

/// True for a string that can be an access key id (AWS's rule: 16 to 128 word characters), so a
/// lookup of anything else never reaches the store.
pub fn well_formed_id(id: &str) -> bool {
    (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A fresh key id and secret.
pub fn generate() -> (String, SecretString) {
    let id = format!("{ID_PREFIX}{}", crate::crypto::random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ID_RANDOM_LEN));
    let secret =
        crate::crypto::random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", SECRET_LEN);
    (id, SecretString::from(secret))
}

/// The keys this node has read, by id; dropped when any node changes a key.
#[derive(Default)]
pub struct KeyCache {
    keys: Mutex<HashMap<String, Arc<AccessKey>>>,
}

impl KeyCache {
    fn get(&self, id: &str) -> Option<Arc<AccessKey>> {
        self.keys.lock().ok()?.get(id).cloned()
    }

    fn put(&self, key: Arc<AccessKey>) {
        if let Ok(mut m) = self.keys.lock() {
            if m.len() >= CACHE_MAX {
                m.clear();
            }
            m.insert(key.id.clone(), key);
        }
    }

    /// How many keys this node holds in memory.
    pub fn len(&self) -> usize {
        self.keys.lock().map_or(0, |m| m.len())
    }

    /// True when this node holds no key in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every cached key (a change on any node, or the seal).
    pub fn clear(&self) {
        if let Ok(mut m) = self.keys.lock() {
            m.clear();
        }
    }
}

/// Seals and stores a key, and tells the other nodes.
pub async fn store(core: &Core, key: &AccessKey) -> Result<(), ApiError> {
    let stored = Stored {
        secret: key.secret.expose_secret().to_string(),
        policies: key.policies.clone(),
        created: key.created,
        expires: key.expires,
    };
    let plain = Zeroizing::new(serde_json::to_vec(&stored).map_err(|e| ApiError::internal(&e))?);
    let (sealed, _) = core.barrier.seal(Context::AwsKey { id: &key.id }, &plain).map_err(|e| ApiError::internal(&e))?;
    core.store.entry_put_sealed(KIND, &key.id, &sealed, TextForm::Base64).await.map_err(ApiError::from)?;
    core.aws_keys.clear();
    core.changes.changed(crate::store::bus::Topic::AwsKeys);
    Ok(())
}

/// Opens a stored key (`coffer operator migrate` checks every key this way). The error names the
/// key, never its secret.
fn open(barrier: &Barrier, id: &str, sealed: &Sealed) -> Result<Stored, String> {
    let plain = barrier.open(sealed, Context::AwsKey { id }).map_err(|e| format!("aws key {id}: {e}"))?;
    serde_json::from_slice(&plain)
        .map_err(|e| format!("aws key {id}: the stored key does not parse ({:?})", e.classify()))
}

/// Whether a stored key decrypts and parses (for `coffer operator migrate`'s check).
pub fn check(barrier: &Barrier, id: &str, sealed: &Sealed) -> Result<(), String> {
    open(barrier, id, sealed).map(drop)
}

/// The key `id`, from this node's cache or the store (`None`: no such key).
pub async fn load(core: &Core, id: &str) -> Result<Option<Arc<AccessKey>>, ApiError> {
    if !well_formed_id(id) {
        return Ok(None);
    }
    if let Some(k) = core.aws_keys.get(id) {
        return Ok(Some(k));
    }
    let Some(sealed) = core.store.entry_get_sealed(KIND, id, TextForm::Base64).await.map_err(ApiError::from)? else {
        return Ok(None);
    };
    let mut stored = open(&core.barrier, id, &sealed).map_err(|e| ApiError::internal(&e))?;
    let key = Arc::new(AccessKey {
        id: id.to_string(),
        secret: SecretString::from(std::mem::take(&mut stored.secret)),
        policies: std::mem::take(&mut stored.policies),
        created: stored.created,
        expires: stored.expires,
    });
    core.aws_keys.put(key.clone());
    Ok(Some(key))
}

/// Every key id.
pub async fn list(core: &Core) -> Result<Vec<String>, ApiError> {
    core.store.entry_list(KIND, "").await.map_err(ApiError::from)
}

/// Deletes a key (no error when there is none), and tells the other nodes.
pub async fn delete(core: &Core, id: &str) -> Result<(), ApiError> {
    core.store.entry_delete(KIND, id).await.map_err(ApiError::from)?;
    core.aws_keys.clear();
    core.changes.changed(crate::store::bus::Topic::AwsKeys);
    Ok(())
}

/// Deletes every key whose time is up by `now` (the leader's tidy, as for tokens). Returns how
/// many went.
pub async fn tidy(core: &Core, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let mut gone = 0;
    for id in list(core).await? {
        if load(core, &id).await?.is_some_and(|k| k.expired(now)) {
            delete(core, &id).await?;
            gone += 1;
        }
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_well_formed_and_secrets_long() {
        let (id, secret) = generate();
        assert!(well_formed_id(&id), "{id}");
        assert_eq!(secret.expose_secret().len(), SECRET_LEN);
        assert_ne!(generate().0, id);
    }

    #[test]
    fn ids_of_another_shape_are_not_looked_up() {
        let long = "A".repeat(129);
        for id in ["", "AKIA", "AKIA000000000000000/", "AKIA 000000000000000", "AKIA000000000000000é", long.as_str()] {
            assert!(!well_formed_id(id), "{id}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let (id, secret) = generate();
        let shown = secret.expose_secret().to_string();
        let key = AccessKey { id, secret, policies: vec!["p".into()], created: 0, expires: None };
        assert!(!format!("{key:?}").contains(&shown));
    }
}
