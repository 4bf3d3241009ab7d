//! Token look-up, renewal and revocation by value, by accessor, and of the caller itself.
//! Accessor operations need sudo unless the target is the caller or one of its descendants
//! (SEC-07).

use http::StatusCode;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::params;
use crate::core::engine::Call;
use crate::core::tokens::TokenEntry;
use crate::store::TokenRow;

fn bad_token() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "bad token")
}

fn auth_response(auth: serde_json::Value, warnings: Vec<String>) -> Response {
    Response::Envelope {
        status: StatusCode::OK,
        data: None,
        warnings,
        auth: Some(auth),
        repeat_top_level: false,
        lease: None,
    }
}

/// The token named by `token` in the body, or the caller when absent.
async fn target(call: &Call<'_>, req: &Request) -> Result<(Option<String>, TokenEntry), ApiError> {
    let core = call.host.whole_core()?;
    match params::str_field(&req.data, "token")?.filter(|t| !t.is_empty()) {
        Some(t) => {
            let e = core.tokens.find(&core.store, t, core.clock.now()).await?.ok_or_else(bad_token)?;
            Ok((Some(t.to_string()), (*e).clone()))
        }
        None => Ok((req.token.as_ref().map(|t| t.expose_secret().to_string()), call.token.clone())),
    }
}

/// Whether `target` is the caller or one of its descendants.
async fn within_callers_tree(call: &Call<'_>, target: &TokenRow) -> Result<bool, ApiError> {
    let mut parent = Some(target.hash.clone());
    for _ in 0..64 {
        let Some(h) = parent else { return Ok(false) };
        if h == call.token.row.hash {
            return Ok(true);
        }
        parent = call.host.whole_core()?.store.token_get(&h).await.map_err(ApiError::from)?.and_then(|r| r.parent_hash);
    }
    Ok(false)
}

/// The stored row of the token behind `accessor`, if the caller may act on it (unparsed, so that
/// a token whose stored JSON is corrupt can still be revoked).
async fn by_accessor(call: &Call<'_>, req: &Request) -> Result<Option<TokenRow>, ApiError> {
    let core = call.host.whole_core()?;
    let accessor =
        params::str_field(&req.data, "accessor")?.ok_or_else(|| ApiError::bad_request("missing accessor"))?;
    let found = core.tokens.find_row_by_accessor(&core.store, accessor, core.clock.now()).await?;
    match found {
        Some(t) if call.sudo || within_callers_tree(call, &t).await? => Ok(Some(t)),
        Some(_) => Err(ApiError::permission_denied()),
        None if call.sudo => Ok(None),
        // Without sudo an unknown accessor looks like a foreign one: no existence oracle.
        None => Err(ApiError::permission_denied()),
    }
}

/// `auth/token/lookup-self`.
pub fn lookup_self(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let id = req.token.as_ref().map(|t| t.expose_secret());
    Ok(Response::data(call.token.lookup_data(id, call.host.whole_core()?.clock.now())))
}

/// `auth/token/lookup` with `token` (or the caller).
pub async fn lookup(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let (id, t) = target(call, req).await?;
    Ok(Response::data(t.lookup_data(id.as_deref(), call.host.whole_core()?.clock.now())))
}

/// `auth/token/lookup-accessor`.
pub async fn lookup_accessor(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let t = by_accessor(call, req).await?.ok_or_else(|| ApiError::bad_request("invalid accessor"))?;
    Ok(Response::data(TokenEntry::from_row(t)?.lookup_data(None, call.host.whole_core()?.clock.now())))
}

fn increment(req: &Request) -> Result<Option<i64>, ApiError> {
    Ok(params::duration_field(&req.data, "increment")?.map(|i| i as i64))
}

/// `auth/token/renew-self`.
pub async fn renew_self(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let core = call.host.whole_core()?;
    let now = core.clock.now();
    crate::auth::common::check_renewal(&call.token.meta, req)?;
    let (t, w) = core.tokens.renew(&core.store, call.token, increment(req)?, now).await?;
    let id = req.token.as_ref().map(|t| t.expose_secret());
    Ok(auth_response(t.auth_block(id, now), w))
}

/// `auth/token/renew` with `token`.
pub async fn renew(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let core = call.host.whole_core()?;
    let now = core.clock.now();
    let (id, t) = target(call, req).await?;
    crate::auth::common::check_renewal(&t.meta, req)?;
    let (t, w) = core.tokens.renew(&core.store, &t, increment(req)?, now).await?;
    Ok(auth_response(t.auth_block(id.as_deref(), now), w))
}

/// `auth/token/renew-accessor`.
pub async fn renew_accessor(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let core = call.host.whole_core()?;
    let now = core.clock.now();
    let t =
        TokenEntry::from_row(by_accessor(call, req).await?.ok_or_else(|| ApiError::bad_request("invalid accessor"))?)?;
    crate::auth::common::check_renewal(&t.meta, req)?;
    let (t, w) = core.tokens.renew(&core.store, &t, increment(req)?, now).await?;
    Ok(auth_response(t.auth_block(None, now), w))
}

/// `auth/token/revoke-self`.
pub async fn revoke_self(call: &Call<'_>) -> Result<Response, ApiError> {
    let core = call.host.whole_core()?;
    let tree = core.tokens.revoke_tree(&core.store, &call.token.row.hash).await?;
    crate::core::leases::revoke_for_tokens(core, &tree).await;
    Ok(Response::NoContent)
}

/// `auth/token/revoke` with `token`: 204 even for an unknown token (a token whose stored JSON is
/// corrupt can still be revoked).
pub async fn revoke(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let core = call.host.whole_core()?;
    let token = params::str_field(&req.data, "token")?.ok_or_else(|| ApiError::bad_request("missing token"))?;
    if let Some(t) = core.tokens.find_row(&core.store, token, core.clock.now()).await? {
        let tree = core.tokens.revoke_tree(&core.store, &t.hash).await?;
        crate::core::leases::revoke_for_tokens(core, &tree).await;
    }
    Ok(Response::NoContent)
}

/// `auth/token/revoke-accessor`.
pub async fn revoke_accessor(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let core = call.host.whole_core()?;
    match by_accessor(call, req).await? {
        Some(t) => {
            let tree = core.tokens.revoke_tree(&core.store, &t.hash).await?;
            crate::core::leases::revoke_for_tokens(core, &tree).await;
            Ok(Response::NoContent)
        }
        None => Ok(Response::Envelope {
            status: StatusCode::OK,
            data: None,
            warnings: vec!["No token found with this accessor".into()],
            auth: None,
            repeat_top_level: false,
            lease: None,
        }),
    }
}

/// `auth/token/revoke-orphan` (sudo): the children survive as orphans.
pub async fn revoke_orphan(call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let core = call.host.whole_core()?;
    if !call.sudo {
        return Err(ApiError::permission_denied());
    }
    let token = params::str_field(&req.data, "token")?.ok_or_else(|| ApiError::bad_request("missing token"))?;
    if let Some(t) = core.tokens.find_row(&core.store, token, core.clock.now()).await? {
        let revoked = core.tokens.revoke_orphan(&core.store, &t.hash).await?;
        crate::core::leases::revoke_for_tokens(core, &revoked).await;
    }
    Ok(Response::NoContent)
}

/// `LIST auth/token/accessors` (sudo).
pub async fn list_accessors(call: &Call<'_>) -> Result<Response, ApiError> {
    if !call.sudo {
        return Err(ApiError::permission_denied());
    }
    let keys = call.host.whole_core()?.store.token_accessors().await.map_err(ApiError::from)?;
    Ok(Response::data(json!({ "keys": keys })))
}
