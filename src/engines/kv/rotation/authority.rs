//! Who authorised a rotation that acts on another engine's target (a `postgres` rotator changes
//! a role's password through a database connection), and the check of that right, made with the
//! writer's token when the configuration is written and again with the stored policies before
//! every run.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::base::error::ApiError;
use crate::base::logical::Operation;
use crate::core::tokens::TokenEntry;
use crate::core::Core;

/// The authorising entity stored with a configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Authority {
    /// The token that wrote the configuration.
    Token {
        /// Its accessor.
        accessor: String,
        /// Its login identity's entity id (empty for tokens without a login identity).
        entity_id: String,
        /// Its policies; re-evaluated, as they read then, before every run.
        policies: Vec<String>,
        /// Its stored login identity (for templated policies).
        #[serde(default)]
        identity: String,
    },
    /// Applied by declarative bootstrap from the operator's files.
    Bootstrap,
}

impl Authority {
    /// The authority of a caller.
    pub fn of(token: &TokenEntry) -> Self {
        Authority::Token {
            accessor: token.row.accessor.clone(),
            entity_id: token.identity.as_ref().map(|i| i.entity_id()).unwrap_or_default(),
            policies: token.policies.clone(),
            identity: token.row.identity.clone(),
        }
    }

    /// As reads show it.
    pub fn describe(&self) -> Value {
        match self {
            Authority::Token { accessor, entity_id, policies, .. } => {
                json!({"accessor": accessor, "entity_id": entity_id, "policies": policies})
            }
            Authority::Bootstrap => json!("bootstrap"),
        }
    }
}

/// The path whose `update` capability administers a database connection.
pub fn connection_path(db_mount: &str, db_name: &str) -> String {
    format!("{db_mount}config/{db_name}")
}

/// The caller may administer the connection: `update` on its config path, decided by the same
/// code as a request to that path.
pub async fn check_caller(core: &Core, token: &TokenEntry, path: &str) -> Result<(), ApiError> {
    core.token_permits(token, path, Operation::Update).await.map(drop).map_err(|_| {
        ApiError::new(
            http::StatusCode::FORBIDDEN,
            format!(
                "permission denied: a postgres rotator acts on the database connection, so the caller needs \
                 \"update\" on {path:?}"
            ),
        )
    })
}

/// Whether the stored authority still holds `update` on `path`, with its policies as they read
/// now. `None` (a configuration written before authorities were recorded) never does.
pub async fn still_holds(core: &Core, authority: Option<&Authority>, path: &str) -> Result<(), String> {
    let lost = |why: &str| {
        format!("rotation stopped: {why}; write the rotation configuration again with a token that has \"update\" on {path:?}")
    };
    match authority {
        None => Err(lost("the configuration records no authorising token")),
        Some(Authority::Bootstrap) => Ok(()),
        Some(Authority::Token { policies, identity, .. }) => {
            let parsed = match identity.as_str() {
                "" => None,
                text => Some(
                    crate::base::stored::parse("rotation authority identity", text)
                        .map_err(|e| format!("the recorded authority does not read back: {}", e.errors.join("; ")))?,
                ),
            };
            let acl = core
                .policies
                .acl(&core.store, policies, parsed.as_ref(), identity)
                .await
                .map_err(|e| format!("the authorising policies cannot be read: {}", e.errors.join("; ")))?;
            crate::core::permit(&acl, path, Operation::Update, &serde_json::Map::new())
                .map(drop)
                .map_err(|_| lost("the authorising token's policies no longer grant \"update\" on the connection"))
        }
    }
}
