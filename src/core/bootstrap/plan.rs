//! What applying the file would change: the store is read through the request pipeline (as the
//! caller of a plan, or as bootstrap itself), each object of the file is compared with what the
//! read shows, and each managed object the file no longer names is to be deleted. An object the
//! file names that exists but was made through the API is a conflict unless the file says
//! `adopt = true`; a conflict, like any problem found here, stops the whole plan.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::compare;
use super::managed::{self, Managed};
use super::spec::{Desired, Kind, Spec};
use crate::base::logical::Operation;
use crate::core::tokens::TokenEntry;
use crate::core::Core;

/// What happens to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Made from the file.
    Create,
    /// Changed to match the file.
    Update,
    /// Managed, and no longer in the file.
    Delete,
    /// Made through the API, taken over as it is (`adopt = true`, nothing differs).
    Adopt,
    /// Dropped from the record only (gone already, or it cannot be deleted).
    Forget,
    /// Not applied yet (a rotation whose secret does not exist).
    Wait,
}

/// One logical request of a change.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its operation.
    pub op: Operation,
    /// Its path.
    pub path: String,
    /// Its body.
    pub body: Option<Map<String, Value>>,
}

/// One change to one object.
#[derive(Debug, Clone)]
pub struct Change {
    /// What happens.
    pub action: Action,
    /// The object's kind.
    pub kind: Kind,
    /// The object's name.
    pub name: String,
    /// The file's table (empty for a delete).
    pub table: String,
    /// The fields that differ (an update).
    pub fields: Vec<String>,
    /// Why, when not plain.
    pub note: String,
    /// The requests that make it.
    pub steps: Vec<Step>,
    /// The digest to record (creations, updates and adoptions).
    pub digest: String,
}

impl Change {
    /// One line, as the plan prints it: `update approle role approle/web (token_ttl)`.
    pub fn line(&self) -> String {
        let verb = serde_json::to_value(self.action).ok().and_then(|v| v.as_str().map(str::to_string));
        let mut line = format!("{} {} {}", verb.unwrap_or_default(), self.kind.label(), self.name);
        if !self.fields.is_empty() {
            line.push_str(&format!(" ({})", self.fields.join(", ")));
        }
        if !self.note.is_empty() {
            line.push_str(&format!(": {}", self.note));
        }
        line
    }

    /// As `sys/bootstrap/plan` answers it (field names, never values).
    pub fn describe(&self) -> Value {
        json!({
            "action": self.action,
            "kind": self.kind,
            "name": self.name,
            "fields": self.fields,
            "note": self.note,
            "line": self.line(),
        })
    }

    /// Whether applying it writes an object (not only the record).
    pub fn writes(&self) -> bool {
        !self.steps.is_empty()
    }
}

/// The store as the plan sees it.
struct Live<'a> {
    core: &'a Core,
    who: &'a Arc<TokenEntry>,
    mounts: Map<String, Value>,
    auth: Map<String, Value>,
    audit: Map<String, Value>,
}

fn object(v: Option<Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

impl Live<'_> {
    async fn read(&self, path: &str) -> Result<Option<Map<String, Value>>, String> {
        match super::call(self.core, self.who, Operation::Read, path, None).await {
            Ok(v) => Ok(v.map(|v| object(Some(v)))),
            Err(e) => Err(format!("reading {path}: {}", e.errors.join("; "))),
        }
    }

    /// The type of the mount at `path` in `table` (`mounts` or `auth`), if there is one.
    fn mount_type(&self, kind: Kind, path: &str) -> Option<String> {
        let table = if kind == Kind::Auth { &self.auth } else { &self.mounts };
        table.get(path).map(|m| m.get("type").and_then(Value::as_str).unwrap_or("").to_string())
    }

    /// What the store holds for `kind` `name` (`mount` for the objects under one).
    async fn current(
        &self,
        kind: Kind,
        name: &str,
        mount: Option<&str>,
        item: &str,
    ) -> Result<Option<Map<String, Value>>, String> {
        let under = |want: Kind| mount.filter(|m| self.mount_type(want, m).is_some());
        Ok(match kind {
            Kind::Mount => self.mounts.get(name).map(|v| object(Some(v.clone()))),
            Kind::Auth => self.auth.get(name).map(|v| object(Some(v.clone()))),
            Kind::Audit => self.audit.get(&format!("{name}/")).map(|v| object(Some(v.clone()))),
            Kind::Policy => self.read(&format!("sys/policies/acl/{name}")).await?,
            Kind::PasswordPolicy => self.read(&format!("sys/policies/password/{name}")).await?,
            Kind::JwtConfig => match under(Kind::Auth) {
                Some(m) => self.read(&format!("auth/{m}config")).await?,
                None => None,
            },
            Kind::ApproleRole | Kind::JwtRole => match under(Kind::Auth) {
                Some(m) => self.read(&format!("auth/{m}role/{item}")).await?,
                None => None,
            },
            Kind::Rotation => match under(Kind::Mount) {
                Some(m) => self.read(&format!("{m}rotation/{item}")).await?,
                None => None,
            },
        })
    }
}

/// The path an object is written to and deleted at.
fn object_path(kind: Kind, name: &str, mount: &str, item: &str) -> String {
    let bare = name.trim_end_matches('/');
    match kind {
        Kind::Audit => format!("sys/audit/{name}"),
        Kind::PasswordPolicy => format!("sys/policies/password/{name}"),
        Kind::Policy => format!("sys/policies/acl/{name}"),
        Kind::Mount => format!("sys/mounts/{bare}"),
        Kind::Auth => format!("sys/auth/{bare}"),
        Kind::JwtConfig => format!("auth/{mount}config"),
        Kind::ApproleRole | Kind::JwtRole => format!("auth/{mount}role/{item}"),
        Kind::Rotation => format!("{mount}rotation/{item}"),
    }
}

/// The mount and item of a managed name (`approle/web` → `approle/`, `web`). Mount paths end
/// with `/` and a role name has none, so the split is at the last `/` for roles; a rotation's
/// secret path may hold `/`, so its mount is the longest mount of the table that prefixes it.
fn split_name(live: &Live<'_>, kind: Kind, name: &str) -> (String, String) {
    match kind {
        Kind::ApproleRole | Kind::JwtRole => match name.rfind('/') {
            Some(i) => (name[..=i].to_string(), name[i + 1..].to_string()),
            None => (String::new(), name.to_string()),
        },
        Kind::JwtConfig => (name.to_string(), String::new()),
        Kind::Rotation => {
            let mount = live.mounts.keys().filter(|m| name.starts_with(m.as_str())).max_by_key(|m| m.len());
            match mount {
                Some(m) => (m.clone(), name[m.len()..].to_string()),
                None => (String::new(), name.to_string()),
            }
        }
        _ => (String::new(), String::new()),
    }
}

/// The type a mount of the file stands for (`kv-v2` is `kv`).
fn wanted_type(body: &Map<String, Value>) -> &str {
    match body.get("type").and_then(Value::as_str).unwrap_or("") {
        "kv-v2" => "kv",
        t => t,
    }
}

/// Plans the file against the store, reading as `who`. Every problem is returned at once.
pub async fn plan(
    core: &Core,
    who: &Arc<TokenEntry>,
    spec: &Spec,
    managed: &Managed,
) -> Result<Vec<Change>, Vec<String>> {
    let read_all = |path: &'static str| async move {
        super::call(core, who, Operation::Read, path, None)
            .await
            .map(object)
            .map_err(|e| vec![format!("reading {path}: {}", e.errors.join("; "))])
    };
    let live = Live {
        core,
        who,
        mounts: read_all("sys/mounts").await?,
        auth: read_all("sys/auth").await?,
        audit: read_all("sys/audit").await?,
    };
    let mut errors = Vec::new();
    let mut changes = Vec::new();
    for o in &spec.objects {
        match plan_one(&live, o, spec, managed).await {
            Ok(Some(c)) => changes.push(c),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    let mut removals = Vec::new();
    for entry in managed.objects.iter().rev() {
        if spec.objects.iter().any(|o| o.kind == entry.kind && o.name == entry.name) {
            continue;
        }
        let (mount, item) = split_name(&live, entry.kind, &entry.name);
        let exists = match live.current(entry.kind, &entry.name, Some(mount.as_str()), &item).await {
            Ok(c) => c.is_some(),
            Err(e) => {
                errors.push(format!("{} {}: {e}", entry.kind.label(), entry.name));
                continue;
            }
        };
        let mut change = Change {
            action: Action::Forget,
            kind: entry.kind,
            name: entry.name.clone(),
            table: String::new(),
            fields: Vec::new(),
            note: String::new(),
            steps: Vec::new(),
            digest: String::new(),
        };
        if !exists {
            change.note = "no longer in the file, and already gone".into();
        } else if entry.kind == Kind::JwtConfig {
            change.note = "no longer in the file; a JWT configuration cannot be deleted, so it stays as it is".into();
        } else if entry.kind == Kind::Policy && entry.name == "default" {
            change.note = "no longer in the file; the default policy cannot be deleted, so it stays as it is".into();
        } else {
            change.action = Action::Delete;
            change.steps.push(Step {
                op: Operation::Delete,
                path: object_path(entry.kind, &entry.name, &mount, &item),
                body: None,
            });
        }
        removals.push(change);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Creations in the file's order (audit devices first), deletions in reverse (roles before
    // their mount, audit devices last).
    removals.sort_by_key(|c| std::cmp::Reverse(c.kind));
    changes.extend(removals);
    Ok(changes)
}

async fn plan_one(live: &Live<'_>, o: &Desired, spec: &Spec, managed: &Managed) -> Result<Option<Change>, String> {
    let mount = o.mount.as_deref().unwrap_or("");
    let fail = |what: String| format!("{}: {what}", o.table);
    // An object under a mount the file does not declare needs that mount, of the right type, now.
    let (parent, want) = match o.kind {
        Kind::ApproleRole => (Some(Kind::Auth), "approle"),
        Kind::JwtRole | Kind::JwtConfig => (Some(Kind::Auth), "jwt"),
        Kind::Rotation => (Some(Kind::Mount), "kv"),
        _ => (None, ""),
    };
    if let Some(pk) = parent {
        match live.mount_type(pk, mount) {
            Some(t) if t != want => {
                return Err(fail(format!("the {} at {mount:?} has type {t:?}, not {want:?}", pk.label())));
            }
            Some(_) => {}
            None if spec.objects.iter().any(|m| m.kind == pk && m.name == mount) => {}
            None => {
                return Err(fail(format!(
                    "the {} {mount:?} does not exist and the file does not declare it in [{}]",
                    pk.label(),
                    pk.section()
                )))
            }
        }
    }
    let current = live.current(o.kind, &o.name, Some(mount), &o.item).await.map_err(fail)?;
    let digest = managed::digest(&o.body);
    let path = object_path(o.kind, &o.name, mount, &o.item);
    let mut change = Change {
        action: Action::Create,
        kind: o.kind,
        name: o.name.clone(),
        table: o.table.clone(),
        fields: Vec::new(),
        note: String::new(),
        steps: vec![Step { op: Operation::Update, path: path.clone(), body: Some(o.body.clone()) }],
        digest: digest.clone(),
    };
    let Some(current) = current else {
        let secret_missing = o.kind == Kind::Rotation
            && (live.mount_type(Kind::Mount, mount).is_none()
                || !live.secret_exists(mount, &o.item).await.map_err(fail)?);
        if secret_missing {
            change.action = Action::Wait;
            change.note =
                "the secret does not exist yet; write it, and the rotation is applied at the next unseal".into();
            change.steps.clear();
        }
        return Ok(Some(change));
    };
    let recorded = managed.get(o.kind, &o.name);
    if recorded.is_none() && !o.adopt {
        return Err(fail(format!(
            "a {} named {:?} exists and was not made from this file; it is left alone. Set adopt = true in \
             the table to manage it from the file, or rename it",
            o.kind.label(),
            o.name
        )));
    }
    let mut compared = o.body.clone();
    if matches!(o.kind, Kind::Mount | Kind::Auth | Kind::Audit) {
        compared.remove("type");
        let have = current.get("type").and_then(Value::as_str).unwrap_or("");
        if have != wanted_type(&o.body) {
            return Err(fail(format!(
                "type: the {} has type {have:?} and the file says {:?}; a type cannot change (remove it from \
                 the file, apply, then add it again)",
                o.kind.label(),
                wanted_type(&o.body)
            )));
        }
    }
    change.fields = compare::differing(&compared, &current);
    let file_changed = recorded.is_some_and(|r| r.digest != digest);
    if change.fields.is_empty() && !file_changed {
        if recorded.is_some() {
            return Ok(None);
        }
        change.action = Action::Adopt;
        change.steps.clear();
        return Ok(Some(change));
    }
    change.action = Action::Update;
    if change.fields.is_empty() {
        change.note = "the file changed fields the server does not show".into();
    }
    if recorded.is_none() {
        change.note = "adopted".into();
    }
    match o.kind {
        Kind::Mount | Kind::Auth => {
            let mut tune = Map::new();
            for key in ["description", "config", "options"] {
                if let Some(v) = o.body.get(key) {
                    tune.insert(key.into(), v.clone());
                }
            }
            change.steps = vec![Step { op: Operation::Update, path: format!("{path}/tune"), body: Some(tune) }];
        }
        // An audit device cannot be changed in place: it is disabled and enabled again.
        Kind::Audit => change.steps.insert(0, Step { op: Operation::Delete, path, body: None }),
        _ => {}
    }
    Ok(Some(change))
}

impl Live<'_> {
    async fn secret_exists(&self, mount: &str, path: &str) -> Result<bool, String> {
        Ok(self.read(&format!("{mount}metadata/{path}")).await?.is_some())
    }
}
