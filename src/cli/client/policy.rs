//! `coffer policy write|read|list|delete|fmt|explain`; `explain` is in `explain`; `fmt` re-prints an HCL policy in one canonical
//! layout from Coffer's own parser, locally, and checks that the result means the same.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

use super::input::read_file_text;
use super::output::{emit, emit_line, print_list, print_structured};
use super::{Api, CliError, ClientOpts, Format, EXIT_OK};
use crate::base::policy::{Capability, PathRule, Policy};

/// `coffer policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Upload a policy (HCL or JSON) from a file or stdin (`-`)
    ///
    /// Examples:
    ///   coffer policy write app app.hcl
    ///   echo 'path "secret/data/app/*" { capabilities = ["read"] }' | coffer policy write app -
    #[command(verbatim_doc_comment)]
    Write(WriteArgs),
    /// Print a policy's text
    ///
    /// Example:
    ///   coffer policy read app
    #[command(verbatim_doc_comment)]
    Read(NameArgs),
    /// List the ACL policies
    ///
    /// Example:
    ///   coffer policy list
    #[command(verbatim_doc_comment)]
    List(ListArgs),
    /// Delete a policy (tokens keep its name but it grants nothing)
    ///
    /// Example:
    ///   coffer policy delete app
    #[command(verbatim_doc_comment)]
    Delete(NameArgs),
    /// Rewrite an HCL policy file in one canonical layout (no server needed)
    ///
    /// One `path` block per rule, in the file's order; two-space indents; capabilities in a fixed
    /// order (create, read, update, patch, delete, list, sudo, deny, subscribe, scan). The legacy
    /// `policy = "read"` form becomes its capabilities. The result is parsed again and must mean
    /// exactly what the input meant. Comments cannot be kept: a file with comments is refused
    /// unless --strip-comments is given. `-` reads stdin and prints to stdout.
    ///
    /// Examples:
    ///   coffer policy fmt app.hcl
    ///   coffer policy fmt - < app.hcl > app.fmt.hcl
    ///   coffer policy fmt --check app.hcl       # exit 1 if the file is not formatted
    #[command(verbatim_doc_comment)]
    Fmt(FmtArgs),
    /// Explain why a token may or may not do an operation on a path
    ///
    /// The server's own ACL decision with its reasons: the rule that decided and the policies
    /// behind it, and each policy on its own. Your own token needs nothing more; another token
    /// (TOKEN, `-` for stdin, or --accessor) or a policy list needs `update` and `sudo` on
    /// sys/policies/explain.
    ///
    /// Examples:
    ///   coffer policy explain secret/data/app/db
    ///   coffer policy explain secret/data/app/db --operation update --data owner=me
    ///   coffer policy explain sys/audit --accessor 6Qd2…
    ///   coffer policy explain secret/data/app/db --policies app,default --format json
    #[command(verbatim_doc_comment)]
    Explain(super::explain::ExplainArgs),
}

/// `coffer policy write`.
#[derive(Debug, Args)]
pub struct WriteArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// The policy's name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The policy file (`-`: stdin).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// A policy name.
#[derive(Debug, Args)]
pub struct NameArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
    /// The policy's name.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `coffer policy list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub conn: ClientOpts,
}

/// `coffer policy fmt`.
#[derive(Debug, Args)]
pub struct FmtArgs {
    /// The HCL policy file (`-`: stdin to stdout).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Drop comments instead of refusing a file that has some.
    #[arg(long)]
    pub strip_comments: bool,
    /// Change nothing; exit 1 if the file is not in canonical form.
    #[arg(long)]
    pub check: bool,
}

/// Runs a `coffer policy` command.
pub async fn run(cmd: PolicyCommand) -> Result<i32, CliError> {
    match cmd {
        PolicyCommand::Write(a) => {
            let text = read_file_text(&a.file)?;
            let api = Api::new(&a.conn)?;
            api.call(Method::PUT, &format!("sys/policies/acl/{}", a.name), Some(&json!({"policy": text.as_str()})))
                .await?;
            if a.conn.format == Format::Table {
                emit_line(&format!("Success! Uploaded policy: {}", a.name))?;
            }
            Ok(EXIT_OK)
        }
        PolicyCommand::Read(a) => {
            let api = Api::new(&a.conn)?;
            let path = format!("sys/policies/acl/{}", a.name);
            let body = match api.read(&path).await {
                Err(CliError::Api { status: 404, .. }) => {
                    return Err(CliError::Other(format!("no policy named {:?}", a.name)))
                }
                other => other?.unwrap_or(Value::Null),
            };
            if a.conn.format != Format::Table {
                print_structured(a.conn.format, &body)?;
                return Ok(EXIT_OK);
            }
            let text = body.pointer("/data/policy").and_then(Value::as_str).unwrap_or("");
            emit(text)?;
            if !text.ends_with('\n') {
                emit("\n")?;
            }
            Ok(EXIT_OK)
        }
        PolicyCommand::List(a) => {
            let api = Api::new(&a.conn)?;
            let keys = api.list("sys/policies/acl").await?;
            print_list(a.conn.format, &keys)?;
            Ok(EXIT_OK)
        }
        PolicyCommand::Delete(a) => {
            let api = Api::new(&a.conn)?;
            api.call(Method::DELETE, &format!("sys/policies/acl/{}", a.name), None).await?;
            if a.conn.format == Format::Table {
                emit_line(&format!("Success! Deleted policy: {}", a.name))?;
            }
            Ok(EXIT_OK)
        }
        PolicyCommand::Fmt(a) => fmt_file(&a),
        PolicyCommand::Explain(a) => super::explain::run(a).await,
    }
}

fn fmt_file(a: &FmtArgs) -> Result<i32, CliError> {
    let shown = if a.file == Path::new("-") { "stdin".to_string() } else { a.file.display().to_string() };
    let text = read_file_text(&a.file)?;
    if text.trim_start().starts_with('{') {
        return Err(CliError::Other(format!("{shown} is a JSON policy; policy fmt formats HCL")));
    }
    if has_comments(&text) && !a.strip_comments {
        return Err(CliError::Other(format!(
            "{shown} has comments, which policy fmt cannot keep; run it with --strip-comments to drop them"
        )));
    }
    let formatted = format_policy(&text)?;
    if a.check {
        if formatted == *text {
            return Ok(EXIT_OK);
        }
        eprintln!("{shown} is not formatted");
        return Ok(super::EXIT_ERROR);
    }
    if a.file == Path::new("-") {
        emit(&formatted)?;
        return Ok(EXIT_OK);
    }
    if formatted != *text {
        write_atomic(&a.file, &formatted)?;
    }
    emit_line(&format!("Success! Formatted policy: {shown}"))?;
    Ok(EXIT_OK)
}

/// Replaces `path` with `text` through a temporary file in the same directory, keeping its mode.
fn write_atomic(path: &Path, text: &str) -> Result<(), CliError> {
    let err = |e: std::io::Error| CliError::Other(format!("cannot write {}: {e}", path.display()));
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o644);
    let mut tmp = tempfile::Builder::new().prefix(".coffer-fmt.").tempfile_in(dir).map_err(err)?;
    tmp.write_all(text.as_bytes()).map_err(err)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// True if the HCL text holds a `#`, `//` or `/* */` comment outside string literals.
pub fn has_comments(text: &str) -> bool {
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '#' => return true,
            '/' if matches!(chars.peek(), Some('/') | Some('*')) => return true,
            _ => {}
        }
    }
    false
}

/// The order capabilities are printed in.
const CAPABILITY_ORDER: [Capability; 10] = [
    Capability::Create,
    Capability::Read,
    Capability::Update,
    Capability::Patch,
    Capability::Delete,
    Capability::List,
    Capability::Sudo,
    Capability::Deny,
    Capability::Subscribe,
    Capability::Scan,
];

/// Formats HCL policy text canonically; the output parses to the same rules as the input.
pub fn format_policy(text: &str) -> Result<String, CliError> {
    let policy = Policy::parse("fmt", text).map_err(CliError::Other)?;
    let mut out = String::new();
    for (i, rule) in policy.rules().iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        print_rule(&mut out, rule);
    }
    let again = Policy::parse("fmt", &out)
        .map_err(|e| CliError::Other(format!("internal error: the formatted policy does not parse: {e}")))?;
    let same = again.rules().len() == policy.rules().len()
        && again.rules().iter().zip(policy.rules()).all(|(a, b)| a.path == b.path && a.permissions == b.permissions);
    if !same {
        return Err(CliError::Other("internal error: the formatted policy would mean something else".into()));
    }
    Ok(out)
}

fn print_rule(out: &mut String, rule: &PathRule) {
    let p = &rule.permissions;
    out.push_str(&format!("path {} {{\n", hcl_string(&rule.path)));
    let caps: Vec<String> = if p.capabilities.is_denied() {
        vec![hcl_string("deny")]
    } else {
        CAPABILITY_ORDER
            .iter()
            .filter(|c| **c != Capability::Deny && p.capabilities.contains(**c))
            .map(|c| hcl_string(c.as_str()))
            .collect()
    };
    out.push_str(&format!("  capabilities = [{}]\n", caps.join(", ")));
    if !p.required_parameters.is_empty() {
        let items: Vec<String> = p.required_parameters.iter().map(|s| hcl_string(s)).collect();
        out.push_str(&format!("  required_parameters = [{}]\n", items.join(", ")));
    }
    for (key, params) in [("allowed_parameters", &p.allowed_parameters), ("denied_parameters", &p.denied_parameters)] {
        if params.is_empty() {
            continue;
        }
        out.push_str(&format!("  {key} = {{\n"));
        for (name, values) in params {
            let items: Vec<String> = values.iter().map(hcl_value).collect();
            out.push_str(&format!("    {} = [{}]\n", hcl_string(name), items.join(", ")));
        }
        out.push_str("  }\n");
    }
    for (key, ttl) in [("min_wrapping_ttl", p.min_wrapping_ttl), ("max_wrapping_ttl", p.max_wrapping_ttl)] {
        if let Some(secs) = ttl {
            out.push_str(&format!("  {key} = {}\n", hcl_string(&crate::base::duration::format(secs))));
        }
    }
    out.push_str("}\n");
}

/// A JSON value as an HCL literal.
fn hcl_value(v: &Value) -> String {
    match v {
        Value::String(s) => hcl_string(s),
        Value::Array(items) => format!("[{}]", items.iter().map(hcl_value).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{ {} }}",
            o.iter().map(|(k, v)| format!("{} = {}", hcl_string(k), hcl_value(v))).collect::<Vec<_>>().join(", ")
        ),
        Value::Null => hcl_string(""),
        other => other.to_string(),
    }
}

/// A quoted HCL string with the escapes Coffer's parser reads.
fn hcl_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_canonically_and_is_idempotent() {
        let src = "path \"secret/data/app/*\" {\n capabilities=[\"read\",\"create\"]\n}\npath \"sys/x\" { policy = \"deny\" }\n\
                   path \"a/+/b\" { capabilities = [\"update\"] allowed_parameters = { \"ttl\" = [\"1h\", 2] \"*\" = [] } \
                   min_wrapping_ttl = \"1m\" }\n";
        let out = format_policy(src).unwrap();
        assert_eq!(
            out,
            "path \"secret/data/app/*\" {\n  capabilities = [\"create\", \"read\"]\n}\n\n\
             path \"sys/x\" {\n  capabilities = [\"deny\"]\n}\n\n\
             path \"a/+/b\" {\n  capabilities = [\"update\"]\n  allowed_parameters = {\n    \"*\" = []\n    \"ttl\" = [\"1h\", 2]\n  }\n  min_wrapping_ttl = \"1m0s\"\n}\n"
        );
        assert_eq!(format_policy(&out).unwrap(), out);
    }

    #[test]
    fn comments_are_found_outside_strings_only() {
        assert!(has_comments("# hi\npath \"a\" {}"));
        assert!(has_comments("path \"a\" { // x\n}"));
        assert!(has_comments("/* x */"));
        assert!(!has_comments("path \"a/#/b//c\" { capabilities = [\"read\"] }"));
        assert!(!has_comments("path \"a\\\"#\" {}"));
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(hcl_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
    }
}
