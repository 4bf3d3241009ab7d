//! JWT roles: `role/<name>` (read, write, delete) and `LIST role`. A role binds the tokens it
//! accepts (audiences, which are required, subject and claims) and sets the token a login gets.
//! Only `role_type: "jwt"` exists: Coffer has no browser OIDC flow.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::roles_kind;
use crate::auth::common::role_store::Role;
use crate::auth::common::TokenParams;
use crate::auth::common::{token_fields, token_type_field};
use crate::base::error::ApiError;
use crate::base::params;
use crate::base::params::string_list;
use crate::core::engine::Call;

/// A stored JWT role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JwtRole {
    /// Always `jwt`.
    pub role_type: String,
    /// The token's `aud` must contain one of these exactly (never empty, SEC-09).
    pub bound_audiences: Vec<String>,
    /// When set, the token's `sub` must equal it.
    pub bound_subject: String,
    /// Claim (name or JSON pointer) → a string or a list of strings; every claim must match.
    pub bound_claims: Map<String, Value>,
    /// `string` (exact) or `glob` (`*` wildcards).
    pub bound_claims_type: String,
    /// The claim that names the user (display name, identity alias).
    pub user_claim: String,
    /// `user_claim` is a JSON pointer.
    pub user_claim_json_pointer: bool,
    /// Claim → token metadata key.
    pub claim_mappings: BTreeMap<String, String>,
    /// When set, the claim must be a string or a list of strings.
    pub groups_claim: String,
    /// Leeway for `iat` and `auth_time`, seconds; 0 = 60, -1 = none.
    pub clock_skew_leeway: i64,
    /// Leeway for `exp`, seconds; 0 = 60, -1 = none.
    pub expiration_leeway: i64,
    /// Leeway for `nbf`, seconds; 0 = 60, -1 = none.
    pub not_before_leeway: i64,
    /// When set, `auth_time` must be at most this many seconds ago.
    pub max_age: i64,
    /// `default` or `service`.
    pub token_type: String,
    /// Settings of the tokens a login issues.
    pub token: TokenParams,
}

impl Default for JwtRole {
    fn default() -> Self {
        Self {
            role_type: "jwt".into(),
            bound_audiences: Vec::new(),
            bound_subject: String::new(),
            bound_claims: Map::new(),
            bound_claims_type: "string".into(),
            user_claim: String::new(),
            user_claim_json_pointer: false,
            claim_mappings: BTreeMap::new(),
            groups_claim: String::new(),
            clock_skew_leeway: 0,
            expiration_leeway: 0,
            not_before_leeway: 0,
            max_age: 0,
            token_type: "default".into(),
            token: TokenParams::default(),
        }
    }
}

impl Role for JwtRole {
    const WHAT: &'static str = "jwt role";

    fn kind(call: &Call<'_>) -> String {
        roles_kind(call)
    }

    fn describe(&self, _name: &str) -> Value {
        let mut m = token_fields(&self.token, &self.token_type);
        let more = json!({
            "role_type": self.role_type,
            "bound_audiences": self.bound_audiences,
            "bound_subject": self.bound_subject,
            "bound_claims": if self.bound_claims.is_empty() { Value::Null } else { Value::Object(self.bound_claims.clone()) },
            "bound_claims_type": self.bound_claims_type,
            "user_claim": self.user_claim,
            "user_claim_json_pointer": self.user_claim_json_pointer,
            "claim_mappings": if self.claim_mappings.is_empty() { Value::Null } else { json!(self.claim_mappings) },
            "groups_claim": self.groups_claim,
            "clock_skew_leeway": self.clock_skew_leeway,
            "expiration_leeway": self.expiration_leeway,
            "not_before_leeway": self.not_before_leeway,
            "max_age": self.max_age,
            "allowed_redirect_uris": Value::Null,
            "callback_mode": "client",
            "oauth2_metadata": Value::Null,
            "oidc_disable_confirmation": false,
            "oidc_scopes": Value::Null,
            "token_policies_template_claims": false,
            "verbose_oidc_logging": false,
        });
        if let Value::Object(more) = more {
            m.extend(more);
        }
        Value::Object(m)
    }

    /// Applies the fields present in `d` and checks the result.
    fn update(&mut self, d: &Map<String, Value>) -> Result<(), ApiError> {
        match params::str_field(d, "role_type")? {
            None | Some("jwt") => {}
            Some("oidc") => {
                return Err(ApiError::bad_request(
                    "role_type \"oidc\" is not supported: Coffer has no browser OIDC flow; use role_type \"jwt\"",
                ))
            }
            Some(_) => return Err(ApiError::bad_request("invalid 'role_type': only \"jwt\" is supported")),
        }
        if d.get("bound_audiences").is_some_and(|v| !v.is_null()) {
            self.bound_audiences = string_list(d, "bound_audiences")?;
        }
        if let Some(s) = params::str_field(d, "bound_subject")? {
            self.bound_subject = s.to_string();
        }
        if let Some(m) = params::map_field(d, "bound_claims")? {
            for (k, v) in &m {
                let ok = match v {
                    Value::String(_) => true,
                    Value::Array(items) => !items.is_empty() && items.iter().all(Value::is_string),
                    _ => false,
                };
                if k.is_empty() || !ok {
                    return Err(ApiError::bad_request(format!(
                        "bound_claims: the value of {k:?} must be a string or a non-empty list of strings"
                    )));
                }
            }
            self.bound_claims = m;
        }
        match params::str_field(d, "bound_claims_type")? {
            None => {}
            Some(t @ ("string" | "glob")) => self.bound_claims_type = t.to_string(),
            Some(_) => return Err(ApiError::bad_request("invalid 'bound_claims_type': use \"string\" or \"glob\"")),
        }
        if let Some(s) = params::str_field(d, "user_claim")? {
            self.user_claim = s.to_string();
        }
        if let Some(b) = params::bool_field(d, "user_claim_json_pointer")? {
            self.user_claim_json_pointer = b;
        }
        if let Some(m) = params::map_field(d, "claim_mappings")? {
            let mut mappings = BTreeMap::new();
            for (source, target) in &m {
                let Some(target) = target.as_str().filter(|t| !t.is_empty()) else {
                    return Err(ApiError::bad_request("claim_mappings: every value must be a metadata key (a string)"));
                };
                if source.is_empty() {
                    return Err(ApiError::bad_request("claim_mappings: claim names must not be empty"));
                }
                if target == "role" {
                    return Err(ApiError::bad_request(
                        "metadata key \"role\" is reserved and may not be set via claim mappings",
                    ));
                }
                if mappings.values().any(|t: &String| t == target) {
                    return Err(ApiError::bad_request(format!("multiple keys are mapped to metadata key {target:?}")));
                }
                mappings.insert(source.clone(), target.to_string());
            }
            self.claim_mappings = mappings;
        }
        if let Some(s) = params::str_field(d, "groups_claim")? {
            self.groups_claim = s.to_string();
        }
        for (key, slot) in [
            ("clock_skew_leeway", &mut self.clock_skew_leeway),
            ("expiration_leeway", &mut self.expiration_leeway),
            ("not_before_leeway", &mut self.not_before_leeway),
        ] {
            if let Some(v) = leeway_field(d, key)? {
                *slot = v;
            }
        }
        if let Some(v) = params::duration_field(d, "max_age")? {
            self.max_age = i64::try_from(v).map_err(|_| ApiError::bad_request("max_age is too large"))?;
        }
        self.token_type = token_type_field(d, &self.token_type)?;
        self.token.update(d)?;
        if self.user_claim.is_empty() {
            return Err(ApiError::bad_request("a user claim must be defined on the role"));
        }
        if self.bound_audiences.is_empty() || self.bound_audiences.iter().any(String::is_empty) {
            return Err(ApiError::bad_request(
                "bound_audiences must list at least one audience (Coffer requires every JWT role to bind its audience)",
            ));
        }
        Ok(())
    }
}

/// A leeway: a duration, or -1 for none.
fn leeway_field(d: &Map<String, Value>, key: &str) -> Result<Option<i64>, ApiError> {
    match d.get(key) {
        Some(Value::Number(n)) if n.as_i64() == Some(-1) => Ok(Some(-1)),
        Some(Value::String(s)) if s.trim() == "-1" => Ok(Some(-1)),
        _ => params::duration_field(d, key)?
            .map(|v| i64::try_from(v).map_err(|_| ApiError::bad_request(format!("{key} is too large"))))
            .transpose(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn good() -> Value {
        json!({"role_type": "jwt", "bound_audiences": ["coffer"], "user_claim": "sub",
               "bound_claims": {"repository": "acme/*"}, "bound_claims_type": "glob",
               "claim_mappings": {"ref": "git_ref"}, "token_policies": ["app"], "token_ttl": "15m"})
    }

    #[test]
    fn a_role_reads_back_like_openbao() {
        let mut r = JwtRole::default();
        r.update(&m(good())).unwrap();
        let d = r.describe("r");
        assert_eq!(d["bound_audiences"], json!(["coffer"]));
        assert_eq!(d["bound_claims"], json!({"repository": "acme/*"}));
        assert_eq!(d["claim_mappings"], json!({"ref": "git_ref"}));
        assert_eq!(d["token_ttl"], 900);
        assert_eq!(d["token_policies"], json!(["app"]));
        assert_eq!(d["role_type"], "jwt");
        assert_eq!(d["user_claim"], "sub");
    }

    #[test]
    fn user_claim_is_required() {
        let e = JwtRole::default().update(&m(json!({"bound_audiences": ["x"]}))).unwrap_err();
        assert_eq!(e.errors, vec!["a user claim must be defined on the role"]);
    }

    #[test]
    fn sec09_role_without_audiences_is_refused() {
        for aud in [json!(null), json!([]), json!(""), json!([""]), json!(["a", ""])] {
            let mut d = m(good());
            d.insert("bound_audiences".into(), aud.clone());
            assert!(JwtRole::default().update(&d).is_err(), "{aud}");
        }
    }

    #[test]
    fn oidc_roles_are_refused_clearly() {
        let mut d = m(good());
        d.insert("role_type".into(), json!("oidc"));
        let e = JwtRole::default().update(&d).unwrap_err();
        assert!(e.errors[0].contains("OIDC"), "{e:?}");
    }

    #[test]
    fn root_policy_in_any_spelling_is_refused() {
        for p in ["root", "ROOT", " Root "] {
            let mut d = m(good());
            d.insert("token_policies".into(), json!([p]));
            assert!(JwtRole::default().update(&d).is_err(), "{p}");
        }
    }

    #[test]
    fn bad_bound_claims_and_mappings_are_refused() {
        for (k, v) in [
            ("bound_claims", json!({"repository": 5})),
            ("bound_claims", json!({"repository": []})),
            ("bound_claims", json!({"repository": [1]})),
            // `k=v` and JSON strings are taken (D95); a pair without `=` or broken JSON is not.
            ("bound_claims", json!("repository")),
            ("bound_claims", json!("{\"repository\": ")),
            ("bound_claims_type", json!("regex")),
            ("claim_mappings", json!({"ref": "role"})),
            ("claim_mappings", json!({"a": "x", "b": "x"})),
            ("claim_mappings", json!({"a": 1})),
            ("expiration_leeway", json!("-5")),
        ] {
            let mut d = m(good());
            d.insert(k.into(), v.clone());
            assert!(JwtRole::default().update(&d).is_err(), "{k}: {v}");
        }
    }

    #[test]
    fn updates_keep_what_is_not_sent() {
        let mut r = JwtRole::default();
        r.update(&m(good())).unwrap();
        r.update(&m(json!({"bound_subject": "x", "expiration_leeway": -1, "not_before_leeway": "2m"}))).unwrap();
        assert_eq!(r.bound_audiences, vec!["coffer"]);
        assert_eq!(r.user_claim, "sub");
        assert_eq!(r.bound_subject, "x");
        assert_eq!(r.expiration_leeway, -1);
        assert_eq!(r.not_before_leeway, 120);
    }
}
