//! Policy source text → rules. The text is HCL or JSON, read by [`crate::base::hcl`] with HCL 1's error
//! wording (as Vault's); the tree it gives is decoded here.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Capabilities, Capability, PathRule, Permissions};
use crate::base::hcl::{self, on_line, Dialect, Entry, Node, Wording};
use crate::base::policy::pattern::Pattern;

/// Vault's syntax: numbers are JSON numbers; errors read as HCL 1's (JSON ones as serde_json's).
const DIALECT: Dialect = Dialect { max_depth: 32, json_numbers: true, wording: Wording::Hcl1 };

/// Parses policy text into its rules, in source order. Errors carry no `failed to parse policy`
/// prefix; the caller adds it.
pub(super) fn rules(text: &str) -> Result<Vec<PathRule>, String> {
    decode(&hcl::parse(text, &DIALECT)?)
}

fn decode(tree: &Node) -> Result<Vec<PathRule>, String> {
    let Node::Obj(top) = tree else {
        return Err("policy must be an object".to_string());
    };
    let mut rules = Vec::new();
    for e in top {
        match e.key.as_str() {
            "name" => {}
            "path" => paths(&e.value, &mut rules)?,
            other => return Err(format!("invalid key {other:?}{}", on_line(e.line))),
        }
    }
    Ok(rules)
}

fn paths(v: &Node, rules: &mut Vec<PathRule>) -> Result<(), String> {
    match v {
        Node::Obj(entries) => {
            for e in entries {
                rules.push(rule(&e.key, &e.value)?);
            }
            Ok(())
        }
        Node::List(items) => items.iter().try_for_each(|i| paths(i, rules)),
        _ => Err("path: must be an object".to_string()),
    }
}

/// The entries of a rule body: one object, or a list of objects (a repeated block).
fn body_entries<'a>(path: &str, v: &'a Node, out: &mut Vec<&'a Entry>) -> Result<(), String> {
    match v {
        Node::Obj(entries) => {
            out.extend(entries.iter());
            Ok(())
        }
        Node::List(items) => items.iter().try_for_each(|i| body_entries(path, i, out)),
        _ => Err(format!("path {path:?}: must be an object")),
    }
}

fn rule(path: &str, body: &Node) -> Result<PathRule, String> {
    let pattern = Pattern::parse(path).map_err(|e| format!("path {path:?}: {e}"))?;
    let mut entries = Vec::new();
    body_entries(path, body, &mut entries)?;
    let mut perms = Permissions::default();
    for e in entries {
        let v = &e.value;
        match e.key.as_str() {
            "capabilities" => {
                for name in strings(path, &e.key, v)? {
                    let cap: Capability = name.parse().map_err(|err: String| format!("path {path:?}: {err}"))?;
                    perms.capabilities.insert(cap);
                }
            }
            "policy" => {
                let caps: &[Capability] = match v {
                    Node::Str(s) if s == "deny" => &[Capability::Deny],
                    Node::Str(s) if s == "read" => &[Capability::Read, Capability::List],
                    Node::Str(s) if s == "write" => &[
                        Capability::Create,
                        Capability::Read,
                        Capability::Update,
                        Capability::Delete,
                        Capability::List,
                    ],
                    Node::Str(s) if s == "sudo" => &[
                        Capability::Create,
                        Capability::Read,
                        Capability::Update,
                        Capability::Delete,
                        Capability::List,
                        Capability::Sudo,
                    ],
                    _ => return Err(format!("path {path:?}: invalid policy")),
                };
                caps.iter().for_each(|c| perms.capabilities.insert(*c));
            }
            "allowed_parameters" => parameters(path, &e.key, v, &mut perms.allowed_parameters)?,
            "denied_parameters" => parameters(path, &e.key, v, &mut perms.denied_parameters)?,
            "required_parameters" => {
                for p in strings(path, &e.key, v)? {
                    if !perms.required_parameters.contains(&p) {
                        perms.required_parameters.push(p);
                    }
                }
            }
            "min_wrapping_ttl" => perms.min_wrapping_ttl = ttl(path, &e.key, v)?,
            "max_wrapping_ttl" => perms.max_wrapping_ttl = ttl(path, &e.key, v)?,
            other => return Err(format!("path {path:?}: invalid key {other:?}{}", on_line(e.line))),
        }
    }
    if let (Some(min), Some(max)) = (perms.min_wrapping_ttl, perms.max_wrapping_ttl) {
        if max < min {
            return Err(format!("path {path:?}: max_wrapping_ttl cannot be less than min_wrapping_ttl"));
        }
    }
    if perms.capabilities.is_denied() {
        perms = Permissions { capabilities: Capabilities::deny(), ..Permissions::default() };
    }
    Ok(PathRule { path: path.to_string(), permissions: perms, pattern })
}

fn strings(path: &str, key: &str, v: &Node) -> Result<Vec<String>, String> {
    let items = match v {
        Node::List(items) => items.as_slice(),
        Node::Str(_) => std::slice::from_ref(v),
        _ => return Err(format!("path {path:?}: {key}: expected a list of strings")),
    };
    items
        .iter()
        .map(|i| match i {
            Node::Str(s) => Ok(s.clone()),
            _ => Err(format!("path {path:?}: {key}: expected a list of strings")),
        })
        .collect()
}

fn to_value(n: &Node) -> Value {
    match n {
        Node::Str(s) => Value::String(s.clone()),
        // Checked when read (HCL) or printed by serde_json (JSON), so it parses again.
        Node::Num(n) => n.parse().map_or_else(|_| Value::String(n.clone()), Value::Number),
        Node::Bool(b) => Value::Bool(*b),
        Node::List(items) => Value::Array(items.iter().map(to_value).collect()),
        Node::Obj(entries) => Value::Object(entries.iter().map(|e| (e.key.clone(), to_value(&e.value))).collect()),
    }
}

/// `name → [values]`; names are lowercased; a repeated name merges its values (`[]` wins).
fn parameters(path: &str, key: &str, v: &Node, out: &mut BTreeMap<String, Vec<Value>>) -> Result<(), String> {
    let mut entries = Vec::new();
    body_entries(path, v, &mut entries).map_err(|_| format!("path {path:?}: {key}: expected an object"))?;
    for e in entries {
        let values = match &e.value {
            Node::List(items) => items.iter().map(to_value).collect(),
            Node::Obj(_) => return Err(format!("path {path:?}: {key}: {:?}: expected a list of values", e.key)),
            scalar => vec![to_value(scalar)],
        };
        merge_values(out, e.key.to_lowercase(), values);
    }
    Ok(())
}

/// Adds `values` for `name`: an empty list (any value) absorbs everything else (Vault's merge).
pub(super) fn merge_values(out: &mut BTreeMap<String, Vec<Value>>, name: String, values: Vec<Value>) {
    match out.get_mut(&name) {
        Some(existing) if existing.is_empty() => {}
        Some(existing) if values.is_empty() => existing.clear(),
        Some(existing) => existing.extend(values),
        None => {
            out.insert(name, values);
        }
    }
}

fn ttl(path: &str, key: &str, v: &Node) -> Result<Option<u64>, String> {
    let secs = match v {
        Node::Str(_) | Node::Num(_) => crate::base::duration::parse_value(&to_value(v)),
        _ => Err("expected a duration".to_string()),
    }
    .map_err(|e| format!("path {path:?}: error parsing {key}: {e}"))?;
    Ok((secs > 0).then_some(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::policy::Policy;

    fn err(text: &str) -> String {
        Policy::parse("p", text).unwrap_err()
    }

    #[test]
    fn invalid_capability_names_its_path_once() {
        // OpenBao repeats the path (`path "x": path "x": …`); Coffer says it once.
        assert_eq!(
            err(r#"path "x" { capabilities = ["reed"] }"#),
            r#"failed to parse policy: path "x": invalid capability "reed""#
        );
        assert_eq!(
            err(r#"{"path": {"x/*": {"capabilities": ["recover"]}}}"#),
            r#"failed to parse policy: path "x/*": invalid capability "recover""#
        );
    }

    #[test]
    fn syntax_errors_read_like_hcl() {
        assert_eq!(
            err("this is not hcl {"),
            "failed to parse policy: At 1:19: object expected closing RBRACE got: EOF"
        );
        assert!(err("path \"x\" { capabilities = [\"read\" }").starts_with("failed to parse policy: At 1:"));
        assert!(err("path \"x\" { capabilities = [\"read\"] \n").contains("expected closing RBRACE"));
        assert!(err("path \"x").contains("literal not terminated"));
        assert!(err("path \"x\" { capabilities = }").contains("Unknown token: RBRACE"));
        assert!(err("path \"x\" \"y\"").contains("expected start of object"));
        assert!(err("{\"path\": ").starts_with("failed to parse policy: EOF while parsing"));
        assert!(err("/* open").contains("comment not terminated"));
        assert!(err("path \"x\" { capabilities = [\"read\"] } @").contains("illegal char"));
        assert!(err("path \"x\" { capabilities = ; }").contains("illegal char ';'"));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert_eq!(err("paths \"x\" {}"), r#"failed to parse policy: invalid key "paths" on line 1"#);
        assert_eq!(
            err("path \"x\" {\n  capabilites = [\"read\"]\n}"),
            r#"failed to parse policy: path "x": invalid key "capabilites" on line 2"#
        );
        assert_eq!(err(r#"{"paths": {}}"#), r#"failed to parse policy: invalid key "paths""#);
        assert!(err(r#"path "x" { control_group = {} }"#).contains("invalid key \"control_group\""));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("path \"x\" {{ allowed_parameters = {}{} }}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(err(&deep).contains("nesting too deep"));
        let deep_obj = format!("a = {}{}", "{ b = ".repeat(10_000), "}".repeat(10_000));
        assert!(err(&deep_obj).contains("nesting too deep"));
        let deep_json = format!("{{\"path\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(err(&deep_json).contains("recursion limit"));
    }

    #[test]
    fn hcl_syntax_variants() {
        let text = r#"
            # hash comment
            // slash comment
            /* block
               comment */
            path "a" {
                capabilities = ["read", "list",]
                allowed_parameters {
                    "Foo" = ["x", 1, true]
                    bar = []
                }
                denied_parameters = { "baz" = "q" }
                required_parameters = ["foo"]
                min_wrapping_ttl = 60
                max_wrapping_ttl = "1h"
            }
            path "b" = { capabilities = ["deny", "read"], allowed_parameters = { "x" = [] } }
            path "c" { policy = "write" }
            path "d" { capabilities = ["subscribe", "scan", "sudo", "patch"] }
            name = "ignored"
        "#;
        let p = Policy::parse("p", text).unwrap();
        let r = p.rules();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].path, "a");
        let a = &r[0].permissions;
        assert_eq!(a.capabilities.names(), ["list", "read"]);
        assert_eq!(a.allowed_parameters["foo"], vec![Value::from("x"), Value::from(1), Value::from(true)]);
        assert!(a.allowed_parameters["bar"].is_empty());
        assert_eq!(a.denied_parameters["baz"], vec![Value::from("q")]);
        assert_eq!(a.required_parameters, ["foo"]);
        assert_eq!((a.min_wrapping_ttl, a.max_wrapping_ttl), (Some(60), Some(3600)));
        // deny drops everything else, parameters included.
        assert_eq!(r[1].permissions, Permissions { capabilities: Capabilities::deny(), ..Permissions::default() });
        assert_eq!(r[2].permissions.capabilities.names(), ["create", "delete", "list", "read", "update"]);
        assert_eq!(r[3].permissions.capabilities.names(), ["patch", "scan", "subscribe", "sudo"]);
    }

    #[test]
    fn json_and_hcl_give_the_same_rules() {
        let hcl = r#"
            path "secret/data/app/*" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }
            path "secret/metadata/app/*" {
                capabilities = ["list", "read"]
                allowed_parameters = { "a" = ["x*"], "*" = [] }
                denied_parameters = { "b" = [] }
                max_wrapping_ttl = 300
            }
        "#;
        let json = r#"{"path": {
            "secret/data/app/*": {"capabilities": ["create", "read", "update", "patch", "delete", "list"]},
            "secret/metadata/app/*": {"capabilities": ["list", "read"],
                "allowed_parameters": {"a": ["x*"], "*": []}, "denied_parameters": {"b": []},
                "max_wrapping_ttl": "5m"}
        }}"#;
        let (h, j) = (Policy::parse("h", hcl).unwrap(), Policy::parse("j", json).unwrap());
        assert_eq!(h.rules().len(), 2);
        for (a, b) in h.rules().iter().zip(j.rules()) {
            assert_eq!(a.path, b.path);
            assert_eq!(a.permissions, b.permissions);
            assert_eq!(a.pattern, b.pattern);
        }
        // JSON also accepts a list of path objects, as HCL's JSON form does.
        let listed = Policy::parse("l", r#"{"path": [{"a": {"capabilities": ["read"]}}, {"b": {}}]}"#).unwrap();
        assert_eq!(listed.rules().len(), 2);
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(err(r#"path "x" { capabilities = [1] }"#).contains("expected a list of strings"));
        assert!(err(r#"path "x" { min_wrapping_ttl = "abc" }"#).contains("error parsing min_wrapping_ttl"));
        assert!(err(r#"path "x" { min_wrapping_ttl = "1h", max_wrapping_ttl = "1m" }"#)
            .contains("max_wrapping_ttl cannot be less than min_wrapping_ttl"));
        assert!(err(r#"path "x" { policy = "admin" }"#).contains("invalid policy"));
        assert!(err(r#"path "x/+*" { capabilities = ["read"] }"#).contains("'+*' is forbidden"));
        assert!(err(r#"path "x" { allowed_parameters = ["a"] }"#).contains("expected an object"));
        assert!(err(r#"path = "x""#).contains("must be an object"));
        assert!(err("[1]").contains("expected: IDENT | STRING"));
    }

    #[test]
    fn a_single_string_counts_as_a_one_item_list() {
        let p = Policy::parse("p", r#"path "x" { capabilities = "read" }"#).unwrap();
        assert_eq!(p.rules()[0].permissions.capabilities.names(), ["read"]);
    }

    #[test]
    fn empty_policies_parse() {
        assert!(Policy::parse("p", "").unwrap().rules().is_empty());
        assert!(Policy::parse("p", "# nothing\n").unwrap().rules().is_empty());
        assert!(Policy::parse("p", "{}").unwrap().rules().is_empty());
        assert!(Policy::parse("p", r#"path "x" {}"#).unwrap().rules()[0].permissions.capabilities.is_empty());
    }
}
