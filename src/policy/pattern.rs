//! Path patterns (API-CONTRACT §3.3): parsing, matching, the §3.4 precedence order, and the
//! canonical form that request paths and patterns are both reduced to before they are compared.
//!
//! **Canonical form** (SEC-02). Vault compares paths byte for byte, so a deny on
//! `secret/data/example` could be sidestepped with `EXAMPLE`, `example/`, `example ` or another
//! Unicode spelling. Coffer checks every path in one canonical form, computed by [`canonical`]:
//! 1. invisible format characters (zero-width spaces and joiners, BOM, soft hyphen, bidi controls,
//!    variation selectors) are removed;
//! 2. the text is NFKC-normalised (NFC and NFD spellings become one; full-width and other
//!    compatibility forms become their plain letters) and lowercased, repeated until stable;
//! 3. whitespace and `/` are stripped from both ends, and a path that ended in one or more `/`
//!    gets exactly one back (the directory form that LIST paths use).
//!
//! Patterns go through the same steps (a trailing `*` is kept), so the ACL is case-insensitive:
//! a grant or deny on `secret/data/example` also covers `secret/data/EXAMPLE`, which the KV store
//! keeps as a different key. Policies must therefore not rely on letter case to keep tenants
//! apart. A pattern whose `*` or `+` only appears after folding (`＋`, `＊`) is rejected, so
//! folding never turns literal text into a wildcard.
//!
//! **Matching.** An exact pattern matches only itself. A trailing `*` makes a prefix pattern, even
//! inside a segment. A `+` segment matches exactly one segment (Vault: also an empty one, as in the
//! trailing segment of `kv/metadata/`). When several non-exact patterns match, the one with the
//! highest [`Pattern::priority`] wins (§3.4 rules 1–5).
//!
//! **Protected roots** (SEC-04). A wildcard pattern reaches `sys/…` only if its first segment is
//! the literal `sys` (`sys/*`, `sys/+/x`), and `auth/<mount>/role/…` only if it spells out
//! `auth/<mount or +>/role/` itself. `*` or `+/…` never cover them; exact patterns always do.

use std::borrow::Cow;
use std::cmp::Reverse;

use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// True for default-ignorable format characters that render as nothing.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

/// NFKC + lowercase, with invisible characters removed, repeated until the text is stable.
pub(crate) fn fold(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        };
    }
    let stable = |c: char| !is_invisible(c) && c.to_lowercase().eq(std::iter::once(c));
    if s.chars().all(stable) && is_nfkc_quick(s.chars()) == IsNormalized::Yes {
        return Cow::Borrowed(s);
    }
    let step = |t: &str| -> String {
        let visible: String = t.chars().filter(|c| !is_invisible(*c)).collect();
        visible.nfkc().collect::<String>().to_lowercase()
    };
    let mut cur = step(s);
    for _ in 0..4 {
        let next = step(&cur);
        if next == cur {
            break;
        }
        cur = next;
    }
    Cow::Owned(cur)
}

fn is_edge(c: char) -> bool {
    c == '/' || c.is_whitespace()
}

/// The canonical form of a request path (see the module docs): folded, trimmed of whitespace and
/// slashes at both ends, with one trailing `/` kept if the path had any.
pub fn canonical(path: &str) -> Cow<'_, str> {
    match fold(path) {
        Cow::Borrowed(b) => trim_edges(b),
        Cow::Owned(o) => Cow::Owned(trim_edges(&o).into_owned()),
    }
}

fn trim_edges(s: &str) -> Cow<'_, str> {
    let core = s.trim_matches(is_edge);
    if core.is_empty() {
        return Cow::Borrowed("");
    }
    let start = s.len() - s.trim_start_matches(is_edge).len();
    let end = start + core.len();
    let tail = &s[end..];
    if !tail.contains('/') {
        Cow::Borrowed(core)
    } else if tail.starts_with('/') {
        Cow::Borrowed(&s[start..=end])
    } else {
        Cow::Owned(format!("{core}/"))
    }
}

/// Which protected root a canonical path lies under (SEC-04).
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
    /// Classifies a canonical path.
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
    /// Canonical text, trailing `*` included: patterns with equal keys are merged.
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

fn wildcard_chars(s: &str) -> usize {
    s.chars().filter(|c| matches!(c, '*' | '+')).count()
}

impl Pattern {
    /// Compiles the pattern text of a `path "…"` block.
    pub(crate) fn parse(raw: &str) -> Result<Pattern, String> {
        let folded = fold(raw);
        if wildcard_chars(&folded) != wildcard_chars(raw) {
            return Err("wildcards must be written as plain ASCII '*' and '+'".to_string());
        }
        let text = folded.trim().trim_start_matches(is_edge);
        if text.is_empty() {
            return Err("empty path".to_string());
        }
        if text.contains("+*") {
            return Err("invalid use of wildcards ('+*' is forbidden)".to_string());
        }
        let templated = text.contains("{{");
        let prefix = text.ends_with('*');
        let stem_text = if prefix { &text[..text.len() - 1] } else { text };
        let has_any = stem_text.split('/').any(|s| s == "+");
        let stem = if prefix { stem_text.to_string() } else { canonical(text).into_owned() };
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

    /// The canonical text that identical patterns share.
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

    /// True if the pattern matches the canonical `path` that lies under protected root `root`.
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
        let c = canonical(path);
        p.matches(&c, Root::of(&c))
    }

    #[test]
    fn canonical_forms() {
        for (raw, want) in [
            ("secret/data/example", "secret/data/example"),
            ("secret/data/EXAMPLE", "secret/data/example"),
            ("secret/data/example/", "secret/data/example/"),
            ("secret/data/example//", "secret/data/example/"),
            ("secret/data/example ", "secret/data/example"),
            ("secret/data/example \t/ ", "secret/data/example/"),
            ("/secret/data/example", "secret/data/example"),
            ("ｓｅｃｒｅｔ/data/ｅｘａｍｐｌｅ", "secret/data/example"),
            ("secret/data/cafe\u{301}", "secret/data/caf\u{e9}"),
            ("secret/data/CAF\u{c9}", "secret/data/caf\u{e9}"),
            ("secret/data/exa\u{200b}mple", "secret/data/example"),
            ("secret/data/example\u{3000}", "secret/data/example"),
            ("", ""),
            ("/", ""),
            (" / ", ""),
        ] {
            assert_eq!(canonical(raw), want, "{raw:?}");
            assert_eq!(canonical(want), want, "idempotent on {want:?}");
        }
        assert!(matches!(canonical("secret/x/"), Cow::Borrowed(_)));
        assert!(matches!(canonical("secret/x"), Cow::Borrowed(_)));
        assert!(matches!(canonical("secret/caf\u{e9}/\u{65e5}\u{672c}"), Cow::Borrowed(_)));
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
    fn bad_wildcards_are_rejected() {
        assert_eq!(Pattern::parse("a/+*").unwrap_err(), "invalid use of wildcards ('+*' is forbidden)");
        assert!(Pattern::parse("a/＋/b").is_err());
        assert!(Pattern::parse("a/b＊").is_err());
        assert!(Pattern::parse("").is_err());
        assert!(Pattern::parse(" / ").is_err());
    }

    #[test]
    fn patterns_are_canonical_too() {
        assert!(m("Secret/Data/Example", "secret/data/example"));
        assert!(m("/secret/data/x", "secret/data/x"));
        assert_eq!(Pattern::parse("SECRET/Data/*").unwrap().key(), "secret/data/*");
        assert_eq!(Pattern::parse("secret/data/x ").unwrap().key(), "secret/data/x");
        assert_eq!(Pattern::parse("secret/metadata//").unwrap().key(), "secret/metadata/");
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
