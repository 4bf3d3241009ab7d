//! The record of what the file made: kind, name and a digest of the body last applied, in one
//! system record sealed by the barrier (the digest covers write-only secrets such as a webhook's
//! `hmac_key`, so it is never stored or shown in the clear). Only objects listed here are ever
//! updated without `adopt`, or deleted.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::spec::Kind;
use crate::base::error::ApiError;
use crate::core::Core;
use crate::crypto::barrier::Context;

/// The system record's key.
pub const RECORD: &str = "bootstrap_managed";

/// One managed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its kind.
    pub kind: Kind,
    /// Its name in normal form.
    pub name: String,
    /// SHA-256 (hex) of the body last applied.
    pub digest: String,
}

/// Every managed object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Managed {
    /// Sorted by kind and name.
    pub objects: Vec<Entry>,
}

/// The digest of a request body (its canonical JSON: keys sorted).
pub fn digest(body: &Map<String, Value>) -> String {
    hex::encode(Sha256::digest(Value::Object(body.clone()).to_string().as_bytes()))
}

impl Managed {
    /// Reads the record (empty when there is none). A record that does not open is an error,
    /// never "nothing is managed": that would make every managed object look made by the API.
    pub async fn load(core: &Core) -> Result<Self, ApiError> {
        let Some(sealed) = core.store.system_get_sealed(RECORD).await.map_err(ApiError::from)? else {
            return Ok(Self::default());
        };
        let raw = core.barrier.open(&sealed, Context::System { key: RECORD }).map_err(|e| ApiError::internal(&e))?;
        crate::base::stored::parse_bytes("bootstrap managed record", &raw)
    }

    /// Writes the record.
    pub async fn save(&self, core: &Core) -> Result<(), ApiError> {
        let text = serde_json::to_vec(self).map_err(|e| ApiError::internal(&e))?;
        let (sealed, _) =
            core.barrier.seal(Context::System { key: RECORD }, &text).map_err(|e| ApiError::internal(&e))?;
        core.store.system_put(&[(RECORD, sealed.as_bytes())]).await.map_err(ApiError::from)
    }

    /// The entry of `kind` `name`.
    pub fn get(&self, kind: Kind, name: &str) -> Option<&Entry> {
        self.objects.iter().find(|e| e.kind == kind && e.name == name)
    }

    /// Records `kind` `name` as applied with `digest`.
    pub fn set(&mut self, kind: Kind, name: &str, digest: String) {
        self.remove(kind, name);
        self.objects.push(Entry { kind, name: name.to_string(), digest });
        self.objects.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    }

    /// Forgets `kind` `name`.
    pub fn remove(&mut self, kind: Kind, name: &str) {
        self.objects.retain(|e| !(e.kind == kind && e.name == name));
    }

    /// As `sys/bootstrap` shows it: kind and name only.
    pub fn describe(&self) -> Value {
        Value::Array(self.objects.iter().map(|e| json!({"kind": e.kind, "name": e.name})).collect())
    }
}
