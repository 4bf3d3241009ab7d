//! The KV rows cache through the API (issue 16): reads see every acknowledged write, deleted and
//! destroyed versions are never served from it, `X-Coffer-Consistency: strong` reads past it, a
//! sealed node holds nothing, and `[cache] size = 0` turns it off.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{send, TestServer};

fn counts(s: &TestServer) -> coffer::store::cache::Counts {
    let core = s.running.as_ref().unwrap().core.clone();
    let cache = core.kv_cache.load_full().expect("the cache is on by default on SQLite");
    cache.counts()
}

#[tokio::test]
async fn reads_come_from_the_cache_and_see_every_acknowledged_write() {
    let s = TestServer::dev().await;
    s.write("secret/data/app", json!({"v": 1})).await;
    assert_eq!(s.read("secret/data/app").await, json!({"v": 1}));
    let before = counts(&s);
    assert_eq!(s.read("secret/data/app").await, json!({"v": 1}));
    assert_eq!(counts(&s).hits, before.hits + 1, "the second read was not a hit");
    // Each acknowledged write is seen by the next read, cached or not.
    for v in 2..6 {
        s.write("secret/data/app", json!({ "v": v })).await;
        assert_eq!(s.read("secret/data/app").await, json!({ "v": v }));
        assert_eq!(s.read("secret/data/app?version=1").await, json!({"v": 1}));
    }
    // Metadata changes (max_versions prunes old versions) are seen at once too.
    let (st, _) = s.call("POST", "secret/metadata/app", Some(json!({"max_versions": 1}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    s.write("secret/data/app", json!({"v": 6})).await;
    let (st, _) = s.call("GET", "secret/data/app?version=1", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "a pruned version was served");
}

#[tokio::test]
async fn deleted_and_destroyed_versions_are_never_served_from_the_cache() {
    let s = TestServer::dev().await;
    s.write("secret/data/k", json!({"password": "one"})).await;
    s.write("secret/data/k", json!({"password": "two"})).await;
    for _ in 0..2 {
        assert_eq!(s.read("secret/data/k").await, json!({"password": "two"}));
        assert_eq!(s.read("secret/data/k?version=1").await, json!({"password": "one"}));
    }
    // Soft delete of the current version.
    assert_eq!(s.call("DELETE", "secret/data/k", None).await.0, StatusCode::NO_CONTENT);
    let (st, v) = s.call("GET", "secret/data/k", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    assert!(v["data"]["data"].is_null(), "{v}");
    // Undelete brings it back; destroy of version 1 removes it for good.
    let (st, _) = s.call("POST", "secret/undelete/k", Some(json!({"versions": [2]}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(s.read("secret/data/k").await, json!({"password": "two"}));
    let (st, _) = s.call("POST", "secret/destroy/k", Some(json!({"versions": [1]}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = s.call("GET", "secret/data/k?version=1", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    assert!(!v.to_string().contains("one"), "{v}");
    // Deleting the key with its metadata leaves nothing to serve.
    assert_eq!(s.call("DELETE", "secret/metadata/k", None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.call("GET", "secret/data/k", None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_strong_read_goes_to_the_database_and_only_strong_is_accepted() {
    let s = TestServer::dev().await;
    s.write("secret/data/app", json!({"v": 1})).await;
    s.read("secret/data/app").await;
    let before = counts(&s);
    let r = send(s.request("GET", "secret/data/app").header("X-Coffer-Consistency", "strong")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["data"]["data"], json!({"v": 1}));
    let after = counts(&s);
    assert_eq!((after.hits, after.misses), (before.hits, before.misses), "a strong read used the cache");
    // Any other spelling is refused, never read as the default.
    for value in ["Strong", "STRONG", "eventual", "", "strong,strong", "strong\t1"] {
        let r = send(s.request("GET", "secret/data/app").header("X-Coffer-Consistency", value)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{value:?}");
        assert!(!r.text.contains("\"v\""), "{value:?}: {}", r.text);
    }
}

#[tokio::test]
async fn a_sealed_node_holds_nothing_in_the_cache() {
    let s = TestServer::dev().await;
    for i in 0..5 {
        let path = format!("secret/data/k{i}");
        s.write(&path, json!({"i": i})).await;
        s.read(&path).await;
    }
    assert!(counts(&s).entries >= 5, "{:?}", counts(&s));
    assert_eq!(s.call("PUT", "sys/seal", None).await.0, StatusCode::NO_CONTENT);
    let n = counts(&s);
    assert_eq!((n.entries, n.bytes), (0, 0), "{n:?}");
}

#[tokio::test]
async fn size_zero_turns_the_cache_off() {
    let dir = tempfile::tempdir().unwrap();
    let options = coffer::server::Options {
        seal: coffer::core::seal::SealKind::Shamir,
        limits: crate::harness::limits(),
        audit: Default::default(),
        lease_ttl: coffer::server::DEFAULT_LEASE_TTL,
        cache: coffer::store::cache::Settings { size: 0, multi_node: false },
        aws: Default::default(),
    };
    let mut s = TestServer::start_opts(dir, options).await;
    let core = s.running.as_ref().unwrap().core.clone();
    assert!(core.kv_cache.load().is_none());
    coffer::server::setup_dev(&core, Some(secrecy::SecretString::from("root".to_string()))).await.unwrap();
    s.token = "root".into();
    s.write("secret/data/app", json!({"v": 1})).await;
    assert_eq!(s.read("secret/data/app").await, json!({"v": 1}));
}

#[tokio::test]
async fn a_plain_read_follows_the_current_label_not_the_newest_version() {
    let s = TestServer::dev().await;
    s.write("secret/data/db", json!({"password": "one"})).await;
    // Version 2 is written as `pending`: `current` stays on version 1.
    let body = json!({"data": {"password": "two"}, "options": {"stages": ["pending"]}});
    let (st, v) = s.call("PUT", "secret/data/db", Some(body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // Warm the cache with version 2 by number, then read with no version: still version 1.
    assert_eq!(s.read("secret/data/db?version=2").await, json!({"password": "two"}));
    for _ in 0..3 {
        assert_eq!(s.read("secret/data/db").await, json!({"password": "one"}));
    }
    // Moving `current` is seen by the very next plain read.
    let mv = json!({"stage": "current", "move_to_version": 2, "remove_from_version": 1});
    assert_eq!(s.call("POST", "secret/stages/db", Some(mv)).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.read("secret/data/db").await, json!({"password": "two"}));
    assert_eq!(s.read("secret/data/db").await, json!({"password": "two"}));
}
