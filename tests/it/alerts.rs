//! Alerts on unusual access end to end: each kind fires exactly once at its threshold and not
//! below it, once per identity per window; the rate limit's summary; webhooks signed with the
//! rule's key (checked by a local receiver) and refused at write time when the allow-list does not
//! admit them; `"type":"alert"` audit lines that `coffer audit verify` accepts; and the rules API
//! from an attacker's side (no sudo, spelling variants, oversize values, a key never read back).
// These tests start a manual clock at the wall clock's time.
#![allow(clippy::disallowed_methods)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use coffer::base::schedule::{ManualClock, SharedClock};
use coffer::core::alerts::rules::{Kind, Rule, Source};
use coffer::core::Core;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::harness::{until, TestServer};

const KEY: &str = "alert-receiver-key-0123456789";

// ---------------------------------------------------------------------------------------------
// Helpers

fn core(s: &TestServer) -> Arc<Core> {
    s.running.as_ref().unwrap().core.clone()
}

/// A local webhook receiver: checks every signature with its key and keeps the bodies it accepts.
struct Receiver {
    key: String,
    bodies: Mutex<Vec<Value>>,
    bad_signatures: AtomicUsize,
}

impl Receiver {
    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

async fn receive(
    State(r): State<Arc<Receiver>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> axum::http::StatusCode {
    let sig = headers.get("x-coffer-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(r.key.as_bytes()).unwrap();
    mac.update(&body);
    if sig != format!("sha256={}", hex::encode(mac.finalize().into_bytes())) {
        r.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return axum::http::StatusCode::UNAUTHORIZED;
    }
    r.bodies.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
    axum::http::StatusCode::NO_CONTENT
}

/// A receiver checking signatures with `key`, admitted by the allow-list of `s`.
async fn receiver(s: &TestServer, key: &str) -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver { key: key.into(), bodies: Mutex::new(Vec::new()), bad_signatures: AtomicUsize::new(0) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/alerts", axum::routing::post(receive)).with_state(r.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    crate::rotation::allow_outbound(s, &url).await;
    (r, url)
}

async fn put_rule(s: &TestServer, name: &str, body: Value) -> (StatusCode, Value) {
    s.call("PUT", &format!("sys/alerts/rules/{name}"), Some(body)).await
}

async fn rule_ok(s: &TestServer, name: &str, body: Value) {
    let (st, v) = put_rule(s, name, body).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "rule {name}: {v}");
}

/// A token that may read `sys/alerts` (and nothing else: polling with root would be a root use).
async fn reader(s: &TestServer) -> String {
    s.token_with_policy("alert-reader", "path \"sys/alerts\" { capabilities = [\"read\"] }").await
}

/// Every alert in this node's recent list, oldest first.
async fn alerts(s: &TestServer, reader: &str) -> Vec<Value> {
    let (st, v) = s.call_as(reader, "GET", "sys/alerts?limit=1000", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["data"]["alerts"].as_array().unwrap().clone()
}

fn of_kind<'a>(all: &'a [Value], kind: &str) -> Vec<&'a Value> {
    all.iter().filter(|a| a["kind"] == kind && a.get("summary").is_none()).collect()
}

/// A manual clock for the alerts of `s` (token lifetimes stay on the wall clock).
fn manual_clock(s: &TestServer) -> Arc<ManualClock> {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    core(s).alerts.set_clock(SharedClock::new(clock.clone()));
    clock
}

async fn enable_file_audit(s: &TestServer, path: &Path) {
    let (st, v) = s
        .call("PUT", "sys/audit/file", Some(json!({"type": "file", "options": {"file_path": path.to_str().unwrap()}})))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
}

fn audit_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// `coffer audit verify` as the CLI runs it: exit code 0 for a log that verifies.
fn verify_exit(log: &Path, key: &ed25519_dalek::VerifyingKey) -> i32 {
    let pem = coffer::core::audit::chain::public_key_pem(key);
    coffer::core::audit::verify::run(&[PathBuf::from(log)], &pem, false)
}

// ---------------------------------------------------------------------------------------------
// denied_burst

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn denied_bursts_fire_once_per_identity_per_window_signed_and_on_record() {
    let s = TestServer::dev().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    enable_file_audit(&s, &log).await;
    let key = crate::audit::public_key(&s, "file").await;
    let clock = manual_clock(&s);
    let (hook, url) = receiver(&s, KEY).await;
    rule_ok(
        &s,
        "denials",
        json!({"kind": "denied_burst", "threshold": 3, "window": "10m", "webhook": url, "hmac_key": KEY}),
    )
    .await;
    let read = reader(&s).await;
    let alice = s.token_with_policy("nothing", "path \"secret/data/open\" { capabilities = [\"read\"] }").await;
    let bob = s.token_with_policy("nothing", "path \"secret/data/open\" { capabilities = [\"read\"] }").await;
    let deny = |token: String, i: usize| {
        let s = &s;
        async move {
            let (st, _) = s.call_as(&token, "GET", &format!("secret/data/closed-{i}"), None).await;
            assert_eq!(st, StatusCode::FORBIDDEN);
        }
    };
    for i in 0..3 {
        deny(alice.clone(), i).await;
    }
    // Allowed requests and other errors do not count.
    let (st, _) = s.call_as(&alice, "GET", "secret/data/open", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(of_kind(&alerts(&s, &read).await, "denied_burst").is_empty(), "fired below the threshold");
    deny(alice.clone(), 3).await;
    let fired = alerts(&s, &read).await;
    let fired = of_kind(&fired, "denied_burst");
    assert_eq!(fired.len(), 1, "{fired:?}");
    let alert = fired[0].clone();
    assert_eq!(
        (alert["rule"].as_str(), alert["count"].as_u64(), alert["threshold"].as_u64()),
        (Some("denials"), Some(4), Some(3))
    );
    assert_eq!(alert["client_address"], "127.0.0.1");
    assert_eq!(alert["paths"].as_array().unwrap().len(), 4);
    assert_eq!(alert["paths"][3], "secret/data/closed-3");
    let (_, me) = s.call("POST", "auth/token/lookup", Some(json!({"token": alice}))).await;
    assert_eq!(alert["identity"]["accessor"], me["data"]["accessor"]);
    // Once per identity per window; another identity counts on its own.
    for i in 4..8 {
        deny(alice.clone(), i).await;
    }
    for i in 0..3 {
        deny(bob.clone(), i).await;
    }
    assert_eq!(of_kind(&alerts(&s, &read).await, "denied_burst").len(), 1);
    deny(bob.clone(), 3).await;
    assert_eq!(of_kind(&alerts(&s, &read).await, "denied_burst").len(), 2);
    // After the window, a new one: alice fires again at her fourth denial.
    clock.advance(TimeDelta::minutes(11));
    for i in 0..3 {
        deny(alice.clone(), i).await;
    }
    assert_eq!(of_kind(&alerts(&s, &read).await, "denied_burst").len(), 2);
    deny(alice.clone(), 3).await;
    let all = alerts(&s, &read).await;
    assert_eq!(of_kind(&all, "denied_burst").len(), 3);

    // The webhook got each alert as listed, signed with the rule's key, and no token.
    until("three deliveries", Duration::from_secs(10), || {
        let hook = hook.clone();
        async move { hook.bodies().len() == 3 }
    })
    .await;
    assert_eq!(hook.bad_signatures.load(Ordering::SeqCst), 0);
    assert_eq!(hook.bodies(), of_kind(&all, "denied_burst").into_iter().cloned().collect::<Vec<_>>());
    let text = serde_json::to_string(&hook.bodies()).unwrap();
    for secret in [alice.as_str(), bob.as_str(), s.token.as_str(), KEY] {
        assert!(!text.contains(secret), "an alert carries a token or the key");
    }
    assert_eq!(core(&s).alerts.fired_counts()[0], ("denied_burst", 3));

    // On record in the audit log as "type":"alert" lines, accessor hashed, and the log verifies.
    s.stop().await;
    let lines = audit_lines(&log);
    let recorded: Vec<&Value> = lines.iter().filter(|l| l["type"] == "alert").collect();
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0]["alert"]["rule"], "denials");
    let accessor = alert["identity"]["accessor"].as_str().unwrap();
    assert!(recorded[0]["alert"]["identity"]["accessor"].as_str().unwrap().starts_with("hmac-sha256:"));
    assert!(!std::fs::read_to_string(&log).unwrap().contains(accessor), "the accessor in clear");
    assert!(!std::fs::read_to_string(&log).unwrap().contains(KEY), "the rule's key in clear");
    assert_eq!(verify_exit(&log, &key), 0);
    assert!(crate::audit::check(std::slice::from_ref(&log), &key).unwrap().entries > 3);
}

// ---------------------------------------------------------------------------------------------
// read_burst

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_bursts_count_distinct_secrets_through_both_apis() {
    let s = crate::aws::server().await;
    let read = reader(&s).await;
    for name in ["a", "b", "c", "d"] {
        s.write(&format!("secret/data/{name}"), json!({"v": name})).await;
    }
    rule_ok(&s, "reads", json!({"kind": "read_burst", "threshold": 2, "window": "1h"})).await;
    let app = s
        .token_with_policy("reader-app", "path \"secret/data/*\" { capabilities = [\"read\"] }\npath \"secret/metadata/*\" { capabilities = [\"read\"] }")
        .await;
    for path in ["secret/data/a", "secret/data/a", "secret/metadata/b", "secret/data/b", "secret/data/missing"] {
        s.call_as(&app, "GET", path, None).await;
    }
    assert!(of_kind(&alerts(&s, &read).await, "read_burst").is_empty(), "two distinct reads, repeats and misses");
    let (st, _) = s.call_as(&app, "GET", "secret/data/c", None).await;
    assert_eq!(st, StatusCode::OK);
    let all = alerts(&s, &read).await;
    let fired = of_kind(&all, "read_burst");
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0]["count"], 3);
    assert_eq!(fired[0]["paths"], json!(["secret/data/a", "secret/data/b", "secret/data/c"]));
    s.call_as(&app, "GET", "secret/data/d", None).await;
    assert_eq!(of_kind(&alerts(&s, &read).await, "read_burst").len(), 1, "once per window");

    // The AWS API's GetSecretValue counts too, for its access key.
    for id in ["a", "a", "b"] {
        let (st, v) = crate::aws::Call::new("GetSecretValue", json!({"SecretId": id})).send(&s).await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    assert_eq!(of_kind(&alerts(&s, &read).await, "read_burst").len(), 1);
    let (st, v) = crate::aws::Call::new("BatchGetSecretValue", json!({"SecretIdList": ["c", "d"]})).send(&s).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let all = alerts(&s, &read).await;
    let fired = of_kind(&all, "read_burst");
    assert_eq!(fired.len(), 2);
    assert_eq!(fired[1]["identity"]["accessor"], crate::aws::KEY_ID);
    assert_eq!(fired[1]["paths"], json!(["secret/data/a", "secret/data/b", "secret/data/c"]));
}

// ---------------------------------------------------------------------------------------------
// root_token_use and the rate limit

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn root_use_fires_per_request_up_to_the_limit_then_one_summary() {
    let s = TestServer::dev().await;
    let read = reader(&s).await;
    let plain = s.token_with_policy("plain", "path \"secret/*\" { capabilities = [\"read\"] }").await;
    let clock = manual_clock(&s);
    let (hook, url) = receiver(&s, KEY).await;
    rule_ok(&s, "root", json!({"kind": "root_token_use", "max_per_minute": 2, "webhook": url, "hmac_key": KEY})).await;
    s.call_as(&plain, "GET", "secret/data/x", None).await;
    assert!(alerts(&s, &read).await.is_empty(), "a token without root");
    for _ in 0..5 {
        s.call("GET", "sys/mounts", None).await;
    }
    let all = alerts(&s, &read).await;
    assert_eq!(of_kind(&all, "root_token_use").len(), 2, "{all:?}");
    assert_eq!(all[0]["path"], "sys/mounts");
    assert_eq!(all[0]["identity"]["display_name"], "root");
    let c = core(&s);
    assert_eq!(c.alerts.suppressed_count(), 3);
    // The minute ends: one summary with the count, listed, audited and sent like an alert.
    clock.advance(TimeDelta::seconds(61));
    until("the summary", Duration::from_secs(10), || {
        let (s, read) = (&s, &read);
        async move { alerts(s, read).await.len() == 3 }
    })
    .await;
    let all = alerts(&s, &read).await;
    assert_eq!((all[2]["rule"].as_str(), all[2]["summary"]["suppressed"].as_u64()), (Some("root"), Some(3)));
    until("three deliveries", Duration::from_secs(10), || {
        let hook = hook.clone();
        async move { hook.bodies().len() == 3 }
    })
    .await;
    assert_eq!(hook.bad_signatures.load(Ordering::SeqCst), 0);
    assert_eq!(hook.bodies()[2]["summary"]["suppressed"], 3);
    assert_eq!(c.alerts.fired_counts()[2], ("root_token_use", 2));
    until("three deliveries counted", Duration::from_secs(10), || {
        let c = c.clone();
        async move { c.alerts.delivery_counts().sent == 3 }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// new_source

/// A client whose connections come from `ip` (any 127.x address reaches the server).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(ip.parse::<IpAddr>().unwrap()).build().unwrap()
}

/// A request with `token` from `ip` (allowed, of a secret that does not exist).
async fn use_from(s: &TestServer, ip: &str, token: &str) {
    let (st, v) = crate::harness::call_url(&client_from(ip), &s.base, token, "GET", "secret/data/nothing", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_source_fires_once_for_a_prefix_not_seen_in_the_tokens_first_hour() {
    let s = TestServer::dev().await;
    let read = reader(&s).await;
    let clock = manual_clock(&s);
    rule_ok(&s, "sources", json!({"kind": "new_source"})).await;
    let app = s.token_with_policy("app", "path \"secret/*\" { capabilities = [\"read\"] }").await;
    use_from(&s, "127.0.0.1", &app).await;
    use_from(&s, "127.0.1.1", &app).await;
    assert!(of_kind(&alerts(&s, &read).await, "new_source").is_empty(), "its first hour");
    clock.advance(TimeDelta::hours(2));
    use_from(&s, "127.0.1.7", &app).await;
    use_from(&s, "127.0.0.9", &app).await;
    assert!(of_kind(&alerts(&s, &read).await, "new_source").is_empty(), "prefixes of the first hour");
    use_from(&s, "127.0.2.1", &app).await;
    use_from(&s, "127.0.2.2", &app).await;
    let all = alerts(&s, &read).await;
    let fired = of_kind(&all, "new_source");
    assert_eq!(fired.len(), 1, "{all:?}");
    assert_eq!(
        (fired[0]["prefix"].as_str(), fired[0]["client_address"].as_str()),
        (Some("127.0.2.0/24"), Some("127.0.2.1"))
    );
    // A token this node first sees after its first hour (made now, by the wall clock; the alerts'
    // clock stands two hours later): where it is first seen counts as known.
    let late = s.token_with_policy("late", "path \"secret/*\" { capabilities = [\"read\"] }").await;
    use_from(&s, "127.0.3.1", &late).await;
    assert_eq!(of_kind(&alerts(&s, &read).await, "new_source").len(), 1);
    use_from(&s, "127.0.4.1", &late).await;
    assert_eq!(of_kind(&alerts(&s, &read).await, "new_source").len(), 2);
}

// ---------------------------------------------------------------------------------------------
// sealed

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sealed_alert_is_on_record_before_the_devices_close_and_is_sent() {
    let s = TestServer::dev().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    enable_file_audit(&s, &log).await;
    let key = crate::audit::public_key(&s, "file").await;
    let (hook, url) = receiver(&s, KEY).await;
    rule_ok(&s, "sealed", json!({"kind": "sealed", "webhook": url, "hmac_key": KEY})).await;
    let (st, v) = s.call("PUT", "sys/seal", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let lines = audit_lines(&log);
    let at = lines.iter().position(|l| l["type"] == "alert").expect("an alert line");
    assert_eq!(lines[at]["alert"]["kind"], "sealed");
    assert_eq!(lines[at]["alert"]["node"], core(&s).node_name.as_str());
    let close = lines.iter().rposition(|l| l["checkpoint"]["reason"] == "close").unwrap();
    assert!(at < close, "the alert comes before the closing checkpoint");
    assert_eq!(close, lines.len() - 1);
    assert_eq!(verify_exit(&log, &key), 0);
    until("the sealed alert at the webhook", Duration::from_secs(10), || {
        let hook = hook.clone();
        async move { hook.bodies().len() == 1 }
    })
    .await;
    assert_eq!(hook.bodies()[0]["kind"], "sealed");
    assert_eq!(hook.bad_signatures.load(Ordering::SeqCst), 0);
    // Sealed, the node forgets the stored rules (their keys are barrier-held).
    assert_eq!(core(&s).alerts.fired_counts()[4], ("sealed", 1));
}

// ---------------------------------------------------------------------------------------------
// rotation_failed

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_rotation_fires_and_a_successful_one_does_not() {
    use crate::rotation::{configure_ok, leader, rotate, start_hook, wait_ended, HOOK_KEY};
    let s = leader().await;
    let read = reader(&s).await;
    rule_ok(&s, "rotations", json!({"kind": "rotation_failed"})).await;
    s.write("secret/data/pw", json!({"password": "initial"})).await;
    configure_ok(&s, "pw", json!({"schedule": "rate(30 days)", "rotator": {"type": "password", "policy": "default"}}))
        .await;
    rotate(&s, "pw").await;
    assert_eq!(wait_ended(&s, "pw", 1).await["last_outcome"], "succeeded");
    assert!(of_kind(&alerts(&s, &read).await, "rotation_failed").is_empty());
    // A hook that does not know the key refuses every step: the rotation fails.
    let (_wrong, url) = start_hook(&s, "another-key-entirely-0000").await;
    s.write("secret/data/hooked", json!({"api_key": "original"})).await;
    configure_ok(
        &s,
        "hooked",
        json!({"schedule": "rate(7 days)", "max_attempts": 1, "rotator": {"type": "webhook", "url": url, "hmac_key": HOOK_KEY}}),
    )
    .await;
    rotate(&s, "hooked").await;
    assert_eq!(wait_ended(&s, "hooked", 1).await["last_outcome"], "failed");
    let all = alerts(&s, &read).await;
    let fired = of_kind(&all, "rotation_failed");
    assert_eq!(fired.len(), 1, "{all:?}");
    assert_eq!(
        (fired[0]["mount"].as_str(), fired[0]["path"].as_str(), fired[0]["outcome"].as_str()),
        (Some("secret/"), Some("hooked"), Some("failed"))
    );
}

// ---------------------------------------------------------------------------------------------
// The rules API

#[tokio::test]
async fn rules_need_sudo_and_reads_of_alerts_need_read() {
    let s = TestServer::dev().await;
    let all_caps = "[\"create\", \"read\", \"update\", \"delete\", \"list\"]";
    let no_sudo = s
        .token_with_policy(
            "rules-no-sudo",
            &format!(
                "path \"sys/alerts/rules/*\" {{ capabilities = {all_caps} }}\n\
                 path \"sys/alerts/rules\" {{ capabilities = [\"list\"] }}\n\
                 path \"sys/alerts\" {{ capabilities = [\"read\"] }}"
            ),
        )
        .await;
    let sudo = s
        .token_with_policy(
            "rules-sudo",
            "path \"sys/alerts/rules/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\", \"sudo\"] }\n\
             path \"sys/alerts/rules\" { capabilities = [\"list\", \"sudo\"] }",
        )
        .await;
    let body = json!({"kind": "sealed"});
    for (method, path, body) in [
        ("PUT", "sys/alerts/rules/r", Some(body.clone())),
        ("GET", "sys/alerts/rules/r", None),
        ("LIST", "sys/alerts/rules", None),
        ("DELETE", "sys/alerts/rules/r", None),
    ] {
        let (st, v) = s.call_as(&no_sudo, method, path, body).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{method} {path}: {v}");
    }
    let (st, v) = s.call_as(&sudo, "PUT", "sys/alerts/rules/r", Some(body)).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, v) = s.call_as(&sudo, "GET", "sys/alerts/rules/r", None).await;
    assert_eq!((st, v["data"]["kind"].as_str()), (StatusCode::OK, Some("sealed")), "{v}");
    let (st, v) = s.call_as(&sudo, "LIST", "sys/alerts/rules", None).await;
    assert_eq!((st, v["data"]["keys"].clone()), (StatusCode::OK, json!(["r"])), "{v}");
    // The recent list needs read on sys/alerts (no sudo).
    let (st, _) = s.call_as(&no_sudo, "GET", "sys/alerts", None).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = s.call_as(&sudo, "GET", "sys/alerts", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = s.call_as(&sudo, "DELETE", "sys/alerts/rules/r", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.call_as(&sudo, "GET", "sys/alerts/rules/r", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_hmac_key_is_write_only_and_stored_sealed() {
    let s = TestServer::dev().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    enable_file_audit(&s, &log).await;
    let (_hook, url) = receiver(&s, KEY).await;
    rule_ok(&s, "hooked", json!({"kind": "root_token_use", "webhook": url, "hmac_key": KEY})).await;
    let (st, v) = s.call("GET", "sys/alerts/rules/hooked", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!((v["data"]["webhook"].as_str(), v["data"]["hmac_key_set"].as_bool()), (Some(url.as_str()), Some(true)));
    assert!(v["data"].get("hmac_key").is_none());
    let (_, listed) = s.call("LIST", "sys/alerts/rules", None).await;
    for text in [v.to_string(), listed.to_string()] {
        assert!(!text.contains(KEY), "{text}");
    }
    // Rewritten without the key and with the same URL: the key stays (and is still not shown).
    rule_ok(&s, "hooked", json!({"kind": "root_token_use", "webhook": url, "max_per_minute": 3})).await;
    let (_, v) = s.call("GET", "sys/alerts/rules/hooked", None).await;
    assert_eq!((v["data"]["max_per_minute"].as_u64(), v["data"]["hmac_key_set"].as_bool()), (Some(3), Some(true)));
    let c = core(&s);
    let stored = c.store.entry_get(coffer::core::alerts::rules::KIND, "hooked").await.unwrap().unwrap();
    assert!(!stored.contains(KEY) && !stored.contains(&url), "stored in the clear: {stored}");
    assert!(!std::fs::read_to_string(&log).unwrap().contains(KEY), "the key in the audit log");
    // Debug of the rule never shows it either.
    let rule = coffer::core::alerts::rules::load(&c.store, &c.barrier, "hooked").await.unwrap().unwrap();
    assert!(!format!("{rule:?}").contains(KEY));
}

#[tokio::test]
async fn bad_names_and_values_are_refused_and_store_nothing() {
    let s = TestServer::dev().await;
    let ok = json!({"kind": "denied_burst", "threshold": 5, "window": "1m"});
    for name in
        ["Denials", "DENIALS", "denials.", "-denials", "denials-", "dénials", "denials%20", "de%20nials", "a%2Fb"]
    {
        let (st, v) = put_rule(&s, name, ok.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{name}: {v}");
    }
    for (body, why) in [
        (json!({"kind": "denied_burst", "threshold": 10_001, "window": "1m"}), "threshold must be between 1 and 10000"),
        (json!({"kind": "denied_burst", "threshold": 0, "window": "1m"}), "threshold must be between"),
        (json!({"kind": "denied_burst", "threshold": "99999999999999999999999", "window": "1m"}), "threshold"),
        (json!({"kind": "denied_burst", "threshold": 5, "window": "25h"}), "window must be between 1s and 24h"),
        (json!({"kind": "denied_burst", "threshold": 5, "window": "0s"}), "window must be between"),
        (json!({"kind": "read_burst", "threshold": 5}), "window is required"),
        (json!({"kind": "sealed", "threshold": 5}), "takes no threshold"),
        (json!({"kind": "Sealed"}), "unknown kind"),
        (json!({"kind": "sealed", "max_per_minute": 1_001}), "max_per_minute"),
        (json!({"kind": "sealed", "treshold": 1}), "unknown field"),
        (json!({"kind": "sealed", "webhook": "https://hooks.example/x"}), "hmac_key is required"),
        (json!({"kind": "sealed", "webhook": "https://hooks.example/x", "hmac_key": "short"}), "at least 16 bytes"),
        (json!({"kind": "sealed", "webhook": "https://hooks.example/x", "hmac_key": KEY}), "webhook is not allowed"),
        (json!({"kind": "sealed", "webhook": "http://127.0.0.1:9/x", "hmac_key": KEY}), "webhook is not allowed"),
    ] {
        let (st, v) = put_rule(&s, "r", body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(v["errors"][0].as_str().unwrap().contains(why), "{body}: {v}");
    }
    let (st, v) = s.call("LIST", "sys/alerts/rules", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "nothing stored: {v}");
    // A webhook the allow-list admits is fine; the same host on another path is not.
    let (_hook, url) = receiver(&s, KEY).await;
    rule_ok(&s, "r", json!({"kind": "sealed", "webhook": url, "hmac_key": KEY})).await;
    let other = url.replace("/alerts", "/other");
    let (st, _) = put_rule(&s, "r2", json!({"kind": "sealed", "webhook": other, "hmac_key": KEY})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn config_rules_are_read_only_through_the_api() {
    let s = TestServer::dev().await;
    let c = core(&s);
    let from_file = Rule {
        name: "from-file".into(),
        kind: Kind::Sealed,
        threshold: 0,
        window: 0,
        max_per_minute: 10,
        webhook: None,
        source: Source::Config,
    };
    c.alerts.set_config(vec![from_file]);
    let (st, v) = s.call("GET", "sys/alerts/rules/from-file", None).await;
    assert_eq!((st, v["data"]["source"].as_str()), (StatusCode::OK, Some("config")), "{v}");
    for (method, body) in [("PUT", Some(json!({"kind": "root_token_use"}))), ("DELETE", None)] {
        let (st, v) = s.call(method, "sys/alerts/rules/from-file", body).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{method}: {v}");
        assert!(v["errors"][0].as_str().unwrap().contains("config file"), "{v}");
    }
    rule_ok(&s, "from-api", json!({"kind": "sealed"})).await;
    let (_, v) = s.call("LIST", "sys/alerts/rules", None).await;
    assert_eq!(v["data"]["keys"], json!(["from-api", "from-file"]));
    assert_eq!(v["data"]["key_info"]["from-file"]["source"], "config");
    assert_eq!(v["data"]["key_info"]["from-api"]["source"], "api");
}

#[tokio::test]
async fn sys_alerts_pages_oldest_first_after_an_id() {
    let s = TestServer::dev().await;
    let read = reader(&s).await;
    rule_ok(&s, "root", json!({"kind": "root_token_use", "max_per_minute": 100})).await;
    for _ in 0..5 {
        s.call("GET", "sys/mounts", None).await;
    }
    let page = |q: &'static str| {
        let (s, read) = (&s, &read);
        async move {
            let (st, v) = s.call_as(read, "GET", &format!("sys/alerts{q}"), None).await;
            (st, v["data"].clone())
        }
    };
    let ids = |d: &Value| d["alerts"].as_array().unwrap().iter().map(|a| a["id"].as_u64().unwrap()).collect::<Vec<_>>();
    let (st, d) = page("?limit=2").await;
    assert_eq!((st, ids(&d), d["next_after"].as_u64()), (StatusCode::OK, vec![1, 2], Some(2)));
    let (_, d) = page("?after=2&limit=2").await;
    assert_eq!((ids(&d), d["next_after"].as_u64()), (vec![3, 4], Some(4)));
    let (_, d) = page("?after=4&limit=2").await;
    assert_eq!((ids(&d), d["next_after"].clone(), d["oldest_id"].as_u64()), (vec![5], Value::Null, Some(1)));
    let (_, d) = page("?after=5").await;
    assert!(ids(&d).is_empty());
    for q in ["?limit=0", "?limit=1001", "?after=abc", "?after=-1", "?page=2"] {
        let (st, d) = page(q).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_the_allow_list_no_longer_admits_is_not_called() {
    let s = TestServer::dev().await;
    let read = reader(&s).await;
    let (hook, url) = receiver(&s, KEY).await;
    rule_ok(&s, "root", json!({"kind": "root_token_use", "webhook": url, "hmac_key": KEY})).await;
    // The operator empties the allow-list: the URL is checked again at each send.
    let (st, v) = s.call("PUT", "sys/config/outbound", Some(json!({"allowed_urls": []}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let c = core(&s);
    until("a refused delivery", Duration::from_secs(10), || {
        let c = c.clone();
        async move { c.alerts.delivery_counts().failed >= 1 }
    })
    .await;
    assert_eq!(of_kind(&alerts(&s, &read).await, "root_token_use").len(), 1, "raised and listed all the same");
    assert!(hook.bodies().is_empty());
    assert_eq!(c.alerts.delivery_counts().sent, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_a_rule_written_on_one_node_holds_on_another_which_counts_on_its_own() {
    let (_store, db) = crate::store_contract::fresh_pg().await;
    let mut a = TestServer::at_url(db.url(), Duration::from_secs(3)).await;
    let (shares, root) = a.init(1, 1).await;
    a.unseal(&shares).await;
    let mut b = TestServer::at_url(db.url(), Duration::from_secs(3)).await;
    b.token = root.clone();
    b.unseal(&shares).await;
    let read = reader(&a).await;
    rule_ok(&a, "root", json!({"kind": "root_token_use", "max_per_minute": 100})).await;
    // Node B hears of the rule over the change feed; each root use there is its alert.
    until("the rule in force on b", Duration::from_secs(5), || {
        let (b, read) = (&b, &read);
        async move {
            b.call("GET", "sys/mounts", None).await;
            !alerts(b, read).await.is_empty()
        }
    })
    .await;
    let on_b = alerts(&b, &read).await;
    assert!(on_b.iter().all(|x| x["node"] == core(&b).node_name.as_str()));
    assert!(alerts(&a, &read).await.is_empty(), "A counts and lists only its own");
    let (st, _) = a.call("DELETE", "sys/alerts/rules/root", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    until("the rule gone from b", Duration::from_secs(5), || {
        let (b, read) = (&b, &read);
        async move {
            let before = alerts(b, read).await.len();
            b.call("GET", "sys/mounts", None).await;
            alerts(b, read).await.len() == before
        }
    })
    .await;
    a.stop().await;
    b.stop().await;
    db.close().await;
}
