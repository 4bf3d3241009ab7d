//! `users/<name>` (read, write, delete), `LIST users`, `users/<name>/password` and
//! `users/<name>/policies`. Reads never show the password or its hash.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::{lockout_kind, login_lock_scope, users_kind};
use crate::auth::common::TokenParams;
use crate::auth::common::{multierror_500, store_err, token_fields, token_type_field};
use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::engine::Call;

/// A stored user.
#[derive(Clone, Serialize, Deserialize)]
pub struct User {
    /// Argon2id PHC string.
    pub password_hash: String,
    /// `default` or `service`.
    pub token_type: String,
    /// Settings of the tokens a login issues.
    pub token: TokenParams,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("password_hash", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("token", &self.token)
            .finish()
    }
}

impl User {
    /// Loads a user by name.
    pub async fn load(call: &Call<'_>, name: &str) -> Result<Option<Self>, ApiError> {
        let raw = call.host.storage().entry_get(&users_kind(call), name).await.map_err(store_err)?;
        raw.map(|r| crate::base::stored::parse("userpass user", &r)).transpose()
    }

    async fn save(&self, call: &Call<'_>, name: &str) -> Result<(), ApiError> {
        let text = serde_json::to_string(self).map_err(|e| ApiError::internal(&e))?;
        call.host.storage().entry_put(&users_kind(call), name, &text).await.map_err(store_err)
    }
}

fn no_password() -> ApiError {
    ApiError::bad_request("must provide either password or password_hash")
}

fn no_user() -> ApiError {
    multierror_500("username does not exist")
}

/// The `password` field, if given and not empty (copied into zeroizing memory).
fn password(data: &Map<String, Value>) -> Result<Option<Zeroizing<String>>, ApiError> {
    if data.get("password_hash").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::bad_request("password_hash is not supported; send password"));
    }
    Ok(params::str_field(data, "password")?.filter(|p| !p.is_empty()).map(|p| Zeroizing::new(p.to_string())))
}

/// Serialises writes to one user (the read-modify-write of its entry).
fn user_scope(call: &Call<'_>) -> String {
    format!("userpass-users:{}", call.mount.row.id)
}

/// Drops a user's lockout state (a new password unlocks the account).
async fn clear_lockout(call: &Call<'_>, name: &str) -> Result<(), ApiError> {
    let _guard = call.host.locks().lock(&login_lock_scope(call), name).await;
    call.host.storage().entry_delete(&lockout_kind(call), name).await.map_err(store_err)
}

/// `LIST users`.
pub async fn list(call: &Call<'_>) -> Result<Response, ApiError> {
    let keys = call.host.storage().entry_list(&users_kind(call), "").await.map_err(store_err)?;
    Response::keys(keys)
}

/// `GET|POST|DELETE users/<name>`.
pub async fn handle(call: &Call<'_>, name: &str, req: &Request) -> Result<Response, ApiError> {
    match req.operation {
        Operation::Read => {
            let user = User::load(call, name).await?.ok_or_else(ApiError::not_found)?;
            Ok(Response::data(Value::Object(token_fields(&user.token, &user.token_type))))
        }
        op if op.is_write() => {
            let d = &req.data;
            let new_password = password(d)?;
            // Hash before taking the lock: the slow part never blocks other writers.
            let new_hash = match new_password {
                Some(p) => Some(call.host.hashing().hash(p).await?),
                None => None,
            };
            let _guard = call.host.locks().lock(&user_scope(call), name).await;
            let existing = User::load(call, name).await?;
            let mut user = match (existing, new_hash) {
                (Some(mut u), h) => {
                    if let Some(h) = h {
                        u.password_hash = h;
                    }
                    u
                }
                (None, Some(h)) => {
                    User { password_hash: h, token_type: "default".into(), token: TokenParams::default() }
                }
                (None, None) => return Err(no_password()),
            };
            user.token_type = token_type_field(d, &user.token_type)?;
            user.token.update(d)?;
            user.save(call, name).await?;
            Ok(Response::NoContent)
        }
        Operation::Delete => {
            let _guard = call.host.locks().lock(&user_scope(call), name).await;
            call.host.storage().entry_delete(&users_kind(call), name).await.map_err(store_err)?;
            clear_lockout(call, name).await?;
            Ok(Response::NoContent)
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}

/// `POST users/<name>/password {password}`.
pub async fn set_password(call: &Call<'_>, name: &str, req: &Request) -> Result<Response, ApiError> {
    let p = password(&req.data)?.ok_or_else(no_password)?;
    if User::load(call, name).await?.is_none() {
        return Err(no_user());
    }
    let h = call.host.hashing().hash(p).await?;
    {
        let _guard = call.host.locks().lock(&user_scope(call), name).await;
        let mut user = User::load(call, name).await?.ok_or_else(no_user)?;
        user.password_hash = h;
        user.save(call, name).await?;
    }
    clear_lockout(call, name).await?;
    Ok(Response::NoContent)
}

/// `POST users/<name>/policies {policies | token_policies}`.
pub async fn set_policies(call: &Call<'_>, name: &str, req: &Request) -> Result<Response, ApiError> {
    let only: Map<String, Value> = req
        .data
        .iter()
        .filter(|(k, _)| *k == "policies" || *k == "token_policies")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let _guard = call.host.locks().lock(&user_scope(call), name).await;
    let mut user = User::load(call, name).await?.ok_or_else(no_user)?;
    user.token.update(&only)?;
    user.save(call, name).await?;
    Ok(Response::NoContent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn debug_never_shows_the_hash() {
        let u = User {
            password_hash: "$argon2id$SECRETHASH".into(),
            token_type: "default".into(),
            token: Default::default(),
        };
        let s = format!("{u:?}");
        assert!(!s.contains("SECRETHASH"), "{s}");
    }

    #[test]
    fn password_field_rules() {
        let m = |v: Value| v.as_object().cloned().unwrap();
        assert!(password(&m(json!({}))).unwrap().is_none());
        assert!(password(&m(json!({"password": ""}))).unwrap().is_none());
        assert_eq!(password(&m(json!({"password": "pw"}))).unwrap().unwrap().as_str(), "pw");
        assert!(password(&m(json!({"password_hash": "$2a$..."}))).is_err());
    }
}
