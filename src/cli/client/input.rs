//! Input of the client commands: `key=value` arguments (`k=v`, `k=@file`, `k=-` for stdin, a
//! lone `-` for a JSON object on stdin), secrets read from files, stdin or a hidden prompt.

use std::io::{IsTerminal, Read};
use std::path::Path;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::{CliError, Secret};

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Written on the command line (visible in `ps` and shell history).
    Inline,
    /// Read from a file (`k=@file`).
    File,
    /// Read from stdin (`k=-`).
    Stdin,
}

/// Parsed `key=value` arguments.
#[derive(Default)]
pub struct Pairs {
    /// The object to send.
    pub data: Map<String, Value>,
    /// The keys whose value was written on the command line.
    pub inline_keys: Vec<String>,
}

impl std::fmt::Debug for Pairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pairs").field("keys", &self.data.keys().collect::<Vec<_>>()).finish()
    }
}

/// Parses `key=value` arguments. `k=@path` reads the file, `k=-` reads all of stdin (once), a
/// lone `-` reads a JSON object from stdin and merges it. Values are kept as they are, trailing
/// newlines included. A repeated key becomes a list of its values, as the bao CLI sends it
/// (`options=version=2 options=team=core` → `["version=2","team=core"]`, D95).
pub fn parse_pairs(args: &[String]) -> Result<Pairs, CliError> {
    let mut pairs = Pairs::default();
    let mut stdin_used = false;
    for (i, arg) in args.iter().enumerate() {
        if arg == "-" {
            let text = read_stdin_once(&mut stdin_used)?;
            let Value::Object(obj) = serde_json::from_str::<Value>(&text)
                .map_err(|e| CliError::Usage(format!("stdin does not hold a JSON object: {e}")))?
            else {
                return Err(CliError::Usage("stdin does not hold a JSON object".into()));
            };
            pairs.data.extend(obj);
            continue;
        }
        let Some((key, raw)) = arg.split_once('=') else {
            // The argument itself is not repeated: it may be a secret typed without its key.
            return Err(CliError::Usage(format!(
                "argument {} is not a key=value pair: expected KEY=VALUE, KEY=@FILE or KEY=- (stdin)",
                i + 1
            )));
        };
        if key.is_empty() {
            return Err(CliError::Usage("invalid key=value pair: the key is empty".into()));
        }
        let (value, origin) = if let Some(path) = raw.strip_prefix('@') {
            (read_file_text(Path::new(path))?, Origin::File)
        } else if raw == "-" {
            (read_stdin_once(&mut stdin_used)?, Origin::Stdin)
        } else {
            (Zeroizing::new(raw.to_string()), Origin::Inline)
        };
        if origin == Origin::Inline {
            pairs.inline_keys.push(key.to_string());
        }
        let value = Value::String(value.to_string());
        match pairs.data.get_mut(key) {
            Some(Value::Array(items)) => items.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                pairs.data.insert(key.to_string(), value);
            }
        }
    }
    Ok(pairs)
}

/// The keys of `KEY=VALUE` arguments, for `Debug` output that must not show values.
pub fn keys_only(args: &[String]) -> Vec<&str> {
    args.iter().map(|a| a.split_once('=').map(|(k, _)| k).unwrap_or("[not a pair]")).collect()
}

/// Warns on stderr that secret values were written on the command line.
pub fn warn_inline(keys: &[String]) {
    if keys.is_empty() {
        return;
    }
    eprintln!(
        "Warning: the value of {} was given on the command line, where shell history and other users' `ps` \
         can see it; prefer KEY=@FILE or KEY=- (stdin)",
        keys.join(", ")
    );
}

fn read_stdin_once(used: &mut bool) -> Result<Zeroizing<String>, CliError> {
    if *used {
        return Err(CliError::Usage("stdin can be read only once (two values use `-`)".into()));
    }
    *used = true;
    read_stdin()
}

/// All of stdin, as UTF-8 text.
pub fn read_stdin() -> Result<Zeroizing<String>, CliError> {
    let mut buf = Zeroizing::new(Vec::new());
    std::io::stdin().read_to_end(&mut buf).map_err(|e| CliError::Other(format!("cannot read stdin: {e}")))?;
    utf8(buf, "stdin")
}

/// A whole file as UTF-8 text; `-` is stdin.
pub fn read_file_text(path: &Path) -> Result<Zeroizing<String>, CliError> {
    if path == Path::new("-") {
        return read_stdin();
    }
    let bytes = Zeroizing::new(
        std::fs::read(path).map_err(|e| CliError::Other(format!("cannot read {}: {e}", path.display())))?,
    );
    utf8(bytes, &path.display().to_string())
}

fn utf8(bytes: Zeroizing<Vec<u8>>, what: &str) -> Result<Zeroizing<String>, CliError> {
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(Zeroizing::new(s.to_string())),
        Err(_) => Err(CliError::Other(format!("{what} is not UTF-8 text"))),
    }
}

/// A secret held in a file (`-`: stdin), surrounding whitespace removed.
pub fn secret_from_file(path: &Path) -> Result<Secret, CliError> {
    let text = read_file_text(path)?;
    let s = Secret::new(text.trim().to_string());
    if s.is_empty() {
        return Err(CliError::Other(format!(
            "{} is empty",
            if path == Path::new("-") { "stdin".to_string() } else { path.display().to_string() }
        )));
    }
    Ok(s)
}

/// The first line of stdin, without its line ending.
pub fn line_from_stdin() -> Result<Secret, CliError> {
    let mut line = Zeroizing::new(String::new());
    std::io::stdin().read_line(&mut line).map_err(|e| CliError::Other(format!("cannot read stdin: {e}")))?;
    Ok(Secret::new(line.trim_end_matches(['\r', '\n']).to_string()))
}

/// Asks for a secret on the terminal without echoing it; without a terminal the error names
/// `instead`, the way to give the value on stdin (`--password-stdin`, `-`).
pub fn prompt_hidden(prompt: &str, instead: &str) -> Result<Secret, CliError> {
    match rpassword::prompt_password(prompt) {
        Ok(s) => Ok(Secret::new(s)),
        Err(e) => Err(CliError::Other(format!("cannot prompt on the terminal ({e}); {instead}"))),
    }
}

/// A secret given as an argument, or `-`/nothing: from stdin when it is not a terminal, else a
/// hidden prompt.
pub fn secret_arg(arg: Option<&Secret>, prompt: &str) -> Result<Secret, CliError> {
    match arg {
        Some(s) if s.expose() != "-" => Ok(s.clone()),
        _ if !std::io::stdin().is_terminal() => {
            let s = line_from_stdin()?;
            if s.is_empty() {
                return Err(CliError::Usage("stdin is empty".into()));
            }
            Ok(s)
        }
        _ => prompt_hidden(prompt, "give `-` and the value on stdin"),
    }
}

/// `k=v` arguments as plain strings (metadata, audit options): no files, no warnings.
pub fn plain_pairs(args: &[String], what: &str) -> Result<Map<String, Value>, CliError> {
    let mut out = Map::new();
    for arg in args {
        let (k, v) = arg
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| CliError::Usage(format!("invalid {what} {arg:?}: expected KEY=VALUE")))?;
        out.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_inline_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v");
        std::fs::write(&f, "from-file\n").unwrap();
        let args = vec!["a=1".to_string(), format!("b=@{}", f.display()), "c=x=y".to_string()];
        let p = parse_pairs(&args).unwrap();
        assert_eq!(p.data["a"], "1");
        assert_eq!(p.data["b"], "from-file\n");
        assert_eq!(p.data["c"], "x=y");
        assert_eq!(p.inline_keys, vec!["a".to_string(), "c".to_string()]);
    }

    #[test]
    fn a_repeated_key_becomes_a_list_as_bao_sends_it() {
        let args: Vec<String> =
            ["options=version=2", "options=team=core", "options=x=1", "type=kv"].map(String::from).into();
        let p = parse_pairs(&args).unwrap();
        assert_eq!(p.data["options"], serde_json::json!(["version=2", "team=core", "x=1"]));
        assert_eq!(p.data["type"], "kv");
    }

    #[test]
    fn bad_pairs_are_usage_errors() {
        assert!(matches!(parse_pairs(&["novalue".to_string()]), Err(CliError::Usage(_))));
        assert!(matches!(parse_pairs(&["=v".to_string()]), Err(CliError::Usage(_))));
        assert!(matches!(plain_pairs(&["x".to_string()], "option"), Err(CliError::Usage(_))));
    }

    #[test]
    fn debug_shows_keys_only() {
        assert_eq!(keys_only(&["a=secret".into(), "-".into(), "b=@f".into()]), vec!["a", "[not a pair]", "b"]);
        let p = parse_pairs(&["k=hunter2".to_string()]).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
        let s = Secret::new("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
