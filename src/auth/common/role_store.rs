//! The named roles of the jwt, aws and cert auth methods: one stored entry per role under the
//! mount's kind, and the same read / write (under a per-name lock) / delete / list endpoints. Each
//! method says only what its role is ([`Role`]).

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::common::store_err;
use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::core::engine::Call;

/// A method's role, as stored and as its endpoints show it.
pub trait Role: Serialize + DeserializeOwned + Default {
    /// What a stored role is called in errors ("aws role").
    const WHAT: &'static str;
    /// The storage kind of the mount's roles (with the mount id, so unmounting removes them).
    fn kind(call: &Call<'_>) -> String;
    /// Applies a write's fields (what is not sent is kept).
    fn update(&mut self, d: &Map<String, Value>) -> Result<(), ApiError>;
    /// The role as a read shows it.
    fn describe(&self, name: &str) -> Value;
}

/// Loads a role by name.
pub async fn load<R: Role>(call: &Call<'_>, name: &str) -> Result<Option<R>, ApiError> {
    let raw = call.host.storage().entry_get(&R::kind(call), name).await.map_err(store_err)?;
    raw.map(|r| crate::base::stored::parse(R::WHAT, &r)).transpose()
}

/// The LIST of the roles' names (the only operation on the roles' folder).
pub async fn list<R: Role>(call: &Call<'_>, op: Operation) -> Result<Response, ApiError> {
    if op != Operation::List {
        return Err(ApiError::unsupported_operation());
    }
    let keys = call.host.storage().entry_list(&R::kind(call), "").await.map_err(store_err)?;
    Response::keys(keys)
}

/// `GET|POST|DELETE <roles>/<name>`: a write updates the stored role under a lock on its name, so
/// two writes to one role never lose each other's fields.
pub async fn handle<R: Role>(call: &Call<'_>, name: &str, req: &Request) -> Result<Response, ApiError> {
    let kind = R::kind(call);
    match req.operation {
        Operation::Read => {
            let role = load::<R>(call, name).await?.ok_or_else(ApiError::not_found)?;
            Ok(Response::data(role.describe(name)))
        }
        op if op.is_write() => {
            let _guard = call.host.locks().lock(&kind, name).await;
            let mut role = load::<R>(call, name).await?.unwrap_or_default();
            role.update(&req.data)?;
            let text = serde_json::to_string(&role).map_err(|e| ApiError::internal(&e))?;
            call.host.storage().entry_put(&kind, name, &text).await.map_err(store_err)?;
            Ok(Response::NoContent)
        }
        Operation::Delete => {
            call.host.storage().entry_delete(&kind, name).await.map_err(store_err)?;
            Ok(Response::NoContent)
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}

/// Whether the role a path names exists (for the ACL's create/update choice); paths that name no
/// role count as existing.
pub async fn exists<R: Role>(call: &Call<'_>, prefix: &str) -> Result<bool, ApiError> {
    match super::named_for_exists(call.path, prefix) {
        Some(name) => Ok(load::<R>(call, name).await?.is_some()),
        None => Ok(true),
    }
}
