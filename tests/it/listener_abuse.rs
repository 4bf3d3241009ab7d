//! SEC-29: hostile bytes on the listeners (malformed TLS handshakes, PROXY-protocol headers,
//! HTTP/2 junk, Content-Length + Transfer-Encoding and duplicate Content-Length smuggling) each
//! end only their own connection: a health probe on fresh connections stays green throughout,
//! and no smuggled request is answered.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::TestServer;
use crate::tls::{self_signed, start_tls};

/// Sends `bytes`, half-closes, and reads until the server closes; fails if it keeps the
/// connection open for 15 s. Returns what the server answered.
async fn send_and_expect_close(addr: SocketAddr, what: &str, bytes: &[u8], half_close: bool) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may close before everything is written; that is fine.
    let _ = stream.write_all(bytes).await;
    if half_close {
        let _ = stream.shutdown().await;
    }
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "{what}: the connection stayed open");
    buf
}

/// HTTP/1.1 status lines in `bytes`.
fn responses(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes).lines().filter(|l| l.starts_with("HTTP/1.")).map(str::to_string).collect()
}

/// Probes `sys/health` on a new connection every 20 ms until stopped; counts successes and
/// failures.
struct Probe {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Probe {
    fn start(client: reqwest::Client, url: String) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, o, f) = (stop.clone(), ok.clone(), failed.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                match client.get(&url).send().await {
                    Ok(r) if r.status().as_u16() == 200 => {
                        o.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => f.lock().unwrap().push(format!("status {}", r.status())),
                    Err(e) => f.lock().unwrap().push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Probe { stop, ok, failed, task }
    }

    async fn finish(self, what: &str) {
        let before = self.ok.load(Ordering::Relaxed);
        // At least a few more probes after the last attack (and a few in all).
        let wanted = (before + 3).max(5);
        crate::harness::until("more health probes", Duration::from_secs(10), || {
            let ok = self.ok.clone();
            async move { ok.load(Ordering::Relaxed) >= wanted }
        })
        .await;
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        let failed = self.failed.lock().unwrap().clone();
        assert!(failed.is_empty(), "{what}: health probes failed: {failed:?}");
    }
}

const PROXY_V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sec29_hostile_bytes_on_the_plain_listener_close_only_their_connection() {
    let s = TestServer::dev().await;
    let addr = s.running.as_ref().unwrap().addr;
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(5)).build().unwrap();
    let probe = Probe::start(client, format!("{}/v1/sys/health", s.base));
    let token = &s.token;
    s.write("secret/data/target", serde_json::json!({"v": "1"})).await;

    let smuggled = format!("DELETE /v1/secret/data/target HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {token}\r\n\r\n");
    let mut v2 = PROXY_V2_SIGNATURE.to_vec();
    v2.extend_from_slice(&[0x21, 0x11, 0x00, 0x0c, 127, 0, 0, 1, 10, 0, 0, 1, 0x1f, 0x90, 0x00, 0x50]);
    v2.extend_from_slice(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n");
    let h2_junk = {
        let mut b = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        // A SETTINGS frame with a length that is not a multiple of 6, then garbage frames.
        b.extend_from_slice(&[0, 0, 5, 0x4, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5]);
        b.extend_from_slice(&[0xff; 64]);
        b
    };
    let h2_bad_stream = {
        let mut b = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        b.extend_from_slice(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]); // empty SETTINGS
                                                             // HEADERS on stream 0 (a protocol error) with a garbage HPACK block.
        b.extend_from_slice(&[0, 0, 4, 0x1, 0x5, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        b
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("PROXY v1 header", b"PROXY TCP4 10.0.0.1 10.0.0.2 1234 8200\r\nGET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("malformed PROXY v1", b"PROXY \xff\xfe garbage without end".to_vec()),
        ("PROXY v2 header", v2),
        ("HTTP/2 preface then junk", h2_junk),
        ("HTTP/2 headers on stream 0", h2_bad_stream),
        ("TLS ClientHello on the plain port", vec![0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]),
        ("binary garbage", (0u8..=255).collect()),
        (
            "CL + TE",
            format!(
                "POST /v1/sys/health HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
            )
            .into_bytes(),
        ),
        (
            "TE + CL",
            format!(
                "POST /v1/sys/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n{smuggled}"
            )
            .into_bytes(),
        ),
        (
            "obfuscated TE",
            format!(
                "POST /v1/sys/health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{smuggled}"
            )
            .into_bytes(),
        ),
        (
            "duplicate Content-Length",
            format!("POST /v1/sys/health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n{smuggled}")
                .into_bytes(),
        ),
        (
            "Content-Length list",
            format!("POST /v1/sys/health HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 44\r\n\r\n{smuggled}").into_bytes(),
        ),
        (
            "HTTP/1.0 with TE",
            format!("POST /v1/sys/health HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}")
                .into_bytes(),
        ),
        ("header without a colon", b"GET /v1/sys/health HTTP/1.1\r\nHost x\r\n\r\n".to_vec()),
        ("NUL in the request line", b"GET /v1/sys/\0health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
    ];
    for (what, bytes) in &cases {
        // Twice: with a half-close, and with the socket left open (the server must not wait).
        for half_close in [true, false] {
            let answer = send_and_expect_close(addr, what, bytes, half_close).await;
            let answered = responses(&answer);
            assert!(answered.len() <= 1, "{what}: more than one request answered: {answered:?}");
            if let Some(line) = answered.first() {
                assert!(!line.contains(" 5"), "{what}: {line}");
            }
        }
    }
    // No smuggled DELETE ran.
    assert_eq!(s.read("secret/data/target").await, serde_json::json!({"v": "1"}));
    probe.finish("plain listener").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sec29_malformed_tls_handshakes_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let pki = self_signed(dir.path(), 0o600);
    let running = start_tls(&pki, dir.path()).await;
    let addr = running.addr;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.cert_pem.as_bytes()).unwrap())
        .resolve("localhost", addr)
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // Uninitialised: sys/seal-status answers 200.
    let probe = Probe::start(client, format!("https://localhost:{}/v1/sys/seal-status", addr.port()));

    let record = |content: u8, version: [u8; 2], body: &[u8]| {
        let mut r = vec![content, version[0], version[1]];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("plain HTTP", b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("PROXY v1 header", b"PROXY TCP4 10.0.0.1 10.0.0.2 1234 8200\r\n".to_vec()),
        ("PROXY v2 signature", PROXY_V2_SIGNATURE.to_vec()),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
        ("truncated record header", vec![0x16, 0x03]),
        ("handshake record of garbage", record(0x16, [3, 1], &[0xff; 200])),
        ("ClientHello with a bad length", record(0x16, [3, 1], &[0x01, 0xff, 0xff, 0xff, 0x03, 0x03])),
        ("oversized record length", vec![0x16, 0x03, 0x01, 0xff, 0xff, 0x01]),
        ("SSLv2 hello", vec![0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10]),
        ("alert first", record(0x15, [3, 3], &[2, 40])),
        ("application data first", record(0x17, [3, 3], &[0u8; 64])),
        ("binary garbage", (0u8..=255).rev().collect()),
    ];
    for (what, bytes) in &cases {
        for half_close in [true, false] {
            let answer = send_and_expect_close(addr, what, bytes, half_close).await;
            assert!(responses(&answer).is_empty(), "{what}: answered in clear: {:?}", String::from_utf8_lossy(&answer));
        }
    }
    // Many half-open handshakes at once do not block the listener either.
    let mut idle = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&[0x16, 0x03, 0x01, 0x00, 0x40]).await.unwrap();
        idle.push(s);
    }
    probe.finish("TLS listener").await;
    drop(idle);
    running.stop().await;
}
