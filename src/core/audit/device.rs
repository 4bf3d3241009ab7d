//! One audit device: its validated settings (from `sys/audit/<name>` or the config file), its
//! keys (HMAC salt and checkpoint signing key, kept inside the barrier), and its writer thread.

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use super::chain::Head;
use super::hash::Hasher;
use super::sink::{SocketKind, Target};
use super::writer::{self, Ack, Msg};
use crate::base::error::ApiError;
use crate::base::params;
use crate::crypto::barrier::{Barrier, Context, Sealed};
use crate::crypto::{self, Key};

/// Store kinds of the `entry` rows an audit device owns.
pub const KIND_DEVICE: &str = "audit_device";
/// Encrypted salt and signing key.
pub const KIND_KEYS: &str = "audit_keys";

/// How device keys are kept in their entries (base64, as they always were).
pub const KEYS_FORM: crate::store::TextForm = crate::store::TextForm::Base64;
/// Last durable chain head.
pub const KIND_HEAD: &str = "audit_head";

/// A device's validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Name (the path under `sys/audit/`, without a slash).
    pub name: String,
    /// `file` or `socket`.
    pub kind: String,
    /// Free text.
    pub description: String,
    /// Options as given, echoed by `sys/audit`.
    pub options: Map<String, Value>,
    /// Destination.
    pub target: Target,
    /// Hash accessors (Vault's default: true).
    pub hmac_accessor: bool,
    /// Write values in clear (Vault's `log_raw`).
    pub log_raw: bool,
    /// Declared in the config file: cannot be disabled through the API.
    pub declared: bool,
}

/// Option names each type accepts.
const FILE_OPTIONS: &[&str] = &["file_path", "path", "hmac_accessor", "log_raw", "format"];
const SOCKET_OPTIONS: &[&str] = &["address", "socket_type", "write_timeout", "hmac_accessor", "log_raw", "format"];

impl Spec {
    /// Validates a device of `kind` with `options`. `file_dir` bounds where API-enabled file
    /// devices may write (`None`: anywhere; config-declared devices pass `None`).
    pub fn parse(
        name: &str,
        kind: &str,
        description: &str,
        options: Map<String, Value>,
        declared: bool,
        file_dir: Option<&Path>,
    ) -> Result<Spec, ApiError> {
        check_name(name)?;
        let allowed = match kind {
            "file" => FILE_OPTIONS,
            "socket" => SOCKET_OPTIONS,
            "syslog" => {
                return Err(ApiError::bad_request("audit device type \"syslog\" is not supported; use file or socket"))
            }
            "" => return Err(ApiError::bad_request("missing audit device type")),
            other => return Err(ApiError::bad_request(format!("unknown audit device type {other:?}"))),
        };
        if let Some(bad) = options.keys().find(|k| !allowed.contains(&k.as_str())) {
            let why = match bad.as_str() {
                "mode" | "prefix" => " (Coffer always creates audit files with mode 0600 and no prefix)",
                _ => "",
            };
            return Err(ApiError::bad_request(format!("unknown option {bad:?} for a {kind} audit device{why}")));
        }
        if let Some(f) = params::str_field(&options, "format")? {
            if f != "json" {
                return Err(ApiError::bad_request(format!("format {f:?} is not supported; use \"json\"")));
            }
        }
        let target = match kind {
            "file" => file_target(&options, file_dir)?,
            _ => socket_target(&options)?,
        };
        Ok(Spec {
            name: name.to_string(),
            kind: kind.to_string(),
            description: description.to_string(),
            hmac_accessor: params::bool_field(&options, "hmac_accessor")?.unwrap_or(true),
            log_raw: params::bool_field(&options, "log_raw")?.unwrap_or(false),
            options,
            target,
            declared,
        })
    }

    /// For a file device declared in the config: its directory exists and the file opens for
    /// append (created with mode 0600 if missing). Checked before the server starts, so a
    /// missing directory stops it with the path and the reason instead of failing every request
    /// after unseal (D97).
    pub fn check_at_start(&self) -> Result<(), String> {
        let Target::File(path) = &self.target else { return Ok(()) };
        let name = &self.name;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            match std::fs::metadata(dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(format!(
                        "audit device {name:?}: {} (the directory of file_path {}) is not a directory",
                        dir.display(),
                        path.display()
                    ))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(format!(
                        "audit device {name:?}: the directory {} of file_path {} does not exist; create it \
                         (mode 0700, owned by the user Coffer runs as) or change file_path",
                        dir.display(),
                        path.display()
                    ))
                }
                Err(e) => {
                    return Err(format!("audit device {name:?}: cannot read the directory {}: {e}", dir.display()))
                }
            }
        }
        super::sink::open_file(path)
            .map(drop)
            .map_err(|e| format!("audit device {name:?}: cannot open file_path {} for append: {e}", path.display()))
    }

    /// The stored form of an API-enabled device.
    pub fn to_stored(&self) -> String {
        json!({"type": self.kind, "description": self.description, "options": self.options}).to_string()
    }

    /// Reads the stored form back (validated again; the path bound no longer applies).
    /// A stored form that does not parse, or lacks a field, is a 500 (never a default device).
    pub fn from_stored(name: &str, text: &str) -> Result<Spec, ApiError> {
        #[derive(serde::Deserialize)]
        struct Stored {
            #[serde(rename = "type")]
            kind: String,
            description: String,
            options: Map<String, Value>,
        }
        let v: Stored = crate::base::stored::parse("audit device", text)?;
        Spec::parse(name, &v.kind, &v.description, v.options, false, None)
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request("audit device names use letters, digits, '-', '_' and '.' (at most 64)"))
    }
}

fn file_target(options: &Map<String, Value>, file_dir: Option<&Path>) -> Result<Target, ApiError> {
    let path = match params::str_field(options, "file_path")?.or(params::str_field(options, "path")?) {
        Some(p) if !p.is_empty() => p,
        _ => return Err(ApiError::bad_request("file_path is required for a file audit device")),
    };
    if path == "stdout" {
        return Ok(Target::Stdout);
    }
    if path.chars().any(char::is_control) {
        return Err(ApiError::bad_request("file_path must not contain control characters"));
    }
    let p = PathBuf::from(path);
    let Some(dir) = file_dir else {
        return Ok(Target::File(p));
    };
    let resolved = if p.is_absolute() { p } else { dir.join(p) };
    let inside = resolved.starts_with(dir) && !resolved.components().any(|c| matches!(c, Component::ParentDir));
    if !inside {
        return Err(ApiError::bad_request(format!(
            "file_path must be inside the audit directory {} (audit.file_dir in the config file); \
             declare other paths in the config file",
            dir.display()
        )));
    }
    Ok(Target::File(resolved))
}

fn socket_target(options: &Map<String, Value>) -> Result<Target, ApiError> {
    let address = match params::str_field(options, "address")? {
        Some(a) if !a.is_empty() => a.to_string(),
        _ => return Err(ApiError::bad_request("address is required for a socket audit device")),
    };
    let kind = match params::str_field(options, "socket_type")?.unwrap_or("tcp") {
        "tcp" => SocketKind::Tcp,
        "udp" => SocketKind::Udp,
        "unix" => SocketKind::Unix,
        other => return Err(ApiError::bad_request(format!("socket_type {other:?} is not one of tcp, udp, unix"))),
    };
    let secs = params::duration_field(options, "write_timeout")?.unwrap_or(2);
    if secs == 0 {
        return Err(ApiError::bad_request("write_timeout must be at least 1s"));
    }
    Ok(Target::Socket { kind, address, write_timeout: Duration::from_secs(secs) })
}

/// A device's secret material: the HMAC salt and the checkpoint signing key.
pub struct Keys {
    /// HMAC salt.
    pub salt: Key,
    /// Ed25519 signing key.
    pub signing: SigningKey,
}

impl Keys {
    /// Fresh random keys.
    pub fn generate() -> Keys {
        Keys { salt: Key::generate(), signing: SigningKey::from_bytes(&crypto::random_bytes::<32>()) }
    }

    /// Encrypted under the barrier (kept in its entry as [`KEYS_FORM`] text).
    pub fn seal(&self, barrier: &Barrier, name: &str) -> Result<Sealed, ApiError> {
        let mut plain = Zeroizing::new([0u8; 64]);
        // salt (32 bytes) then signing seed (32 bytes)
        for (to, from) in plain.iter_mut().zip(self.salt.expose().iter().chain(self.signing.as_bytes())) {
            *to = *from;
        }
        let (blob, _) =
            barrier.seal(Context::AuditKeys { device: name }, plain.as_slice()).map_err(|e| ApiError::internal(&e))?;
        Ok(blob)
    }

    /// Decrypts what [`Keys::seal`] wrote.
    pub fn open(barrier: &Barrier, name: &str, blob: &Sealed) -> Result<Keys, ApiError> {
        let plain = barrier.open(blob, Context::AuditKeys { device: name }).map_err(|e| ApiError::internal(&e))?;
        let (salt, seed_bytes) = match plain.split_at_checked(32) {
            Some((salt, seed)) if plain.len() == 64 => (salt, seed),
            _ => return Err(ApiError::internal(&"audit keys malformed")),
        };
        let salt = Key::from_slice(salt).ok_or_else(|| ApiError::internal(&"audit salt malformed"))?;
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(seed_bytes);
        Ok(Keys { salt, signing: SigningKey::from_bytes(&seed) })
    }
}

/// A running (or broken) device.
pub struct Device {
    /// Settings.
    pub spec: Spec,
    /// Per-device hashing.
    pub hasher: Hasher,
    /// Checkpoint verification key.
    pub public_key: VerifyingKey,
    /// Queue to the writer task; `None` if the device could not start (it fails every entry).
    tx: Option<tokio::sync::mpsc::Sender<Msg>>,
    /// Why it could not start or last failed, for operators.
    pub problem: Arc<Mutex<Option<String>>>,
}

impl Device {
    /// Starts the writer task for `spec` from chain head `head`.
    pub fn start(
        spec: Spec,
        keys: Keys,
        head: Result<Head, String>,
        cadence: writer::Cadence,
        on_checkpoint: Box<dyn Fn(Head) + Send>,
        clock: crate::base::schedule::SharedClock,
    ) -> Device {
        let hasher = Hasher::new(&keys.salt, spec.hmac_accessor, spec.log_raw);
        let public_key = keys.signing.verifying_key();
        let problem = Arc::new(Mutex::new(None));
        let tx = match head {
            Ok(head) => {
                let w = writer::Writer {
                    name: spec.name.clone(),
                    sink: super::sink::Sink::new(spec.target.clone()),
                    key: keys.signing,
                    cadence,
                    on_checkpoint,
                    problem: problem.clone(),
                    clock,
                };
                Some(writer::spawn(w, head))
            }
            Err(e) => {
                tracing::error!(device = %spec.name, target = %spec.target, error = %e, "audit device cannot start; it fails closed");
                set_problem(&problem, e);
                None
            }
        };
        Device { spec, hasher, public_key, tx, problem }
    }

    /// The last failure of this device, if it is failing.
    pub fn problem(&self) -> Option<String> {
        self.problem.lock().ok().and_then(|p| p.clone())
    }

    /// Queues an entry body; false if the device is broken or its queue is full.
    pub fn submit(&self, body: Vec<u8>, ack: Option<Ack>) -> bool {
        self.tx.as_ref().is_some_and(|tx| writer::offer(tx, Msg::Entry(body, ack)))
    }

    /// Entries waiting in the writer's queue (0 for a device that could not start).
    pub fn queued(&self) -> usize {
        self.tx.as_ref().map_or(0, |tx| tx.max_capacity().saturating_sub(tx.capacity()))
    }

    /// Asks the writer to close and reopen its file (SIGHUP).
    pub fn reopen(&self) {
        if let Some(tx) = &self.tx {
            writer::offer(tx, Msg::Reopen);
        }
    }

    /// Closes the device with a final checkpoint; the final head, if the writer answered in time.
    pub async fn close(&self, timeout: Duration) -> Option<Head> {
        let tx = self.tx.as_ref()?;
        let (reply, rx) = tokio::sync::oneshot::channel();
        if !writer::offer(tx, Msg::Close(reply)) {
            return None;
        }
        tokio::time::timeout(timeout, rx).await.ok()?.ok()
    }

    /// `sys/audit` listing entry.
    pub fn describe(&self) -> Value {
        json!({
            "type": self.spec.kind,
            "description": self.spec.description,
            "options": self.spec.options,
            "path": format!("{}/", self.spec.name),
            "local": false,
        })
    }
}

fn set_problem(slot: &Mutex<Option<String>>, msg: String) {
    if let Ok(mut p) = slot.lock() {
        *p = Some(msg);
    }
}

/// The head to continue from: the file's last line if the file has one, else the stored head.
pub fn resume_head(target: &Target, stored: Option<Head>) -> Result<Head, String> {
    let mut sink = super::sink::Sink::new(target.clone());
    let last = sink.last_line().map_err(|e| format!("cannot read the end of the audit file: {e}"))?;
    match last {
        None => Ok(stored.unwrap_or(Head::GENESIS)),
        Some(line) => {
            let v: Value = serde_json::from_slice(&line)
                .map_err(|_| "the audit file does not end with a Coffer audit line".to_string())?;
            let seq = crate::base::json::field(&v, "seq")
                .as_u64()
                .ok_or("the audit file does not end with a Coffer audit line")?;
            Ok(Head { seq, hash: super::chain::line_hash(&line) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn api_file_paths_stay_inside_the_audit_directory() {
        let dir = Path::new("/var/log/coffer");
        let ok = Spec::parse("f", "file", "", opts(json!({"file_path": "audit.log"})), false, Some(dir)).unwrap();
        assert_eq!(ok.target, Target::File("/var/log/coffer/audit.log".into()));
        for bad in ["/etc/cron.d/x", "../x.log", "/var/log/coffer/../x"] {
            let e = Spec::parse("f", "file", "", opts(json!({"file_path": bad})), false, Some(dir)).unwrap_err();
            assert!(e.errors[0].contains("inside the audit directory"), "{bad}: {e:?}");
        }
        let e = Spec::parse("f", "file", "", opts(json!({"file_path": "a", "mode": "0777"})), false, Some(dir));
        assert!(e.unwrap_err().errors[0].contains("mode 0600"));
        assert_eq!(
            Spec::parse("f", "file", "", opts(json!({"file_path": "stdout"})), false, Some(dir)).unwrap().target,
            Target::Stdout
        );
    }

    #[test]
    fn sockets_and_options_are_validated() {
        let s = Spec::parse(
            "s",
            "socket",
            "",
            opts(json!({"address": "127.0.0.1:9", "socket_type": "udp", "write_timeout": "3s", "hmac_accessor": "false"})),
            false,
            None,
        )
        .unwrap();
        assert!(!s.hmac_accessor);
        assert!(
            matches!(s.target, Target::Socket { kind: SocketKind::Udp, write_timeout, .. } if write_timeout.as_secs() == 3)
        );
        assert!(Spec::parse("s", "socket", "", Map::new(), false, None).is_err());
        assert!(Spec::parse("s", "syslog", "", Map::new(), false, None).is_err());
        assert!(Spec::parse("../x", "file", "", opts(json!({"file_path": "stdout"})), false, None).is_err());
    }
}
