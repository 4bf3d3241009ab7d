//! SEC-36: the real binary at `--log-level debug` while every engine handles secrets (tokens, KV,
//! userpass, AppRole secret-ids, JWTs, dynamic and static database credentials against a
//! password-checking PostgreSQL, password and postgres rotations): no secret reaches the log, in
//! any encoding.
// These tests stand outside the server and compare its answers with the wall clock.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

use crate::harness::until;
use crate::pg_faults::OwnCluster;
use crate::restart::{call, init, leaked_forms, spawn_with, write_config};

const ROOT_PW: &str = "Root-canary-pw-7f3a9c";

/// A request that must succeed; returns its body.
async fn ok(base: &str, token: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let (st, v) = call(base, token, method, path, body).await;
    assert!(st.is_success(), "{method} {path}: {st} {v}");
    v
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("expected a string, got {v}")).to_string()
}

/// Waits until the rotation of `path` has ended `n` times; returns its status.
async fn rotated(base: &str, token: &str, path: &str, n: i64) -> Value {
    let status = std::sync::Arc::new(std::sync::Mutex::new(Value::Null));
    let (b, t, p, seen) = (base.to_string(), token.to_string(), path.to_string(), status.clone());
    until(&format!("rotation of {path}"), Duration::from_secs(30), move || {
        let (b, t, p, seen) = (b.clone(), t.clone(), p.clone(), seen.clone());
        async move {
            let (_, v) = call(&b, &t, "GET", &format!("secret/rotation/{p}"), None).await;
            let d = v["data"].clone();
            let ended = d["rotations_succeeded"].as_i64().unwrap_or(0)
                + d["rotations_failed"].as_i64().unwrap_or(0)
                + d["rotations_abandoned"].as_i64().unwrap_or(0);
            *seen.lock().unwrap() = d;
            ended >= n
        }
    })
    .await;
    let v = status.lock().unwrap().clone();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sec36_debug_logs_hold_no_secret_of_any_engine() {
    let pg = tokio::task::spawn_blocking(|| OwnCluster::start_scram(ROOT_PW)).await.unwrap();
    let mut admin = PgConnection::connect(&pg.url_as("postgres", ROOT_PW)).await.unwrap();
    for role in ["static_app", "rotated_app"] {
        sqlx::raw_sql(&format!("create role {role} login password 'Initial-{role}-pw'"))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    admin.close().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let mut p = spawn_with(&cfg, "debug");
    let base = p.base.clone();
    let root = init(&base).await;
    let mut secrets: Vec<String> = vec![root.clone(), ROOT_PW.to_string()];

    // Tokens and KV.
    let child = ok(&base, &root, "POST", "auth/token/create", Some(json!({"policies": ["default"]}))).await;
    let child = text(&child["auth"]["client_token"]);
    ok(&base, &child, "GET", "auth/token/lookup-self", None).await;
    let kv_value = format!("kv-canary-{}", coffer::crypto::random_base62(16));
    ok(&base, &root, "POST", "secret/data/app", Some(json!({"data": {"password": kv_value}}))).await;
    ok(&base, &root, "GET", "secret/data/app", None).await;
    // `sys/policies/explain` takes another token in its body.
    let q = json!({"path": "secret/data/app", "operation": "read", "token": child});
    ok(&base, &root, "POST", "sys/policies/explain", Some(q)).await;
    secrets.extend([child, kv_value]);

    // Userpass.
    let user_pw = format!("up-canary-{}", coffer::crypto::random_base62(16));
    ok(&base, &root, "POST", "sys/auth/userpass", Some(json!({"type": "userpass"}))).await;
    ok(&base, &root, "POST", "auth/userpass/users/alice", Some(json!({"password": user_pw}))).await;
    let login = ok(&base, "", "POST", "auth/userpass/login/alice", Some(json!({"password": user_pw}))).await;
    secrets.extend([user_pw, text(&login["auth"]["client_token"])]);

    // AppRole.
    ok(&base, &root, "POST", "sys/auth/approle", Some(json!({"type": "approle"}))).await;
    ok(&base, &root, "POST", "auth/approle/role/app", Some(json!({"token_policies": ["default"]}))).await;
    let role_id = text(&ok(&base, &root, "GET", "auth/approle/role/app/role-id", None).await["data"]["role_id"]);
    let secret_id =
        text(&ok(&base, &root, "POST", "auth/approle/role/app/secret-id", Some(json!({}))).await["data"]["secret_id"]);
    let login =
        ok(&base, "", "POST", "auth/approle/login", Some(json!({"role_id": role_id, "secret_id": secret_id}))).await;
    secrets.extend([secret_id, text(&login["auth"]["client_token"])]);

    // JWT.
    let kp = rcgen::KeyPair::generate().unwrap();
    ok(&base, &root, "POST", "sys/auth/jwt", Some(json!({"type": "jwt"}))).await;
    ok(&base, &root, "POST", "auth/jwt/config", Some(json!({"jwt_validation_pubkeys": [kp.public_key_pem()]}))).await;
    ok(
        &base,
        &root,
        "POST",
        "auth/jwt/role/ci",
        Some(json!({"role_type": "jwt", "bound_audiences": ["coffer"], "user_claim": "sub", "token_policies": ["default"]})),
    )
    .await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": "ci", "aud": "coffer", "iat": now, "exp": now + 300,
                        "nonce": coffer::crypto::random_base62(16)});
    let jwt = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &claims,
        &EncodingKey::from_ec_pem(kp.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let login = ok(&base, "", "POST", "auth/jwt/login", Some(json!({"role": "ci", "jwt": jwt}))).await;
    // The signature part alone is enough to replay nothing, but the whole JWT must not appear.
    let signature = jwt.rsplit('.').next().unwrap().to_string();
    assert!(URL_SAFE_NO_PAD.decode(&signature).is_ok());
    secrets.extend([jwt, signature, text(&login["auth"]["client_token"])]);

    // Database: dynamic credentials (created and revoked) and a static role's password.
    ok(&base, &root, "POST", "sys/mounts/database", Some(json!({"type": "database"}))).await;
    let url = format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable", pg.port);
    ok(
        &base,
        &root,
        "POST",
        "database/config/pg",
        Some(json!({"plugin_name": "postgresql-database-plugin", "connection_url": url, "username": "postgres",
                    "password": ROOT_PW, "allowed_roles": ["*"]})),
    )
    .await;
    ok(
        &base,
        &root,
        "POST",
        "database/roles/readonly",
        Some(json!({"db_name": "pg", "default_ttl": "1h",
                    "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"]})),
    )
    .await;
    let dynamic = ok(&base, &root, "GET", "database/creds/readonly", None).await;
    let dynamic_pw = text(&dynamic["data"]["password"]);
    let mut check = PgConnection::connect(&pg.url_as(&text(&dynamic["data"]["username"]), &dynamic_pw)).await;
    assert!(check.is_ok(), "the dynamic credentials work");
    if let Ok(c) = check.as_mut() {
        let _ = sqlx::query("select 1").execute(c).await;
    }
    drop(check);
    ok(&base, &root, "PUT", "sys/leases/revoke", Some(json!({"lease_id": dynamic["lease_id"]}))).await;
    ok(
        &base,
        &root,
        "POST",
        "database/static-roles/static",
        Some(json!({"db_name": "pg", "username": "static_app", "rotation_period": "24h"})),
    )
    .await;
    let static_pw = text(&ok(&base, &root, "GET", "database/static-creds/static", None).await["data"]["password"]);
    secrets.extend([dynamic_pw, static_pw]);

    // Rotation: a password rotator and a postgres rotator.
    ok(&base, &root, "POST", "secret/data/pw", Some(json!({"data": {"password": "Initial-pw-rotation"}}))).await;
    ok(
        &base,
        &root,
        "POST",
        "secret/rotation/pw",
        Some(json!({"schedule": "rate(30 days)", "rotator": {"type": "password"}})),
    )
    .await;
    ok(
        &base,
        &root,
        "POST",
        "secret/data/db",
        Some(json!({"data": {"username": "rotated_app", "password": "Initial-rotated_app-pw"}})),
    )
    .await;
    ok(
        &base,
        &root,
        "POST",
        "secret/rotation/db",
        Some(json!({"schedule": "rate(30 days)", "rotator": {"type": "postgres", "db_name": "pg", "username": "rotated_app"}})),
    )
    .await;
    for path in ["pw", "db"] {
        let (st, v) = call(&base, &root, "POST", &format!("secret/rotate/{path}"), None).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{v}");
        let done = rotated(&base, &root, path, 1).await;
        assert_eq!(done["last_outcome"], "succeeded", "{done}");
        let now = ok(&base, &root, "GET", &format!("secret/data/{path}"), None).await;
        secrets.push(text(&now["data"]["data"]["password"]));
    }

    p.child.kill().unwrap();
    p.child.wait().unwrap();
    let log = p.log.lock().unwrap().clone();
    assert!(log.contains("DEBUG"), "debug logging was not on");
    assert!(log.contains("path=database/creds/readonly"), "requests were not logged");
    for secret in &secrets {
        for form in leaked_forms(secret) {
            assert!(!log.contains(&form), "a secret reached the log in the form {form:?}");
        }
    }
}
