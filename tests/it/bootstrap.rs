//! Declarative bootstrap: the file is applied by the leader at unseal through the request
//! pipeline, a second apply changes nothing, a changed file converges (and leaves API-made objects
//! alone), `revoke_root` leaves no root token, a bad file applies nothing, and over PostgreSQL
//! only the leader applies.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use coffer::core::bootstrap::{Report, Settings};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestServer;

fn write_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// The first file: an audit device (so every later change is on record), policies, a KV mount,
/// AppRole and JWT methods with a role each.
fn first_file(audit_log: &Path) -> String {
    format!(
        r#"
[audit.file]
type = "file"
options = {{ file_path = "{}" }}

[password_policies.db]
policy = '''
length = 20
rule "charset" {{
  charset = "abcdefghijklmnopqrstuvwxyz0123456789"
}}
'''

[policies.app]
policy = '''
path "secret/data/app/*" {{ capabilities = ["read"] }}
'''

[mounts.secret]
type = "kv"
description = "application secrets"
options = {{ version = "2" }}
config = {{ default_lease_ttl = "1h" }}

[auth.approle]
type = "approle"

[auth.ci]
type = "jwt"

[approle_roles.approle.web]
token_policies = ["app"]
token_ttl = "1h"

[jwt_roles.ci.deploy]
role_type = "jwt"
user_claim = "sub"
bound_audiences = ["coffer"]
token_policies = ["app"]
"#,
        audit_log.display()
    )
}

/// A server that applies `file` (Shamir, one share), initialised and unsealed, with the first
/// run's report.
async fn bootstrapped(file: &str, revoke_root: bool) -> (TestServer, Vec<String>, PathBuf, Arc<Report>) {
    let mut s = TestServer::uninitialised().await;
    let path = s.dir.path().join("coffer.bootstrap.toml");
    write_file(&path, file);
    s.running.as_ref().unwrap().core.bootstrap.configure(Settings { file: Some(path.clone()), revoke_root });
    let (shares, _) = s.init(1, 1).await;
    s.unseal(&shares).await;
    let report = next_report(&s, None).await;
    (s, shares, path, report)
}

/// Waits for a run newer than `after` on this node (the leader takes the lease within seconds).
async fn next_report(s: &TestServer, after: Option<&Arc<Report>>) -> Arc<Report> {
    let core = s.running.as_ref().unwrap().core.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = core.bootstrap.last() {
            if after.is_none_or(|a| !Arc::ptr_eq(a, &r)) {
                return r;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no bootstrap run within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn reseal(s: &TestServer, shares: &[String]) {
    let (st, v) = s.call("PUT", "sys/seal", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    s.unseal(shares).await;
}

fn audit_lines(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

fn bootstrap_events(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["type"] == "event" && l["event"]["kind"] == "bootstrap").collect()
}

/// Requests the bootstrap identity made that were not reads.
fn bootstrap_writes(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| {
            l["type"] == "request" && l["auth"]["display_name"] == "bootstrap" && l["request"]["operation"] != "read"
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_is_applied_at_the_first_unseal_and_a_second_apply_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (s, shares, _, report) = bootstrapped(&first_file(&log), false).await;
    assert_eq!(report.error, None);
    for want in [
        "create audit device file",
        "create password policy db",
        "create policy app",
        "create mount secret/",
        "create auth method approle/",
        "create approle role approle/web",
        "create jwt role ci/deploy",
    ] {
        assert!(report.changes.iter().any(|c| c == want), "{want:?} not in {:?}", report.changes);
    }
    let (st, v) = s.call("GET", "sys/policies/acl/app", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["data"]["policy"].as_str().unwrap().contains("secret/data/app/*"));
    let (_, mounts) = s.call("GET", "sys/mounts", None).await;
    assert_eq!(mounts["data"]["secret/"]["options"]["version"], "2", "{mounts}");
    assert_eq!(mounts["data"]["secret/"]["config"]["default_lease_ttl"], 3600, "{mounts}");
    let (st, role) = s.call("GET", "auth/approle/role/web", None).await;
    assert_eq!(st, StatusCode::OK, "{role}");
    assert_eq!(role["data"]["token_ttl"], 3600);
    let (st, _) = s.call("GET", "auth/ci/role/deploy", None).await;
    assert_eq!(st, StatusCode::OK);
    // Each change is on record as an event, and its request was made as `bootstrap`.
    let lines = audit_lines(&log);
    let events = bootstrap_events(&lines);
    assert!(events.iter().any(|e| e["event"]["action"] == "create" && e["event"]["name"] == "app"), "{events:?}");
    assert!(!bootstrap_writes(&lines).is_empty());
    let (st, status) = s.call("GET", "sys/bootstrap", None).await;
    assert_eq!(st, StatusCode::OK, "{status}");
    assert_eq!(status["data"]["managed"].as_array().unwrap().len(), 8, "{status}");

    let before = audit_lines(&log).len();
    reseal(&s, &shares).await;
    let again = next_report(&s, Some(&report)).await;
    assert_eq!(again.error, None);
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    let after: Vec<Value> = audit_lines(&log).into_iter().skip(before).collect();
    assert!(bootstrap_events(&after).is_empty(), "{:?}", bootstrap_events(&after));
    assert!(bootstrap_writes(&after).is_empty(), "{:?}", bootstrap_writes(&after));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_converges_at_the_next_unseal_and_api_made_objects_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (s, shares, path, report) = bootstrapped(&first_file(&log), false).await;
    assert_eq!(report.error, None);
    // Made through the API: a policy and a mount of kinds the file also manages.
    let (st, _) = s
        .call("PUT", "sys/policies/acl/by-hand", Some(json!({"policy": "path \"x\" { capabilities = [\"read\"] }"})))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.call("POST", "sys/mounts/manual", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    s.write("secret/data/db/app", json!({"password": "first"})).await;

    let changed = first_file(&log)
        .replace(
            "secret/data/app/*\" { capabilities = [\"read\"] }",
            "secret/data/app/*\" { capabilities = [\"read\", \"list\"] }",
        )
        .replace("token_ttl = \"1h\"", "token_ttl = \"2h\"")
        .replace("description = \"application secrets\"", "description = \"app secrets\"")
        .replace("[password_policies.db]", "[password_policies.db2]")
        + r#"
[rotations.secret."db/app"]
schedule = "rate(30 days)"
rotator = { type = "password", policy = "db2", fields = ["password"] }
"#;
    write_file(&path, &changed);
    reseal(&s, &shares).await;
    let report = next_report(&s, Some(&report)).await;
    assert_eq!(report.error, None, "{:?}", report.changes);
    for want in [
        "create password policy db2",
        "update policy app (policy)",
        "update approle role approle/web (token_ttl)",
        "update mount secret/ (description)",
        "create rotation secret/db/app",
        "delete password policy db",
    ] {
        assert!(report.changes.iter().any(|c| c == want), "{want:?} not in {:?}", report.changes);
    }
    let (_, v) = s.call("GET", "sys/policies/acl/app", None).await;
    assert!(v["data"]["policy"].as_str().unwrap().contains("\"list\""), "{v}");
    let (_, role) = s.call("GET", "auth/approle/role/web", None).await;
    assert_eq!(role["data"]["token_ttl"], 7200);
    assert_eq!(s.call("GET", "sys/policies/password/db", None).await.0, StatusCode::NOT_FOUND);
    let (st, rot) = s.call("GET", "secret/rotation/db/app", None).await;
    assert_eq!(st, StatusCode::OK, "{rot}");
    // Untouched: the API-made policy and mount.
    assert_eq!(s.call("GET", "sys/policies/acl/by-hand", None).await.0, StatusCode::OK);
    let (_, mounts) = s.call("GET", "sys/mounts", None).await;
    assert!(mounts["data"]["manual/"].is_object(), "{mounts}");
    assert_eq!(mounts["data"]["secret/"]["description"], "app secrets", "{mounts}");

    // A file naming an API-made object without `adopt` applies nothing and says why.
    let conflicting = changed.clone()
        + r#"
[policies.by-hand]
policy = 'path "y" { capabilities = ["read"] }'

[policies.fresh]
policy = 'path "z" { capabilities = ["read"] }'
"#;
    write_file(&path, &conflicting);
    reseal(&s, &shares).await;
    let refused = next_report(&s, Some(&report)).await;
    let error = refused.error.clone().unwrap_or_default();
    assert!(error.contains("policies.by-hand") && error.contains("adopt = true"), "{error}");
    assert!(refused.changes.is_empty());
    assert_eq!(s.call("GET", "sys/policies/acl/fresh", None).await.0, StatusCode::NOT_FOUND);
    let (_, v) = s.call("GET", "sys/policies/acl/by-hand", None).await;
    assert!(v["data"]["policy"].as_str().unwrap().contains("\"x\""), "{v}");

    // With `adopt = true` it is taken over, and from then on managed.
    write_file(&path, &conflicting.replace("[policies.by-hand]\n", "[policies.by-hand]\nadopt = true\n"));
    reseal(&s, &shares).await;
    let adopted = next_report(&s, Some(&refused)).await;
    assert_eq!(adopted.error, None);
    assert!(adopted.changes.iter().any(|c| c == "update policy by-hand (policy): adopted"), "{:?}", adopted.changes);
    assert!(adopted.changes.iter().any(|c| c == "create policy fresh"), "{:?}", adopted.changes);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_root_returns_no_root_token_and_stores_none() {
    let mut s = TestServer::uninitialised().await;
    let core = s.running.as_ref().unwrap().core.clone();
    let path = s.dir.path().join("coffer.bootstrap.toml");
    write_file(&path, "[policies.app]\npolicy = 'path \"a\" { capabilities = [\"read\"] }'\n");
    core.bootstrap.configure(Settings { file: Some(path), revoke_root: true });
    let (st, v) = s.call_as("", "PUT", "sys/init", Some(json!({"secret_shares": 1, "secret_threshold": 1}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["root_token"], "", "{v}");
    let shares: Vec<String> = v["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
    s.unseal(&shares).await;
    let report = next_report(&s, None).await;
    assert_eq!(report.error, None);
    assert_eq!(report.changes, ["create policy app"]);
    // No token exists at all: not the root token, and not bootstrap's (never stored).
    assert!(core.store.token_accessors().await.unwrap().is_empty());
    s.token = String::new();
    assert_eq!(s.call("GET", "sys/policies/acl/app", None).await.0, StatusCode::FORBIDDEN);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_a_problem_applies_nothing_and_names_the_table_and_field() {
    // The valid policy comes first in apply order: a file applied up to its first problem would
    // leave it behind.
    let file = r#"
[mounts.secret]
options = { version = "2" }

[policies.app]
policy = 'path "a" { capabilities = ["read"] }'
"#;
    let (s, shares, path, report) = bootstrapped(file, false).await;
    let error = report.error.clone().unwrap_or_default();
    assert!(error.contains("mounts.secret.type: missing"), "{error}");
    assert!(report.changes.is_empty());
    assert_eq!(s.call("GET", "sys/policies/acl/app", None).await.0, StatusCode::NOT_FOUND, "nothing applied");
    let (_, mounts) = s.call("GET", "sys/mounts", None).await;
    assert!(mounts["data"]["secret/"].is_null(), "nothing applied: {mounts}");
    let (_, status) = s.call("GET", "sys/bootstrap", None).await;
    assert_eq!(status["data"]["managed"], json!([]), "{status}");
    assert!(status["data"]["last_run"]["error"].as_str().unwrap().contains("mounts.secret.type"));
    // Fixed, it applies at the next unseal.
    write_file(&path, &file.replace("[mounts.secret]\n", "[mounts.secret]\ntype = \"kv\"\n"));
    reseal(&s, &shares).await;
    let fixed = next_report(&s, Some(&report)).await;
    assert_eq!(fixed.error, None);
    assert_eq!(fixed.changes, ["create policy app", "create mount secret/"]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_plan_need_sudo_and_a_plan_changes_nothing() {
    let (s, _, _, report) =
        bootstrapped("[policies.app]\npolicy = 'path \"a\" { capabilities = [\"read\"] }'\n", false).await;
    assert_eq!(report.error, None);
    let plan = json!({"file": "[policies.other]\npolicy = 'path \"b\" { capabilities = [\"read\"] }'\n"});
    let (st, v) = s.call("POST", "sys/bootstrap/plan", Some(plan.clone())).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let lines: Vec<&str> =
        v["data"]["changes"].as_array().unwrap().iter().map(|c| c["line"].as_str().unwrap()).collect();
    assert_eq!(lines, ["create policy other", "delete policy app"]);
    assert_eq!(s.call("GET", "sys/policies/acl/other", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(s.call("GET", "sys/policies/acl/app", None).await.0, StatusCode::OK);
    let (st, v) = s.call("POST", "sys/bootstrap/plan", Some(json!({"file": "[polices.x]\n"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["errors"][0].as_str().unwrap().contains("polices"), "{v}");
    // Without sudo (or without a token) both answer 403, however the path is spelled.
    let plain =
        s.token_with_policy("reader", "path \"sys/bootstrap*\" { capabilities = [\"read\", \"update\"] }").await;
    for (token, method, p) in [
        (plain.as_str(), "GET", "sys/bootstrap"),
        (plain.as_str(), "POST", "sys/bootstrap/plan"),
        (plain.as_str(), "POST", "sys/bootstrap/plan/"),
        ("", "GET", "sys/bootstrap"),
        ("", "POST", "sys/bootstrap/plan"),
    ] {
        let (st, v) = s.call_as(token, method, p, Some(plan.clone())).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{method} {p}: {v}");
    }
    let (st, _) = s.call("POST", "sys/bootstrap//plan", Some(plan.clone())).await;
    assert!(st.is_client_error(), "{st}");
    // An oversize file is refused at the edge.
    let big = json!({"file": "#".repeat(2 << 20)});
    assert_eq!(s.call("POST", "sys/bootstrap/plan", Some(big)).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_postgresql_only_the_leader_applies() {
    let (_store, db) = crate::store_contract::fresh_pg().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coffer.bootstrap.toml");
    write_file(&path, "[policies.app]\npolicy = 'path \"a\" { capabilities = [\"read\"] }'\n");
    let settings = Settings { file: Some(path), revoke_root: false };
    let mut a = TestServer::at_url(db.url(), Duration::from_secs(3)).await;
    let mut b = TestServer::at_url(db.url(), Duration::from_secs(3)).await;
    for n in [&a, &b] {
        n.running.as_ref().unwrap().core.bootstrap.configure(settings.clone());
    }
    let (shares, root) = a.init(1, 1).await;
    b.token = root;
    a.unseal(&shares).await;
    b.unseal(&shares).await;
    // Whichever node leads applies; the other, unsealed too, never does.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (leader, other) = loop {
        let ca = a.running.as_ref().unwrap().core.clone();
        let cb = b.running.as_ref().unwrap().core.clone();
        if ca.bootstrap.last().is_some() {
            break (ca, cb);
        }
        if cb.bootstrap.last().is_some() {
            break (cb, ca);
        }
        assert!(tokio::time::Instant::now() < deadline, "no node applied the file");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(leader.leader.load().is_some());
    let report = leader.bootstrap.last().unwrap();
    assert_eq!(report.changes, ["create policy app"]);
    // The other node has been unsealed all along without the lease: it has run nothing.
    assert!(other.leader.load().is_none());
    assert!(other.bootstrap.last().is_none());
    assert_eq!(a.call("GET", "sys/policies/acl/app", None).await.0, StatusCode::OK);
    a.stop().await;
    b.stop().await;
    db.close().await;
}
