//! Lenient readers for request fields (API-CONTRACT §1.9): numbers as strings, `null` as absent,
//! durations as text or seconds, lists as arrays or comma-separated strings, maps as objects or
//! `k=v` pairs, and a string holding JSON where a list or map is expected (D95).

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::base::duration;
use crate::base::error::ApiError;

fn present<'a>(data: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    data.get(key).filter(|v| !v.is_null())
}

/// An unsigned integer given as a number or a numeric string.
pub fn u64_field(data: &Map<String, Value>, key: &str) -> Result<Option<u64>, ApiError> {
    let bad = || ApiError::bad_request(format!("invalid value for \"{key}\": expected a non-negative integer"));
    match present(data, key) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// A boolean given as a JSON boolean or `"true"`/`"false"`.
pub fn bool_field(data: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match present(data, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" || s == "1" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" || s == "0" || s.is_empty() => Ok(Some(false)),
        Some(_) => Err(ApiError::bad_request(format!("invalid value for \"{key}\": expected a boolean"))),
    }
}

/// A string field.
pub fn str_field<'a>(data: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, ApiError> {
    match present(data, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad_request(format!("invalid value for \"{key}\": expected a string"))),
    }
}

/// A duration in seconds.
pub fn duration_field(data: &Map<String, Value>, key: &str) -> Result<Option<u64>, ApiError> {
    match present(data, key) {
        None => Ok(None),
        Some(v) => duration::parse_value(v)
            .map(Some)
            .map_err(|e| ApiError::bad_request(format!("invalid value for \"{key}\": {e}"))),
    }
}

/// How deep JSON held in a string may nest (a map of lists of strings needs 3). The request
/// body's own depth limit does not see inside strings, so this one stands in for it.
const MAX_HELD_DEPTH: usize = 8;

/// The value of a list or map field; a string whose first non-blank character is `{` or `[` and
/// that parses as JSON is taken as that JSON (D95). Any other string is returned as it is.
fn structured<'a>(data: &'a Map<String, Value>, key: &str) -> Result<Option<Cow<'a, Value>>, ApiError> {
    let Some(v) = present(data, key) else { return Ok(None) };
    if let Value::String(s) = v {
        if looks_like_json(s) {
            if let Ok(parsed) = serde_json::from_str::<Value>(s) {
                if depth(&parsed) > MAX_HELD_DEPTH {
                    return Err(ApiError::bad_request(format!(
                        "invalid value for \"{key}\": the JSON it holds nests deeper than {MAX_HELD_DEPTH} levels"
                    )));
                }
                return Ok(Some(Cow::Owned(parsed)));
            }
        }
    }
    Ok(Some(Cow::Borrowed(v)))
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn looks_like_json(s: &str) -> bool {
    s.trim_start().starts_with(['{', '['])
}

/// A list of strings: a JSON array of strings, a string holding one, or a comma-separated string
/// (each part trimmed, empty parts dropped). Absent or `null` is an empty list.
pub fn string_list(data: &Map<String, Value>, key: &str) -> Result<Vec<String>, ApiError> {
    let bad = || ApiError::bad_request(format!("invalid value for \"{key}\": expected a list of strings"));
    match structured(data, key)?.as_deref() {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect()),
        Some(Value::Array(items)) => items.iter().map(|v| v.as_str().map(String::from).ok_or_else(bad)).collect(),
        Some(_) => Err(bad()),
    }
}

/// A map: a JSON object, a string holding one, or `k=v` pairs as Vault's key-pair fields take
/// them: one string (`options=version=2`) or a list of them (the bao CLI sends a repeated
/// `options=a=1 options=b=2` as `["a=1","b=2"]`). A pair's value is a string and may hold `=` and
/// `,`; the same key twice keeps the last. A string that starts with `{` or `[` but is not JSON
/// is refused (a quoting mistake, never a key). Values are checked by the caller; errors never
/// echo them.
pub fn map_field(data: &Map<String, Value>, key: &str) -> Result<Option<Map<String, Value>>, ApiError> {
    let bad = |why: &str| ApiError::bad_request(format!("invalid value for \"{key}\": {why}"));
    let expected = "expected an object, a JSON object, or key=value pairs";
    let pair = |out: &mut Map<String, Value>, s: &str| match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => {
            out.insert(k.to_string(), Value::String(v.to_string()));
            Ok(())
        }
        _ => Err(bad("a key=value pair needs a non-empty key and '='")),
    };
    let Some(v) = structured(data, key)? else { return Ok(None) };
    let mut out = Map::new();
    match v.as_ref() {
        Value::Object(m) => return Ok(Some(m.clone())),
        Value::String(s) if s.trim().is_empty() => {}
        Value::String(s) if looks_like_json(s) => return Err(bad("it starts like JSON but does not parse as JSON")),
        Value::String(s) => pair(&mut out, s)?,
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(s) => pair(&mut out, s)?,
                    Value::Object(m) => out.extend(m.clone()),
                    _ => return Err(bad(expected)),
                }
            }
        }
        _ => return Err(bad(expected)),
    }
    Ok(Some(out))
}

/// A list of integers given as numbers, numeric strings, a comma-separated string, or a string
/// holding a JSON array.
pub fn int_list_field(data: &Map<String, Value>, key: &str) -> Result<Vec<i64>, ApiError> {
    let bad = || ApiError::bad_request(format!("invalid value for \"{key}\": expected a list of integers"));
    let parse = |s: &str| s.trim().parse::<i64>().map_err(|_| bad());
    match structured(data, key)?.as_deref() {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::Number(n) => n.as_i64().ok_or_else(bad),
                Value::String(s) => parse(s),
                _ => Err(bad()),
            })
            .collect(),
        Some(Value::Number(n)) => Ok(vec![n.as_i64().ok_or_else(bad)?]),
        Some(Value::String(s)) => s.split(',').filter(|p| !p.trim().is_empty()).map(parse).collect(),
        Some(_) => Err(bad()),
    }
}

/// A structured object that must arrive as a JSON object (not a map of pairs). Only the rotation
/// config still reads `rotator` through it; map fields use [`map_field`].
pub fn object_field<'a>(data: &'a Map<String, Value>, key: &str) -> Result<Option<&'a Map<String, Value>>, ApiError> {
    match present(data, key) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(ApiError::bad_request(format!("invalid value for \"{key}\": expected an object"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn lenient_forms_are_accepted() {
        let d = m(json!({"a": "4", "b": 5, "c": null, "l": ["1", 2], "s": "1,3", "t": "1h", "f": "true"}));
        assert_eq!(u64_field(&d, "a").unwrap(), Some(4));
        assert_eq!(u64_field(&d, "b").unwrap(), Some(5));
        assert_eq!(u64_field(&d, "c").unwrap(), None);
        assert_eq!(int_list_field(&d, "l").unwrap(), vec![1, 2]);
        assert_eq!(int_list_field(&d, "s").unwrap(), vec![1, 3]);
        assert_eq!(duration_field(&d, "t").unwrap(), Some(3600));
        assert_eq!(bool_field(&d, "f").unwrap(), Some(true));
        assert!(u64_field(&m(json!({"a": "x"})), "a").is_err());
    }

    #[test]
    fn maps_take_objects_pairs_and_json_strings() {
        let want = m(json!({"version": "2", "a": "x=y,z"}));
        for given in [
            json!({"version": "2", "a": "x=y,z"}),
            json!(["version=2", "a=x=y,z"]),
            json!("{\"version\":\"2\",\"a\":\"x=y,z\"}"),
            json!(" [\"version=2\", \"a=x=y,z\"]"),
        ] {
            assert_eq!(map_field(&m(json!({"o": given})), "o").unwrap(), Some(want.clone()), "{given}");
        }
        assert_eq!(map_field(&m(json!({"o": "version=2"})), "o").unwrap(), Some(m(json!({"version": "2"}))));
        assert_eq!(map_field(&m(json!({"o": ""})), "o").unwrap(), Some(Map::new()));
        assert_eq!(map_field(&m(json!({"o": null})), "o").unwrap(), None);
        for bad in [json!("novalue"), json!("=v"), json!(["a=1", 2]), json!(7), json!("{\"a\":"), json!(true)] {
            assert!(map_field(&m(json!({"o": bad})), "o").is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_take_arrays_commas_and_json_strings() {
        for given in [json!(["a", "b"]), json!("a, b"), json!("[\"a\",\"b\"]"), json!("a,,b,")] {
            assert_eq!(string_list(&m(json!({"l": given})), "l").unwrap(), vec!["a", "b"], "{given}");
        }
        // Not JSON: the comma rule.
        assert_eq!(string_list(&m(json!({"l": "[a,b"})), "l").unwrap(), vec!["[a", "b"]);
        assert!(string_list(&m(json!({"l": "{\"a\":1}"})), "l").is_err());
        assert!(string_list(&m(json!({"l": [1]})), "l").is_err());
        assert_eq!(int_list_field(&m(json!({"l": "[1, \"2\"]"})), "l").unwrap(), vec![1, 2]);
        let deep = format!("{}{}", "[".repeat(9), "]".repeat(9));
        assert!(string_list(&m(json!({"l": deep})), "l").is_err());
        assert!(map_field(&m(json!({"o": format!("{{\"a\":{}}}", "[".repeat(8) + &"]".repeat(8))})), "o").is_err());
    }

    #[test]
    fn errors_name_the_field_not_the_value() {
        let e = map_field(&m(json!({"custom_metadata": "hunter2"})), "custom_metadata").unwrap_err();
        assert!(e.errors[0].contains("custom_metadata") && !e.errors[0].contains("hunter2"));
        let e = u64_field(&m(json!({"cas": "hunter2"})), "cas").unwrap_err();
        assert!(e.errors[0].contains("cas"));
        assert!(!e.errors[0].contains("hunter2"));
    }
}
