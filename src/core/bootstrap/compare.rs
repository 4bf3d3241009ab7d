//! Whether the store already holds what the file asks for: each field the file sets is compared
//! with what a read answers, in the forms the API accepts for the same value (`"1h"` and `3600`,
//! `"a,b"` and `["a", "b"]`, `"2"` and `2`). A field a read does not show (write-only, such as a
//! webhook's `hmac_key`) is not compared; a change to it is seen through the file's digest.

use serde_json::{Map, Value};

/// The fields of `desired` whose value `current` does not hold, sorted.
pub fn differing(desired: &Map<String, Value>, current: &Map<String, Value>) -> Vec<String> {
    let mut out: Vec<String> =
        desired.iter().filter(|(k, v)| current.get(*k).is_some_and(|c| !same(v, c))).map(|(k, _)| k.clone()).collect();
    out.sort();
    out
}

/// `desired` (as the file writes it) and `current` (as a read shows it) are the same value.
pub fn same(desired: &Value, current: &Value) -> bool {
    match (desired, current) {
        (d, c) if d == c => true,
        (Value::Object(d), Value::Object(c)) => differing(d, c).is_empty(),
        (Value::String(d), Value::String(c)) => d.trim() == c.trim(),
        (Value::String(d), Value::Number(_)) => {
            crate::base::duration::parse_str(d).is_ok_and(|s| Some(s) == current.as_u64())
                || serde_json::from_str::<Value>(d.trim()).is_ok_and(|v| &v == current)
        }
        (Value::Number(d), Value::String(c)) => d.to_string() == c.trim(),
        (Value::Bool(d), Value::String(c)) => d.to_string() == c.trim(),
        (Value::String(d), Value::Bool(c)) => d.trim() == c.to_string(),
        (Value::String(d), Value::Array(c)) => {
            let parts: Vec<Value> =
                d.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.into())).collect();
            same(&Value::Array(parts), &Value::Array(c.clone()))
        }
        (Value::Array(d), Value::Array(c)) => {
            d.len() == c.len()
                && (d.iter().zip(c).all(|(a, b)| same(a, b)) || d.iter().all(|a| c.iter().any(|b| same(a, b))))
        }
        (Value::Array(d), Value::Null) => d.is_empty(),
        (Value::Object(d), Value::Null) => d.is_empty(),
        _ => false,
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
    fn the_api_forms_of_one_value_are_the_same() {
        assert!(same(&json!("1h"), &json!(3600)));
        assert!(same(&json!("3600"), &json!(3600)));
        assert!(same(&json!(2), &json!("2")));
        assert!(same(&json!("a, b"), &json!(["a", "b"])));
        assert!(same(&json!(["b", "a"]), &json!(["a", "b"])));
        assert!(same(&json!([]), &json!(null)));
        assert!(!same(&json!("1h"), &json!(60)));
        assert!(!same(&json!(["a"]), &json!(["a", "b"])));
    }

    #[test]
    fn only_fields_the_read_shows_are_compared() {
        let d = m(json!({"schedule": "1h", "hmac_key": "k", "rotator": {"type": "password", "policy": "p"}}));
        let c = m(json!({"schedule": 3600, "rotator": {"type": "password", "policy": "q"}}));
        assert_eq!(differing(&d, &c), ["rotator"]);
    }
}
