//! Password policies (Vault's `sys/policies/password`): the parsed policy, password generation,
//! the default policy for database credentials, and loading named policies from storage.
//!
//! A policy is HCL (or base64 of it) with a `length` and `rule "charset"` blocks. Passwords draw
//! every character uniformly from the union of the rule charsets and are redrawn whole until each
//! rule's `min-chars` holds, as Vault does; that keeps them uniform over all passwords the policy
//! allows. Policies are not secret and are stored in plain text; passwords are.

mod generate;
mod parse;

use std::borrow::Cow;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::base::error::ApiError;
use crate::core::Core;

/// Entry kind of stored password policies.
pub(crate) const KIND: &str = "password_policy";

/// Shortest password a policy may ask for.
pub const MIN_LENGTH: usize = 4;
/// Longest password a policy may ask for.
pub const MAX_LENGTH: usize = 100;
/// Longest password [`PasswordPolicy::from_classes`] makes (AWS's `GetRandomPassword` limit).
pub(crate) const MAX_CLASSES_LENGTH: usize = 4096;
/// Most distinct characters a policy may draw from.
pub const MAX_CHARSET: usize = 256;

/// One `rule "charset"`: at least `min_chars` characters of the password come from `charset`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CharsetRule {
    /// Sorted, without duplicates.
    charset: Vec<char>,
    min_chars: usize,
}

impl CharsetRule {
    /// The rule for `chars` (sorted and deduplicated here); an empty charset is refused.
    fn new(chars: impl Iterator<Item = char>, min_chars: usize) -> Result<CharsetRule, String> {
        let mut charset: Vec<char> = chars.collect();
        charset.sort_unstable();
        charset.dedup();
        if charset.is_empty() {
            return Err("rule \"charset\": charset is empty".to_string());
        }
        Ok(CharsetRule { charset, min_chars })
    }

    fn passes(&self, candidate: &[char]) -> bool {
        self.min_chars == 0
            || candidate.iter().filter(|c| self.charset.binary_search(c).is_ok()).take(self.min_chars).count()
                >= self.min_chars
    }
}

/// A parsed, valid password policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    length: usize,
    rules: Vec<CharsetRule>,
    /// The union of the rule charsets, sorted, without duplicates: what characters are drawn from.
    charset: Vec<char>,
}

/// What is stored per policy (Vault's `passwordPolicyConfig`).
#[derive(Serialize, Deserialize)]
struct Stored {
    policy: String,
}

impl PasswordPolicy {
    /// Parses policy HCL (or its JSON form, or either base64-encoded) and checks that it can be
    /// satisfied. Errors are plain messages without a prefix.
    pub fn parse(text: &str) -> Result<PasswordPolicy, String> {
        let text = policy_text(text);
        let raw = parse::parse(&text)?;
        let length = raw.length.ok_or("missing length")?;
        let length = usize::try_from(length).unwrap_or(0);
        Self::build(length, raw.rules)
    }

    /// Vault's default for database credentials: 20 characters of `a-z A-Z 0-9 -`, with at least
    /// one of each class.
    pub fn default_policy() -> PasswordPolicy {
        let class = |s: &str| CharsetRule { charset: s.chars().collect(), min_chars: 1 };
        let rules = vec![
            class("abcdefghijklmnopqrstuvwxyz"),
            class("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            class("0123456789"),
            class("-"),
        ];
        let charset = union(&rules);
        PasswordPolicy { length: 20, rules, charset }
    }

    /// Generates a password. Fails only if the OS random source fails, or if the rules are so
    /// restrictive that no candidate passed within the attempt and time bounds.
    pub fn generate(&self) -> Result<Zeroizing<String>, String> {
        generate::generate(self, std::time::Instant::now() + generate::TIME_LIMIT)
    }

    /// Generates `SAMPLES` passwords within one time limit and fails if any could not be made, as
    /// Vault does before storing a policy: rules that are possible but too unlikely are refused.
    pub(crate) fn check_generates(&self) -> Result<(), String> {
        const SAMPLES: usize = 10;
        let deadline = std::time::Instant::now() + generate::TIME_LIMIT;
        let mut failed = 0;
        for _ in 0..SAMPLES {
            if generate::generate(self, deadline).is_err() {
                failed += 1;
            }
        }
        match failed {
            0 => Ok(()),
            n if n == SAMPLES => Err(format!(
                "unable to generate password from provided policy in {}s: are the rules impossible?",
                generate::TIME_LIMIT.as_secs()
            )),
            n => Err(format!(
                "failed to generate passwords {n} times out of {SAMPLES} attempts in {}s - is the policy too restrictive?",
                generate::TIME_LIMIT.as_secs()
            )),
        }
    }

    /// The length of the passwords this policy generates.
    pub fn length(&self) -> usize {
        self.length
    }

    fn build(length: usize, rules: Vec<(String, i64)>) -> Result<PasswordPolicy, String> {
        if !(MIN_LENGTH..=MAX_LENGTH).contains(&length) {
            return Err(format!("passwords must be between {MIN_LENGTH} and {MAX_LENGTH} characters"));
        }
        let mut out = Vec::with_capacity(rules.len());
        for (charset, min_chars) in rules {
            let rule = CharsetRule::new(charset.chars(), 0)?;
            let min_chars =
                usize::try_from(min_chars).map_err(|_| "rule \"charset\": min-chars must not be negative")?;
            out.push(CharsetRule { min_chars, ..rule });
        }
        Self::assemble(length, out)
    }

    /// A policy made from character classes instead of policy text, for AWS's `GetRandomPassword`:
    /// `length` may be 1 to [`MAX_CLASSES_LENGTH`] (outside the limits of stored policies), and each
    /// `(class, min_chars)` is a charset rule. The other checks are those of parsed policies.
    pub(crate) fn from_classes(length: usize, classes: &[(Vec<char>, usize)]) -> Result<PasswordPolicy, String> {
        if !(1..=MAX_CLASSES_LENGTH).contains(&length) {
            return Err(format!("passwords must be between 1 and {MAX_CLASSES_LENGTH} characters"));
        }
        let rules = classes
            .iter()
            .map(|(class, min_chars)| CharsetRule::new(class.iter().copied(), *min_chars))
            .collect::<Result<Vec<_>, _>>()?;
        Self::assemble(length, rules)
    }

    /// Checks the rules together (charset size and characters, minimum counts against the length).
    fn assemble(length: usize, out: Vec<CharsetRule>) -> Result<PasswordPolicy, String> {
        let charset = union(&out);
        if charset.is_empty() {
            return Err("no charset specified".to_string());
        }
        if charset.len() > MAX_CHARSET {
            return Err(format!("charset is too long: limited to {MAX_CHARSET} characters"));
        }
        if charset.iter().any(|c| !printable(*c)) {
            return Err("non-printable character in charset".to_string());
        }
        let min_len = out.iter().fold(0usize, |acc, r| acc.saturating_add(r.min_chars));
        if min_len > length {
            return Err(format!("specified rules require at least {min_len} characters but {length} is specified"));
        }
        Ok(PasswordPolicy { length, rules: out, charset })
    }
}

fn union(rules: &[CharsetRule]) -> Vec<char> {
    let mut all: Vec<char> = rules.iter().flat_map(|r| r.charset.iter().copied()).collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Characters a password may hold: no control characters, no whitespace but the plain space, no
/// invisible format characters (roughly Go's `unicode.IsPrint`, which Vault uses).
fn printable(c: char) -> bool {
    let invisible = matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}')
        || matches!(c, '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}');
    !c.is_control() && (c == ' ' || !c.is_whitespace()) && !invisible
}

/// The policy text to parse and store: the base64 decoding of `raw` when it is valid base64 of
/// UTF-8 (line breaks ignored, as Go's decoder does), otherwise `raw` itself.
pub(crate) fn policy_text(raw: &str) -> Cow<'_, str> {
    let compact: String = raw.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    if compact.is_empty() {
        return Cow::Borrowed(raw);
    }
    match base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Cow::Owned(s),
            Err(_) => Cow::Borrowed(raw),
        },
        Err(_) => Cow::Borrowed(raw),
    }
}

/// Whether `name` can name a stored policy: Vault's name pattern, case-sensitive (`names`).
pub(crate) fn valid_name(name: &str) -> bool {
    crate::base::names::problem(name, crate::base::names::Case::Exact).is_none()
}

/// The stored text of a named policy (None if missing).
pub(crate) async fn load_text(core: &Core, name: &str) -> Result<Option<String>, ApiError> {
    if !valid_name(name) {
        return Ok(None);
    }
    let Some(raw) = core.store.entry_get(KIND, name).await.map_err(ApiError::from)? else {
        return Ok(None);
    };
    let stored: Stored = crate::base::stored::parse("password policy", &raw)?;
    Ok(Some(stored.policy))
}

/// Stores a policy's text (already checked with [`PasswordPolicy::parse`]).
pub(crate) async fn store_text(core: &Core, name: &str, text: &str) -> Result<(), ApiError> {
    let value = serde_json::to_string(&Stored { policy: text.to_string() }).map_err(|e| ApiError::internal(&e))?;
    core.store.entry_put(KIND, name, &value).await.map_err(ApiError::from)
}

/// Loads a named policy from storage (None if missing).
pub async fn load(core: &Core, name: &str) -> Result<Option<PasswordPolicy>, ApiError> {
    let Some(text) = load_text(core, name).await? else {
        return Ok(None);
    };
    PasswordPolicy::parse(&text)
        .map(Some)
        .map_err(|e| ApiError::internal(&format!("stored password policy {name:?} failed to parse: {e}")))
}

/// Generates off the async workers: a restrictive policy may take many candidates.
pub(crate) async fn generate_blocking(policy: PasswordPolicy) -> Result<Zeroizing<String>, ApiError> {
    tokio::task::spawn_blocking(move || policy.generate()).await.map_err(|e| ApiError::internal(&e))?.map_err(|e| {
        ApiError::new(http::StatusCode::INTERNAL_SERVER_ERROR, format!("failed to generate password: {e}"))
    })
}

/// Generates with the named policy, or the default policy when name is empty. Unknown name → 400
/// `password policy "<name>" not found`.
pub async fn generate_named(core: &Core, name: &str) -> Result<Zeroizing<String>, ApiError> {
    let policy = if name.is_empty() {
        PasswordPolicy::default_policy()
    } else {
        load(core, name).await?.ok_or_else(|| ApiError::bad_request(format!("password policy {name:?} not found")))?
    };
    generate_blocking(policy).await
}

#[cfg(test)]
mod tests;
