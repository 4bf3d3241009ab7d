//! The explanation against the real decision: the reasons of each kind, and a property test that
//! on every case of the ACL property test (`base::policy::model_tests`) the explanation allows
//! exactly what `core::permit` allows, with the capabilities the ACL (and the model) give.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::*;
use crate::base::policy::model_tests::{
    build, model_decision, near_misses, path_strategy, render, rules_strategy, OPS,
};
use crate::base::policy::Policy;
use crate::core::permit;

fn acl(policies: &[(&str, &str)]) -> Acl {
    let parsed: Vec<Arc<Policy>> = policies.iter().map(|(n, t)| Arc::new(Policy::parse(n, t).unwrap())).collect();
    Acl::new(&parsed)
}

fn body(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn explain(a: &Acl, path: &str, op: Operation) -> Explained {
    explained(a, path, op, &Map::new())
}

const READER: &str = r#"path "secret/data/*" { capabilities = ["read", "list"] }
                        path "secret/data/ex/exact" { capabilities = ["read"] }
                        path "sys/audit/*" { capabilities = ["read", "update"] }"#;
const DENIER: &str = r#"path "secret/data/app/*" { capabilities = ["deny"] }"#;
const WRITER: &str =
    r#"path "secret/data/*" { capabilities = ["update"], allowed_parameters = { "mode" = ["safe"] } }"#;

#[test]
fn each_reason() {
    let a = acl(&[("reader", READER), ("denier", DENIER), ("writer", WRITER)]);

    let e = explain(&a, "secret/data/ex/exact", Operation::Read);
    assert_eq!((e.allowed, e.reason), (true, Reason::ExactMatch));
    assert_eq!(e.decided_by, Some((vec!["reader".into()], "secret/data/ex/exact".into(), e.capabilities)));
    let e = explain(&a, "secret/data/ex/exact", Operation::List);
    assert_eq!((e.allowed, e.reason), (false, Reason::ExactMatch));
    assert!(e.message.contains("not list"), "{}", e.message);

    let e = explain(&a, "secret/data/x", Operation::Update);
    assert_eq!((e.allowed, e.reason), (true, Reason::MostSpecificPattern));
    // The rule merges both policies; the one granting update decided.
    assert_eq!(e.decided_by.as_ref().unwrap().0, ["writer"]);
    assert_eq!(cap_names(e.capabilities), ["list", "read", "update"]);

    let e = explain(&a, "secret/data/app/x", Operation::Read);
    assert_eq!((e.allowed, e.reason), (false, Reason::DenyWins));
    assert_eq!(e.decided_by, Some((vec!["denier".into()], "secret/data/app/*".into(), Capabilities::deny())));
    assert_eq!(cap_names(e.capabilities), ["deny"]);

    let secret = "hunter2-value";
    let e = explained(&a, "secret/data/x", Operation::Update, &body(json!({"mode": secret})));
    assert_eq!((e.allowed, e.reason, e.parameter.as_deref()), (false, Reason::Parameters, Some("mode")));
    assert!(e.message.contains("\"mode\"") && !e.message.contains(secret), "{}", e.message);
    assert!(!Value::Object(e.to_json()).to_string().contains(secret));

    let e = explain(&a, "sys/audit/file", Operation::Update);
    assert_eq!((e.allowed, e.reason), (false, Reason::SudoRequired));
    assert!(e.message.contains("sudo"), "{}", e.message);
    // Reading an audit device needs sudo as well, and so does explaining anyone else's decisions.
    assert_eq!(explain(&a, "sys/audit/file", Operation::Read).reason, Reason::SudoRequired);
    let explainer = acl(&[("e", r#"path "sys/policies/explain" { capabilities = ["update"] }"#)]);
    assert_eq!(explain(&explainer, "sys/policies/explain", Operation::Update).reason, Reason::SudoRequired);

    let e = explain(&a, "other/x", Operation::Read);
    assert_eq!((e.allowed, e.reason, e.decided_by.clone()), (false, Reason::NoMatchingRule, None));
    assert!(cap_names(e.capabilities).is_empty());

    let e = explain(&Acl::root(), "sys/seal", Operation::Update);
    assert_eq!((e.allowed, e.reason, e.decided_by), (true, Reason::Root, None));
    assert_eq!(cap_names(e.capabilities), ["root"]);
}

#[test]
fn a_deny_on_the_path_covers_its_slash_form() {
    let a = acl(&[("p", r#"path "kv/*" { capabilities = ["list"] } path "kv/private" { capabilities = ["deny"] }"#)]);
    let e = explain(&a, "kv/private/", Operation::List);
    assert_eq!((e.allowed, e.reason), (false, Reason::DenyWins));
    assert_eq!(e.decided_by.as_ref().unwrap().1, "kv/private");
    assert!(e.message.contains("trailing '/'"), "{}", e.message);
}

#[test]
fn the_json_answer() {
    let a = acl(&[("reader", READER), ("denier", DENIER)]);
    let v = Value::Object(explain(&a, "secret/data/app/x", Operation::Read).to_json());
    assert_eq!(v["allowed"], false);
    assert_eq!(v["reason"], "deny_wins");
    assert_eq!(v["capabilities"], json!(["deny"]));
    assert_eq!(v["decided_by"], json!({"policies": ["denier"], "path": "secret/data/app/*", "capabilities": ["deny"]}));
    assert!(v.get("parameter").is_none());
    let alone = acl(&[("reader", READER)]);
    let j = judge(&alone, "secret/data/app/x", Operation::Read, &Map::new());
    assert_eq!(
        alone_json("reader", &j),
        json!({"name": "reader", "rule": {"path": "secret/data/*", "capabilities": ["list", "read"]}, "allowed": true})
    );
    let none = acl(&[("denier", DENIER)]);
    let j = judge(&none, "other", Operation::Read, &Map::new());
    assert_eq!(alone_json("denier", &j), json!({"name": "denier", "rule": null, "allowed": false}));
}

#[test]
fn the_target_is_read_strictly() {
    let t = |v: Value, caller: Option<&str>| {
        let m = body(v);
        target(&m, caller).map(|t| format!("{t:?}")).map_err(|e| e.errors.join(""))
    };
    assert_eq!(t(json!({"path": "x"}), Some("me")).unwrap(), "Own");
    assert_eq!(t(json!({"token": "me"}), Some("me")).unwrap(), "Own");
    assert_eq!(t(json!({"token": null}), Some("me")).unwrap(), "Own");
    assert_eq!(t(json!({"token": "other"}), Some("me")).unwrap(), "Token(\"other\")");
    assert_eq!(t(json!({"token": "me"}), None).unwrap(), "Token(\"me\")");
    assert_eq!(t(json!({"accessor": "acc"}), Some("me")).unwrap(), "Accessor(\"acc\")");
    assert_eq!(t(json!({"policies": []}), Some("me")).unwrap(), "Policies([])");
    assert_eq!(t(json!({"policies": "a,b,a"}), Some("me")).unwrap(), "Policies([\"a\", \"b\"])");
    let err = t(json!({"token": "me", "accessor": "acc"}), Some("me")).unwrap_err();
    assert!(err.contains("at most one"), "{err}");
    assert!(t(json!({"acessor": "acc"}), Some("me")).unwrap_err().contains("unknown field \"acessor\""));
    assert!(t(json!({"token": ""}), Some("")).is_err());
    assert!(t(json!({"policies": ["Admin"]}), None).is_err());
    assert!(t(json!({"token": 5}), None).is_err());
}

#[test]
fn the_path_is_checked_never_rewritten() {
    let p = |s: &str| checked_path(&body(json!({ "path": s }))).map(str::to_string);
    assert_eq!(p("secret/data/x").unwrap(), "secret/data/x");
    assert_eq!(p("secret/metadata/").unwrap(), "secret/metadata/");
    for bad in ["", "secret//x", "secret/./x", "/secret/x", "secret/x ", " secret/x", "secret\\x", "secret/x\u{200b}"] {
        assert!(p(bad).is_err(), "{bad:?}");
    }
    assert!(p(&"a".repeat(MAX_PATH_BYTES + 1)).is_err());
    assert!(checked_path(&Map::new()).is_err());
}

#[test]
fn operations() {
    let o = |s: &str| operation(&body(json!({ "operation": s })));
    assert_eq!(o("read").unwrap(), Operation::Read);
    assert_eq!(o("patch").unwrap(), Operation::Patch);
    for bad in ["READ", "write", "sudo", "", "read "] {
        assert!(o(bad).is_err(), "{bad:?}");
    }
    assert!(operation(&Map::new()).is_err());
}

/// Root-protected paths, added to every generated case so that the sudo rule is exercised too.
const SUDO_PATHS: [&str; 6] =
    ["sys/seal", "sys/audit/a", "sys/auth/a", "sys/policies/explain", "sys/rotate", "auth/token/accessors/"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn explain_agrees_with_permit_on_every_case_of_the_acl_property_test(
        rules in rules_strategy(),
        paths in prop::collection::vec(path_strategy(), 1..8),
        split in 0usize..16,
        as_json in any::<bool>(),
        constrained in any::<bool>(),
        body_pick in 0usize..4,
    ) {
        let mut acl = build(&rules, split, as_json);
        if constrained {
            // A third policy puts parameter constraints on the first rule's pattern.
            let mut parsed: Vec<Arc<Policy>> = Vec::new();
            let cut = split % (rules.len() + 1);
            for (i, part) in [&rules[..cut], &rules[cut..]].iter().enumerate() {
                parsed.push(Arc::new(Policy::parse(&format!("p{i}"), &render(part, false)).unwrap()));
            }
            let params = format!(
                r#"path "{}" {{ capabilities = ["create", "update", "patch"], allowed_parameters = {{ "a" = ["x*"], "b" = [] }}, denied_parameters = {{ "b" = [] }} }}"#,
                rules[0].pattern
            );
            parsed.push(Arc::new(Policy::parse("params", &params).unwrap()));
            acl = Acl::new(&parsed);
        }
        let bodies = [json!({}), json!({"a": "x1"}), json!({"a": "value-y1"}), json!({"b": "value-b"})];
        let data = body(bodies[body_pick].clone());
        let all: Vec<String> =
            paths.iter().cloned().chain(near_misses(&rules)).chain(SUDO_PATHS.iter().map(|p| p.to_string())).collect();
        for path in &all {
            if !constrained {
                let want = model_decision(&rules, path).caps;
                prop_assert_eq!(acl.capabilities(path).names(), want.names(), "{:?}", path);
            }
            for (op, _) in OPS {
                let e = explained(&acl, path, op, &data);
                let permitted = permit(&acl, path, op, &data);
                prop_assert_eq!(e.allowed, permitted.is_ok(), "{:?} on {:?}: {:?}", op, path, e);
                prop_assert_eq!(e.capabilities, acl.capabilities(path), "{:?}", path);
                let lookup = acl.lookup(path);
                prop_assert_eq!(e.decided_by.as_ref().map(|d| d.1.clone()), lookup.rule.map(|r| r.path.clone()));
                match e.reason {
                    Reason::ExactMatch | Reason::MostSpecificPattern => {}
                    Reason::Root => prop_assert!(false, "root reason without a root token"),
                    _ => prop_assert!(!e.allowed, "{:?} allowed with {:?}", path, e.reason),
                }
                prop_assert_eq!(e.parameter.is_some(), e.reason == Reason::Parameters);
                let text = Value::Object(e.to_json()).to_string();
                prop_assert!(!text.contains("value-"), "a parameter value leaked: {}", text);
            }
        }
    }
}
