//! Starting and stopping a server: build the core over a store, auto-unseal, serve HTTP, and the
//! dev-mode setup (init, unseal, `secret/` mount, chosen root token).

pub mod agent;
pub mod aws;
pub mod config;
pub mod http;
pub mod migrate;
pub mod process;
pub mod registry;
pub mod run;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::SecondsFormat;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::core::engine::Background;
use crate::core::seal::SealKind;
use crate::core::Core;
use crate::store::{MountRow, SharedStore};
use http::{Limits, Listener};

/// A server running in the background of the current runtime.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The core, for in-process inspection (tests, dev setup).
    pub core: Arc<Core>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, drains connections, and waits for the server task.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.wait().await;
    }

    /// Resolves when the server task ends (after a shutdown signal); audit devices are closed
    /// with a signed checkpoint.
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
        self.workers.iter().for_each(JoinHandle::abort);
        // Wait until they have stopped: a heartbeat or lease renewal still in flight would land
        // after the release and forget below and list this node again.
        for w in self.workers.drain(..) {
            let _ = w.await;
        }
        self.core.audit.close_all(&self.core.store, "shutdown").await;
        // Hand the singletons over at once instead of after the lease runs out.
        if self.core.leader.swap(None).is_some() {
            if let Err(e) = self.core.store.lease_release(&self.core.node_id).await {
                tracing::warn!(error = %e, "could not release the leader lease; it expires by itself");
            }
        }
        // No longer listed by sys/ha-status, nor seen as a live server by `operator migrate`.
        if let Err(e) = self.core.store.node_forget(&self.core.node_id).await {
            tracing::warn!(error = %e, "could not remove this node's heartbeat; it ages out by itself");
        }
    }

    /// A sender that triggers graceful shutdown.
    pub fn take_shutdown(&mut self) -> Option<oneshot::Sender<()>> {
        self.shutdown.take()
    }
}

/// Server settings beyond the store and the listener.
#[derive(Debug, Clone)]
pub struct Options {
    /// How the server is unsealed.
    pub seal: SealKind,
    /// HTTP limits.
    pub limits: Limits,
    /// Audit settings and config-declared devices.
    pub audit: crate::core::audit::Settings,
    /// How long the singleton lease lasts without renewal (renewed every third of it).
    pub lease_ttl: std::time::Duration,
    /// `[cache]`: the KV rows cache.
    pub cache: crate::store::cache::Settings,
    /// `[aws]`: the AWS Secrets Manager API.
    pub aws: crate::core::aws::Settings,
}

/// Default singleton lease: a node that stops renewing loses it after this long.
pub const DEFAULT_LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// Builds the core, unseals it if the seal is a key file, and serves on `listener` (default
/// audit settings).
pub async fn start(store: SharedStore, seal: SealKind, listener: Listener, limits: Limits) -> Result<Running, String> {
    start_with(
        store,
        listener,
        Options {
            seal,
            limits,
            audit: Default::default(),
            lease_ttl: DEFAULT_LEASE_TTL,
            cache: Default::default(),
            aws: Default::default(),
        },
    )
    .await
}

/// Builds the core with `options`, unseals it if the seal is a key file, and serves on `listener`.
pub async fn start_with(store: SharedStore, listener: Listener, options: Options) -> Result<Running, String> {
    let Options { seal, limits, audit, lease_ttl, cache, aws } = options;
    let addr = match &listener {
        Listener::Plain(l) | Listener::Tls(l, _) => l.local_addr().map_err(|e| e.to_string())?,
    };
    let timings = Arc::new(crate::store::timed::Timings::default());
    let store: SharedStore = Arc::new(crate::store::timed::Timed::new(store, timings.clone()));
    let (store, kv_cache) = crate::store::cache::wrap(store, &cache);
    match &kv_cache {
        Some(_) => tracing::info!(bytes = cache.size, multi_node = cache.multi_node, "KV rows cache on"),
        None => tracing::info!("KV rows cache off"),
    }
    let core = Core::new(store, seal, audit, limits.argon2_queue, registry::builtin());
    if let Some(c) = &kv_cache {
        c.announce_to(core.changes.clone());
    }
    core.kv_cache.store(kv_cache);
    core.metrics.time_store(timings);
    core.aws.store(Arc::new(aws));
    core.api_address.store(Some(Arc::new(format!("http://{addr}"))));
    if core.seal.auto_unseal(&core).await? {
        tracing::info!("unsealed from the key file");
    }
    let (tx, rx) = oneshot::channel::<()>();
    let app = http::router(core.clone(), limits);
    let task = tokio::spawn(http::serve(listener, app, limits, async move {
        let _ = rx.await;
    }));
    let mut workers = vec![
        tokio::spawn(crate::core::rewrap::rewrap_worker(core.clone())),
        tokio::spawn(token_tidy_worker(core.clone())),
        tokio::spawn(crate::core::leases::worker::run(core.clone())),
        tokio::spawn(crate::engines::database::static_roles::run(Background::new(core.clone(), "database"))),
        tokio::spawn(crate::engines::kv::rotation::worker::run(Background::new(core.clone(), "kv"))),
        tokio::spawn(leader_worker(core.clone(), lease_ttl)),
        tokio::spawn(aws_deletion_worker(core.clone())),
        tokio::spawn(crate::core::bootstrap::worker::run(core.clone())),
        tokio::spawn(crate::core::alerts::delivery::run(core.clone())),
        tokio::spawn(crate::core::snapshot::schedule::run(core.clone())),
    ];
    if let Some(bus) = core.store.bus() {
        workers.extend(crate::core::feed::spawn(core.clone(), bus, core.node_id.clone()));
    }
    Ok(Running { addr, core, shutdown: Some(tx), task, workers })
}

/// How often expired tokens are swept.
const TOKEN_TIDY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `work` every minute while this node is unsealed and holds the singleton lease.
async fn on_leader<F, Fut>(core: Arc<Core>, work: F)
where
    F: Fn(Arc<Core>, Arc<crate::store::Fence>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(TOKEN_TIDY_INTERVAL);
    loop {
        tick.tick().await;
        if core.barrier.is_sealed() {
            continue;
        }
        if let Some(fence) = core.leader.load_full() {
            work(core.clone(), fence).await;
        }
    }
}

/// Revokes expired tokens (and their descendants) every minute on the leader.
async fn token_tidy_worker(core: Arc<Core>) {
    on_leader(core, |core, fence| async move {
        match core.tokens.tidy(&core.store, core.clock.now(), Some(&fence)).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(tokens = n, "revoked expired tokens");
                core.audit.event("token_expiry", serde_json::json!({ "revoked": n }));
            }
            Err(e) => tracing::warn!(error = %e, "token tidy failed; retrying at the next interval"),
        }
    })
    .await
}

/// Destroys AWS secrets whose recovery window has passed and deletes expired AWS access keys,
/// every minute on the leader.
async fn aws_deletion_worker(core: Arc<Core>) {
    on_leader(core, |core, fence| async move {
        match crate::server::aws::ops::lifecycle::sweep(&core, &fence, core.clock.now().timestamp()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(secrets = n, "destroyed AWS secrets past their recovery window"),
            Err(e) => tracing::warn!(error = %e, "the AWS deletion sweep failed; retrying at the next interval"),
        }
        match crate::core::aws::keys::tidy(&core, core.clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(keys = n, "deleted expired AWS access keys"),
            Err(e) => {
                tracing::warn!(status = e.status.as_u16(), "the AWS key tidy failed; retrying at the next interval")
            }
        }
    })
    .await
}

/// Takes and renews the singleton lease every third of its TTL, and records this node's
/// heartbeat. Leadership is dropped as soon as a renewal fails or another node holds the lease.
async fn leader_worker(core: Arc<Core>, ttl: std::time::Duration) {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(3);
    // Every third of the lease, and at least every 20 s: a node counts as alive for
    // `NODE_ALIVE_MS` (60 s) after its last heartbeat, whatever `ha.lease_ttl` is.
    let mut tick = tokio::time::interval((ttl / 3).min(std::time::Duration::from_secs(20)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = core.clock.now().timestamp_millis();
        let beat = crate::store::NodeRow {
            id: core.node_id.clone(),
            name: core.node_name.clone(),
            address: core.api_address.load_full().map(|a| a.to_string()).unwrap_or_default(),
            last_seen: now,
        };
        if let Err(e) = core.store.node_seen(&beat).await {
            tracing::warn!(error = %e, "cannot record this node's heartbeat");
        }
        if core.barrier.is_sealed() {
            // A sealed node runs no singleton, so it neither takes nor renews the lease.
            core.leader.store(None);
            continue;
        }
        let held = match core.store.lease_acquire(&core.node_id, now, ttl_ms).await {
            Ok(epoch) => epoch.map(|epoch| crate::store::Fence { node: core.node_id.clone(), epoch }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the leader lease; background singletons stop");
                None
            }
        };
        let was = core.leader.load_full().map(|f| f.epoch);
        match (&held, was) {
            (Some(f), w) if w != Some(f.epoch) => tracing::info!(epoch = f.epoch, "this node is now the leader"),
            (None, Some(_)) => tracing::warn!("this node lost the leader lease"),
            _ => {}
        }
        core.leader.store(held.map(Arc::new));
    }
}

/// What dev mode prints once.
pub struct DevCredentials {
    /// The single unseal key.
    pub unseal_key: Zeroizing<Vec<u8>>,
    /// The root token.
    pub root_token: SecretString,
}

/// Initialises with one share, unseals, mounts KV v2 at `secret/`, and installs the chosen root
/// token (or keeps the generated one).
/// Dev mode's AWS flags: a root access key (both halves or neither) and the account id.
#[derive(Default)]
pub struct DevAws {
    /// `--dev-aws-access-key-id`.
    pub access_key_id: Option<String>,
    /// `--dev-aws-secret-access-key`.
    pub secret_access_key: Option<SecretString>,
    /// `--dev-aws-account-id`.
    pub account_id: Option<String>,
}

/// Stores dev mode's root AWS access key, when both halves were given.
pub async fn setup_dev_aws(core: &Core, aws: DevAws) -> Result<(), String> {
    let (id, secret) = match (aws.access_key_id, aws.secret_access_key) {
        (Some(id), Some(secret)) => (id, secret),
        (None, None) => return Ok(()),
        _ => return Err("give both --dev-aws-access-key-id and --dev-aws-secret-access-key, or neither".into()),
    };
    if !crate::core::aws::keys::well_formed_id(&id) {
        return Err("--dev-aws-access-key-id: an access key id is 16 to 128 characters of A-Z, a-z, 0-9 and '_'".into());
    }
    if secret.expose_secret().len() < 16 {
        return Err("--dev-aws-secret-access-key: use at least 16 characters".into());
    }
    let key = crate::core::aws::keys::AccessKey {
        id,
        secret,
        policies: vec!["root".into()],
        created: core.clock.now().timestamp(),
        expires: None,
    };
    crate::core::aws::keys::store(core, &key).await.map_err(|e| e.errors.join("; "))
}

pub async fn setup_dev(core: &Core, root_token_id: Option<SecretString>) -> Result<DevCredentials, String> {
    let out = core.seal.init(core, 1, 1).await.map_err(|e| e.to_string())?;
    let share = out.shares.into_iter().next().ok_or("init returned no share")?;
    core.seal.submit_share(core, &hex::encode(&share[..])).await.map_err(|e| e.to_string())?;
    let root_token = match root_token_id {
        Some(id) if !id.expose_secret().is_empty() => {
            core.tokens.create_root(&core.store, &id, core.clock.now()).await.map_err(|e| e.to_string())?;
            if let Some(hash) = core.tokens.hash(out.root_token.expose_secret()) {
                core.store.token_delete(&hash).await.map_err(|e| e.to_string())?;
            }
            id
        }
        _ => out.root_token,
    };
    core.mount(MountRow {
        id: uuid::Uuid::new_v4().to_string(),
        table_name: "mounts".into(),
        path: "secret/".into(),
        kind: "kv".into(),
        description: "key/value secret storage".into(),
        accessor: format!("kv_{}", hex::encode(crate::crypto::random_bytes::<4>())),
        config: "{}".into(),
        options: r#"{"version":"2"}"#.into(),
        local: false,
        seal_wrap: false,
        created_at: core.clock.now().to_rfc3339_opts(SecondsFormat::Nanos, true),
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(DevCredentials { unseal_key: share, root_token })
}
