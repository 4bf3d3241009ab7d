//! The `cubbyhole/` engine: private storage per token, sealed by the barrier, readable only with
//! the token that wrote it, and destroyed with that token. Response wrapping keeps wrapped answers
//! here.

use async_trait::async_trait;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::core::engine::{Call, Engine};
use crate::core::Core;
use crate::crypto::barrier::{self, Context, Sealed};
use crate::store::TextForm;

/// The cubbyhole engine (always mounted).
pub struct Cubbyhole;

/// How cubbyhole values are kept in their entries (base64, as they always were).
pub const SEALED_FORM: TextForm = TextForm::Base64;

/// The entry kind holding one token's cubbyhole.
pub fn kind_for(token_hash: &[u8]) -> String {
    format!("cubbyhole/{}", hex::encode(token_hash))
}

/// Seals and stores `value` at `path` in the cubbyhole of `token_hash`.
pub async fn put(core: &Core, token_hash: &[u8], path: &str, value: &Value) -> Result<(), ApiError> {
    let plain = Zeroizing::new(serde_json::to_vec(value).map_err(|e| ApiError::internal(&e))?);
    let (ct, _) =
        core.barrier.seal(Context::Cubbyhole { token_hash, path }, &plain).map_err(|e| ApiError::internal(&e))?;
    core.store.entry_put_sealed(&kind_for(token_hash), path, &ct, SEALED_FORM).await.map_err(ApiError::from)
}

/// Reads and opens the value at `path` in the cubbyhole of `token_hash`.
pub async fn get(core: &Core, token_hash: &[u8], path: &str) -> Result<Option<Value>, ApiError> {
    let Some(ct) =
        core.store.entry_get_sealed(&kind_for(token_hash), path, SEALED_FORM).await.map_err(ApiError::from)?
    else {
        return Ok(None);
    };
    open(&core.barrier, token_hash, path, &ct).map(Some).map_err(|e| ApiError::internal(&e))
}

/// Opens a stored cubbyhole value of `path` in the cubbyhole of `token_hash`. The error says
/// what failed, never the value.
pub fn open(barrier: &barrier::Barrier, token_hash: &[u8], path: &str, ct: &Sealed) -> Result<Value, String> {
    let plain = barrier.open(ct, Context::Cubbyhole { token_hash, path }).map_err(|e| e.to_string())?;
    serde_json::from_slice(&plain).map_err(|e| format!("stored value is not JSON ({:?})", e.classify()))
}

#[async_trait]
impl Engine for Cubbyhole {
    async fn handle(&self, call: Call<'_>, req: Request) -> Result<Response, ApiError> {
        let hash = call.token.row.hash.as_slice();
        let path = call.path.trim_end_matches('/');
        let kind = kind_for(hash);
        let store = &call.host.inner().store;
        let internal = ApiError::from;
        match req.operation {
            Operation::List => {
                let prefix = if path.is_empty() { String::new() } else { format!("{path}/") };
                let names = store.entry_list(&kind, &prefix).await.map_err(internal)?;
                let mut keys: Vec<String> = names
                    .iter()
                    .filter_map(|n| n.strip_prefix(&prefix))
                    .map(|rest| match rest.split_once('/') {
                        Some((dir, _)) => format!("{dir}/"),
                        None => rest.to_string(),
                    })
                    .collect();
                keys.dedup();
                Response::keys(keys)
            }
            _ if path.is_empty() => Err(ApiError::unsupported_operation()),
            Operation::Read => match get(call.host.inner(), hash, path).await? {
                Some(v) => Ok(Response::data(v)),
                None => Err(ApiError::not_found()),
            },
            op if op.is_write() => {
                if req.data.is_empty() {
                    return Err(ApiError::bad_request("missing data fields"));
                }
                put(call.host.inner(), hash, path, &Value::Object(req.data.clone())).await?;
                Ok(Response::NoContent)
            }
            Operation::Delete => {
                store.entry_delete(&kind, path).await.map_err(internal)?;
                Ok(Response::NoContent)
            }
            _ => Err(ApiError::unsupported_operation()),
        }
    }

    async fn exists(&self, call: Call<'_>, _req: &Request) -> Result<bool, ApiError> {
        let path = call.path.trim_end_matches('/');
        Ok(call
            .host
            .inner()
            .store
            .entry_get(&kind_for(&call.token.row.hash), path)
            .await
            .map_err(ApiError::from)?
            .is_some())
    }
}
