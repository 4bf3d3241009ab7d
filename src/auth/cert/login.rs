//! `POST login {name?}`: takes the certificate chain of the TLS connection, finds the role that
//! accepts it (the one named, or any, in name order) and issues a token whose metadata is
//! Vault's (`cert_name`, `common_name`, `serial_number`, key ids) plus the certificate's SHA-256
//! for renewal (SEC-15). Every refusal is Vault's 400, naming no certificate detail.

use serde_json::{Map, Value};

use super::role::CertRole;
use super::verify::{self, Refusal};
use super::{certs_kind, crl, x509};
use crate::auth::common::role_store;
use crate::auth::common::{self, store_err, RENEW_FINGERPRINT};
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::names::{self, Case};
use crate::base::params;
use crate::core::engine::Call;

/// `POST login`.
pub async fn login(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let chain = req
        .peer_certs
        .as_ref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("no client certificate found"))?;
    let candidates = match params::str_field(&req.data, "name")?.filter(|n| !n.is_empty()) {
        Some(n) => vec![names::check("certificate name", n, Case::Lower)?.to_string()],
        None => call.host.storage().entry_list(&certs_kind(call), "").await.map_err(store_err)?,
    };
    // Read from storage at every login: a CRL written before a restart holds at once (SEC-14).
    let crls = crl::load_all(call).await?;
    let now = call.host.now().timestamp();
    let mut names_refused = false;
    for name in candidates {
        let Some(role) = role_store::load::<CertRole>(call, &name).await? else { continue };
        match verify::check(&role, chain, &crls, now) {
            Ok(m) => return issue(call, &name, &role, m).await,
            Err(Refusal::Names) => names_refused = true,
            Err(Refusal::Invalid) => {}
        }
    }
    Err(ApiError::bad_request(if names_refused {
        "no chain matching all constraints could be found for this login certificate"
    } else {
        "invalid certificate or no client certificate supplied"
    }))
}

async fn issue(call: &Call<'_>, name: &str, role: &CertRole, m: verify::Matched) -> Result<Response, ApiError> {
    let hex_or_empty = |v: &Option<Vec<u8>>| v.as_deref().map(x509::colon_hex).unwrap_or_default();
    let mut meta = Map::new();
    meta.insert("cert_name".into(), Value::from(name));
    meta.insert("common_name".into(), Value::from(m.info.common_name.clone().unwrap_or_default()));
    meta.insert("serial_number".into(), Value::from(x509::serial_decimal(&m.info.serial)));
    meta.insert("subject_key_id".into(), Value::from(hex_or_empty(&m.info.subject_key_id)));
    meta.insert("authority_key_id".into(), Value::from(hex_or_empty(&m.info.authority_key_id)));
    meta.insert(RENEW_FINGERPRINT.into(), Value::from(m.fingerprint));
    let display = if role.display_name.is_empty() { name } else { &role.display_name };
    common::login(call, &role.token, display, meta).await
}
