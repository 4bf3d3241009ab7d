//! The userpass auth method (`auth/<path>/`, type `userpass`): users with an Argon2id password
//! hash and token settings, and a login with a persistent, race-safe lockout. A username must
//! already be in its one normal form (Vault's name pattern, lower-case; `names`): any other
//! spelling answers 400 and is never mapped to a user, so neither a deny rule nor the lockout
//! counter can be sidestepped (SEC-17, SEC-33). An unknown user, a wrong password and a
//! locked-out user get the same 400 after the same work (SEC-16).

mod login;
mod users;

use async_trait::async_trait;

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::names::{self, Case};
use crate::core::engine::{Call, Engine};

/// The userpass auth method (stateless; the mount carries the id).
pub struct Userpass;

#[async_trait]
impl Engine for Userpass {
    async fn handle(&self, call: Call<'_>, req: Request) -> Result<Response, ApiError> {
        let path = call.path.trim_end_matches('/');
        let op = req.operation;
        if let Some(raw) = path.strip_prefix("login/") {
            return if op.is_write() {
                login::login(&call, raw, &req).await
            } else {
                Err(ApiError::unsupported_operation())
            };
        }
        if path == "users" {
            return if op == Operation::List {
                users::list(&call).await
            } else {
                Err(ApiError::unsupported_operation())
            };
        }
        let Some(rest) = path.strip_prefix("users/") else { return Err(ApiError::unsupported_path()) };
        let (raw_name, sub) = rest.split_once('/').unwrap_or((rest, ""));
        let name = names::check("username", raw_name, Case::Lower)?;
        match (sub, op) {
            ("", _) => users::handle(&call, name, &req).await,
            ("password", o) if o.is_write() => users::set_password(&call, name, &req).await,
            ("policies", o) if o.is_write() => users::set_policies(&call, name, &req).await,
            ("password" | "policies", _) => Err(ApiError::unsupported_operation()),
            _ => Err(ApiError::unsupported_path()),
        }
    }

    async fn exists(&self, call: Call<'_>, _req: &Request) -> Result<bool, ApiError> {
        let path = call.path.trim_end_matches('/');
        match path.strip_prefix("users/").filter(|n| names::problem(n, Case::Lower).is_none()) {
            Some(name) => Ok(users::User::load(&call, name).await?.is_some()),
            None => Ok(true),
        }
    }

    fn unauthenticated(&self, path: &str) -> bool {
        path.starts_with("login/")
    }
}

/// Storage kind of a mount's users, by name.
fn users_kind(call: &Call<'_>) -> String {
    format!("userpass/{}/user", call.mount.row.id)
}

/// Storage kind of a mount's lockout counters, by name.
fn lockout_kind(call: &Call<'_>) -> String {
    format!("userpass-lockout/{}", call.mount.row.id)
}

/// Lock scope of a mount's logins (key: the username): check → verify → update is atomic.
fn login_lock_scope(call: &Call<'_>) -> String {
    format!("userpass:{}", call.mount.row.id)
}
