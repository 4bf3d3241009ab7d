//! The trait every secrets engine and auth method implements: a request relative to its mount in,
//! a response out. Engines never see HTTP, the core or other mounts: they get a [`Host`].

mod host;
mod storage;

pub use host::{Actor, Background, Host, Peer};
pub use storage::MountStorage;

use std::sync::Arc;

use async_trait::async_trait;

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::refusal::Refusal;
use crate::core::mounts::MountEntry;
use crate::core::tokens::TokenEntry;
use crate::core::Core;
use crate::store::MountRow;

/// What an engine receives besides the request.
pub struct Call<'a> {
    /// What the engine may use while serving this mount.
    pub host: Host<'a>,
    /// The mount that matched.
    pub mount: &'a MountEntry,
    /// The path inside the mount (no leading slash).
    pub path: &'a str,
    /// The authenticated caller (for login paths, an empty placeholder with no policies).
    pub token: &'a TokenEntry,
    /// The caller holds `sudo` on this path (root tokens always do).
    pub sudo: bool,
}

/// A secrets engine or auth method.
#[async_trait]
pub trait Engine: Send + Sync {
    /// Handles a request routed to this engine.
    async fn handle(&self, call: Call<'_>, req: Request) -> Result<Response, ApiError>;

    /// Whether something exists at the request's path; decides `create` versus `update` for the
    /// policy check of a POST/PUT. Paths that do not check existence count as existing (update).
    async fn exists(&self, _call: Call<'_>, _req: &Request) -> Result<bool, ApiError> {
        Ok(true)
    }

    /// Paths served without a token (login endpoints).
    fn unauthenticated(&self, _path: &str) -> bool {
        false
    }

    /// The policy checks a request needs instead of the one on its own path, when the engine
    /// decides them: each `(API path, operation)` is decided as a request of its own would be
    /// (`core::permit`, sudo paths included) and all must pass; an empty list needs only a valid
    /// token. `None` (the default) checks the request's own path. `path` is relative to the
    /// mount, `mount` is the mount's API path (`secret/`).
    fn policy_checks(&self, _mount: &str, _path: &str, _req: &Request) -> Option<Vec<(String, Operation)>> {
        None
    }

    /// One page of a search of this mount's keys (`sys/search`), each key shown only when
    /// `visible` allows it (the caller's ACL, decided by the core). `None` (the default): this
    /// engine does not search (400).
    async fn search(
        &self,
        _call: Call<'_>,
        _query: &crate::core::search::SearchQuery,
        _visible: &crate::core::search::Visibility,
    ) -> Option<Result<crate::core::search::Found, ApiError>> {
        None
    }

    /// Answers a request before the seal and token checks, if this engine serves it that way
    /// (the system engine's `sys/health`, `sys/seal-status`, `sys/init`, `sys/unseal`, …).
    /// Asked of the registry's system engine only.
    async fn before_auth(&self, _core: &Core, _req: &Request) -> Option<Result<Response, ApiError>> {
        None
    }

    /// True only for the stand-in engine of a mount whose stored settings do not parse.
    fn is_unreadable(&self) -> bool {
        false
    }

    /// This engine's database roles, if it manages database connections: how another mount's
    /// rotator reaches them (through the mount table, after its own ACL check).
    fn database_roles(&self) -> Option<&dyn DatabaseRoles> {
        None
    }

    /// Revokes what one of this mount's leases stands for (a database user, say). An error is
    /// retried later with backoff; the lease stays until this succeeds.
    async fn revoke_lease(&self, _host: Host<'_>, _lease: &crate::core::leases::OpenLease) -> Result<(), String> {
        Ok(())
    }

    /// Extends what a lease stands for until `expire` (e.g. a database user's `VALID UNTIL`).
    async fn renew_lease(
        &self,
        _host: Host<'_>,
        _lease: &crate::core::leases::OpenLease,
        _expire: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String> {
        Ok(())
    }
}

/// The roles of a database connection, as a KV rotator may use them: the only way one mount acts
/// on another's database. The rotator reaches them through [`Host::peer`], which checks its
/// authority against the connection's path with the same ACL decision an HTTP request gets; each
/// method loads the connection anew and checks the roles again before it acts. `host` is the
/// database mount's own view.
#[async_trait]
pub trait DatabaseRoles: Send + Sync {
    /// Whether the connection `name` exists on `mount`.
    async fn has_connection(&self, host: Host<'_>, name: &str) -> Result<bool, ApiError>;

    /// Checks that the connection exists and that each of `usernames` may be changed through it
    /// (admitted by its `allowed_roles`, and passing the database guard); answers the
    /// connection's password policy.
    async fn check(&self, host: Host<'_>, name: &str, usernames: &[String]) -> Result<String, Refusal>;

    /// After [`DatabaseRoles::check`]: sets `user`'s password, as the connection's root user.
    async fn set_password(&self, host: Host<'_>, target: Target<'_>, user: &str, password: &str)
        -> Result<(), Refusal>;

    /// After [`DatabaseRoles::check`]: logs in as `user` with `password` through the connection's
    /// URL and runs a query.
    async fn log_in(&self, host: Host<'_>, target: Target<'_>, user: &str, password: &str) -> Result<(), Refusal>;
}

/// The connection and the roles a rotator manages on it.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    /// The connection's name.
    pub name: &'a str,
    /// Every role the rotator manages (the acted-on role is one of them).
    pub usernames: &'a [String],
}

/// A mount every server has, whatever its storage holds (`sys/`, `auth/token/`, `cubbyhole/`).
pub struct Builtin {
    /// `mounts` or `auth`.
    pub table: &'static str,
    /// The mount path inside its table, with a trailing slash.
    pub path: &'static str,
    /// The mount type as `sys/mounts` shows it.
    pub kind: &'static str,
    /// The description `sys/mounts` shows.
    pub description: &'static str,
    /// The engine serving it.
    pub engine: Arc<dyn Engine>,
}

/// A type that can be mounted: stored mounts of this table and kind are served by `engine`.
pub struct MountType {
    /// `mounts` or `auth`.
    pub table: &'static str,
    /// The stored mount type (`kv`, `database`, `jwt`, …).
    pub kind: &'static str,
    /// The `version` option the mount must carry (`Some("2")` for KV v2), if any.
    pub version: Option<&'static str>,
    /// The engine serving such mounts.
    pub engine: Arc<dyn Engine>,
}

/// The engines of this build. The server (the composition root) builds it and hands it to the
/// core, which sees engines only as `dyn Engine`.
pub struct Registry {
    /// The system engine: it answers the requests served before authentication.
    pub system: Arc<dyn Engine>,
    /// The built-in mounts (the system engine's among them).
    pub builtin: Vec<Builtin>,
    /// The types that can be mounted.
    pub types: Vec<MountType>,
}

impl Registry {
    /// The engine serving a stored mount, if this build has its type; an error if the mount's
    /// stored config or options do not parse.
    pub fn engine_for(&self, row: &MountRow) -> Result<Option<Arc<dyn Engine>>, ApiError> {
        let _: serde_json::Map<String, serde_json::Value> = crate::base::stored::parse("mount config", &row.config)?;
        let options: serde_json::Map<String, serde_json::Value> =
            crate::base::stored::parse("mount options", &row.options)?;
        let version = options.get("version").and_then(|v| v.as_str());
        Ok(self
            .types
            .iter()
            .find(|t| t.table == row.table_name && t.kind == row.kind && t.version.is_none_or(|v| version == Some(v)))
            .map(|t| t.engine.clone()))
    }

    /// Whether `kind` can be mounted in `table` (`mounts` or `auth`).
    pub fn can_mount(&self, table: &str, kind: &str) -> bool {
        self.types.iter().any(|t| t.table == table && t.kind == kind)
    }
}

#[cfg(test)]
mod tests;
