//! The trait every secrets engine and auth method implements: a request relative to its mount in,
//! a response out. Engines never see HTTP or other mounts.

use async_trait::async_trait;

use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::core::mounts::MountEntry;
use crate::core::tokens::TokenEntry;
use crate::core::Core;

/// What an engine receives besides the request.
pub struct Call<'a> {
    /// The server.
    pub core: &'a Core,
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

    /// Revokes what one of this mount's leases stands for (a database user, say). An error is
    /// retried later with backoff; the lease stays until this succeeds.
    async fn revoke_lease(
        &self,
        _core: &Core,
        _mount: &MountEntry,
        _lease: &crate::core::leases::OpenLease,
    ) -> Result<(), String> {
        Ok(())
    }

    /// Extends what a lease stands for until `expire` (e.g. a database user's `VALID UNTIL`).
    async fn renew_lease(
        &self,
        _core: &Core,
        _mount: &MountEntry,
        _lease: &crate::core::leases::OpenLease,
        _expire: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String> {
        Ok(())
    }
}
