//! `UpdateSecretVersionStage`: moves a staging label between versions by compare-and-set, under
//! the rules of ROTATION.md (the KV `stages` endpoint's).

use serde_json::{json, Map, Value};

use super::super::context::{Ctx, Need};
use super::super::params;
use super::super::protocol::AwsError;
use super::super::secret::stage_of;
use crate::engines::kv::stages::{move_stage, CURRENT, PREVIOUS};

/// `UpdateSecretVersionStage`.
pub async fn update_stage(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["SecretId", "VersionStage", "RemoveFromVersionId", "MoveToVersionId"])?;
    let secret_id = params::req_str(body, "SecretId")?;
    let label = params::req_str(body, "VersionStage")?;
    let stage = stage_of(label)?;
    let remove = params::opt_str(body, "RemoveFromVersionId")?;
    let move_to = params::opt_str(body, "MoveToVersionId")?;
    let found = ctx.find(secret_id).await?;
    ctx.allow(Need::Update, "stages", &ctx.name_for_check(secret_id, found.as_ref())).await?;
    let found = found.ok_or_else(AwsError::not_found)?;
    if remove.is_none() && move_to.is_none() {
        return Err(AwsError::invalid_parameter("Specify RemoveFromVersionId, MoveToVersionId or both."));
    }
    if stage == PREVIOUS && move_to.is_some() {
        return Err(AwsError::invalid_parameter(
            "AWSPREVIOUS follows AWSCURRENT in Coffer: move AWSCURRENT and AWSPREVIOUS moves with it.",
        ));
    }
    if stage == CURRENT && move_to.is_none() {
        return Err(AwsError::invalid_parameter(
            "You can't remove AWSCURRENT from a version without moving it to another (MoveToVersionId).",
        ));
    }
    let versions = ctx.versions(&found).await?;
    let number = |id: &str| {
        versions
            .iter()
            .find(|v| v.id == id)
            .map(|v| v.row.version)
            .ok_or_else(|| AwsError::invalid_parameter(format!("The version {id} does not exist for this secret.")))
    };
    let to = move_to.map(number).transpose()?;
    let from = remove.map(number).transpose()?;
    // AWS moves a label off its holder only when told which one: naming none while one holds it
    // is refused (compare-and-set), as is naming the wrong one.
    let holder = versions.iter().find(|v| v.labels.iter().any(|l| l == label)).map(|v| v.row.version);
    if holder.is_some() && from.is_none() && holder != to {
        return Err(AwsError::invalid_parameter(format!(
            "The staging label {label} is currently attached to another version: give it as RemoveFromVersionId."
        )));
    }
    let from = if holder == to && from.is_none() { holder } else { from };
    move_stage(ctx.host(), &found.name, &stage, to, from).await.map_err(|e| match e.status {
        http::StatusCode::CONFLICT => AwsError::invalid_parameter(format!(
            "The staging label {label} is not on the version given in RemoveFromVersionId."
        )),
        _ => AwsError::from(e),
    })?;
    Ok(json!({"ARN": ctx.arn(&found.name, &found.meta)?, "Name": found.name}))
}
