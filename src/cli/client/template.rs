//! `coffer run --template IN:OUT`: files with `{{ secret "PATH" "FIELD" }}` placeholders,
//! rendered with the fetched secrets and written atomically (a temporary file in the output's
//! directory, then a rename) with mode 0600.
//!
//! Syntax: a placeholder is `{{`, optional spaces, the word `secret`, the secret's path and the
//! field's name as double-quoted strings (`\"` and `\\` escape), optional spaces, `}}`. Any other
//! `{{` is copied as it is, so templates of other tools pass through; a `{{ secret` that does not
//! parse is an error with its line number. A non-string value is written as JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub use crate::base::template::{parse, render, Part};

use super::CliError;

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
        crate::base::template::paths(&self.parts)
    }

    /// Renders with `secrets` (path → fields) and writes the output file atomically, mode 0600.
    pub fn render_to_file(&self, secrets: &BTreeMap<String, Map<String, Value>>) -> Result<(), CliError> {
        let text = render(&self.parts, secrets)
            .map_err(|e| CliError::Other(format!("template {}: {e}", self.input.display())))?;
        write_private(&self.output, text.as_bytes())
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory (mode 0600) and a
/// rename, so readers see the old file or the new one, never a part.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    crate::base::template::write_file_atomic(path, bytes, 0o600)
        .map_err(|e| CliError::Other(format!("cannot write {}: {e}", path.display())))
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
