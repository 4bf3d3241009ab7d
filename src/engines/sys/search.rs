//! `POST sys/search`: the keys of one KV v2 mount whose name, custom metadata and labels match,
//! that the caller may see, a page at a time (`after`, `limit`). The body is checked here; the
//! core routes the search to the mount's engine with the caller's ACL decision.

use serde_json::{json, Map, Value};

use crate::base::error::ApiError;
use crate::base::logical::Response;
use crate::base::{names, params, path_chars};
use crate::core::engine::Call;
use crate::core::search::SearchQuery;

/// Keys a page holds when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// Most keys a page may hold.
pub const MAX_LIMIT: usize = 1000;
/// Longest `prefix` and `after`: no request path is longer, so no key is.
const MAX_PATH_BYTES: usize = 8 << 10;
/// Longest `name_glob` (a name is one path segment).
const MAX_GLOB_BYTES: usize = 1024;
/// Most `custom_metadata` entries a search may ask for, and their sizes (as a key may hold).
const MAX_METADATA: usize = 64;
const MAX_METADATA_KEY: usize = 128;
const MAX_METADATA_VALUE: usize = 512;

const FIELDS: [&str; 7] = ["mount", "prefix", "name_glob", "custom_metadata", "stage", "after", "limit"];

fn bad(field: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("invalid value for \"{field}\": {why}"))
}

/// A string field that, when given, is not empty (an empty one counts as absent).
fn text<'a>(data: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, ApiError> {
    Ok(params::str_field(data, field)?.filter(|s| !s.is_empty()))
}

/// `prefix`: the start of a key path. No leading `/`, no empty, `.` or `..` segment before its
/// last (the last may be the start of a name, `.e` of `.env`), no backslash, control or format
/// character.
fn prefix(data: &Map<String, Value>) -> Result<String, ApiError> {
    let Some(p) = text(data, "prefix")? else { return Ok(String::new()) };
    if p.len() > MAX_PATH_BYTES {
        return Err(bad("prefix", &format!("longer than {MAX_PATH_BYTES} bytes")));
    }
    if p.starts_with('/') || p.contains('\\') || path_chars::any_forbidden(p) {
        return Err(bad("prefix", "a key path starts with no '/' and holds no backslash, control or format character"));
    }
    let mut segments: Vec<&str> = p.split('/').collect();
    segments.pop();
    if segments.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return Err(bad("prefix", "a key path has no empty, '.' or '..' segment"));
    }
    Ok(p.to_string())
}

/// `name_glob`: a `*` glob of one path segment.
fn name_glob(data: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let Some(g) = text(data, "name_glob")? else { return Ok(None) };
    if g.len() > MAX_GLOB_BYTES {
        return Err(bad("name_glob", &format!("longer than {MAX_GLOB_BYTES} bytes")));
    }
    if g.contains('/') || path_chars::any_forbidden(g) {
        return Err(bad(
            "name_glob",
            "it matches a key's name (its last segment): no '/', control or format characters",
        ));
    }
    Ok(Some(g.to_string()))
}

/// `custom_metadata`: entries a key's custom metadata must hold, string to string. Errors name
/// keys, never values.
fn custom_metadata(data: &Map<String, Value>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(map) = params::map_field(data, "custom_metadata")? else { return Ok(Vec::new()) };
    if map.len() > MAX_METADATA {
        return Err(bad("custom_metadata", &format!("more than {MAX_METADATA} entries")));
    }
    map.into_iter()
        .map(|(k, v)| match v {
            _ if k.is_empty() || k.len() > MAX_METADATA_KEY => {
                Err(bad("custom_metadata", &format!("keys are 1 to {MAX_METADATA_KEY} bytes")))
            }
            Value::String(s) if s.len() <= MAX_METADATA_VALUE => Ok((k, s)),
            Value::String(_) => {
                Err(bad("custom_metadata", &format!("the value of {k:?} is longer than {MAX_METADATA_VALUE} bytes")))
            }
            _ => Err(bad("custom_metadata", &format!("the value of {k:?} must be a string"))),
        })
        .collect()
}

/// `stage`: a label name (1 to 256 printable characters without `/`).
fn stage(data: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let Some(s) = text(data, "stage")? else { return Ok(None) };
    if s.len() > 256 || s.contains('/') || s.chars().any(char::is_control) || path_chars::any_forbidden(s) {
        return Err(bad("stage", "a stage name is 1 to 256 printable characters without '/'"));
    }
    Ok(Some(s.to_string()))
}

/// `after`: a key to start after (any key path, compared byte for byte).
fn after(data: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let Some(a) = text(data, "after")? else { return Ok(None) };
    if a.len() > MAX_PATH_BYTES {
        return Err(bad("after", &format!("longer than {MAX_PATH_BYTES} bytes")));
    }
    if path_chars::any_forbidden(a) || a.contains('\\') {
        return Err(bad("after", "no key holds a backslash, control or format character"));
    }
    Ok(Some(a.to_string()))
}

/// `limit`: 1 to [`MAX_LIMIT`]; [`DEFAULT_LIMIT`] when absent.
fn limit(data: &Map<String, Value>) -> Result<usize, ApiError> {
    let why = format!("expected an integer from 1 to {MAX_LIMIT}");
    match params::u64_field(data, "limit").map_err(|_| bad("limit", &why))? {
        None => Ok(DEFAULT_LIMIT),
        Some(n) => usize::try_from(n).ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| bad("limit", &why)),
    }
}

/// The mount and the query of a search body; unknown fields are refused (a misspelt filter
/// would otherwise widen the search silently).
pub fn parse(data: &Map<String, Value>) -> Result<(String, SearchQuery), ApiError> {
    if let Some(k) = data.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("unknown field {k:?}: a search takes {}", FIELDS.join(", "))));
    }
    let mount = params::str_field(data, "mount")?
        .ok_or_else(|| ApiError::bad_request("missing \"mount\": the path of a KV version 2 mount (secret)"))?;
    let mount = names::mount_path(mount)?;
    let query = SearchQuery {
        prefix: prefix(data)?,
        name_glob: name_glob(data)?,
        custom_metadata: custom_metadata(data)?,
        stage: stage(data)?,
        after: after(data)?,
        limit: limit(data)?,
    };
    Ok((mount, query))
}

/// `POST sys/search`.
pub async fn search(call: &Call<'_>, data: &Map<String, Value>) -> Result<Response, ApiError> {
    let core = call.host.whole_core()?;
    let (mount, query) = parse(data)?;
    let found = core.search(call.token, &mount, &query).await?;
    let mut out = json!({ "keys": found.keys });
    if let Some(next) = found.next_after {
        crate::base::json::set(&mut out, "next_after", json!(next));
    }
    Ok(Response::data(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(v: Value) -> Result<(String, SearchQuery), ApiError> {
        parse(v.as_object().unwrap_or(&Map::new()))
    }

    #[test]
    fn every_field_is_checked() {
        let (mount, q) = parsed(json!({"mount": "secret"})).unwrap();
        assert_eq!((mount.as_str(), q.limit, q.prefix.as_str()), ("secret/", DEFAULT_LIMIT, ""));
        let (_, q) = parsed(json!({
            "mount": "secret/", "prefix": "app/.e", "name_glob": "*db*", "custom_metadata": {"owner": "team-a"},
            "stage": "pending", "after": "app/a", "limit": "1000"
        }))
        .unwrap();
        assert_eq!(q.custom_metadata, vec![("owner".to_string(), "team-a".to_string())]);
        assert_eq!((q.limit, q.stage.as_deref(), q.after.as_deref()), (1000, Some("pending"), Some("app/a")));
        let long = "a".repeat(MAX_PATH_BYTES + 1);
        for bad in [
            json!({}),
            json!({"mount": ""}),
            json!({"mount": "secret//"}),
            json!({"mount": "/secret"}),
            json!({"mount": 3}),
            json!({"mount": "secret", "prefix": "/app"}),
            json!({"mount": "secret", "prefix": "a//b"}),
            json!({"mount": "secret", "prefix": "./a"}),
            json!({"mount": "secret", "prefix": "a/../b"}),
            json!({"mount": "secret", "prefix": "a\u{0}"}),
            json!({"mount": "secret", "prefix": long}),
            json!({"mount": "secret", "name_glob": "a/*"}),
            json!({"mount": "secret", "custom_metadata": {"k": 1}}),
            json!({"mount": "secret", "custom_metadata": {"k": "v".repeat(513)}}),
            json!({"mount": "secret", "stage": "a/b"}),
            json!({"mount": "secret", "after": "a\u{200b}"}),
            json!({"mount": "secret", "limit": 0}),
            json!({"mount": "secret", "limit": 1001}),
            json!({"mount": "secret", "limit": -1}),
            json!({"mount": "secret", "limit": "many"}),
            json!({"mount": "secret", "nameglob": "*"}),
        ] {
            assert!(parsed(bad.clone()).is_err(), "{bad}");
        }
    }
}
