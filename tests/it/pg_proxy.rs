//! FLT-10: PostgreSQL behind a TCP proxy written for the test (instead of toxiproxy) that adds
//! latency, resets connections or swallows everything (a black hole). Requests answer 200 or 503
//! with `Retry-After` within the configured timeouts, never hang; the pool stays bounded; and
//! service comes back by itself once the fault is gone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coffer::core::seal::SealKind;
use coffer::server;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::TestServer;
use crate::pg_faults::OwnCluster;

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Forward as is.
    Pass,
    /// Hold each chunk from the database for [`LATENCY`] before forwarding it.
    Slow,
    /// Reset every connection (RST) at its next byte, and new ones at once.
    Reset,
    /// Accept and read everything, forward nothing, never close.
    BlackHole,
}

const LATENCY: Duration = Duration::from_secs(2);

/// The proxy: its port, its mode, how many connections are open through it, and how many chunks
/// it swallowed on open connections.
struct Proxy {
    port: u16,
    mode: Arc<Mutex<Mode>>,
    open: Arc<AtomicUsize>,
    swallowed: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(Mutex::new(Mode::Pass));
        let open = Arc::new(AtomicUsize::new(0));
        let swallowed = Arc::new(AtomicUsize::new(0));
        let (m, o, w) = (mode.clone(), open.clone(), swallowed.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, upstream, m.clone(), o.clone(), w.clone()));
            }
        });
        Self { port, mode, open, swallowed }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

/// Counts an open proxied connection while alive.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve(
    client: TcpStream,
    upstream: u16,
    mode: Arc<Mutex<Mode>>,
    open: Arc<AtomicUsize>,
    swallowed: Arc<AtomicUsize>,
) {
    // Linger 0: whenever the proxy drops a socket, the peer sees a reset, not a clean close.
    client.set_zero_linger().unwrap();
    let now = *mode.lock().unwrap();
    match now {
        Mode::Reset => return,
        Mode::BlackHole => return swallow(client, mode).await,
        Mode::Pass | Mode::Slow => {}
    }
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else { return };
    server.set_zero_linger().unwrap();
    open.fetch_add(1, Ordering::SeqCst);
    let _open = Open(open);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    // Either direction ending (EOF, reset, or the proxy deciding so) ends both.
    tokio::select! {
        _ = pump(cr, sw, mode.clone(), false, swallowed.clone()) => {}
        _ = pump(sr, cw, mode, true, swallowed) => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: Arc<Mutex<Mode>>,
    from_database: bool,
    swallowed: Arc<AtomicUsize>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let now = *mode.lock().unwrap();
        match now {
            Mode::Reset => return,
            Mode::BlackHole => {
                swallowed.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            Mode::Slow if from_database => tokio::time::sleep(LATENCY).await,
            Mode::Slow | Mode::Pass => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Reads and drops everything until the proxy leaves black-hole mode, then resets.
async fn swallow(mut client: TcpStream, mode: Arc<Mutex<Mode>>) {
    let mut buf = vec![0u8; 4096];
    loop {
        if *mode.lock().unwrap() != Mode::BlackHole {
            return;
        }
        match tokio::time::timeout(Duration::from_millis(200), client.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            _ => {}
        }
    }
}

const MAX_CONNECTIONS: u32 = 4;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(8);
/// The request deadline, short for the test (30 s by default).
const DEADLINE: Duration = Duration::from_secs(10);

/// A GET of `secret/data/app`: status, `Retry-After`, and how long it took. The client gives up
/// after 60 s (which the assertions treat as a hang).
async fn timed_read(s: &TestServer) -> (StatusCode, Option<String>, Duration) {
    let start = Instant::now();
    let r = s
        .client
        .get(format!("{}/v1/secret/data/app", s.base))
        .header("X-Vault-Token", &s.token)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap_or_else(|e| panic!("no answer after {:?}: {e}", start.elapsed()));
    let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (r.status(), retry, start.elapsed())
}

/// Polls until a read answers 200 again.
async fn recovers(s: &TestServer, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (st, _, _) = timed_read(s).await;
        if st == StatusCode::OK {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: reads did not recover ({st})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt10_postgres_slow_resetting_or_black_holed_gets_bounded_answers_and_recovers() {
    let pg = OwnCluster::start();
    let proxy = Proxy::start(pg.port).await;
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", proxy.port);
    let pool = coffer::store::Pool {
        max_connections: MAX_CONNECTIONS,
        acquire_timeout: ACQUIRE_TIMEOUT,
        idle_timeout: Duration::from_secs(600),
    };
    let store = coffer::store::open_with(&url, &pool).await.unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = server::Options {
        seal: SealKind::Shamir,
        limits: crate::harness::limits(),
        audit: Default::default(),
        lease_ttl: server::DEFAULT_LEASE_TTL,
        cache: Default::default(),
        aws: Default::default(),
    };
    let running = server::start_with(store, coffer::server::http::Listener::Plain(tcp), options).await.unwrap();
    running.core.request_deadline.set(DEADLINE);
    let base = format!("http://{}", running.addr);
    let mut s = TestServer {
        running: Some(running),
        base,
        client: reqwest::Client::new(),
        token: String::new(),
        dir: tempfile::tempdir().unwrap(),
    };
    let (shares, _root) = s.init(1, 1).await;
    s.unseal(&shares).await;
    let (st, v) = s.call("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    s.write("secret/data/app", json!({"v": 1})).await;
    let s = Arc::new(s);
    // Connections through the proxy: the pool plus the change listener, never more.
    let bound = MAX_CONNECTIONS as usize + 1;

    // Slow: 2 s on every answer from the database. 12 readers at once on 4 connections: each
    // gets 200, or 503 once it waited acquire_timeout for a connection; none hangs.
    proxy.set(Mode::Slow);
    let readers: Vec<_> = (0..12)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { timed_read(&s).await })
        })
        .collect();
    let mut peak = 0;
    let mut results = Vec::new();
    for r in readers {
        while !r.is_finished() {
            peak = peak.max(proxy.open.load(Ordering::SeqCst));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        results.push(r.await.unwrap());
    }
    for (st, retry, took) in &results {
        assert!(*st == StatusCode::OK || *st == StatusCode::SERVICE_UNAVAILABLE, "{st}");
        if *st == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(retry.as_deref(), Some("1"));
        }
        assert!(*took < DEADLINE + Duration::from_secs(3), "a slow database held a request for {took:?}");
    }
    assert!(results.iter().any(|(st, _, _)| *st == StatusCode::OK), "nothing got through a slow database");
    assert!(peak <= bound, "{peak} connections to the database (pool of {MAX_CONNECTIONS})");
    proxy.set(Mode::Pass);
    recovers(&s, "after latency").await;

    // Resets: 503 with Retry-After, quickly.
    proxy.set(Mode::Reset);
    for _ in 0..3 {
        let (st, retry, took) = timed_read(&s).await;
        assert_eq!((st, retry.as_deref()), (StatusCode::SERVICE_UNAVAILABLE, Some("1")), "reset");
        assert!(took < ACQUIRE_TIMEOUT + Duration::from_secs(3), "reset: {took:?}");
    }
    proxy.set(Mode::Pass);
    recovers(&s, "after resets").await;

    // Black hole: a request that needs the database gets 503 once acquire_timeout has passed
    // (the pool tests a connection before handing it out), and health answers.
    proxy.set(Mode::BlackHole);
    for _ in 0..3 {
        let (st, retry, took) = timed_read(&s).await;
        assert_eq!((st, retry.as_deref()), (StatusCode::SERVICE_UNAVAILABLE, Some("1")), "black hole");
        assert!(took < ACQUIRE_TIMEOUT + Duration::from_secs(3), "black hole: {took:?}");
    }
    let start = Instant::now();
    let (st, h) = s.call("GET", "sys/health", None).await;
    assert!(start.elapsed() < Duration::from_secs(10), "health hung on a black-holed database");
    assert_eq!(h["sealed"], false, "{st} {h}");
    assert!(proxy.open.load(Ordering::SeqCst) <= bound);
    proxy.set(Mode::Pass);
    recovers(&s, "after the black hole").await;

    // A database that goes silent while a request waits on it (here: the pool's test query on
    // the connection it hands out) cannot hold the request past the request deadline, even when
    // that is shorter than the pool's own timeout.
    let core = s.running.as_ref().unwrap().core.clone();
    core.request_deadline.set(Duration::from_secs(3));
    proxy.set(Mode::BlackHole);
    for _ in 0..2 {
        let (st, retry, took) = timed_read(&s).await;
        assert_eq!((st, retry.as_deref()), (StatusCode::SERVICE_UNAVAILABLE, Some("1")), "deadline");
        assert!(took < Duration::from_millis(4500), "the request deadline did not end a silent wait: {took:?}");
    }
    core.request_deadline.set(DEADLINE);
    proxy.set(Mode::Pass);
    recovers(&s, "after the second black hole").await;
    let (st, v) = s.call("GET", "secret/data/app", None).await;
    assert_eq!((st, &v["data"]["data"]["v"]), (StatusCode::OK, &json!(1)), "{v}");
    drop(pg);
}

/// The connection a statement just used goes back to the pool by a ping; when the database goes
/// silent before that ping is answered (and the bytes it sent are lost), the connection must not
/// keep its place in the pool for ever. A pool of one makes a single lost place visible: the
/// store stays unavailable until the place comes back.
#[tokio::test(flavor = "current_thread")]
async fn flt10_a_connection_that_goes_silent_on_its_way_back_to_the_pool_gives_its_place_up() {
    let pg = OwnCluster::start();
    let proxy = Proxy::start(pg.port).await;
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", proxy.port);
    let acquire_timeout = Duration::from_secs(2);
    let pool = coffer::store::Pool { max_connections: 1, acquire_timeout, idle_timeout: Duration::from_secs(600) };
    let store = coffer::store::open_with(&url, &pool).await.unwrap();
    store.system_get("k").await.unwrap();
    // On this single-threaded runtime the return of the connection (a spawned task) has not run
    // yet: it runs once the test awaits, and the black hole swallows its ping.
    proxy.set(Mode::BlackHole);
    let start = Instant::now();
    while proxy.swallowed.load(Ordering::SeqCst) == 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "the connection never went back to the pool");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    proxy.set(Mode::Pass);
    // The swallowed ping is never answered, even now. The place must come back after a bounded
    // time (here the pool's acquire_timeout), and the store with it.
    let start = Instant::now();
    loop {
        match store.system_get("k").await {
            Ok(_) => break,
            Err(e) => assert!(start.elapsed() < Duration::from_secs(20), "the pool's only place never came back: {e}"),
        }
    }
    drop(pg);
}
