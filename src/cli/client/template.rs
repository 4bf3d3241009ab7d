//! `coffer run --template IN:OUT`: files with `{{ secret "PATH" "FIELD" }}` placeholders,
//! rendered with the fetched secrets and written atomically (a temporary file in the output's
//! directory, then a rename) with mode 0600.
//!
//! Syntax: a placeholder is `{{`, optional spaces, the word `secret`, the secret's path and the
//! field's name as double-quoted strings (`\"` and `\\` escape), optional spaces, `}}`. Any other
//! `{{` is copied as it is, so templates of other tools pass through; a `{{ secret` that does not
//! parse is an error with its line number. A non-string value is written as JSON.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::CliError;

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

/// A parsed `--template IN:OUT`.
#[derive(Debug, Clone)]
pub struct Template {
    /// The template file.
    pub input: PathBuf,
    /// The rendered file.
    pub output: PathBuf,
    parts: Vec<Part>,
}

/// Splits `IN:OUT` at its first colon.
pub fn parse_spec(spec: &str) -> Result<(PathBuf, PathBuf), String> {
    match spec.split_once(':') {
        Some((i, o)) if !i.is_empty() && !o.is_empty() => Ok((PathBuf::from(i), PathBuf::from(o))),
        _ => Err(format!("expected IN:OUT, got {spec:?}")),
    }
}

impl Template {
    /// Reads and parses the template file.
    pub fn load(input: &Path, output: &Path) -> Result<Template, CliError> {
        let text = std::fs::read_to_string(input)
            .map_err(|e| CliError::Other(format!("cannot read the template {}: {e}", input.display())))?;
        let parts = parse(&text).map_err(|e| CliError::Other(format!("template {}: {e}", input.display())))?;
        Ok(Template { input: input.to_path_buf(), output: output.to_path_buf(), parts })
    }

    /// The secret paths the template refers to.
    pub fn paths(&self) -> Vec<String> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Secret { path, .. } => Some(path.clone()),
                Part::Text(_) => None,
            })
            .collect()
    }

    /// Renders with `secrets` (path → fields) and writes the output file atomically, mode 0600.
    pub fn render_to_file(&self, secrets: &BTreeMap<String, Map<String, Value>>) -> Result<(), CliError> {
        let text = render(&self.parts, secrets)
            .map_err(|e| CliError::Other(format!("template {}: {e}", self.input.display())))?;
        write_private(&self.output, text.as_bytes())
    }
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

/// Writes `bytes` to `path` through a temporary file in the same directory (mode 0600) and a
/// rename, so readers see the old file or the new one, never a part.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let err = |e: std::io::Error| CliError::Other(format!("cannot write {}: {e}", path.display()));
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".coffer-tmpl.").tempfile_in(dir).map_err(err)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secrets() -> BTreeMap<String, Map<String, Value>> {
        let mut m = BTreeMap::new();
        m.insert("secret/app".to_string(), json!({"user": "app", "port": 5432}).as_object().cloned().unwrap());
        m
    }

    #[test]
    fn renders_placeholders_and_keeps_other_braces() {
        let t = "user={{ secret \"secret/app\" \"user\" }}\nport={{secret \"secret/app\" \"port\"}}\nhelm={{ .Values.x }} {{secrets}}\n";
        let parts = parse(t).unwrap();
        let out = render(&parts, &secrets()).unwrap();
        assert_eq!(out.as_str(), "user=app\nport=5432\nhelm={{ .Values.x }} {{secrets}}\n");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("a\nb {{ secret secret/app user }}").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        let e = parse("{{ secret \"secret/app\" \"user\"").unwrap_err();
        assert!(e.contains("expected }}"), "{e}");
        let parts = parse("x\n{{ secret \"secret/app\" \"nope\" }}").unwrap();
        assert_eq!(render(&parts, &secrets()).unwrap_err(), "line 2: secret/app has no field \"nope\"");
    }

    #[test]
    fn escapes_in_strings() {
        let parts = parse(r#"{{ secret "a\"b" "c\\d" }}"#).unwrap();
        assert_eq!(parts, vec![Part::Secret { path: "a\"b".into(), field: "c\\d".into(), line: 1 }]);
    }

    #[test]
    fn specs() {
        assert_eq!(parse_spec("a.tmpl:/run/a").unwrap(), (PathBuf::from("a.tmpl"), PathBuf::from("/run/a")));
        assert!(parse_spec("a.tmpl").is_err());
        assert!(parse_spec(":b").is_err());
    }
}
