//! `POST sys/policies/explain` end to end: one's own token with only a valid token, another
//! token (by value or accessor) or a policy list only with `update`+`sudo`, the reasons of real
//! decisions agreeing with real requests, templated policies filled in with the token's identity,
//! strict input, the token in the body HMACed in audit, and 403 bodies that stay Vault's.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{random_text, TestServer};
use crate::security::find;

const EXPLAIN: &str = "sys/policies/explain";

const READER: &str = r#"path "secret/data/*" { capabilities = ["read", "list"] }"#;
const DENY_APP: &str = r#"path "secret/data/app/*" { capabilities = ["deny"] }"#;
const WRITER: &str =
    r#"path "secret/data/w/*" { capabilities = ["create", "update"], denied_parameters = { "options" = [] } }"#;
const AUDIT_READER: &str = r#"path "sys/audit" { capabilities = ["read"] }"#;
const EXPLAINER: &str = r#"path "sys/policies/explain" { capabilities = ["update", "sudo"] }"#;
const EXPLAINER_NO_SUDO: &str = r#"path "sys/policies/explain" { capabilities = ["update"] }"#;

/// Vault's 403 body, byte for byte what every refused request gets.
const DENIED: &str = r#"{"errors":["permission denied"]}"#;

struct Setup {
    s: TestServer,
    /// reader + deny-app + writer + audit-reader (+ default).
    user: String,
    user_accessor: String,
    /// explainer (update + sudo on the endpoint).
    admin: String,
    /// explainer-no-sudo + reader.
    nosudo: String,
}

async fn policy(s: &TestServer, name: &str, text: &str) {
    let (st, v) = s.call("PUT", &format!("sys/policies/acl/{name}"), Some(json!({ "policy": text }))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
}

async fn token(s: &TestServer, policies: &[&str]) -> (String, String) {
    let (st, v) = s.call("POST", "auth/token/create", Some(json!({ "policies": policies }))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    (v["auth"]["client_token"].as_str().unwrap().into(), v["auth"]["accessor"].as_str().unwrap().into())
}

async fn setup() -> Setup {
    let s = TestServer::dev().await;
    for (n, t) in [
        ("reader", READER),
        ("deny-app", DENY_APP),
        ("writer", WRITER),
        ("audit-reader", AUDIT_READER),
        ("explainer", EXPLAINER),
        ("explainer-no-sudo", EXPLAINER_NO_SUDO),
    ] {
        policy(&s, n, t).await;
    }
    let (user, user_accessor) = token(&s, &["reader", "deny-app", "writer", "audit-reader"]).await;
    let (admin, _) = token(&s, &["explainer"]).await;
    let (nosudo, _) = token(&s, &["explainer-no-sudo", "reader"]).await;
    Setup { s, user, user_accessor, admin, nosudo }
}

/// `POST sys/policies/explain` as `token`; status and raw body text.
async fn explain_raw(s: &TestServer, token: &str, body: Value) -> (StatusCode, String) {
    let resp = s.request_anon("POST", EXPLAIN).header("X-Vault-Token", token).json(&body).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// An explanation that must succeed; its `data`.
async fn explain(s: &TestServer, token: &str, body: Value) -> Value {
    let (st, text) = explain_raw(s, token, body.clone()).await;
    assert_eq!(st, StatusCode::OK, "{body}: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(v["request_id"].is_string(), "Vault's envelope: {v}");
    v["data"].clone()
}

/// One policy's entry in an explanation.
fn alone<'a>(data: &'a Value, name: &str) -> &'a Value {
    data["policies"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name}: {data}"))
}

/// A request's status and raw body text.
async fn raw(s: &TestServer, token: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, String) {
    let mut req = s.request_anon(method, path).header("X-Vault-Token", token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test]
async fn own_token_needs_only_a_valid_token() {
    let t = setup().await;
    let d = explain(&t.s, &t.user, json!({"path": "secret/data/x", "operation": "read"})).await;
    assert_eq!(d["allowed"], true, "{d}");
    assert_eq!(d["path"], "secret/data/x");
    assert_eq!(d["operation"], "read");
    assert_eq!(d["capabilities"], json!(["list", "read"]));
    assert_eq!(d["reason"], "most_specific_pattern");
    assert_eq!(
        d["decided_by"],
        json!({"policies": ["reader"], "path": "secret/data/*", "capabilities": ["list", "read"]})
    );
    assert!(d["message"].as_str().unwrap().contains("secret/data/*"), "{d}");
    // Every policy of the token, `default` included, in the token's order, each on its own.
    let names: Vec<&str> = d["policies"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["reader", "deny-app", "writer", "audit-reader", "default"]);
    assert_eq!(
        *alone(&d, "reader"),
        json!({"name": "reader", "rule": {"path": "secret/data/*", "capabilities": ["list", "read"]}, "allowed": true})
    );
    assert_eq!(*alone(&d, "default"), json!({"name": "default", "rule": null, "allowed": false}));
    assert_eq!(alone(&d, "writer")["rule"], Value::Null);

    // Naming one's own token is the same as naming none, and needs no sudo either.
    let same = explain(&t.s, &t.user, json!({"path": "secret/data/x", "operation": "read", "token": t.user})).await;
    assert_eq!(same, d);

    // The root token: reason root.
    let d = explain(&t.s, "root", json!({"path": "sys/seal", "operation": "update"})).await;
    assert_eq!(
        (d["allowed"].clone(), d["reason"].clone(), d["capabilities"].clone()),
        (json!(true), json!("root"), json!(["root"]))
    );

    // Only POST/PUT: other operations are not explained.
    let (st, _) = raw(&t.s, &t.user, "GET", EXPLAIN, None).await;
    assert_ne!(st, StatusCode::OK);
}

#[tokio::test]
async fn a_sudo_token_explains_another_token_by_value_accessor_and_policy_list() {
    let t = setup().await;
    let q = json!({"path": "secret/data/app/x", "operation": "read"});
    let own = explain(&t.s, &t.user, q.clone()).await;
    let with = |k: &str, v: Value| {
        let mut b = q.clone();
        b[k] = v;
        b
    };
    let by_token = explain(&t.s, &t.admin, with("token", json!(t.user))).await;
    let by_accessor = explain(&t.s, &t.admin, with("accessor", json!(t.user_accessor))).await;
    assert_eq!(by_token, own);
    assert_eq!(by_accessor, own);
    let policies = json!(["reader", "deny-app", "writer", "audit-reader", "default"]);
    let by_policies = explain(&t.s, &t.admin, with("policies", policies)).await;
    assert_eq!(by_policies["allowed"], own["allowed"]);
    assert_eq!(by_policies["decided_by"], own["decided_by"]);
    assert_eq!(by_policies["policies"].as_array().unwrap().len(), 5);
    // The explanation of a denied read names the deny rule and the policy behind it.
    assert_eq!(own["allowed"], false);
    assert_eq!(own["reason"], "deny_wins");
    assert_eq!(own["capabilities"], json!(["deny"]));
    assert_eq!(
        own["decided_by"],
        json!({"policies": ["deny-app"], "path": "secret/data/app/*", "capabilities": ["deny"]})
    );
    // On its own, `reader` would have allowed it.
    assert_eq!(alone(&own, "reader")["allowed"], true);
    assert_eq!(alone(&own, "deny-app")["rule"]["path"], "secret/data/app/*");
    // The request itself gets Vault's 403 and nothing more.
    let (st, body) = raw(&t.s, &t.user, "GET", "secret/data/app/x", None).await;
    assert_eq!((st, body.trim()), (StatusCode::FORBIDDEN, DENIED));
}

#[tokio::test]
async fn explain_agrees_with_real_requests() {
    let t = setup().await;
    t.s.write("secret/data/x", json!({"k": "v"})).await;
    t.s.write("secret/data/app/x", json!({"k": "v"})).await;
    let cases = [
        ("GET", "secret/data/x", "read"),
        ("GET", "secret/data/app/x", "read"),
        ("LIST", "secret/metadata/", "list"),
        ("GET", "secret/metadata/x", "read"),
        ("DELETE", "secret/data/x", "delete"),
        ("GET", "sys/audit", "read"),
        ("GET", "sys/mounts", "read"),
        ("PUT", "secret/data/w/x", "update"),
    ];
    for (method, path, op) in cases {
        let d = explain(&t.s, &t.user, json!({"path": path, "operation": op})).await;
        let body = (method == "PUT").then(|| json!({"data": {"k": "v"}}));
        let (st, text) = raw(&t.s, &t.user, method, path, body).await;
        let refused = st == StatusCode::FORBIDDEN;
        assert_eq!(d["allowed"], !refused, "{method} {path}: {st} {text}; explained {d}");
        if refused {
            assert_eq!(text.trim(), DENIED, "{method} {path}");
        }
    }
}

#[tokio::test]
async fn sudo_paths_parameters_and_nothing_matching_are_named() {
    let t = setup().await;
    // sys/audit is root-protected: read alone is not enough.
    let d = explain(&t.s, &t.user, json!({"path": "sys/audit", "operation": "read"})).await;
    assert_eq!((d["allowed"].clone(), d["reason"].clone()), (json!(false), json!("sudo_required")), "{d}");
    assert_eq!(d["decided_by"]["policies"], json!(["audit-reader"]));
    assert!(d["message"].as_str().unwrap().contains("sudo"), "{d}");
    let (st, body) = raw(&t.s, &t.user, "GET", "sys/audit", None).await;
    assert_eq!((st, body.trim()), (StatusCode::FORBIDDEN, DENIED));

    // A parameter constraint: the parameter is named, its value never.
    let value = format!("VALUE{}", random_text(16));
    let q = json!({"path": "secret/data/w/x", "operation": "update", "data": {"data": {"k": "v"}, "options": {"cas": value}}});
    let (st, text) = explain_raw(&t.s, &t.user, q).await;
    assert_eq!(st, StatusCode::OK, "{text}");
    assert!(!text.contains(&value), "the value leaked: {text}");
    let d: Value = serde_json::from_str::<Value>(&text).unwrap()["data"].clone();
    assert_eq!(
        (d["allowed"].clone(), d["reason"].clone(), d["parameter"].clone()),
        (json!(false), json!("parameters"), json!("options"))
    );
    assert!(d["message"].as_str().unwrap().contains("\"options\""), "{d}");
    assert_eq!(alone(&d, "writer")["allowed"], false);
    // Without the parameter it passes.
    let d =
        explain(&t.s, &t.user, json!({"path": "secret/data/w/x", "operation": "update", "data": {"data": {}}})).await;
    assert_eq!(d["allowed"], true, "{d}");
    // The refused write itself: Vault's 403, no parameter name, no value.
    let (st, body) =
        raw(&t.s, &t.user, "PUT", "secret/data/w/x", Some(json!({"data": {"k": "v"}, "options": {"cas": value}})))
            .await;
    assert_eq!((st, body.trim()), (StatusCode::FORBIDDEN, DENIED));

    let d = explain(&t.s, &t.user, json!({"path": "kv/nothing", "operation": "delete"})).await;
    assert_eq!(
        (d["allowed"].clone(), d["reason"].clone(), d["decided_by"].clone()),
        (json!(false), json!("no_matching_rule"), Value::Null)
    );
    assert_eq!(d["capabilities"], json!([]));
}

#[tokio::test]
async fn templated_policies_are_filled_in_with_the_explained_tokens_identity() {
    let t = setup().await;
    policy(&t.s, "own-tree", r#"path "secret/data/{{identity.entity.name}}/*" { capabilities = ["read"] }"#).await;
    let (st, v) = t.s.call("POST", "sys/auth/userpass", Some(json!({"type": "userpass"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let pw = random_text(20);
    let (st, v) =
        t.s.call("POST", "auth/userpass/users/alice", Some(json!({"password": pw, "policies": ["own-tree"]}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, login) = t.s.call_as("", "POST", "auth/userpass/login/alice", Some(json!({"password": pw}))).await;
    assert_eq!(st, StatusCode::OK, "{login}");
    let alice = login["auth"]["client_token"].as_str().unwrap().to_string();
    let accessor = login["auth"]["accessor"].as_str().unwrap().to_string();
    let q = json!({"path": "secret/data/alice/x", "operation": "read"});
    let d = explain(&t.s, &alice, q.clone()).await;
    assert_eq!(d["allowed"], true, "{d}");
    assert_eq!(d["decided_by"]["path"], "secret/data/alice/*");
    assert_eq!(alone(&d, "own-tree")["rule"]["path"], "secret/data/alice/*");
    let mut by_accessor = q.clone();
    by_accessor["accessor"] = json!(accessor);
    assert_eq!(explain(&t.s, &t.admin, by_accessor).await, d);
    // A bare policy list has no identity: the templated rule matches nothing.
    let mut by_list = q;
    by_list["policies"] = json!(["own-tree"]);
    let d = explain(&t.s, &t.admin, by_list).await;
    assert_eq!((d["allowed"].clone(), d["reason"].clone()), (json!(false), json!("no_matching_rule")));
}

#[tokio::test]
async fn attacker_without_sudo_cannot_explain_anyone_else() {
    let t = setup().await;
    let q = |k: &str, v: Value| {
        let mut b = json!({"path": "secret/data/x", "operation": "read"});
        b[k] = v;
        b
    };
    // `update` on the endpoint is not enough, and the reader has nothing on it.
    for caller in [&t.nosudo, &t.user] {
        for body in
            [q("token", json!(t.admin)), q("accessor", json!(t.user_accessor)), q("policies", json!(["reader"]))]
        {
            let (st, text) = explain_raw(&t.s, caller, body.clone()).await;
            assert_eq!((st, text.trim()), (StatusCode::FORBIDDEN, DENIED), "{body}");
        }
    }
    // No token at all, or a made-up one.
    let (st, _) = explain_raw(&t.s, "", json!({"path": "secret/data/x", "operation": "read"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = explain_raw(&t.s, "hvs.made-up", json!({"path": "secret/data/x", "operation": "read"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Smuggling a second target next to one's own token is refused, never half-read.
    let mut both = q("token", json!(t.nosudo));
    both["accessor"] = json!(t.user_accessor);
    let (st, text) = explain_raw(&t.s, &t.nosudo, both).await;
    assert_eq!((st, text.trim()), (StatusCode::FORBIDDEN, DENIED));
    let mut both = q("token", json!(t.admin));
    both["policies"] = json!(["reader"]);
    let (st, text) = explain_raw(&t.s, &t.admin, both).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
}

#[tokio::test]
async fn spelling_variants_and_bad_input_get_400() {
    let t = setup().await;
    for caller in [&t.user, &t.admin] {
        for path in [
            "secret//x",
            "secret/./x",
            "secret/../x",
            "secret/x ",
            " secret/x",
            "secret/x\t",
            "/secret/x",
            "secret\\x",
            "secret/x\u{200b}",
            "",
        ] {
            let (st, text) = explain_raw(&t.s, caller, json!({"path": path, "operation": "read"})).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{path:?}: {text}");
        }
        for op in ["READ", "write", "sudo", "", "read "] {
            let (st, text) = explain_raw(&t.s, caller, json!({"path": "secret/data/x", "operation": op})).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{op:?}: {text}");
        }
        for body in [
            json!({"path": "secret/data/x"}),
            json!({"path": "secret/data/x", "operation": "read", "data": "not-a-map"}),
            json!({"path": ["secret/data/x"], "operation": "read"}),
        ] {
            let (st, text) = explain_raw(&t.s, caller, body.clone()).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {text}");
        }
    }
    // A body whose target does not parse is not "one's own": without sudo it is refused like any
    // other target, with sudo it is a 400.
    let typo = json!({"path": "secret/data/x", "operation": "read", "acessor": "x"});
    let (st, text) = explain_raw(&t.s, &t.user, typo.clone()).await;
    assert_eq!((st, text.trim()), (StatusCode::FORBIDDEN, DENIED));
    let (st, text) = explain_raw(&t.s, &t.admin, typo).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("unknown field") && text.contains("acessor"), "{text}");
    // Oversize: a path past the edge's limit is 400, a body past the request limit 413, and so
    // is a list of too many policies.
    let long = "a/".repeat(5000);
    let (st, _) = explain_raw(&t.s, &t.user, json!({"path": long, "operation": "read"})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let huge = "x".repeat(2 << 20);
    let (st, _) =
        explain_raw(&t.s, &t.user, json!({"path": "secret/data/x", "operation": "read", "data": {"v": huge}})).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    let many: Vec<String> = (0..300).map(|i| format!("p{i}")).collect();
    let (st, _) =
        explain_raw(&t.s, &t.admin, json!({"path": "secret/data/x", "operation": "read", "policies": many})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_unknown_token_or_accessor_is_400_and_never_echoed() {
    let t = setup().await;
    for (field, value) in
        [("accessor", format!("acc{}", random_text(24))), ("token", format!("hvs.{}", random_text(24)))]
    {
        let (st, text) =
            explain_raw(&t.s, &t.admin, json!({"path": "secret/data/x", "operation": "read", field: value})).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
        assert!(!text.contains(&value), "{field} echoed: {text}");
        assert!(text.contains("not found") || text.contains("no token"), "{text}");
    }
    // A revoked token is unknown too.
    let (victim, _) = token(&t.s, &["reader"]).await;
    let (st, _) = t.s.call("POST", "auth/token/revoke", Some(json!({"token": victim}))).await;
    assert!(st.is_success());
    let (st, text) =
        explain_raw(&t.s, &t.admin, json!({"path": "secret/data/x", "operation": "read", "token": victim})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
    assert!(!text.contains(&victim));
}

#[tokio::test]
async fn the_token_in_the_body_is_hmaced_in_audit() {
    let t = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (st, v) = t
        .s
        .call("PUT", "sys/audit/file", Some(json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}})))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    explain(&t.s, &t.admin, json!({"path": "secret/data/x", "operation": "read", "token": t.user})).await;
    explain(&t.s, &t.user, json!({"path": "secret/data/x", "operation": "read", "token": t.user})).await;
    let (st, v) = t.s.call("POST", "sys/audit-hash/file", Some(json!({"input": t.user}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let hashed = v["data"]["hash"].as_str().unwrap().to_string();
    let text = std::fs::read_to_string(&log).unwrap();
    let entries: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let bodies: Vec<&Value> =
        entries.iter().filter(|e| e["request"]["path"] == EXPLAIN).map(|e| &e["request"]["data"]["token"]).collect();
    assert_eq!(bodies.len(), 4, "a request and a response entry for each: {bodies:?}");
    assert!(bodies.iter().all(|b| **b == json!(hashed)), "{bodies:?}");
    let files = vec![("audit.log".to_string(), text.into_bytes())];
    for secret in [&t.user, &t.admin] {
        assert!(find(&files, secret).is_empty(), "a token in clear in the audit log");
    }
}
