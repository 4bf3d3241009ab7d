//! Characters that never belong in a request path: controls (Unicode general category Cc) and
//! format characters (Cf), which include the zero-width characters, the byte-order mark and the
//! bidi embeddings, overrides, isolates and marks (SEC-37, D57).
//!
//! The Cf table is the `unicode-properties` crate's (its `UNICODE_VERSION`, generated from the
//! Unicode Character Database's `DerivedGeneralCategory.txt`); the crate was already in the
//! dependency tree through `stringprep`.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// True for a control or format character.
pub fn is_forbidden(c: char) -> bool {
    c.is_control() || c.general_category() == GeneralCategory::Format
}

/// True if `s` holds a control or format character (ASCII text needs no table lookup).
pub fn any_forbidden(s: &str) -> bool {
    if s.is_ascii() {
        return s.bytes().any(|b| b.is_ascii_control());
    }
    s.chars().any(is_forbidden)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_format_and_bidi_characters() {
        for c in [
            '\u{0}',
            '\t',
            '\n',
            '\u{7f}',
            '\u{85}',
            '\u{ad}',
            '\u{61c}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{200e}',
            '\u{200f}',
            '\u{202a}',
            '\u{202e}',
            '\u{2060}',
            '\u{2066}',
            '\u{2069}',
            '\u{feff}',
            '\u{fff9}',
            '\u{e0001}',
            '\u{e007f}',
        ] {
            assert!(is_forbidden(c), "U+{:04X}", c as u32);
            assert!(any_forbidden(&format!("a{c}b")), "U+{:04X}", c as u32);
        }
        for c in ['a', ' ', '\u{a0}', '\u{e9}', '\u{65e5}', '\u{3000}', '\u{ff21}', '\u{1f600}'] {
            assert!(!is_forbidden(c), "U+{:04X}", c as u32);
        }
        assert!(!any_forbidden("secret/data/caf\u{e9} x"));
    }
}
