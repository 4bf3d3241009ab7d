//! The `postgres` rotator: a role's password changed through a connection of a database mount
//! (`<db_mount>config/<db_name>`, as its root user), and proved by logging in as the role. The
//! rotator reaches the connection only through [`Host::peer`], which lets it through only while
//! its stored authority passes the ACL check on the connection's path, and then only through the
//! database engine's [`DatabaseRoles`].

use serde_json::{Map, Value};

use super::authority::{self, Authority};
use super::config::Strategy;
use crate::base::error::ApiError;
use crate::base::logical::Operation;
use crate::base::refusal::Refusal;
use crate::core::engine::{Actor, DatabaseRoles, Host, Peer, Target};

/// The peer is the database mount at `db_mount` (not a mount nested under it), and manages
/// database roles.
pub fn database_at<'a>(peer: &'a Peer<'_>, db_mount: &str) -> Result<&'a dyn DatabaseRoles, String> {
    let mount = peer.mount();
    let roles = peer.database_roles().filter(|_| mount.api_path == db_mount && mount.row.kind == "database");
    roles.ok_or_else(|| format!("no database secrets engine is mounted at {db_mount:?}"))
}

/// The database mount, reached as `actor`: `update` on the connection's path, as a request
/// would need. 403 when refused, 404 when nothing is mounted there.
pub async fn reach<'h>(host: Host<'h>, actor: &Actor<'_>, db_mount: &str, db_name: &str) -> Result<Peer<'h>, ApiError> {
    host.peer(actor, &authority::connection_path(db_mount, db_name), Operation::Update).await
}

/// The database mount, once the stored authority still holds `update` on the connection.
async fn authorized<'h>(
    host: Host<'h>,
    authority: Option<&Authority>,
    db_mount: &str,
    db_name: &str,
) -> Result<Peer<'h>, Refusal> {
    let path = authority::connection_path(db_mount, db_name);
    let actor = authority::actor(authority)
        .ok_or_else(|| Refusal::Final(authority::lost(&path, "the configuration records no authorising token")))?;
    match reach(host, &actor, db_mount, db_name).await {
        Ok(peer) => Ok(peer),
        Err(e) if e.status == http::StatusCode::FORBIDDEN => Err(Refusal::Final(authority::refused(&path, &e))),
        Err(e) if e.status == http::StatusCode::NOT_FOUND => {
            Err(Refusal::Retry(format!("no database secrets engine is mounted at {db_mount:?}")))
        }
        Err(e) => Err(Refusal::Retry(authority::refused(&path, &e))),
    }
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
    pub async fn check(&self, host: Host<'_>) -> Result<String, Refusal> {
        let peer = authorized(host, self.authority, self.db_mount, self.db_name).await?;
        let roles = database_at(&peer, self.db_mount).map_err(Refusal::Retry)?;
        roles.check(peer.host(), self.db_name, self.usernames).await
    }

    /// After the same checks: sets `user`'s password as the connection's root user.
    pub async fn set_password(&self, host: Host<'_>, user: &str, password: &str) -> Result<(), Refusal> {
        let peer = authorized(host, self.authority, self.db_mount, self.db_name).await?;
        let roles = database_at(&peer, self.db_mount).map_err(Refusal::Retry)?;
        roles.set_password(peer.host(), self.target(), user, password).await
    }

    /// After the same checks: logs in as `user` with `password`.
    pub async fn log_in(&self, host: Host<'_>, user: &str, password: &str) -> Result<(), Refusal> {
        let peer = authorized(host, self.authority, self.db_mount, self.db_name).await?;
        let roles = database_at(&peer, self.db_mount).map_err(Refusal::Retry)?;
        roles.log_in(peer.host(), self.target(), user, password).await
    }

    fn target(&self) -> Target<'_> {
        Target { name: self.db_name, usernames: self.usernames }
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
