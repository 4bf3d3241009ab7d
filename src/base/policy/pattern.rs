//! Path patterns (API-CONTRACT §3.3): parsing, matching, the §3.4 precedence order, and the one
//! normal form that request paths must be in before they are compared.
//!
//! **Byte-exact matching** (SEC-02 revised, SEC-37; decision D56 reverses D15). Paths and
//! patterns are compared byte for byte, as in Vault and as the storage compares keys: a grant on
//! `secret/data/alice/*` covers neither `secret/data/ALICE/x` nor `secret/data/Alice/x`, which
//! are other keys. The one normalisation happens at the HTTP edge (`http::limits::clean_path`):
//! the path is percent-decoded once, and a path with `.` or `..` segments, empty segments (`//`),
//! a leading `/`, backslashes, control characters or format characters (Unicode Cf: zero-width
//! characters, BOM, bidi controls) answers 400. The ACL itself rewrites nothing: a path that is
//! not in that normal form ([`path_problem`]) gets no capability at all.
//!
//! A pattern may start with one `/`, which is dropped (as Vault does); otherwise it must be in
//! the normal form too (its trailing `*` aside), or the policy does not parse.
//!
//! **Matching.** An exact pattern matches only itself. A trailing `*` makes a prefix pattern, even
//! inside a segment. A `+` segment matches exactly one segment (Vault: also an empty one, as in the
//! trailing segment of `kv/metadata/`). When several non-exact patterns match, the one with the
//! highest [`Pattern::priority`] wins (§3.4 rules 1–5).
//!
//! **Protected roots** (SEC-04). A wildcard pattern reaches `sys/…` only if its first segment is
//! the literal `sys` (`sys/*`, `sys/+/x`), and `auth/<mount>/role/…` only if it spells out
//! `auth/<mount or +>/role/` itself. `*` or `+/…` never cover them; exact patterns always do.

use std::cmp::Reverse;

use crate::base::path_chars;

/// Why `path` is not in the normal form the ACL compares (see the module docs), or `None`.
/// `""` and a single trailing `/` (the directory form LIST paths use) are normal.
pub fn path_problem(path: &str) -> Option<&'static str> {
    segments_problem(path, false)
}

/// Longest request path, in bytes: the HTTP edge's limit on the path after `/v1/` (414 over it),
/// and `sys/policies/explain`'s on the path it is asked about (400 over it).
pub const MAX_PATH_BYTES: usize = 8 << 10;

/// Why a request path (after the HTTP edge's one percent-decoding) is refused with 400, or `None`:
/// a backslash, or not in the normal form of [`path_problem`]. The HTTP edge and
/// `sys/policies/explain` (for the path it is asked about) use this one check.
pub fn request_path_problem(path: &str) -> Option<&'static str> {
    if path.contains('\\') {
        return Some("contains a backslash");
    }
    path_problem(path)
}

/// [`path_problem`] for the stem of a pattern; with `partial_last`, the last segment is the start
/// of a segment (a `*` follows), so a `.` there is not a segment of its own.
fn segments_problem(path: &str, partial_last: bool) -> Option<&'static str> {
    if path.starts_with('/') {
        return Some("starts with '/'");
    }
    if path_chars::any_forbidden(path) {
        return Some("contains control or format characters");
    }
    let body = path.strip_suffix('/').unwrap_or(path);
    if body.is_empty() {
        return None;
    }
    let partial_tail = partial_last && !path.ends_with('/');
    let segs: Vec<&str> = body.split('/').collect();
    for (i, seg) in segs.iter().enumerate() {
        if seg.is_empty() {
            return Some("has an empty segment");
        }
        let partial = partial_tail && i + 1 == segs.len();
        if (*seg == "." || *seg == "..") && !partial {
            return Some("has a '.' or '..' segment");
        }
    }
    None
}

/// Which protected root a path lies under (SEC-04).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    /// Neither.
    Open,
    /// `sys` or `sys/…`.
    Sys,
    /// `auth/<mount>/role…`.
    AuthRole,
}

impl Root {
    /// Classifies a path.
    pub(crate) fn of(path: &str) -> Root {
        let mut segs = path.split('/');
        match segs.next() {
            Some("sys") => Root::Sys,
            Some("auth") if segs.nth(1) == Some("role") => Root::AuthRole,
            _ => Root::Open,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Any,
    Lit(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    Exact,
    Prefix,
    Segments { segs: Vec<Seg>, prefix: bool },
}

/// A compiled path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    /// The text, trailing `*` included: patterns with equal keys are merged.
    key: String,
    /// The key without its trailing `*`.
    stem: String,
    shape: Shape,
    /// Byte offset of the first `+` segment (or of the trailing `*`); `stem[..first_wildcard]`
    /// is literal, so it is a quick first test for a match.
    first_wildcard: usize,
    wildcards: usize,
    names_sys: bool,
    names_auth_role: bool,
    templated: bool,
}

impl Pattern {
    /// Compiles the pattern text of a `path "…"` block.
    pub(crate) fn parse(raw: &str) -> Result<Pattern, String> {
        let text = raw.strip_prefix('/').unwrap_or(raw);
        if text.is_empty() {
            return Err("empty path".to_string());
        }
        if text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace) {
            return Err("a path cannot start or end with whitespace".to_string());
        }
        if text.contains("+*") {
            return Err("invalid use of wildcards ('+*' is forbidden)".to_string());
        }
        let prefix = text.ends_with('*');
        let stem = text.strip_suffix('*').unwrap_or(text).to_string();
        if let Some(why) = segments_problem(&stem, prefix) {
            return Err(format!("the path {why}"));
        }
        let templated = text.contains("{{");
        let has_any = stem.split('/').any(|s| s == "+");
        let segs: Vec<Seg> =
            stem.split('/').map(|s| if s == "+" { Seg::Any } else { Seg::Lit(s.to_string()) }).collect();
        // Segments written out in full: a prefix pattern's last segment carries the glob.
        let full = if prefix { segs.len().saturating_sub(1) } else { segs.len() };
        let lit = |i: usize, want: &str| i < full && segs.get(i) == Some(&Seg::Lit(want.to_string()));
        let names_sys = lit(0, "sys");
        let names_auth_role = lit(0, "auth") && lit(2, "role");
        let wildcards = segs.iter().filter(|s| **s == Seg::Any).count();
        let first_wildcard = match segs.iter().position(|s| *s == Seg::Any) {
            Some(i) => stem.split('/').take(i).map(|s| s.len() + 1).sum(),
            None => stem.len(),
        };
        let shape = match (has_any, prefix) {
            (false, false) => Shape::Exact,
            (false, true) => Shape::Prefix,
            (true, _) => Shape::Segments { segs, prefix },
        };
        let key = if prefix { format!("{stem}*") } else { stem.clone() };
        Ok(Pattern { key, stem, shape, first_wildcard, wildcards, names_sys, names_auth_role, templated })
    }

    /// The text that identical patterns share.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// True for a pattern without wildcards.
    pub(crate) fn is_exact(&self) -> bool {
        self.shape == Shape::Exact
    }

    /// True if the pattern holds an identity template (`{{…}}`), which Coffer does not resolve.
    pub(crate) fn is_templated(&self) -> bool {
        self.templated
    }

    /// The §3.4 rank among non-exact patterns; the greatest matching one wins. In order: a later
    /// first wildcard, not ending in `*`, fewer `+` segments, a longer text, a greater text.
    pub(crate) fn priority(&self) -> (usize, bool, Reverse<usize>, usize, &str) {
        let prefix = matches!(self.shape, Shape::Prefix | Shape::Segments { prefix: true, .. });
        (self.first_wildcard, !prefix, Reverse(self.wildcards), self.stem.len(), &self.stem)
    }

    /// True if the pattern matches the normal-form `path` that lies under protected root `root`.
    pub(crate) fn matches(&self, path: &str, root: Root) -> bool {
        let literal = self.stem.as_bytes().get(..self.first_wildcard).unwrap_or_default();
        if !path.as_bytes().starts_with(literal) {
            return false;
        }
        let reaches = match root {
            Root::Open => true,
            Root::Sys => self.names_sys,
            Root::AuthRole => self.names_auth_role,
        };
        match &self.shape {
            Shape::Exact => path == self.stem,
            _ if !reaches => false,
            Shape::Prefix => path.starts_with(self.stem.as_str()),
            Shape::Segments { segs, prefix } => {
                let mut parts = path.split('/');
                for (i, seg) in segs.iter().enumerate() {
                    let Some(part) = parts.next() else { return false };
                    let ok = match seg {
                        Seg::Any => true,
                        Seg::Lit(l) if *prefix && i + 1 == segs.len() => part.starts_with(l.as_str()),
                        Seg::Lit(l) => part == l,
                    };
                    if !ok {
                        return false;
                    }
                }
                *prefix || parts.next().is_none()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        let p = Pattern::parse(pattern).unwrap();
        path_problem(path).is_none() && p.matches(path, Root::of(path))
    }

    #[test]
    fn normal_form() {
        for ok in [
            "",
            "secret/data/example",
            "secret/data/EXAMPLE",
            "secret/data/example/",
            "secret/data/example ",
            "secret/data/ a b ",
            "secret/data/caf\u{e9}",
            "secret/data/\u{a0}x",
            "secret/data/..x",
            "secret/data/x.",
        ] {
            assert_eq!(path_problem(ok), None, "{ok:?}");
        }
        for (bad, why) in [
            ("/secret/x", "starts with '/'"),
            ("/", "starts with '/'"),
            ("secret//x", "has an empty segment"),
            ("secret/x//", "has an empty segment"),
            ("secret/./x", "has a '.' or '..' segment"),
            ("secret/x/..", "has a '.' or '..' segment"),
            ("secret/exa\u{200b}mple", "contains control or format characters"),
            ("secret/\u{202e}x", "contains control or format characters"),
            ("secret/x\u{0}", "contains control or format characters"),
            ("secret/x\t", "contains control or format characters"),
        ] {
            assert_eq!(path_problem(bad), Some(why), "{bad:?}");
        }
    }

    #[test]
    fn sec37_matching_is_byte_exact() {
        assert!(m("secret/data/alice/*", "secret/data/alice/x"));
        for other in [
            "secret/data/ALICE/x",
            "secret/data/Alice/x",
            "secret/data/alice /x",
            "secret/data/ａｌｉｃｅ/x",
            "secret/data/alice\u{200b}/x",
            "SECRET/data/alice/x",
        ] {
            assert!(!m("secret/data/alice/*", other), "{other:?}");
        }
        assert!(!m("secret/data/example", "secret/data/example "));
        assert!(m("Secret/Data/X", "Secret/Data/X"));
        assert!(!m("Secret/Data/X", "secret/data/x"));
    }

    #[test]
    fn exact_matches_only_itself() {
        assert!(m("secret/data/ex/exact", "secret/data/ex/exact"));
        assert!(!m("secret/data/ex/exact", "secret/data/ex/exactly"));
        assert!(!m("secret/data/ex/exact", "secret/data/ex/exac"));
    }

    #[test]
    fn star_is_a_prefix_even_inside_a_segment() {
        assert!(m("secret/data/glob*", "secret/data/glob"));
        assert!(m("secret/data/glob*", "secret/data/global/x"));
        assert!(!m("secret/data/glob*", "secret/data/glo"));
        assert!(m("secret/data/app/*", "secret/data/app/x"));
        assert!(m("secret/data/app/*", "secret/data/app/"));
        assert!(!m("secret/data/app/*", "secret/data/app"));
        // A `*` that is not last is literal.
        assert!(Pattern::parse("secret/*/x").unwrap().is_exact());
        assert!(m("secret/*/x", "secret/*/x"));
        assert!(!m("secret/*/x", "secret/a/x"));
    }

    #[test]
    fn plus_is_exactly_one_segment() {
        assert!(m("secret/data/svc/+/config", "secret/data/svc/a/config"));
        assert!(!m("secret/data/svc/+/config", "secret/data/svc/a/b/config"));
        assert!(!m("secret/data/svc/+/config", "secret/data/svc/config"));
        assert!(m("+/x", "a/x"));
        assert!(m("a/+", "a/b"));
        assert!(!m("a/+", "a/b/c"));
        assert!(m("a/+/b*", "a/x/bcd/e"));
        assert!(!m("a/+/b*", "a/x/c"));
        assert!(m("a/+/*", "a/x/y/z"));
        assert!(!m("a/+/*", "a/x"));
        // Only a whole segment `+` is a wildcard.
        assert!(Pattern::parse("a/b+c").unwrap().is_exact());
        assert!(!m("a/+b", "a/xb"));
    }

    #[test]
    fn bad_patterns_are_rejected() {
        assert_eq!(Pattern::parse("a/+*").unwrap_err(), "invalid use of wildcards ('+*' is forbidden)");
        assert!(Pattern::parse("").is_err());
        assert!(Pattern::parse("/").is_err());
        assert!(Pattern::parse(" / ").is_err());
        for bad in ["secret/data/x ", " secret/x", "secret/metadata//", "secret//x/*", "a/./b", "a/../*", "a/\u{200b}b"]
        {
            assert!(Pattern::parse(bad).is_err(), "{bad:?}");
        }
        // Full-width signs are literal text, never wildcards.
        assert!(Pattern::parse("a/＋/b").unwrap().is_exact());
        assert!(Pattern::parse("a/b＊").unwrap().is_exact());
        // A `.` right before the `*` starts a segment name such as `.config`.
        assert!(m("home/.*", "home/.config"));
    }

    #[test]
    fn patterns_keep_their_text() {
        // One leading `/` is dropped, as in Vault.
        assert!(m("/secret/data/x", "secret/data/x"));
        assert_eq!(Pattern::parse("SECRET/Data/*").unwrap().key(), "SECRET/Data/*");
        assert_eq!(Pattern::parse("/secret/data/*").unwrap().key(), "secret/data/*");
        assert_eq!(Pattern::parse("secret/metadata/").unwrap().key(), "secret/metadata/");
    }

    #[test]
    fn protected_roots_need_explicit_patterns() {
        assert!(!m("*", "sys/mounts"));
        assert!(!m("s*", "sys/mounts"));
        assert!(!m("sys*", "sys/mounts"));
        assert!(!m("+/mounts", "sys/mounts"));
        assert!(m("sys/*", "sys/mounts"));
        assert!(m("sys/+", "sys/mounts"));
        assert!(m("sys/mounts", "sys/mounts"));
        assert!(m("*", "secret/x"));
        assert!(m("*", "system/x"));

        assert!(!m("auth/*", "auth/approle/role/x"));
        assert!(!m("auth/approle/*", "auth/approle/role/x"));
        assert!(!m("auth/approle/role*", "auth/approle/role/x"));
        assert!(m("auth/approle/role/*", "auth/approle/role/x"));
        assert!(m("auth/+/role/*", "auth/approle/role/x"));
        assert!(m("auth/+/role/+", "auth/approle/role/x"));
        assert!(m("auth/approle/*", "auth/approle/login"));
        assert!(m("auth/*", "auth/token/create"));
    }

    #[test]
    fn priority_follows_section_3_4() {
        let p = |s: &str| Pattern::parse(s).unwrap();
        let wins = |a: &str, b: &str| p(a).priority() > p(b).priority();
        assert!(wins("secret/data/app/*", "secret/data/*")); // rule 1
        assert!(wins("foo/a*", "foo/+"));
        assert!(wins("secret/data/svc/+/config", "secret/data/svc/*")); // rule 2 (same position)
        assert!(wins("foo/+/bar", "foo/+/ba*"));
        assert!(wins("foo/bar/+/baz", "foo/+/+/baz")); // rule 1 again
        assert!(wins("foo/+/bar/baz", "foo/+/+/baz")); // rule 3
        assert!(wins("foo/+/bar/ba*", "foo/+/bar/b*")); // rule 4
        assert!(wins("ab/+/y", "ab/+/x")); // rule 5
    }
}
