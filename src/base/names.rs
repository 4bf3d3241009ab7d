//! Names taken from request paths (users, roles, policies, connections) and mount paths: Vault's
//! name pattern and one normal form. A name that is not already in it answers 400; nothing here
//! rewrites a name (SEC-33, D55; the engines that use it are listed in D58).
//!
//! The pattern is Vault's `framework.GenericNameRegex`: ASCII word characters (`[A-Za-z0-9_]`)
//! plus `-`, `.` and `@`, starting and ending with a word character; at most 256 bytes. Where
//! Vault lower-cases a name (userpass users, AppRole roles, token roles, ACL policies) the normal
//! form is lower-case and an upper-case letter is refused; elsewhere names are case-sensitive.

use crate::base::error::ApiError;

/// The longest name accepted, in bytes.
pub const MAX_LEN: usize = 256;

/// Whether upper-case letters are part of a name's normal form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Vault lower-cases these names: only lower case is the normal form.
    Lower,
    /// Vault keeps these names as sent: any case.
    Exact,
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Why `raw` is not a name in its normal form, or `None` if it is one.
pub fn problem(raw: &str, case: Case) -> Option<&'static str> {
    if raw.is_empty() {
        return Some("is empty");
    }
    if raw.len() > MAX_LEN {
        return Some("is longer than 256 bytes");
    }
    if raw.chars().any(char::is_whitespace) {
        return Some("contains whitespace");
    }
    if !raw.chars().all(|c| is_word(c) || matches!(c, '-' | '.' | '@')) {
        return Some("may contain only ASCII letters, digits, '_', '-', '.' and '@'");
    }
    if !raw.starts_with(is_word) || !raw.ends_with(is_word) {
        return Some("must start and end with a letter, digit or '_'");
    }
    if case == Case::Lower && raw.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some("must be lower-case");
    }
    None
}

/// Checks one name; the 400 says what kind of name it is and what is wrong, never the name.
pub fn check<'a>(what: &str, raw: &'a str, case: Case) -> Result<&'a str, ApiError> {
    match problem(raw, case) {
        None => Ok(raw),
        Some(why) => Err(ApiError::bad_request(format!("invalid {what}: the name {why}"))),
    }
}

/// Checks a mount path as sent to `sys/mounts/<path>` or `sys/auth/<path>`: `/`-separated
/// segments that are each a name (any case), with at most one trailing `/`. Returns the stored
/// form, which always ends in `/`.
pub fn mount_path(raw: &str) -> Result<String, ApiError> {
    let core = raw.strip_suffix('/').unwrap_or(raw);
    if core.is_empty() {
        return Err(ApiError::bad_request("missing mount path"));
    }
    for seg in core.split('/') {
        if let Some(why) = problem(seg, Case::Exact) {
            return Err(ApiError::bad_request(format!(
                "invalid mount path: each '/'-separated segment must be a name, and a segment {why}"
            )));
        }
    }
    Ok(format!("{core}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_names_pass() {
        for ok in ["a", "admin", "svc-1.x_y@corp", "_", "a_", "_a", "1", "web01", "a.b", "a@b", "a--b"] {
            assert_eq!(problem(ok, Case::Lower), None, "{ok:?}");
        }
        assert_eq!(problem("MyRole", Case::Exact), None);
        assert_eq!(problem(&"a".repeat(256), Case::Lower), None);
    }

    #[test]
    fn anything_else_is_refused_never_rewritten() {
        for bad in [
            "",
            " admin",
            "admin ",
            "admin\t",
            "ad min",
            "admin\u{a0}",
            "\u{a0}admin",
            "admin\u{200b}",
            "adm\u{200d}in",
            "ａｄｍｉｎ",
            "admin/x",
            "-admin",
            "admin-",
            ".admin",
            "admin.",
            "@admin",
            "admin@",
            "é",
            "a%20",
            "a\u{0}",
        ] {
            assert!(problem(bad, Case::Exact).is_some(), "{bad:?}");
            assert!(check("username", bad, Case::Lower).is_err(), "{bad:?}");
        }
        assert_eq!(problem("Admin", Case::Lower), Some("must be lower-case"));
        assert_eq!(problem("ADMIN", Case::Lower), Some("must be lower-case"));
        assert!(problem(&"a".repeat(257), Case::Exact).is_some());
        let e = check("username", "Admin", Case::Lower).unwrap_err();
        assert_eq!(e.errors, ["invalid username: the name must be lower-case"]);
    }

    #[test]
    fn mount_paths_are_segments_of_names() {
        assert_eq!(mount_path("secret").unwrap(), "secret/");
        assert_eq!(mount_path("secret/").unwrap(), "secret/");
        assert_eq!(mount_path("team-a/kv").unwrap(), "team-a/kv/");
        assert_eq!(mount_path("KV").unwrap(), "KV/");
        for bad in ["", "/", "secret//", "secret ", " secret", "a/ b", "a/./b", "a/../b", "sec\u{200b}ret", "a//b"] {
            assert!(mount_path(bad).is_err(), "{bad:?}");
        }
    }
}
