//! Checks a presented chain against one role: trust (the role's CA through webpki, or a pinned
//! leaf compared whole, SEC-13), validity dates, the client-auth usage (required to be listed),
//! the CRLs, then the role's name globs.

use std::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};

use super::role::{parse_pem, CertRole};
use super::x509::{self, Info};
use crate::base::glob::glob_match;

/// Why a role did not take a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The chain is not trusted by the role, expired, revoked or not for client auth.
    Invalid,
    /// Trusted, but the leaf's names do not match the role's globs.
    Names,
}

/// A chain a role accepts.
#[derive(Debug, Clone)]
pub struct Matched {
    /// The leaf's fields.
    pub info: Info,
    /// SHA-256 of the leaf's DER, hex.
    pub fingerprint: String,
}

/// Checks `chain` (DER, leaf first) against `role` at `now` (Unix seconds).
pub fn check(
    role: &CertRole,
    chain: &[Vec<u8>],
    crls: &[webpki::CertRevocationList<'_>],
    now: i64,
) -> Result<Matched, Refusal> {
    let (leaf_der, rest) = chain.split_first().ok_or(Refusal::Invalid)?;
    let info = x509::parse(leaf_der).ok_or(Refusal::Invalid)?;
    // The usage must be listed: a certificate without an extended key usage is refused too.
    if !info.client_auth || info.is_ca {
        return Err(Refusal::Invalid);
    }
    let leaf_cert = CertificateDer::from(leaf_der.as_slice());
    let leaf = webpki::EndEntityCert::try_from(&leaf_cert).map_err(|_| Refusal::Invalid)?;
    let trusted = parse_pem(&role.certificate).map_err(|_| Refusal::Invalid)?;
    let now_secs = u64::try_from(now).map_err(|_| Refusal::Invalid)?;
    let mut ok = false;
    // Pinned leaves: the whole DER must be equal (not the key or the subject alone).
    for pinned in trusted.iter().filter(|c| x509::parse(c).is_some_and(|i| !i.is_ca)) {
        if pinned.as_ref() == leaf_der.as_slice()
            && info.not_before <= now
            && now <= info.not_after
            && !revoked_by_serial(&leaf, crls)
        {
            ok = true;
        }
    }
    if !ok {
        let anchors: Vec<_> = trusted
            .iter()
            .filter(|c| x509::parse(c).is_some_and(|i| i.is_ca))
            .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
            .collect();
        if !anchors.is_empty() {
            let intermediates: Vec<CertificateDer<'_>> =
                rest.iter().map(|c| CertificateDer::from(c.as_slice())).collect();
            let refs: Vec<&webpki::CertRevocationList<'_>> = crls.iter().collect();
            let revocation = webpki::RevocationOptionsBuilder::new(&refs).ok().map(|b| {
                b.with_depth(webpki::RevocationCheckDepth::Chain)
                    .with_status_policy(webpki::UnknownStatusPolicy::Allow)
                    .with_expiration_policy(webpki::ExpirationPolicy::Ignore)
                    .build()
            });
            ok = leaf
                .verify_for_usage(
                    webpki::ALL_VERIFICATION_ALGS,
                    &anchors,
                    &intermediates,
                    UnixTime::since_unix_epoch(Duration::from_secs(now_secs)),
                    webpki::KeyUsage::client_auth(),
                    revocation,
                    None,
                )
                .is_ok();
        }
    }
    if !ok {
        return Err(Refusal::Invalid);
    }
    let cn = info.common_name.as_deref().unwrap_or("");
    let dns: Vec<&str> = leaf.valid_dns_names().collect();
    let uris: Vec<&str> = leaf.valid_uri_names().collect();
    let any = |globs: &[String], names: &[&str]| globs.iter().any(|g| names.iter().any(|n| glob_match(g, n)));
    if (!role.allowed_common_names.is_empty() && !any(&role.allowed_common_names, &[cn]))
        || (!role.allowed_dns_sans.is_empty() && !any(&role.allowed_dns_sans, &dns))
        || (!role.allowed_uri_sans.is_empty() && !any(&role.allowed_uri_sans, &uris))
    {
        return Err(Refusal::Names);
    }
    Ok(Matched { info, fingerprint: crate::auth::common::cert_fingerprint(leaf_der) })
}

/// A pinned leaf is revoked when a CRL of its issuer lists its serial.
fn revoked_by_serial(leaf: &webpki::EndEntityCert<'_>, crls: &[webpki::CertRevocationList<'_>]) -> bool {
    crls.iter().any(|crl| crl.issuer() == leaf.issuer() && !matches!(crl.find_serial(leaf.serial()), Ok(None)))
}
