//! FLT-08: the SQLite database locked by another process. Writes wait up to `busy_timeout` and
//! then get 503 with `Retry-After`; reads go on; nothing is corrupted; writes work again at once
//! after the lock is released; and a second server on the same file is refused at startup.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, Executor};

use crate::restart::{call, init, spawn, write_config};
use coffer::store::sqlite::BUSY_TIMEOUT;

/// A KV write with the status, the `Retry-After` header and how long it took.
async fn timed_write(base: &str, token: &str, key: &str) -> (StatusCode, Option<String>, Value, Duration) {
    let start = Instant::now();
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/secret/data/{key}"))
        .header("X-Vault-Token", token)
        .json(&json!({"data": {"v": key}}))
        .timeout(BUSY_TIMEOUT * 4)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, retry, body, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt08_a_database_locked_by_another_process_answers_503_then_recovers_and_a_second_server_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let mut p = spawn(&cfg);
    let token = init(&p.base).await;
    let (s, v) = call(&p.base, &token, "POST", "secret/data/before", Some(json!({"data": {"v": "before"}}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Another process's connection takes the write lock and keeps it.
    let db = dir.path().join("data/coffer.db");
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    other.execute("begin exclusive").await.unwrap();

    // Reads go on (WAL readers do not need the write lock).
    let start = Instant::now();
    let (s, v) = call(&p.base, &token, "GET", "secret/data/before", None).await;
    assert_eq!((s, &v["data"]["data"]["v"]), (StatusCode::OK, &json!("before")), "{v}");
    assert!(start.elapsed() < Duration::from_secs(2), "a read waited for the write lock");

    // Writes wait out busy_timeout, then 503 with Retry-After; several at once are not queued
    // behind each other's timeouts.
    let writes = (0..3).map(|i| {
        let (base, token) = (p.base.clone(), token.clone());
        tokio::spawn(async move { timed_write(&base, &token, &format!("locked{i}")).await })
    });
    for w in writes.collect::<Vec<_>>() {
        let (status, retry, body, took) = w.await.unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(retry.as_deref(), Some("1"), "Retry-After");
        assert_eq!(body["errors"], json!(["storage is unavailable; retry later"]));
        assert!(took >= BUSY_TIMEOUT - Duration::from_millis(500), "gave up before busy_timeout: {took:?}");
        assert!(took < BUSY_TIMEOUT + Duration::from_secs(3), "waited past busy_timeout: {took:?}");
    }

    // Release: the next write goes through at once.
    other.execute("commit").await.unwrap();
    let released = Instant::now();
    let (status, _, body, _) = timed_write(&p.base, &token, "after").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(released.elapsed() < Duration::from_secs(1), "not back to normal within 1 s: {:?}", released.elapsed());

    // Nothing of the refused writes was stored, and the file is sound.
    for i in 0..3 {
        let (s, v) = call(&p.base, &token, "GET", &format!("secret/data/locked{i}"), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "a refused write was stored: {v}");
    }
    let check: String = sqlx::query_scalar("pragma integrity_check").fetch_one(&mut other).await.unwrap();
    assert_eq!(check, "ok");
    other.close().await.unwrap();

    // A second server on the same database file is refused at startup, with a clear error.
    let mut second = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["server", "--config"])
        .arg(&cfg)
        .env("COFFER_DISABLE_MLOCK", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            second.kill().unwrap();
            second.wait().unwrap();
            panic!("a second server started on the same database file");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{err}");
    assert!(err.contains("in use by another Coffer server") && err.contains("coffer.db.lock"), "{err}");

    // The first server is unaffected.
    let (s, v) = call(&p.base, &token, "GET", "secret/data/after", None).await;
    assert_eq!((s, &v["data"]["data"]["v"]), (StatusCode::OK, &json!("after")), "{v}");
    p.child.kill().unwrap();
    p.child.wait().unwrap();

    // Once the first server is gone (even by SIGKILL), the lock is free again.
    let mut p = spawn(&cfg);
    let (s, v) = call(&p.base, &token, "GET", "secret/data/after", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    p.child.kill().unwrap();
    p.child.wait().unwrap();
}
