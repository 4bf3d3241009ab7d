//! Output of the client commands: `table` (aligned key/value columns, as the vault CLI prints),
//! `json` (the server's answer, pretty-printed) and `yaml`; writes that tolerate a closed pipe.

use std::io::Write;

use serde_json::{Map, Value};

use super::CliError;

/// The `--format` of a command's output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable columns.
    #[default]
    Table,
    /// The server's JSON answer.
    Json,
    /// The server's answer as YAML.
    Yaml,
}

/// Writes `text` to stdout. A reader that went away (`coffer kv list | head -1`) is not an error.
pub fn emit(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::Other(format!("cannot write to stdout: {e}"))),
    }
}

/// Writes `text` and a newline to stdout.
pub fn emit_line(text: &str) -> Result<(), CliError> {
    emit(&format!("{text}\n"))
}

/// `value` as pretty JSON or YAML (for `Table`, as JSON too: callers print tables themselves).
pub fn structured(format: Format, value: &Value) -> Result<String, CliError> {
    match format {
        Format::Yaml => serde_norway::to_string(value).map_err(|e| CliError::Other(format!("cannot write YAML: {e}"))),
        _ => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| CliError::Other(format!("cannot write JSON: {e}"))),
    }
}

/// Prints `value` as JSON or YAML.
pub fn print_structured(format: Format, value: &Value) -> Result<(), CliError> {
    emit(&structured(format, value)?)
}

/// One cell of a table: strings as they are, `null` as `n/a`, lists of scalars as `[a b]`, other
/// values as compact JSON.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "n/a".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|i| !i.is_array() && !i.is_object()) => {
            format!("[{}]", items.iter().map(cell).collect::<Vec<_>>().join(" "))
        }
        other => other.to_string(),
    }
}

/// A two-column table with a `Key`/`Value` header (or the given header).
pub fn table(header: (&str, &str), rows: &[(String, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.chars().count()).chain([header.0.len()]).max().unwrap_or(0);
    let mut out = String::new();
    out.push_str(&format!("{:<width$}    {}\n", header.0, header.1));
    out.push_str(&format!("{:<width$}    {}\n", "-".repeat(header.0.len()), "-".repeat(header.1.len())));
    for (k, v) in rows {
        out.push_str(&format!("{k:<width$}    {v}\n"));
    }
    out
}

/// A table with any number of columns, every column as wide as its widest cell.
pub fn columns(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            if i == last {
                s.push_str(&c);
            } else {
                let w = widths.get(i).copied().unwrap_or(0);
                s.push_str(&format!("{c:<w$}    "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out.push_str(&line(header.iter().map(|h| "-".repeat(h.chars().count())).collect()));
    for r in rows {
        out.push_str(&line(r.clone()));
    }
    out
}

/// The rows of a JSON object, in its key order.
pub fn rows_of(obj: &Map<String, Value>) -> Vec<(String, String)> {
    obj.iter().map(|(k, v)| (k.clone(), cell(v))).collect()
}

/// Prints the server's `warnings` on stderr.
pub fn print_warnings(resp: &Value) {
    let Some(warnings) = resp.get("warnings").and_then(Value::as_array).filter(|w| !w.is_empty()) else {
        return;
    };
    eprintln!("WARNING! The server returned these warnings:");
    for w in warnings {
        eprintln!("  * {}", cell(w));
    }
}

/// Prints a list of keys: one per line under a `Keys` header, or as a JSON/YAML array.
pub fn print_list(format: Format, keys: &[String]) -> Result<(), CliError> {
    match format {
        Format::Table => {
            let mut out = String::from("Keys\n----\n");
            for k in keys {
                out.push_str(k);
                out.push('\n');
            }
            emit(&out)
        }
        _ => print_structured(format, &Value::from(keys.to_vec())),
    }
}

/// Prints an answer that carries `data` (and maybe a lease): the whole answer as JSON/YAML, or
/// the lease fields and the data as a table.
pub fn print_secret(format: Format, resp: &Value) -> Result<(), CliError> {
    print_warnings(resp);
    if format != Format::Table {
        return print_structured(format, resp);
    }
    if resp.get("auth").is_some_and(|a| !a.is_null()) {
        return print_auth(format, resp, true);
    }
    let mut rows = Vec::new();
    if let Some(lease) = resp.get("lease_id").and_then(Value::as_str).filter(|l| !l.is_empty()) {
        rows.push(("lease_id".to_string(), lease.to_string()));
        rows.push(("lease_duration".to_string(), duration_cell(resp.get("lease_duration"))));
        rows.push(("lease_renewable".to_string(), cell(resp.get("renewable").unwrap_or(&Value::Null))));
    }
    match resp.get("data") {
        Some(Value::Object(data)) => rows.extend(rows_of(data)),
        Some(Value::Null) | None => {}
        Some(other) => rows.push(("value".to_string(), cell(other))),
    }
    if rows.is_empty() {
        return emit_line("Success! The server answered with no data.");
    }
    emit(&table(("Key", "Value"), &rows))
}

/// Prints a token answer (`auth` block). The token itself is shown only when `show_token` is set
/// or the format is JSON/YAML (the whole answer).
pub fn print_auth(format: Format, resp: &Value, show_token: bool) -> Result<(), CliError> {
    if format != Format::Table {
        return print_structured(format, resp);
    }
    let auth = resp.get("auth").cloned().unwrap_or(Value::Null);
    let mut rows = Vec::new();
    if show_token {
        rows.push(("token".to_string(), cell(auth.get("client_token").unwrap_or(&Value::Null))));
    }
    rows.push(("token_accessor".to_string(), cell(auth.get("accessor").unwrap_or(&Value::Null))));
    rows.push(("token_duration".to_string(), duration_cell(auth.get("lease_duration"))));
    rows.push(("token_renewable".to_string(), cell(auth.get("renewable").unwrap_or(&Value::Null))));
    rows.push(("token_policies".to_string(), cell(auth.get("token_policies").unwrap_or(&Value::Null))));
    rows.push(("identity_policies".to_string(), cell(auth.get("identity_policies").unwrap_or(&Value::Array(vec![])))));
    rows.push(("policies".to_string(), cell(auth.get("policies").unwrap_or(&Value::Null))));
    if let Some(Value::Object(meta)) = auth.get("metadata") {
        for (k, v) in meta {
            rows.push((format!("token_meta_{k}"), cell(v)));
        }
    }
    emit(&table(("Key", "Value"), &rows))
}

/// A TTL in seconds as `1h0m0s`, or `∞` for 0 (no expiry), as the vault CLI prints it.
pub fn duration_cell(v: Option<&Value>) -> String {
    match v.and_then(Value::as_u64) {
        Some(0) => "∞".to_string(),
        Some(s) => crate::base::duration::format(s),
        None => v.map(cell).unwrap_or_else(|| "n/a".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_read_like_the_vault_cli() {
        assert_eq!(cell(&json!("x")), "x");
        assert_eq!(cell(&json!(["a", "b"])), "[a b]");
        assert_eq!(cell(&json!(null)), "n/a");
        assert_eq!(cell(&json!({"a": 1})), r#"{"a":1}"#);
    }

    #[test]
    fn tables_are_aligned() {
        let t = table(("Key", "Value"), &[("a".into(), "1".into()), ("longer".into(), "2".into())]);
        assert_eq!(t, "Key       Value\n---       -----\na         1\nlonger    2\n");
        let c = columns(&["Path", "Type"], &[vec!["secret/".into(), "kv".into()]]);
        assert_eq!(c, "Path       Type\n----       ----\nsecret/    kv\n");
    }

    #[test]
    fn yaml_output() {
        let y = structured(Format::Yaml, &json!({"a": "b"})).unwrap();
        assert_eq!(y.trim(), "a: b");
    }
}
