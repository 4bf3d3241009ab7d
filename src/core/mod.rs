//! The core: shared server state and the one request pipeline
//! (sealed? → route → token → policy → engine) that every API call goes through.

pub mod alerts;
pub mod audit;
pub mod aws;
pub mod bootstrap;
pub mod cubbyhole;
pub mod engine;
pub mod feed;
pub mod generate_root;
pub mod leases;
pub mod metrics;
pub mod mounts;
pub mod outbound;
pub mod password_policy;
pub mod policy_store;
pub mod rate_limit;
pub mod rewrap;
pub mod seal;
pub mod search;
pub mod snapshot;
pub mod tokens;
pub mod wrapping;

use std::sync::Arc;

use arc_swap::ArcSwap;

use secrecy::ExposeSecret;

use crate::base::error::ApiError;
use crate::base::logical::Operation;
use crate::base::logical::{Request, Response};
use crate::base::policy::{Acl, Capability, Grant, Verdict};
use crate::base::schedule::SharedClock;
use crate::core::audit::entry::Caller;
use crate::core::audit::{Audit, Trail};
use crate::core::engine::{Call, Host};
use crate::core::mounts::{MountEntry, MountTable};
use crate::core::policy_store::PolicyStore;
use crate::core::seal::SealKind;
use crate::core::tokens::{TokenEntry, TokenStore};
use crate::crypto::barrier::Barrier;
use crate::crypto::Key;
use crate::store::{MountRow, SharedStore};
use seal::{Cluster, SealManager};

/// Server state shared by every request.
pub struct Core {
    /// Persistent storage (ciphertext for secrets).
    pub store: SharedStore,
    /// Envelope encryption; sealed when empty.
    pub barrier: Barrier,
    /// Token hashing and cache.
    pub tokens: TokenStore,
    /// ACL policies and their compiled caches.
    pub policies: PolicyStore,
    /// Mount table.
    pub mounts: ArcSwap<MountTable>,
    /// The engines of this build (built by the server).
    pub engines: crate::core::engine::Registry,
    /// Seal lifecycle.
    pub seal: SealManager,
    /// The generate-root attempt of this node (`sys/generate-root/*`, off unless configured).
    pub generate_root: crate::core::generate_root::GenerateRoot,
    /// Cluster identity (loaded at unseal).
    pub cluster: ArcSwap<Option<Cluster>>,
    /// Storage backend name for seal-status.
    pub storage_type: &'static str,
    /// Signalled after `sys/rotate` so the re-wrap worker runs.
    pub rotated: tokio::sync::Notify,
    /// Per-key write locks (KV writes to one key on this node are serialised).
    pub key_locks: crate::base::keylock::KeyLocks,
    /// Audit devices.
    pub audit: Audit,
    /// Changes other nodes must hear about.
    pub changes: crate::store::bus::Changes,
    /// This node's id (per process) in the cluster.
    pub node_id: String,
    /// This node's configured name (`ha.node_name`, the host name by default).
    pub node_name: String,
    /// The singleton lease while this node holds it (background singletons run only then).
    pub leader: arc_swap::ArcSwapOption<crate::store::Fence>,
    /// The address this node serves on (for `sys/leader` and `sys/ha-status`).
    pub api_address: arc_swap::ArcSwapOption<String>,
    /// The operator's allow-list for outbound calls that a non-operator can cause.
    pub outbound: crate::core::outbound::Outbound,
    /// This node's Argon2 computations (bounded queue).
    pub hashing: crate::crypto::password_hash::Hashing,
    /// Rate-limit quotas and this node's per-client counts.
    pub rate_limits: crate::core::rate_limit::RateLimits,
    /// How long one request may run before it is answered 503.
    pub request_deadline: crate::base::deadline::RequestDeadline,
    /// The one source of wall-clock time for this core (the system clock outside tests).
    pub clock: SharedClock,
    /// The KV rows cache in front of `store`, when there is one (emptied at seal).
    pub kv_cache: arc_swap::ArcSwapOption<crate::store::cache::KvCache>,
    /// Alert rules and this node's detectors, recent alerts and webhook queue.
    pub alerts: crate::core::alerts::Alerts,
    /// Settings of the AWS API (`[aws]`).
    pub aws: ArcSwap<crate::core::aws::Settings>,
    /// AWS access keys this node has read (emptied at seal and on any node's change).
    pub aws_keys: crate::core::aws::keys::KeyCache,
    /// This node's counters and histograms (`sys/metrics`).
    pub metrics: crate::core::metrics::Metrics,
    /// `[snapshot]`: the restore limit and scheduled snapshots.
    pub snapshots: ArcSwap<crate::core::snapshot::Settings>,
    /// Declarative bootstrap: settings, unseal count, last run.
    pub bootstrap: crate::core::bootstrap::Bootstrap,
    mount_lock: tokio::sync::Mutex<()>,
    /// A handle to this core, for work a request starts in the background.
    me: std::sync::Weak<Core>,
}

impl Core {
    /// A shared handle to this core (`None` only while it is being dropped).
    pub fn self_arc(&self) -> Option<Arc<Core>> {
        self.me.upgrade()
    }

    /// A sealed core over `store`, on the system clock.
    pub fn new(
        store: SharedStore,
        seal_kind: SealKind,
        audit: crate::core::audit::Settings,
        argon2_queue: usize,
        engines: crate::core::engine::Registry,
    ) -> Arc<Self> {
        Self::with_clock(store, seal_kind, audit, argon2_queue, engines, SharedClock::default())
    }

    /// A sealed core over `store` that reads the time from `clock` (tests pass a `ManualClock`).
    pub fn with_clock(
        store: SharedStore,
        seal_kind: SealKind,
        audit: crate::core::audit::Settings,
        argon2_queue: usize,
        engines: crate::core::engine::Registry,
        clock: SharedClock,
    ) -> Arc<Self> {
        let changes = crate::store::bus::Changes::default();
        let mut tokens = TokenStore::default();
        tokens.changes = changes.clone();
        tokens.clock = clock.clone();
        let mut policies = PolicyStore::default();
        policies.changes = changes.clone();
        policies.clock = clock.clone();
        let storage_type = store.storage_type();
        let kinds: Vec<&'static str> =
            engines.builtin.iter().map(|b| b.kind).chain(engines.types.iter().map(|t| t.kind)).collect();
        let metrics = crate::core::metrics::Metrics::new(kinds);
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            store,
            barrier: Barrier::default(),
            tokens,
            policies,
            changes,
            node_id: uuid::Uuid::new_v4().to_string(),
            node_name: audit.node_name.clone(),
            leader: arc_swap::ArcSwapOption::empty(),
            api_address: arc_swap::ArcSwapOption::empty(),
            outbound: Default::default(),
            hashing: crate::crypto::password_hash::Hashing::new(argon2_queue),
            rate_limits: Default::default(),
            request_deadline: Default::default(),
            mounts: ArcSwap::from_pointee(MountTable::default()),
            engines,
            seal: SealManager::new(seal_kind),
            generate_root: Default::default(),
            cluster: ArcSwap::from_pointee(None),
            storage_type,
            rotated: tokio::sync::Notify::new(),
            key_locks: Default::default(),
            alerts: crate::core::alerts::Alerts::new(&audit.node_name, clock.clone()),
            audit: Audit::new(audit, clock.clone()),
            clock,
            kv_cache: Default::default(),
            aws_keys: Default::default(),
            aws: Default::default(),
            metrics,
            snapshots: Default::default(),
            bootstrap: Default::default(),
            mount_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Runs one request through the pipeline, audited when audit devices are enabled, within the
    /// request deadline (503 with `Retry-After` past it).
    pub async fn handle(&self, req: Request) -> Result<Response, ApiError> {
        let limit = self.request_deadline.get();
        match tokio::time::timeout(limit, self.pipeline(req, None)).await {
            Ok(result) => result,
            Err(_) => Err(crate::base::deadline::exceeded(limit)),
        }
    }

    /// Runs one request through the same pipeline as an identity the core holds rather than a
    /// token it looks up (declarative bootstrap's, or the caller's for the reads of a bootstrap
    /// plan). Routing, the ACL decision, audit and the engine's checks are those of any request.
    pub async fn handle_as(&self, req: Request, who: Arc<TokenEntry>) -> Result<Response, ApiError> {
        let limit = self.request_deadline.get();
        match tokio::time::timeout(limit, self.pipeline(req, Some(who))).await {
            Ok(result) => result,
            Err(_) => Err(crate::base::deadline::exceeded(limit)),
        }
    }

    async fn pipeline(&self, mut req: Request, who: Option<Arc<TokenEntry>>) -> Result<Response, ApiError> {
        if let Some(resp) = self.engines.system.before_auth(self, &req).await {
            return resp;
        }
        if self.barrier.is_sealed() {
            return Err(ApiError::sealed());
        }
        let mut trail = Trail::new(&self.audit);
        let now = self.clock.now();
        let watch = self.alerts.watch(&req.path, req.operation, req.client_addr);
        let table = self.mounts.load_full();
        let routed = table.route(&req.path).map(|(m, rel)| (m, rel.to_string()));
        let mount = routed.as_ref().map(|(m, _)| m.clone());
        let mount = mount.as_deref();
        if let Some((mount, rel)) = &routed {
            if mount.engine.unauthenticated(rel) {
                trail.request(&req, Some(mount), &Caller::default(), None).await?;
                let anonymous = TokenEntry::anonymous(self.clock.now());
                let call = Call {
                    host: Host::new(self, mount).strong(req.strong),
                    mount,
                    path: rel,
                    token: &anonymous,
                    sudo: false,
                };
                let result = mount.engine.handle(call, req).await;
                return trail.response(Some(mount), result).await;
            }
        }
        // The token as sent is needed only for its HMAC in audit entries; no copy otherwise.
        let secret = if trail.is_on() { req.token.clone() } else { None };
        let secret = secret.as_ref().map(|s| s.expose_secret());
        let internal = who.is_some();
        let token = match who {
            Some(t) => Ok(t),
            None => match self.tokens.authenticate(&self.store, req.token.as_ref(), now).await {
                Ok(t) if t.allowed_from(req.client_addr.map(|a| a.ip())) => Ok(t),
                Ok(_) => Err(ApiError::permission_denied()),
                Err(e) => Err(e),
            },
        };
        self.metrics.token_checked(token.is_ok());
        let token = match token {
            Ok(t) => t,
            Err(e) => {
                self.alerts.seen(&self.audit, watch, None, mount, alerts::Outcome::of_error(&e));
                return trail.refuse(&req, mount, &Caller { secret, ..Caller::default() }, e).await;
            }
        };
        let decided = self.decide(&mut req, routed, &token).await;
        if matches!(&decided, Err(e) if e.status == http::StatusCode::FORBIDDEN) {
            self.metrics.denied();
        }
        let granting = match (&decided, trail.is_on()) {
            (Ok(_), true) => self.granting_policies(&token, &req).await,
            _ => Vec::new(),
        };
        let caller = Caller { token: Some(&token), secret, decision: Some((decided.is_ok(), &granting)) };
        let decided = match decided {
            Ok(d) => {
                if is_audit_management(&req) {
                    trail.exempt();
                }
                trail.request(&req, Some(&d.mount), &caller, None).await?;
                Ok(d)
            }
            Err(e) => {
                trail.request(&req, mount, &caller, Some(&e)).await?;
                Err(e)
            }
        };
        // The use is spent only once the request is on record (fail closed: nothing commits).
        // An internal identity's uses were spent by the request that started it, if any.
        let (token, used_up) = if token.row.num_uses > 0 && !internal {
            match self.tokens.spend_use(&self.store, &token).await {
                Ok((seen, last)) => (Arc::new(seen), last),
                Err(e) => return trail.response(mount, Err(e)).await,
            }
        } else {
            (token.clone(), false)
        };
        let result = match decided {
            Ok(d) => {
                let mount = d.mount.clone();
                let result = self.execute(d, req, &token).await;
                if self.barrier.is_sealed() {
                    // This request sealed the server: the devices closed after writing the seal event.
                    return result;
                }
                trail.response(Some(&mount), result).await
            }
            Err(e) => trail.response(mount, Err(e)).await,
        };
        self.alerts.seen(&self.audit, watch, Some(&*token), mount, alerts::Outcome::of(&result));
        if used_up {
            // The last use: the token dies with this request, whatever its outcome.
            self.tokens.revoke_tree(&self.store, &token.row.hash).await?;
        }
        result
    }

    /// A request the HTTP edge refused before reading its body (SEC-35). The token is checked
    /// again so that the refusal is audited like any other, but the request never runs, even if
    /// its token became good in between (say, the server was unsealed meanwhile).
    pub async fn refuse_unread(&self, req: Request) -> Result<Response, ApiError> {
        if self.barrier.is_sealed() {
            return Err(ApiError::sealed());
        }
        let mut trail = Trail::new(&self.audit);
        let table = self.mounts.load_full();
        let mount = table.route(&req.path).map(|(m, _)| m);
        let secret = if trail.is_on() { req.token.clone() } else { None };
        let secret = secret.as_ref().map(|s| s.expose_secret());
        let e = match self.tokens.authenticate(&self.store, req.token.as_ref(), self.clock.now()).await {
            Err(e) => e,
            Ok(_) => ApiError::permission_denied(),
        };
        let watch = self.alerts.watch(&req.path, req.operation, req.client_addr);
        self.alerts.seen(&self.audit, watch, None, mount.as_deref(), alerts::Outcome::of_error(&e));
        trail.refuse(&req, mount.as_deref(), &Caller { secret, ..Caller::default() }, e).await
    }

    /// Policy check (create or update decided by existence), wrapping bounds and sudo paths.
    async fn decide(
        &self,
        req: &mut Request,
        routed: Option<(Arc<MountEntry>, String)>,
        token: &TokenEntry,
    ) -> Result<Decided, ApiError> {
        let (mount, rel) = routed.ok_or_else(|| ApiError::no_route(&req.path))?;
        let acl = self.policies.acl_for(&self.store, token).await?;
        if req.operation.is_write() && !acl.is_root() {
            let caps = acl.capabilities(&req.path);
            let (create, update) = (caps.contains(Capability::Create), caps.contains(Capability::Update));
            if create != update {
                let call = Call {
                    host: Host::new(self, &mount).strong(req.strong),
                    mount: &mount,
                    path: &rel,
                    token,
                    sudo: false,
                };
                let exists = mount.engine.exists(call, req).await?;
                req.operation = if exists { Operation::Update } else { Operation::Create };
            }
        }
        if let Some(rest) =
            req.path.strip_prefix("sys/internal/ui/mounts/").filter(|_| req.operation == Operation::Read)
        {
            // As Vault: any capability under the mount is enough to learn what the mount is.
            let table = self.mounts.load_full();
            if let Some((target, _)) = table.route(rest) {
                if acl.has_access_under(&target.api_path) {
                    return Ok(Decided { mount, rel, sudo: false });
                }
            }
            let shown = format!("{}/", rest.trim_end_matches('/'));
            return Err(ApiError::new(
                http::StatusCode::FORBIDDEN,
                format!("preflight capability check returned 403, please ensure client's policies grant access to path \"{shown}\""),
            ));
        }
        if let Some(checks) = mount.engine.policy_checks(&mount.api_path, &rel, req) {
            // The engine names the paths its request acts on; each is decided as its own request.
            let mut sudo = !checks.is_empty();
            for (path, op) in &checks {
                sudo &= permit(&acl, path, *op, &serde_json::Map::new())?.sudo;
            }
            return Ok(Decided { mount, rel, sudo: sudo || acl.is_root() });
        }
        let grant = permit(&acl, &req.path, req.operation, &req.data)?;
        check_wrapping_bounds(&grant, req.wrap_ttl)?;
        Ok(Decided { mount, rel, sudo: grant.sudo })
    }

    /// Whether `token` may do `op` on `path`, decided as a request of its own would be. Engines
    /// that act on another engine's data or target for a caller check the caller this way.
    pub async fn token_permits(&self, token: &TokenEntry, path: &str, op: Operation) -> Result<Grant, ApiError> {
        let acl = self.policies.acl_for(&self.store, token).await?;
        let grant = permit(&acl, path, op, &serde_json::Map::new());
        if grant.is_err() {
            self.metrics.denied();
        }
        grant
    }

    /// Runs an authorised request in its engine and wraps the answer if asked.
    async fn execute(&self, d: Decided, req: Request, token: &TokenEntry) -> Result<Response, ApiError> {
        let call = Call {
            host: Host::new(self, &d.mount).strong(req.strong),
            mount: &d.mount,
            path: &d.rel,
            token,
            sudo: d.sudo,
        };
        let (wrap_ttl, path) = (req.wrap_ttl, req.path.clone());
        let resp = d.mount.engine.handle(call, req).await?;
        match wrap_ttl {
            Some(ttl) => crate::core::wrapping::wrap(self, &path, resp, ttl).await,
            None => Ok(resp),
        }
    }

    /// The token's policies that on their own allow the request (audit's `granting_policies`).
    pub(crate) async fn granting_policies(&self, token: &TokenEntry, req: &Request) -> Vec<String> {
        if token.is_root() {
            return vec!["root".into()];
        }
        let mut granting = Vec::new();
        for name in &token.policies {
            let one = std::slice::from_ref(name);
            if let Ok(acl) = self.policies.acl(&self.store, one, token.identity.as_ref(), &token.row.identity).await {
                if acl.authorize(&req.path, req.operation, &req.data).is_ok() {
                    granting.push(name.clone());
                }
            }
        }
        granting
    }

    /// Loads what an unsealed node needs: the token key, cluster identity, the mount table, and
    /// starts the audit devices.
    pub async fn post_unseal(&self) -> Result<(), ApiError> {
        self.post_unseal_state().await?;
        self.audit.load(&self.store, &self.barrier).await?;
        self.bootstrap.unsealed();
        Ok(())
    }

    /// [`Core::post_unseal`] but the audit devices: the token key, cluster identity, mount
    /// table, quotas and alert rules.
    pub async fn post_unseal_state(&self) -> Result<(), ApiError> {
        let ct = self
            .store
            .system_get_sealed(seal::TOKEN_HMAC_KEY)
            .await
            .map_err(|e| ApiError::internal(&e))?
            .ok_or_else(|| ApiError::internal(&"token key missing"))?;
        let raw = self
            .barrier
            .open(&ct, crate::crypto::barrier::Context::System { key: seal::TOKEN_HMAC_KEY })
            .map_err(|e| ApiError::internal(&e))?;
        self.tokens.load_key(Key::from_slice(&raw).ok_or_else(|| ApiError::internal(&"token key malformed"))?);
        let cluster = self
            .store
            .system_get(seal::CLUSTER)
            .await
            .map_err(|e| ApiError::internal(&e))?
            // Only seal-status shows it: a record that does not parse is logged under an error id
            // and the name and id are left out, rather than refusing to unseal.
            .and_then(|c| crate::base::stored::parse_bytes::<Cluster>("cluster identity", &c).ok());
        self.cluster.store(Arc::new(cluster));
        self.reload_mounts().await?;
        self.rate_limits.load(&self.store).await?;
        self.alerts.load(&self.store, &self.barrier).await
    }

    /// Applies a change another node made: drops or reloads the matching per-node state.
    pub async fn apply_remote(&self, topic: crate::store::bus::Topic) -> Result<(), ApiError> {
        use crate::store::bus::Topic;
        if topic == Topic::Seal {
            // Sealed nodes too: seal-status and the next unseal need the current share threshold.
            return self.seal.reload_config(self).await.map(drop);
        }
        if topic == Topic::Restore {
            // Sealed nodes too: the restored store may hold another seal configuration.
            return snapshot::reload(self).await;
        }
        if self.barrier.is_sealed() {
            return Ok(());
        }
        match topic {
            Topic::Tokens => self.tokens.invalidate_local(),
            Topic::Policies => self.policies.invalidate_local(),
            Topic::Mounts => self.reload_mounts().await?,
            Topic::Keyring => self.seal.reload_keyring(self).await?,
            Topic::Audit => self.audit.reload(&self.store, &self.barrier).await?,
            Topic::Quotas => self.rate_limits.load(&self.store).await?,
            Topic::AwsKeys => self.aws_keys.clear(),
            Topic::Alerts => self.alerts.load(&self.store, &self.barrier).await?,
            Topic::Seal | Topic::Restore => {}
        }
        Ok(())
    }

    /// Drops every key and cache.
    pub async fn seal_now(&self) {
        // The `sealed` alert goes on record before the devices close.
        self.alerts.sealed(&self.audit);
        // A rekey in progress ends with the seal (its new shares never replaced the old ones).
        self.seal.rekey.discard(self, "seal").await;
        self.audit.close_all(&self.store, "seal").await;
        self.barrier.clear();
        self.alerts.seal();
        if let Some(cache) = self.kv_cache.load().as_ref() {
            cache.clear();
        }
        self.tokens.clear();
        self.aws_keys.clear();
        self.mounts.store(Arc::new(MountTable::default()));
        self.rate_limits.clear();
        self.seal.reset().await;
        self.generate_root.clear().await;
        tracing::info!("sealed");
    }

    /// Rebuilds the in-memory mount table from storage plus the built-in mounts.
    pub async fn reload_mounts(&self) -> Result<(), ApiError> {
        let rows = self.store.mount_list().await.map_err(ApiError::from)?;
        let mut entries: Vec<Arc<MountEntry>> = self.engines.builtin.iter().map(builtin).collect();
        for row in rows {
            match self.engines.engine_for(&row) {
                Ok(Some(engine)) => entries.push(Arc::new(MountEntry { api_path: api_path(&row), row, engine })),
                Ok(None) => {
                    tracing::warn!(path = %row.path, kind = %row.kind, "mount of unknown type skipped")
                }
                // Logged (with an error id) by the parse; the mount keeps its path and answers 500.
                Err(_) => entries.push(Arc::new(MountEntry {
                    api_path: api_path(&row),
                    row,
                    engine: Arc::new(crate::core::mounts::Unreadable),
                })),
            }
        }
        self.mounts.store(Arc::new(MountTable::new(entries)));
        Ok(())
    }

    /// Adds a mount and reloads the table.
    pub async fn mount(&self, row: MountRow) -> Result<(), ApiError> {
        let _guard = self.mount_lock.lock().await;
        let table = self.mounts.load_full();
        let api = api_path(&row);
        if let Some(existing) =
            table.all().iter().find(|e| api.starts_with(&e.api_path) || e.api_path.starts_with(&api))
        {
            let at = existing
                .api_path
                .strip_prefix("auth/")
                .filter(|_| row.table_name == "auth")
                .unwrap_or(&existing.api_path);
            return Err(ApiError::bad_request(format!("path is already in use at {at}")));
        }
        self.store.mount_insert(&row).await.map_err(|e| match e {
            crate::store::StoreError::Conflict => {
                ApiError::bad_request(format!("path is already in use at {}", row.path))
            }
            other => other.into(),
        })?;
        self.changes.changed(crate::store::bus::Topic::Mounts);
        self.reload_mounts().await
    }

    /// Removes a mount (and its data) and reloads the table.
    pub async fn unmount(&self, id: &str) -> Result<(), ApiError> {
        let _guard = self.mount_lock.lock().await;
        self.store.mount_delete(id).await.map_err(ApiError::from)?;
        self.changes.changed(crate::store::bus::Topic::Mounts);
        self.reload_mounts().await
    }

    /// Updates a mount's tunables and reloads the table.
    pub async fn retune(&self, row: &MountRow) -> Result<(), ApiError> {
        let _guard = self.mount_lock.lock().await;
        self.store.mount_update(row).await.map_err(ApiError::from)?;
        self.changes.changed(crate::store::bus::Topic::Mounts);
        self.reload_mounts().await
    }
}

/// The policy decision for `op` on `path`: the ACL's grant (with its parameter constraints), and
/// `sudo` on the root-protected paths. The request pipeline and every engine acting on another
/// engine's path for a caller use this one function; it is [`judge`] without the reasons.
pub fn permit(
    acl: &Acl,
    path: &str,
    op: Operation,
    data: &serde_json::Map<String, serde_json::Value>,
) -> Result<Grant, ApiError> {
    judge(acl, path, op, data).result()
}

/// [`permit`]'s decision with its reasons: the ACL's verdict (the rule, how it was found, why it
/// refused), and whether the path is root-protected. `sys/policies/explain` shows this.
pub fn judge<'a>(
    acl: &'a Acl,
    path: &str,
    op: Operation,
    data: &serde_json::Map<String, serde_json::Value>,
) -> Judgement<'a> {
    Judgement { verdict: acl.judge(path, op, data), sudo_path: needs_sudo(path, op) }
}

/// One request judged by [`judge`].
#[derive(Debug, Clone)]
pub struct Judgement<'a> {
    /// The ACL's decision and how it was reached.
    pub verdict: Verdict<'a>,
    /// The path is root-protected: the operation also needs `sudo`.
    pub sudo_path: bool,
}

impl Judgement<'_> {
    /// True if the ACL grants the operation but the path needs `sudo`, which it does not grant.
    pub fn lacks_sudo(&self) -> bool {
        self.sudo_path && self.verdict.outcome.as_ref().is_ok_and(|g| !g.sudo)
    }

    /// The decision as the caller gets it: a 403 says only "permission denied", as Vault's does
    /// (the reasons are for `sys/policies/explain`, never for the refused request).
    pub fn result(&self) -> Result<Grant, ApiError> {
        match &self.verdict.outcome {
            Ok(_) if self.lacks_sudo() => Err(ApiError::permission_denied()),
            Ok(grant) => Ok(*grant),
            Err(_) => Err(ApiError::permission_denied()),
        }
    }
}

/// A policy's `min_wrapping_ttl`/`max_wrapping_ttl` bound the wrapping TTL a request may ask for.
fn check_wrapping_bounds(grant: &crate::base::policy::Grant, wrap_ttl: Option<u64>) -> Result<(), ApiError> {
    match (wrap_ttl, grant.min_wrapping_ttl, grant.max_wrapping_ttl) {
        (None, Some(_), _) | (None, _, Some(_)) => Err(ApiError::bad_request("the policy requires response wrapping")),
        (Some(t), Some(min), _) if t < min => {
            Err(ApiError::bad_request("wrapping TTL is lower than the policy's minimum"))
        }
        (Some(t), _, Some(max)) if t > max => {
            Err(ApiError::bad_request("wrapping TTL is higher than the policy's maximum"))
        }
        _ => Ok(()),
    }
}

/// An authorised request that lists or disables audit devices: it goes ahead even when no
/// device can record it, so that a broken device can always be removed.
fn is_audit_management(req: &Request) -> bool {
    let p = req.path.trim_end_matches('/');
    (p == "sys/audit" && req.operation == Operation::Read)
        || (p.starts_with("sys/audit/") && req.operation == Operation::Delete)
}

/// What the policy check decided for an allowed request.
struct Decided {
    mount: Arc<MountEntry>,
    rel: String,
    sudo: bool,
}

/// Root-protected paths: they need `sudo` on top of the capability for the operation. The
/// prefix endpoints are matched with and without their (possibly empty) prefix, so that an empty
/// one never slips past (it is refused later anyway).
fn needs_sudo(path: &str, op: Operation) -> bool {
    let p = path.trim_end_matches('/');
    let under = |root: &str| p == root || p.strip_prefix(root).is_some_and(|rest| rest.starts_with('/'));
    matches!(p, "sys/seal" | "sys/rotate" | "sys/rotate/keyring" | "auth/token/revoke-orphan")
        || (p == "auth/token/accessors" && op == Operation::List)
        || (under("sys/leases/lookup") && op == Operation::List)
        || under("sys/leases/revoke-prefix")
        || under("sys/leases/revoke-force")
        || (p.starts_with("sys/audit") && !p.starts_with("sys/audit-hash"))
        || (p == "sys/config/outbound" && op != Operation::Read)
        // Explaining another token's (or a policy list's) decisions; explaining one's own is
        // let through by the system engine's `policy_checks` before this is asked.
        || p == "sys/policies/explain"
        || p == "sys/storage/raft/snapshot"
        || p == "sys/storage/raft/snapshot-force"
        // Declarative bootstrap's status and plans show what the operator's file manages.
        || under("sys/bootstrap")
        || under("sys/alerts/rules")
        // As Vault (`auth/*` is a root path of the system backend): enabling, disabling, reading
        // and tuning an auth method all need sudo; `sys/mounts/<path>/tune` does not.
        || p.starts_with("sys/auth/")
        // Rekey, on Vault's paths and OpenBao's authenticated ones: every call (SEC-19).
        || under("sys/rekey")
        || under("sys/rotate/root")
}

/// The API prefix of a mount row.
pub fn api_path(row: &MountRow) -> String {
    if row.table_name == "auth" {
        format!("auth/{}", row.path)
    } else {
        row.path.clone()
    }
}

/// The mount entry of a built-in mount.
fn builtin(b: &crate::core::engine::Builtin) -> Arc<MountEntry> {
    let row = MountRow {
        id: format!("builtin-{}", b.kind),
        table_name: b.table.into(),
        path: b.path.into(),
        kind: b.kind.into(),
        description: b.description.into(),
        accessor: format!("{}_builtin", b.kind),
        config: "{}".into(),
        options: "{}".into(),
        local: false,
        seal_wrap: false,
        created_at: String::new(),
    };
    Arc::new(MountEntry { api_path: api_path(&row), row, engine: b.engine.clone() })
}
