//! Token identity and templated policy paths: a login records who logged in (auth mount, alias
//! name, metadata the operator or the identity provider controls), and policies may name parts of
//! it with Vault's `{{identity.entity…}}` templates, so one policy gives every app its own subtree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Who a token belongs to, set only by an auth method's login (SEC-08: nothing the caller can
/// write later, such as token `meta`, is part of it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Accessor of the auth mount that logged the caller in (`approle_1a2b3c4d`).
    pub mount_accessor: String,
    /// The alias name: the userpass user, the AppRole role, the JWT `user_claim`.
    pub name: String,
    /// Metadata from the auth method (AppRole role name, mapped JWT claims).
    pub metadata: BTreeMap<String, String>,
}

impl Identity {
    /// A stable id for this alias: the same user on the same mount always gets the same id.
    pub fn entity_id(&self) -> String {
        let digest = Sha256::digest(format!("{}\u{0}{}", self.mount_accessor, self.name).as_bytes());
        let h = hex::encode(digest.iter().take(16).copied().collect::<Vec<u8>>());
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }

    /// The value of one template expression (without the braces), if it names something known.
    pub fn resolve(&self, expr: &str) -> Option<String> {
        let e = expr.trim();
        let value = match e {
            "identity.entity.id" => Some(self.entity_id()),
            "identity.entity.name" => Some(self.name.clone()),
            _ => {
                if let Some(key) = e.strip_prefix("identity.entity.metadata.") {
                    self.metadata.get(key).cloned()
                } else if let Some(rest) = e.strip_prefix("identity.entity.aliases.") {
                    let (accessor, field) = rest.split_once('.')?;
                    if accessor != self.mount_accessor {
                        return None;
                    }
                    match field {
                        "name" => Some(self.name.clone()),
                        f => f.strip_prefix("metadata.").and_then(|k| self.metadata.get(k).cloned()),
                    }
                } else {
                    None
                }
            }
        }?;
        safe_segment(&value).then_some(value)
    }
}

/// Only plain segments may enter a policy path: no globs, separators, dots-only or quoting.
fn safe_segment(v: &str) -> bool {
    !v.is_empty()
        && v != "."
        && v != ".."
        && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
}

/// Replaces every resolvable `{{…}}` in a policy's text. Unresolvable ones stay, and a rule that
/// still holds a template matches nothing.
pub fn render(text: &str, identity: Option<&Identity>) -> String {
    let Some(id) = identity else { return text.to_string() };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else { break };
        out.push_str(&rest[..start]);
        let expr = &rest[start + 2..start + 2 + len];
        match id.resolve(expr) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..start + 4 + len]),
        }
        rest = &rest[start + 4 + len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> Identity {
        Identity {
            mount_accessor: "approle_1234".into(),
            name: name.into(),
            metadata: BTreeMap::from([("role_name".to_string(), name.to_string())]),
        }
    }

    #[test]
    fn templates_resolve_from_the_identity() {
        let t = "path \"secret/data/{{identity.entity.name}}/*\" {} path \"x/{{identity.entity.aliases.approle_1234.metadata.role_name}}\" {}";
        let r = render(t, Some(&id("billing")));
        assert_eq!(r, "path \"secret/data/billing/*\" {} path \"x/billing\" {}");
        assert_eq!(id("a").entity_id(), id("a").entity_id());
        assert_ne!(id("a").entity_id(), id("b").entity_id());
        assert_eq!(id("a").entity_id().len(), 36);
    }

    #[test]
    fn unsafe_or_unknown_values_stay_unresolved() {
        for bad in ["*", "a/b", "..", "a+b", "x\"y", "", "a b"] {
            let r = render("p/{{identity.entity.name}}", Some(&id(bad)));
            assert_eq!(r, "p/{{identity.entity.name}}", "{bad:?}");
        }
        assert_eq!(
            render("p/{{identity.entity.metadata.nope}}", Some(&id("a"))),
            "p/{{identity.entity.metadata.nope}}"
        );
        assert_eq!(
            render("p/{{identity.entity.aliases.other_1.name}}", Some(&id("a"))),
            "p/{{identity.entity.aliases.other_1.name}}"
        );
        assert_eq!(render("p/{{identity.entity.name}}", None), "p/{{identity.entity.name}}");
        assert_eq!(render("p/{{unclosed", Some(&id("a"))), "p/{{unclosed");
    }
}
