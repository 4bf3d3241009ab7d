//! `TagResource` and `UntagResource`: a secret's tags (AWS's limits: 50 tags, keys of 1 to 128
//! characters, values up to 256, no `aws:` prefix).

use serde_json::{json, Map, Value};

use super::super::context::{Ctx, Need};
use super::super::params;
use super::super::protocol::AwsError;
use super::tags_param;

/// Most tags on one secret.
const MAX_TAGS: usize = 50;

/// `TagResource`: adds tags, replacing the value of a key already there.
pub async fn tag(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["SecretId", "Tags"])?;
    let secret_id = params::req_str(body, "SecretId")?;
    let tags = tags_param(body, "Tags")?.ok_or_else(|| AwsError::invalid_parameter("You must provide Tags."))?;
    let found = ctx.find(secret_id).await?;
    ctx.allow(Need::Update, "metadata", &ctx.name_for_check(secret_id, found.as_ref())).await?;
    let found = found.ok_or_else(AwsError::not_found)?;
    let mut attrs = found.attrs.clone();
    for (k, v) in tags {
        match attrs.tags.iter_mut().find(|(have, _)| *have == k) {
            Some(t) => t.1 = v,
            None => attrs.tags.push((k, v)),
        }
    }
    if attrs.tags.len() > MAX_TAGS {
        return Err(AwsError::invalid_parameter(format!("A secret can have at most {MAX_TAGS} tags.")));
    }
    ctx.put_attrs(&found, &attrs).await?;
    Ok(json!({}))
}

/// `UntagResource`.
pub async fn untag(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["SecretId", "TagKeys"])?;
    let secret_id = params::req_str(body, "SecretId")?;
    let keys = params::opt_strings(body, "TagKeys", MAX_TAGS)?
        .ok_or_else(|| AwsError::invalid_parameter("You must provide TagKeys."))?;
    let found = ctx.find(secret_id).await?;
    ctx.allow(Need::Update, "metadata", &ctx.name_for_check(secret_id, found.as_ref())).await?;
    let found = found.ok_or_else(AwsError::not_found)?;
    let mut attrs = found.attrs.clone();
    attrs.tags.retain(|(k, _)| !keys.contains(k));
    ctx.put_attrs(&found, &attrs).await?;
    Ok(json!({}))
}

/// Checks one tag against AWS's limits.
pub fn check_tag(key: &str, value: &str) -> Result<(), AwsError> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(AwsError::invalid_parameter("A tag key must be 1 to 128 characters."));
    }
    if value.chars().count() > 256 {
        return Err(AwsError::invalid_parameter("A tag value must be at most 256 characters."));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(AwsError::invalid_parameter("Tag keys that start with aws: are reserved for AWS use."));
    }
    Ok(())
}

/// The tags of a request: `[{"Key": ..., "Value": ...}]`.
pub fn parse(body: &Map<String, Value>, field: &str) -> Result<Option<Vec<(String, String)>>, AwsError> {
    let Some(list) = params::opt_objects(body, field, MAX_TAGS)? else { return Ok(None) };
    let mut out: Vec<(String, String)> = Vec::with_capacity(list.len());
    for t in list {
        let k = params::req_str(t, "Key")?;
        let v = params::opt_str(t, "Value")?.unwrap_or("");
        check_tag(k, v)?;
        match out.iter_mut().find(|(have, _)| have == k) {
            Some(e) => e.1 = v.to_string(),
            None => out.push((k.to_string(), v.to_string())),
        }
    }
    Ok(Some(out))
}
