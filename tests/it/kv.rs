//! KV version 2 end to end over HTTP (API-CONTRACT §7, transcripts 09-kv2.txt and 10-kv2b.txt):
//! versions, check-and-set, patch, soft delete, destroy, metadata, pruning, listing, config,
//! mounts, odd key names and concurrent writers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::DateTime;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

use crate::harness::{send, TestServer};

const CAS_MISMATCH: &str = "check-and-set parameter did not match the current version";
const CAS_REQUIRED: &str = "check-and-set parameter required for this call";

fn errors(msg: &str) -> Value {
    json!({ "errors": [msg] })
}

async fn write_cas(s: &TestServer, path: &str, data: Value, cas: u64) -> (StatusCode, Value) {
    s.call("POST", path, Some(json!({"options": {"cas": cas}, "data": data}))).await
}

/// Asserts the 404-with-envelope answer for a deleted or destroyed version; returns `metadata`.
fn assert_gone_envelope(v: &Value) -> Value {
    assert!(v.get("errors").is_none(), "{v}");
    assert!(v["request_id"].is_string(), "{v}");
    assert_eq!(v["lease_id"], "");
    assert_eq!(v["renewable"], false);
    assert_eq!(v["lease_duration"], 0);
    assert_eq!(v["warnings"], Value::Null);
    assert_eq!(v["data"]["data"], Value::Null, "{v}");
    v["data"]["metadata"].clone()
}

#[tokio::test]
async fn write_and_read_versions() {
    let s = TestServer::dev().await;
    let w1 = s.write("secret/data/my-app", json!({"user": "admin", "pass": "s3cr3t"})).await;
    assert_eq!(w1["version"], 1);
    assert_eq!(w1["destroyed"], false);
    assert_eq!(w1["deletion_time"], "");
    assert_eq!(w1["custom_metadata"], Value::Null);
    assert!(DateTime::parse_from_rfc3339(w1["created_time"].as_str().unwrap()).is_ok(), "{w1}");
    let w2 = s.write("secret/data/my-app", json!({"user": "admin", "pass": "n3w"})).await;
    assert_eq!(w2["version"], 2);

    let (st, v) = s.call("GET", "secret/data/my-app", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["data"]["data"], json!({"user": "admin", "pass": "n3w"}));
    assert_eq!(
        v["data"]["metadata"],
        json!({"created_time": w2["created_time"], "custom_metadata": null, "deletion_time": "", "destroyed": false, "version": 2})
    );
    let (st, v) = s.call("GET", "secret/data/my-app?version=1", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["data"]["data"], json!({"user": "admin", "pass": "s3cr3t"}));
    assert_eq!(v["data"]["metadata"]["version"], 1);
    assert_eq!(v["data"]["metadata"]["created_time"], w1["created_time"]);
    for missing in ["secret/data/my-app?version=9", "secret/data/never-written", "secret/data/my-app/child"] {
        let (st, v) = s.call("GET", missing, None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(v, json!({"errors": []}), "{missing}");
    }
    // Values of every JSON type round-trip.
    let rich = json!({"s": "x", "n": 1.5, "i": -3, "b": true, "z": null, "a": [1, "two", {"three": 3}], "o": {"p": {"q": "r"}}});
    s.write("secret/data/rich", rich.clone()).await;
    assert_eq!(s.read("secret/data/rich").await, rich);
}

#[tokio::test]
async fn check_and_set() {
    let s = TestServer::dev().await;
    // cas 0 on a missing key creates it.
    let (st, v) = write_cas(&s, "secret/data/c", json!({"user": "a"}), 0).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["version"], 1);
    let (st, v) = write_cas(&s, "secret/data/c", json!({"user": "x"}), 0).await;
    assert_eq!((st, v), (StatusCode::BAD_REQUEST, errors(CAS_MISMATCH)));
    let (st, v) = write_cas(&s, "secret/data/c", json!({"user": "x"}), 5).await;
    assert_eq!((st, v), (StatusCode::BAD_REQUEST, errors(CAS_MISMATCH)));
    let (st, v) = write_cas(&s, "secret/data/c", json!({"user": "b"}), 1).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["version"], 2);
    // cas given as a string (lenient input).
    let (st, v) = s.call("POST", "secret/data/c", Some(json!({"options": {"cas": "2"}, "data": {"user": "c"}}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["version"], 3);
    // `options: {}` is an ordinary write.
    let (st, v) = s.call("POST", "secret/data/c", Some(json!({"options": {}, "data": {"user": "d"}}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["version"], 4);
    assert_eq!(s.read("secret/data/c").await, json!({"user": "d"}));
    let (_, m) = s.call("GET", "secret/metadata/c", None).await;
    assert_eq!(m["data"]["current_version"], 4, "refused writes added no version");
}

#[tokio::test]
async fn cas_required_on_mount_and_on_key() {
    let s = TestServer::dev().await;
    // Key level.
    s.write("secret/data/k", json!({"a": "1"})).await;
    let (st, _) = s.call("POST", "secret/metadata/k", Some(json!({"cas_required": true}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = s.call("POST", "secret/data/k", Some(json!({"data": {"a": "2"}}))).await;
    assert_eq!((st, v), (StatusCode::BAD_REQUEST, errors(CAS_REQUIRED)));
    let (st, v) = write_cas(&s, "secret/data/k", json!({"a": "2"}), 3).await;
    assert_eq!((st, v), (StatusCode::BAD_REQUEST, errors(CAS_MISMATCH)));
    let (st, v) = write_cas(&s, "secret/data/k", json!({"a": "2"}), 1).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // Another key is not affected.
    s.write("secret/data/free", json!({"a": "1"})).await;

    // Mount level.
    let (st, _) = s.call("POST", "secret/config", Some(json!({"cas_required": true}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, c) = s.call("GET", "secret/config", None).await;
    assert_eq!(c["data"]["cas_required"], true);
    let (st, v) = s.call("POST", "secret/data/free", Some(json!({"data": {"a": "2"}}))).await;
    assert_eq!((st, v), (StatusCode::BAD_REQUEST, errors(CAS_REQUIRED)));
    let (st, v) = s.call("POST", "secret/data/brand-new", Some(json!({"data": {"a": "2"}}))).await;
    assert_eq!((st, v), (StatusCode::BAD_REQUEST, errors(CAS_REQUIRED)));
    let (st, v) = write_cas(&s, "secret/data/brand-new", json!({"a": "2"}), 0).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = write_cas(&s, "secret/data/free", json!({"a": "2"}), 1).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // A patch with a stale cas is refused too.
    let r = s.patch("secret/data/free", json!({"data": {"b": "3"}, "options": {"cas": 1}})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json(), errors(CAS_MISMATCH));
}

#[tokio::test]
async fn write_without_data_is_refused() {
    let s = TestServer::dev().await;
    for body in [json!({"user": "x"}), json!({}), json!({"data": null}), json!({"options": {"cas": 0}})] {
        let (st, v) = s.call("POST", "secret/data/nd", Some(body.clone())).await;
        assert_eq!((st, v), (StatusCode::BAD_REQUEST, errors("no data provided")), "{body}");
    }
    let (st, v) = s.call("POST", "secret/data/nd", Some(json!({"data": "string"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, _) = s.call("GET", "secret/data/nd", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // An empty object is data.
    let w = s.write("secret/data/nd", json!({})).await;
    assert_eq!(w["version"], 1);
    assert_eq!(s.read("secret/data/nd").await, json!({}));
}

#[tokio::test]
async fn patch_is_a_json_merge_patch() {
    let s = TestServer::dev().await;
    s.write("secret/data/p", json!({"user": "admin", "pass": "s3cr3t", "nested": {"a": "1", "b": "2"}})).await;
    let r =
        s.patch("secret/data/p", json!({"data": {"pass": null, "extra": "e", "nested": {"a": null, "c": "3"}}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    assert_eq!(v["data"]["version"], 2);
    assert_eq!(v["data"]["deletion_time"], "");
    assert_eq!(s.read("secret/data/p").await, json!({"user": "admin", "extra": "e", "nested": {"b": "2", "c": "3"}}));
    let (_, old) = s.call("GET", "secret/data/p?version=1", None).await;
    assert_eq!(old["data"]["data"]["pass"], "s3cr3t", "patch made a new version");
    // With the right cas.
    let r = s.patch("secret/data/p", json!({"data": {"user": "root"}, "options": {"cas": 2}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["data"]["version"], 3);
    let r = s.patch("secret/data/p", json!({"data": {"user": "x"}, "options": {"cas": 2}})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json(), errors(CAS_MISMATCH));
    // Missing key: 404 with an empty body.
    let r = s.patch("secret/data/nope", json!({"data": {"a": "b"}})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.text, "", "PATCH of a missing key has an empty body");
    let (st, _) = s.call("GET", "secret/data/nope", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "the patch did not create the key");
    // A deleted latest version cannot be patched.
    let (st, _) = s.call("DELETE", "secret/data/p", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let r = s.patch("secret/data/p", json!({"data": {"a": "b"}})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = s.patch("secret/data/p", json!({"nodata": 1})).await;
    assert_ne!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn delete_latest_then_undelete() {
    let s = TestServer::dev().await;
    s.write("secret/data/d", json!({"v": "1"})).await;
    let w2 = s.write("secret/data/d", json!({"v": "2"})).await;
    let r = send(s.request("DELETE", "secret/data/d")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.text, "");
    let (st, v) = s.call("GET", "secret/data/d", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let meta = assert_gone_envelope(&v);
    assert_eq!(meta["version"], 2);
    assert_eq!(meta["destroyed"], false);
    assert_eq!(meta["created_time"], w2["created_time"]);
    let deleted_at = meta["deletion_time"].as_str().unwrap();
    assert!(DateTime::parse_from_rfc3339(deleted_at).is_ok(), "{meta}");
    // The older version is untouched.
    let (st, v) = s.call("GET", "secret/data/d?version=1", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["data"]["data"], json!({"v": "1"}));
    // Metadata shows the deletion.
    let (_, m) = s.call("GET", "secret/metadata/d", None).await;
    assert_eq!(m["data"]["versions"]["2"]["deletion_time"], deleted_at);
    assert_eq!(m["data"]["versions"]["1"]["deletion_time"], "");

    let (st, _) = s.call("POST", "secret/undelete/d", Some(json!({"versions": [2]}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = s.call("GET", "secret/data/d", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["data"], json!({"v": "2"}));
    assert_eq!(v["data"]["metadata"]["deletion_time"], "");
    // Deleting a key that does not exist is fine.
    let (st, _) = s.call("DELETE", "secret/data/never", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
}

async fn ciphertext_is_null(s: &TestServer, path: &str, version: i64) -> bool {
    let opts = SqliteConnectOptions::new().filename(s.db_path()).read_only(true);
    let mut conn = SqliteConnection::connect_with(&opts).await.unwrap();
    let n: bool = sqlx::query_scalar("select ciphertext is null from kv_version where path = ? and version = ?")
        .bind(path)
        .bind(version)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    n
}

#[tokio::test]
async fn destroy_is_permanent() {
    let s = TestServer::dev().await;
    s.write("secret/data/x", json!({"v": "1"})).await;
    s.write("secret/data/x", json!({"v": "2"})).await;
    assert!(!ciphertext_is_null(&s, "x", 2).await);
    let (st, _) = s.call("PUT", "secret/destroy/x", Some(json!({"versions": [2]}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    for path in ["secret/data/x?version=2", "secret/data/x"] {
        let (st, v) = s.call("GET", path, None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}: {v}");
        let meta = assert_gone_envelope(&v);
        assert_eq!(meta["destroyed"], true);
        assert_eq!(meta["deletion_time"], "");
        assert_eq!(meta["version"], 2);
    }
    assert!(ciphertext_is_null(&s, "x", 2).await, "destroy removes the ciphertext");
    let (st, _) = s.call("POST", "secret/undelete/x", Some(json!({"versions": [2]}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = s.call("GET", "secret/data/x?version=2", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "undelete does not bring back a destroyed version: {v}");
    assert_eq!(assert_gone_envelope(&v)["destroyed"], true);
    let (st, v) = s.call("GET", "secret/data/x?version=1", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["data"]["data"], json!({"v": "1"}));
    let (_, m) = s.call("GET", "secret/metadata/x", None).await;
    assert_eq!(m["data"]["versions"]["2"]["destroyed"], true);
    assert_eq!(m["data"]["versions"]["1"]["destroyed"], false);
    // Soft delete of a destroyed version leaves it destroyed without a deletion time.
    let (st, _) = s.call("POST", "secret/delete/x", Some(json!({"versions": [2]}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, m) = s.call("GET", "secret/metadata/x", None).await;
    assert_eq!(m["data"]["versions"]["2"]["deletion_time"], "");
    // A new write continues the numbering.
    let w = s.write("secret/data/x", json!({"v": "3"})).await;
    assert_eq!(w["version"], 3);
}

#[tokio::test]
async fn delete_and_undelete_versions_given_as_strings() {
    let s = TestServer::dev().await;
    for i in 1..=3 {
        s.write("secret/data/vs", json!({"v": i})).await;
    }
    let (st, v) = s.call("POST", "secret/delete/vs", Some(json!({"versions": ["1", "3"]}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    for (q, code) in [("?version=1", 404), ("?version=2", 200), ("?version=3", 404), ("", 404)] {
        let (st, v) = s.call("GET", &format!("secret/data/vs{q}"), None).await;
        assert_eq!(st.as_u16(), code, "{q}: {v}");
    }
    let (st, _) = s.call("POST", "secret/undelete/vs", Some(json!({"versions": ["1"]}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = s.call("GET", "secret/data/vs?version=1", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["data"]["data"], json!({"v": 1}));
    let (st, _) = s.call("GET", "secret/data/vs", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "version 3 is still deleted");
    let (st, _) = s.call("POST", "secret/destroy/vs", Some(json!({"versions": ["2"]}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = s.call("GET", "secret/data/vs?version=2", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(v["data"]["metadata"]["destroyed"], true);
    // No versions given.
    let (st, v) = s.call("POST", "secret/delete/vs", Some(json!({}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = s.call("POST", "secret/delete/vs", Some(json!({"versions": ["one"]}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn metadata_read_fields() {
    let s = TestServer::dev().await;
    let w1 = s.write("secret/data/m", json!({"a": "1"})).await;
    let w2 = s.write("secret/data/m", json!({"a": "2"})).await;
    let (st, v) = s.call("GET", "secret/metadata/m", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let d = &v["data"];
    assert_eq!(d["cas_required"], false);
    assert_eq!(d["current_version"], 2);
    assert_eq!(d["oldest_version"], 0);
    assert_eq!(d["custom_metadata"], Value::Null);
    assert_eq!(d["delete_version_after"], "0s");
    assert_eq!(d["max_versions"], 0);
    assert_eq!(d["created_time"], w1["created_time"]);
    let time = |v: &Value| DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert!(time(&d["updated_time"]) >= time(&w2["created_time"]), "updated by the last write: {d}");
    let versions = d["versions"].as_object().unwrap();
    assert_eq!(versions.keys().cloned().collect::<Vec<_>>(), vec!["1", "2"]);
    assert_eq!(versions["1"], json!({"created_time": w1["created_time"], "deletion_time": "", "destroyed": false}));
    assert_eq!(versions["2"]["created_time"], w2["created_time"]);
    let (st, v) = s.call("GET", "secret/metadata/none", None).await;
    assert_eq!((st, v), (StatusCode::NOT_FOUND, json!({"errors": []})));
}

#[tokio::test]
async fn metadata_written_before_data() {
    let s = TestServer::dev().await;
    let (st, v) = s
        .call(
            "POST",
            "secret/metadata/pre",
            Some(json!({"max_versions": 4, "delete_version_after": "3h25m19s", "custom_metadata": {"owner": "team-a", "env": "prod"}})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, v) = s.call("GET", "secret/metadata/pre", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["current_version"], 0);
    assert_eq!(v["data"]["versions"], json!({}));
    assert_eq!(v["data"]["max_versions"], 4);
    assert_eq!(v["data"]["delete_version_after"], "3h25m19s");
    assert_eq!(v["data"]["custom_metadata"], json!({"owner": "team-a", "env": "prod"}));
    let (st, v) = s.call("GET", "secret/data/pre", None).await;
    assert_eq!((st, v), (StatusCode::NOT_FOUND, json!({"errors": []})));
    let (st, v) = s.call("LIST", "secret/metadata", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["data"]["keys"], json!(["pre"]));

    let w = s.write("secret/data/pre", json!({"a": "b"})).await;
    assert_eq!(w["version"], 1);
    assert_eq!(w["custom_metadata"], json!({"owner": "team-a", "env": "prod"}));
    let created = DateTime::parse_from_rfc3339(w["created_time"].as_str().unwrap()).unwrap();
    let deletion = DateTime::parse_from_rfc3339(w["deletion_time"].as_str().unwrap()).unwrap();
    assert_eq!(deletion - created, chrono::Duration::seconds(12319));
    let (_, r) = s.call("GET", "secret/data/pre", None).await;
    assert_eq!(r["data"]["metadata"]["custom_metadata"], json!({"owner": "team-a", "env": "prod"}));
    let (_, m) = s.call("GET", "secret/metadata/pre", None).await;
    assert_eq!(m["data"]["custom_metadata"], json!({"owner": "team-a", "env": "prod"}), "writes keep metadata");
    assert_eq!(m["data"]["max_versions"], 4);
}

#[tokio::test]
async fn metadata_patch_merges_custom_metadata() {
    let s = TestServer::dev().await;
    s.write("secret/data/mp", json!({"a": "b"})).await;
    let (st, _) = s
        .call("POST", "secret/metadata/mp", Some(json!({"custom_metadata": {"owner": "team-a", "env": "prod"}})))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let r = s.patch("secret/metadata/mp", json!({"custom_metadata": {"env": null, "tier": "1"}})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let (_, m) = s.call("GET", "secret/metadata/mp", None).await;
    assert_eq!(m["data"]["custom_metadata"], json!({"owner": "team-a", "tier": "1"}));
    let r = s.patch("secret/metadata/mp", json!({"max_versions": 7})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let (_, m) = s.call("GET", "secret/metadata/mp", None).await;
    assert_eq!(m["data"]["max_versions"], 7);
    assert_eq!(m["data"]["custom_metadata"], json!({"owner": "team-a", "tier": "1"}), "untouched by the patch");
    // A POST replaces the whole map.
    let (st, _) = s.call("POST", "secret/metadata/mp", Some(json!({"custom_metadata": {"only": "this"}}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, m) = s.call("GET", "secret/metadata/mp", None).await;
    assert_eq!(m["data"]["custom_metadata"], json!({"only": "this"}));
    assert_eq!(m["data"]["current_version"], 1, "metadata writes do not touch versions");
    // The data read shows it.
    let (_, r) = s.call("GET", "secret/data/mp", None).await;
    assert_eq!(r["data"]["metadata"]["custom_metadata"], json!({"only": "this"}));
    // Bad custom metadata is refused.
    let (st, _) = s.call("POST", "secret/metadata/mp", Some(json!({"custom_metadata": {"n": 1}}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let r = s.patch("secret/metadata/missing", json!({"custom_metadata": {"a": "b"}})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn version_keys(s: &TestServer, key: &str) -> (Vec<String>, Value) {
    let (st, m) = s.call("GET", &format!("secret/metadata/{key}"), None).await;
    assert_eq!(st, StatusCode::OK, "{m}");
    let mut keys: Vec<String> = m["data"]["versions"].as_object().unwrap().keys().cloned().collect();
    keys.sort_by_key(|k| k.parse::<i64>().unwrap());
    (keys, m["data"].clone())
}

#[tokio::test]
async fn max_versions_prunes_old_versions() {
    let s = TestServer::dev().await;
    let (st, _) = s.call("POST", "secret/config", Some(json!({"max_versions": 3}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    for i in 1..=5 {
        s.write("secret/data/m", json!({"v": i})).await;
    }
    let (keys, d) = version_keys(&s, "m").await;
    assert_eq!(keys, vec!["3", "4", "5"]);
    assert_eq!(d["oldest_version"], 3);
    assert_eq!(d["current_version"], 5);
    for gone in [1, 2] {
        let (st, v) = s.call("GET", &format!("secret/data/m?version={gone}"), None).await;
        assert_eq!((st, v), (StatusCode::NOT_FOUND, json!({"errors": []})), "version {gone}");
    }
    let (_, v) = s.call("GET", "secret/data/m?version=3", None).await;
    assert_eq!(v["data"]["data"], json!({"v": 3}));

    // Key-level setting.
    let (st, _) = s.call("POST", "secret/metadata/k", Some(json!({"max_versions": 2}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    for i in 1..=4 {
        s.write("secret/data/k", json!({"v": i})).await;
    }
    let (keys, d) = version_keys(&s, "k").await;
    assert_eq!(keys, vec!["3", "4"]);
    assert_eq!(d["oldest_version"], 3);
    assert_eq!(d["max_versions"], 2);

    // Default: 10 versions.
    let (st, _) = s.call("POST", "secret/config", Some(json!({"max_versions": 0}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    for i in 1..=12 {
        s.write("secret/data/dflt", json!({"v": i})).await;
    }
    let (keys, d) = version_keys(&s, "dflt").await;
    assert_eq!(keys.len(), 10);
    assert_eq!(keys.first().map(String::as_str), Some("3"));
    assert_eq!(d["oldest_version"], 3);
}

#[tokio::test]
async fn delete_version_after_sets_deletion_time() {
    let s = TestServer::dev().await;
    let (st, _) = s.call("POST", "secret/metadata/t", Some(json!({"delete_version_after": "1h"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let w = s.write("secret/data/t", json!({"a": "b"})).await;
    let created = DateTime::parse_from_rfc3339(w["created_time"].as_str().unwrap()).unwrap();
    let del = w["deletion_time"].as_str().unwrap();
    assert!(!del.is_empty(), "{w}");
    assert_eq!(DateTime::parse_from_rfc3339(del).unwrap() - created, chrono::Duration::seconds(3600));
    // Not yet deleted: still readable.
    let (st, v) = s.call("GET", "secret/data/t", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["data"]["metadata"]["deletion_time"], del);
    let (_, m) = s.call("GET", "secret/metadata/t", None).await;
    assert_eq!(m["data"]["delete_version_after"], "1h0m0s");

    // Mount-wide, given in seconds.
    let (st, _) = s.call("POST", "secret/config", Some(json!({"delete_version_after": 90}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, c) = s.call("GET", "secret/config", None).await;
    assert_eq!(c["data"]["delete_version_after"], "1m30s");
    let w = s.write("secret/data/u", json!({"a": "b"})).await;
    let created = DateTime::parse_from_rfc3339(w["created_time"].as_str().unwrap()).unwrap();
    let del = DateTime::parse_from_rfc3339(w["deletion_time"].as_str().unwrap()).unwrap();
    assert_eq!(del - created, chrono::Duration::seconds(90));
    // Without a setting the deletion time is empty.
    let (st, _) = s.call("POST", "secret/config", Some(json!({"delete_version_after": "0s"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let w = s.write("secret/data/w", json!({"a": "b"})).await;
    assert_eq!(w["deletion_time"], "");
}

#[tokio::test]
async fn metadata_delete_removes_everything() {
    let s = TestServer::dev().await;
    s.write("secret/data/dir/one", json!({"a": "1"})).await;
    s.write("secret/data/dir/one", json!({"a": "2"})).await;
    s.write("secret/data/dir/two", json!({"a": "1"})).await;
    let r = send(s.request("DELETE", "secret/metadata/dir/one")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.text, "");
    for p in ["secret/data/dir/one", "secret/data/dir/one?version=1", "secret/metadata/dir/one"] {
        let (st, v) = s.call("GET", p, None).await;
        assert_eq!((st, v), (StatusCode::NOT_FOUND, json!({"errors": []})), "{p}");
    }
    let (_, v) = s.call("LIST", "secret/metadata/dir", None).await;
    assert_eq!(v["data"]["keys"], json!(["two"]));
    // Starting again begins at version 1.
    let w = s.write("secret/data/dir/one", json!({"a": "new"})).await;
    assert_eq!(w["version"], 1);
}

#[tokio::test]
async fn list_keys_and_folders() {
    let s = TestServer::dev().await;
    for p in ["my-app", "dir/one", "dir/sub/two", "dir/sub/three", "dirt"] {
        s.write(&format!("secret/data/{p}"), json!({"x": "y"})).await;
    }
    let (st, v) = s.call("LIST", "secret/metadata", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["data"]["keys"], json!(["dir/", "dirt", "my-app"]));
    let (_, v) = s.call("LIST", "secret/metadata/dir", None).await;
    assert_eq!(v["data"]["keys"], json!(["one", "sub/"]));
    let (_, v) = s.call("GET", "secret/metadata/dir/sub/?list=true", None).await;
    assert_eq!(v["data"]["keys"], json!(["three", "two"]));
    for missing in ["secret/metadata/nothere", "secret/metadata/my-app", "secret/metadata/di"] {
        let (st, v) = s.call("LIST", missing, None).await;
        assert_eq!((st, v), (StatusCode::NOT_FOUND, json!({"errors": []})), "{missing}");
    }
    // Soft-deleted keys are still listed (their metadata exists).
    let (st, _) = s.call("DELETE", "secret/data/my-app", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, v) = s.call("LIST", "secret/metadata", None).await;
    assert_eq!(v["data"]["keys"], json!(["dir/", "dirt", "my-app"]));
    // Listing the data path is not allowed.
    let (st, _) = s.call("LIST", "secret/data/dir", None).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn v1_style_path_on_a_v2_mount() {
    let s = TestServer::dev().await;
    s.write("secret/data/foo", json!({"a": "b"})).await;
    for (m, body) in [("GET", None), ("POST", Some(json!({"data": {"a": "b"}})))] {
        let (st, v) = s.call(m, "secret/foo", body).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{m}: {v}");
        assert!(v.get("errors").is_none(), "{v}");
        assert_eq!(v["data"], Value::Null);
        let w = v["warnings"].as_array().unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].as_str().unwrap().starts_with("Invalid path for a versioned K/V secrets engine"), "{v}");
    }
    assert_eq!(s.read("secret/data/foo").await, json!({"a": "b"}), "the v1-style write did nothing");
}

#[tokio::test]
async fn subkeys_shows_structure_only() {
    let s = TestServer::dev().await;
    s.write("secret/data/sk", json!({"user": "u", "db": {"host": "h", "port": 5432, "opts": {"tls": true}}})).await;
    let (st, v) = s.call("GET", "secret/subkeys/sk", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["subkeys"], json!({"user": null, "db": {"host": null, "port": null, "opts": {"tls": null}}}));
    assert_eq!(v["data"]["metadata"]["version"], 1);
    // Only the structure: no value anywhere in the answer's data (timestamps and ids aside).
    let text = v["data"]["subkeys"].to_string();
    assert!(!text.contains("5432") && !text.contains("\"h\""), "values leak: {text}");
    assert!(v["data"].get("data").is_none());
    let (_, v) = s.call("GET", "secret/subkeys/sk?depth=1", None).await;
    assert_eq!(v["data"]["subkeys"], json!({"user": null, "db": null}));
    s.write("secret/data/sk", json!({"only": "one"})).await;
    let (_, v) = s.call("GET", "secret/subkeys/sk?version=1&depth=2", None).await;
    assert_eq!(v["data"]["subkeys"], json!({"user": null, "db": {"host": null, "port": null, "opts": null}}));
    let (st, v) = s.call("GET", "secret/subkeys/missing", None).await;
    assert_eq!((st, v), (StatusCode::NOT_FOUND, json!({"errors": []})));
}

#[tokio::test]
async fn engine_config_read_and_write() {
    let s = TestServer::dev().await;
    let (st, v) = s.call("GET", "secret/config", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        v["data"],
        json!({"cas_required": false, "delete_version_after": "0s", "max_versions": 0, "metadata_cas_required": false})
    );
    let (st, _) = s
        .call(
            "POST",
            "secret/config",
            Some(json!({"max_versions": 5, "cas_required": false, "delete_version_after": "0s"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, v) = s.call("GET", "secret/config", None).await;
    assert_eq!(
        v["data"],
        json!({"cas_required": false, "delete_version_after": "0s", "max_versions": 5, "metadata_cas_required": false})
    );
    let (st, _) = s.call("POST", "secret/config", Some(json!({"delete_version_after": "3h25m19s"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, v) = s.call("GET", "secret/config", None).await;
    assert_eq!(v["data"]["delete_version_after"], "3h25m19s");
    assert_eq!(v["data"]["max_versions"], 5, "fields not given are kept");
    let (st, _) = s.call("POST", "secret/config", Some(json!({"max_versions": "banana"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = s.call("POST", "secret/config", Some(json!({"delete_version_after": "soon"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn mounts_enable_tune_and_disable() {
    let s = TestServer::dev().await;
    let (st, v) = s
        .call("POST", "sys/mounts/kv", Some(json!({"type": "kv", "description": "my kv", "options": {"version": "2"}})))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, v) = s.call("GET", "sys/mounts/kv", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["type"], "kv");
    assert_eq!(v["data"]["description"], "my kv");
    assert_eq!(v["data"]["options"], json!({"version": "2"}));
    assert!(v["data"]["accessor"].as_str().unwrap().starts_with("kv_"));
    let (_, all) = s.call("GET", "sys/mounts", None).await;
    assert_eq!(all["data"]["kv/"]["description"], "my kv");
    s.write("kv/data/a", json!({"k": "v"})).await;

    let (st, v) = s
        .call(
            "POST",
            "sys/mounts/kv/tune",
            Some(json!({"description": "tuned", "default_lease_ttl": "1h", "max_lease_ttl": 7200})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, v) = s.call("GET", "sys/mounts/kv/tune", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["description"], "tuned");
    assert_eq!(v["data"]["default_lease_ttl"], 3600);
    assert_eq!(v["data"]["max_lease_ttl"], 7200);
    assert_eq!(v["data"]["options"], json!({"version": "2"}));
    assert_eq!(v["default_lease_ttl"], 3600, "repeated at the top level");
    let (_, v) = s.call("GET", "sys/mounts/secret/tune", None).await;
    assert_eq!(v["data"]["default_lease_ttl"], 2_764_800);
    assert_eq!(s.read("kv/data/a").await, json!({"k": "v"}), "tuning keeps data");
    // The version as a number is the same version: the mount keeps its engine and its data.
    let (st, v) = s.call("POST", "sys/mounts/kv/tune", Some(json!({"options": {"version": 2}}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (_, v) = s.call("GET", "sys/mounts/kv/tune", None).await;
    assert_eq!(v["data"]["options"], json!({"version": "2"}));
    assert_eq!(s.read("kv/data/a").await, json!({"k": "v"}), "the mount is still served");
    let (st, _) = s.call("POST", "sys/mounts/kv/tune", Some(json!({"options": {"version": 1}}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // kv-v2 type is the same as kv with version 2.
    let (st, _) = s.call("POST", "sys/mounts/other", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, v) = s.call("GET", "sys/mounts/other", None).await;
    assert_eq!((v["data"]["type"].clone(), v["data"]["options"].clone()), (json!("kv"), json!({"version": "2"})));

    // Disable removes the data: re-enabling at the same path starts empty.
    let r = send(s.request("DELETE", "sys/mounts/kv")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let (st, v) = s.call("GET", "kv/data/a", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(v["errors"][0].as_str().unwrap().starts_with("no handler for route"), "{v}");
    let (st, _) = s.call("POST", "sys/mounts/kv", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = s.call("GET", "kv/data/a", None).await;
    assert_eq!((st, v), (StatusCode::NOT_FOUND, json!({"errors": []})));
    let (st, _) = s.call("LIST", "kv/metadata", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Disabling what is not mounted is fine.
    let (st, _) = s.call("DELETE", "sys/mounts/never-mounted", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.call("DELETE", "sys/mounts/sys", None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn mount_errors() {
    let s = TestServer::dev().await;
    let (st, v) = s.call("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!((st, v), (StatusCode::BAD_REQUEST, errors("path is already in use at secret/")));
    let (st, v) = s.call("POST", "sys/mounts/secret/inner", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!((st, v), (StatusCode::BAD_REQUEST, errors("path is already in use at secret/")));
    let (st, _) = s.call("POST", "sys/mounts/kv", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = s.call("POST", "sys/mounts/kv", Some(json!({"type": "kv", "options": {"version": "2"}}))).await;
    assert_eq!((st, v), (StatusCode::BAD_REQUEST, errors("path is already in use at kv/")));
    let (st, v) = s.call("POST", "sys/mounts/kv1", Some(json!({"type": "kv"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let msg = v["errors"][0].as_str().unwrap();
    assert!(msg.contains("version") && msg.contains('2'), "clear message expected: {msg}");
    let (st, v) = s.call("POST", "sys/mounts/kv1", Some(json!({"type": "kv", "options": {"version": "1"}}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = s.call("POST", "sys/mounts/x", Some(json!({"type": "nosuch"}))).await;
    assert_eq!((st, v), (StatusCode::BAD_REQUEST, errors("plugin not found in the catalog: nosuch")));
    let (st, _) = s.call("POST", "sys/mounts/sys/x", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (_, all) = s.call("GET", "sys/mounts", None).await;
    let mut paths: Vec<&String> = all["data"].as_object().unwrap().keys().collect();
    paths.sort();
    assert_eq!(paths, vec!["cubbyhole/", "kv/", "secret/", "sys/"], "refused mounts left nothing behind");
    // null optional fields, as hvac sends them.
    let (st, v) = s
        .call(
            "POST",
            "sys/mounts/hv",
            Some(json!({"type": "kv-v2", "description": null, "config": null, "options": null})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
}

#[tokio::test]
async fn special_characters_in_keys() {
    let s = TestServer::dev().await;
    let names = [
        "it's",
        "q\"uote",
        "semi;colon",
        "per%cent",
        "under_score",
        "with space",
        "emoji-🔑",
        "mixed 'a' \"b\"; 100% _x 🚀",
        "plus+and&amp=eq?q#h",
    ];
    for (i, name) in names.iter().enumerate() {
        let enc = utf8_percent_encode(name, NON_ALPHANUMERIC).to_string();
        let w = s.write(&format!("secret/data/special/{enc}"), json!({"name": name, "i": i})).await;
        assert_eq!(w["version"], 1, "{name}");
    }
    for (i, name) in names.iter().enumerate() {
        let enc = utf8_percent_encode(name, NON_ALPHANUMERIC).to_string();
        assert_eq!(s.read(&format!("secret/data/special/{enc}")).await, json!({"name": name, "i": i}), "{name}");
        let (st, _) = s.call("GET", &format!("secret/metadata/special/{enc}"), None).await;
        assert_eq!(st, StatusCode::OK, "{name}");
    }
    let (st, v) = s.call("LIST", "secret/metadata/special", None).await;
    assert_eq!(st, StatusCode::OK);
    let listed: BTreeSet<String> =
        v["data"]["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect();
    let expected: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
    assert_eq!(listed, expected);

    // `%` and `_` are not wildcards when listing.
    for p in ["like/a_b/x", "like/aXb/y", "like/a%25/z", "like/abc/w"] {
        s.write(&format!("secret/data/{p}"), json!({"v": p})).await;
    }
    let (_, v) = s.call("LIST", "secret/metadata/like/a_b", None).await;
    assert_eq!(v["data"]["keys"], json!(["x"]));
    let (_, v) = s.call("LIST", "secret/metadata/like/a%25", None).await;
    assert_eq!(v["data"]["keys"], json!(["z"]));
    let (_, v) = s.call("LIST", "secret/metadata/like", None).await;
    assert_eq!(v["data"]["keys"], json!(["a%/", "aXb/", "a_b/", "abc/"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_get_every_version() {
    let s = Arc::new(TestServer::dev().await);
    // One key created by the race itself, one whose metadata exists already and keeps 100 versions.
    let (st, _) = s.call("POST", "secret/metadata/kept", Some(json!({"max_versions": 100}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    for key in ["race", "kept"] {
        let mut tasks = Vec::new();
        for i in 0..50 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let (st, v) = s.call("POST", &format!("secret/data/{key}"), Some(json!({"data": {"writer": i}}))).await;
                (i, st, v)
            }));
        }
        let mut by_version = BTreeMap::new();
        for t in tasks {
            let (i, st, v) = t.await.unwrap();
            assert_eq!(st, StatusCode::OK, "{key}: writer {i}: {v}");
            let version = v["data"]["version"].as_i64().unwrap();
            assert!(by_version.insert(version, i).is_none(), "{key}: version {version} given twice");
        }
        assert_eq!(by_version.keys().copied().collect::<Vec<_>>(), (1..=50).collect::<Vec<i64>>(), "{key}");
        let (keys, d) = version_keys(&s, key).await;
        assert_eq!(d["current_version"], 50);
        let first_kept = if key == "kept" { 1 } else { 41 };
        assert_eq!(keys, (first_kept..=50).map(|v: i64| v.to_string()).collect::<Vec<_>>(), "{key}");
        for v in first_kept..=50 {
            let (st, r) = s.call("GET", &format!("secret/data/{key}?version={v}"), None).await;
            assert_eq!(st, StatusCode::OK);
            assert_eq!(r["data"]["data"], json!({"writer": by_version[&v]}), "{key} version {v}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cas_zero_has_one_winner() {
    let s = Arc::new(TestServer::dev().await);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let (st, v) = write_cas(&s, "secret/data/once", json!({"winner": i}), 0).await;
            (i, st, v)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (i, st, v) = t.await.unwrap();
        match st {
            StatusCode::OK => {
                assert_eq!(v["data"]["version"], 1);
                winners.push(i);
            }
            StatusCode::BAD_REQUEST => assert_eq!(v, errors(CAS_MISMATCH), "writer {i}"),
            other => panic!("writer {i}: unexpected {other}: {v}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one cas=0 write wins: {winners:?}");
    assert_eq!(s.read("secret/data/once").await, json!({"winner": winners[0]}));
    let (keys, d) = version_keys(&s, "once").await;
    assert_eq!(keys, vec!["1"]);
    assert_eq!(d["current_version"], 1);
}

#[tokio::test]
async fn the_cli_mount_preflight_needs_only_some_capability_under_the_mount() {
    let s = TestServer::dev().await;
    let policy = "path \"secret/data/app\" { capabilities = [\"read\"] }";
    let (st, _) = s.call("PUT", "sys/policies/acl/app-only", Some(json!({ "policy": policy }))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, t) = s.call("POST", "auth/token/create", Some(json!({"policies": ["app-only"]}))).await;
    let limited = t["auth"]["client_token"].as_str().unwrap().to_string();
    let (st, v) = s.call_as(&limited, "GET", "sys/internal/ui/mounts/secret/app", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["path"], "secret/");
    assert_eq!(v["data"]["options"]["version"], "2");
    // A token with nothing under the mount learns nothing.
    let (_, t) = s.call("POST", "auth/token/create", Some(json!({"policies": ["default"]}))).await;
    let none = t["auth"]["client_token"].as_str().unwrap().to_string();
    let (st, v) = s.call_as(&none, "GET", "sys/internal/ui/mounts/secret/app", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(v["errors"][0].as_str().unwrap().starts_with("preflight capability check returned 403"), "{v}");
}
