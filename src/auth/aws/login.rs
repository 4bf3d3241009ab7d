//! `POST login` (IAM type): checks the client's signed `GetCallerIdentity` request
//! (`request::check`), forwards it to the configured STS endpoint only, after the outbound
//! allow-list admitted that endpoint again, maps the ARN STS answers to its canonical form and
//! matches it against the role. Every refusal is a 400, as in Vault.

use serde_json::{Map, Value};

use super::config::ClientConfig;
use super::role::AwsRole;
use super::{arn, request};
use crate::auth::common;
use crate::auth::common::role_store;
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::names::{self, Case};
use crate::base::params;
use crate::core::engine::Call;
use crate::core::outbound::sts;

/// `POST login`.
pub async fn login(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let d = &req.data;
    if d.contains_key("pkcs7") || d.contains_key("identity") || d.contains_key("signature") {
        return Err(ApiError::bad_request("the ec2 login type is not supported: sign an IAM request"));
    }
    let requested = params::str_field(d, "role")?.unwrap_or("").to_string();
    let config = ClientConfig::load(call).await?;
    let checked = request::check(d, &config.iam_server_id_header_value, call.host.now())?;

    let upstream = |why: String| ApiError::bad_request(format!("error making upstream request: {why}"));
    let permit = match call.host.outbound_permit(&config.sts_endpoint).await? {
        Ok(p) => p,
        Err(refused) => return Err(upstream(format!("the STS endpoint is not allowed: {refused}"))),
    };
    let forward = sts::Forward { permit: &permit, host: &checked.host, headers: &checked.headers, body: checked.body };
    let caller = sts::get_caller_identity(&forward).await.map_err(upstream)?;

    let principal = arn::parse(&caller.arn)
        .ok_or_else(|| ApiError::bad_request(format!("unrecognized arn: {:?} is not a user or a role", caller.arn)))?;
    let role_name = if requested.is_empty() { principal.friendly_name.clone() } else { requested };
    let name = names::check("role name", &role_name, Case::Lower)?;
    let role = role_store::load::<AwsRole>(call, name)
        .await?
        .ok_or_else(|| ApiError::bad_request(format!("entry for role {name} not found")))?;
    if role.auth_type != "iam" {
        return Err(ApiError::bad_request(format!("auth method iam not allowed for role {name}")));
    }
    if !role.bound_iam_principal_arn.iter().any(|p| crate::base::glob::glob_match(p, &principal.canonical)) {
        return Err(ApiError::bad_request(format!(
            "IAM Principal {:?} does not belong to the role {name:?}",
            caller.arn
        )));
    }
    let mut meta = Map::new();
    for (k, v) in [
        ("role", name.to_string()),
        ("auth_type", "iam".to_string()),
        ("client_arn", caller.arn.clone()),
        ("canonical_arn", principal.canonical.clone()),
        ("client_user_id", caller.user_id.clone()),
        ("account_id", caller.account.clone()),
    ] {
        meta.insert(k.into(), Value::String(v));
    }
    common::login(call, &role.token, &principal.friendly_name, meta).await
}
