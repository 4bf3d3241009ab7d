//! The token store: tokens are random, stored only as HMAC-SHA256 under a key kept inside the
//! barrier, form a parent/child tree, and are looked up through a per-node cache whose entries die
//! with the token (every revocation or renewal bumps a generation and empties the cache).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};

use crate::base::error::ApiError;
use crate::base::stored;
use crate::crypto::{self, Key};
use crate::store::{SharedStore, StoreError, TokenRow};

/// Prefix of issued service tokens (OpenBao style).
pub const SERVICE_PREFIX: &str = "s.";
/// Random characters after the prefix: 40 base62 characters ≈ 238 bits.
pub const TOKEN_RANDOM_LEN: usize = 40;
/// Default and maximum TTL of tokens (Vault's 768h system default).
pub const DEFAULT_TTL: i64 = 2_764_800;
/// Most tokens cached per node; past it the cache starts over (SEC-28).
pub const CACHE_LIMIT: usize = 10_000;

fn internal(e: StoreError) -> ApiError {
    e.into()
}

/// A resolved token: its stored row, parsed. A row whose JSON columns do not parse is refused
/// with a 500 (never read as an empty list: `[]` in `bound_cidrs` means "from anywhere").
#[derive(Debug, Clone)]
pub struct TokenEntry {
    /// Stored row.
    pub row: TokenRow,
    /// Parsed policy list.
    pub policies: Vec<String>,
    /// Parsed login identity (parsed once, not per request).
    pub identity: Option<crate::base::identity::Identity>,
    /// Parsed `bound_cidrs` (empty: usable from anywhere).
    pub bound_cidrs: Vec<ipnet::IpNet>,
    /// Parsed metadata map.
    pub meta: Map<String, Value>,
}

impl TokenEntry {
    /// The caller of a login path: no token, no policies (`now` is its creation time).
    pub fn anonymous(now: DateTime<Utc>) -> Self {
        let mut row = root_row([0; 32], now);
        row.policies = "[]".into();
        row.accessor = String::new();
        row.display_name = String::new();
        Self { row, policies: Vec::new(), identity: None, bound_cidrs: Vec::new(), meta: Map::new() }
    }

    /// The identity of a request signed with an AWS access key: not a stored token, but the key's
    /// policies, named `aws-<id>` (the key id is its accessor in audit entries).
    pub fn for_access_key(id: &str, policies: Vec<String>, now: DateTime<Utc>) -> Self {
        let mut row = root_row([0; 32], now);
        row.policies = serde_json::to_string(&policies).unwrap_or_else(|_| "[]".into());
        row.accessor = id.to_string();
        row.display_name = format!("aws-{id}");
        row.path = "sys/aws/keys".into();
        let mut meta = Map::new();
        meta.insert("aws_access_key_id".into(), Value::String(id.to_string()));
        row.meta = Value::Object(meta.clone()).to_string();
        Self { row, policies, identity: None, bound_cidrs: Vec::new(), meta }
    }

    /// Parses a stored row; a 500 (logged under an error id) if a JSON column does not parse.
    pub fn from_row(row: TokenRow) -> Result<Self, ApiError> {
        let policies = stored::parse("token policies", &row.policies)?;
        let identity = match row.identity.as_str() {
            "" => None,
            text => Some(stored::parse("token identity", text)?),
        };
        let bound_cidrs = stored::parse("token bound_cidrs", &row.bound_cidrs)?;
        let meta = stored::parse("token meta", &row.meta)?;
        Ok(Self { row, policies, identity, bound_cidrs, meta })
    }

    /// True for tokens carrying the `root` policy.
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    /// Whether a caller at `addr` may use this token (its `bound_cidrs`, if any).
    pub fn allowed_from(&self, addr: Option<std::net::IpAddr>) -> bool {
        addr_allowed(&self.bound_cidrs, addr)
    }

    /// Vault's token-lookup `data`; `id` is the token itself when the caller presented it.
    pub fn lookup_data(&self, id: Option<&str>, now: DateTime<Utc>) -> Value {
        let r = &self.row;
        let rfc = |secs: i64| {
            DateTime::from_timestamp(secs, 0).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        };
        let ttl = r.expire_time.map(|e| (e - now.timestamp()).max(0)).unwrap_or(0);
        let meta = &self.meta;
        let mut data = json!({
            "accessor": r.accessor,
            "creation_time": r.creation_time,
            "creation_ttl": r.ttl,
            "display_name": r.display_name,
            "entity_id": self.identity.as_ref().map(|i| i.entity_id()).unwrap_or_default(),
            "expire_time": r.expire_time.and_then(rfc),
            "explicit_max_ttl": r.explicit_max_ttl,
            "id": id.unwrap_or(""),
            "issue_time": rfc(r.creation_time),
            "meta": if meta.is_empty() { Value::Null } else { Value::Object(meta.clone()) },
            "num_uses": r.num_uses,
            "orphan": r.orphan,
            "path": r.path,
            "policies": self.policies,
            "renewable": r.renewable,
            "ttl": ttl,
            "type": r.token_type,
        });
        if r.period > 0 {
            crate::base::json::set(&mut data, "period", json!(r.period));
        }
        if !self.bound_cidrs.is_empty() {
            crate::base::json::set(&mut data, "bound_cidrs", json!(self.bound_cidrs));
        }
        data
    }

    /// Vault's `auth` block for a token just created or renewed.
    pub fn auth_block(&self, client_token: Option<&str>, now: DateTime<Utc>) -> Value {
        let r = &self.row;
        let ttl = r.expire_time.map(|e| (e - now.timestamp()).max(0)).unwrap_or(0);
        let meta = &self.meta;
        json!({
            "client_token": client_token.unwrap_or(""),
            "accessor": r.accessor,
            "policies": self.policies,
            "token_policies": self.policies,
            "metadata": if meta.is_empty() { Value::Null } else { Value::Object(meta.clone()) },
            "lease_duration": ttl,
            "renewable": r.renewable,
            "entity_id": self.identity.as_ref().map(|i| i.entity_id()).unwrap_or_default(),
            "token_type": r.token_type,
            "orphan": r.orphan,
            "mfa_requirement": null,
            "num_uses": r.num_uses,
        })
    }
}

/// What a new token should look like (already validated by the caller).
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    /// Policy names (normalised, without duplicates).
    pub policies: Vec<String>,
    /// String metadata.
    pub meta: Map<String, Value>,
    /// Display name as stored (`token-…`, or the auth method's name).
    pub display_name: String,
    /// Creation path (`auth/token/create`, `auth/approle/login`, …).
    pub path: String,
    /// TTL in seconds (> 0 unless the token never expires, which only root tokens do).
    pub ttl: i64,
    /// Hard cap on the lifetime, seconds; 0 = the system maximum.
    pub explicit_max_ttl: i64,
    /// A login's role or mount cap on renewals, seconds; 0 = none. Not shown (D110).
    pub max_ttl: i64,
    /// Periodic tokens renew to this TTL, seconds; 0 = not periodic.
    pub period: i64,
    /// Uses allowed; 0 = unlimited.
    pub num_uses: i64,
    /// Can be renewed.
    pub renewable: bool,
    /// The parent's hash; `None` makes an orphan.
    pub parent: Option<Vec<u8>>,
    /// Networks the token may be used from (empty = anywhere).
    pub bound_cidrs: Vec<ipnet::IpNet>,
    /// The login identity (auth methods set it; children inherit their parent's).
    pub identity: Option<crate::base::identity::Identity>,
}

/// Token hashing, creation, look-up and revocation.
#[derive(Default)]
pub struct TokenStore {
    hmac_key: ArcSwapOption<Key>,
    cache: RwLock<HashMap<[u8; 32], Arc<TokenEntry>>>,
    generation: AtomicU64,
    /// Tells other nodes to drop their cached tokens too.
    pub changes: crate::store::bus::Changes,
    /// The core's clock (for due times set at revocation).
    pub clock: crate::base::schedule::SharedClock,
}

impl TokenStore {
    /// Installs the HMAC key (at unseal).
    pub fn load_key(&self, key: Key) {
        self.hmac_key.store(Some(Arc::new(key)));
    }

    /// Forgets the key and every cached entry (at seal).
    pub fn clear(&self) {
        self.hmac_key.store(None);
        self.invalidate_local();
    }

    /// Drops every cached entry here and on the other nodes.
    pub fn invalidate(&self) {
        self.invalidate_local();
        self.changes.changed(crate::store::bus::Topic::Tokens);
    }

    /// Drops every cached entry on this node; look-ups that started before cannot re-insert
    /// stale rows.
    pub fn invalidate_local(&self) {
        if let Ok(mut c) = self.cache.write() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            c.clear();
        }
    }

    /// How many tokens this node has cached (only tokens found in the store are cached).
    pub fn cached_len(&self) -> usize {
        self.cache.read().map_or(0, |c| c.len())
    }

    /// HMAC of a token value; `None` while sealed.
    pub fn hash(&self, token: &str) -> Option<[u8; 32]> {
        self.hash_bytes(token.as_bytes())
    }

    /// HMAC-SHA256 of any bytes under the same barrier-held key (callers add a domain prefix).
    pub fn hash_bytes(&self, msg: &[u8]) -> Option<[u8; 32]> {
        let key = self.hmac_key.load_full()?;
        Some(crypto::hmac_sha256(&key, msg))
    }

    /// A new random token value.
    pub fn generate() -> SecretString {
        SecretString::from(format!("{SERVICE_PREFIX}{}", crypto::random_base62(TOKEN_RANDOM_LEN)))
    }

    /// Stores a root token (at init, or the dev root token).
    pub async fn create_root(
        &self,
        store: &SharedStore,
        token: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let hash = self.hash(token.expose_secret()).ok_or_else(ApiError::sealed)?;
        store.token_put(&root_row(hash, now)).await.map_err(internal)
    }

    /// Creates a token; returns its value (shown once) and its entry.
    pub async fn create(
        &self,
        store: &SharedStore,
        t: NewToken,
        now: DateTime<Utc>,
    ) -> Result<(SecretString, TokenEntry), ApiError> {
        let token = Self::generate();
        let hash = self.hash(token.expose_secret()).ok_or_else(ApiError::sealed)?;
        let row = TokenRow {
            hash: hash.to_vec(),
            accessor: crypto::random_base62(24),
            orphan: t.parent.is_none(),
            parent_hash: t.parent,
            policies: serde_json::to_string(&t.policies).map_err(|e| ApiError::internal(&e))?,
            meta: Value::Object(t.meta).to_string(),
            display_name: t.display_name,
            path: t.path,
            token_type: "service".into(),
            creation_time: now.timestamp(),
            ttl: t.ttl,
            explicit_max_ttl: t.explicit_max_ttl,
            max_ttl: t.max_ttl,
            period: t.period,
            num_uses: t.num_uses,
            expire_time: (t.ttl > 0).then(|| now.timestamp() + t.ttl),
            renewable: t.renewable,
            bound_cidrs: serde_json::to_string(&t.bound_cidrs).map_err(|e| ApiError::internal(&e))?,
            identity: match &t.identity {
                Some(i) => serde_json::to_string(i).map_err(|e| ApiError::internal(&e))?,
                None => String::new(),
            },
        };
        store.token_put(&row).await.map_err(internal)?;
        Ok((token, TokenEntry::from_row(row)?))
    }

    /// Finds a token by value without the 403 mapping (`None` if unknown or expired).
    pub async fn find(
        &self,
        store: &SharedStore,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<TokenEntry>>, ApiError> {
        let Some(hash) = self.hash(token) else { return Err(ApiError::sealed()) };
        self.resolve(store, hash, now).await
    }

    /// Finds a token by accessor (`None` if unknown or expired).
    pub async fn find_by_accessor(
        &self,
        store: &SharedStore,
        accessor: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenEntry>, ApiError> {
        self.find_row_by_accessor(store, accessor, now).await?.map(TokenEntry::from_row).transpose()
    }

    /// The stored row of a token by accessor, unparsed (`None` if unknown or expired): enough to
    /// revoke a token whose JSON columns are corrupt.
    pub async fn find_row_by_accessor(
        &self,
        store: &SharedStore,
        accessor: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRow>, ApiError> {
        let row = store.token_by_accessor(accessor).await.map_err(internal)?;
        Ok(row.filter(|r| !expired(r, now)))
    }

    /// The stored row of a token by value, unparsed and uncached (`None` if unknown or expired):
    /// enough to revoke a token whose JSON columns are corrupt.
    pub async fn find_row(
        &self,
        store: &SharedStore,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRow>, ApiError> {
        let Some(hash) = self.hash(token) else { return Err(ApiError::sealed()) };
        let row = store.token_get(&hash).await.map_err(internal)?;
        Ok(row.filter(|r| !expired(r, now)))
    }

    async fn resolve(
        &self,
        store: &SharedStore,
        hash: [u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<TokenEntry>>, ApiError> {
        let cached = self.cache.read().ok().and_then(|c| c.get(&hash).cloned());
        let entry = match cached {
            Some(e) => e,
            None => {
                let generation = self.generation.load(Ordering::SeqCst);
                let Some(row) = store.token_get(&hash).await.map_err(internal)? else { return Ok(None) };
                let entry = Arc::new(TokenEntry::from_row(row)?);
                if entry.row.num_uses == 0 {
                    if let Ok(mut c) = self.cache.write() {
                        // A revocation since the read would make this entry stale: skip it.
                        if self.generation.load(Ordering::SeqCst) == generation {
                            if c.len() >= CACHE_LIMIT {
                                c.clear();
                            }
                            c.insert(hash, entry.clone());
                        }
                    }
                }
                entry
            }
        };
        Ok((!expired(&entry.row, now)).then_some(entry))
    }

    /// Resolves a presented token; every failure is the same 403.
    pub async fn authenticate(
        &self,
        store: &SharedStore,
        token: Option<&SecretString>,
        now: DateTime<Utc>,
    ) -> Result<Arc<TokenEntry>, ApiError> {
        let token = token.ok_or_else(ApiError::permission_denied)?;
        self.find(store, token.expose_secret(), now).await?.ok_or_else(ApiError::permission_denied)
    }

    /// Spends one use of a limited-use token. Returns the entry as the request should see it
    /// (`num_uses` after this use, `-1` on the last one) and whether the token is now used up.
    pub async fn spend_use(&self, store: &SharedStore, entry: &TokenEntry) -> Result<(TokenEntry, bool), ApiError> {
        let uses = entry.row.num_uses;
        match store.token_use(&entry.row.hash, uses).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                // Another request took this use; try again from the current row.
                let Some(row) = store.token_get(&entry.row.hash).await.map_err(internal)? else {
                    return Err(ApiError::permission_denied());
                };
                if row.num_uses <= 0 {
                    return Err(ApiError::permission_denied());
                }
                return Box::pin(self.spend_use(store, &TokenEntry::from_row(row)?)).await;
            }
            Err(e) => return Err(internal(e)),
        }
        let mut seen = entry.clone();
        let last = uses == 1;
        seen.row.num_uses = if last { -1 } else { uses - 1 };
        Ok((seen, last))
    }

    /// Revokes a token and all its descendants, and destroys their cubbyholes.
    pub async fn revoke_tree(&self, store: &SharedStore, hash: &[u8]) -> Result<Vec<Vec<u8>>, ApiError> {
        self.revoke_tree_fenced(store, hash, None).await
    }

    /// [`TokenStore::revoke_tree`] for a background singleton: with a fence, the delete commits
    /// only while this node still holds the leader lease at that epoch.
    async fn revoke_tree_fenced(
        &self,
        store: &SharedStore,
        hash: &[u8],
        fence: Option<&crate::store::Fence>,
    ) -> Result<Vec<Vec<u8>>, ApiError> {
        let tree = store.token_tree(hash).await.map_err(internal)?;
        match fence {
            Some(f) => store.token_delete_tree_fenced(hash, f).await.map_err(|e| match e {
                crate::store::StoreError::Conflict => ApiError::internal(&"the leader lease was lost; tidy stopped"),
                other => internal(other),
            })?,
            None => store.token_delete_tree(hash).await.map_err(internal)?,
        }
        self.invalidate();
        let now = self.clock.now().timestamp_millis();
        for h in &tree {
            store.entry_delete_kind(&crate::core::cubbyhole::kind_for(h)).await.map_err(internal)?;
            // The token's leases go too: due now for the expiry worker, unless the caller
            // revokes them at once (`leases::revoke_for_tokens`).
            store.secret_lease_due_for_token(h, now).await.map_err(internal)?;
        }
        Ok(tree)
    }

    /// Revokes a token; its children become orphans. Its cubbyhole is destroyed.
    pub async fn revoke_orphan(&self, store: &SharedStore, hash: &[u8]) -> Result<Vec<Vec<u8>>, ApiError> {
        store.token_delete_orphaning(hash).await.map_err(internal)?;
        self.invalidate();
        store.entry_delete_kind(&crate::core::cubbyhole::kind_for(hash)).await.map_err(internal)?;
        store.secret_lease_due_for_token(hash, self.clock.now().timestamp_millis()).await.map_err(internal)?;
        Ok(vec![hash.to_vec()])
    }

    /// Renews a token: new TTL `increment` (or its creation TTL), capped by its explicit max TTL
    /// and the system maximum, both counted from creation. Returns the entry and warnings.
    pub async fn renew(
        &self,
        store: &SharedStore,
        entry: &TokenEntry,
        increment: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<(TokenEntry, Vec<String>), ApiError> {
        let r = &entry.row;
        if !r.renewable || r.expire_time.is_none() {
            return Err(ApiError::bad_request("lease is not renewable"));
        }
        let (ttl, warnings) = renewal_ttl(r, increment, now.timestamp());
        let expire = now.timestamp() + ttl;
        store.token_renew(&r.hash, ttl, Some(expire)).await.map_err(internal)?;
        self.invalidate();
        let mut renewed = entry.clone();
        renewed.row.expire_time = Some(expire);
        Ok((renewed, warnings))
    }

    /// Revokes expired tokens (and their descendants) in batches; returns how many were found.
    pub async fn tidy(
        &self,
        store: &SharedStore,
        now: DateTime<Utc>,
        fence: Option<&crate::store::Fence>,
    ) -> Result<usize, ApiError> {
        let mut total = 0;
        loop {
            let batch = store.token_expired(now.timestamp(), 500).await.map_err(internal)?;
            if batch.is_empty() {
                return Ok(total);
            }
            total += batch.len();
            for hash in batch {
                self.revoke_tree_fenced(store, &hash, fence).await?;
            }
        }
    }
}

fn expired(r: &TokenRow, now: DateTime<Utc>) -> bool {
    r.expire_time.is_some_and(|t| t <= now.timestamp()) || r.num_uses < 0
}

/// The token's hard limit on its lifetime in seconds from creation (0 = none): the lesser of its
/// `explicit_max_ttl` and the role or mount cap of the login that made it.
pub fn lifetime_cap(r: &TokenRow) -> i64 {
    lesser(r.explicit_max_ttl.max(0), r.max_ttl.max(0))
}

/// The lesser of two limits in seconds, where 0 means none.
pub fn lesser(a: i64, b: i64) -> i64 {
    match (a, b) {
        (0, x) | (x, 0) => x,
        (a, b) => a.min(b),
    }
}

/// The TTL a renewal grants (SEC-18: never past creation + max TTL), with Vault's warning. A
/// periodic token renews to its period, but never past its explicit max TTL either (as Vault).
pub fn renewal_ttl(r: &TokenRow, increment: Option<i64>, now: i64) -> (i64, Vec<String>) {
    let cap = lifetime_cap(r);
    if r.period > 0 {
        if cap > 0 {
            let remaining_max = (r.creation_time.saturating_add(cap) - now).max(0);
            return (r.period.min(remaining_max), Vec::new());
        }
        return (r.period, Vec::new());
    }
    let wanted = increment.filter(|i| *i > 0).unwrap_or(r.ttl).max(1);
    let max_ttl = if cap > 0 { cap.min(DEFAULT_TTL) } else { DEFAULT_TTL };
    let remaining_max = (r.creation_time + max_ttl - now).max(0);
    if wanted > remaining_max {
        let w = format!(
            "TTL of \"{}\" exceeded the effective max_ttl of \"{}\"; TTL value is capped accordingly",
            crate::base::duration::format(wanted as u64),
            crate::base::duration::format(remaining_max as u64)
        );
        (remaining_max, vec![w])
    } else {
        (wanted, Vec::new())
    }
}

/// The stored form of a root token with the given hash.
pub fn root_row(hash: [u8; 32], now: DateTime<Utc>) -> TokenRow {
    TokenRow {
        hash: hash.to_vec(),
        accessor: crypto::random_base62(24),
        parent_hash: None,
        policies: "[\"root\"]".into(),
        meta: "{}".into(),
        display_name: "root".into(),
        path: "auth/token/root".into(),
        token_type: "service".into(),
        creation_time: now.timestamp(),
        ttl: 0,
        explicit_max_ttl: 0,
        max_ttl: 0,
        period: 0,
        num_uses: 0,
        expire_time: None,
        renewable: false,
        orphan: true,
        bound_cidrs: "[]".into(),
        identity: String::new(),
    }
}

/// Normalises policy names, refusing `root` in any spelling (SEC-05) and the built-in
/// `response-wrapping` policy, which only wrapping tokens carry (as Vault).
pub fn policy_names(raw: Vec<String>) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for p in raw {
        if crate::base::policy::is_root_name(&p) {
            return Err(ApiError::bad_request("the root policy cannot be attached to a token"));
        }
        let n = crate::base::policy::normalize_name(&p).map_err(ApiError::bad_request)?;
        if n == super::wrapping::WRAPPING_POLICY {
            return Err(ApiError::bad_request(format!("cannot assign policy \"{n}\"")));
        }
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

/// Whether `addr` is inside one of `cidrs` (an empty list allows everything).
pub fn addr_allowed(cidrs: &[ipnet::IpNet], addr: Option<std::net::IpAddr>) -> bool {
    cidrs.is_empty() || addr.is_some_and(|a| cidrs.iter().any(|c| c.contains(&a)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn row(ttl: i64, explicit_max: i64, created: i64) -> TokenRow {
        let mut r = root_row([0; 32], crate::base::schedule::Clock::now(&crate::base::schedule::SystemClock));
        r.ttl = ttl;
        r.explicit_max_ttl = explicit_max;
        r.creation_time = created;
        r.renewable = true;
        r
    }

    #[test]
    fn renewal_is_capped_with_vaults_warning() {
        let r = row(3600, 7200, 1000);
        let (ttl, w) = renewal_ttl(&r, Some(36_000), 1000);
        assert_eq!(ttl, 7200);
        assert_eq!(
            w,
            vec!["TTL of \"10h0m0s\" exceeded the effective max_ttl of \"2h0m0s\"; TTL value is capped accordingly"]
        );
        assert_eq!(renewal_ttl(&r, Some(600), 1000), (600, vec![]));
    }

    #[test]
    fn sec32_periodic_renewals_stop_at_the_explicit_max_ttl() {
        let mut r = row(3600, 7200, 0);
        r.period = 3600;
        assert_eq!(renewal_ttl(&r, None, 1000), (3600, vec![]));
        assert_eq!(renewal_ttl(&r, None, 6000).0, 1200);
        assert_eq!(renewal_ttl(&r, None, 9000).0, 0);
        r.explicit_max_ttl = 0;
        assert_eq!(renewal_ttl(&r, None, 9000).0, 3600);
    }

    proptest! {
        /// SEC-18: whatever the timing, a renewal never extends past creation + max TTL.
        #[test]
        fn sec18_renewal_never_exceeds_max(ttl in 1i64..100_000, max in 0i64..200_000, age in 0i64..300_000, inc in 0i64..400_000) {
            let r = row(ttl, max, 0);
            let (granted, _) = renewal_ttl(&r, Some(inc), age);
            let cap = if max > 0 { max.min(DEFAULT_TTL) } else { DEFAULT_TTL };
            prop_assert!(age + granted <= cap.max(age));
            prop_assert!(granted >= 0);
        }
    }
}
