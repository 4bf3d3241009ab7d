//! The merged ACL of a token's policies and the decisions made with it: which capabilities a path
//! gets, and whether one request (operation + body) may go ahead.
//!
//! Merging (API-CONTRACT §3.4 rule 1, Vault's `NewACL`): rules with the same pattern text are
//! unioned; a deny in any of them wins and drops the rest; parameter lists are merged key by key
//! (`[]` absorbs), required parameters are unioned, and the smaller wrapping TTL bounds are kept.
//!
//! Lookup for a path `p`, byte for byte (Vault's `AllowOperation` with its LIST fallback, used for
//! every operation so that `capabilities` and `authorize` always agree). A path that is not in
//! the normal form of `pattern::path_problem` gets nothing (the HTTP edge never passes one on):
//! 1. if `p` ends in `/` and the same path without it is explicitly denied, `p` is denied
//!    (SEC-02: a deny on `x` also covers `x/`);
//! 2. an exact rule for `p`, else for `p` without its trailing `/`;
//! 3. else the highest-priority non-exact pattern that matches (`Pattern::priority`), with the
//!    protected roots of SEC-04 left to patterns that name them.
//!
//! Identity-templated rules (`{{identity.entity.id}}`) are not resolved and match nothing, as in
//! Vault for a token without an entity.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::parse::merge_values;
use super::pattern::{path_problem, Pattern, Root};
use super::{Capabilities, Capability, Permissions, Policy};
use crate::base::logical::Operation;

/// What an allowed request learns from the ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The matching rule grants `sudo` (or the token is root): root-protected paths may proceed.
    pub sudo: bool,
    /// The request must ask for response wrapping with at least this TTL (seconds).
    pub min_wrapping_ttl: Option<u64>,
    /// The request must ask for response wrapping with at most this TTL (seconds).
    pub max_wrapping_ttl: Option<u64>,
}

/// Why a request was refused; both are 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No rule grants the operation, or a rule denies it.
    #[error("permission denied")]
    Permission,
    /// The operation is granted but the body breaks a parameter constraint. Holds the
    /// parameter's name, never its value.
    #[error("permission denied: parameter {0:?} is not permitted by policy")]
    Parameter(String),
}

/// A merged, compiled set of policies.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    root: bool,
    exact: HashMap<String, Permissions>,
    /// Non-exact patterns, highest priority first: the first match wins.
    globs: Vec<(Pattern, Permissions)>,
}

/// Merges `other` into `into` for two rules with the same pattern.
fn merge(into: &mut Permissions, other: &Permissions) {
    if into.capabilities.is_denied() {
        return;
    }
    if other.capabilities.is_denied() {
        *into = Permissions { capabilities: Capabilities::deny(), ..Permissions::default() };
        return;
    }
    into.capabilities = into.capabilities.union(other.capabilities);
    let lesser = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    into.min_wrapping_ttl = lesser(into.min_wrapping_ttl, other.min_wrapping_ttl);
    into.max_wrapping_ttl = lesser(into.max_wrapping_ttl, other.max_wrapping_ttl);
    for (k, v) in &other.allowed_parameters {
        merge_values(&mut into.allowed_parameters, k.clone(), v.clone());
    }
    for (k, v) in &other.denied_parameters {
        merge_values(&mut into.denied_parameters, k.clone(), v.clone());
    }
    for r in &other.required_parameters {
        if !into.required_parameters.contains(r) {
            into.required_parameters.push(r.clone());
        }
    }
}

fn needed(op: Operation) -> Capability {
    match op {
        Operation::Read => Capability::Read,
        Operation::List => Capability::List,
        Operation::Create => Capability::Create,
        Operation::Update => Capability::Update,
        Operation::Patch => Capability::Patch,
        Operation::Delete => Capability::Delete,
    }
}

/// One policy value against one request value. Strings may glob (`*x`, `x*`, `*x*`); a lone `*`
/// matches any value; numbers compare by value.
fn value_matches(policy: &Value, v: &Value) -> bool {
    match (policy, v) {
        (Value::String(p), _) if p == "*" => true,
        (Value::String(p), Value::String(s)) => {
            let (lead, trail) = (p.starts_with('*'), p.len() > 1 && p.ends_with('*'));
            match (lead, trail) {
                (true, true) => s.contains(&p[1..p.len() - 1]),
                (true, false) => s.ends_with(&p[1..]),
                (false, true) => s.starts_with(&p[..p.len() - 1]),
                (false, false) => s == p,
            }
        }
        (Value::Number(a), Value::Number(b)) => a == b || (a.as_f64().is_some() && a.as_f64() == b.as_f64()),
        _ => policy == v,
    }
}

/// True if `list` allows `v`: `[]` allows anything; a list value needs every item allowed.
fn allowed_value(v: &Value, list: &[Value]) -> bool {
    let one = |x: &Value| list.iter().any(|p| value_matches(p, x));
    list.is_empty() || one(v) || matches!(v, Value::Array(items) if !items.is_empty() && items.iter().all(one))
}

/// True if `list` denies `v`: `[]` denies anything; a list value is denied if any item is.
fn denied_value(v: &Value, list: &[Value]) -> bool {
    let one = |x: &Value| list.iter().any(|p| value_matches(p, x));
    list.is_empty() || one(v) || matches!(v, Value::Array(items) if items.iter().any(one))
}

/// Vault's parameter checks for writes: required, then denied, then allowed.
fn check_parameters(p: &Permissions, data: &Map<String, Value>) -> Result<(), Denied> {
    for r in &p.required_parameters {
        let lower = r.to_lowercase();
        if !data.keys().any(|k| k.to_lowercase() == lower) {
            return Err(Denied::Parameter(r.clone()));
        }
    }
    if data.is_empty() {
        return Ok(());
    }
    if !p.denied_parameters.is_empty() {
        if p.denied_parameters.contains_key("*") {
            let first = data.keys().next().cloned().unwrap_or_default();
            return Err(Denied::Parameter(first));
        }
        for (k, v) in data {
            if let Some(list) = p.denied_parameters.get(&k.to_lowercase()) {
                if denied_value(v, list) {
                    return Err(Denied::Parameter(k.clone()));
                }
            }
        }
    }
    if p.allowed_parameters.is_empty() {
        return Ok(());
    }
    let any_name = p.allowed_parameters.contains_key("*");
    if any_name && p.allowed_parameters.len() == 1 {
        return Ok(());
    }
    for (k, v) in data {
        match p.allowed_parameters.get(&k.to_lowercase()) {
            Some(list) if !allowed_value(v, list) => return Err(Denied::Parameter(k.clone())),
            Some(_) => {}
            None if any_name => {}
            None => return Err(Denied::Parameter(k.clone())),
        }
    }
    Ok(())
}

impl Acl {
    /// Merges policies. A policy named exactly `root` makes the root ACL.
    pub fn new(policies: &[Arc<Policy>]) -> Acl {
        if policies.iter().any(|p| p.name == "root") {
            return Acl::root();
        }
        let mut exact: HashMap<String, Permissions> = HashMap::new();
        let mut globs: HashMap<String, (Pattern, Permissions)> = HashMap::new();
        for rule in policies.iter().flat_map(|p| p.rules()) {
            let pattern = &rule.pattern;
            if pattern.is_templated() {
                continue;
            }
            if pattern.is_exact() {
                match exact.get_mut(pattern.key()) {
                    Some(existing) => merge(existing, &rule.permissions),
                    None => {
                        exact.insert(pattern.key().to_string(), rule.permissions.clone());
                    }
                }
            } else {
                match globs.get_mut(pattern.key()) {
                    Some((_, existing)) => merge(existing, &rule.permissions),
                    None => {
                        globs.insert(pattern.key().to_string(), (pattern.clone(), rule.permissions.clone()));
                    }
                }
            }
        }
        let mut globs: Vec<(Pattern, Permissions)> = globs.into_values().collect();
        globs.sort_by(|a, b| b.0.priority().cmp(&a.0.priority()));
        Acl { root: false, exact, globs }
    }

    /// The ACL of a root token: everything is allowed, sudo included.
    pub fn root() -> Acl {
        Acl { root: true, ..Acl::default() }
    }

    /// True for the root ACL.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// Vault's lookup for one path (exact, exact without the trailing `/`, patterns).
    fn lookup(&self, path: &str) -> Option<&Permissions> {
        if let Some(p) = self.exact.get(path) {
            return Some(p);
        }
        if let Some(p) = path.strip_suffix('/').and_then(|base| self.exact.get(base)) {
            return Some(p);
        }
        let root = Root::of(path);
        self.globs.iter().find(|(pat, _)| pat.matches(path, root)).map(|(_, perms)| perms)
    }

    /// The rule that decides a path, if any; none for a path not in normal form.
    fn decide(&self, path: &str) -> Option<&Permissions> {
        if path_problem(path).is_some() {
            return None;
        }
        if let Some(base) = path.strip_suffix('/').filter(|b| !b.is_empty()) {
            if let Some(p) = self.lookup(base).filter(|p| p.capabilities.is_denied()) {
                return Some(p);
            }
        }
        self.lookup(path)
    }

    /// The capabilities on `path` (compared byte for byte): those of the single winning
    /// rule, `deny` if it denies, empty if nothing matches, [`Capabilities::root`] for root.
    pub fn capabilities(&self, path: &str) -> Capabilities {
        if self.root {
            return Capabilities::root();
        }
        self.decide(path).map_or(Capabilities::empty(), |p| p.capabilities)
    }

    /// Whether some rule grants a capability (other than deny) on a path under `prefix`, a mount's
    /// API path: the preflight of Vault's `sys/internal/ui/mounts/<path>`.
    pub fn has_access_under(&self, prefix: &str) -> bool {
        if self.root {
            return true;
        }
        let grants = |p: &Permissions| !p.capabilities.is_denied() && !p.capabilities.is_empty();
        self.exact.iter().any(|(k, p)| k.starts_with(prefix) && grants(p))
            || self.globs.iter().any(|(pat, p)| {
                let literal = pat.key().trim_end_matches('*').split('+').next().unwrap_or("");
                grants(p) && (literal.starts_with(prefix) || prefix.starts_with(literal))
            })
    }

    /// Decides one request: `op` on `path` (compared byte for byte) with body `data`. Parameter
    /// constraints apply to create, update and patch; wrapping-TTL bounds come back in the
    /// [`Grant`] for the caller to enforce (a merged rule whose bounds cross denies outright).
    pub fn authorize(&self, path: &str, op: Operation, data: &Map<String, Value>) -> Result<Grant, Denied> {
        if self.root {
            return Ok(Grant { sudo: true, min_wrapping_ttl: None, max_wrapping_ttl: None });
        }
        let perms = self.decide(path).ok_or(Denied::Permission)?;
        if !perms.capabilities.contains(needed(op)) {
            return Err(Denied::Permission);
        }
        if let (Some(min), Some(max)) = (perms.min_wrapping_ttl, perms.max_wrapping_ttl) {
            if max < min {
                return Err(Denied::Permission);
            }
        }
        if matches!(op, Operation::Create | Operation::Update | Operation::Patch) {
            check_parameters(perms, data)?;
        }
        Ok(Grant {
            sudo: perms.capabilities.contains(Capability::Sudo),
            min_wrapping_ttl: perms.min_wrapping_ttl,
            max_wrapping_ttl: perms.max_wrapping_ttl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn acl(policies: &[&str]) -> Acl {
        let parsed: Vec<Arc<Policy>> =
            policies.iter().enumerate().map(|(i, t)| Arc::new(Policy::parse(&format!("p{i}"), t).unwrap())).collect();
        Acl::new(&parsed)
    }

    fn caps(a: &Acl, path: &str) -> Vec<&'static str> {
        a.capabilities(path).names()
    }

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn can(a: &Acl, path: &str, op: Operation) -> bool {
        a.authorize(path, op, &Map::new()).is_ok()
    }

    #[test]
    fn case_a_later_wildcard_is_more_specific() {
        let a = acl(&[r#"path "secret/data/*" { capabilities = ["read", "update", "create"] }
                      path "secret/data/app/*" { capabilities = ["deny"] }"#]);
        assert_eq!(caps(&a, "secret/data/app/x"), ["deny"]);
        assert_eq!(a.authorize("secret/data/app/x", Operation::Update, &Map::new()), Err(Denied::Permission));
        assert_eq!(caps(&a, "secret/data/app"), ["create", "read", "update"]);
        assert_eq!(caps(&a, "secret/data/other"), ["create", "read", "update"]);
    }

    #[test]
    fn case_b_same_pattern_is_unioned() {
        let a = acl(&[
            r#"path "secret/data/team/*" { capabilities = ["read"] }"#,
            r#"path "secret/data/team/*" { capabilities = ["update"] }"#,
        ]);
        assert_eq!(caps(&a, "secret/data/team/x"), ["read", "update"]);
        assert!(can(&a, "secret/data/team/x", Operation::Update));
        assert!(!can(&a, "secret/data/team/x", Operation::Create));
    }

    #[test]
    fn case_c_deny_wins_inside_a_union() {
        for order in [[0, 1], [1, 0]] {
            let texts = [
                r#"path "secret/data/lock/*" { capabilities = ["read", "update"] }"#,
                r#"path "secret/data/lock/*" { capabilities = ["deny"] }"#,
            ];
            let a = acl(&[texts[order[0]], texts[order[1]]]);
            assert_eq!(caps(&a, "secret/data/lock/x"), ["deny"]);
            assert!(!can(&a, "secret/data/lock/x", Operation::Read));
        }
    }

    #[test]
    fn case_d_plus_beats_star_at_the_same_position() {
        let a = acl(&[r#"path "secret/data/svc/+/config" { capabilities = ["read"] }
                      path "secret/data/svc/*" { capabilities = ["update", "delete"] }"#]);
        assert_eq!(caps(&a, "secret/data/svc/a/config"), ["read"]);
        assert!(!can(&a, "secret/data/svc/a/config", Operation::Update));
        assert!(can(&a, "secret/data/svc/a/config", Operation::Read));
        assert_eq!(caps(&a, "secret/data/svc/a/b/config"), ["delete", "update"]);
        assert_eq!(caps(&a, "secret/data/svc/a/other"), ["delete", "update"]);
    }

    #[test]
    fn case_e_exact_match_wins() {
        let a = acl(&[r#"path "secret/data/ex/exact" { capabilities = ["read"] }
                      path "secret/data/ex/*" { capabilities = ["read", "update", "delete", "list"] }
                      path "secret/data/ex/ex*" { capabilities = ["list"] }"#]);
        assert_eq!(caps(&a, "secret/data/ex/exact"), ["read"]);
        assert!(!can(&a, "secret/data/ex/exact", Operation::Delete));
        assert_eq!(caps(&a, "secret/data/ex/exactly"), ["list"]);
        assert_eq!(caps(&a, "secret/data/ex/other"), ["delete", "list", "read", "update"]);
    }

    #[test]
    fn case_f_glob_without_slash_list_and_sudo() {
        let a = acl(&[r#"path "secret/data/glob*" { capabilities = ["read"] }
                      path "secret/metadata/*" { capabilities = ["list"] }
                      path "sys/mounts" { capabilities = ["read", "sudo"] }"#]);
        assert_eq!(caps(&a, "secret/data/glo"), ["deny"]);
        assert_eq!(caps(&a, "secret/data/glob"), ["read"]);
        assert_eq!(caps(&a, "secret/data/global/x"), ["read"]);
        assert_eq!(caps(&a, "secret/metadata/"), ["list"]);
        assert_eq!(caps(&a, "sys/mounts"), ["read", "sudo"]);
        let g = a.authorize("sys/mounts", Operation::Read, &Map::new()).unwrap();
        assert!(g.sudo);
        assert!(!a.authorize("secret/data/glob", Operation::Read, &Map::new()).unwrap().sudo);
    }

    #[test]
    fn each_operation_needs_its_capability() {
        let ops = [
            (Operation::Read, "read"),
            (Operation::List, "list"),
            (Operation::Create, "create"),
            (Operation::Update, "update"),
            (Operation::Patch, "patch"),
            (Operation::Delete, "delete"),
        ];
        for (op, cap) in ops {
            let a = acl(&[&format!(r#"path "x/*" {{ capabilities = ["{cap}"] }}"#)]);
            for (other, _) in ops {
                assert_eq!(can(&a, "x/y/", other) || can(&a, "x/y", other), other == op, "{cap} vs {other:?}");
            }
        }
    }

    #[test]
    fn list_paths_fall_back_to_the_exact_rule_without_slash() {
        let a = acl(&[r#"path "secret/metadata/dir" { capabilities = ["list"] }"#]);
        assert!(can(&a, "secret/metadata/dir/", Operation::List));
        assert_eq!(caps(&a, "secret/metadata/dir/"), ["list"]);
    }

    #[test]
    fn sec37_deny_is_byte_exact_and_odd_spellings_get_nothing() {
        let a = acl(&[r#"path "secret/data/*" { capabilities = ["create", "read", "update", "delete", "list"] }
                      path "secret/data/example" { capabilities = ["deny"] }
                      path "secret/data/caf\u00e9" { capabilities = ["deny"] }"#]);
        // The denied key, in its one spelling and its directory form.
        for p in ["secret/data/example", "secret/data/example/", "secret/data/caf\u{e9}"] {
            assert_eq!(caps(&a, p), ["deny"], "{p:?}");
        }
        // Paths the HTTP edge refuses with 400 are granted nothing here either.
        for p in [
            "secret/data/example//",
            "/secret/data/example",
            "secret/data/./example",
            "secret/data/example\u{200b}",
            "secret/data/exa\u{202e}mple",
            "secret/data/example\t",
        ] {
            assert_eq!(caps(&a, p), ["deny"], "{p:?}");
            for op in [Operation::Read, Operation::Update, Operation::Delete, Operation::List] {
                assert_eq!(a.authorize(p, op, &Map::new()), Err(Denied::Permission), "{p:?} {op:?}");
            }
        }
        // Other spellings are other keys: the glob decides them, not the deny on `example`.
        for p in ["secret/data/EXAMPLE", "secret/data/example ", "secret/data/cafe\u{301}", "secret/data/examples"] {
            assert!(can(&a, p, Operation::Read), "{p:?}");
        }
        assert!(can(&a, "secret/data/", Operation::List));
    }

    #[test]
    fn sec02_deny_by_plus_or_glob_also_covers_the_slash_form() {
        let a = acl(&[r#"path "secret/*" { capabilities = ["read", "list"] }
                      path "secret/+" { capabilities = ["deny"] }"#]);
        assert_eq!(caps(&a, "secret/x"), ["deny"]);
        assert_eq!(caps(&a, "secret/x/"), ["deny"]);
        assert_eq!(caps(&a, "secret/x/y"), ["list", "read"]);
    }

    #[test]
    fn sec37_patterns_differing_in_case_are_different_rules() {
        let a = acl(&[
            r#"path "Secret/Data/App/*" { capabilities = ["read"] }"#,
            r#"path "secret/data/app/*" { capabilities = ["deny"] }"#,
        ]);
        assert_eq!(caps(&a, "secret/data/app/x"), ["deny"]);
        assert_eq!(caps(&a, "Secret/Data/App/x"), ["read"]);
        assert_eq!(caps(&a, "SECRET/DATA/APP/X"), ["deny"]);
    }

    #[test]
    fn sec03_list_with_and_without_slash_is_denied() {
        let a = acl(&[r#"path "secret/*" { capabilities = ["list"] }
                      path "secret/private/*" { capabilities = ["deny"] }"#]);
        assert_eq!(a.authorize("secret/private/", Operation::List, &Map::new()), Err(Denied::Permission));
        // A list of `secret/private` arrives as `secret/private/`; even if not, it must not pass.
        assert_eq!(caps(&a, "secret/private/"), ["deny"]);
        assert_eq!(caps(&a, "secret/private//"), ["deny"]);
        assert_eq!(caps(&a, "secret/private/x/"), ["deny"]);
        assert!(can(&a, "secret/", Operation::List));
        assert!(can(&a, "secret/public/", Operation::List));
    }

    #[test]
    fn sec04_wildcards_do_not_reach_sys_or_auth_roles() {
        let a = acl(&[r#"path "*" { capabilities = ["create", "read", "update", "delete", "list"] }
                      path "+/x" { capabilities = ["read"] }"#]);
        for p in
            ["sys/mounts", "sys/mounts/new", "sys/policies/acl/x", "sys/x", "auth/approle/role/r", "auth/jwt/role/"]
        {
            assert_eq!(caps(&a, p), ["deny"], "{p}");
        }
        assert_eq!(caps(&a, "newmount/y"), ["create", "delete", "list", "read", "update"]);
        assert_eq!(caps(&a, "newmount/x"), ["read"]);
        assert_eq!(caps(&a, "auth/approle/login"), ["create", "delete", "list", "read", "update"]);

        let b = acl(&[r#"path "sys/*" { capabilities = ["read"] }
                      path "auth/+/role/*" { capabilities = ["list"] }"#]);
        assert_eq!(caps(&b, "sys/mounts"), ["read"]);
        assert_eq!(caps(&b, "auth/approle/role/"), ["list"]);
    }

    #[test]
    fn root_allows_everything() {
        let r = Acl::root();
        assert!(r.is_root());
        assert_eq!(caps(&r, "sys/seal"), ["root"]);
        assert_eq!(
            r.authorize("anything", Operation::Delete, &body(json!({"x": 1}))),
            Ok(Grant { sudo: true, min_wrapping_ttl: None, max_wrapping_ttl: None })
        );
        let root = Arc::new(Policy::parse("root", "").unwrap());
        let other = Arc::new(Policy::parse("p", r#"path "*" { capabilities = ["deny"] }"#).unwrap());
        assert!(Acl::new(&[other.clone(), root]).is_root());
        // Only the exact stored name counts; other spellings are ordinary (empty) policies.
        let fake = Arc::new(Policy::parse("ROOT", "").unwrap());
        assert!(!Acl::new(&[fake]).is_root());
        assert!(!Acl::new(&[other]).is_root());
        assert!(!Acl::new(&[]).is_root());
        assert_eq!(caps(&Acl::new(&[]), "x"), ["deny"]);
    }

    #[test]
    fn templated_rules_match_nothing() {
        let a = acl(&[r#"path "identity/entity/id/{{identity.entity.id}}" { capabilities = ["read"] }
                      path "kv/{{identity.entity.name}}/*" { capabilities = ["read"] }"#]);
        assert_eq!(caps(&a, "identity/entity/id/{{identity.entity.id}}"), ["deny"]);
        assert_eq!(caps(&a, "kv/{{identity.entity.name}}/x"), ["deny"]);
    }

    #[test]
    fn allowed_parameters() {
        let a = acl(&[r#"path "x/*" {
            capabilities = ["create", "update", "patch", "read"]
            allowed_parameters = { "name" = ["web-*", "*-db", "*core*", "exact"], "ttl" = [60, "1h"], "free" = [] }
        }"#]);
        let ok = |v: Value| a.authorize("x/y", Operation::Update, &body(v));
        assert!(ok(json!({})).is_ok());
        assert!(ok(json!({"name": "web-1"})).is_ok());
        assert!(ok(json!({"name": "pg-db"})).is_ok());
        assert!(ok(json!({"name": "a-core-b"})).is_ok());
        assert!(ok(json!({"NAME": "exact", "free": {"any": "thing"}})).is_ok());
        assert!(ok(json!({"ttl": 60})).is_ok());
        assert!(ok(json!({"ttl": 60.0})).is_ok());
        assert!(ok(json!({"ttl": "1h"})).is_ok());
        assert!(ok(json!({"name": ["web-1", "web-2"]})).is_ok());
        assert_eq!(ok(json!({"name": "secret-value"})), Err(Denied::Parameter("name".into())));
        assert_eq!(ok(json!({"name": ["web-1", "evil"]})), Err(Denied::Parameter("name".into())));
        assert_eq!(ok(json!({"ttl": "60"})), Err(Denied::Parameter("ttl".into())));
        assert_eq!(ok(json!({"other": 1})), Err(Denied::Parameter("other".into())));
        // Reads and deletes are not checked against parameters.
        assert!(a.authorize("x/y", Operation::Read, &body(json!({"other": 1}))).is_ok());
        // The message names the parameter, never its value.
        let msg = ok(json!({"name": "hunter2"})).unwrap_err().to_string();
        assert!(msg.contains("\"name\"") && !msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn allowed_star_and_denied_parameters() {
        let a = acl(&[r#"path "x/*" {
            capabilities = ["create", "update"]
            allowed_parameters = { "*" = [] }
            denied_parameters = { "policies" = ["root", "admin*"], "no_parent" = [] }
        }"#]);
        let w = |v: Value| a.authorize("x/y", Operation::Create, &body(v));
        assert!(w(json!({"anything": 1, "policies": ["dev"]})).is_ok());
        assert_eq!(w(json!({"policies": ["dev", "root"]})), Err(Denied::Parameter("policies".into())));
        assert_eq!(w(json!({"policies": "admin-x"})), Err(Denied::Parameter("policies".into())));
        assert_eq!(w(json!({"no_parent": false})), Err(Denied::Parameter("no_parent".into())));

        let all_denied = acl(&[r#"path "x/*" { capabilities = ["update"], denied_parameters = { "*" = [] } }"#]);
        assert!(all_denied.authorize("x/y", Operation::Update, &Map::new()).is_ok());
        assert!(all_denied.authorize("x/y", Operation::Update, &body(json!({"a": 1}))).is_err());

        let star_plus = acl(&[r#"path "x/*" {
            capabilities = ["update"]
            allowed_parameters = { "*" = [], "mode" = ["safe"] }
        }"#]);
        assert!(star_plus.authorize("x/y", Operation::Update, &body(json!({"other": 1}))).is_ok());
        assert!(star_plus.authorize("x/y", Operation::Update, &body(json!({"mode": "unsafe"}))).is_err());
    }

    #[test]
    fn required_parameters() {
        let a = acl(&[r#"path "x/*" { capabilities = ["create", "read"], required_parameters = ["Owner"] }"#]);
        assert_eq!(a.authorize("x/y", Operation::Create, &Map::new()), Err(Denied::Parameter("Owner".into())));
        assert!(a.authorize("x/y", Operation::Create, &body(json!({"owner": "me"}))).is_ok());
        assert!(a.authorize("x/y", Operation::Read, &Map::new()).is_ok());
    }

    #[test]
    fn parameter_constraints_merge_across_policies() {
        let a = acl(&[
            r#"path "x/*" { capabilities = ["update"], allowed_parameters = { "a" = ["1"] }, required_parameters = ["a"] }"#,
            r#"path "x/*" { capabilities = ["update"], allowed_parameters = { "a" = ["2"], "b" = [] }, required_parameters = ["b"] }"#,
        ]);
        let w = |v: Value| a.authorize("x/y", Operation::Update, &body(v));
        assert!(w(json!({"a": "1", "b": 5})).is_ok());
        assert!(w(json!({"a": "2", "b": 5})).is_ok());
        assert!(w(json!({"a": "3", "b": 5})).is_err());
        assert!(w(json!({"a": "1"})).is_err());

        let absorbed = acl(&[
            r#"path "x/*" { capabilities = ["update"], allowed_parameters = { "a" = ["1"] } }"#,
            r#"path "x/*" { capabilities = ["update"], allowed_parameters = { "a" = [] } }"#,
        ]);
        assert!(absorbed.authorize("x/y", Operation::Update, &body(json!({"a": "9"}))).is_ok());
    }

    #[test]
    fn wrapping_ttls() {
        let a = acl(&[r#"path "x/*" { capabilities = ["read"], min_wrapping_ttl = "1m", max_wrapping_ttl = "1h" }"#]);
        assert_eq!(
            a.authorize("x/y", Operation::Read, &Map::new()),
            Ok(Grant { sudo: false, min_wrapping_ttl: Some(60), max_wrapping_ttl: Some(3600) })
        );
        // Merging keeps the smaller bound of each; crossed bounds deny.
        let b = acl(&[
            r#"path "x/*" { capabilities = ["read"], min_wrapping_ttl = 600, max_wrapping_ttl = 3600 }"#,
            r#"path "x/*" { capabilities = ["read"], max_wrapping_ttl = 300 }"#,
        ]);
        assert_eq!(b.authorize("x/y", Operation::Read, &Map::new()), Err(Denied::Permission));
        let c = acl(&[
            r#"path "x/*" { capabilities = ["read"], min_wrapping_ttl = 600 }"#,
            r#"path "x/*" { capabilities = ["read"], min_wrapping_ttl = 60 }"#,
        ]);
        assert_eq!(c.authorize("x/y", Operation::Read, &Map::new()).map(|g| g.min_wrapping_ttl), Ok(Some(60)));
    }

    #[test]
    fn json_and_hcl_build_the_same_acl() {
        let hcl = acl(&[r#"path "secret/data/*" { capabilities = ["read", "update", "create"] }
                        path "secret/data/app/*" { capabilities = ["deny"] }
                        path "secret/data/svc/+/config" { capabilities = ["read"] }"#]);
        let json = acl(&[r#"{"path": {"secret/data/*": {"capabilities": ["read", "update", "create"]},
                                     "secret/data/app/*": {"capabilities": ["deny"]},
                                     "secret/data/svc/+/config": {"capabilities": ["read"]}}}"#]);
        for p in ["secret/data/x", "secret/data/app", "secret/data/app/x", "secret/data/svc/a/config", "other"] {
            assert_eq!(hcl.capabilities(p), json.capabilities(p), "{p}");
        }
    }
}
