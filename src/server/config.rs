//! Server configuration: TOML file, then `COFFER_*` environment variables (with `_FILE`
//! variants), then command-line flags; validated into [`Config`] with every problem listed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub mod env;

use crate::base::redact::redact_url;
use crate::core::seal::SealKind;

/// The file as written: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[listener]`.
    #[serde(default)]
    pub listener: RawListener,
    /// `[storage]`.
    #[serde(default)]
    pub storage: RawStorage,
    /// `[seal]`.
    #[serde(default)]
    pub seal: RawSeal,
    /// `[log]`.
    #[serde(default)]
    pub log: RawLog,
    /// `[audit]` settings.
    #[serde(default)]
    pub audit: RawAudit,
    /// `[[audit_device]]` tables: devices that cannot be disabled through the API.
    #[serde(default)]
    pub audit_device: Vec<RawAuditDevice>,
    /// `[ha]` settings (several nodes on one PostgreSQL database).
    #[serde(default)]
    pub ha: RawHa,
    /// `[outbound]`: the operator's allow-list for outbound calls.
    #[serde(default)]
    pub outbound: RawOutbound,
    /// `[auth]` settings (logins).
    #[serde(default)]
    pub auth: RawAuth,
    /// `[cache]`: the KV rows cache.
    #[serde(default)]
    pub cache: RawCache,
    /// `[aws]`: the AWS Secrets Manager API.
    #[serde(default)]
    pub aws: RawAws,
    /// `[telemetry]`: who may scrape `sys/metrics`.
    #[serde(default)]
    pub telemetry: RawTelemetry,
    /// `[[alert]]` tables: alert rules that cannot be changed through the API.
    #[serde(default)]
    pub alert: Vec<RawAlert>,
    /// `[snapshot]`: restore limit and scheduled snapshots.
    #[serde(default)]
    pub snapshot: RawSnapshot,
    /// `[bootstrap]`: the declarative bootstrap file.
    #[serde(default)]
    pub bootstrap: RawBootstrap,
    /// Do not try to lock memory.
    pub disable_mlock: Option<bool>,
}

/// `[bootstrap]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBootstrap {
    /// The bootstrap file (mounts, auth methods, policies, roles, audit devices, rotations).
    pub file: Option<PathBuf>,
    /// `sys/init` issues no root token.
    pub revoke_root: Option<bool>,
}

/// `[aws]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAws {
    /// The account id in ARNs (12 digits).
    pub account_id: Option<String>,
    /// The KV v2 mount the API works on (default `secret`).
    pub mount: Option<String>,
}

impl RawAws {
    /// The settings, or what is wrong with them.
    pub fn settings(&self) -> Result<crate::core::aws::Settings, String> {
        let mut s = crate::core::aws::Settings::default();
        if let Some(id) = &self.account_id {
            crate::core::aws::check_account_id(id).map_err(|e| format!("aws.account_id: {e}"))?;
            s.account_id = id.clone();
        }
        if let Some(m) = &self.mount {
            let m = m.trim_end_matches('/');
            if m.is_empty() || m.contains("//") || m.starts_with('/') {
                return Err(format!("aws.mount: {m:?} is not a mount path"));
            }
            s.mount = m.to_string();
        }
        Ok(s)
    }
}

/// `[telemetry]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    /// Serve `sys/metrics` without a token (default false: it needs `read` on `sys/metrics`).
    pub unauthenticated_metrics_access: Option<bool>,
}

/// `[snapshot]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSnapshot {
    /// Largest snapshot a restore accepts, compressed and uncompressed (bytes; default 256 MiB).
    pub max_size: Option<u64>,
    /// Take a snapshot this often on the leader (`"6h"`); unset: no scheduled snapshots.
    pub interval: Option<String>,
    /// Where scheduled snapshots are written (required with `interval`).
    pub directory: Option<PathBuf>,
    /// How many scheduled snapshots are kept (default 7); older ones are deleted.
    pub retain: Option<usize>,
}

impl RawSnapshot {
    /// The validated settings, or what is wrong with them.
    pub fn settings(&self) -> Result<crate::core::snapshot::Settings, String> {
        let max_size = self.max_size.unwrap_or(crate::core::snapshot::DEFAULT_MAX_SIZE);
        if max_size == 0 {
            return Err("snapshot.max_size must be greater than 0".into());
        }
        let schedule = match (&self.interval, &self.directory) {
            (None, None) => None,
            (Some(_), None) => return Err("snapshot.directory is required with snapshot.interval".into()),
            (None, Some(_)) => return Err("snapshot.interval is required with snapshot.directory".into()),
            (Some(i), Some(d)) => {
                let secs = crate::base::duration::parse_str(i).ok().filter(|s| *s >= 1).ok_or_else(|| {
                    format!("snapshot.interval: {i:?} is not a duration of at least 1s (e.g. \"6h\")")
                })?;
                let retain = self.retain.unwrap_or(crate::core::snapshot::schedule::DEFAULT_RETAIN);
                if retain == 0 {
                    return Err("snapshot.retain must be at least 1".into());
                }
                if !d.is_absolute() {
                    return Err(format!("snapshot.directory: {} must be an absolute path", d.display()));
                }
                Some(crate::core::snapshot::schedule::Schedule {
                    interval: std::time::Duration::from_secs(secs),
                    directory: d.clone(),
                    retain,
                })
            }
        };
        if schedule.is_none() && self.retain.is_some() {
            return Err("snapshot.retain applies to scheduled snapshots: set snapshot.interval and directory".into());
        }
        Ok(crate::core::snapshot::Settings { max_size, schedule })
    }
}

/// `[[alert]]` as written (the fields of `sys/alerts/rules/<name>`, and its name).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlert {
    /// The rule's name (lower case, a name's normal form).
    pub name: String,
    /// `denied_burst`, `read_burst`, `root_token_use`, `new_source`, `sealed`, `rotation_failed`.
    pub kind: String,
    /// Events allowed in a window (burst kinds).
    pub threshold: Option<u64>,
    /// The window (`"1m"`; burst kinds).
    pub window: Option<String>,
    /// Alerts sent per minute at most (default 10).
    pub max_per_minute: Option<u64>,
    /// Where alerts are POSTed (an `[outbound] allowed_urls` entry must admit it).
    pub webhook: Option<String>,
    /// The webhook's signing key (at least 16 bytes; `Debug` hides it).
    pub hmac_key: Option<SecretString>,
}

/// `[cache]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    /// Bytes of KV rows kept in memory (default 64 MiB; 0 turns the cache off).
    pub size: Option<usize>,
    /// Keep the cache on a PostgreSQL store that several nodes share (entries are dropped as
    /// other nodes' changes arrive over the change feed).
    pub multi_node: Option<bool>,
}

/// `[outbound]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutbound {
    /// URL prefixes that webhooks and other user-set outbound calls may reach.
    #[serde(default)]
    pub allowed_urls: Vec<String>,
}

/// `[audit]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    /// How long a request waits for its audit entry (`"2s"`).
    pub timeout: Option<String>,
    /// A signed checkpoint after this many entries.
    pub checkpoint_entries: Option<u64>,
    /// Or after this long (`"10s"`).
    pub checkpoint_interval: Option<String>,
    /// The directory API-enabled file devices may write in; unset: config-declared only.
    pub file_dir: Option<PathBuf>,
    /// Largest audit entry in bytes; larger request or response data is replaced by its HMAC
    /// and size.
    pub max_entry_size: Option<usize>,
}

/// `[auth]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// Most Argon2 computations running or waiting at once on this node.
    pub argon2_queue: Option<usize>,
}

/// `[ha]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHa {
    /// How long the singleton lease lasts without renewal (`"10s"`).
    pub lease_ttl: Option<String>,
    /// This node's name (default: the host name).
    pub node_name: Option<String>,
}

/// `[[audit_device]]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuditDevice {
    /// Device name (its path under `sys/audit/`).
    pub name: String,
    /// `file` or `socket`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Type options as in `sys/audit/<name>` (`file_path`, `address`, `socket_type`, …).
    #[serde(default)]
    pub options: BTreeMap<String, toml::Value>,
}

/// `[listener]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    /// `host:port` to bind.
    pub address: Option<String>,
    /// PEM certificate chain.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key; must not be group/world readable.
    pub tls_key_file: Option<PathBuf>,
    /// Serve plain HTTP.
    pub tls_disable: Option<bool>,
    /// Body limit in bytes.
    pub max_request_size: Option<usize>,
    /// Deepest JSON nesting accepted.
    pub max_json_depth: Option<usize>,
    /// Longest wait for a request's headers (`"10s"`).
    pub http_read_header_timeout: Option<String>,
    /// Close connections idle this long (`"5m"`).
    pub http_idle_timeout: Option<String>,
    /// Longest wait for a request body once the headers are in (`"30s"`).
    pub http_read_timeout: Option<String>,
    /// Longest a request may run before it is answered 503 (`"30s"`; Vault's name).
    pub max_request_duration: Option<String>,
    /// Most connections open at once.
    pub max_connections: Option<usize>,
}

/// `[storage]` as written.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    /// `sqlite:///path` or `postgres://…`.
    pub url: Option<SecretString>,
    /// PostgreSQL: most connections in the pool.
    pub max_connections: Option<u32>,
    /// PostgreSQL: wait for a connection before answering 503 (`"5s"`).
    pub acquire_timeout: Option<String>,
    /// PostgreSQL: close connections idle this long (`"10m"`).
    pub idle_timeout: Option<String>,
}

impl std::fmt::Debug for RawStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawStorage")
            .field("url", &self.url.as_ref().map(|u| redact_url(u.expose_secret())))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

/// `[seal]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSeal {
    /// `shamir` or `keyfile`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Key file for `keyfile`.
    pub key_file: Option<PathBuf>,
    /// Serve `sys/generate-root/*` (off unless true).
    pub generate_root: Option<bool>,
}

/// `[log]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `trace` … `error`, or an `EnvFilter` directive.
    pub level: Option<String>,
    /// `text` or `json`.
    pub format: Option<String>,
}

/// TLS material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain PEM.
    pub cert: PathBuf,
    /// Private key PEM.
    pub key: PathBuf,
}

/// Validated configuration.
pub struct Config {
    /// Bind address.
    pub address: SocketAddr,
    /// `None` means plain HTTP (`tls_disable = true`).
    pub tls: Option<TlsFiles>,
    /// Body limit.
    pub max_request_size: usize,
    /// JSON depth limit.
    pub max_json_depth: usize,
    /// Storage URL (may hold a password).
    pub storage_url: SecretString,
    /// PostgreSQL pool settings.
    pub storage_pool: crate::store::Pool,
    /// Seal.
    pub seal: SealKind,
    /// `[seal] generate_root`: serve the generate-root endpoints.
    pub generate_root: bool,
    /// Log filter.
    pub log_level: String,
    /// JSON logs.
    pub log_json: bool,
    /// Skip `mlockall`.
    pub disable_mlock: bool,
    /// Audit settings and declared devices.
    pub audit: crate::core::audit::Settings,
    /// Singleton lease TTL.
    pub lease_ttl: std::time::Duration,
    /// `[outbound] allowed_urls`, parsed.
    pub outbound: Vec<crate::core::outbound::AllowedUrl>,
    /// Edge limits: header and idle timeouts, connection cap, Argon2 queue (the body and JSON
    /// limits are the two fields above).
    pub edge: EdgeLimits,
    /// `[cache]`.
    pub cache: crate::store::cache::Settings,
    /// `[aws]`.
    pub aws: crate::core::aws::Settings,
    /// `[telemetry] unauthenticated_metrics_access`.
    pub unauthenticated_metrics_access: bool,
    /// `[[alert]]` rules.
    pub alerts: Vec<crate::core::alerts::rules::Rule>,
    /// `[snapshot]`.
    pub snapshot: crate::core::snapshot::Settings,
    /// `[bootstrap]`.
    pub bootstrap: crate::core::bootstrap::Settings,
}

/// `[listener]` timeouts and connection cap, and `[auth] argon2_queue`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeLimits {
    /// `listener.http_read_header_timeout`.
    pub header_read_timeout: std::time::Duration,
    /// `listener.http_idle_timeout`.
    pub idle_timeout: std::time::Duration,
    /// `listener.http_read_timeout`.
    pub body_read_timeout: std::time::Duration,
    /// `listener.max_connections`.
    pub max_connections: usize,
    /// `auth.argon2_queue`.
    pub argon2_queue: usize,
    /// `listener.max_request_duration`: the per-request deadline.
    pub request_duration: std::time::Duration,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        let d = crate::server::http::Limits::default();
        EdgeLimits {
            header_read_timeout: d.header_read_timeout,
            idle_timeout: d.idle_timeout,
            body_read_timeout: d.body_read_timeout,
            max_connections: d.max_connections,
            argon2_queue: d.argon2_queue,
            request_duration: crate::base::deadline::DEFAULT_REQUEST_DEADLINE,
        }
    }
}

impl Config {
    /// The HTTP edge's limits.
    pub fn limits(&self) -> crate::server::http::Limits {
        crate::server::http::Limits {
            max_request_size: self.max_request_size,
            max_json_depth: self.max_json_depth,
            header_read_timeout: self.edge.header_read_timeout,
            idle_timeout: self.edge.idle_timeout,
            body_read_timeout: self.edge.body_read_timeout,
            max_connections: self.edge.max_connections,
            argon2_queue: self.edge.argon2_queue,
        }
    }
}

/// Validates the edge limits of `[listener]` and `[auth]`, adding problems to `errors`.
fn edge_limits(listener: &RawListener, auth: &RawAuth, errors: &mut Vec<String>) -> EdgeLimits {
    let mut e = EdgeLimits::default();
    for (key, text, into) in [
        ("http_read_header_timeout", &listener.http_read_header_timeout, &mut e.header_read_timeout),
        ("http_idle_timeout", &listener.http_idle_timeout, &mut e.idle_timeout),
        ("http_read_timeout", &listener.http_read_timeout, &mut e.body_read_timeout),
        ("max_request_duration", &listener.max_request_duration, &mut e.request_duration),
    ] {
        if let Some(text) = text {
            match crate::base::duration::parse_str(text) {
                Ok(secs) if secs > 0 => *into = std::time::Duration::from_secs(secs),
                _ => errors.push(format!("listener.{key}: {text:?} is not a positive duration (e.g. \"10s\")")),
            }
        }
    }
    for (key, value, into) in [
        ("listener.max_connections", listener.max_connections, &mut e.max_connections),
        ("auth.argon2_queue", auth.argon2_queue, &mut e.argon2_queue),
    ] {
        match value {
            Some(0) => errors.push(format!("{key} must be at least 1")),
            Some(n) => *into = n,
            None => {}
        }
    }
    e
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("address", &self.address)
            .field("tls", &self.tls)
            .field("max_request_size", &self.max_request_size)
            .field("storage_url", &redact_url(self.storage_url.expose_secret()))
            .field("storage_pool", &self.storage_pool)
            .field("seal", &self.seal)
            .finish_non_exhaustive()
    }
}

/// Default body limit: 1 MiB (SEC-35; OpenBao's 32 MiB let one unauthenticated body cost 600 MB).
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 1 << 20;
/// Default JSON depth limit.
pub const DEFAULT_MAX_JSON_DEPTH: usize = 64;

/// Overrides given on the command line.
#[derive(Default, Clone)]
pub struct Overrides {
    /// `--listen-address`.
    pub address: Option<String>,
    /// `--storage-url`.
    pub storage_url: Option<String>,
    /// `--log-level`.
    pub log_level: Option<String>,
}

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field("address", &self.address)
            .field("storage_url", &self.storage_url.as_deref().map(redact_url))
            .field("log_level", &self.log_level)
            .finish()
    }
}

impl RawConfig {
    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| format!("invalid config file: {e}"))
    }

    /// The file's text (`""` without a file) with the `COFFER_*` variables of `env` on top (a
    /// variable replaces the file's value of its key, lists and `[[audit_device]]` included).
    /// Returns warnings naming unknown `COFFER_*` variables, or every problem found.
    pub fn from_sources(file: &str, env: &BTreeMap<String, String>) -> Result<(Self, Vec<String>), Vec<String>> {
        Self::from_toml(file).map_err(|e| vec![e])?;
        let mut merged: toml::Table = file.parse().map_err(|e| vec![format!("invalid config file: {e}")])?;
        let (values, warnings) = env::values(env)?;
        let mut errors = Vec::new();
        for (key, value) in values {
            // Alone first, so that a value of the wrong shape is blamed on its variable.
            let mut alone = toml::Table::new();
            place(&mut alone, key, value.clone());
            // serde's message quotes the value it refused (a URL with a password, say): name the
            // variable and the expected form only.
            if toml::Value::Table(alone).try_into::<RawConfig>().is_err() {
                let place =
                    if key.section.is_empty() { key.key.to_string() } else { format!("{}.{}", key.section, key.key) };
                errors.push(format!(
                    "COFFER_{}: not a valid value for {place} (expected {})",
                    key.var,
                    key.kind.expected()
                ));
                continue;
            }
            place(&mut merged, key, value);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let raw = toml::Value::Table(merged)
            .try_into::<RawConfig>()
            .map_err(|e| vec![format!("invalid configuration: {e}")])?;
        Ok((raw, warnings))
    }

    /// Applies command-line overrides (they win over file and environment).
    pub fn apply_overrides(&mut self, o: &Overrides) {
        if let Some(a) = &o.address {
            self.listener.address = Some(a.clone());
        }
        if let Some(u) = &o.storage_url {
            self.storage.url = Some(SecretString::from(u.clone()));
        }
        if let Some(l) = &o.log_level {
            self.log.level = Some(l.clone());
        }
    }

    /// Checks everything and lists all problems at once.
    pub fn validate(self) -> Result<Config, Vec<String>> {
        let mut errors = Vec::new();
        let edge = edge_limits(&self.listener, &self.auth, &mut errors);
        let address_text = self.listener.address.unwrap_or_else(|| "127.0.0.1:8200".to_string());
        let address = address_text.parse::<SocketAddr>().map_err(|_| {
            errors.push(format!("listener.address: {address_text:?} is not host:port (e.g. 127.0.0.1:8200)"));
        });
        let tls_disable = self.listener.tls_disable.unwrap_or(false);
        let tls = match (tls_disable, self.listener.tls_cert_file, self.listener.tls_key_file) {
            (true, _, _) => None,
            (false, Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (false, _, _) => {
                errors.push("listener: tls_cert_file and tls_key_file are required unless tls_disable = true".into());
                None
            }
        };
        let storage_pool = pool_settings(&self.storage, &mut errors);
        let storage_url = match self.storage.url {
            Some(u) if !u.expose_secret().is_empty() => Some(u),
            _ => {
                errors.push("storage.url is required (e.g. sqlite:///var/lib/coffer/coffer.db)".into());
                None
            }
        };
        let generate_root = self.seal.generate_root.unwrap_or(false);
        let seal = match (self.seal.kind.as_deref().unwrap_or("shamir"), self.seal.key_file) {
            ("shamir", _) => Some(SealKind::Shamir),
            ("keyfile", Some(f)) => Some(SealKind::KeyFile(f)),
            ("keyfile", None) => {
                errors.push("seal.key_file is required when seal.type = \"keyfile\"".into());
                None
            }
            (other, _) => {
                errors.push(format!("seal.type: {other:?} is not one of \"shamir\", \"keyfile\""));
                None
            }
        };
        let log_json = match self.log.format.as_deref().unwrap_or("text") {
            "text" => false,
            "json" => true,
            other => {
                errors.push(format!("log.format: {other:?} is not one of \"text\", \"json\""));
                false
            }
        };
        let max_request_size = self.listener.max_request_size.unwrap_or(DEFAULT_MAX_REQUEST_SIZE);
        if max_request_size == 0 {
            errors.push("listener.max_request_size must be greater than 0".into());
        }
        let mut audit = audit_settings(self.audit, self.audit_device, &mut errors);
        match self.ha.node_name {
            Some(n) if n.is_empty() || n.contains('/') || n.len() > 255 => {
                errors.push("ha.node_name must be 1 to 255 characters without '/'".into())
            }
            Some(n) => audit.node_name = n,
            None => {}
        }
        let lease_ttl = match self.ha.lease_ttl.as_deref().map(crate::base::duration::parse_str) {
            None => crate::server::DEFAULT_LEASE_TTL,
            Some(Ok(secs)) if secs >= 3 => std::time::Duration::from_secs(secs),
            Some(_) => {
                errors.push("ha.lease_ttl must be a duration of at least 3s (e.g. \"10s\")".into());
                crate::server::DEFAULT_LEASE_TTL
            }
        };
        let mut outbound = Vec::new();
        for u in &self.outbound.allowed_urls {
            match crate::core::outbound::AllowedUrl::parse(u) {
                Ok(e) => outbound.push(e),
                Err(e) => errors.push(format!("outbound.allowed_urls: {e}")),
            }
        }
        let aws = self.aws.settings().unwrap_or_else(|e| {
            errors.push(e);
            Default::default()
        });
        let alerts = alert_rules(&self.alert, &outbound, &mut errors);
        let snapshot = self.snapshot.settings().unwrap_or_else(|e| {
            errors.push(e);
            Default::default()
        });
        let bootstrap = crate::core::bootstrap::Settings {
            file: self.bootstrap.file,
            revoke_root: self.bootstrap.revoke_root.unwrap_or(false),
        };
        match (address, storage_url, seal) {
            (Ok(address), Some(storage_url), Some(seal)) if errors.is_empty() => Ok(Config {
                bootstrap,
                aws,
                snapshot,
                unauthenticated_metrics_access: self.telemetry.unauthenticated_metrics_access.unwrap_or(false),
                alerts,
                cache: self.cache.settings(),
                outbound,
                audit,
                lease_ttl,
                edge,
                address,
                tls,
                max_request_size,
                max_json_depth: self.listener.max_json_depth.unwrap_or(DEFAULT_MAX_JSON_DEPTH),
                storage_url,
                storage_pool,
                seal,
                generate_root,
                log_level: self.log.level.unwrap_or_else(|| "info".to_string()),
                log_json,
                disable_mlock: self.disable_mlock.unwrap_or(false),
            }),
            _ => Err(errors),
        }
    }
}

/// Validates `[[alert]]`, adding problems to `errors`. A rule's webhook must be admitted by an
/// `[outbound] allowed_urls` entry of the same file (its addresses are checked at each send).
fn alert_rules(
    raw: &[RawAlert],
    outbound: &[crate::core::outbound::AllowedUrl],
    errors: &mut Vec<String>,
) -> Vec<crate::core::alerts::rules::Rule> {
    use crate::core::alerts::rules::{self, Source, Spec};
    let mut out: Vec<rules::Rule> = Vec::new();
    for a in raw {
        let place = format!("alert {:?}", a.name);
        if let Err(e) = rules::check_name(&a.name) {
            errors.push(format!("{place}: {}", e.errors.join("; ")));
            continue;
        }
        if out.iter().any(|r| r.name == a.name) {
            errors.push(format!("{place} is declared twice"));
            continue;
        }
        let window = match a.window.as_deref().map(crate::base::duration::parse_str) {
            None => None,
            Some(Ok(secs)) => Some(secs),
            Some(Err(_)) => {
                errors.push(format!("{place}: window is not a duration (e.g. \"1m\")"));
                continue;
            }
        };
        let spec = Spec {
            kind: Some(&a.kind),
            threshold: a.threshold,
            window,
            max_per_minute: a.max_per_minute,
            webhook: a.webhook.as_deref(),
            hmac_key: a.hmac_key.as_ref().map(|k| k.expose_secret()),
        };
        let rule = match rules::build(&a.name, &spec, None, Source::Config) {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("{place}: {e}"));
                continue;
            }
        };
        if let Some(hook) = &rule.webhook {
            let admitted = reqwest::Url::parse(&hook.url).is_ok_and(|u| outbound.iter().any(|e| e.admits(&u)));
            if !admitted {
                errors.push(format!("{place}: the webhook matches no [outbound] allowed_urls entry of this file"));
                continue;
            }
        }
        out.push(rule);
    }
    out
}

/// Validates the pool settings of `[storage]`, adding problems to `errors`.
fn pool_settings(raw: &RawStorage, errors: &mut Vec<String>) -> crate::store::Pool {
    let mut pool = crate::store::Pool::default();
    match raw.max_connections {
        Some(0) => errors.push("storage.max_connections must be at least 1".into()),
        Some(n) => pool.max_connections = n,
        None => {}
    }
    for (key, text, into) in [
        ("acquire_timeout", &raw.acquire_timeout, &mut pool.acquire_timeout),
        ("idle_timeout", &raw.idle_timeout, &mut pool.idle_timeout),
    ] {
        if let Some(text) = text {
            match crate::base::duration::parse_str(text) {
                Ok(secs) if secs > 0 => *into = std::time::Duration::from_secs(secs),
                _ => errors.push(format!("storage.{key}: {text:?} is not a positive duration (e.g. \"5s\")")),
            }
        }
    }
    pool
}

/// Validates `[audit]` and `[[audit_device]]`, adding problems to `errors`.
fn audit_settings(
    raw: RawAudit,
    devices: Vec<RawAuditDevice>,
    errors: &mut Vec<String>,
) -> crate::core::audit::Settings {
    let mut s =
        crate::core::audit::Settings { file_dir: crate::core::audit::FileDir::ConfigOnly, ..Default::default() };
    let mut duration = |key: &str, v: Option<String>, into: &mut std::time::Duration| {
        if let Some(text) = v {
            match crate::base::duration::parse_str(&text) {
                Ok(secs) if secs > 0 => *into = std::time::Duration::from_secs(secs),
                _ => errors.push(format!("audit.{key}: {text:?} is not a positive duration (e.g. \"2s\")")),
            }
        }
    };
    duration("timeout", raw.timeout, &mut s.timeout);
    duration("checkpoint_interval", raw.checkpoint_interval, &mut s.cadence.interval);
    if let Some(n) = raw.checkpoint_entries {
        if n == 0 {
            errors.push("audit.checkpoint_entries must be at least 1".into());
        }
        s.cadence.entries = n.max(1);
    }
    match raw.max_entry_size {
        Some(n) if n < 4096 => errors.push("audit.max_entry_size must be at least 4096".into()),
        Some(n) => s.max_entry_size = n,
        None => {}
    }
    if let Some(dir) = raw.file_dir {
        if dir.is_absolute() {
            s.file_dir = crate::core::audit::FileDir::Inside(dir);
        } else {
            errors.push("audit.file_dir must be an absolute path".into());
        }
    }
    for d in devices {
        let options = d
            .options
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    toml::Value::String(s) => serde_json::Value::String(s),
                    toml::Value::Boolean(b) => serde_json::Value::Bool(b),
                    other => serde_json::Value::String(other.to_string()),
                };
                (k, v)
            })
            .collect();
        if s.declared.iter().any(|x| x.name == d.name) {
            errors.push(format!("audit_device {:?} is declared twice", d.name));
            continue;
        }
        match crate::core::audit::device::Spec::parse(&d.name, &d.kind, &d.description, options, true, None) {
            Ok(spec) => s.declared.push(spec),
            Err(e) => errors.push(format!("audit_device {:?}: {}", d.name, e.errors.join("; "))),
        }
    }
    s
}

/// Sets `key` to `value` in `table`, in its section (replacing a section of the wrong type, which
/// the file check has already refused).
fn place(table: &mut toml::Table, key: env::EnvKey, value: toml::Value) {
    if key.section.is_empty() {
        table.insert(key.key.to_string(), value);
        return;
    }
    let section = table.entry(key.section).or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !section.is_table() {
        *section = toml::Value::Table(toml::Table::new());
    }
    if let toml::Value::Table(t) = section {
        t.insert(key.key.to_string(), value);
    }
}

impl RawCache {
    /// The validated settings (defaults for what is unset).
    pub fn settings(&self) -> crate::store::cache::Settings {
        crate::store::cache::Settings {
            size: self.size.unwrap_or(crate::store::cache::DEFAULT_SIZE),
            multi_node: self.multi_node.unwrap_or(false),
        }
    }
}

/// `[cache]` from the process environment alone (`COFFER_CACHE_SIZE`, `COFFER_CACHE_MULTI_NODE`):
/// what `server --dev`, which reads no config file, honours.
pub fn cache_from_env() -> Result<crate::store::cache::Settings, Vec<String>> {
    let env: BTreeMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("COFFER_CACHE_")).collect();
    let (raw, _) = RawConfig::from_sources("", &env)?;
    Ok(raw.cache.settings())
}

/// Loads a config file, then the process environment, then `overrides`.
pub fn load(path: Option<&std::path::Path>, overrides: &Overrides) -> Result<(Config, Vec<String>), Vec<String>> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p).map_err(|e| vec![format!("cannot read {}: {e}", p.display())])?,
        None => String::new(),
    };
    let env: BTreeMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("COFFER_")).collect();
    let (mut raw, warnings) = RawConfig::from_sources(&text, &env)?;
    raw.apply_overrides(overrides);
    Ok((raw.validate()?, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../config/coffer.example.toml");

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn example_config_parses_and_validates() {
        let raw = RawConfig::from_toml(EXAMPLE).unwrap();
        let c = raw.validate().unwrap();
        assert_eq!(c.address.to_string(), "127.0.0.1:8200");
        assert!(c.tls.is_some());
        assert_eq!(c.seal, SealKind::Shamir);
        assert_eq!(c.max_request_size, DEFAULT_MAX_REQUEST_SIZE);
        assert_eq!(c.edge, EdgeLimits::default());
        assert_eq!(c.audit.max_entry_size, crate::core::audit::DEFAULT_MAX_ENTRY_SIZE);
        assert_eq!(c.outbound.iter().map(ToString::to_string).collect::<Vec<_>>(), ["https://rotator.internal/hooks/"]);
    }

    #[test]
    fn generate_root_is_off_unless_the_file_or_the_environment_turns_it_on() {
        assert!(!RawConfig::from_toml(EXAMPLE).unwrap().validate().unwrap().generate_root);
        let on = EXAMPLE.replace("# generate_root = true", "generate_root = true");
        assert!(RawConfig::from_toml(&on).unwrap().validate().unwrap().generate_root);
        let (raw, _) = RawConfig::from_sources(EXAMPLE, &env(&[("COFFER_SEAL_GENERATE_ROOT", "true")])).unwrap();
        assert!(raw.validate().unwrap().generate_root);
    }

    #[test]
    fn outbound_entries_are_checked_at_start() {
        let bad = EXAMPLE
            .replace("allowed_urls = [\"https://rotator.internal/hooks/\"]", "allowed_urls = [\"https://User@x/\"]");
        let errors = RawConfig::from_toml(&bad).unwrap().validate().unwrap_err();
        assert!(errors.iter().any(|e| e.starts_with("outbound.allowed_urls:")), "{errors:?}");
    }

    #[test]
    fn edge_limits_come_from_file_and_env_and_bad_ones_are_named() {
        let (raw, _) = RawConfig::from_sources(
            "[listener]\ntls_disable = true\nhttp_read_header_timeout = \"3s\"\nmax_connections = 10\n\
             [storage]\nurl = \"sqlite:///x\"\n[auth]\nargon2_queue = 5\n[audit]\nmax_entry_size = 8192",
            &env(&[
                ("COFFER_LISTENER_HTTP_IDLE_TIMEOUT", "1m"),
                ("COFFER_LISTENER_HTTP_READ_TIMEOUT", "4s"),
                ("COFFER_LISTENER_MAX_REQUEST_DURATION", "45s"),
                ("COFFER_AUTH_ARGON2_QUEUE", "7"),
            ]),
        )
        .unwrap();
        let c = raw.validate().unwrap();
        let l = c.limits();
        assert_eq!(l.header_read_timeout, std::time::Duration::from_secs(3));
        assert_eq!(l.idle_timeout, std::time::Duration::from_secs(60));
        assert_eq!(l.body_read_timeout, std::time::Duration::from_secs(4));
        assert_eq!(c.edge.request_duration, std::time::Duration::from_secs(45));
        assert_eq!((l.max_connections, l.argon2_queue), (10, 7));
        assert_eq!(c.audit.max_entry_size, 8192);
        let raw = RawConfig::from_toml(
            "[listener]\ntls_disable = true\nhttp_idle_timeout = \"never\"\nmax_connections = 0\n\
             [storage]\nurl = \"sqlite:///x\"\n[auth]\nargon2_queue = 0\n[audit]\nmax_entry_size = 10",
        )
        .unwrap();
        let errs = raw.validate().unwrap_err();
        for key in
            ["listener.http_idle_timeout", "listener.max_connections", "auth.argon2_queue", "audit.max_entry_size"]
        {
            assert!(errs.iter().any(|e| e.contains(key)), "{key}: {errs:?}");
        }
    }

    #[test]
    fn env_overrides_file_and_flags_override_env() {
        let (mut raw, _) = RawConfig::from_sources(
            EXAMPLE,
            &env(&[("COFFER_LISTENER_ADDRESS", "127.0.0.1:9000"), ("COFFER_LISTENER_TLS_DISABLE", "true")]),
        )
        .unwrap();
        assert_eq!(raw.listener.address.as_deref(), Some("127.0.0.1:9000"));
        raw.apply_overrides(&Overrides { address: Some("127.0.0.1:9100".into()), ..Default::default() });
        let c = raw.validate().unwrap();
        assert_eq!(c.address.port(), 9100);
        assert!(c.tls.is_none());
    }

    #[test]
    fn file_variant_reads_secret_and_both_set_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("url");
        std::fs::write(&f, "sqlite:///tmp/x.db\n").unwrap();
        let (raw, _) = RawConfig::from_sources("", &env(&[("COFFER_STORAGE_URL_FILE", f.to_str().unwrap())])).unwrap();
        assert_eq!(raw.storage.url.as_ref().unwrap().expose_secret(), "sqlite:///tmp/x.db");
        let both = env(&[("COFFER_STORAGE_URL", "a"), ("COFFER_STORAGE_URL_FILE", "b")]);
        assert!(RawConfig::from_sources("", &both).is_err());
    }

    #[test]
    fn unknown_env_warns_and_unknown_key_fails() {
        let (_, w) = RawConfig::from_sources("", &env(&[("COFFER_LISTENR_ADDRESS", "x")])).unwrap();
        assert_eq!(w.len(), 1);
        assert!(RawConfig::from_toml("[listener]\nadress = \"x\"").is_err());
    }

    #[test]
    fn ha_audit_outbound_and_listener_sections_come_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let devices = dir.path().join("devices.json");
        std::fs::write(
            &devices,
            r#"[{"name": "siem", "type": "socket", "options": {"address": "127.0.0.1:9", "socket_type": "udp"}}]"#,
        )
        .unwrap();
        let file = "[storage]\nurl = \"sqlite:///x\"\n[ha]\nnode_name = \"from-file\"\n\
                    [outbound]\nallowed_urls = [\"https://file.example/\"]\n\
                    [[audit_device]]\nname = \"file\"\ntype = \"file\"\noptions = { file_path = \"stdout\" }\n";
        let (raw, warnings) = RawConfig::from_sources(
            file,
            &env(&[
                ("COFFER_LISTENER_ADDRESS", "127.0.0.1:9201"),
                ("COFFER_LISTENER_TLS_DISABLE", "1"),
                ("COFFER_LISTENER_MAX_JSON_DEPTH", "12"),
                ("COFFER_HA_NODE_NAME", "node-env-1"),
                ("COFFER_HA_LEASE_TTL", "30s"),
                ("COFFER_AUDIT_TIMEOUT", "3s"),
                ("COFFER_AUDIT_CHECKPOINT_ENTRIES", "5"),
                ("COFFER_AUDIT_CHECKPOINT_INTERVAL", "1m"),
                ("COFFER_AUDIT_FILE_DIR", "/var/log/coffer"),
                ("COFFER_AUDIT_DEVICE_FILE", devices.to_str().unwrap()),
                ("COFFER_OUTBOUND_ALLOWED_URLS", "https://a.example/hooks/, https://b.example/"),
            ]),
        )
        .unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let c = raw.validate().unwrap();
        assert_eq!(c.address.to_string(), "127.0.0.1:9201");
        assert!(c.tls.is_none());
        assert_eq!(c.max_json_depth, 12);
        assert_eq!(c.audit.node_name, "node-env-1");
        assert_eq!(c.lease_ttl, std::time::Duration::from_secs(30));
        assert_eq!(c.audit.timeout, std::time::Duration::from_secs(3));
        assert_eq!(c.audit.cadence.entries, 5);
        assert_eq!(c.audit.cadence.interval, std::time::Duration::from_secs(60));
        assert_eq!(c.audit.file_dir, crate::core::audit::FileDir::Inside("/var/log/coffer".into()));
        // A variable replaces the file's value of its key, lists and audit devices included.
        assert_eq!(c.audit.declared.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["siem"]);
        assert_eq!(
            c.outbound.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["https://a.example/hooks/", "https://b.example/"]
        );
        // A JSON array is a list too (the rule of params::string_list).
        let (raw, _) = RawConfig::from_sources(
            "[listener]\ntls_disable = true\n[storage]\nurl = \"sqlite:///x\"",
            &env(&[("COFFER_OUTBOUND_ALLOWED_URLS", r#"["https://c.example/"]"#)]),
        )
        .unwrap();
        assert_eq!(raw.outbound.allowed_urls, ["https://c.example/"]);
    }

    #[test]
    fn bad_environment_values_name_their_variable_and_never_echo_the_value() {
        let errors = RawConfig::from_sources(
            "",
            &env(&[
                ("COFFER_HA_LEASE_TTL", "x"),
                ("COFFER_AUDIT_CHECKPOINT_ENTRIES", "many-s3cr3t"),
                ("COFFER_STORAGE_MAX_CONNECTIONS", "99999999999"),
                ("COFFER_AUDIT_DEVICE", "{\"name\": \"s3cr3t\"}"),
                ("COFFER_LISTENER_TLS_DISABLE", "s3cr3t"),
            ]),
        )
        .unwrap_err();
        for var in ["COFFER_AUDIT_CHECKPOINT_ENTRIES:", "COFFER_AUDIT_DEVICE:", "COFFER_LISTENER_TLS_DISABLE:"] {
            assert!(errors.iter().any(|e| e.starts_with(var)), "{var} {errors:?}");
        }
        assert!(errors.iter().all(|e| !e.contains("s3cr3t")), "{errors:?}");
        // A value of the right outer shape whose inner field has the wrong type: serde's own
        // message would quote it.
        let errors = RawConfig::from_sources(
            "",
            &env(&[("COFFER_AUDIT_DEVICE", r#"[{"name":"x","type":"file","options":"postgres://u:s3cr3t@h"}]"#)]),
        )
        .unwrap_err();
        assert!(errors.iter().any(|e| e.starts_with("COFFER_AUDIT_DEVICE:")), "{errors:?}");
        assert!(errors.iter().all(|e| !e.contains("s3cr3t")), "{errors:?}");
        // Values of the right shape but out of range are named by the variable too.
        let errors =
            RawConfig::from_sources("", &env(&[("COFFER_STORAGE_MAX_CONNECTIONS", "99999999999")])).unwrap_err();
        assert!(errors.iter().any(|e| e.starts_with("COFFER_STORAGE_MAX_CONNECTIONS:")), "{errors:?}");
        assert!(errors.iter().all(|e| !e.contains("99999999999")), "{errors:?}");
        // And the values that parse are validated like the file's.
        let (raw, _) = RawConfig::from_sources(
            "[listener]\ntls_disable = true\n[storage]\nurl = \"sqlite:///x\"",
            &env(&[("COFFER_HA_LEASE_TTL", "1s"), ("COFFER_HA_NODE_NAME", "a/b")]),
        )
        .unwrap();
        let errors = raw.validate().unwrap_err();
        assert!(errors.iter().any(|e| e.starts_with("ha.lease_ttl")), "{errors:?}");
        assert!(errors.iter().any(|e| e.starts_with("ha.node_name")), "{errors:?}");
    }

    #[test]
    fn alert_rules_are_checked_at_start_and_their_keys_never_shown() {
        let c = RawConfig::from_toml(EXAMPLE).unwrap().validate().unwrap();
        let names: Vec<&str> = c.alerts.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["denied-burst", "sealed"]);
        assert_eq!((c.alerts[0].threshold, c.alerts[0].window), (20, 60));
        let base = "[listener]\ntls_disable = true\n[storage]\nurl = \"sqlite:///x\"\n\
                    [outbound]\nallowed_urls = [\"https://hooks.example/alerts/\"]\n";
        let hooked = format!(
            "{base}[[alert]]\nname = \"root\"\nkind = \"root_token_use\"\n\
             webhook = \"https://hooks.example/alerts/root\"\nhmac_key = \"s3cr3t-hook-key-0123\"\n"
        );
        let raw = RawConfig::from_toml(&hooked).unwrap();
        assert!(!format!("{raw:?}").contains("s3cr3t"), "Debug shows the key");
        let c = raw.validate().unwrap();
        assert!(!format!("{:?}", c.alerts).contains("s3cr3t"));
        assert_eq!(c.alerts[0].webhook.as_ref().unwrap().url, "https://hooks.example/alerts/root");
        for (table, why) in [
            ("name = \"Root\"\nkind = \"sealed\"", "must be lower-case"),
            ("name = \"r\"\nkind = \"denied_burst\"\nthreshold = 5\nwindow = \"25h\"", "window must be between"),
            ("name = \"r\"\nkind = \"denied_burst\"\nthreshold = 5\nwindow = \"soon\"", "not a duration"),
            ("name = \"r\"\nkind = \"read_burst\"\nthreshold = 100000\nwindow = \"1m\"", "threshold must be"),
            ("name = \"r\"\nkind = \"sealed\"\nwebhook = \"https://other.example/x\"\nhmac_key = \"0123456789abcdef\"", "matches no [outbound]"),
            ("name = \"r\"\nkind = \"sealed\"\nwebhook = \"https://hooks.example/alerts/x\"", "hmac_key is required"),
        ] {
            let errors = RawConfig::from_toml(&format!("{base}[[alert]]\n{table}\n")).unwrap().validate().unwrap_err();
            assert!(errors.iter().any(|e| e.starts_with("alert ") && e.contains(why)), "{why}: {errors:?}");
        }
        let twice =
            format!("{base}[[alert]]\nname = \"s\"\nkind = \"sealed\"\n[[alert]]\nname = \"s\"\nkind = \"sealed\"\n");
        let errors = RawConfig::from_toml(&twice).unwrap().validate().unwrap_err();
        assert!(errors.iter().any(|e| e.contains("declared twice")), "{errors:?}");
        // From the environment: a JSON array replaces the file's tables.
        let (raw, _) = RawConfig::from_sources(
            &hooked,
            &env(&[("COFFER_ALERT", r#"[{"name":"reads","kind":"read_burst","threshold":50,"window":"5m"}]"#)]),
        )
        .unwrap();
        let c = raw.validate().unwrap();
        assert_eq!(c.alerts.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["reads"]);
        assert_eq!(c.alerts[0].window, 300);
    }

    #[test]
    fn all_problems_are_listed() {
        let raw = RawConfig::from_toml("[listener]\naddress = \"nope\"\n[seal]\ntype = \"magic\"").unwrap();
        let errs = raw.validate().unwrap_err();
        assert!(errs.len() >= 4, "{errs:?}");
    }

    #[test]
    fn pool_settings_come_from_file_and_env_and_bad_ones_are_named() {
        let (raw, _) = RawConfig::from_sources(
            "[storage]\nurl = \"postgres://db/c\"\nmax_connections = 4\nacquire_timeout = \"2s\"",
            &env(&[("COFFER_STORAGE_IDLE_TIMEOUT", "1m"), ("COFFER_LISTENER_TLS_DISABLE", "true")]),
        )
        .unwrap();
        let c = raw.validate().unwrap();
        assert_eq!(c.storage_pool.max_connections, 4);
        assert_eq!(c.storage_pool.acquire_timeout, std::time::Duration::from_secs(2));
        assert_eq!(c.storage_pool.idle_timeout, std::time::Duration::from_secs(60));
        let raw = RawConfig::from_toml(
            "[listener]\ntls_disable = true\n[storage]\nurl = \"postgres://db/c\"\nmax_connections = 0\nacquire_timeout = \"soon\"",
        )
        .unwrap();
        let errs = raw.validate().unwrap_err();
        assert!(errs.iter().any(|e| e.contains("storage.max_connections")), "{errs:?}");
        assert!(errs.iter().any(|e| e.contains("storage.acquire_timeout")), "{errs:?}");
    }

    #[test]
    fn debug_hides_database_password() {
        let mut raw = RawConfig::from_toml(EXAMPLE).unwrap();
        raw.storage.url = Some(SecretString::from("postgres://coffer:hunter2@db/coffer?password=hunter2".to_string()));
        let c = raw.validate().unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://coffer@db/coffer"), "{shown}");
        let o =
            Overrides { storage_url: Some("postgres://u:hunter2@db/x?password=hunter2".into()), ..Default::default() };
        assert!(!format!("{o:?}").contains("hunter2"));
    }
}
