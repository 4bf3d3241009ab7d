//! What a KV rotator may do to the roles of a connection ([`DatabaseRoles`]): check them, set a
//! password as the connection's root user, and log in as a role. Each call loads the connection
//! anew and checks the roles again before it acts. Errors have every password blanked.

use async_trait::async_trait;
use sqlx::Connection;
use zeroize::Zeroizing;

use super::config::{self, DbConfig};
use super::{guard, target, Database, Kinds};
use crate::base::error::ApiError;
use crate::base::refusal::Refusal;
use crate::core::engine::Host;
use crate::core::engine::{DatabaseRoles, Target};

/// What sets a role's password.
const ALTER: &str = "ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}';";

/// The roles may be changed through the connection: the connection's `allowed_roles` admits
/// each (the rotator uses the connection as a static role of that name would), and
/// [`guard::check`] passes.
async fn check_targets(cfg: &DbConfig, usernames: &[String]) -> Result<(), Refusal> {
    if let Some(u) = usernames.iter().find(|u| !cfg.allows(u)) {
        return Err(Refusal::Final(format!("role {u:?} is not admitted by the connection's allowed_roles")));
    }
    guard::check(cfg, usernames).await
}

/// The connection `name` of the host's mount, its roles checked.
async fn checked(host: Host<'_>, name: &str, usernames: &[String]) -> Result<DbConfig, Refusal> {
    let mount = host.mount();
    let cfg = config::load(host, &Kinds::of_mount(&mount.row.id), name)
        .await
        .map_err(|e| Refusal::Retry(e.to_string()))?
        .ok_or_else(|| Refusal::Retry(format!("database config {name:?} not found under {:?}", mount.row.path)))?;
    check_targets(&cfg, usernames).await?;
    Ok(cfg)
}

#[async_trait]
impl DatabaseRoles for Database {
    async fn has_connection(&self, host: Host<'_>, name: &str) -> Result<bool, ApiError> {
        Ok(config::load(host, &Kinds::of_mount(&host.mount().row.id), name).await?.is_some())
    }

    async fn check(&self, host: Host<'_>, name: &str, usernames: &[String]) -> Result<String, Refusal> {
        Ok(checked(host, name, usernames).await?.password_policy.clone())
    }

    async fn set_password(&self, host: Host<'_>, t: Target<'_>, user: &str, password: &str) -> Result<(), Refusal> {
        let cfg = checked(host, t.name, t.usernames).await?;
        set_password(&cfg, user, password).await.map_err(Refusal::Retry)
    }

    async fn log_in(&self, host: Host<'_>, t: Target<'_>, user: &str, password: &str) -> Result<(), Refusal> {
        let cfg = checked(host, t.name, t.usernames).await?;
        log_in(&cfg, user, password).await.map_err(Refusal::Retry)
    }
}

/// Sets `user`'s password, as the connection's root user, in one transaction.
async fn set_password(cfg: &DbConfig, user: &str, password: &str) -> Result<(), String> {
    let vars = target::Vars { name: user, password, expiration: None };
    let statements: Vec<Zeroizing<String>> = vec![target::render(ALTER, &vars)];
    let secrets = [password, cfg.password.as_str()];
    target::run_as_root(&cfg.connection_url, &cfg.username, &cfg.password, &statements, &[], &secrets)
        .await
        .map_err(|e| format!("cannot set the password of role {user:?}: {e}"))
}

/// Logs in as `user` with `password` through the connection's URL and runs `select 1`.
async fn log_in(cfg: &DbConfig, user: &str, password: &str) -> Result<(), String> {
    let mut conn = target::connect(&cfg.connection_url, user, password)
        .await
        .map_err(|e| format!("role {user:?} cannot log in with the pending password: {e}"))?;
    let probe = sqlx::query("select 1").execute(&mut conn).await;
    let _ = conn.close().await;
    probe.map(drop).map_err(|e| target::redact(&format!("role {user:?} logged in but cannot query: {e}"), &[password]))
}
