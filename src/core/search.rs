//! `sys/search` in the core: the mount a search names is routed to its engine
//! ([`crate::core::engine::Engine::search`]) with the caller's ACL decision on each key
//! ([`Visibility`]), so an engine filters by the one ACL and never decides access itself.

use std::sync::Arc;

use crate::base::error::ApiError;
use crate::base::logical::Operation;
use crate::base::policy::Acl;
use crate::core::engine::{Call, Host};
use crate::core::tokens::TokenEntry;
use crate::core::Core;

/// What a search asks of one mount. Checked by the system engine before it gets here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// Keys that start with this (relative to the mount; empty: all).
    pub prefix: String,
    /// A `*` glob the key's last segment (its name) must match.
    pub name_glob: Option<String>,
    /// Entries the key's custom metadata must hold, each with exactly this value.
    pub custom_metadata: Vec<(String, String)>,
    /// A staging label some version of the key must carry.
    pub stage: Option<String>,
    /// Only keys sorted strictly after this one.
    pub after: Option<String>,
    /// At most this many keys.
    pub limit: usize,
}

impl SearchQuery {
    /// Whether the query filters on what a key's metadata holds (not only on its name).
    pub fn reads_metadata(&self) -> bool {
        !self.custom_metadata.is_empty() || self.stage.is_some()
    }
}

/// One page of a search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// The keys, sorted, relative to the mount.
    pub keys: Vec<String>,
    /// Set when the page stopped at the engine's bound on keys examined before it had `limit`
    /// keys: the last key examined, from which the next page goes on (as `after`).
    pub next_after: Option<String>,
}

/// Which keys of one mount a caller may be shown, decided by its ACL as a request of its own
/// would be ([`crate::core::permit`]).
pub struct Visibility {
    acl: Arc<Acl>,
    /// The mount's API path (`secret/`).
    mount: String,
    /// Only keys whose metadata the caller may read (a query that filters on metadata).
    readable_only: bool,
}

impl Visibility {
    fn permits(&self, path: &str, op: Operation) -> bool {
        crate::core::permit(&self.acl, path, op, &serde_json::Map::new()).is_ok()
    }

    /// `read` on `<mount>data/<key>` or `<mount>metadata/<key>`.
    fn readable(&self, key: &str) -> bool {
        let m = &self.mount;
        self.permits(&format!("{m}data/{key}"), Operation::Read)
            || self.permits(&format!("{m}metadata/{key}"), Operation::Read)
    }

    /// `list` on the key's folder, `<mount>metadata/<folder>/` (`<mount>metadata/` at the top).
    fn listable(&self, key: &str) -> bool {
        let folder = key.rfind('/').map_or("", |i| key.get(..=i).unwrap_or(""));
        self.permits(&format!("{}metadata/{folder}", self.mount), Operation::List)
    }

    /// Whether the search may return `key`: the caller may list its folder or read it; when the
    /// query filters on metadata (custom metadata, a label), only read counts, since the filter
    /// tells what the metadata holds.
    pub fn allows(&self, key: &str) -> bool {
        if self.readable_only {
            self.readable(key)
        } else {
            self.listable(key) || self.readable(key)
        }
    }
}

impl Core {
    /// Searches the secrets mount at `mount` (its path, `secret/`) for `token`: 400 when no
    /// secrets engine is mounted there or its engine does not search.
    pub async fn search(&self, token: &TokenEntry, mount: &str, query: &SearchQuery) -> Result<Found, ApiError> {
        let table = self.mounts.load_full();
        let entry = table
            .get(mount)
            .filter(|m| m.row.table_name == "mounts")
            .ok_or_else(|| ApiError::bad_request(format!("no secrets engine is mounted at {mount:?}")))?;
        let visible = Visibility {
            acl: self.policies.acl_for(&self.store, token).await?,
            mount: entry.api_path.clone(),
            readable_only: query.reads_metadata(),
        };
        let call = Call { host: Host::new(self, &entry), mount: &entry, path: "", token, sudo: false };
        entry.engine.search(call, query, &visible).await.unwrap_or_else(|| {
            Err(ApiError::bad_request(format!(
                "{mount} is a {} mount: search works on KV version 2 mounts only",
                entry.row.kind
            )))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visibility(hcl: &str, readable_only: bool) -> Visibility {
        let policy = crate::base::policy::Policy::parse("p", hcl).unwrap();
        Visibility { acl: Arc::new(Acl::new(&[Arc::new(policy)])), mount: "secret/".into(), readable_only }
    }

    #[test]
    fn a_key_is_shown_to_who_may_list_its_folder_or_read_it() {
        let lister = visibility(r#"path "secret/metadata/app/" { capabilities = ["list"] }"#, false);
        assert!(lister.allows("app/db"));
        assert!(!lister.allows("app/sub/db"), "list on a folder shows its own keys only");
        assert!(!lister.allows("other"));
        let top = visibility(r#"path "secret/metadata/" { capabilities = ["list"] }"#, false);
        assert!(top.allows("db") && !top.allows("app/db"));
        let reader = visibility(r#"path "secret/data/app/*" { capabilities = ["read"] }"#, false);
        assert!(reader.allows("app/sub/db") && !reader.allows("apx"));
        let meta = visibility(r#"path "secret/metadata/app/db" { capabilities = ["read"] }"#, false);
        assert!(meta.allows("app/db"));
        let denied = visibility(
            r#"path "secret/data/app/*" { capabilities = ["read"] }
               path "secret/data/app/x" { capabilities = ["deny"] }"#,
            false,
        );
        assert!(denied.allows("app/y") && !denied.allows("app/x"));
        // A filter on metadata needs read: list alone does not show what the metadata holds.
        let lister = visibility(r#"path "secret/metadata/app/" { capabilities = ["list"] }"#, true);
        assert!(!lister.allows("app/db"));
        let reader = visibility(r#"path "secret/data/app/*" { capabilities = ["read"] }"#, true);
        assert!(reader.allows("app/db"));
    }
}
