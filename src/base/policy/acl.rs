//! The merged ACL of a token's policies and the decisions made with it: which capabilities a path
//! gets, and whether one request (operation + body) may go ahead.
//!
//! Merging (API-CONTRACT §3.4 rule 1, Vault's `NewACL`): rules with the same pattern text are
//! unioned; a deny in any of them wins and drops the rest; parameter lists are merged key by key
//! (`[]` absorbs), required parameters are unioned, and the smaller wrapping TTL bounds are kept.
//!
//! Lookup for a path `p`, byte for byte (Vault's `AllowOperation` with its LIST fallback, used for
//! every operation so that `capabilities`, `authorize` and `judge` always agree: all three go
//! through [`Acl::lookup`], which also says how it decided). A path that is not in the normal form
//! of `pattern::path_problem` gets nothing (the HTTP edge never passes one on):
//! 1. if `p` ends in `/` and the same path without it is explicitly denied, `p` is denied
//!    (SEC-02: a deny on `x` also covers `x/`);
//! 2. an exact rule for `p`, else for `p` without its trailing `/`;
//! 3. else the highest-priority non-exact pattern that matches (`Pattern::priority`), with the
//!    protected roots of SEC-04 left to patterns that name them.
//!
//! Each merged rule remembers the rules it was merged from ([`Source`]: the policy, the pattern as
//! that policy wrote it, what it granted), so that a decision can name the policies behind it
//! (`sys/policies/explain`).
//!
//! Identity-templated rules (`{{identity.entity.id}}`) are not resolved and match nothing, as in
//! Vault for a token without an entity.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::parse::merge_values;
use super::pattern::{path_problem, Pattern, Root};
use super::{Capabilities, Capability, PathRule, Permissions, Policy};
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

/// One policy's rule inside a merged rule: which policy, the pattern as that policy wrote it
/// (a leading `/` kept), and the capabilities that rule alone grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The policy's name.
    pub policy: String,
    /// The `path "…"` text of the rule, as written.
    pub path: String,
    /// What the rule alone grants.
    pub capabilities: Capabilities,
}

/// A rule of the merged ACL: every rule with the same pattern, from any policy, merged.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The pattern text the merged rules share (a leading `/` dropped).
    pub path: String,
    /// The merged permissions.
    pub permissions: Permissions,
    /// The rules it was merged from, in policy order.
    pub sources: Vec<Source>,
}

impl Rule {
    fn new(key: &str, policy: &str, rule: &PathRule) -> Rule {
        Rule { path: key.to_string(), permissions: rule.permissions.clone(), sources: vec![Source::of(policy, rule)] }
    }

    fn absorb(&mut self, policy: &str, rule: &PathRule) {
        merge(&mut self.permissions, &rule.permissions);
        self.sources.push(Source::of(policy, rule));
    }
}

impl Source {
    fn of(policy: &str, rule: &PathRule) -> Source {
        Source { policy: policy.to_string(), path: rule.path.clone(), capabilities: rule.permissions.capabilities }
    }
}

/// How the lookup found the rule that decides a path (the steps of the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// The root ACL: every capability on every path.
    Root,
    /// An exact rule for the path.
    Exact,
    /// An exact rule for the path without its trailing `/` (the LIST fallback).
    ExactWithoutSlash,
    /// The path ends in `/` and the path without it is denied (SEC-02).
    ParentDeny,
    /// The highest-priority pattern that matches.
    Pattern,
    /// No rule matches.
    Nothing,
    /// The path is not in normal form: nothing matches it.
    NotNormal,
}

/// What the lookup found for one path: how, and the merged rule (none for root or no match).
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    /// How the rule was found.
    pub found: Found,
    /// The deciding rule.
    pub rule: Option<&'a Rule>,
}

impl Lookup<'_> {
    /// The capabilities on the path: the rule's, root's, or none.
    pub fn capabilities(&self) -> Capabilities {
        match (self.found, self.rule) {
            (Found::Root, _) => Capabilities::root(),
            (_, Some(r)) => r.permissions.capabilities,
            (_, None) => Capabilities::empty(),
        }
    }
}

/// Why a request was refused, in more detail than [`Denied`] (which is all a caller sees).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// No rule matches the path (or the path is not in normal form).
    NoRule,
    /// The deciding rule is an explicit deny.
    Deny,
    /// The deciding rule does not grant the capability the operation needs.
    Lacks(Capability),
    /// The deciding rule's merged `min_wrapping_ttl` is above its `max_wrapping_ttl`.
    CrossedWrappingBounds,
    /// A parameter constraint refuses the body; the parameter's name, never its value.
    Parameter(String),
}

impl Cause {
    /// What the caller is told.
    pub fn denied(&self) -> Denied {
        match self {
            Cause::Parameter(name) => Denied::Parameter(name.clone()),
            _ => Denied::Permission,
        }
    }
}

/// One request decided by the ACL, with the lookup that decided it.
#[derive(Debug, Clone)]
pub struct Verdict<'a> {
    /// The rule and how it was found.
    pub lookup: Lookup<'a>,
    /// The capability the operation needs.
    pub needed: Capability,
    /// The decision.
    pub outcome: Result<Grant, Cause>,
}

/// A merged, compiled set of policies.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    root: bool,
    exact: HashMap<String, Rule>,
    /// Non-exact patterns, highest priority first: the first match wins.
    globs: Vec<(Pattern, Rule)>,
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

/// The capability an operation needs.
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

/// Vault's parameter checks for writes: required, then denied, then allowed. Answers the refused
/// parameter's name.
fn check_parameters(p: &Permissions, data: &Map<String, Value>) -> Result<(), String> {
    for r in &p.required_parameters {
        let lower = r.to_lowercase();
        if !data.keys().any(|k| k.to_lowercase() == lower) {
            return Err(r.clone());
        }
    }
    if data.is_empty() {
        return Ok(());
    }
    if !p.denied_parameters.is_empty() {
        if p.denied_parameters.contains_key("*") {
            let first = data.keys().next().cloned().unwrap_or_default();
            return Err(first);
        }
        for (k, v) in data {
            if let Some(list) = p.denied_parameters.get(&k.to_lowercase()) {
                if denied_value(v, list) {
                    return Err(k.clone());
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
            Some(list) if !allowed_value(v, list) => return Err(k.clone()),
            Some(_) => {}
            None if any_name => {}
            None => return Err(k.clone()),
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
        let mut exact: HashMap<String, Rule> = HashMap::new();
        let mut globs: HashMap<String, (Pattern, Rule)> = HashMap::new();
        for (name, rule) in policies.iter().flat_map(|p| p.rules().iter().map(|r| (p.name.as_str(), r))) {
            let pattern = &rule.pattern;
            if pattern.is_templated() {
                continue;
            }
            let key = pattern.key();
            if pattern.is_exact() {
                match exact.get_mut(key) {
                    Some(existing) => existing.absorb(name, rule),
                    None => {
                        exact.insert(key.to_string(), Rule::new(key, name, rule));
                    }
                }
            } else {
                match globs.get_mut(key) {
                    Some((_, existing)) => existing.absorb(name, rule),
                    None => {
                        globs.insert(key.to_string(), (pattern.clone(), Rule::new(key, name, rule)));
                    }
                }
            }
        }
        let mut globs: Vec<(Pattern, Rule)> = globs.into_values().collect();
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

    /// Vault's lookup for one normal-form path (exact, exact without the trailing `/`, patterns).
    fn find(&self, path: &str) -> Lookup<'_> {
        if let Some(r) = self.exact.get(path) {
            return Lookup { found: Found::Exact, rule: Some(r) };
        }
        if let Some(r) = path.strip_suffix('/').and_then(|base| self.exact.get(base)) {
            return Lookup { found: Found::ExactWithoutSlash, rule: Some(r) };
        }
        let root = Root::of(path);
        match self.globs.iter().find(|(pat, _)| pat.matches(path, root)) {
            Some((_, r)) => Lookup { found: Found::Pattern, rule: Some(r) },
            None => Lookup { found: Found::Nothing, rule: None },
        }
    }

    /// The rule that decides a path, and how it was found: the one lookup behind
    /// [`Acl::capabilities`], [`Acl::authorize`] and [`Acl::judge`].
    pub fn lookup(&self, path: &str) -> Lookup<'_> {
        if self.root {
            return Lookup { found: Found::Root, rule: None };
        }
        if path_problem(path).is_some() {
            return Lookup { found: Found::NotNormal, rule: None };
        }
        if let Some(base) = path.strip_suffix('/').filter(|b| !b.is_empty()) {
            if let Some(r) = self.find(base).rule.filter(|r| r.permissions.capabilities.is_denied()) {
                return Lookup { found: Found::ParentDeny, rule: Some(r) };
            }
        }
        self.find(path)
    }

    /// The capabilities on `path` (compared byte for byte): those of the single winning
    /// rule, `deny` if it denies, empty if nothing matches, [`Capabilities::root`] for root.
    pub fn capabilities(&self, path: &str) -> Capabilities {
        self.lookup(path).capabilities()
    }

    /// Whether some rule grants a capability (other than deny) on a path under `prefix`, a mount's
    /// API path: the preflight of Vault's `sys/internal/ui/mounts/<path>`.
    pub fn has_access_under(&self, prefix: &str) -> bool {
        if self.root {
            return true;
        }
        let grants = |r: &Rule| !r.permissions.capabilities.is_denied() && !r.permissions.capabilities.is_empty();
        self.exact.iter().any(|(k, r)| k.starts_with(prefix) && grants(r))
            || self.globs.iter().any(|(pat, r)| {
                let literal = pat.key().trim_end_matches('*').split('+').next().unwrap_or("");
                grants(r) && (literal.starts_with(prefix) || prefix.starts_with(literal))
            })
    }

    /// Decides one request: `op` on `path` (compared byte for byte) with body `data`. Parameter
    /// constraints apply to create, update and patch; wrapping-TTL bounds come back in the
    /// [`Grant`] for the caller to enforce (a merged rule whose bounds cross denies outright).
    pub fn authorize(&self, path: &str, op: Operation, data: &Map<String, Value>) -> Result<Grant, Denied> {
        self.judge(path, op, data).outcome.map_err(|c| c.denied())
    }

    /// [`Acl::authorize`] with its reasons: the rule that decided, how it was found, and why a
    /// refusal was made. `authorize` is this, with the reasons dropped.
    pub fn judge(&self, path: &str, op: Operation, data: &Map<String, Value>) -> Verdict<'_> {
        let lookup = self.lookup(path);
        let needed = needed(op);
        let outcome = decide(&lookup, op, needed, data);
        Verdict { lookup, needed, outcome }
    }
}

/// The decision of [`Acl::judge`] once the rule is known.
fn decide(lookup: &Lookup<'_>, op: Operation, needed: Capability, data: &Map<String, Value>) -> Result<Grant, Cause> {
    if lookup.found == Found::Root {
        return Ok(Grant { sudo: true, min_wrapping_ttl: None, max_wrapping_ttl: None });
    }
    let perms = &lookup.rule.ok_or(Cause::NoRule)?.permissions;
    if perms.capabilities.is_denied() {
        return Err(Cause::Deny);
    }
    if !perms.capabilities.contains(needed) {
        return Err(Cause::Lacks(needed));
    }
    if let (Some(min), Some(max)) = (perms.min_wrapping_ttl, perms.max_wrapping_ttl) {
        if max < min {
            return Err(Cause::CrossedWrappingBounds);
        }
    }
    if matches!(op, Operation::Create | Operation::Update | Operation::Patch) {
        check_parameters(perms, data).map_err(Cause::Parameter)?;
    }
    Ok(Grant {
        sudo: perms.capabilities.contains(Capability::Sudo),
        min_wrapping_ttl: perms.min_wrapping_ttl,
        max_wrapping_ttl: perms.max_wrapping_ttl,
    })
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

    // --- the trace: how the lookup decided, and which policies a merged rule came from ---------

    fn trace_acl() -> Acl {
        acl(&[
            r#"path "secret/data/*" { capabilities = ["read", "list"] }
               path "secret/data/app/*" { capabilities = ["deny"] }
               path "secret/data/exact" { capabilities = ["read"] }
               path "/secret/metadata/dir" { capabilities = ["list"] }
               path "secret/data/locked" { capabilities = ["deny"] }
               path "secret/data/wrapped" { capabilities = ["read"], min_wrapping_ttl = 600 }
               path "secret/data/params/*" { capabilities = ["create", "update"], denied_parameters = { "admin" = [] } }"#,
            r#"path "secret/data/*" { capabilities = ["update"] }
               path "secret/data/app/*" { capabilities = ["read"] }
               path "secret/data/wrapped" { capabilities = ["read"], max_wrapping_ttl = 60 }"#,
        ])
    }

    #[test]
    fn judge_reports_an_exact_match_and_what_it_lacks() {
        let a = trace_acl();
        let v = a.judge("secret/data/exact", Operation::Read, &Map::new());
        assert_eq!(v.lookup.found, Found::Exact);
        assert_eq!(v.lookup.rule.unwrap().path, "secret/data/exact");
        assert!(v.outcome.is_ok());
        let v = a.judge("secret/data/exact", Operation::Update, &Map::new());
        assert_eq!((v.lookup.found, v.needed), (Found::Exact, Capability::Update));
        assert_eq!(v.outcome, Err(Cause::Lacks(Capability::Update)));
        // The LIST fallback: the exact rule of the path without its trailing slash; the rule is
        // named without the leading '/' its policy wrote, which the source keeps.
        let v = a.judge("secret/metadata/dir/", Operation::List, &Map::new());
        assert_eq!(v.lookup.found, Found::ExactWithoutSlash);
        let rule = v.lookup.rule.unwrap();
        assert_eq!(rule.path, "secret/metadata/dir");
        assert_eq!(rule.sources[0].path, "/secret/metadata/dir");
        assert!(v.outcome.is_ok());
    }

    #[test]
    fn judge_reports_deny_by_pattern_and_by_the_parent_path() {
        let a = trace_acl();
        let v = a.judge("secret/data/app/x", Operation::Read, &Map::new());
        assert_eq!(v.lookup.found, Found::Pattern);
        let rule = v.lookup.rule.unwrap();
        assert_eq!(rule.path, "secret/data/app/*");
        assert_eq!(v.outcome, Err(Cause::Deny));
        // Both policies' rules are remembered: the deny of p0 and the read of p1 it overrode.
        let sources: Vec<(&str, Vec<&str>)> =
            rule.sources.iter().map(|s| (s.policy.as_str(), s.capabilities.names())).collect();
        assert_eq!(sources, [("p0", vec!["deny"]), ("p1", vec!["read"])]);
        // SEC-02: `x/` is denied because `x` is.
        let v = a.judge("secret/data/locked/", Operation::List, &Map::new());
        assert_eq!(v.lookup.found, Found::ParentDeny);
        assert_eq!(v.lookup.rule.unwrap().path, "secret/data/locked");
        assert_eq!(v.outcome, Err(Cause::Deny));
    }

    #[test]
    fn judge_reports_the_most_specific_pattern_and_its_merged_sources() {
        let a = trace_acl();
        let v = a.judge("secret/data/other", Operation::Update, &Map::new());
        assert_eq!(v.lookup.found, Found::Pattern);
        let rule = v.lookup.rule.unwrap();
        assert_eq!(rule.path, "secret/data/*");
        assert_eq!(rule.permissions.capabilities.names(), ["list", "read", "update"]);
        let policies: Vec<&str> = rule.sources.iter().map(|s| s.policy.as_str()).collect();
        assert_eq!(policies, ["p0", "p1"]);
        assert!(v.outcome.is_ok());
    }

    #[test]
    fn judge_reports_nothing_root_bounds_and_parameters() {
        let a = trace_acl();
        for (path, found) in [("other/x", Found::Nothing), ("secret//x", Found::NotNormal), ("", Found::Nothing)] {
            let v = a.judge(path, Operation::Read, &Map::new());
            assert_eq!((v.lookup.found, v.outcome, v.lookup.rule.is_none()), (found, Err(Cause::NoRule), true));
        }
        let root = Acl::root();
        let v = root.judge("secret//x", Operation::Delete, &Map::new());
        assert_eq!(v.lookup.found, Found::Root);
        assert_eq!(v.lookup.capabilities(), Capabilities::root());
        assert!(v.outcome.unwrap().sudo);
        let v = a.judge("secret/data/wrapped", Operation::Read, &Map::new());
        assert_eq!(v.outcome, Err(Cause::CrossedWrappingBounds));
        let v = a.judge("secret/data/params/x", Operation::Update, &body(json!({"admin": "s3cret"})));
        assert_eq!(v.outcome, Err(Cause::Parameter("admin".into())));
        assert_eq!(v.lookup.rule.unwrap().path, "secret/data/params/*");
    }

    #[test]
    fn authorize_and_capabilities_are_the_judgement() {
        let a = trace_acl();
        let data = body(json!({"admin": 1}));
        for path in
            ["secret/data/exact", "secret/data/app/x", "secret/data/locked/", "secret/data/wrapped", "x", "a//b"]
        {
            assert_eq!(a.capabilities(path), a.lookup(path).capabilities(), "{path}");
            for op in [Operation::Read, Operation::List, Operation::Update, Operation::Create, Operation::Delete] {
                for d in [&Map::new(), &data] {
                    let v = a.judge(path, op, d);
                    assert_eq!(a.authorize(path, op, d), v.outcome.map_err(|c| c.denied()), "{path} {op:?}");
                }
            }
        }
    }
}
