//! FLT-03: the real binary killed (SIGKILL) at each crash point of a keyring rotation
//! (`sys/rotate`) and of the re-wrap after it. After a restart every stored version decrypts, the
//! keyring holds the old and the new term or only the old one, and rotation works again.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::restart::{call, init, spawn, spawn_env, write_config};
use coffer::crypto::keyring::crash::CRASH_ENV;

const SECRETS: usize = 12;

/// The distinct key terms of the stored KV versions, read from the database file.
async fn stored_terms(dir: &Path) -> Vec<i64> {
    let url = format!("sqlite://{}?mode=ro", dir.join("data/coffer.db").display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    let terms =
        sqlx::query_scalar("select distinct key_term from kv_version order by key_term").fetch_all(&db).await.unwrap();
    db.close().await;
    terms
}

async fn term(base: &str, token: &str) -> i64 {
    let (s, v) = call(base, token, "GET", "sys/key-status", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["data"]["term"].as_i64().unwrap()
}

/// Every secret written before the crash reads back, byte for byte.
async fn all_readable(base: &str, token: &str, point: &str) {
    for i in 0..SECRETS {
        let (s, v) = call(base, token, "GET", &format!("secret/data/k{i}"), None).await;
        assert_eq!(s, StatusCode::OK, "{point}: k{i} no longer decrypts: {v}");
        assert_eq!(v["data"]["data"]["v"], format!("value-{i}"), "{point}");
    }
}

/// Kills the server at `point` during `sys/rotate`, restarts it, and checks the invariants.
/// `new_term_kept`: whether the new term was committed before the crash point.
async fn crash_during_rotation(point: &str, new_term_kept: bool) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let mut p = spawn_env(&cfg, "info", &[(CRASH_ENV, point)]);
    let token = init(&p.base).await;
    for i in 0..SECRETS {
        let (s, v) = call(
            &p.base,
            &token,
            "POST",
            &format!("secret/data/k{i}"),
            Some(json!({"data": {"v": format!("value-{i}")}})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    assert_eq!(term(&p.base, &token).await, 1);
    // The process dies during the request (or, for the re-wrap, just after answering it).
    let _ = reqwest::Client::new()
        .put(format!("{}/v1/sys/rotate", p.base))
        .header("X-Vault-Token", &token)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    crate::restart::wait_for_sigkill(&mut p, point).await;
    let terms = stored_terms(dir.path()).await;
    if point == "rewrap-partway" {
        assert_eq!(terms, vec![1, 2], "{point}: the crash left versions on both terms");
    } else {
        assert_eq!(terms, vec![1], "{point}: nothing was written under the new term");
    }

    // Restart without the hook: auto-unseal works, the keyring has old+new or only old.
    let mut p = spawn(&cfg);
    let (s, v) = call(&p.base, "", "GET", "sys/health", None).await;
    assert_eq!(s, StatusCode::OK, "{point}: unsealed after restart: {v}");
    let active = term(&p.base, &token).await;
    assert_eq!(active, if new_term_kept { 2 } else { 1 }, "{point}: active term after restart");
    all_readable(&p.base, &token, point).await;
    // A write after the restart is sealed under the active term and reads back.
    let (s, v) = call(&p.base, &token, "POST", "secret/data/after", Some(json!({"data": {"v": "after"}}))).await;
    assert_eq!(s, StatusCode::OK, "{point}: {v}");
    let (_, v) = call(&p.base, &token, "GET", "secret/data/after", None).await;
    assert_eq!(v["data"]["data"]["v"], "after", "{point}");
    assert!(stored_terms(dir.path()).await.contains(&active), "{point}");

    // Rotation works again, and its re-wrap moves every version to the newest term.
    let (s, v) = call(&p.base, &token, "PUT", "sys/rotate", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{point}: {v}");
    let newest = term(&p.base, &token).await;
    assert_eq!(newest, active + 1, "{point}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if stored_terms(dir.path()).await == vec![newest] {
            break;
        }
        assert!(Instant::now() < deadline, "{point}: re-wrap did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    all_readable(&p.base, &token, point).await;
    p.child.kill().unwrap();
    p.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt03_crash_before_persisting_the_keyring_keeps_only_the_old_term() {
    crash_during_rotation("before-persist", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt03_crash_after_persisting_the_keyring_keeps_both_terms() {
    crash_during_rotation("after-persist", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt03_crash_before_the_first_write_under_the_new_term_keeps_both_terms() {
    crash_during_rotation("before-first-write", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt03_crash_partway_through_the_rewrap_leaves_every_version_readable() {
    crash_during_rotation("rewrap-partway", true).await;
}
