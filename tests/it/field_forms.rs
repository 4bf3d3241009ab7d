//! Every map and list field of every endpoint, written through HTTP in each form the API takes
//! (D95: a JSON value, a string holding JSON, `k=v` pairs alone or repeated as the bao CLI sends
//! them, a comma-separated string) and read back.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::TestServer;

/// A field's expected content: list items, or map pairs.
enum Shape {
    List(&'static [&'static str]),
    Map(&'static [(&'static str, &'static str)]),
}

/// One field of one endpoint. `{n}` in a path is the form's number (a fresh object per form).
struct Field {
    write: &'static str,
    base: Value,
    field: &'static str,
    /// Where to read it back; `None`: the write's own answer.
    read: Option<&'static str>,
    pointer: &'static str,
    shape: Shape,
}

/// One form of a field: its label, the value sent, and what should read back.
type Form<T> = (&'static str, Value, Vec<T>);

/// The forms of a list.
fn list_forms(items: &[&str]) -> Vec<Form<String>> {
    let all: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    vec![
        ("JSON array (also the bao CLI's repeated k=v)", json!(items), all.clone()),
        ("comma-separated string", json!(items.join(", ")), all.clone()),
        ("string holding a JSON array", json!(serde_json::to_string(items).unwrap()), all),
        ("one string", json!(items[0]), vec![items[0].to_string()]),
    ]
}

/// The forms of a map.
fn map_forms(pairs: &[(&str, &str)]) -> Vec<Form<(String, String)>> {
    let all: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let obj: serde_json::Map<String, Value> = pairs.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let kv: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    vec![
        ("JSON object", Value::Object(obj.clone()), all.clone()),
        ("repeated k=v (a list of pairs)", json!(kv), all.clone()),
        ("string holding a JSON object", json!(Value::Object(obj).to_string()), all.clone()),
        ("string holding a JSON array of pairs", json!(json!(kv).to_string()), all),
        ("one k=v string", json!(kv[0]), vec![(pairs[0].0.to_string(), pairs[0].1.to_string())]),
    ]
}

/// A JSON value as text (numbers and booleans compare with the strings a pair gives).
fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

async fn must(s: &TestServer, method: &str, path: &str, body: Value) -> Value {
    let (st, v) = s.call(method, path, Some(body.clone())).await;
    assert!(st.is_success(), "{method} {path} {body} -> {st} {v}");
    v
}

async fn check(s: &TestServer, f: &Field, n: usize, label: &str, sent: &Value, expect: &dyn Fn(&Value)) {
    let path = f.write.replace("{n}", &n.to_string());
    let mut body = f.base.clone();
    body[f.field] = sent.clone();
    let (st, answer) = s.call("POST", &path, Some(body)).await;
    assert!(st.is_success(), "{path} {} as {label} ({sent}) -> {st} {answer}", f.field);
    let got = match f.read {
        Some(r) => must(s, "GET", &r.replace("{n}", &n.to_string()), Value::Null).await,
        None => answer,
    };
    let at = got.pointer(f.pointer).unwrap_or(&Value::Null);
    eprintln!("{path} {} as {label}: {at}", f.field);
    expect(at);
}

fn fields(pem1: &str, pems: &'static [&'static str]) -> Vec<Field> {
    let role = json!({"bound_audiences": "coffer", "user_claim": "sub"});
    let user = json!({"password": "correct horse battery"});
    let cidrs: &'static [&'static str] = &["10.0.0.0/8", "192.168.0.0/16"];
    let pols: &'static [&'static str] = &["p1", "p2"];
    let db = json!({"plugin_name": "postgresql-database-plugin", "verify_connection": false,
                    "connection_url": "postgres://u@127.0.0.1:1/db"});
    vec![
        // Lists.
        Field {
            write: "auth/token/roles/r{n}",
            base: json!({}),
            field: "allowed_policies",
            read: Some("auth/token/roles/r{n}"),
            pointer: "/data/allowed_policies",
            shape: Shape::List(pols),
        },
        Field {
            write: "auth/token/roles/r{n}",
            base: json!({}),
            field: "disallowed_policies",
            read: Some("auth/token/roles/r{n}"),
            pointer: "/data/disallowed_policies",
            shape: Shape::List(pols),
        },
        Field {
            write: "auth/token/roles/r{n}",
            base: json!({}),
            field: "allowed_policies_glob",
            read: Some("auth/token/roles/r{n}"),
            pointer: "/data/allowed_policies_glob",
            shape: Shape::List(&["p1*", "p2*"]),
        },
        Field {
            write: "auth/token/roles/r{n}",
            base: json!({}),
            field: "disallowed_policies_glob",
            read: Some("auth/token/roles/r{n}"),
            pointer: "/data/disallowed_policies_glob",
            shape: Shape::List(&["p1*", "p2*"]),
        },
        Field {
            write: "auth/token/create",
            base: json!({}),
            field: "policies",
            read: None,
            pointer: "/auth/policies",
            shape: Shape::List(pols),
        },
        Field {
            write: "auth/approle/role/r{n}",
            base: json!({}),
            field: "token_policies",
            read: Some("auth/approle/role/r{n}"),
            pointer: "/data/token_policies",
            shape: Shape::List(pols),
        },
        Field {
            write: "auth/approle/role/r{n}",
            base: json!({}),
            field: "token_bound_cidrs",
            read: Some("auth/approle/role/r{n}"),
            pointer: "/data/token_bound_cidrs",
            shape: Shape::List(cidrs),
        },
        Field {
            write: "auth/approle/role/r{n}",
            base: json!({}),
            field: "secret_id_bound_cidrs",
            read: Some("auth/approle/role/r{n}"),
            pointer: "/data/secret_id_bound_cidrs",
            shape: Shape::List(cidrs),
        },
        Field {
            write: "auth/userpass/users/u{n}",
            base: user.clone(),
            field: "token_policies",
            read: Some("auth/userpass/users/u{n}"),
            pointer: "/data/token_policies",
            shape: Shape::List(pols),
        },
        Field {
            write: "auth/userpass/users/u{n}",
            base: user,
            field: "token_bound_cidrs",
            read: Some("auth/userpass/users/u{n}"),
            pointer: "/data/token_bound_cidrs",
            shape: Shape::List(cidrs),
        },
        Field {
            write: "auth/jwt/role/r{n}",
            base: role.clone(),
            field: "bound_audiences",
            read: Some("auth/jwt/role/r{n}"),
            pointer: "/data/bound_audiences",
            shape: Shape::List(&["coffer", "ci"]),
        },
        Field {
            write: "auth/jwt/role/r{n}",
            base: role.clone(),
            field: "token_policies",
            read: Some("auth/jwt/role/r{n}"),
            pointer: "/data/token_policies",
            shape: Shape::List(pols),
        },
        Field {
            write: "auth/jwt/config",
            base: json!({"jwt_validation_pubkeys": pem1}),
            field: "jwt_supported_algs",
            read: Some("auth/jwt/config"),
            pointer: "/data/jwt_supported_algs",
            shape: Shape::List(&["ES256", "RS256"]),
        },
        Field {
            write: "auth/jwt/config",
            base: json!({}),
            field: "jwt_validation_pubkeys",
            read: Some("auth/jwt/config"),
            pointer: "/data/jwt_validation_pubkeys",
            shape: Shape::List(pems),
        },
        // Legacy names of the token fields.
        Field {
            write: "auth/approle/role/l{n}",
            base: json!({}),
            field: "policies",
            read: Some("auth/approle/role/l{n}"),
            pointer: "/data/token_policies",
            shape: Shape::List(pols),
        },
        Field {
            write: "auth/approle/role/l{n}",
            base: json!({}),
            field: "bound_cidr_list",
            read: Some("auth/approle/role/l{n}"),
            pointer: "/data/secret_id_bound_cidrs",
            shape: Shape::List(cidrs),
        },
        Field {
            write: "auth/userpass/users/l{n}",
            base: json!({"password": "correct horse battery"}),
            field: "bound_cidrs",
            read: Some("auth/userpass/users/l{n}"),
            pointer: "/data/token_bound_cidrs",
            shape: Shape::List(cidrs),
        },
        Field {
            write: "sys/capabilities-self",
            base: json!({}),
            field: "paths",
            read: None,
            pointer: "/data",
            shape: Shape::List(&["secret/data/a", "secret/data/b"]),
        },
        Field {
            write: "sys/config/outbound",
            base: json!({}),
            field: "allowed_urls",
            read: None,
            pointer: "/data/api_allowed_urls",
            shape: Shape::List(&["https://a.example.com/", "https://b.example.com/"]),
        },
        Field {
            write: "database/config/c{n}",
            base: db,
            field: "allowed_roles",
            read: Some("database/config/c{n}"),
            pointer: "/data/allowed_roles",
            shape: Shape::List(&["ro", "rw"]),
        },
        // Maps.
        Field {
            write: "sys/mounts/m{n}",
            base: json!({"type": "kv"}),
            field: "options",
            read: Some("sys/mounts/m{n}"),
            pointer: "/options",
            shape: Shape::Map(&[("version", "2"), ("note", "a=b,c")]),
        },
        Field {
            write: "sys/mounts/c{n}",
            base: json!({"type": "kv-v2"}),
            field: "config",
            read: Some("sys/mounts/c{n}/tune"),
            pointer: "/data",
            shape: Shape::Map(&[("default_lease_ttl", "3600"), ("max_lease_ttl", "7200")]),
        },
        Field {
            write: "sys/mounts/secret/tune",
            base: json!({}),
            field: "options",
            read: Some("sys/mounts/secret/tune"),
            pointer: "/data/options",
            shape: Shape::Map(&[("version", "2"), ("team", "core")]),
        },
        Field {
            write: "sys/auth/a{n}",
            base: json!({"type": "userpass"}),
            field: "config",
            read: Some("sys/auth/a{n}/tune"),
            pointer: "/data",
            shape: Shape::Map(&[("default_lease_ttl", "600"), ("max_lease_ttl", "1200")]),
        },
        Field {
            write: "auth/jwt/role/r{n}",
            base: role.clone(),
            field: "bound_claims",
            read: Some("auth/jwt/role/r{n}"),
            pointer: "/data/bound_claims",
            shape: Shape::Map(&[("repository", "org/app"), ("ref", "refs/heads/main")]),
        },
        Field {
            write: "auth/jwt/role/r{n}",
            base: role,
            field: "claim_mappings",
            read: Some("auth/jwt/role/r{n}"),
            pointer: "/data/claim_mappings",
            shape: Shape::Map(&[("repository", "repo"), ("ref", "git_ref")]),
        },
        Field {
            write: "auth/token/create",
            base: json!({}),
            field: "meta",
            read: None,
            pointer: "/auth/metadata",
            shape: Shape::Map(&[("team", "core"), ("ticket", "T-1")]),
        },
        Field {
            write: "secret/metadata/k{n}",
            base: json!({}),
            field: "custom_metadata",
            read: Some("secret/metadata/k{n}"),
            pointer: "/data/custom_metadata",
            shape: Shape::Map(&[("owner", "ops"), ("tier", "1")]),
        },
    ]
}

#[tokio::test]
async fn every_map_and_list_field_takes_every_form() {
    let s = TestServer::dev().await;
    must(&s, "POST", "sys/auth/approle", json!({"type": "approle"})).await;
    must(&s, "POST", "sys/auth/userpass", json!({"type": "userpass"})).await;
    must(&s, "POST", "sys/auth/jwt", json!({"type": "jwt"})).await;
    must(&s, "POST", "sys/mounts/database", json!({"type": "database"})).await;
    let pem = rcgen::KeyPair::generate().unwrap().public_key_pem();
    must(&s, "POST", "auth/jwt/config", json!({"jwt_validation_pubkeys": pem})).await;

    let mut n = 0;
    // Two keys for `jwt_validation_pubkeys` (a PEM holds no comma); leaked: the table is 'static.
    let pems: Vec<&'static str> = (0..2)
        .map(|_| {
            &*Box::leak(rcgen::KeyPair::generate().unwrap().public_key_pem().trim_end().to_string().into_boxed_str())
        })
        .collect();
    let pems: &'static [&'static str] = Box::leak(pems.into_boxed_slice());
    for f in fields(&pem, pems) {
        match f.shape {
            Shape::List(items) => {
                for (label, sent, want) in list_forms(items) {
                    n += 1;
                    let expect = |at: &Value| {
                        // `paths` answers one key per path; every other list reads back as a list.
                        let got: Vec<String> = match at {
                            Value::Object(m) => m.keys().filter(|k| *k != "capabilities").cloned().collect(),
                            _ => at.as_array().unwrap_or(&Vec::new()).iter().map(text).collect(),
                        };
                        for w in &want {
                            assert!(got.contains(w), "{} as {label}: {w} missing from {at}", f.field);
                        }
                        assert!(
                            !got.iter().any(|g| g.contains(',') || g.starts_with('[')),
                            "{} as {label}: {at}",
                            f.field
                        );
                    };
                    check(&s, &f, n, label, &sent, &expect).await;
                }
            }
            Shape::Map(pairs) => {
                for (label, sent, want) in map_forms(pairs) {
                    n += 1;
                    let expect = |at: &Value| {
                        for (k, v) in &want {
                            assert_eq!(
                                at.get(k).map(text).as_deref(),
                                Some(v.as_str()),
                                "{} as {label}: {at}",
                                f.field
                            );
                        }
                    };
                    check(&s, &f, n, label, &sent, &expect).await;
                }
            }
        }
    }
}

/// Fields whose effect is not a stored copy: `versions` of undelete, `options` of a KV write,
/// `metadata` and `cidr_list` of an AppRole secret-id, and a file device's `options`.
#[tokio::test]
async fn action_fields_take_every_form() {
    let s = TestServer::dev().await;
    // versions: delete versions 1 and 2, undelete them in each form.
    for (label, sent, _) in list_forms(&["1", "2"]) {
        for i in 0..2 {
            must(&s, "POST", "secret/data/v", json!({"data": {"i": i}})).await;
        }
        must(&s, "POST", "secret/delete/v", json!({"versions": [1, 2]})).await;
        must(&s, "POST", "secret/undelete/v", json!({"versions": sent})).await;
        let meta = must(&s, "GET", "secret/metadata/v", Value::Null).await;
        let restored = if label == "one string" { 1 } else { 2 };
        for v in 1..=restored {
            assert_eq!(meta.pointer(&format!("/data/versions/{v}/deletion_time")), Some(&json!("")), "{label}: {meta}");
        }
        must(&s, "DELETE", "secret/metadata/v", Value::Null).await;
    }
    // options.cas on a KV write: cas=1 must match version 1, then refuse once version 2 exists.
    for (n, (label, sent, _)) in map_forms(&[("cas", "1"), ("request_token", "t1")]).into_iter().enumerate() {
        let path = format!("secret/data/cas{n}");
        must(&s, "POST", &path, json!({"data": {"a": "1"}})).await;
        must(&s, "POST", &path, json!({"data": {"a": "2"}, "options": sent})).await;
        let (st, v) = s.call("POST", &path, Some(json!({"data": {"a": "3"}, "options": {"cas": 1}}))).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{label}: {v}");
    }
    // AppRole secret-id: metadata (a map) and cidr_list (a list).
    must(&s, "POST", "sys/auth/approle", json!({"type": "approle"})).await;
    must(&s, "POST", "auth/approle/role/r", json!({"token_policies": "default"})).await;
    for (label, sent, want) in map_forms(&[("host", "web1"), ("rack", "r=2")]) {
        let id = must(&s, "POST", "auth/approle/role/r/secret-id", json!({"metadata": sent})).await;
        let look =
            must(&s, "POST", "auth/approle/role/r/secret-id/lookup", json!({"secret_id": id["data"]["secret_id"]}))
                .await;
        for (k, v) in &want {
            assert_eq!(look["data"]["metadata"][k], json!(v), "metadata as {label}: {look}");
        }
    }
    for (label, sent, want) in list_forms(&["10.1.0.0/16", "10.2.0.0/16"]) {
        let id = must(&s, "POST", "auth/approle/role/r/secret-id", json!({"cidr_list": sent})).await;
        let look =
            must(&s, "POST", "auth/approle/role/r/secret-id/lookup", json!({"secret_id": id["data"]["secret_id"]}))
                .await;
        assert_eq!(look["data"]["cidr_list"], json!(want), "cidr_list as {label}: {look}");
    }
    // A file audit device's options (the last step: from here on every request is audited).
    let dir = tempfile::tempdir().unwrap();
    for (n, (label, sent, want)) in
        map_forms(&[("file_path", "PATH"), ("hmac_accessor", "false")]).into_iter().enumerate()
    {
        let file = dir.path().join(format!("a{n}.log")).display().to_string();
        let sent: Value = serde_json::from_str(&sent.to_string().replace("PATH", &file)).unwrap();
        must(&s, "PUT", &format!("sys/audit/f{n}"), json!({"type": "file", "options": sent})).await;
        let list = must(&s, "GET", "sys/audit", Value::Null).await;
        let opts = &list["data"][format!("f{n}/")]["options"];
        for (k, v) in &want {
            assert_eq!(text(&opts[k]), v.replace("PATH", &file), "audit options as {label}: {list}");
        }
        must(&s, "DELETE", &format!("sys/audit/f{n}"), Value::Null).await;
    }
}
