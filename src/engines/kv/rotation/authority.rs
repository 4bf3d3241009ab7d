//! Who authorised a rotation that acts on another engine's target (a `postgres` rotator changes
//! a role's password through a database connection), and the check of that right, made with the
//! writer's token when the configuration is written and again with the stored policies before
//! every run.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::base::error::ApiError;
use crate::base::logical::Operation;
use crate::core::engine::{Actor, Host};
use crate::core::tokens::TokenEntry;

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
        if crate::core::bootstrap::is_identity(token) {
            return Authority::Bootstrap;
        }
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
pub async fn check_caller(host: Host<'_>, token: &TokenEntry, path: &str) -> Result<(), ApiError> {
    host.permits(&Actor::Token(token), path, Operation::Update).await.map_err(|_| {
        ApiError::new(
            http::StatusCode::FORBIDDEN,
            format!(
                "permission denied: a postgres rotator acts on the database connection, so the caller needs \
                 \"update\" on {path:?}"
            ),
        )
    })
}

/// Who the stored authority stands for; `None` (a configuration written before authorities were
/// recorded) stands for no one.
pub fn actor(authority: Option<&Authority>) -> Option<Actor<'_>> {
    match authority? {
        Authority::Bootstrap => Some(Actor::Bootstrap),
        Authority::Token { policies, identity, .. } => Some(Actor::Recorded { policies, identity }),
    }
}

/// Why a stored authority no longer acts on `path`.
pub fn lost(path: &str, why: &str) -> String {
    format!(
        "rotation stopped: {why}; write the rotation configuration again with a token that has \"update\" on {path:?}"
    )
}

/// The reason to give for a refused check of the stored authority on `path`.
pub fn refused(path: &str, e: &ApiError) -> String {
    if e.status == http::StatusCode::FORBIDDEN {
        lost(path, "the authorising token's policies no longer grant \"update\" on the connection")
    } else {
        format!("the authorising policies cannot be read: {}", e.errors.join("; "))
    }
}

/// Whether the stored authority still holds `update` on `path`, with its policies as they read
/// now. `None` (a configuration written before authorities were recorded) never does.
pub async fn still_holds(host: Host<'_>, authority: Option<&Authority>, path: &str) -> Result<(), String> {
    let actor = actor(authority).ok_or_else(|| lost(path, "the configuration records no authorising token"))?;
    host.permits(&actor, path, Operation::Update).await.map_err(|e| refused(path, &e))
}
