//! `config` (read, write): the mount's one key source — `jwt_validation_pubkeys` (PEM),
//! `jwks_url` (+ `jwks_ca_pem`) or `oidc_discovery_url` (+ `oidc_discovery_ca_pem`) — with
//! `bound_issuer`, `jwt_supported_algs` and `default_role`. A write replaces the whole
//! configuration and checks the source at once (PEMs parse, the JWKS or discovery document is
//! fetched), answering 400 with the reason when it cannot be used.

use std::time::Instant;

use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::keys::{self, KeySet, Remote};
use super::validate::{alg_from_name, SUPPORTED_ALGS};
use super::{config_kind, CONFIG_ENTRY};
use crate::auth::common::store_err;
use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::names::{self, Case};
use crate::base::params;
use crate::base::params::string_list;
use crate::core::engine::Call;

const EXACTLY_ONE: &str = "exactly one of 'jwt_validation_pubkeys', 'jwks_url', 'jwks_pairs', 'oidc_discovery_url', or 'provider_config' must be set";

/// A mount's stored configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JwtConfig {
    /// JWKS URL.
    pub jwks_url: String,
    /// CA bundle for `jwks_url` (replaces the built-in roots).
    pub jwks_ca_pem: String,
    /// PEM public keys.
    pub jwt_validation_pubkeys: Vec<String>,
    /// OIDC issuer URL to discover the JWKS from.
    pub oidc_discovery_url: String,
    /// CA bundle for discovery and the discovered JWKS.
    pub oidc_discovery_ca_pem: String,
    /// When set, `iss` must equal it.
    pub bound_issuer: String,
    /// Allowed `alg` values; empty = every algorithm Coffer supports.
    pub jwt_supported_algs: Vec<String>,
    /// Role used by a login that names none.
    pub default_role: String,
    /// `jwks_uri` of the discovery document (filled on write).
    pub discovered_jwks_uri: String,
    /// `issuer` of the discovery document (filled on write).
    pub discovered_issuer: String,
}

impl JwtConfig {
    /// Loads the mount's configuration.
    pub async fn load(call: &Call<'_>) -> Result<Option<Self>, ApiError> {
        let raw = call.host.storage().entry_get(&config_kind(call), CONFIG_ENTRY).await.map_err(store_err)?;
        raw.map(|r| crate::base::stored::parse("jwt config", &r)).transpose()
    }

    /// The algorithm allow-list.
    pub fn allowed_algs(&self) -> Vec<Algorithm> {
        let names: Vec<&str> = if self.jwt_supported_algs.is_empty() {
            SUPPORTED_ALGS.to_vec()
        } else {
            self.jwt_supported_algs.iter().map(String::as_str).collect()
        };
        names.into_iter().filter_map(alg_from_name).collect()
    }

    /// The issuer tokens must name: `bound_issuer`, else the discovered issuer.
    pub fn issuer(&self) -> Option<&str> {
        [self.bound_issuer.as_str(), self.discovered_issuer.as_str()].into_iter().find(|s| !s.is_empty())
    }

    /// The remote JWKS, for `jwks_url` and discovery configurations.
    pub fn remote(&self) -> Option<Remote> {
        if !self.jwks_url.is_empty() {
            Some(Remote { jwks_url: self.jwks_url.clone(), ca_pem: self.jwks_ca_pem.clone() })
        } else if !self.discovered_jwks_uri.is_empty() {
            Some(Remote { jwks_url: self.discovered_jwks_uri.clone(), ca_pem: self.oidc_discovery_ca_pem.clone() })
        } else {
            None
        }
    }

    /// The PEM keys (for a `jwt_validation_pubkeys` configuration).
    pub fn static_keys(&self) -> Result<KeySet, String> {
        let keys = self.jwt_validation_pubkeys.iter().map(|p| keys::from_pem(p)).collect::<Result<Vec<_>, String>>()?;
        Ok(KeySet { keys, by_kid: false })
    }

    fn describe(&self) -> Value {
        json!({
            "bound_issuer": self.bound_issuer,
            "default_role": self.default_role,
            "jwks_ca_pem": self.jwks_ca_pem,
            "jwks_url": self.jwks_url,
            "jwt_supported_algs": self.jwt_supported_algs,
            "jwt_validation_pubkeys": self.jwt_validation_pubkeys,
            "namespace_in_state": true,
            "oidc_client_id": "",
            "oidc_discovery_ca_pem": self.oidc_discovery_ca_pem,
            "oidc_discovery_url": self.oidc_discovery_url,
            "oidc_response_mode": "",
            "oidc_response_types": [],
            "override_allowed_server_names": [],
            "provider_config": {},
            "status": "valid",
        })
    }
}

/// Whether a field holds something (not absent, null, `""`, `[]` or `{}`).
fn given(d: &Map<String, Value>, key: &str) -> bool {
    match d.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

fn text(d: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    Ok(params::str_field(d, key)?.unwrap_or("").trim().to_string())
}

/// Reads and checks a configuration write; fetches remote keys. Returns the configuration and,
/// for a remote source, the keys fetched.
async fn parse(d: &Map<String, Value>) -> Result<(JwtConfig, Option<(Remote, KeySet)>), ApiError> {
    let sources = ["jwt_validation_pubkeys", "jwks_url", "jwks_pairs", "oidc_discovery_url", "provider_config"];
    if sources.iter().filter(|k| given(d, k)).count() != 1 {
        return Err(ApiError::bad_request(EXACTLY_ONE));
    }
    for k in ["jwks_pairs", "provider_config"] {
        if given(d, k) {
            return Err(ApiError::bad_request(format!("'{k}' is not supported by Coffer")));
        }
    }
    if given(d, "oidc_client_id") || given(d, "oidc_client_secret") {
        return Err(ApiError::bad_request(
            "oidc_client_id and oidc_client_secret are not supported: Coffer has no browser OIDC flow",
        ));
    }
    let mut c = JwtConfig {
        jwks_url: text(d, "jwks_url")?,
        jwks_ca_pem: text(d, "jwks_ca_pem")?,
        jwt_validation_pubkeys: string_list(d, "jwt_validation_pubkeys")?,
        oidc_discovery_url: text(d, "oidc_discovery_url")?,
        oidc_discovery_ca_pem: text(d, "oidc_discovery_ca_pem")?,
        bound_issuer: params::str_field(d, "bound_issuer")?.unwrap_or("").to_string(),
        jwt_supported_algs: string_list(d, "jwt_supported_algs")?,
        default_role: String::new(),
        discovered_jwks_uri: String::new(),
        discovered_issuer: String::new(),
    };
    if !c.jwks_ca_pem.is_empty() && c.jwks_url.is_empty() {
        return Err(ApiError::bad_request("jwks_ca_pem is only used with jwks_url"));
    }
    if !c.oidc_discovery_ca_pem.is_empty() && c.oidc_discovery_url.is_empty() {
        return Err(ApiError::bad_request("oidc_discovery_ca_pem is only used with oidc_discovery_url"));
    }
    for a in &c.jwt_supported_algs {
        if alg_from_name(a).is_none() {
            return Err(ApiError::bad_request(format!(
                "jwt_supported_algs: {a:?} is not supported; use asymmetric algorithms ({})",
                SUPPORTED_ALGS.join(", ")
            )));
        }
    }
    let default_role = text(d, "default_role")?;
    if !default_role.is_empty() {
        c.default_role = names::check("default_role", &default_role, Case::Lower)?.to_string();
    }
    let algs = c.allowed_algs();
    let fits = |set: &KeySet| set.keys.iter().any(|k| algs.iter().any(|a| k.accepts(*a)));
    if !c.jwt_validation_pubkeys.is_empty() {
        for (i, pem) in c.jwt_validation_pubkeys.iter().enumerate() {
            let key =
                keys::from_pem(pem).map_err(|e| ApiError::bad_request(format!("jwt_validation_pubkeys[{i}]: {e}")))?;
            if !algs.iter().any(|a| key.accepts(*a)) {
                return Err(ApiError::bad_request(format!(
                    "jwt_validation_pubkeys[{i}]: no algorithm in jwt_supported_algs fits this key"
                )));
            }
        }
        return Ok((c, None));
    }
    let remote = if !c.jwks_url.is_empty() {
        Remote { jwks_url: c.jwks_url.clone(), ca_pem: c.jwks_ca_pem.clone() }
    } else {
        let (jwks_uri, issuer) = keys::discover(&c.oidc_discovery_url, &c.oidc_discovery_ca_pem)
            .await
            .map_err(|e| ApiError::bad_request(format!("error checking oidc_discovery_url: {e}")))?;
        c.discovered_jwks_uri = jwks_uri;
        c.discovered_issuer = issuer;
        Remote { jwks_url: c.discovered_jwks_uri.clone(), ca_pem: c.oidc_discovery_ca_pem.clone() }
    };
    let set = keys::fetch_jwks(&remote)
        .await
        .map_err(|e| ApiError::bad_request(format!("error checking jwks_url: fetching keys failed: {e}")))?;
    if !fits(&set) {
        return Err(ApiError::bad_request("error checking jwks_url: no key in the JWKS fits jwt_supported_algs"));
    }
    Ok((c, Some((remote, set))))
}

/// `GET|POST config`.
pub async fn handle(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    match req.operation {
        Operation::Read => {
            let c = JwtConfig::load(call).await?.ok_or_else(ApiError::not_found)?;
            Ok(Response::data(c.describe()))
        }
        op if op.is_write() => {
            let scope = format!("jwt-config:{}", call.mount.row.id);
            let _guard = call.host.locks().lock(&scope, "").await;
            let (c, fetched) = parse(&req.data).await?;
            let text = serde_json::to_string(&c).map_err(|e| ApiError::internal(&e))?;
            call.host.storage().entry_put(&config_kind(call), CONFIG_ENTRY, &text).await.map_err(store_err)?;
            match fetched {
                Some((remote, set)) => keys::prime(&call.mount.row.id, &remote, set, Instant::now()),
                None => keys::forget(&call.mount.row.id),
            }
            Ok(Response::NoContent)
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::validate::tests::{ec_pair, rsa_public_pem};

    fn m(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[tokio::test]
    async fn exactly_one_source() {
        let (_, public) = ec_pair();
        for d in [
            json!({}),
            json!({"jwt_validation_pubkeys": [public], "jwks_url": "https://127.0.0.1:1/jwks"}),
            json!({"jwks_url": "https://127.0.0.1:1/jwks", "oidc_discovery_url": "https://x"}),
            json!({"jwt_validation_pubkeys": [], "jwks_url": ""}),
        ] {
            let e = parse(&m(d)).await.unwrap_err();
            assert_eq!(e.errors, vec![EXACTLY_ONE]);
        }
        let e = parse(&m(json!({"jwks_pairs": [{"jwks_url": "x"}]}))).await.unwrap_err();
        assert!(e.errors[0].contains("not supported"), "{e:?}");
    }

    #[tokio::test]
    async fn pem_keys_and_algorithms_are_checked() {
        let (private, public) = ec_pair();
        let (c, fetched) = parse(&m(
            json!({"jwt_validation_pubkeys": [public.clone(), rsa_public_pem(true)], "bound_issuer": "https://ci"}),
        ))
        .await
        .unwrap();
        assert!(fetched.is_none());
        assert_eq!(c.static_keys().unwrap().keys.len(), 2);
        assert_eq!(c.issuer(), Some("https://ci"));
        assert_eq!(c.allowed_algs().len(), SUPPORTED_ALGS.len());
        let e = parse(&m(json!({"jwt_validation_pubkeys": [private.clone()]}))).await.unwrap_err();
        assert!(!e.errors[0].contains("BEGIN"), "{e:?}");
        for algs in [json!(["none"]), json!(["HS256"]), json!(["rs256"]), json!(["RS256", "None"])] {
            let e = parse(&m(json!({"jwt_validation_pubkeys": [public.clone()], "jwt_supported_algs": algs})))
                .await
                .unwrap_err();
            assert!(e.errors[0].contains("jwt_supported_algs"), "{e:?}");
        }
        // An EC key with an RSA-only allow-list can never verify anything.
        let e =
            parse(&m(json!({"jwt_validation_pubkeys": [public], "jwt_supported_algs": ["RS256"]}))).await.unwrap_err();
        assert!(e.errors[0].contains("fits"), "{e:?}");
    }

    #[tokio::test]
    async fn an_unreachable_jwks_is_a_clear_400() {
        let e = parse(&m(json!({"jwks_url": "http://127.0.0.1:1/jwks"}))).await.unwrap_err();
        assert_eq!(e.status, http::StatusCode::BAD_REQUEST);
        assert!(e.errors[0].starts_with("error checking jwks_url"), "{e:?}");
        let e = parse(&m(json!({"oidc_discovery_url": "http://127.0.0.1:1"}))).await.unwrap_err();
        assert!(e.errors[0].starts_with("error checking oidc_discovery_url"), "{e:?}");
        let e = parse(&m(json!({"jwks_url": "http://127.0.0.1:1/jwks", "oidc_client_secret": "s3cret"})))
            .await
            .unwrap_err();
        assert!(!e.errors[0].contains("s3cret"));
    }
}
