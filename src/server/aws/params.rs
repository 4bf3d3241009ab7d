//! Reading an AWS request's JSON fields: types checked, lengths bounded, AWS's wording.

use serde_json::{Map, Value};

use super::protocol::AwsError;

/// A field of the wrong JSON type (AWS's `SerializationException`).
fn wrong_type(key: &str, what: &str) -> AwsError {
    AwsError::new("SerializationException", format!("{key} must be {what}"))
}

/// An optional string field.
pub fn opt_str<'a>(body: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, AwsError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong_type(key, "a string")),
    }
}

/// A required string field.
pub fn req_str<'a>(body: &'a Map<String, Value>, key: &str) -> Result<&'a str, AwsError> {
    opt_str(body, key)?
        .ok_or_else(|| AwsError::invalid_parameter(format!("You must provide a value for the {key} parameter.")))
}

/// An optional string no longer than `max` characters.
pub fn opt_bounded<'a>(body: &'a Map<String, Value>, key: &str, max: usize) -> Result<Option<&'a str>, AwsError> {
    let v = opt_str(body, key)?;
    if v.is_some_and(|s| s.chars().count() > max) {
        return Err(AwsError::invalid_parameter(format!("{key} must be at most {max} characters.")));
    }
    Ok(v)
}

/// `MaxResults` within `1..=max`, `max` when absent.
pub fn max_results(body: &Map<String, Value>, max: usize) -> Result<usize, AwsError> {
    let limit = i64::try_from(max).unwrap_or(i64::MAX);
    Ok(opt_int(body, "MaxResults", 1, limit)?.and_then(|n| usize::try_from(n).ok()).unwrap_or(max))
}

/// An optional boolean field.
pub fn opt_bool(body: &Map<String, Value>, key: &str) -> Result<Option<bool>, AwsError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(wrong_type(key, "a boolean")),
    }
}

/// An optional integer field within `min..=max`.
pub fn opt_int(body: &Map<String, Value>, key: &str, min: i64, max: i64) -> Result<Option<i64>, AwsError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) if (min..=max).contains(&i) => Ok(Some(i)),
            _ => Err(AwsError::invalid_parameter(format!("{key} must be between {min} and {max}."))),
        },
        Some(_) => Err(wrong_type(key, "a number")),
    }
}

/// An optional list of at most `max` items, each read by `item` (`None`: not `what`).
fn opt_list<'a, T>(
    body: &'a Map<String, Value>,
    key: &str,
    max: usize,
    what: &str,
    item: impl Fn(&'a Value) -> Option<T>,
) -> Result<Option<Vec<T>>, AwsError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => {
            if a.len() > max {
                return Err(AwsError::invalid_parameter(format!("{key} has more than {max} items.")));
            }
            a.iter().map(|v| item(v).ok_or_else(|| wrong_type(key, what))).collect::<Result<Vec<_>, _>>().map(Some)
        }
        Some(_) => Err(wrong_type(key, "a list")),
    }
}

/// An optional list of strings (at most `max` of them).
pub fn opt_strings(body: &Map<String, Value>, key: &str, max: usize) -> Result<Option<Vec<String>>, AwsError> {
    opt_list(body, key, max, "a list of strings", |v| v.as_str().map(str::to_string))
}

/// An optional list of objects (at most `max` of them).
pub fn opt_objects<'a>(
    body: &'a Map<String, Value>,
    key: &str,
    max: usize,
) -> Result<Option<Vec<&'a Map<String, Value>>>, AwsError> {
    opt_list(body, key, max, "a list of objects", Value::as_object)
}

/// Refuses fields the operation does not know (a misspelt field is never silently ignored).
pub fn only(body: &Map<String, Value>, known: &[&str]) -> Result<(), AwsError> {
    match body.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(AwsError::new("SerializationException", format!("Unknown field {k:?} for this operation."))),
        None => Ok(()),
    }
}

/// A `ClientRequestToken`: 32 to 64 characters of `[A-Za-z0-9_-]` (a UUID is what SDKs send).
pub fn request_token(body: &Map<String, Value>) -> Result<Option<String>, AwsError> {
    let Some(t) = opt_str(body, "ClientRequestToken")? else { return Ok(None) };
    if !(32..=64).contains(&t.len()) || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(AwsError::invalid_parameter(
            "ClientRequestToken must be 32 to 64 characters of letters, digits, '-' and '_'.",
        ));
    }
    Ok(Some(t.to_string()))
}

/// An opaque page token: the offset into a listing.
pub fn page_start(body: &Map<String, Value>) -> Result<usize, AwsError> {
    let Some(t) = opt_str(body, "NextToken")? else { return Ok(0) };
    t.strip_prefix("o")
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| AwsError::invalid_parameter("The NextToken is not valid."))
}

/// The page token of the page after `end`, if there is one.
pub fn next_token(end: usize, total: usize) -> Option<String> {
    (end < total).then(|| format!("o{end}"))
}
