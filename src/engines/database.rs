//! The database secrets engine (Vault's `database/` for PostgreSQL): connections, dynamic roles
//! whose credentials exist only for their lease, and static roles whose password Coffer rotates.

pub mod config;
pub mod default_revocation;
pub mod guard;
pub mod roles;
pub mod rotator_roles;
pub mod static_roles;
pub mod target;

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::core::engine::Host;
use crate::core::engine::{Call, Engine};
use crate::core::leases::OpenLease;
use crate::crypto::barrier::{Barrier, Context, Sealed};
use crate::store::TextForm;

/// Storage kinds of one database mount.
pub struct Kinds {
    mount: String,
}

impl Kinds {
    /// The kinds of the mount a call is routed to.
    pub fn of(call: &Call<'_>) -> Self {
        Self::of_mount(&call.mount.row.id)
    }

    /// The kinds of a mount by id.
    pub fn of_mount(id: &str) -> Self {
        Self { mount: id.to_string() }
    }

    /// Connections (encrypted).
    pub fn configs(&self) -> String {
        format!("database/{}/config", self.mount)
    }

    /// Dynamic roles.
    pub fn roles(&self) -> String {
        format!("database/{}/role", self.mount)
    }

    /// Static roles (encrypted: they hold the current password).
    pub fn static_roles(&self) -> String {
        format!("database/{}/static-role", self.mount)
    }
}

/// Whether entries of `kind` are barrier-encrypted by this engine (connections, static roles).
pub fn is_encrypted_kind(kind: &str) -> bool {
    kind.starts_with("database/") && (kind.ends_with("/config") || kind.ends_with("/static-role"))
}

/// How this engine's encrypted entries are kept (hex, as they always were).
pub const SEALED_FORM: TextForm = TextForm::Hex;

/// Decrypts an encrypted entry of this engine.
pub fn open_entry(
    barrier: &Barrier,
    kind: &str,
    name: &str,
    blob: &Sealed,
) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    barrier.open(blob, Context::Database { kind, name }).map_err(|e| e.to_string())
}

/// Loads and decrypts an encrypted entry as JSON.
async fn load_sealed<T: serde::de::DeserializeOwned>(
    host: Host<'_>,
    kind: &str,
    name: &str,
) -> Result<Option<T>, ApiError> {
    let Some(blob) = host.storage().entry_get_sealed(kind, name, SEALED_FORM).await? else { return Ok(None) };
    let plain = open_entry(host.barrier(), kind, name, &blob).map_err(|e| ApiError::internal(&e))?;
    crate::base::stored::parse_bytes("database connection", &plain).map(Some)
}

/// Encrypts and stores an entry as JSON.
async fn save_sealed<T: serde::Serialize>(host: Host<'_>, kind: &str, name: &str, value: &T) -> Result<(), ApiError> {
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(value).map_err(|e| ApiError::internal(&e))?);
    let (blob, _) =
        host.barrier().seal(Context::Database { kind, name }, &plain).map_err(|e| ApiError::internal(&e))?;
    host.storage().entry_put_sealed(kind, name, &blob, SEALED_FORM).await?;
    Ok(())
}

/// A statement list: an array of strings, or one string taken whole (statements hold commas).
pub fn statements(d: &Map<String, Value>, key: &str) -> Result<Vec<String>, ApiError> {
    match d.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => {
            items.iter().map(|v| v.as_str().map(String::from)).collect::<Option<Vec<String>>>().ok_or_else(|| {
                ApiError::bad_request(format!("invalid value for \"{key}\": expected a list of strings"))
            })
        }
        Some(_) => Err(ApiError::bad_request(format!("invalid value for \"{key}\": expected a list of strings"))),
    }
}

/// `LIST` of one kind: 404 when empty, as Vault.
pub async fn list_kind(host: Host<'_>, kind: &str) -> Result<Response, ApiError> {
    let keys = host.storage().entry_list(kind, "").await?;
    if keys.is_empty() {
        return Err(ApiError::not_found());
    }
    Ok(Response::data(json!({ "keys": keys })))
}

/// Checks a connection or role name taken from the path: Vault's name pattern, case-sensitive
/// as in Vault (SEC-33).
fn name(raw: &str) -> Result<&str, ApiError> {
    if raw.is_empty() || raw.contains('/') {
        return Err(ApiError::unsupported_path());
    }
    crate::base::names::check("connection or role name", raw, crate::base::names::Case::Exact)
}

/// The `database` engine.
pub struct Database;

#[async_trait]
impl Engine for Database {
    fn database_roles(&self) -> Option<&dyn crate::core::engine::DatabaseRoles> {
        Some(self)
    }

    async fn handle(&self, call: Call<'_>, req: Request) -> Result<Response, ApiError> {
        let path = call.path.trim_end_matches('/');
        let op = req.operation;
        let write = op.is_write();
        let (head, rest) = path.split_once('/').unwrap_or((path, ""));
        match (head, rest) {
            ("config", "") if op == Operation::List => config::list(&call).await,
            ("roles", "") if op == Operation::List => roles::list(&call).await,
            ("static-roles", "") if op == Operation::List => static_roles::list(&call).await,
            ("config", n) => config::endpoint(&call, name(n)?, &req).await,
            ("reset", n) if write => {
                name(n)?;
                Ok(Response::NoContent)
            }
            ("rotate-root", n) if write => config::rotate_root(&call, name(n)?).await,
            ("roles", n) => roles::endpoint(&call, name(n)?, &req).await,
            ("creds", n) if op == Operation::Read => roles::creds(&call, name(n)?).await,
            ("static-roles", n) => static_roles::endpoint(&call, name(n)?, &req).await,
            ("static-creds", n) if op == Operation::Read => static_roles::creds(&call, name(n)?).await,
            ("rotate-role", n) if write => static_roles::rotate_now(&call, name(n)?).await,
            ("creds" | "static-creds" | "rotate-role" | "rotate-root" | "reset", _) => {
                Err(ApiError::unsupported_operation())
            }
            _ => Err(ApiError::unsupported_path()),
        }
    }

    async fn revoke_lease(&self, host: Host<'_>, lease: &OpenLease) -> Result<(), String> {
        roles::revoke(host, lease).await
    }

    async fn renew_lease(
        &self,
        host: Host<'_>,
        lease: &OpenLease,
        expire: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), String> {
        roles::renew(host, lease, expire).await
    }
}
