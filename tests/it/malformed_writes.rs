//! SEC-22: malformed writes that carry canaries (wrong types, invalid UTF-8, truncated JSON, bad
//! escapes, duplicate keys) against the real binary at trace level with a file audit device: the
//! answers name fields, never values, and no canary reaches a response, the server log or the
//! audit log in any common encoding.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::restart::{add_audit_file, call, init, leaked_forms, spawn_with, write_config};
use crate::security::encodings;

/// One malformed request: what it is, method, path, body bytes, and whether a 2xx is allowed
/// (duplicate keys parse as JSON; the last one wins, as in Vault's Go decoder).
struct Case {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    body: Vec<u8>,
    may_succeed: bool,
}

fn case(what: &'static str, method: &'static str, path: &'static str, body: impl Into<Vec<u8>>) -> Case {
    Case { what, method, path, body: body.into(), may_succeed: false }
}

fn cases(c: &str) -> Vec<Case> {
    let mut invalid_utf8 = format!("{{\"data\":{{\"pw\":\"{c}").into_bytes();
    invalid_utf8.extend_from_slice(b"\xff\xfe\xc3\x28\"}}");
    let mut utf8_in_key = b"{\"data\":{\"k\xff\":\"".to_vec();
    utf8_in_key.extend_from_slice(c.as_bytes());
    utf8_in_key.extend_from_slice(b"\"}}");
    vec![
        case("data as a string", "POST", "secret/data/e", json!({"data": c}).to_string()),
        case("data as a list", "POST", "secret/data/e", json!({"data": [c]}).to_string()),
        case("data as a number-like string", "POST", "secret/data/e", format!("{{\"data\":{c}}}")),
        case("cas as text", "POST", "secret/data/e", json!({"data": {"a": 1}, "options": {"cas": c}}).to_string()),
        case("options as text", "POST", "secret/data/e", json!({"data": {"a": 1}, "options": c}).to_string()),
        case("invalid UTF-8 in a value", "POST", "secret/data/e", invalid_utf8),
        case("invalid UTF-8 in a key", "POST", "secret/data/e", utf8_in_key),
        case("truncated in a value", "POST", "secret/data/e", format!("{{\"data\":{{\"pw\":\"{c}")),
        case("truncated after a value", "POST", "secret/data/e", format!("{{\"data\":{{\"pw\":\"{c}\",")),
        case("bad escape", "POST", "secret/data/e", format!("{{\"data\":{{\"pw\":\"{c}\\q\"}}}}")),
        case("lone surrogate", "POST", "secret/data/e", format!("{{\"data\":{{\"pw\":\"{c}\\ud800\"}}}}")),
        case("control character", "POST", "secret/data/e", format!("{{\"data\":{{\"pw\":\"{c}\u{1}\"}}}}")),
        case("trailing garbage", "POST", "secret/data/e", format!("{{\"data\":{{\"pw\":\"x\"}}}}{c}")),
        case("metadata max_versions", "POST", "secret/metadata/e", json!({"max_versions": c}).to_string()),
        case(
            "metadata custom_metadata",
            "POST",
            "secret/metadata/e",
            json!({"custom_metadata": {"k": [c]}}).to_string(),
        ),
        case("delete versions", "POST", "secret/delete/e", json!({"versions": [c]}).to_string()),
        case("token ttl", "POST", "auth/token/create", json!({"ttl": c}).to_string()),
        case("token num_uses", "POST", "auth/token/create", json!({"num_uses": c}).to_string()),
        case("token meta", "POST", "auth/token/create", json!({"meta": {"k": [c]}}).to_string()),
        case("userpass password type", "POST", "auth/userpass/users/bob", json!({"password": [c]}).to_string()),
        case("userpass login type", "POST", "auth/userpass/login/bob", json!({"password": {"p": c}}).to_string()),
        case("userpass truncated", "POST", "auth/userpass/login/bob", format!("{{\"password\":\"{c}")),
        case(
            "approle secret_id type",
            "POST",
            "auth/approle/login",
            json!({"role_id": "r", "secret_id": [c]}).to_string(),
        ),
        case("unseal key", "PUT", "sys/unseal", json!({"key": [c]}).to_string()),
        case("unseal truncated", "PUT", "sys/unseal", format!("{{\"key\":\"{c}")),
        case(
            "mount config",
            "POST",
            "sys/mounts/other",
            json!({"type": "kv-v2", "config": {"default_lease_ttl": c}}).to_string(),
        ),
        Case {
            what: "duplicate keys",
            method: "POST",
            path: "secret/data/dup",
            body: format!("{{\"data\":{{\"pw\":\"{c}-1\",\"pw\":\"{c}-2\"}}}}").into_bytes(),
            may_succeed: true,
        },
        Case {
            what: "duplicate top-level data",
            method: "POST",
            path: "secret/data/dup2",
            body: format!("{{\"data\":{{\"pw\":\"{c}-3\"}},\"data\":{c}}}").into_bytes(),
            may_succeed: false,
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec22_malformed_writes_leak_no_canary_to_answers_server_log_or_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let audit = dir.path().join("audit.log");
    add_audit_file(&cfg, &audit);
    let mut p = spawn_with(&cfg, "trace");
    let token = init(&p.base).await;
    for (path, kind) in [("userpass", "userpass"), ("approle", "approle")] {
        let (s, v) = call(&p.base, &token, "POST", &format!("sys/auth/{path}"), Some(json!({"type": kind}))).await;
        assert!(s.is_success(), "{v}");
    }
    let (s, v) = call(&p.base, &token, "POST", "auth/userpass/users/bob", Some(json!({"password": "good-pw-1"}))).await;
    assert!(s.is_success(), "{v}");
    let canary = format!("CANARY{}", coffer::crypto::random_base62(24));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let mut answers = String::new();
    for c in cases(&canary) {
        let resp = client
            .request(reqwest::Method::from_bytes(c.method.as_bytes()).unwrap(), format!("{}/v1/{}", p.base, c.path))
            .header("X-Vault-Token", &token)
            .header("Content-Type", "application/json")
            .body(c.body.clone())
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        if !(c.may_succeed && status.is_success()) {
            assert!(status.is_client_error(), "{}: {status} {text}", c.what);
            let v: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", c.what));
            assert!(v["errors"][0].is_string(), "{}: {text}", c.what);
        }
        for form in leaked_forms(&canary) {
            assert!(!text.contains(&form), "{}: the answer holds the canary as {form:?}: {text}", c.what);
        }
        answers.push_str(&text);
    }
    // Nothing malformed was stored, and the good data is untouched.
    let (s, _) = call(&p.base, &token, "GET", "secret/data/e", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&p.base, &token, "GET", "secret/data/dup2", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = call(&p.base, "", "POST", "auth/userpass/login/bob", Some(json!({"password": "good-pw-1"}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    p.child.kill().unwrap();
    p.child.wait().unwrap();
    let log = p.log.lock().unwrap().clone();
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "trace logging was not on");
    assert!(log.contains("path=secret/data/e"), "the malformed requests were not logged: {log}");
    let audit_bytes = std::fs::read(&audit).unwrap();
    let audit_text = String::from_utf8_lossy(&audit_bytes).into_owned();
    assert!(audit_text.contains("secret/data/e"), "the malformed requests were not audited");
    for (form, pattern) in encodings(&canary) {
        let pattern = String::from_utf8(pattern).unwrap();
        assert!(!log.contains(&pattern), "the canary reached the server log as {form}");
        assert!(!audit_text.contains(&pattern), "the canary reached the audit log as {form}");
    }
    // (The canary is alphanumeric, so its JSON-escaped form is the raw one.)
    assert!(!answers.contains(&canary));
}
