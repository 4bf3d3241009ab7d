//! `database/config/<name>`: a managed PostgreSQL connection. The whole entry, root password
//! included, is encrypted under the barrier; reads never return the password.

use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{statements, target, Kinds};
use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::engine::Call;
use crate::core::engine::Host;

/// The one plugin this build has.
pub const PLUGIN: &str = "postgresql-database-plugin";

/// What `rotate-root` runs when the config names no statements.
const DEFAULT_ROOT_ROTATION: &str = "ALTER ROLE \"{{username}}\" WITH PASSWORD '{{password}}';";

/// A stored connection. `Debug` leaves out the password.
#[derive(Clone, Serialize, Deserialize, Default, Zeroize, ZeroizeOnDrop)]
pub struct DbConfig {
    /// `postgresql://{{username}}:{{password}}@host/db?sslmode=…`.
    pub connection_url: String,
    /// Root user.
    pub username: String,
    /// Root password.
    pub password: String,
    /// Roles that may use this connection (`*` for all).
    pub allowed_roles: Vec<String>,
    /// `password` or `scram-sha-256` (kept for clients; PostgreSQL hashes by its own setting).
    pub password_authentication: String,
    /// Named password policy for generated passwords (empty: the default policy).
    pub password_policy: String,
    /// Statements for `rotate-root`.
    pub root_rotation_statements: Vec<String>,
    /// Connection cap (kept for clients: each operation opens one connection).
    pub max_open_connections: i64,
    /// Check the connection on write.
    pub verify_connection: bool,
}

impl std::fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig").field("username", &self.username).finish_non_exhaustive()
    }
}

impl DbConfig {
    /// Whether `role` may use this connection.
    pub fn allows(&self, role: &str) -> bool {
        self.allowed_roles.iter().any(|r| r == "*" || crate::base::glob::glob_match(r, role))
    }

    /// One connection as the root user.
    pub async fn connect(&self) -> Result<sqlx::PgConnection, String> {
        target::connect(&self.connection_url, &self.username, &self.password).await
    }
}

/// Loads and decrypts a config.
pub async fn load(host: Host<'_>, kinds: &Kinds, name: &str) -> Result<Option<DbConfig>, ApiError> {
    super::load_sealed(host, &kinds.configs(), name).await
}

/// Encrypts and stores a config.
pub async fn save(host: Host<'_>, kinds: &Kinds, name: &str, c: &DbConfig) -> Result<(), ApiError> {
    super::save_sealed(host, &kinds.configs(), name, c).await
}

/// `database/config/<name>`.
pub async fn endpoint(call: &Call<'_>, name: &str, req: &Request) -> Result<Response, ApiError> {
    let kinds = Kinds::of(call);
    match req.operation {
        Operation::Read => {
            let c = load(call.host, &kinds, name).await?.ok_or_else(ApiError::not_found)?;
            Ok(Response::data(json!({
                "allowed_roles": c.allowed_roles,
                "connection_details": {
                    "connection_url": c.connection_url,
                    "password_authentication": c.password_authentication,
                    "username": c.username,
                    "max_open_connections": c.max_open_connections,
                },
                "password_policy": c.password_policy,
                "plugin_name": PLUGIN,
                "plugin_version": "",
                "root_credentials_rotate_statements": c.root_rotation_statements,
                "verify_connection": c.verify_connection,
            })))
        }
        Operation::Delete => {
            call.host.storage().entry_delete(&kinds.configs(), name).await?;
            Ok(Response::NoContent)
        }
        op if op.is_write() => write(call, &kinds, name, req).await,
        _ => Err(ApiError::unsupported_operation()),
    }
}

async fn write(call: &Call<'_>, kinds: &Kinds, name: &str, req: &Request) -> Result<Response, ApiError> {
    let d = &req.data;
    let stored = load(call.host, kinds, name).await?;
    let before = stored.as_ref().map(|c| (target_of(&c.connection_url, &c.username), c.username.clone()));
    let mut c = match stored {
        Some(c) => c,
        None => {
            let mut c = DbConfig::default();
            c.password_authentication = "password".into();
            c.max_open_connections = 4;
            c
        }
    };
    let plugin = params::str_field(d, "plugin_name")?.unwrap_or(PLUGIN);
    if plugin != PLUGIN {
        return Err(ApiError::bad_request(format!("unsupported plugin_name {plugin:?}: this build has {PLUGIN}")));
    }
    if let Some(u) = params::str_field(d, "connection_url")? {
        c.connection_url = u.to_string();
    }
    if c.connection_url.is_empty() {
        return Err(ApiError::bad_request("connection_url cannot be empty"));
    }
    if !c.connection_url.starts_with("postgres://") && !c.connection_url.starts_with("postgresql://") {
        return Err(ApiError::bad_request("connection_url must be a postgres:// or postgresql:// URL"));
    }
    if let Some(u) = params::str_field(d, "username")? {
        c.username = u.to_string();
    }
    if let Some((endpoint_before, user_before)) = before {
        // The stored password is never sent to a place or user it was not given for.
        let moved = endpoint_before.is_none()
            || endpoint_before != target_of(&c.connection_url, &c.username)
            || user_before != c.username;
        if moved && !c.password.is_empty() && params::str_field(d, "password")?.is_none() {
            return Err(ApiError::bad_request(
                "the connection's host, port or username changes: give the password again (the stored one is \
                 not reused for another endpoint or user)",
            ));
        }
    }
    if let Some(p) = params::str_field(d, "password")? {
        c.password.zeroize();
        c.password = p.to_string();
    }
    if d.contains_key("allowed_roles") {
        c.allowed_roles = crate::base::params::string_list(d, "allowed_roles")?;
    }
    if let Some(a) = params::str_field(d, "password_authentication")? {
        if a != "password" && a != "scram-sha-256" {
            return Err(ApiError::bad_request("password_authentication must be \"password\" or \"scram-sha-256\""));
        }
        c.password_authentication = a.to_string();
    }
    if let Some(p) = params::str_field(d, "password_policy")? {
        if !p.is_empty() && call.host.password_policy(p).await?.is_none() {
            return Err(ApiError::bad_request(format!("password policy {p:?} not found")));
        }
        c.password_policy = p.to_string();
    }
    if d.contains_key("root_rotation_statements") {
        c.root_rotation_statements = statements(d, "root_rotation_statements")?;
    }
    if let Some(n) = params::u64_field(d, "max_open_connections")? {
        c.max_open_connections = i64::try_from(n).unwrap_or(i64::MAX);
    }
    c.verify_connection = params::bool_field(d, "verify_connection")?.unwrap_or(true);
    if c.verify_connection {
        let conn =
            c.connect().await.map_err(|e| ApiError::bad_request(format!("error creating database object: {e}")))?;
        let _ = sqlx::Connection::close(conn).await;
    }
    save(call.host, kinds, name, &c).await?;
    Ok(Response::NoContent)
}

/// Where a connection goes and as whom, as the driver reads its URL: lower-cased host, port and
/// user. `None` when the URL does not parse.
fn target_of(template: &str, username: &str) -> Option<(String, u16, String)> {
    let url = target::connection_url(template, username, "x");
    let opts: sqlx::postgres::PgConnectOptions = url.parse().ok()?;
    Some((opts.get_host().to_ascii_lowercase(), opts.get_port(), opts.get_username().to_string()))
}

/// `database/rotate-root/<name>`: a new root password from the config's policy, set in the
/// database first and then stored.
pub async fn rotate_root(call: &Call<'_>, name: &str) -> Result<Response, ApiError> {
    let kinds = Kinds::of(call);
    let mut c = load(call.host, &kinds, name).await?.ok_or_else(ApiError::not_found)?;
    if c.username.is_empty() {
        return Err(ApiError::bad_request("the config has no username to rotate"));
    }
    let password = call.host.generate_password(&c.password_policy).await?;
    let templates: Vec<String> = if c.root_rotation_statements.is_empty() {
        vec![DEFAULT_ROOT_ROTATION.to_string()]
    } else {
        c.root_rotation_statements.clone()
    };
    let vars = target::Vars { name: &c.username, password: &password, expiration: None };
    let rendered: Vec<Zeroizing<String>> = templates.iter().map(|t| target::render(t, &vars)).collect();
    let mut conn = c.connect().await.map_err(|e| ApiError::bad_request(format!("cannot connect: {e}")))?;
    target::run_all(&mut conn, &rendered, &[&password, &c.password])
        .await
        .map_err(|e| ApiError::bad_request(format!("failed to update the root password: {e}")))?;
    let _ = sqlx::Connection::close(conn).await;
    c.password.zeroize();
    c.password = password.to_string();
    save(call.host, &kinds, name, &c).await?;
    Ok(Response::NoContent)
}

/// `LIST database/config`.
pub async fn list(call: &Call<'_>) -> Result<Response, ApiError> {
    super::list_kind(call.host, &Kinds::of(call).configs()).await
}

/// The config a role names, checked for that role.
pub async fn for_role(host: Host<'_>, kinds: &Kinds, db_name: &str, role: &str) -> Result<DbConfig, ApiError> {
    let c = load(host, kinds, db_name)
        .await?
        .ok_or_else(|| ApiError::bad_request(format!("database config {db_name:?} not found")))?;
    if !c.allows(role) {
        return Err(ApiError::bad_request(format!("{role:?} is not an allowed role")));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::target_of;

    #[test]
    fn endpoints_are_compared_as_the_driver_reads_them() {
        let a = target_of("postgresql://{{username}}:{{password}}@DB.internal/app", "admin");
        assert_eq!(a, Some(("db.internal".to_string(), 5432, "admin".to_string())));
        assert_eq!(a, target_of("postgres://{{username}}:{{password}}@db.internal:5432/other", "admin"));
        assert_ne!(a, target_of("postgres://{{username}}:{{password}}@db.internal:5433/app", "admin"));
        assert_ne!(a, target_of("postgres://{{username}}:{{password}}@db.internal/app", "other"));
        assert_ne!(a, target_of("postgres://{{username}}:{{password}}@evil.example/app", "admin"));
    }
}
