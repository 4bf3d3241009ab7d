//! PostgreSQL restarted under load: requests fail with a 5xx while it is down, no acknowledged
//! write is lost, nothing half-written appears, and service resumes by itself. The database is a
//! private cluster (`initdb` on a free port), so restarting it disturbs no other test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use coffer::server;
use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::Mutex;

use crate::harness::TestServer;

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL cluster of this test's own, run as the `postgres` user.
pub struct OwnCluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    sock: PathBuf,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// Extra server settings (`-c name=value …`).
    extra: String,
}

pub fn as_postgres(args: &[&str]) {
    if let Err(e) = try_as_postgres(args) {
        panic!("{args:?}: {e}");
    }
}

/// Runs `args` as the `postgres` user; its stderr when it fails.
fn try_as_postgres(args: &[&str]) -> Result<(), String> {
    let out = Command::new("runuser").args(["-u", "postgres", "--"]).args(args).output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl OwnCluster {
    /// `initdb` (trust auth, user postgres) and start on a free port.
    pub fn start() -> Self {
        Self::start_configured(|_| String::new())
    }

    /// Like [`OwnCluster::start`]; `configure` gets the data directory after `initdb` (to write
    /// files into it) and returns extra server settings.
    pub fn start_configured(configure: impl FnOnce(&Path) -> String) -> Self {
        Self::init_and_start(&["--auth=trust"], configure)
    }

    /// A cluster that checks passwords (`scram-sha-256` for every connection); the superuser
    /// `postgres` has `password`.
    pub fn start_scram(password: &str) -> Self {
        let pwfile = std::env::temp_dir().join(format!("coffer-pw-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&pwfile, password).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o644)).unwrap();
        let pw = format!("--pwfile={}", pwfile.display());
        let c = Self::init_and_start(&["--auth=scram-sha-256", &pw], |_| String::new());
        let _ = std::fs::remove_file(&pwfile);
        c
    }

    fn init_and_start(auth: &[&str], configure: impl FnOnce(&Path) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let (data, sock) = (dir.path().join("data"), dir.path().join("sock"));
        for d in [&data, &sock] {
            std::fs::create_dir(d).unwrap();
            Command::new("chown").arg("postgres").arg(d).status().unwrap();
        }
        let mut args =
            vec![format!("{BIN}/initdb"), "-D".into(), data.display().to_string(), "-U".into(), "postgres".into()];
        args.extend(auth.iter().map(|a| a.to_string()));
        args.push("-N".into());
        as_postgres(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let extra = configure(&data);
        let mut c = OwnCluster { port: free_port(), data, sock, _dir: dir, extra };
        // The port is free when picked but not held: another test may take it before PostgreSQL
        // binds it. PostgreSQL listens on 127.0.0.1 only, so it either gets the port or fails to
        // start (never half-starts on ::1 beside another cluster); then another port is tried.
        for attempt in 1.. {
            match c.try_ctl(&["start"]) {
                Ok(()) => break,
                Err(e) if attempt < 5 => {
                    eprintln!("own cluster: port {} taken? ({e}); trying another", c.port);
                    c.port = free_port();
                }
                Err(e) => panic!("own cluster: cannot start: {e}"),
            }
        }
        c
    }

    fn ctl(&self, action: &[&str]) {
        if let Err(e) = self.try_ctl(action) {
            panic!("pg_ctl {action:?}: {e}");
        }
    }

    fn try_ctl(&self, action: &[&str]) -> Result<(), String> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on {}",
            self.port,
            self.sock.display(),
            self.extra
        );
        let log = self.data.join("log");
        let mut args = vec![format!("{BIN}/pg_ctl"), "-D".into(), self.data.display().to_string()];
        args.extend(["-w".into(), "-l".into(), log.display().to_string(), "-o".into(), opts]);
        args.extend(action.iter().map(|s| s.to_string()));
        try_as_postgres(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// A crash-like restart: every backend killed, the WAL replayed.
    pub fn restart_immediate(&self) {
        self.ctl(&["restart", "-m", "immediate"]);
    }

    /// A fast shutdown: the database is down until [`OwnCluster::start_again`].
    pub fn stop(&self) {
        self.ctl(&["stop", "-m", "fast"]);
    }

    /// Starts the cluster after [`OwnCluster::stop`].
    pub fn start_again(&self) {
        self.ctl(&["start"]);
    }

    /// The URL of database `postgres` as `user` with `password`.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        format!("postgres://{user}:{password}@127.0.0.1:{}/postgres", self.port)
    }

    /// The URL of database `postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", &format!("{BIN}/pg_ctl"), "-D"])
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

async fn node(url: &str) -> TestServer {
    TestServer::at_url(url, server::DEFAULT_LEASE_TTL).await
}

fn exists(p: &Path) -> bool {
    p.exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_loses_no_acknowledged_write_and_service_resumes() {
    if !exists(Path::new(BIN)) {
        panic!("PostgreSQL 15 server binaries are required at {BIN}");
    }
    let pg = OwnCluster::start();
    let mut s = node(&pg.url()).await;
    let (shares, _root) = s.init(1, 1).await;
    s.unseal(&shares).await;
    let (st, v) = s.call("POST", "sys/mounts/secret", Some(json!({"data": {}, "type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let s = Arc::new(s);
    let acked = Arc::new(Mutex::new(Vec::<(usize, u64)>::new()));
    let statuses = Arc::new(Mutex::new(Vec::<u16>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let mut writers = Vec::new();
    for w in 0..8usize {
        let (s, acked, statuses, stop, client) =
            (s.clone(), acked.clone(), statuses.clone(), stop.clone(), client.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let r = client
                    .put(format!("{}/v1/secret/data/w{w}/k{n}", s.base))
                    .header("X-Vault-Token", &s.token)
                    .json(&json!({"data": {"n": n}}))
                    .send()
                    .await;
                let code = r.map(|r| r.status().as_u16()).unwrap_or(0);
                statuses.lock().await.push(code);
                if code == 200 {
                    acked.lock().await.push((w, n));
                }
                n += 1;
            }
        }));
    }
    // Let writes flow, then crash-restart PostgreSQL in the middle of them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while acked.lock().await.len() < 50 {
        assert!(tokio::time::Instant::now() < deadline, "no writes were acknowledged before the restart");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pg = tokio::task::spawn_blocking(move || {
        pg.restart_immediate();
        pg
    })
    .await
    .unwrap();
    // Service resumes by itself: new writes are acknowledged again.
    let resumed_at = acked.lock().await.len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while acked.lock().await.len() < resumed_at + 50 {
        assert!(tokio::time::Instant::now() < deadline, "writes did not resume after the restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        let _ = w.await;
    }
    {
        let seen = statuses.lock().await;
        assert!(seen.iter().any(|c| *c != 200), "the restart must hit requests in flight");
    }
    // Only 200 or a 5xx was ever answered (0 = no answer at all would be a hang or a reset).
    let statuses = statuses.lock().await.clone();
    assert!(
        statuses.iter().all(|c| *c == 200 || (500..600).contains(c)),
        "{:?}",
        statuses.iter().filter(|c| **c != 200).collect::<Vec<_>>()
    );
    // Every acknowledged write reads back with its own value (I1); nothing half-written (I2).
    for (w, n) in acked.lock().await.iter() {
        let v = s.read(&format!("secret/data/w{w}/k{n}")).await;
        assert_eq!(v["n"], *n);
    }
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_gives_503_with_retry_after_and_nothing_else_until_it_is_back() {
    let pg = OwnCluster::start();
    let mut s = node(&pg.url()).await;
    let (shares, _root) = s.init(1, 1).await;
    s.unseal(&shares).await;
    let (st, v) = s.call("POST", "sys/mounts/secret", Some(json!({"data": {}, "type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    s.write("secret/data/app", json!({"v": 1})).await;
    let pg = tokio::task::spawn_blocking(move || {
        pg.stop();
        pg
    })
    .await
    .unwrap();
    for (method, body) in [("GET", None), ("PUT", Some(json!({"data": {"v": 2}})))] {
        let mut req = s.client.request(method.parse().unwrap(), format!("{}/v1/secret/data/app", s.base));
        req = req.header("X-Vault-Token", &s.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{method} while the database is down");
        assert_eq!(r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string()), Some("1".into()));
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body, json!({"errors": ["storage is unavailable; retry later"]}), "{method}");
    }
    // The node itself stays up and unsealed (a standby now: it cannot renew the leader lease).
    let (st, h) = s.call("GET", "sys/health", None).await;
    assert!(st == StatusCode::OK || st.as_u16() == 473, "{st} {h}");
    assert_eq!(h["sealed"], false);
    let pg = tokio::task::spawn_blocking(move || {
        pg.start_again();
        pg
    })
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (st, v) = s.call("GET", "secret/data/app", None).await;
        if st == StatusCode::OK {
            // The write refused while the database was down left nothing behind.
            assert_eq!(v["data"]["data"]["v"], 1, "{v}");
            assert_eq!(v["data"]["metadata"]["version"], 1, "{v}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "reads did not resume: {st} {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.stop().await;
    drop(pg);
}
