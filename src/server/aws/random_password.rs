//! AWS's `GetRandomPassword`: its request options, and passwords made by Coffer's password policy
//! generator (uniform characters from the OS random source, redrawn until each rule holds).
//!
//! The password draws from lowercase, uppercase, digits and AWS's 32 punctuation characters, each
//! unless excluded, plus the space with `IncludeSpace`; `ExcludeCharacters` removes characters
//! from all of them. With `RequireEachIncludedType` (the default) the password holds at least one
//! character of each included class: lowercase, uppercase, digit, punctuation. The space is never
//! required (AWS: "at least one upper and lowercase letter, one number, and one punctuation"). A
//! class that `ExcludeCharacters` empties counts as excluded.
//!
//! Generation is CPU-bound and may take many candidates for short passwords from tiny classes
//! (bounded by the generator's time limit): call [`generate`] off the async workers.

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::core::password_policy::{PasswordPolicy, MAX_CLASSES_LENGTH};

/// Default `PasswordLength`.
pub const DEFAULT_LENGTH: usize = 32;
/// Longest `PasswordLength` (and shortest is 1).
pub const MAX_LENGTH: usize = MAX_CLASSES_LENGTH;
/// Longest `ExcludeCharacters`, in characters.
pub const MAX_EXCLUDE_LEN: usize = 4096;
/// AWS's punctuation characters.
pub const PUNCTUATION: &str = r##"!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"##;

/// The options of a `GetRandomPassword` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub length: usize,
    pub exclude_characters: String,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub exclude_uppercase: bool,
    pub exclude_lowercase: bool,
    pub include_space: bool,
    pub require_each_included_type: bool,
}

impl Default for Options {
    /// AWS's defaults: 32 characters of every class, at least one of each, no space.
    fn default() -> Self {
        Options {
            length: DEFAULT_LENGTH,
            exclude_characters: String::new(),
            exclude_numbers: false,
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            include_space: false,
            require_each_included_type: true,
        }
    }
}

/// Why a request is refused or no password was made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RandomPasswordError {
    /// A request member of the wrong JSON type.
    #[error("Invalid type for parameter {field}: expected {expected}.")]
    WrongType { field: &'static str, expected: &'static str },
    /// `PasswordLength` outside 1 to 4096; `value` is the number as given.
    #[error("1 validation error detected: Value '{value}' at 'passwordLength' failed to satisfy constraint: Member must have value {}", if *.too_long { "less than or equal to 4096" } else { "greater than or equal to 1" })]
    Length { value: String, too_long: bool },
    /// `ExcludeCharacters` longer than 4096 characters.
    #[error("1 validation error detected: Value at 'excludeCharacters' failed to satisfy constraint: Member must have length less than or equal to {MAX_EXCLUDE_LEN}")]
    ExcludeTooLong,
    /// Every class excluded, no space, or `ExcludeCharacters` removed all that was left.
    #[error("No characters are left to make a password from: every character type is excluded.")]
    NoCharacters,
    /// Fewer characters than classes that must each appear.
    #[error("Password length is too short based on the required types.")]
    TooShort,
    /// The generator failed (OS random source, or its time limit).
    #[error("unable to generate a password: {0}")]
    Generate(String),
}

impl RandomPasswordError {
    /// AWS's exception name for this error.
    pub fn aws_code(&self) -> &'static str {
        match self {
            RandomPasswordError::WrongType { .. }
            | RandomPasswordError::NoCharacters
            | RandomPasswordError::TooShort => "InvalidParameterException",
            RandomPasswordError::Length { .. } | RandomPasswordError::ExcludeTooLong => "ValidationException",
            RandomPasswordError::Generate(_) => "InternalServiceError",
        }
    }
}

/// Reads the options from a request body. Absent or `null` members take their defaults; members
/// of the wrong type are refused, naming the member; members not listed here are left to the
/// caller. `PasswordLength` must be an integer (a JSON number with a fraction or exponent is not).
pub fn parse(body: &Map<String, Value>) -> Result<Options, RandomPasswordError> {
    let mut o = Options::default();
    if let Some(v) = present(body, "PasswordLength") {
        o.length = length(v)?;
    }
    if let Some(v) = present(body, "ExcludeCharacters") {
        let Value::String(s) = v else {
            return Err(RandomPasswordError::WrongType { field: "ExcludeCharacters", expected: "a string" });
        };
        o.exclude_characters = s.clone();
    }
    for (field, slot) in [
        ("ExcludeNumbers", &mut o.exclude_numbers),
        ("ExcludePunctuation", &mut o.exclude_punctuation),
        ("ExcludeUppercase", &mut o.exclude_uppercase),
        ("ExcludeLowercase", &mut o.exclude_lowercase),
        ("IncludeSpace", &mut o.include_space),
        ("RequireEachIncludedType", &mut o.require_each_included_type),
    ] {
        match present(body, field) {
            None => {}
            Some(Value::Bool(b)) => *slot = *b,
            Some(_) => return Err(RandomPasswordError::WrongType { field, expected: "a boolean" }),
        }
    }
    check_limits(&o)?;
    Ok(o)
}

fn present<'a>(body: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    body.get(field).filter(|v| !v.is_null())
}

fn length(v: &Value) -> Result<usize, RandomPasswordError> {
    let wrong = RandomPasswordError::WrongType { field: "PasswordLength", expected: "an integer" };
    let Value::Number(n) = v else {
        return Err(wrong);
    };
    let out_of_range = |too_long| RandomPasswordError::Length { value: n.to_string(), too_long };
    if let Some(i) = n.as_i64() {
        return usize::try_from(i).map_err(|_| out_of_range(false));
    }
    // A positive integer beyond i64, or not an integer at all.
    n.as_u64().map_or(Err(wrong), |_| Err(out_of_range(true)))
}

fn check_limits(o: &Options) -> Result<(), RandomPasswordError> {
    if !(1..=MAX_LENGTH).contains(&o.length) {
        return Err(RandomPasswordError::Length { value: o.length.to_string(), too_long: o.length > MAX_LENGTH });
    }
    if o.exclude_characters.chars().count() > MAX_EXCLUDE_LEN {
        return Err(RandomPasswordError::ExcludeTooLong);
    }
    Ok(())
}

/// The generator's policy for `o`: one charset rule per included class (at least one character
/// each when required), and the space as an optional class.
fn policy(o: &Options) -> Result<PasswordPolicy, RandomPasswordError> {
    check_limits(o)?;
    let lower: String = ('a'..='z').collect();
    let upper: String = ('A'..='Z').collect();
    let digits: String = ('0'..='9').collect();
    let required = usize::from(o.require_each_included_type);
    let mut classes: Vec<(Vec<char>, usize)> = Vec::with_capacity(5);
    for (excluded, chars, min) in [
        (o.exclude_lowercase, lower.as_str(), required),
        (o.exclude_uppercase, upper.as_str(), required),
        (o.exclude_numbers, digits.as_str(), required),
        (o.exclude_punctuation, PUNCTUATION, required),
        (!o.include_space, " ", 0),
    ] {
        let class: Vec<char> = chars.chars().filter(|c| !o.exclude_characters.contains(*c)).collect();
        if !excluded && !class.is_empty() {
            classes.push((class, min));
        }
    }
    if classes.is_empty() {
        return Err(RandomPasswordError::NoCharacters);
    }
    if classes.iter().map(|(_, min)| min).sum::<usize>() > o.length {
        return Err(RandomPasswordError::TooShort);
    }
    PasswordPolicy::from_classes(o.length, &classes).map_err(RandomPasswordError::Generate)
}

/// A password for `o`, of exactly `o.length` characters.
pub fn generate(o: &Options) -> Result<Zeroizing<String>, RandomPasswordError> {
    policy(o)?.generate().map_err(RandomPasswordError::Generate)
}

#[cfg(test)]
mod tests;
