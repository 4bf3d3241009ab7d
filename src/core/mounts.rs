//! The in-memory mount table: longest-prefix routing from a request path to an engine.

use std::sync::Arc;

use async_trait::async_trait;

use serde_json::{json, Map, Value};

use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::stored;
use crate::core::engine::{Call, Engine, Host};
use crate::store::MountRow;

/// A mounted engine and its stored settings.
pub struct MountEntry {
    /// Stored row (for built-in mounts, a synthetic one).
    pub row: MountRow,
    /// The API path prefix, e.g. `secret/` or `auth/token/`.
    pub api_path: String,
    /// The engine.
    pub engine: Arc<dyn Engine>,
}

impl MountEntry {
    /// The stored `config` object; a 500 (logged under an error id) if it does not parse.
    pub fn config(&self) -> Result<Map<String, Value>, ApiError> {
        stored::parse("mount config", &self.row.config)
    }

    /// The stored `options` object; a 500 (logged under an error id) if it does not parse.
    pub fn options(&self) -> Result<Map<String, Value>, ApiError> {
        stored::parse("mount options", &self.row.options)
    }

    /// Vault's mount-entry JSON.
    pub fn describe(&self) -> Result<Value, ApiError> {
        let r = &self.row;
        let config = self.config()?;
        let options = self.options()?;
        let mut cfg = Map::new();
        cfg.insert("default_lease_ttl".into(), config.get("default_lease_ttl").cloned().unwrap_or(json!(0)));
        cfg.insert("force_no_cache".into(), config.get("force_no_cache").cloned().unwrap_or(json!(false)));
        cfg.insert("max_lease_ttl".into(), config.get("max_lease_ttl").cloned().unwrap_or(json!(0)));
        if r.table_name == "auth" {
            cfg.insert("token_type".into(), json!("default-service"));
        }
        Ok(json!({
            "accessor": r.accessor,
            "config": cfg,
            "deprecation_status": "supported",
            "description": r.description,
            "external_entropy_access": false,
            "local": r.local,
            "options": if options.is_empty() && r.kind != "kv" { Value::Null } else { Value::Object(options) },
            "plugin_version": "",
            "running_plugin_version": format!("v{}+builtin.coffer", env!("CARGO_PKG_VERSION")),
            "running_sha256": "",
            "seal_wrap": r.seal_wrap,
            "type": r.kind,
            "uuid": r.id,
        }))
    }

    /// False for a mount whose stored settings do not parse ([`Unreadable`]): no background work
    /// runs on it either.
    pub fn is_readable(&self) -> bool {
        !self.engine.is_unreadable()
    }
}

/// The engine of a mount whose stored settings do not parse: the mount keeps its path, but every
/// request to it, and every revocation or renewal of its leases, fails (a 500 under an error id)
/// until the row is repaired. Nothing runs on a default.
pub struct Unreadable;

#[async_trait]
impl Engine for Unreadable {
    fn is_unreadable(&self) -> bool {
        true
    }

    async fn handle(&self, call: Call<'_>, _req: Request) -> Result<Response, ApiError> {
        Err(unreadable(call.mount))
    }

    async fn exists(&self, call: Call<'_>, _req: &Request) -> Result<bool, ApiError> {
        Err(unreadable(call.mount))
    }

    async fn revoke_lease(&self, host: Host<'_>, _lease: &crate::core::leases::OpenLease) -> Result<(), String> {
        Err(unreadable(host.mount()).errors.join("; "))
    }

    async fn renew_lease(
        &self,
        host: Host<'_>,
        _lease: &crate::core::leases::OpenLease,
        _expire: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String> {
        Err(unreadable(host.mount()).errors.join("; "))
    }
}

fn unreadable(mount: &MountEntry) -> ApiError {
    ApiError::internal(&format!("the stored settings of mount {:?} are corrupt", mount.api_path))
}

/// All mounts, longest path first.
#[derive(Default)]
pub struct MountTable {
    entries: Vec<Arc<MountEntry>>,
}

impl MountTable {
    /// Builds a table from entries.
    pub fn new(mut entries: Vec<Arc<MountEntry>>) -> Self {
        entries.sort_by(|a, b| b.api_path.len().cmp(&a.api_path.len()).then(a.api_path.cmp(&b.api_path)));
        Self { entries }
    }

    /// The mount serving `path` and the path inside it.
    pub fn route<'p>(&self, path: &'p str) -> Option<(Arc<MountEntry>, &'p str)> {
        self.entries.iter().find_map(|e| {
            if let Some(rest) = path.strip_prefix(e.api_path.as_str()) {
                Some((e.clone(), rest))
            } else if path == e.api_path.trim_end_matches('/') {
                Some((e.clone(), ""))
            } else {
                None
            }
        })
    }

    /// Entries of one table (`mounts` or `auth`), sorted by path.
    pub fn of_table(&self, table: &str) -> Vec<Arc<MountEntry>> {
        let mut v: Vec<_> = self.entries.iter().filter(|e| e.row.table_name == table).cloned().collect();
        v.sort_by(|a, b| a.row.path.cmp(&b.row.path));
        v
    }

    /// The entry at exactly this API path.
    pub fn get(&self, api_path: &str) -> Option<Arc<MountEntry>> {
        self.entries.iter().find(|e| e.api_path == api_path).cloned()
    }

    /// Every entry.
    pub fn all(&self) -> &[Arc<MountEntry>] {
        &self.entries
    }
}
