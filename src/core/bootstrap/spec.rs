//! The bootstrap file: TOML whose tables are the API's request bodies, keyed by the object's
//! name, read and checked as a whole before anything is applied. Every problem is reported,
//! each naming the table and the field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::base::names::{self, Case};

/// What kind of object a table describes. The order is the order creations are applied in
/// (deletions run in reverse): audit devices first, so that everything after is on record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `sys/audit/<name>`.
    Audit,
    /// `sys/policies/password/<name>`.
    PasswordPolicy,
    /// `sys/policies/acl/<name>`.
    Policy,
    /// `sys/mounts/<path>`.
    Mount,
    /// `sys/auth/<path>`.
    Auth,
    /// `auth/<mount>/config` of a JWT auth method.
    JwtConfig,
    /// `auth/<mount>/role/<name>` of an AppRole auth method.
    ApproleRole,
    /// `auth/<mount>/role/<name>` of a JWT auth method.
    JwtRole,
    /// `<mount>/rotation/<path>` of a KV v2 secret.
    Rotation,
}

impl Kind {
    /// As plan lines and log lines name it.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Audit => "audit device",
            Kind::PasswordPolicy => "password policy",
            Kind::Policy => "policy",
            Kind::Mount => "mount",
            Kind::Auth => "auth method",
            Kind::JwtConfig => "jwt config",
            Kind::ApproleRole => "approle role",
            Kind::JwtRole => "jwt role",
            Kind::Rotation => "rotation",
        }
    }

    /// The table of the file that holds this kind.
    pub fn section(self) -> &'static str {
        match self {
            Kind::Audit => "audit",
            Kind::PasswordPolicy => "password_policies",
            Kind::Policy => "policies",
            Kind::Mount => "mounts",
            Kind::Auth => "auth",
            Kind::JwtConfig => "jwt_config",
            Kind::ApproleRole => "approle_roles",
            Kind::JwtRole => "jwt_roles",
            Kind::Rotation => "rotations",
        }
    }
}

/// One object the file asks for.
#[derive(Debug, Clone)]
pub struct Desired {
    /// Its kind.
    pub kind: Kind,
    /// Its name in normal form: `secret/` for a mount, `approle/web` for a role, `secret/db/app`
    /// for a rotation (mount, then the secret's path).
    pub name: String,
    /// The table it came from, as `approle_roles.approle.web` (for messages).
    pub table: String,
    /// For roles, JWT configs and rotations: the mount (normal form, `approle/`).
    pub mount: Option<String>,
    /// For roles and rotations: the role name or the secret's path.
    pub item: String,
    /// The API request body (without `adopt`).
    pub body: Map<String, Value>,
    /// An object of this name made through the API may be taken over.
    pub adopt: bool,
}

/// The whole file, checked.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// Every object, in apply order.
    pub objects: Vec<Desired>,
}

type Table = Map<String, Value>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    audit: BTreeMap<String, Table>,
    #[serde(default)]
    password_policies: BTreeMap<String, Table>,
    #[serde(default)]
    policies: BTreeMap<String, Table>,
    #[serde(default)]
    mounts: BTreeMap<String, Table>,
    #[serde(default)]
    auth: BTreeMap<String, Table>,
    #[serde(default)]
    jwt_config: BTreeMap<String, Table>,
    #[serde(default)]
    approle_roles: BTreeMap<String, BTreeMap<String, Table>>,
    #[serde(default)]
    jwt_roles: BTreeMap<String, BTreeMap<String, Table>>,
    #[serde(default)]
    rotations: BTreeMap<String, BTreeMap<String, Table>>,
}

/// Mount paths the file may not name: the built-in mounts.
const RESERVED_MOUNTS: &[&str] = &["sys/", "cubbyhole/", "identity/", "auth/"];

/// Reads and checks the file at `path`: every problem, each naming the table and field.
pub fn load(path: &std::path::Path) -> Result<Spec, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("bootstrap file {}: cannot read it: {e}", path.display())])?;
    parse(&text).map_err(|errs| errs.into_iter().map(|e| format!("bootstrap file {}: {e}", path.display())).collect())
}

/// Parses and checks the text of a bootstrap file.
pub fn parse(text: &str) -> Result<Spec, Vec<String>> {
    let raw: RawFile = toml::from_str(text).map_err(|e| vec![e.to_string().trim_end().replace('\n', " ")])?;
    let mut errors = Vec::new();
    let mut objects = Vec::new();
    let mut add =
        |kind: Kind, table: String, name: Result<String, String>, mount: Option<String>, item: String, body: &Table| {
            match take_body(&table, body).and_then(|(b, adopt)| name.map(|n| (n, b, adopt))) {
                Ok((name, body, adopt)) => objects.push(Desired { kind, name, table, mount, item, body, adopt }),
                Err(e) => errors.push(e),
            }
        };
    for (name, body) in &raw.audit {
        let table = format!("audit.{}", quoted(name));
        let n = if name.is_empty() || name.contains('/') || names::problem(name, Case::Exact).is_some() {
            Err(format!("{table}: an audit device name is one path segment (letters, digits, '-', '_', '.')"))
        } else {
            Ok(name.clone())
        };
        add(Kind::Audit, table, n, None, String::new(), body);
    }
    for (name, body) in &raw.password_policies {
        let table = format!("password_policies.{}", quoted(name));
        let n = names::check("password policy name", name, Case::Exact)
            .map(str::to_string)
            .map_err(|e| format!("{table}: {}", e.errors.join("; ")));
        add(Kind::PasswordPolicy, table, n, None, String::new(), body);
    }
    for (name, body) in &raw.policies {
        let table = format!("policies.{}", quoted(name));
        let n = crate::core::policy_store::checked_name(name)
            .map_err(|e| format!("{table}: {}", e.errors.join("; ")))
            .and_then(|n| match n.as_str() {
                "root" | crate::core::wrapping::WRAPPING_POLICY => {
                    Err(format!("{table}: the {n:?} policy is built in and cannot be written"))
                }
                _ => Ok(n),
            });
        add(Kind::Policy, table, n, None, String::new(), body);
    }
    for (path, body) in &raw.mounts {
        let table = format!("mounts.{}", quoted(path));
        let n = mount_name(&table, path).and_then(|p| {
            if RESERVED_MOUNTS.iter().any(|r| p.starts_with(r)) {
                Err(format!("{table}: {p:?} is reserved for a built-in mount"))
            } else {
                Ok(p)
            }
        });
        add(Kind::Mount, table, n, None, String::new(), body);
    }
    for (path, body) in &raw.auth {
        let table = format!("auth.{}", quoted(path));
        let n = mount_name(&table, path).and_then(|p| {
            if p == "token/" {
                Err(format!("{table}: \"token/\" is built in"))
            } else {
                Ok(p)
            }
        });
        add(Kind::Auth, table, n, None, String::new(), body);
    }
    for (path, body) in &raw.jwt_config {
        let table = format!("jwt_config.{}", quoted(path));
        let n = mount_name(&table, path);
        let mount = n.as_ref().ok().cloned();
        add(Kind::JwtConfig, table, n, mount, String::new(), body);
    }
    for (kind, section, roles) in
        [(Kind::ApproleRole, "approle_roles", &raw.approle_roles), (Kind::JwtRole, "jwt_roles", &raw.jwt_roles)]
    {
        for (path, inner) in roles {
            for (role, body) in inner {
                let table = format!("{section}.{}.{}", quoted(path), quoted(role));
                let mount = mount_name(&table, path);
                let role_ok = names::check("role name", role, Case::Lower)
                    .map(str::to_string)
                    .map_err(|e| format!("{table}: {}", e.errors.join("; ")));
                let n = mount.clone().and_then(|m| role_ok.map(|r| format!("{m}{r}")));
                add(kind, table, n, mount.ok(), role.clone(), body);
            }
        }
    }
    for (path, inner) in &raw.rotations {
        for (secret, body) in inner {
            let table = format!("rotations.{}.{}", quoted(path), quoted(secret));
            let mount = mount_name(&table, path);
            let secret_ok = if secret.is_empty() || secret.ends_with('/') || secret.starts_with('/') {
                Err(format!("{table}: a secret path must not be empty, start or end with '/'"))
            } else {
                Ok(secret.clone())
            };
            let n = mount.clone().and_then(|m| secret_ok.map(|s| format!("{m}{s}")));
            add(Kind::Rotation, table, n, mount.ok(), secret.clone(), body);
        }
    }
    for o in &objects {
        check_object(o, &objects, &mut errors);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    objects.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    Ok(Spec { objects })
}

/// A key as TOML would need it written.
fn quoted(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

fn mount_name(table: &str, path: &str) -> Result<String, String> {
    names::mount_path(path).map_err(|e| format!("{table}: {}", e.errors.join("; ")))
}

/// The body without `adopt`, and `adopt`.
fn take_body(table: &str, body: &Table) -> Result<(Table, bool), String> {
    let mut body = body.clone();
    let adopt = match body.remove("adopt") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(format!("{table}.adopt: must be true or false")),
    };
    Ok((body, adopt))
}

fn text_field<'a>(o: &'a Desired, key: &str, errors: &mut Vec<String>) -> Option<&'a str> {
    match o.body.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
        Some(Value::String(_)) | None => {
            errors.push(format!("{}.{key}: missing (required)", o.table));
            None
        }
        Some(_) => {
            errors.push(format!("{}.{key}: must be a string", o.table));
            None
        }
    }
}

/// The checks that need no server: required fields, policy texts, and that every role and
/// rotation names a mount the file declares with the right type (or leaves to the server).
fn check_object(o: &Desired, all: &[Desired], errors: &mut Vec<String>) {
    match o.kind {
        Kind::Audit => {
            text_field(o, "type", errors);
        }
        Kind::Mount | Kind::Auth => {
            text_field(o, "type", errors);
            for key in ["config", "options"] {
                if o.body.get(key).is_some_and(|v| !v.is_object()) {
                    errors.push(format!("{}.{key}: must be a table", o.table));
                }
            }
        }
        Kind::Policy => {
            if let Some(text) = text_field(o, "policy", errors) {
                if let Err(e) = crate::base::policy::Policy::parse(&o.name, text) {
                    errors.push(format!("{}.policy: {e}", o.table));
                }
            }
        }
        Kind::PasswordPolicy => {
            if let Some(raw) = text_field(o, "policy", errors) {
                let text = crate::core::password_policy::policy_text(raw);
                if let Err(e) = crate::core::password_policy::PasswordPolicy::parse(&text) {
                    errors.push(format!("{}.policy: invalid password policy: {e}", o.table));
                }
            }
        }
        Kind::JwtConfig | Kind::ApproleRole | Kind::JwtRole => {
            let want = if o.kind == Kind::ApproleRole { "approle" } else { "jwt" };
            check_mount_type(o, all, Kind::Auth, want, errors);
        }
        Kind::Rotation => {
            check_mount_type(o, all, Kind::Mount, "kv", errors);
            text_field(o, "schedule", errors);
            match o.body.get("rotator") {
                Some(Value::Object(r)) if r.get("type").is_some_and(Value::is_string) => {}
                Some(Value::Object(_)) => errors.push(format!("{}.rotator.type: missing (required)", o.table)),
                Some(_) => errors.push(format!("{}.rotator: must be a table", o.table)),
                None => errors.push(format!("{}.rotator: missing (required)", o.table)),
            }
        }
    }
}

/// A mount the file declares for `o` must have type `want`; one it does not declare is checked
/// against the server by the plan.
fn check_mount_type(o: &Desired, all: &[Desired], kind: Kind, want: &str, errors: &mut Vec<String>) {
    let Some(mount) = &o.mount else { return };
    if let Some(m) = all.iter().find(|m| m.kind == kind && &m.name == mount) {
        let ty = m.body.get("type").and_then(Value::as_str).unwrap_or("");
        let ty = if ty == "kv-v2" { "kv" } else { ty };
        if ty != want {
            errors.push(format!("{}: {}.{} has type {ty:?}, not {want:?}", o.table, kind.section(), quoted(mount)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_come_in_apply_order_with_normal_names() {
        let spec = parse(
            r#"
            [rotations.secret."db/app"]
            schedule = "rate(30 days)"
            rotator = { type = "password", policy = "db" }
            [mounts.secret]
            type = "kv"
            options = { version = "2" }
            [policies.app]
            policy = 'path "secret/*" { capabilities = ["read"] }'
            [audit.file]
            type = "file"
            options = { file_path = "stdout" }
            [auth.approle]
            type = "approle"
            [approle_roles.approle.web]
            token_policies = ["app"]
            adopt = true
            "#,
        )
        .unwrap();
        let names: Vec<_> = spec.objects.iter().map(|o| (o.kind, o.name.as_str())).collect();
        assert_eq!(
            names,
            [
                (Kind::Audit, "file"),
                (Kind::Policy, "app"),
                (Kind::Mount, "secret/"),
                (Kind::Auth, "approle/"),
                (Kind::ApproleRole, "approle/web"),
                (Kind::Rotation, "secret/db/app"),
            ]
        );
        let role = &spec.objects[4];
        assert!(role.adopt && !role.body.contains_key("adopt"));
    }

    #[test]
    fn every_problem_is_named_with_its_table_and_field() {
        let errs = parse(
            r#"
            [policies.app]
            policy = 'path "x" { capabilities = ["reed"] }'
            [mounts.secret]
            description = "no type"
            [mounts.sys]
            type = "kv"
            [approle_roles.jwt.web]
            token_policies = ["app"]
            [auth.jwt]
            type = "jwt"
            [password_policies.db]
            policy = "length = 0"
            [rotations.secret.x]
            schedule = "1h"
            "#,
        )
        .unwrap_err();
        let all = errs.join("\n");
        for want in [
            "policies.app.policy: failed to parse policy",
            "mounts.secret.type: missing",
            "mounts.sys: \"sys/\" is reserved",
            "approle_roles.jwt.web: auth.\"jwt/\" has type \"jwt\", not \"approle\"",
            "password_policies.db.policy: invalid password policy",
            "rotations.secret.x.rotator: missing",
        ] {
            assert!(all.contains(want), "{want:?} not in:\n{all}");
        }
    }

    #[test]
    fn unknown_tables_and_bad_toml_are_refused() {
        assert!(parse("[polices.app]\npolicy = \"x\"").is_err());
        let e = parse("[policies.app\n").unwrap_err();
        assert!(e[0].contains("line 1"), "{e:?}");
        assert!(parse("[policies.app]\npolicy = 'path \"a\" { capabilities = [\"read\"] }'\nadopt = 1").unwrap_err()
            [0]
        .contains("policies.app.adopt"));
    }
}
