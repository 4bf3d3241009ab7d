//! The webhook rotator's wire contract: each step is `POST <url>` with the JSON body
//! `{"step", "mount", "path", "version_token"}` and `X-Coffer-Signature: sha256=<hex HMAC-SHA256
//! of the exact body>` under the shared key. A 2xx answer is success. The answer to `create` must
//! be `{"data": {...}}`: the new secret data, which Coffer writes as the `pending` version.
//! The URL must be admitted by the operator's outbound allow-list (`crate::core::outbound`); the
//! connection goes to the address the host resolved to when it was checked. No redirects are
//! followed, no proxy is used; errors name the status, never the answer's body. Signing and
//! sending are the core's (`crate::core::outbound::signed`), shared with alert webhooks.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::config::HmacKey;
use crate::core::outbound::signed::{self, Post};
use crate::core::outbound::Permit;

/// Longest wait for one step's answer.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read (the `create` answer carries the new secret).
const MAX_ANSWER: usize = 1 << 20;

/// Where and how to call the hook.
pub struct Hook<'a> {
    /// The URL.
    pub url: &'a str,
    /// The shared key.
    pub key: &'a HmacKey,
    /// Replacement CA roots (empty: the built-in ones).
    pub ca_pem: &'a str,
}

/// What a step is about.
pub struct Call<'a> {
    /// `create`, `set`, `test` or `finish`.
    pub step: &'a str,
    /// The mount's API path (`secret/`).
    pub mount: &'a str,
    /// The secret's path.
    pub path: &'a str,
    /// The rotation's token.
    pub version_token: &'a str,
}

/// Calls one step. Returns the `data` object of the answer to `create`, `None` for other steps.
/// The URL must have passed the outbound allow-list: `permit` pins the address it was checked at.
pub async fn call(hook: &Hook<'_>, permit: &Permit, c: &Call<'_>) -> Result<Option<Map<String, Value>>, String> {
    let body = serde_json::to_vec(&json!({
        "step": c.step,
        "mount": c.mount,
        "path": c.path,
        "version_token": c.version_token,
    }))
    .map_err(|e| e.to_string())?;
    let post = Post { permit, key: hook.key, ca_pem: hook.ca_pem, timeout: TIMEOUT };
    let mut resp = signed::post(&post, body).await.map_err(|e| format!("webhook step {}: {e}", c.step))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("webhook step {} answered HTTP {}", c.step, status.as_u16()));
    }
    if c.step != "create" {
        return Ok(None);
    }
    let mut answer: Vec<u8> = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("webhook step create: {}", e.without_url()))? {
        if answer.len() + chunk.len() > MAX_ANSWER {
            return Err("webhook step create: the answer is larger than 1 MiB".into());
        }
        answer.extend_from_slice(&chunk);
    }
    let parsed: Value = serde_json::from_slice(&answer)
        .map_err(|_| "webhook step create: the answer is not JSON of the form {\"data\": {...}}".to_string())?;
    match parsed {
        Value::Object(mut o) => match o.remove("data") {
            Some(Value::Object(data)) if !data.is_empty() => Ok(Some(data)),
            _ => Err("webhook step create: the answer has no non-empty \"data\" object".into()),
        },
        _ => Err("webhook step create: the answer is not JSON of the form {\"data\": {...}}".into()),
    }
}
