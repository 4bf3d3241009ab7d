//! Outbound HTTP calls whose target a non-operator can set (rotation webhooks, alert webhooks,
//! AWS IAM logins' STS calls): the operator's allow-list, and the ways such a call is made
//! (`signed`, `sts`).
//!
//! The list in force is the `[outbound] allowed_urls` of the config file plus the entries set
//! through `sys/config/outbound` (sudo). An empty list allows nothing. A URL is admitted only if
//! it matches an entry parsed (scheme, lower-cased host, effective port, path on a `/`
//! boundary); its host is then resolved once, every address is checked, and the connection is
//! pinned to the first one. Loopback, private, link-local and metadata addresses are reachable
//! only when the matching entry names that address literally. Redirects are never followed.

mod address;
mod allow;
pub mod signed;
pub mod sts;

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

pub use address::is_restricted;
pub use allow::AllowedUrl;
pub use signed::HmacKey;

use crate::base::error::ApiError;
use crate::base::refusal::Refusal;
use crate::store::SharedStore;

/// Entry kind and name of the list set through the API.
const KIND: &str = "outbound";
const NAME: &str = "config";

/// Most entries one list may hold.
pub const MAX_ENTRIES: usize = 256;

/// A URL that may be called, with the address its connection is pinned to.
#[derive(Debug, Clone)]
pub struct Permit {
    /// The URL as parsed.
    pub url: reqwest::Url,
    /// The one address the connection goes to.
    pub addr: SocketAddr,
}

impl Permit {
    /// A client builder that connects only to the pinned address, uses no proxy and follows no
    /// redirect. Callers add timeouts and TLS roots.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let builder = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none());
        match self.url.host() {
            Some(url::Host::Domain(d)) => builder.resolve(d, self.addr),
            _ => builder,
        }
    }
}

/// The API-set part of the list, as stored.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    allowed_urls: Vec<String>,
}

/// The allow-list: config entries (fixed at start) and API entries (in storage).
#[derive(Default)]
pub struct Outbound {
    config: ArcSwap<Vec<AllowedUrl>>,
}

/// The list in force, in its two parts.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    /// From the config file; the API cannot remove these.
    pub config: Vec<AllowedUrl>,
    /// Set through `sys/config/outbound`.
    pub api: Vec<AllowedUrl>,
}

impl AllowList {
    /// Every entry in force.
    pub fn all(&self) -> impl Iterator<Item = &AllowedUrl> {
        self.config.iter().chain(self.api.iter())
    }
}

impl Outbound {
    /// Sets the entries of the config file (at start).
    pub fn set_config(&self, entries: Vec<AllowedUrl>) {
        self.config.store(Arc::new(entries));
    }

    /// The list in force.
    pub async fn list(&self, store: &SharedStore) -> Result<AllowList, ApiError> {
        let api = match store.entry_get(KIND, NAME).await? {
            None => Vec::new(),
            Some(text) => {
                let stored: Stored = serde_json::from_str(&text)
                    .map_err(|_| ApiError::internal(&"the stored outbound allow-list does not parse"))?;
                stored
                    .allowed_urls
                    .iter()
                    .map(|u| AllowedUrl::parse(u))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| ApiError::internal(&"the stored outbound allow-list holds an invalid entry"))?
            }
        };
        Ok(AllowList { config: self.config.load().as_ref().clone(), api })
    }

    /// Replaces the API entries.
    pub async fn set_api(&self, store: &SharedStore, entries: &[AllowedUrl]) -> Result<(), ApiError> {
        let stored = Stored { allowed_urls: entries.iter().map(|e| e.to_string()).collect() };
        let text = serde_json::to_string(&stored).map_err(|e| ApiError::internal(&e))?;
        store.entry_put(KIND, NAME, &text).await?;
        Ok(())
    }

    /// Whether `url` may be called now: an entry admits it, and each address its host resolves
    /// to is public or named literally by that entry. Returns the address to pin.
    pub async fn permit(&self, store: &SharedStore, url: &str) -> Result<Result<Permit, Refusal>, ApiError> {
        let list = self.list(store).await?;
        Ok(check(&list, url).await)
    }
}

/// Checks `url` against `list` and resolves its host (see [`Outbound::permit`]).
pub async fn check(list: &AllowList, url: &str) -> Result<Permit, Refusal> {
    let not_allowed = |why: &str| Refusal::Final(why.to_string());
    let parsed = reqwest::Url::parse(url).map_err(|_| not_allowed("the URL is not valid"))?;
    let entry = list.all().find(|e| e.admits(&parsed)).ok_or_else(|| {
        not_allowed(
            "the URL matches no entry of the outbound allow-list (sys/config/outbound, [outbound] allowed_urls)",
        )
    })?;
    let port = parsed.port_or_known_default().ok_or_else(|| not_allowed("the URL has no port"))?;
    let addrs: Vec<SocketAddr> = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(ip.into(), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(ip.into(), port)],
        Some(url::Host::Domain(d)) => tokio::net::lookup_host((d, port))
            .await
            .map_err(|_| Refusal::Retry(format!("the host {d:?} could not be resolved")))?
            .collect(),
        None => return Err(not_allowed("the URL has no host")),
    };
    let first = *addrs.first().ok_or_else(|| Refusal::Retry("the host resolved to no address".into()))?;
    for a in &addrs {
        if is_restricted(a.ip()) && !entry.names_literally(a.ip()) {
            return Err(not_allowed(
                "the URL's host is a loopback, private, link-local or metadata address, which is reachable only \
                 through an allow-list entry that names that address literally",
            ));
        }
    }
    Ok(Permit { url: parsed, addr: first })
}
