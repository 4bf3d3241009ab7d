//! Panic-free JSON object access: reading a missing field gives `null`, setting a field works on an
//! object (or a `null`, which becomes one), as `value[key]` does, without its panic on other values.

use serde_json::{Map, Value};

/// The field `key` of `v`, `null` when `v` is not an object or has no such field (as `v[key]`).
pub fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&Value::Null)
}

/// Sets `v[key] = x`. A `null` becomes an object first (as `v[key] = x`); any other non-object
/// is left unchanged (where `v[key] = x` would panic).
pub fn set(v: &mut Value, key: &str, x: Value) {
    if v.is_null() {
        *v = Value::Object(Map::new());
    }
    if let Some(o) = v.as_object_mut() {
        o.insert(key.to_string(), x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_reads_like_indexing() {
        let v = json!({"a": 1});
        assert_eq!(field(&v, "a"), &json!(1));
        assert_eq!(field(&v, "b"), &Value::Null);
        assert_eq!(field(&json!([1]), "a"), &Value::Null);
    }

    #[test]
    fn set_writes_like_indexing_without_panicking() {
        let mut v = json!({"a": 1});
        set(&mut v, "b", json!(2));
        assert_eq!(v, json!({"a": 1, "b": 2}));
        let mut n = Value::Null;
        set(&mut n, "a", json!(true));
        assert_eq!(n, json!({"a": true}));
        let mut s = json!("text");
        set(&mut s, "a", json!(1));
        assert_eq!(s, json!("text"));
    }
}
