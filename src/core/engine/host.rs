//! What an engine may use while it serves one mount: that mount's storage, the barrier, the
//! server's shared services, and another mount only through the ACL check an HTTP request to
//! that mount's path would pass. Engines never hold the core itself.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::Value;
use zeroize::Zeroizing;

use super::storage::MountStorage;
use crate::base::error::ApiError;
use crate::base::keylock::KeyLocks;
use crate::base::logical::Operation;
use crate::base::refusal::Refusal;
use crate::base::schedule::SharedClock;
use crate::core::engine::DatabaseRoles;
use crate::core::mounts::MountEntry;
use crate::core::outbound::Permit;
use crate::core::password_policy::PasswordPolicy;
use crate::core::tokens::{NewToken, TokenEntry};
use crate::core::Core;
use crate::crypto::barrier::Barrier;
use crate::crypto::password_hash::Hashing;
use crate::store::Fence;

/// Mount types whose engines are the core's own faces and get the whole core (`sys/`,
/// `auth/token/`); neither can be mounted by a user. (`cubbyhole/` lives in the core itself.)
const CORE_FACES: [&str; 2] = ["system", "token"];

/// One engine's view of the server while it serves `mount`.
#[derive(Clone, Copy)]
pub struct Host<'a> {
    core: &'a Core,
    mount: &'a MountEntry,
    strong: bool,
}

/// Who an action on another mount is done for; its policies decide as a request's would.
pub enum Actor<'a> {
    /// The token of the request being served.
    Token(&'a TokenEntry),
    /// Policies (and identity, as stored JSON or empty) recorded when a caller set something up,
    /// checked as they read now.
    Recorded {
        /// Policy names.
        policies: &'a [String],
        /// The identity's stored JSON, empty when none.
        identity: &'a str,
    },
    /// The operator's declarative configuration (trusted as the config file is).
    Bootstrap,
}

/// Another mount, reached after its path passed the ACL check for an [`Actor`].
pub struct Peer<'a> {
    core: &'a Core,
    mount: Arc<MountEntry>,
}

impl Peer<'_> {
    /// The mount the path routed to.
    pub fn mount(&self) -> &MountEntry {
        &self.mount
    }

    /// Its engine's database roles, if it manages database connections.
    pub fn database_roles(&self) -> Option<&dyn DatabaseRoles> {
        self.mount.engine.database_roles()
    }

    /// The view its own engine gets.
    pub fn host(&self) -> Host<'_> {
        Host { core: self.core, mount: &self.mount, strong: false }
    }
}

impl<'a> Host<'a> {
    /// The view of `mount`, built by the core, and by the AWS API's edge (`crate::aws`), which
    /// checks every path it touches with [`crate::core::Core::token_permits`] before acting.
    pub(crate) fn new(core: &'a Core, mount: &'a MountEntry) -> Self {
        Self { core, mount, strong: false }
    }

    /// The same view, reading past the KV cache when `strong` (`X-Coffer-Consistency: strong`).
    pub(in crate::core) fn strong(self, strong: bool) -> Self {
        Self { strong, ..self }
    }

    /// The core behind this view, for the core's own code (leases, wrapping).
    pub(in crate::core) fn inner(&self) -> &'a Core {
        self.core
    }

    /// The whole core, for the core's own faces only (`sys/`, `auth/token/`); any
    /// other engine gets a 500. The architecture test also keeps the call out of other engines.
    pub fn whole_core(&self) -> Result<&'a Core, ApiError> {
        if CORE_FACES.contains(&self.mount.row.kind.as_str()) {
            Ok(self.core)
        } else {
            Err(ApiError::internal(&format!("a {} engine asked for the whole core", self.mount.row.kind)))
        }
    }

    /// The mount being served.
    pub fn mount(&self) -> &'a MountEntry {
        self.mount
    }

    /// Now, on the server's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.core.clock.now()
    }

    /// The server's clock.
    pub fn clock(&self) -> &'a SharedClock {
        &self.core.clock
    }

    /// This mount's rows.
    pub fn storage(&self) -> MountStorage<'a> {
        MountStorage::new(&self.core.store, self.mount, self.strong)
    }

    /// Sealing and opening values (each under a context naming where it is stored).
    pub fn barrier(&self) -> &'a Barrier {
        &self.core.barrier
    }

    /// Per-key locks of this node.
    pub fn locks(&self) -> &'a KeyLocks {
        &self.core.key_locks
    }

    /// This node's Argon2 computations.
    pub fn hashing(&self) -> &'a Hashing {
        &self.core.hashing
    }

    /// An event on every audit device.
    pub fn audit_event(&self, kind: &str, body: Value) {
        self.core.metrics.event(kind);
        self.core.audit.event(kind, body);
    }

    /// A rotation of `path` on this mount ended `outcome` (`failed` or `abandoned`): the
    /// `rotation_failed` alert rules fire.
    pub fn rotation_ended(&self, path: &str, outcome: &str) {
        self.core.alerts.rotation_ended(&self.core.audit, &self.mount.api_path, path, outcome);
    }

    /// HMAC-SHA256 under the barrier-held token key (`None` while sealed); callers put a domain
    /// prefix in `msg`.
    pub fn keyed_hash(&self, msg: &[u8]) -> Option<[u8; 32]> {
        self.core.tokens.hash_bytes(msg)
    }

    /// Issues a token (an auth method's login).
    pub async fn issue_token(&self, new: NewToken, now: DateTime<Utc>) -> Result<(SecretString, TokenEntry), ApiError> {
        self.core.tokens.create(&self.core.store, new, now).await
    }

    /// A named password policy (`None` when there is none).
    pub async fn password_policy(&self, name: &str) -> Result<Option<PasswordPolicy>, ApiError> {
        crate::core::password_policy::load(self.core, name).await
    }

    /// A password from the named policy (the default one when `name` is empty).
    pub async fn generate_password(&self, name: &str) -> Result<Zeroizing<String>, ApiError> {
        crate::core::password_policy::generate_named(self.core, name).await
    }

    /// The operator's allow-list decision for an outbound URL.
    pub async fn outbound_permit(&self, url: &str) -> Result<Result<Permit, Refusal>, ApiError> {
        self.core.outbound.permit(&self.core.store, url).await
    }

    /// The singleton lease while this node holds it (background work runs only then).
    pub fn fence(&self) -> Option<Arc<Fence>> {
        self.core.leader.load_full()
    }

    /// A handle for work this request leaves running, on mounts of this mount's type.
    pub fn background(&self) -> Option<Background> {
        let core = self.core.self_arc()?;
        Some(Background { core, kind: kind_of(self.mount) })
    }

    /// Whether `actor` may do `op` on `path`, decided as a request of its own would be.
    pub async fn permits(&self, actor: &Actor<'_>, path: &str, op: Operation) -> Result<(), ApiError> {
        let core = self.core;
        let acl = match actor {
            Actor::Bootstrap => return Ok(()),
            Actor::Token(token) => core.policies.acl_for(&core.store, token).await?,
            Actor::Recorded { policies, identity } => {
                let parsed = match *identity {
                    "" => None,
                    text => Some(crate::base::stored::parse("recorded identity", text)?),
                };
                core.policies.acl(&core.store, policies, parsed.as_ref(), identity).await?
            }
        };
        crate::core::permit(&acl, path, op, &serde_json::Map::new()).map(drop)
    }

    /// The mount `path` routes to, once `actor` may do `op` on `path`: the only way an engine
    /// reaches another mount. 403 when the ACL refuses, 404 when nothing is mounted there.
    pub async fn peer(&self, actor: &Actor<'_>, path: &str, op: Operation) -> Result<Peer<'a>, ApiError> {
        self.permits(actor, path, op).await?;
        let (mount, _) = self.core.mounts.load().route(path).ok_or_else(|| ApiError::no_route(path))?;
        Ok(Peer { core: self.core, mount })
    }
}

/// The type a mount's background work is scoped to (`kv`, `database`, …).
fn kind_of(mount: &MountEntry) -> String {
    mount.row.kind.clone()
}

/// An engine type's background work (rotation, static-role rotation): the mounts of that type
/// and, for each, the same [`Host`] a request gets. Built by the server for each worker.
pub struct Background {
    core: Arc<Core>,
    kind: String,
}

impl Background {
    /// Background work on the mounts of type `kind`.
    pub fn new(core: Arc<Core>, kind: &str) -> Self {
        Self { core, kind: kind.to_string() }
    }

    /// Whether the server is sealed (no work then).
    pub fn is_sealed(&self) -> bool {
        self.core.barrier.is_sealed()
    }

    /// The singleton lease while this node holds it.
    pub fn fence(&self) -> Option<Arc<Fence>> {
        self.core.leader.load_full()
    }

    /// The server's clock.
    pub fn clock(&self) -> &SharedClock {
        &self.core.clock
    }

    /// An event on every audit device.
    pub fn audit_event(&self, kind: &str, body: Value) {
        self.core.metrics.event(kind);
        self.core.audit.event(kind, body);
    }

    /// The mounts of this type.
    pub fn mounts(&self) -> Vec<Arc<MountEntry>> {
        self.core.mounts.load().all().iter().filter(|m| m.row.kind == self.kind).cloned().collect()
    }

    /// The mount of this type with id `id`, if it is still mounted.
    pub fn mount_by_id(&self, id: &str) -> Option<Arc<MountEntry>> {
        self.core.mounts.load().all().iter().find(|m| m.row.id == id && m.row.kind == self.kind).cloned()
    }

    /// The view a request to `mount` gets (a mount of another type gets none).
    pub fn host<'a>(&'a self, mount: &'a MountEntry) -> Option<Host<'a>> {
        (mount.row.kind == self.kind).then_some(Host { core: &self.core, mount, strong: false })
    }

    /// Deletes the rotation row of a mount that is gone (its rows normally go with its metadata);
    /// a mounted mount's rows are left alone.
    pub async fn forget_rotation(
        &self,
        mount_id: &str,
        path: &str,
        rev: i64,
        fence: &Fence,
    ) -> crate::store::StoreResult<()> {
        if self.core.mounts.load().all().iter().any(|m| m.row.id == mount_id) {
            return Ok(());
        }
        self.core.store.rotation_delete(mount_id, path, rev, Some(fence)).await
    }

    /// Claims due rotation rows (the KV type's queue; see
    /// [`crate::store::rotation::RotationStore::rotation_claim_due`]).
    pub async fn claim_due_rotations(
        &self,
        now: i64,
        claim_until: i64,
        limit: i64,
        fence: &Fence,
    ) -> crate::store::StoreResult<Vec<crate::store::rotation::RotationRow>> {
        if self.kind != "kv" {
            return Ok(Vec::new());
        }
        self.core.store.rotation_claim_due(now, claim_until, limit, fence).await
    }
}
