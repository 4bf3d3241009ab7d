//! Cert roles: `certs/<name>` (read, write, delete) and `LIST certs`. A role trusts one or more
//! PEM certificates (a CA, whose chains it accepts, or a pinned leaf, compared whole, SEC-13),
//! constrains the names of the leaf with globs and sets the token a login gets.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{certs_kind, x509, MAX_PEM_LEN};
use crate::auth::common::role_store::Role;
use crate::auth::common::TokenParams;
use crate::auth::common::{token_fields, token_type_field};
use crate::base::error::ApiError;
use crate::base::params;
use crate::base::params::string_list;
use crate::core::engine::Call;

/// A stored cert role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CertRole {
    /// The trusted certificates, PEM.
    pub certificate: String,
    /// Globs; when set, the leaf's common name must match one.
    pub allowed_common_names: Vec<String>,
    /// Globs; when set, one of the leaf's DNS names must match one.
    pub allowed_dns_sans: Vec<String>,
    /// Globs; when set, one of the leaf's URI names must match one (SPIFFE IDs).
    pub allowed_uri_sans: Vec<String>,
    /// Display name of the tokens (the role's name when empty).
    pub display_name: String,
    /// `default` or `service`.
    pub token_type: String,
    /// Settings of the tokens a login issues.
    pub token: TokenParams,
}

impl Default for CertRole {
    fn default() -> Self {
        Self {
            certificate: String::new(),
            allowed_common_names: Vec::new(),
            allowed_dns_sans: Vec::new(),
            allowed_uri_sans: Vec::new(),
            display_name: String::new(),
            token_type: "default".into(),
            token: TokenParams::default(),
        }
    }
}

/// Parses PEM certificates, refusing an empty or unparsable set.
pub fn parse_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, ApiError> {
    let bad = || ApiError::bad_request("failed to parse certificate: \"certificate\" must hold PEM certificates");
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<_, _>>().map_err(|_| bad())?;
    if certs.is_empty() || certs.iter().any(|c| x509::parse(c).is_none()) {
        return Err(bad());
    }
    Ok(certs)
}

impl Role for CertRole {
    const WHAT: &'static str = "cert role";

    fn kind(call: &Call<'_>) -> String {
        certs_kind(call)
    }

    fn describe(&self, name: &str) -> Value {
        let mut m = token_fields(&self.token, &self.token_type);
        let list = |v: &Vec<String>| if v.is_empty() { Value::Null } else { json!(v) };
        let more = json!({
            "certificate": self.certificate,
            "allowed_common_names": list(&self.allowed_common_names),
            "allowed_dns_sans": list(&self.allowed_dns_sans),
            "allowed_uri_sans": list(&self.allowed_uri_sans),
            "allowed_email_sans": Value::Null,
            "allowed_names": Value::Null,
            "allowed_organizational_units": Value::Null,
            "allowed_metadata_extensions": Value::Null,
            "required_extensions": Value::Null,
            "display_name": if self.display_name.is_empty() { name } else { &self.display_name },
            "ocsp_enabled": false,
        });
        if let Value::Object(more) = more {
            m.extend(more);
        }
        Value::Object(m)
    }

    /// Applies the fields present in `d` and checks the result.
    fn update(&mut self, d: &Map<String, Value>) -> Result<(), ApiError> {
        if let Some(pem) = params::str_field(d, "certificate")? {
            if pem.len() > MAX_PEM_LEN {
                return Err(ApiError::bad_request(format!("\"certificate\" is longer than {MAX_PEM_LEN} bytes")));
            }
            parse_pem(pem)?;
            self.certificate = pem.to_string();
        }
        for (key, slot) in [
            ("allowed_common_names", &mut self.allowed_common_names),
            ("allowed_dns_sans", &mut self.allowed_dns_sans),
            ("allowed_uri_sans", &mut self.allowed_uri_sans),
        ] {
            if d.get(key).is_some_and(|v| !v.is_null()) {
                *slot = string_list(d, key)?.into_iter().filter(|s| !s.is_empty()).collect();
            }
        }
        for key in ["allowed_names", "allowed_email_sans", "allowed_organizational_units", "required_extensions"] {
            if d.get(key).is_some_and(|v| !v.is_null() && v != "" && v != &json!([])) {
                return Err(ApiError::bad_request(format!("\"{key}\" is not supported by Coffer")));
            }
        }
        if params::bool_field(d, "ocsp_enabled")? == Some(true) {
            return Err(ApiError::bad_request("OCSP is not supported by Coffer; use crls/<name>"));
        }
        if let Some(s) = params::str_field(d, "display_name")? {
            self.display_name = s.to_string();
        }
        self.token_type = token_type_field(d, &self.token_type)?;
        self.token.update(d)?;
        if self.certificate.is_empty() {
            return Err(ApiError::bad_request("must provide a certificate"));
        }
        Ok(())
    }
}
