//! CRLs: `crls/<name>` (write, read, delete). A CRL is stored (PEM) and read from storage at
//! every login, so a revocation holds from the first login after a restart (SEC-14). A login
//! chain whose certificate is listed by a CRL of its issuer, signed by that issuer, is refused.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateRevocationListDer;
use serde_json::{json, Map, Value};

use super::{crls_kind, x509, MAX_PEM_LEN};
use crate::auth::common::store_err;
use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::engine::Call;

/// Parses a PEM CRL into webpki's form.
pub fn parse(pem: &str) -> Result<webpki::OwnedCertRevocationList, ApiError> {
    let bad = || ApiError::bad_request("failed to parse CRL: \"crl\" must hold one PEM X509 CRL");
    let der = CertificateRevocationListDer::from_pem_slice(pem.as_bytes()).map_err(|_| bad())?;
    webpki::OwnedCertRevocationList::from_der(der.as_ref()).map_err(|_| bad())
}

/// Every CRL of the mount, parsed. A stored CRL that no longer parses fails the login closed.
pub async fn load_all(call: &Call<'_>) -> Result<Vec<webpki::CertRevocationList<'static>>, ApiError> {
    let storage = call.host.storage();
    let kind = crls_kind(call);
    let mut out = Vec::new();
    for name in storage.entry_list(&kind, "").await.map_err(store_err)? {
        if let Some(pem) = storage.entry_get(&kind, &name).await.map_err(store_err)? {
            let crl = parse(&pem).map_err(|_| ApiError::internal(&"a stored CRL does not parse"))?;
            out.push(webpki::CertRevocationList::Owned(crl));
        }
    }
    Ok(out)
}

/// `GET|POST|DELETE crls/<name>`.
pub async fn handle(call: &Call<'_>, name: &str, req: &Request) -> Result<Response, ApiError> {
    let storage = call.host.storage();
    let kind = crls_kind(call);
    match req.operation {
        Operation::Read => {
            let pem = storage
                .entry_get(&kind, name)
                .await
                .map_err(store_err)?
                .ok_or_else(|| ApiError::bad_request(format!("no such CRL {name}")))?;
            let der = CertificateRevocationListDer::from_pem_slice(pem.as_bytes())
                .map_err(|_| ApiError::internal(&"a stored CRL does not parse"))?;
            let crl = webpki::BorrowedCertRevocationList::from_der(der.as_ref())
                .map_err(|_| ApiError::internal(&"a stored CRL does not parse"))?;
            let mut serials = Map::new();
            for entry in &crl {
                let entry = entry.map_err(|_| ApiError::internal(&"a stored CRL does not parse"))?;
                serials.insert(x509::serial_decimal(entry.serial_number), json!({}));
            }
            Ok(Response::data(json!({ "serials": Value::Object(serials) })))
        }
        op if op.is_write() => {
            let pem = params::str_field(&req.data, "crl")?
                .filter(|p| !p.is_empty())
                .ok_or_else(|| ApiError::bad_request("parsed CRL is nil"))?;
            if pem.len() > MAX_PEM_LEN {
                return Err(ApiError::bad_request(format!("\"crl\" is longer than {MAX_PEM_LEN} bytes")));
            }
            parse(pem)?;
            storage.entry_put(&kind, name, pem).await.map_err(store_err)?;
            Ok(Response::NoContent)
        }
        Operation::Delete => {
            storage.entry_delete(&kind, name).await.map_err(store_err)?;
            Ok(Response::NoContent)
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}
