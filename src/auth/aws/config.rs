//! `config/client`: the STS endpoint and region logins are checked against, and the server-id
//! header value clients must sign. An operator setting: writing and deleting need sudo, and the
//! endpoint must be admitted by the outbound allow-list (checked again at every login).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::config_kind;
use crate::auth::common::store_err;
use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::engine::Call;

/// Vault's default STS endpoint and region.
pub const DEFAULT_STS_ENDPOINT: &str = "https://sts.amazonaws.com";
pub const DEFAULT_STS_REGION: &str = "us-east-1";
const ENTRY: &str = "client";
/// Longest endpoint and header value accepted.
const MAX_LEN: usize = 2048;

/// The stored client configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientConfig {
    pub sts_endpoint: String,
    pub sts_region: String,
    pub iam_server_id_header_value: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            sts_endpoint: DEFAULT_STS_ENDPOINT.into(),
            sts_region: DEFAULT_STS_REGION.into(),
            iam_server_id_header_value: String::new(),
        }
    }
}

impl ClientConfig {
    /// The stored configuration, or the defaults.
    pub async fn load(call: &Call<'_>) -> Result<Self, ApiError> {
        let raw = call.host.storage().entry_get(&config_kind(call), ENTRY).await.map_err(store_err)?;
        Ok(raw.map(|r| crate::base::stored::parse("aws client config", &r)).transpose()?.unwrap_or_default())
    }

    fn describe(&self) -> Value {
        json!({
            "sts_endpoint": self.sts_endpoint,
            "sts_region": self.sts_region,
            "iam_server_id_header_value": self.iam_server_id_header_value,
            "access_key": "",
            "endpoint": "",
            "iam_endpoint": "",
            "max_retries": -1,
            "allowed_sts_header_values": Value::Null,
            "use_sts_region_from_client": false,
        })
    }

    fn update(&mut self, d: &Map<String, Value>) -> Result<(), ApiError> {
        for key in ["access_key", "secret_key"] {
            if params::str_field(d, key)?.is_some_and(|v| !v.is_empty()) {
                return Err(ApiError::bad_request(format!(
                    "{key} is not supported: Coffer checks IAM logins with the client's signed request only"
                )));
            }
        }
        let text = |key: &str| -> Result<Option<String>, ApiError> {
            match params::str_field(d, key)? {
                Some(v) if v.len() > MAX_LEN => Err(ApiError::bad_request(format!("{key} is too long"))),
                Some(v) if v.chars().any(char::is_control) => {
                    Err(ApiError::bad_request(format!("{key} holds a control character")))
                }
                other => Ok(other.map(str::to_string)),
            }
        };
        if let Some(v) = text("sts_endpoint")? {
            self.sts_endpoint = if v.is_empty() { DEFAULT_STS_ENDPOINT.into() } else { v };
        }
        if let Some(v) = text("sts_region")? {
            self.sts_region = if v.is_empty() { DEFAULT_STS_REGION.into() } else { v };
        }
        if let Some(v) = text("iam_server_id_header_value")? {
            self.iam_server_id_header_value = v;
        }
        let url = reqwest::Url::parse(&self.sts_endpoint)
            .map_err(|_| ApiError::bad_request("sts_endpoint is not a valid URL"))?;
        if !matches!(url.scheme(), "https" | "http")
            || url.query().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(ApiError::bad_request("sts_endpoint must be an http(s) URL without credentials or query"));
        }
        Ok(())
    }
}

/// `config/client`: read (policy), write and delete (sudo).
pub async fn handle(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    match req.operation {
        Operation::Read => {
            let raw = call.host.storage().entry_get(&config_kind(call), ENTRY).await.map_err(store_err)?;
            if raw.is_none() {
                return Err(ApiError::not_found());
            }
            Ok(Response::data(ClientConfig::load(call).await?.describe()))
        }
        op if op.is_write() || op == Operation::Delete => {
            if !call.sudo {
                return Err(ApiError::permission_denied());
            }
            let _guard = call.host.locks().lock(&format!("aws-config:{}", call.mount.row.id), ENTRY).await;
            if op == Operation::Delete {
                call.host.storage().entry_delete(&config_kind(call), ENTRY).await.map_err(store_err)?;
                return Ok(Response::NoContent);
            }
            let mut cfg = ClientConfig::load(call).await?;
            cfg.update(&req.data)?;
            if let Err(refused) = call.host.outbound_permit(&cfg.sts_endpoint).await? {
                return Err(ApiError::bad_request(format!("sts_endpoint is not allowed: {refused}")));
            }
            let text = serde_json::to_string(&cfg).map_err(|e| ApiError::internal(&e))?;
            call.host.storage().entry_put(&config_kind(call), ENTRY, &text).await.map_err(store_err)?;
            Ok(Response::NoContent)
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}
