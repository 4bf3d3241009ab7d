//! The TLS certificate auth method (`auth/<path>/`, type `cert`): a client logs in with the
//! certificate it presented in the TLS handshake (which proved it holds the key). Roles
//! (`certs/<name>`) trust a CA or pin a leaf and constrain the leaf's names with globs; `crls/<name>`
//! revokes certificates. `login` validates the chain here, not in the listener: against the
//! role's CA, with expiry, the client-auth usage and the stored CRLs. A cert-login token records
//! the certificate's SHA-256, and renews only over a connection presenting the same certificate
//! (SEC-15, [`RENEW_FINGERPRINT`]).

mod crl;
mod login;
mod role;
mod verify;
mod x509;

use async_trait::async_trait;

use super::common::role_store;
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::names::{self, Case};
use crate::core::engine::{Call, Engine};

pub use crate::auth::common::RENEW_FINGERPRINT;

/// Longest PEM accepted for a role's `certificate` or a `crl`.
const MAX_PEM_LEN: usize = 256 << 10;

/// The cert auth method (stateless; the mount carries the id).
pub struct CertAuth;

#[async_trait]
impl Engine for CertAuth {
    async fn handle(&self, call: Call<'_>, req: Request) -> Result<Response, ApiError> {
        let path = call.path.trim_end_matches('/');
        let op = req.operation;
        match path {
            "login" => {
                return if op.is_write() {
                    login::login(&call, &req).await
                } else {
                    Err(ApiError::unsupported_operation())
                }
            }
            "certs" => return role_store::list::<role::CertRole>(&call, op).await,
            _ => {}
        }
        let (kind, raw) = path.split_once('/').ok_or_else(ApiError::unsupported_path)?;
        if raw.contains('/') {
            return Err(ApiError::unsupported_path());
        }
        match kind {
            "certs" => {
                role_store::handle::<role::CertRole>(&call, names::check("certificate name", raw, Case::Lower)?, &req)
                    .await
            }
            "crls" => crl::handle(&call, names::check("CRL name", raw, Case::Lower)?, &req).await,
            _ => Err(ApiError::unsupported_path()),
        }
    }

    async fn exists(&self, call: Call<'_>, _req: &Request) -> Result<bool, ApiError> {
        role_store::exists::<role::CertRole>(&call, "certs/").await
    }

    fn unauthenticated(&self, path: &str) -> bool {
        path.trim_end_matches('/') == "login"
    }
}

/// Storage kind of a mount's roles, by name (the mount id lets unmounting remove them).
fn certs_kind(call: &Call<'_>) -> String {
    format!("cert/{}/certs", call.mount.row.id)
}

/// Storage kind of a mount's CRLs, by name.
fn crls_kind(call: &Call<'_>) -> String {
    format!("cert/{}/crls", call.mount.row.id)
}
