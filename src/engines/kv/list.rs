//! `LIST <mount>/metadata/<folder>` (or `GET …?list=true`): the folder's keys and sub-folders,
//! paged with OpenBao's `after` and `limit` query parameters, in the store.

use serde_json::{Map, Value};

use super::store_err;
use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::{params, path_chars};
use crate::core::engine::Call;
use crate::store::Page;

/// The longest `after`: no key name is longer, since a request path is at most 8 KiB.
const MAX_AFTER_BYTES: usize = 8 << 10;

/// `LIST <mount>/metadata/<prefix>`: the children sorted after `after`, at most `limit` of them;
/// an empty page is a 404, as an empty folder is.
pub async fn list(call: &Call<'_>, prefix: &str, req: &Request) -> Result<Response, ApiError> {
    let prefix = if prefix.is_empty() || prefix.ends_with('/') { prefix.to_string() } else { format!("{prefix}/") };
    let page = Page::new(after(&req.data)?, limit(&req.data)?);
    let keys = call.host.storage().kv_children(&prefix, page).await.map_err(store_err)?;
    Response::keys(keys)
}

/// `after`: a name the folder's listing could hold (one path segment, with a trailing `/` for a
/// folder), or absent when empty. OpenBao compares any string; a name that no key can have is
/// refused here rather than given a meaning.
fn after(data: &Map<String, Value>) -> Result<Option<&str>, ApiError> {
    let Some(after) = params::str_field(data, "after")?.filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let bad = |why: &str| Err(ApiError::bad_request(format!("invalid value for \"after\": {why}")));
    if after.len() > MAX_AFTER_BYTES {
        return bad(&format!("longer than {MAX_AFTER_BYTES} bytes"));
    }
    let name = after.strip_suffix('/').unwrap_or(after);
    if name.is_empty() || name.contains('/') {
        return bad("expected a name from the listed folder: one path segment, with a trailing '/' for a folder");
    }
    if name == "." || name == ".." || name.contains('\\') || path_chars::any_forbidden(name) {
        return bad("no key has this name ('.', '..', a backslash, or control or format characters)");
    }
    Ok(Some(after))
}

/// `limit`: a positive integer, or absent. As in OpenBao, `0` or less means no limit, and a
/// number beyond 64 bits is refused.
fn limit(data: &Map<String, Value>) -> Result<Option<u64>, ApiError> {
    let bad = || ApiError::bad_request("invalid value for \"limit\": expected an integer (0 or less: no limit)");
    let n = match data.get("limit") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(s)) => s.parse::<i64>().map_err(|_| bad())?,
        Some(Value::Number(n)) => n.as_i64().ok_or_else(bad)?,
        Some(_) => return Err(bad()),
    };
    Ok(u64::try_from(n).ok().filter(|n| *n > 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn limit_is_an_integer_and_zero_or_less_means_all() {
        for (given, want) in [
            (json!({}), None),
            (json!({"limit": ""}), None),
            (json!({"limit": "2"}), Some(2)),
            (json!({"limit": "02"}), Some(2)),
            (json!({"limit": "+2"}), Some(2)),
            (json!({"limit": 7}), Some(7)),
            (json!({"limit": "0"}), None),
            (json!({"limit": "-1"}), None),
            (json!({"limit": "9223372036854775807"}), Some(i64::MAX as u64)),
        ] {
            assert_eq!(limit(&data(given.clone())).ok(), Some(want), "{given}");
        }
        for given in ["abc", "1.5", " 2", "2 ", "1e3", "9223372036854775808", "0x10", "1_000"] {
            assert!(limit(&data(json!({ "limit": given }))).is_err(), "{given}");
        }
        for given in [json!(1.5), json!(true), json!([1]), json!(u64::MAX)] {
            assert!(limit(&data(json!({ "limit": given }))).is_err(), "{given}");
        }
    }

    #[test]
    fn after_is_one_name_of_the_folder() {
        for ok in ["c", "c/", "c-d", "ü", "a b", "..x", "x.."] {
            assert_eq!(after(&data(json!({ "after": ok }))).ok(), Some(Some(ok)), "{ok}");
        }
        assert_eq!(after(&data(json!({"after": ""}))).ok(), Some(None));
        let long = "a".repeat(MAX_AFTER_BYTES + 1);
        for bad in ["/", "/c", "c//", "c/y", "../x", ".", "..", "./", "a\\b", "a\u{0}", "a\u{200B}", "a\n", &long] {
            assert!(after(&data(json!({ "after": bad }))).is_err(), "{bad:?}");
        }
        assert!(after(&data(json!({"after": 3}))).is_err());
    }
}
