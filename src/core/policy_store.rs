//! The policy store: ACL policies stored as entries, compiled once and cached by name, and the
//! merged ACL of each distinct policy set cached too; every change empties both caches.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};

use crate::base::error::ApiError;
use crate::base::identity::{render, Identity};
use crate::base::policy::{self, Acl, Policy};
use crate::core::tokens::TokenEntry;
use crate::store::SharedStore;

const KIND: &str = "policy/acl";
const ACL_CACHE_LIMIT: usize = 4096;

/// A stored policy document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredPolicy {
    /// The source text, handed back exactly as sent.
    pub policy: String,
    /// Bumped on each write.
    pub version: u64,
    /// RFC 3339.
    pub modified: String,
}

/// Compiled-policy and ACL caches over the store.
#[derive(Default)]
pub struct PolicyStore {
    compiled: RwLock<HashMap<String, Option<Arc<Policy>>>>,
    acls: RwLock<HashMap<Vec<String>, Arc<Acl>>>,
    /// Tells other nodes to drop their policy caches too.
    pub changes: crate::store::bus::Changes,
    /// The core's clock (for a policy's modification time).
    pub clock: crate::base::schedule::SharedClock,
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(&e)
}

impl PolicyStore {
    /// Empties both caches here and on the other nodes (after a policy change).
    pub fn invalidate(&self) {
        self.invalidate_local();
        self.changes.changed(crate::store::bus::Topic::Policies);
    }

    /// Empties both caches on this node (a change made here or on another node).
    pub fn invalidate_local(&self) {
        if let Ok(mut c) = self.compiled.write() {
            c.clear();
        }
        if let Ok(mut a) = self.acls.write() {
            a.clear();
        }
    }

    /// The stored document of a policy (`default` falls back to the built-in text).
    pub async fn read(&self, store: &SharedStore, name: &str) -> Result<Option<StoredPolicy>, ApiError> {
        let raw = store.entry_get(KIND, name).await.map_err(ApiError::from)?;
        match raw {
            Some(r) => Ok(Some(crate::base::stored::parse("policy", &r)?)),
            None if name == "default" => {
                Ok(Some(StoredPolicy { policy: Policy::default_policy().raw, version: 0, modified: String::new() }))
            }
            None if name == crate::core::wrapping::WRAPPING_POLICY => Ok(Some(StoredPolicy {
                policy: crate::core::wrapping::WRAPPING_POLICY_TEXT.to_string(),
                version: 0,
                modified: String::new(),
            })),
            None => Ok(None),
        }
    }

    async fn compiled(&self, store: &SharedStore, name: &str) -> Result<Option<Arc<Policy>>, ApiError> {
        if let Some(hit) = self.compiled.read().ok().and_then(|c| c.get(name).cloned()) {
            return Ok(hit);
        }
        let parsed = match self.read(store, name).await? {
            Some(doc) => Some(Arc::new(Policy::parse(name, &doc.policy).map_err(internal)?)),
            None => None,
        };
        if let Ok(mut c) = self.compiled.write() {
            c.insert(name.to_string(), parsed.clone());
        }
        Ok(parsed)
    }

    /// The merged ACL of a token's policies (unknown names are ignored, as in Vault), with its
    /// login identity filled into templated paths.
    pub async fn acl_for(&self, store: &SharedStore, token: &TokenEntry) -> Result<Arc<Acl>, ApiError> {
        self.acl(store, &token.policies, token.identity.as_ref(), &token.row.identity).await
    }

    /// The merged ACL of the named policies for `identity`; `identity_key` is its stored JSON
    /// (already canonical, so it keys the cache without serialising again).
    pub async fn acl(
        &self,
        store: &SharedStore,
        names: &[String],
        identity: Option<&Identity>,
        identity_key: &str,
    ) -> Result<Arc<Acl>, ApiError> {
        if names.iter().any(|n| n == "root") {
            return Ok(Arc::new(Acl::root()));
        }
        // Fast path: a policy set without templates is cached under its names alone.
        if let Some(hit) = self.acls.read().ok().and_then(|a| a.get(names).cloned()) {
            return Ok(hit);
        }
        let mut policies = Vec::with_capacity(names.len());
        for n in names {
            if let Some(p) = self.compiled(store, n).await? {
                policies.push(p);
            }
        }
        // Only templated policy sets depend on who asks; the others share one cache entry.
        // A templated set depends on who asks: its key adds the identity (never the bare names,
        // which the fast path above reserves for sets without templates).
        let templated = policies.iter().any(|p| p.raw.contains("{{"));
        let mut key = names.to_vec();
        if templated {
            key.push(format!("\u{0}identity:{identity_key}"));
        }
        if let Some(hit) = self.acls.read().ok().and_then(|a| a.get(&key).cloned()) {
            return Ok(hit);
        }
        if templated {
            policies = policies
                .into_iter()
                .map(|p| match p.raw.contains("{{") {
                    true => Policy::parse(&p.name, &render(&p.raw, identity)).map(Arc::new).map_err(internal),
                    false => Ok(p),
                })
                .collect::<Result<_, _>>()?;
        }
        let acl = Arc::new(Acl::new(&policies));
        if let Ok(mut a) = self.acls.write() {
            if a.len() >= ACL_CACHE_LIMIT {
                a.clear();
            }
            a.insert(key, acl.clone());
        }
        Ok(acl)
    }

    /// Creates or replaces a policy after checking that it parses.
    pub async fn write(&self, store: &SharedStore, name: &str, text: &str) -> Result<(), ApiError> {
        let name = checked_name(name)?;
        if policy::is_root_name(&name) {
            return Err(ApiError::bad_request("cannot update \"root\" policy"));
        }
        Policy::parse(&name, text).map_err(ApiError::bad_request)?;
        let version = self.read(store, &name).await?.map_or(1, |p| p.version + 1);
        let doc = StoredPolicy {
            policy: text.to_string(),
            version,
            modified: self.clock.now().to_rfc3339_opts(SecondsFormat::Nanos, true),
        };
        store.entry_put(KIND, &name, &serde_json::to_string(&doc).map_err(internal)?).await.map_err(ApiError::from)?;
        self.invalidate();
        Ok(())
    }

    /// Deletes a policy; `root` and `default` cannot be deleted.
    pub async fn delete(&self, store: &SharedStore, name: &str) -> Result<(), ApiError> {
        let name = checked_name(name)?;
        if policy::is_root_name(&name) {
            return Err(ApiError::bad_request("cannot delete \"root\" policy"));
        }
        if name == "default" {
            return Err(ApiError::bad_request("cannot delete default policy"));
        }
        store.entry_delete(KIND, &name).await.map_err(ApiError::from)?;
        self.invalidate();
        Ok(())
    }

    /// Every policy name, with `default` and `root`.
    pub async fn list(&self, store: &SharedStore) -> Result<Vec<String>, ApiError> {
        let mut names = store.entry_list(KIND, "").await.map_err(ApiError::from)?;
        for builtin in ["default", "root"] {
            if !names.iter().any(|n| n == builtin) {
                names.push(builtin.to_string());
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Checks a policy name from a URL (400 unless it is already in its normal form).
pub fn checked_name(name: &str) -> Result<String, ApiError> {
    policy::check_name(name).map(str::to_string).map_err(ApiError::bad_request)
}
