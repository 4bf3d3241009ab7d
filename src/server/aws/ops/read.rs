//! `GetSecretValue` and `BatchGetSecretValue`: one version's value, chosen by version id or
//! staging label (`AWSCURRENT` by default).

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::super::context::{Ctx, Need};
use super::super::params;
use super::super::protocol::AwsError;
use super::super::secret::{epoch, label_of, stage_of, Found};
use super::super::values::{self, AwsValue};
use super::deleted_refusal;
use crate::engines::kv::decrypt_version;

/// `GetSecretValue`.
pub async fn get(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["SecretId", "VersionId", "VersionStage"])?;
    let secret_id = params::req_str(body, "SecretId")?;
    let version_id = params::opt_str(body, "VersionId")?;
    let label = params::opt_str(body, "VersionStage")?;
    let found = ctx.find(secret_id).await?;
    ctx.allow(Need::Read, "data", &ctx.name_for_check(secret_id, found.as_ref())).await?;
    value_of(ctx, &found.ok_or_else(AwsError::not_found)?, version_id, label).await
}

/// The answer of `GetSecretValue` for a resolved secret.
async fn value_of(
    ctx: &Ctx<'_>,
    found: &Found,
    version_id: Option<&str>,
    label: Option<&str>,
) -> Result<Value, AwsError> {
    if found.attrs.deletion.is_some() {
        return Err(deleted_refusal());
    }
    let (number, labels, id) = match version_id {
        Some(id) => {
            let versions = ctx.versions(found).await?;
            let v = versions.iter().find(|v| v.id == id).ok_or_else(|| {
                AwsError::new(
                    "ResourceNotFoundException",
                    format!("Secrets Manager can't find the specified secret value for VersionId: {id}"),
                )
            })?;
            if let Some(label) = label {
                stage_of(label)?;
                if !v.labels.iter().any(|l| l == label) {
                    return Err(AwsError::invalid_parameter(format!(
                        "The staging label {label} is not on the version given in VersionId."
                    )));
                }
            }
            (v.row.version, v.labels.clone(), v.id.clone())
        }
        None => {
            // The usual read (a label, AWSCURRENT by default) needs the labels and one version's
            // id, not the whole version list.
            let label = label.unwrap_or("AWSCURRENT");
            let stage = stage_of(label)?;
            let stages = ctx.host().storage().kv_stages(&found.name).await.map_err(AwsError::store)?;
            let number = stages.iter().find(|(s, _)| *s == stage).map(|(_, v)| *v).ok_or_else(|| {
                AwsError::new(
                    "ResourceNotFoundException",
                    format!("Secrets Manager can't find the specified secret value for staging label: {label}"),
                )
            })?;
            let labels = stages.iter().filter(|(_, v)| *v == number).map(|(s, _)| label_of(s)).collect();
            (number, labels, ctx.version_id(found, number).await?)
        }
    };
    // The value itself: one row, from the cache when it holds it.
    let row = match ctx.host().storage().kv_read(&found.name, Some(number)).await.map_err(AwsError::store)? {
        Some((_, Some(row))) => row,
        _ => return Err(AwsError::not_found()),
    };
    let gone = row.destroyed
        || row
            .deletion_time
            .as_deref()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).map(|t| t <= ctx.now()).unwrap_or(true));
    if gone || row.ciphertext.is_none() {
        return Err(AwsError::new(
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret value: the version is deleted or destroyed.",
        ));
    }
    let data = decrypt_version(ctx.host().barrier(), &ctx.mount.row.id, &found.name, &row).map_err(|e| {
        tracing::error!(secret = %found.name, error = %e, "a stored version did not open");
        AwsError::new("DecryptionFailure", "Secrets Manager can't decrypt the protected secret text.")
    })?;
    let value = values::from_kv(&data).map_err(|e| AwsError::new(e.aws_code(), e.to_string()))?;
    let mut out = json!({
        "ARN": ctx.arn(&found.name, &found.meta)?,
        "Name": found.name,
        "VersionId": id,
        "VersionStages": labels,
        "CreatedDate": epoch(&row.created_time),
    });
    if let Value::Object(m) = &mut out {
        match &value {
            AwsValue::String(s) => m.insert("SecretString".into(), Value::String(s.to_string())),
            AwsValue::Binary(b) => {
                m.insert("SecretBinary".into(), Value::String(base64::engine::general_purpose::STANDARD.encode(&b[..])))
            }
        };
    }
    Ok(out)
}

/// `BatchGetSecretValue` with `SecretIdList` (up to 20), or `Filters` (as `ListSecrets`).
pub async fn batch(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["SecretIdList", "Filters", "MaxResults", "NextToken"])?;
    let ids = params::opt_strings(body, "SecretIdList", 20)?;
    let filtered = body.get("Filters").is_some_and(|f| !f.is_null());
    let (ids, next) = match (ids, filtered) {
        (Some(_), true) => {
            return Err(AwsError::invalid_parameter("Specify either SecretIdList or Filters, not both."))
        }
        (Some(ids), false) => {
            if body.get("MaxResults").is_some_and(|v| !v.is_null()) {
                return Err(AwsError::invalid_parameter("MaxResults is only allowed with Filters."));
            }
            (ids, None)
        }
        (None, true) => {
            let max = params::max_results(body, 20)?;
            let (names, next) = super::list::matching(ctx, body, max).await?;
            (names, next)
        }
        (None, false) => return Err(AwsError::invalid_parameter("Specify either SecretIdList or Filters.")),
    };
    // One request entry for the batch; each secret is then checked on its own.
    ctx.record(&ctx.path("data", ""), Need::Read, None).await?;
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for id in ids {
        let found = ctx.find(&id).await;
        let result = match found {
            Ok(found) => match ctx.allow(Need::Read, "data", &ctx.name_for_check(&id, found.as_ref())).await {
                Ok(()) => match found {
                    Some(f) => value_of(ctx, &f, None, None).await,
                    None => Err(AwsError::not_found()),
                },
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => values.push(v),
            Err(e) => errors.push(json!({"SecretId": id, "ErrorCode": e.code, "Message": e.message})),
        }
    }
    let mut out = json!({"SecretValues": values, "Errors": errors});
    if let (Some(n), Value::Object(m)) = (next, &mut out) {
        m.insert("NextToken".into(), Value::String(n));
    }
    Ok(out)
}
