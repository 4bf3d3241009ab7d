//! Secret names, secret ARNs and their random suffixes, as the AWS Secrets Manager API uses them.
//!
//! A name is AWS's (1 to 512 characters of `A-Z a-z 0-9 / _ + = . @ -`) and also has one normal
//! form as a KV path, since Coffer stores the secret at the path of its name: no leading or
//! trailing `/`, no `//`, no `.` or `..` segment. An ARN is
//! `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<suffix>`, the suffix being 6
//! letters and digits drawn from a keyed hash of the secret (stable for its life, new when a
//! secret of the same name is made again).
//!
//! A `SecretId` naming a secret by ARN may be complete (`<name>-<suffix>`) or partial (`<name>`
//! alone). A name may itself end in `-` and six letters or digits, so the last part of an ARN can
//! read both ways; [`arn_targets`] gives both readings, the complete one first (AWS's documented
//! preference); the caller takes the complete one only when the stored secret's suffix matches.

/// Longest secret name (AWS's limit).
pub const MAX_NAME_LEN: usize = 512;
/// Longest `SecretId`, a name or an ARN (AWS's limit).
pub const MAX_SECRET_ID_LEN: usize = 2048;
/// Length of the random suffix of a secret's ARN.
pub const SUFFIX_LEN: usize = 6;

/// The partition of the ARNs Coffer makes.
const PARTITION: &str = "aws";
/// Longest region name in an ARN (AWS's `RegionType`).
const MAX_REGION_LEN: usize = 128;
/// The form of a secret ARN, for error messages.
const ARN_FORM: &str = "a secret ARN has the form arn:<partition>:secretsmanager:<region>:<account-id>:secret:<name>";

/// Why a name, ARN or `SecretId` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty, or longer than the API allows; `field` is the request member as AWS names it.
    #[error("1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length {}", bound(*.too_long, *.limit))]
    Length { field: &'static str, too_long: bool, limit: usize },
    /// A character outside AWS's name charset.
    #[error(
        "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!"
    )]
    Charset,
    /// Not the normal form of a KV path.
    #[error("Invalid name. {0}")]
    NotNormal(&'static str),
    /// A `SecretId` starting with `arn:` that is not a secret ARN.
    #[error("Invalid ARN: {0}.")]
    Arn(String),
}

/// The constraint a length error names, in AWS's words.
fn bound(too_long: bool, limit: usize) -> String {
    if too_long {
        format!("less than or equal to {limit}")
    } else {
        format!("greater than or equal to {limit}")
    }
}

impl NameError {
    /// AWS's exception name for this error.
    pub fn aws_code(&self) -> &'static str {
        match self {
            NameError::Length { .. } => "ValidationException",
            NameError::Charset | NameError::NotNormal(_) | NameError::Arn(_) => "InvalidParameterException",
        }
    }
}

/// A secret's `SecretId`: its name, or an ARN (complete or partial).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretId {
    Name(String),
    /// `name_and_suffix` is the part after `secret:`; see [`arn_targets`] for what it may name.
    Arn {
        partition: String,
        region: String,
        account: String,
        name_and_suffix: String,
    },
}

/// Checks a secret name: AWS's length and charset, then the KV path normal form.
pub fn check_name(name: &str) -> Result<(), NameError> {
    check_name_as(name, "name", MAX_NAME_LEN)
}

fn check_name_as(name: &str, field: &'static str, max: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Length { field, too_long: false, limit: 1 });
    }
    if name.len() > max {
        return Err(NameError::Length { field, too_long: true, limit: max });
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b)) {
        return Err(NameError::Charset);
    }
    if name.starts_with('/') {
        return Err(NameError::NotNormal("A name can't start with '/'."));
    }
    if name.ends_with('/') {
        return Err(NameError::NotNormal("A name can't end with '/'."));
    }
    if name.contains("//") {
        return Err(NameError::NotNormal("A name can't contain '//'."));
    }
    if name.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(NameError::NotNormal("A name can't have '.' or '..' as a path segment."));
    }
    Ok(())
}

/// The ARN of the secret `name` with random suffix `suffix`, in partition `aws`.
pub fn format_arn(region: &str, account: &str, name: &str, suffix: &str) -> String {
    format!("arn:{PARTITION}:secretsmanager:{region}:{account}:secret:{name}-{suffix}")
}

/// Reads a `SecretId`: an ARN when it starts with `arn:` (which must then be a well-formed secret
/// ARN, in any partition), otherwise a name (checked with [`check_name`]).
pub fn parse_secret_id(id: &str) -> Result<SecretId, NameError> {
    if id.is_empty() {
        return Err(NameError::Length { field: "secretId", too_long: false, limit: 1 });
    }
    if id.len() > MAX_SECRET_ID_LEN {
        return Err(NameError::Length { field: "secretId", too_long: true, limit: MAX_SECRET_ID_LEN });
    }
    let Some(rest) = id.strip_prefix("arn:") else {
        check_name(id)?;
        return Ok(SecretId::Name(id.to_string()));
    };
    let bad = |why: &str| NameError::Arn(format!("{why}; {ARN_FORM}"));
    let parts: Vec<&str> = rest.splitn(6, ':').collect();
    let [partition, service, region, account, kind, name_and_suffix] = parts.as_slice() else {
        return Err(bad("too few parts"));
    };
    if !valid_partition(partition) {
        return Err(bad("the partition is not valid"));
    }
    if *service != "secretsmanager" {
        return Err(bad("the service is not secretsmanager"));
    }
    if !valid_region(region) {
        return Err(bad("the region is not valid"));
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the account ID is not 12 digits"));
    }
    if *kind != "secret" {
        return Err(bad("the resource type is not secret"));
    }
    // A complete ARN's last part is a name, a hyphen and the suffix; a partial one's is a name.
    check_name_as(name_and_suffix, "secretId", MAX_NAME_LEN + 1 + SUFFIX_LEN)?;
    Ok(SecretId::Arn {
        partition: partition.to_string(),
        region: region.to_string(),
        account: account.to_string(),
        name_and_suffix: name_and_suffix.to_string(),
    })
}

/// `aws` or `aws-` followed by lowercase words (`aws-cn`, `aws-us-gov`, `aws-iso-b`, ...).
fn valid_partition(p: &str) -> bool {
    p == PARTITION
        || p.strip_prefix("aws-").is_some_and(|rest| {
            rest.split('-').all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        })
}

/// AWS's `RegionType`: `([a-z]+-)+[0-9]+`, at most 128 characters.
fn valid_region(r: &str) -> bool {
    let Some((words, number)) = r.rsplit_once('-') else {
        return false;
    };
    r.len() <= MAX_REGION_LEN
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && words.split('-').all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

/// What the last part of an ARN may name, in the order to look the secrets up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArnTargets<'a> {
    /// Read as complete: `(name, suffix)`, when the part ends in `-` and six letters or digits
    /// after a valid name.
    pub complete: Option<(&'a str, &'a str)>,
    /// Read as partial: the whole part, when it is a valid name.
    pub partial: Option<&'a str>,
}

/// The secrets the last part of an ARN may name. Look up `complete` first and take it only if the
/// stored suffix is the one given; otherwise look up `partial` by name. So a name that ends like a
/// suffix still works as a partial ARN unless another secret is named by the complete reading.
pub fn arn_targets(name_and_suffix: &str) -> ArnTargets<'_> {
    let complete = name_and_suffix.rsplit_once('-').filter(|(name, suffix)| {
        suffix.len() == SUFFIX_LEN && suffix.bytes().all(|b| b.is_ascii_alphanumeric()) && check_name(name).is_ok()
    });
    let partial = Some(name_and_suffix).filter(|n| check_name(n).is_ok());
    ArnTargets { complete, partial }
}

/// The ARN suffix drawn from a keyed hash of the secret: [`SUFFIX_LEN`] characters of
/// `A-Z a-z 0-9`, each from one hash byte below 248 (four times 62, so every character is as
/// likely as any other); the rare hash with too few such bytes falls back to the remainder.
pub fn suffix_from(hash: &[u8; 32]) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let pick = |b: u8| char::from(ALPHABET.get(usize::from(b) % ALPHABET.len()).copied().unwrap_or(b'A'));
    let mut out: String = hash.iter().filter(|b| **b < 248).take(SUFFIX_LEN).map(|b| pick(*b)).collect();
    for b in hash.iter().skip(out.len()) {
        if out.len() >= SUFFIX_LEN {
            break;
        }
        out.push(pick(*b));
    }
    out
}

#[cfg(test)]
mod tests;
