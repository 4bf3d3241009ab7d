//! Checks made before anything else looks at a request: the path's normal form, JSON nesting depth.

use serde_json::{Map, Value};

use crate::base::error::ApiError;

fn invalid_path(why: &str) -> ApiError {
    ApiError::bad_request(format!("invalid request path: the path {why}"))
}

/// Percent-decodes the path after `/v1/` once and refuses it with 400, before any routing or
/// policy check, unless the decoded path is in the one normal form the ACL compares byte for
/// byte (`policy::path_problem`: no leading `/`, no empty, `.` or `..` segments, no control or
/// format characters such as zero-width, BOM or bidi characters) and holds no backslash (SEC-37).
pub fn clean_path(raw: &str) -> Result<String, ApiError> {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| invalid_path("is not UTF-8 once percent-decoded"))?;
    if let Some(why) = crate::base::policy::request_path_problem(&decoded) {
        return Err(invalid_path(why));
    }
    Ok(decoded.into_owned())
}

/// Longest request path (after `/v1/`, as sent), so that an audit entry, which carries the path
/// twice in its response form, stays within `audit.max_entry_size`.
pub const MAX_PATH_BYTES: usize = crate::base::policy::MAX_PATH_BYTES;

/// 414 for a path over [`MAX_PATH_BYTES`].
pub fn check_path_length(raw: &str) -> Result<(), ApiError> {
    if raw.len() > MAX_PATH_BYTES {
        return Err(ApiError::new(
            axum::http::StatusCode::URI_TOO_LONG,
            format!("request path is longer than {MAX_PATH_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Most entries of one JSON object, or elements of one array (SECURITY-TESTS §4; OpenBao's
/// `max_json_object_entry_count` and `max_json_array_element_count`).
pub const MAX_JSON_ENTRIES: usize = 10_000;

/// Rejects JSON nested deeper than `max` levels, or with an object or array of more than
/// [`MAX_JSON_ENTRIES`] entries, without building it (a linear byte scan: the separators of each
/// open container are counted outside strings).
pub fn check_depth(bytes: &[u8], max: usize) -> Result<(), ApiError> {
    let (mut in_string, mut escaped) = (false, false);
    // One separator count per open container; its length is the nesting depth.
    let mut open: Vec<usize> = Vec::new();
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                if open.len() >= max {
                    return Err(ApiError::bad_request(format!("JSON input is nested deeper than {max} levels")));
                }
                open.push(0);
            }
            b'}' | b']' => {
                open.pop();
            }
            b',' => {
                if let Some(commas) = open.last_mut() {
                    *commas += 1;
                    if *commas >= MAX_JSON_ENTRIES {
                        return Err(ApiError::bad_request(format!(
                            "JSON input has an object or array of more than {MAX_JSON_ENTRIES} entries"
                        )));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Parses a request body: empty or `null` → empty map; otherwise a JSON object.
pub fn parse_body(bytes: &[u8], max_depth: usize) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    check_depth(bytes, max_depth)?;
    // serde_json's messages give line and column only, never the input.
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("failed to decode JSON input: {e}")))?;
    super::body_to_map(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_odd_paths_are_rejected() {
        for bad in [
            "secret/foo/../bar",
            "secret/foo/%2e%2e/bar",
            "secret/foo/.%2E/bar",
            "secret//bar",
            "secret/./bar",
            "secret/foo/..",
            "secret\\bar",
            "secret/%5cbar",
            "secret/a%00b",
            "/secret",
            "secret/%2F/x",
            "/",
            "secret/%FF",
        ] {
            assert!(clean_path(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(clean_path("secret/data/a%20b").unwrap(), "secret/data/a b");
        assert_eq!(clean_path("secret/metadata/").unwrap(), "secret/metadata/");
        assert_eq!(clean_path("secret/data/..x").unwrap(), "secret/data/..x");
        assert_eq!(clean_path("secret/data/Alice%C2%A0").unwrap(), "secret/data/Alice\u{a0}");
        assert_eq!(clean_path("").unwrap(), "");
    }

    #[test]
    fn sec37_control_format_and_bidi_characters_are_refused() {
        for (bad, what) in [
            ("secret/data/a%09b", "tab"),
            ("secret/data/a%0Ab", "newline"),
            ("secret/data/a%7Fb", "delete"),
            ("secret/data/a%C2%85b", "next line (C1)"),
            ("secret/data/a%C2%ADb", "soft hyphen"),
            ("secret/data/a%E2%80%8Bb", "zero-width space"),
            ("secret/data/a%E2%80%8Db", "zero-width joiner"),
            ("secret/data/a%E2%80%8Fb", "right-to-left mark"),
            ("secret/data/a%E2%80%AEb", "right-to-left override"),
            ("secret/data/a%E2%81%A6b", "left-to-right isolate"),
            ("secret/data/a%EF%BB%BFb", "byte-order mark"),
            ("secret/data/a%F3%A0%80%81b", "language tag"),
        ] {
            let e = clean_path(bad).expect_err(what);
            assert_eq!(e.errors, ["invalid request path: the path contains control or format characters"], "{what}");
        }
    }

    #[test]
    fn depth_limit_counts_only_structure() {
        let deep = "[".repeat(65) + &"]".repeat(65);
        assert!(check_depth(deep.as_bytes(), 64).is_err());
        let ok = "[".repeat(64) + &"]".repeat(64);
        assert!(check_depth(ok.as_bytes(), 64).is_ok());
        let in_string = format!("{{\"a\":\"{}\"}}", "[".repeat(100));
        assert!(check_depth(in_string.as_bytes(), 64).is_ok());
        let huge = "[".repeat(1 << 20);
        assert!(check_depth(huge.as_bytes(), 64).is_err());
    }

    #[test]
    fn sec27_entries_per_object_or_array_are_capped() {
        let array = |n: usize| format!("[{}]", vec!["1"; n].join(","));
        assert!(check_depth(array(MAX_JSON_ENTRIES).as_bytes(), 64).is_ok());
        assert!(check_depth(array(MAX_JSON_ENTRIES + 1).as_bytes(), 64).is_err());
        let object = |n: usize| format!("{{{}}}", (0..n).map(|i| format!("\"k{i}\":0")).collect::<Vec<_>>().join(","));
        assert!(check_depth(object(MAX_JSON_ENTRIES).as_bytes(), 64).is_ok());
        assert!(check_depth(object(MAX_JSON_ENTRIES + 1).as_bytes(), 64).is_err());
        // Separators inside strings and in other containers do not count.
        let commas = format!("[\"{}\"]", ",".repeat(3 * MAX_JSON_ENTRIES));
        assert!(check_depth(commas.as_bytes(), 64).is_ok());
        let many_small = format!("[{}]", vec![array(MAX_JSON_ENTRIES / 2); 3].join(","));
        assert!(check_depth(many_small.as_bytes(), 64).is_ok());
    }

    #[test]
    fn bodies_parse_leniently() {
        assert!(parse_body(b"", 64).unwrap().is_empty());
        assert!(parse_body(b"null", 64).unwrap().is_empty());
        assert!(parse_body(b"[1]", 64).is_err());
        let e = parse_body(b"{\"password\": \"hunter2", 64).unwrap_err();
        assert!(!e.errors[0].contains("hunter2"));
    }
}
