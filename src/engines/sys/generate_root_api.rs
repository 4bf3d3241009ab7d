//! `sys/generate-root/attempt|update` (Vault's shape, bare JSON) and OpenBao's successor paths
//! `sys/generate-root-token/attempt|update` (the `data` envelope; the `bao` 2.7 CLI calls these),
//! both answered before authentication: the same attempt (`core::generate_root`) behind both.
//! Off unless `[seal] generate_root = true`; off, Vault's paths answer 405 as OpenBao's disabled
//! endpoints do, and OpenBao's take the ordinary token check (403 without a token).

use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::generate_root::Status;
use crate::core::Core;

/// Which spelling of the endpoints was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// `sys/generate-root/*`.
    Vault,
    /// `sys/generate-root-token/*`.
    OpenBao,
}

/// The family and the endpoint (`attempt` or `update`) of `path`; `None` for any other path.
fn parse(path: &str) -> Option<(Family, &str)> {
    let path = path.trim_end_matches('/');
    let (family, leaf) = if let Some(leaf) = path.strip_prefix("sys/generate-root/") {
        (Family::Vault, leaf)
    } else {
        (Family::OpenBao, path.strip_prefix("sys/generate-root-token/")?)
    };
    matches!(leaf, "attempt" | "update").then_some((family, leaf))
}

/// True when `path` is answered without a token (the edge then caps the body at the
/// unauthenticated limit): Vault's paths always (405 while the feature is off, whatever the
/// request carries), OpenBao's while the feature is on.
pub fn is_open(core: &Core, path: &str) -> bool {
    match parse(path) {
        Some((Family::Vault, _)) => true,
        Some((Family::OpenBao, _)) => core.generate_root.is_enabled(),
        None => false,
    }
}

/// 405 with OpenBao's exact text for its disabled unauthenticated endpoints.
fn disabled() -> ApiError {
    ApiError::new(http::StatusCode::METHOD_NOT_ALLOWED, "unsupported operation")
}

/// Answers the generate-root endpoints; `None` for every other path (and for OpenBao's paths
/// while the feature is off, which then need a token like any unknown path).
pub async fn route(core: &Core, req: &Request) -> Option<Result<Response, ApiError>> {
    let (family, leaf) = parse(&req.path)?;
    if !core.generate_root.is_enabled() {
        return (family == Family::Vault).then(|| Err(disabled()));
    }
    Some(serve(core, req, family, leaf).await)
}

async fn serve(core: &Core, req: &Request, family: Family, leaf: &str) -> Result<Response, ApiError> {
    let gr = &core.generate_root;
    let client = req.client_addr.map(|a| a.ip());
    let op = req.operation;
    match leaf {
        "attempt" if op == Operation::Read => Ok(render(family, Shown::Status, &gr.status(core).await?)),
        "attempt" if op.is_write() => {
            if params::str_field(&req.data, "pgp_key")?.is_some_and(|k| !k.is_empty()) {
                return Err(ApiError::bad_request("pgp_key is not supported: start with an otp (or none)"));
            }
            let otp = params::str_field(&req.data, "otp")?.map(|o| Zeroizing::new(o.to_string()));
            Ok(render(family, Shown::Start, &gr.start(core, otp, client).await?))
        }
        "attempt" if op == Operation::Delete => {
            gr.cancel(core, params::str_field(&req.data, "nonce")?, client).await?;
            Ok(Response::NoContent)
        }
        "update" if op.is_write() => {
            let nonce = params::str_field(&req.data, "nonce")?;
            let key = params::str_field(&req.data, "key")?
                .ok_or_else(|| ApiError::bad_request("'key' must be specified in request body as JSON"))?;
            Ok(render(family, Shown::Update, &gr.update(core, key, nonce, client).await?))
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}

/// Which answer is rendered: OpenBao's successor paths show a different field set in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    Status,
    Start,
    Update,
}

fn render(family: Family, shown: Shown, s: &Status) -> Response {
    match family {
        // Vault's field set, the same in every answer.
        Family::Vault => Response::bare(json!({
            "nonce": s.nonce,
            "started": s.started,
            "progress": s.progress,
            "required": s.required,
            "complete": s.complete,
            "encoded_token": s.encoded_token,
            "encoded_root_token": s.encoded_token,
            "pgp_fingerprint": "",
            "otp": s.otp.as_str(),
            "otp_length": s.otp_length,
        })),
        Family::OpenBao => {
            let mut data = json!({
                "complete": s.complete,
                "progress": s.progress,
                "required": s.required,
                "started": s.started,
            });
            let extra: Value = match shown {
                Shown::Status => json!({"otp": "", "otp_length": s.otp_length}),
                Shown::Start => json!({
                    "nonce": s.nonce, "otp": s.otp.as_str(), "otp_length": s.otp_length, "pgp_fingerprint": "",
                }),
                Shown::Update => json!({"nonce": s.nonce, "encoded_token": s.encoded_token, "pgp_fingerprint": ""}),
            };
            if let (Some(d), Value::Object(e)) = (data.as_object_mut(), extra) {
                d.extend(e);
            }
            Response::data(data)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_four_endpoints_in_their_exact_spelling_are_recognised() {
        assert_eq!(parse("sys/generate-root/attempt"), Some((Family::Vault, "attempt")));
        assert_eq!(parse("sys/generate-root/update/"), Some((Family::Vault, "update")));
        assert_eq!(parse("sys/generate-root-token/attempt"), Some((Family::OpenBao, "attempt")));
        for other in [
            "sys/generate-root",
            "sys/generate-root/",
            "sys/generate-root/Attempt",
            "sys/Generate-Root/attempt",
            "sys/generate-root/attempt/x",
            "sys/generate-root//attempt",
            "sys/generate-root/decode-token",
            "sys/generate-roots/attempt",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }
}
