//! The agent's HTTP client to the Coffer server: `/v1/` requests with an optional token, and the
//! difference between an unreachable server (keep what we have, retry) and an answer (act on it).
//! The server layer may not import the CLI's client, so this is the agent's own, small one.

use std::time::Duration;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::config::Agent;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// No answer: the server is down, unreachable or too slow.
    Unreachable(String),
    /// An error answer: its status and the server's error messages.
    Refused { status: u16, errors: String },
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(e) => write!(f, "the server cannot be reached: {e}"),
            CallError::Refused { status, errors } => write!(f, "the server answered {status}: {errors}"),
        }
    }
}

/// A client for one server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    addr: String,
}

impl Client {
    /// The agent's own client: with `cert` auto-auth it presents the certificate on every
    /// connection (its login and renewals need it).
    pub fn new(cfg: &Agent) -> Result<Client, String> {
        Self::build(cfg, true)
    }

    /// The proxy's client: never presents the agent's certificate, so a caller of the proxy cannot
    /// log in as the agent (`auth/cert/login` through it presents no certificate).
    pub fn without_identity(cfg: &Agent) -> Result<Client, String> {
        Self::build(cfg, false)
    }

    fn build(cfg: &Agent, identity: bool) -> Result<Client, String> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &cfg.ca_cert {
            let pem = std::fs::read(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("{}: {e}", ca.display()))? {
                b = b.add_root_certificate(cert);
            }
        }
        if let (true, super::config::Method::Cert { client_cert, client_key, .. }) = (identity, &cfg.auth.method) {
            // The login proves the key in the TLS handshake: every connection presents it.
            let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
            let mut pem = zeroize::Zeroizing::new(read(client_cert)?);
            pem.push(b'\n');
            pem.extend_from_slice(&zeroize::Zeroizing::new(read(client_key)?));
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                format!("{} / {}: not a PEM certificate and key: {e}", client_cert.display(), client_key.display())
            })?;
            b = b.identity(identity);
        }
        let http = b.build().map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Client { http, addr: cfg.address.clone() })
    }

    /// The underlying HTTP client and the server's address (for the proxy).
    pub fn parts(&self) -> (&reqwest::Client, &str) {
        (&self.http, &self.addr)
    }

    /// Sends a JSON request to `/v1/{path}`; a 2xx answer gives its body (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&SecretString>,
        body: Option<&Value>,
    ) -> Result<Value, CallError> {
        let bytes = body.map(|b| b.to_string().into_bytes());
        self.call_bytes(method, path, token, bytes.as_deref()).await
    }

    /// [`Client::call`] with a JSON body already serialised (a login's, kept in a wiped buffer).
    pub async fn call_bytes(
        &self,
        method: Method,
        path: &str,
        token: Option<&SecretString>,
        body: Option<&[u8]>,
    ) -> Result<Value, CallError> {
        let url = format!("{}/v1/{}", self.addr, path.trim_start_matches('/'));
        let mut req = self.http.request(method, url);
        if let Some(t) = token {
            req = req.header("X-Vault-Token", t.expose_secret());
        }
        if let Some(b) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(b.to_vec());
        }
        let resp = req.send().await.map_err(|e| CallError::Unreachable(transport(&e)))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| CallError::Unreachable(transport(&e)))?;
        let body: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        if status.is_success() {
            return Ok(body);
        }
        // 5xx from a sealed or starting server is an outage, not a refusal.
        let errors = body.get("errors").map(Value::to_string).unwrap_or_default();
        if status.is_server_error() {
            return Err(CallError::Unreachable(format!("{status} {errors}")));
        }
        Err(CallError::Refused { status: status.as_u16(), errors })
    }
}

/// A transport error without its URL (harmless, but long), with its causes.
fn transport(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut s = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
    .to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
