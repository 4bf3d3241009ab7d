//! Audit devices end to end: entries written by real requests, HMACs that match `audit-hash`, no
//! secret in any encoding, fail-closed devices, system events, and tamper evidence checked offline.

use std::path::{Path, PathBuf};
use std::time::Duration;

use coffer::core::audit::device::Spec;
use coffer::core::audit::verify::{self, Options};
use coffer::core::audit::{chain, FileDir, Settings};
use reqwest::StatusCode;
use serde_json::{json, Map, Value};

use crate::harness::{random_text, TestServer};
use crate::security::find;

async fn enable(s: &TestServer, name: &str, body: Value) -> (StatusCode, Value) {
    s.call("PUT", &format!("sys/audit/{name}"), Some(body)).await
}

async fn enable_file(s: &TestServer, name: &str, path: &Path, extra: Value) {
    let mut options = json!({"file_path": path.to_str().unwrap()});
    options.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let (st, v) = enable(s, name, json!({"type": "file", "options": options})).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

async fn audit_hash(s: &TestServer, device: &str, input: &str) -> String {
    let (st, v) = s.call("POST", &format!("sys/audit-hash/{device}"), Some(json!({"input": input}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["data"]["hash"].as_str().unwrap().to_string()
}

pub(crate) async fn public_key(s: &TestServer, device: &str) -> ed25519_dalek::VerifyingKey {
    let (st, v) = s.call("GET", &format!("sys/audit/{device}/public-key"), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    chain::parse_public_key(v["data"]["public_key_pem"].as_str().unwrap()).unwrap()
}

pub(crate) fn declared(name: &str, path: &str) -> Spec {
    let options: Map<String, Value> = json!({"file_path": path}).as_object().unwrap().clone();
    Spec::parse(name, "file", "", options, true, None).unwrap()
}

pub(crate) fn check(paths: &[PathBuf], key: &ed25519_dalek::VerifyingKey) -> Result<verify::Report, verify::Failure> {
    verify::verify_files(paths, key, &Options { allow_open_tail: false })
}

/// Entries of one kind (`request`/`response`) for one API path.
fn entries<'a>(all: &'a [Value], kind: &str, path: &str) -> Vec<&'a Value> {
    all.iter().filter(|e| e["type"] == kind && e["request"]["path"] == path).collect()
}

#[tokio::test]
async fn every_request_gets_a_request_and_a_response_entry_with_matching_hmacs() {
    let s = TestServer::dev().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    enable_file(&s, "file", &log, json!({})).await;
    let canary = format!("CANARY{}", random_text(20));
    s.write("secret/data/app", json!({"pass": canary, "nested": {"list": [canary.clone(), 7]}})).await;
    let (st, read) = s.call("GET", "secret/data/app", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(read["data"]["data"]["pass"], json!(canary));
    let (_, created) = s.call("POST", "auth/token/create", Some(json!({"policies": ["default"]}))).await;
    let child = created["auth"]["client_token"].as_str().unwrap().to_string();
    let (st, _) = s.call_as(&child, "GET", "secret/data/app", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let password = format!("PASSWORD{}", random_text(20));
    let (st, _) = s.call("POST", "sys/auth/userpass", Some(json!({"type": "userpass"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.call("POST", "auth/userpass/users/alice", Some(json!({"password": password}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, login) = s.call_as("", "POST", "auth/userpass/login/alice", Some(json!({"password": password}))).await;
    assert_eq!(st, StatusCode::OK, "{login}");
    let user_token = login["auth"]["client_token"].as_str().unwrap().to_string();

    let all = lines(&log);
    let root_hash = audit_hash(&s, "file", "root").await;
    assert_eq!(root_hash, format!("hmac-sha256:{}", &root_hash[12..]));
    let canary_hash = audit_hash(&s, "file", &canary).await;
    // Every request entry has its response entry with the same id.
    let requests: Vec<&Value> =
        all.iter().filter(|e| e["type"] == "request" && e["auth"]["client_token"].is_string()).collect();
    assert!(requests.len() >= 4, "{requests:?}");
    for r in &requests {
        let id = &r["request"]["id"];
        assert!(all.iter().any(|e| e["type"] == "response" && e["request"]["id"] == *id), "no response for {id}");
    }
    let write = entries(&all, "request", "secret/data/app")[0];
    assert_eq!(write["auth"]["client_token"], json!(root_hash));
    assert_eq!(write["request"]["client_token"], json!(root_hash));
    assert_eq!(write["request"]["data"]["data"]["pass"], json!(canary_hash));
    assert_eq!(write["request"]["data"]["data"]["nested"]["list"], json!([canary_hash, 7]));
    assert_eq!(write["request"]["mount_point"], "secret/");
    assert_eq!(write["request"]["mount_type"], "kv");
    assert_eq!(write["request"]["remote_address"], "127.0.0.1");
    assert_eq!(write["auth"]["policy_results"]["allowed"], true);
    let read_resp = entries(&all, "response", "secret/data/app")
        .into_iter()
        .find(|e| e["request"]["operation"] == "read" && e["auth"]["client_token"] == json!(root_hash))
        .unwrap();
    assert_eq!(read_resp["response"]["data"]["data"]["pass"], json!(canary_hash));
    assert_eq!(read_resp["response"]["data"]["metadata"]["version"], 1, "numbers stay in clear");
    let create = entries(&all, "response", "auth/token/create")[0];
    assert_eq!(create["response"]["auth"]["client_token"], json!(audit_hash(&s, "file", &child).await));
    // The refused read is on record with its error and the policy decision.
    let denied = entries(&all, "response", "secret/data/app")
        .into_iter()
        .find(|e| e["auth"]["policy_results"]["allowed"] == false)
        .expect("denied request audited");
    assert_eq!(denied["error"], "1 error occurred:\n\t* permission denied\n\n");
    // SEC-21: no canary or token in any encoding, anywhere in the file.
    let bytes = std::fs::read(&log).unwrap();
    let files = vec![("audit.log".to_string(), bytes)];
    // (The root token "root" is also a policy name, so only its hashed forms are checked, above.)
    for secret in [&canary, &child, &password, &user_token] {
        let hits = find(&files, secret);
        assert!(hits.is_empty(), "{secret} found: {hits:?}");
    }
    let accessor = created["auth"]["accessor"].as_str().unwrap();
    assert!(find(&files, accessor).is_empty(), "accessors are hashed by default");
}

#[tokio::test]
async fn sec23_log_raw_and_hmac_accessor_apply_to_their_own_device_only() {
    let s = TestServer::dev().await;
    let dir = tempfile::tempdir().unwrap();
    let (hashed, raw, plain_acc) = (dir.path().join("a.log"), dir.path().join("b.log"), dir.path().join("c.log"));
    enable_file(&s, "hashed", &hashed, json!({})).await;
    enable_file(&s, "raw", &raw, json!({"log_raw": "true"})).await;
    enable_file(&s, "accessors", &plain_acc, json!({"hmac_accessor": false})).await;
    let canary = format!("CANARY{}", random_text(20));
    s.write("secret/data/x", json!({"v": canary})).await;
    let (_, created) = s.call("POST", "auth/token/create", Some(json!({"policies": ["default"]}))).await;
    let accessor = created["auth"]["accessor"].as_str().unwrap();
    let read = |p: &Path| String::from_utf8(std::fs::read(p).unwrap()).unwrap();
    assert!(!read(&hashed).contains(&canary) && !read(&hashed).contains(accessor));
    assert!(read(&raw).contains(&canary), "log_raw writes values in clear on its own device");
    assert!(!read(&plain_acc).contains(&canary));
    assert!(read(&plain_acc).contains(accessor), "hmac_accessor=false leaves accessors in clear");
    let (_, list) = s.call("GET", "sys/audit", None).await;
    assert_eq!(list["data"]["raw/"]["options"]["log_raw"], "true");
    assert_eq!(list["data"]["hashed/"]["type"], "file");
}

#[tokio::test]
async fn a_full_device_fails_closed_and_a_working_device_keeps_requests_going() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.log");
    let both = Settings {
        declared: vec![declared("full", "/dev/full"), declared("good", good.to_str().unwrap())],
        ..Settings::default()
    };
    let s = TestServer::dev_audited(both).await;
    s.write("secret/data/a", json!({"k": "v"})).await;
    assert!(!entries(&lines(&good), "response", "secret/data/a").is_empty());
    s.stop().await;

    let only_full = Settings { declared: vec![declared("full", "/dev/full")], ..Settings::default() };
    let s = TestServer::dev_audited(only_full).await;
    let (st, v) = s.call("PUT", "secret/data/a", Some(json!({"data": {"k": "v"}}))).await;
    assert_eq!((st, v), (StatusCode::INTERNAL_SERVER_ERROR, json!({"errors": ["internal error"]})));
    let (st, _) = s.call("GET", "secret/data/a", None).await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    let (st, _) = s.call("GET", "sys/health", None).await;
    assert_eq!(st, StatusCode::OK, "health is not audited and stays up");
    // Nothing committed: the write was refused before it ran.
    let mut db = sqlx_conn(&s.db_path()).await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM kv_version").fetch_one(&mut db).await.unwrap();
    assert_eq!(rows, 0);
    // Listing and disabling stay possible; a config-declared device cannot be disabled.
    let (st, v) = s.call("GET", "sys/audit", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["full/"]["options"]["file_path"], "/dev/full");
    let (st, v) = s.call("DELETE", "sys/audit/full", None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(v["errors"][0].as_str().unwrap().contains("config file"), "{v}");
}

async fn sqlx_conn(path: &Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true);
    sqlx::SqliteConnection::connect_with(&opts).await.unwrap()
}

#[tokio::test]
async fn an_unwritable_file_fails_closed_recovers_by_itself_and_can_be_disabled() {
    let s = TestServer::dev().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    enable_file(&s, "file", &log, json!({})).await;
    let core = s.running.as_ref().unwrap().core.clone();
    // The file is replaced by a directory (tests run as root, so permissions alone cannot stop a write).
    std::fs::rename(&log, dir.path().join("old.log")).unwrap();
    std::fs::create_dir(&log).unwrap();
    core.audit.reopen_all();
    let (st, _) = s.call("PUT", "secret/data/b", Some(json!({"data": {"k": "v"}}))).await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    let (st, _) = s.call("GET", "secret/data/b", None).await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR, "the refused write committed nothing, and reads fail closed too");
    // The fault goes away: the next request reopens the file and goes through.
    std::fs::remove_dir(&log).unwrap();
    let (st, _) = s.call("GET", "secret/data/b", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "recovered without a restart, and the refused write left nothing");
    // Broken again: disabling still works, then requests go ahead unaudited.
    std::fs::remove_file(&log).unwrap();
    std::fs::create_dir(&log).unwrap();
    core.audit.reopen_all();
    let (st, _) = s.call("GET", "secret/data/b", None).await;
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR);
    let (st, v) = s.call("DELETE", "sys/audit/file", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, _) = s.call("GET", "secret/data/b", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_socket_peer_that_never_reads_is_cut_off_by_the_timeout() {
    let peer = tokio::net::TcpSocket::new_v4().unwrap();
    peer.set_recv_buffer_size(4096).unwrap();
    peer.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = peer.listen(16).unwrap();
    let addr = listener.local_addr().unwrap();
    // Accept connections and hold them open without ever reading.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = listener.accept().await {
            held.push(c);
        }
    });
    // Large entries fill the socket buffers quickly, so the entry cap is raised.
    let settings = Settings { timeout: Duration::from_secs(1), max_entry_size: 1 << 20, ..Settings::default() };
    let s = TestServer::dev_audited(settings).await;
    let (st, v) = enable(
        &s,
        "sock",
        json!({"type": "socket", "options": {"address": addr.to_string(), "socket_type": "tcp", "write_timeout": "1s"}}),
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let big: Map<String, Value> = (0..4000).map(|i| (format!("k{i:05}"), json!("v"))).collect();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut refused = false;
    for _ in 0..200 {
        let resp = client
            .put(format!("{}/v1/secret/data/big", s.base))
            .header("X-Vault-Token", "root")
            .json(&json!({"data": big}))
            .send()
            .await
            .expect("no request hangs past the audit timeout");
        if resp.status() == StatusCode::INTERNAL_SERVER_ERROR {
            refused = true;
            break;
        }
        assert_eq!(resp.status(), StatusCode::OK);
    }
    assert!(refused, "a stuck peer must make requests fail closed");
    let (st, _) = s.call("GET", "sys/health", None).await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = s.call("DELETE", "sys/audit/sock", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, _) = s.call("GET", "sys/mounts", None).await;
    assert_eq!(st, StatusCode::OK);
    holder.abort();
}

#[tokio::test]
async fn sec24_api_devices_stay_in_the_audit_directory_and_never_follow_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings { file_dir: FileDir::Inside(dir.path().to_path_buf()), ..Settings::default() };
    let s = TestServer::dev_audited(settings).await;
    for (path, why) in
        [("/etc/cron.d/coffer", "inside the audit directory"), ("../escape.log", "inside the audit directory")]
    {
        let (st, v) = enable(&s, "f", json!({"type": "file", "options": {"file_path": path}})).await;
        assert_eq!(st, StatusCode::BAD_REQUEST);
        assert!(v["errors"][0].as_str().unwrap().contains(why), "{v}");
    }
    let (st, v) = enable(&s, "f", json!({"type": "file", "options": {"file_path": "a.log", "mode": "0777"}})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    std::os::unix::fs::symlink("/tmp/elsewhere.log", dir.path().join("link.log")).unwrap();
    let (st, v) = enable(&s, "f", json!({"type": "file", "options": {"file_path": "link.log"}})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(v["errors"][0].as_str().unwrap().starts_with("audit backend failed test message"), "{v}");
    assert!(!Path::new("/tmp/elsewhere.log").exists());
    enable_file(&s, "f", Path::new("a.log"), json!({})).await;
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("a.log")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let (st, _) = enable(&s, "f", json!({"type": "file", "options": {"file_path": "b.log"}})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "path already in use");
}

#[tokio::test]
async fn verify_accepts_a_real_log_and_finds_each_kind_of_tampering_at_its_line() {
    let s = TestServer::dev().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    enable_file(&s, "file", &log, json!({})).await;
    let key = public_key(&s, "file").await;
    for i in 0..10 {
        s.write(&format!("secret/data/k{i}"), json!({"v": i})).await;
    }
    s.stop().await;
    let report = check(std::slice::from_ref(&log), &key).unwrap();
    assert!(report.entries >= 20, "{report:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    let original: Vec<&str> = text.lines().collect();
    let write = |name: &str, ls: &[String]| {
        let p = dir.path().join(name);
        std::fs::write(&p, ls.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        p
    };
    let base: Vec<String> = original.iter().map(|l| l.to_string()).collect();
    // One byte edited inside line 6 (a request path).
    let mut edited = base.clone();
    edited[5] = edited[5].replacen("secret/data/k", "secret/data/K", 1);
    assert_ne!(edited[5], base[5]);
    assert_eq!(check(&[write("edit", &edited)], &key).unwrap_err().line, 6);
    // Line 7 deleted.
    let mut deleted = base.clone();
    deleted.remove(6);
    let f = check(&[write("delete", &deleted)], &key).unwrap_err();
    assert_eq!(f.line, 7, "{f}");
    // Lines 8 and 9 swapped.
    let mut swapped = base.clone();
    swapped.swap(7, 8);
    assert_eq!(check(&[write("swap", &swapped)], &key).unwrap_err().line, 8);
    // The tail cut off at a line boundary (the closing checkpoint and two entries gone).
    let truncated = base[..base.len() - 3].to_vec();
    let f = check(&[write("truncate", &truncated)], &key).unwrap_err();
    assert_eq!(f.line, truncated.len(), "{f}");
    assert!(verify::verify_files(&[dir.path().join("truncate")], &key, &Options { allow_open_tail: true }).is_ok());
    // Another device's key does not verify this log.
    let other = ed25519_dalek::SigningKey::from_bytes(&[5; 32]).verifying_key();
    assert!(check(std::slice::from_ref(&log), &other).is_err());
}

#[tokio::test]
async fn the_chain_continues_across_reopen_and_restart_and_system_events_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("audit.log");
    let s = TestServer::start_opts(
        dir,
        coffer::server::Options {
            seal: coffer::core::seal::SealKind::Shamir,
            limits: crate::harness::limits(),
            audit: Settings::default(),
            lease_ttl: coffer::server::DEFAULT_LEASE_TTL,
            cache: Default::default(),
            aws: Default::default(),
        },
    )
    .await;
    let core = s.running.as_ref().unwrap().core.clone();
    let creds = coffer::server::setup_dev(&core, Some(secrecy::SecretString::from("root".to_string()))).await.unwrap();
    let mut s = s;
    s.token = "root".into();
    enable_file(&s, "file", &log, json!({})).await;
    let key = public_key(&s, "file").await;
    s.write("secret/data/one", json!({"v": 1})).await;
    // logrotate: move the file away, then SIGHUP (here: the same call the signal handler makes).
    let rotated = logs.path().join("audit.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    core.audit.reopen_all();
    s.write("secret/data/two", json!({"v": 2})).await;
    let (st, _) = s.call("PUT", "sys/rotate", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    drop(core);
    let dir = s.stop().await;
    // Restart over the same store and file; unseal with the dev key.
    let s = TestServer::start_in(dir, coffer::core::seal::SealKind::Shamir, crate::harness::limits()).await;
    let (st, v) = s.call_as("", "PUT", "sys/unseal", Some(json!({"key": hex::encode(&creds.unseal_key[..])}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _) = s.call_as("root", "GET", "secret/data/two", None).await;
    assert_eq!(st, StatusCode::OK);
    s.stop().await;
    let report = check(&[rotated.clone(), log.clone()], &key).unwrap();
    assert!(report.files == 2 && report.checkpoints >= 5, "{report:?}");
    let all = lines(&log);
    let events: Vec<&str> =
        all.iter().filter(|e| e["type"] == "event").map(|e| e["event"]["kind"].as_str().unwrap()).collect();
    assert!(
        events.contains(&"key_rotation") && events.contains(&"shutdown") && events.contains(&"unseal"),
        "{events:?}"
    );
    let reasons: Vec<&str> =
        all.iter().filter(|e| e["type"] == "checkpoint").map(|e| e["checkpoint"]["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons.first(), Some(&"open"));
    assert_eq!(reasons.last(), Some(&"close"));
    assert!(reasons.windows(2).any(|w| w == ["close", "open"]), "restart continues the same file: {reasons:?}");
}

#[tokio::test]
async fn unix_and_udp_socket_devices_receive_chained_lines() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("audit.sock");
    let unix = tokio::net::UnixListener::bind(&sock).unwrap();
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let s = TestServer::dev().await;
    let (st, v) = enable(
        &s,
        "unix",
        json!({"type": "socket", "options": {"address": sock.to_str().unwrap(), "socket_type": "unix"}}),
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let udp_addr = udp.local_addr().unwrap().to_string();
    let (st, v) =
        enable(&s, "udp", json!({"type": "socket", "options": {"address": udp_addr, "socket_type": "udp"}})).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    s.write("secret/data/sock", json!({"v": "x"})).await;

    let (mut conn, _) = unix.accept().await.unwrap();
    let mut received = String::new();
    while !received.contains("\"path\":\"secret/data/sock\"") || !received.ends_with('\n') {
        let mut buf = [0u8; 65536];
        let n = tokio::io::AsyncReadExt::read(&mut conn, &mut buf).await.unwrap();
        assert!(n > 0, "the unix peer closed early: {received}");
        received.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    let lines: Vec<Value> = received.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["type"], "checkpoint", "a connection opens with a signed checkpoint");
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");

    let mut datagrams = Vec::new();
    while !datagrams.iter().any(|d: &Value| d["request"]["path"] == "secret/data/sock") {
        let mut buf = vec![0u8; 65536];
        let n = udp.recv(&mut buf).await.unwrap();
        datagrams.push(serde_json::from_slice(buf[..n].trim_ascii_end()).unwrap());
    }
    assert!(datagrams.iter().all(|d| d["seq"].is_u64() && d["prev_hash"].is_string()));
}
