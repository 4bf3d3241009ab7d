//! Rotation as an attacker tries it: a postgres rotator needs the caller's own `update` on the
//! connection, never targets the connection's user or a superuser, and stops once its authority
//! loses the right (SEC-31); webhook URLs come only from the operator's allow-list, whose
//! connections are pinned and never redirected (SEC-34).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::TimeDelta;
use coffer::base::schedule::ManualClock;
use coffer::core::outbound::{AllowedUrl, Permit};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};

use crate::harness::TestServer;
use crate::rotation::{
    allow_outbound, configure, core, creds, leader, login, pg_setup, rotate, start_hook, status, wait_ended, HOOK_KEY,
    ROOT_PW,
};

/// A token whose only policy is `name`, written with `hcl`.
async fn token_with(s: &TestServer, name: &str, hcl: &str) -> (String, String) {
    put_policy(s, name, hcl).await;
    let (st, v) =
        s.call("POST", "auth/token/create", Some(json!({"policies": [name], "no_default_policy": true}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    (v["auth"]["client_token"].as_str().unwrap().to_string(), v["auth"]["accessor"].as_str().unwrap().to_string())
}

async fn put_policy(s: &TestServer, name: &str, hcl: &str) {
    let (st, v) = s.call("PUT", &format!("sys/policies/acl/{name}"), Some(json!({ "policy": hcl }))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
}

const KV_ALL: &str = r#"path "secret/*" { capabilities = ["create", "read", "update", "delete", "list"] }"#;

fn dba_policy() -> String {
    format!("{KV_ALL}\npath \"database/config/pg\" {{ capabilities = [\"update\"] }}\n")
}

fn pg_rotator(db_name: &str, user: &str) -> Value {
    json!({"schedule": "rate(30 days)", "rotator": {"type": "postgres", "db_name": db_name, "username": user}})
}

fn error(v: &Value) -> String {
    v["errors"][0].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sec31_a_kv_only_token_cannot_rotate_through_a_database_connection() {
    let (pg, s) = pg_setup(&[("app", "initial-app-pw", true)]).await;
    let (kv, _) = token_with(&s, "kv-only", KV_ALL).await;
    // Reading the connection is not administering it.
    let (reader, _) = token_with(
        &s,
        "kv-and-db-read",
        &format!("{KV_ALL}\npath \"database/config/pg\" {{ capabilities = [\"read\"] }}\n"),
    )
    .await;
    s.write("secret/data/db", json!({"username": "app", "password": "initial-app-pw"})).await;
    for token in [&kv, &reader] {
        for (db_name, user) in [("pg", "postgres"), ("pg", "app"), ("nope", "app")] {
            let (st, v) = s.call_as(token, "POST", "secret/rotation/db", Some(pg_rotator(db_name, user))).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{db_name}/{user}: {v}");
            // The same answer whether or not the connection exists: nothing about it leaks.
            assert!(error(&v).contains(&format!("database/config/{db_name}")), "{v}");
        }
    }
    let (st, _) = s.call("GET", "secret/rotation/db", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "nothing was stored");
    login(&pg, "postgres", ROOT_PW).await.expect("the superuser's password is untouched");
    login(&pg, "app", "initial-app-pw").await.expect("app's password is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sec31_the_connection_user_and_superusers_are_never_targets() {
    let (pg, s) = pg_setup(&[("app", "initial-app-pw", true), ("boss", "boss-pw", true)]).await;
    let mut admin = PgConnection::connect(&pg.url_as("postgres", ROOT_PW)).await.unwrap();
    sqlx::raw_sql("alter role boss superuser").execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    let (dba, accessor) = token_with(&s, "dba", &dba_policy()).await;
    s.write("secret/data/db", json!({"username": "app", "password": "initial-app-pw"})).await;
    for (user, expected) in [
        ("postgres", "connection's own user"),
        ("boss", "superuser"),
        ("ghost", "does not exist"),
        (" app", "whitespace"),
        ("app\u{200b}", "zero-width"),
    ] {
        let (st, v) = s.call_as(&dba, "POST", "secret/rotation/db", Some(pg_rotator("pg", user))).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{user:?}: {v}");
        assert!(error(&v).contains(expected), "{user:?}: expected {expected:?} in {v}");
    }
    // The connection's allowed_roles apply to a rotator's roles as to static roles.
    let (st, v) = s.call("POST", "database/config/pg", Some(json!({"allowed_roles": ["reader"]}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, v) = s.call_as(&dba, "POST", "secret/rotation/db", Some(pg_rotator("pg", "app"))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(error(&v).contains("allowed_roles"), "{v}");
    let (st, _) = s.call("GET", "secret/rotation/db", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "nothing was stored");
    let (st, v) = s.call("POST", "database/config/pg", Some(json!({"allowed_roles": ["*"]}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");

    // An allowed role: stored with who authorised it.
    let cfg = s.call_as(&dba, "POST", "secret/rotation/db", Some(pg_rotator("pg", "app"))).await;
    assert_eq!(cfg.0, StatusCode::OK, "{}", cfg.1);
    assert_eq!(cfg.1["data"]["authorized_by"], json!({"accessor": accessor, "entity_id": "", "policies": ["dba"]}));

    // Static roles of the database engine refuse the same targets, even for root.
    for (user, expected) in [("postgres", "connection's own user"), ("boss", "superuser")] {
        let (st, v) = s
            .call(
                "POST",
                &format!("database/static-roles/s-{user}"),
                Some(json!({"db_name": "pg", "username": user, "rotation_period": "24h"})),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{user}: {v}");
        assert!(error(&v).contains(expected), "{user}: {v}");
    }
    login(&pg, "postgres", ROOT_PW).await.expect("the connection user's password is untouched");
    login(&pg, "boss", "boss-pw").await.expect("the superuser's password is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sec31_a_rotation_stops_once_its_authority_loses_the_right() {
    let (pg, s) = pg_setup(&[("app", "initial-app-pw", true)]).await;
    let c = core(&s);
    let (dba, _) = token_with(&s, "dba", &dba_policy()).await;
    s.write("secret/data/db", json!({"username": "app", "password": "initial-app-pw"})).await;
    let (st, v) = s.call_as(&dba, "POST", "secret/rotation/db", Some(pg_rotator("pg", "app"))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = s.call_as(&dba, "POST", "secret/rotate/db", None).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    assert_eq!(wait_ended(&s, "db", 1).await["last_outcome"], "succeeded");
    let (user, password) = creds(&s.read("secret/data/db").await);

    // The operator takes the right away: neither a manual start (even by root) nor the schedule
    // acts on the database any more, and the status says why.
    put_policy(&s, "dba", KV_ALL).await;
    let (st, v) = rotate(&s, "db").await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert!(error(&v).contains("no longer grant"), "{v}");
    let next = chrono::DateTime::parse_from_rfc3339(status(&s, "db").await["next_rotation"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let clock = ManualClock::new(next + TimeDelta::seconds(1));
    coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await;
    let st = status(&s, "db").await;
    assert_eq!((st["stopped"].clone(), st["next_rotation"].clone()), (json!(true), Value::Null), "{st}");
    assert_eq!(st["rotations_failed"], 1, "{st}");
    assert!(st["last_error"].as_str().unwrap().contains("no longer grant"), "{st}");
    clock.set(next + TimeDelta::days(90));
    assert_eq!(
        coffer::engines::kv::rotation::tick(&crate::harness::kv_work(&c), &clock).await,
        0,
        "a stopped rotation is not due again"
    );
    assert_eq!(creds(&s.read("secret/data/db").await), (user.clone(), password.clone()));
    login(&pg, &user, &password).await.expect("the role's password was not changed");

    // Written again by someone who holds the right, it is scheduled again.
    let (st, v) = s.call("POST", "secret/rotation/db", Some(pg_rotator("pg", "app"))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (v["data"]["stopped"].clone(), v["data"]["authorized_by"]["policies"].clone()),
        (json!(false), json!(["root"]))
    );
    assert!(v["data"]["next_rotation"].is_string(), "{v}");
}

fn hook_body(url: &str) -> Value {
    json!({"schedule": "rate(7 days)", "rotator": {"type": "webhook", "url": url, "hmac_key": HOOK_KEY}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sec34_webhook_urls_must_match_an_operator_allow_list_entry() {
    let s = leader().await;
    s.write("secret/data/h", json!({"api_key": "original"})).await;
    // An empty list allows nothing, metadata and loopback included.
    for url in ["https://rotator.example/h", "https://169.254.169.254/latest/meta-data/", "http://127.0.0.1:9/h"] {
        let (st, v) = configure(&s, "h", hook_body(url)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{url}: {v}");
        assert!(error(&v).contains("not allowed"), "{url}: {v}");
    }
    // Only sudo changes the list; reading it needs read.
    let (kv, _) = token_with(
        &s,
        "kv-outbound",
        &format!("{KV_ALL}\npath \"sys/config/outbound\" {{ capabilities = [\"read\", \"update\", \"delete\"] }}\n"),
    )
    .await;
    let (st, _) =
        s.call_as(&kv, "PUT", "sys/config/outbound", Some(json!({"allowed_urls": ["https://x.example/"]}))).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = s.call_as(&kv, "DELETE", "sys/config/outbound", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, v) = s.call_as(&kv, "GET", "sys/config/outbound", None).await;
    assert_eq!((st, v["data"]["allowed_urls"].clone()), (StatusCode::OK, json!([])));
    // Entries are checked and must be in their normal form.
    for bad in ["https://ROTATOR.example/", "ftp://rotator.example/", "https://u:p@rotator.example/", "https://h/?a=1"]
    {
        let (st, v) = s.call("PUT", "sys/config/outbound", Some(json!({"allowed_urls": [bad]}))).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }

    // One prefix: compared parsed, on a path boundary, host and port exact.
    allow_outbound(&s, "https://rotator.example/hooks/").await;
    for url in [
        "https://rotator.example.evil.net/hooks/x",
        "https://rotator.examplex/hooks/x",
        "https://rotator.example/hooksx",
        "https://rotator.example:8443/hooks/x",
        "https://rotator.example/other/x",
        "https://rotator.example/hooks/../admin",
    ] {
        let (st, v) = configure(&s, "h", hook_body(url)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{url}: {v}");
        assert!(error(&v).contains("not allowed"), "{url}: {v}");
    }

    // A local hook: only a literal entry reaches a loopback address; names and other spellings
    // of it do not.
    let (hook, url) = start_hook(&s, HOOK_KEY).await;
    let port = url.trim_start_matches("http://127.0.0.1:").trim_end_matches("/hook").to_string();
    allow_outbound(&s, &format!("http://localhost:{port}/")).await;
    for hidden in [format!("http://localhost:{port}/hook"), format!("https://[::ffff:127.0.0.1]:{port}/hook")] {
        let (st, v) = configure(&s, "h", hook_body(&hidden)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{hidden}: {v}");
        assert!(error(&v).contains("not allowed"), "{hidden}: {v}");
    }
    let (st, v) = configure(&s, "h", hook_body(&url)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    rotate(&s, "h").await;
    assert_eq!(wait_ended(&s, "h", 1).await["last_outcome"], "succeeded");
    assert_eq!(hook.steps().len(), 4);

    // The operator removes the entry: the next rotation stops before calling the hook.
    let (st, v) = s.call("PUT", "sys/config/outbound", Some(json!({"allowed_urls": []}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    rotate(&s, "h").await;
    let done = wait_ended(&s, "h", 2).await;
    assert_eq!((done["last_outcome"].clone(), done["stopped"].clone()), (json!("failed"), json!(true)), "{done}");
    assert!(done["last_error"].as_str().unwrap().contains("not allowed"), "{done}");
    assert_eq!(hook.steps().len(), 4, "the hook was not called again");
}

/// A hook that redirects every call elsewhere, and a target that counts what reaches it.
async fn redirecting_hook() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counted = hits.clone();
    let app = axum::Router::new()
        .route(
            "/redirect",
            axum::routing::post(move || async move {
                (axum::http::StatusCode::TEMPORARY_REDIRECT, [("location", format!("http://{addr}/target"))])
            }),
        )
        .route(
            "/target",
            axum::routing::post(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { (axum::http::StatusCode::OK, "{\"data\": {\"api_key\": \"stolen\"}}") }
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sec34_config_entries_stay_redirects_are_not_followed_and_connections_are_pinned() {
    let s = leader().await;
    let c = core(&s);
    // Entries of the config file are in force and cannot be removed through the API.
    c.outbound.set_config(vec![AllowedUrl::parse("https://config.example/hooks/").unwrap()]);
    let (st, v) = s.call("DELETE", "sys/config/outbound", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (_, v) = s.call("GET", "sys/config/outbound", None).await;
    assert_eq!(v["data"]["allowed_urls"], json!(["https://config.example/hooks/"]), "{v}");
    assert_eq!(v["data"]["config_allowed_urls"], json!(["https://config.example/hooks/"]), "{v}");

    // A redirect is an answer, not an instruction: the step fails, the other URL is never called.
    let (base, hits) = redirecting_hook().await;
    allow_outbound(&s, &format!("{base}/")).await;
    s.write("secret/data/r", json!({"api_key": "original"})).await;
    let (st, v) = configure(
        &s,
        "r",
        json!({"schedule": "rate(7 days)", "max_attempts": 1,
               "rotator": {"type": "webhook", "url": format!("{base}/redirect"), "hmac_key": HOOK_KEY}}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    rotate(&s, "r").await;
    let done = wait_ended(&s, "r", 1).await;
    assert_eq!(done["last_outcome"], "failed", "{done}");
    assert!(done["last_error"].as_str().unwrap().contains("HTTP 307"), "{done}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert_eq!(s.read("secret/data/r").await, json!({"api_key": "original"}));

    // The connection goes to the address checked, not to whatever the name resolves to later:
    // a name that resolves nowhere still reaches the pinned address.
    let target: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let permit = Permit {
        url: reqwest::Url::parse(&format!("http://pinned.invalid:{}/target", target.port())).unwrap(),
        addr: target,
    };
    let resp = permit.client_builder().build().unwrap().post(permit.url.clone()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
