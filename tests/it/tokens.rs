//! The token store over HTTP: create (policies, TTLs, orphans, use limits, roles), look-up,
//! renewal, revocation of trees, accessors, and the SEC-05/07/18 rules.
// These tests stand outside the server and compare its answers with the wall clock.
#![allow(clippy::disallowed_methods)]

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestServer;

async fn server_with_policy() -> TestServer {
    let s = TestServer::dev().await;
    let (st, _) = s
        .call("PUT", "sys/policies/acl/app", Some(json!({"policy": "path \"secret/data/app/*\" { capabilities = [\"read\"] }\npath \"auth/token/create\" { capabilities = [\"update\"] }"})))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    s
}

async fn create(s: &TestServer, token: &str, body: Value) -> (StatusCode, Value) {
    s.call_as(token, "POST", "auth/token/create", Some(body)).await
}

fn client_token(v: &Value) -> String {
    v["auth"]["client_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn create_returns_vaults_auth_block_and_lookup_matches() {
    let s = server_with_policy().await;
    let (st, v) =
        create(&s, "root", json!({"policies": ["app"], "ttl": "1h", "meta": {"team": "x"}, "display_name": "ci"}))
            .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let auth = &v["auth"];
    assert!(auth["client_token"].as_str().unwrap().starts_with("s."));
    assert!(auth["client_token"].as_str().unwrap().len() >= 2 + 33, "token must carry >= 192 bits");
    assert_eq!(auth["policies"], json!(["app", "default"]));
    assert_eq!(auth["lease_duration"], 3600);
    assert_eq!(auth["renewable"], true);
    assert_eq!(auth["orphan"], false);
    assert_eq!(auth["metadata"], json!({"team": "x"}));
    assert_eq!(v["lease_duration"], 0, "top-level lease stays 0");
    let t = client_token(&v);
    let (st, l) = s.call_as(&t, "GET", "auth/token/lookup-self", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(l["data"]["id"], t.as_str());
    assert_eq!(l["data"]["display_name"], "token-ci");
    assert_eq!(l["data"]["path"], "auth/token/create");
    assert_eq!(l["data"]["creation_ttl"], 3600);
    assert!(l["data"]["ttl"].as_i64().unwrap() <= 3600);
    let (st, l2) = s.call("POST", "auth/token/lookup", Some(json!({"token": t}))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(l2["data"]["accessor"], l["data"]["accessor"]);
    let (st, la) = s.call("POST", "auth/token/lookup-accessor", Some(json!({"accessor": l["data"]["accessor"]}))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(la["data"]["id"], "");
    // The default TTL is 768h.
    let (_, v) = create(&s, "root", json!({"policies": ["app"]})).await;
    assert_eq!(v["auth"]["lease_duration"], 2_764_800);
}

#[tokio::test]
async fn policies_decide_access_and_children_are_subsets() {
    let s = server_with_policy().await;
    s.write("secret/data/app/db", json!({"p": "w"})).await;
    s.write("secret/data/other", json!({"p": "w"})).await;
    let (_, v) = create(&s, "root", json!({"policies": ["app"]})).await;
    let t = client_token(&v);
    assert_eq!(s.call_as(&t, "GET", "secret/data/app/db", None).await.0, StatusCode::OK);
    assert_eq!(s.call_as(&t, "GET", "secret/data/other", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.call_as(&t, "POST", "secret/data/app/db", Some(json!({"data": {}}))).await.0, StatusCode::FORBIDDEN);
    // A child may only get a subset of the parent's policies.
    let (st, e) = create(&s, &t, json!({"policies": ["other"]})).await;
    assert_eq!(
        (st, e["errors"][0].as_str()),
        (StatusCode::BAD_REQUEST, Some("child policies must be subset of parent"))
    );
    let (st, c) = create(&s, &t, json!({"policies": ["app"]})).await;
    assert_eq!(st, StatusCode::OK, "{c}");
    // No parent without sudo; create-orphan is allowed only with a grant on that path.
    let (st, e) = create(&s, &t, json!({"no_parent": true})).await;
    assert_eq!(
        (st, e["errors"][0].as_str()),
        (StatusCode::BAD_REQUEST, Some("root or sudo privileges required to create orphan token"))
    );
    // Without `default` a token cannot even look itself up.
    let (_, v) = create(&s, "root", json!({"policies": ["app"], "no_default_policy": true})).await;
    let bare = client_token(&v);
    assert_eq!(s.call_as(&bare, "GET", "auth/token/lookup-self", None).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn sec05_root_policy_can_never_be_attached() {
    let s = server_with_policy().await;
    for spelling in ["root", "ROOT", " root", "Root "] {
        let (st, v) = create(&s, "root", json!({"policies": [spelling]})).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{spelling}: {v}");
    }
    // A root token creating a child without policies does not pass `root` on.
    let (_, v) = create(&s, "root", json!({})).await;
    assert_eq!(v["auth"]["policies"], json!(["default"]));
    let (st, _) = s.call("POST", "auth/token/roles/r", Some(json!({"allowed_policies": ["Root"]}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn revoking_a_parent_revokes_the_tree_and_revoke_orphan_keeps_children() {
    let s = server_with_policy().await;
    let (_, p) = create(&s, "root", json!({"policies": ["app"]})).await;
    let parent = client_token(&p);
    let (_, c) = create(&s, &parent, json!({"policies": ["app"]})).await;
    let child = client_token(&c);
    let (_, g) = create(&s, &child, json!({"policies": ["app"]})).await;
    let grandchild = client_token(&g);
    assert_eq!(s.call_as(&grandchild, "GET", "auth/token/lookup-self", None).await.0, StatusCode::OK);
    let (st, _) = s.call("POST", "auth/token/revoke", Some(json!({"token": parent}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    for t in [&parent, &child, &grandchild] {
        assert_eq!(s.call_as(t, "GET", "auth/token/lookup-self", None).await.0, StatusCode::FORBIDDEN);
    }
    let (st, v) = s.call("POST", "auth/token/lookup", Some(json!({"token": child}))).await;
    assert_eq!((st, v["errors"][0].as_str()), (StatusCode::FORBIDDEN, Some("bad token")));
    // Unknown tokens revoke with 204.
    assert_eq!(s.call("POST", "auth/token/revoke", Some(json!({"token": "s.nope"}))).await.0, StatusCode::NO_CONTENT);

    let (_, p) = create(&s, "root", json!({"policies": ["app"]})).await;
    let parent = client_token(&p);
    let (_, c) = create(&s, &parent, json!({"policies": ["app"]})).await;
    let child = client_token(&c);
    assert_eq!(
        s.call("POST", "auth/token/revoke-orphan", Some(json!({"token": parent}))).await.0,
        StatusCode::NO_CONTENT
    );
    let (st, l) = s.call_as(&child, "GET", "auth/token/lookup-self", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(l["data"]["orphan"], true);
    // revoke-self
    assert_eq!(s.call_as(&child, "POST", "auth/token/revoke-self", None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.call_as(&child, "GET", "auth/token/lookup-self", None).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn num_uses_counts_down_then_the_token_dies() {
    let s = server_with_policy().await;
    let (_, v) = create(&s, "root", json!({"policies": ["app"], "num_uses": 2})).await;
    let t = client_token(&v);
    let (_, l) = s.call_as(&t, "GET", "auth/token/lookup-self", None).await;
    assert_eq!(l["data"]["num_uses"], 1);
    let (_, l) = s.call_as(&t, "GET", "auth/token/lookup-self", None).await;
    assert_eq!(l["data"]["num_uses"], -1);
    assert_eq!(s.call_as(&t, "GET", "auth/token/lookup-self", None).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn renewal_is_capped_by_explicit_max_ttl_and_periodic_tokens_reset() {
    let s = server_with_policy().await;
    let (_, v) = create(&s, "root", json!({"policies": ["app"], "ttl": "1h", "explicit_max_ttl": "2h"})).await;
    let t = client_token(&v);
    let (st, r) = s.call_as(&t, "POST", "auth/token/renew-self", Some(json!({"increment": "10h"}))).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let granted = r["auth"]["lease_duration"].as_i64().unwrap();
    assert!((7198..=7200).contains(&granted), "{granted}");
    assert!(r["warnings"][0].as_str().unwrap().contains("exceeded the effective max_ttl of"));
    let (_, v) = create(&s, "root", json!({"policies": ["app"], "period": "30m"})).await;
    assert_eq!(v["auth"]["lease_duration"], 1800);
    let t = client_token(&v);
    let (_, l) = s.call_as(&t, "GET", "auth/token/lookup-self", None).await;
    assert_eq!(l["data"]["period"], 1800);
    let (_, r) = s.call("POST", "auth/token/renew", Some(json!({"token": t, "increment": "5h"}))).await;
    assert_eq!(r["auth"]["lease_duration"], 1800);
    let (st, e) = create(&s, "root", json!({"ttl": "banana"})).await;
    assert_eq!(
        (st, e["errors"][0].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid value for \"ttl\": time: invalid duration"))
    );
}

#[tokio::test]
async fn sec07_accessor_operations_need_sudo_unless_the_target_is_in_the_callers_tree() {
    let s = server_with_policy().await;
    let (st, _) = s
        .call(
            "PUT",
            "sys/policies/acl/acc",
            Some(json!({"policy": "path \"auth/token/*\" { capabilities = [\"update\", \"read\", \"list\"] }"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, x) = create(&s, "root", json!({"policies": ["acc"]})).await;
    let x = client_token(&x);
    let (_, y) = create(&s, "root", json!({"policies": ["app"]})).await;
    let y_accessor = y["auth"]["accessor"].as_str().unwrap().to_string();
    let y = client_token(&y);
    // X cannot touch Y (not its descendant, no sudo).
    for path in ["auth/token/revoke-accessor", "auth/token/lookup-accessor", "auth/token/renew-accessor"] {
        let (st, _) = s.call_as(&x, "POST", path, Some(json!({"accessor": y_accessor}))).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(s.call_as(&y, "GET", "auth/token/lookup-self", None).await.0, StatusCode::OK);
    // X may revoke its own child by accessor.
    let (_, c) = create(&s, &x, json!({"policies": ["acc"]})).await;
    let c_accessor = c["auth"]["accessor"].as_str().unwrap();
    assert_eq!(
        s.call_as(&x, "POST", "auth/token/revoke-accessor", Some(json!({"accessor": c_accessor}))).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(s.call_as(&client_token(&c), "GET", "auth/token/lookup-self", None).await.0, StatusCode::FORBIDDEN);
    // Root (sudo) may; an unknown accessor gets Vault's warning.
    assert_eq!(
        s.call("POST", "auth/token/revoke-accessor", Some(json!({"accessor": y_accessor}))).await.0,
        StatusCode::NO_CONTENT
    );
    let (st, w) = s.call("POST", "auth/token/revoke-accessor", Some(json!({"accessor": "nope"}))).await;
    assert_eq!((st, w["warnings"][0].as_str()), (StatusCode::OK, Some("No token found with this accessor")));
    // LIST accessors needs sudo.
    assert_eq!(s.call_as(&x, "LIST", "auth/token/accessors", None).await.0, StatusCode::FORBIDDEN);
    let (st, keys) = s.call("LIST", "auth/token/accessors", None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(keys["data"]["keys"].as_array().unwrap().len() >= 2);
}

#[tokio::test]
async fn token_roles_limit_policies() {
    let s = server_with_policy().await;
    let (st, _) = s
        .call(
            "POST",
            "auth/token/roles/ci",
            Some(json!({"allowed_policies": "app", "orphan": true, "token_period": "1h"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, r) = s.call("GET", "auth/token/roles/ci", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(r["data"]["allowed_policies"], json!(["app"]));
    let (st, v) = s.call("POST", "auth/token/create/ci", Some(json!({"policies": ["app"]}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["auth"]["orphan"], true);
    assert_eq!(v["auth"]["lease_duration"], 3600);
    let (st, e) = s.call("POST", "auth/token/create/ci", Some(json!({"policies": ["other"]}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(e["errors"][0]
        .as_str()
        .unwrap()
        .starts_with("token policies ([\"other\"]) must be subset of the role's allowed policies"));
    let (st, l) = s.call("LIST", "auth/token/roles", None).await;
    assert_eq!((st, &l["data"]["keys"]), (StatusCode::OK, &json!(["ci"])));
    assert_eq!(s.call("DELETE", "auth/token/roles/ci", None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.call("POST", "auth/token/create/ci", Some(json!({}))).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn expired_tokens_are_refused_and_tidied() {
    let s = server_with_policy().await;
    // Long enough that a loaded machine still sees it valid at first; the tidy looks past it.
    let (_, v) = create(&s, "root", json!({"policies": ["app"], "ttl": 60})).await;
    let t = client_token(&v);
    assert_eq!(s.call_as(&t, "GET", "auth/token/lookup-self", None).await.0, StatusCode::OK);
    let core = s.running.as_ref().unwrap().core.clone();
    let later = chrono::Utc::now() + chrono::Duration::seconds(120);
    // Refused once its expiry has passed (checked against the tidy's view of time).
    let removed = core.tokens.tidy(&core.store, later, None).await.unwrap();
    assert!(removed >= 1);
    assert_eq!(s.call_as(&t, "GET", "auth/token/lookup-self", None).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn token_role_policy_globs() {
    let s = server_with_policy().await;
    let (st, _) = s
        .call(
            "POST",
            "auth/token/roles/g",
            Some(json!({"allowed_policies_glob": ["app-*"], "disallowed_policies_glob": "app-admin*"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = s.call("POST", "auth/token/create/g", Some(json!({"policies": ["app-prod"]}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["auth"]["policies"], json!(["app-prod", "default"]));
    assert_eq!(
        s.call("POST", "auth/token/create/g", Some(json!({"policies": ["other"]}))).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        s.call("POST", "auth/token/create/g", Some(json!({"policies": ["app-admin"]}))).await.0,
        StatusCode::BAD_REQUEST
    );
    // A glob that would let `root` through is refused when the role is written.
    let (st, _) = s.call("POST", "auth/token/roles/bad", Some(json!({"allowed_policies_glob": ["*"]}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

/// Writes an ACL policy (asserting 204).
async fn policy(s: &TestServer, name: &str, text: &str) {
    let (st, v) = s.call("PUT", &format!("sys/policies/acl/{name}"), Some(json!({ "policy": text }))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
}

fn error_of(v: &Value) -> &str {
    v["errors"][0].as_str().unwrap_or("")
}

/// The `explicit_max_ttl` of the token a create answer holds.
async fn max_ttl_of(s: &TestServer, created: &Value) -> i64 {
    let (st, l) = s.call("POST", "auth/token/lookup", Some(json!({"token": client_token(created)}))).await;
    assert_eq!(st, StatusCode::OK, "{l}");
    l["data"]["explicit_max_ttl"].as_i64().unwrap()
}

#[tokio::test]
async fn sec32_role_without_allowed_policies_cannot_mint_foreign_policies() {
    let s = server_with_policy().await;
    policy(
        &s,
        "admin",
        "path \"*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\", \"sudo\"] }",
    )
    .await;
    policy(&s, "minter", "path \"auth/token/create/*\" { capabilities = [\"update\"] }").await;
    policy(&s, "minter-sudo", "path \"auth/token/create/*\" { capabilities = [\"update\", \"sudo\"] }").await;
    for (role, body) in [
        ("open", json!({"renewable": true})),
        ("deny-only", json!({"disallowed_policies": ["other"]})),
        ("allow-admin", json!({"allowed_policies": ["admin"]})),
    ] {
        let (st, v) = s.call("POST", &format!("auth/token/roles/{role}"), Some(body)).await;
        assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    }
    let (_, v) = create(&s, "root", json!({"policies": ["minter"]})).await;
    let minter = client_token(&v);
    // Without an allow-list the role cannot lift the caller's policies, with or without a deny-list.
    for role in ["open", "deny-only"] {
        let (st, e) = s
            .call_as(&minter, "POST", &format!("auth/token/create/{role}"), Some(json!({"policies": ["admin"]})))
            .await;
        assert_eq!((st, error_of(&e)), (StatusCode::BAD_REQUEST, "child policies must be subset of parent"), "{role}");
        let (st, v) = s
            .call_as(&minter, "POST", &format!("auth/token/create/{role}"), Some(json!({"policies": ["minter"]})))
            .await;
        assert_eq!(st, StatusCode::OK, "{role}: {v}");
        assert_eq!(v["auth"]["policies"], json!(["minter", "default"]));
        // Inheriting the caller's policies is always within the subset.
        let (st, v) = s.call_as(&minter, "POST", &format!("auth/token/create/{role}"), Some(json!({}))).await;
        assert_eq!((st, &v["auth"]["policies"]), (StatusCode::OK, &json!(["minter", "default"])), "{role}: {v}");
    }
    // A role with an allow-list decides on its own (as Vault); it is also the default set.
    let (st, v) = s.call_as(&minter, "POST", "auth/token/create/allow-admin", Some(json!({}))).await;
    assert_eq!((st, &v["auth"]["policies"]), (StatusCode::OK, &json!(["admin", "default"])), "{v}");
    // Sudo on the path lifts the subset rule (as Vault).
    let (_, v) = create(&s, "root", json!({"policies": ["minter-sudo"]})).await;
    let sudo = client_token(&v);
    let (st, v) = s.call_as(&sudo, "POST", "auth/token/create/open", Some(json!({"policies": ["admin"]}))).await;
    assert_eq!((st, &v["auth"]["policies"]), (StatusCode::OK, &json!(["admin", "default"])), "{v}");
    // The wrapping policy is never assignable.
    let (st, e) = create(&s, "root", json!({"policies": ["response-wrapping"]})).await;
    assert_eq!((st, error_of(&e)), (StatusCode::BAD_REQUEST, "cannot assign policy \"response-wrapping\""));
}

#[tokio::test]
async fn sec32_use_limited_tokens_cannot_create_tokens() {
    let s = server_with_policy().await;
    policy(&s, "creator", "path \"auth/token/create*\" { capabilities = [\"update\"] }\npath \"auth/token/create/*\" { capabilities = [\"update\"] }").await;
    let (st, v) =
        s.call("POST", "auth/token/roles/periodic", Some(json!({"orphan": true, "token_period": "1h"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (_, v) = create(&s, "root", json!({"policies": ["creator"], "num_uses": 10})).await;
    let limited = client_token(&v);
    for path in ["auth/token/create", "auth/token/create-orphan", "auth/token/create/periodic"] {
        let (st, e) = s.call_as(&limited, "POST", path, Some(json!({}))).await;
        assert_eq!(
            (st, error_of(&e)),
            (StatusCode::BAD_REQUEST, "restricted use token cannot generate child tokens"),
            "{path}"
        );
    }
    // The last use is no exception.
    let (_, v) = create(&s, "root", json!({"policies": ["creator"], "num_uses": 1})).await;
    let (st, _) = s.call_as(&client_token(&v), "POST", "auth/token/create", Some(json!({}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // An unlimited token with the same policy may.
    let (_, v) = create(&s, "root", json!({"policies": ["creator"]})).await;
    assert_eq!(s.call_as(&client_token(&v), "POST", "auth/token/create", Some(json!({}))).await.0, StatusCode::OK);
}

#[tokio::test]
async fn sec32_period_orphans_and_a_longer_max_ttl_need_sudo() {
    let s = server_with_policy().await;
    policy(&s, "creator", "path \"auth/token/create\" { capabilities = [\"update\"] }\npath \"auth/token/create-orphan\" { capabilities = [\"update\"] }").await;
    policy(&s, "creator-sudo", "path \"auth/token/create\" { capabilities = [\"update\", \"sudo\"] }").await;
    let (_, v) = create(&s, "root", json!({"policies": ["creator"], "explicit_max_ttl": "1h"})).await;
    let parent = client_token(&v);
    for (body, message) in [
        (json!({"period": "1h"}), "root or sudo privileges required to create periodic token"),
        (json!({"no_parent": true}), "root or sudo privileges required to create orphan token"),
        (
            json!({"explicit_max_ttl": "2h"}),
            "root or sudo privileges required to set an explicit_max_ttl beyond the parent token's",
        ),
    ] {
        let (st, e) = create(&s, &parent, body.clone()).await;
        assert_eq!((st, error_of(&e)), (StatusCode::BAD_REQUEST, message), "{body}");
    }
    let (st, e) = s.call_as(&parent, "POST", "auth/token/create-orphan", Some(json!({"period": "1h"}))).await;
    assert_eq!(
        (st, error_of(&e)),
        (StatusCode::BAD_REQUEST, "root or sudo privileges required to create periodic token")
    );
    // A shorter limit is fine; without one the child inherits what is left of the parent's.
    let (st, v) = create(&s, &parent, json!({"explicit_max_ttl": "30m"})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(max_ttl_of(&s, &v).await, 1800);
    let (st, v) = create(&s, &parent, json!({})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!((1..=3600).contains(&max_ttl_of(&s, &v).await));
    // create-orphan is governed by the ACL on its own path, and the orphan keeps the limit.
    let (st, v) = s.call_as(&parent, "POST", "auth/token/create-orphan", Some(json!({}))).await;
    assert_eq!((st, &v["auth"]["orphan"]), (StatusCode::OK, &json!(true)), "{v}");
    assert!((1..=3600).contains(&max_ttl_of(&s, &v).await));
    // Sudo on the path allows all three.
    let (_, v) = create(&s, "root", json!({"policies": ["creator-sudo"], "explicit_max_ttl": "1h"})).await;
    let sudo = client_token(&v);
    for body in [json!({"period": "1h"}), json!({"no_parent": true}), json!({"explicit_max_ttl": "2h"})] {
        let (st, v) = create(&s, &sudo, body.clone()).await;
        assert_eq!(st, StatusCode::OK, "{body}: {v}");
    }
}

#[tokio::test]
async fn sec32_children_carry_the_parents_bound_cidrs() {
    let s = server_with_policy().await;
    policy(&s, "creator", "path \"auth/token/create\" { capabilities = [\"update\"] }\npath \"auth/token/create-orphan\" { capabilities = [\"update\"] }").await;
    let core = s.running.as_ref().unwrap().core.clone();
    let new = coffer::core::tokens::NewToken {
        policies: vec!["creator".into(), "default".into()],
        display_name: "token-bound".into(),
        path: "auth/token/create".into(),
        ttl: 3600,
        renewable: true,
        bound_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
        ..Default::default()
    };
    let (parent, _) = core.tokens.create(&core.store, new, chrono::Utc::now()).await.unwrap();
    let parent = secrecy::ExposeSecret::expose_secret(&parent).to_string();
    for path in ["auth/token/create", "auth/token/create-orphan"] {
        let (st, v) = s.call_as(&parent, "POST", path, Some(json!({}))).await;
        assert_eq!(st, StatusCode::OK, "{path}: {v}");
        let (st, l) = s.call("POST", "auth/token/lookup", Some(json!({"token": client_token(&v)}))).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(l["data"]["bound_cidrs"], json!(["127.0.0.0/8"]), "{path}");
    }
}

#[tokio::test]
async fn sec32_an_unreadable_bound_cidrs_makes_the_token_unusable() {
    let s = server_with_policy().await;
    let (_, v) = create(&s, "root", json!({"policies": ["app"]})).await;
    let t = client_token(&v);
    assert_eq!(s.call_as(&t, "GET", "auth/token/lookup-self", None).await.0, StatusCode::OK);
    let core = s.running.as_ref().unwrap().core.clone();
    let hash = core.tokens.hash(&t).unwrap();
    let mut row = core.store.token_get(&hash).await.unwrap().unwrap();
    row.bound_cidrs = "[\"10.0.0.0/33\"]".into();
    core.store.token_put(&row).await.unwrap();
    core.tokens.invalidate();
    // Fail closed: a binding that cannot be read is a 500 under an error id (decisions-i15-json),
    // never a token usable from everywhere.
    let unusable = |(st, v): (StatusCode, Value)| {
        assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
        assert!(error_of(&v).starts_with("internal error (id "), "{v}");
    };
    unusable(s.call_as(&t, "GET", "auth/token/lookup-self", None).await);
    row.bound_cidrs = "not json".into();
    core.store.token_put(&row).await.unwrap();
    core.tokens.invalidate();
    unusable(s.call_as(&t, "GET", "auth/token/lookup-self", None).await);
    unusable(s.call_as(&t, "GET", "secret/data/app/x", None).await);
}
