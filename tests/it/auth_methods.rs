//! AppRole and userpass over real HTTP: role and user management, logins and the tokens they
//! issue, secret-id limits and CIDR bindings, cross-role accessors (SEC-06), identical answers for
//! unknown and wrong credentials (SEC-16), a race-safe, persistent lockout (SEC-17, SEC-14), and
//! names that reach a user or role only in their one normal form (SEC-33).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use coffer::core::seal::SealKind;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{call_url, limits, TestServer};

async fn enable(s: &TestServer, path: &str, kind: &str) {
    let (st, v) = s.call("POST", &format!("sys/auth/{path}"), Some(json!({"type": kind}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
}

async fn mount_id(s: &TestServer, path: &str) -> String {
    let (st, v) = s.call("GET", "sys/auth", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["data"][format!("{path}/")]["uuid"].as_str().unwrap().to_string()
}

async fn ok(s: &TestServer, method: &str, path: &str, body: Value) -> Value {
    let (st, v) = s.call(method, path, Some(body)).await;
    assert!(st == StatusCode::OK || st == StatusCode::NO_CONTENT, "{method} {path}: {st} {v}");
    v
}

/// Creates a role; returns (role_id, secret_id, secret_id_accessor).
async fn role_with_secret(s: &TestServer, mount: &str, name: &str, role: Value) -> (String, String, String) {
    ok(s, "POST", &format!("auth/{mount}/role/{name}"), role).await;
    let v = ok(s, "GET", &format!("auth/{mount}/role/{name}/role-id"), json!(null)).await;
    let role_id = v["data"]["role_id"].as_str().unwrap().to_string();
    let v = ok(s, "POST", &format!("auth/{mount}/role/{name}/secret-id"), json!({})).await;
    let secret = v["data"]["secret_id"].as_str().unwrap().to_string();
    let accessor = v["data"]["secret_id_accessor"].as_str().unwrap().to_string();
    (role_id, secret, accessor)
}

async fn approle_login(s: &TestServer, mount: &str, role_id: &str, secret: &str) -> (StatusCode, Value) {
    s.call_as("", "POST", &format!("auth/{mount}/login"), Some(json!({"role_id": role_id, "secret_id": secret}))).await
}

async fn userpass_login(s: &TestServer, mount: &str, user: &str, password: &str) -> (StatusCode, Value) {
    s.call_as("", "POST", &format!("auth/{mount}/login/{user}"), Some(json!({"password": password}))).await
}

fn invalid_role() -> Value {
    json!({"errors": ["invalid role or secret ID"]})
}

fn invalid_user() -> Value {
    json!({"errors": ["invalid username or password"]})
}

// ------------------------------------------------------------------------------------------------
// AppRole
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn approle_login_issues_a_token_with_the_roles_settings() {
    let s = TestServer::dev().await;
    enable(&s, "approle", "approle").await;
    // hvac sends token_policies as a comma string.
    ok(
        &s,
        "POST",
        "auth/approle/role/web",
        json!({"token_policies": "app", "token_ttl": "20m", "token_max_ttl": "1h"}),
    )
    .await;
    let role = ok(&s, "GET", "auth/approle/role/web", json!(null)).await;
    let d = &role["data"];
    assert_eq!(d["bind_secret_id"], true);
    assert_eq!(d["token_policies"], json!(["app"]));
    assert_eq!(d["token_ttl"], 1200);
    assert_eq!(d["token_max_ttl"], 3600);
    assert_eq!(d["secret_id_bound_cidrs"], Value::Null);
    assert_eq!(d["token_type"], "default");
    assert!(d.get("policies").is_none(), "{d}");
    assert_eq!(ok(&s, "LIST", "auth/approle/role", json!(null)).await["data"]["keys"], json!(["web"]));

    let v = ok(&s, "GET", "auth/approle/role/web/role-id", json!(null)).await;
    let role_id = v["data"]["role_id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&role_id).is_ok(), "{role_id}");
    let v = ok(&s, "POST", "auth/approle/role/web/secret-id", json!({"metadata": "{\"host\":\"web1\"}"})).await;
    let secret = v["data"]["secret_id"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 36);
    assert_eq!(v["data"]["secret_id_num_uses"], 0);
    assert_eq!(v["data"]["secret_id_ttl"], 0);
    let accessor = v["data"]["secret_id_accessor"].as_str().unwrap().to_string();
    assert_eq!(ok(&s, "LIST", "auth/approle/role/web/secret-id", json!(null)).await["data"]["keys"], json!([accessor]));

    let (st, v) = approle_login(&s, "approle", &role_id, &secret).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let auth = &v["auth"];
    assert_eq!(auth["policies"], json!(["app", "default"]));
    // Only role_name: secret-id metadata is not an admin-set attribute, so it stays out of the
    // token's identity (OpenBao would also show "host": "web1" here).
    assert_eq!(auth["metadata"], json!({"role_name": "web"}));
    assert_eq!(auth["orphan"], true);
    assert_eq!(auth["lease_duration"], 1200);
    let token = auth["client_token"].as_str().unwrap();

    let (st, v) = s.call_as(token, "GET", "auth/token/lookup-self", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["policies"], json!(["app", "default"]));
    assert_eq!(v["data"]["meta"]["role_name"], "web");
    assert_eq!(v["data"]["path"], "auth/approle/login");
    assert_eq!(v["data"]["display_name"], "approle-web");

    // The secret-id is looked up by value and by accessor; the value itself is never shown.
    let v = ok(&s, "POST", "auth/approle/role/web/secret-id/lookup", json!({"secret_id": secret})).await;
    assert_eq!(v["data"]["secret_id_accessor"], accessor);
    assert_eq!(v["data"]["metadata"], json!({"host": "web1"}));
    assert_eq!(v["data"]["expiration_time"], "0001-01-01T00:00:00Z");
    assert!(!v.to_string().contains(&secret));
    let v = ok(&s, "POST", "auth/approle/role/web/secret-id-accessor/lookup", json!({"secret_id_accessor": accessor}))
        .await;
    assert_eq!(v["data"]["secret_id_accessor"], accessor);
    let (st, _) =
        s.call("POST", "auth/approle/role/web/secret-id/lookup", Some(json!({"secret_id": "nonexistent"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn approle_secret_id_uses_run_out_and_destroy_works() {
    let s = TestServer::dev().await;
    enable(&s, "approle", "approle").await;
    let (role_id, secret, _) =
        role_with_secret(&s, "approle", "once", json!({"token_policies": ["app"], "secret_id_num_uses": 1})).await;
    let (st, v) = approle_login(&s, "approle", &role_id, &secret).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = approle_login(&s, "approle", &role_id, &secret).await;
    assert_eq!((st, v), (StatusCode::BAD_REQUEST, invalid_role()));
    // Used up: gone from the list too.
    let (st, _) = s.call("LIST", "auth/approle/role/once/secret-id", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Three uses, twenty parallel logins: exactly three succeed.
    let v = ok(&s, "POST", "auth/approle/role/once", json!({"secret_id_num_uses": 3})).await;
    assert_eq!(v, Value::Null);
    let v = ok(&s, "POST", "auth/approle/role/once/secret-id", json!({})).await;
    assert_eq!(v["data"]["secret_id_num_uses"], 3);
    let secret = v["data"]["secret_id"].as_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (client, base, role_id, secret) = (s.client.clone(), s.base.clone(), role_id.clone(), secret.clone());
        tasks.push(tokio::spawn(async move {
            call_url(
                &client,
                &base,
                "",
                "POST",
                "auth/approle/login",
                Some(json!({"role_id": role_id, "secret_id": secret})),
            )
            .await
            .0
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::OK {
            wins += 1;
        }
    }
    assert_eq!(wins, 3);

    // Destroy by value and by accessor.
    let (role_id, secret, accessor) = role_with_secret(&s, "approle", "gone", json!({})).await;
    ok(&s, "POST", "auth/approle/role/gone/secret-id/destroy", json!({"secret_id": secret})).await;
    assert_eq!(approle_login(&s, "approle", &role_id, &secret).await.0, StatusCode::BAD_REQUEST);
    let (st, _) = s
        .call("POST", "auth/approle/role/gone/secret-id-accessor/lookup", Some(json!({"secret_id_accessor": accessor})))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let v = ok(&s, "POST", "auth/approle/role/gone/secret-id", json!({})).await;
    let (secret, accessor) =
        (v["data"]["secret_id"].as_str().unwrap().to_string(), v["data"]["secret_id_accessor"].as_str().unwrap());
    ok(&s, "POST", "auth/approle/role/gone/secret-id-accessor/destroy", json!({"secret_id_accessor": accessor})).await;
    assert_eq!(approle_login(&s, "approle", &role_id, &secret).await.0, StatusCode::BAD_REQUEST);
}

/// SEC-06: role A's path with role B's accessor finds nothing and destroys nothing.
#[tokio::test]
async fn sec06_approle_accessor_of_another_role_is_not_found_through_this_roles_path() {
    let s = TestServer::dev().await;
    enable(&s, "approle", "approle").await;
    role_with_secret(&s, "approle", "a", json!({"token_policies": "a"})).await;
    let (b_role_id, b_secret, b_accessor) = role_with_secret(&s, "approle", "b", json!({"token_policies": "b"})).await;

    let body = json!({"secret_id_accessor": b_accessor});
    let (st, v) = s.call("POST", "auth/approle/role/a/secret-id-accessor/lookup", Some(body.clone())).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let (st, v) = s.call("POST", "auth/approle/role/a/secret-id-accessor/destroy", Some(body.clone())).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, _) = s.call("DELETE", "auth/approle/role/a/secret-id-accessor/destroy", Some(body.clone())).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // B's secret-id by value through A's path: not found, not destroyed.
    let (st, _) = s.call("POST", "auth/approle/role/a/secret-id/lookup", Some(json!({"secret_id": b_secret}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    ok(&s, "POST", "auth/approle/role/a/secret-id/destroy", json!({"secret_id": b_secret})).await;
    // A caller whose policy covers only role A gets 403 on B's path.
    ok(
        &s,
        "PUT",
        "sys/policies/acl/role-a-admin",
        json!({"policy": "path \"auth/approle/role/a/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\"] }"}),
    )
    .await;
    let v = ok(&s, "POST", "auth/token/create", json!({"policies": ["role-a-admin"]})).await;
    let scoped = v["auth"]["client_token"].as_str().unwrap();
    let (st, _) = s.call_as(scoped, "POST", "auth/approle/role/b/secret-id-accessor/destroy", Some(body.clone())).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = s.call_as(scoped, "POST", "auth/approle/role/a/secret-id-accessor/destroy", Some(body.clone())).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // B's secret-id still logs in, and B's own path still sees the accessor.
    let (st, v) = approle_login(&s, "approle", &b_role_id, &b_secret).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _) = s.call("POST", "auth/approle/role/b/secret-id-accessor/lookup", Some(body)).await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn approle_secret_id_bound_cidrs_refuse_other_sources() {
    let s = TestServer::dev().await;
    enable(&s, "approle", "approle").await;
    let (role_id, secret, _) =
        role_with_secret(&s, "approle", "net", json!({"secret_id_bound_cidrs": ["10.0.0.0/8"]})).await;
    let (st, v) = approle_login(&s, "approle", &role_id, &secret).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["auth"].is_null());
    // A refused source does not spend a use: lookup still shows the secret-id.
    let (st, _) = s.call("POST", "auth/approle/role/net/secret-id/lookup", Some(json!({"secret_id": secret}))).await;
    assert_eq!(st, StatusCode::OK);

    // cidr_list on the secret-id itself; it must lie inside the role's networks.
    ok(&s, "POST", "auth/approle/role/lo", json!({"secret_id_bound_cidrs": "127.0.0.0/8"})).await;
    let (st, _) = s.call("POST", "auth/approle/role/lo/secret-id", Some(json!({"cidr_list": "10.0.0.0/8"}))).await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    let role_id = ok(&s, "GET", "auth/approle/role/lo/role-id", json!(null)).await["data"]["role_id"].clone();
    let v = ok(&s, "POST", "auth/approle/role/lo/secret-id", json!({"cidr_list": "127.0.0.2/32"})).await;
    let (st, _) =
        approle_login(&s, "approle", role_id.as_str().unwrap(), v["data"]["secret_id"].as_str().unwrap()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let v = ok(&s, "POST", "auth/approle/role/lo/secret-id", json!({"cidr_list": "127.0.0.1"})).await;
    let (st, v) =
        approle_login(&s, "approle", role_id.as_str().unwrap(), v["data"]["secret_id"].as_str().unwrap()).await;
    assert_eq!(st, StatusCode::OK, "{v}");

    // bind_secret_id=false: the role-id alone, from inside the role's networks.
    ok(
        &s,
        "POST",
        "auth/approle/role/nobind",
        json!({"bind_secret_id": false, "secret_id_bound_cidrs": ["127.0.0.1/32"]}),
    )
    .await;
    let rid = ok(&s, "GET", "auth/approle/role/nobind/role-id", json!(null)).await["data"]["role_id"].clone();
    let (st, v) = s.call_as("", "POST", "auth/approle/login", Some(json!({"role_id": rid}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["auth"]["metadata"], json!({"role_name": "nobind"}));
    assert_eq!(
        ok(&s, "GET", "auth/approle/role/nobind", json!(null)).await["data"]["secret_id_bound_cidrs"],
        json!(["127.0.0.1"])
    );
}

#[tokio::test]
async fn approle_token_bound_cidrs_bind_the_issued_token() {
    let s = TestServer::dev().await;
    enable(&s, "approle", "approle").await;
    let (role_id, secret, _) =
        role_with_secret(&s, "approle", "tb", json!({"token_policies": "app", "token_bound_cidrs": ["10.0.0.0/8"]}))
            .await;
    let (st, v) = approle_login(&s, "approle", &role_id, &secret).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let token = v["auth"]["client_token"].as_str().unwrap();
    let (st, _) = s.call_as(token, "GET", "auth/token/lookup-self", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Root can see the binding on the token.
    let (st, v) = s.call("POST", "auth/token/lookup", Some(json!({"token": token}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["policies"], json!(["app", "default"]));
}

/// SEC-16: an unknown role-id and a known role with a wrong, empty or missing secret-id get the
/// same status and body.
#[tokio::test]
async fn sec16_approle_unknown_role_and_wrong_secret_look_alike() {
    let s = TestServer::dev().await;
    enable(&s, "approle", "approle").await;
    let (role_id, _, _) = role_with_secret(&s, "approle", "web", json!({})).await;
    let attempts = [
        json!({"role_id": uuid::Uuid::new_v4().to_string(), "secret_id": uuid::Uuid::new_v4().to_string()}),
        json!({"role_id": "nope", "secret_id": "x"}),
        json!({"role_id": role_id, "secret_id": uuid::Uuid::new_v4().to_string()}),
        json!({"role_id": role_id, "secret_id": "wrong"}),
        json!({"role_id": role_id, "secret_id": ""}),
        json!({"role_id": role_id}),
        json!({"role_id": "nope"}),
    ];
    for body in attempts {
        let (st, v) = s.call_as("", "POST", "auth/approle/login", Some(body.clone())).await;
        assert_eq!((st, v), (StatusCode::BAD_REQUEST, invalid_role()), "{body}");
    }
    // OpenBao's quirk: a missing role_id is a 500.
    for body in [json!({"secret_id": "x"}), json!({"role_id": ""})] {
        let (st, v) = s.call_as("", "POST", "auth/approle/login", Some(body)).await;
        assert_eq!((st, v), (StatusCode::INTERNAL_SERVER_ERROR, json!({"errors": ["missing role_id"]})));
    }
}

#[tokio::test]
async fn approle_role_management_rules() {
    let s = TestServer::dev().await;
    enable(&s, "approle", "approle").await;
    // No binding at all is refused, as OpenBao does (500).
    let (st, v) = s.call("POST", "auth/approle/role/bad", Some(json!({"bind_secret_id": false}))).await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(v["errors"][0], "1 error occurred:\n\t* at least one constraint should be enabled on the role\n\n");
    let (st, _) = s.call("GET", "auth/approle/role/bad", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s.call("LIST", "auth/approle/role", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s.call("POST", "auth/approle/role/web", Some(json!({"token_type": "batch"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // Names are lower-case (as Vault stores them); another spelling is refused, never folded.
    let (st, v) = s.call("POST", "auth/approle/role/Web", Some(json!({"token_policies": ["app"]}))).await;
    assert_eq!(
        (st, v),
        (StatusCode::BAD_REQUEST, json!({"errors": ["invalid role name: the name must be lower-case"]}))
    );
    ok(
        &s,
        "POST",
        "auth/approle/role/web",
        json!({"token_policies": ["app"], "secret_id_ttl": "1h", "secret_id_num_uses": 2}),
    )
    .await;
    assert_eq!(ok(&s, "LIST", "auth/approle/role", json!(null)).await["data"]["keys"], json!(["web"]));
    assert_eq!(ok(&s, "GET", "auth/approle/role/web", json!(null)).await["data"]["secret_id_ttl"], 3600);

    // Secret-id limits: never above the role's.
    for (body, msg) in [
        (json!({"num_uses": 5}), "num_uses cannot be higher than the role's secret_id_num_uses"),
        (json!({"num_uses": 0}), "num_uses cannot be higher than the role's secret_id_num_uses"),
        (json!({"ttl": "2h"}), "ttl cannot be longer than the role's secret_id_ttl"),
    ] {
        let (st, v) = s.call("POST", "auth/approle/role/web/secret-id", Some(body)).await;
        assert_eq!((st, v), (StatusCode::BAD_REQUEST, json!({"errors": [msg]})));
    }
    let v = ok(&s, "POST", "auth/approle/role/web/secret-id", json!({})).await;
    assert_eq!((v["data"]["secret_id_ttl"].clone(), v["data"]["secret_id_num_uses"].clone()), (json!(3600), json!(2)));
    let (st, v) = s.call("POST", "auth/approle/role/nope/secret-id", Some(json!({}))).await;
    assert_eq!((st, v), (StatusCode::NOT_FOUND, json!({"errors": ["role \"nope\" does not exist"]})));

    // Custom role-id: unique per mount; the old one stops working.
    let (old_role_id, secret, _) = role_with_secret(&s, "approle", "svc", json!({})).await;
    ok(&s, "POST", "auth/approle/role/svc/role-id", json!({"role_id": "svc-role-id"})).await;
    assert_eq!(ok(&s, "GET", "auth/approle/role/svc/role-id", json!(null)).await["data"]["role_id"], "svc-role-id");
    assert_eq!(approle_login(&s, "approle", &old_role_id, &secret).await.0, StatusCode::BAD_REQUEST);
    let (st, v) = approle_login(&s, "approle", "svc-role-id", &secret).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = s.call("POST", "auth/approle/role/web/role-id", Some(json!({"role_id": "svc-role-id"}))).await;
    assert_eq!(
        (st, v),
        (StatusCode::INTERNAL_SERVER_ERROR, json!({"errors": ["1 error occurred:\n\t* role_id already in use\n\n"]}))
    );

    // Custom secret-id.
    let v = ok(&s, "POST", "auth/approle/role/svc/custom-secret-id", json!({"secret_id": "my-custom-secret"})).await;
    assert_eq!(v["data"]["secret_id"], "my-custom-secret");
    assert_eq!(approle_login(&s, "approle", "svc-role-id", "my-custom-secret").await.0, StatusCode::OK);

    // Deleting the role kills its role-id and secret-ids; a new role of that name starts fresh.
    let (st, _) = s.call("DELETE", "auth/approle/role/svc", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(approle_login(&s, "approle", "svc-role-id", &secret).await.0, StatusCode::BAD_REQUEST);
    ok(&s, "POST", "auth/approle/role/svc", json!({})).await;
    assert_ne!(ok(&s, "GET", "auth/approle/role/svc/role-id", json!(null)).await["data"]["role_id"], "svc-role-id");
    let (st, _) = s.call("LIST", "auth/approle/role/svc/secret-id", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn approle_secret_id_ttl_expires() {
    let s = TestServer::dev().await;
    enable(&s, "approle", "approle").await;
    let (role_id, secret, _) = role_with_secret(&s, "approle", "short", json!({"secret_id_ttl": 1})).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(approle_login(&s, "approle", &role_id, &secret).await, (StatusCode::BAD_REQUEST, invalid_role()));
}

#[tokio::test]
async fn approle_mounts_are_separate() {
    let s = TestServer::dev().await;
    enable(&s, "ar1", "approle").await;
    enable(&s, "ar2", "approle").await;
    let (role_id, secret, _) = role_with_secret(&s, "ar1", "web", json!({})).await;
    assert_eq!(approle_login(&s, "ar2", &role_id, &secret).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(approle_login(&s, "ar1", &role_id, &secret).await.0, StatusCode::OK);
    let (st, _) = s.call("GET", "auth/ar2/role/web", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

/// Logins carry an identity named after the role or user, so a templated policy gives each its
/// own subtree and two roles never share an entity.
#[tokio::test]
async fn logins_carry_a_per_role_and_per_user_identity() {
    let s = TestServer::dev().await;
    enable(&s, "approle", "approle").await;
    enable(&s, "userpass", "userpass").await;
    ok(
        &s,
        "PUT",
        "sys/policies/acl/own-subtree",
        json!({"policy": "path \"secret/data/{{identity.entity.name}}/*\" { capabilities = [\"create\", \"update\", \"read\"] }"}),
    )
    .await;
    let mut entities = Vec::new();
    let mut tokens = Vec::new();
    for name in ["web", "api"] {
        let (rid, _, _) = role_with_secret(&s, "approle", name, json!({"token_policies": "own-subtree"})).await;
        for _ in 0..2 {
            let v = ok(&s, "POST", &format!("auth/approle/role/{name}/secret-id"), json!({})).await;
            let (st, v) = approle_login(&s, "approle", &rid, v["data"]["secret_id"].as_str().unwrap()).await;
            assert_eq!(st, StatusCode::OK, "{v}");
            entities.push(v["auth"]["entity_id"].as_str().unwrap().to_string());
            tokens.push(v["auth"]["client_token"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(entities[0], entities[1]);
    assert_eq!(entities[2], entities[3]);
    assert_ne!(entities[0], entities[2]);
    assert!(!entities[0].is_empty());
    let body = Some(json!({"data": {"k": "v"}}));
    let (st, v) = s.call_as(&tokens[0], "POST", "secret/data/web/x", body.clone()).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _) = s.call_as(&tokens[0], "POST", "secret/data/api/x", body.clone()).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    ok(&s, "POST", "auth/userpass/users/alice", json!({"password": "pw", "token_policies": "own-subtree"})).await;
    let (st, v) = userpass_login(&s, "userpass", "alice", "pw").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let token = v["auth"]["client_token"].as_str().unwrap();
    assert!(!entities.contains(&v["auth"]["entity_id"].as_str().unwrap().to_string()));
    let (st, v) = s.call_as(token, "POST", "secret/data/alice/x", body.clone()).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _) = s.call_as(token, "POST", "secret/data/web/x", body).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

// ------------------------------------------------------------------------------------------------
// userpass
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn userpass_login_issues_a_token_and_reads_hide_the_password() {
    let s = TestServer::dev().await;
    enable(&s, "userpass", "userpass").await;
    ok(
        &s,
        "POST",
        "auth/userpass/users/alice",
        json!({"password": "correct horse", "token_policies": "app", "token_ttl": "1h"}),
    )
    .await;
    let v = ok(&s, "GET", "auth/userpass/users/alice", json!(null)).await;
    assert_eq!(v["data"]["token_policies"], json!(["app"]));
    assert_eq!(v["data"]["token_ttl"], 3600);
    let text = v.to_string();
    assert!(!text.contains("correct horse") && !text.contains("argon2") && !text.contains("password"), "{text}");
    assert_eq!(ok(&s, "LIST", "auth/userpass/users", json!(null)).await["data"]["keys"], json!(["alice"]));

    let (st, v) = userpass_login(&s, "userpass", "alice", "correct horse").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["auth"]["metadata"], json!({"username": "alice"}));
    assert_eq!(v["auth"]["policies"], json!(["app", "default"]));
    assert_eq!(v["auth"]["lease_duration"], 3600);
    let token = v["auth"]["client_token"].as_str().unwrap();
    let (st, v) = s.call_as(token, "GET", "auth/token/lookup-self", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["display_name"], "userpass-alice");
    assert_eq!(v["data"]["meta"]["username"], "alice");

    // Policies endpoint; a user without a password cannot be created.
    ok(&s, "POST", "auth/userpass/users/alice/policies", json!({"policies": "x,y"})).await;
    assert_eq!(
        ok(&s, "GET", "auth/userpass/users/alice", json!(null)).await["data"]["token_policies"],
        json!(["x", "y"])
    );
    let (st, v) = s.call("POST", "auth/userpass/users/bob", Some(json!({"token_policies": "app"}))).await;
    assert_eq!(
        (st, v),
        (StatusCode::BAD_REQUEST, json!({"errors": ["must provide either password or password_hash"]}))
    );
    let (st, _) = s.call("POST", "auth/userpass/users/nobody/password", Some(json!({"password": "x"}))).await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    let (st, _) = s.call("GET", "auth/userpass/users/nobody", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Delete.
    let (st, _) = s.call("DELETE", "auth/userpass/users/ALICE", None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = s.call("DELETE", "auth/userpass/users/alice", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        userpass_login(&s, "userpass", "alice", "correct horse").await,
        (StatusCode::BAD_REQUEST, invalid_user())
    );
}

#[tokio::test]
async fn sec16_userpass_password_change_and_identical_failures() {
    let s = TestServer::dev().await;
    enable(&s, "userpass", "userpass").await;
    ok(&s, "POST", "auth/userpass/users/carol", json!({"password": "old pw"})).await;
    // Unknown user and wrong password: same status and body (SEC-16).
    assert_eq!(userpass_login(&s, "userpass", "nobody", "old pw").await, (StatusCode::BAD_REQUEST, invalid_user()));
    assert_eq!(userpass_login(&s, "userpass", "carol", "wrong").await, (StatusCode::BAD_REQUEST, invalid_user()));
    // A name that cannot exist is refused for its spelling, whoever exists (SEC-33).
    assert_eq!(
        userpass_login(&s, "userpass", "a%20b", "x").await,
        (StatusCode::BAD_REQUEST, json!({"errors": ["invalid username: the name contains whitespace"]}))
    );
    let (st, v) = s.call_as("", "POST", "auth/userpass/login/carol", Some(json!({}))).await;
    assert_eq!((st, v), (StatusCode::INTERNAL_SERVER_ERROR, json!({"errors": ["missing password"]})));

    ok(&s, "POST", "auth/userpass/users/carol/password", json!({"password": "new pw"})).await;
    assert_eq!(userpass_login(&s, "userpass", "carol", "old pw").await.0, StatusCode::BAD_REQUEST);
    let (st, v) = userpass_login(&s, "userpass", "carol", "new pw").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // Updating other fields keeps the password.
    ok(&s, "POST", "auth/userpass/users/carol", json!({"token_policies": "app"})).await;
    assert_eq!(userpass_login(&s, "userpass", "carol", "new pw").await.0, StatusCode::OK);
}

/// SEC-17, SEC-33: five failures lock the user; other spellings of the name are refused with
/// 400 for their spelling (counting nothing and never logging in); the right password then gets
/// the same 400; a success before that resets the counter.
#[tokio::test]
async fn sec17_userpass_lockout_cannot_be_sidestepped_by_spelling() {
    let s = TestServer::dev().await;
    enable(&s, "userpass", "userpass").await;
    let (st, _) = s.call("POST", "auth/userpass/users/Alice", Some(json!({"password": "pw"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    ok(&s, "POST", "auth/userpass/users/alice", json!({"password": "pw"})).await;
    // A success resets the counter.
    for _ in 0..4 {
        assert_eq!(userpass_login(&s, "userpass", "alice", "bad").await.0, StatusCode::BAD_REQUEST);
    }
    assert_eq!(userpass_login(&s, "userpass", "alice", "pw").await.0, StatusCode::OK);

    let variants = ["Alice", "%20alice", "ALICE%20", "%EF%BD%81lice", "alice%C2%A0", "alice%E2%80%8B", "alice%09"];
    for user in variants {
        let (st, v) = userpass_login(&s, "userpass", user, "bad").await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{user}");
        assert_ne!(v, invalid_user(), "{user}: refused for its spelling, not counted");
    }
    for _ in 0..5 {
        assert_eq!(userpass_login(&s, "userpass", "alice", "bad").await, (StatusCode::BAD_REQUEST, invalid_user()));
    }
    assert_eq!(userpass_login(&s, "userpass", "alice", "pw").await, (StatusCode::BAD_REQUEST, invalid_user()));
    for user in variants {
        let (st, v) = userpass_login(&s, "userpass", user, "pw").await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{user}: {v}");
        assert!(v.get("auth").is_none(), "{user}: {v}");
    }
    let id = mount_id(&s, "userpass").await;
    let core = s.running.as_ref().unwrap().core.clone();
    let raw = core.store.entry_get(&format!("userpass-lockout/{id}"), "alice").await.unwrap().unwrap();
    let state: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(state["failures"], 5);
    assert!(state["locked_until"].is_i64(), "{state}");
    // Other users are unaffected; a password reset unlocks.
    ok(&s, "POST", "auth/userpass/users/bob", json!({"password": "pw"})).await;
    assert_eq!(userpass_login(&s, "userpass", "bob", "pw").await.0, StatusCode::OK);
    ok(&s, "POST", "auth/userpass/users/alice/password", json!({"password": "pw2"})).await;
    assert_eq!(userpass_login(&s, "userpass", "alice", "pw2").await.0, StatusCode::OK);
}

/// SEC-17: 200 parallel bad logins never count past the threshold, and the user ends up locked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sec17_userpass_parallel_bad_logins_never_exceed_the_threshold() {
    let s = TestServer::dev().await;
    enable(&s, "userpass", "userpass").await;
    ok(&s, "POST", "auth/userpass/users/dave", json!({"password": "pw"})).await;
    let id = mount_id(&s, "userpass").await;
    let core = s.running.as_ref().unwrap().core.clone();
    let kind = format!("userpass-lockout/{id}");

    let max_seen = Arc::new(AtomicU64::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let monitor = {
        let (core, kind, max_seen, done) = (core.clone(), kind.clone(), max_seen.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                if let Some(raw) = core.store.entry_get(&kind, "dave").await.unwrap() {
                    let v: Value = serde_json::from_str(&raw).unwrap();
                    max_seen.fetch_max(v["failures"].as_u64().unwrap(), Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (client, base) = (s.client.clone(), s.base.clone());
        let user = ["dave", "Dave", "%20dave", "DAVE"][i % 4];
        tasks.push(tokio::spawn(async move {
            call_url(
                &client,
                &base,
                "",
                "POST",
                &format!("auth/userpass/login/{user}"),
                Some(json!({"password": "bad"})),
            )
            .await
        }));
    }
    // Only the normal spelling is a login attempt; the others are refused for their spelling.
    // Past the Argon2 queue (64 by default) an attempt is refused with 503 before it counts (D63).
    let mut checked = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let (status, body) = t.await.unwrap();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(i % 4, 0, "only login attempts wait for Argon2: {body}");
            continue;
        }
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body == invalid_user(), i % 4 == 0, "{body}");
        if i % 4 == 0 {
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} logins were checked");
    done.store(true, Ordering::SeqCst);
    monitor.await.unwrap();
    let raw = core.store.entry_get(&kind, "dave").await.unwrap().unwrap();
    let state: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(state["failures"], 5, "{state}");
    assert!(max_seen.load(Ordering::SeqCst) <= 5);
    assert!(state["locked_until"].is_i64(), "{state}");
    assert_eq!(userpass_login(&s, "userpass", "dave", "pw").await, (StatusCode::BAD_REQUEST, invalid_user()));
}

/// SEC-14: the lockout is stored, so it holds from the first login after a restart.
#[tokio::test]
async fn sec14_userpass_lockout_survives_a_restart() {
    let mut s = TestServer::uninitialised().await;
    let (keys, root) = s.init(1, 1).await;
    s.unseal(&keys).await;
    enable(&s, "userpass", "userpass").await;
    ok(&s, "POST", "auth/userpass/users/erin", json!({"password": "pw"})).await;
    for _ in 0..5 {
        assert_eq!(userpass_login(&s, "userpass", "erin", "bad").await.0, StatusCode::BAD_REQUEST);
    }
    let dir = s.stop().await;
    let mut s = TestServer::start_in(dir, SealKind::Shamir, limits()).await;
    s.token = root;
    s.unseal(&keys).await;
    assert_eq!(userpass_login(&s, "userpass", "erin", "pw").await, (StatusCode::BAD_REQUEST, invalid_user()));
}

#[tokio::test]
async fn userpass_lockout_settings_come_from_the_mount_options() {
    let s = TestServer::dev().await;
    let (st, v) = s
        .call(
            "POST",
            "sys/auth/up2",
            Some(json!({"type": "userpass", "options": {"lockout_threshold": "2", "lockout_duration": "1h"}})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    ok(&s, "POST", "auth/up2/users/frank", json!({"password": "pw"})).await;
    // One failure is under the mount's threshold of 2: the right password still works.
    assert_eq!(userpass_login(&s, "up2", "frank", "bad").await.0, StatusCode::BAD_REQUEST);
    let (st, v) = userpass_login(&s, "up2", "frank", "pw").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // Two failures in a row reach it (the default would be 5): now even the right password fails.
    for _ in 0..2 {
        assert_eq!(userpass_login(&s, "up2", "frank", "bad").await.0, StatusCode::BAD_REQUEST);
    }
    assert_eq!(userpass_login(&s, "up2", "frank", "pw").await, (StatusCode::BAD_REQUEST, invalid_user()));
    // Expiry of the lock is covered by the unit test `counter_stops_at_threshold_and_lock_expires`.
}

#[tokio::test]
async fn disabling_an_auth_mount_removes_its_users_roles_and_secret_ids() {
    let s = TestServer::dev().await;
    enable(&s, "up", "userpass").await;
    enable(&s, "ar", "approle").await;
    let up = mount_id(&s, "up").await;
    let ar = mount_id(&s, "ar").await;
    ok(&s, "POST", "auth/up/users/alice", json!({"password": "pw-123456"})).await;
    role_with_secret(&s, "ar", "svc", json!({"token_policies": "default"})).await;
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", s.db_path().display())).await.unwrap();
    let count = |id: String| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("select count(*) from entry where instr(kind, ?) > 0")
                .bind(id)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    assert!(count(up.clone()).await > 0 && count(ar.clone()).await > 0);
    for path in ["up", "ar"] {
        assert_eq!(s.call("DELETE", &format!("sys/auth/{path}"), None).await.0, StatusCode::NO_CONTENT);
    }
    assert_eq!(count(up).await, 0, "userpass rows survived the unmount");
    assert_eq!(count(ar).await, 0, "approle rows survived the unmount");
}

#[tokio::test]
async fn sec08_templated_policies_give_each_login_its_own_subtree() {
    let s = TestServer::dev().await;
    enable(&s, "userpass", "userpass").await;
    let accessor = {
        let (_, v) = s.call("GET", "sys/auth", None).await;
        v["data"]["userpass/"]["accessor"].as_str().unwrap().to_string()
    };
    let policy = format!(
        "path \"secret/data/users/{{{{identity.entity.name}}}}/*\" {{ capabilities = [\"create\", \"read\", \"update\"] }}\n\
         path \"secret/data/by-alias/{{{{identity.entity.aliases.{accessor}.name}}}}\" {{ capabilities = [\"read\"] }}"
    );
    assert_eq!(s.call("PUT", "sys/policies/acl/self", Some(json!({"policy": policy}))).await.0, StatusCode::NO_CONTENT);
    for user in ["alice", "bob"] {
        ok(
            &s,
            "POST",
            &format!("auth/userpass/users/{user}"),
            json!({"password": "pw-123456", "token_policies": "self"}),
        )
        .await;
    }
    s.write("secret/data/by-alias/alice", json!({"a": "1"})).await;
    // A token without a login identity uses the policy set first: its unresolved ACL must not be
    // served to the logins that follow.
    let (_, first) = s.call("POST", "auth/token/create", Some(json!({"policies": ["self"]}))).await;
    let first = first["auth"]["client_token"].as_str().unwrap().to_string();
    assert_eq!(
        s.call_as(&first, "POST", "secret/data/users/alice/z", Some(json!({"data": {"k": "v"}}))).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, a) = userpass_login(&s, "userpass", "alice", "pw-123456").await;
    let alice = a["auth"]["client_token"].as_str().unwrap().to_string();
    let (_, b) = userpass_login(&s, "userpass", "bob", "pw-123456").await;
    let bob = b["auth"]["client_token"].as_str().unwrap().to_string();
    let w = |t: &str, p: &str| {
        let (t, p) = (t.to_string(), p.to_string());
        let s = &s;
        async move { s.call_as(&t, "POST", &p, Some(json!({"data": {"k": "v"}}))).await.0 }
    };
    assert_eq!(w(&alice, "secret/data/users/alice/x").await, StatusCode::OK);
    assert_eq!(w(&alice, "secret/data/users/bob/x").await, StatusCode::FORBIDDEN);
    assert_eq!(w(&bob, "secret/data/users/bob/x").await, StatusCode::OK);
    assert_eq!(s.call_as(&alice, "GET", "secret/data/by-alias/alice", None).await.0, StatusCode::OK);
    assert_eq!(s.call_as(&bob, "GET", "secret/data/by-alias/alice", None).await.0, StatusCode::FORBIDDEN);
    // Caller-set token meta never feeds a template: a child token with meta cannot move its grant.
    let (st, c) =
        s.call("POST", "auth/token/create", Some(json!({"policies": ["self"], "meta": {"name": "alice"}}))).await;
    assert_eq!(st, StatusCode::OK);
    let orphan_like = c["auth"]["client_token"].as_str().unwrap().to_string();
    assert_eq!(w(&orphan_like, "secret/data/users/alice/y").await, StatusCode::FORBIDDEN);
    let (_, l) = s.call_as(&alice, "GET", "auth/token/lookup-self", None).await;
    assert_eq!(l["data"]["entity_id"].as_str().unwrap().len(), 36);
}

// ------------------------------------------------------------------------------------------------
// SEC-33: names in their one normal form
// ------------------------------------------------------------------------------------------------

/// Spellings of `admin` that a trimming or folding name check would map to `admin`: surrounding
/// space, tab, newline, U+00A0, U+3000, zero-width characters, BOM, other cases, full width.
const ADMIN_VARIANTS: [&str; 15] = [
    "admin%20",
    "%20admin",
    "admin%09",
    "%09admin",
    "admin%0A",
    "admin%C2%A0",
    "%C2%A0admin",
    "admin%E3%80%80",
    "ad%E2%80%8Bmin",
    "admin%E2%80%8B",
    "%EF%BB%BFadmin",
    "Admin",
    "ADMIN",
    "aDMIN",
    "%EF%BD%81dmin",
];

/// SEC-33: a deny on `users/admin` and `users/admin/*` cannot be sidestepped with another
/// spelling of the name (`admin%20/password` used to reset admin's password): every variant gets
/// 400 and admin is untouched.
#[tokio::test]
async fn sec33_userpass_name_variants_never_get_past_a_deny() {
    let s = TestServer::dev().await;
    enable(&s, "userpass", "userpass").await;
    ok(&s, "POST", "auth/userpass/users/admin", json!({"password": "admin pw"})).await;
    let helpdesk = s
        .token_with_policy(
            "helpdesk",
            r#"path "auth/userpass/users/*" { capabilities = ["create", "read", "update", "delete", "list"] }
           path "auth/userpass/users/admin" { capabilities = ["deny"] }
           path "auth/userpass/users/admin/*" { capabilities = ["deny"] }"#,
        )
        .await;
    let (st, _) =
        s.call_as(&helpdesk, "POST", "auth/userpass/users/admin/password", Some(json!({"password": "owned"}))).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    for v in ADMIN_VARIANTS {
        for (method, path, body) in [
            ("POST", format!("auth/userpass/users/{v}/password"), json!({"password": "owned"})),
            ("POST", format!("auth/userpass/users/{v}/policies"), json!({"token_policies": "owned"})),
            ("POST", format!("auth/userpass/users/{v}"), json!({"password": "owned"})),
            ("GET", format!("auth/userpass/users/{v}"), Value::Null),
            ("DELETE", format!("auth/userpass/users/{v}"), Value::Null),
        ] {
            let (st, resp) = s.call_as(&helpdesk, method, &path, Some(body)).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{method} {path}: {resp}");
        }
    }
    assert_eq!(userpass_login(&s, "userpass", "admin", "admin pw").await.0, StatusCode::OK);
    assert_eq!(userpass_login(&s, "userpass", "admin", "owned").await.0, StatusCode::BAD_REQUEST);
    let user = ok(&s, "GET", "auth/userpass/users/admin", Value::Null).await;
    assert_eq!(user["data"]["token_policies"], json!([]));
    assert_eq!(ok(&s, "LIST", "auth/userpass/users", Value::Null).await["data"]["keys"], json!(["admin"]));
}

/// SEC-33: a login under a name that is not in its normal form is 400 for the name alone: the
/// same answer whether a user of a similar name exists or not, and never a login.
#[tokio::test]
async fn sec33_userpass_login_with_a_non_normal_name_is_400_whoever_exists() {
    let s = TestServer::dev().await;
    enable(&s, "userpass", "userpass").await;
    ok(&s, "POST", "auth/userpass/users/admin", json!({"password": "pw"})).await;
    for v in ADMIN_VARIANTS {
        let existing = userpass_login(&s, "userpass", v, "pw").await;
        let missing = userpass_login(&s, "userpass", &v.replace("dmin", "bsent").replace("DMIN", "BSENT"), "pw").await;
        assert_eq!(existing.0, StatusCode::BAD_REQUEST, "{v}: {}", existing.1);
        assert!(existing.1.get("auth").is_none(), "{v}");
        assert_eq!(existing, missing, "{v}");
    }
    // No failure was counted against admin.
    assert_eq!(userpass_login(&s, "userpass", "admin", "pw").await.0, StatusCode::OK);
}

/// SEC-33: the same for AppRole role names: a deny on `role/admin` and `role/admin/*` cannot be
/// sidestepped to read admin's role-id, mint secret-ids for it or rewrite it.
#[tokio::test]
async fn sec33_approle_role_name_variants_never_get_past_a_deny() {
    let s = TestServer::dev().await;
    enable(&s, "approle", "approle").await;
    ok(&s, "POST", "auth/approle/role/admin", json!({"token_policies": "admin"})).await;
    let deployer = s
        .token_with_policy(
            "deployer",
            r#"path "auth/approle/role/*" { capabilities = ["create", "read", "update", "delete", "list"] }
           path "auth/approle/role/admin" { capabilities = ["deny"] }
           path "auth/approle/role/admin/*" { capabilities = ["deny"] }"#,
        )
        .await;
    let before = ok(&s, "GET", "auth/approle/role/admin", Value::Null).await["data"].clone();
    let ids_before = s.call("LIST", "auth/approle/role/admin/secret-id", None).await;
    let (st, _) = s.call_as(&deployer, "GET", "auth/approle/role/admin/role-id", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    for v in ADMIN_VARIANTS {
        for (method, path, body) in [
            ("GET", format!("auth/approle/role/{v}/role-id"), Value::Null),
            ("POST", format!("auth/approle/role/{v}/secret-id"), json!({})),
            ("POST", format!("auth/approle/role/{v}/custom-secret-id"), json!({"secret_id": "chosen-by-attacker"})),
            ("POST", format!("auth/approle/role/{v}/role-id"), json!({"role_id": "chosen-by-attacker"})),
            ("POST", format!("auth/approle/role/{v}"), json!({"token_policies": "owned"})),
            ("GET", format!("auth/approle/role/{v}"), Value::Null),
            ("DELETE", format!("auth/approle/role/{v}"), Value::Null),
        ] {
            let (st, resp) = s.call_as(&deployer, method, &path, Some(body)).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{method} {path}: {resp}");
            assert!(!resp.to_string().contains("secret_id") && !resp.to_string().contains("role_id"), "{resp}");
        }
    }
    assert_eq!(ok(&s, "GET", "auth/approle/role/admin", Value::Null).await["data"], before);
    assert_eq!(s.call("LIST", "auth/approle/role/admin/secret-id", None).await, ids_before);
    assert_eq!(ok(&s, "LIST", "auth/approle/role", Value::Null).await["data"]["keys"], json!(["admin"]));
}
