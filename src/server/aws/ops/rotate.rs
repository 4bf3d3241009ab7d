//! `RotateSecret` and `CancelRotateSecret`: the secret's Coffer rotation (`<mount>/rotation/<name>`
//! and `<mount>/rotate/<name>`, the same four persisted steps), reached through the KV engine
//! itself with the signer's identity, after the ACL check on each path.

use serde_json::{json, Map, Value};

use super::super::context::{Ctx, Need};
use super::super::params;
use super::super::protocol::AwsError;
use super::super::values::{BINARY_KEY, STRING_KEY};
use super::deleted_refusal;
use crate::base::logical::{Operation, Request, Response};
use crate::core::engine::Call;

/// Runs `op` on `<mount>/<rel>` in the KV engine as the signer.
async fn engine(ctx: &Ctx<'_>, op: Operation, rel: &str, data: Map<String, Value>) -> Result<Option<Value>, AwsError> {
    let call = Call { host: ctx.host(), mount: &ctx.mount, path: rel, token: &ctx.identity, sudo: false };
    let req = Request {
        id: ctx.request_id.clone(),
        operation: op,
        path: format!("{}{rel}", ctx.mount.api_path),
        data,
        token: None,
        client_addr: ctx.client,
        wrap_ttl: None,
        strong: false,
        raw: None,
        peer_certs: None,
    };
    match ctx.mount.engine.handle(call, req).await? {
        Response::Envelope { data, .. } => Ok(data),
        _ => Ok(None),
    }
}

/// The schedule and window of `RotationRules`.
fn rules(body: &Map<String, Value>) -> Result<Option<Map<String, Value>>, AwsError> {
    let Some(r) = body.get("RotationRules").filter(|v| !v.is_null()) else { return Ok(None) };
    let r = r.as_object().ok_or_else(|| AwsError::new("SerializationException", "RotationRules must be an object."))?;
    params::only(r, &["AutomaticallyAfterDays", "ScheduleExpression", "Duration"])?;
    let days = params::opt_int(r, "AutomaticallyAfterDays", 1, 1000)?;
    let expr = params::opt_bounded(r, "ScheduleExpression", 256)?;
    let schedule = match (days, expr) {
        (Some(_), Some(_)) => {
            return Err(AwsError::invalid_parameter(
                "You can't specify both AutomaticallyAfterDays and ScheduleExpression.",
            ))
        }
        (Some(d), None) => format!("rate({d} days)"),
        (None, Some(e)) => e.to_string(),
        (None, None) => {
            return Err(AwsError::invalid_parameter(
                "RotationRules needs AutomaticallyAfterDays or ScheduleExpression.",
            ))
        }
    };
    let mut out = Map::new();
    out.insert("schedule".into(), json!(schedule));
    if let Some(d) = params::opt_bounded(r, "Duration", 16)? {
        out.insert("window".into(), json!(d));
    }
    Ok(Some(out))
}

/// `RotateSecret`.
pub async fn rotate(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["SecretId", "ClientRequestToken", "RotationLambdaARN", "RotationRules", "RotateImmediately"])?;
    let secret_id = params::req_str(body, "SecretId")?;
    params::request_token(body)?;
    let lambda = params::opt_bounded(body, "RotationLambdaARN", 2048)?;
    let schedule = rules(body)?;
    let now = params::opt_bool(body, "RotateImmediately")?.unwrap_or(true);
    let found = ctx.find(secret_id).await?;
    let name = ctx.name_for_check(secret_id, found.as_ref());
    ctx.allow(Need::Update, "rotate", &name).await?;
    if schedule.is_some() {
        ctx.allow(Need::Update, "rotation", &name).await?;
    }
    let found = found.ok_or_else(AwsError::not_found)?;
    if found.attrs.deletion.is_some() {
        return Err(deleted_refusal());
    }
    let configured = ctx.host().storage().rotation_get(&found.name).await.map_err(AwsError::store)?;
    let current_rotator = match &configured {
        Some(row) => {
            let cfg =
                crate::engines::kv::rotation::config::open(ctx.host(), &found.name, &row.config).map_err(|e| {
                    tracing::error!(secret = %found.name, error = %e, "a stored rotation configuration did not open");
                    AwsError::internal()
                })?;
            Some(cfg.rotator)
        }
        None => None,
    };
    if let Some(arn) = lambda {
        // Coffer runs no Lambda functions; it accepts the URL of the webhook rotator an operator
        // configured for this secret, so that SDK code passing its rotator keeps working.
        let same = matches!(&current_rotator, Some(crate::engines::kv::rotation::config::Rotator::Webhook { url, .. }) if url == arn);
        if !same {
            return Err(AwsError::invalid_parameter(format!(
                "Coffer cannot invoke a Lambda function. Configure a rotator at {}rotation/{} (a webhook on the \
                 operator's outbound allow-list, or a password rotator) and leave RotationLambdaARN out, or pass \
                 that webhook's URL.",
                ctx.mount.api_path, found.name
            )));
        }
    }
    if let Some(mut data) = schedule {
        if current_rotator.is_none() {
            data.insert("rotator".into(), password_rotator(ctx, &found.name).await?);
        }
        engine(ctx, Operation::Update, &format!("rotation/{}", found.name), data).await?;
    } else if current_rotator.is_none() {
        return Err(AwsError::invalid_request(format!(
            "No rotation is configured for this secret: give RotationRules, or configure one at {}rotation/{}.",
            ctx.mount.api_path, found.name
        )));
    }
    let mut out = json!({"ARN": ctx.arn(&found.name, &found.meta)?, "Name": found.name});
    if now {
        let started = engine(ctx, Operation::Update, &format!("rotate/{}", found.name), Map::new()).await?;
        if let (Some(token), Value::Object(m)) =
            (started.as_ref().and_then(|d| d.get("version_token")).cloned(), &mut out)
        {
            m.insert("VersionId".into(), token);
        }
    }
    Ok(out)
}

/// The rotator a secret gets when `RotateSecret` configures it: new passwords from the default
/// policy for the `password` field of a JSON secret, or for the whole of a plain string secret.
async fn password_rotator(ctx: &Ctx<'_>, name: &str) -> Result<Value, AwsError> {
    let read = ctx.host().storage().kv_read(name, None).await.map_err(AwsError::store)?;
    let Some((_, Some(row))) = read else {
        return Err(AwsError::invalid_request("The secret has no value to rotate yet."));
    };
    let data =
        crate::engines::kv::decrypt_version(ctx.host().barrier(), &ctx.mount.row.id, name, &row).map_err(|e| {
            tracing::error!(secret = %name, error = %e, "a stored version did not open");
            AwsError::new("DecryptionFailure", "Secrets Manager can't decrypt the protected secret text.")
        })?;
    let field = if data.contains_key("password") {
        "password"
    } else if data.len() == 1 && data.contains_key(STRING_KEY) {
        STRING_KEY
    } else {
        let binary = data.contains_key(BINARY_KEY);
        return Err(AwsError::invalid_request(if binary {
            "A binary secret cannot get a generated password: configure a webhook rotator for it.".to_string()
        } else {
            format!(
                "The secret has no \"password\" field: configure which fields rotate at {}rotation/{name}.",
                ctx.mount.api_path
            )
        }));
    };
    Ok(json!({"type": "password", "fields": [field]}))
}

/// `CancelRotateSecret`: stops scheduling. A rotation in flight finishes (or fails) and is not
/// rolled back; its pending version stays, as in AWS.
pub async fn cancel(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["SecretId"])?;
    let secret_id = params::req_str(body, "SecretId")?;
    let found = ctx.find(secret_id).await?;
    ctx.allow(Need::Delete, "rotation", &ctx.name_for_check(secret_id, found.as_ref())).await?;
    let found = found.ok_or_else(AwsError::not_found)?;
    engine(ctx, Operation::Delete, &format!("rotation/{}", found.name), Map::new()).await?;
    Ok(json!({"ARN": ctx.arn(&found.name, &found.meta)?, "Name": found.name}))
}

/// What `DescribeSecret` and `ListSecrets` say of rotation.
pub async fn describe(ctx: &Ctx<'_>, name: &str, out: &mut Map<String, Value>) -> Result<(), AwsError> {
    let row = ctx.host().storage().rotation_get(name).await.map_err(AwsError::store)?;
    let enabled = row.as_ref().is_some_and(|r| r.scheduled && r.next_rotation_at.is_some());
    out.insert("RotationEnabled".into(), json!(enabled));
    if let Some(r) = row.filter(|_| enabled) {
        if let Ok(cfg) = crate::engines::kv::rotation::config::open(ctx.host(), name, &r.config) {
            let mut rules = json!({"ScheduleExpression": cfg.schedule});
            if cfg.window > 0 {
                crate::base::json::set(&mut rules, "Duration", json!(crate::base::duration::format(cfg.window)));
            }
            out.insert("RotationRules".into(), rules);
            if let crate::engines::kv::rotation::config::Rotator::Webhook { url, .. } = &cfg.rotator {
                out.insert("RotationLambdaARN".into(), json!(url));
            }
        }
        if let Some(ms) = r.next_rotation_at {
            out.insert("NextRotationDate".into(), json!(ms as f64 / 1000.0));
        }
    }
    Ok(())
}
