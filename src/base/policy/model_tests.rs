//! Reference-model tests: a slow evaluator written straight from API-CONTRACT §3.3–3.4 (and the
//! byte-exact, normal-form, trailing-slash and protected-root rules of SEC-02..04 and SEC-37)
//! must agree with the compiled `Acl` on random policy sets and random paths, near misses and
//! case variants included.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::Map;

use super::{path_problem, Acl, Capabilities, Capability, Found, Policy};
use crate::base::logical::Operation;

/// One generated `path` block.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) pattern: String,
    pub(crate) caps: Vec<Capability>,
}

// --- the model ----------------------------------------------------------------------------------

/// Format characters (Unicode Cf) the generators use: soft hyphen, zero-width space and joiner,
/// right-to-left override, left-to-right isolate, byte-order mark.
const HIDDEN: [char; 6] = ['\u{ad}', '\u{200b}', '\u{200d}', '\u{202e}', '\u{2066}', '\u{feff}'];

/// The normal form, written from the rule: no leading `/`, no control characters, and apart
/// from one trailing `/` only non-empty segments other than `.` and `..`. Nothing is rewritten.
fn model_normal(p: &str) -> bool {
    if p.starts_with('/') || p.chars().any(|c| c.is_control() || HIDDEN.contains(&c)) {
        return false;
    }
    let body = p.strip_suffix('/').unwrap_or(p);
    body.is_empty() || body.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

fn is_glob(pattern: &str) -> bool {
    pattern.ends_with('*') || pattern.split('/').any(|s| s == "+")
}

/// Does the glob `pattern` match `path`? Each `+` is replaced by the path's own segment at that
/// place, then the result must equal the path (or be a prefix of it, for a trailing `*`).
fn model_match(pattern: &str, path: &str) -> bool {
    let prefix = pattern.ends_with('*');
    let stem = pattern.strip_suffix('*').unwrap_or(pattern);
    let stem_segs: Vec<&str> = stem.split('/').collect();
    let path_segs: Vec<&str> = path.split('/').collect();
    if path_segs.len() < stem_segs.len() {
        return false;
    }
    let filled: Vec<&str> = stem_segs.iter().zip(&path_segs).map(|(s, p)| if *s == "+" { *p } else { *s }).collect();
    let filled = filled.join("/");
    if prefix {
        path.starts_with(&filled)
    } else {
        path == filled
    }
}

/// SEC-04: may this glob reach this path?
fn model_reaches(pattern: &str, path: &str) -> bool {
    let segs: Vec<&str> = path.split('/').collect();
    // The part of the pattern written out in whole segments, ending in `/`.
    let complete = if pattern.ends_with('*') {
        pattern.rfind('/').map_or("", |i| &pattern[..=i]).to_string()
    } else {
        format!("{pattern}/")
    };
    let c: Vec<&str> = complete.split('/').collect();
    if segs[0] == "sys" {
        return complete.starts_with("sys/");
    }
    if segs[0] == "auth" && segs.get(2) == Some(&"role") {
        return c.len() >= 4 && c[0] == "auth" && c[2] == "role";
    }
    true
}

fn first_wildcard(pattern: &str) -> usize {
    let mut offset = 0;
    for seg in pattern.split('/') {
        if seg == "+" {
            return offset;
        }
        offset += seg.len() + 1;
    }
    pattern.len() - 1
}

fn plus_count(pattern: &str) -> usize {
    pattern.split('/').filter(|s| *s == "+").count()
}

/// §3.4 rule 2, compared one rule at a time: does `a` beat `b`?
fn beats(a: &str, b: &str) -> bool {
    let (fa, fb) = (first_wildcard(a), first_wildcard(b));
    if fa != fb {
        return fa > fb; // 1. the earlier first wildcard loses
    }
    let (sa, sb) = (a.ends_with('*'), b.ends_with('*'));
    if sa != sb {
        return !sa; // 2. ending in `*` loses
    }
    let (pa, pb) = (plus_count(a), plus_count(b));
    if pa != pb {
        return pa < pb; // 3. more `+` loses
    }
    if a.len() != b.len() {
        return a.len() > b.len(); // 4. shorter loses
    }
    a > b // 5. lower string loses
}

/// What the model decided for a path: the capabilities, the winning pattern, and how it was found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelDecision {
    pub(crate) caps: Capabilities,
    pub(crate) pattern: Option<String>,
    pub(crate) found: Found,
}

fn model_lookup(rules: &BTreeMap<String, Capabilities>, path: &str) -> Option<(String, Capabilities, Found)> {
    let exact =
        |p: &str| rules.iter().find(|(pat, _)| !is_glob(pat) && pat.as_str() == p).map(|(k, c)| (k.clone(), *c));
    if let Some((k, c)) = exact(path) {
        return Some((k, c, Found::Exact));
    }
    if let Some((k, c)) = path.strip_suffix('/').and_then(exact) {
        return Some((k, c, Found::ExactWithoutSlash));
    }
    let mut best: Option<(&String, Capabilities)> = None;
    for (pat, caps) in rules {
        if is_glob(pat) && model_match(pat, path) && model_reaches(pat, path) {
            best = match best {
                Some((b, bc)) if !beats(pat, b) => Some((b, bc)),
                _ => Some((pat, *caps)),
            };
        }
    }
    best.map(|(k, c)| (k.clone(), c, Found::Pattern))
}

/// The model's decision, with the winning pattern and how it was found.
pub(crate) fn model_decision(rules: &[Rule], raw_path: &str) -> ModelDecision {
    let mut merged: BTreeMap<String, Capabilities> = BTreeMap::new();
    for r in rules {
        let caps: Capabilities = r.caps.iter().copied().collect();
        let slot = merged.entry(r.pattern.clone()).or_insert(Capabilities::empty());
        *slot = slot.union(caps);
    }
    if !model_normal(raw_path) {
        return ModelDecision { caps: Capabilities::empty(), pattern: None, found: Found::NotNormal };
    }
    let path = raw_path;
    if let Some(base) = path.strip_suffix('/').filter(|b| !b.is_empty()) {
        if let Some((k, c, _)) = model_lookup(&merged, base).filter(|(_, c, _)| c.is_denied()) {
            return ModelDecision { caps: c, pattern: Some(k), found: Found::ParentDeny };
        }
    }
    match model_lookup(&merged, path) {
        Some((k, c, found)) => ModelDecision { caps: c, pattern: Some(k), found },
        None => ModelDecision { caps: Capabilities::empty(), pattern: None, found: Found::Nothing },
    }
}

pub(crate) fn model(rules: &[Rule], raw_path: &str) -> Capabilities {
    model_decision(rules, raw_path).caps
}

// --- generators ---------------------------------------------------------------------------------

fn pattern_strategy() -> impl Strategy<Value = String> {
    let first = prop::sample::select(vec!["a", "b", "ab", "sys", "auth", "+"]);
    let rest = prop::collection::vec(prop::sample::select(vec!["a", "b", "ab", "A", "aB", "role", "+"]), 0..4);
    (first, rest, 0..4u8).prop_map(|(f, r, tail)| {
        let mut p = std::iter::once(f).chain(r).collect::<Vec<_>>().join("/");
        match tail {
            1 if !p.ends_with('+') => p.push('*'),
            1 | 2 => p.push_str("/*"),
            3 => p.push('/'),
            _ => {}
        }
        p
    })
}

fn caps_strategy() -> impl Strategy<Value = Vec<Capability>> {
    let grants = prop::sample::subsequence(
        vec![
            Capability::Create,
            Capability::Read,
            Capability::Update,
            Capability::Delete,
            Capability::List,
            Capability::Sudo,
        ],
        0..4,
    );
    (grants, prop::bool::weighted(0.2)).prop_map(|(mut g, deny)| {
        if deny {
            g.push(Capability::Deny);
        }
        g
    })
}

pub(crate) fn rules_strategy() -> impl Strategy<Value = Vec<Rule>> {
    prop::collection::vec(
        (pattern_strategy(), caps_strategy()).prop_map(|(pattern, caps)| Rule { pattern, caps }),
        1..10,
    )
}

pub(crate) fn path_strategy() -> impl Strategy<Value = String> {
    let seg = prop::sample::select(vec![
        "a", "b", "ab", "abc", "ba", "x", "sys", "auth", "role", "A", "AB", "aB", "Sys", ".", "..", "a ", "",
    ]);
    (prop::collection::vec(seg, 0..6), 0..5u8).prop_map(|(segs, tail)| {
        let mut p = segs.join("/");
        match tail {
            1 => p.push('/'),
            2 => p.push_str("//"),
            3 => p.push(' '),
            4 => p.push_str("/ "),
            _ => {}
        }
        p
    })
}

/// Paths close to the patterns: the stem, with `/`, one more character, one more segment,
/// one less character, upper case, a trailing space, a leading `/`, an empty segment.
pub(crate) fn near_misses(rules: &[Rule]) -> Vec<String> {
    let mut out = Vec::new();
    for r in rules {
        let stem = r.pattern.trim_end_matches('*').replace('+', "ab");
        let mut shorter = stem.clone();
        shorter.pop();
        out.extend([
            stem.clone(),
            format!("{stem}/"),
            format!("{stem}b"),
            format!("{stem}/a"),
            format!("{stem}/a/"),
            shorter,
            stem.to_uppercase(),
            stem.to_lowercase(),
            format!("{stem} "),
            format!("/{stem}"),
            format!("{stem}//"),
        ]);
    }
    out
}

/// Renders one policy, as HCL or (when no pattern repeats inside it) JSON.
pub(crate) fn render(rules: &[Rule], as_json: bool) -> String {
    let caps = |r: &Rule| r.caps.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
    let mut seen = std::collections::HashSet::new();
    if as_json && rules.iter().all(|r| seen.insert(r.pattern.clone())) {
        let body: Vec<String> =
            rules.iter().map(|r| format!("\"{}\": {{\"capabilities\": [{}]}}", r.pattern, caps(r))).collect();
        format!("{{\"path\": {{{}}}}}", body.join(", "))
    } else {
        rules.iter().map(|r| format!("path \"{}\" {{ capabilities = [{}] }}\n", r.pattern, caps(r))).collect()
    }
}

pub(crate) fn build(rules: &[Rule], split: usize, as_json: bool) -> Acl {
    let cut = split % (rules.len() + 1);
    let policies: Vec<Arc<Policy>> = [&rules[..cut], &rules[cut..]]
        .iter()
        .enumerate()
        .map(|(i, rs)| Arc::new(Policy::parse(&format!("p{i}"), &render(rs, as_json && i == 0)).unwrap()))
        .collect();
    Acl::new(&policies)
}

pub(crate) const OPS: [(Operation, Capability); 6] = [
    (Operation::Read, Capability::Read),
    (Operation::List, Capability::List),
    (Operation::Create, Capability::Create),
    (Operation::Update, Capability::Update),
    (Operation::Patch, Capability::Patch),
    (Operation::Delete, Capability::Delete),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn compiled_acl_agrees_with_the_model(
        rules in rules_strategy(),
        paths in prop::collection::vec(path_strategy(), 1..8),
        split in 0usize..16,
        as_json in any::<bool>(),
    ) {
        let acl = build(&rules, split, as_json);
        for path in paths.iter().cloned().chain(near_misses(&rules)) {
            let decision = model_decision(&rules, &path);
            let want = decision.caps;
            let got = acl.capabilities(&path);
            prop_assert_eq!(got.names(), want.names(), "path {:?}", path);
            // The trace: the same rule, found the same way, made of the generated rules with its
            // pattern (one source each, their capabilities merging to the rule's).
            let lookup = acl.lookup(&path);
            prop_assert_eq!(lookup.found, decision.found, "path {:?}", path);
            prop_assert_eq!(lookup.rule.map(|r| r.path.clone()), decision.pattern.clone(), "path {:?}", path);
            if let Some(rule) = lookup.rule {
                let from: Vec<&Rule> = rules.iter().filter(|r| r.pattern == rule.path).collect();
                prop_assert_eq!(rule.sources.len(), from.len());
                let merged = rule.sources.iter().fold(Capabilities::empty(), |m, s| m.union(s.capabilities));
                prop_assert_eq!(merged, rule.permissions.capabilities);
            }
            for (op, cap) in OPS {
                let verdict = acl.judge(&path, op, &Map::new());
                let allowed = acl.authorize(&path, op, &Map::new()).is_ok();
                prop_assert_eq!(allowed, want.contains(cap), "{:?} on {:?}", op, path);
                prop_assert_eq!(verdict.outcome.is_ok(), allowed, "{:?} on {:?}", op, path);
                prop_assert_eq!(verdict.lookup.found, decision.found);
            }
        }
    }

    #[test]
    fn sec37_paths_outside_the_normal_form_get_nothing(
        rules in rules_strategy(),
        path in "\\PC{0,24}",
        ascii in "[a-zA-Z/ +*.]{0,16}",
        hidden in prop::sample::select(HIDDEN.iter().copied().chain(['\u{0}', '\t', '\u{7f}']).collect::<Vec<_>>()),
        at in 0usize..16,
    ) {
        let acl = build(&rules, 1, false);
        let cut = ascii.char_indices().map(|(i, _)| i).nth(at).unwrap_or(ascii.len());
        let with_hidden = format!("{}{hidden}{}", &ascii[..cut], &ascii[cut..]);
        prop_assert!(path_problem(&with_hidden).is_some());
        for p in [path.as_str(), ascii.as_str(), with_hidden.as_str()] {
            let normal = path_problem(p).is_none();
            prop_assert_eq!(normal, model_normal(p), "{:?}", p);
            prop_assert_eq!(acl.capabilities(p).names(), model(&rules, p).names(), "{:?}", p);
            for (op, cap) in OPS {
                prop_assert_eq!(acl.authorize(p, op, &Map::new()).is_ok(), normal && model(&rules, p).contains(cap));
            }
        }
    }

    #[test]
    fn parser_never_panics(text in "\\PC{0,64}", braces in "[{}\\[\\]\"=,a-z# \n*/+]{0,64}") {
        let _ = Policy::parse("p", &text);
        let _ = Policy::parse("p", &braces);
    }
}

#[test]
fn the_model_reproduces_the_contract_cases() {
    let r = |p: &str, caps: &[Capability]| Rule { pattern: p.to_string(), caps: caps.to_vec() };
    use Capability::*;
    let a = [r("secret/data/*", &[Read, Update, Create]), r("secret/data/app/*", &[Deny])];
    assert_eq!(model(&a, "secret/data/app/x").names(), ["deny"]);
    assert_eq!(model(&a, "secret/data/app").names(), ["create", "read", "update"]);
    let d = [r("secret/data/svc/+/config", &[Read]), r("secret/data/svc/*", &[Update, Delete])];
    assert_eq!(model(&d, "secret/data/svc/a/config").names(), ["read"]);
    assert_eq!(model(&d, "secret/data/svc/a/b/config").names(), ["delete", "update"]);
    let e =
        [r("secret/data/ex/exact", &[Read]), r("secret/data/ex/*", &[Read, List]), r("secret/data/ex/ex*", &[List])];
    assert_eq!(model(&e, "secret/data/ex/exact").names(), ["read"]);
    assert_eq!(model(&e, "secret/data/ex/exactly").names(), ["list"]);
    let sec03 = [r("secret/*", &[List]), r("secret/private/*", &[Deny])];
    assert_eq!(model(&sec03, "secret/private/").names(), ["deny"]);
}
