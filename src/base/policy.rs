//! ACL policies (API-CONTRACT §3): capabilities, a parsed policy, policy names; the merged `Acl`
//! that answers authorisation questions lives in `acl`, path patterns in `pattern`.

mod acl;
#[cfg(test)]
pub(crate) mod model_tests;
mod parse;
mod pattern;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

pub use acl::{Acl, Cause, Denied, Found, Grant, Lookup, Rule, Source, Verdict};
pub use pattern::{path_problem, request_path_problem, MAX_PATH_BYTES};

use pattern::Pattern;

/// One capability a policy rule can grant (API-CONTRACT §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Write where nothing exists yet.
    Create,
    /// GET.
    Read,
    /// Write over something that exists, or on paths without an existence check.
    Update,
    /// HTTP PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// LIST.
    List,
    /// Also required on root-protected paths (§2.12).
    Sudo,
    /// Overrides every other capability, sudo included.
    Deny,
    /// Vault's event subscriptions; accepted so Vault policies load.
    Subscribe,
    /// OpenBao's recursive list.
    Scan,
}

impl Capability {
    /// Every capability, in alphabetical order of its name.
    pub const ALL: [Capability; 10] = [
        Capability::Create,
        Capability::Delete,
        Capability::Deny,
        Capability::List,
        Capability::Patch,
        Capability::Read,
        Capability::Scan,
        Capability::Subscribe,
        Capability::Sudo,
        Capability::Update,
    ];

    /// The lowercase name used in policies and in `sys/capabilities` answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Create => "create",
            Capability::Read => "read",
            Capability::Update => "update",
            Capability::Patch => "patch",
            Capability::Delete => "delete",
            Capability::List => "list",
            Capability::Sudo => "sudo",
            Capability::Deny => "deny",
            Capability::Subscribe => "subscribe",
            Capability::Scan => "scan",
        }
    }

    fn bit(self) -> u16 {
        match self {
            Capability::Create => 1,
            Capability::Read => 1 << 1,
            Capability::Update => 1 << 2,
            Capability::Patch => 1 << 3,
            Capability::Delete => 1 << 4,
            Capability::List => 1 << 5,
            Capability::Sudo => 1 << 6,
            Capability::Deny => 1 << 7,
            Capability::Subscribe => 1 << 8,
            Capability::Scan => 1 << 9,
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = String;

    /// Parses an exact lowercase name; both `subscribe` (Vault) and `scan` (OpenBao) are accepted.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| format!("invalid capability {s:?}"))
    }
}

const DENY_BIT: u16 = 1 << 7;
const ROOT_BIT: u16 = 1 << 15;

/// A set of capabilities. A set holding `deny` holds nothing else; the root set holds everything.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Capabilities(u16);

impl Capabilities {
    /// The empty set (no rule matched).
    pub const fn empty() -> Self {
        Capabilities(0)
    }

    /// The explicit-deny set.
    pub const fn deny() -> Self {
        Capabilities(DENY_BIT)
    }

    /// What a root token holds: every capability, sudo included.
    pub const fn root() -> Self {
        Capabilities(ROOT_BIT)
    }

    /// Adds one capability; adding `deny` drops everything else, and nothing is added to a deny set.
    pub fn insert(&mut self, c: Capability) {
        *self = self.union(Capabilities(c.bit()));
    }

    /// The union of two sets, where `deny` in either wins (API-CONTRACT §3.4 rule 1).
    pub fn union(self, other: Capabilities) -> Capabilities {
        if self.is_denied() || other.is_denied() {
            Capabilities::deny()
        } else {
            Capabilities(self.0 | other.0)
        }
    }

    /// True if the set grants `c` (for `Capability::Deny`: if it is an explicit deny).
    pub fn contains(&self, c: Capability) -> bool {
        match c {
            Capability::Deny => self.is_denied(),
            _ if self.is_root() => true,
            _ => !self.is_denied() && self.0 & c.bit() != 0,
        }
    }

    /// True for an explicit `deny`.
    pub fn is_denied(&self) -> bool {
        self.0 & DENY_BIT != 0
    }

    /// True for the root set.
    pub fn is_root(&self) -> bool {
        self.0 & ROOT_BIT != 0
    }

    /// True if the set grants nothing: no rule matched, the rule granted nothing, or it denies.
    pub fn is_empty(&self) -> bool {
        !self.is_root() && (self.is_denied() || self.0 == 0)
    }

    /// The names `sys/capabilities` answers with (§2.9): sorted; `["deny"]` when nothing is
    /// granted; `["root"]` for root.
    pub fn names(&self) -> Vec<&'static str> {
        if self.is_root() {
            return vec!["root"];
        }
        if self.is_empty() {
            return vec!["deny"];
        }
        Capability::ALL.into_iter().filter(|c| self.0 & c.bit() != 0).map(Capability::as_str).collect()
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut set = Capabilities::empty();
        for c in iter {
            set.insert(c);
        }
        set
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Capabilities{:?}", self.names())
    }
}

/// What one path rule grants and the constraints it puts on requests (API-CONTRACT §3.1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Permissions {
    /// The granted capabilities.
    pub capabilities: Capabilities,
    /// Parameter name (lowercase) → allowed values; `[]` allows any value, the key `*` any name.
    pub allowed_parameters: BTreeMap<String, Vec<Value>>,
    /// Parameter name (lowercase) → denied values; `[]` denies any value, the key `*` every name.
    pub denied_parameters: BTreeMap<String, Vec<Value>>,
    /// Parameters a write must carry.
    pub required_parameters: Vec<String>,
    /// Smallest response-wrapping TTL a request must ask for, in seconds.
    pub min_wrapping_ttl: Option<u64>,
    /// Largest response-wrapping TTL a request may ask for, in seconds.
    pub max_wrapping_ttl: Option<u64>,
}

/// One `path "…" { … }` block of a policy.
#[derive(Debug, Clone)]
pub struct PathRule {
    /// The pattern as written in the policy.
    pub path: String,
    /// What the block grants.
    pub permissions: Permissions,
    pattern: Pattern,
}

/// A parsed ACL policy: its name, its source text (handed back exactly as sent), its rules.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The policy name (already checked by the caller, see [`check_name`]).
    pub name: String,
    /// The source text, HCL or JSON.
    pub raw: String,
    rules: Vec<PathRule>,
}

/// Vault's built-in `default` policy, as OpenBao 2.7.2 returns it (API-CONTRACT §3.6).
pub const DEFAULT_POLICY: &str = r#"
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own entity by id or name
path "identity/entity/id/{{identity.entity.id}}" {
  capabilities = ["read"]
}
path "identity/entity/name/{{identity.entity.name}}" {
  capabilities = ["read"]
}


# Allow a token to look up its resultant ACL from all policies. This is useful
# for UIs. It is an internal path because the format may change at any time
# based on how the internal ACL features and capabilities change.
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Allow a token to renew a lease via lease_id in the request body; old path for
# old clients, new path for newer
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties. This requires knowing the lease ID ahead
# of time and does not divulge any sensitive information.
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a given
# response-wrapping token
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token. This is a convenience to
# avoid client token swapping since this is also part of the response wrapping
# policy.
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Allow general purpose tools
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# Allow a token to make requests to the Authorization Endpoint for OIDC providers.
path "identity/oidc/provider/+/authorize" {
    capabilities = ["read", "update"]
}
"#;

impl Policy {
    /// Parses HCL or JSON policy text (JSON when the first non-blank character is `{`). Errors
    /// read like Vault's: `failed to parse policy: path "x": path "x": invalid capability "reed"`.
    pub fn parse(name: &str, text: &str) -> Result<Policy, String> {
        let rules = parse::rules(text).map_err(|e| format!("failed to parse policy: {e}"))?;
        Ok(Policy { name: name.to_string(), raw: text.to_string(), rules })
    }

    /// The built-in `default` policy.
    pub fn default_policy() -> Policy {
        // The text is a constant that a unit test parses; an empty rule list is the fail-closed
        // fallback that keeps this function free of panics.
        Policy::parse("default", DEFAULT_POLICY).unwrap_or_else(|_| Policy {
            name: "default".to_string(),
            raw: DEFAULT_POLICY.to_string(),
            rules: Vec::new(),
        })
    }

    /// The rules, in source order.
    pub fn rules(&self) -> &[PathRule] {
        &self.rules
    }
}

/// Checks a policy name: Vault's name pattern (`names`), lower-case, since Vault lower-cases
/// policy names. A name in any other spelling is refused, never rewritten (SEC-33).
pub fn check_name(name: &str) -> Result<&str, String> {
    match crate::base::names::problem(name, crate::base::names::Case::Lower) {
        None => Ok(name),
        Some(why) => Err(format!("invalid policy name: the name {why}")),
    }
}

/// [`check_name`], returning the name owned. Nothing is normalised any more: the name comes back
/// exactly as given or is refused (the old name is kept for its callers).
pub fn normalize_name(name: &str) -> Result<String, String> {
    check_name(name).map(str::to_string)
}

/// True for default-ignorable characters that render as nothing.
fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

/// True if `name` is `root` in any spelling: any case, surrounding whitespace, full-width or
/// other compatibility forms, or with invisible characters inside (SEC-05). Such spellings are
/// refused as names anyway; this check gives them the clearer "root" answer first.
pub fn is_root_name(name: &str) -> bool {
    use unicode_normalization::UnicodeNormalization;
    let visible: String = name.chars().filter(|c| !c.is_control() && !is_invisible(*c)).collect();
    visible.nfkc().collect::<String>().to_lowercase().trim() == "root"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names_round_trip() {
        for c in Capability::ALL {
            assert_eq!(c.to_string().parse::<Capability>(), Ok(c));
        }
        assert_eq!("reed".parse::<Capability>(), Err("invalid capability \"reed\"".to_string()));
        assert!("READ".parse::<Capability>().is_err());
    }

    #[test]
    fn capability_sets() {
        let set: Capabilities = [Capability::Update, Capability::Read, Capability::Create].into_iter().collect();
        assert_eq!(set.names(), ["create", "read", "update"]);
        assert!(set.contains(Capability::Read) && !set.contains(Capability::Sudo) && !set.contains(Capability::Deny));
        assert!(!set.is_empty());

        let denied = set.union(Capabilities::deny());
        assert_eq!(denied.names(), ["deny"]);
        assert!(denied.contains(Capability::Deny) && !denied.contains(Capability::Read) && denied.is_empty());
        let mut d = Capabilities::deny();
        d.insert(Capability::Read);
        assert_eq!(d, Capabilities::deny());

        assert_eq!(Capabilities::empty().names(), ["deny"]);
        assert!(Capabilities::empty().is_empty() && !Capabilities::empty().contains(Capability::Deny));

        let root = Capabilities::root();
        assert_eq!(root.names(), ["root"]);
        assert!(root.contains(Capability::Sudo) && !root.contains(Capability::Deny) && !root.is_empty());

        let all: Capabilities = Capability::ALL.into_iter().filter(|c| *c != Capability::Deny).collect();
        assert_eq!(all.names(), ["create", "delete", "list", "patch", "read", "scan", "subscribe", "sudo", "update"]);
    }

    #[test]
    fn default_policy_parses_and_grants_what_section_3_6_lists() {
        let p = Policy::default_policy();
        assert_eq!(p.name, "default");
        assert_eq!(p.raw, DEFAULT_POLICY);
        assert_eq!(p.rules().len(), 16);
        assert!(Policy::parse("default", DEFAULT_POLICY).is_ok());
        let acl = Acl::new(&[std::sync::Arc::new(p)]);
        assert_eq!(acl.capabilities("auth/token/lookup-self").names(), ["read"]);
        assert_eq!(acl.capabilities("sys/capabilities-self").names(), ["update"]);
        assert_eq!(acl.capabilities("cubbyhole/x/y").names(), ["create", "delete", "list", "read", "update"]);
        assert_eq!(acl.capabilities("sys/tools/hash/sha2-256").names(), ["update"]);
        assert_eq!(acl.capabilities("identity/oidc/provider/p/authorize").names(), ["read", "update"]);
        assert_eq!(acl.capabilities("secret/data/x").names(), ["deny"]);
        // Identity templates are not resolved: the templated rules match nothing.
        assert_eq!(acl.capabilities("identity/entity/id/{{identity.entity.id}}").names(), ["deny"]);
    }

    #[test]
    fn sec33_policy_names_are_checked_never_rewritten() {
        assert_eq!(check_name("app-team"), Ok("app-team"));
        assert_eq!(normalize_name("app.team@corp_1").as_deref(), Ok("app.team@corp_1"));
        for bad in
            ["", "   ", "  App-Team ", "App", "ＡＰＰ", "a/b", "a b", "a\nb", "a\u{0}b", "ro\u{200b}ot", "-a", "a."]
        {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_name("Admin"), Err("invalid policy name: the name must be lower-case".to_string()));
    }

    #[test]
    fn root_in_every_spelling() {
        for n in ["root", "ROOT", " Root ", "\troot\n", "ｒｏｏｔ", "ＲＯＯＴ", "ro\u{200b}ot", "\u{feff}root"]
        {
            assert!(is_root_name(n), "{n:?}");
        }
        for n in ["roots", "r00t", "admin", "", "ro ot"] {
            assert!(!is_root_name(n), "{n:?}");
        }
        assert!(normalize_name(" ＲOOT").is_err());
    }
}
