//! The layer rule, read from the source: each file under `src/` belongs to the layer of its first
//! folder, and may import (`crate::…`, `super::…`) only the layers before its own. Engines never
//! import each other, nor do auth methods (they share `auth::common`), and framework crates stay in
//! their layer. See docs/architecture.md.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, in order: a layer may import only those before it. `engines` and `auth` share a rank
/// and may not import each other.
const LAYERS: &[(&str, u8)] =
    &[("base", 0), ("crypto", 1), ("store", 2), ("core", 3), ("engines", 4), ("auth", 4), ("server", 5), ("cli", 6)];

/// Framework crates and the places they may be used (a layer, or a layer's unit).
const FRAMEWORKS: &[(&str, &[&str])] = &[
    ("axum", &["server"]),
    ("hyper", &["server"]),
    ("hyper_util", &["server"]),
    ("tokio_rustls", &["server"]),
    ("tower", &["server"]),
    ("tower_http", &["server"]),
    ("sqlx", &["store", "engines/database"]),
    ("clap", &["cli"]),
];

/// Known violations, as `file -> target`, while the move to this shape is under way. The list may
/// only shrink: an entry that no longer occurs fails the test, so it must be removed with its fix.
const KNOWN: &[&str] = &[];

fn rank(layer: &str) -> Option<u8> {
    LAYERS.iter().find(|(l, _)| *l == layer).map(|(_, r)| *r)
}

/// The module path of a source file: `src/engines/kv/data.rs` is `engines::kv::data`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" {
            parts.push(stem.to_string());
        }
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments (line comments, doc comments, block comments) and string literals,
/// so that only code is read.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'r' && (b.get(i + 1) == Some(&b'#') || b.get(i + 1) == Some(&b'"')) && !ident_byte(b, i) {
            // A raw string: r"…", r#"…"#, r##"…"##.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(b[i] as char);
                i += 1;
                continue;
            }
            j += 1;
            let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
            while j < b.len() && !b[j..].starts_with(&close) {
                j += 1;
            }
            i = j + close.len();
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // A char literal such as '"' or '{'.
            i += 3;
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            i += 2;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
        } else {
            let ch = src[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// `code` with whitespace around `::` removed (`crate :: core` is `crate::core`).
fn tight(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            let mut run = String::from(c);
            while let Some(n) = chars.peek().copied().filter(|n| n.is_whitespace()) {
                run.push(n);
                chars.next();
            }
            let next_is_sep = chars.clone().take(2).collect::<String>() == "::";
            if !(out.ends_with("::") || next_is_sep) {
                out.push_str(&run);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn ident_byte(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// Every path that starts at `root` (`crate` or `super`) in `code`, with `{…}` groups expanded:
/// `crate::{a::b, c}` gives `crate::a::b` and `crate::c`.
fn paths(code: &str) -> Vec<String> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let rest = &code[i..];
        let starts = (rest.starts_with("crate::") || rest.starts_with("super::")) && !ident_byte(b, i);
        if !starts || (i >= 2 && &code[i - 2..i] == "::") {
            i += 1;
            continue;
        }
        let end = path_end(code, i);
        let before = out.len();
        expand(&code[i..end], &mut out);
        // `use crate::x as y;`: keep the alias, so that later `y::…` paths are checked too.
        let after = code[end..].trim_start();
        if let (Some(alias), true) = (after.strip_prefix("as "), out.len() == before + 1) {
            let alias: String = alias.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if let Some(last) = out.last_mut() {
                *last = format!("{last} as {alias}");
            }
        }
        i = end;
    }
    out
}

/// The end of the path that starts at `i` (after its group, if it has one).
fn path_end(code: &str, i: usize) -> usize {
    let b = code.as_bytes();
    let mut j = i;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b':') {
        j += 1;
    }
    if j < b.len() && b[j] == b'{' && code[..j].ends_with("::") {
        let mut depth = 0;
        while j < b.len() {
            match b[j] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return j + 1;
                    }
                }
                _ => {}
            }
            j += 1;
        }
    }
    j
}

fn expand(path: &str, out: &mut Vec<String>) {
    match path.find('{') {
        None => out.push(path.trim_end_matches(':').to_string()),
        Some(open) => {
            let prefix = &path[..open];
            let inner = &path[open + 1..path.len().saturating_sub(1)];
            let mut depth = 0;
            let mut start = 0;
            let mut items = Vec::new();
            for (k, ch) in inner.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&inner[start..k]);
                        start = k + 1;
                    }
                    _ => {}
                }
            }
            items.push(&inner[start..]);
            for item in items {
                let (item, alias) = match item.split_once(" as ") {
                    Some((i, a)) => (i.trim(), Some(a.trim())),
                    None => (item.trim(), None),
                };
                let as_alias = alias.map(|a| format!(" as {a}")).unwrap_or_default();
                if item.is_empty() || item == "self" || item == "*" {
                    out.push(format!("{}{as_alias}", prefix.trim_end_matches(':')));
                } else if alias.is_some() && !item.contains('{') {
                    out.push(format!("{prefix}{item}{as_alias}"));
                } else {
                    expand(&format!("{prefix}{item}"), out);
                }
            }
        }
    }
}

/// Resolves `crate::…` or `super::…` (seen in module `here`) to an absolute module path.
fn resolve(path: &str, here: &[String]) -> Vec<String> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = Vec::new();
    if segs.first() == Some(&"crate") {
        segs.remove(0);
    } else {
        base = here.to_vec();
        while segs.first() == Some(&"super") {
            segs.remove(0);
            base.pop();
        }
    }
    base.extend(segs.into_iter().filter(|s| *s != "self").map(String::from));
    base
}

/// The unit of a layer a module path falls in: `engines/kv` for engines and auth, the layer for the
/// others.
fn unit(path: &[String]) -> String {
    match path.first().map(String::as_str) {
        Some(l @ ("engines" | "auth")) => match path.get(1) {
            Some(u) => format!("{l}/{u}"),
            None => l.to_string(),
        },
        Some(l) => l.to_string(),
        None => String::new(),
    }
}

/// Every violation of the layer rule in `src/`, as `file -> target`.
fn violations(src: &Path) -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let exists = |m: &[String]| {
        let p = m.iter().fold(src.to_path_buf(), |p, s| p.join(s));
        p.is_dir() || p.with_extension("rs").is_file()
    };
    let mut found = BTreeSet::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap().to_path_buf();
        let here = module_of(&rel);
        let Some(layer) = here.first().cloned() else { continue };
        let code = tight(&code_only(&std::fs::read_to_string(&file).unwrap()));
        let name = format!("src/{}", rel.display());
        if here.len() == 1 && (layer == "lib" || layer == "main") {
            // The crate root only declares the layers: a re-export there would hide an import.
            if layer == "lib" && code.contains("use ") {
                found.insert(format!("{name} -> re-export"));
            }
            continue;
        }
        let own_rank = rank(&layer).unwrap_or_else(|| panic!("{} is in no layer", rel.display()));
        let own_unit = unit(&here);
        // Test modules (at the end of a file) may use a framework as a dev-dependency would.
        let test_module = code
            .match_indices("#[cfg(test)]")
            .map(|(i, m)| i + m.len())
            .find(|&end| code.get(end..).is_some_and(|rest| rest.trim_start().starts_with("mod ")))
            .map(|end| end - "#[cfg(test)]".len());
        let shipped = code.get(..test_module.unwrap_or(code.len())).unwrap_or(&code);
        // Engines and auth methods get a `Host`, never the core: only the core's own faces (`sys/`,
        // `auth/token/`) reach the whole core, and only the server starts background work.
        let core_face = own_unit == "engines/sys" || own_unit == "auth/token";
        if own_rank == 4 && !core_face {
            let names_core = paths(shipped).iter().any(|p| {
                let p = p.split_once(" as ").map_or(p.as_str(), |(p, _)| p);
                resolve(p, &here).starts_with(&["core".to_string(), "Core".to_string()])
            });
            if names_core || shipped.contains("whole_core(") || shipped.contains("Background::new(") {
                found.insert(format!("{name} -> the whole core"));
            }
        }
        let mut check = |target: &[String], in_tests: bool| {
            // Only a module that exists counts (a `super::` in an inline test module resolves one
            // level too high; its name then matches no file and is skipped).
            let module: Vec<String> =
                (1..=target.len().min(2)).rev().map(|n| target[..n].to_vec()).find(|m| exists(m)).unwrap_or_default();
            let Some(to_layer) = module.first() else { return };
            let Some(to_rank) = rank(to_layer) else { return };
            let to_unit = unit(&module);
            // An item taken from the `engines` or `auth` folder module itself would be a re-export
            // of one unit to another.
            let through_root = module.len() == 1 && target.len() > 1 && (to_unit == "engines" || to_unit == "auth");
            let sideways = own_rank == 4
                && to_rank == 4
                && to_unit != own_unit
                && (to_layer != &layer || module.len() > 1 || (through_root && !in_tests))
                && !(to_unit == "auth/common" && layer == "auth");
            if to_rank > own_rank || sideways {
                found.insert(format!("{name} -> {}", module.join("::")));
            }
        };
        let mut aliases: Vec<(String, Vec<String>)> = Vec::new();
        for p in paths(&code) {
            let (p, alias) = match p.split_once(" as ") {
                Some((p, a)) => (p.to_string(), Some(a.to_string())),
                None => (p, None),
            };
            let target = resolve(&p, &here);
            let in_tests = code.find(&p).is_some_and(|i| i >= shipped.len());
            check(&target, in_tests);
            // A module brought into scope under a name (`use crate::engines as e;`,
            // `use crate::engines;`): its later `name::…` paths are checked as well.
            let bound = alias.or_else(|| target.last().cloned()).filter(|n| n != "_" && n != "self");
            if let Some(n) =
                bound.filter(|_| target.len() <= 2 && rank(target.first().map_or("", |s| s.as_str())).is_some())
            {
                aliases.push((n, target));
            }
        }
        for (alias, target) in &aliases {
            let prefix = format!("{alias}::");
            for (i, _) in code.match_indices(&prefix) {
                if ident_byte(code.as_bytes(), i) || code.get(..i).is_some_and(|b| b.ends_with("::")) {
                    continue;
                }
                let rest: String =
                    code[i + prefix.len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                let mut full = target.clone();
                full.push(rest);
                check(&full, i >= shipped.len());
            }
        }
        for (krate, allowed) in FRAMEWORKS {
            let used = shipped.match_indices(&format!("{krate}::")).any(|(i, _)| !ident_byte(shipped.as_bytes(), i))
                || shipped.contains(&format!("use {krate};"))
                || shipped.contains(&format!("use {krate} as "))
                || shipped.contains(&format!("extern crate {krate}"));
            let ok = allowed.iter().any(|a| own_unit == *a || layer == *a);
            if used && !ok {
                found.insert(format!("{name} -> {krate} (crate)"));
            }
        }
    }
    found
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_import_follows_the_layer_order_and_frameworks_stay_in_their_layer() {
    let found = violations(&src_dir());
    let known: BTreeSet<String> = KNOWN.iter().map(|s| s.to_string()).collect();
    let new: Vec<&String> = found.difference(&known).collect();
    let gone: Vec<&String> = known.difference(&found).collect();
    assert!(
        new.is_empty(),
        "imports against the layer order (docs/architecture.md):\n  {}",
        new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  ")
    );
    assert!(
        gone.is_empty(),
        "fixed, so remove them from KNOWN in tests/it/architecture.rs:\n  {}",
        gone.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  ")
    );
}

#[test]
fn the_checker_sees_planted_violations() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    let write = |rel: &str, body: &str| {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    };
    write("lib.rs", "pub mod base; pub mod crypto; pub mod store; pub mod core; pub mod engines; pub mod auth;\npub use engines::kv as kvre;");
    write("base/mod.rs", "pub mod error;\nuse axum as ax;");
    write(
        "base/error.rs",
        "use crate::core::Core; // crate::engines::kv in a comment\nconst S: &str = \"crate::auth::jwt\";",
    );
    write("crypto/mod.rs", "macro_rules! m { () => { crate :: store :: Row } }");
    write("store/mod.rs", "");
    write(
        "core/mod.rs",
        "pub mod feed;\nuse crate::{base::error, engines::kv::Kv};\nfn f() { let _ = axum::Router::new(); }",
    );
    write("core/feed.rs", "#[cfg(test)]\nfn t() {}\nfn g() { let _ = tower::ServiceBuilder::new(); }");
    write("engines/mod.rs", "pub mod kv; pub mod database; pub mod sys;\npub use database::Db;");
    write("engines/kv.rs", "use super::database::X;\nuse crate::engines as e;\nfn f() { e::database::Y; }\n#[cfg(test)] mod tests { use super::*; }");
    write("engines/database.rs", "use crate::base::error::ApiError; use sqlx::PgPool;");
    write("engines/sys.rs", "use crate::engines::Db;\nuse crate::auth::Login;");
    write("auth/mod.rs", "pub mod jwt; pub mod common; pub mod userpass; pub mod token;");
    write("auth/common.rs", "");
    write("auth/jwt.rs", "use crate::auth::{common::Login, userpass::hash};\nfn h(c: Call) { c.host.whole_core(); }");
    write("auth/userpass.rs", "use crate::engines;\nfn f() { engines::kv::Y; }\nfn g(c: &crate::core::Core) {}");
    write("auth/token.rs", "fn g(c: &crate::core::Core) { c.host.whole_core(); }");
    let found: Vec<String> = violations(src).into_iter().collect();
    assert_eq!(
        found,
        [
            "src/auth/jwt.rs -> auth::userpass",
            "src/auth/jwt.rs -> the whole core",
            "src/auth/userpass.rs -> engines",
            "src/auth/userpass.rs -> engines::kv",
            "src/auth/userpass.rs -> the whole core",
            "src/base/error.rs -> core",
            "src/base/mod.rs -> axum (crate)",
            "src/core/feed.rs -> tower (crate)",
            "src/core/mod.rs -> axum (crate)",
            "src/core/mod.rs -> engines::kv",
            "src/crypto/mod.rs -> store",
            "src/engines/kv.rs -> engines::database",
            "src/engines/sys.rs -> auth",
            "src/engines/sys.rs -> engines",
            "src/lib.rs -> re-export",
        ]
    );
}
