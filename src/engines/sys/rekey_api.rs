//! `sys/rekey/{init,update,verify,backup}` (Vault's shape, bare bodies) and OpenBao's
//! `sys/rotate/root/{…}` (the same, inside `data`): new key shares, with a sudo token on every
//! call (SEC-19). The work is in `core::seal::rekey`.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::seal::rekey::{Issued, Start, Status, Update, Verified, VerifyStatus};
use crate::core::Core;

/// Which paths the request came on: they differ only in the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `sys/rekey/*`: Vault's bare bodies.
    Rekey,
    /// `sys/rotate/root/*`: OpenBao's, inside `data`.
    RotateRoot,
}

impl Api {
    fn answer(self, body: Value) -> Response {
        match self {
            Api::Rekey => Response::bare(body),
            Api::RotateRoot => Response::data(body),
        }
    }
}

/// Serves `rest` (the path after `sys/rekey/` or `sys/rotate/root/`).
pub async fn route(core: &Core, api: Api, rest: &str, req: &Request) -> Result<Response, ApiError> {
    let op = req.operation;
    let rekey = &core.seal.rekey;
    let body = match (rest, op) {
        ("init", Operation::Read) => status(&rekey.status(core).await?),
        ("init", Operation::Delete) => {
            rekey.cancel(core).await?;
            return Ok(Response::NoContent);
        }
        ("init", _) if op.is_write() => status(&rekey.start(core, start_of(req)?).await?),
        ("update", _) if op.is_write() => {
            let (key, nonce) = share_of(req)?;
            match rekey.update(core, key, nonce).await? {
                Update::Progress(s) => with_complete(status(&s), false),
                Update::Done(issued) => issued_body(&issued),
            }
        }
        ("verify", Operation::Read) => verify_status(&rekey.verify_status(core).await?),
        ("verify", Operation::Delete) => verify_status(&rekey.restart_verification(core).await?),
        ("verify", _) if op.is_write() => {
            let (key, nonce) = share_of(req)?;
            match rekey.verify(core, key, nonce).await? {
                Verified::Progress(s) => with_complete(verify_status(&s), false),
                Verified::Done(nonce) => json!({"nonce": nonce, "complete": true}),
            }
        }
        // Backups hold PGP-encrypted shares, and PGP is not supported: there is never one.
        ("backup", Operation::Read) => return Err(ApiError::bad_request("no backed-up keys found")),
        ("backup", Operation::Delete) => return Ok(Response::NoContent),
        ("init" | "update" | "verify" | "backup", _) => return Err(ApiError::unsupported_operation()),
        _ => return Err(ApiError::unsupported_path()),
    };
    Ok(api.answer(body))
}

/// The fields of `PUT init`. PGP-encrypted shares (and their backup) are refused, as `sys/init`
/// refuses them.
fn start_of(req: &Request) -> Result<Start, ApiError> {
    let d = &req.data;
    if d.get("pgp_keys").is_some_and(|v| !v.is_null() && v != &json!([]) && v != &json!("")) {
        return Err(ApiError::bad_request("pgp_keys is not supported"));
    }
    if params::bool_field(d, "backup")?.unwrap_or(false) {
        return Err(ApiError::bad_request("backup is not supported (it keeps PGP-encrypted shares, and PGP is not)"));
    }
    // Vault's field is `require_verification`; the status calls it `verification_required`.
    let verify = params::bool_field(d, "require_verification")?.unwrap_or(false)
        || params::bool_field(d, "verification_required")?.unwrap_or(false);
    Ok(Start {
        shares: params::u64_field(d, "secret_shares")?.unwrap_or(0),
        threshold: params::u64_field(d, "secret_threshold")?.unwrap_or(0),
        verify,
    })
}

/// `key` and `nonce` of `PUT update` and `PUT verify`.
fn share_of(req: &Request) -> Result<(&str, &str), ApiError> {
    let key = params::str_field(&req.data, "key")?
        .ok_or_else(|| ApiError::bad_request("'key' must be specified in request body as JSON"))?;
    let nonce = params::str_field(&req.data, "nonce")?.unwrap_or("");
    Ok((key, nonce))
}

fn status(s: &Status) -> Value {
    json!({
        "started": s.started,
        "nonce": s.nonce,
        "t": s.threshold,
        "n": s.shares,
        "progress": s.progress,
        "required": s.required,
        "pgp_fingerprints": null,
        "backup": false,
        "verification_required": s.verification_required,
        "verification_nonce": s.verification_nonce,
    })
}

fn verify_status(s: &VerifyStatus) -> Value {
    json!({"started": true, "nonce": s.nonce, "t": s.threshold, "n": s.shares, "progress": s.progress})
}

fn with_complete(mut body: Value, complete: bool) -> Value {
    if let Some(o) = body.as_object_mut() {
        o.insert("complete".into(), json!(complete));
    }
    body
}

fn issued_body(i: &Issued) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    json!({
        "nonce": i.nonce,
        "complete": true,
        "keys": i.shares.iter().map(hex::encode).collect::<Vec<_>>(),
        "keys_base64": i.shares.iter().map(|s| b64.encode(&s[..])).collect::<Vec<_>>(),
        "pgp_fingerprints": null,
        "backup": false,
        "verification_required": i.verification_required,
        "verification_nonce": i.verification_nonce,
    })
}
