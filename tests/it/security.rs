//! Security properties seen from outside: no secret or token in the database files in any common
//! encoding, ciphertexts bound to their row, error bodies that never echo input values, nothing
//! served while sealed, and tokens stored only as keyed hashes.

use std::path::Path;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

use crate::harness::{limits, random_text, send, TestServer};

/// Every byte of every file in the store directory (database, -wal, -shm).
fn store_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        // A -wal file may vanish between listing and reading (checkpoint on close).
        if let Ok(bytes) = std::fs::read(entry.path()) {
            out.push((entry.file_name().to_string_lossy().into_owned(), bytes));
        }
    }
    assert!(out.iter().any(|(n, b)| n == "coffer.db" && !b.is_empty()), "no database file in {dir:?}");
    out
}

/// The encodings of `needle` to look for, by name.
pub fn encodings(needle: &str) -> Vec<(String, Vec<u8>)> {
    let raw = needle.as_bytes();
    let mut forms = vec![
        ("raw".to_string(), raw.to_vec()),
        ("hex".to_string(), hex::encode(raw).into_bytes()),
        ("HEX".to_string(), hex::encode_upper(raw).into_bytes()),
        ("base64".to_string(), STANDARD.encode(raw).into_bytes()),
        ("base64 unpadded".to_string(), STANDARD_NO_PAD.encode(raw).into_bytes()),
        ("base64url".to_string(), URL_SAFE.encode(raw).into_bytes()),
        ("base64url unpadded".to_string(), URL_SAFE_NO_PAD.encode(raw).into_bytes()),
    ];
    // Base64 of a longer text that contains the needle at any alignment: the characters that
    // depend only on the needle's bytes.
    for offset in 0..3usize {
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(raw);
        let start = offset.div_ceil(3) * 4;
        let end = ((offset + raw.len()) / 3) * 4;
        for (name, engine) in [("base64", &STANDARD_NO_PAD), ("base64url", &URL_SAFE_NO_PAD)] {
            let enc = engine.encode(&padded);
            forms.push((format!("{name} at offset {offset}"), enc.as_bytes()[start..end].to_vec()));
        }
    }
    forms
}

/// Which files hold `needle` in which encoding.
pub fn find(files: &[(String, Vec<u8>)], needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for (form, pattern) in encodings(needle) {
        for (file, bytes) in files {
            if bytes.windows(pattern.len()).any(|w| w == pattern.as_slice()) {
                hits.push(format!("{form} in {file}"));
            }
        }
    }
    hits
}

#[tokio::test]
async fn canary_never_reaches_the_database_files() {
    let root = format!("s.{}", random_text(40));
    let s = TestServer::dev_with(&root, limits()).await;
    let canary = format!("CANARY{}", random_text(24));
    let nested = format!("NESTED{}", random_text(24));
    let meta_value = format!("META{}", random_text(24));
    let marker = format!("pathmarker{}", random_text(16));
    let path = format!("secret/data/app/{marker}");

    s.write(&path, json!({"password": canary, "deep": {"list": [1, {"token": nested}]}})).await;
    s.write(&path, json!({"password": format!("{canary}-v2")})).await;
    let r = s.patch(&path, json!({"data": {"extra": nested}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let (st, _) = s
        .call("POST", &format!("secret/metadata/app/{marker}"), Some(json!({"custom_metadata": {"owner": meta_value}})))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, v) = s.call("GET", &format!("{path}?version=1"), None).await;
    assert_eq!(v["data"]["data"]["deep"]["list"][1]["token"], nested.as_str(), "the secret is readable");
    // A cas=0 write that fails, and a subkeys read: neither may store anything.
    let (st, _) = s.call("POST", &path, Some(json!({"options": {"cas": 0}, "data": {"x": canary}}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    let check = |files: &[(String, Vec<u8>)], when: &str| {
        // The scan works: values stored in clear by design are found.
        assert!(!find(files, &meta_value).is_empty(), "{when}: custom metadata not found; the scan is broken");
        assert!(!find(files, &marker).is_empty(), "{when}: the secret path not found; the scan is broken");
        for (what, secret) in [("canary", &canary), ("nested canary", &nested), ("root token", &root)] {
            let hits = find(files, secret);
            assert!(hits.is_empty(), "{when}: {what} found in the store: {hits:?}");
        }
    };
    check(&store_bytes(s.dir.path()), "while running");
    let dir = s.stop().await;
    check(&store_bytes(dir.path()), "after stop");
}

async fn rw_conn(db: &Path) -> SqliteConnection {
    let opts = SqliteConnectOptions::new().filename(db).busy_timeout(Duration::from_secs(10));
    SqliteConnection::connect_with(&opts).await.unwrap()
}

async fn ciphertext(conn: &mut SqliteConnection, path: &str, version: i64) -> Vec<u8> {
    sqlx::query_scalar("select ciphertext from kv_version where path = ? and version = ?")
        .bind(path)
        .bind(version)
        .fetch_one(conn)
        .await
        .unwrap()
}

async fn set_ciphertext(conn: &mut SqliteConnection, path: &str, version: i64, ct: &[u8]) {
    let n = sqlx::query("update kv_version set ciphertext = ? where path = ? and version = ?")
        .bind(ct)
        .bind(path)
        .bind(version)
        .execute(conn)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 1);
}

fn assert_opaque_500(what: &str, st: StatusCode, v: &Value, values: &[&str]) {
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR, "{what}: {v}");
    let errors = v["errors"].as_array().unwrap_or_else(|| panic!("{what}: {v}"));
    assert_eq!(errors.len(), 1, "{what}: {v}");
    assert!(errors[0].as_str().unwrap().starts_with("internal error"), "{what}: {v}");
    assert!(v.get("data").is_none(), "{what}: {v}");
    let text = v.to_string();
    for value in values {
        assert!(!text.contains(value), "{what}: {value} leaked: {text}");
    }
}

#[tokio::test]
async fn swapped_ciphertexts_do_not_decrypt() {
    // The rows are changed in the database under the running server: no KV cache in between.
    let s = TestServer::dev_uncached().await;
    let a = format!("AAA{}", random_text(20));
    let b = format!("BBB{}", random_text(20));
    s.write("secret/data/a", json!({"v": a})).await;
    s.write("secret/data/b", json!({"v": b})).await;
    assert_eq!(s.read("secret/data/a").await, json!({"v": a}));

    let mut conn = rw_conn(&s.db_path()).await;
    let ct_a = ciphertext(&mut conn, "a", 1).await;
    let ct_b = ciphertext(&mut conn, "b", 1).await;
    assert_ne!(ct_a, ct_b);
    set_ciphertext(&mut conn, "a", 1, &ct_b).await;
    let (st, v) = s.call("GET", "secret/data/a", None).await;
    assert_opaque_500("b's ciphertext in a's row", st, &v, &[&a, &b]);
    let (st, v) = s.call("GET", "secret/subkeys/a", None).await;
    assert_opaque_500("subkeys of a swapped row", st, &v, &[&a, &b]);
    // b itself is fine, and restoring a's ciphertext makes a readable again.
    assert_eq!(s.read("secret/data/b").await, json!({"v": b}));
    set_ciphertext(&mut conn, "a", 1, &ct_a).await;
    assert_eq!(s.read("secret/data/a").await, json!({"v": a}));

    // Versions of one key are bound to their version number.
    let c1 = format!("C1{}", random_text(20));
    let c2 = format!("C2{}", random_text(20));
    s.write("secret/data/c", json!({"v": c1})).await;
    s.write("secret/data/c", json!({"v": c2})).await;
    let v1 = ciphertext(&mut conn, "c", 1).await;
    let v2 = ciphertext(&mut conn, "c", 2).await;
    set_ciphertext(&mut conn, "c", 1, &v2).await;
    set_ciphertext(&mut conn, "c", 2, &v1).await;
    for p in ["secret/data/c", "secret/data/c?version=1", "secret/data/c?version=2"] {
        let (st, v) = s.call("GET", p, None).await;
        assert_opaque_500(p, st, &v, &[&c1, &c2]);
    }
    // A flipped bit in the stored value fails the same way.
    let mut flipped = v1.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    set_ciphertext(&mut conn, "c", 1, &flipped).await;
    set_ciphertext(&mut conn, "c", 2, &v2).await;
    let (st, v) = s.call("GET", "secret/data/c?version=1", None).await;
    assert_opaque_500("flipped bit", st, &v, &[&c1, &c2]);
    assert_eq!(s.read("secret/data/c").await, json!({"v": c2}));
    conn.close().await.unwrap();
}

#[tokio::test]
async fn sec22_error_bodies_never_echo_values() {
    let s = TestServer::dev().await;
    let canary = format!("CANARY{}", random_text(24));
    let c = canary.as_str();
    let cases: Vec<(&str, &str, &str, String)> = vec![
        ("data of the wrong type", "POST", "secret/data/e", json!({"data": c}).to_string()),
        ("data as a list", "POST", "secret/data/e", json!({"data": [c]}).to_string()),
        ("truncated JSON", "POST", "secret/data/e", format!("{{\"data\":{{\"password\":\"{c}")),
        ("truncated after value", "POST", "secret/data/e", format!("{{\"data\":{{\"password\":\"{c}\",")),
        ("bad escape", "POST", "secret/data/e", format!("{{\"data\":{{\"password\":\"{c}\\q\"}}}}")),
        ("cas as a string", "POST", "secret/data/e", json!({"data": {"a": "b"}, "options": {"cas": c}}).to_string()),
        ("options as a string", "POST", "secret/data/e", json!({"data": {"a": "b"}, "options": c}).to_string()),
        (
            "custom_metadata too long",
            "POST",
            "secret/metadata/e",
            json!({"custom_metadata": {"k": format!("{c}{}", "x".repeat(600))}}).to_string(),
        ),
        (
            "custom_metadata not a string",
            "POST",
            "secret/metadata/e",
            json!({"custom_metadata": {"k": [c]}}).to_string(),
        ),
        ("max_versions as text", "POST", "secret/metadata/e", json!({"max_versions": c}).to_string()),
        ("versions as text", "POST", "secret/delete/e", json!({"versions": [c]}).to_string()),
        ("config max_versions", "POST", "secret/config", json!({"max_versions": c}).to_string()),
        (
            "too deep",
            "POST",
            "secret/data/e",
            format!("{{\"data\":{{\"v\":{}\"{c}\"{}}}}}", "[".repeat(70), "]".repeat(70)),
        ),
        ("not an object", "POST", "secret/data/e", json!([c]).to_string()),
    ];
    for (what, method, path, body) in &cases {
        let r = send(s.request(method, path).body(body.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.text);
        assert!(!r.text.contains(c), "{what}: the error echoes the value: {}", r.text);
        assert!(r.json()["errors"][0].is_string(), "{what}: {}", r.text);
    }
    // Query parameters too.
    let r = send(s.request("GET", &format!("secret/data/e?version={c}"))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(!r.text.contains(c), "{}", r.text);
    // The patch path.
    let w = s.write("secret/data/p", json!({"a": "b"})).await;
    assert_eq!(w["version"], 1);
    let r = s.patch("secret/data/p", json!({"data": c})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(!r.text.contains(c), "{}", r.text);
    let r = send(
        s.request("PATCH", "secret/data/p")
            .header("Content-Type", "application/merge-patch+json")
            .body(format!("{{\"data\":{{\"a\":\"{c}")),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(!r.text.contains(c), "{}", r.text);
    // Nothing was written by any of them.
    let (st, _) = s.call("GET", "secret/data/e", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(s.read("secret/data/p").await, json!({"a": "b"}));
}

#[tokio::test]
async fn sealed_server_serves_no_data_even_to_root() {
    let s = TestServer::dev().await;
    let secret = format!("S{}", random_text(24));
    s.write("secret/data/x", json!({"v": secret})).await;
    let (st, _) = s.call("PUT", "sys/seal", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    for p in [
        "secret/data/x",
        "secret/data/x?version=1",
        "secret/subkeys/x",
        "secret/metadata/x",
        "secret/metadata?list=true",
    ] {
        let r = send(s.request("GET", p)).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{p}: {}", r.text);
        assert_eq!(r.json(), json!({"errors": ["Vault is sealed"]}), "{p}");
        assert!(!r.text.contains(&secret));
    }
    let r = s.patch("secret/data/x", json!({"data": {"v": "overwrite"}})).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let (st, _) = s.call("PUT", "secret/data/x", Some(json!({"data": {"v": "overwrite"}}))).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    // The in-process core holds no keys either.
    assert!(s.running.as_ref().unwrap().core.barrier.is_sealed());
}

/// `hash` and the text columns of a token row.
type TokenRowText = (Vec<u8>, String, String, String, String, String);

async fn token_rows(db: &Path) -> Vec<TokenRowText> {
    let opts = SqliteConnectOptions::new().filename(db).read_only(true);
    let mut conn = SqliteConnection::connect_with(&opts).await.unwrap();
    let rows = sqlx::query_as(
        "select hash, accessor, policies, meta, display_name, path || token_type || coalesce(hex(parent_hash), '') \
         from token",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    rows
}

fn assert_hashed_only(rows: &[TokenRowText], token: &str) {
    assert!(!rows.is_empty(), "no token row");
    let plain_sha = Sha256::digest(token.as_bytes()).to_vec();
    for (hash, accessor, policies, meta, display, rest) in rows {
        assert_eq!(hash.len(), 32, "hash column is 32 bytes");
        assert_ne!(hash, &plain_sha, "the hash must be keyed, not a bare SHA-256");
        assert!(!hash.windows(token.len()).any(|w| w == token.as_bytes()));
        for text in [accessor, policies, meta, display, rest] {
            assert!(!text.contains(token), "token text in a token row: {text}");
            assert!(!text.contains(&hex::encode(token)), "hex token in a token row: {text}");
        }
        assert_ne!(accessor, token);
    }
}

#[tokio::test]
async fn tokens_are_stored_as_keyed_hashes() {
    // The dev root token chosen by the operator.
    let root = format!("s.{}", random_text(40));
    let s = TestServer::dev_with(&root, limits()).await;
    let (st, v) = s.call("GET", "auth/token/lookup-self", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["data"]["id"], root.as_str());
    let rows = token_rows(&s.db_path()).await;
    assert_eq!(rows.len(), 1, "only the chosen root token is stored");
    assert_hashed_only(&rows, &root);
    assert!(find(&store_bytes(s.dir.path()), &root).is_empty());

    // The root token generated by init.
    let mut s = TestServer::uninitialised().await;
    let (keys, generated) = s.init(1, 1).await;
    s.unseal(&keys).await;
    let (st, _) = s.call("GET", "auth/token/lookup-self", None).await;
    assert_eq!(st, StatusCode::OK);
    let rows = token_rows(&s.db_path()).await;
    assert_eq!(rows.len(), 1);
    assert_hashed_only(&rows, &generated);
    let files = store_bytes(s.dir.path());
    assert!(find(&files, &generated).is_empty(), "generated root token in the store");
    // Nor is the unseal key.
    for k in &keys {
        let raw = hex::decode(k).unwrap();
        for (name, bytes) in &files {
            assert!(!bytes.windows(raw.len()).any(|w| w == raw.as_slice()), "unseal key in {name}");
        }
        assert!(find(&files, k).is_empty(), "unseal key text in the store");
    }
}
