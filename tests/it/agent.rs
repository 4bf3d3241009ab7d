//! `coffer agent` with the real binary against a real server: templates follow the server, a
//! server restart never empties a rendered file, a short-lived token is renewed then replaced, the
//! proxy uses the agent's token only when told to, its unix socket is private, and its cache never
//! serves one caller's answer to another. Secret-id removal and revoke-on-shutdown come along.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{call_url, until, TestServer};
use crate::restart;

/// A running agent and what it logged.
struct Agent {
    child: std::process::Child,
    log: Arc<Mutex<String>>,
}

/// A failed test must not leave its agent running.
impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    fn start(cfg: &Path) -> Agent {
        Self::start_env(cfg, &[])
    }

    fn start_env(cfg: &Path, env: &[(&str, &str)]) -> Agent {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(["agent", "--config"])
            .arg(cfg)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
            .env_remove("AWS_CONTAINER_AUTHORIZATION_TOKEN")
            .env_remove("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&l);
                s.push('\n');
            }
        });
        Agent { child, log }
    }

    /// Waits (bounded) for the agent to exit.
    async fn exit_status(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(tokio::time::Instant::now() < deadline, "the agent did not exit\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The proxy's `http://ADDR`, from its log line.
    async fn proxy_addr(&self) -> String {
        until("the proxy listening", Duration::from_secs(20), || async { self.log().contains("proxy listening on") })
            .await;
        let log = self.log();
        let i = log.find("proxy listening on ").unwrap() + "proxy listening on ".len();
        log[i..].split_whitespace().next().unwrap().to_string()
    }
}

/// An approle mount, a policy reading `secret/`, and a role with `role`'s settings; writes the
/// role-id and secret-id files into `dir` and answers their paths.
async fn approle(base: &str, root: &str, dir: &Path, role: Value) -> (PathBuf, PathBuf) {
    let c = reqwest::Client::new();
    let (s, v) = call_url(&c, base, root, "POST", "sys/auth/approle", Some(json!({"type": "approle"}))).await;
    // A second agent on the same server reuses the mount.
    assert!(s == StatusCode::NO_CONTENT || v.to_string().contains("already in use"), "{v}");
    let policy = "path \"secret/data/*\" { capabilities = [\"read\"] }\npath \"sys/internal/ui/mounts/*\" { capabilities = [\"read\"] }";
    let (s, v) = call_url(&c, base, root, "PUT", "sys/policies/acl/agent", Some(json!({"policy": policy}))).await;
    assert!(s.is_success(), "{v}");
    let mut role = role;
    role["token_policies"] = json!("agent");
    let (s, v) = call_url(&c, base, root, "POST", "auth/approle/role/app", Some(role)).await;
    assert!(s.is_success(), "{v}");
    let (_, v) = call_url(&c, base, root, "GET", "auth/approle/role/app/role-id", None).await;
    let role_id = v["data"]["role_id"].as_str().unwrap().to_string();
    let (_, v) = call_url(&c, base, root, "POST", "auth/approle/role/app/secret-id", Some(json!({}))).await;
    let secret_id = v["data"]["secret_id"].as_str().unwrap().to_string();
    let (r, s) = (dir.join("role-id"), dir.join("secret-id"));
    std::fs::write(&r, role_id).unwrap();
    std::fs::write(&s, secret_id).unwrap();
    (r, s)
}

async fn put(base: &str, root: &str, path: &str, data: Value) {
    let (s, v) = call_url(&reqwest::Client::new(), base, root, "POST", path, Some(json!({ "data": data }))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

fn auth_block(role_id: &Path, secret_id: &Path, extra: &str) -> String {
    format!(
        "[auto_auth]\nmethod = \"approle\"\nrole_id_file = \"{}\"\nsecret_id_file = \"{}\"\n{extra}",
        role_id.display(),
        secret_id.display()
    )
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_secret_is_rendered_within_the_interval_and_shutdown_revokes_the_token() {
    let s = TestServer::dev().await;
    let dir = tempfile::tempdir().unwrap();
    let (rid, sid) = approle(&s.base, &s.token, dir.path(), json!({})).await;
    put(&s.base, &s.token, "secret/data/app", json!({"pass": "s3cr3t-one"})).await;
    let out = dir.path().join("app.conf");
    let sink = dir.path().join("token");
    let ran = dir.path().join("ran");
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "revoke_on_shutdown = true\n[server]\naddress = \"{}\"\n{}[[sink]]\npath = \"{}\"\n\
             [[template]]\ncontents = \"pass={{{{ secret \\\"secret/app\\\" \\\"pass\\\" }}}}\\n\"\n\
             destination = \"{}\"\ninterval = \"1s\"\ncommand = [\"sh\", \"-c\", \"echo x >> {}\"]\n",
            s.base,
            auth_block(&rid, &sid, "remove_secret_id_file_after_reading = true\n"),
            sink.display(),
            out.display(),
            ran.display()
        ),
    )
    .unwrap();
    let mut agent = Agent::start(&cfg);
    until("the first render", Duration::from_secs(20), || async { read(&out).as_deref() == Some("pass=s3cr3t-one\n") })
        .await;
    assert_eq!(mode(&out), 0o600);
    assert_eq!(mode(&sink), 0o600);
    assert!(!sid.exists(), "the secret-id file is removed after reading");
    let token = read(&sink).unwrap();
    let (st, v) = call_url(&s.client, &s.base, &token, "GET", "secret/data/app", None).await;
    assert_eq!(st, StatusCode::OK, "the sink's token works: {v}");

    put(&s.base, &s.token, "secret/data/app", json!({"pass": "s3cr3t-two"})).await;
    until("the new value rendered", Duration::from_secs(5), || async {
        read(&out).as_deref() == Some("pass=s3cr3t-two\n")
    })
    .await;
    until("the command ran after each render", Duration::from_secs(10), || async {
        read(&ran).is_some_and(|r| r.lines().count() == 2)
    })
    .await;

    rustix::process::kill_process(
        rustix::process::Pid::from_raw(agent.child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = agent.exit_status(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}\n{}", agent.log());
    let (st, _) = call_url(&s.client, &s.base, &token, "GET", "auth/token/lookup-self", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "revoke_on_shutdown revoked the token");
    let log = agent.log();
    assert!(!log.contains(&token) && !log.contains("s3cr3t"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_loses_nothing_and_never_empties_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = restart::write_config(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let text = std::fs::read_to_string(&cfg).unwrap().replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    std::fs::write(&cfg, text).unwrap();
    let server = restart::spawn(&cfg);
    let base = server.base.clone();
    let root = restart::init(&base).await;
    let (rid, sid) = approle(&base, &root, dir.path(), json!({})).await;
    put(&base, &root, "secret/data/app", json!({"v": "one"})).await;
    let out = dir.path().join("out");
    let acfg = dir.path().join("agent.toml");
    std::fs::write(
        &acfg,
        format!(
            "[server]\naddress = \"{base}\"\n{}[[template]]\ncontents = \"v={{{{ secret \\\"secret/app\\\" \\\"v\\\" }}}}\"\n\
             destination = \"{}\"\ninterval = \"1s\"\n",
            auth_block(&rid, &sid, ""),
            out.display()
        ),
    )
    .unwrap();
    let agent = Agent::start(&acfg);
    until("the first render", Duration::from_secs(20), || async { read(&out).as_deref() == Some("v=one") }).await;

    drop(server);
    // While the server is down, every look at the file finds the last good render: watched over
    // several re-read intervals (observation, not a wait).
    let watch_until = tokio::time::Instant::now() + Duration::from_secs(4);
    while tokio::time::Instant::now() < watch_until {
        assert_eq!(read(&out).as_deref(), Some("v=one"), "{}", agent.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let server = restart::spawn(&cfg);
    assert_eq!(server.base, base);
    put(&base, &root, "secret/data/app", json!({"v": "two"})).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = read(&out);
        assert!(now.as_deref() == Some("v=one") || now.as_deref() == Some("v=two"), "{now:?}");
        if now.as_deref() == Some("v=two") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not re-rendered after the restart\n{}", agent.log());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_second_token_is_renewed_and_then_replaced() {
    let s = TestServer::dev().await;
    let dir = tempfile::tempdir().unwrap();
    let (rid, sid) = approle(&s.base, &s.token, dir.path(), json!({"token_ttl": "5s", "token_max_ttl": "8s"})).await;
    let sink = dir.path().join("token");
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\naddress = \"{}\"\n{}[[sink]]\npath = \"{}\"\n",
            s.base,
            auth_block(&rid, &sid, ""),
            sink.display()
        ),
    )
    .unwrap();
    let agent = Agent::start(&cfg);
    until("the token sink", Duration::from_secs(20), || async { read(&sink).is_some() }).await;
    let first = read(&sink).unwrap();
    let lookup = |t: String| {
        let c = s.client.clone();
        let base = s.base.clone();
        async move { call_url(&c, &base, &t, "GET", "auth/token/lookup-self", None).await }
    };
    let (st, v) = lookup(first.clone()).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let expire0 = v["data"]["expire_time"].as_str().unwrap().to_string();
    until("the renewal (a later expire_time)", Duration::from_secs(6), || {
        let (first, expire0) = (first.clone(), expire0.clone());
        async move {
            let (st, v) = lookup(first).await;
            st == StatusCode::OK && v["data"]["expire_time"].as_str().is_some_and(|e| e > expire0.as_str())
        }
    })
    .await;
    until("a new token in the sink", Duration::from_secs(10), || async { read(&sink).is_some_and(|t| t != first) })
        .await;
    let second = read(&sink).unwrap();
    let (st, v) = lookup(second).await;
    assert_eq!(st, StatusCode::OK, "the new token works: {v}\n{}", agent.log());
}

/// An agent with a proxy; answers it and its address.
async fn proxy_agent(s: &TestServer, dir: &Path, proxy: &str) -> Agent {
    let (rid, sid) = approle(&s.base, &s.token, dir, json!({})).await;
    let cfg = dir.join("agent.toml");
    std::fs::write(&cfg, format!("[server]\naddress = \"{}\"\n{}[proxy]\n{proxy}", s.base, auth_block(&rid, &sid, "")))
        .unwrap();
    Agent::start(&cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_adds_the_agents_token_only_when_told_to() {
    let s = TestServer::dev().await;
    put(&s.base, &s.token, "secret/data/app", json!({"k": "v"})).await;
    let d1 = tempfile::tempdir().unwrap();
    let on = proxy_agent(&s, d1.path(), "listen = \"127.0.0.1:0\"\nuse_auto_auth_token = true\n").await;
    let addr = on.proxy_addr().await;
    let c = reqwest::Client::new();
    until("a read through the proxy with the agent's token", Duration::from_secs(20), || async {
        c.get(format!("{addr}/v1/secret/data/app")).send().await.unwrap().status() == StatusCode::OK
    })
    .await;
    let v: Value = c.get(format!("{addr}/v1/secret/data/app")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["data"]["data"]["k"], "v");
    // Only /v1/ is proxied, and an oversize body is refused before it reaches the server.
    assert_eq!(c.get(format!("{addr}/ui/")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let big = vec![b'x'; (32 << 20) + 1];
    let r = c.post(format!("{addr}/v1/secret/data/big")).body(big).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Off by default: a unix socket, mode 0600, and a request without a token is refused.
    let d2 = tempfile::tempdir().unwrap();
    let sock = d2.path().join("agent.sock");
    let off = proxy_agent(&s, d2.path(), &format!("unix_socket = \"{}\"\n", sock.display())).await;
    off.proxy_addr().await;
    until("the second agent's login", Duration::from_secs(20), || async { off.log().contains("agent: logged in") })
        .await;
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()));
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let (status, body) = unix_get(&sock, "/v1/secret/data/app", None).await;
    assert!(status == 403 || status == 400, "{status} {body}");
    assert!(!body.contains("\"k\""), "{body}");
    let (status, body) = unix_get(&sock, "/v1/secret/data/app", Some(&s.token)).await;
    assert_eq!(status, 200, "{body}");
}

/// A GET over a unix socket, HTTP/1.1 by hand: the status and the body.
async fn unix_get(sock: &Path, target: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = tokio::net::UnixStream::connect(sock).await.unwrap();
    let auth = token.map(|t| format!("X-Vault-Token: {t}\r\n")).unwrap_or_default();
    let req = format!("GET {target} HTTP/1.1\r\nHost: agent\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_callers_with_different_tokens_never_share_a_cached_answer() {
    let s = TestServer::dev().await;
    put(&s.base, &s.token, "secret/data/app", json!({"k": "first"})).await;
    let other = s.token_with_policy("nothing", "path \"secret/data/other\" { capabilities = [\"read\"] }").await;
    let dir = tempfile::tempdir().unwrap();
    let agent = proxy_agent(&s, dir.path(), "listen = \"127.0.0.1:0\"\nkv_cache_ttl = \"60s\"\n").await;
    let addr = agent.proxy_addr().await;
    let c = reqwest::Client::new();
    let get = |token: Option<String>| {
        let c = c.clone();
        let url = format!("{addr}/v1/secret/data/app");
        async move {
            let mut r = c.get(url);
            if let Some(t) = token {
                r = r.header("X-Vault-Token", t);
            }
            let r = r.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (st, v) = get(Some(s.token.clone())).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["data"]["k"], "first");
    // The answer is cached: a change on the server is not seen by the same caller yet.
    put(&s.base, &s.token, "secret/data/app", json!({"k": "second"})).await;
    let (st, v) = get(Some(s.token.clone())).await;
    assert_eq!((st, &v["data"]["data"]["k"]), (StatusCode::OK, &json!("first")), "the read is cached");
    // Another token asking the same path goes to the server, which refuses it.
    let (st, v) = get(Some(other.clone())).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    // No token at all (use_auto_auth_token is off): refused too.
    let (st, v) = get(None).await;
    assert!(st == StatusCode::FORBIDDEN || st == StatusCode::BAD_REQUEST, "{st} {v}");
    // A token allowed on the path but that has not asked yet gets the server's current answer.
    let reader = s.token_with_policy("reader", "path \"secret/data/app\" { capabilities = [\"read\"] }").await;
    let (st, v) = get(Some(reader)).await;
    assert_eq!((st, &v["data"]["data"]["k"]), (StatusCode::OK, &json!("second")), "{v}");
}

/// A JWT for `sub`, signed with `key` (ES256), valid for five minutes.
fn jwt(key: &rcgen::KeyPair, sub: &str) -> String {
    // The test compares the JWT's times with the server's wall clock.
    #[allow(clippy::disallowed_methods)]
    let now = chrono::Utc::now().timestamp();
    let claims =
        json!({"iss": "https://issuer.test", "sub": sub, "aud": "coffer", "iat": now, "nbf": now, "exp": now + 300});
    let enc = jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256), &claims, &enc).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_auto_auth_reads_the_token_file_again_at_every_login() {
    let s = TestServer::dev().await;
    let key = rcgen::KeyPair::generate().unwrap();
    for (path, body) in [
        ("sys/auth/jwt", json!({"type": "jwt"})),
        (
            "auth/jwt/config",
            json!({"jwt_validation_pubkeys": [key.public_key_pem()], "bound_issuer": "https://issuer.test"}),
        ),
        (
            "auth/jwt/role/app",
            json!({"role_type": "jwt", "bound_audiences": ["coffer"], "user_claim": "sub",
                   "claim_mappings": {"sub": "who"}, "token_ttl": "3s", "token_max_ttl": "3s"}),
        ),
    ] {
        let (st, v) = s.call("POST", path, Some(body)).await;
        assert!(st.is_success(), "{path}: {v}");
    }
    let dir = tempfile::tempdir().unwrap();
    let jwt_file = dir.path().join("jwt");
    std::fs::write(&jwt_file, jwt(&key, "first")).unwrap();
    let sink = dir.path().join("token");
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\naddress = \"{}\"\n[auto_auth]\nmethod = \"jwt\"\nrole = \"app\"\ntoken_file = \"{}\"\n[[sink]]\npath = \"{}\"\n",
            s.base,
            jwt_file.display(),
            sink.display()
        ),
    )
    .unwrap();
    let agent = Agent::start(&cfg);
    let who = |t: String| {
        let (c, base) = (s.client.clone(), s.base.clone());
        async move {
            let (st, v) = call_url(&c, &base, &t, "GET", "auth/token/lookup-self", None).await;
            (st == StatusCode::OK).then(|| v["data"]["meta"]["who"].as_str().unwrap_or("").to_string())
        }
    };
    until("the first login", Duration::from_secs(20), || async { read(&sink).is_some() }).await;
    assert_eq!(who(read(&sink).unwrap()).await.as_deref(), Some("first"), "{}", agent.log());
    // The workload's token is rotated (as the kubelet does); the next login uses the new one.
    std::fs::write(&jwt_file, jwt(&key, "second")).unwrap();
    until("a login with the new JWT", Duration::from_secs(10), || async {
        match read(&sink) {
            Some(t) => who(t).await.as_deref() == Some("second"),
            None => false,
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_render_signals_the_process_in_the_pid_file() {
    let s = TestServer::dev().await;
    let dir = tempfile::tempdir().unwrap();
    let (rid, sid) = approle(&s.base, &s.token, dir.path(), json!({})).await;
    put(&s.base, &s.token, "secret/data/app", json!({"k": "one"})).await;
    let hups = dir.path().join("hups");
    let mut app = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("trap 'echo hup >> {}' HUP; while :; do sleep 0.05; done", hups.display()))
        .spawn()
        .unwrap();
    let pid_file = dir.path().join("app.pid");
    std::fs::write(&pid_file, app.id().to_string()).unwrap();
    let out = dir.path().join("out");
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\naddress = \"{}\"\n{}[[template]]\ncontents = \"{{{{ secret \\\"secret/app\\\" \\\"k\\\" }}}}\"\n\
             destination = \"{}\"\ninterval = \"1s\"\nsignal = \"SIGHUP\"\npid_file = \"{}\"\n",
            s.base,
            auth_block(&rid, &sid, ""),
            out.display(),
            pid_file.display()
        ),
    )
    .unwrap();
    let agent = Agent::start(&cfg);
    until("the first render and its signal", Duration::from_secs(20), || async {
        read(&out).as_deref() == Some("one") && read(&hups).is_some_and(|h| h.lines().count() == 1)
    })
    .await;
    put(&s.base, &s.token, "secret/data/app", json!({"k": "two"})).await;
    until("the second render and its signal", Duration::from_secs(10), || async {
        read(&out).as_deref() == Some("two") && read(&hups).is_some_and(|h| h.lines().count() == 2)
    })
    .await;
    // An unchanged secret is not rendered again, so no further signal: watched over two re-read
    // intervals (observation, not a wait).
    let watch_until = tokio::time::Instant::now() + Duration::from_millis(2500);
    while tokio::time::Instant::now() < watch_until {
        assert_eq!(read(&hups).map(|h| h.lines().count()), Some(2), "{}", agent.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(agent.log().matches("agent: rendered").count(), 2, "{}", agent.log());
    let _ = app.kill();
    let _ = app.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_answers_are_cached_and_renewed_in_the_background_and_re_read_by_templates_at_half_lease() {
    let (_pg, s) = crate::database::setup().await;
    let (st, v) = s
        .call(
            "POST",
            "database/roles/short",
            Some(json!({"db_name": "pg", "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}';"],
                        "default_ttl": "6s", "max_ttl": "1h"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let dir = tempfile::tempdir().unwrap();
    let (rid, sid) = approle(&s.base, &s.token, dir.path(), json!({})).await;
    let policy = "path \"database/creds/short\" { capabilities = [\"read\"] }\npath \"sys/internal/ui/mounts/*\" { capabilities = [\"read\"] }";
    let (st, v) = s.call("PUT", "sys/policies/acl/agent", Some(json!({"policy": policy}))).await;
    assert!(st.is_success(), "{v}");
    let out = dir.path().join("db.env");
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\naddress = \"{}\"\n{}[[template]]\ncontents = \"user={{{{ secret \\\"database/creds/short\\\" \\\"username\\\" }}}}\"\n\
             destination = \"{}\"\ninterval = \"1h\"\n[proxy]\nlisten = \"127.0.0.1:0\"\n",
            s.base,
            auth_block(&rid, &sid, ""),
            out.display()
        ),
    )
    .unwrap();
    let agent = Agent::start(&cfg);

    // Templates: a leased answer is read again at half its lease, long before the 1h interval.
    until("the first render", Duration::from_secs(20), || async { read(&out).is_some() }).await;
    let first = read(&out).unwrap();
    until("a re-read at half the lease", Duration::from_secs(10), || async { read(&out).is_some_and(|r| r != first) })
        .await;

    // Proxy: the same caller gets the same credentials (one lease), which the agent renews in the
    // background at 2/3 of the lease with no request asking for it.
    let addr = agent.proxy_addr().await;
    let c = reqwest::Client::new();
    let creds = || {
        let (c, url, t) = (c.clone(), format!("{addr}/v1/database/creds/short"), s.token.clone());
        async move {
            let r = c.get(url).header("X-Vault-Token", t).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        }
    };
    let a = creds().await;
    let b = creds().await;
    assert_eq!(a["lease_id"], b["lease_id"], "the leased answer is cached");
    let lease_id = a["lease_id"].as_str().unwrap().to_string();
    let expire = |id: String| {
        let (c, base, t) = (s.client.clone(), s.base.clone(), s.token.clone());
        async move {
            let (st, v) = call_url(&c, &base, &t, "PUT", "sys/leases/lookup", Some(json!({"lease_id": id}))).await;
            (st, v["data"]["expire_time"].as_str().unwrap_or_default().to_string())
        }
    };
    let (st, e0) = expire(lease_id.clone()).await;
    assert_eq!(st, StatusCode::OK);
    let mut seen = e0.clone();
    for n in 1..=2 {
        let last = seen.clone();
        until(&format!("background renewal {n} of the cached lease"), Duration::from_secs(10), || {
            let (id, last) = (lease_id.clone(), last.clone());
            async move { expire(id).await.1 > last }
        })
        .await;
        seen = expire(lease_id.clone()).await.1;
    }
    // Six seconds after it was read, the first lease would be over without the renewals.
    let c2 = creds().await;
    assert_eq!(c2["lease_id"], a["lease_id"], "still the same credentials");
    assert_eq!(c2["data"]["password"], a["data"]["password"]);

    // A lease whose renewal is refused (revoked on the server) is dropped: the next read is new.
    let (st, v) = s.call("PUT", "sys/leases/revoke", Some(json!({"lease_id": lease_id}))).await;
    assert!(st.is_success(), "{v}");
    // The refusal comes at 2/3 of the lease, a third of it before the entry would end on its own:
    // from then on the caller gets new credentials.
    until("the renewal of the revoked lease refused", Duration::from_secs(10), || async {
        agent.log().contains("renewal of a cached lease was refused")
    })
    .await;
    let fresh = creds().await;
    assert_ne!(fresh["lease_id"].as_str(), Some(lease_id.as_str()), "a revoked lease is no longer served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_auto_auth_logs_in_with_the_client_certificate() {
    use crate::cert_auth::{ca, leaf, Env, Leaf};
    let env = Env::start().await;
    let mesh = ca("mesh");
    env.write_role("web", json!({"certificate": mesh.cert.pem(), "token_policies": ["default"], "token_ttl": "1h"}))
        .await;
    let ident = leaf(&mesh, &Leaf::default());
    let dir = tempfile::tempdir().unwrap();
    let at = ident.pem.find("-----BEGIN PRIVATE KEY-----").unwrap();
    let (cert, key) = (dir.path().join("svc.pem"), dir.path().join("svc.key"));
    std::fs::write(&cert, &ident.pem[..at]).unwrap();
    std::fs::write(&key, &ident.pem[at..]).unwrap();
    let sink = dir.path().join("token");
    let port = env.running.as_ref().unwrap().addr.port();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\naddress = \"https://localhost:{port}\"\nca_cert = \"{}\"\n\
             [auto_auth]\nmethod = \"cert\"\nname = \"web\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\n\
             [[sink]]\npath = \"{}\"\n[proxy]\nlisten = \"127.0.0.1:0\"\n",
            env.pki.cert.display(),
            cert.display(),
            key.display(),
            sink.display()
        ),
    )
    .unwrap();
    let agent = Agent::start(&cfg);
    until("the token sink", Duration::from_secs(20), || async { read(&sink).is_some_and(|t| !t.is_empty()) }).await;
    let token = read(&sink).unwrap();
    let (st, v) = env.call(None, "GET", "auth/token/lookup-self", Some(token.trim()), None).await;
    assert_eq!(st, reqwest::StatusCode::OK, "{v}\n{}", agent.log());
    assert_eq!(v["data"]["meta"]["common_name"], "app1", "{v}");

    // The proxy never lends the agent's certificate: a caller logging in through it presents none,
    // so it cannot get a token for the agent's identity (use_auto_auth_token is off).
    let addr = agent.proxy_addr().await;
    let r = reqwest::Client::new()
        .post(format!("{addr}/v1/auth/cert/login"))
        .json(&json!({"name": "web"}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(!body.contains("client_token"), "{body}");
}

/// An agent configuration for aws auto-auth against `s` (role `app`) with a token sink: its path
/// and the sink's.
fn aws_agent(s: &TestServer, dir: &Path) -> (PathBuf, PathBuf) {
    let sink = dir.join("token");
    let cfg = dir.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\naddress = \"{}\"\n[auto_auth]\nmethod = \"aws\"\nrole = \"app\"\n\
             header_value = \"{}\"\n[[sink]]\npath = \"{}\"\n",
            s.base,
            crate::aws_auth::SERVER_ID,
            sink.display()
        ),
    )
    .unwrap();
    (cfg, sink)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_auto_auth_signs_a_get_caller_identity_with_the_environments_keys() {
    let (s, _moto, key) = crate::aws_auth::setup().await;
    let dir = tempfile::tempdir().unwrap();
    let (cfg, sink) = aws_agent(&s, dir.path());
    let agent = Agent::start_env(&cfg, &[("AWS_ACCESS_KEY_ID", &key.0), ("AWS_SECRET_ACCESS_KEY", &key.1)]);
    until("the token sink", Duration::from_secs(20), || async { read(&sink).is_some_and(|t| !t.is_empty()) }).await;
    let token = read(&sink).unwrap();
    let (st, v) = s.call_as(token.trim(), "GET", "auth/token/lookup-self", None).await;
    assert_eq!(st, reqwest::StatusCode::OK, "{v}\n{}", agent.log());
    assert_eq!(v["data"]["display_name"], "aws-alice", "{v}");
    assert!(!agent.log().contains(&key.1), "the secret key reached the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_auto_auth_takes_credentials_from_the_container_endpoint_with_its_token() {
    let (s, _moto, key) = crate::aws_auth::setup().await;
    let dir = tempfile::tempdir().unwrap();
    // What ECS or EKS Pod Identity serve: the task role's keys (here a moto user's), only to a
    // request carrying the token from the token file.
    const TOKEN: &str = "pod-identity-token-1";
    let (kid, secret) = key.clone();
    let app = axum::Router::new().route(
        "/creds",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let (kid, secret) = (kid.clone(), secret.clone());
            async move {
                if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
                    return (StatusCode::UNAUTHORIZED, "{}".to_string());
                }
                let v = json!({"AccessKeyId": kid, "SecretAccessKey": secret, "Token": "", "Expiration": "2099-01-01T00:00:00Z"});
                (StatusCode::OK, v.to_string())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let token_file = dir.path().join("token-file");
    std::fs::write(&token_file, "a-wrong-token\n").unwrap();
    let (cfg, sink) = aws_agent(&s, dir.path());
    let uri = format!("http://{addr}/creds");
    let agent = Agent::start_env(
        &cfg,
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file.to_str().unwrap()),
        ],
    );
    // The wrong token is refused by the endpoint, and no login happens.
    until("the endpoint refusing the wrong token", Duration::from_secs(20), || async {
        agent.log().contains("container credentials endpoint answered 401")
    })
    .await;
    assert!(read(&sink).is_none());
    // The token file is read again at the next attempt.
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    until("the token sink", Duration::from_secs(40), || async { read(&sink).is_some_and(|t| !t.is_empty()) }).await;
    let token = read(&sink).unwrap();
    let (st, v) = s.call_as(token.trim(), "GET", "auth/token/lookup-self", None).await;
    assert_eq!(st, StatusCode::OK, "{v}\n{}", agent.log());
    assert_eq!(v["data"]["display_name"], "aws-alice", "{v}");
    assert!(!agent.log().contains(&key.1), "the secret key reached the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_auto_auth_refuses_a_plain_http_credentials_uri_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(&cfg, "[server]\naddress = \"http://127.0.0.1:9\"\n[auto_auth]\nmethod = \"aws\"\nrole = \"app\"\n")
        .unwrap();
    let agent =
        Agent::start_env(&cfg, &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.169.254/latest/meta-data/")]);
    until("the refusal", Duration::from_secs(20), || async {
        agent.log().contains("not https, loopback or the ECS/EKS endpoint")
    })
    .await;
}
