//! LIST on KV v2 metadata with OpenBao's `after` and `limit` (issue 16): OpenBao 2.7.2's answers
//! for the same keys, both spellings of LIST, a clear 400 for values no listing can mean, and the
//! `list` capability guarding every page.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestServer;

/// The keys OpenBao 2.7.2 was asked about (`bao server -dev`, `secret/`).
const KEYS: &[&str] = &["a", "b", "c", "c-d", "c.x", "c/x", "c/y/z", "d/e", "f", "ü", "e", "dir/a", "dir/b"];

async fn server_with_keys<K: AsRef<str>>(keys: &[K]) -> TestServer {
    let s = TestServer::dev().await;
    for k in keys {
        s.write(&format!("secret/data/{}", k.as_ref()), json!({"v": "1"})).await;
    }
    s
}

async fn keys(s: &TestServer, method: &str, path: &str) -> Value {
    let (st, v) = s.call(method, path, None).await;
    assert_eq!(st, StatusCode::OK, "{method} {path}: {v}");
    v["data"]["keys"].clone()
}

#[tokio::test]
async fn pages_answer_as_openbao_does() {
    let s = server_with_keys(KEYS).await;
    let all = json!(["a", "b", "c", "c-d", "c.x", "c/", "d/", "dir/", "e", "f", "ü"]);
    let after_b = json!(["c", "c-d", "c.x", "c/", "d/", "dir/", "e", "f", "ü"]);
    for (query, want) in [
        ("", &all),
        ("&limit=2", &json!(["a", "b"])),
        ("&limit=02", &json!(["a", "b"])),
        ("&after=c", &json!(["c-d", "c.x", "c/", "d/", "dir/", "e", "f", "ü"])),
        ("&after=c/&limit=3", &json!(["d/", "dir/", "e"])),
        ("&after=c%2F&limit=3", &json!(["d/", "dir/", "e"])),
        ("&after=b&limit=0", &after_b),
        ("&after=b&limit=-1", &after_b),
        ("&after=b&limit=-9223372036854775808", &after_b),
        ("&limit=9999999999", &all),
        ("&limit=9223372036854775807", &all),
        ("&after=zzz", &json!(["ü"])),
        ("&after=", &all),
        ("&limit=", &all),
        ("&after=A", &all),
    ] {
        assert_eq!(&keys(&s, "GET", &format!("secret/metadata?list=true{query}")).await, want, "GET {query}");
        assert_eq!(&keys(&s, "LIST", &format!("secret/metadata/?{query}")).await, want, "LIST {query}");
    }
    assert_eq!(keys(&s, "LIST", "secret/metadata?after=c&limit=2").await, json!(["c-d", "c.x"]));
    assert_eq!(keys(&s, "GET", "secret/metadata/c/?list=true&after=x").await, json!(["y/"]));
    assert_eq!(keys(&s, "GET", "secret/metadata/c?list=true&after=x").await, json!(["y/"]));
    // An empty page is OpenBao's empty list: 404 with no errors.
    for path in ["secret/metadata/dir?list=true&after=zz", "secret/metadata?list=true&after=%C3%BC&limit=5"] {
        assert_eq!(s.call("GET", path, None).await, (StatusCode::NOT_FOUND, json!({"errors": []})), "{path}");
    }
}

#[tokio::test]
async fn paging_by_the_last_key_walks_a_folder_once() {
    let mut names: Vec<String> = (0..25).map(|i| format!("big/k{i:02}")).collect();
    names.extend(["big/sub/x", "big/sub/y", "big/sub/z/w"].map(String::from));
    let s = server_with_keys(&names).await;
    let mut expected: Vec<Value> = (0..25).map(|i| json!(format!("k{i:02}"))).collect();
    expected.push(json!("sub/"));
    let (mut seen, mut after) = (Vec::new(), String::new());
    loop {
        let (st, v) = s.call("GET", &format!("secret/metadata/big/?list=true&limit=4&after={after}"), None).await;
        if st == StatusCode::NOT_FOUND {
            break;
        }
        let page = v["data"]["keys"].as_array().unwrap().clone();
        assert!((1..=4).contains(&page.len()), "{v}");
        after = page.last().unwrap().as_str().unwrap().replace('/', "%2F");
        seen.extend(page);
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn values_no_listing_can_mean_get_400() {
    let s = server_with_keys(&["a", "c/x"]).await;
    let long = "a".repeat(9000);
    for query in [
        "limit=abc",
        "limit=1.5",
        "limit=+2",
        "limit=%202",
        "limit=1e3",
        "limit=99999999999999999999",
        "after=%2Fc",
        "after=c%2Fy",
        "after=c%2F%2F",
        "after=..%2Fx",
        "after=.",
        "after=..",
        "after=%2F",
        "after=a%5Cb",
        "after=a%00",
        "after=a%0A",
        "after=a%E2%80%8B",
        &format!("after={long}"),
        &format!("after={}", "a".repeat(60_000)),
    ] {
        for (method, path) in
            [("GET", format!("secret/metadata/?list=true&{query}")), ("LIST", format!("secret/metadata?{query}"))]
        {
            let (st, v) = s.call(method, &path, None).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{method} {query}: {v}");
            let e = v["errors"][0].as_str().unwrap();
            assert!(
                e.starts_with("invalid value for \"limit\"") || e.starts_with("invalid value for \"after\""),
                "{e}"
            );
        }
    }
    let (st, v) = s.call("LIST", "secret/metadata", Some(json!({"limit": 1.5}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn every_page_needs_the_list_capability() {
    let s = server_with_keys(&["team/a", "team/b", "team/sub/c", "team0/x", "teamx", "other/s"]).await;
    let lister = s.token_with_policy("lister", r#"path "secret/metadata/team/*" { capabilities = ["list"] }"#).await;
    let reader = s.token_with_policy("reader", r#"path "secret/metadata/*" { capabilities = ["read"] }"#).await;
    let listed = |v: &Value| v["data"]["keys"].clone();

    let (st, v) = s.call_as(&lister, "LIST", "secret/metadata/team?after=a&limit=1", None).await;
    assert_eq!((st, listed(&v)), (StatusCode::OK, json!(["b"])));
    let (st, v) = s.call_as(&lister, "GET", "secret/metadata/te%61m/?list=true&after=b", None).await;
    assert_eq!((st, listed(&v)), (StatusCode::OK, json!(["sub/"])));
    // The last page ends at the folder's end: its neighbours `team0/` and `teamx` never show.
    let (st, v) = s.call_as(&lister, "LIST", "secret/metadata/team/?after=sub%2F&limit=10", None).await;
    assert_eq!((st, v), (StatusCode::NOT_FOUND, json!({"errors": []})));
    // `after` is a name inside the listed folder; it cannot climb out of it.
    let (st, _) = s.call_as(&lister, "LIST", "secret/metadata/team/?after=..%2Fteamx", None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // Other folders, other spellings, and callers without `list` get 403 whatever they page by,
    // before their parameters are looked at.
    for (token, path) in [
        (&lister, "secret/metadata/?after=team&limit=1"),
        (&lister, "secret/metadata?after=team0&limit=abc"),
        (&lister, "secret/metadata/team0/?limit=1"),
        (&lister, "secret/metadata/TEAM/?limit=1"),
        (&lister, "secret/metadata/teamx/?after=a"),
        (&reader, "secret/metadata/team/?after=a&limit=1"),
        (&reader, "secret/metadata/team/?after=..%2Fx&limit=abc"),
        (&reader, "secret/metadata/?limit=1"),
    ] {
        for (method, path) in [("LIST", path.to_string()), ("GET", format!("{path}&list=true"))] {
            let (st, v) = s.call_as(token, method, &path, None).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{method} {path}: {v}");
        }
    }
    let (st, _) = s.call_as("", "LIST", "secret/metadata/team/?limit=1", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Paths not in the normal form are refused before any policy or parameter is looked at.
    for target in ["/v1/secret/metadata//team/?list=true&after=a", "/v1/secret/metadata/team/./?list=true&limit=1"] {
        let (st, _) = s.raw_http("GET", target, Some(&lister), "").await;
        assert_eq!(st, 400, "{target}");
    }
}
