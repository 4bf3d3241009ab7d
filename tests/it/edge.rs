//! The HTTP edge under hostile clients (SEC-26, SEC-27, SEC-35): body limits, the token checked
//! before the body is read, capped audit entries, slow headers, the connection cap, the Argon2
//! queue and rate-limit quotas.

use std::time::Duration;

use coffer::server::http::Limits;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::TestServer;

/// Opens a connection and sends `head` (request line and headers, without the blank line).
async fn send_head(s: &TestServer, head: &str) -> TcpStream {
    let addr = s.running.as_ref().unwrap().addr;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(format!("{head}\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    stream
}

/// The status code of the response on `stream`, or `None` if none arrives within `wait` (the
/// server is still waiting for something from the client).
async fn status_within(stream: &mut TcpStream, wait: Duration) -> Option<u16> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    };
    tokio::time::timeout(wait, read).await.ok()?;
    let text = String::from_utf8_lossy(&buf);
    text.split(' ').nth(1).and_then(|c| c.parse().ok())
}

#[tokio::test]
async fn sec26_a_body_over_the_default_limit_gets_413_on_content_length_and_mid_stream() {
    let s = TestServer::dev_with("root", Limits::default()).await;
    let limit = Limits::default().max_request_size;
    assert_eq!(limit, 1 << 20, "the default body limit is 1 MiB");
    // Declared too large: refused from the header, before any body byte is sent.
    let mut c = send_head(
        &s,
        &format!("PUT /v1/secret/data/big HTTP/1.1\r\nX-Vault-Token: root\r\nContent-Length: {}", limit + 1),
    )
    .await;
    assert_eq!(status_within(&mut c, Duration::from_secs(10)).await, Some(413));
    // Chunked: no length up front; refused once the limit is crossed mid-stream.
    let mut c =
        send_head(&s, "PUT /v1/secret/data/big HTTP/1.1\r\nX-Vault-Token: root\r\nTransfer-Encoding: chunked").await;
    let chunk = format!("{:x}\r\n{}\r\n", 64 << 10, "a".repeat(64 << 10));
    for _ in 0..(limit / (64 << 10) + 2) {
        if c.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    assert_eq!(status_within(&mut c, Duration::from_secs(10)).await, Some(413));
    // Just under the limit is accepted.
    let body = json!({"data": {"v": "x".repeat(limit - 100)}}).to_string();
    let r = s.request("PUT", "secret/data/big").body(body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Responses are not limited by the request header buffer.
    assert_eq!(s.read("secret/data/big").await["v"].as_str().map(str::len), Some(limit - 100));
}

#[tokio::test]
async fn sec35_a_missing_or_bogus_token_is_refused_before_the_body_is_read() {
    let s = TestServer::dev().await;
    for token in ["X-Vault-Token: not-a-token\r\n", ""] {
        // The body is announced but never sent: the answer can only come from the headers.
        let mut c =
            send_head(&s, &format!("PUT /v1/secret/data/app HTTP/1.1\r\n{token}Content-Length: {}", 512 << 10)).await;
        assert_eq!(status_within(&mut c, Duration::from_secs(5)).await, Some(403), "token header: {token:?}");
    }
    // A good token still gets its body read.
    let (st, _) = s.call("PUT", "secret/data/app", Some(json!({"data": {"k": "v"}}))).await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn sec35_login_and_unseal_bodies_over_64_kib_get_413() {
    let s = TestServer::dev().await;
    let (st, _) = s.call("POST", "sys/auth/userpass", Some(json!({"type": "userpass"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.call("POST", "auth/userpass/users/alice", Some(json!({"password": "pw-alice-1"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let big = json!({"password": "pw-alice-1", "pad": "p".repeat(65 << 10)});
    for path in ["auth/userpass/login/alice", "sys/unseal", "sys/init", "sys/wrapping/lookup"] {
        let (st, v) = s.call_as("", "POST", path, Some(big.clone())).await;
        assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {v}");
    }
    let (st, v) = s.call_as("", "POST", "auth/userpass/login/alice", Some(json!({"password": "pw-alice-1"}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn sec27_nested_json_bombs_are_refused_before_decoding() {
    let s = TestServer::dev().await;
    // 1 MiB of `[`, authenticated: 400 from the depth scan, no stack overflow.
    let bomb = "[".repeat((1 << 20) - 16);
    let r = s.request("PUT", "secret/data/bomb").body(bomb.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Without a token it never gets that far: refused from the headers, or (on paths served
    // without a token) capped at 64 KiB.
    let r = s.request_anon("PUT", "auth/token/lookup").body(bomb.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = s.request_anon("PUT", "sys/unseal").body(bomb).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Wide instead of deep: more than 10,000 entries in one array or object is 400 before
    // decoding, and nothing is stored; 10,000 is fine.
    for (n, status) in [(10_001, StatusCode::BAD_REQUEST), (10_000, StatusCode::OK)] {
        let wide = json!({"data": {"list": vec![0; n]}}).to_string();
        let r = s.request("PUT", "secret/data/wide").body(wide).send().await.unwrap();
        assert_eq!(r.status(), status, "{n} entries");
    }
    let keys: serde_json::Map<String, Value> = (0..10_001).map(|i| (format!("k{i}"), json!(0))).collect();
    let r = s.request("PUT", "secret/data/keys").body(json!({ "data": keys }).to_string()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (st, _) = s.call("GET", "secret/data/keys", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s.call("GET", "sys/health", None).await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn sec35_an_audit_entry_of_a_large_request_stays_under_the_cap_with_hmac_and_size() {
    let s = TestServer::dev().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (st, v) = s
        .call("PUT", "sys/audit/file", Some(json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}})))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    // Just under 1 MiB of short strings (in lists of at most 10,000, the JSON entry cap): once
    // every string was HMAC'd, about 16 MB per entry.
    let list: Vec<Value> = (0..10_000).map(|i| json!(format!("{}", i % 10))).collect();
    let lists: serde_json::Map<String, Value> = (0..24).map(|i| (format!("l{i}"), json!(list))).collect();
    let body = json!({ "data": lists });
    let text = body.to_string();
    assert!(text.len() < 1 << 20 && text.len() > 900 << 10, "{}", text.len());
    let r = s.request("PUT", "secret/data/many").body(text.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let written = std::fs::read_to_string(&log).unwrap();
    let mut seen = 0;
    for line in written.lines() {
        assert!(line.len() <= coffer::core::audit::DEFAULT_MAX_ENTRY_SIZE, "an entry of {} bytes", line.len());
        let e: Value = serde_json::from_str(line).unwrap();
        if e["request"]["path"] == "secret/data/many" {
            seen += 1;
            assert!(e["request"].get("data").is_none(), "{e}");
            assert!(e["request"]["data_hmac"].as_str().unwrap().starts_with("hmac-sha256:"), "{e}");
            assert_eq!(e["request"]["data_size"], json!(text.len()));
        }
    }
    assert_eq!(seen, 2, "a request and a response entry");
}

/// Reads until the server closes `stream`; `false` if it is still open after `limit`. Bytes in
/// `drip` are sent every 100 ms meanwhile (a client that never finishes its headers).
async fn closed_within(stream: &mut TcpStream, limit: Duration, drip: Option<&[u8]>) -> bool {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            },
            _ = tick.tick(), if drip.is_some() => {
                if stream.write_all(drip.unwrap_or_default()).await.is_err() {
                    return true;
                }
            }
            () = &mut deadline => return false,
        }
    }
}

#[tokio::test]
async fn load5_slow_headers_and_idle_connections_are_closed_after_their_timeouts() {
    let limits = Limits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        ..crate::harness::limits()
    };
    let s = TestServer::dev_with("root", limits).await;
    // Headers that never finish, with a header line dripped in every 100 ms.
    let started = std::time::Instant::now();
    let mut c = send_partial(&s, "GET /v1/sys/health HTTP/1.1\r\nX-Slow: 1\r\n").await;
    assert!(closed_within(&mut c, Duration::from_secs(10), Some(b"X-More: 1\r\n")).await, "still open");
    assert!(started.elapsed() >= Duration::from_millis(900), "closed too early: {:?}", started.elapsed());
    // A connection that sends nothing at all.
    let mut c = send_partial(&s, "").await;
    assert!(closed_within(&mut c, Duration::from_secs(10), None).await, "a silent connection stays open");
    // A keep-alive connection after a served request: open past the header timeout while idle,
    // closed after the idle timeout.
    let mut c = send_partial(&s, "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status_within(&mut c, Duration::from_secs(5)).await, Some(200));
    let idle_from = std::time::Instant::now();
    assert!(closed_within(&mut c, Duration::from_secs(10), None).await, "an idle connection stays open");
    assert!(idle_from.elapsed() >= Duration::from_millis(1900), "idle closed too early: {:?}", idle_from.elapsed());
    let (st, _) = s.call("GET", "sys/health", None).await;
    assert_eq!(st, StatusCode::OK);
}

/// Opens a connection and sends `bytes` as they are.
async fn send_partial(s: &TestServer, bytes: &str) -> TcpStream {
    let mut stream = TcpStream::connect(s.running.as_ref().unwrap().addr).await.unwrap();
    stream.write_all(bytes.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn load5_connections_over_the_cap_are_refused_and_a_freed_slot_is_reused() {
    let s = TestServer::dev_with("root", Limits { max_connections: 2, ..crate::harness::limits() }).await;
    let held = [send_partial(&s, "").await, send_partial(&s, "").await];
    let mut third = send_partial(&s, "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status_within(&mut third, Duration::from_secs(5)).await, Some(503), "a third connection is served");
    drop(held);
    crate::harness::until("a freed slot serves again", Duration::from_secs(10), || async {
        let mut c = send_partial(&s, "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        status_within(&mut c, Duration::from_secs(5)).await == Some(200)
    })
    .await;
}

#[tokio::test]
async fn argon2_queue_full_answers_503_with_retry_after_and_a_good_login_gets_through_after() {
    let s = TestServer::dev_with("root", Limits { argon2_queue: 1, ..crate::harness::limits() }).await;
    let (st, _) = s.call("POST", "sys/auth/userpass", Some(json!({"type": "userpass"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.call("POST", "auth/userpass/users/alice", Some(json!({"password": "pw-alice-1"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    // Bad logins for different users at once: one Argon2 check may run or wait, the rest are
    // refused at once.
    let bad: Vec<_> = (0..16)
        .map(|i| {
            let req = s.request_anon("POST", &format!("auth/userpass/login/nobody{i}")).json(&json!({"password": "x"}));
            tokio::spawn(crate::harness::send(req))
        })
        .collect();
    let mut busy = 0;
    for r in bad {
        let r = r.await.unwrap();
        match r.status {
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(r.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"), "{}", r.text);
                busy += 1;
            }
            other => assert_eq!(other, StatusCode::BAD_REQUEST, "{}", r.text),
        }
    }
    assert!(busy > 0, "no login was refused with a queue of one");
    // Bad logins for one user wait for that user's lock; waiting there counts as queueing.
    let (st, _) = s.call("POST", "auth/userpass/users/bob", Some(json!({"password": "pw-bob-1"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let bad: Vec<_> = (0..16)
        .map(|_| {
            let req = s.request_anon("POST", "auth/userpass/login/bob").json(&json!({"password": "x"}));
            tokio::spawn(crate::harness::send(req))
        })
        .collect();
    let mut busy = 0;
    for r in bad {
        let r = r.await.unwrap();
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            busy += 1;
        }
    }
    assert!(busy > 0, "logins for one user queued at its lock without bound");
    crate::harness::until("a good login after the burst", Duration::from_secs(20), || async {
        let (st, _) = s.call_as("", "POST", "auth/userpass/login/alice", Some(json!({"password": "pw-alice-1"}))).await;
        st == StatusCode::OK
    })
    .await;
}

/// Sends `GET kv/data/x` until it gets 429 (at most `tries`); returns that response.
async fn until_limited(s: &TestServer, tries: usize) -> crate::harness::Raw {
    for _ in 0..tries {
        let r = crate::harness::send(s.request("GET", "kv/data/x")).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            return r;
        }
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    }
    panic!("no 429 after {tries} requests");
}

#[tokio::test]
async fn rate_limit_quotas_answer_429_recover_after_the_block_and_survive_a_restart() {
    use std::os::unix::fs::PermissionsExt;
    let keydir = tempfile::tempdir().unwrap();
    let key = keydir.path().join("unseal.key");
    std::fs::write(&key, coffer::crypto::random_bytes::<32>()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let seal = coffer::core::seal::SealKind::KeyFile(key.clone());
    let mut s = TestServer::start_with(seal.clone(), crate::harness::limits()).await;
    let (st, v) = s.call_as("", "PUT", "sys/init", Some(json!({}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    s.token = v["root_token"].as_str().unwrap().to_string();
    let (st, v) = s.call("POST", "sys/mounts/kv", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    // Validation: a positive rate, a path under a mount.
    let (st, _) = s.call("PUT", "sys/quotas/rate-limit/bad", Some(json!({"rate": 0}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = s.call("PUT", "sys/quotas/rate-limit/bad", Some(json!({"rate": 1, "path": "nowhere/"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let quota = json!({"path": "kv", "rate": 2, "interval": "1m", "block_interval": "1s"});
    let (st, v) = s.call("PUT", "sys/quotas/rate-limit/kv-limit", Some(quota)).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, v) = s.call("GET", "sys/quotas/rate-limit/kv-limit", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let d = &v["data"];
    assert_eq!(
        (d["name"].clone(), d["path"].clone(), d["type"].clone()),
        (json!("kv-limit"), json!("kv/"), json!("rate-limit"))
    );
    assert_eq!(
        (d["rate"].as_f64(), d["interval"].clone(), d["block_interval"].clone()),
        (Some(2.0), json!(60), json!(1))
    );
    let (st, v) = s.call("LIST", "sys/quotas/rate-limit", None).await;
    assert_eq!((st, v["data"]["keys"].clone()), (StatusCode::OK, json!(["kv-limit"])));

    let r = until_limited(&s, 3).await;
    assert!(r.headers.get("retry-after").is_some(), "no Retry-After");
    assert_eq!(r.json()["errors"], json!(["request path \"kv/data/x\": rate limit quota exceeded"]));
    let (st, _) = s.call("GET", "sys/mounts", None).await;
    assert_eq!(st, StatusCode::OK, "other paths are not limited");
    crate::harness::until("the block ends", Duration::from_secs(10), || async {
        crate::harness::send(s.request("GET", "kv/data/x")).await.status == StatusCode::NOT_FOUND
    })
    .await;

    // Stored: after a restart the quota is still read back and enforced.
    let token = s.token.clone();
    let dir = s.stop().await;
    let mut s = TestServer::start_in(dir, seal, crate::harness::limits()).await;
    s.token = token;
    let (st, v) = s.call("GET", "sys/quotas/rate-limit/kv-limit", None).await;
    assert_eq!((st, v["data"]["path"].clone()), (StatusCode::OK, json!("kv/")));
    until_limited(&s, 3).await;
    let (st, _) = s.call("DELETE", "sys/quotas/rate-limit/kv-limit", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    for _ in 0..5 {
        let (st, _) = s.call("GET", "kv/data/x", None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "a deleted quota no longer applies");
    }
}

#[tokio::test]
async fn load5_a_body_that_never_completes_gets_408_after_the_read_timeout() {
    let limits = Limits { body_read_timeout: Duration::from_secs(1), ..crate::harness::limits() };
    let s = TestServer::dev_with("root", limits).await;
    let (st, _) = s.call("POST", "sys/auth/userpass", Some(json!({"type": "userpass"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    // A login needs no token, so its body is read: 100 bytes announced, 10 sent.
    let started = std::time::Instant::now();
    let mut c = send_head(&s, "POST /v1/auth/userpass/login/alice HTTP/1.1\r\nContent-Length: 100").await;
    c.write_all(b"{\"passwor").await.unwrap();
    assert_eq!(status_within(&mut c, Duration::from_secs(10)).await, Some(408));
    assert!(started.elapsed() >= Duration::from_millis(900), "too early: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_quotas_written_on_one_node_apply_on_another() {
    let (_store, db) = crate::store_contract::fresh_pg().await;
    let mut a = TestServer::at_url(db.url(), Duration::from_secs(3)).await;
    let (shares, root) = a.init(1, 1).await;
    a.unseal(&shares).await;
    let mut b = TestServer::at_url(db.url(), Duration::from_secs(3)).await;
    b.token = root.clone();
    b.unseal(&shares).await;
    let (st, v) = a.call("POST", "sys/mounts/kv", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    crate::harness::until("the mount on the other node", Duration::from_secs(10), || async {
        b.call("GET", "kv/data/x", None).await.0 == StatusCode::NOT_FOUND
    })
    .await;
    let (st, v) =
        a.call("PUT", "sys/quotas/rate-limit/one", Some(json!({"path": "kv/", "rate": 1, "interval": "1h"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    crate::harness::until("the quota on the other node", Duration::from_secs(10), || async {
        b.call("GET", "kv/data/x", None).await.0 == StatusCode::TOO_MANY_REQUESTS
    })
    .await;
}

#[tokio::test]
async fn sec35_long_paths_and_huge_headers_are_refused_before_auth() {
    let s = TestServer::dev().await;
    // A path over 8 KiB: 414, so that no audit entry carries it.
    let long = format!("secret/data/{}", "a".repeat(9 << 10));
    let (st, _) = s.call_as("bogus", "GET", &long, None).await;
    assert_eq!(st, StatusCode::URI_TOO_LONG);
    let (st, _) = s.call("GET", &format!("secret/data/{}", "a".repeat(4 << 10)), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "a 4 KiB path is fine");
    // 100 KiB of headers: 431, never buffered in full.
    let mut c = send_head(&s, &format!("GET /v1/sys/health HTTP/1.1\r\nX-Pad: {}", "p".repeat(100 << 10))).await;
    assert_eq!(status_within(&mut c, Duration::from_secs(5)).await, Some(431));
    let (st, _) = s.call("GET", "sys/health", None).await;
    assert_eq!(st, StatusCode::OK);
}
