//! `sys/search` and `<mount>/move/<from>` (issue 18, part 4): each search filter and the paging,
//! a search never showing a key the caller's ACL would not let it list or read (compared key by
//! key with `sys/capabilities`), a move carrying every version, label, setting, token and
//! rotation schedule, refusals that change nothing, the move's three policy checks, spelling
//! variants, a concurrent writer, and the real binary killed in the middle of a move.
// The crash test waits on a child process against the wall clock.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{until, TestServer};
use crate::rotation::{configure_ok, core, leader, rotate, stages, status, wait_ended};

const SEARCH_POLICY: &str = r#"path "sys/search" { capabilities = ["update"] }"#;

async fn search_as(s: &TestServer, token: &str, body: Value) -> (StatusCode, Value) {
    s.call_as(token, "POST", "sys/search", Some(body)).await
}

/// The keys of a search that must succeed.
async fn found(s: &TestServer, token: &str, body: Value) -> Vec<String> {
    let (st, v) = search_as(s, token, body.clone()).await;
    assert_eq!(st, StatusCode::OK, "{body}: {v}");
    v["data"]["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_string()).collect()
}

async fn set_metadata(s: &TestServer, key: &str, custom: Value) {
    let (st, v) = s.call("POST", &format!("secret/metadata/{key}"), Some(json!({ "custom_metadata": custom }))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
}

async fn staged(s: &TestServer, key: &str, value: &str, stages: &[&str]) {
    let body = json!({"data": {"v": value}, "options": {"stages": stages}});
    let (st, v) = s.call("POST", &format!("secret/data/{key}"), Some(body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

async fn mv(s: &TestServer, token: &str, from: &str, body: Value) -> (StatusCode, Value) {
    s.call_as(token, "POST", &format!("secret/move/{from}"), Some(body)).await
}

// ---------------------------------------------------------------------------------------------
// Search

#[tokio::test]
async fn each_filter_narrows_the_search_and_keys_come_sorted_relative_to_the_mount() {
    let s = TestServer::dev().await;
    for k in ["app/db-main", "app/db-replica", "app/web", "app/sub/db-x", "app/dbs/web", "other/db", "top-db", "apple"]
    {
        s.write(&format!("secret/data/{k}"), json!({"v": k})).await;
    }
    set_metadata(&s, "app/db-main", json!({"owner": "team-a", "tier": "1"})).await;
    set_metadata(&s, "app/db-replica", json!({"owner": "team-b"})).await;
    set_metadata(&s, "app/sub/db-x", json!({"owner": "team-a"})).await;
    set_metadata(&s, "other/db", json!({"owner": "team-a"})).await;
    staged(&s, "app/db-main", "next", &["pending"]).await;
    staged(&s, "other/db", "blue", &["blue"]).await;
    // A key with metadata and no version is a key (LIST shows it too).
    set_metadata(&s, "app/db-empty", json!({"owner": "team-a"})).await;

    let all = ["app/db-empty", "app/db-main", "app/db-replica", "app/dbs/web", "app/sub/db-x", "app/web", "apple"];
    let (st, v) = search_as(&s, "root", json!({"mount": "secret"})).await;
    assert_eq!(st, StatusCode::OK);
    let mut every: Vec<&str> = all.to_vec();
    every.extend(["other/db", "top-db"]);
    assert_eq!(v["data"], json!({ "keys": every }), "the Vault envelope, sorted by bytes");
    assert_eq!(found(&s, "root", json!({"mount": "secret/", "prefix": "app"})).await, all);
    assert_eq!(found(&s, "root", json!({"mount": "secret", "prefix": "app/"})).await, all[..6]);
    assert_eq!(found(&s, "root", json!({"mount": "secret", "prefix": "app/s"})).await, ["app/sub/db-x"]);
    // The glob matches the name (last segment): `app/dbs/web` is not a match, `top-db` is.
    assert_eq!(
        found(&s, "root", json!({"mount": "secret", "name_glob": "*db*"})).await,
        ["app/db-empty", "app/db-main", "app/db-replica", "app/sub/db-x", "other/db", "top-db"]
    );
    assert_eq!(found(&s, "root", json!({"mount": "secret", "name_glob": "db"})).await, ["other/db"]);
    assert_eq!(
        found(&s, "root", json!({"mount": "secret", "custom_metadata": {"owner": "team-a"}})).await,
        ["app/db-empty", "app/db-main", "app/sub/db-x", "other/db"]
    );
    assert_eq!(
        found(&s, "root", json!({"mount": "secret", "custom_metadata": {"owner": "team-a", "tier": "1"}})).await,
        ["app/db-main"]
    );
    // Key=value pairs, as the bao CLI sends a map.
    assert_eq!(
        found(&s, "root", json!({"mount": "secret", "custom_metadata": "owner=team-b"})).await,
        ["app/db-replica"]
    );
    assert_eq!(found(&s, "root", json!({"mount": "secret", "stage": "pending"})).await, ["app/db-main"]);
    assert_eq!(found(&s, "root", json!({"mount": "secret", "stage": "blue"})).await, ["other/db"]);
    assert_eq!(found(&s, "root", json!({"mount": "secret", "stage": "current"})).await.len(), every.len() - 1);
    // The issue's example: every filter at once.
    let body = json!({"mount": "secret", "prefix": "app/", "name_glob": "*db*", "custom_metadata": {"owner": "team-a"},
                      "stage": "pending", "limit": 100});
    assert_eq!(found(&s, "root", body).await, ["app/db-main"]);
    // Nothing matches: an empty page, not a 404.
    let (st, v) = search_as(&s, "root", json!({"mount": "secret", "prefix": "none/"})).await;
    assert_eq!((st, v["data"].clone()), (StatusCode::OK, json!({"keys": []})));
    // Values are never searched.
    assert!(found(&s, "root", json!({"mount": "secret", "name_glob": "next"})).await.is_empty());
}

#[tokio::test]
async fn pages_follow_after_and_limit() {
    let s = TestServer::dev().await;
    let names: Vec<String> = (0..25).map(|i| format!("p/k{i:02}")).collect();
    for k in names.iter().chain([&"o/x".to_string(), &"q".to_string()]) {
        s.write(&format!("secret/data/{k}"), json!({"v": 1})).await;
    }
    let (mut seen, mut after) = (Vec::new(), String::new());
    loop {
        let page = found(&s, "root", json!({"mount": "secret", "prefix": "p/", "after": after, "limit": 4})).await;
        assert!(page.len() <= 4);
        seen.extend(page.clone());
        match page.last() {
            Some(last) if page.len() == 4 => after = last.clone(),
            _ => break,
        }
    }
    assert_eq!(seen, names);
    // `after` need not be a key, and may sit before or past the prefix.
    assert_eq!(found(&s, "root", json!({"mount": "secret", "prefix": "p/", "after": "p/k22x"})).await, names[23..]);
    assert_eq!(
        found(&s, "root", json!({"mount": "secret", "prefix": "p/", "after": "a", "limit": 1})).await,
        names[..1]
    );
    assert!(found(&s, "root", json!({"mount": "secret", "prefix": "p/", "after": "q"})).await.is_empty());
    assert_eq!(found(&s, "root", json!({"mount": "secret", "after": "p/k24"})).await, ["q"]);
    // 100 keys by default, at most 1000.
    for i in 25..130 {
        s.write(&format!("secret/data/p/k{i:03}"), json!({"v": 1})).await;
    }
    assert_eq!(found(&s, "root", json!({"mount": "secret"})).await.len(), 100);
    assert_eq!(found(&s, "root", json!({"mount": "secret", "limit": 1000})).await.len(), 132);
    for limit in [json!(0), json!(1001), json!(-1), json!("x"), json!(1.5)] {
        let (st, v) = search_as(&s, "root", json!({"mount": "secret", "limit": limit})).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{limit}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_search_examines_a_bounded_number_of_keys_and_says_where_to_go_on() {
    let s = TestServer::dev().await;
    let c = core(&s);
    let mount = c.mounts.load().get("secret/").unwrap().row.id.clone();
    // Metadata-only keys straight into the store: 10,050 of them, none matching the glob.
    let bound = coffer::engines::kv::SEARCH_MAX_EXAMINED;
    let keys: Vec<String> = (0..bound + 50).map(|i| format!("big/k{i:05}")).collect();
    for chunk in keys.chunks(500) {
        let mut writes = tokio::task::JoinSet::new();
        for k in chunk {
            let store = c.store.clone();
            let row = coffer::store::KvMetadataRow::new(&mount, k, "2024-01-01T00:00:00Z".into());
            writes.spawn(async move { store.kv_metadata_put(&row).await.unwrap() });
        }
        writes.join_all().await;
    }
    s.write("secret/data/big/zz-match", json!({"v": 1})).await;
    let (st, v) = search_as(&s, "root", json!({"mount": "secret", "name_glob": "*match"})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let next = keys[bound - 1].clone();
    assert_eq!(v["data"], json!({"keys": [], "next_after": next}), "the page stopped at the bound");
    let (st, v) = search_as(&s, "root", json!({"mount": "secret", "name_glob": "*match", "after": next})).await;
    assert_eq!((st, v["data"].clone()), (StatusCode::OK, json!({"keys": ["big/zz-match"]})));
}

/// Whether `token` may list `key`'s folder or read the key, asked of `sys/capabilities` (the ACL
/// evaluator itself); with `read_only`, whether it may read it.
async fn acl_shows(s: &TestServer, token: &str, key: &str, read_only: bool) -> bool {
    let folder = key.rfind('/').map_or("", |i| &key[..=i]);
    let list_path = format!("secret/metadata/{folder}");
    let paths = [list_path.clone(), format!("secret/data/{key}"), format!("secret/metadata/{key}")];
    let (st, v) = s.call("POST", "sys/capabilities", Some(json!({"token": token, "paths": paths}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let has = |p: &str, cap: &str| v["data"][p].as_array().unwrap().iter().any(|c| c == cap || c == "root");
    let readable = has(&paths[1], "read") || has(&paths[2], "read");
    readable || (!read_only && has(&list_path, "list"))
}

#[tokio::test]
async fn a_search_never_returns_a_key_the_caller_could_not_list_or_read() {
    let s = TestServer::dev().await;
    let keys = [
        "top",
        "team/a",
        "team/b",
        "team/secret",
        "team/sub/c",
        "team/sub/deep/d",
        "teamx",
        "shared/x",
        "shared/a/b",
        "other/z",
    ];
    for k in keys {
        s.write(&format!("secret/data/{k}"), json!({"v": k})).await;
        set_metadata(&s, k, json!({"class": "c1"})).await;
    }
    let policies = [
        ("lister", r#"path "secret/metadata/team/" { capabilities = ["list"] }"#),
        ("reader", r#"path "secret/data/team/sub/*" { capabilities = ["read"] }"#),
        ("meta-reader", r#"path "secret/metadata/shared/+" { capabilities = ["read"] }"#),
        (
            "denied",
            r#"path "secret/data/*" { capabilities = ["read"] }
               path "secret/data/team/secret" { capabilities = ["deny"] }"#,
        ),
        ("folder-glob", r#"path "secret/metadata/+/" { capabilities = ["list"] }"#),
        ("top-lister", r#"path "secret/metadata/" { capabilities = ["list"] }"#),
        ("writer", r#"path "secret/data/*" { capabilities = ["create", "update", "delete"] }"#),
        ("data-list", r#"path "secret/data/team/" { capabilities = ["list", "create"] }"#),
        ("nothing", ""),
    ];
    let mut shown_any = 0;
    for (name, hcl) in policies {
        let token = s.token_with_policy(name, &format!("{SEARCH_POLICY}\n{hcl}")).await;
        for read_only in [false, true] {
            let body = if read_only {
                json!({"mount": "secret", "custom_metadata": {"class": "c1"}, "limit": 1000})
            } else {
                json!({"mount": "secret", "limit": 1000})
            };
            let got: BTreeSet<String> = found(&s, &token, body).await.into_iter().collect();
            let mut want = BTreeSet::new();
            for k in keys {
                if acl_shows(&s, &token, k, read_only).await {
                    want.insert(k.to_string());
                }
            }
            assert_eq!(got, want, "policy {name}, filter on metadata: {read_only}");
            shown_any += got.len();
        }
    }
    assert!(shown_any > 10, "the policies show something, so the comparison means something");
    // Spot checks of what the comparison covers: a lister sees names, not what metadata holds.
    let lister = s.token_with_policy("lister2", &format!("{SEARCH_POLICY}\n{}", policies[0].1)).await;
    assert_eq!(found(&s, &lister, json!({"mount": "secret"})).await, ["team/a", "team/b", "team/secret"]);
    assert!(found(&s, &lister, json!({"mount": "secret", "custom_metadata": {"class": "c1"}})).await.is_empty());
    let denied = s.token_with_policy("denied2", &format!("{SEARCH_POLICY}\n{}", policies[3].1)).await;
    assert!(!found(&s, &denied, json!({"mount": "secret"})).await.contains(&"team/secret".to_string()));
}

#[tokio::test]
async fn search_needs_update_on_sys_search_and_refuses_bad_input() {
    let s = TestServer::dev().await;
    s.write("secret/data/a", json!({"v": 1})).await;
    let no_search = s.token_with_policy("no-search", r#"path "secret/*" { capabilities = ["read", "list"] }"#).await;
    let (st, _) = search_as(&s, &no_search, json!({"mount": "secret"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let read_only = s.token_with_policy("search-read", r#"path "sys/search" { capabilities = ["read"] }"#).await;
    let (st, _) = search_as(&s, &read_only, json!({"mount": "secret"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = s.call_as("", "POST", "sys/search", Some(json!({"mount": "secret"}))).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Unknown mounts and mounts of other engines.
    for mount in ["nope", "secret/a", "cubbyhole", "sys", "auth/token", "token"] {
        let (st, v) = search_as(&s, "root", json!({ "mount": mount })).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{mount}: {v}");
    }
    let long = "a".repeat(9000);
    for body in [
        json!({}),
        json!({"mount": "secret//"}),
        json!({"mount": " secret"}),
        json!({"mount": "secret", "prefix": "/a"}),
        json!({"mount": "secret", "prefix": "a//b"}),
        json!({"mount": "secret", "prefix": "./a"}),
        json!({"mount": "secret", "prefix": "a\u{0}"}),
        json!({"mount": "secret", "prefix": long}),
        json!({"mount": "secret", "after": long}),
        json!({"mount": "secret", "name_glob": "a/b*"}),
        json!({"mount": "secret", "name_glob": long}),
        json!({"mount": "secret", "custom_metadata": {"k": 7}}),
        json!({"mount": "secret", "stage": "a/b"}),
        json!({"mount": "secret", "name-glob": "*"}),
    ] {
        let (st, v) = search_as(&s, "root", body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
    }
    // A body over the edge's limit never reaches the engine.
    let (st, _) = search_as(&s, "root", json!({"mount": "secret", "prefix": "a".repeat(2 << 20)})).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
}

// ---------------------------------------------------------------------------------------------
// Move

/// Everything a client can read of a secret: metadata, each version as read, labels, rotation
/// (`None` where it answers 404).
async fn snapshot(s: &TestServer, key: &str) -> Value {
    let get = |path: String| async move {
        let (st, v) = s.call("GET", &path, None).await;
        match st {
            StatusCode::OK => v["data"].clone(),
            StatusCode::NOT_FOUND => json!({"404": v["data"]}),
            other => panic!("GET {path}: {other} {v}"),
        }
    };
    let meta = get(format!("secret/metadata/{key}")).await;
    let mut versions = serde_json::Map::new();
    if let Some(vs) = meta["versions"].as_object() {
        for n in vs.keys() {
            versions.insert(n.clone(), get(format!("secret/data/{key}?version={n}")).await);
        }
    }
    json!({
        "metadata": meta,
        "versions": versions,
        "stages": get(format!("secret/stages/{key}")).await,
        "rotation": get(format!("secret/rotation/{key}")).await,
        "current": get(format!("secret/data/{key}")).await,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_keeps_every_version_label_setting_token_and_the_rotation_schedule() {
    let s = leader().await;
    let (st, v) = s
        .call(
            "POST",
            "secret/metadata/app/src",
            Some(json!({"max_versions": 7, "delete_version_after": "1000h", "custom_metadata": {"owner": "team-a"}})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    for i in 1..=3 {
        s.write("secret/data/app/src", json!({"password": format!("pw-{i}"), "n": i})).await;
    }
    let body = json!({"data": {"password": "pw-4"}, "options": {"stages": ["blue"], "request_token": "tok-4"}});
    let (st, first) = s.call("POST", "secret/data/app/src", Some(body.clone())).await;
    assert_eq!(st, StatusCode::OK, "{first}");
    let (st, _) = s.call("POST", "secret/delete/app/src", Some(json!({"versions": [1]}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.call("POST", "secret/destroy/app/src", Some(json!({"versions": [2]}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    configure_ok(
        &s,
        "app/src",
        json!({"schedule": "rate(30 days)", "rotator": {"type": "password", "policy": "default"}}),
    )
    .await;
    // Read twice, so that the KV cache holds the old path.
    for _ in 0..2 {
        assert_eq!(s.read("secret/data/app/src").await["password"], "pw-3");
    }
    let before = snapshot(&s, "app/src").await;
    assert_eq!(before["stages"]["stages"], json!({"blue": 4, "current": 3, "previous": 2}));

    let (st, v) = mv(&s, "root", "app/src", json!({"to": "new/place"})).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let after = snapshot(&s, "new/place").await;
    assert_eq!(after, before, "every version, label, setting and the schedule read the same at the new path");
    let gone = snapshot(&s, "app/src").await;
    for part in ["metadata", "stages", "rotation", "current"] {
        assert!(gone[part].get("404").is_some(), "{part} is still at the old path: {gone}");
    }
    assert_eq!(found(&s, "root", json!({"mount": "secret"})).await, ["new/place"]);
    // The request token moved with its version: a replay at the new path returns version 4.
    let (st, replay) = s.call("POST", "secret/data/new/place", Some(body)).await;
    assert_eq!((st, replay["data"]["version"].clone()), (StatusCode::OK, json!(4)), "{replay}");
    // The rotation runs at the new path.
    let (st, v) = rotate(&s, "new/place").await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    wait_ended(&s, "new/place", 1).await;
    assert_eq!(status(&s, "new/place").await["last_outcome"], "succeeded");
    assert_eq!(stages(&s, "new/place").await, json!({"blue": 4, "current": 5, "previous": 3}));
    // The old path is free for a new secret.
    s.write("secret/data/app/src", json!({"fresh": true})).await;
    assert_eq!(s.read("secret/data/app/src").await, json!({"fresh": true}));
}

#[tokio::test]
async fn a_move_onto_an_existing_secret_or_of_a_missing_one_changes_nothing() {
    let s = TestServer::dev().await;
    s.write("secret/data/a", json!({"v": "a"})).await;
    s.write("secret/data/b", json!({"v": "b"})).await;
    let (st, v) = s.call("POST", "secret/metadata/meta-only", Some(json!({"max_versions": 3}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (a, b) = (snapshot(&s, "a").await, snapshot(&s, "b").await);
    for to in ["b", "meta-only"] {
        let (st, v) = mv(&s, "root", "a", json!({ "to": to })).await;
        assert_eq!(st, StatusCode::CONFLICT, "{to}: {v}");
        assert!(v["errors"][0].as_str().unwrap().contains("already exists"), "{v}");
    }
    assert_eq!((snapshot(&s, "a").await, snapshot(&s, "b").await), (a, b));
    let (st, _) = mv(&s, "root", "missing", json!({"to": "c"})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s.call("GET", "secret/metadata/c", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_move_needs_read_and_delete_on_the_source_and_create_on_the_target() {
    let s = TestServer::dev().await;
    s.write("secret/data/src/k", json!({"v": "kept"})).await;
    let read = r#"path "secret/data/src/*" { capabilities = ["read"] }"#;
    let delete = r#"path "secret/metadata/src/*" { capabilities = ["delete"] }"#;
    let create = r#"path "secret/data/dst/*" { capabilities = ["create"] }"#;
    let before = snapshot(&s, "src/k").await;
    for (name, hcl) in [
        ("no-delete", format!("{read}\n{create}")),
        ("no-read", format!("{delete}\n{create}")),
        ("no-create", format!("{read}\n{delete}")),
        (
            "update-not-create",
            format!("{read}\n{delete}\npath \"secret/data/dst/*\" {{ capabilities = [\"update\"] }}"),
        ),
        (
            "move-rule-only",
            r#"path "secret/move/*" { capabilities = ["create", "read", "update", "delete", "sudo"] }"#.into(),
        ),
        (
            "denied-target",
            format!("{read}\n{delete}\n{create}\npath \"secret/data/dst/k\" {{ capabilities = [\"deny\"] }}"),
        ),
    ] {
        let token = s.token_with_policy(name, &hcl).await;
        let (st, v) = mv(&s, &token, "src/k", json!({"to": "dst/k"})).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{name}: {v}");
        assert_eq!(snapshot(&s, "src/k").await, before, "{name}");
        let (st, _) = s.call("GET", "secret/metadata/dst/k", None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{name}");
    }
    // Exactly the three grants, and nothing on `move/`, are enough.
    let token = s.token_with_policy("mover", &format!("{read}\n{delete}\n{create}")).await;
    let (st, v) = mv(&s, &token, "src/k", json!({"to": "dst/k"})).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(s.read("secret/data/dst/k").await, json!({"v": "kept"}));
}

#[tokio::test]
async fn spelling_variants_and_oversize_input_are_refused() {
    let s = TestServer::dev().await;
    s.write("secret/data/a/b", json!({"v": 1})).await;
    let before = snapshot(&s, "a/b").await;
    let long = "x".repeat(9000);
    for to in ["a//c", "./c", "c/", "/c", "a/./c", "a/../c", "c\u{0}", "c\u{200b}", "c\\d", "", &long] {
        let (st, v) = mv(&s, "root", "a/b", json!({ "to": to })).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "to {to:?}: {v}");
    }
    for body in [json!({}), json!({"to": 7}), json!({"to": ["c"]}), json!({"to": "c", "force": true})] {
        let (st, v) = mv(&s, "root", "a/b", body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
    }
    let (st, v) = mv(&s, "root", "a/b", json!({"to": "a/b"})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "onto itself: {v}");
    // The source's spellings, sent byte for byte.
    for target in [
        "/v1/secret/move/a//b",
        "/v1/secret/move/./a/b",
        "/v1/secret/move/a/b/",
        "/v1/secret/move/a%00b",
        "/v1/secret/move/a/./b",
        "/v1/secret/move/x/../a/b",
        "/v1/secret/move/",
    ] {
        let (code, body) = s.raw_http("POST", target, Some("root"), r#"{"to":"c"}"#).await;
        assert!(code == 400 || code == 405, "{target}: {code} {body}");
    }
    let (st, _) = mv(&s, "root", "a/b", json!({"to": "c".repeat(2 << 20)})).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(snapshot(&s, "a/b").await, before);
    let (st, _) = s.call("GET", "secret/metadata/c", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotation_in_flight_refuses_the_move() {
    let s = TestServer::dev().await;
    s.write("secret/data/rot", json!({"password": "p0"})).await;
    configure_ok(&s, "rot", json!({"schedule": "rate(30 days)", "rotator": {"type": "password", "policy": "default"}}))
        .await;
    let c = core(&s);
    let mount = c.mounts.load().get("secret/").unwrap().row.id.clone();
    let mut row = c.store.rotation_get(&mount, "rot").await.unwrap().unwrap();
    row.step = "set".into();
    row.due_at = Some(i64::MAX / 2);
    c.store.rotation_update(&row, None).await.unwrap();
    let before = snapshot(&s, "rot").await;
    let (st, v) = mv(&s, "root", "rot", json!({"to": "rot2"})).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(v["errors"][0].as_str().unwrap().contains("rotation"), "{v}");
    assert_eq!(snapshot(&s, "rot").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_concurrent_write_to_the_target_leaves_the_secret_in_exactly_one_place() {
    let s = Arc::new(TestServer::dev().await);
    for round in 0..15 {
        let (from, to) = (format!("race/src{round}"), format!("race/dst{round}"));
        for i in 1..=3 {
            s.write(&format!("secret/data/{from}"), json!({"v": i})).await;
        }
        let mover = {
            let (s, from, to) = (s.clone(), from.clone(), to.clone());
            tokio::spawn(async move { mv(&s, "root", &from, json!({ "to": to })).await })
        };
        let writer = {
            let (s, to) = (s.clone(), to.clone());
            tokio::spawn(
                async move { s.call("POST", &format!("secret/data/{to}"), Some(json!({"data": {"w": 1}}))).await },
            )
        };
        let (moved, wrote) = (mover.await.unwrap(), writer.await.unwrap());
        assert_eq!(wrote.0, StatusCode::OK, "{round}: the write to the target: {}", wrote.1);
        let (src, _) = s.call("GET", &format!("secret/metadata/{from}"), None).await;
        let (_, dst) = s.call("GET", &format!("secret/metadata/{to}"), None).await;
        match moved.0 {
            // The move went first: the write became version 4 of the moved secret.
            StatusCode::NO_CONTENT => {
                assert_eq!(src, StatusCode::NOT_FOUND, "{round}");
                assert_eq!(dst["data"]["current_version"], 4, "{round}: {dst}");
                assert_eq!(s.read(&format!("secret/data/{to}?version=3")).await, json!({"v": 3}));
            }
            // The write went first: the move was refused and the source is whole.
            StatusCode::CONFLICT => {
                assert_eq!(src, StatusCode::OK, "{round}");
                assert_eq!(s.read(&format!("secret/data/{from}")).await, json!({"v": 3}));
                assert_eq!(dst["data"]["current_version"], 1, "{round}: {dst}");
            }
            other => panic!("{round}: the move answered {other}: {}", moved.1),
        }
    }
}

#[tokio::test]
async fn moves_and_searches_are_audited_as_every_request() {
    let s = TestServer::dev().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (st, v) = s
        .call("PUT", "sys/audit/file", Some(json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}})))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    s.write("secret/data/au", json!({"v": "audited-value"})).await;
    let (st, _) = mv(&s, "root", "au", json!({"to": "au2"})).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    found(&s, "root", json!({"mount": "secret"})).await;
    let text = std::fs::read_to_string(&log).unwrap();
    let entries: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for path in ["secret/move/au", "sys/search"] {
        for kind in ["request", "response"] {
            assert!(
                entries.iter().any(|e| e["type"] == kind && e["request"]["path"] == path),
                "no {kind} entry for {path}"
            );
        }
    }
    assert!(!text.contains("audited-value"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_killed_between_copy_and_delete_leaves_the_secret_whole_at_its_source() {
    use crate::restart::{call, init, spawn, spawn_env, write_config};
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let mut p = spawn_env(&cfg, "info", &[(coffer::store::moves::CRASH_ENV, "after-copy")]);
    let token = init(&p.base).await;
    for i in 1..=3 {
        let (st, v) = call(&p.base, &token, "POST", "secret/data/src", Some(json!({"data": {"v": i}}))).await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    // The process dies inside the move's transaction, after the copy and before the delete.
    let _ = reqwest::Client::new()
        .post(format!("{}/v1/secret/move/src", p.base))
        .header("X-Vault-Token", &token)
        .json(&json!({"to": "dst"}))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(status) = p.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not crash");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(exit.signal(), Some(9), "killed at the hook, not {exit:?}");
    let mut p = spawn(&cfg);
    for v in 1..=3 {
        let (st, got) = call(&p.base, &token, "GET", &format!("secret/data/src?version={v}"), None).await;
        assert_eq!((st, got["data"]["data"]["v"].clone()), (StatusCode::OK, json!(v)), "{got}");
    }
    let (st, _) = call(&p.base, &token, "GET", "secret/metadata/dst", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "nothing of the move was kept");
    // Without the hook the move goes through.
    let (st, v) = call(&p.base, &token, "POST", "secret/move/src", Some(json!({"to": "dst"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, got) = call(&p.base, &token, "GET", "secret/data/dst", None).await;
    assert_eq!((st, got["data"]["data"]["v"].clone()), (StatusCode::OK, json!(3)));
    p.child.kill().unwrap();
    p.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_several_nodes_a_move_drops_both_paths_from_the_other_nodes_caches() {
    let (_store, db) = crate::store_contract::fresh_pg().await;
    let (a, b) = crate::kv_cache_cluster::pair(db.url(), true).await;
    // Written on node b itself, so that no notice about it is on its way to b's cache.
    b.write("secret/data/from", json!({"v": 1})).await;
    let cache = b.running.as_ref().unwrap().core.kv_cache.load_full().expect("multi_node turns the cache on");
    assert_eq!(b.read("secret/data/from").await, json!({"v": 1}));
    let hits = cache.counts().hits;
    assert_eq!(b.read("secret/data/from").await, json!({"v": 1}));
    assert_eq!(cache.counts().hits, hits + 1, "node b serves the source from its cache");
    let (st, v) = mv(&a, &a.token, "from", json!({"to": "to"})).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    until("node b to stop serving the old path", Duration::from_secs(2), || async {
        b.call("GET", "secret/data/from", None).await.0 == StatusCode::NOT_FOUND
    })
    .await;
    assert_eq!(b.read("secret/data/to").await, json!({"v": 1}));
    for n in [a, b] {
        n.stop().await;
    }
    db.close().await;
}
