//! The database engine with an admin that is not a superuser (`CREATEROLE` only, as managed
//! PostgreSQL gives), set up with the README's recipe: revocation by hand and by expiry drops the
//! user, and the `irrevocable` count agrees with its per-mount counts.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

use crate::database::{creds_of, role_exists, ROOT_PW};
use crate::harness::{until, TestServer};
use crate::pg_faults::OwnCluster;

const ADMIN_PW: &str = "Adm1n-createrole-pw";

/// The README's SQL block that creates the admin, with the test's password.
fn readme_recipe() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("```sql\n-- A CREATEROLE admin for Coffer").expect("the README's admin recipe");
    let block = &readme[start + "```sql\n".len()..];
    let block = &block[..block.find("```").unwrap()];
    assert!(block.contains("'change-me'"), "{block}");
    block.replace("'change-me'", &format!("'{ADMIN_PW}'"))
}

/// A scram cluster with table `t`, admin `coffer` created by the README's recipe (checked to be
/// no superuser), and a dev server whose `database/` mount uses that admin.
async fn setup() -> (OwnCluster, TestServer) {
    let pg = tokio::task::spawn_blocking(|| OwnCluster::start_scram(ROOT_PW)).await.unwrap();
    let mut root = PgConnection::connect(&pg.url_as("postgres", ROOT_PW)).await.unwrap();
    sqlx::raw_sql("create table t (v int); insert into t values (42);").execute(&mut root).await.unwrap();
    sqlx::raw_sql(&readme_recipe()).execute(&mut root).await.unwrap();
    let (superuser, createrole): (bool, bool) =
        sqlx::query_as("select rolsuper, rolcreaterole from pg_roles where rolname = 'coffer'")
            .fetch_one(&mut root)
            .await
            .unwrap();
    assert_eq!((superuser, createrole), (false, true));
    root.close().await.unwrap();
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
                "username": "coffer",
                "password": ADMIN_PW,
                "allowed_roles": "*",
            })),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    (pg, s)
}

async fn role(s: &TestServer, name: &str, ttl: &str, revocation: &[&str]) {
    let mut body = json!({
        "db_name": "pg",
        "creation_statements": [
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";"
        ],
        "default_ttl": ttl,
    });
    if !revocation.is_empty() {
        body["revocation_statements"] = json!(revocation);
    }
    let (st, v) = s.call("POST", &format!("database/roles/{name}"), Some(body)).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
}

async fn creds(s: &TestServer, role: &str) -> (String, String, String) {
    let (st, v) = s.call("GET", &format!("database/creds/{role}"), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    creds_of(&v)
}

async fn irrevocable(s: &TestServer) -> Value {
    let (st, c) = s.call("GET", "sys/leases/count?type=irrevocable", None).await;
    assert_eq!(st, StatusCode::OK, "{c}");
    c["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_createrole_admin_drops_dynamic_users_on_revoke_and_on_expiry() {
    let (pg, s) = setup().await;
    role(&s, "readonly", "1h", &[]).await;
    let (lease, user, password) = creds(&s, "readonly").await;
    // The user works, and keeps a session open: the admin must be able to end it.
    let mut app = PgConnection::connect(&pg.url_as(&user, &password)).await.unwrap();
    let n: i32 = sqlx::query_scalar("select v from t").fetch_one(&mut app).await.unwrap();
    assert_eq!(n, 42);
    let (st, e) = s.call("PUT", "sys/leases/revoke", Some(json!({"lease_id": lease}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{e}");
    assert!(!role_exists(&pg, &user).await, "the revoked user's role is dropped");
    assert!(sqlx::query("select 1").execute(&mut app).await.is_err(), "its session is ended");
    assert_eq!(s.call("PUT", "sys/leases/lookup", Some(json!({"lease_id": lease}))).await.0, StatusCode::BAD_REQUEST);

    // Three-second leases are dropped by the expiry worker (several at once, in parallel).
    role(&s, "short", "3s", &[]).await;
    let mut short = Vec::new();
    for _ in 0..5 {
        let c = creds(&s, "short").await;
        assert!(role_exists(&pg, &c.1).await);
        short.push(c);
    }
    for (lease, user, _) in &short {
        until("expiry of a 3 s lease", Duration::from_secs(20), || async {
            s.call("PUT", "sys/leases/lookup", Some(json!({"lease_id": lease}))).await.0 == StatusCode::BAD_REQUEST
        })
        .await;
        assert!(!role_exists(&pg, user).await, "the expired user's role is dropped");
    }

    // A user that created a table: `DROP OWNED` (which needs the membership) drops it too, where
    // `REVOKE …; DROP ROLE` alone would fail ("some objects depend on it").
    let mut root = PgConnection::connect(&pg.url_as("postgres", ROOT_PW)).await.unwrap();
    sqlx::raw_sql("GRANT CREATE ON SCHEMA public TO coffer WITH GRANT OPTION").execute(&mut root).await.unwrap();
    let body = json!({
        "db_name": "pg",
        "creation_statements": [
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}';",
            "GRANT CREATE ON SCHEMA public TO \"{{name}}\";"
        ],
    });
    let (st, v) = s.call("POST", "database/roles/builder", Some(body)).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (lease, user, password) = creds(&s, "builder").await;
    let mut app = PgConnection::connect(&pg.url_as(&user, &password)).await.unwrap();
    sqlx::raw_sql("create table built_by_user (x int)").execute(&mut app).await.unwrap();
    app.close().await.unwrap();
    let (st, e) = s.call("PUT", "sys/leases/revoke", Some(json!({"lease_id": lease}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{e}");
    assert!(!role_exists(&pg, &user).await, "the user who owned a table is dropped");
    let tables: i64 = sqlx::query_scalar("select count(*) from pg_tables where tablename = 'built_by_user'")
        .fetch_one(&mut root)
        .await
        .unwrap();
    assert_eq!(tables, 0, "what the user owned is dropped with it");
    root.close().await.unwrap();
    assert_eq!(irrevocable(&s).await, json!({"counts": {}, "lease_count": 0}));
    s.stop().await;
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_irrevocable_count_agrees_with_its_per_mount_counts() {
    let (pg, s) = setup().await;
    // Table `gate` does not exist: every revocation of this role fails.
    role(&s, "stuck", "1h", &["SELECT * FROM gate; DROP ROLE \"{{name}}\";"]).await;
    role(&s, "fine", "1h", &[]).await;
    let (_, mounts) = s.call("GET", "sys/mounts", None).await;
    let accessor = mounts["data"]["database/"]["accessor"].as_str().unwrap().to_string();
    let (a, b, c) = (creds(&s, "stuck").await, creds(&s, "stuck").await, creds(&s, "stuck").await);
    creds(&s, "fine").await;
    assert_eq!(irrevocable(&s).await, json!({"counts": {}, "lease_count": 0}));

    // Synchronous (the API's default): the failure is the answer, as in Vault.
    for lease in [&a.0, &b.0] {
        let (st, e) = s.call("PUT", "sys/leases/revoke", Some(json!({"lease_id": lease}))).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
        assert!(e["errors"][0].as_str().unwrap().contains("gate"), "{e}");
    }
    assert_eq!(irrevocable(&s).await, json!({"counts": {accessor.clone(): 2}, "lease_count": 2}));
    // `sync=false` (what `bao lease revoke` sends): 202 at once, the failure shows in the count.
    let (st, e) = s.call("PUT", "sys/leases/revoke", Some(json!({"lease_id": c.0, "sync": false}))).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{e}");
    until("the background revocation to fail", Duration::from_secs(20), || async {
        irrevocable(&s).await["lease_count"] == 3
    })
    .await;
    assert_eq!(irrevocable(&s).await, json!({"counts": {accessor.clone(): 3}, "lease_count": 3}));
    for (_, user, _) in [&a, &b, &c] {
        assert!(role_exists(&pg, user).await, "a failed revocation leaves the user");
    }
    // Without `type`, every lease, in the same shape.
    let (_, all) = s.call("GET", "sys/leases/count", None).await;
    assert_eq!(all["data"], json!({"counts": {accessor: 4}, "lease_count": 4}));
    s.stop().await;
    drop(pg);
}

/// The real binary's log: a lease whose revocation keeps failing is named, with its error, at
/// every attempt, and the line points at the `irrevocable` count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_revocation_is_logged_with_its_lease_id_and_error() {
    use crate::restart::{call, init, spawn, write_config};
    let pg = tokio::task::spawn_blocking(|| OwnCluster::start_scram(ROOT_PW)).await.unwrap();
    let mut root = PgConnection::connect(&pg.url_as("postgres", ROOT_PW)).await.unwrap();
    sqlx::raw_sql(&readme_recipe()).execute(&mut root).await.unwrap();
    root.close().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn(&write_config(dir.path()));
    let token = init(&p.base).await;
    let ok = |(st, v): (StatusCode, Value)| assert!(st.is_success(), "{st} {v}");
    ok(call(&p.base, &token, "POST", "sys/mounts/database", Some(json!({"type": "database"}))).await);
    let url = format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres", pg.port);
    let body = json!({"connection_url": url, "username": "coffer", "password": ADMIN_PW, "allowed_roles": "*"});
    ok(call(&p.base, &token, "POST", "database/config/pg", Some(body)).await);
    let body = json!({
        "db_name": "pg",
        "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}';"],
        "revocation_statements": ["SELECT * FROM missing_gate; DROP ROLE \"{{name}}\";"],
        "default_ttl": "1s",
    });
    ok(call(&p.base, &token, "POST", "database/roles/stuck", Some(body)).await);
    let (st, v) = call(&p.base, &token, "GET", "database/creds/stuck", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (lease, user, _) = creds_of(&v);
    until("two failed attempts in the log", Duration::from_secs(30), || {
        let log = p.log.lock().unwrap().clone();
        let lease = lease.clone();
        async move {
            log.lines()
                .filter(|l| l.contains("WARN") && l.contains(&lease) && l.contains("lease revocation failed"))
                .filter(|l| l.contains("missing_gate") && l.contains("sys/leases/count?type=irrevocable"))
                .count()
                >= 2
        }
    })
    .await;
    let (_, c) = call(&p.base, &token, "GET", "sys/leases/count?type=irrevocable", None).await;
    assert_eq!(c["data"]["lease_count"], 1, "{c}");
    assert!(role_exists(&pg, &user).await);
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    drop(pg);
}
