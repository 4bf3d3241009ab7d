//! Password policies over HTTP: write, read, list, delete and generate under
//! `sys/policies/password`, the 400s for bad policies, base64 policy text, and ACLs on the paths.

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestServer;

const POLICY: &str = r#"length = 20
rule "charset" {
  charset = "abcdefghijklmnopqrstuvwxyz"
  min-chars = 1
}
rule "charset" { charset = "0123456789" min-chars = 1 }
"#;

fn error(v: &Value) -> &str {
    v["errors"][0].as_str().unwrap_or_default()
}

#[tokio::test]
async fn write_read_list_generate_delete() {
    let s = TestServer::dev().await;
    let (st, v) = s.call("LIST", "sys/policies/password", None).await;
    assert_eq!((st, &v["errors"]), (StatusCode::NOT_FOUND, &json!([])), "nothing to list yet");

    for name in ["zeta", "alpha"] {
        let (st, v) = s.call("PUT", &format!("sys/policies/password/{name}"), Some(json!({"policy": POLICY}))).await;
        assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    }
    let (st, v) = s.call("GET", "sys/policies/password/alpha", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["policy"], POLICY, "the text comes back as stored");

    let (st, v) = s.call("LIST", "sys/policies/password", None).await;
    assert_eq!((st, &v["data"]["keys"]), (StatusCode::OK, &json!(["alpha", "zeta"])));
    let (st, v) = s.call("GET", "sys/policies/password?list=true", None).await;
    assert_eq!((st, &v["data"]["keys"]), (StatusCode::OK, &json!(["alpha", "zeta"])));

    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let (st, v) = s.call("GET", "sys/policies/password/alpha/generate", None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let pw = v["data"]["password"].as_str().unwrap();
        assert_eq!(pw.len(), 20);
        assert!(pw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{pw}");
        assert!(pw.chars().any(|c| c.is_ascii_lowercase()) && pw.chars().any(|c| c.is_ascii_digit()), "{pw}");
        seen.insert(pw.to_string());
    }
    assert_eq!(seen.len(), 20, "passwords repeat");

    // POST is the same write; it replaces the policy.
    let p2 = "length = 6\nrule \"charset\" { charset = \"x\" }";
    assert_eq!(
        s.call("POST", "sys/policies/password/alpha", Some(json!({"policy": p2}))).await.0,
        StatusCode::NO_CONTENT
    );
    let (_, v) = s.call("GET", "sys/policies/password/alpha/generate", None).await;
    assert_eq!(v["data"]["password"], "xxxxxx");

    assert_eq!(s.call("DELETE", "sys/policies/password/alpha", None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.call("DELETE", "sys/policies/password/alpha", None).await.0, StatusCode::NO_CONTENT);
    let (st, v) = s.call("GET", "sys/policies/password/alpha", None).await;
    assert_eq!((st, &v["errors"]), (StatusCode::NOT_FOUND, &json!([])));
    let (st, _) = s.call("GET", "sys/policies/password/alpha/generate", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, v) = s.call("LIST", "sys/policies/password", None).await;
    assert_eq!(v["data"]["keys"], json!(["zeta"]));
}

#[tokio::test]
async fn base64_policy_text_is_decoded_and_stored_decoded() {
    let s = TestServer::dev().await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(POLICY);
    let (st, v) = s.call("PUT", "sys/policies/password/b", Some(json!({"policy": b64}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (_, v) = s.call("GET", "sys/policies/password/b", None).await;
    assert_eq!(v["data"]["policy"], POLICY);
    let (st, v) = s.call("GET", "sys/policies/password/b/generate", None).await;
    assert_eq!((st, v["data"]["password"].as_str().map(str::len)), (StatusCode::OK, Some(20)));
}

#[tokio::test]
async fn bad_policies_are_400_with_a_reason() {
    let s = TestServer::dev().await;
    let cases = [
        (json!({}), "missing policy"),
        (json!({"policy": ""}), "missing policy"),
        (json!({"policy": 5}), "invalid value for \"policy\""),
        (json!({"policy": "rule \"charset\" { charset = \"ab\" }"}), "invalid password policy: missing length"),
        (json!({"policy": "length = 3\nrule \"charset\" { charset = \"ab\" }"}), "between 4 and 100 characters"),
        (json!({"policy": "length = 101\nrule \"charset\" { charset = \"ab\" }"}), "between 4 and 100 characters"),
        (json!({"policy": "length = 10"}), "no charset specified"),
        (
            json!({"policy": "length = 4\nrule \"charset\" { charset = \"a\" min-chars = 3 }\nrule \"charset\" { charset = \"b\" min-chars = 2 }"}),
            "specified rules require at least 5 characters but 4 is specified",
        ),
        (json!({"policy": "length = 10\ncolour = 1"}), "invalid key \"colour\" on line 2"),
        (json!({"policy": "length = 10\nrule \"charset\" { charset = \"ab\" max = 1 }"}), "invalid key \"max\""),
        (json!({"policy": "length = 10\nrule \"charset\" { charset = \"ab\""}), "invalid HCL at"),
        (
            json!({"policy": "length = 100\nrule \"charset\" { charset = \"abcdefghijklmnopqrstuvwxyz\" }\nrule \"charset\" { charset = \"0\" min-chars = 90 }"}),
            "are the rules impossible?",
        ),
    ];
    for (body, want) in cases {
        let (st, v) = s.call("PUT", "sys/policies/password/bad", Some(body.clone())).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(error(&v).contains(want), "{body}: {v}");
    }
    assert_eq!(s.call("GET", "sys/policies/password/bad", None).await.0, StatusCode::NOT_FOUND, "nothing stored");

    let (st, v) = s.call("PUT", "sys/policies/password/a/b", Some(json!({"policy": POLICY}))).await;
    assert_eq!(
        (st, error(&v)),
        (
            StatusCode::BAD_REQUEST,
            "invalid password policy name: the name may contain only ASCII letters, digits, '_', '-', '.' and '@'"
        )
    );
    let (st, _) = s.call("PUT", "sys/policies/password/p/generate", Some(json!({}))).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn acls_apply_to_password_policy_paths() {
    let s = TestServer::dev().await;
    assert_eq!(
        s.call("PUT", "sys/policies/password/p", Some(json!({"policy": POLICY}))).await.0,
        StatusCode::NO_CONTENT
    );
    let acl = r#"path "sys/policies/password/p/generate" { capabilities = ["read"] }"#;
    let (st, v) = s.call("PUT", "sys/policies/acl/gen-only", Some(json!({"policy": acl}))).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, v) = s.call("POST", "auth/token/create", Some(json!({"policies": ["gen-only"]}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let token = v["auth"]["client_token"].as_str().unwrap().to_string();

    let (st, v) = s.call_as(&token, "GET", "sys/policies/password/p/generate", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["password"].as_str().map(str::len), Some(20));
    for (method, path, body) in [
        ("GET", "sys/policies/password/p", None),
        ("PUT", "sys/policies/password/p", Some(json!({"policy": POLICY}))),
        ("DELETE", "sys/policies/password/p", None),
        ("LIST", "sys/policies/password", None),
        ("GET", "sys/policies/password/other/generate", None),
    ] {
        let (st, v) = s.call_as(&token, method, path, body).await;
        assert_eq!((st, error(&v)), (StatusCode::FORBIDDEN, "permission denied"), "{method} {path}");
    }
    assert_eq!(s.call("GET", "sys/policies/password/p", None).await.0, StatusCode::OK, "still there");
}
