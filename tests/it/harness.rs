//! Test harness: start a real Coffer server on 127.0.0.1:0 and talk to it with reqwest.

use std::path::PathBuf;

use coffer::core::seal::SealKind;
use coffer::server::http::{Limits, Listener};
use coffer::server::{self, Running};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::Value;
use tempfile::TempDir;

/// A running server with its own temporary SQLite store.
pub struct TestServer {
    pub running: Option<Running>,
    pub base: String,
    pub client: reqwest::Client,
    pub token: String,
    pub dir: TempDir,
}

/// Default limits used by tests.
pub fn limits() -> Limits {
    Limits { max_request_size: 1 << 20, max_json_depth: 64, ..Limits::default() }
}

impl TestServer {
    /// The database file of this server.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("coffer.db")
    }

    /// A sealed, uninitialised server (Shamir seal).
    pub async fn uninitialised() -> Self {
        Self::start_with(SealKind::Shamir, limits()).await
    }

    /// A server set up like `coffer server --dev` (unsealed, `secret/` mounted, root token `root`).
    pub async fn dev() -> Self {
        let mut s = Self::uninitialised().await;
        let core = s.running.as_ref().unwrap().core.clone();
        server::setup_dev(&core, Some(SecretString::from("root".to_string()))).await.unwrap();
        s.token = "root".into();
        s
    }

    /// A dev server without the KV cache, for tests that change the database behind the server's
    /// back (a cache would keep answering what it read before).
    pub async fn dev_uncached() -> Self {
        let options = server::Options {
            seal: SealKind::Shamir,
            limits: limits(),
            audit: Default::default(),
            lease_ttl: server::DEFAULT_LEASE_TTL,
            cache: coffer::store::cache::Settings { size: 0, multi_node: false },
            aws: Default::default(),
        };
        let mut s = Self::start_opts(tempfile::tempdir().unwrap(), options).await;
        let core = s.running.as_ref().unwrap().core.clone();
        server::setup_dev(&core, Some(SecretString::from("root".to_string()))).await.unwrap();
        s.token = "root".into();
        s
    }

    /// A dev-mode server with the given root token and limits.
    pub async fn dev_with(root: &str, limits: Limits) -> Self {
        let mut s = Self::start_with(SealKind::Shamir, limits).await;
        let core = s.running.as_ref().unwrap().core.clone();
        server::setup_dev(&core, Some(SecretString::from(root.to_string()))).await.unwrap();
        s.token = root.into();
        s
    }

    /// A server over a fresh store with the given seal and limits.
    pub async fn start_with(seal: SealKind, limits: Limits) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, seal, limits).await
    }

    /// A server over the store in `dir` (reused across restarts).
    pub async fn start_in(dir: TempDir, seal: SealKind, limits: Limits) -> Self {
        Self::start_opts(
            dir,
            server::Options {
                seal,
                limits,
                audit: Default::default(),
                lease_ttl: server::DEFAULT_LEASE_TTL,
                cache: cache_from_env(),
                aws: Default::default(),
            },
        )
        .await
    }

    /// A dev-mode server (root token `root`) with these audit settings.
    pub async fn dev_audited(audit: coffer::core::audit::Settings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Self::start_opts(
            dir,
            server::Options {
                seal: SealKind::Shamir,
                limits: limits(),
                audit,
                lease_ttl: server::DEFAULT_LEASE_TTL,
                cache: cache_from_env(),
                aws: Default::default(),
            },
        )
        .await;
        let core = s.running.as_ref().unwrap().core.clone();
        server::setup_dev(&core, Some(SecretString::from("root".to_string()))).await.unwrap();
        s.token = "root".into();
        s
    }

    /// An uninitialised server over the store at `url` (e.g. a shared PostgreSQL database),
    /// with the given singleton lease TTL.
    pub async fn at_url(url: &str, lease_ttl: std::time::Duration) -> Self {
        let options = server::Options {
            seal: SealKind::Shamir,
            limits: limits(),
            audit: Default::default(),
            lease_ttl,
            cache: cache_from_env(),
            aws: Default::default(),
        };
        Self::at_url_opts(url, options).await
    }

    /// A node over the database at `url` with full options.
    pub async fn at_url_opts(url: &str, options: server::Options) -> Self {
        let store = coffer::store::open(url).await.unwrap();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = server::start_with(store, Listener::Plain(tcp), options).await.unwrap();
        let base = format!("http://{}", running.addr);
        let dir = tempfile::tempdir().unwrap();
        Self { running: Some(running), base, client: reqwest::Client::new(), token: String::new(), dir }
    }

    /// A server over the store in `dir` with full options.
    pub async fn start_opts(dir: TempDir, options: server::Options) -> Self {
        let url = format!("sqlite://{}", dir.path().join("coffer.db").display());
        let store = coffer::store::open(&url).await.unwrap();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = server::start_with(store, Listener::Plain(tcp), options).await.unwrap();
        let base = format!("http://{}", running.addr);
        Self { running: Some(running), base, client: reqwest::Client::new(), token: String::new(), dir }
    }

    /// Stops the server and hands back its directory (for a restart).
    pub async fn stop(mut self) -> TempDir {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        self.dir
    }

    /// Sends a request with the server's token; returns status and JSON body (`Null` if empty).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(&self.token, method, path, body).await
    }

    /// Sends a request with the given token ("" for none).
    pub async fn call_as(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        call_url(&self.client, &self.base, token, method, path, body).await
    }

    /// Writes ACL policy `name` from HCL `text` and returns a new token that has only it.
    pub async fn token_with_policy(&self, name: &str, text: &str) -> String {
        let (st, v) =
            self.call("PUT", &format!("sys/policies/acl/{name}"), Some(serde_json::json!({ "policy": text }))).await;
        assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
        let (st, v) = self.call("POST", "auth/token/create", Some(serde_json::json!({"policies": [name]}))).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        v["auth"]["client_token"].as_str().unwrap().to_string()
    }

    /// Initialises with `n` shares and threshold `t`; returns (hex shares, root token).
    pub async fn init(&mut self, n: u64, t: u64) -> (Vec<String>, String) {
        let (s, v) = self
            .call_as("", "PUT", "sys/init", Some(serde_json::json!({"secret_shares": n, "secret_threshold": t})))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let keys = v["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
        let root = v["root_token"].as_str().unwrap().to_string();
        self.token = root.clone();
        (keys, root)
    }

    /// Submits shares until unsealed; panics if still sealed.
    pub async fn unseal(&self, shares: &[String]) {
        for k in shares {
            let (s, v) = self.call_as("", "PUT", "sys/unseal", Some(serde_json::json!({"key": k}))).await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
        let (_, v) = self.call_as("", "GET", "sys/seal-status", None).await;
        assert_eq!(v["sealed"], false, "{v}");
    }

    /// A request builder for `/v1/<path>` carrying the server's token (if any).
    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let req = self.client.request(m, format!("{}/v1/{}", self.base, path));
        if self.token.is_empty() {
            req
        } else {
            req.header("X-Vault-Token", &self.token)
        }
    }

    /// A request builder for `/v1/<path>` without any token.
    pub fn request_anon(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        self.client.request(m, format!("{}/v1/{}", self.base, path))
    }

    /// `PATCH` with the merge-patch content type.
    pub async fn patch(&self, path: &str, body: Value) -> Raw {
        send(self.request("PATCH", path).header("Content-Type", "application/merge-patch+json").body(body.to_string()))
            .await
    }

    /// Writes `data` to a KV v2 `data/` path; asserts 200 and returns the response `data`.
    pub async fn write(&self, path: &str, data: Value) -> Value {
        let (s, v) = self.call("PUT", path, Some(serde_json::json!({ "data": data }))).await;
        assert_eq!(s, StatusCode::OK, "write {path}: {v}");
        v["data"].clone()
    }

    /// Reads a KV v2 `data/` path; asserts 200 and returns `data.data`.
    pub async fn read(&self, path: &str) -> Value {
        let (s, v) = self.call("GET", path, None).await;
        assert_eq!(s, StatusCode::OK, "read {path}: {v}");
        v["data"]["data"].clone()
    }

    /// Sends a hand-written HTTP/1.1 request (the target is sent byte for byte, unlike reqwest,
    /// which normalises `.` and `..` segments); returns the status code and body.
    pub async fn raw_http(&self, method: &str, target: &str, token: Option<&str>, body: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.running.as_ref().unwrap().addr;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(t) = token {
            head.push_str(&format!("X-Vault-Token: {t}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut buf)).await.unwrap().unwrap();
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, body.to_string())
    }
}

/// A response as received: status, headers and body text.
pub struct Raw {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Raw {
    /// The body as JSON (`Null` if empty).
    pub fn json(&self) -> Value {
        if self.text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
        }
    }
}

/// Sends a prepared request and collects the whole response.
pub async fn send(req: reqwest::RequestBuilder) -> Raw {
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    Raw { status, headers, text }
}

/// A random alphanumeric string (canaries, tokens, key names).
pub fn random_text(len: usize) -> String {
    coffer::crypto::random_base62(len)
}

/// Sends `METHOD base/v1/path` with an optional token and JSON body; returns status and JSON
/// (`Null` for an empty body).
pub async fn call_url(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client.request(m, format!("{base}/v1/{path}"));
    if !token.is_empty() {
        req = req.header("X-Vault-Token", token);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let v = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
    (status, v)
}

/// Polls `check` every 25 ms until it holds; fails, naming `what`, after `limit`.
pub async fn until<F, Fut>(what: &str, limit: std::time::Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within {limit:?}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// The KV engine's background view of a core, as the server hands it to the rotation worker.
pub fn kv_work(core: &std::sync::Arc<coffer::core::Core>) -> coffer::core::engine::Background {
    coffer::core::engine::Background::new(core.clone(), "kv")
}

/// The KV cache settings of the test servers: the defaults, unless `COFFER_CACHE_SIZE` or
/// `COFFER_CACHE_MULTI_NODE` say otherwise (so a run can repeat a suite with the cache off, or on
/// over PostgreSQL).
pub fn cache_from_env() -> coffer::store::cache::Settings {
    coffer::server::config::cache_from_env().expect("COFFER_CACHE_* variables")
}
