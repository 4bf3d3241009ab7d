//! The template language of `coffer run --template` and `coffer agent`: text with
//! `{{ secret "PATH" "FIELD" }}` placeholders (parsing and rendering), and the private file write
//! both use for what they render (a temporary file in the same directory, then a rename).
//!
//! Syntax: a placeholder is `{{`, optional spaces, the word `secret`, the secret's path and the
//! field's name as double-quoted strings (`\"` and `\\` escape), optional spaces, `}}`. Any other
//! `{{` is copied as it is, so templates of other tools pass through; a `{{ secret` that does not
//! parse is an error with its line number. A non-string value is written as JSON.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text copied as it is.
    Text(String),
    /// A secret's field.
    Secret {
        /// The secret's path (`secret/app`).
        path: String,
        /// The field.
        field: String,
        /// The line it is on, for errors.
        line: usize,
    },
}

/// The secret paths `parts` refer to.
pub fn paths(parts: &[Part]) -> Vec<String> {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Secret { path, .. } => Some(path.clone()),
            Part::Text(_) => None,
        })
        .collect()
}

/// Parses template text into parts.
pub fn parse(text: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    let mut line = 1;
    while let Some(i) = rest.find("{{") {
        let (before, after) = rest.split_at(i);
        literal.push_str(before);
        line += before.matches('\n').count();
        let inner = &after[2..];
        let trimmed = inner.trim_start_matches([' ', '\t']);
        if !trimmed.starts_with("secret")
            || trimmed["secret".len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
        {
            literal.push_str("{{");
            rest = inner;
            continue;
        }
        let (path, field, consumed) =
            placeholder(&trimmed["secret".len()..]).map_err(|e| format!("line {line}: {e}"))?;
        if !literal.is_empty() {
            parts.push(Part::Text(std::mem::take(&mut literal)));
        }
        parts.push(Part::Secret { path, field, line });
        let skipped = inner.len() - trimmed.len() + "secret".len() + consumed;
        rest = &inner[skipped..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        parts.push(Part::Text(literal));
    }
    Ok(parts)
}

/// Parses ` "path" "field" }}`; returns both strings and the bytes consumed.
fn placeholder(s: &str) -> Result<(String, String, usize), String> {
    let mut pos = 0;
    let mut strings = Vec::new();
    for _ in 0..2 {
        let skipped = s[pos..].len() - s[pos..].trim_start_matches([' ', '\t']).len();
        pos += skipped;
        let (value, used) = quoted(&s[pos..]).ok_or_else(|| {
            "expected {{ secret \"PATH\" \"FIELD\" }}: the path and the field are double-quoted strings".to_string()
        })?;
        if value.is_empty() {
            return Err("empty path or field in {{ secret … }}".into());
        }
        strings.push(value);
        pos += used;
    }
    let skipped = s[pos..].len() - s[pos..].trim_start_matches([' ', '\t']).len();
    pos += skipped;
    if !s[pos..].starts_with("}}") {
        return Err("expected }} after {{ secret \"PATH\" \"FIELD\"".into());
    }
    let field = strings.pop().unwrap_or_default();
    let path = strings.pop().unwrap_or_default();
    Ok((path, field, pos + 2))
}

/// A double-quoted string at the start of `s`: its value and its length in bytes.
fn quoted(s: &str) -> Option<(String, usize)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => match chars.next()?.1 {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                _ => return None,
            },
            '\n' => return None,
            c => out.push(c),
        }
    }
    None
}

/// Fills the placeholders.
pub fn render(parts: &[Part], secrets: &BTreeMap<String, Map<String, Value>>) -> Result<Zeroizing<String>, String> {
    let mut out = Zeroizing::new(String::new());
    for p in parts {
        match p {
            Part::Text(t) => out.push_str(t),
            Part::Secret { path, field, line } => {
                let data = secrets.get(path).ok_or_else(|| format!("line {line}: {path} was not fetched"))?;
                match data.get(field) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(other) => out.push_str(&other.to_string()),
                    None => return Err(format!("line {line}: {path} has no field {field:?}")),
                }
            }
        }
    }
    Ok(out)
}

/// Writes `bytes` to `path` through a temporary file in the same directory (created with `mode`,
/// synced) and a rename, so readers see the old file or the new one, never a part.
pub fn write_file_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".coffer-tmp.").tempfile_in(dir)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
