//! Stored ciphertexts stay readable across AAD changes: `tests/fixtures/aad-v1/` holds a SQLite
//! store written through the real server before the barrier's typed contexts existed (KV
//! versions, a cubbyhole entry, a response-wrapped answer, an audit device's keys, a database
//! connection, a lease and a rotation configuration), with its unseal key file. Today's server
//! must open it and read every value back, and `operator migrate --verify-only` must decrypt every
//! encrypted value of it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use coffer::core::seal::SealKind;
use coffer::server;
use coffer::server::http::Listener;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{limits, TestServer};

/// The fixture directory in the source tree.
fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aad-v1")
}

/// The secret values written into the fixture.
const CANARY: &str = "aad-fixture-canary-7f3c";

fn expect_ok(st: StatusCode, v: &Value) {
    assert!(st.is_success(), "{st}: {v}");
}

/// Writes the fixture with the code of the day (run by hand, not in CI):
/// `COFFER_AAD_FIXTURE_OUT=tests/fixtures/aad-v1 cargo test --locked --test it aad_compat::write_fixture -- --ignored`.
/// Then fold the WAL into the file (`PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE`) and
/// commit `coffer.db` (`.gitignore` lets `tests/fixtures/**/*.db` through), `unseal.key` and `expected.json`.
/// It was run once, before the barrier's typed contexts, to capture the version-1 AAD layouts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes the committed fixture; run by hand only"]
async fn write_fixture() {
    let out = PathBuf::from(std::env::var("COFFER_AAD_FIXTURE_OUT").expect("COFFER_AAD_FIXTURE_OUT"));
    std::fs::create_dir_all(&out).unwrap();
    let key = out.join("unseal.key");
    std::fs::write(&key, coffer::crypto::random_bytes::<32>()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    let mut s = TestServer::start_with(SealKind::KeyFile(key.clone()), limits()).await;
    let (st, v) = s.call_as("", "PUT", "sys/init", Some(json!({}))).await;
    expect_ok(st, &v);
    s.token = v["root_token"].as_str().unwrap().to_string();
    let (st, v) = s.call("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))).await;
    expect_ok(st, &v);
    for n in 1..=3 {
        s.write("secret/data/app", json!({"password": format!("{CANARY}-v{n}")})).await;
    }
    s.write("secret/data/dir/other", json!({"user": "u", "password": format!("{CANARY}-other")})).await;
    let (st, v) = s.call("PUT", "cubbyhole/note", Some(json!({"n": CANARY}))).await;
    expect_ok(st, &v);
    let resp = s.request("GET", "secret/data/app").header("X-Vault-Wrap-TTL", "87600h").send().await.unwrap();
    let wrap_token = resp.json::<Value>().await.unwrap()["wrap_info"]["token"].as_str().unwrap().to_string();
    let (st, v) =
        s.call("PUT", "sys/audit/out", Some(json!({"type": "file", "options": {"file_path": "stdout"}}))).await;
    expect_ok(st, &v);
    let (st, v) = s.call("POST", "sys/mounts/database", Some(json!({"type": "database"}))).await;
    expect_ok(st, &v);
    let conn = json!({
        "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:5432/postgres?sslmode=disable",
        "username": "postgres", "password": CANARY, "allowed_roles": "*", "verify_connection": false,
    });
    let (st, v) = s.call("POST", "database/config/pg", Some(conn)).await;
    expect_ok(st, &v);
    let role = json!({
        "db_name": "pg", "default_ttl": "87600h", "max_ttl": "87600h",
        "creation_statements": "CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}';",
    });
    let (st, v) = s.call("POST", "database/roles/ro", Some(role)).await;
    expect_ok(st, &v);
    let (st, v) = s.call("GET", "database/creds/ro", None).await;
    expect_ok(st, &v);
    let lease_id = v["lease_id"].as_str().unwrap().to_string();
    let rotation = json!({"schedule": "cron(0 4 1 1 ? 2099)", "rotator": {"type": "password"}});
    let (st, v) = s.call("POST", "secret/rotation/app", Some(rotation)).await;
    expect_ok(st, &v);
    let expected = json!({"root_token": s.token, "wrap_token": wrap_token, "lease_id": lease_id});
    std::fs::write(out.join("expected.json"), serde_json::to_vec_pretty(&expected).unwrap()).unwrap();
    let dir = s.stop().await;
    for name in ["coffer.db", "coffer.db-wal", "coffer.db-shm"] {
        let _ = std::fs::remove_file(out.join(name));
        if dir.path().join(name).exists() {
            std::fs::copy(dir.path().join(name), out.join(name)).unwrap();
        }
    }
}

/// A copy of the fixture in a fresh directory (tests never change the committed files).
fn copy_fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let key = dir.path().join("unseal.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    (dir, key)
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("coffer.db").display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_written_before_typed_contexts_decrypts_in_full() {
    let (from, _) = copy_fixture();
    let (to, key) = copy_fixture();
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["operator", "migrate", "--from", &sqlite_url(from.path()), "--to", &sqlite_url(to.path())])
        .args(["--verify-only", "--key-file", key.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("Verified."), "{stdout}");
    let line = |label: &str| {
        stdout.lines().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("{label}: {stdout}"))
    };
    assert!(line("KV versions").contains(" 4"), "{stdout}");
    assert!(line("token HMAC key").ends_with(" 1"), "{stdout}");
    assert!(line("cubbyhole entries").contains(" 2"), "the note and the wrapped answer: {stdout}");
    assert!(line("audit device keys").ends_with(" 1"), "{stdout}");
    assert!(line("database connections").contains(" 1"), "{stdout}");
    assert!(line("lease engine data").ends_with(" 1"), "{stdout}");
    assert!(line("rotation state").contains(" 1"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_written_before_typed_contexts_serves_every_value() {
    let (dir, key) = copy_fixture();
    let expected: Value = serde_json::from_slice(&std::fs::read(dir.path().join("expected.json")).unwrap()).unwrap();
    let root = expected["root_token"].as_str().unwrap();
    let store = coffer::store::open(&sqlite_url(dir.path())).await.unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = server::start(store, SealKind::KeyFile(key), Listener::Plain(tcp), limits()).await.unwrap();
    let base = format!("http://{}", running.addr);
    let s = TestServer { running: Some(running), base, client: reqwest::Client::new(), token: root.into(), dir };
    let (_, v) = s.call_as("", "GET", "sys/seal-status", None).await;
    assert_eq!(v["sealed"], false, "{v}");

    // KV versions, each under its own AAD (mount, path, version).
    for n in 1..=3 {
        let (st, v) = s.call("GET", &format!("secret/data/app?version={n}"), None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["data"]["data"], json!({"password": format!("{CANARY}-v{n}")}));
    }
    assert_eq!(s.read("secret/data/dir/other").await, json!({"user": "u", "password": format!("{CANARY}-other")}));
    // The root token's cubbyhole, and a response-wrapped answer (also a cubbyhole entry).
    let (st, v) = s.call("GET", "cubbyhole/note", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"], json!({"n": CANARY}));
    let wrap = expected["wrap_token"].as_str().unwrap();
    let (st, v) = s.call("PUT", "sys/wrapping/unwrap", Some(json!({"token": wrap}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["data"], json!({"password": format!("{CANARY}-v3")}));
    // The database connection (its password is never shown, but the read decrypts it).
    let (st, v) = s.call("GET", "database/config/pg", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["connection_details"]["username"], "postgres", "{v}");
    assert!(!v.to_string().contains(CANARY));
    // The rotation configuration.
    let (st, v) = s.call("GET", "secret/rotation/app", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["schedule"], "cron(0 4 1 1 ? 2099)", "{v}");
    // The lease (its engine data decrypts for revocation).
    let lease = expected["lease_id"].as_str().unwrap();
    let (st, v) = s.call("PUT", "sys/leases/lookup", Some(json!({"lease_id": lease}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // The audit device came back with its keys (they are opened at unseal).
    let (st, v) = s.call("GET", "sys/audit", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v.to_string().contains("out/"), "{v}");
    // New values are written and read back beside the old ones.
    s.write("secret/data/app", json!({"password": "new"})).await;
    assert_eq!(s.read("secret/data/app").await, json!({"password": "new"}));
    let (st, v) = s.call("GET", "secret/data/app?version=1", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    s.stop().await;
}
