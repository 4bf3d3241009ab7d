//! `CreateSecret`, `PutSecretValue` and `UpdateSecret`: new KV versions (and the AWS-only
//! attributes), with `ClientRequestToken` as the KV write's idempotency token.

use serde_json::{json, Map, Value};

use super::super::context::{Ctx, Need};
use super::super::params::{self, opt_bounded};
use super::super::protocol::AwsError;
use super::super::secret::{stage_of, Attrs, Found};
use super::super::values::{self, AwsValue};
use super::{deleted_refusal, tags_param};
use crate::engines::kv::{append_staged, Staging};
use crate::store::KvMetadataRow;

/// The value of a write: `SecretString` or `SecretBinary`, never both.
fn value_param(body: &Map<String, Value>) -> Result<Option<AwsValue>, AwsError> {
    let s = params::opt_str(body, "SecretString")?;
    let b = params::opt_str(body, "SecretBinary")?;
    let v = match (s, b) {
        (Some(_), Some(_)) => {
            return Err(AwsError::invalid_parameter(
                "You can't specify both a binary secret value and a string secret value in the same secret.",
            ))
        }
        (Some(s), None) => AwsValue::String(zeroize::Zeroizing::new(s.to_string())),
        (None, Some(b)) => {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| AwsError::invalid_parameter("SecretBinary must be base64."))?;
            AwsValue::Binary(zeroize::Zeroizing::new(bytes))
        }
        (None, None) => return Ok(None),
    };
    values::check_size(&v).map_err(|e| AwsError::new(e.aws_code(), e.to_string()))?;
    Ok(Some(v))
}

/// Writes `value` as a new version of `name` with the AWS `labels`; returns the version id.
async fn write_version(
    ctx: &Ctx<'_>,
    name: &str,
    value: &AwsValue,
    labels: &[String],
    token: String,
    create_only: bool,
) -> Result<String, AwsError> {
    let data = values::to_kv(value).map_err(|e| AwsError::new(e.aws_code(), e.to_string()))?;
    let mut stages = Vec::with_capacity(labels.len());
    for l in labels {
        stages.push(stage_of(l)?);
    }
    let host = ctx.host();
    let store = host.storage();
    let known = store.kv_request_tokens(name).await.map_err(AwsError::store)?.iter().any(|(t, _)| *t == token);
    if !known && stages.iter().any(|s| s == "pending") {
        // AWS moves AWSPENDING to the new version; the KV API refuses while a rotation holds it.
        let held = store.kv_stages(name).await.map_err(AwsError::store)?;
        if let Some((_, v)) = held.iter().find(|(s, _)| s == "pending") {
            // Lost to a concurrent move: the write below decides (and answers) then.
            match store.kv_stage_move(name, "pending", None, Some(*v)).await {
                Ok(()) | Err(crate::store::StoreError::Conflict) => {}
                Err(e) => return Err(AwsError::store(e)),
            }
        }
    }
    let staging = Staging { stages, request_token: Some(token.clone()) };
    let cas = create_only.then_some(0);
    match append_staged(host, name, &data, cas, false, &staging).await {
        Ok(_) => Ok(token),
        // With a known token, the only conflict is the token's value (a replay answers first).
        Err(e) if e.status == http::StatusCode::CONFLICT && known => Err(AwsError::exists(
            "You can't modify an existing version, you can only create a new version: the ClientRequestToken was \
             already used with a different value.",
        )),
        // A create that lost its check-and-set to another writer of the same name.
        Err(e) if create_only && store.kv_metadata_get(name).await.map_err(AwsError::store)?.is_some() => {
            tracing::debug!(status = e.status.as_u16(), "a concurrent create of the same name won");
            Err(AwsError::exists(format!("The operation failed because the secret {name} already exists.")))
        }
        Err(e) => Err(e.into()),
    }
}

/// `CreateSecret`.
pub async fn create(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(
        body,
        &[
            "Name",
            "ClientRequestToken",
            "Description",
            "KmsKeyId",
            "SecretString",
            "SecretBinary",
            "Tags",
            "AddReplicaRegions",
            "ForceOverwriteReplicaSecret",
        ],
    )?;
    let name = params::req_str(body, "Name")?;
    super::super::names::check_name(name).map_err(|e| AwsError::new(e.aws_code(), e.to_string()))?;
    if body.get("AddReplicaRegions").is_some_and(|v| !v.is_null()) {
        return Err(AwsError::invalid_parameter("Coffer does not replicate secrets to other regions."));
    }
    let value = value_param(body)?;
    let token = params::request_token(body)?.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let description = opt_bounded(body, "Description", 2048)?;
    let kms = opt_bounded(body, "KmsKeyId", 2048)?;
    let tags = tags_param(body, "Tags")?;
    ctx.allow(Need::Create, "data", name).await?;
    let with_attrs = description.is_some() || kms.is_some() || tags.as_ref().is_some_and(|t| !t.is_empty());
    if with_attrs {
        ctx.allow(Need::Create, "metadata", name).await?;
    }
    let store = ctx.host().storage();
    if let Some(meta) = store.kv_metadata_get(name).await.map_err(AwsError::store)? {
        let found = ctx.load(name, meta).await?;
        if found.attrs.deletion.is_some() {
            return Err(AwsError::invalid_request(
                "You can't create this secret because a secret with this name is already scheduled for deletion.",
            ));
        }
        // The same request again (same token, same value) is answered as the first time.
        let known = store.kv_request_tokens(name).await.map_err(AwsError::store)?.iter().any(|(t, _)| *t == token);
        let (true, Some(v)) = (known, &value) else {
            return Err(AwsError::exists(format!("The operation failed because the secret {name} already exists.")));
        };
        let id = write_version(ctx, name, v, &["AWSCURRENT".to_string()], token, false).await?;
        return Ok(json!({"ARN": ctx.arn(name, &found.meta)?, "Name": name, "VersionId": id}));
    }
    let version_id = match &value {
        Some(v) => Some(write_version(ctx, name, v, &["AWSCURRENT".to_string()], token, true).await?),
        None => {
            let row = KvMetadataRow::new(&ctx.mount.row.id, name, crate::base::logical::timestamp(ctx.now()));
            store.kv_metadata_put(&row).await.map_err(AwsError::store)?;
            None
        }
    };
    let meta = store.kv_metadata_get(name).await.map_err(AwsError::store)?.ok_or_else(AwsError::internal)?;
    let found = Found { name: name.to_string(), meta, attrs: Attrs::default() };
    if with_attrs {
        let attrs = Attrs {
            created: found.meta.created_time.clone(),
            description: description.map(str::to_string),
            kms_key_id: kms.map(str::to_string),
            tags: tags.unwrap_or_default(),
            ..Attrs::default()
        };
        ctx.put_attrs(&found, &attrs).await?;
    }
    let mut out = json!({"ARN": ctx.arn(name, &found.meta)?, "Name": name});
    if let (Some(id), Value::Object(m)) = (version_id, &mut out) {
        m.insert("VersionId".into(), Value::String(id));
    }
    Ok(out)
}

/// `PutSecretValue`.
pub async fn put_value(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(
        body,
        &["SecretId", "ClientRequestToken", "SecretString", "SecretBinary", "VersionStages", "RotationToken"],
    )?;
    let secret_id = params::req_str(body, "SecretId")?;
    let value = value_param(body)?
        .ok_or_else(|| AwsError::invalid_parameter("You must provide either SecretString or SecretBinary."))?;
    let token = params::request_token(body)?.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let labels = params::opt_strings(body, "VersionStages", 20)?.unwrap_or_else(|| vec!["AWSCURRENT".to_string()]);
    if labels.is_empty() {
        return Err(AwsError::invalid_parameter("VersionStages must name at least one staging label."));
    }
    let found = ctx.find(secret_id).await?;
    ctx.allow(Need::Update, "data", &ctx.name_for_check(secret_id, found.as_ref())).await?;
    let found = found.ok_or_else(AwsError::not_found)?;
    if found.attrs.deletion.is_some() {
        return Err(deleted_refusal());
    }
    let id = write_version(ctx, &found.name, &value, &labels, token, false).await?;
    Ok(json!({"ARN": ctx.arn(&found.name, &found.meta)?, "Name": found.name, "VersionId": id, "VersionStages": labels}))
}

/// `UpdateSecret`: a new value (made current), a new description or KMS key id.
pub async fn update(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["SecretId", "ClientRequestToken", "Description", "KmsKeyId", "SecretString", "SecretBinary"])?;
    let secret_id = params::req_str(body, "SecretId")?;
    let value = value_param(body)?;
    let token = params::request_token(body)?.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let description = opt_bounded(body, "Description", 2048)?;
    let kms = opt_bounded(body, "KmsKeyId", 2048)?;
    let found = ctx.find(secret_id).await?;
    let name = ctx.name_for_check(secret_id, found.as_ref());
    if value.is_some() {
        ctx.allow(Need::Update, "data", &name).await?;
    }
    if description.is_some() || kms.is_some() {
        ctx.allow(Need::Update, "metadata", &name).await?;
    }
    if value.is_none() && description.is_none() && kms.is_none() {
        ctx.allow(Need::Update, "metadata", &name).await?;
    }
    let found = found.ok_or_else(AwsError::not_found)?;
    let mut attrs = found.attrs.clone();
    if attrs.deletion.is_some() {
        return Err(deleted_refusal());
    }
    let version_id = match &value {
        Some(v) => Some(write_version(ctx, &found.name, v, &["AWSCURRENT".to_string()], token, false).await?),
        None => None,
    };
    if description.is_some() || kms.is_some() {
        if let Some(d) = description {
            attrs.description = Some(d.to_string());
        }
        if let Some(k) = kms {
            attrs.kms_key_id = Some(k.to_string());
        }
        ctx.put_attrs(&found, &attrs).await?;
    }
    let mut out = json!({"ARN": ctx.arn(&found.name, &found.meta)?, "Name": found.name});
    if let (Some(id), Value::Object(m)) = (version_id, &mut out) {
        m.insert("VersionId".into(), Value::String(id));
    }
    Ok(out)
}
