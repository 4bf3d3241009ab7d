//! The Secrets Manager operations: `X-Amz-Target` names to the functions that run them.

mod describe;
mod labels;
pub mod lifecycle;
mod list;
mod read;
mod resource_policy;
mod rotate;
mod tags;
mod write;

use serde_json::{Map, Value};

use super::context::Ctx;
use super::protocol::AwsError;

/// The operations on one secret (the actions a resource policy may name).
pub const SECRET_OPERATIONS: &[&str] = &[
    "CancelRotateSecret",
    "DeleteResourcePolicy",
    "DeleteSecret",
    "DescribeSecret",
    "GetResourcePolicy",
    "GetSecretValue",
    "ListSecretVersionIds",
    "PutResourcePolicy",
    "PutSecretValue",
    "RestoreSecret",
    "RotateSecret",
    "TagResource",
    "UntagResource",
    "UpdateSecret",
    "UpdateSecretVersionStage",
];

/// The other operations Coffer serves.
const OTHER_OPERATIONS: &[&str] =
    &["BatchGetSecretValue", "CreateSecret", "GetRandomPassword", "ListSecrets", "ValidateResourcePolicy"];

/// Whether Coffer serves `operation`.
pub fn serves(operation: &str) -> bool {
    SECRET_OPERATIONS.contains(&operation) || OTHER_OPERATIONS.contains(&operation)
}

/// Runs `ctx.operation` on the request body.
pub async fn run(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    match ctx.operation.as_str() {
        "BatchGetSecretValue" => read::batch(ctx, body).await,
        "CancelRotateSecret" => rotate::cancel(ctx, body).await,
        "DeleteResourcePolicy" => resource_policy::delete(ctx, body).await,
        "GetResourcePolicy" => resource_policy::get(ctx, body).await,
        "PutResourcePolicy" => resource_policy::put(ctx, body).await,
        "RotateSecret" => rotate::rotate(ctx, body).await,
        "ValidateResourcePolicy" => resource_policy::validate(ctx, body).await,
        "CreateSecret" => write::create(ctx, body).await,
        "DeleteSecret" => lifecycle::delete(ctx, body).await,
        "DescribeSecret" => describe::describe(ctx, body).await,
        "GetRandomPassword" => random_password(body).await,
        "GetSecretValue" => read::get(ctx, body).await,
        "ListSecretVersionIds" => describe::version_ids(ctx, body).await,
        "ListSecrets" => list::list(ctx, body).await,
        "PutSecretValue" => write::put_value(ctx, body).await,
        "RestoreSecret" => lifecycle::restore(ctx, body).await,
        "TagResource" => tags::tag(ctx, body).await,
        "UntagResource" => tags::untag(ctx, body).await,
        "UpdateSecret" => write::update(ctx, body).await,
        "UpdateSecretVersionStage" => labels::update_stage(ctx, body).await,
        other => Err(AwsError::new("UnknownOperationException", format!("Unknown operation {other}."))),
    }
}

/// `GetRandomPassword`: touches no stored data, so any valid key may call it. The drawing runs
/// off the async threads (it is bounded by the generator's time limit).
async fn random_password(body: &Map<String, Value>) -> Result<Value, AwsError> {
    super::params::only(
        body,
        &[
            "PasswordLength",
            "ExcludeCharacters",
            "ExcludeNumbers",
            "ExcludePunctuation",
            "ExcludeUppercase",
            "ExcludeLowercase",
            "IncludeSpace",
            "RequireEachIncludedType",
        ],
    )?;
    let options = super::random_password::parse(body).map_err(|e| AwsError::new(e.aws_code(), e.to_string()))?;
    let password = tokio::task::spawn_blocking(move || super::random_password::generate(&options))
        .await
        .map_err(|_| AwsError::internal())?
        .map_err(|e| AwsError::new(e.aws_code(), e.to_string()))?;
    Ok(serde_json::json!({ "RandomPassword": password.as_str() }))
}

/// The refusal of any use of a secret scheduled for deletion.
fn deleted_refusal() -> AwsError {
    AwsError::invalid_request("You can't perform this operation on the secret because it was marked for deletion.")
}

/// `Tags` of a request.
fn tags_param(body: &Map<String, Value>, field: &str) -> Result<Option<Vec<(String, String)>>, AwsError> {
    tags::parse(body, field)
}
