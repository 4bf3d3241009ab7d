//! Scheduled rotation of KV v2 secrets (ROTATION.md) end to end: the password rotator through
//! `rotate` and through the scheduler driven by a manual clock; schedule and rotator validation;
//! the webhook contract against a local server that checks signatures and fails on demand; the
//! postgres rotator (single and alternating, with a client loop that must never fail to log in)
//! against a private PostgreSQL that checks passwords; crashes of the real binary after each step;
//! concurrent starts; and the store's fenced, compare-and-set row on both backends.
// These tests stand outside the server and compare its answers with the wall clock.
#![allow(clippy::disallowed_methods)]

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use coffer::base::schedule::{Clock, ManualClock};
use coffer::core::Core;
use coffer::store::rotation::RotationRow;
use coffer::store::{Fence, KvMetadataRow, SharedStore, StoreError};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::{Connection, PgConnection};

use crate::harness::{until, TestServer};
use crate::pg_faults::OwnCluster;

// ---------------------------------------------------------------------------------------------
// Helpers

pub(crate) fn core(s: &TestServer) -> Arc<Core> {
    s.running.as_ref().unwrap().core.clone()
}

/// A dev server that already holds the leader lease (the scheduler runs only there).
pub(crate) async fn leader() -> TestServer {
    let s = TestServer::dev().await;
    let c = core(&s);
    until("leadership", Duration::from_secs(10), || {
        let c = c.clone();
        async move { c.leader.load().is_some() }
    })
    .await;
    s
}

pub(crate) async fn configure(s: &TestServer, path: &str, body: Value) -> (StatusCode, Value) {
    s.call("POST", &format!("secret/rotation/{path}"), Some(body)).await
}

pub(crate) async fn configure_ok(s: &TestServer, path: &str, body: Value) -> Value {
    let (st, v) = configure(s, path, body).await;
    assert_eq!(st, StatusCode::OK, "configure {path}: {v}");
    v["data"].clone()
}

pub(crate) async fn status(s: &TestServer, path: &str) -> Value {
    let (st, v) = s.call("GET", &format!("secret/rotation/{path}"), None).await;
    assert_eq!(st, StatusCode::OK, "status {path}: {v}");
    v["data"].clone()
}

pub(crate) async fn stages(s: &TestServer, path: &str) -> Value {
    let (st, v) = s.call("GET", &format!("secret/stages/{path}"), None).await;
    assert_eq!(st, StatusCode::OK, "stages {path}: {v}");
    v["data"]["stages"].clone()
}

/// The versions the key keeps, ascending.
pub(crate) async fn versions(s: &TestServer, path: &str) -> Vec<i64> {
    let (st, v) = s.call("GET", &format!("secret/metadata/{path}"), None).await;
    assert_eq!(st, StatusCode::OK, "metadata {path}: {v}");
    let mut out: Vec<i64> = v["data"]["versions"].as_object().unwrap().keys().map(|k| k.parse().unwrap()).collect();
    out.sort();
    out
}

pub(crate) async fn rotate(s: &TestServer, path: &str) -> (StatusCode, Value) {
    s.call("POST", &format!("secret/rotate/{path}"), None).await
}

/// Waits until `n` rotations of `path` have ended (any outcome) and none is in flight.
pub(crate) async fn wait_ended(s: &TestServer, path: &str, n: i64) -> Value {
    let mut last = Value::Null;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let st = status(s, path).await;
        let ended = ["rotations_succeeded", "rotations_failed", "rotations_abandoned"]
            .iter()
            .map(|k| st[k].as_i64().unwrap())
            .sum::<i64>();
        if ended >= n && st["in_flight"].is_null() {
            return st;
        }
        assert!(tokio::time::Instant::now() < deadline, "rotation {n} of {path} did not end: {last}");
        last = st;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub(crate) fn at(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}"))).unwrap().with_timezone(&Utc)
}

pub(crate) fn password_rotator() -> Value {
    json!({"schedule": "rate(30 days)", "rotator": {"type": "password", "policy": "default"}})
}

// ---------------------------------------------------------------------------------------------
// Password rotator, rotate now and scheduled

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn password_rotator_rotates_now_and_keeps_other_fields() {
    let s = leader().await;
    s.write("secret/data/app", json!({"username": "app", "password": "initial-pw", "host": "db1"})).await;
    let cfg = configure_ok(
        &s,
        "app",
        json!({"schedule": "rate(30 days)", "window": "1h", "rotator": {"type": "password", "policy": "default"}}),
    )
    .await;
    assert_eq!(cfg["schedule"], "rate(30 days)");
    assert_eq!(cfg["window"], "1h0m0s");
    assert_eq!(cfg["max_attempts"], 5);
    assert_eq!(cfg["rotator"], json!({"type": "password", "policy": "default", "fields": ["password"]}));
    let next = at(&cfg["next_rotation"]);
    let in30 = Utc::now() + TimeDelta::days(30);
    assert!(next > in30 - TimeDelta::seconds(60) && next < in30 + TimeDelta::hours(1), "{next}");
    assert!(cfg["in_flight"].is_null() && cfg["last_rotated"].is_null(), "{cfg}");

    let (st, r) = rotate(&s, "app").await;
    assert_eq!(st, StatusCode::ACCEPTED, "{r}");
    let token = r["data"]["version_token"].as_str().unwrap().to_string();
    assert_eq!(uuid::Uuid::parse_str(&token).unwrap().get_version_num(), 4);
    let done = wait_ended(&s, "app", 1).await;
    assert_eq!((done["last_outcome"].clone(), done["rotations_succeeded"].clone()), (json!("succeeded"), json!(1)));
    assert_eq!(done["rotations_failed"], 0);
    assert!(!done["last_rotated"].is_null());
    assert_eq!(done["next_rotation"], cfg["next_rotation"], "a manual rotation leaves the schedule alone");

    assert_eq!(stages(&s, "app").await, json!({"current": 2, "previous": 1}));
    assert_eq!(versions(&s, "app").await, vec![1, 2], "exactly one new version");
    let new = s.read("secret/data/app").await;
    assert_ne!(new["password"], "initial-pw");
    assert_eq!(new["password"].as_str().unwrap().len(), 20, "Vault's default policy: {new}");
    assert_eq!((new["username"].clone(), new["host"].clone()), (json!("app"), json!("db1")), "other fields carry over");
    assert_eq!(s.read("secret/data/app?stage=previous").await["password"], "initial-pw");
    let (st, _) = s.call("GET", "secret/data/app?stage=pending", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "no pending version after finish");

    // Again: version 3, and previous follows.
    let (st, _) = rotate(&s, "app").await;
    assert_eq!(st, StatusCode::ACCEPTED);
    wait_ended(&s, "app", 2).await;
    assert_eq!(stages(&s, "app").await, json!({"current": 3, "previous": 2}));
    assert_eq!(versions(&s, "app").await, vec![1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scheduler_rotates_once_per_tick_under_a_manual_clock() {
    let s = leader().await;
    let c = core(&s);
    s.write("secret/data/sched", json!({"password": "p0"})).await;
    let cfg = configure_ok(
        &s,
        "sched",
        json!({"schedule": "rate(30 days)", "window": "2h", "rotator": {"type": "password", "fields": ["password"]}}),
    )
    .await;
    let next = at(&cfg["next_rotation"]);
    let clock = ManualClock::new(next - TimeDelta::seconds(1));
    assert_eq!(coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await, 0, "not due yet");
    assert_eq!(versions(&s, "sched").await, vec![1]);

    clock.set(next + TimeDelta::seconds(1));
    assert_eq!(coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await, 1);
    assert_eq!(stages(&s, "sched").await, json!({"current": 2, "previous": 1}));
    let st = status(&s, "sched").await;
    assert_eq!((st["last_outcome"].clone(), st["rotations_succeeded"].clone()), (json!("succeeded"), json!(1)));
    assert_eq!(at(&st["last_rotated"]).timestamp_millis(), clock.now().timestamp_millis());
    // The same tick again: nothing more.
    for _ in 0..3 {
        assert_eq!(coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await, 0);
    }
    assert_eq!(versions(&s, "sched").await, vec![1, 2]);

    // The next start is one period after the previous tick, inside the window.
    let next2 = at(&st["next_rotation"]);
    assert!(next2 > next + TimeDelta::days(30) - TimeDelta::hours(2), "{next} → {next2}");
    assert!(next2 < next + TimeDelta::days(30) + TimeDelta::hours(2), "{next} → {next2}");
    clock.set(next2 - TimeDelta::seconds(1));
    assert_eq!(coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await, 0);
    clock.set(next2);
    assert_eq!(coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await, 1);
    assert_eq!(stages(&s, "sched").await, json!({"current": 3, "previous": 2}));

    // Down for a year: one rotation, not twelve, and the next start is in the future again.
    clock.set(next2 + TimeDelta::days(365));
    assert_eq!(coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await, 1);
    assert_eq!(coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await, 0);
    assert_eq!(versions(&s, "sched").await, vec![1, 2, 3, 4]);
    assert!(at(&status(&s, "sched").await["next_rotation"]) > clock.now());

    // AWS cron in UTC with a window: the start lies in [04:00, 05:00).
    s.write("secret/data/cron", json!({"password": "p0"})).await;
    let cfg = configure_ok(
        &s,
        "cron",
        json!({"schedule": "cron(0 4 * * ? *)", "window": "1h", "rotator": {"type": "password"}}),
    )
    .await;
    let start = at(&cfg["next_rotation"]);
    assert_eq!(chrono::Timelike::hour(&start), 4, "{start}");
    assert!(start > Utc::now() && start < Utc::now() + TimeDelta::hours(25), "{start}");
}

// ---------------------------------------------------------------------------------------------
// Validation

#[tokio::test]
async fn configurations_are_validated_with_clear_errors() {
    let s = leader().await;
    s.write("secret/data/v", json!({"password": "x"})).await;
    let pw = json!({"type": "password"});
    let cases = [
        (json!({"rotator": pw}), "schedule is required"),
        (json!({"schedule": "soon", "rotator": pw}), "invalid schedule \"soon\""),
        (json!({"schedule": "rate(0 days)", "rotator": pw}), "must be a positive integer"),
        (json!({"schedule": "rate(10 weeks)", "rotator": pw}), "must be minutes, hours or days"),
        (json!({"schedule": "cron(0 10 * * * *)", "rotator": pw}), "one of day-of-month and day-of-week must be ?"),
        (json!({"schedule": "cron(0 0 30 2 ? *)", "rotator": pw}), "it never fires"),
        (json!({"schedule": "30s", "rotator": pw}), "at least one minute"),
        (json!({"schedule": "rate(1 hour)", "window": "2h", "rotator": pw}), "window must be shorter"),
        (json!({"schedule": "rate(1 day)", "window": "abc", "rotator": pw}), "invalid window"),
        (json!({"schedule": "rate(1 day)", "max_attempts": 0, "rotator": pw}), "max_attempts must be between 1 and 20"),
        (json!({"schedule": "rate(1 day)", "max_attempts": 50, "rotator": pw}), "max_attempts must be between"),
        (json!({"schedule": "rate(1 day)"}), "rotator is required"),
        (json!({"schedule": "rate(1 day)", "rotator": "password"}), "expected an object"),
        (json!({"schedule": "rate(1 day)", "rotator": {}}), "rotator.type is required"),
        (json!({"schedule": "rate(1 day)", "rotator": {"type": "lambda"}}), "unknown rotator type \"lambda\""),
        (json!({"schedule": "rate(1 day)", "rotator": {"type": "password", "policy": "nope"}}), "not found"),
        (json!({"schedule": "rate(1 day)", "rotator": {"type": "password", "fields": []}}), "at least one field"),
        (json!({"schedule": "rate(1 day)", "rotator": {"type": "password", "fields": ["a", "a"]}}), "twice"),
        (json!({"schedule": "rate(1 day)", "rotator": {"type": "password", "lenght": 3}}), "unknown field \"lenght\""),
        (
            json!({"schedule": "rate(1 day)", "rotator": {"type": "webhook", "url": "http://rotator.example/h", "hmac_key": "0123456789abcdef"}}),
            "matches no entry of the outbound allow-list",
        ),
        (
            json!({"schedule": "rate(1 day)", "rotator": {"type": "webhook", "url": "https://u:p@rotator.example/h", "hmac_key": "0123456789abcdef"}}),
            "must not carry credentials",
        ),
        (
            json!({"schedule": "rate(1 day)", "rotator": {"type": "webhook", "url": "https://rotator.example/h"}}),
            "hmac_key is required",
        ),
        (
            json!({"schedule": "rate(1 day)", "rotator": {"type": "webhook", "url": "https://rotator.example/h", "hmac_key": "short"}}),
            "at least 16 bytes",
        ),
        (
            json!({"schedule": "rate(1 day)", "rotator": {"type": "postgres", "db_name": "pg", "username": "app"}}),
            "no database secrets engine",
        ),
    ];
    for (body, expected) in cases {
        let (st, v) = configure(&s, "v", body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        let msg = v["errors"][0].as_str().unwrap_or_default();
        assert!(msg.contains(expected), "{body}: expected {expected:?} in {msg:?}");
    }
    // Nothing was stored by any of them.
    let (st, _) = s.call("GET", "secret/rotation/v", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, v) = rotate(&s, "v").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["errors"][0].as_str().unwrap().contains("no rotation is configured"), "{v}");

    // Like AWS, the secret must exist first.
    let (st, v) = configure(&s, "missing", password_rotator()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["errors"][0].as_str().unwrap().contains("does not exist"), "{v}");

    // Postgres: the mount must be a database engine with that connection, the strategy complete.
    let (st, _) = s.call("POST", "sys/mounts/database", Some(json!({"type": "database"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    for (rotator, expected) in [
        (json!({"type": "postgres", "db_name": "nope", "username": "app"}), "database config \"nope\" not found"),
        (json!({"type": "postgres", "db_mount": "secret", "db_name": "pg", "username": "app"}), "no database"),
        (json!({"type": "postgres", "username": "app"}), "db_name is required"),
    ] {
        let (st, v) = configure(&s, "v", json!({"schedule": "rate(1 day)", "rotator": rotator})).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["errors"][0].as_str().unwrap().contains(expected), "{expected}: {v}");
    }

    // The webhook key is write-only; an update that leaves it out keeps it for the same URL only.
    allow_outbound(&s, "http://127.0.0.1:9/hook").await;
    let key = "a-very-secret-hmac-key-0123";
    let body = json!({"schedule": "rate(1 day)", "rotator": {"type": "webhook", "url": "http://127.0.0.1:9/hook", "hmac_key": key}});
    let written = configure_ok(&s, "v", body).await;
    let read = status(&s, "v").await;
    for v in [&written, &read] {
        assert!(!v.to_string().contains(key), "{v}");
        assert_eq!(v["rotator"], json!({"type": "webhook", "url": "http://127.0.0.1:9/hook"}));
    }
    let same_url = json!({"rotator": {"type": "webhook", "url": "http://127.0.0.1:9/hook"}, "window": "1h"});
    assert_eq!(configure_ok(&s, "v", same_url).await["window"], "1h0m0s");
    let other_url = json!({"rotator": {"type": "webhook", "url": "http://127.0.0.1:10/hook"}});
    let (st, v) = configure(&s, "v", other_url).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    // The stored configuration is encrypted: the key is not in the database file.
    let db = std::fs::read(s.db_path()).unwrap();
    let wal = std::fs::read(s.db_path().with_extension("db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!bytes.windows(key.len()).any(|w| w == key.as_bytes()), "hmac key stored in clear");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_stops_scheduling_without_rolling_back() {
    let s = leader().await;
    let c = core(&s);
    s.write("secret/data/d", json!({"password": "p0"})).await;
    let next = at(&configure_ok(&s, "d", password_rotator()).await["next_rotation"]);
    let (st, _) = s.call("DELETE", "secret/rotation/d", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.call("GET", "secret/rotation/d", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let clock = ManualClock::new(next + TimeDelta::days(1));
    assert_eq!(coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await, 0);
    assert_eq!(versions(&s, "d").await, vec![1]);
    let (st, _) = s.call("DELETE", "secret/rotation/d", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "deleting again is fine");

    // A rotation in flight when the schedule is deleted finishes, then the row goes.
    s.write("secret/data/d2", json!({"password": "p0"})).await;
    configure_ok(&s, "d2", password_rotator()).await;
    let (st, _) = rotate(&s, "d2").await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let (st, _) = s.call("DELETE", "secret/rotation/d2", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    until("the in-flight rotation to finish", Duration::from_secs(20), || async {
        s.call("GET", "secret/rotation/d2", None).await.0 == StatusCode::NOT_FOUND
    })
    .await;
    assert_eq!(stages(&s, "d2").await, json!({"current": 2, "previous": 1}));

    // Deleting the secret deletes its rotation.
    s.write("secret/data/d3", json!({"password": "p0"})).await;
    configure_ok(&s, "d3", password_rotator()).await;
    let (st, _) = s.call("DELETE", "secret/metadata/d3", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.call("GET", "secret/rotation/d3", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------
// Webhook rotator

/// A local rotation hook: checks every signature with the shared key, records the bodies, and
/// answers 500 at the step it is told to fail.
pub(crate) struct Hook {
    key: String,
    fail_at: Mutex<Option<String>>,
    pub(crate) calls: Mutex<Vec<Value>>,
    bad_signatures: AtomicUsize,
    made: AtomicUsize,
}

impl Hook {
    fn fail_at(&self, step: Option<&str>) {
        *self.fail_at.lock().unwrap() = step.map(str::to_string);
    }

    pub(crate) fn steps(&self) -> Vec<String> {
        self.calls.lock().unwrap().iter().map(|c| c["step"].as_str().unwrap().to_string()).collect()
    }
}

async fn hook_handler(
    State(h): State<Arc<Hook>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> (axum::http::StatusCode, String) {
    let sig = headers.get("x-coffer-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(h.key.as_bytes()).unwrap();
    mac.update(&body);
    if sig != format!("sha256={}", hex::encode(mac.finalize().into_bytes())) {
        h.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return (axum::http::StatusCode::UNAUTHORIZED, String::new());
    }
    let v: Value = serde_json::from_slice(&body).unwrap();
    h.calls.lock().unwrap().push(v.clone());
    let step = v["step"].as_str().unwrap_or("").to_string();
    if h.fail_at.lock().unwrap().as_deref() == Some(step.as_str()) {
        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "{\"error\": \"told to fail\"}".into());
    }
    if step == "create" {
        let n = h.made.fetch_add(1, Ordering::SeqCst);
        let data = json!({"data": {"api_key": format!("hook-value-{n}"), "issuer": "hook"}});
        return (axum::http::StatusCode::OK, data.to_string());
    }
    (axum::http::StatusCode::NO_CONTENT, String::new())
}

/// Adds `url` to the outbound allow-list (keeping what is there).
pub(crate) async fn allow_outbound(s: &TestServer, url: &str) {
    let (_, v) = s.call("GET", "sys/config/outbound", None).await;
    let mut urls: Vec<Value> = v["data"]["api_allowed_urls"].as_array().cloned().unwrap_or_default();
    urls.push(json!(url));
    let (st, v) = s.call("PUT", "sys/config/outbound", Some(json!({ "allowed_urls": urls }))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

/// A local hook, admitted by the outbound allow-list of `s` (its literal loopback address).
pub(crate) async fn start_hook(s: &TestServer, key: &str) -> (Arc<Hook>, String) {
    let hook = Arc::new(Hook {
        key: key.to_string(),
        fail_at: Mutex::new(None),
        calls: Mutex::new(Vec::new()),
        bad_signatures: AtomicUsize::new(0),
        made: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/hook", axum::routing::post(hook_handler)).with_state(hook.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    allow_outbound(s, &url).await;
    (hook, url)
}

pub(crate) const HOOK_KEY: &str = "shared-hook-key-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_rotator_runs_the_four_signed_steps_and_writes_the_hooks_value() {
    let s = leader().await;
    let (hook, url) = start_hook(&s, HOOK_KEY).await;
    s.write("secret/data/hooked", json!({"api_key": "original"})).await;
    configure_ok(
        &s,
        "hooked",
        json!({"schedule": "rate(7 days)", "rotator": {"type": "webhook", "url": url, "hmac_key": HOOK_KEY}}),
    )
    .await;
    let (st, r) = rotate(&s, "hooked").await;
    assert_eq!(st, StatusCode::ACCEPTED, "{r}");
    let token = r["data"]["version_token"].as_str().unwrap().to_string();
    let done = wait_ended(&s, "hooked", 1).await;
    assert_eq!(done["last_outcome"], "succeeded", "{done}");
    assert_eq!(hook.bad_signatures.load(Ordering::SeqCst), 0);
    assert_eq!(hook.steps(), vec!["create", "set", "test", "finish"]);
    for call in hook.calls.lock().unwrap().iter() {
        let keys: Vec<&String> = call.as_object().unwrap().keys().collect();
        assert_eq!(keys, vec!["mount", "path", "step", "version_token"], "{call}");
        assert_eq!((call["mount"].as_str(), call["path"].as_str()), (Some("secret/"), Some("hooked")));
        assert_eq!(call["version_token"], token.as_str());
    }
    assert_eq!(s.read("secret/data/hooked").await, json!({"api_key": "hook-value-0", "issuer": "hook"}));
    assert_eq!(stages(&s, "hooked").await, json!({"current": 2, "previous": 1}));

    // A hook that does not know the key refuses every step: the rotation fails, current stays.
    let (wrong, wrong_url) = start_hook(&s, "another-key-entirely-0000").await;
    s.write("secret/data/wrongkey", json!({"api_key": "original"})).await;
    configure_ok(
        &s,
        "wrongkey",
        json!({"schedule": "rate(7 days)", "max_attempts": 1, "rotator": {"type": "webhook", "url": wrong_url, "hmac_key": HOOK_KEY}}),
    )
    .await;
    rotate(&s, "wrongkey").await;
    let done = wait_ended(&s, "wrongkey", 1).await;
    assert_eq!(done["last_outcome"], "failed", "{done}");
    assert!(done["last_error"].as_str().unwrap().contains("HTTP 401"), "{done}");
    assert_eq!(wrong.bad_signatures.load(Ordering::SeqCst), 1);
    assert_eq!(stages(&s, "wrongkey").await, json!({"current": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_failing_at_any_step_fails_after_retries_and_leaves_current_untouched() {
    let s = leader().await;
    let c = core(&s);
    let (hook, url) = start_hook(&s, HOOK_KEY).await;
    for step in ["create", "set", "test", "finish"] {
        hook.calls.lock().unwrap().clear();
        hook.fail_at(Some(step));
        let path = format!("fail-{step}");
        s.write(&format!("secret/data/{path}"), json!({"api_key": "original"})).await;
        let cfg = configure_ok(
            &s,
            &path,
            json!({"schedule": "rate(30 days)", "max_attempts": 3, "rotator": {"type": "webhook", "url": url, "hmac_key": HOOK_KEY}}),
        )
        .await;
        let clock = ManualClock::new(at(&cfg["next_rotation"]) + TimeDelta::seconds(1));
        for attempt in 1..=3 {
            assert_eq!(
                coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await,
                1,
                "{step}: attempt {attempt}"
            );
            let st = status(&s, &path).await;
            if attempt < 3 {
                let f = &st["in_flight"];
                assert_eq!((f["step"].as_str(), f["attempts"].as_i64()), (Some(step), Some(attempt)), "{st}");
                assert!(f["last_error"].as_str().unwrap().contains("HTTP 500"), "{st}");
                let retry = at(&f["next_attempt"]);
                assert!(retry > clock.now(), "backoff: {st}");
                assert_eq!(
                    coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await,
                    0,
                    "{step}: not before the backoff"
                );
                clock.set(retry + TimeDelta::milliseconds(1));
            } else {
                assert!(st["in_flight"].is_null(), "{st}");
                assert_eq!((st["last_outcome"].as_str(), st["rotations_failed"].as_i64()), (Some("failed"), Some(1)));
                assert!(st["last_error"].as_str().unwrap().contains(&format!("step {step}")), "{st}");
            }
        }
        // current untouched, pending gone (the invariant holds again), the value unchanged.
        assert_eq!(stages(&s, &path).await, json!({"current": 1}), "{step}");
        assert_eq!(s.read(&format!("secret/data/{path}")).await, json!({"api_key": "original"}));
        let creates = hook.steps().iter().filter(|x| *x == "create").count();
        if step == "create" {
            assert_eq!((creates, versions(&s, &path).await), (3, vec![1]));
        } else {
            assert_eq!(creates, 1, "{step}: create ran once, only the failing step was retried");
            assert_eq!(versions(&s, &path).await, vec![1, 2]);
        }
        assert_eq!(hook.steps().last().map(String::as_str), Some(step));

        // Healthy again: the next scheduled rotation succeeds.
        hook.fail_at(None);
        clock.set(at(&status(&s, &path).await["next_rotation"]) + TimeDelta::seconds(1));
        assert_eq!(coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await, 1);
        let st = status(&s, &path).await;
        assert_eq!((st["last_outcome"].as_str(), st["rotations_succeeded"].as_i64()), (Some("succeeded"), Some(1)));
        let current = stages(&s, &path).await["current"].as_i64().unwrap();
        assert_eq!(stages(&s, &path).await, json!({"current": current, "previous": 1}));
        assert!(s.read(&format!("secret/data/{path}")).await["api_key"].as_str().unwrap().starts_with("hook-value-"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_current_written_during_a_rotation_abandons_it() {
    let s = leader().await;
    let c = core(&s);
    let (hook, url) = start_hook(&s, HOOK_KEY).await;
    hook.fail_at(Some("set"));
    s.write("secret/data/ab", json!({"api_key": "original"})).await;
    let cfg = configure_ok(
        &s,
        "ab",
        json!({"schedule": "rate(30 days)", "rotator": {"type": "webhook", "url": url, "hmac_key": HOOK_KEY}}),
    )
    .await;
    let clock = ManualClock::new(at(&cfg["next_rotation"]) + TimeDelta::seconds(1));
    assert_eq!(coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await, 1);
    assert_eq!(stages(&s, "ab").await, json!({"current": 1, "pending": 2}));
    // An operator writes a new value by hand while the rotation waits for its retry.
    s.write("secret/data/ab", json!({"api_key": "by-hand"})).await;
    hook.fail_at(None);
    clock.advance(TimeDelta::hours(1));
    assert_eq!(coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await, 1);
    let st = status(&s, "ab").await;
    assert_eq!((st["last_outcome"].as_str(), st["rotations_abandoned"].as_i64()), (Some("abandoned"), Some(1)), "{st}");
    assert!(st["in_flight"].is_null());
    let labels = stages(&s, "ab").await;
    assert_eq!(labels["current"], 3, "{labels}");
    assert!(labels.get("pending").is_none(), "{labels}");
    assert_eq!(s.read("secret/data/ab").await["api_key"], "by-hand");
}

// ---------------------------------------------------------------------------------------------
// Postgres rotator

pub(crate) const ROOT_PW: &str = "r00t-Secret-pw";

pub(crate) async fn pg_setup(roles: &[(&str, &str, bool)]) -> (OwnCluster, TestServer) {
    let pg = tokio::task::spawn_blocking(|| OwnCluster::start_scram(ROOT_PW)).await.unwrap();
    let mut admin = PgConnection::connect(&pg.url_as("postgres", ROOT_PW)).await.unwrap();
    for (name, pw, login) in roles {
        let login = if *login { "LOGIN" } else { "NOLOGIN" };
        sqlx::raw_sql(&format!("create role \"{name}\" {login} password '{pw}'")).execute(&mut admin).await.unwrap();
    }
    admin.close().await.unwrap();
    let s = leader().await;
    let (st, v) = s.call("POST", "sys/mounts/database", Some(json!({"type": "database"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let url = format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable", pg.port);
    let (st, v) = s
        .call(
            "POST",
            "database/config/pg",
            Some(json!({"plugin_name": "postgresql-database-plugin", "connection_url": url,
                        "username": "postgres", "password": ROOT_PW, "allowed_roles": ["*"]})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    (pg, s)
}

pub(crate) async fn login(pg: &OwnCluster, user: &str, password: &str) -> Result<(), sqlx::Error> {
    let mut c = PgConnection::connect(&pg.url_as(user, password)).await?;
    sqlx::query("select 1").execute(&mut c).await?;
    c.close().await
}

pub(crate) fn creds(v: &Value) -> (String, String) {
    (v["username"].as_str().unwrap().to_string(), v["password"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_single_rotates_in_place_and_a_failed_test_restores_the_password() {
    let (pg, s) = pg_setup(&[("app", "initial-app-pw", true), ("locked", "initial-locked-pw", false)]).await;
    s.write("secret/data/db", json!({"username": "app", "password": "initial-app-pw", "dbname": "postgres"})).await;
    let cfg = configure_ok(
        &s,
        "db",
        json!({"schedule": "rate(30 days)", "rotator": {"type": "postgres", "db_name": "pg", "username": "app"}}),
    )
    .await;
    assert_eq!(
        cfg["rotator"],
        json!({"type": "postgres", "db_mount": "database/", "db_name": "pg", "strategy": "single", "username": "app"})
    );
    for round in 1..=2 {
        let before = creds(&s.read("secret/data/db").await);
        let (st, v) = rotate(&s, "db").await;
        assert_eq!(st, StatusCode::ACCEPTED, "{v}");
        let done = wait_ended(&s, "db", round).await;
        assert_eq!(done["last_outcome"], "succeeded", "{done}");
        let now = creds(&s.read("secret/data/db").await);
        assert_eq!(now.0, "app");
        assert_ne!(now.1, before.1);
        login(&pg, &now.0, &now.1).await.unwrap_or_else(|e| panic!("current does not log in: {e}"));
        assert!(login(&pg, &before.0, &before.1).await.is_err(), "the old password still works");
        assert_eq!(s.read("secret/data/db?stage=previous").await["password"], before.1.as_str());
        assert_eq!(s.read("secret/data/db").await["dbname"], "postgres", "other fields carry over");
    }

    // A role that may not log in: the test step fails; on failure the role gets the current
    // password back, so clients on `current` work again once it may log in.
    s.write("secret/data/locked", json!({"username": "locked", "password": "initial-locked-pw"})).await;
    configure_ok(
        &s,
        "locked",
        json!({"schedule": "rate(30 days)", "max_attempts": 1, "rotator": {"type": "postgres", "db_name": "pg", "username": "locked"}}),
    )
    .await;
    rotate(&s, "locked").await;
    let done = wait_ended(&s, "locked", 1).await;
    assert_eq!(done["last_outcome"], "failed", "{done}");
    let err = done["last_error"].as_str().unwrap();
    assert!(err.contains("step test") && err.contains("cannot log in"), "{err}");
    assert!(!err.contains("initial-locked-pw"), "no password in errors: {err}");
    assert_eq!(stages(&s, "locked").await, json!({"current": 1}));
    let mut admin = PgConnection::connect(&pg.url_as("postgres", ROOT_PW)).await.unwrap();
    sqlx::raw_sql("alter role locked login").execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    login(&pg, "locked", "initial-locked-pw").await.expect("the current password was restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_alternating_never_fails_a_login_on_current_under_a_client_loop() {
    let (pg, s) = pg_setup(&[("app_a", "initial-a-pw", true), ("app_b", "initial-b-pw", true)]).await;
    s.write("secret/data/alt", json!({"username": "app_a", "password": "initial-a-pw"})).await;
    let cfg = configure_ok(
        &s,
        "alt",
        json!({"schedule": "rate(30 days)", "rotator": {"type": "postgres", "db_name": "pg", "usernames": ["app_a", "app_b"], "strategy": "alternating"}}),
    )
    .await;
    assert_eq!(cfg["rotator"]["usernames"], json!(["app_a", "app_b"]));

    // The client: read current, log in with it, again and again.
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let client = {
        let (stop, rounds, failures) = (stop.clone(), rounds.clone(), failures.clone());
        let (base, port) = (s.base.clone(), pg.port);
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::SeqCst) {
                let (st, v) = crate::harness::call_url(&http, &base, "root", "GET", "secret/data/alt", None).await;
                assert_eq!(st, StatusCode::OK, "{v}");
                let (user, pw) = creds(&v["data"]["data"]);
                let url = format!("postgres://{user}:{pw}@127.0.0.1:{port}/postgres");
                match PgConnection::connect(&url).await {
                    Ok(c) => {
                        let _ = c.close().await;
                    }
                    Err(e) => failures.lock().unwrap().push(format!("{user}: {e}")),
                }
                rounds.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let mut users = Vec::new();
    for n in 1..=4 {
        let (st, v) = rotate(&s, "alt").await;
        assert_eq!(st, StatusCode::ACCEPTED, "{v}");
        let done = wait_ended(&s, "alt", n).await;
        assert_eq!(done["last_outcome"], "succeeded", "{done}");
        users.push(s.read("secret/data/alt").await["username"].as_str().unwrap().to_string());
        // Clients refresh before the next rotation (alternating keeps the previous login valid
        // for exactly one rotation).
        let seen = rounds.load(Ordering::SeqCst);
        until("the client to read the new current", Duration::from_secs(20), || {
            let rounds = rounds.clone();
            async move { rounds.load(Ordering::SeqCst) >= seen + 2 }
        })
        .await;
    }
    stop.store(true, Ordering::SeqCst);
    client.await.unwrap();
    assert_eq!(failures.lock().unwrap().clone(), Vec::<String>::new(), "a client on current failed to log in");
    assert!(rounds.load(Ordering::SeqCst) >= 8);
    assert_eq!(users, vec!["app_b", "app_a", "app_b", "app_a"]);
    let now = creds(&s.read("secret/data/alt").await);
    let prev = creds(&s.read("secret/data/alt?stage=previous").await);
    assert_eq!((now.0.as_str(), prev.0.as_str()), ("app_a", "app_b"));
    login(&pg, &now.0, &now.1).await.unwrap();
    login(&pg, &prev.0, &prev.1).await.expect("previous keeps working until the next rotation");
    assert!(login(&pg, "app_a", "initial-a-pw").await.is_err());
}

// ---------------------------------------------------------------------------------------------
// Concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_rotate_calls_and_ticks_never_make_two_pending_versions() {
    let s = Arc::new(leader().await);
    s.write("secret/data/race", json!({"password": "p0"})).await;
    configure_ok(&s, "race", password_rotator()).await;
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { rotate(&s, "race").await })
        })
        .collect();
    let mut started = 0;
    for c in calls {
        let (st, v) = c.await.unwrap();
        match st {
            StatusCode::ACCEPTED => started += 1,
            StatusCode::CONFLICT => {
                assert!(v["errors"][0].as_str().unwrap().contains("already in progress"), "{v}")
            }
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(started, 1);
    wait_ended(&s, "race", 1).await;
    assert_eq!(versions(&s, "race").await, vec![1, 2]);
    assert_eq!(stages(&s, "race").await, json!({"current": 2, "previous": 1}));

    // Eight scheduler ticks at once at the due time: one rotation.
    let c = core(&s);
    let next = at(&status(&s, "race").await["next_rotation"]);
    let clock = Arc::new(ManualClock::new(next + TimeDelta::seconds(1)));
    let ticks: Vec<_> = (0..8)
        .map(|_| {
            let (c, clock) = (c.clone(), clock.clone());
            tokio::spawn(
                async move { coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &*clock).await },
            )
        })
        .collect();
    let mut worked = 0;
    for t in ticks {
        worked += t.await.unwrap();
    }
    assert_eq!(worked, 1);
    assert_eq!(versions(&s, "race").await, vec![1, 2, 3]);
    assert_eq!(stages(&s, "race").await, json!({"current": 3, "previous": 2}));
    assert_eq!(status(&s, "race").await["rotations_succeeded"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotation_cannot_start_while_pending_is_on_another_version() {
    let s = leader().await;
    s.write("secret/data/stuck", json!({"password": "p0"})).await;
    let (st, v) = s
        .call(
            "PUT",
            "secret/data/stuck",
            Some(json!({"data": {"password": "half"}, "options": {"stages": ["pending"]}})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    configure_ok(&s, "stuck", password_rotator()).await;
    let (st, v) = rotate(&s, "stuck").await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(v["errors"][0].as_str().unwrap().contains("a previous rotation is not complete"), "{v}");
    assert_eq!(versions(&s, "stuck").await, vec![1, 2]);
}

// ---------------------------------------------------------------------------------------------
// Audit

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotations_are_audited_without_secret_values() {
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("audit.log");
    let settings = coffer::core::audit::Settings {
        declared: vec![crate::audit::declared("file", log.to_str().unwrap())],
        ..Default::default()
    };
    let s = TestServer::dev_audited(settings).await;
    let c = core(&s);
    until("leadership", Duration::from_secs(10), || {
        let c = c.clone();
        async move { c.leader.load().is_some() }
    })
    .await;
    s.write("secret/data/aud", json!({"password": "first-value-xyz"})).await;
    configure_ok(&s, "aud", password_rotator()).await;
    rotate(&s, "aud").await;
    wait_ended(&s, "aud", 1).await;
    let new = s.read("secret/data/aud").await["password"].as_str().unwrap().to_string();
    let (hook, url) = start_hook(&s, HOOK_KEY).await;
    hook.fail_at(Some("create"));
    s.write("secret/data/aud2", json!({"api_key": "x"})).await;
    configure_ok(
        &s,
        "aud2",
        json!({"schedule": "rate(1 day)", "max_attempts": 1, "rotator": {"type": "webhook", "url": url, "hmac_key": HOOK_KEY}}),
    )
    .await;
    rotate(&s, "aud2").await;
    wait_ended(&s, "aud2", 1).await;
    let mut kinds = Vec::new();
    until("the events to reach the log", Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        kinds = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["type"] == "event")
            .filter_map(|e| e["event"]["kind"].as_str().map(str::to_string))
            .filter(|k| k.starts_with("rotation."))
            .collect();
        let done = kinds.iter().filter(|k| *k == "rotation.succeeded").count() == 1
            && kinds.iter().filter(|k| *k == "rotation.failed").count() == 1;
        async move { done }
    })
    .await;
    assert_eq!(kinds.iter().filter(|k| *k == "rotation.started").count(), 2, "{kinds:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    let events: Vec<&str> = text.lines().filter(|l| l.contains("\"rotation.")).collect();
    for e in &events {
        for secret in [new.as_str(), "first-value-xyz", HOOK_KEY] {
            assert!(!e.contains(secret), "a secret in an audit event: {e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Crashes of the real binary between steps

struct Proc {
    child: Child,
    base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config_file(dir: &Path) -> std::path::PathBuf {
    let cfg = crate::restart::write_config(dir);
    // A short leader lease, so the restarted node takes over from the dead one quickly.
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("[ha]\nlease_ttl = \"3s\"\n");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn spawn(cfg: &Path, crash_after: Option<&str>) -> Proc {
    use std::io::{BufRead, BufReader};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer"));
    cmd.arg("server")
        .arg("--config")
        .arg(cfg)
        .env("COFFER_DISABLE_MLOCK", "true")
        .env("COFFER_LOG_LEVEL", "info")
        .env_remove(coffer::engines::kv::rotation::state::CRASH_ENV)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(point) = crash_after {
        cmd.env(coffer::engines::kv::rotation::state::CRASH_ENV, point);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        if let Some(i) = line.find("listening on http://") {
            let addr = line[i + "listening on http://".len()..].split_whitespace().next().unwrap().to_string();
            break format!("http://{addr}");
        }
    };
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    Proc { child, base }
}

async fn crash_and_resume(point: &str) {
    use crate::restart::call;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path());
    let mut p = spawn(&cfg, Some(point));
    let token = crate::restart::init(&p.base).await;
    let (st, v) =
        call(&p.base, &token, "POST", "secret/data/crash", Some(json!({"data": {"user": "app", "password": "p0"}})))
            .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = call(&p.base, &token, "POST", "secret/rotation/crash", Some(password_rotator())).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // The process may die before it answers (the rotation runs as soon as it is started).
    let _ = reqwest::Client::new()
        .post(format!("{}/v1/secret/rotate/crash", p.base))
        .header("X-Vault-Token", &token)
        .send()
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(status) = p.child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "{point}: the server did not crash");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(exit.signal(), Some(9), "{point}: killed by SIGKILL at the hook, not {exit:?}");

    let p = spawn(&cfg, None);
    let done = loop {
        let (st, v) = call(&p.base, &token, "GET", "secret/rotation/crash", None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        if v["data"]["in_flight"].is_null() && v["data"]["last_outcome"] != "" {
            break v["data"].clone();
        }
        assert!(std::time::Instant::now() < deadline + Duration::from_secs(30), "{point}: not resumed: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((done["last_outcome"].as_str(), done["rotations_succeeded"].as_i64()), (Some("succeeded"), Some(1)));
    assert_eq!(done["rotations_failed"], 0, "{point}: {done}");
    let (_, labels) = call(&p.base, &token, "GET", "secret/stages/crash", None).await;
    assert_eq!(labels["data"]["stages"], json!({"current": 2, "previous": 1}), "{point}");
    let (_, meta) = call(&p.base, &token, "GET", "secret/metadata/crash", None).await;
    let kept: Vec<&String> = meta["data"]["versions"].as_object().unwrap().keys().collect();
    assert_eq!(kept, vec!["1", "2"], "{point}: exactly one new version");
    let (_, data) = call(&p.base, &token, "GET", "secret/data/crash", None).await;
    assert_eq!(data["data"]["data"]["user"], "app");
    assert_ne!(data["data"]["data"]["password"], "p0");

    // The machine is idle and clean: the next rotation makes version 3.
    let (st, v) = call(&p.base, &token, "POST", "secret/rotate/crash", None).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{point}: {v}");
    loop {
        let (_, v) = call(&p.base, &token, "GET", "secret/rotation/crash", None).await;
        if v["data"]["rotations_succeeded"] == 2 && v["data"]["in_flight"].is_null() {
            break;
        }
        assert!(std::time::Instant::now() < deadline + Duration::from_secs(60), "{point}: second rotation: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, labels) = call(&p.base, &token, "GET", "secret/stages/crash", None).await;
    assert_eq!(labels["data"]["stages"], json!({"current": 3, "previous": 2}), "{point}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_start_resumes_and_rotates_once() {
    crash_and_resume("start").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_the_pending_write_before_it_is_recorded_rotates_once() {
    crash_and_resume("create-written").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_create_resumes_and_rotates_once() {
    crash_and_resume("create").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_set_resumes_and_rotates_once() {
    crash_and_resume("set").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_test_resumes_and_rotates_once() {
    crash_and_resume("test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_moving_current_and_dropping_pending_resumes_and_rotates_once() {
    crash_and_resume("finish-current").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_finish_leaves_one_rotation() {
    crash_and_resume("finish").await;
}

// ---------------------------------------------------------------------------------------------
// The store row: compare-and-set, fencing, claims (both backends)

fn row(mount: &str, path: &str, due: Option<i64>) -> RotationRow {
    RotationRow {
        config: coffer::store::Sealed::from_stored(b"sealed".to_vec()),
        key_term: 1,
        fire_at: due,
        next_rotation_at: due,
        due_at: due,
        ..RotationRow::new(mount, path)
    }
}

async fn secret(s: &SharedStore, mount: &str, path: &str) {
    s.kv_metadata_put(&KvMetadataRow {
        mount_id: mount.into(),
        path: path.into(),
        max_versions: 0,
        cas_required: false,
        delete_version_after: 0,
        custom_metadata: None,
        created_time: "2024-01-01T00:00:00Z".into(),
        updated_time: "2024-01-01T00:00:00Z".into(),
        current_version: 1,
        oldest_version: 1,
    })
    .await
    .unwrap();
}

async fn rotation_rows(s: SharedStore) {
    s.mount_insert(&crate::store_contract::mount_row("m", "mounts", "m/")).await.unwrap();
    // The row needs its secret.
    assert!(matches!(s.rotation_insert(&row("m", "a", Some(100))).await, Err(StoreError::Conflict)));
    for p in ["a", "b", "c"] {
        secret(&s, "m", p).await;
    }
    s.rotation_insert(&row("m", "a", Some(100))).await.unwrap();
    s.rotation_insert(&row("m", "b", Some(200))).await.unwrap();
    s.rotation_insert(&row("m", "c", None)).await.unwrap();
    assert!(matches!(s.rotation_insert(&row("m", "a", Some(1))).await, Err(StoreError::Conflict)), "one per secret");
    let got = s.rotation_get("m", "a").await.unwrap().unwrap();
    assert_eq!(got, row("m", "a", Some(100)));

    // Compare-and-set on the revision.
    let mut a = got.clone();
    a.step = "create".into();
    a.version_token = "tok".into();
    a.new_value = Some(coffer::store::Sealed::from_stored(b"v".to_vec()));
    s.rotation_update(&a, None).await.unwrap();
    assert!(matches!(s.rotation_update(&a, None).await, Err(StoreError::Conflict)), "stale revision");
    let a = s.rotation_get("m", "a").await.unwrap().unwrap();
    assert_eq!(
        (a.rev, a.step.as_str(), a.new_value.clone()),
        (1, "create", Some(coffer::store::Sealed::from_stored(b"v".to_vec())))
    );

    // Fencing: a write under a superseded epoch commits nothing.
    assert_eq!(s.lease_acquire("n1", 0, 1_000).await.unwrap(), Some(1));
    assert_eq!(s.lease_acquire("n2", 2_000, 1_000).await.unwrap(), Some(2));
    let stale = Fence { node: "n1".into(), epoch: 1 };
    let live = Fence { node: "n2".into(), epoch: 2 };
    let mut changed = a.clone();
    changed.attempts = 3;
    assert!(matches!(s.rotation_update(&changed, Some(&stale)).await, Err(StoreError::Conflict)));
    assert!(matches!(s.rotation_claim_due(1_000, 2_000, 10, &stale).await, Err(StoreError::Conflict)));
    assert!(matches!(s.rotation_delete("m", "a", 1, Some(&stale)).await, Err(StoreError::Conflict)));
    assert_eq!(s.rotation_get("m", "a").await.unwrap().unwrap(), a, "nothing committed");
    s.rotation_update(&changed, Some(&live)).await.unwrap();

    // Claims: due rows only, earliest first, not again while claimed.
    assert!(s.rotation_claim_due(99, 10_000, 10, &live).await.unwrap().is_empty());
    let claimed = s.rotation_claim_due(150, 10_000, 10, &live).await.unwrap();
    assert_eq!(claimed.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), vec!["a"]);
    assert_eq!((claimed[0].due_at, claimed[0].claim_epoch, claimed[0].rev), (Some(10_000), Some(2), 2));
    let claimed = s.rotation_claim_due(500, 10_000, 10, &live).await.unwrap();
    assert_eq!(claimed.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), vec!["b"], "a is claimed");
    assert!(s.rotation_claim_due(500, 10_000, 10, &live).await.unwrap().is_empty());
    // A new leader releases the old epoch's claims at once.
    assert_eq!(s.lease_acquire("n3", 5_000, 1_000).await.unwrap(), Some(3));
    let next = Fence { node: "n3".into(), epoch: 3 };
    let claimed = s.rotation_claim_due(600, 20_000, 1, &next).await.unwrap();
    assert_eq!(claimed.len(), 1, "limit");
    let claimed2 = s.rotation_claim_due(600, 20_000, 10, &next).await.unwrap();
    let mut both: Vec<String> = claimed.iter().chain(&claimed2).map(|r| r.path.clone()).collect();
    both.sort();
    assert_eq!(both, vec!["a", "b"]);
    assert!(claimed.iter().chain(&claimed2).all(|r| r.claim_epoch == Some(3) && r.due_at == Some(20_000)));

    // Delete: compare-and-set too; the row goes with its secret.
    let b = s.rotation_get("m", "b").await.unwrap().unwrap();
    assert!(matches!(s.rotation_delete("m", "b", b.rev + 1, None).await, Err(StoreError::Conflict)));
    s.rotation_delete("m", "b", b.rev, Some(&next)).await.unwrap();
    assert!(s.rotation_get("m", "b").await.unwrap().is_none());
    s.kv_delete_all("m", "c", None).await.unwrap();
    assert!(s.rotation_get("m", "c").await.unwrap().is_none(), "deleting the secret deletes its rotation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_rows_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = coffer::store::open(&format!("sqlite://{}", dir.path().join("coffer.db").display())).await.unwrap();
    rotation_rows(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_rows_postgres() {
    let (store, db) = crate::store_contract::fresh_pg().await;
    rotation_rows(store).await;
    db.close().await;
}
