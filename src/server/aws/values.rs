//! `SecretString` / `SecretBinary` of the AWS API ↔ the data object of a KV v2 version.
//!
//! Both AWS values must come back byte for byte; a `SecretString` that is a JSON object should
//! also be usable as KV data, and KV data is seen through AWS as its JSON. So:
//!
//! | AWS value | KV data |
//! | --- | --- |
//! | a JSON object string `s` without a reserved key, `to_string(parse(s)) == s` | that object |
//! | the same, written differently (spaces, key order, escapes, number forms) | the object, plus [`STRING_KEY`]: `s` as a formatting hint |
//! | any other string (not an object, or an object using a reserved key) | `{STRING_KEY: s}` |
//! | bytes | `{BINARY_KEY: base64}` |
//!
//! Reading back ([`from_kv`]):
//! - `{BINARY_KEY: <valid standard base64>}` alone → the bytes;
//! - `{STRING_KEY: <string>}` alone → that string;
//! - `STRING_KEY` (a string) with other, non-reserved keys → the hint if it still parses to exactly
//!   the other keys, else the hint is stale (a KV write or patch changed the data) and the other
//!   keys' JSON is returned;
//! - no reserved key → the data's JSON.
//! - Anything else holding a reserved key is not a shape [`to_kv`] writes, so it came from a KV
//!   write: a reserved key of the wrong type, base64 that does not decode, `BINARY_KEY` beside
//!   other keys, or both keys. That data is shown as what it is, its JSON (reserved keys
//!   included), rather than refused: the secret stays readable and nothing is silently dropped.
//!
//! Exactness relies on JSON numbers reading back as written: serde_json's `float_roundtrip`
//! feature is on, so a float stored by KV parses to the same value and a hint is not taken for
//! stale after a store and load.
//!
//! The AWS values and the JSON texts made here are wiped when dropped; the `serde_json` values of
//! KV data are not (they are the KV engine's own type), as everywhere KV data is handled.

use base64::Engine as _;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// KV data key holding a `SecretString` that is not (exactly) the data's JSON.
pub const STRING_KEY: &str = "aws:SecretString";
/// KV data key holding a `SecretBinary`, in standard base64.
pub const BINARY_KEY: &str = "aws:SecretBinary";
/// Largest `SecretString` (UTF-8 bytes) or `SecretBinary` (bytes) the AWS API takes.
pub const MAX_VALUE_BYTES: usize = 65536;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A secret value as the AWS API carries it.
pub enum AwsValue {
    String(Zeroizing<String>),
    Binary(Zeroizing<Vec<u8>>),
}

impl std::fmt::Debug for AwsValue {
    /// The kind and length only, never the value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AwsValue::String(s) => write!(f, "AwsValue::String({} bytes)", s.len()),
            AwsValue::Binary(b) => write!(f, "AwsValue::Binary({} bytes)", b.len()),
        }
    }
}

impl AwsValue {
    /// The value's size as AWS counts it against [`MAX_VALUE_BYTES`].
    pub fn len(&self) -> usize {
        match self {
            AwsValue::String(s) => s.len(),
            AwsValue::Binary(b) => b.len(),
        }
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a value is refused or cannot be converted. Messages never hold the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Larger than [`MAX_VALUE_BYTES`]; `field` is the request member as AWS names it.
    #[error("1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length less than or equal to {MAX_VALUE_BYTES}")]
    TooLarge { field: &'static str },
    /// The data could not be written as JSON (not expected to happen).
    #[error("unable to serialize the secret's data as JSON")]
    Json,
}

impl ValueError {
    /// AWS's exception name for this error.
    pub fn aws_code(&self) -> &'static str {
        match self {
            ValueError::TooLarge { .. } => "ValidationException",
            ValueError::Json => "InternalServiceError",
        }
    }
}

/// Refuses a value larger than AWS allows (UTF-8 bytes of a string, bytes of a binary).
pub fn check_size(v: &AwsValue) -> Result<(), ValueError> {
    if v.len() <= MAX_VALUE_BYTES {
        return Ok(());
    }
    let field = match v {
        AwsValue::String(_) => "secretString",
        AwsValue::Binary(_) => "secretBinary",
    };
    Err(ValueError::TooLarge { field })
}

/// The data's JSON, as KV writes it (compact, keys sorted).
fn json(data: &Map<String, Value>) -> Result<Zeroizing<String>, ValueError> {
    serde_json::to_string(data).map(Zeroizing::new).map_err(|_| ValueError::Json)
}

fn is_reserved(key: &str) -> bool {
    key == STRING_KEY || key == BINARY_KEY
}

/// The KV data that stores `v` (see the module docs for the rules).
pub fn to_kv(v: &AwsValue) -> Result<Map<String, Value>, ValueError> {
    let s = match v {
        AwsValue::Binary(b) => {
            let mut out = Map::new();
            out.insert(BINARY_KEY.to_string(), Value::String(B64.encode(b.as_slice())));
            return Ok(out);
        }
        AwsValue::String(s) => s.as_str(),
    };
    let wrapped = || Map::from_iter([(STRING_KEY.to_string(), Value::String(s.to_string()))]);
    let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(s) else {
        return Ok(wrapped());
    };
    if object.keys().any(|k| is_reserved(k)) {
        return Ok(wrapped());
    }
    if *json(&object)? != *s {
        object.insert(STRING_KEY.to_string(), Value::String(s.to_string()));
    }
    Ok(object)
}

/// The AWS value that KV data `data` shows (see the module docs for the rules).
pub fn from_kv(data: &Map<String, Value>) -> Result<AwsValue, ValueError> {
    let string = |s: Zeroizing<String>| Ok(AwsValue::String(s));
    match (data.get(STRING_KEY), data.get(BINARY_KEY)) {
        (None, None) => string(json(data)?),
        (None, Some(Value::String(b64))) if data.len() == 1 => match B64.decode(b64.as_bytes()) {
            Ok(bytes) => Ok(AwsValue::Binary(Zeroizing::new(bytes))),
            Err(_) => string(json(data)?),
        },
        (Some(Value::String(s)), None) if data.len() == 1 => string(Zeroizing::new(s.clone())),
        (Some(Value::String(hint)), None) => {
            let fresh = match serde_json::from_str::<Value>(hint) {
                // Equal to the other keys: as many keys, each in `data` with the same value.
                Ok(Value::Object(parsed)) => {
                    parsed.len() + 1 == data.len()
                        && parsed.iter().all(|(k, v)| !is_reserved(k) && data.get(k) == Some(v))
                }
                _ => false,
            };
            if fresh {
                return string(Zeroizing::new(hint.clone()));
            }
            let mut others = data.clone();
            others.remove(STRING_KEY);
            string(json(&others)?)
        }
        // Not a shape `to_kv` writes: the data as it is.
        _ => string(json(data)?),
    }
}

#[cfg(test)]
mod tests;
