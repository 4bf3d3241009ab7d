//! Declarative bootstrap: the operator's file of mounts, auth methods, policies, roles, audit
//! devices and rotations, applied by the leader at every unseal through the request pipeline, as
//! logical requests of an internal identity named `bootstrap` (never by writing rows).
//!
//! `spec` reads and checks the file, `plan` compares it with the store (reading through the
//! pipeline too), `apply` issues the changes, `managed` is the record of what the file made, and
//! `worker` runs it once per unseal on the leader.

pub mod apply;
pub mod compare;
pub mod managed;
pub mod plan;
pub mod spec;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::core::tokens::{self, TokenEntry};
use crate::core::Core;

/// The accessor and display name under which the audit log shows bootstrap's requests.
pub const IDENTITY: &str = "bootstrap";
/// The creation path of the bootstrap identity (no stored token has it).
pub const IDENTITY_PATH: &str = "sys/bootstrap";

/// `[bootstrap]` of the server configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The bootstrap file, if any.
    pub file: Option<PathBuf>,
    /// `sys/init` issues no root token.
    pub revoke_root: bool,
}

/// What the last run on this node did.
#[derive(Debug, Clone)]
pub struct Report {
    /// When it ended.
    pub at: DateTime<Utc>,
    /// The changes made, as `create policy app`.
    pub changes: Vec<String>,
    /// Why it stopped or applied nothing, naming the object and field.
    pub error: Option<String>,
}

impl Report {
    fn describe(&self) -> Value {
        json!({
            "time": crate::base::logical::timestamp(self.at),
            "changes": self.changes,
            "error": self.error,
        })
    }
}

/// This node's bootstrap state: settings, the unseal count the worker waits on, the last run.
pub struct Bootstrap {
    settings: ArcSwapOption<Settings>,
    unseals: tokio::sync::watch::Sender<u64>,
    last: ArcSwapOption<Report>,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Self {
            settings: ArcSwapOption::empty(),
            unseals: tokio::sync::watch::channel(0).0,
            last: ArcSwapOption::empty(),
        }
    }
}

impl Bootstrap {
    /// Sets `[bootstrap]` (the server does it at start; tests before init).
    pub fn configure(&self, settings: Settings) {
        self.settings.store(Some(Arc::new(settings)));
    }

    /// The settings, once configured.
    pub fn settings(&self) -> Option<Arc<Settings>> {
        self.settings.load_full()
    }

    /// `sys/init` must issue no root token.
    pub fn revoke_root(&self) -> bool {
        self.settings.load().as_ref().is_some_and(|s| s.revoke_root)
    }

    /// Called once the node is unsealed: the worker applies the file for this unseal.
    pub fn unsealed(&self) {
        self.unseals.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The unseal count (0 before the first unseal), to wait on.
    pub fn unseals(&self) -> tokio::sync::watch::Receiver<u64> {
        self.unseals.subscribe()
    }

    /// What the last run on this node did.
    pub fn last(&self) -> Option<Arc<Report>> {
        self.last.load_full()
    }

    fn record(&self, report: Report) {
        self.last.store(Some(Arc::new(report)));
    }

    /// `GET sys/bootstrap`'s body: the file, the managed objects and this node's last run.
    pub async fn status(&self, core: &Core) -> Result<Value, ApiError> {
        let managed = managed::Managed::load(core).await?;
        let settings = self.settings();
        Ok(json!({
            "file": settings.as_ref().and_then(|s| s.file.as_ref()).map(|f| f.display().to_string()),
            "revoke_root": settings.as_ref().is_some_and(|s| s.revoke_root),
            "managed": managed.describe(),
            "last_run": self.last().map_or(Value::Null, |r| r.describe()),
        }))
    }
}

/// The identity bootstrap acts as: not a stored token (nothing to steal, nothing left behind by
/// a crash), carrying the `root` policy because the file is trusted as the config file is. It
/// lives for one run. The pipeline still routes, checks the ACL, audits and validates each request.
pub fn identity(now: DateTime<Utc>) -> Arc<TokenEntry> {
    let mut row = tokens::root_row([0; 32], now);
    row.accessor = IDENTITY.into();
    row.display_name = IDENTITY.into();
    row.path = IDENTITY_PATH.into();
    row.orphan = true;
    Arc::new(TokenEntry { row, policies: vec!["root".into()], ..TokenEntry::anonymous(now) })
}

/// True for the identity of [`identity`] (its all-zero hash is no HMAC of a stored token).
pub fn is_identity(token: &TokenEntry) -> bool {
    token.row.hash == [0u8; 32] && token.row.path == IDENTITY_PATH && token.row.accessor == IDENTITY
}

/// One logical request through the pipeline as `who`; the answer's data (`None` for a 404).
pub(crate) async fn call(
    core: &Core,
    who: &Arc<TokenEntry>,
    op: Operation,
    path: &str,
    body: Option<&serde_json::Map<String, Value>>,
) -> Result<Option<Value>, ApiError> {
    let mut req = Request::new(op, path);
    if let Some(b) = body {
        req.data = b.clone();
    }
    match core.handle_as(req, who.clone()).await {
        Ok(Response::Envelope { data, .. }) => Ok(Some(data.unwrap_or(Value::Null))),
        Ok(Response::Bare { body, .. }) => Ok(Some(body)),
        Ok(_) => Ok(Some(Value::Null)),
        Err(e) if e.status == http::StatusCode::NOT_FOUND => Ok(None),
        Err(e) => Err(e),
    }
}
