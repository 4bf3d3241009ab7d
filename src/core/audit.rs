//! Audit: devices that record every request and response in Vault's JSON-lines format, fail
//! closed, and chain their lines so that edits, deletions and truncation can be detected offline.
//!
//! The broker here holds the running devices. Devices load at unseal (those declared in the
//! config file, then those enabled through `sys/audit`) and close at seal and shutdown with a
//! signed checkpoint. A request goes ahead only when at least one device has written its request
//! entry ([`Trail`]).

pub mod chain;
pub mod device;
pub mod entry;
pub mod hash;
pub mod sink;
pub mod trail;
pub mod verify;
pub mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use serde_json::{Map, Value};

use crate::base::error::ApiError;
use crate::base::schedule::SharedClock;
use crate::crypto::barrier::Barrier;
use crate::store::SharedStore;
use chain::Head;
use device::{Device, Keys, Spec, KEYS_FORM, KIND_DEVICE, KIND_HEAD, KIND_KEYS};

pub use trail::Trail;

/// Where `sys/audit` may point file devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileDir {
    /// Anywhere the server can write (dev mode and tests).
    Anywhere,
    /// Only inside this directory (`audit.file_dir`).
    Inside(PathBuf),
    /// Nowhere: file devices come from the config file only (stdout is still allowed).
    ConfigOnly,
}

/// Audit settings from the config file.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Longest a request waits for its entry to be written.
    pub timeout: Duration,
    /// Checkpoint cadence.
    pub cadence: writer::Cadence,
    /// Where API-enabled file devices may write.
    pub file_dir: FileDir,
    /// Devices declared in the config file.
    pub declared: Vec<Spec>,
    /// This node's name (`ha.node_name`, the host name by default): the chain head of a device
    /// is saved per node, since each node writes its own file or stream.
    pub node_name: String,
    /// Largest entry in bytes (`audit.max_entry_size`): larger request or response data is
    /// replaced by its HMAC and size (SEC-35).
    pub max_entry_size: usize,
}

/// Default `audit.max_entry_size`: 64 KiB.
pub const DEFAULT_MAX_ENTRY_SIZE: usize = 64 << 10;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: Duration::from_secs(2),
            cadence: writer::Cadence { entries: 1000, interval: Duration::from_secs(10) },
            file_dir: FileDir::Anywhere,
            declared: Vec::new(),
            node_name: crate::base::host::host_name(),
            max_entry_size: DEFAULT_MAX_ENTRY_SIZE,
        }
    }
}

impl Settings {
    /// Checks the config-declared devices before the server starts: one message per device
    /// that cannot write, naming its path and the reason (D97).
    pub fn check_declared(&self) -> Result<(), Vec<String>> {
        let errors: Vec<String> = self.declared.iter().filter_map(|d| d.check_at_start().err()).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The running devices.
pub struct Audit {
    settings: Settings,
    /// The core's clock (entry times).
    pub(crate) clock: SharedClock,
    devices: ArcSwap<Vec<Arc<Device>>>,
    lock: tokio::sync::Mutex<()>,
    /// Entries no device took or confirmed in time (a refused request, or a lost system event).
    failures: crate::base::metrics::Counter,
}

/// How long closing a device may take before it is abandoned.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

impl Audit {
    /// No devices running yet.
    pub fn new(settings: Settings, clock: SharedClock) -> Self {
        Audit {
            settings,
            clock,
            devices: ArcSwap::from_pointee(Vec::new()),
            lock: tokio::sync::Mutex::new(()),
            failures: Default::default(),
        }
    }

    /// The devices now running (a snapshot).
    pub fn active(&self) -> Arc<Vec<Arc<Device>>> {
        self.devices.load_full()
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.settings.timeout
    }

    /// Starts every device (config-declared first) after unseal, then records the unseal.
    pub async fn load(&self, store: &SharedStore, barrier: &Barrier) -> Result<(), ApiError> {
        let _guard = self.lock.lock().await;
        let mut specs = self.settings.declared.clone();
        let internal = ApiError::from;
        for name in store.entry_list(KIND_DEVICE, "").await.map_err(internal)? {
            if specs.iter().any(|s| s.name == name) {
                tracing::warn!(device = %name, "an API-enabled audit device is shadowed by the config file");
                continue;
            }
            match store.entry_get(KIND_DEVICE, &name).await.map_err(internal)? {
                Some(text) => specs.push(Spec::from_stored(&name, &text)?),
                None => continue,
            }
        }
        let mut devices = Vec::new();
        for spec in specs {
            devices.push(Arc::new(self.start(store, barrier, spec, false).await?));
        }
        self.devices.store(Arc::new(devices));
        self.event("unseal", Value::Null);
        Ok(())
    }

    /// Keys (loaded or created), resume point and writer thread for one device.
    async fn start(&self, store: &SharedStore, barrier: &Barrier, spec: Spec, fresh: bool) -> Result<Device, ApiError> {
        let internal = ApiError::from;
        let keys = match store.entry_get_sealed(KIND_KEYS, &spec.name, KEYS_FORM).await.map_err(internal)? {
            Some(blob) if !fresh => Keys::open(barrier, &spec.name, &blob)?,
            _ => {
                let keys = Keys::generate();
                let blob = keys.seal(barrier, &spec.name)?;
                store.entry_put_sealed(KIND_KEYS, &spec.name, &blob, KEYS_FORM).await.map_err(internal)?;
                keys
            }
        };
        let key = head_key(&self.settings.node_name, &spec.name);
        let stored: Option<Head> = if fresh {
            None
        } else {
            // Before heads were kept per node, they were saved under the device name alone.
            let text = match store.entry_get(KIND_HEAD, &key).await.map_err(internal)? {
                Some(t) => Some(t),
                None => store.entry_get(KIND_HEAD, &spec.name).await.map_err(internal)?,
            };
            text.map(|t| crate::base::stored::parse("audit chain head", &t)).transpose()?
        };
        let target = spec.target.clone();
        let head = tokio::task::spawn_blocking(move || device::resume_head(&target, stored))
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let persist = head_persister(store.clone(), key);
        Ok(Device::start(spec, keys, head, self.settings.cadence, persist, self.clock.clone()))
    }

    /// Enables a device through the API: validated, test-written, then stored.
    pub async fn enable(
        &self,
        store: &SharedStore,
        barrier: &Barrier,
        name: &str,
        kind: &str,
        description: &str,
        options: Map<String, Value>,
    ) -> Result<(), ApiError> {
        let _guard = self.lock.lock().await;
        if self.active().iter().any(|d| d.spec.name == name) {
            return Err(ApiError::bad_request("path already in use"));
        }
        let to_stdout = options.get("file_path").and_then(Value::as_str) == Some("stdout");
        let dir = match &self.settings.file_dir {
            FileDir::ConfigOnly if kind == "file" && !to_stdout => {
                return Err(ApiError::bad_request(
                    "file audit devices can be enabled through the API only inside audit.file_dir; \
                     set it in the config file, or declare the device there",
                ))
            }
            FileDir::Inside(d) => Some(d.as_path()),
            _ => None,
        };
        let spec = Spec::parse(name, kind, description, options, false, dir)?;
        let stored = spec.to_stored();
        let device = self.start(store, barrier, spec, true).await?;
        let test = entry::line(
            "request",
            &self.clock.now(),
            br#"{"token_type":"default"}"#,
            serde_json::json!({"id": uuid::Uuid::new_v4().to_string(), "operation": "update",
                "namespace": {"id": "root"}, "path": format!("sys/audit/{name}")})
            .to_string()
            .as_bytes(),
            None,
            None,
        );
        let device = Arc::new(device);
        if !self.record(std::slice::from_ref(&device), vec![test]).await {
            device.close(CLOSE_TIMEOUT).await;
            let _ = store.entry_delete(KIND_KEYS, name).await;
            let why = device.problem().unwrap_or_else(|| "the device did not answer in time".into());
            return Err(ApiError::bad_request(format!("audit backend failed test message: {why}")));
        }
        let internal = ApiError::from;
        store.entry_put(KIND_DEVICE, name, &stored).await.map_err(internal)?;
        let mut devices = self.active().as_ref().clone();
        devices.push(device);
        self.devices.store(Arc::new(devices));
        tracing::info!(device = %name, "audit device enabled");
        Ok(())
    }

    /// Disables an API-enabled device (works even when that device is broken).
    pub async fn disable(&self, store: &SharedStore, name: &str) -> Result<(), ApiError> {
        let _guard = self.lock.lock().await;
        let current = self.active();
        let Some(device) = current.iter().find(|d| d.spec.name == name).cloned() else {
            return Ok(());
        };
        if device.spec.declared {
            return Err(ApiError::bad_request(format!(
                "audit device {name:?} is declared in the config file and cannot be disabled through the API"
            )));
        }
        let rest: Vec<Arc<Device>> = current.iter().filter(|d| d.spec.name != name).cloned().collect();
        self.devices.store(Arc::new(rest));
        device.close(CLOSE_TIMEOUT).await;
        for kind in [KIND_DEVICE, KIND_KEYS, KIND_HEAD] {
            store.entry_delete(kind, name).await.map_err(ApiError::from)?;
        }
        for key in store.entry_list(KIND_HEAD, "").await.map_err(ApiError::from)? {
            if key.split_once('/').is_some_and(|(_, device)| device == name) {
                store.entry_delete(KIND_HEAD, &key).await.map_err(ApiError::from)?;
            }
        }
        tracing::info!(device = %name, "audit device disabled");
        Ok(())
    }

    /// Brings the running API-enabled devices in line with storage (another node enabled or
    /// disabled one). Config-declared devices stay as they are.
    pub async fn reload(&self, store: &SharedStore, barrier: &Barrier) -> Result<(), ApiError> {
        let _guard = self.lock.lock().await;
        let stored = store.entry_list(KIND_DEVICE, "").await.map_err(ApiError::from)?;
        let current = self.active();
        let keep = |d: &Arc<Device>| d.spec.declared || stored.contains(&d.spec.name);
        let mut next: Vec<Arc<Device>> = current.iter().filter(|d| keep(d)).cloned().collect();
        for gone in current.iter().filter(|d| !keep(d)) {
            gone.close(CLOSE_TIMEOUT).await;
        }
        let missing: Vec<&String> = stored.iter().filter(|n| !next.iter().any(|d| &d.spec.name == *n)).collect();
        for name in missing {
            if let Some(text) = store.entry_get(KIND_DEVICE, name).await.map_err(ApiError::from)? {
                let spec = Spec::from_stored(name, &text)?;
                next.push(Arc::new(self.start(store, barrier, spec, false).await?));
            }
        }
        self.devices.store(Arc::new(next));
        Ok(())
    }

    /// Records why (`seal`, `shutdown`), closes every device with a final checkpoint, and saves
    /// their heads.
    pub async fn close_all(&self, store: &SharedStore, why: &str) {
        let _guard = self.lock.lock().await;
        self.event(why, Value::Null);
        let devices = self.devices.swap(Arc::new(Vec::new()));
        for d in devices.iter() {
            if let Some(head) = d.close(CLOSE_TIMEOUT).await {
                save_head(store, &head_key(&self.settings.node_name, &d.spec.name), head).await;
            }
        }
    }

    /// Asks every device to reopen its file (SIGHUP, for logrotate).
    pub fn reopen_all(&self) {
        for d in self.active().iter() {
            d.reopen();
        }
        tracing::info!("audit files reopened");
    }

    /// Writes entry bodies (one per device, in order); true once any device confirms, false if
    /// none does within the timeout.
    /// Writes entry bodies (one per device, in order); true once any device confirms, false if
    /// none does within the timeout.
    pub async fn record(&self, devices: &[Arc<Device>], bodies: Vec<Vec<u8>>) -> bool {
        let ok = self.record_once(devices, bodies).await;
        if !ok {
            self.failures.inc();
        }
        ok
    }

    async fn record_once(&self, devices: &[Arc<Device>], bodies: Vec<Vec<u8>>) -> bool {
        let deadline = tokio::time::Instant::now() + self.settings.timeout;
        if let [device] = devices {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let Some(body) = bodies.into_iter().next() else {
                return false;
            };
            if !device.submit(body, Some(writer::Ack::One(tx))) {
                return false;
            }
            return matches!(tokio::time::timeout_at(deadline, rx).await, Ok(Ok(true)));
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel(devices.len().max(1));
        let sent = devices
            .iter()
            .zip(bodies)
            .map(|(d, body)| d.submit(body, Some(writer::Ack::Many(tx.clone()))))
            .filter(|sent| *sent)
            .count();
        drop(tx);
        if sent == 0 {
            return false;
        }
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(true)) => return true,
                Ok(Some(false)) => continue,
                Ok(None) | Err(_) => return false,
            }
        }
    }

    /// Records a system event (seal, unseal, key rotation, revocations) on every device. Best
    /// effort: there is no request to refuse.
    pub fn event(&self, kind: &str, data: Value) {
        let devices = self.active();
        if devices.is_empty() {
            return;
        }
        let body = entry::event(&self.clock.now(), kind, data);
        for d in devices.iter() {
            if !d.submit(body.clone(), None) {
                self.failures.inc();
                tracing::error!(device = %d.spec.name, event = kind, "audit device could not take a system event");
            }
        }
    }

    /// Entries no device took or confirmed in time, since start.
    pub fn failures(&self) -> u64 {
        self.failures.get()
    }

    /// Entries waiting in the devices' queues now.
    pub fn queue_depth(&self) -> usize {
        self.active().iter().map(|d| d.queued()).sum()
    }

    /// Records an alert (`core::alerts`) on every device as a `"type":"alert"` line, chained and
    /// signed like the rest. Best effort, as events: the alert happened whether or not it is on
    /// record. Each device writes the identity's accessor as it writes accessors in requests.
    pub fn alert(&self, alert: &Value) {
        let devices = self.active();
        if devices.is_empty() {
            return;
        }
        let time = self.clock.now();
        for d in devices.iter() {
            if !d.submit(entry::alert(&time, alert, &d.hasher), None) {
                tracing::error!(device = %d.spec.name, "audit device could not take an alert");
            }
        }
    }

    /// The `sys/audit` listing.
    pub fn list(&self) -> Value {
        let map: Map<String, Value> =
            self.active().iter().map(|d| (format!("{}/", d.spec.name), d.describe())).collect();
        Value::Object(map)
    }

    /// A running device by name.
    pub fn device(&self, name: &str) -> Option<Arc<Device>> {
        self.active().iter().find(|d| d.spec.name == name).cloned()
    }
}

/// Where a node keeps a device's chain head: `<node>/<device>` (node names hold no `/`).
fn head_key(node: &str, device: &str) -> String {
    format!("{node}/{device}")
}

/// Saves a device's head after each checkpoint, off the writer's path. Saves are serialised per
/// device and an older head never overwrites a newer one.
fn head_persister(store: SharedStore, name: String) -> Box<dyn Fn(Head) + Send> {
    let handle = tokio::runtime::Handle::current();
    let saved = Arc::new(tokio::sync::Mutex::new(0u64));
    Box::new(move |head| {
        let (store, name, saved) = (store.clone(), name.clone(), saved.clone());
        handle.spawn(async move {
            let mut last = saved.lock().await;
            if head.seq > *last {
                save_head(&store, &name, head).await;
                *last = head.seq;
            }
        });
    })
}

async fn save_head(store: &SharedStore, key: &str, head: Head) {
    let text = serde_json::to_string(&head).unwrap_or_default();
    if let Err(e) = store.entry_put(KIND_HEAD, key, &text).await {
        tracing::warn!(device = %key, error = %e, "could not save the audit chain head");
    }
}
