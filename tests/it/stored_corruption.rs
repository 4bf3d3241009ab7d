//! Stored data that does not read back fails closed (issue 15 item 6): a token row, a mount's
//! settings or a KV deletion time that is corrupt answers 500 with an error id and nothing else,
//! never a default (an empty `bound_cidrs` would open the token to every address). Also: seal-status
//! names the real storage type.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestServer;
use crate::store_contract::fresh_pg;

/// The 500 of a corrupt stored item: `{"errors": ["internal error (id <uuid>)"]}` and nothing else.
fn assert_opaque_500(what: &str, (st, v): (StatusCode, Value)) {
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR, "{what}: {v}");
    let obj = v.as_object().unwrap_or_else(|| panic!("{what}: {v}"));
    assert_eq!(obj.len(), 1, "{what}: only `errors`: {v}");
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{what}: {v}");
    let msg = errors[0].as_str().unwrap();
    let id = msg.strip_prefix("internal error (id ").and_then(|m| m.strip_suffix(')'));
    assert!(id.is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()), "{what}: {msg}");
}

/// A token with the `app` policy (read on `secret/data/app/*`), and its accessor.
async fn app_token(s: &TestServer) -> (String, String) {
    let (st, v) = s
        .call(
            "PUT",
            "sys/policies/acl/app",
            Some(json!({"policy": "path \"secret/data/app/*\" { capabilities = [\"read\"] }"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, v) = s.call("POST", "auth/token/create", Some(json!({"policies": ["app"]}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let token = v["auth"]["client_token"].as_str().unwrap().to_string();
    let accessor = v["auth"]["accessor"].as_str().unwrap().to_string();
    assert_eq!(s.call_as(&token, "GET", "auth/token/lookup-self", None).await.0, StatusCode::OK);
    (token, accessor)
}

/// Rewrites one column of the token's stored row through the store API and drops the caches.
async fn corrupt_token(s: &TestServer, token: &str, change: impl FnOnce(&mut coffer::store::TokenRow)) {
    let core = s.running.as_ref().unwrap().core.clone();
    let hash = core.tokens.hash(token).unwrap();
    let mut row = core.store.token_get(&hash).await.unwrap().unwrap();
    change(&mut row);
    core.store.token_put(&row).await.unwrap();
    core.tokens.invalidate();
}

#[tokio::test]
async fn a_token_whose_stored_bound_cidrs_is_corrupt_is_refused_everywhere_and_can_be_revoked() {
    let s = TestServer::dev().await;
    s.write("secret/data/app/db", json!({"password": "p"})).await;
    let (token, accessor) = app_token(&s).await;
    assert_eq!(s.call_as(&token, "GET", "secret/data/app/db", None).await.0, StatusCode::OK);
    for corrupt in ["[\"10.0.0.0/8\"", "{}", "[\"not a network\"]"] {
        corrupt_token(&s, &token, |r| r.bound_cidrs = corrupt.into()).await;
        for (method, path) in [("GET", "secret/data/app/db"), ("GET", "auth/token/lookup-self")] {
            let answer = s.call_as(&token, method, path, None).await;
            assert_ne!(answer.0, StatusCode::OK, "{corrupt}: {path} accepted the token: {}", answer.1);
            assert_opaque_500(&format!("{corrupt}: {path}"), answer);
        }
    }
    // The operator can still revoke it (revocation reads only the row's hash).
    let (st, v) = s.call("POST", "auth/token/revoke-accessor", Some(json!({"accessor": accessor}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let core = s.running.as_ref().unwrap().core.clone();
    assert!(core.store.token_get(&core.tokens.hash(&token).unwrap()).await.unwrap().is_none());
    assert_eq!(s.call_as(&token, "GET", "auth/token/lookup-self", None).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_corrupt_stored_policy_list_or_token_metadata_answers_an_opaque_500() {
    let s = TestServer::dev().await;
    let (token, _) = app_token(&s).await;
    let core = s.running.as_ref().unwrap().core.clone();
    let original = core.store.token_get(&core.tokens.hash(&token).unwrap()).await.unwrap().unwrap();
    corrupt_token(&s, &token, |r| r.policies = "[\"app\", \"def".into()).await;
    assert_opaque_500("policies", s.call_as(&token, "GET", "auth/token/lookup-self", None).await);
    assert_opaque_500("policies", s.call_as(&token, "GET", "secret/data/app/db", None).await);
    // Looked up by another token, the row is just as unreadable.
    assert_opaque_500("lookup", s.call("POST", "auth/token/lookup", Some(json!({"token": token}))).await);
    corrupt_token(&s, &token, |r| {
        r.policies = original.policies.clone();
        r.meta = "{\"team\":".into();
    })
    .await;
    assert_opaque_500("meta", s.call_as(&token, "GET", "auth/token/lookup-self", None).await);
    corrupt_token(&s, &token, |r| {
        r.meta = original.meta.clone();
        r.identity = "{\"mount_accessor\":".into();
    })
    .await;
    assert_opaque_500("identity", s.call_as(&token, "GET", "auth/token/lookup-self", None).await);
    // Repaired, the token works again: nothing was cached from the corrupt row.
    corrupt_token(&s, &token, |r| r.identity = original.identity.clone()).await;
    assert_eq!(s.call_as(&token, "GET", "auth/token/lookup-self", None).await.0, StatusCode::OK);
}

/// Rewrites a stored mount row through the store API and reloads the mount table.
async fn corrupt_mount(s: &TestServer, table: &str, path: &str, change: impl FnOnce(&mut coffer::store::MountRow)) {
    let core = s.running.as_ref().unwrap().core.clone();
    let mut row = core
        .store
        .mount_list()
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.table_name == table && m.path == path)
        .unwrap_or_else(|| panic!("no mount {table} {path}"));
    change(&mut row);
    core.store.mount_update(&row).await.unwrap();
    core.reload_mounts().await.unwrap();
}

#[tokio::test]
async fn a_corrupt_stored_mount_config_or_options_answers_an_opaque_500() {
    let s = TestServer::dev().await;
    s.write("secret/data/app/db", json!({"password": "p"})).await;
    corrupt_mount(&s, "mounts", "secret/", |m| m.config = "{\"max_lease_ttl\": 60".into()).await;
    assert_opaque_500("kv read", s.call("GET", "secret/data/app/db", None).await);
    assert_opaque_500("kv write", s.call("PUT", "secret/data/app/db", Some(json!({"data": {"a": "b"}}))).await);
    assert_opaque_500("sys/mounts", s.call("GET", "sys/mounts", None).await);
    assert_opaque_500("mount read", s.call("GET", "sys/mounts/secret", None).await);
    assert_opaque_500("tune read", s.call("GET", "sys/mounts/secret/tune", None).await);
    assert_opaque_500(
        "tune write",
        s.call("POST", "sys/mounts/secret/tune", Some(json!({"max_lease_ttl": "1h"}))).await,
    );
    // The mount keeps its path: nothing else can be mounted there meanwhile.
    let (st, v) = s.call("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");

    // An auth method whose stored options are corrupt issues no token.
    let (st, v) = s.call("POST", "sys/auth/userpass", Some(json!({"type": "userpass"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, v) = s.call("POST", "auth/userpass/users/alice", Some(json!({"password": "pw"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let login = json!({"password": "pw"});
    let (st, v) = s.call_as("", "POST", "auth/userpass/login/alice", Some(login.clone())).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    corrupt_mount(&s, "auth", "userpass/", |m| m.options = "{\"lockout_threshold\":".into()).await;
    let (st, v) = s.call_as("", "POST", "auth/userpass/login/alice", Some(login.clone())).await;
    assert!(v["auth"].is_null(), "a login on a corrupt mount issued a token: {v}");
    assert_ne!(st, StatusCode::OK, "{v}");
    assert_opaque_500("login", s.call("POST", "auth/userpass/login/alice", Some(login)).await);
    assert_opaque_500("sys/auth", s.call("GET", "sys/auth", None).await);
}

#[tokio::test]
async fn a_corrupt_stored_kv_deletion_time_is_a_500_not_a_readable_secret() {
    let s = TestServer::dev().await;
    s.write("secret/data/gone", json!({"password": "p"})).await;
    let (st, _) = s.call("DELETE", "secret/data/gone", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(s.call("GET", "secret/data/gone", None).await.0, StatusCode::NOT_FOUND);
    let core = s.running.as_ref().unwrap().core.clone();
    let mount = core.store.mount_list().await.unwrap().into_iter().find(|m| m.path == "secret/").map(|m| m.id).unwrap();
    core.store.kv_set_deletion(&mount, "gone", &[1], Some("yesterday")).await.unwrap();
    let answer = s.call("GET", "secret/data/gone", None).await;
    assert!(answer.1["data"]["data"].is_null(), "a deleted version was served: {}", answer.1);
    assert_opaque_500("kv read", answer);
}

async fn storage_type(s: &TestServer) -> Value {
    let (st, v) = s.call_as("", "GET", "sys/seal-status", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["storage_type"].clone()
}

#[tokio::test]
async fn seal_status_names_the_real_storage_type() {
    let s = TestServer::dev().await;
    assert_eq!(storage_type(&s).await, "sqlite");
    let (_store, db) = fresh_pg().await;
    let pg = TestServer::at_url(db.url(), Duration::from_secs(3)).await;
    assert_eq!(storage_type(&pg).await, "postgresql");
    pg.stop().await;
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_rotation_waits_while_its_mount_is_unreadable_and_runs_once_repaired() {
    #![allow(clippy::disallowed_methods)] // the test clock starts from the wall clock
    use coffer::base::schedule::ManualClock;
    let s = crate::rotation::leader().await;
    let c = crate::rotation::core(&s);
    s.write("secret/data/r", json!({"password": "p0"})).await;
    crate::rotation::configure_ok(
        &s,
        "r",
        json!({"schedule": "rate(1 hour)", "rotator": {"type": "password", "policy": "default"}}),
    )
    .await;
    let mount = c.mounts.load().get("secret/").unwrap().row.clone();
    corrupt_mount(&s, "mounts", "secret/", |m| m.options = "{\"version\": ".into()).await;
    let later = ManualClock::new(chrono::Utc::now() + chrono::TimeDelta::days(1));
    coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &later).await;
    // Nothing ran on the unreadable mount, and the rotation was kept, saying why it waits.
    let meta = c.store.kv_metadata_get(&mount.id, "r").await.unwrap().unwrap();
    assert_eq!(meta.current_version, 1, "a rotation ran on a mount whose settings do not parse");
    let row = c.store.rotation_get(&mount.id, "r").await.unwrap().expect("the rotation was dropped");
    assert!(row.last_error.contains("settings"), "{}", row.last_error);
    // Repaired: the next pass a day later rotates it.
    corrupt_mount(&s, "mounts", "secret/", |m| m.options = mount.options.clone()).await;
    let day_after = ManualClock::new(chrono::Utc::now() + chrono::TimeDelta::days(2));
    coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &day_after).await;
    let meta = c.store.kv_metadata_get(&mount.id, "r").await.unwrap().unwrap();
    assert_eq!(meta.current_version, 2);
}
