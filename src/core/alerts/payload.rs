//! What an alert says, and who it is about. An alert carries its id, time, node, rule and kind,
//! and per kind: the identity (entity name and id, token accessor and display name), the client
//! address, counts, paths, the new network prefix, or the rotation's mount, path and outcome.
//! Never a secret value, a token, or the rule's key.

use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::rules::Rule;
use crate::core::tokens::TokenEntry;

/// Who an event is about, as far as the request tells.
#[derive(Debug, Clone, PartialEq)]
pub struct Who {
    /// What counts as one identity: `entity:<id>` for a token from a login, `token:<accessor>`
    /// for another token, `client:<address>` when there is no token (an invalid one included).
    pub key: String,
    /// The identity as alerts show it (`null` without a token).
    pub identity: Value,
}

/// The identity of a request made with `token` (if any) from `client`; `None` when there is
/// neither a token with an accessor nor a client address.
pub fn who(token: Option<&TokenEntry>, client: Option<IpAddr>) -> Option<Who> {
    let token = token.filter(|t| !t.row.accessor.is_empty());
    match (token, client) {
        (Some(t), _) => {
            let accessor = t.row.accessor.as_str();
            Some(match &t.identity {
                Some(id) => {
                    let entity_id = id.entity_id();
                    Who {
                        key: format!("entity:{entity_id}"),
                        identity: json!({
                            "entity_name": id.name,
                            "entity_id": entity_id,
                            "accessor": accessor,
                            "display_name": t.row.display_name,
                        }),
                    }
                }
                None => Who {
                    key: format!("token:{accessor}"),
                    identity: json!({ "accessor": accessor, "display_name": t.row.display_name }),
                },
            })
        }
        (None, Some(ip)) => Some(Who { key: format!("client:{ip}"), identity: Value::Null }),
        (None, None) => None,
    }
}

/// The time as alerts write it.
pub fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The alert: its header fields and the kind's `details`.
pub fn build(id: u64, at: &DateTime<Utc>, node: &str, rule: &Rule, details: Map<String, Value>) -> Value {
    let mut out = details;
    out.insert("id".into(), json!(id));
    out.insert("time".into(), json!(time(at)));
    out.insert("node".into(), json!(node));
    out.insert("rule".into(), json!(rule.name));
    out.insert("kind".into(), json!(rule.kind.as_str()));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_key_by_entity_then_accessor_then_client() {
        let now = chrono::DateTime::from_timestamp(0, 0).unwrap();
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        let mut t = TokenEntry::for_access_key("AKIAEXAMPLE000000000", vec![], now);
        let w = who(Some(&t), Some(ip)).unwrap();
        assert_eq!(w.key, "token:AKIAEXAMPLE000000000");
        assert_eq!(w.identity["display_name"], "aws-AKIAEXAMPLE000000000");
        t.identity = Some(crate::base::identity::Identity {
            mount_accessor: "userpass_1".into(),
            name: "alice".into(),
            metadata: Default::default(),
        });
        let w = who(Some(&t), Some(ip)).unwrap();
        assert!(w.key.starts_with("entity:"), "{w:?}");
        assert_eq!(w.identity["entity_name"], "alice");
        let anonymous = TokenEntry::anonymous(now);
        assert_eq!(who(Some(&anonymous), Some(ip)).unwrap().key, "client:10.0.0.7");
        assert_eq!(who(None, None), None);
    }
}
