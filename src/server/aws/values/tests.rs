//! Unit and property tests of the AWS value ↔ KV data mapping.

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn s(v: &str) -> AwsValue {
    AwsValue::String(Zeroizing::new(v.to_string()))
}

fn b(v: &[u8]) -> AwsValue {
    AwsValue::Binary(Zeroizing::new(v.to_vec()))
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn string_of(v: AwsValue) -> String {
    match v {
        AwsValue::String(s) => s.to_string(),
        AwsValue::Binary(_) => panic!("binary, expected a string"),
    }
}

fn bytes_of(v: AwsValue) -> Vec<u8> {
    match v {
        AwsValue::Binary(b) => b.to_vec(),
        AwsValue::String(_) => panic!("string, expected binary"),
    }
}

/// What KV does to data between a write and a read: JSON bytes, encrypted, stored, parsed.
fn stored(data: &Map<String, Value>) -> Map<String, Value> {
    serde_json::from_slice(&serde_json::to_vec(data).unwrap()).unwrap()
}

fn round_trip(v: &AwsValue) -> AwsValue {
    from_kv(&stored(&to_kv(v).unwrap())).unwrap()
}

#[test]
fn a_canonical_json_object_is_the_kv_data() {
    let text = r#"{"password":"p4ss","user":"admin"}"#;
    assert_eq!(to_kv(&s(text)).unwrap(), obj(json!({"user": "admin", "password": "p4ss"})));
    let nested = r#"{"a":[1,2.5,null,true],"b":{"c":"é\u0001"}}"#;
    let data = to_kv(&s(nested)).unwrap();
    assert!(!data.contains_key(STRING_KEY));
    assert_eq!(string_of(from_kv(&data).unwrap()), nested);
    assert_eq!(to_kv(&s("{}")).unwrap(), Map::new());
}

#[test]
fn a_differently_written_object_keeps_its_text_as_a_hint() {
    for text in [
        r#"{"user": "admin", "password": "p4ss"}"#,
        r#"{"user":"admin","password":"p4ss"}"#, // keys out of order
        "{\"a\":\"\\u0041\"}",                   // an escape serde_json does not write
        r#"{"a":1e2}"#,                          // a number form serde_json does not write
        r#"{"a":1,"a":2}"#,                      // a duplicate key
        " {\"a\":1}\n",
    ] {
        let data = to_kv(&s(text)).unwrap();
        assert_eq!(data.get(STRING_KEY), Some(&Value::String(text.into())), "{text}");
        let mut others = data.clone();
        others.remove(STRING_KEY);
        assert_eq!(Value::Object(others), serde_json::from_str::<Value>(text).unwrap());
        assert_eq!(string_of(from_kv(&data).unwrap()), text);
    }
}

#[test]
fn other_strings_are_wrapped() {
    for text in [
        "hunter2",
        "",
        "[1,2]",
        "\"quoted\"",
        "42",
        "null",
        "{not json",
        r#"{"aws:SecretString":"x"}"#,
        r#"{"aws:SecretBinary":"AAEC","a":1}"#,
    ] {
        let data = to_kv(&s(text)).unwrap();
        assert_eq!(data, obj(json!({STRING_KEY: text})), "{text}");
        assert_eq!(string_of(from_kv(&data).unwrap()), text);
    }
}

#[test]
fn binary_is_standard_base64() {
    let data = to_kv(&b(&[0, 1, 2, 0xfb, 0xff])).unwrap();
    assert_eq!(data, obj(json!({BINARY_KEY: "AAEC+/8="})));
    assert_eq!(bytes_of(from_kv(&data).unwrap()), vec![0, 1, 2, 0xfb, 0xff]);
    assert_eq!(bytes_of(round_trip(&b(b""))), b"");
}

#[test]
fn kv_data_without_reserved_keys_is_seen_as_its_json() {
    let data = obj(json!({"b": [1, {"c": null}], "a": "x"}));
    assert_eq!(string_of(from_kv(&data).unwrap()), r#"{"a":"x","b":[1,{"c":null}]}"#);
    assert_eq!(string_of(from_kv(&Map::new()).unwrap()), "{}");
}

#[test]
fn a_stale_hint_gives_way_to_the_data() {
    let text = r#"{ "user": "admin", "password": "old" }"#;
    let mut data = to_kv(&s(text)).unwrap();
    // A KV patch changes a value but leaves the hint.
    data.insert("password".into(), json!("new"));
    assert_eq!(string_of(from_kv(&data).unwrap()), r#"{"password":"new","user":"admin"}"#);
    // Or adds a key, or removes one.
    let mut added = to_kv(&s(text)).unwrap();
    added.insert("host".into(), json!("db"));
    assert_eq!(string_of(from_kv(&added).unwrap()), r#"{"host":"db","password":"old","user":"admin"}"#);
    let mut removed = to_kv(&s(text)).unwrap();
    removed.remove("user");
    assert_eq!(string_of(from_kv(&removed).unwrap()), r#"{"password":"old"}"#);
    // A hint that is not an object at all is stale too.
    let data = obj(json!({STRING_KEY: "plain", "a": 1}));
    assert_eq!(string_of(from_kv(&data).unwrap()), r#"{"a":1}"#);
    // A patch back to the hinted values makes the hint fresh again.
    let mut back = data.clone();
    back.insert(STRING_KEY.into(), json!("{ \"a\" : 1 }"));
    assert_eq!(string_of(from_kv(&back).unwrap()), "{ \"a\" : 1 }");
}

#[test]
fn shapes_to_kv_never_writes_are_shown_as_their_json() {
    for data in [
        json!({STRING_KEY: 5}),
        json!({STRING_KEY: null, "a": 1}),
        json!({BINARY_KEY: ["AAEC"]}),
        json!({BINARY_KEY: "not base64!"}),
        json!({BINARY_KEY: "AAEC", "a": 1}),
        json!({BINARY_KEY: "AAEC", STRING_KEY: "x"}),
    ] {
        let data = obj(data);
        let expected = serde_json::to_string(&data).unwrap();
        assert_eq!(string_of(from_kv(&data).unwrap()), expected);
    }
}

#[test]
fn floats_read_back_exactly_after_storage() {
    // Without serde_json's float_roundtrip these do not parse back to the value written, and the
    // hint would be taken for stale after a store and load.
    for text in [
        r#"{"x":1.0715660391465826e-75}"#,
        r#"{"x":-1.81996730402717e-179}"#,
        r#"{"x": -1.603964615428183e143}"#,
        r#"{"x":123456789012345678901234567890}"#,
    ] {
        assert_eq!(string_of(round_trip(&s(text))), text);
    }
}

#[test]
fn size_limit_counts_bytes() {
    assert_eq!(check_size(&s(&"a".repeat(MAX_VALUE_BYTES))), Ok(()));
    assert_eq!(check_size(&b(&vec![0; MAX_VALUE_BYTES])), Ok(()));
    assert_eq!(check_size(&s("")), Ok(()));
    // 32,769 two-byte characters: under the limit in characters, over it in bytes.
    let e = check_size(&s(&"é".repeat(MAX_VALUE_BYTES / 2 + 1))).unwrap_err();
    assert_eq!(e.aws_code(), "ValidationException");
    assert_eq!(
        e.to_string(),
        "1 validation error detected: Value at 'secretString' failed to satisfy constraint: Member must have length less than or equal to 65536"
    );
    let e = check_size(&b(&vec![0; MAX_VALUE_BYTES + 1])).unwrap_err();
    assert!(e.to_string().contains("'secretBinary'"));
}

#[test]
fn debug_shows_kind_and_length_only() {
    assert_eq!(format!("{:?}", s("hunter2")), "AwsValue::String(7 bytes)");
    assert_eq!(format!("{:?}", b(b"hunter2!")), "AwsValue::Binary(8 bytes)");
}

/// Strings likely to hit the rules: JSON objects (canonical or not, with reserved keys or not) and
/// arbitrary text.
fn secret_strings() -> impl Strategy<Value = String> {
    let key = prop_oneof![Just(STRING_KEY.to_string()), Just(BINARY_KEY.to_string()), "[a-z]{0,3}", any::<String>(),];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    let value = leaf.prop_recursive(3, 16, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{0,3}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let object = prop::collection::vec((key, value), 0..5).prop_map(|kvs| kvs.into_iter().collect::<Map<_, _>>());
    prop_oneof![
        object.clone().prop_map(|m| serde_json::to_string(&m).unwrap()),
        object.clone().prop_map(|m| serde_json::to_string_pretty(&m).unwrap()),
        // Hand-written forms: reordered keys, spaces, escapes, duplicates.
        (object, any::<bool>()).prop_map(|(m, spaced)| {
            let sep = if spaced { ", " } else { "," };
            let parts: Vec<String> =
                m.iter().rev().map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v)).collect();
            let dup = parts.first().cloned().map(|p| format!("{sep}{p}")).unwrap_or_default();
            format!("{{{}{}}}", parts.join(sep), dup).replace('a', "\\u0061")
        }),
        any::<String>(),
        "[{}\\[\\]\":, a-z0-9.eE+-]{0,24}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_string_round_trips(text in secret_strings()) {
        let v = s(&text);
        prop_assert_eq!(string_of(from_kv(&to_kv(&v).unwrap()).unwrap()), text.clone());
        prop_assert_eq!(string_of(round_trip(&v)), text);
    }

    #[test]
    fn any_bytes_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let v = b(&bytes);
        prop_assert_eq!(bytes_of(from_kv(&to_kv(&v).unwrap()).unwrap()), bytes.clone());
        prop_assert_eq!(bytes_of(round_trip(&v)), bytes);
    }

    #[test]
    fn objects_from_strings_without_reserved_keys_are_the_kv_data(text in secret_strings()) {
        let data = to_kv(&s(&text)).unwrap();
        if let Ok(Value::Object(parsed)) = serde_json::from_str::<Value>(&text) {
            if !parsed.keys().any(|k| k == STRING_KEY || k == BINARY_KEY) {
                let mut others = data.clone();
                others.remove(STRING_KEY);
                prop_assert_eq!(others, parsed);
            }
        }
    }
}
