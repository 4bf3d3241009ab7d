//! FLT-04: the real binary killed (SIGKILL) at each crash point of a rekey, and by the test
//! between the answer with the new shares and their verification. After a restart exactly one
//! share set unseals: the old one, or the new one once it is in force, never both. Data written
//! before is readable either way.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::restart::{call, spawn, spawn_env, wait_for_sigkill};
use coffer::core::seal::rekey::CRASH_ENV;

/// A Shamir-sealed server over SQLite in `dir`.
fn shamir_config(dir: &Path) -> std::path::PathBuf {
    let cfg = dir.join("coffer.toml");
    std::fs::write(
        &cfg,
        format!(
            "[listener]\naddress = \"127.0.0.1:0\"\ntls_disable = true\n[storage]\nurl = \"sqlite://{}\"\n\
             [seal]\ntype = \"shamir\"\n",
            dir.join("data/coffer.db").display()
        ),
    )
    .unwrap();
    cfg
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect()
}

/// Submits `shares` to a sealed server: true if they unseal it (it is sealed again after), false
/// if they are refused.
async fn unseals(base: &str, token: &str, shares: &[String]) -> bool {
    let (_, v) = call(base, "", "GET", "sys/seal-status", None).await;
    assert_eq!(v["sealed"], true, "{v}");
    for k in shares {
        let (st, v) = call(base, "", "PUT", "sys/unseal", Some(json!({ "key": k }))).await;
        if st != StatusCode::OK {
            assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
            return false;
        }
        if v["sealed"] == false {
            let (_, v) = call(base, token, "GET", "secret/data/before", None).await;
            assert_eq!(v["data"]["data"]["v"], "kept", "the data written before the rekey: {v}");
            let (st, v) = call(base, token, "PUT", "sys/seal", None).await;
            assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
            return true;
        }
    }
    let _ = call(base, "", "PUT", "sys/unseal", Some(json!({"reset": true}))).await;
    false
}

/// How a crash scenario ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InForce {
    Old,
    New,
}

/// Starts a Shamir server (crash point `point`, if any), initialises 3/2, writes a secret, and
/// runs a rekey to 4/3 (`verify`: with verification). `kill_after_shares`: the test kills the
/// server itself once it holds the new shares. Then restarts it and checks which set unseals.
async fn scenario(point: Option<&str>, verify: bool, kill_after_shares: bool, expect: InForce) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = shamir_config(dir.path());
    let env: Vec<(&str, &str)> = point.map(|p| vec![(CRASH_ENV, p)]).unwrap_or_default();
    let what = format!("{point:?} verify={verify} kill_after_shares={kill_after_shares}");
    let mut p = spawn_env(&cfg, "info", &env);
    let (st, v) = call(&p.base, "", "PUT", "sys/init", Some(json!({"secret_shares": 3, "secret_threshold": 2}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let old = strings(&v["keys"]);
    let token = v["root_token"].as_str().unwrap().to_string();
    for k in &old[..2] {
        call(&p.base, "", "PUT", "sys/unseal", Some(json!({ "key": k }))).await;
    }
    let (st, v) = call(&p.base, &token, "POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, v) = call(&p.base, &token, "POST", "secret/data/before", Some(json!({"data": {"v": "kept"}}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");

    let start = json!({"secret_shares": 4, "secret_threshold": 3, "require_verification": verify});
    let (st, v) = call(&p.base, &token, "PUT", "sys/rekey/init", Some(start)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let nonce = v["nonce"].as_str().unwrap().to_string();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut new: Vec<String> = Vec::new();
    let mut crashed = false;
    for k in &old[..2] {
        let r = client
            .put(format!("{}/v1/sys/rekey/update", p.base))
            .header("X-Vault-Token", &token)
            .json(&json!({"key": k, "nonce": nonce}))
            .send()
            .await;
        match r {
            Ok(r) => {
                let v: Value = r.json().await.unwrap();
                if v["complete"] == true {
                    new = strings(&v["keys"]);
                }
            }
            Err(_) => crashed = true,
        }
    }
    if verify && !crashed && !new.is_empty() {
        if kill_after_shares {
            p.child.kill().unwrap();
        } else {
            let (_, v) = call(&p.base, &token, "GET", "sys/rekey/verify", None).await;
            let vnonce = v["nonce"].as_str().unwrap().to_string();
            for k in &new[..3] {
                let r = client
                    .put(format!("{}/v1/sys/rekey/verify", p.base))
                    .header("X-Vault-Token", &token)
                    .json(&json!({"key": k, "nonce": vnonce}))
                    .send()
                    .await;
                if r.is_err() {
                    break;
                }
            }
        }
    }
    if point.is_some() {
        wait_for_sigkill(&mut p, &what).await;
    } else {
        let _ = p.child.wait();
    }
    if point.is_some_and(|p| ["old-key-recovered", "new-key-made", "shares-issued"].contains(&p))
        || (point == Some("before-commit") && !verify)
        || (point == Some("after-commit") && !verify)
    {
        assert!(new.is_empty(), "{what}: the shares were answered before the crash point");
    } else {
        assert_eq!(new.len(), 4, "{what}: the new shares were answered");
    }

    let p = spawn(&cfg);
    let (_, status) = call(&p.base, "", "GET", "sys/seal-status", None).await;
    let config = (status["n"].as_u64().unwrap(), status["t"].as_u64().unwrap());
    let old_unseal = unseals(&p.base, &token, &old[..2]).await;
    let new_unseal = !new.is_empty() && unseals(&p.base, &token, &new[..3]).await;
    match expect {
        InForce::Old => {
            assert!(old_unseal, "{what}: the old shares must still unseal");
            assert!(!new_unseal, "{what}: the new shares must not unseal as well");
            assert_eq!(config, (3, 2), "{what}");
        }
        InForce::New => {
            assert!(new_unseal, "{what}: the new shares must unseal");
            assert!(!old_unseal, "{what}: the old shares must not unseal as well");
            assert_eq!(config, (4, 3), "{what}");
        }
    }
    // A rekey works again after the restart.
    let unseal_with = if expect == InForce::Old { &old[..2] } else { &new[..3] };
    for k in unseal_with {
        call(&p.base, "", "PUT", "sys/unseal", Some(json!({ "key": k }))).await;
    }
    let (st, v) =
        call(&p.base, &token, "PUT", "sys/rekey/init", Some(json!({"secret_shares": 1, "secret_threshold": 1}))).await;
    assert_eq!(st, StatusCode::OK, "{what}: {v}");
    let log = p.log.lock().unwrap().clone();
    for share in old.iter().chain(&new) {
        assert!(!log.contains(share.as_str()), "{what}: a share in the server log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt04_crash_after_the_old_shares_are_checked_keeps_the_old_shares() {
    scenario(Some("old-key-recovered"), false, false, InForce::Old).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt04_crash_once_the_new_key_is_made_keeps_the_old_shares() {
    scenario(Some("new-key-made"), true, false, InForce::Old).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt04_crash_before_the_commit_without_verification_keeps_the_old_shares() {
    scenario(Some("before-commit"), false, false, InForce::Old).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt04_crash_as_the_unverified_shares_are_answered_keeps_the_old_shares() {
    scenario(Some("shares-issued"), true, false, InForce::Old).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt04_kill_9_with_the_new_shares_unverified_keeps_the_old_shares() {
    scenario(None, true, true, InForce::Old).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt04_crash_before_the_verified_commit_keeps_the_old_shares() {
    scenario(Some("before-commit"), true, false, InForce::Old).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt04_crash_after_the_verified_commit_puts_the_new_shares_in_force() {
    scenario(Some("after-commit"), true, false, InForce::New).await;
}

/// Without verification nothing proves the client received the new shares: the commit comes
/// first (so answered shares are always in force), and a crash between the commit and the answer
/// leaves shares nobody holds (D199). This test pins that documented window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flt04_without_verification_a_crash_between_commit_and_answer_is_the_documented_window() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = shamir_config(dir.path());
    let mut p = spawn_env(&cfg, "info", &[(CRASH_ENV, "after-commit")]);
    let (_, v) = call(&p.base, "", "PUT", "sys/init", Some(json!({"secret_shares": 3, "secret_threshold": 2}))).await;
    let old = strings(&v["keys"]);
    let token = v["root_token"].as_str().unwrap().to_string();
    for k in &old[..2] {
        call(&p.base, "", "PUT", "sys/unseal", Some(json!({ "key": k }))).await;
    }
    let (_, v) =
        call(&p.base, &token, "PUT", "sys/rekey/init", Some(json!({"secret_shares": 4, "secret_threshold": 3}))).await;
    let nonce = v["nonce"].as_str().unwrap().to_string();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    for k in &old[..2] {
        let _ = client
            .put(format!("{}/v1/sys/rekey/update", p.base))
            .header("X-Vault-Token", &token)
            .json(&json!({"key": k, "nonce": nonce}))
            .send()
            .await;
    }
    wait_for_sigkill(&mut p, "after-commit without verification").await;
    let p = spawn(&cfg);
    let (_, v) = call(&p.base, "", "GET", "sys/seal-status", None).await;
    assert_eq!((v["n"].clone(), v["t"].clone()), (json!(4), json!(3)), "the commit happened: {v}");
    assert!(!unseals(&p.base, &token, &old[..2]).await, "never both: the old shares are out of force");
}
