//! `sys/policies/password[/<name>[/generate]]`: write, read, delete and list password policies,
//! and generate a password from one. The policy logic is in `crate::core::password_policy`.

use serde_json::json;

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::password_policy::{self, PasswordPolicy, KIND};
use crate::core::Core;

/// `LIST sys/policies/password`.
pub async fn list(core: &Core, op: Operation) -> Result<Response, ApiError> {
    if op != Operation::List {
        return Err(ApiError::unsupported_operation());
    }
    let keys = core.store.entry_list(KIND, "").await.map_err(ApiError::from)?;
    Response::keys(keys)
}

/// `sys/policies/password/<rest>`: `<name>` or `<name>/generate`.
pub async fn handle(core: &Core, rest: &str, req: &Request) -> Result<Response, ApiError> {
    match rest.strip_suffix("/generate") {
        Some(name) => {
            checked(name)?;
            match req.operation {
                Operation::Read => generate(core, name).await,
                _ => Err(ApiError::unsupported_operation()),
            }
        }
        None => {
            checked(rest)?;
            policy(core, rest, req).await
        }
    }
}

fn checked(name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::bad_request("missing policy name"));
    }
    crate::base::names::check("password policy name", name, crate::base::names::Case::Exact).map(|_| ())
}

async fn policy(core: &Core, name: &str, req: &Request) -> Result<Response, ApiError> {
    match req.operation {
        Operation::Read => {
            let text = password_policy::load_text(core, name).await?.ok_or_else(ApiError::not_found)?;
            Ok(Response::data(json!({ "policy": text })))
        }
        op if op.is_write() => {
            let raw = params::str_field(&req.data, "policy")?
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ApiError::bad_request("missing policy"))?;
            let text = password_policy::policy_text(raw).into_owned();
            let policy = PasswordPolicy::parse(&text)
                .map_err(|e| ApiError::bad_request(format!("invalid password policy: {e}")))?;
            // Refuse rules that are possible on paper but too unlikely to be met (Vault does too).
            tokio::task::spawn_blocking(move || policy.check_generates())
                .await
                .map_err(|e| ApiError::internal(&e))?
                .map_err(ApiError::bad_request)?;
            password_policy::store_text(core, name, &text).await?;
            Ok(Response::NoContent)
        }
        Operation::Delete => {
            core.store.entry_delete(KIND, name).await.map_err(ApiError::from)?;
            Ok(Response::NoContent)
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}

/// `GET sys/policies/password/<name>/generate`: the only place a generated password leaves.
async fn generate(core: &Core, name: &str) -> Result<Response, ApiError> {
    let policy = password_policy::load(core, name).await?.ok_or_else(ApiError::not_found)?;
    let password = password_policy::generate_blocking(policy).await?;
    Ok(Response::data(json!({ "password": password.as_str() })))
}
