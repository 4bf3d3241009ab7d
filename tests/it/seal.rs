//! Seal lifecycle over HTTP (API-CONTRACT §2.1, §2.2, §2.10, §2.11): init, health codes, unseal by
//! shares (hex and base64, reset, wrong shares), seal, key rotation with background re-wrap, and
//! the key-file seal across a restart.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use coffer::core::seal::SealKind;
use coffer::server;
use coffer::server::http::Listener;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

use crate::harness::{limits, send, TestServer};

const SEALED: &str = r#"{"errors":["Vault is sealed"]}"#;
const WRONG_SHARES: &str = "unable to retrieve stored keys: invalid key: failed to decrypt keys from storage: \
                            cipher: message authentication failed";

fn sealed_body() -> Value {
    serde_json::from_str(SEALED).unwrap()
}

async fn seal_status(s: &TestServer) -> Value {
    let (st, v) = s.call_as("", "GET", "sys/seal-status", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

async fn unseal_once(s: &TestServer, key: &str) -> (StatusCode, Value) {
    s.call_as("", "PUT", "sys/unseal", Some(json!({ "key": key }))).await
}

/// Paths that must answer 503 while sealed, whatever the token.
const GUARDED: &[(&str, &str)] = &[
    ("GET", "secret/data/x"),
    ("GET", "kv/data/a"),
    ("PUT", "kv/data/a"),
    ("LIST", "kv/metadata"),
    ("GET", "sys/mounts"),
    ("POST", "sys/mounts/new"),
    ("GET", "sys/key-status"),
    ("PUT", "sys/rotate"),
    ("GET", "auth/token/lookup-self"),
    ("GET", "nosuchmount/foo"),
];

async fn assert_all_sealed(s: &TestServer, token: &str) {
    for (m, p) in GUARDED {
        let body = (*m == "PUT" || *m == "POST").then(|| json!({"data": {"a": "b"}, "type": "kv-v2"}));
        let (st, v) = s.call_as(token, m, p, body).await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{m} {p} with {token:?}: {v}");
        assert_eq!(v, sealed_body(), "{m} {p}");
    }
}

#[tokio::test]
async fn uninitialised_server() {
    let s = TestServer::uninitialised().await;
    let (st, v) = s.call_as("", "GET", "sys/health", None).await;
    assert_eq!(st, StatusCode::NOT_IMPLEMENTED, "{v}");
    assert_eq!(v["initialized"], false);
    assert_eq!(v["sealed"], true);
    assert_eq!(v["standby"], true);
    assert!(v.get("cluster_name").is_none(), "{v}");
    let (st, _) = s.call_as("", "GET", "sys/health?uninitcode=200", None).await;
    assert_eq!(st, StatusCode::OK);
    let r = send(s.request_anon("HEAD", "sys/health")).await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(r.text, "");
    let v = seal_status(&s).await;
    assert_eq!(v["initialized"], false);
    assert_eq!(v["sealed"], true);
    assert_eq!((v["t"].clone(), v["n"].clone()), (json!(0), json!(0)));
    assert_eq!(v["type"], "shamir");
    let (st, v) = s.call_as("", "GET", "sys/init", None).await;
    assert_eq!((st, v), (StatusCode::OK, json!({"initialized": false})));
    let (st, v) = s.call_as("", "GET", "sys/leader", None).await;
    assert_eq!((st, v), (StatusCode::OK, json!({"ha_enabled": false})));
    assert_all_sealed(&s, "").await;
    assert_all_sealed(&s, "root").await;
    // Unseal before init is refused.
    let (st, _) = unseal_once(&s, &hex::encode([7u8; 33])).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn init_validates_and_happens_once() {
    let mut s = TestServer::uninitialised().await;
    let (st, v) = s.call_as("", "PUT", "sys/init", Some(json!({"secret_shares": 2, "secret_threshold": 3}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(v, json!({"errors": ["invalid seal configuration: threshold cannot be larger than shares"]}));
    assert_eq!(seal_status(&s).await["initialized"], false, "a refused init stores nothing");

    let (st, v) = s.call_as("", "PUT", "sys/init", Some(json!({"secret_shares": 3, "secret_threshold": 2}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let keys: Vec<&str> = v["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    let b64: Vec<&str> = v["keys_base64"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(b64.len(), 3);
    for (h, b) in keys.iter().zip(&b64) {
        assert_eq!(h.len(), 66, "{h}");
        let raw = hex::decode(h).unwrap();
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(b).unwrap(), raw);
    }
    let distinct: std::collections::BTreeSet<_> = keys.iter().collect();
    assert_eq!(distinct.len(), 3);
    let root = v["root_token"].as_str().unwrap();
    assert!(root.starts_with("s.") && root.len() > 20, "{root}");
    s.token = root.to_string();

    let (st, v) = s.call_as("", "PUT", "sys/init", Some(json!({"secret_shares": 3, "secret_threshold": 2}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(v, json!({"errors": ["Vault is already initialized"]}));
    let (_, v) = s.call_as("", "GET", "sys/init", None).await;
    assert_eq!(v, json!({"initialized": true}));

    // Initialised but sealed: even the root token gets 503.
    assert_all_sealed(&s, root).await;
    let (st, v) = s.call_as("", "GET", "sys/health", None).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!((v["initialized"].clone(), v["sealed"].clone()), (json!(true), json!(true)));
    let (st, _) = s.call_as("", "GET", "sys/health?sealedcode=299", None).await;
    assert_eq!(st.as_u16(), 299);
    let r = send(s.request_anon("HEAD", "sys/health")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.text, "");
    let r = send(s.request_anon("HEAD", "sys/health?sealedcode=299")).await;
    assert_eq!(r.status.as_u16(), 299);
    assert_eq!(r.text, "");
    let v = seal_status(&s).await;
    assert_eq!(v["initialized"], true);
    assert_eq!(v["sealed"], true);
    assert_eq!((v["t"].clone(), v["n"].clone(), v["progress"].clone()), (json!(2), json!(3), json!(0)));
}

#[tokio::test]
async fn unseal_progress_reset_base64_and_short_keys() {
    let mut s = TestServer::uninitialised().await;
    let (st, init) = s.call_as("", "PUT", "sys/init", Some(json!({"secret_shares": 3, "secret_threshold": 2}))).await;
    assert_eq!(st, StatusCode::OK);
    s.token = init["root_token"].as_str().unwrap().to_string();
    let hex_keys: Vec<String> = init["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().into()).collect();
    let b64_keys: Vec<String> =
        init["keys_base64"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().into()).collect();

    let (st, v) = unseal_once(&s, &hex_keys[0]).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["sealed"], true);
    assert_eq!(v["progress"], 1);
    assert!(!v["nonce"].as_str().unwrap().is_empty());
    assert_eq!(seal_status(&s).await["progress"], 1);

    let (st, v) = s.call_as("", "PUT", "sys/unseal", Some(json!({"reset": true}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["progress"], 0);
    assert_eq!(v["sealed"], true);
    assert_eq!(seal_status(&s).await["progress"], 0);

    let (st, v) = unseal_once(&s, "AAAA").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(v, json!({"errors": ["invalid key: key is shorter than minimum 16 bytes"]}));
    let (st, v) = unseal_once(&s, &hex::encode([1u8; 15])).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(v, json!({"errors": ["invalid key: key is shorter than minimum 16 bytes"]}));
    assert_eq!(seal_status(&s).await["progress"], 0, "a refused key is not counted");

    // Base64 share, then a hex share: unsealed.
    let (st, v) = unseal_once(&s, &b64_keys[1]).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["progress"], 1);
    let (st, v) = unseal_once(&s, &hex_keys[2]).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["sealed"], false);
    assert_eq!(v["progress"], 0);
    assert_eq!(v["nonce"], "");
    assert!(v["cluster_name"].as_str().unwrap().len() > 1, "{v}");
    let (st, _) = s.call_as("", "GET", "sys/health", None).await;
    assert_eq!(st, StatusCode::OK);
    // A share when already unsealed is a no-op.
    let (st, v) = unseal_once(&s, &hex_keys[0]).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["sealed"], false);
}

#[tokio::test]
async fn wrong_share_never_says_which_share() {
    let mut s = TestServer::uninitialised().await;
    let (keys, _root) = s.init(3, 2).await;
    let wrong = hex::encode(coffer::crypto::random_bytes::<33>());
    let mut messages = Vec::new();
    for order in [[wrong.as_str(), keys[0].as_str()], [keys[1].as_str(), wrong.as_str()]] {
        let (st, v) = unseal_once(&s, order[0]).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["progress"], 1);
        let (st, v) = unseal_once(&s, order[1]).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        let errors = v["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{v}");
        let msg = errors[0].as_str().unwrap().to_string();
        for k in [&wrong, &keys[0], &keys[1]] {
            assert!(!msg.contains(k.as_str()), "{msg}");
        }
        messages.push(msg);
        let st = seal_status(&s).await;
        assert_eq!(st["sealed"], true);
        assert_eq!(st["progress"], 0, "progress goes back to 0: {st}");
    }
    assert_eq!(messages[0], messages[1], "the message does not depend on the bad share's position");
    assert_eq!(messages[0], WRONG_SHARES);
    assert_all_sealed(&s, &s.token).await;
    // The right shares still work afterwards.
    s.unseal(&keys[1..]).await;
}

#[tokio::test]
async fn seal_and_unseal_again_keeps_data() {
    let mut s = TestServer::uninitialised().await;
    let (keys, root) = s.init(3, 2).await;
    s.unseal(&keys[..2]).await;
    let (st, v) = s.call("POST", "sys/mounts/kv", Some(json!({"type": "kv", "options": {"version": "2"}}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    s.write("kv/data/a", json!({"password": "hunter2"})).await;

    let (st, v) = s.call_as("", "PUT", "sys/seal", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "sealing needs a root token: {v}");
    let (st, v) = s.call("PUT", "sys/seal", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(v, Value::Null);
    assert_all_sealed(&s, &root).await;
    let v = seal_status(&s).await;
    assert_eq!(v["sealed"], true);
    assert_eq!(v["initialized"], true);
    assert!(v.get("cluster_name").is_none(), "{v}");
    let (st, _) = s.call_as("", "GET", "sys/health", None).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    let (st, _) = s.call_as("", "GET", "sys/leader", None).await;
    assert_eq!(st, StatusCode::OK);

    s.unseal(&[keys[2].clone(), keys[0].clone()]).await;
    assert_eq!(s.read("kv/data/a").await, json!({"password": "hunter2"}));
    let (st, _) = s.call_as("", "GET", "sys/health", None).await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn leader_reports_no_ha() {
    let s = TestServer::dev().await;
    let r = send(s.request_anon("GET", "sys/leader")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"ha_enabled": false}));
}

async fn rows_below_term(db: &Path, term: i64) -> i64 {
    let opts = SqliteConnectOptions::new().filename(db).read_only(true);
    let mut conn = SqliteConnection::connect_with(&opts).await.unwrap();
    let n: i64 = sqlx::query_scalar("select count(*) from kv_version where key_term < ?")
        .bind(term)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    n
}

async fn rows_at_term(db: &Path, term: i64) -> i64 {
    let opts = SqliteConnectOptions::new().filename(db).read_only(true);
    let mut conn = SqliteConnection::connect_with(&opts).await.unwrap();
    let n: i64 = sqlx::query_scalar("select count(*) from kv_version where key_term = ?")
        .bind(term)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_adds_a_term_and_rewraps_old_rows() {
    let s = TestServer::dev().await;
    let (st, v) = s.call("GET", "sys/key-status", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["term"], 1);
    assert_eq!(v["term"], 1, "repeated at the top level");
    assert!(v["data"]["install_time"].as_str().unwrap().ends_with('Z'));
    for i in 0..5 {
        s.write(&format!("secret/data/old{i}"), json!({"v": format!("old-{i}")})).await;
    }
    s.write("secret/data/old0", json!({"v": "old-0-b"})).await;
    assert_eq!(rows_at_term(&s.db_path(), 1).await, 6);
    let (_, v) = s.call("GET", "sys/key-status", None).await;
    let before = v["data"]["encryptions"].as_u64().unwrap();
    assert!(before >= 6, "{v}");

    let (st, v) = s.call("PUT", "sys/rotate", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (_, v) = s.call("GET", "sys/key-status", None).await;
    assert_eq!(v["data"]["term"], 2);
    assert_eq!(v["term"], 2);
    // Encryptions are counted per term, as Vault: the new term starts from zero.
    assert_eq!(v["data"]["encryptions"], 0, "{v}");
    s.write("secret/data/counted", json!({"v": "one"})).await;
    let (_, v) = s.call("GET", "sys/key-status", None).await;
    let after = v["data"]["encryptions"].as_u64().unwrap();
    assert!((1..before).contains(&after), "{before} then {after}");

    for i in 1..5 {
        assert_eq!(s.read(&format!("secret/data/old{i}")).await, json!({"v": format!("old-{i}")}));
    }
    let (_, v) = s.call("GET", "secret/data/old0?version=1", None).await;
    assert_eq!(v["data"]["data"], json!({"v": "old-0"}));
    s.write("secret/data/new", json!({"v": "new"})).await;
    assert_eq!(s.read("secret/data/new").await, json!({"v": "new"}));

    let mut remaining = -1;
    for _ in 0..500 {
        remaining = rows_below_term(&s.db_path(), 2).await;
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(remaining, 0, "the background re-wrap left rows on term 1");
    assert_eq!(rows_at_term(&s.db_path(), 2).await, 8);
    // Re-wrapped rows still decrypt.
    for i in 0..5 {
        let (st, v) = s.call("GET", &format!("secret/data/old{i}?version=1"), None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["data"]["data"], json!({"v": format!("old-{i}")}));
    }
    // A second rotation moves everything on again.
    let (st, _) = s.call("POST", "sys/rotate/keyring", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, v) = s.call("GET", "sys/key-status", None).await;
    assert_eq!(v["data"]["term"], 3);
    for _ in 0..500 {
        if rows_below_term(&s.db_path(), 3).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(rows_below_term(&s.db_path(), 3).await, 0);
    assert_eq!(s.read("secret/data/old3").await, json!({"v": "old-3"}));
}

/// Writes 32 random bytes to `dir/unseal.key` with `mode`.
fn key_file(dir: &Path, mode: u32) -> PathBuf {
    let path = dir.join("unseal.key");
    std::fs::write(&path, coffer::crypto::random_bytes::<32>()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[tokio::test]
async fn key_file_seal_unseals_at_init_and_at_start() {
    let keydir = tempfile::tempdir().unwrap();
    let key = key_file(keydir.path(), 0o600);
    let mut s = TestServer::start_with(SealKind::KeyFile(key.clone()), limits()).await;
    let v = seal_status(&s).await;
    assert_eq!(v["initialized"], false);
    assert_eq!(v["type"], "keyfile");

    let (st, v) = s.call_as("", "PUT", "sys/init", Some(json!({}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["keys"], json!([]));
    assert_eq!(v["keys_base64"], json!([]));
    let root = v["root_token"].as_str().unwrap().to_string();
    s.token = root.clone();
    let v = seal_status(&s).await;
    assert_eq!(v["sealed"], false, "unsealed right after init: {v}");
    assert_eq!(v["initialized"], true);
    let (st, v) = s.call("POST", "sys/mounts/kv", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    s.write("kv/data/app", json!({"db": "pw"})).await;

    let dir = s.stop().await;
    let mut s = TestServer::start_in(dir, SealKind::KeyFile(key.clone()), limits()).await;
    s.token = root.clone();
    let v = seal_status(&s).await;
    assert_eq!(v["sealed"], false, "auto-unsealed at start: {v}");
    assert_eq!(s.read("kv/data/app").await, json!({"db": "pw"}));
    let (st, _) = s.call_as("", "GET", "sys/health", None).await;
    assert_eq!(st, StatusCode::OK);

    // Seal, then a restart unseals again from the file.
    let (st, _) = s.call("PUT", "sys/seal", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(seal_status(&s).await["sealed"], true);
    let dir = s.stop().await;

    // A key file readable by others is refused at start.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let url = format!("sqlite://{}", dir.path().join("coffer.db").display());
    let store = coffer::store::open(&url).await.unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = match server::start(store, SealKind::KeyFile(key.clone()), Listener::Plain(tcp), limits()).await {
        Ok(_) => panic!("a 0644 key file was accepted"),
        Err(e) => e,
    };
    assert!(err.contains("chmod 600"), "{err}");

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut s = TestServer::start_in(dir, SealKind::KeyFile(key), limits()).await;
    s.token = root;
    assert_eq!(s.read("kv/data/app").await, json!({"db": "pw"}));
}

#[tokio::test]
async fn key_file_with_wrong_key_does_not_unseal() {
    let keydir = tempfile::tempdir().unwrap();
    let key = key_file(keydir.path(), 0o600);
    let mut s = TestServer::start_with(SealKind::KeyFile(key.clone()), limits()).await;
    let (st, v) = s.call_as("", "PUT", "sys/init", Some(json!({}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    s.token = v["root_token"].as_str().unwrap().to_string();
    let dir = s.stop().await;
    // Another key in the same file: start fails rather than serving sealed garbage.
    std::fs::write(&key, coffer::crypto::random_bytes::<32>()).unwrap();
    let url = format!("sqlite://{}", dir.path().join("coffer.db").display());
    let store = coffer::store::open(&url).await.unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // Start fails rather than serving with a wrong key; the error names the file and the reason,
    // with no HTTP status in it (it is not an answer to a request).
    match server::start(store, SealKind::KeyFile(key.clone()), Listener::Plain(tcp), limits()).await {
        Ok(running) => {
            assert!(running.core.barrier.is_sealed(), "a wrong key file unsealed the server");
            running.stop().await;
        }
        Err(e) => {
            assert!(e.contains(&key.display().to_string()) && e.contains("invalid unseal key"), "{e}");
            assert!(!e.contains("400"), "{e}");
        }
    }
}

/// Sets (or with `None` deletes) one `system_entry` row of a stopped server's store.
async fn set_system(db: &Path, key: &str, value: Option<&[u8]>) {
    let opts = SqliteConnectOptions::new().filename(db).busy_timeout(Duration::from_secs(10));
    let mut conn = SqliteConnection::connect_with(&opts).await.unwrap();
    sqlx::query("delete from system_entry where key = ?").bind(key).execute(&mut conn).await.unwrap();
    if let Some(v) = value {
        sqlx::query("insert into system_entry (key, value) values (?, ?)")
            .bind(key)
            .bind(v)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
}

async fn get_system(db: &Path, key: &str) -> Option<Vec<u8>> {
    let opts = SqliteConnectOptions::new().filename(db).read_only(true);
    let mut conn = SqliteConnection::connect_with(&opts).await.unwrap();
    let v = sqlx::query_scalar("select value from system_entry where key = ?")
        .bind(key)
        .fetch_optional(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    v
}

/// A 500 that names `what` and carries no key material.
fn assert_damaged(st: StatusCode, v: &Value, what: &str, secrets: &[&str]) {
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR, "{what}: {v}");
    let msg = v["errors"][0].as_str().unwrap_or_else(|| panic!("{what}: {v}"));
    assert!(msg.starts_with("stored seal data is damaged: "), "{what}: {msg}");
    assert!(msg.contains(what), "the error does not name {what:?}: {msg}");
    for s in secrets {
        assert!(!msg.contains(s), "{msg}");
    }
}

#[tokio::test]
async fn flt16_damaged_or_missing_keyring_and_seal_config_keep_the_server_sealed() {
    let mut s = TestServer::uninitialised().await;
    let (keys, root) = s.init(3, 2).await;
    s.unseal(&keys).await;
    let (st, v) = s.call("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    s.write("secret/data/x", json!({"v": "kept"})).await;
    let dir = s.stop().await;
    let db = dir.path().join("coffer.db");
    let keyring = get_system(&db, "keyring").await.unwrap();
    let root_key = get_system(&db, "root_key").await.unwrap();
    let config = get_system(&db, "seal_config").await.unwrap();
    let secrets: Vec<&str> = keys.iter().map(String::as_str).chain([root.as_str()]).collect();

    // Keyring deleted, then truncated, then with one flipped bit: the threshold of right shares
    // gets a precise 500, and nothing is unsealed.
    let mut flipped = keyring.clone();
    flipped[keyring.len() / 2] ^= 1;
    let cases: Vec<(&str, Option<Vec<u8>>, &str)> = vec![
        ("deleted", None, "keyring is missing"),
        ("truncated to 0", Some(Vec::new()), "keyring"),
        ("truncated to 12", Some(keyring[..12].to_vec()), "keyring"),
        ("truncated by one", Some(keyring[..keyring.len() - 1].to_vec()), "keyring"),
        ("one bit flipped", Some(flipped), "keyring"),
    ];
    let mut dir = dir;
    for (how, value, what) in cases {
        set_system(&db, "keyring", value.as_deref()).await;
        let mut s = TestServer::start_in(dir, SealKind::Shamir, limits()).await;
        s.token = root.clone();
        assert_eq!(seal_status(&s).await["initialized"], true, "{how}");
        assert_eq!(unseal_once(&s, &keys[0]).await.0, StatusCode::OK, "{how}");
        let (st, v) = unseal_once(&s, &keys[1]).await;
        assert_damaged(st, &v, what, &secrets);
        let status = seal_status(&s).await;
        assert_eq!((status["sealed"].clone(), status["progress"].clone()), (json!(true), json!(0)), "{how}: {status}");
        assert!(s.running.as_ref().unwrap().core.barrier.is_sealed(), "{how}: partial unseal");
        assert_all_sealed(&s, &root).await;
        // init never runs over it.
        let (st, v) = s.call_as("", "PUT", "sys/init", Some(json!({"secret_shares": 1, "secret_threshold": 1}))).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{how}: {v}");
        dir = s.stop().await;
    }
    set_system(&db, "keyring", Some(&keyring)).await;

    // A garbled seal configuration: no fallback to "not initialised" or to a default seal.
    let garbled: Vec<(&str, Option<Vec<u8>>)> = vec![
        ("not JSON", Some(b"{\"type\":\"shamir\",\"secret_sh".to_vec())),
        ("wrong types", Some(br#"{"type":"shamir","secret_shares":"3","secret_threshold":2}"#.to_vec())),
        ("unknown seal", Some(br#"{"type":"none","secret_shares":0,"secret_threshold":0}"#.to_vec())),
        ("threshold above shares", Some(br#"{"type":"shamir","secret_shares":1,"secret_threshold":2}"#.to_vec())),
        ("threshold zero", Some(br#"{"type":"shamir","secret_shares":3,"secret_threshold":0}"#.to_vec())),
        ("deleted", None),
    ];
    for (how, value) in garbled {
        set_system(&db, "seal_config", value.as_deref()).await;
        let mut s = TestServer::start_in(dir, SealKind::Shamir, limits()).await;
        s.token = root.clone();
        let (st, v) = s.call_as("", "PUT", "sys/init", Some(json!({"secret_shares": 1, "secret_threshold": 1}))).await;
        if value.is_some() {
            assert_damaged(st, &v, "seal configuration", &secrets);
            let (st, v) = s.call_as("", "GET", "sys/seal-status", None).await;
            assert_damaged(st, &v, "seal configuration", &secrets);
        } else {
            assert_damaged(st, &v, "refusing to initialise over existing data", &secrets);
        }
        for k in &keys {
            let (st, v) = unseal_once(&s, k).await;
            assert!(st.is_client_error() || st.is_server_error(), "{how}: unseal answered {st}: {v}");
        }
        assert!(s.running.as_ref().unwrap().core.barrier.is_sealed(), "{how}: unsealed");
        assert_all_sealed(&s, &root).await;
        dir = s.stop().await;
        assert_eq!(get_system(&db, "root_key").await.as_deref(), Some(root_key.as_slice()), "{how}: root key replaced");
        assert_eq!(get_system(&db, "keyring").await.as_deref(), Some(keyring.as_slice()), "{how}: keyring replaced");
    }

    // Repaired, everything is as before.
    set_system(&db, "seal_config", Some(&config)).await;
    let mut s = TestServer::start_in(dir, SealKind::Shamir, limits()).await;
    s.token = root.clone();
    s.unseal(&keys[..2]).await;
    assert_eq!(s.read("secret/data/x").await, json!({"v": "kept"}));
}

#[tokio::test]
async fn flt16_key_file_seal_with_a_damaged_keyring_does_not_start() {
    let keydir = tempfile::tempdir().unwrap();
    let key = key_file(keydir.path(), 0o600);
    let mut s = TestServer::start_with(SealKind::KeyFile(key.clone()), limits()).await;
    let (st, v) = s.call_as("", "PUT", "sys/init", Some(json!({}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    s.token = v["root_token"].as_str().unwrap().to_string();
    let dir = s.stop().await;
    let db = dir.path().join("coffer.db");
    for (value, what) in [(None, "keyring is missing"), (Some(b"short".to_vec()), "keyring")] {
        set_system(&db, "keyring", value.as_deref()).await;
        let store = coffer::store::open(&format!("sqlite://{}", db.display())).await.unwrap();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        match server::start(store, SealKind::KeyFile(key.clone()), Listener::Plain(tcp), limits()).await {
            Ok(running) => {
                let sealed = running.core.barrier.is_sealed();
                running.stop().await;
                panic!("started with a damaged keyring (sealed: {sealed})");
            }
            Err(e) => assert!(e.contains("stored seal data is damaged") && e.contains(what), "{e}"),
        }
    }
}

#[tokio::test]
async fn a_reload_never_loads_a_keyring_older_than_the_one_held() {
    let s = TestServer::dev().await;
    let core = s.running.as_ref().unwrap().core.clone();
    let old = core.store.system_get(coffer::core::seal::KEYRING).await.unwrap().unwrap();
    let (st, _) = s.call("PUT", "sys/rotate", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let term = |c: &coffer::core::Core| c.barrier.keys().unwrap().keyring.active().number;
    assert_eq!(term(&core), 2);
    // A reload that read the stored keyring before this node's own rotation committed hands it
    // the older keyring: it must keep the newer one.
    core.store.system_put(&[(coffer::core::seal::KEYRING, old.as_slice())]).await.unwrap();
    core.seal.reload_keyring(&core).await.unwrap();
    assert_eq!(term(&core), 2, "the node went back to an older term");
}
