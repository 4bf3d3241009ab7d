//! Reading JSON back from storage: text that does not parse is an error (500 under an error id),
//! never a default. A corrupt `bound_cidrs` read as `[]` would open a token to every address.

use serde::de::DeserializeOwned;

use crate::base::error::ApiError;

/// Parses stored JSON text. `what` names the item for the log (e.g. `"token bound_cidrs"`); the
/// log line gives only the kind and place of the parse error, never the stored text, which may
/// hold secrets (serde's own messages quote values).
pub fn parse<T: DeserializeOwned>(what: &str, json: &str) -> Result<T, ApiError> {
    serde_json::from_str(json).map_err(|e| corrupt(what, &e))
}

/// [`parse`] for stored bytes.
pub fn parse_bytes<T: DeserializeOwned>(what: &str, json: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(json).map_err(|e| corrupt(what, &e))
}

/// The 500 for a stored item that does not parse, logged with an error id.
fn corrupt(what: &str, e: &serde_json::Error) -> ApiError {
    ApiError::internal(&format!(
        "stored {what} is corrupt: {:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_text_is_an_opaque_500_never_a_default() {
        let e = parse::<Vec<String>>("token policies", "[\"root\"").unwrap_err();
        assert_eq!(e.status.as_u16(), 500);
        assert!(e.errors[0].starts_with("internal error (id "), "{e}");
        assert!(!e.errors[0].contains("root"));
        assert_eq!(parse::<Vec<String>>("token policies", "[\"a\"]").unwrap(), vec!["a".to_string()]);
        assert!(parse_bytes::<Vec<String>>("x", b"\"secret-value\"").is_err());
    }
}
