//! Snapshots (`sys/storage/raft/snapshot`, `snapshot-force`, `coffer operator snapshot`): a
//! snapshot taken under concurrent writers is consistent; a restore puts the data back; a
//! SQLite snapshot restores into PostgreSQL and back and unseals with the old keys; damaged,
//! truncated and foreign snapshots are refused and change nothing; a forced restore is proven by
//! its keys at the first unseal or rolled back, across a restart too; the endpoints need sudo;
//! scheduled snapshots are written with mode 0600 and pruned.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use coffer::core::seal::SealKind;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{limits, until, TestServer};
use crate::store_contract::PgDb;

const SNAPSHOT: &str = "sys/storage/raft/snapshot";
const FORCE: &str = "sys/storage/raft/snapshot-force";

/// Takes a snapshot with the server's token.
async fn save(s: &TestServer) -> Vec<u8> {
    let resp = s.request("GET", SNAPSHOT).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/gzip");
    resp.bytes().await.unwrap().to_vec()
}

/// Posts `bytes` to `path`; returns the status and the body as text.
async fn post(s: &TestServer, path: &str, bytes: Vec<u8>) -> (StatusCode, String) {
    let resp = s.request("POST", path).body(bytes).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

async fn sealed(s: &TestServer) -> bool {
    let (_, v) = s.call_as("", "GET", "sys/seal-status", None).await;
    v["sealed"].as_bool().unwrap()
}

/// Submits shares one by one; returns the last answer's status and body.
async fn unseal_with(s: &TestServer, shares: &[String]) -> (StatusCode, serde_json::Value) {
    let mut last = (StatusCode::OK, serde_json::Value::Null);
    for k in shares {
        last = s.call_as("", "PUT", "sys/unseal", Some(json!({ "key": k }))).await;
        if last.0 != StatusCode::OK {
            break;
        }
    }
    last
}

/// A Shamir server over `url` (or a fresh SQLite store), initialised 3/2, unsealed, with KV v2 at
/// `secret/`; returns it and its shares.
async fn shamir_node(url: Option<&str>) -> (TestServer, Vec<String>) {
    let mut s = match url {
        Some(url) => TestServer::at_url(url, coffer::server::DEFAULT_LEASE_TTL).await,
        None => TestServer::uninitialised().await,
    };
    let (shares, _) = s.init(3, 2).await;
    s.unseal(&shares[..2]).await;
    let (st, v) = s.call("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    (s, shares)
}

#[tokio::test]
async fn a_snapshot_under_eight_writers_holds_every_write_acknowledged_before_it_and_restores() {
    let s = Arc::new(TestServer::dev().await);
    let acked: Arc<Vec<AtomicUsize>> = Arc::new((0..8).map(|_| AtomicUsize::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (s, acked, stop) = (s.clone(), acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let body = json!({"data": {"n": n, "pad": "x".repeat(200)}});
                let (st, v) = s.call("PUT", &format!("secret/data/w{w}/{n}"), Some(body)).await;
                assert_eq!(st, StatusCode::OK, "{v}");
                n += 1;
                acked[w].store(n, Ordering::SeqCst);
            }
        }));
    }
    until("every writer has written", Duration::from_secs(30), || {
        let acked = acked.clone();
        async move { acked.iter().all(|a| a.load(Ordering::SeqCst) >= 5) }
    })
    .await;
    let before: Vec<usize> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    let bytes = save(&s).await;
    // Writers keep going past the snapshot, then stop.
    let after: Vec<usize> = acked.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    until("the writers go on after the snapshot", Duration::from_secs(30), || {
        let (acked, after) = (acked.clone(), after.clone());
        async move { acked.iter().zip(&after).all(|(a, b)| a.load(Ordering::SeqCst) > *b) }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    s.write("secret/data/later", json!({"v": "after the snapshot"})).await;
    let (st, _) = s.call("DELETE", "secret/metadata/w0/0", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);

    let (st, text) = post(&s, SNAPSHOT, bytes).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{text}");
    assert!(!sealed(&s).await, "a restore of this cluster's snapshot keeps the node unsealed");
    let (st, _) = s.call("GET", "secret/data/later", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "written after the snapshot: gone");
    assert_eq!(s.read("secret/data/w0/0").await["n"], 0, "deleted after the snapshot: back");
    for w in 0..8 {
        // Each writer's keys present form a prefix 0..k (nothing half-written, no gaps), and
        // k covers every write acknowledged before the snapshot began.
        let (st, v) = s.call("LIST", &format!("secret/metadata/w{w}/"), None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let mut present: Vec<usize> =
            v["data"]["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().parse().unwrap()).collect();
        present.sort();
        let k = present.len();
        assert_eq!(present, (0..k).collect::<Vec<_>>(), "writer {w}: a gap");
        assert!(k >= before[w], "writer {w}: {k} writes restored, {} acknowledged before the snapshot", before[w]);
        assert!(k <= after[w] + 1, "writer {w}: {k} restored, only {} acknowledged when it ended", after[w]);
        for n in [0, k - 1] {
            let d = s.read(&format!("secret/data/w{w}/{n}")).await;
            assert_eq!((d["n"].as_u64(), d["pad"].as_str().map(str::len)), (Some(n as u64), Some(200)));
        }
    }
    // The server goes on serving and writing after the restore.
    s.write("secret/data/after-restore", json!({"v": 1})).await;
}

#[tokio::test]
async fn a_sqlite_snapshot_restores_into_postgresql_and_back_and_unseals_with_the_old_keys() {
    let (mut a, a_shares) = shamir_node(None).await;
    a.write("secret/data/app/db", json!({"password": "from-a"})).await;
    let token = a.token_with_policy("reader", r#"path "secret/data/app/*" { capabilities = ["read"] }"#).await;
    let from_sqlite = save(&a).await;
    let a_root = std::mem::take(&mut a.token);

    // A fresh PostgreSQL node with its own keys takes A's snapshot by force, then A's keys unseal it.
    let db = PgDb::create().await;
    let (b, b_shares) = shamir_node(Some(db.url())).await;
    let (st, text) = post(&b, FORCE, from_sqlite).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{text}");
    assert!(sealed(&b).await, "a forced restore seals until its keys are given");
    let (_, status) = b.call_as("", "GET", "sys/seal-status", None).await;
    assert_eq!((status["t"].as_u64(), status["n"].as_u64()), (Some(2), Some(3)), "A's seal configuration");
    let _ = b_shares;
    b.unseal(&a_shares[1..]).await;
    let (st, v) = b.call_as(&token, "GET", "secret/data/app/db", None).await;
    assert_eq!((st, v["data"]["data"]["password"].as_str()), (StatusCode::OK, Some("from-a")), "{v}");
    let (st, _) = b.call_as(&a_root, "GET", "sys/mounts", None).await;
    assert_eq!(st, StatusCode::OK, "A's root token works on B");

    // And back: B's snapshot (A's cluster now) into a fresh SQLite node.
    let mut b = b;
    b.token = a_root.clone();
    b.write("secret/data/app/db", json!({"password": "changed-on-b"})).await;
    let from_pg = save(&b).await;
    let (c, _) = shamir_node(None).await;
    let (st, text) = post(&c, FORCE, from_pg).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{text}");
    c.unseal(&a_shares[..2]).await;
    let (st, v) = c.call_as(&token, "GET", "secret/data/app/db", None).await;
    assert_eq!((st, v["data"]["data"]["password"].as_str()), (StatusCode::OK, Some("changed-on-b")), "{v}");
    drop(b);
    db.close().await;
}

#[tokio::test]
async fn damaged_truncated_and_foreign_snapshots_are_refused_and_change_nothing() {
    let (mut s, shares) = shamir_node(None).await;
    s.write("secret/data/k", json!({"v": "old"})).await;
    let good = save(&s).await;
    s.write("secret/data/k", json!({"v": "current"})).await;
    let (other, other_shares) = shamir_node(None).await;
    other.write("secret/data/k", json!({"v": "other cluster"})).await;
    let foreign = save(&other).await;

    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("a flipped byte", flipped, "invalid snapshot"),
        ("a truncated file", good[..good.len() - 40].to_vec(), "invalid snapshot"),
        ("half a file", good[..good.len() / 2].to_vec(), "invalid snapshot"),
        ("not a snapshot", br#"{"data": 1}"#.to_vec(), "invalid snapshot"),
        ("another cluster's snapshot", foreign.clone(), "snapshot-force"),
    ];
    for (what, bytes, says) in cases {
        let (st, text) = post(&s, SNAPSHOT, bytes.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{what}: {text}");
        assert!(text.contains(says), "{what}: {text}");
        assert_eq!(s.read("secret/data/k").await["v"], "current", "{what} changed the data");
        if what != "another cluster's snapshot" {
            let (st, text) = post(&s, FORCE, bytes).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{what} forced: {text}");
            assert!(!sealed(&s).await && s.read("secret/data/k").await["v"] == "current", "{what} forced");
        }
    }
    let (st, text) = post(&s, SNAPSHOT, Vec::new()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "an empty body: {text}");

    // Forced, another cluster's snapshot is accepted; this cluster's keys then fail the first
    // unseal, which puts the store as it was back, even across a restart.
    let (st, text) = post(&s, FORCE, foreign.clone()).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{text}");
    assert!(sealed(&s).await);
    let token = std::mem::take(&mut s.token);
    let dir = s.stop().await;
    let mut s = TestServer::start_in(dir, SealKind::Shamir, limits()).await;
    s.token = token;
    let (st, v) = unseal_with(&s, &shares[..2]).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("rolled back"), "{v}");
    s.unseal(&shares[..2]).await;
    assert_eq!(s.read("secret/data/k").await["v"], "current", "the old store is back");

    // Forced again and unsealed with the other cluster's keys: its data, for good.
    let (st, text) = post(&s, FORCE, foreign).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{text}");
    s.unseal(&other_shares[1..]).await;
    s.token = other.token.clone();
    assert_eq!(s.read("secret/data/k").await["v"], "other cluster");
    assert!(!save(&s).await.is_empty(), "its snapshots are signed with its own key now");
    // Sealed and unsealed again with those keys: confirmed, nothing rolls back any more.
    let (st, _) = s.call("PUT", "sys/seal", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    s.unseal(&other_shares[..2]).await;
    assert_eq!(s.read("secret/data/k").await["v"], "other cluster");
}

#[tokio::test]
async fn a_snapshot_whose_rows_were_changed_fails_its_signature_now_or_at_the_first_unseal() {
    let (s, shares) = shamir_node(None).await;
    s.write("secret/data/k", json!({"v": "x"})).await;
    // The archive rewritten with a row changed and the checksums recomputed, as by someone who
    // can write the backup but holds no key: only the signature is left to catch it.
    let forged = forge(&save(&s).await);
    let (st, text) = post(&s, SNAPSHOT, forged.clone()).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("signature"), "{text}");
    assert_eq!(s.read("secret/data/k").await["v"], "x");
    // Forced, the checksums pass; the right keys then open the root key, but the signature does
    // not verify under it: the first unseal fails and the store as it was comes back.
    let (st, text) = post(&s, FORCE, forged).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{text}");
    let (st, v) = unseal_with(&s, &shares[..2]).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("signature"), "{v}");
    s.unseal(&shares[..2]).await;
    assert_eq!(s.read("secret/data/k").await["v"], "x");
    let (st, v) = s.call("GET", "sys/mounts", None).await;
    assert_eq!((st, v["data"]["secret/"]["type"].as_str()), (StatusCode::OK, Some("kv")), "{v}");
}

/// The snapshot with the `mount` table's first description changed and `SHA256SUMS` recomputed.
fn forge(good: &[u8]) -> Vec<u8> {
    forge_with(good, |meta| meta.to_string(), |state| state.replacen("\"kv\"", "\"kx\"", 1))
}

/// The snapshot with `meta.json` and `state.jsonl` rewritten and `SHA256SUMS` recomputed.
fn forge_with(good: &[u8], meta: impl Fn(&str) -> String, edit: impl Fn(&str) -> String) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(good));
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut body = Vec::new();
        e.read_to_end(&mut body).unwrap();
        members.push((name, body));
    }
    let state = String::from_utf8(members[1].1.clone()).unwrap();
    let changed = edit(&state);
    members[0].1 = meta(std::str::from_utf8(&members[0].1).unwrap()).into_bytes();
    assert_ne!(state, changed);
    members[1].1 = changed.into_bytes();
    let hex = |b: &[u8]| hex::encode(Sha256::digest(b));
    members[2].1 = format!("{}  meta.json\n{}  state.jsonl\n", hex(&members[0].1), hex(&members[1].1)).into_bytes();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    for (name, body) in &members {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o600);
        tar.append_data(&mut h, name, body.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

#[tokio::test]
async fn the_snapshot_endpoints_need_sudo_and_refuse_other_spellings_and_oversize_bodies() {
    let s = TestServer::dev().await;
    let good = save(&s).await;
    let kv_only = s.token_with_policy("kv", r#"path "secret/*" { capabilities = ["create", "read", "update"] }"#).await;
    let no_sudo = s
        .token_with_policy(
            "snap-no-sudo",
            r#"path "sys/storage/raft/*" { capabilities = ["create", "read", "update"] }"#,
        )
        .await;
    let sudo = s
        .token_with_policy("snap", r#"path "sys/storage/raft/snapshot" { capabilities = ["read", "update", "sudo"] }"#)
        .await;
    for (who, token) in [("no token", ""), ("a KV token", kv_only.as_str()), ("no sudo", no_sudo.as_str())] {
        for (method, path) in [("GET", SNAPSHOT), ("POST", SNAPSHOT), ("POST", FORCE)] {
            let mut req = s.request_anon(method, path);
            if !token.is_empty() {
                req = req.header("X-Vault-Token", token);
            }
            if method == "POST" {
                req = req.body(good.clone());
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{who} {method} {path}");
        }
    }
    let resp = s.request_anon("GET", SNAPSHOT).header("X-Vault-Token", &sudo).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "read + sudo takes a snapshot");
    // Only a token with sudo there may send a body over `max_request_size` (1 MiB): another
    // valid token cannot make the server read up to `[snapshot] max_size` before it is refused.
    let big = vec![0u8; (1 << 20) + 1];
    let resp =
        s.request_anon("POST", SNAPSHOT).header("X-Vault-Token", &no_sudo).body(big.clone()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE, "no sudo: the ordinary limit");
    let resp = s.request_anon("POST", SNAPSHOT).header("X-Vault-Token", &sudo).body(big).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "sudo: read, then refused as not a snapshot");
    let resp = s.request_anon("POST", FORCE).header("X-Vault-Token", &sudo).body(good.clone()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "sudo on snapshot grants nothing on snapshot-force");

    for (method, target, expected) in [
        ("GET", "/v1/sys/storage/raft/Snapshot", 404),
        ("GET", "/v1/sys/storage//raft/snapshot", 400),
        ("GET", "/v1/sys/storage/raft/./snapshot", 400),
        ("GET", "/v1/sys/storage/raft/snapshot%2F..%2Fsnapshot", 400),
        ("GET", "/v1/sys/storage/raft/snapshot-force", 405),
        ("DELETE", "/v1/sys/storage/raft/snapshot", 405),
    ] {
        let (st, body) = s.raw_http(method, target, Some("root"), "").await;
        assert_eq!(st, expected, "{method} {target}: {body}");
    }
    // A body over `[snapshot] max_size` is refused before it is read whole, and changes nothing.
    s.running
        .as_ref()
        .unwrap()
        .core
        .snapshots
        .store(Arc::new(coffer::core::snapshot::Settings { max_size: 1024, schedule: None }));
    let (st, text) = post(&s, SNAPSHOT, vec![0u8; 4096]).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    let (st, text) = post(&s, SNAPSHOT, good).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "the good snapshot is over 1 KiB: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_saves_inspects_and_restores_a_snapshot() {
    let s = TestServer::dev().await;
    s.write("secret/data/cli", json!({"v": "before"})).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.snap");
    let coffer = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(args)
            .env("COFFER_ADDR", &s.base)
            .env("COFFER_TOKEN", "root")
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    };
    let path = file.to_str().unwrap();
    let (code, _, err) = coffer(&["operator", "snapshot", "save", path]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let (code, out, err) = coffer(&["operator", "snapshot", "inspect", path]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Checksums") && out.contains("ok") && out.contains("Rows: kv_version"), "{out}");
    let (code, out, _) = coffer(&["operator", "snapshot", "inspect", "--format", "json", path]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["format"], 1);
    assert_eq!(v["storage_type"], "sqlite");

    s.write("secret/data/cli", json!({"v": "after"})).await;
    let (code, _, err) = coffer(&["operator", "snapshot", "restore", path]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(s.read("secret/data/cli").await["v"], "before");

    // A damaged file: inspect and restore both refuse it, and the server keeps its data.
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes.truncate(last - 100);
    std::fs::write(&file, &bytes).unwrap();
    let (code, _, err) = coffer(&["operator", "snapshot", "inspect", path]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("truncated") || err.contains("damaged"), "{err}");
    s.write("secret/data/cli", json!({"v": "kept"})).await;
    let (code, _, _) = coffer(&["operator", "snapshot", "restore", path]);
    assert_eq!(code, 1);
    assert_eq!(s.read("secret/data/cli").await["v"], "kept");
}

#[tokio::test]
async fn scheduled_snapshots_are_written_private_and_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join("snaps");
    std::fs::create_dir(&snaps).unwrap();
    let cfg = crate::restart::write_config(dir.path());
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!("[snapshot]\ninterval = \"1s\"\ndirectory = \"{}\"\nretain = 2\n", snaps.display()));
    std::fs::write(&cfg, text).unwrap();
    let p = crate::restart::spawn(&cfg);
    let root = crate::restart::init(&p.base).await;
    let list = || {
        let mut names: Vec<String> = std::fs::read_dir(&snaps)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    };
    let mut seen = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < 4 {
        assert!(std::time::Instant::now() < deadline, "only {} scheduled snapshots seen", seen.len());
        let names = list();
        // Two kept, and a third for the moment between writing a new one and pruning the oldest.
        assert!(names.len() <= 3, "retain = 2 but {names:?}");
        seen.extend(names);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    until("the oldest is pruned", Duration::from_secs(10), || async { list().len() == 2 }).await;
    let newest = snaps.join(list().last().unwrap());
    assert_eq!(std::fs::metadata(&newest).unwrap().permissions().mode() & 0o777, 0o600);
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(["operator", "snapshot", "inspect", "--format", "json"])
        .arg(&newest)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // It restores into the server that wrote it.
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/{SNAPSHOT}", p.base))
        .header("X-Vault-Token", &root)
        .body(std::fs::read(&newest).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_snapshot_older_than_a_key_rotation_keeps_todays_keyring() {
    let (s, shares) = shamir_node(None).await;
    s.write("secret/data/k", json!({"v": "before"})).await;
    let old = save(&s).await;
    let (st, _) = s.call("PUT", "sys/rotate", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, text) = post(&s, SNAPSHOT, old).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{text}");
    // Written under the newer term after the restore: it must still open after a seal, which
    // reloads the keyring from the store (the snapshot's own keyring lacks that term).
    s.write("secret/data/after", json!({"v": "term 2"})).await;
    let (_, v) = s.call("GET", "sys/key-status", None).await;
    assert_eq!(v["data"]["term"], 2, "{v}");
    let (st, _) = s.call("PUT", "sys/seal", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    s.unseal(&shares[..2]).await;
    assert_eq!(s.read("secret/data/after").await["v"], "term 2");
    assert_eq!(s.read("secret/data/k").await["v"], "before");
}

#[tokio::test]
async fn a_snapshot_older_than_a_rekey_keeps_todays_shares() {
    let (s, old_shares) = shamir_node(None).await;
    s.write("secret/data/k", json!({"v": "before"})).await;
    let snapshot = save(&s).await;
    // Rekey to 3-of-2 new shares (no verification: they are in force at once).
    let (st, v) = s.call("PUT", "sys/rekey/init", Some(json!({"secret_shares": 3, "secret_threshold": 2}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let nonce = v["nonce"].as_str().unwrap().to_string();
    let mut new_shares = Vec::new();
    for k in &old_shares[..2] {
        let (st, v) = s.call("PUT", "sys/rekey/update", Some(json!({"key": k, "nonce": nonce}))).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        if let Some(keys) = v["keys"].as_array() {
            new_shares = keys.iter().map(|k| k.as_str().unwrap().to_string()).collect();
        }
    }
    assert_eq!(new_shares.len(), 3);
    let (st, text) = post(&s, SNAPSHOT, snapshot).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{text}");
    // The replaced shares stay replaced; today's unseal.
    let (st, _) = s.call("PUT", "sys/seal", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = unseal_with(&s, &old_shares[..2]).await;
    assert!(st != StatusCode::OK || v["sealed"] == true, "the shares a rekey replaced unsealed: {v}");
    let _ = s.call_as("", "PUT", "sys/unseal", Some(json!({"reset": true}))).await;
    let (st, v) = unseal_with(&s, &new_shares[..2]).await;
    assert_eq!((st, v["sealed"].clone()), (StatusCode::OK, json!(false)), "{v}");
    assert_eq!(s.read("secret/data/k").await["v"], "before");
}

#[tokio::test]
async fn a_forced_snapshot_without_its_keys_is_refused_before_anything_changes() {
    let (s, _shares) = shamir_node(None).await;
    s.write("secret/data/k", json!({"v": "x"})).await;
    // Checksums recomputed, the root key's row gone: no key could ever unseal it.
    let fewer = |mut v: serde_json::Value| {
        v["rows"] = json!(v["rows"].as_u64().unwrap() - 1);
        v
    };
    let meta = |m: &str| {
        let mut v: serde_json::Value = serde_json::from_str(m).unwrap();
        for t in v["tables"].as_array_mut().unwrap() {
            if t["name"] == "system_entry" {
                *t = fewer(t.clone());
            }
        }
        v.to_string()
    };
    let keyless = forge_with(&save(&s).await, meta, |state| {
        let mut out = String::new();
        for line in state.lines() {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["table"] == "system_entry" {
                v = fewer(v);
            } else if v.as_array().is_some_and(|row| row.iter().any(|c| c == "root_key")) {
                continue;
            }
            out.push_str(&v.to_string());
            out.push('\n');
        }
        out
    });
    let (st, text) = post(&s, FORCE, keyless).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("root_key"), "{text}");
    assert!(!sealed(&s).await);
    assert_eq!(s.read("secret/data/k").await["v"], "x");
}
