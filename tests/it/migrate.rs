//! `coffer operator migrate` through the real binary: a SQLite store copied into a fresh
//! PostgreSQL database serves the same secrets, tokens and logins under the same key file; a
//! non-empty target is refused untouched; a wrong key copies nothing; a damaged ciphertext is
//! reported by `--verify-only`.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use coffer::core::seal::SealKind;
use coffer::server;
use coffer::server::http::Listener;
use coffer::store::copy::Cell;
use coffer::store::SharedStore;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;

use crate::harness::{limits, random_text, TestServer};
use crate::store_contract::fresh_pg;

/// Runs `coffer operator migrate ARGS` (with `stdin` piped in); returns (exit code, stdout, stderr).
fn migrate_with_stdin(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["operator", "migrate"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn migrate(args: &[&str]) -> (i32, String, String) {
    migrate_with_stdin(args, "")
}

fn key_file(dir: &Path) -> PathBuf {
    let path = dir.join("unseal.key");
    std::fs::write(&path, coffer::crypto::random_bytes::<32>()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("coffer.db").display())
}

/// A key-file server over a fresh SQLite store, initialised, with KV v2 at `secret/`.
async fn keyfile_server(key: &Path) -> TestServer {
    let mut s = TestServer::start_with(SealKind::KeyFile(key.to_path_buf()), limits()).await;
    let (st, v) = s.call_as("", "PUT", "sys/init", Some(json!({}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    s.token = v["root_token"].as_str().unwrap().to_string();
    let (st, v) = s.call("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    s
}

/// A key-file server over the store at `url`.
async fn server_on(url: &str, key: &Path, token: &str) -> TestServer {
    let store = coffer::store::open(url).await.unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running =
        server::start(store, SealKind::KeyFile(key.to_path_buf()), Listener::Plain(tcp), limits()).await.unwrap();
    let base = format!("http://{}", running.addr);
    TestServer {
        running: Some(running),
        base,
        client: reqwest::Client::new(),
        token: token.to_string(),
        dir: tempfile::tempdir().unwrap(),
    }
}

/// Every table's columns and rows, flags as integers and rows sorted: equal for equal contents
/// whatever the backend.
async fn contents(store: &SharedStore) -> BTreeMap<String, (Vec<String>, Vec<Vec<Cell>>)> {
    let mut out = BTreeMap::new();
    for t in store.dump_tables().await.unwrap() {
        let mut rows: Vec<Vec<Cell>> = t.rows.iter().map(|r| r.iter().map(Cell::canonical).collect()).collect();
        rows.sort();
        out.insert(t.table, (t.columns, rows));
    }
    out
}

async fn total_rows(store: &SharedStore) -> u64 {
    store.count_rows().await.unwrap().iter().map(|(_, n)| n).sum()
}

/// The summary line that starts with `label` (after indentation).
fn line<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("no {label:?} line in:\n{out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_moves_to_postgres_and_serves_the_same_secrets_tokens_and_logins() {
    let keydir = tempfile::tempdir().unwrap();
    let key = key_file(keydir.path());
    // The audit device's peer lives as long as both servers.
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let canary = random_text(24);
    let password = random_text(20);

    let s = keyfile_server(&key).await;
    let root = s.token.clone();
    for v in 1..=3 {
        s.write("secret/data/app", json!({"password": format!("{canary}-v{v}")})).await;
    }
    s.write("secret/data/gone", json!({"x": canary})).await;
    assert_eq!(s.call("DELETE", "secret/data/gone", None).await.0, StatusCode::NO_CONTENT);
    let (st, v) = s.call("PUT", "secret/destroy/app", Some(json!({"versions": [1]}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let policy = "path \"secret/data/app\" { capabilities = [\"read\"] }";
    let (st, v) = s.call("PUT", "sys/policies/acl/app", Some(json!({"policy": policy}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, v) = s.call("POST", "auth/token/create", Some(json!({"policies": ["app"], "ttl": "1h"}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let app_token = v["auth"]["client_token"].as_str().unwrap().to_string();
    let (st, v) = s.call_as(&app_token, "PUT", "cubbyhole/note", Some(json!({"n": canary}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let resp = s.request("GET", "secret/data/app").header("X-Vault-Wrap-TTL", "10m").send().await.unwrap();
    let wrap_token = resp.json::<Value>().await.unwrap()["wrap_info"]["token"].as_str().unwrap().to_string();
    for (path, kind) in [("userpass", "userpass"), ("approle", "approle")] {
        let (st, v) = s.call("POST", &format!("sys/auth/{path}"), Some(json!({"type": kind}))).await;
        assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    }
    let (st, v) =
        s.call("POST", "auth/userpass/users/alice", Some(json!({"password": password, "token_policies": "app"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, v) = s.call("POST", "auth/approle/role/web", Some(json!({"token_policies": ["app"]}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let role_id = s.call("GET", "auth/approle/role/web/role-id", None).await.1["data"]["role_id"].clone();
    let secret_id =
        s.call("POST", "auth/approle/role/web/secret-id", Some(json!({}))).await.1["data"]["secret_id"].clone();
    let udp_addr = udp.local_addr().unwrap().to_string();
    let (st, v) = s
        .call(
            "PUT",
            "sys/audit/udp",
            Some(json!({"type": "socket", "options": {"address": udp_addr, "socket_type": "udp"}})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    // Encrypted data of the database engine, leases and rotation (issues 6 and 7).
    let (st, v) = s.call("POST", "sys/mounts/database", Some(json!({"type": "database"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let conn = json!({
        "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:5432/postgres?sslmode=disable",
        "username": "postgres", "password": canary, "allowed_roles": "*",
    });
    let (st, v) = s.call("POST", "database/config/pg", Some(conn)).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let role =
        json!({"db_name": "pg", "creation_statements": "CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}';"});
    let (st, v) = s.call("POST", "database/roles/ro", Some(role)).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, v) = s.call("GET", "database/creds/ro", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, aws_key) = s.call("POST", "sys/aws/keys", Some(json!({"policies": ["app"]}))).await;
    assert_eq!(st, StatusCode::OK, "{aws_key}");
    let aws_secret = aws_key["data"]["secret_access_key"].as_str().unwrap().to_string();
    let rotation = json!({"schedule": "rate(30 days)", "rotator": {"type": "password"}});
    let (st, v) = s.call("POST", "secret/rotation/app", Some(rotation)).await;
    assert!(st.is_success(), "{v}");
    let dir = s.stop().await;
    let from = sqlite_url(dir.path());

    let (pg, db) = fresh_pg().await;
    let (code, out, err) = migrate(&["--from", &from, "--to", db.url(), "--key-file", key.to_str().unwrap()]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("Migrated and verified."), "{out}");
    assert!(!out.contains("DIFFERS"), "{out}");
    // app v2 and v3, and the deleted (not destroyed) gone v1; app v1 is destroyed.
    let kv = line(&out, "KV versions");
    assert!(kv.contains(" 3 ") && kv.contains("1 destroyed"), "{kv}");
    assert!(line(&out, "token HMAC key").ends_with(" 1"), "{out}");
    assert!(line(&out, "cubbyhole entries").contains(" 2 "), "the note and the wrapped answer: {out}");
    assert!(line(&out, "audit device keys").ends_with(" 1"), "{out}");
    assert!(line(&out, "AWS access keys").ends_with(" 1"), "{out}");
    assert!(line(&out, "database connections").contains(" 1 "), "{out}");
    assert!(line(&out, "lease engine data").ends_with(" 1"), "{out}");
    assert!(line(&out, "rotation state").contains(" 1 "), "{out}");
    for secret in [&canary, &password, &root, &app_token, &wrap_token, &aws_secret] {
        assert!(!out.contains(secret.as_str()) && !err.contains(secret.as_str()), "a secret was printed");
    }

    // Byte for byte: every table holds the same rows.
    let source = coffer::store::open(&from).await.unwrap();
    assert_eq!(contents(&source).await, contents(&pg).await);
    drop(source);

    // A server on PostgreSQL with the same key file unseals and answers as the old one did.
    let t = server_on(db.url(), &key, &root).await;
    let (_, v) = t.call_as("", "GET", "sys/seal-status", None).await;
    assert_eq!(v["sealed"], false, "{v}");
    assert_eq!(t.read("secret/data/app").await, json!({"password": format!("{canary}-v3")}));
    assert_eq!(t.read("secret/data/app?version=2").await, json!({"password": format!("{canary}-v2")}));
    let (st, v) = t.call("GET", "secret/data/app?version=1", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["data"]["metadata"]["destroyed"], true, "{v}");
    let (st, v) = t.call("GET", "secret/data/gone", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    assert_ne!(v["data"]["metadata"]["deletion_time"], "", "{v}");
    let (st, v) = t.call("GET", "secret/metadata/app", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["current_version"], 3);
    let (st, v) = t.call_as(&app_token, "GET", "secret/data/app", None).await;
    assert_eq!(st, StatusCode::OK, "the token still works under its policy: {v}");
    assert_eq!(t.call_as(&app_token, "GET", "secret/data/gone", None).await.0, StatusCode::FORBIDDEN);
    let (st, v) = t.call_as(&app_token, "GET", "cubbyhole/note", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["n"], json!(canary));
    let (st, v) = t.call_as(&wrap_token, "POST", "sys/wrapping/unwrap", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["data"]["password"], json!(format!("{canary}-v3")));
    let (st, v) = t.call_as("", "POST", "auth/userpass/login/alice", Some(json!({"password": password}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["auth"]["policies"], json!(["app", "default"]));
    let (st, v) =
        t.call_as("", "POST", "auth/approle/login", Some(json!({"role_id": role_id, "secret_id": secret_id}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // The lease came along: it is revoked through the migrated connection (and drops its user).
    assert_eq!(t.call("PUT", "sys/leases/revoke-prefix/database/creds/ro", None).await.0, StatusCode::NO_CONTENT);
    t.stop().await;

    // And back again: PostgreSQL into a new SQLite file.
    let back = tempfile::tempdir().unwrap();
    let to = sqlite_url(back.path());
    let (code, out, err) = migrate(&["--from", db.url(), "--to", &to, "--key-file", key.to_str().unwrap()]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let copy = coffer::store::open(&to).await.unwrap();
    assert_eq!(contents(&pg).await, contents(&copy).await);
    drop(pg);
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_empty_target_is_refused_and_left_unchanged() {
    let keydir = tempfile::tempdir().unwrap();
    let key = key_file(keydir.path());
    let s = keyfile_server(&key).await;
    s.write("secret/data/app", json!({"v": 1})).await;
    let dir = s.stop().await;
    let from = sqlite_url(dir.path());
    let key = key.to_str().unwrap();

    let (pg, db) = fresh_pg().await;
    pg.entry_put("policy", "keep-me", "{}").await.unwrap();
    let before = contents(&pg).await;
    let (code, out, err) = migrate(&["--from", &from, "--to", db.url(), "--key-file", key]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("the target store is not empty: entry (1 rows)"), "{err}");
    assert!(err.contains("Nothing was changed"), "{err}");
    assert_eq!(contents(&pg).await, before, "the target was changed");
    drop(pg);
    db.close().await;

    // The same for a SQLite target.
    let other = tempfile::tempdir().unwrap();
    let to = sqlite_url(other.path());
    let target = coffer::store::open(&to).await.unwrap();
    target.system_put(&[("marker", b"1")]).await.unwrap();
    let (code, _, err) = migrate(&["--from", &from, "--to", &to, "--key-file", key]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("system_entry (1 rows)"), "{err}");
    assert_eq!(total_rows(&target).await, 1);

    // Usage errors exit 2 before anything is opened.
    assert_eq!(migrate(&["--from", &from, "--to", &from]).0, 2);
    assert_eq!(migrate(&["--from", "mysql://db/x", "--to", &to]).0, 2);
    assert_eq!(migrate(&["--from", &from]).0, 2, "--to is required");
    assert_eq!(migrate(&["--from", &from, "--to", &to, "--key-file", key, "--unseal-key", "ab"]).0, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_copies_nothing_and_shamir_shares_verify_the_copy() {
    let mut s = TestServer::uninitialised().await;
    let (shares, _root) = s.init(3, 2).await;
    s.unseal(&shares[..2]).await;
    let (st, v) = s.call("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    s.write("secret/data/app", json!({"v": 1})).await;
    s.write("secret/data/app", json!({"v": 2})).await;
    let dir = s.stop().await;
    let from = sqlite_url(dir.path());
    let (pg, db) = fresh_pg().await;

    // A wrong key is caught against the source, before anything is copied.
    let keydir = tempfile::tempdir().unwrap();
    let wrong = key_file(keydir.path());
    let (code, out, err) = migrate(&["--from", &from, "--to", db.url(), "--key-file", wrong.to_str().unwrap()]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("does not open the source store's root key"), "{err}");
    assert_eq!(total_rows(&pg).await, 0, "nothing was copied");
    // A made-up share with a real one combines into a wrong key.
    let forged = format!("c8{}", hex::encode(coffer::crypto::random_bytes::<32>()));
    let (code, _, err) =
        migrate(&["--from", &from, "--to", db.url(), "--unseal-key", &shares[0], "--unseal-key", &forged]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(total_rows(&pg).await, 0, "nothing was copied");
    // Too few shares is a usage error.
    let (code, _, err) = migrate(&["--from", &from, "--to", db.url(), "--unseal-key", &shares[0]]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs 2 unseal key shares; 1 given"), "{err}");

    // Two good shares (one hex, one base64 as sys/init gave them): copied and every value decrypted.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(&shares[2]).unwrap());
    let (code, out, err) =
        migrate(&["--from", &from, "--to", db.url(), "--unseal-key", &shares[1], "--unseal-key", &b64]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(line(&out, "KV versions").contains(" 2 "), "{out}");

    // --verify-only with the shares on stdin.
    let (code, out, err) = migrate_with_stdin(
        &["--from", &from, "--to", db.url(), "--verify-only", "--unseal-key", "-"],
        &format!("{}\n\n{}\n", shares[0], shares[2]),
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("Verified."), "{out}");
    for share in &shares {
        assert!(!out.contains(share.as_str()) && !err.contains(share.as_str()), "a share was printed");
    }
    drop(pg);
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_ciphertext_in_the_target_is_reported_by_verify_only() {
    let keydir = tempfile::tempdir().unwrap();
    let key = key_file(keydir.path());
    let canary = random_text(24);
    let s = keyfile_server(&key).await;
    s.write("secret/data/app", json!({"password": canary})).await;
    s.write("secret/data/other", json!({"password": canary})).await;
    let dir = s.stop().await;
    let from = sqlite_url(dir.path());
    let key = key.to_str().unwrap();
    let (pg, db) = fresh_pg().await;

    // Without a key: copied, counts and contents compared, decryption skipped with a warning.
    let (code, out, err) = migrate(&["--from", &from, "--to", db.url()]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("Warning: no unseal key given"), "{err}");
    assert!(!out.contains("KV versions"), "{out}");
    let (code, out, err) = migrate(&["--from", &from, "--to", db.url(), "--verify-only", "--key-file", key]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");

    // One flipped bit in the last byte (the GCM tag) of one version's ciphertext.
    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let changed = sqlx::query(
        "update kv_version set ciphertext = set_byte(ciphertext, length(ciphertext) - 1, \
         get_byte(ciphertext, length(ciphertext) - 1) # 1) where path = 'app'",
    )
    .execute(&mut conn)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(changed, 1);
    conn.close().await.unwrap();

    let (code, out, err) = migrate(&["--from", &from, "--to", db.url(), "--verify-only", "--key-file", key]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("kv_version secret/app (mount id "), "{err}");
    assert!(err.contains("version 1: ciphertext failed integrity check"), "{err}");
    assert!(err.contains("table kv_version: same row count, but the rows differ from the source"), "{err}");
    assert!(!err.contains("secret/other"), "only the damaged row is named: {err}");
    assert!(!out.contains(&canary) && !err.contains(&canary));
    assert!(line(&out, "KV versions").contains(" 1 "), "the undamaged version still decrypts: {out}");
    drop(pg);
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_held_by_a_running_server_is_refused() {
    let keydir = tempfile::tempdir().unwrap();
    let key = key_file(keydir.path());
    let s = keyfile_server(&key).await;
    s.write("secret/data/app", json!({"v": 1})).await;
    let dir = s.stop().await;
    let from = sqlite_url(dir.path());
    let key = key.to_str().unwrap();
    let other = tempfile::tempdir().unwrap();
    let to = sqlite_url(other.path());

    // The lock `coffer server` takes on its database (D82), held here as a running server would.
    let held = coffer::store::sqlite::lock_database(&from).unwrap().unwrap();
    let (code, out, err) = migrate(&["--from", &from, "--to", &to, "--key-file", key]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("cannot migrate the source store"), "{err}");
    assert!(err.contains("in use by another Coffer server"), "{err}");
    assert!(err.contains(&format!("(process {})", std::process::id())), "{err}");
    assert!(!other.path().join("coffer.db").exists(), "the target was created");

    drop(held);
    let (code, out, err) = migrate(&["--from", &from, "--to", &to, "--key-file", key]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("Migrated and verified."), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_source_served_by_a_running_server_is_refused() {
    let (_store, db) = fresh_pg().await;
    let keydir = tempfile::tempdir().unwrap();
    let key = key_file(keydir.path());
    let mut s = server_on(db.url(), &key, "").await;
    let (st, v) = s.call_as("", "PUT", "sys/init", Some(json!({}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    s.token = v["root_token"].as_str().unwrap().to_string();
    let other = tempfile::tempdir().unwrap();
    let to = sqlite_url(other.path());
    let key = key.to_str().unwrap();

    // The server's heartbeat (and its lease) mark the store as served.
    let (code, out, err) = migrate(&["--from", db.url(), "--to", &to, "--key-file", key]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("cannot migrate the source store: it is in use by a running Coffer server"), "{err}");
    assert!(err.contains(&s.base), "the refusal does not name the server's address: {err}");
    assert!(err.contains(&coffer::base::host::host_name()), "the refusal does not name the node: {err}");

    // A sealed node holds no lease, but its heartbeat alone marks the store as served.
    s.stop().await;
    let sealed = TestServer::at_url(db.url(), std::time::Duration::from_secs(3)).await;
    let store = coffer::store::open(db.url()).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.node_list().await.unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the sealed node never sent a heartbeat");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(store
        .lease_get()
        .await
        .unwrap()
        .is_none_or(|l| l.expires_at
            < coffer::base::schedule::Clock::now(&coffer::base::schedule::SystemClock).timestamp_millis()));
    let (code, out, err) = migrate(&["--from", db.url(), "--to", &to, "--key-file", key]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains(&sealed.base), "the refusal does not name the sealed node: {err}");

    // A clean stop removes the node's heartbeat (and releases a lease): the migration goes ahead.
    sealed.stop().await;
    let (code, out, err) = migrate(&["--from", db.url(), "--to", &to, "--key-file", key]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("Migrated and verified."), "{out}");
    db.close().await;
}
