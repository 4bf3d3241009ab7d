//! `POST <mount>/move/<from>` with `{"to": "<path>"}`: a secret moved to another path of its mount
//! with every version (each re-sealed under the new path's context), its labels, metadata,
//! request tokens and rotation schedule, in one store transaction ([`crate::store::moves`]).

use http::StatusCode;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::data::value_digest;
use super::{check_key, store_err};
use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::engine::Call;
use crate::crypto::barrier::{Context, Sealed};
use crate::store::moves::{KvMove, MoveOutcome, MovedRotation};
use crate::store::{KvMetadataRow, KvVersionRow};

/// The longest target path: no request path is longer, so no key is.
const MAX_TO_BYTES: usize = 8 << 10;

/// Most kept versions a moved secret may have (each is opened and sealed again in memory).
pub const MAX_VERSIONS: usize = 1000;

/// Attempts when the source changes between reading and moving it.
const ATTEMPTS: usize = 5;

fn conflict(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, msg)
}

fn target_taken(to: &str) -> ApiError {
    conflict(format!("a secret already exists at {to:?}: delete it first or move to another path"))
}

fn in_flight() -> ApiError {
    conflict("a rotation of this secret is in progress: move it after the rotation ends")
}

/// `to` from the body: a key path in the normal form request paths have (no empty, `.` or `..`
/// segment, no leading or trailing `/`, no backslash, control or format character), or a 400.
/// The body holds nothing else.
pub fn target(data: &Map<String, Value>) -> Result<&str, ApiError> {
    if let Some(k) = data.keys().find(|k| k.as_str() != "to") {
        return Err(ApiError::bad_request(format!("unknown field {k:?}: a move takes only \"to\"")));
    }
    let to = params::str_field(data, "to")?
        .ok_or_else(|| ApiError::bad_request("missing \"to\": the path to move the secret to"))?;
    let bad = |why: &str| Err(ApiError::bad_request(format!("invalid value for \"to\": the path {why}")));
    if to.len() > MAX_TO_BYTES {
        return bad(&format!("is longer than {MAX_TO_BYTES} bytes"));
    }
    if to.is_empty() || to.ends_with('/') {
        return bad("must name a secret: not empty, no trailing '/'");
    }
    if to.contains('\\') {
        return bad("contains a backslash");
    }
    match crate::base::policy::path_problem(to) {
        Some(why) => bad(why),
        None => Ok(to),
    }
}

/// The policy checks of a move: `read` on the source's data, `delete` on its metadata (a move
/// deletes it there) and `create` on the target's data. Without a `to` string only the first two
/// (the move then fails with 400).
pub fn policy_checks(mount: &str, from: &str, req: &Request) -> Vec<(String, Operation)> {
    let mut checks =
        vec![(format!("{mount}data/{from}"), Operation::Read), (format!("{mount}metadata/{from}"), Operation::Delete)];
    if let Ok(Some(to)) = params::str_field(&req.data, "to") {
        checks.push((format!("{mount}data/{to}"), Operation::Create));
    }
    checks
}

/// The source as read, every row sealed for the target.
struct Prepared {
    expected: KvMetadataRow,
    versions: Vec<KvVersionRow>,
    tokens: Vec<(String, i64, Vec<u8>)>,
    rotation: Option<(Sealed, i64, i64)>,
}

impl Prepared {
    fn as_move<'a>(&'a self, mount_id: &'a str, from: &'a str, to: &'a str) -> KvMove<'a> {
        KvMove {
            mount_id,
            from,
            to,
            expected: &self.expected,
            versions: &self.versions,
            tokens: &self.tokens,
            rotation: self.rotation.as_ref().map(|(config, key_term, rev)| MovedRotation {
                config,
                key_term: *key_term,
                rev: *rev,
            }),
        }
    }
}

/// Reads the source and seals each of its versions, token digests and rotation configuration for
/// `to`: 404 without a source, 409 with a target or a rotation in flight.
async fn prepare(call: &Call<'_>, from: &str, to: &str) -> Result<Prepared, ApiError> {
    let host = call.host;
    let storage = host.storage();
    let mount_id = call.mount.row.id.as_str();
    let internal = |e: &dyn std::fmt::Display| ApiError::internal(&format!("kv {}: {e}", call.mount.row.path));
    let Some((expected, kept)) = storage.kv_metadata_with_versions(from).await.map_err(store_err)? else {
        return Err(ApiError::not_found());
    };
    if storage.kv_metadata_get(to).await.map_err(store_err)?.is_some() {
        return Err(target_taken(to));
    }
    if kept.len() > MAX_VERSIONS {
        return Err(ApiError::bad_request(format!(
            "this secret keeps {} versions; a move takes at most {MAX_VERSIONS} (lower max_versions first)",
            kept.len()
        )));
    }
    let rotation = match storage.rotation_get(from).await.map_err(store_err)? {
        Some(row) if !row.step.is_empty() => return Err(in_flight()),
        Some(row) => {
            let cfg = super::rotation::config::open(host, from, &row.config).map_err(|e| internal(&e))?;
            let (config, term) = super::rotation::config::seal(host, to, &cfg)?;
            Some((config, term, row.rev))
        }
        None => None,
    };
    let stored_tokens = storage.kv_request_tokens(from).await.map_err(store_err)?;
    // A token whose version is gone (destroyed or pruned) cannot get a digest for the new path: an
    // empty one matches no value, so a replay of it is refused as a reused token, never written.
    let mut tokens: Vec<(String, i64, Vec<u8>)> = stored_tokens.into_iter().map(|(t, v)| (t, v, Vec::new())).collect();
    let mut versions = Vec::with_capacity(kept.len());
    for v in kept {
        let fresh = storage.kv_read_fresh(from, Some(v.version)).await.map_err(store_err)?;
        let ciphertext = fresh.and_then(|(_, row)| row).and_then(|row| row.ciphertext);
        let row = match ciphertext {
            Some(ct) if !v.destroyed => {
                let version = v.version;
                let plain: Zeroizing<Vec<u8>> = host
                    .barrier()
                    .open(&ct, Context::KvVersion { mount_id, path: from, version })
                    .map_err(|e| internal(&format!("version {version}: {e}")))?;
                let (sealed, term) = host
                    .barrier()
                    .seal(Context::KvVersion { mount_id, path: to, version }, &plain)
                    .map_err(|e| internal(&e))?;
                for (_, _, digest) in tokens.iter_mut().filter(|(_, tv, _)| *tv == version) {
                    *digest = value_digest(host, mount_id, to, &plain)?;
                }
                KvVersionRow { key_term: Some(i64::from(term)), ciphertext: Some(sealed), ..v }
            }
            // Destroyed (or destroyed since it was listed: the store then sees the change).
            _ => KvVersionRow { ciphertext: None, ..v },
        };
        versions.push(row);
    }
    Ok(Prepared { expected, versions, tokens, rotation })
}

/// `POST <mount>/move/<from>` `{"to": "<path>"}`: 204 once the secret is at `to` and nothing is
/// left at `from`; 404 without a source, 409 when a secret is at `to` or a rotation of the
/// source is in flight, 400 for a `to` that is not a key path or is `from`.
pub async fn move_endpoint(call: &Call<'_>, from: &str, req: &Request) -> Result<Response, ApiError> {
    check_key(from)?;
    let to = target(&req.data)?;
    if to == from {
        return Err(ApiError::bad_request("\"to\" is the secret's own path: nothing to move"));
    }
    let host = call.host;
    let mount_id = call.mount.row.id.as_str();
    // Writers of either key on this node wait for the move; the transaction's checks catch the
    // writers of other nodes.
    let _guards = host.locks().lock_both(mount_id, from, to).await;
    for _ in 0..ATTEMPTS {
        let prepared = prepare(call, from, to).await?;
        match host.storage().kv_move(&prepared.as_move(mount_id, from, to)).await.map_err(store_err)? {
            MoveOutcome::Moved => return Ok(Response::NoContent),
            MoveOutcome::SourceMissing => return Err(ApiError::not_found()),
            MoveOutcome::TargetExists => return Err(target_taken(to)),
            MoveOutcome::RotationInFlight => return Err(in_flight()),
            MoveOutcome::Changed => continue,
        }
    }
    Err(conflict("the secret kept changing while it was being moved; retry"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_target_is_a_key_path_in_normal_form() {
        for ok in ["b", "app/db", "a.b/c..d", "ü/x", "a b"] {
            assert_eq!(target(&body(json!({ "to": ok }))).ok(), Some(ok), "{ok:?}");
        }
        let long = "a".repeat(MAX_TO_BYTES + 1);
        for bad in ["", "/a", "a/", "a//b", "./a", "a/./b", "a/../b", "..", "a\\b", "a\u{0}", "a\u{200b}", &long] {
            assert!(target(&body(json!({ "to": bad }))).is_err(), "{bad:?}");
        }
        assert!(target(&body(json!({}))).is_err());
        assert!(target(&body(json!({"to": 3}))).is_err());
        assert!(target(&body(json!({"to": "b", "from": "a"}))).is_err());
    }

    #[test]
    fn a_move_needs_read_and_delete_on_the_source_and_create_on_the_target() {
        let req = |data: Value| Request { data: body(data), ..Request::new(Operation::Update, "secret/move/a") };
        assert_eq!(
            policy_checks("secret/", "a/b", &req(json!({"to": "c"}))),
            vec![
                ("secret/data/a/b".to_string(), Operation::Read),
                ("secret/metadata/a/b".to_string(), Operation::Delete),
                ("secret/data/c".to_string(), Operation::Create),
            ]
        );
        assert_eq!(policy_checks("secret/", "a", &req(json!({}))).len(), 2);
    }
}
