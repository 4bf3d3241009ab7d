//! Dynamic roles: `database/roles/<name>` defines the statements, `database/creds/<name>` creates
//! a database user for the length of a lease, and the lease's revocation drops it again (its
//! sessions are ended first).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use super::{config, statements, target, Kinds};
use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::engine::Call;
use crate::core::engine::Host;
use crate::core::leases::{self, Grant, OpenLease};

/// What renewal runs when the role names no statements.
const DEFAULT_RENEW: &str = "ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiration}}';";

/// A dynamic role as stored (no secrets).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Role {
    /// The connection it uses.
    pub db_name: String,
    /// Statements that create the user.
    pub creation_statements: Vec<String>,
    /// Statements that remove it.
    pub revocation_statements: Vec<String>,
    /// Statements run when creation fails half-way.
    pub rollback_statements: Vec<String>,
    /// Statements run on renewal.
    pub renew_statements: Vec<String>,
    /// Lease TTL in seconds (0: the system default).
    pub default_ttl: i64,
    /// Longest lease in seconds (0: the system maximum).
    pub max_ttl: i64,
}

/// What a lease remembers to revoke or renew its user, even if the role is gone by then.
#[derive(Serialize, Deserialize)]
struct LeaseData {
    db_name: String,
    username: String,
    revocation_statements: Vec<String>,
    renew_statements: Vec<String>,
}

async fn load(host: Host<'_>, kinds: &Kinds, name: &str) -> Result<Option<Role>, ApiError> {
    match host.storage().entry_get(&kinds.roles(), name).await? {
        Some(t) => crate::base::stored::parse("database role", &t).map(Some),
        None => Ok(None),
    }
}

fn ttl_field(req: &Request, key: &str) -> Result<Option<i64>, ApiError> {
    Ok(params::duration_field(&req.data, key)?.map(|s| i64::try_from(s).unwrap_or(i64::MAX)))
}

/// `database/roles/<name>`.
pub async fn endpoint(call: &Call<'_>, name: &str, req: &Request) -> Result<Response, ApiError> {
    let kinds = Kinds::of(call);
    match req.operation {
        Operation::Read => {
            let r = load(call.host, &kinds, name).await?.ok_or_else(ApiError::not_found)?;
            Ok(Response::data(json!({
                "db_name": r.db_name,
                "creation_statements": r.creation_statements,
                "revocation_statements": r.revocation_statements,
                "rollback_statements": r.rollback_statements,
                "renew_statements": r.renew_statements,
                "default_ttl": r.default_ttl,
                "max_ttl": r.max_ttl,
                "credential_type": "password",
            })))
        }
        Operation::Delete => {
            call.host.storage().entry_delete(&kinds.roles(), name).await?;
            Ok(Response::NoContent)
        }
        op if op.is_write() => {
            let d = &req.data;
            let mut r = load(call.host, &kinds, name).await?.unwrap_or_default();
            if let Some(db) = params::str_field(d, "db_name")? {
                r.db_name = db.to_string();
            }
            if r.db_name.is_empty() {
                return Err(ApiError::bad_request("empty database name attribute"));
            }
            for (key, field) in [
                ("creation_statements", &mut r.creation_statements),
                ("revocation_statements", &mut r.revocation_statements),
                ("rollback_statements", &mut r.rollback_statements),
                ("renew_statements", &mut r.renew_statements),
            ] {
                if d.contains_key(key) {
                    *field = statements(d, key)?;
                }
            }
            if r.creation_statements.is_empty() {
                return Err(ApiError::bad_request("creation statements are required"));
            }
            if let Some(t) = ttl_field(req, "default_ttl")? {
                r.default_ttl = t;
            }
            if let Some(t) = ttl_field(req, "max_ttl")? {
                r.max_ttl = t;
            }
            if r.max_ttl > 0 && r.default_ttl > r.max_ttl {
                return Err(ApiError::bad_request("ttl cannot be greater than max_ttl"));
            }
            if let Some(ct) = params::str_field(d, "credential_type")? {
                if ct != "password" {
                    return Err(ApiError::bad_request("credential_type must be \"password\""));
                }
            }
            let text = serde_json::to_string(&r).map_err(|e| ApiError::internal(&e))?;
            call.host.storage().entry_put(&kinds.roles(), name, &text).await?;
            Ok(Response::NoContent)
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}

/// `LIST database/roles`.
pub async fn list(call: &Call<'_>) -> Result<Response, ApiError> {
    super::list_kind(call.host, &Kinds::of(call).roles()).await
}

/// Vault's PostgreSQL user name: `v-<display name>-<role>-<20 random>-<unix time>`, 63 at most
/// (`now` is the time in it).
fn username(display: &str, role: &str, now: DateTime<Utc>) -> String {
    let clean = |s: &str, n: usize| -> String {
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '-' }).take(n).collect()
    };
    let display = if display.is_empty() { "token" } else { display };
    let mut u =
        format!("v-{}-{}-{}-{}", clean(display, 8), clean(role, 8), crate::crypto::random_base62(20), now.timestamp());
    u.truncate(63);
    u
}

fn failed(e: String) -> ApiError {
    ApiError::new(http::StatusCode::INTERNAL_SERVER_ERROR, e)
}

/// `database/creds/<role>`: a new user and password under a lease owned by the caller's token.
pub async fn creds(call: &Call<'_>, role_name: &str) -> Result<Response, ApiError> {
    let kinds = Kinds::of(call);
    let role = load(call.host, &kinds, role_name)
        .await?
        .ok_or_else(|| ApiError::bad_request(format!("unknown role: {role_name}")))?;
    let cfg = config::for_role(call.host, &kinds, &role.db_name, role_name).await?;
    let max_ttl = if role.max_ttl > 0 { role.max_ttl.min(leases::SYSTEM_MAX_TTL) } else { leases::SYSTEM_MAX_TTL };
    let ttl = if role.default_ttl > 0 { role.default_ttl } else { leases::SYSTEM_MAX_TTL }.min(max_ttl);
    let user = username(&call.token.row.display_name, role_name, call.host.now());
    let password = call.host.generate_password(&cfg.password_policy).await?;
    let data = serde_json::to_value(LeaseData {
        db_name: role.db_name.clone(),
        username: user.clone(),
        revocation_statements: role.revocation_statements.clone(),
        renew_statements: role.renew_statements.clone(),
    })
    .map_err(|e| ApiError::internal(&e))?;
    // The lease first: a quota refuses before anything exists in the database, and a crash after
    // this point leaves a lease whose expiry drops whatever was created.
    let lease =
        leases::issue(call, Grant { path: &format!("creds/{role_name}"), ttl, max_ttl, renewable: true, data: &data })
            .await?;
    let vars =
        target::Vars { name: &user, password: &password, expiration: Some(call.host.now() + Duration::seconds(ttl)) };
    let secrets = [password.as_str(), cfg.password.as_str()];
    let render = |ts: &[String]| -> Vec<Zeroizing<String>> { ts.iter().map(|t| target::render(t, &vars)).collect() };
    let (create, rollback) = (render(&role.creation_statements), render(&role.rollback_statements));
    let created =
        target::run_as_root(&cfg.connection_url, &cfg.username, &cfg.password, &create, &rollback, &secrets).await;
    if let Err(e) = created {
        call.host.storage().secret_lease_delete(&lease.id).await?;
        return Err(failed(format!("failed to create the database user: {e}")));
    }
    Ok(Response::Envelope {
        status: http::StatusCode::OK,
        data: Some(json!({ "username": user, "password": password.as_str() })),
        warnings: Vec::new(),
        auth: None,
        repeat_top_level: false,
        lease: Some(lease),
    })
}

fn lease_data(lease: &OpenLease) -> Result<LeaseData, String> {
    // Field-level errors name the field and the expected type only (the data holds no password).
    serde_json::from_value(lease.json()?).map_err(|e| format!("lease data: {e}"))
}

/// Drops a lease's user: ends its sessions, then runs the revocation statements (by default
/// Vault's revocations, `DROP OWNED` and `DROP ROLE`). A user already gone counts as revoked.
pub async fn revoke(host: Host<'_>, lease: &OpenLease) -> Result<(), String> {
    let d = lease_data(lease)?;
    let kinds = Kinds::of_mount(&host.mount().row.id);
    let cfg = config::load(host, &kinds, &d.db_name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("database config {:?} not found", d.db_name))?;
    // No statements: the default revocation (`default_revocation`).
    let vars = target::Vars { name: &d.username, password: "", expiration: None };
    let rendered: Vec<Zeroizing<String>> = d.revocation_statements.iter().map(|t| target::render(t, &vars)).collect();
    target::drop_user(&cfg.connection_url, &cfg.username, &cfg.password, &d.username, &rendered).await
}

/// Extends a lease's user to `expire` (`VALID UNTIL` by default).
pub async fn renew(host: Host<'_>, lease: &OpenLease, expire: chrono::DateTime<Utc>) -> Result<(), String> {
    let d = lease_data(lease)?;
    let kinds = Kinds::of_mount(&host.mount().row.id);
    let cfg = config::load(host, &kinds, &d.db_name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("database config {:?} not found", d.db_name))?;
    let templates =
        if d.renew_statements.is_empty() { vec![DEFAULT_RENEW.to_string()] } else { d.renew_statements.clone() };
    let vars = target::Vars { name: &d.username, password: "", expiration: Some(expire) };
    let rendered: Vec<Zeroizing<String>> = templates.iter().map(|t| target::render(t, &vars)).collect();
    target::run_as_root(&cfg.connection_url, &cfg.username, &cfg.password, &rendered, &[], &[&cfg.password]).await
}
