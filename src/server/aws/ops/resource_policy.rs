//! `GetResourcePolicy`, `PutResourcePolicy`, `DeleteResourcePolicy` and `ValidateResourcePolicy`:
//! a secret's resource policy, accepted only when Coffer enforces each statement
//! (`crate::server::aws::policy`).

use serde_json::{json, Map, Value};

use super::super::context::{Ctx, Need};
use super::super::params;
use super::super::policy;
use super::super::protocol::AwsError;

/// `GetResourcePolicy`.
pub async fn get(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["SecretId"])?;
    let secret_id = params::req_str(body, "SecretId")?;
    let found = ctx.find(secret_id).await?;
    ctx.allow(Need::Read, "metadata", &ctx.name_for_check(secret_id, found.as_ref())).await?;
    let found = found.ok_or_else(AwsError::not_found)?;
    let mut out = json!({"ARN": ctx.arn(&found.name, &found.meta)?, "Name": found.name});
    if let (Some(p), Value::Object(m)) = (&found.attrs.policy, &mut out) {
        m.insert("ResourcePolicy".into(), json!(p));
    }
    Ok(out)
}

/// `PutResourcePolicy`.
pub async fn put(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["SecretId", "ResourcePolicy", "BlockPublicPolicy"])?;
    let secret_id = params::req_str(body, "SecretId")?;
    let document = params::req_str(body, "ResourcePolicy")?;
    params::opt_bool(body, "BlockPublicPolicy")?;
    let found = ctx.find(secret_id).await?;
    ctx.allow(Need::Update, "metadata", &ctx.name_for_check(secret_id, found.as_ref())).await?;
    let found = found.ok_or_else(AwsError::not_found)?;
    let arn = ctx.arn(&found.name, &found.meta)?;
    // Deny statements only: a policy Coffer accepts never grants anything, so it is never public.
    policy::parse(document, &arn, &ctx.account)?;
    let mut attrs = found.attrs.clone();
    attrs.policy = Some(document.to_string());
    ctx.put_attrs(&found, &attrs).await?;
    Ok(json!({"ARN": arn, "Name": found.name}))
}

/// `DeleteResourcePolicy`.
pub async fn delete(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["SecretId"])?;
    let secret_id = params::req_str(body, "SecretId")?;
    let found = ctx.find(secret_id).await?;
    ctx.allow(Need::Update, "metadata", &ctx.name_for_check(secret_id, found.as_ref())).await?;
    let found = found.ok_or_else(AwsError::not_found)?;
    if found.attrs.policy.is_some() {
        let mut attrs = found.attrs.clone();
        attrs.policy = None;
        ctx.put_attrs(&found, &attrs).await?;
    }
    Ok(json!({"ARN": ctx.arn(&found.name, &found.meta)?, "Name": found.name}))
}

/// `ValidateResourcePolicy`: whether `PutResourcePolicy` would take the document.
pub async fn validate(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["SecretId", "ResourcePolicy"])?;
    let document = params::req_str(body, "ResourcePolicy")?;
    let arn = match params::opt_str(body, "SecretId")? {
        Some(secret_id) => {
            let found = ctx.find(secret_id).await?;
            ctx.allow(Need::Read, "metadata", &ctx.name_for_check(secret_id, found.as_ref())).await?;
            let found = found.ok_or_else(AwsError::not_found)?;
            ctx.arn(&found.name, &found.meta)?
        }
        None => "*".to_string(),
    };
    Ok(match policy::parse(document, &arn, &ctx.account) {
        Ok(_) => json!({"PolicyValidationPassed": true, "ValidationErrors": []}),
        Err(e) => json!({
            "PolicyValidationPassed": false,
            "ValidationErrors": [{"CheckName": "COFFER_ENFORCES_DENY_ONLY", "ErrorMessage": e.message}],
        }),
    })
}
