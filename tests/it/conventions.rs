//! API-CONTRACT §1 conventions over real HTTP: URL layout, authentication headers, envelopes,
//! status codes, response headers, verbs, body limits, JSON parsing and path canonicalisation.

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{limits, send, Raw, TestServer};
use coffer::server::http::Limits;

/// Every response carries these two headers (§1.8).
fn assert_std_headers(what: &str, h: &HeaderMap) {
    assert_eq!(
        h.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "{what}: Cache-Control missing: {h:?}"
    );
    assert_eq!(
        h.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "{what}: Content-Type missing: {h:?}"
    );
}

/// The envelope fields vaultrs needs present and typed (§1.5).
fn assert_envelope(v: &Value) {
    let o = v.as_object().unwrap_or_else(|| panic!("not an object: {v}"));
    let id = o["request_id"].as_str().unwrap_or_else(|| panic!("request_id: {v}"));
    assert_eq!(id.len(), 36, "request_id is a UUID: {v}");
    assert_eq!(o["lease_id"], json!(""), "{v}");
    assert_eq!(o["renewable"], json!(false), "{v}");
    assert_eq!(o["lease_duration"], json!(0), "{v}");
    for k in ["data", "wrap_info", "warnings", "auth"] {
        assert!(o.contains_key(k), "envelope lacks {k}: {v}");
    }
    assert_eq!(o["wrap_info"], Value::Null, "{v}");
    assert_eq!(o["warnings"], Value::Null, "{v}");
    assert_eq!(o["auth"], Value::Null, "{v}");
}

#[tokio::test]
async fn paths_without_v1_prefix_are_not_found() {
    let s = TestServer::dev().await;
    let r = send(s.client.get(format!("{}/sys/health", s.base))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_std_headers("no /v1", &r.headers);
    // The same path with the prefix answers.
    let (st, v) = s.call_as("", "GET", "sys/health", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["initialized"], true);
}

#[tokio::test]
async fn x_vault_token_and_bearer_both_authenticate() {
    let s = TestServer::dev().await;
    let by_header = send(s.request_anon("GET", "auth/token/lookup-self").header("X-Vault-Token", "root")).await;
    assert_eq!(by_header.status, StatusCode::OK, "{}", by_header.text);
    let by_bearer = send(s.request_anon("GET", "auth/token/lookup-self").bearer_auth("root")).await;
    assert_eq!(by_bearer.status, StatusCode::OK, "{}", by_bearer.text);
    for r in [&by_header, &by_bearer] {
        let v = r.json();
        assert_envelope(&v);
        assert_eq!(v["data"]["id"], "root");
        assert_eq!(v["data"]["policies"], json!(["root"]));
    }
    assert_eq!(by_header.json()["data"]["accessor"], by_bearer.json()["data"]["accessor"]);
    // A wrong bearer token is refused like a wrong X-Vault-Token.
    let bad = send(s.request_anon("GET", "auth/token/lookup-self").bearer_auth("nope")).await;
    assert_eq!(bad.status, StatusCode::FORBIDDEN);
    assert_eq!(bad.json(), json!({"errors": ["permission denied"]}));
}

#[tokio::test]
async fn x_vault_request_header_is_accepted() {
    let s = TestServer::dev().await;
    s.write("secret/data/foo", json!({"a": "c"})).await;
    let r = send(s.request("GET", "secret/data/foo").header("X-Vault-Request", "true")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["data"]["data"], json!({"a": "c"}));
}

#[tokio::test]
async fn missing_or_bad_token_is_permission_denied() {
    let s = TestServer::dev().await;
    s.write("secret/data/foo", json!({"a": "b"})).await;
    let denied = json!({"errors": ["permission denied"]});
    for token in ["", "bogus", "s.AAAAAAAAAAAAAAAAAAAAAAAA"] {
        for (method, path) in [
            ("GET", "secret/data/foo"),
            ("GET", "secret/data/does-not-exist"),
            ("GET", "auth/token/lookup-self"),
            ("GET", "sys/mounts"),
            ("PUT", "sys/seal"),
        ] {
            let (st, v) = s.call_as(token, method, path, None).await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{method} {path} with {token:?}: {v}");
            assert_eq!(v, denied, "{method} {path} with {token:?}");
        }
    }
    // Still unsealed: the PUT sys/seal above did nothing.
    let (_, v) = s.call_as("", "GET", "sys/seal-status", None).await;
    assert_eq!(v["sealed"], false);
}

#[tokio::test]
async fn envelope_fields_are_present_and_typed() {
    let s = TestServer::dev().await;
    let written = s.call("POST", "secret/data/env", Some(json!({"data": {"k": "v"}}))).await;
    assert_eq!(written.0, StatusCode::OK);
    assert_envelope(&written.1);
    assert_eq!(written.1["data"]["version"], 1);
    let (st, v) = s.call("GET", "secret/data/env", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_envelope(&v);
    assert_eq!(v["data"]["data"], json!({"k": "v"}));
    let (_, v2) = s.call("GET", "secret/data/env", None).await;
    assert_ne!(v["request_id"], v2["request_id"], "request ids are per request");
}

#[tokio::test]
async fn config_write_is_204_with_empty_body_and_headers() {
    let s = TestServer::dev().await;
    let r = send(s.request("POST", "secret/config").json(&json!({"max_versions": 7}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.text, "");
    assert_std_headers("204", &r.headers);
    let (_, v) = s.call("GET", "secret/config", None).await;
    assert_eq!(v["data"]["max_versions"], 7);
}

#[tokio::test]
async fn standard_headers_on_every_kind_of_response() {
    let s =
        TestServer::dev_with("root", Limits { max_request_size: 4096, max_json_depth: 64, ..Limits::default() }).await;
    s.write("secret/data/h", json!({"a": "b"})).await;
    let cases: Vec<(&str, StatusCode, Raw)> = vec![
        ("read", StatusCode::OK, send(s.request("GET", "secret/data/h")).await),
        ("health", StatusCode::OK, send(s.request_anon("GET", "sys/health")).await),
        ("config write", StatusCode::NO_CONTENT, send(s.request("POST", "secret/config").json(&json!({}))).await),
        ("bad json", StatusCode::BAD_REQUEST, send(s.request("POST", "secret/data/h").body("{bad")).await),
        ("no token", StatusCode::FORBIDDEN, send(s.request_anon("GET", "secret/data/h")).await),
        ("no route", StatusCode::NOT_FOUND, send(s.request("GET", "nosuchmount/foo")).await),
        ("missing key", StatusCode::NOT_FOUND, send(s.request("GET", "secret/data/missing")).await),
        ("patch missing", StatusCode::NOT_FOUND, s.patch("secret/data/missing", json!({"data": {"a": "b"}})).await),
        ("405", StatusCode::METHOD_NOT_ALLOWED, send(s.request("LIST", "secret/data/h")).await),
        ("413", StatusCode::PAYLOAD_TOO_LARGE, send(s.request("POST", "secret/data/h").body("x".repeat(5000))).await),
        ("415", StatusCode::UNSUPPORTED_MEDIA_TYPE, send(s.request("PATCH", "secret/data/h").json(&json!({}))).await),
        ("traversal", StatusCode::BAD_REQUEST, send(s.request("GET", "secret/data/a%5cb")).await),
    ];
    for (what, status, r) in &cases {
        assert_eq!(r.status, *status, "{what}: {}", r.text);
        assert_std_headers(what, &r.headers);
    }
    // The sealed 503 too.
    let (st, _) = s.call("PUT", "sys/seal", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let r = send(s.request("GET", "secret/data/h")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_std_headers("503", &r.headers);
    let r = send(s.request_anon("HEAD", "sys/health")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.text, "");
    assert_std_headers("HEAD", &r.headers);
}

#[tokio::test]
async fn list_verb_and_list_query_give_the_same_keys() {
    let s = TestServer::dev().await;
    for p in ["foo", "dir/one", "dir/sub/two", "bar"] {
        s.write(&format!("secret/data/{p}"), json!({"x": "y"})).await;
    }
    let (st, by_verb) = s.call("LIST", "secret/metadata", None).await;
    assert_eq!(st, StatusCode::OK, "{by_verb}");
    assert_envelope(&by_verb);
    assert_eq!(by_verb["data"]["keys"], json!(["bar", "dir/", "foo"]));
    let (st, by_query) = s.call("GET", "secret/metadata?list=true", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(by_query["data"], by_verb["data"]);
    // Trailing slash or not: the same answer.
    let (_, a) = s.call("LIST", "secret/metadata/dir", None).await;
    let (_, b) = s.call("GET", "secret/metadata/dir/?list=true", None).await;
    assert_eq!(a["data"]["keys"], json!(["one", "sub/"]));
    assert_eq!(a["data"], b["data"]);
}

#[tokio::test]
async fn post_and_put_are_the_same_write() {
    let s = TestServer::dev().await;
    let (st, v1) = s.call("POST", "secret/data/pp", Some(json!({"data": {"a": "b"}}))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v1["data"]["version"], 1);
    let (st, v2) = s.call("PUT", "secret/data/pp", Some(json!({"data": {"a": "c"}}))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v2["data"]["version"], 2);
    let (_, r) = s.call("GET", "secret/data/pp?version=1", None).await;
    assert_eq!(r["data"]["data"], json!({"a": "b"}));
    assert_eq!(s.read("secret/data/pp").await, json!({"a": "c"}));
    // Same for a config write.
    let (a, _) = s.call("POST", "secret/config", Some(json!({"max_versions": 3}))).await;
    let (b, _) = s.call("PUT", "secret/config", Some(json!({"cas_required": false}))).await;
    assert_eq!((a, b), (StatusCode::NO_CONTENT, StatusCode::NO_CONTENT));
    let (_, c) = s.call("GET", "secret/config", None).await;
    assert_eq!(c["data"]["max_versions"], 3);
}

#[tokio::test]
async fn unknown_mount_is_no_handler_for_route() {
    let s = TestServer::dev().await;
    let (st, v) = s.call("GET", "nosuchmount/foo", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(v, json!({"errors": ["no handler for route \"nosuchmount/foo\". route entry not found."]}));
    // Unknown path inside a mount: unsupported path.
    let (st, v) = s.call("GET", "sys/nosuchthing", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(v, json!({"errors": ["1 error occurred:\n\t* unsupported path\n\n"]}));
}

#[tokio::test]
async fn unsupported_and_unknown_verbs_are_405() {
    let s = TestServer::dev().await;
    s.write("secret/data/x", json!({"a": "b"})).await;
    let (st, v) = s.call("LIST", "secret/data/x", None).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED, "{v}");
    assert_eq!(v, json!({"errors": ["1 error occurred:\n\t* unsupported operation\n\n"]}));
    let (st, v) = s.call("FOO", "secret/data/x", None).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED, "{v}");
    let (st, v) = s.call_as("", "DELETE", "sys/seal-status", None).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED, "{v}");
    assert_eq!(v, json!({"errors": []}));
    // Nothing changed.
    assert_eq!(s.read("secret/data/x").await, json!({"a": "b"}));
}

#[tokio::test]
async fn patch_needs_merge_patch_content_type() {
    let s = TestServer::dev().await;
    s.write("secret/data/p", json!({"a": "b"})).await;
    let r = send(s.request("PATCH", "secret/data/p").json(&json!({"data": {"a": "c"}}))).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"errors": ["PATCH requires Content-Type of application/merge-patch+json, provided application/json"]})
    );
    let r = send(
        s.request("PATCH", "secret/data/p")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(json!({"data": {"a": "c"}}).to_string()),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(r.json()["errors"][0].as_str().unwrap().ends_with("provided application/x-www-form-urlencoded"));
    assert_eq!(s.read("secret/data/p").await, json!({"a": "b"}), "a refused patch changed nothing");
    let r = s.patch("secret/data/p", json!({"data": {"a": "c"}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(s.read("secret/data/p").await, json!({"a": "c"}));
}

fn small_limits() -> Limits {
    Limits { max_request_size: 4096, max_json_depth: 64, ..Limits::default() }
}

#[tokio::test]
async fn body_over_the_limit_with_content_length_is_413() {
    let s = TestServer::dev_with("root", small_limits()).await;
    let big = json!({"data": {"v": "x".repeat(8000)}}).to_string();
    let r = send(s.request("POST", "secret/data/big").body(big)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert!(r.json()["errors"][0].as_str().unwrap().contains("4096"), "{}", r.text);
    // Just under the limit works.
    let fits = json!({"data": {"v": "x".repeat(3000)}});
    let (st, v) = s.call("POST", "secret/data/big", Some(fits)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["version"], 1, "the refused write stored nothing");
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_413() {
    let s = TestServer::dev_with("root", small_limits()).await;
    let mut chunks: Vec<Result<Bytes, std::io::Error>> = vec![Ok(Bytes::from_static(b"{\"data\":{\"v\":\""))];
    chunks.extend((0..16).map(|_| Ok(Bytes::from(vec![b'x'; 1024]))));
    chunks.push(Ok(Bytes::from_static(b"\"}}")));
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let resp = s.request("POST", "secret/data/chunked").body(body).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let headers = resp.headers().clone();
    assert!(headers.get("content-length").is_some() || headers.get("transfer-encoding").is_some());
    let (st, _) = s.call("GET", "secret/data/chunked", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "nothing was written");
    // A small chunked body is fine.
    let small: Vec<Result<Bytes, std::io::Error>> =
        vec![Ok(Bytes::from_static(b"{\"data\":")), Ok(Bytes::from_static(b"{\"v\":\"ok\"}}"))];
    let r = send(
        s.request("POST", "secret/data/chunked").body(reqwest::Body::wrap_stream(futures_util::stream::iter(small))),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(s.read("secret/data/chunked").await, json!({"v": "ok"}));
}

/// `{"data": {"a": {"a": … "x" …}}}` with `depth` levels of objects in total.
fn nested(depth: usize) -> String {
    let inner = depth - 2;
    format!("{{\"data\":{}{}{}}}", "{\"a\":".repeat(inner), "{\"leaf\":\"x\"}", "}".repeat(inner))
}

#[tokio::test]
async fn json_nesting_limit() {
    let s = TestServer::dev().await;
    let deep = nested(65);
    let r = send(s.request("POST", "secret/data/deep").body(deep)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.json()["errors"][0].as_str().unwrap().contains("nested"), "{}", r.text);
    let ok = nested(64);
    let r = send(s.request("POST", "secret/data/deep").body(ok.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "64 levels are allowed: {}", r.text);
    let stored = s.read("secret/data/deep").await;
    let sent: Value = serde_json::from_str(&ok).unwrap();
    assert_eq!(stored, sent["data"]);
    // Brackets inside strings are not structure.
    let r = send(s.request("POST", "secret/data/str").body(format!("{{\"data\":{{\"v\":\"{}\"}}}}", "[".repeat(200))))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn bad_json_is_400_failed_to_decode() {
    let s = TestServer::dev().await;
    for body in ["{bad", "{\"data\":", "{\"data\":{\"a\" \"b\"}}", "[1,2]", "\"text\""] {
        let r = send(s.request("POST", "secret/data/j").body(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        let msg = r.json()["errors"][0].as_str().unwrap().to_string();
        assert!(msg.starts_with("failed to decode JSON input"), "{body}: {msg}");
    }
    let (st, _) = s.call("GET", "secret/data/j", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_null_body_is_an_empty_body() {
    let s = TestServer::dev().await;
    let r = send(s.request("POST", "secret/config").body("null")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = send(s.request("POST", "auth/token/lookup-self").body("null")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["data"]["id"], "root");
    // A data write with a null body is a data write without data.
    let r = send(s.request("POST", "secret/data/n").body("null")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json(), json!({"errors": ["no data provided"]}));
}

#[tokio::test]
async fn path_traversal_is_rejected_before_auth_and_writes_nothing() {
    let s = TestServer::dev().await;
    let body = json!({"data": {"x": "pwned"}}).to_string();
    let targets = [
        "/v1/secret/data/a/../b",
        "/v1/secret/data/a/%2e%2e/b",
        "/v1/secret/data/a/%2E%2E/b",
        "/v1/secret/data/a/.%2E/b",
        "/v1/secret/data//b",
        "/v1/secret/data/./b",
        "/v1/secret/data/a/..",
        "/v1/secret/data/a/%2e",
        "/v1/secret/data/a%5cb",
        "/v1/secret/data/a%5c..%5cb",
        "/v1/secret/data/a%00b",
        "/v1/secret/data/a%0ab",
        "/v1/secret/%2e%2e/sys/mounts/evil",
        "/v1//secret/data/b",
    ];
    for target in targets {
        for token in [None, Some("root")] {
            for method in ["PUT", "GET"] {
                let (st, text) = s.raw_http(method, target, token, if method == "PUT" { &body } else { "" }).await;
                assert_eq!(st, 400, "{method} {target} (token {token:?}): {text}");
                let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{target}: {text}"));
                assert!(v["errors"][0].as_str().unwrap_or("").contains("invalid request path"), "{target}: {text}");
            }
        }
    }
    // Nothing was written anywhere, and no mount was added.
    let (st, v) = s.call("LIST", "secret/metadata", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v, json!({"errors": []}));
    for p in ["secret/data/b", "secret/data/a", "secret/data/a\\b"] {
        let (st, _) = s.call("GET", p, None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{p}");
    }
    let (_, mounts) = s.call("GET", "sys/mounts", None).await;
    assert!(mounts["data"].get("evil/").is_none(), "{mounts}");
    // The raw client itself works: a canonical path is accepted.
    let (st, text) = s.raw_http("PUT", "/v1/secret/data/b", Some("root"), &body).await;
    assert_eq!(st, 200, "{text}");
    let (st, _) = s.raw_http("PUT", "/v1/secret/data/c", None, &body).await;
    assert_eq!(st, 403, "without a token a canonical path is refused by auth, not by the path check");
}

#[tokio::test]
async fn sys_mounts_repeats_data_at_the_top_level() {
    let s = TestServer::dev().await;
    let (st, v) = s.call("GET", "sys/mounts", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_envelope_sys(&v);
    let secret = &v["data"]["secret/"];
    assert_eq!(secret["type"], "kv", "{v}");
    assert_eq!(secret["options"], json!({"version": "2"}));
    assert_eq!(&v["secret/"], secret, "top-level copy");
    assert_eq!(v["sys/"]["type"], "system");
    for (k, entry) in v["data"].as_object().unwrap() {
        assert_eq!(&v[k], entry, "{k} repeated");
    }
}

/// Like [`assert_envelope`] but for sys reads, whose top level also holds the data keys.
fn assert_envelope_sys(v: &Value) {
    assert!(v["request_id"].is_string(), "{v}");
    assert_eq!(v["lease_id"], "");
    assert_eq!(v["renewable"], false);
    assert_eq!(v["lease_duration"], 0);
    assert!(v["data"].is_object());
}

#[tokio::test]
async fn namespace_header_root_only() {
    let s = TestServer::dev().await;
    for ns in ["root", "root/", ""] {
        let r = send(s.request("GET", "auth/token/lookup-self").header("X-Vault-Namespace", ns)).await;
        assert_eq!(r.status, StatusCode::OK, "{ns:?}: {}", r.text);
    }
    for ns in ["other", "root/child", "admin"] {
        let r = send(s.request("GET", "auth/token/lookup-self").header("X-Vault-Namespace", ns)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{ns:?}: {}", r.text);
        assert!(r.json()["errors"][0].is_string());
    }
}

#[tokio::test]
async fn ui_mounts_preflight() {
    let s = TestServer::dev().await;
    let (st, v) = s.call("GET", "sys/internal/ui/mounts/secret/foo", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["path"], "secret/");
    assert_eq!(v["data"]["type"], "kv");
    assert_eq!(v["data"]["options"]["version"], "2");
    let (st, v) = s.call("GET", "sys/internal/ui/mounts/secret", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["path"], "secret/");
    let (st, v) = s.call("GET", "sys/internal/ui/mounts/nomount/x", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(
        v,
        json!({"errors": ["preflight capability check returned 403, please ensure client's policies grant access to path \"nomount/x/\""]})
    );
    let (st, v) = s.call_as("", "GET", "sys/internal/ui/mounts/secret/foo", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(v, json!({"errors": ["permission denied"]}));
}

#[tokio::test]
async fn default_limits_accept_ordinary_requests() {
    // The harness default limits (1 MiB) let a 100 KiB secret through.
    let s = TestServer::dev_with("root", limits()).await;
    let v = "y".repeat(100 * 1024);
    s.write("secret/data/large", json!({"v": v})).await;
    assert_eq!(s.read("secret/data/large").await["v"].as_str().unwrap().len(), 100 * 1024);
}
