//! Auto-auth: logging in with what the workload already has (AppRole files, a JWT file, a client
//! certificate, AWS credentials in the environment). Each
//! login reads its files again, so a rotated JWT or secret id is picked up; a secret id whose
//! file is removed after reading is kept in memory for the next login.

use std::path::Path;
use std::sync::Mutex;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use zeroize::Zeroizing;

use super::client::{CallError, Client};
use super::config::{Auth, Method as AuthMethod};

/// A successful login.
pub struct Login {
    /// The token.
    pub token: SecretString,
    /// Its TTL in seconds (0: no expiry).
    pub ttl: u64,
    /// Whether `renew-self` may extend it.
    pub renewable: bool,
}

/// Why a login failed.
#[derive(Debug)]
pub enum LoginError {
    /// The server could not be reached, or refused: try again later.
    Call(CallError),
    /// A local problem (a missing file, no credentials): try again later too, it may be fixed.
    Local(String),
}

impl std::fmt::Display for LoginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginError::Call(e) => e.fmt(f),
            LoginError::Local(e) => f.write_str(e),
        }
    }
}

/// The configured method, with the secret id kept after its file was removed.
pub struct AutoAuth {
    cfg: Auth,
    kept_secret_id: Mutex<Option<Zeroizing<String>>>,
}

impl AutoAuth {
    /// The method of the configuration.
    pub fn new(cfg: Auth) -> Result<AutoAuth, String> {
        Ok(AutoAuth { cfg, kept_secret_id: Mutex::new(None) })
    }

    /// Logs in once.
    pub async fn login(&self, client: &Client) -> Result<Login, LoginError> {
        let body = match &self.cfg.method {
            AuthMethod::AppRole { role_id_file, secret_id_file, remove_secret_id } => {
                let role_id = read_trimmed(role_id_file)?;
                let secret_id = self.secret_id(secret_id_file, *remove_secret_id)?;
                json_body(&AppRoleLogin { role_id: &role_id, secret_id: &secret_id })?
            }
            AuthMethod::Jwt { role, token_file } => {
                let jwt = read_trimmed(token_file)?;
                json_body(&JwtLogin { role, jwt: &jwt })?
            }
            // The certificate itself goes with the connection (the client presents it).
            AuthMethod::Cert { name, .. } => json_body(&CertLogin { name: name.as_deref() })?,
            AuthMethod::Aws { role, region, header_value } => {
                let now = crate::base::schedule::Clock::now(&crate::base::schedule::SystemClock);
                let creds = super::aws_credentials::find().await.map_err(LoginError::Local)?;
                super::aws_login::body(&creds, role.as_deref(), region, header_value.as_deref(), now)
                    .map_err(LoginError::Local)?
            }
        };
        let path = format!("auth/{}/login", self.cfg.mount);
        let answer = client.call_bytes(Method::POST, &path, None, Some(&body)).await.map_err(LoginError::Call)?;
        parse_auth(&answer).ok_or_else(|| LoginError::Local(format!("{path} answered without an auth block")))
    }

    /// The secret id: the file if it is there (removed after reading when asked, and kept in
    /// memory), else the one kept from an earlier read.
    fn secret_id(&self, file: &Path, remove: bool) -> Result<Zeroizing<String>, LoginError> {
        let mut kept = self.kept_secret_id.lock().map_err(|_| LoginError::Local("poisoned lock".into()))?;
        match read_trimmed(file) {
            Ok(s) => {
                if remove {
                    if let Err(e) = std::fs::remove_file(file) {
                        tracing::warn!("cannot remove the secret-id file {}: {e}", file.display());
                    }
                    *kept = Some(s.clone());
                }
                Ok(s)
            }
            Err(e) => kept.clone().ok_or(e),
        }
    }
}

#[derive(serde::Serialize)]
struct AppRoleLogin<'a> {
    role_id: &'a str,
    secret_id: &'a str,
}

#[derive(serde::Serialize)]
struct CertLogin<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct JwtLogin<'a> {
    role: &'a str,
    jwt: &'a str,
}

/// A login body, serialised into a buffer wiped on drop (sized first, so it never reallocates).
fn json_body<T: serde::Serialize>(v: &T) -> Result<Zeroizing<Vec<u8>>, LoginError> {
    let mut out = Zeroizing::new(Vec::with_capacity(4096));
    serde_json::to_writer(&mut *out, v).map_err(|e| LoginError::Local(format!("cannot encode the login: {e}")))?;
    Ok(out)
}

/// The `auth` block of a login or renewal answer.
pub fn parse_auth(answer: &Value) -> Option<Login> {
    let auth = answer.get("auth")?;
    let token = auth.get("client_token")?.as_str().filter(|t| !t.is_empty())?;
    Some(Login {
        token: SecretString::from(token.to_string()),
        ttl: auth.get("lease_duration").and_then(Value::as_u64).unwrap_or(0),
        renewable: auth.get("renewable").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// A file's content without surrounding white space; an empty file is an error.
fn read_trimmed(path: &Path) -> Result<Zeroizing<String>, LoginError> {
    let raw = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| LoginError::Local(format!("cannot read {}: {e}", path.display())))?,
    );
    let t = Zeroizing::new(raw.trim().to_string());
    if t.is_empty() {
        return Err(LoginError::Local(format!("{} is empty", path.display())));
    }
    Ok(t)
}

/// The token's value, for a header or a file.
pub fn expose(t: &SecretString) -> &str {
    t.expose_secret()
}
