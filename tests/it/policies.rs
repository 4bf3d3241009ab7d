//! ACL policies over HTTP: the policy endpoints (current and legacy), capabilities endpoints,
//! Vault's precedence cases A–E, create-versus-update, and the SEC-01/03/04/37 regressions.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestServer;

async fn put_policy(s: &TestServer, name: &str, text: &str) {
    let (st, v) = s.call("PUT", &format!("sys/policies/acl/{name}"), Some(json!({"policy": text}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{name}: {v}");
}

async fn token_with(s: &TestServer, policies: &[&str]) -> String {
    let (st, v) = s.call("POST", "auth/token/create", Some(json!({"policies": policies}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["auth"]["client_token"].as_str().unwrap().to_string()
}

async fn caps(s: &TestServer, token: &str, path: &str) -> Value {
    let (st, v) = s.call("POST", "sys/capabilities", Some(json!({"token": token, "paths": [path]}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["capabilities"], v["data"][path], "single path repeats under `capabilities`");
    v["data"][path].clone()
}

#[tokio::test]
async fn policy_endpoints_round_trip_and_guard_builtins() {
    let s = TestServer::dev().await;
    let hcl = "path \"secret/data/app/*\" {\n  capabilities = [\"read\", \"list\"]\n}\n";
    put_policy(&s, "app", hcl).await;
    let (st, v) = s.call("GET", "sys/policies/acl/app", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["data"]["policy"], hcl, "the text comes back exactly as sent");
    assert_eq!(v["data"]["name"], "app");
    let (st, v) = s.call("GET", "sys/policy/app", None).await;
    assert_eq!((st, &v["data"]["rules"], &v["rules"]), (StatusCode::OK, &json!(hcl), &json!(hcl)));
    let (st, v) = s
        .call(
            "PUT",
            "sys/policy/legacy",
            Some(json!({"policy": "{\"path\": {\"secret/*\": {\"capabilities\": [\"read\"]}}}"})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (_, v) = s.call("GET", "sys/policy", None).await;
    for n in ["app", "default", "legacy", "root"] {
        assert!(v["data"]["policies"].as_array().unwrap().contains(&json!(n)), "{n} in {v}");
        assert!(v["keys"].as_array().unwrap().contains(&json!(n)));
    }
    let (st, v) = s.call("LIST", "sys/policies/acl", None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(v["data"]["keys"].as_array().unwrap().contains(&json!("app")));
    let (st, v) = s
        .call("PUT", "sys/policies/acl/bad", Some(json!({"policy": "path \"x\" { capabilities = [\"reed\"] }"})))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(v["errors"][0].as_str().unwrap().contains("invalid capability \"reed\""), "{v}");
    let (st, v) = s.call("PUT", "sys/policies/acl/root", Some(json!({"policy": hcl}))).await;
    assert_eq!((st, v["errors"][0].as_str()), (StatusCode::BAD_REQUEST, Some("cannot update \"root\" policy")));
    let (st, v) = s.call("DELETE", "sys/policies/acl/root", None).await;
    assert_eq!((st, v["errors"][0].as_str()), (StatusCode::BAD_REQUEST, Some("cannot delete \"root\" policy")));
    let (st, v) = s.call("DELETE", "sys/policies/acl/default", None).await;
    assert_eq!((st, v["errors"][0].as_str()), (StatusCode::BAD_REQUEST, Some("cannot delete default policy")));
    let (st, v) = s.call("GET", "sys/policies/acl/default", None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(v["data"]["policy"].as_str().unwrap().contains("auth/token/lookup-self"));
    assert_eq!(s.call("DELETE", "sys/policies/acl/app", None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.call("GET", "sys/policies/acl/app", None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn precedence_cases_from_the_contract() {
    let s = TestServer::dev().await;
    // A: a later wildcard is more specific; `app/*` needs the slash.
    put_policy(&s, "a1", "path \"secret/data/*\" { capabilities = [\"read\", \"update\", \"create\"] }").await;
    put_policy(&s, "a2", "path \"secret/data/app/*\" { capabilities = [\"deny\"] }").await;
    let a = token_with(&s, &["a1", "a2"]).await;
    assert_eq!(caps(&s, &a, "secret/data/app/x").await, json!(["deny"]));
    assert_eq!(caps(&s, &a, "secret/data/app").await, json!(["create", "read", "update"]));
    assert_eq!(
        s.call_as(&a, "POST", "secret/data/app/x", Some(json!({"data": {"k": "v"}}))).await.0,
        StatusCode::FORBIDDEN
    );
    // B and C: the same pattern in two policies is a union, and deny wins inside it.
    put_policy(&s, "b1", "path \"secret/data/team/*\" { capabilities = [\"read\"] }").await;
    put_policy(&s, "b2", "path \"secret/data/team/*\" { capabilities = [\"update\"] }").await;
    put_policy(&s, "c2", "path \"secret/data/team/*\" { capabilities = [\"deny\"] }").await;
    let b = token_with(&s, &["b1", "b2"]).await;
    assert_eq!(caps(&s, &b, "secret/data/team/x").await, json!(["read", "update"]));
    let c = token_with(&s, &["b1", "c2"]).await;
    assert_eq!(caps(&s, &c, "secret/data/team/x").await, json!(["deny"]));
    // D: `+` matches one segment; a `*` ending loses against it.
    put_policy(&s, "d", "path \"secret/data/svc/+/config\" { capabilities = [\"read\"] }\npath \"secret/data/svc/*\" { capabilities = [\"update\", \"delete\"] }").await;
    let d = token_with(&s, &["d"]).await;
    assert_eq!(caps(&s, &d, "secret/data/svc/a/config").await, json!(["read"]));
    assert_eq!(caps(&s, &d, "secret/data/svc/a/b/config").await, json!(["delete", "update"]));
    // E: an exact match wins; `ex/ex*` beats `ex/*`.
    put_policy(&s, "e", "path \"secret/data/ex/exact\" { capabilities = [\"read\"] }\npath \"secret/data/ex/*\" { capabilities = [\"read\", \"update\", \"delete\", \"list\"] }\npath \"secret/data/ex/ex*\" { capabilities = [\"list\"] }").await;
    let e = token_with(&s, &["e"]).await;
    assert_eq!(caps(&s, &e, "secret/data/ex/exact").await, json!(["read"]));
    assert_eq!(caps(&s, &e, "secret/data/ex/exactly").await, json!(["list"]));
    assert_eq!(s.call_as(&e, "DELETE", "secret/data/ex/exact", None).await.0, StatusCode::FORBIDDEN);
    // Root and no match.
    assert_eq!(caps(&s, "root", "anything/at/all").await, json!(["root"]));
    assert_eq!(caps(&s, &e, "sys/seal").await, json!(["deny"]));
    let (st, v) =
        s.call_as(&e, "POST", "sys/capabilities-self", Some(json!({"paths": ["secret/data/ex/exact", "x"]}))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["data"]["x"], json!(["deny"]));
    assert!(v["data"].get("capabilities").is_none(), "only one path adds `capabilities`");
}

#[tokio::test]
async fn create_and_update_are_told_apart_by_existence() {
    let s = TestServer::dev().await;
    put_policy(&s, "u", "path \"secret/data/u/*\" { capabilities = [\"update\", \"read\"] }").await;
    s.write("secret/data/u/existing", json!({"a": "1"})).await;
    let t = token_with(&s, &["u"]).await;
    assert_eq!(
        s.call_as(&t, "POST", "secret/data/u/new", Some(json!({"data": {"a": "1"}}))).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.call_as(&t, "POST", "secret/data/u/existing", Some(json!({"data": {"a": "2"}}))).await.0,
        StatusCode::OK
    );
    put_policy(&s, "c", "path \"secret/data/c/*\" { capabilities = [\"create\"] }").await;
    s.write("secret/data/c/existing", json!({"a": "1"})).await;
    let t = token_with(&s, &["c"]).await;
    assert_eq!(s.call_as(&t, "POST", "secret/data/c/new", Some(json!({"data": {"a": "1"}}))).await.0, StatusCode::OK);
    assert_eq!(
        s.call_as(&t, "POST", "secret/data/c/existing", Some(json!({"data": {"a": "2"}}))).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_policy_change_applies_to_existing_tokens_at_once() {
    let s = TestServer::dev().await;
    s.write("secret/data/live/x", json!({"a": "1"})).await;
    put_policy(&s, "live", "path \"secret/data/live/*\" { capabilities = [\"read\"] }").await;
    let t = token_with(&s, &["live"]).await;
    assert_eq!(s.call_as(&t, "GET", "secret/data/live/x", None).await.0, StatusCode::OK);
    put_policy(&s, "live", "path \"secret/data/live/*\" { capabilities = [\"deny\"] }").await;
    assert_eq!(s.call_as(&t, "GET", "secret/data/live/x", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.call("DELETE", "sys/policies/acl/live", None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.call_as(&t, "GET", "secret/data/live/x", None).await.0, StatusCode::FORBIDDEN);
}

/// SEC-01: `..` never escapes a glob grant, in any spelling; the target is untouched.
#[tokio::test]
async fn sec01_traversal_cannot_leave_a_glob_grant() {
    let s = TestServer::dev().await;
    s.write("secret/data/bar", json!({"keep": "me"})).await;
    put_policy(
        &s,
        "foo",
        "path \"secret/data/foo/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\"] }",
    )
    .await;
    let t = token_with(&s, &["foo"]).await;
    for target in [
        "/v1/secret/data/foo/../bar",
        "/v1/secret/data/foo/%2e%2e/bar",
        "/v1/secret/data/foo/.%2E/bar",
        "/v1/secret/data/foo//../bar",
        "/v1/secret/data/foo/./../bar",
        "/v1/secret/data/foo/%5c..%5cbar",
        "/v1/secret/data/foo/..%00/bar",
    ] {
        let (status, _) = s.raw_http("DELETE", target, Some(&t), "").await;
        assert_eq!(status, 400, "{target}");
    }
    assert_eq!(s.read("secret/data/bar").await["keep"], "me");
}

/// SEC-03: a LIST with or without the trailing slash does not slip past a deeper deny.
#[tokio::test]
async fn sec03_list_with_trailing_slash_respects_deny() {
    let s = TestServer::dev().await;
    s.write("secret/data/private/x", json!({"a": "1"})).await;
    s.write("secret/data/public/x", json!({"a": "1"})).await;
    put_policy(&s, "l", "path \"secret/metadata/*\" { capabilities = [\"list\"] }\npath \"secret/metadata/private/*\" { capabilities = [\"deny\"] }").await;
    let t = token_with(&s, &["l"]).await;
    assert_eq!(s.call_as(&t, "LIST", "secret/metadata/public", None).await.0, StatusCode::OK);
    assert_eq!(s.call_as(&t, "LIST", "secret/metadata/private/", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.call_as(&t, "LIST", "secret/metadata/private", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.call_as(&t, "GET", "secret/metadata/private?list=true", None).await.0, StatusCode::FORBIDDEN);
}

/// SEC-04: a policy written before a mount existed reaches it only if its rule literally matches.
#[tokio::test]
async fn sec04_new_mounts_are_not_covered_by_unrelated_rules() {
    let s = TestServer::dev().await;
    put_policy(&s, "old", "path \"secret/*\" { capabilities = [\"read\", \"create\", \"update\"] }").await;
    let t = token_with(&s, &["old"]).await;
    let (st, _) = s.call("POST", "sys/mounts/secret2", Some(json!({"type": "kv-v2"}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    s.write("secret2/data/x", json!({"a": "1"})).await;
    assert_eq!(s.call_as(&t, "GET", "secret2/data/x", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.call_as(&t, "PUT", "sys/seal", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.call_as(&t, "POST", "sys/mounts/evil", Some(json!({"type": "kv-v2"}))).await.0, StatusCode::FORBIDDEN);
}

/// Root-protected paths need sudo on top of the capability.
#[tokio::test]
async fn sudo_paths_need_sudo() {
    let s = TestServer::dev().await;
    put_policy(&s, "nosudo", "path \"sys/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\"] }\npath \"auth/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\"] }").await;
    put_policy(&s, "sudo", "path \"sys/seal\" { capabilities = [\"update\", \"sudo\"] }").await;
    let t = token_with(&s, &["nosudo"]).await;
    assert_eq!(s.call_as(&t, "PUT", "sys/seal", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.call_as(&t, "POST", "sys/auth/ar", Some(json!({"type": "approle"}))).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.call_as(&t, "LIST", "auth/token/accessors", None).await.0, StatusCode::FORBIDDEN);
    // Enabling a secrets engine does not need sudo.
    assert_eq!(s.call_as(&t, "POST", "sys/mounts/kv9", Some(json!({"type": "kv-v2"}))).await.0, StatusCode::NO_CONTENT);
    let su = token_with(&s, &["sudo"]).await;
    assert_eq!(s.call_as(&su, "PUT", "sys/seal", None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.call("GET", "secret/data/x", None).await.0, StatusCode::SERVICE_UNAVAILABLE);
}

/// SEC-19: only the seal-lifecycle and health endpoints (plus login and wrapping look-up, which
/// carry their own credential) answer without a token; rekey/generate-root style paths do not.
#[tokio::test]
async fn sec19_only_the_seal_endpoints_answer_without_a_token() {
    let s = TestServer::dev().await;
    for (method, path) in
        [("GET", "sys/health"), ("GET", "sys/seal-status"), ("GET", "sys/leader"), ("GET", "sys/init")]
    {
        assert_eq!(s.call_as("", method, path, None).await.0, StatusCode::OK, "{path}");
    }
    for (method, path) in [
        ("PUT", "sys/seal"),
        ("PUT", "sys/rotate"),
        ("GET", "sys/key-status"),
        ("GET", "sys/mounts"),
        ("LIST", "sys/policies/acl"),
        ("PUT", "sys/rekey/init"),
        ("DELETE", "sys/rekey/init"),
        ("PUT", "sys/generate-root/attempt"),
        ("DELETE", "sys/generate-root/attempt"),
        ("POST", "auth/token/create"),
        ("GET", "secret/data/x"),
    ] {
        let (st, v) = s.call_as("", method, path, Some(json!({}))).await;
        // Generate-root is off by default and then answers 405, as OpenBao's disabled endpoints.
        let refused =
            if path.starts_with("sys/generate-root") { StatusCode::METHOD_NOT_ALLOWED } else { StatusCode::FORBIDDEN };
        assert_eq!(st, refused, "{method} {path}: {v}");
    }
    // Still unsealed: no unauthenticated call sealed it.
    let (_, v) = s.call_as("", "GET", "sys/seal-status", None).await;
    assert_eq!(v["sealed"], false);
}

/// SEC-37: ACL paths are compared byte for byte, as the KV store compares keys. A grant on
/// `alice/*` neither reads `ALICE/…` nor writes `Alice/…`, which are other keys (D56, reversing
/// the case-insensitive matching of D15).
#[tokio::test]
async fn sec37_a_grant_on_alice_never_reaches_other_cases() {
    let s = TestServer::dev().await;
    s.write("secret/data/ALICE/x", json!({"owner": "ALICE"})).await;
    s.write("secret/data/Alice/y", json!({"owner": "Alice"})).await;
    put_policy(&s, "alice", "path \"secret/data/alice/*\" { capabilities = [\"create\", \"read\", \"update\"] }").await;
    let t = token_with(&s, &["alice"]).await;
    let (st, v) = s.call_as(&t, "PUT", "secret/data/alice/z", Some(json!({"data": {"owner": "alice"}}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(s.call_as(&t, "GET", "secret/data/alice/z", None).await.0, StatusCode::OK);
    for (method, path) in [
        ("GET", "secret/data/ALICE/x"),
        ("GET", "secret/data/Alice/y"),
        ("PUT", "secret/data/Alice/y"),
        ("PUT", "secret/data/ALICE/new"),
        ("PUT", "secret/data/aLiCe/new"),
    ] {
        let (st, v) = s.call_as(&t, method, path, Some(json!({"data": {"owner": "alice"}}))).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{method} {path}: {v}");
    }
    for path in ["secret/data/ALICE/x", "secret/data/Alice/y", "secret/data/aLiCe/new"] {
        assert_eq!(caps(&s, &t, path).await, json!(["deny"]), "{path}");
    }
    // Nothing was changed or created under the other spellings.
    assert_eq!(s.read("secret/data/ALICE/x").await["owner"], "ALICE");
    assert_eq!(s.read("secret/data/Alice/y").await["owner"], "Alice");
    assert_eq!(s.call("GET", "secret/data/aLiCe/new", None).await.0, StatusCode::NOT_FOUND);
}

/// SEC-37: control characters, format characters (Unicode Cf: zero-width, BOM, soft hyphen) and
/// bidi controls in a path get 400 at the HTTP edge, before routing, the token and the ACL, so
/// not even root can store a key that renders like another one.
#[tokio::test]
async fn sec37_control_format_and_bidi_characters_in_paths_get_400() {
    let s = TestServer::dev().await;
    s.write("secret/data/app", json!({"keep": "me"})).await;
    for hidden in [
        "%C2%AD",
        "%E2%80%8B",
        "%E2%80%8C",
        "%E2%80%8D",
        "%E2%80%8E",
        "%E2%80%8F",
        "%E2%80%AA",
        "%E2%80%AE",
        "%E2%81%A0",
        "%E2%81%A6",
        "%E2%81%A9",
        "%EF%BB%BF",
        "%F3%A0%80%81",
        "%00",
        "%09",
        "%0A",
        "%1B",
        "%7F",
        "%C2%85",
    ] {
        for path in
            [format!("secret/data/app{hidden}"), format!("secret/data/a{hidden}pp"), format!("{hidden}secret/data/app")]
        {
            let (st, v) = s.call("PUT", &path, Some(json!({"data": {"keep": "other"}}))).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "PUT {path}: {v}");
            assert_eq!(
                v["errors"][0], "invalid request path: the path contains control or format characters",
                "{path}"
            );
            let (st, _) = s.call("GET", &path, None).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "GET {path}");
            let (st, _) = s.call_as("", "GET", &path, None).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "GET {path} without a token");
        }
    }
    assert_eq!(s.read("secret/data/app").await["keep"], "me");
    let (st, v) = s.call("LIST", "secret/metadata", None).await;
    assert_eq!((st, &v["data"]["keys"]), (StatusCode::OK, &json!(["app"])));
}

/// SEC-33: a mount path is `/`-separated names. Look-alikes of a mount the policy denies
/// (`team-b` with a space, U+00A0, a zero-width space, a tab, U+3000) are refused with 400,
/// for the policy's holder and for root alike, and nothing is mounted.
#[tokio::test]
async fn sec33_mount_path_variants_are_refused() {
    let s = TestServer::dev().await;
    put_policy(
        &s,
        "mounts",
        r#"path "sys/mounts/*" { capabilities = ["create", "read", "update", "delete"] }
           path "sys/mounts/team-b" { capabilities = ["deny"] }
           path "sys/mounts/team-b/*" { capabilities = ["deny"] }"#,
    )
    .await;
    let t = token_with(&s, &["mounts"]).await;
    let kv = json!({"type": "kv", "options": {"version": "2"}});
    assert_eq!(s.call_as(&t, "POST", "sys/mounts/team-b", Some(kv.clone())).await.0, StatusCode::FORBIDDEN);
    let (_, before) = s.call("GET", "sys/mounts", None).await;
    for v in [
        "team-b%20",
        "%20team-b",
        "team-b%09",
        "team-b%C2%A0",
        "%C2%A0team-b",
        "team-b%E3%80%80",
        "team-b%E2%80%8B",
        "team%E2%80%8D-b",
        "team-c%20/x",
        "team-c/%20x",
        "team-c/x%20",
        "-team-b",
        "team-b.",
    ] {
        for token in ["root", t.as_str()] {
            let (st, resp) = s.call_as(token, "POST", &format!("sys/mounts/{v}"), Some(kv.clone())).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{v}: {resp}");
        }
        let (st, resp) = s.call("POST", &format!("sys/auth/{v}"), Some(json!({"type": "userpass"}))).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "auth {v}: {resp}");
    }
    let (_, after) = s.call("GET", "sys/mounts", None).await;
    assert_eq!(before["data"], after["data"]);
    // Names in their normal form still mount, in any case (mount paths are case-sensitive).
    assert_eq!(s.call_as(&t, "POST", "sys/mounts/team-c/kv", Some(kv.clone())).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.call_as(&t, "POST", "sys/mounts/Team-B", Some(kv.clone())).await.0, StatusCode::NO_CONTENT);

    // A mount stored before paths were checked stays reachable under its exact path (D59), to
    // read, tune and disable; nothing new is mounted at such a path.
    let core = s.running.as_ref().unwrap().core.clone();
    core.mount(crate::store_contract::mount_row("legacy-1", "mounts", "old kv/")).await.unwrap();
    assert_eq!(s.call("GET", "sys/mounts/old%20kv", None).await.0, StatusCode::OK);
    assert_eq!(s.call("POST", "sys/mounts/old%20kv", Some(kv.clone())).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(s.call("POST", "sys/mounts/old%20kv%20", Some(kv)).await.0, StatusCode::BAD_REQUEST);
    let tune = Some(json!({"description": "legacy"}));
    assert_eq!(s.call("POST", "sys/mounts/old%20kv/tune", tune).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.call("DELETE", "sys/mounts/old%20kv", None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.call("GET", "sys/mounts/old%20kv", None).await.0, StatusCode::BAD_REQUEST);
    let (_, mounts) = s.call("GET", "sys/mounts", None).await;
    assert!(mounts["data"].get("old kv/").is_none(), "{mounts}");
}

/// SEC-33: every other endpoint that takes a name in its path refuses a name that is not in its
/// normal form: policy names (lower-case), token roles (lower-case), JWT roles (lower-case),
/// database connections and roles, password policies, lease-count quotas.
#[tokio::test]
async fn sec33_names_in_other_engines_must_be_in_normal_form() {
    let s = TestServer::dev().await;
    for (path, kind) in [("sys/auth/jwt", "jwt"), ("sys/mounts/database", "database")] {
        assert_eq!(s.call("POST", path, Some(json!({"type": kind}))).await.0, StatusCode::NO_CONTENT, "{path}");
    }
    let policy = json!({"policy": "path \"secret/*\" { capabilities = [\"read\"] }"});
    assert_eq!(s.call("PUT", "sys/policies/acl/ops", Some(policy.clone())).await.0, StatusCode::NO_CONTENT);
    for v in ["Ops", "OPS", "ops%20", "%20ops", "ops%C2%A0", "o%E2%80%8Bps", "%EF%BD%8Fps", "ops."] {
        for (method, path, body) in [
            ("PUT", format!("sys/policies/acl/{v}"), policy.clone()),
            ("GET", format!("sys/policies/acl/{v}"), Value::Null),
            ("DELETE", format!("sys/policies/acl/{v}"), Value::Null),
            ("PUT", format!("sys/policy/{v}"), policy.clone()),
            ("POST", format!("auth/token/roles/{v}"), json!({"allowed_policies": ["ops"]})),
            ("POST", format!("auth/token/create/{v}"), json!({})),
            ("POST", format!("auth/jwt/role/{v}"), json!({"bound_audiences": ["x"], "user_claim": "sub"})),
            (
                "POST",
                "auth/jwt/login".to_string(),
                json!({"role": v.replace("%20", " ").replace("%C2%A0", "\u{a0}"), "jwt": "x.y.z"}),
            ),
        ] {
            let (st, resp) = s.call(method, &path, Some(body)).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{method} {path} ({v}): {resp}");
        }
    }
    // Case-sensitive names (as in Vault): other cases are other names; the rest is refused.
    for v in ["db%20", "%20db", "db%C2%A0", "d%E2%80%8Bb", "db-", ".db"] {
        for (method, path) in [
            ("POST", format!("database/config/{v}")),
            ("POST", format!("database/roles/{v}")),
            ("GET", format!("database/creds/{v}")),
            ("POST", format!("database/static-roles/{v}")),
            ("PUT", format!("sys/policies/password/{v}")),
            ("PUT", format!("sys/quotas/lease-count/{v}")),
        ] {
            let (st, resp) = s.call(method, &path, Some(json!({}))).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{method} {path}: {resp}");
        }
    }
    let (_, v) = s.call("LIST", "sys/policies/acl", None).await;
    assert_eq!(v["data"]["keys"], json!(["default", "ops", "root"]));
}
