//! The database secrets engine against a real PostgreSQL that checks passwords (a private
//! `scram-sha-256` cluster): dynamic credentials log in and do what their statements grant, and
//! stop working when their lease is revoked, expires or its token goes; static roles rotate;
//! lease-count quotas answer 429.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

use crate::harness::{until, TestServer};
use crate::pg_faults::OwnCluster;

pub(crate) const ROOT_PW: &str = "r00t-Secret-pw";

/// A scram cluster with table `t` (one row), and a dev server with `database/` mounted and
/// configured for it (role `readonly` may use it).
pub(crate) async fn setup() -> (OwnCluster, TestServer) {
    let pg = tokio::task::spawn_blocking(|| OwnCluster::start_scram(ROOT_PW)).await.unwrap();
    let mut admin = PgConnection::connect(&pg.url_as("postgres", ROOT_PW)).await.unwrap();
    sqlx::raw_sql("create table t (v int); insert into t values (42);").execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    let s = TestServer::dev().await;
    let (st, v) = s.call("POST", "sys/mounts/database", Some(json!({"type": "database"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let url = format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable", pg.port);
    let (st, v) = s
        .call(
            "POST",
            "database/config/pg",
            Some(json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": url,
                "username": "postgres",
                "password": ROOT_PW,
                "allowed_roles": ["readonly", "short", "app"],
            })),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    role(&s, "readonly", "1h").await;
    (pg, s)
}

async fn role(s: &TestServer, name: &str, ttl: &str) {
    let (st, v) = s
        .call(
            "POST",
            &format!("database/roles/{name}"),
            Some(json!({
                "db_name": "pg",
                "creation_statements": [
                    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                    "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";"
                ],
                "default_ttl": ttl,
                "max_ttl": "24h",
            })),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
}

async fn login(pg: &OwnCluster, user: &str, password: &str) -> Result<PgConnection, sqlx::Error> {
    PgConnection::connect(&pg.url_as(user, password)).await
}

pub(crate) async fn role_exists(pg: &OwnCluster, user: &str) -> bool {
    let mut admin = login(pg, "postgres", ROOT_PW).await.unwrap();
    let n: i64 = sqlx::query_scalar("select count(*) from pg_roles where rolname = $1")
        .bind(user)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    n == 1
}

/// A child token that may read `database/creds/*` and nothing else.
async fn db_user_token(s: &TestServer) -> String {
    let policy = "path \"database/creds/*\" { capabilities = [\"read\"] }";
    let (st, _) = s.call("PUT", "sys/policies/acl/dbuser", Some(json!({ "policy": policy }))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, t) = s.call("POST", "auth/token/create", Some(json!({"policies": ["dbuser"]}))).await;
    t["auth"]["client_token"].as_str().unwrap().to_string()
}

pub(crate) fn creds_of(v: &Value) -> (String, String, String) {
    let s = |x: &Value| x.as_str().unwrap().to_string();
    (s(&v["lease_id"]), s(&v["data"]["username"]), s(&v["data"]["password"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_credentials_work_until_revoked_and_the_role_is_dropped() {
    let (pg, s) = setup().await;
    // The stored root password never comes back.
    let (st, cfg) = s.call("GET", "database/config/pg", None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(!cfg.to_string().contains(ROOT_PW), "{cfg}");
    assert_eq!(cfg["data"]["connection_details"]["username"], "postgres");
    assert_eq!(cfg["data"]["allowed_roles"], json!(["readonly", "short", "app"]));

    let (st, v) = s.call("GET", "database/creds/readonly", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (lease, user, password) = creds_of(&v);
    assert!(lease.starts_with("database/creds/readonly/"), "{lease}");
    assert_eq!(lease.rsplit('/').next().unwrap().len(), 24);
    assert_eq!((v["renewable"].clone(), v["lease_duration"].clone()), (json!(true), json!(3600)));
    assert!(user.starts_with("v-root-readonly-") || user.starts_with("v-token-readonly-"), "{user}");
    assert_eq!(password.len(), 20);

    // The user logs in and can do what the creation statements granted, and nothing more.
    let mut app = login(&pg, &user, &password).await.unwrap();
    let n: i32 = sqlx::query_scalar("select v from t").fetch_one(&mut app).await.unwrap();
    assert_eq!(n, 42);
    let denied = sqlx::query("insert into t values (1)").execute(&mut app).await.unwrap_err();
    assert!(denied.to_string().contains("permission denied"), "{denied}");
    assert!(login(&pg, &user, "wrong-password").await.is_err());

    let (st, l) = s.call("PUT", "sys/leases/lookup", Some(json!({"lease_id": lease}))).await;
    assert_eq!(st, StatusCode::OK, "{l}");
    assert_eq!(l["data"]["path"], "database/creds/readonly");
    assert!(l["data"]["ttl"].as_i64().unwrap() > 3500);
    let (st, r) = s.call("PUT", "sys/leases/renew", Some(json!({"lease_id": lease, "increment": 7200}))).await;
    assert_eq!((st, r["lease_duration"].clone(), r["lease_id"].clone()), (StatusCode::OK, json!(7200), json!(lease)));
    let (st, r) = s.call("PUT", "sys/leases/renew", Some(json!({"lease_id": lease, "increment": "200h"}))).await;
    assert_eq!(st, StatusCode::OK);
    assert!(r["lease_duration"].as_i64().unwrap() <= 86400);
    assert!(r["warnings"][0].as_str().unwrap().contains("exceeded the effective max_ttl"), "{r}");
    let (st, list) = s.call("LIST", "sys/leases/lookup/database/creds/readonly/", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["data"]["keys"], json!([lease.rsplit('/').next().unwrap()]));

    // Revoking ends the open session, drops the role, and the lease is gone.
    let (st, _) = s.call("PUT", "sys/leases/revoke", Some(json!({"lease_id": lease}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(sqlx::query("select 1").execute(&mut app).await.is_err(), "the user's session must be ended");
    assert!(login(&pg, &user, &password).await.is_err());
    assert!(!role_exists(&pg, &user).await);
    let (st, e) = s.call("PUT", "sys/leases/lookup", Some(json!({"lease_id": lease}))).await;
    assert_eq!((st, e), (StatusCode::BAD_REQUEST, json!({"errors": ["invalid lease"]})));

    // A wrapped answer keeps its lease: unwrapping gives the credentials and the lease fields.
    let resp = s.request("GET", "database/creds/readonly").header("X-Vault-Wrap-TTL", "5m").send().await.unwrap();
    let wrapped: Value = resp.json().await.unwrap();
    assert_eq!(wrapped["lease_id"], "", "the wrapping answer itself is not leased: {wrapped}");
    let wrap_token = wrapped["wrap_info"]["token"].as_str().unwrap().to_string();
    let (st, u) = s.call_as(&wrap_token, "POST", "sys/wrapping/unwrap", None).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert!(u["lease_id"].as_str().unwrap().starts_with("database/creds/readonly/"), "{u}");
    assert_eq!((u["renewable"].clone(), u["lease_duration"].clone()), (json!(true), json!(3600)));
    assert!(login(&pg, u["data"]["username"].as_str().unwrap(), u["data"]["password"].as_str().unwrap()).await.is_ok());

    // revoke-prefix drops every user of the role.
    let mut users = Vec::new();
    for _ in 0..2 {
        let (_, v) = s.call("GET", "database/creds/readonly", None).await;
        users.push(creds_of(&v));
    }
    let (st, _) = s.call("PUT", "sys/leases/revoke-prefix/database/creds/readonly", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    for (_, user, password) in &users {
        assert!(login(&pg, user, password).await.is_err());
        assert!(!role_exists(&pg, user).await);
    }
    let (st, _) = s.call("LIST", "sys/leases/lookup/database/creds/readonly", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Errors: an unknown role, a role the connection does not allow.
    let (st, e) = s.call("GET", "database/creds/nope", None).await;
    assert_eq!((st, e), (StatusCode::BAD_REQUEST, json!({"errors": ["unknown role: nope"]})));
    let (st, _) = s
        .call(
            "POST",
            "database/roles/other",
            Some(json!({"db_name": "pg", "creation_statements": "CREATE ROLE \"{{name}}\";"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, e) = s.call("GET", "database/creds/other", None).await;
    assert_eq!((st, e), (StatusCode::BAD_REQUEST, json!({"errors": ["\"other\" is not an allowed role"]})));
    s.stop().await;
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_token_revokes_its_leases_and_expired_leases_are_revoked_by_the_worker() {
    let (pg, s) = setup().await;
    // A child token's credentials go with the token.
    let child = db_user_token(&s).await;
    let (st, v) = s.call_as(&child, "GET", "database/creds/readonly", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (lease, user, password) = creds_of(&v);
    assert!(login(&pg, &user, &password).await.is_ok());
    let (st, _) = s.call("POST", "auth/token/revoke", Some(json!({"token": child}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.call("PUT", "sys/leases/lookup", Some(json!({"lease_id": lease}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(!role_exists(&pg, &user).await);

    // A two-second lease is revoked by the expiry worker.
    role(&s, "short", "2s").await;
    let (st, v) = s.call("GET", "database/creds/short", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["lease_duration"], 2);
    let (lease, user, _) = creds_of(&v);
    until("expiry of a 2 s lease", Duration::from_secs(15), || async {
        s.call("PUT", "sys/leases/lookup", Some(json!({"lease_id": lease}))).await.0 == StatusCode::BAD_REQUEST
    })
    .await;
    assert!(!role_exists(&pg, &user).await);
    s.stop().await;
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_revocation_stays_visible_and_is_retried_until_it_succeeds() {
    let (pg, s) = setup().await;
    let (st, v) = s
        .call(
            "POST",
            "database/roles/app",
            Some(json!({
                "db_name": "pg",
                "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}';"],
                "revocation_statements": ["DROP ROLE \"{{name}}\"; SELECT * FROM gate;"],
                "default_ttl": "1h",
            })),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (_, v) = s.call("GET", "database/creds/app", None).await;
    let (lease, user, _) = creds_of(&v);
    // The revocation statements need table `gate`, which does not exist yet: revocation fails.
    let (st, e) = s.call("PUT", "sys/leases/revoke", Some(json!({"lease_id": lease}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(e["errors"][0].as_str().unwrap().contains("gate"), "{e}");
    assert!(role_exists(&pg, &user).await, "a failed revocation changes nothing (one transaction)");
    let (_, l) = s.call("PUT", "sys/leases/lookup", Some(json!({"lease_id": lease}))).await;
    assert_eq!(l["data"]["revocation_attempts"], 1, "{l}");
    assert!(l["data"]["revocation_error"].as_str().unwrap().contains("gate"));
    let (_, c) = s.call("GET", "sys/leases/count?type=irrevocable", None).await;
    assert_eq!(c["data"]["lease_count"], 1);
    // Once the table exists, the worker's retry (after its backoff) succeeds.
    let mut admin = login(&pg, "postgres", ROOT_PW).await.unwrap();
    sqlx::raw_sql("create table gate (x int)").execute(&mut admin).await.unwrap();
    until("a retried revocation", Duration::from_secs(20), || async {
        s.call("PUT", "sys/leases/lookup", Some(json!({"lease_id": lease}))).await.0 == StatusCode::BAD_REQUEST
    })
    .await;
    assert!(!role_exists(&pg, &user).await);
    admin.close().await.unwrap();
    s.stop().await;
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_roles_rotate_the_password_and_the_old_one_stops_working() {
    let (pg, s) = setup().await;
    let mut admin = login(&pg, "postgres", ROOT_PW).await.unwrap();
    sqlx::raw_sql("create role app_static with login password 'initial-pw'").execute(&mut admin).await.unwrap();
    let (st, v) = s
        .call(
            "POST",
            "database/static-roles/app",
            Some(json!({"db_name": "pg", "username": "app_static", "rotation_period": "1h"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    assert!(login(&pg, "app_static", "initial-pw").await.is_err(), "creating the role rotates at once");
    let (st, c) = s.call("GET", "database/static-creds/app", None).await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!((c["lease_id"].clone(), c["data"]["username"].clone()), (json!(""), json!("app_static")));
    assert_eq!(c["data"]["rotation_period"], 3600);
    let first = c["data"]["password"].as_str().unwrap().to_string();
    assert!(login(&pg, "app_static", &first).await.is_ok());
    let (_, r) = s.call("GET", "database/static-roles/app", None).await;
    assert!(!r.to_string().contains(&first), "the role read never shows the password");
    let rotated_at = r["data"]["last_vault_rotation"].as_str().unwrap().to_string();

    let (st, _) = s.call("POST", "database/rotate-role/app", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, c) = s.call("GET", "database/static-creds/app", None).await;
    let second = c["data"]["password"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    assert!(login(&pg, "app_static", &first).await.is_err());
    assert!(login(&pg, "app_static", &second).await.is_ok());
    let (_, r) = s.call("GET", "database/static-roles/app", None).await;
    assert_ne!(r["data"]["last_vault_rotation"].as_str().unwrap(), rotated_at);

    // A short period: the background worker rotates on its own.
    let (st, _) = s.call("POST", "database/static-roles/app", Some(json!({"rotation_period": "5s"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    until("a scheduled rotation", Duration::from_secs(20), || async {
        let (_, c) = s.call("GET", "database/static-creds/app", None).await;
        c["data"]["password"].as_str().is_some_and(|p| p != second)
    })
    .await;
    let (_, c) = s.call("GET", "database/static-creds/app", None).await;
    assert!(login(&pg, "app_static", c["data"]["password"].as_str().unwrap()).await.is_ok());
    assert!(login(&pg, "app_static", &second).await.is_err());

    // Bad input.
    let (st, _) = s
        .call(
            "POST",
            "database/static-roles/both",
            Some(json!({"db_name": "pg", "username": "app_static", "rotation_period": "1h", "rotation_schedule": "0 * * * *"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = s
        .call(
            "POST",
            "database/static-roles/bad",
            Some(json!({"db_name": "pg", "username": "app_static", "rotation_schedule": "61 * * * *"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    admin.close().await.unwrap();
    s.stop().await;
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_count_quotas_answer_429_per_role_and_per_token() {
    let (pg, s) = setup().await;
    let (st, v) = s
        .call(
            "POST",
            "sys/quotas/lease-count/readonly",
            Some(json!({"path": "database/creds/readonly", "max_leases": 2, "max_leases_per_token": 1})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (_, q) = s.call("GET", "sys/quotas/lease-count/readonly", None).await;
    assert_eq!(q["data"]["max_leases"], 2);
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(db_user_token(&s).await);
    }
    assert_eq!(s.call_as(&tokens[0], "GET", "database/creds/readonly", None).await.0, StatusCode::OK);
    // The same token again: its own cap of one.
    let (st, e) = s.call_as(&tokens[0], "GET", "database/creds/readonly", None).await;
    assert_eq!((st, e), (StatusCode::TOO_MANY_REQUESTS, json!({"errors": ["lease count quota exceeded"]})));
    assert_eq!(s.call_as(&tokens[1], "GET", "database/creds/readonly", None).await.0, StatusCode::OK);
    // A third token: the role's cap of two.
    assert_eq!(s.call_as(&tokens[2], "GET", "database/creds/readonly", None).await.0, StatusCode::TOO_MANY_REQUESTS);
    // Nothing was created in the database for the refused requests.
    let mut admin = login(&pg, "postgres", ROOT_PW).await.unwrap();
    let n: i64 = sqlx::query_scalar("select count(*) from pg_roles where rolname like 'v-%'")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(n, 2);
    // Revoking frees a slot.
    let (st, _) = s.call("PUT", "sys/leases/revoke-prefix/database/creds/readonly", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = s.call_as(&tokens[2], "GET", "database/creds/readonly", None).await;
    assert_eq!(st, StatusCode::OK);
    // Unmounting revokes the mount's leases first: the user is dropped.
    let user = v["data"]["username"].as_str().unwrap().to_string();
    assert!(role_exists(&pg, &user).await);
    let (st, _) = s.call("DELETE", "sys/mounts/database", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(!role_exists(&pg, &user).await);
    let (_, c) = s.call("GET", "sys/leases/count", None).await;
    assert_eq!(c["data"]["lease_count"], 0);
    admin.close().await.unwrap();
    s.stop().await;
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_issued_before_a_kill_9_are_still_revoked_after_the_restart() {
    use crate::restart::{call, init, spawn, write_config};
    let pg = tokio::task::spawn_blocking(|| OwnCluster::start_scram(ROOT_PW)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let mut p = spawn(&cfg);
    let token = init(&p.base).await;
    let ok = |(st, v): (StatusCode, Value)| assert!(st.is_success(), "{st} {v}");
    ok(call(&p.base, &token, "POST", "sys/mounts/database", Some(json!({"type": "database"}))).await);
    let url = format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres", pg.port);
    let body = json!({"connection_url": url, "username": "postgres", "password": ROOT_PW, "allowed_roles": "*"});
    ok(call(&p.base, &token, "POST", "database/config/pg", Some(body)).await);
    for (name, ttl) in [("short", "3s"), ("long", "1h")] {
        let body = json!({
            "db_name": "pg",
            "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}';"],
            "default_ttl": ttl,
        });
        ok(call(&p.base, &token, "POST", &format!("database/roles/{name}"), Some(body)).await);
    }
    let mut short = Vec::new();
    for _ in 0..3 {
        let (st, v) = call(&p.base, &token, "GET", "database/creds/short", None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        short.push(creds_of(&v));
    }
    let (_, v) = call(&p.base, &token, "GET", "database/creds/long", None).await;
    let long = creds_of(&v);
    p.child.kill().unwrap(); // SIGKILL, before any short lease is due
    p.child.wait().unwrap();

    let mut p = spawn(&cfg);
    until("revocation of every due lease after the restart", Duration::from_secs(30), || async {
        let mut all_gone = true;
        for (_, user, _) in &short {
            all_gone &= !role_exists(&pg, user).await;
        }
        all_gone
    })
    .await;
    for (lease, user, password) in &short {
        assert!(login(&pg, user, password).await.is_err());
        let (st, _) = call(&p.base, &token, "PUT", "sys/leases/lookup", Some(json!({"lease_id": lease}))).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
    }
    // The lease that is not due yet is untouched.
    assert!(login(&pg, &long.1, &long.2).await.is_ok());
    let (st, _) = call(&p.base, &token, "PUT", "sys/leases/lookup", Some(json!({"lease_id": long.0}))).await;
    assert_eq!(st, StatusCode::OK);
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    drop(pg);
}

/// The stored admin password only ever goes to the host, port and user it was given for.
#[tokio::test]
async fn changing_the_connection_target_needs_the_password_again() {
    let s = TestServer::dev().await;
    let (st, v) = s.call("POST", "sys/mounts/database", Some(json!({"type": "database"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let url = |host_port: &str| format!("postgresql://{{{{username}}}}:{{{{password}}}}@{host_port}/postgres");
    let write = |body: Value| s.call("POST", "database/config/pg", Some(body));
    let (st, v) = write(json!({
        "connection_url": url("db.internal:5432"),
        "username": "admin",
        "password": ROOT_PW,
        "verify_connection": false,
    }))
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    for change in [
        json!({"connection_url": url("evil.example:5432")}),
        json!({"connection_url": url("db.internal:6543")}),
        json!({"username": "postgres"}),
        json!({"connection_url": "postgresql://postgres:{{password}}@db.internal/postgres"}),
    ] {
        let mut body = change.clone();
        body["verify_connection"] = json!(false);
        let (st, v) = write(body).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{change}: {v}");
        assert!(v["errors"][0].as_str().unwrap().contains("give the password again"), "{v}");
        assert!(!v.to_string().contains(ROOT_PW));
        let (_, r) = s.call("GET", "database/config/pg", None).await;
        assert_eq!(r["data"]["connection_details"]["connection_url"], url("db.internal:5432"), "{change}");
        assert_eq!(r["data"]["connection_details"]["username"], "admin");
    }
    // The same place spelled differently, or other settings, need no password.
    let (st, v) = write(json!({
        "connection_url": url("DB.internal"),
        "allowed_roles": ["app"],
        "verify_connection": false,
    }))
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    // With the password, the target may change.
    let (st, v) = write(json!({
        "connection_url": url("other.internal:5432"),
        "password": "another-pw",
        "verify_connection": false,
    }))
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
}
