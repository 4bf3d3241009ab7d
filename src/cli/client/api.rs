//! The HTTP client of the CLI: address, TLS and token resolution, `/v1/` requests, and the mapping
//! of transport failures and error answers to [`CliError`].

use std::error::Error as _;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use zeroize::Zeroizing;

use super::{env_first, env_flag, token_file, CliError, ClientOpts, Secret, DEFAULT_ADDR};

/// Characters escaped inside one path segment.
const SEGMENT: &AsciiSet =
    &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>').add(b'?').add(b'`').add(b'{').add(b'}').add(b'%');

/// How long to wait for a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take in total.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A server answer: the status and the JSON body (`None` for an empty body).
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The parsed body.
    pub body: Option<Value>,
}

/// A configured client for one server.
pub struct Api {
    http: reqwest::Client,
    addr: String,
    token: Option<Secret>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// The server address: `--address`, then `COFFER_ADDR`, then `VAULT_ADDR`, then the default.
pub fn resolve_addr(opts: &ClientOpts) -> Result<String, CliError> {
    let raw = opts
        .address
        .clone()
        .filter(|a| !a.trim().is_empty())
        .or_else(|| env_first(&["COFFER_ADDR", "VAULT_ADDR"]))
        .unwrap_or_else(|| DEFAULT_ADDR.to_string());
    let addr = raw.trim().trim_end_matches('/').to_string();
    let url =
        reqwest::Url::parse(&addr).map_err(|e| CliError::Usage(format!("invalid server address {addr:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(CliError::Usage(format!(
            "invalid server address {addr:?}: use http://HOST:PORT or https://HOST:PORT"
        )));
    }
    Ok(addr)
}

/// The token: `--token`, then `COFFER_TOKEN`, then `VAULT_TOKEN`, then `~/.coffer-token`.
pub fn resolve_token(opts: &ClientOpts) -> Result<Option<Secret>, CliError> {
    if let Some(t) = opts.token.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(t.clone()));
    }
    if let Some(t) = env_first(&["COFFER_TOKEN", "VAULT_TOKEN"]) {
        return Ok(Some(Secret::new(t.trim().to_string())));
    }
    token_file::load()
}

impl Api {
    /// A client for the server named by `opts`, with the token the options resolve to (if any).
    pub fn new(opts: &ClientOpts) -> Result<Api, CliError> {
        let addr = resolve_addr(opts)?;
        let token = resolve_token(opts)?;
        let http = build_http(opts)?;
        Ok(Api { http, addr, token })
    }

    /// The same client without a token (logins, seal status).
    pub fn anonymous(&self) -> Api {
        Api { http: self.http.clone(), addr: self.addr.clone(), token: None }
    }

    /// The same client with another token.
    pub fn with_token(&self, token: Secret) -> Api {
        Api { http: self.http.clone(), addr: self.addr.clone(), token: Some(token) }
    }

    /// The server address, without a trailing slash.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The token this client sends, if any.
    pub fn token(&self) -> Option<&Secret> {
        self.token.as_ref()
    }

    /// Sends one request and returns whatever the server answered; only transport failures and
    /// malformed answers are errors. `path` is relative to `/v1/`; `PATCH` is sent as JSON merge
    /// patch.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Reply, CliError> {
        let path = path.trim_start_matches('/');
        let mut req = self.request(method.clone(), path, query)?;
        if let Some(b) = body {
            let bytes = Zeroizing::new(
                serde_json::to_vec(b).map_err(|e| CliError::Other(format!("cannot encode the request: {e}")))?,
            );
            let content_type =
                if method == Method::PATCH { "application/merge-patch+json" } else { "application/json" };
            req = req.header(CONTENT_TYPE, content_type).body(bytes.to_vec());
        }
        let resp = req.send().await.map_err(|e| self.transport_error(&e))?;
        let status = resp.status();
        let bytes = Zeroizing::new(resp.bytes().await.map_err(|e| self.transport_error(&e))?.to_vec());
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => Some(v),
                Err(_) if !status.is_success() => None,
                Err(_) => {
                    return Err(CliError::Other(format!(
                        "{} answered {path} with something that is not JSON; is it a Coffer or Vault server?",
                        self.addr
                    )))
                }
            }
        };
        Ok(Reply { status, body })
    }

    /// A request to `path` (relative to `/v1/`) with the token header, if there is a token.
    fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<reqwest::RequestBuilder, CliError> {
        let url = format!("{}/v1/{}", self.addr, encode_path(path));
        let mut req = self.http.request(method, &url).header("X-Vault-Request", "true");
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(t) = &self.token {
            let mut value = HeaderValue::from_str(t.expose())
                .map_err(|_| CliError::Usage("the token holds characters that cannot be sent in a header".into()))?;
            value.set_sensitive(true);
            req = req.header("X-Vault-Token", value);
        }
        Ok(req)
    }

    /// Sends bytes that are not JSON (or nothing) and returns the answer's bytes; an error status
    /// becomes [`CliError::Api`] with the server's `errors`.
    pub async fn call_bytes(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Vec<u8>, CliError> {
        let path = path.trim_start_matches('/');
        let mut req = self.request(method, path, &[])?;
        if let Some(b) = body {
            req = req.header(CONTENT_TYPE, "application/octet-stream").body(b);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(&e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(&e))?.to_vec();
        if status.is_success() {
            return Ok(bytes);
        }
        let body = serde_json::from_slice::<Value>(&bytes).ok();
        Err(self.api_error(path, &Reply { status, body }))
    }

    /// Sends a request; an error status becomes [`CliError::Api`].
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Option<Value>, CliError> {
        self.call_query(method, path, &[], body).await
    }

    /// [`Api::call`] with query parameters.
    pub async fn call_query(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, CliError> {
        let reply = self.send(method, path, query, body).await?;
        if reply.status.is_success() {
            Ok(reply.body)
        } else {
            Err(self.api_error(path, &reply))
        }
    }

    /// `GET`.
    pub async fn read(&self, path: &str) -> Result<Option<Value>, CliError> {
        self.call(Method::GET, path, None).await
    }

    /// `LIST`: the `keys` of the answer.
    pub async fn list(&self, path: &str) -> Result<Vec<String>, CliError> {
        let method = Method::from_bytes(b"LIST").map_err(|e| CliError::Other(e.to_string()))?;
        let path = format!("{}/", path.trim_end_matches('/'));
        let body = self.call(method, &path, None).await?;
        Ok(keys_of(body.as_ref()))
    }

    /// The error for a non-2xx reply to `path`.
    pub fn api_error(&self, path: &str, reply: &Reply) -> CliError {
        let mut message = reply
            .body
            .as_ref()
            .and_then(|b| b.get("errors"))
            .and_then(Value::as_array)
            .map(|errs| errs.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| reply.status.canonical_reason().unwrap_or("error").to_ascii_lowercase());
        if reply.status.is_redirection() {
            message.push_str(
                " (the server answered with a redirect, which the CLI does not follow while it carries a token: \
                 point COFFER_ADDR at the server that should answer)",
            );
        }
        if reply.status == StatusCode::FORBIDDEN && self.token.is_none() {
            message.push_str(" (no token: log in with `coffer login`, or set COFFER_TOKEN)");
        }
        CliError::Api { status: reply.status.as_u16(), path: path.trim_start_matches('/').to_string(), message }
    }

    fn transport_error(&self, e: &reqwest::Error) -> CliError {
        if e.is_decode() || e.is_body() {
            return CliError::Other(format!("cannot read the answer of {}: {}", self.addr, root_cause(e)));
        }
        let mut reason = if e.is_timeout() { "timed out".to_string() } else { root_cause(e) };
        let lower = reason.to_ascii_lowercase();
        if self.addr.starts_with("https://")
            && (lower.contains("corrupt message") || lower.contains("invalidcontenttype"))
        {
            reason.push_str(" (does the server speak plain HTTP? then use http://)");
        } else if self.addr.starts_with("http://") && lower.contains("invalid http version") {
            reason.push_str(" (the server speaks TLS: use https://)");
        } else if lower.contains("notvalidforname") {
            reason.push_str(" (the server's certificate does not name this host: use an address it names)");
        } else if ["unknownissuer", "unknown issuer", "causedasendentity"].iter().any(|m| lower.contains(m)) {
            reason.push_str(
                " (the server's certificate is not signed by a CA this client trusts: give its CA certificate with \
                 --ca-cert FILE, COFFER_CACERT or VAULT_CACERT)",
            );
        }
        CliError::Unreachable { addr: self.addr.clone(), reason }
    }
}

/// The `data.keys` of a LIST answer.
pub fn keys_of(body: Option<&Value>) -> Vec<String> {
    body.and_then(|b| b.pointer("/data/keys"))
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Percent-encodes each segment of an API path, keeping the slashes.
fn encode_path(path: &str) -> String {
    path.split('/').map(|seg| utf8_percent_encode(seg, SEGMENT).to_string()).collect::<Vec<_>>().join("/")
}

/// The innermost cause of a transport error, in a few words.
fn root_cause(e: &reqwest::Error) -> String {
    let mut last = e.to_string();
    let mut io_kind = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
        }
        last = err.to_string();
        cur = err.source();
    }
    match io_kind {
        Some(std::io::ErrorKind::ConnectionRefused) => "connection refused".to_string(),
        Some(std::io::ErrorKind::ConnectionReset) => "connection reset by peer".to_string(),
        Some(std::io::ErrorKind::TimedOut) => "timed out".to_string(),
        _ => last,
    }
}

/// The reqwest client for `opts`: timeouts, trusted CAs, client certificate, verification.
fn build_http(opts: &ClientOpts) -> Result<reqwest::Client, CliError> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("coffer-cli/", env!("CARGO_PKG_VERSION")))
        // Redirects are never followed: the request carries the token (and a login its password),
        // which must not travel to wherever a `Location` header points.
        .redirect(reqwest::redirect::Policy::none());
    let ca = opts.ca_cert.clone().or_else(|| env_first(&["COFFER_CACERT", "VAULT_CACERT"]).map(Into::into));
    if let Some(path) = ca {
        let pem = std::fs::read(&path)
            .map_err(|e| CliError::Other(format!("cannot read the CA certificate {}: {e}", path.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| CliError::Other(format!("{} holds no usable PEM certificate: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(CliError::Other(format!("{} holds no PEM certificate", path.display())));
        }
        b = b.tls_built_in_root_certs(false);
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    let cert =
        opts.client_cert.clone().or_else(|| env_first(&["COFFER_CLIENT_CERT", "VAULT_CLIENT_CERT"]).map(Into::into));
    let key = opts.client_key.clone().or_else(|| env_first(&["COFFER_CLIENT_KEY", "VAULT_CLIENT_KEY"]).map(Into::into));
    match (cert, key) {
        (Some(cert), Some(key)) => {
            let mut pem =
                Zeroizing::new(std::fs::read(&cert).map_err(|e| {
                    CliError::Other(format!("cannot read the client certificate {}: {e}", cert.display()))
                })?);
            pem.push(b'\n');
            let key_pem = Zeroizing::new(
                std::fs::read(&key)
                    .map_err(|e| CliError::Other(format!("cannot read the client key {}: {e}", key.display())))?,
            );
            pem.extend_from_slice(&key_pem);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| CliError::Other(format!("cannot use the client certificate and key: {e}")))?;
            b = b.identity(identity);
        }
        (None, None) => {}
        _ => return Err(CliError::Usage("--client-cert and --client-key go together".into())),
    }
    if opts.tls_skip_verify || env_flag(&["COFFER_SKIP_VERIFY", "VAULT_SKIP_VERIFY"]) {
        eprintln!(
            "Warning: TLS verification is disabled (--tls-skip-verify): anyone on the network path can read and \
             change this traffic"
        );
        b = b.danger_accept_invalid_certs(true);
    }
    b.build().map_err(|e| CliError::Other(format!("cannot set up the HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_and_slashes_kept() {
        assert_eq!(encode_path("secret/data/a b/c?d"), "secret/data/a%20b/c%3Fd");
        assert_eq!(encode_path("secret/metadata/"), "secret/metadata/");
    }

    #[test]
    fn keys_are_read_from_list_answers() {
        let v = serde_json::json!({"data": {"keys": ["a", "b/"]}});
        assert_eq!(keys_of(Some(&v)), vec!["a".to_string(), "b/".to_string()]);
        assert!(keys_of(None).is_empty());
    }
}
