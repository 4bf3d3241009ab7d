//! The `postgres` rotator: a role's password changed through a connection of a database mount
//! (`<db_mount>config/<db_name>`, as its root user), and proved by logging in as the role. The
//! rotator reaches the connection only through the mount table and the database engine's
//! [`DatabaseRoles`], and only while its stored authority still passes the ACL check on the
//! connection's path.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::authority::{self, Authority};
use super::config::Strategy;
use crate::base::refusal::Refusal;
use crate::core::engine::{DatabaseRoles, Target};
use crate::core::mounts::MountEntry;
use crate::core::Core;

/// The database mount at `db_mount` and its roles interface.
pub fn database_mount(core: &Core, db_mount: &str) -> Result<Arc<MountEntry>, String> {
    core.mounts
        .load()
        .get(db_mount)
        .filter(|m| m.row.kind == "database" && m.engine.database_roles().is_some())
        .ok_or_else(|| format!("no database secrets engine is mounted at {db_mount:?}"))
}

fn roles(mount: &MountEntry) -> Result<&dyn DatabaseRoles, Refusal> {
    mount.engine.database_roles().ok_or_else(|| Refusal::Retry("the mount manages no database roles".into()))
}

/// The database mount, once the stored authority still holds `update` on the connection.
async fn authorized(
    core: &Core,
    authority: Option<&Authority>,
    db_mount: &str,
    db_name: &str,
) -> Result<Arc<MountEntry>, Refusal> {
    authority::still_holds(core, authority, &authority::connection_path(db_mount, db_name))
        .await
        .map_err(Refusal::Final)?;
    database_mount(core, db_mount).map_err(Refusal::Retry)
}

/// The connection a rotator names and the roles it manages on it.
pub struct Connection<'a> {
    /// The rotation's stored authority, or the writer of its configuration (`None` is refused).
    pub authority: Option<&'a Authority>,
    /// The database mount's path.
    pub db_mount: &'a str,
    /// The connection's name.
    pub db_name: &'a str,
    /// The roles the rotator manages.
    pub usernames: &'a [String],
}

impl Connection<'_> {
    /// Checks the authority, the connection and the roles; answers the connection's password
    /// policy.
    pub async fn check(&self, core: &Core) -> Result<String, Refusal> {
        let mount = authorized(core, self.authority, self.db_mount, self.db_name).await?;
        roles(&mount)?.check(core, &mount, self.db_name, self.usernames).await
    }

    /// After the same checks: sets `user`'s password as the connection's root user.
    pub async fn set_password(&self, core: &Core, user: &str, password: &str) -> Result<(), Refusal> {
        let mount = authorized(core, self.authority, self.db_mount, self.db_name).await?;
        let target = Target { mount: &mount, name: self.db_name, usernames: self.usernames };
        roles(&mount)?.set_password(core, target, user, password).await
    }

    /// After the same checks: logs in as `user` with `password`.
    pub async fn log_in(&self, core: &Core, user: &str, password: &str) -> Result<(), Refusal> {
        let mount = authorized(core, self.authority, self.db_mount, self.db_name).await?;
        let target = Target { mount: &mount, name: self.db_name, usernames: self.usernames };
        roles(&mount)?.log_in(core, target, user, password).await
    }
}

/// The role the next version is for: the only one (single), or the one `current` does not name
/// (alternating), so clients reading `current` keep a working login throughout the rotation.
pub fn next_user(strategy: Strategy, usernames: &[String], current: &Map<String, Value>) -> Result<String, String> {
    let first = usernames.first().ok_or("the rotator names no role")?;
    match strategy {
        Strategy::Single => Ok(first.clone()),
        Strategy::Alternating => {
            let now = current.get("username").and_then(Value::as_str).unwrap_or("");
            Ok(usernames.iter().find(|u| u.as_str() != now).unwrap_or(first).clone())
        }
    }
}

/// The `username` and `password` of a version written by this rotator; the role must be one the
/// rotator manages.
pub fn credentials<'a>(data: &'a Map<String, Value>, usernames: &[String]) -> Result<(&'a str, &'a str), String> {
    let user = data.get("username").and_then(Value::as_str).ok_or("the version has no \"username\"")?;
    let password = data.get("password").and_then(Value::as_str).ok_or("the version has no \"password\"")?;
    if !usernames.iter().any(|u| u == user) {
        return Err(format!("role {user:?} is not managed by this rotator"));
    }
    Ok((user, password))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn alternating_picks_the_idle_role() {
        let us = vec!["app_a".to_string(), "app_b".to_string()];
        let a = obj(json!({"username": "app_a", "password": "x"}));
        let b = obj(json!({"username": "app_b", "password": "x"}));
        assert_eq!(next_user(Strategy::Alternating, &us, &a).unwrap(), "app_b");
        assert_eq!(next_user(Strategy::Alternating, &us, &b).unwrap(), "app_a");
        assert_eq!(next_user(Strategy::Alternating, &us, &obj(json!({}))).unwrap(), "app_a");
        assert_eq!(next_user(Strategy::Single, &us[..1], &a).unwrap(), "app_a");
    }

    #[test]
    fn credentials_must_name_a_managed_role() {
        let us = vec!["app".to_string()];
        assert!(credentials(&obj(json!({"username": "app", "password": "p"})), &us).is_ok());
        assert!(credentials(&obj(json!({"username": "postgres", "password": "p"})), &us).is_err());
        assert!(credentials(&obj(json!({"username": "app"})), &us).is_err());
    }
}
