//! Response wrapping and cubbyhole over HTTP: wrap any answer, unwrap exactly once (by header or
//! body), lookup and rewrap, wrapping tokens good for nothing else, per-token cubbyholes.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestServer;

async fn wrapped_read(s: &TestServer, path: &str, ttl: &str) -> Value {
    let resp = s.request("GET", path).header("X-Vault-Wrap-TTL", ttl).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["data"], Value::Null, "a wrapped answer carries no data");
    assert_eq!(v["request_id"], "");
    v["wrap_info"].clone()
}

#[tokio::test]
async fn wrapped_secret_unwraps_once() {
    let s = TestServer::dev().await;
    s.write("secret/data/w", json!({"pw": "hunter2"})).await;
    let info = wrapped_read(&s, "secret/data/w", "5m").await;
    assert_eq!(info["ttl"], 300);
    assert_eq!(info["creation_path"], "secret/data/w");
    let wt = info["token"].as_str().unwrap();
    assert!(wt.starts_with("s."));
    let (st, l) = s.call_as("", "POST", "sys/wrapping/lookup", Some(json!({"token": wt}))).await;
    assert_eq!(st, StatusCode::OK, "lookup works without a token: {l}");
    assert_eq!(l["data"]["creation_ttl"], 300);
    let (st, v) = s.call_as(wt, "POST", "sys/wrapping/unwrap", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["data"]["pw"], "hunter2");
    let (st, _) = s.call_as(wt, "POST", "sys/wrapping/unwrap", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, e) = s.call("POST", "sys/wrapping/unwrap", Some(json!({"token": wt}))).await;
    assert_eq!(
        (st, e["errors"][0].as_str()),
        (StatusCode::BAD_REQUEST, Some("wrapping token is not valid or does not exist"))
    );
}

#[tokio::test]
async fn wrapping_tokens_do_nothing_else_and_a_misuse_burns_them() {
    let s = TestServer::dev().await;
    s.write("secret/data/w", json!({"pw": "x"})).await;
    let wt = wrapped_read(&s, "secret/data/w", "60s").await["token"].as_str().unwrap().to_string();
    assert_eq!(s.call_as(&wt, "GET", "auth/token/lookup-self", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.call_as(&wt, "GET", "secret/data/w", None).await.0, StatusCode::FORBIDDEN);
    // The single use went to the refused request: the token is gone, not left unlimited.
    let (st, _) = s.call("POST", "sys/wrapping/unwrap", Some(json!({"token": wt}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn wrap_rewrap_and_wrapped_tokens() {
    let s = TestServer::dev().await;
    let (st, e) = s.call("POST", "sys/wrapping/wrap", Some(json!({"a": "b"}))).await;
    assert_eq!(
        (st, e["errors"][0].as_str()),
        (StatusCode::BAD_REQUEST, Some("endpoint requires response wrapping to be used"))
    );
    let resp = s
        .request("POST", "sys/wrapping/wrap")
        .header("X-Vault-Wrap-TTL", "120")
        .json(&json!({"a": "b"}))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    let old = v["wrap_info"]["token"].as_str().unwrap().to_string();
    let (st, r) = s.call("POST", "sys/wrapping/rewrap", Some(json!({"token": old}))).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let new = r["wrap_info"]["token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(s.call("POST", "sys/wrapping/unwrap", Some(json!({"token": old}))).await.0, StatusCode::BAD_REQUEST);
    let (st, u) = s.call("POST", "sys/wrapping/unwrap", Some(json!({"token": new}))).await;
    assert_eq!((st, &u["data"]), (StatusCode::OK, &json!({"a": "b"})));
    // A wrapped token creation carries `wrapped_accessor`, and the unwrapped token works.
    let resp = s
        .request("POST", "auth/token/create")
        .header("X-Vault-Wrap-TTL", "1m")
        .json(&json!({"policies": ["default"]}))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert!(v["wrap_info"]["wrapped_accessor"].as_str().is_some_and(|a| !a.is_empty()), "{v}");
    let (_, u) = s.call("POST", "sys/wrapping/unwrap", Some(json!({"token": v["wrap_info"]["token"]}))).await;
    let inner = u["auth"]["client_token"].as_str().unwrap();
    assert_eq!(s.call_as(inner, "GET", "auth/token/lookup-self", None).await.0, StatusCode::OK);
    let resp = s.request("GET", "secret/data/x").header("X-Vault-Wrap-TTL", "abc").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["errors"][0], "error parsing X-Vault-Wrap-TTL header: time: invalid duration");
}

#[tokio::test]
async fn policy_wrapping_ttl_bounds_are_enforced() {
    let s = TestServer::dev().await;
    s.write("secret/data/b", json!({"a": "1"})).await;
    let policy = "path \"secret/data/b\" {\n capabilities = [\"read\"]\n min_wrapping_ttl = \"1m\"\n max_wrapping_ttl = \"10m\"\n}";
    assert_eq!(s.call("PUT", "sys/policies/acl/w", Some(json!({"policy": policy}))).await.0, StatusCode::NO_CONTENT);
    let (_, v) = s.call("POST", "auth/token/create", Some(json!({"policies": ["w"]}))).await;
    let t = v["auth"]["client_token"].as_str().unwrap();
    let send = |ttl: Option<&'static str>| {
        let mut r = s.client.get(format!("{}/v1/secret/data/b", s.base)).header("X-Vault-Token", t);
        if let Some(ttl) = ttl {
            r = r.header("X-Vault-Wrap-TTL", ttl);
        }
        r.send()
    };
    assert_eq!(send(None).await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert_eq!(send(Some("30s")).await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert_eq!(send(Some("1h")).await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert_eq!(send(Some("5m")).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn cubbyholes_are_private_and_die_with_their_token() {
    let s = TestServer::dev().await;
    let (_, a) = s.call("POST", "auth/token/create", Some(json!({"policies": ["default"]}))).await;
    let a = a["auth"]["client_token"].as_str().unwrap().to_string();
    let (_, b) = s.call("POST", "auth/token/create", Some(json!({"policies": ["default"]}))).await;
    let b = b["auth"]["client_token"].as_str().unwrap().to_string();
    assert_eq!(
        s.call_as(&a, "POST", "cubbyhole/notes/x", Some(json!({"k": "secret-a"}))).await.0,
        StatusCode::NO_CONTENT
    );
    let (st, v) = s.call_as(&a, "GET", "cubbyhole/notes/x", None).await;
    assert_eq!((st, &v["data"]), (StatusCode::OK, &json!({"k": "secret-a"})));
    let (st, v) = s.call_as(&a, "LIST", "cubbyhole/notes", None).await;
    assert_eq!((st, &v["data"]["keys"]), (StatusCode::OK, &json!(["x"])));
    assert_eq!(s.call_as(&b, "GET", "cubbyhole/notes/x", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(s.call("GET", "cubbyhole/notes/x", None).await.0, StatusCode::NOT_FOUND, "not even root sees it");
    // Revoking the token destroys its cubbyhole rows.
    let hash = {
        let core = s.running.as_ref().unwrap().core.clone();
        core.tokens.hash(&a).unwrap()
    };
    assert_eq!(s.call("POST", "auth/token/revoke", Some(json!({"token": a}))).await.0, StatusCode::NO_CONTENT);
    let core = s.running.as_ref().unwrap().core.clone();
    let left = core.store.entry_list(&coffer::core::cubbyhole::kind_for(&hash), "").await.unwrap();
    assert!(left.is_empty(), "cubbyhole survived its token: {left:?}");
    assert_eq!(s.call_as(&b, "DELETE", "cubbyhole/notes/x", None).await.0, StatusCode::NO_CONTENT);
}
