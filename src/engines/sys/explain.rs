//! `sys/policies/explain`: why a token (the caller's own, another one by value or accessor, or a
//! list of policies) may or may not do one operation on one path. The answer is the real decision
//! (`core::judge`, which `core::permit` is) with the reasons it recorded, never a second
//! evaluator; and the same decision for each policy on its own.

use std::sync::Arc;

use secrecy::ExposeSecret;
use serde_json::{json, Map, Value};

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::base::policy::{request_path_problem, Acl, Capabilities, Capability, Cause, Found, Rule, MAX_PATH_BYTES};
use crate::core::engine::Call;
use crate::core::policy_store::checked_name;
use crate::core::tokens::TokenEntry;
use crate::core::{judge, Judgement};

/// The fields the endpoint reads; any other is refused (a misspelt `acessor` must not silently
/// explain the caller's own token instead).
const FIELDS: [&str; 6] = ["path", "operation", "token", "accessor", "policies", "data"];

/// Most policies a `policies` list may name.
const MAX_POLICIES: usize = 256;

/// Whose decisions are explained.
#[derive(Debug)]
enum Target<'a> {
    /// The caller's own token (nothing given, or the caller's own token given).
    Own,
    /// Another token, by value.
    Token(&'a str),
    /// Another token, by accessor.
    Accessor(&'a str),
    /// A list of policies, as a token holding exactly them would have them (no identity).
    Policies(Vec<String>),
}

/// Reads the target: at most one of `token`, `accessor`, `policies` (`null` counts as absent).
fn target<'a>(data: &'a Map<String, Value>, caller: Option<&str>) -> Result<Target<'a>, ApiError> {
    if let Some(field) = data.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "unknown field {field:?}; the fields are path, operation, data and at most one of token, accessor, policies"
        )));
    }
    let given =
        ["token", "accessor", "policies"].iter().filter(|k| data.get(**k).is_some_and(|v| !v.is_null())).count();
    if given > 1 {
        return Err(ApiError::bad_request("give at most one of token, accessor and policies"));
    }
    if let Some(token) = params::str_field(data, "token")? {
        if token.is_empty() {
            return Err(ApiError::bad_request("token must not be empty"));
        }
        let own = caller.is_some_and(|c| crate::crypto::ct_eq(c.as_bytes(), token.as_bytes()));
        return Ok(if own { Target::Own } else { Target::Token(token) });
    }
    if let Some(accessor) = params::str_field(data, "accessor")? {
        if accessor.is_empty() {
            return Err(ApiError::bad_request("accessor must not be empty"));
        }
        return Ok(Target::Accessor(accessor));
    }
    if data.get("policies").is_some_and(|v| !v.is_null()) {
        let mut names: Vec<String> = Vec::new();
        for n in params::string_list(data, "policies")? {
            let n = checked_name(&n)?;
            if !names.contains(&n) {
                names.push(n);
            }
        }
        if names.len() > MAX_POLICIES {
            return Err(ApiError::bad_request(format!("policies may name at most {MAX_POLICIES} policies")));
        }
        return Ok(Target::Policies(names));
    }
    Ok(Target::Own)
}

/// True if the request explains the caller's own token: then a valid token is all it needs
/// (the system engine's `policy_checks`). Anything else, a body that does not parse included,
/// goes through the ordinary check on `sys/policies/explain` (`update` and `sudo`).
pub(super) fn is_own(req: &Request) -> bool {
    let caller = req.token.as_ref().map(|t| t.expose_secret());
    matches!(target(&req.data, caller), Ok(Target::Own))
}

/// The path asked about: present, in the normal form the HTTP edge requires, no longer than the
/// edge allows, and without leading or trailing whitespace (almost always a paste accident; the
/// ACL would compare it byte for byte as another key). Never rewritten.
fn checked_path(data: &Map<String, Value>) -> Result<&str, ApiError> {
    let path = params::str_field(data, "path")?.filter(|p| !p.is_empty());
    let path = path.ok_or_else(|| ApiError::bad_request("missing path"))?;
    if path.len() > MAX_PATH_BYTES {
        return Err(ApiError::bad_request(format!("invalid path: the path is longer than {MAX_PATH_BYTES} bytes")));
    }
    if path.trim() != path {
        return Err(ApiError::bad_request("invalid path: the path starts or ends with whitespace"));
    }
    if let Some(why) = request_path_problem(path) {
        return Err(ApiError::bad_request(format!("invalid path: the path {why}")));
    }
    Ok(path)
}

fn operation(data: &Map<String, Value>) -> Result<Operation, ApiError> {
    let op = params::str_field(data, "operation")?.ok_or_else(|| ApiError::bad_request("missing operation"))?;
    [Operation::Read, Operation::List, Operation::Create, Operation::Update, Operation::Patch, Operation::Delete]
        .into_iter()
        .find(|o| o.as_str() == op)
        .ok_or_else(|| ApiError::bad_request("invalid operation: use one of read, list, create, update, patch, delete"))
}

/// `POST sys/policies/explain`.
pub(super) async fn explain(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let caller = req.token.as_ref().map(|t| t.expose_secret());
    let target = target(&req.data, caller)?;
    // The ACL check already asked for sudo unless the target is the caller's own token; this
    // repeats it here, so that a change to one side cannot open the other.
    if !matches!(target, Target::Own) && !call.sudo {
        return Err(ApiError::permission_denied());
    }
    let path = checked_path(&req.data)?;
    let op = operation(&req.data)?;
    let body = params::object_field(&req.data, "data")?.cloned().unwrap_or_default();
    let core = call.host.whole_core()?;
    let (store, now) = (&core.store, core.clock.now());
    let found;
    let (token, names): (Option<&TokenEntry>, Vec<String>) = match &target {
        Target::Own => (Some(call.token), call.token.policies.clone()),
        Target::Token(t) => {
            found = core.tokens.find(store, t, now).await?;
            let t = found.as_deref().ok_or_else(|| ApiError::bad_request("token not found (or expired)"))?;
            (Some(t), t.policies.clone())
        }
        Target::Accessor(a) => {
            found = core.tokens.find_by_accessor(store, a, now).await?.map(Arc::new);
            let t =
                found.as_deref().ok_or_else(|| ApiError::bad_request("no token has this accessor (or it expired)"))?;
            (Some(t), t.policies.clone())
        }
        Target::Policies(names) => (None, names.clone()),
    };
    // A token's ACL is built exactly as for its requests (its identity fills in templates); a
    // policy list is a token without identity holding exactly those policies.
    let (identity, identity_key) = token.map_or((None, ""), |t| (t.identity.as_ref(), t.row.identity.as_str()));
    let acl = match token {
        Some(t) => core.policies.acl_for(store, t).await?,
        None => core.policies.acl(store, &names, None, "").await?,
    };
    let mut answer = explained(&acl, path, op, &body).to_json();
    let mut each = Vec::with_capacity(names.len());
    for name in &names {
        let alone = core.policies.acl(store, std::slice::from_ref(name), identity, identity_key).await?;
        each.push(alone_json(name, &judge(&alone, path, op, &body)));
    }
    answer.insert("path".into(), json!(path));
    answer.insert("operation".into(), json!(op.as_str()));
    answer.insert("policies".into(), Value::Array(each));
    Ok(Response::data(Value::Object(answer)))
}

/// Why the decision came out as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    /// An exact rule (or, for a path ending in `/`, the exact rule without it) decided.
    ExactMatch,
    /// The highest-priority pattern that matches decided.
    MostSpecificPattern,
    /// The deciding rule denies (a deny in any merged policy wins).
    DenyWins,
    /// The rule grants the operation but its parameter constraints refuse the body.
    Parameters,
    /// The rule grants the operation but the path is root-protected and the rule lacks `sudo`.
    SudoRequired,
    /// No rule matches: nothing is granted.
    NoMatchingRule,
    /// A root token.
    Root,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::ExactMatch => "exact_match",
            Reason::MostSpecificPattern => "most_specific_pattern",
            Reason::DenyWins => "deny_wins",
            Reason::Parameters => "parameters",
            Reason::SudoRequired => "sudo_required",
            Reason::NoMatchingRule => "no_matching_rule",
            Reason::Root => "root",
        }
    }

    fn of(j: &Judgement<'_>) -> Reason {
        let v = &j.verdict;
        match (&v.outcome, v.lookup.found) {
            (_, Found::Root) => Reason::Root,
            (Err(Cause::NoRule), _) | (_, Found::Nothing | Found::NotNormal) => Reason::NoMatchingRule,
            (Err(Cause::Deny), _) | (_, Found::ParentDeny) => Reason::DenyWins,
            (Err(Cause::Parameter(_)), _) => Reason::Parameters,
            (Ok(_), _) if j.lacks_sudo() => Reason::SudoRequired,
            (_, Found::Exact | Found::ExactWithoutSlash) => Reason::ExactMatch,
            (_, Found::Pattern) => Reason::MostSpecificPattern,
        }
    }
}

/// One decision explained: what `permit` decides, and why.
#[derive(Debug, Clone)]
pub(super) struct Explained {
    /// `permit` lets the request through.
    pub allowed: bool,
    /// The merged capabilities on the path.
    pub capabilities: Capabilities,
    pub reason: Reason,
    /// The deciding rule: the policies behind it, its pattern, its merged capabilities.
    pub decided_by: Option<(Vec<String>, String, Capabilities)>,
    /// The refused parameter's name (never its value).
    pub parameter: Option<String>,
    pub message: String,
}

impl Explained {
    fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("allowed".into(), json!(self.allowed));
        m.insert("capabilities".into(), json!(cap_names(self.capabilities)));
        m.insert("reason".into(), json!(self.reason.as_str()));
        m.insert("message".into(), json!(self.message));
        let decided = self.decided_by.as_ref().map(
            |(policies, path, caps)| json!({"policies": policies, "path": path, "capabilities": cap_names(*caps)}),
        );
        m.insert("decided_by".into(), decided.unwrap_or(Value::Null));
        if let Some(p) = &self.parameter {
            m.insert("parameter".into(), json!(p));
        }
        m
    }
}

/// Capability names for the answer: `["root"]`, `["deny"]` for an explicit deny, and `[]` when
/// nothing is granted (unlike `sys/capabilities`, which says `deny` for both).
fn cap_names(c: Capabilities) -> Vec<&'static str> {
    if c.is_root() {
        return vec!["root"];
    }
    if c.is_denied() {
        return vec!["deny"];
    }
    Capability::ALL.into_iter().filter(|x| c.contains(*x)).map(Capability::as_str).collect()
}

/// Explains `op` on `path` with body `data` under `acl`.
pub(super) fn explained(acl: &Acl, path: &str, op: Operation, data: &Map<String, Value>) -> Explained {
    let j = judge(acl, path, op, data);
    let reason = Reason::of(&j);
    let rule = j.verdict.lookup.rule;
    let parameter = match &j.verdict.outcome {
        Err(Cause::Parameter(p)) => Some(p.clone()),
        _ => None,
    };
    Explained {
        allowed: j.result().is_ok(),
        capabilities: j.verdict.lookup.capabilities(),
        reason,
        decided_by: rule.map(|r| (deciders(r, &j), r.path.clone(), r.permissions.capabilities)),
        parameter,
        message: message(&j, reason, path, op),
    }
}

/// The policies behind the deciding rule that decided: those that deny it when it denies, those
/// granting the needed capability when it is granted, and all of them otherwise.
fn deciders(rule: &Rule, j: &Judgement<'_>) -> Vec<String> {
    let needed = j.verdict.needed;
    let pick = |f: &dyn Fn(Capabilities) -> bool| {
        let mut names: Vec<String> = Vec::new();
        for s in rule.sources.iter().filter(|s| f(s.capabilities)) {
            if !names.contains(&s.policy) {
                names.push(s.policy.clone());
            }
        }
        names
    };
    let caps = rule.permissions.capabilities;
    let chosen = if caps.is_denied() {
        pick(&|c: Capabilities| c.is_denied())
    } else if caps.contains(needed) {
        pick(&|c: Capabilities| c.contains(needed))
    } else {
        Vec::new()
    };
    if chosen.is_empty() {
        pick(&|_| true)
    } else {
        chosen
    }
}

/// `policy a` or `policies a, b`.
fn of_policies(rule: &Rule) -> String {
    let mut names: Vec<&str> = Vec::new();
    for s in &rule.sources {
        if !names.contains(&s.policy.as_str()) {
            names.push(&s.policy);
        }
    }
    match names.as_slice() {
        [one] => format!("policy {one}"),
        many => format!("policies {}", many.join(", ")),
    }
}

fn message(j: &Judgement<'_>, reason: Reason, path: &str, op: Operation) -> String {
    let v = &j.verdict;
    let needed = v.needed.as_str();
    let Some(rule) = v.lookup.rule else {
        return match reason {
            Reason::Root => "a root token may do anything on any path".to_string(),
            _ => format!("no rule matches {path:?}, so nothing is granted there and {} is refused", op.as_str()),
        };
    };
    let named = format!("rule {:?} of {}", rule.path, of_policies(rule));
    let granted = cap_names(rule.permissions.capabilities).join(", ");
    let how = match v.lookup.found {
        Found::ExactWithoutSlash => format!("the exact {named} (the path without its trailing '/')"),
        Found::Pattern => format!("the most specific matching pattern, {named},"),
        _ => format!("the exact {named}"),
    };
    match (reason, &v.outcome) {
        (Reason::DenyWins, _) if v.lookup.found == Found::ParentDeny => format!(
            "{named} denies {:?}, and a deny on a path also covers the path with a trailing '/'",
            path.trim_end_matches('/')
        ),
        (Reason::DenyWins, _) => format!("{how} denies the path; a deny overrides every other capability"),
        (Reason::Parameters, Err(Cause::Parameter(p))) => {
            format!("{how} grants {needed}, but its parameter constraints refuse the parameter {p:?}")
        }
        (Reason::SudoRequired, _) => format!(
            "{path:?} is root-protected: {} there also needs sudo, and {how} grants only [{granted}]",
            op.as_str()
        ),
        (_, Err(Cause::CrossedWrappingBounds)) => {
            format!("{how} grants {needed}, but its min_wrapping_ttl is above its max_wrapping_ttl, which refuses every request")
        }
        (_, Err(_)) => format!("{how} decides the path and grants [{granted}], not {needed}"),
        (_, Ok(g)) => {
            let mut m = format!("{how} grants {needed}");
            if g.min_wrapping_ttl.is_some() || g.max_wrapping_ttl.is_some() {
                m.push_str("; the request must ask for response wrapping within the rule's wrapping TTL bounds");
            }
            m
        }
    }
}

/// One policy on its own: the rule of that policy that decides the path, and whether that policy
/// alone would allow the operation.
fn alone_json(name: &str, j: &Judgement<'_>) -> Value {
    let rule =
        j.verdict.lookup.rule.map(|r| json!({"path": r.path, "capabilities": cap_names(r.permissions.capabilities)}));
    json!({"name": name, "rule": rule, "allowed": j.result().is_ok()})
}

#[cfg(test)]
mod tests;
