//! `DescribeSecret` and `ListSecretVersionIds`: a secret's metadata, versions and labels, never
//! its value.

use serde_json::{json, Map, Value};

use super::super::context::{Ctx, Need};
use super::super::params;
use super::super::protocol::AwsError;
use super::super::secret::{epoch, tags_json, Found};

/// The fields `DescribeSecret` and `ListSecrets` share for one secret.
pub async fn summary(ctx: &Ctx<'_>, found: &Found) -> Result<Map<String, Value>, AwsError> {
    let attrs = &found.attrs;
    let versions = ctx.versions(found).await?;
    let mut m = Map::new();
    m.insert("ARN".into(), json!(ctx.arn(&found.name, &found.meta)?));
    m.insert("Name".into(), json!(found.name));
    if let Some(d) = &attrs.description {
        m.insert("Description".into(), json!(d));
    }
    if let Some(k) = &attrs.kms_key_id {
        m.insert("KmsKeyId".into(), json!(k));
    }
    super::rotate::describe(ctx, &found.name, &mut m).await?;
    m.insert("CreatedDate".into(), epoch(&found.meta.created_time));
    m.insert("LastChangedDate".into(), epoch(&found.meta.updated_time));
    if let Some(t) = attrs.deletion {
        m.insert("DeletedDate".into(), json!(t));
    }
    m.insert("Tags".into(), tags_json(&attrs.tags));
    let stages: Map<String, Value> =
        versions.iter().filter(|v| !v.labels.is_empty()).map(|v| (v.id.clone(), json!(v.labels))).collect();
    m.insert("SecretVersionsToStages".into(), Value::Object(stages));
    Ok(m)
}

/// `DescribeSecret`.
pub async fn describe(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["SecretId"])?;
    let secret_id = params::req_str(body, "SecretId")?;
    let found = ctx.find(secret_id).await?;
    ctx.allow(Need::Read, "metadata", &ctx.name_for_check(secret_id, found.as_ref())).await?;
    let found = found.ok_or_else(AwsError::not_found)?;
    let mut m = summary(ctx, &found).await?;
    // DescribeSecret names the map `VersionIdsToStages`; ListSecrets `SecretVersionsToStages`.
    if let Some(v) = m.remove("SecretVersionsToStages") {
        m.insert("VersionIdsToStages".into(), v);
    }
    Ok(Value::Object(m))
}

/// `ListSecretVersionIds`: versions with a label; with `IncludeDeprecated`, the others too.
pub async fn version_ids(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["SecretId", "MaxResults", "NextToken", "IncludeDeprecated"])?;
    let secret_id = params::req_str(body, "SecretId")?;
    let max = params::max_results(body, 100)?;
    let start = params::page_start(body)?;
    let deprecated = params::opt_bool(body, "IncludeDeprecated")?.unwrap_or(false);
    let found = ctx.find(secret_id).await?;
    ctx.allow(Need::Read, "metadata", &ctx.name_for_check(secret_id, found.as_ref())).await?;
    let found = found.ok_or_else(AwsError::not_found)?;
    let all: Vec<Value> = ctx
        .versions(&found)
        .await?
        .into_iter()
        .rev()
        .filter(|v| deprecated || !v.labels.is_empty())
        .map(|v| json!({"VersionId": v.id, "VersionStages": v.labels, "CreatedDate": epoch(&v.row.created_time)}))
        .collect();
    let end = (start + max).min(all.len());
    let page = all.get(start.min(end)..end).unwrap_or_default().to_vec();
    let mut out = json!({"Versions": page, "ARN": ctx.arn(&found.name, &found.meta)?, "Name": found.name});
    if let (Some(n), Value::Object(m)) = (params::next_token(end, all.len()), &mut out) {
        m.insert("NextToken".into(), json!(n));
    }
    Ok(out)
}
