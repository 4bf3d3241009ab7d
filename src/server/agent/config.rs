//! The agent's configuration file (`coffer agent --config agent.toml`): the server, auto-auth,
//! sinks, templates and the local API proxy. Unknown keys are refused; secrets are never inline,
//! only in files the agent reads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::base::signal::{parse_signal, NamedSignal};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    /// The Coffer server.
    pub server: RawServer,
    /// Revoke the token (`auth/token/revoke-self`) on SIGTERM or SIGINT.
    #[serde(default)]
    pub revoke_on_shutdown: bool,
    /// `error`, `warn`, `info` (the default), `debug` or `trace`.
    #[serde(default)]
    pub log_level: Option<String>,
    /// How the agent logs in.
    pub auto_auth: RawAuth,
    /// Files the token is written to.
    #[serde(default)]
    pub sink: Vec<RawSink>,
    /// Rendered files.
    #[serde(default)]
    pub template: Vec<RawTemplate>,
    /// The local API proxy.
    #[serde(default)]
    pub proxy: Option<RawProxy>,
}

/// `[server]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// `https://coffer.internal:8200`.
    pub address: String,
    /// A PEM CA bundle to trust for the server's certificate (else the system roots).
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
}

/// `[auto_auth]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// `approle`, `jwt`, `cert` or `aws`.
    pub method: String,
    /// The auth mount, without `auth/` (the method's name by default).
    #[serde(default)]
    pub mount: Option<String>,
    /// approle: the file holding the role id.
    #[serde(default, alias = "role_id_file_path")]
    pub role_id_file: Option<PathBuf>,
    /// approle: the file holding the secret id.
    #[serde(default, alias = "secret_id_file_path")]
    pub secret_id_file: Option<PathBuf>,
    /// approle: delete the secret-id file once read (the secret id is then kept in memory).
    #[serde(default)]
    pub remove_secret_id_file_after_reading: bool,
    /// jwt and aws: the role; cert: the certificate role's name.
    #[serde(default, alias = "name")]
    pub role: Option<String>,
    /// jwt: the file holding the JWT (read again at every login).
    #[serde(default, alias = "path")]
    pub token_file: Option<PathBuf>,
    /// cert: the client certificate and key (PEM).
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// cert: the client key.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// aws: the region of the STS signature.
    #[serde(default)]
    pub region: Option<String>,
    /// aws: the `X-Vault-AWS-IAM-Server-ID` header value.
    #[serde(default)]
    pub header_value: Option<String>,
}

/// `[[sink]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSink {
    /// The token file.
    pub path: PathBuf,
    /// Its mode, in octal (`"0600"`, the default).
    #[serde(default)]
    pub mode: Option<String>,
}

/// `[[template]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTemplate {
    /// The template file.
    #[serde(default)]
    pub source: Option<PathBuf>,
    /// The template text itself, instead of `source`.
    #[serde(default)]
    pub contents: Option<String>,
    /// The rendered file (meant for a tmpfs).
    pub destination: PathBuf,
    /// Its mode, in octal (`"0600"`, the default).
    #[serde(default)]
    pub perms: Option<String>,
    /// How often the secrets are read again (`"5m"`, the default); a leased answer is read again
    /// when half its lease has passed, if that is sooner.
    #[serde(default)]
    pub interval: Option<String>,
    /// A command run after each new render (argv, no shell).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// A signal sent after each new render to the process in `pid_file`.
    #[serde(default)]
    pub signal: Option<String>,
    /// The file holding the pid `signal` goes to.
    #[serde(default)]
    pub pid_file: Option<PathBuf>,
}

/// `[proxy]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProxy {
    /// A loopback `IP:PORT`.
    #[serde(default)]
    pub listen: Option<String>,
    /// A unix socket path (mode 0600), instead of `listen`.
    #[serde(default)]
    pub unix_socket: Option<PathBuf>,
    /// Requests without a token are sent with the agent's token (off by default).
    #[serde(default)]
    pub use_auto_auth_token: bool,
    /// How long a KV read (an answer without a lease) is served from the cache (`"5s"`, the
    /// default; `"0"` turns it off).
    #[serde(default)]
    pub kv_cache_ttl: Option<String>,
}

/// The auth method, checked.
#[derive(Debug, Clone)]
pub enum Method {
    /// AppRole with its files.
    AppRole { role_id_file: PathBuf, secret_id_file: PathBuf, remove_secret_id: bool },
    /// JWT with its role and token file.
    Jwt { role: String, token_file: PathBuf },
    /// TLS certificate login: the client certificate and key the agent's connections present,
    /// and the certificate role's name (else the server picks the first role that accepts it).
    Cert { name: Option<String>, client_cert: PathBuf, client_key: PathBuf },
    /// AWS IAM login with the environment's credentials: the role (else the principal's name),
    /// the region of the signature, and the `X-Vault-AWS-IAM-Server-ID` header value.
    Aws { role: Option<String>, region: String, header_value: Option<String> },
}

/// `[auto_auth]`, checked.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The method and its inputs.
    pub method: Method,
    /// `approle`, `jwt`, … (the mount without `auth/`).
    pub mount: String,
}

/// A template, checked.
#[derive(Debug, Clone)]
pub struct Template {
    /// Where the text came from, for log lines.
    pub name: String,
    /// The template text.
    pub text: String,
    /// The rendered file.
    pub destination: PathBuf,
    /// Its mode.
    pub perms: u32,
    /// The re-read interval.
    pub interval: Duration,
    /// Run after a new render.
    pub command: Option<Vec<String>>,
    /// Sent after a new render, with the pid file.
    pub signal: Option<(NamedSignal, PathBuf)>,
}

/// The proxy, checked.
#[derive(Debug, Clone)]
pub struct Proxy {
    /// Where it listens.
    pub listen: Listen,
    /// See [`RawProxy::use_auto_auth_token`].
    pub use_auto_auth_token: bool,
    /// See [`RawProxy::kv_cache_ttl`].
    pub kv_cache_ttl: Duration,
}

/// A proxy listener.
#[derive(Debug, Clone)]
pub enum Listen {
    /// A loopback TCP address.
    Tcp(std::net::SocketAddr),
    /// A unix socket.
    Unix(PathBuf),
}

/// The configuration, checked.
#[derive(Debug)]
pub struct Agent {
    /// The server's address, without a trailing slash.
    pub address: String,
    /// A CA bundle for the server's certificate.
    pub ca_cert: Option<PathBuf>,
    /// See [`RawAgent::revoke_on_shutdown`].
    pub revoke_on_shutdown: bool,
    /// The log level.
    pub log_level: String,
    /// Auto-auth.
    pub auth: Auth,
    /// Token files and their modes.
    pub sinks: Vec<(PathBuf, u32)>,
    /// Templates.
    pub templates: Vec<Template>,
    /// The proxy.
    pub proxy: Option<Proxy>,
}

/// The default template re-read interval.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// The default KV cache time of the proxy.
const DEFAULT_KV_CACHE_TTL: Duration = Duration::from_secs(5);

/// Reads and checks the file.
pub fn load(path: &Path) -> Result<Agent, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let raw: RawAgent = toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
    check(raw, path.parent().unwrap_or(Path::new(".")))
}

/// Checks a parsed file; relative template sources are read from `dir`.
pub fn check(raw: RawAgent, dir: &Path) -> Result<Agent, String> {
    let address = raw.server.address.trim().trim_end_matches('/').to_string();
    let url = url::Url::parse(&address).map_err(|e| format!("server.address {address:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("server.address {address:?}: use http://HOST:PORT or https://HOST:PORT"));
    }
    let log_level = raw.log_level.unwrap_or_else(|| "info".to_string());
    let auth = check_auth(raw.auto_auth)?;
    let mut sinks = Vec::new();
    for s in raw.sink {
        sinks.push((s.path, mode(s.mode.as_deref(), "sink.mode")?));
    }
    let mut templates = Vec::new();
    for (i, t) in raw.template.into_iter().enumerate() {
        templates.push(check_template(t, i, dir)?);
    }
    let proxy = raw.proxy.map(check_proxy).transpose()?;
    Ok(Agent {
        address,
        ca_cert: raw.server.ca_cert,
        revoke_on_shutdown: raw.revoke_on_shutdown,
        log_level,
        auth,
        sinks,
        templates,
        proxy,
    })
}

fn check_auth(a: RawAuth) -> Result<Auth, String> {
    let need = |v: Option<PathBuf>, key: &str| v.ok_or_else(|| format!("auto_auth.{key} is required for {}", a.method));
    let method = match a.method.as_str() {
        "approle" => Method::AppRole {
            role_id_file: need(a.role_id_file.clone(), "role_id_file")?,
            secret_id_file: need(a.secret_id_file.clone(), "secret_id_file")?,
            remove_secret_id: a.remove_secret_id_file_after_reading,
        },
        "jwt" => Method::Jwt {
            role: a.role.clone().ok_or("auto_auth.role is required for jwt")?,
            token_file: need(a.token_file.clone(), "token_file")?,
        },
        "cert" => Method::Cert {
            name: a.role.clone(),
            client_cert: need(a.client_cert.clone(), "client_cert")?,
            client_key: need(a.client_key.clone(), "client_key")?,
        },
        "aws" => Method::Aws {
            role: a.role.clone(),
            region: a.region.clone().unwrap_or_else(|| "us-east-1".to_string()),
            header_value: a.header_value.clone(),
        },
        other => return Err(format!("auto_auth.method {other:?}: use approle, jwt, cert or aws")),
    };
    let mount = a.mount.clone().unwrap_or_else(|| a.method.clone());
    let mount = mount.trim_matches('/').trim_start_matches("auth/").trim_matches('/').to_string();
    if mount.is_empty() || mount.contains("..") {
        return Err("auto_auth.mount is empty or holds \"..\"".into());
    }
    Ok(Auth { method, mount })
}

fn check_template(t: RawTemplate, i: usize, dir: &Path) -> Result<Template, String> {
    let at = format!("template #{}", i + 1);
    let (name, text) = match (t.source, t.contents) {
        (Some(src), None) => {
            let full = if src.is_absolute() { src.clone() } else { dir.join(&src) };
            let text =
                std::fs::read_to_string(&full).map_err(|e| format!("{at}: cannot read {}: {e}", full.display()))?;
            (full.display().to_string(), text)
        }
        (None, Some(text)) => (t.destination.display().to_string(), text),
        _ => return Err(format!("{at}: give exactly one of source and contents")),
    };
    crate::base::template::parse(&text).map_err(|e| format!("{at} ({name}): {e}"))?;
    let interval = duration(t.interval.as_deref(), DEFAULT_INTERVAL, &format!("{at}.interval"))?;
    if interval.is_zero() {
        return Err(format!("{at}.interval must be at least 1s"));
    }
    let signal = match (t.signal, t.pid_file) {
        (Some(s), Some(p)) => Some((parse_signal(&s).map_err(|e| format!("{at}.signal: {e}"))?, p)),
        (None, None) => None,
        _ => return Err(format!("{at}: signal and pid_file go together")),
    };
    if t.command.as_ref().is_some_and(|c| c.is_empty()) {
        return Err(format!("{at}.command is empty"));
    }
    Ok(Template {
        name,
        text,
        destination: t.destination,
        perms: mode(t.perms.as_deref(), &format!("{at}.perms"))?,
        interval,
        command: t.command,
        signal,
    })
}

fn check_proxy(p: RawProxy) -> Result<Proxy, String> {
    let listen = match (p.listen, p.unix_socket) {
        (Some(l), None) => {
            let addr: std::net::SocketAddr = l.parse().map_err(|e| format!("proxy.listen {l:?}: {e}"))?;
            if !addr.ip().is_loopback() {
                return Err(format!("proxy.listen {l:?}: the proxy listens on a loopback address only"));
            }
            Listen::Tcp(addr)
        }
        (None, Some(u)) => Listen::Unix(u),
        _ => return Err("proxy: give exactly one of listen and unix_socket".into()),
    };
    Ok(Proxy {
        listen,
        use_auto_auth_token: p.use_auto_auth_token,
        kv_cache_ttl: duration(p.kv_cache_ttl.as_deref(), DEFAULT_KV_CACHE_TTL, "proxy.kv_cache_ttl")?,
    })
}

fn duration(v: Option<&str>, default: Duration, key: &str) -> Result<Duration, String> {
    match v {
        None => Ok(default),
        Some(s) => crate::base::duration::parse_str(s).map(Duration::from_secs).map_err(|e| format!("{key}: {e}")),
    }
}

/// An octal mode, `0600` by default; group or world write is refused.
fn mode(v: Option<&str>, key: &str) -> Result<u32, String> {
    let Some(s) = v else { return Ok(0o600) };
    let m = u32::from_str_radix(s.trim().trim_start_matches("0o"), 8)
        .map_err(|_| format!("{key} {s:?}: an octal mode such as \"0600\""))?;
    if m > 0o777 || m & 0o022 != 0 {
        return Err(format!("{key} {s:?}: group or world write is not allowed"));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Agent, String> {
        let raw: RawAgent = toml::from_str(text).map_err(|e| e.to_string())?;
        check(raw, Path::new("."))
    }

    const BASE: &str = "[server]\naddress = \"http://127.0.0.1:8200\"\n[auto_auth]\nmethod = \"approle\"\nrole_id_file = \"/r\"\nsecret_id_file = \"/s\"\n";

    #[test]
    fn a_minimal_file_and_its_defaults() {
        let a = parse(BASE).unwrap();
        assert_eq!(a.auth.mount, "approle");
        assert!(!a.revoke_on_shutdown && a.proxy.is_none() && a.sinks.is_empty());
    }

    #[test]
    fn refusals() {
        assert!(parse(&format!("{BASE}bogus = 1\n")).is_err());
        assert!(parse(&format!("{BASE}[proxy]\nlisten = \"0.0.0.0:8100\"\n")).unwrap_err().contains("loopback"));
        assert!(parse(&format!("{BASE}[proxy]\n")).is_err());
        assert!(parse(&format!("{BASE}[[sink]]\npath = \"/t\"\nmode = \"0666\"\n")).unwrap_err().contains("write"));
        assert!(
            parse(&format!("{BASE}[[template]]\ncontents = \"x\"\ndestination = \"/d\"\nsignal = \"HUP\"\n")).is_err()
        );
        assert!(
            parse(&format!("{BASE}[[template]]\ncontents = \"{{{{ secret a }}}}\"\ndestination = \"/d\"\n")).is_err()
        );
        let jwt = "[server]\naddress = \"http://x:1\"\n[auto_auth]\nmethod = \"jwt\"\ntoken_file = \"/t\"\n";
        assert!(parse(jwt).unwrap_err().contains("role"));
    }

    #[test]
    fn proxy_defaults_are_safe() {
        let a = parse(&format!("{BASE}[proxy]\nunix_socket = \"/run/a.sock\"\n")).unwrap();
        let p = a.proxy.unwrap();
        assert!(!p.use_auto_auth_token);
        assert_eq!(p.kv_cache_ttl, Duration::from_secs(5));
    }
}
