//! Lenient readers for request fields (API-CONTRACT §1.9): numbers as strings, `null` as absent,
//! durations as text or seconds, lists as arrays or comma-separated strings.

use serde_json::{Map, Value};

use crate::duration;
use crate::error::ApiError;

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

/// A list of integers given as numbers, numeric strings, or a comma-separated string.
pub fn int_list_field(data: &Map<String, Value>, key: &str) -> Result<Vec<i64>, ApiError> {
    let bad = || ApiError::bad_request(format!("invalid value for \"{key}\": expected a list of integers"));
    let parse = |s: &str| s.trim().parse::<i64>().map_err(|_| bad());
    match present(data, key) {
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

/// A JSON object field.
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
    fn errors_name_the_field_not_the_value() {
        let e = u64_field(&m(json!({"cas": "hunter2"})), "cas").unwrap_err();
        assert!(e.errors[0].contains("cas"));
        assert!(!e.errors[0].contains("hunter2"));
    }
}
