//! The `postgres` rotator: a role's password changed through a connection of the database engine
//! (`<db_mount>config/<db_name>`, as its root user), and proved by logging in as the role through
//! the same connection URL. Errors have every password blanked.

use serde_json::{Map, Value};
use sqlx::Connection;
use zeroize::Zeroizing;

use super::authority::{self, Authority};
use super::config::Strategy;
use crate::base::refusal::Refusal;
use crate::core::Core;
use crate::engines::database::config::DbConfig;
use crate::engines::database::{guard, target, Kinds};

/// What sets a role's password.
const ALTER: &str = "ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}';";

/// The connection a rotator names, once the stored authority still holds `update` on it and the
/// roles are ones a rotator may change: what every step that acts on the database uses.
pub async fn authorized_connection(
    core: &Core,
    authority: Option<&Authority>,
    db_mount: &str,
    db_name: &str,
    usernames: &[String],
) -> Result<DbConfig, Refusal> {
    authority::still_holds(core, authority, &authority::connection_path(db_mount, db_name))
        .await
        .map_err(Refusal::Final)?;
    let cfg = connection(core, db_mount, db_name).await.map_err(Refusal::Retry)?;
    check_targets(&cfg, usernames).await?;
    Ok(cfg)
}

/// The roles may be changed through the connection: the connection's `allowed_roles` admits
/// each (the rotator uses the connection as a static role of that name would), and
/// [`guard::check`] passes.
pub async fn check_targets(cfg: &DbConfig, usernames: &[String]) -> Result<(), Refusal> {
    if let Some(u) = usernames.iter().find(|u| !cfg.allows(u)) {
        return Err(Refusal::Final(format!("role {u:?} is not admitted by the connection's allowed_roles")));
    }
    guard::check(cfg, usernames).await
}

/// The connection a rotator names.
pub async fn connection(core: &Core, db_mount: &str, db_name: &str) -> Result<DbConfig, String> {
    let mount = core.mounts.load().get(db_mount);
    let Some(mount) = mount.filter(|m| m.row.kind == "database") else {
        return Err(format!("no database secrets engine is mounted at {db_mount:?}"));
    };
    crate::engines::database::config::load(core, &Kinds::of_mount(&mount.row.id), db_name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("database config {db_name:?} not found under {db_mount:?}"))
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

/// Sets `user`'s password, as the connection's root user, in one transaction.
pub async fn set_password(cfg: &DbConfig, user: &str, password: &str) -> Result<(), String> {
    let vars = target::Vars { name: user, password, expiration: None };
    let statements: Vec<Zeroizing<String>> = vec![target::render(ALTER, &vars)];
    let secrets = [password, cfg.password.as_str()];
    target::run_as_root(&cfg.connection_url, &cfg.username, &cfg.password, &statements, &[], &secrets)
        .await
        .map_err(|e| format!("cannot set the password of role {user:?}: {e}"))
}

/// Logs in as `user` with `password` through the connection's URL and runs `select 1`.
pub async fn log_in(cfg: &DbConfig, user: &str, password: &str) -> Result<(), String> {
    let mut conn = target::connect(&cfg.connection_url, user, password)
        .await
        .map_err(|e| format!("role {user:?} cannot log in with the pending password: {e}"))?;
    let probe = sqlx::query("select 1").execute(&mut conn).await;
    let _ = conn.close().await;
    probe.map(drop).map_err(|e| target::redact(&format!("role {user:?} logged in but cannot query: {e}"), &[password]))
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
