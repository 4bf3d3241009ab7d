//! A KV secret as the AWS API sees it: resolving a `SecretId`, its ARN suffix and version ids
//! (derived from the secret with the barrier-held hash key, so stable and not guessable), its
//! AWS-only attributes (description, KMS key id, tags, resource policy, scheduled deletion), and
//! the mapping of staging labels.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::context::Ctx;
use super::names::{self, SecretId};
use super::protocol::AwsError;
use crate::store::{KvMetadataRow, KvVersionRow};

/// Entry kind of the AWS-only attributes (name `<mount id>/<path>`).
pub const ATTRS_KIND: &str = "aws-secret";
/// Entry kind of scheduled deletions (name `<mount id>/<path>`, value the Unix time).
pub const DELETION_KIND: &str = "aws-deletion";

/// AWS's labels and the KV stages they are.
const LABELS: [(&str, &str); 3] = [("AWSCURRENT", "current"), ("AWSPENDING", "pending"), ("AWSPREVIOUS", "previous")];

/// The KV stage of an AWS label; the KV names themselves are refused through AWS, so that each
/// label has one spelling.
pub fn stage_of(label: &str) -> Result<String, AwsError> {
    if let Some((_, kv)) = LABELS.iter().find(|(aws, _)| *aws == label) {
        return Ok((*kv).to_string());
    }
    if LABELS.iter().any(|(_, kv)| *kv == label) {
        return Err(AwsError::invalid_parameter(format!(
            "The staging label {label} is reserved: use AWSCURRENT, AWSPENDING or AWSPREVIOUS."
        )));
    }
    if label.is_empty() || label.len() > 256 {
        return Err(AwsError::invalid_parameter("A staging label must be 1 to 256 characters."));
    }
    Ok(label.to_string())
}

/// The AWS label of a KV stage.
pub fn label_of(stage: &str) -> String {
    LABELS.iter().find(|(_, kv)| *kv == stage).map_or_else(|| stage.to_string(), |(aws, _)| (*aws).to_string())
}

/// The AWS-only attributes of one secret.
#[derive(Serialize, Deserialize, Default, Clone)]
pub struct Attrs {
    /// The KV secret's `created_time` these belong to (a secret made again does not inherit them).
    pub created: String,
    /// `Description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `KmsKeyId`, kept and shown (Coffer's barrier encrypts whatever it says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// `Tags`, in the order given.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// The resource policy document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Unix time at which a scheduled deletion destroys the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<i64>,
}

/// A resolved secret: its name (KV path), metadata and AWS-only attributes.
pub struct Found {
    /// The name (KV path in the mount).
    pub name: String,
    /// The KV metadata.
    pub meta: KvMetadataRow,
    /// The AWS-only attributes (defaults when none).
    pub attrs: Attrs,
}

impl Ctx<'_> {
    fn entry_name(&self, name: &str) -> String {
        format!("{}/{name}", self.mount.row.id)
    }

    /// A keyed hash of `parts` under a domain `tag`, or 503 while sealed.
    fn derive(&self, tag: &str, parts: &[&str]) -> Result<[u8; 32], AwsError> {
        let mut msg = Vec::new();
        for p in std::iter::once(tag).chain(parts.iter().copied()) {
            msg.extend_from_slice(&(p.len() as u64).to_be_bytes());
            msg.extend_from_slice(p.as_bytes());
        }
        self.host().keyed_hash(&msg).ok_or_else(AwsError::sealed)
    }

    /// The 6-character ARN suffix of the secret `name` created at `created`.
    pub fn suffix(&self, name: &str, created: &str) -> Result<String, AwsError> {
        Ok(names::suffix_from(&self.derive("aws-arn-suffix", &[&self.mount.row.id, name, created])?))
    }

    /// The secret's ARN.
    pub fn arn(&self, name: &str, meta: &KvMetadataRow) -> Result<String, AwsError> {
        Ok(names::format_arn(&self.region, &self.account, name, &self.suffix(name, &meta.created_time)?))
    }

    /// The version id of a version without a request token: a UUID-shaped keyed hash.
    fn derived_version_id(&self, name: &str, meta: &KvMetadataRow, version: i64) -> Result<String, AwsError> {
        let h = self.derive("aws-version-id", &[&self.mount.row.id, name, &meta.created_time, &version.to_string()])?;
        let mut b = [0u8; 16];
        b.copy_from_slice(h.get(..16).unwrap_or(&[0; 16]));
        Ok(uuid::Builder::from_random_bytes(b).into_uuid().to_string())
    }

    /// Resolves a `SecretId` (a name, a full ARN or a partial ARN) to a secret that exists.
    pub async fn find(&self, secret_id: &str) -> Result<Option<Found>, AwsError> {
        let store = self.host().storage();
        let name = match names::parse_secret_id(secret_id).map_err(|e| AwsError::new(e.aws_code(), e.to_string()))? {
            SecretId::Name(n) => n,
            SecretId::Arn { region, account, name_and_suffix, .. } => {
                if account != self.account || region != self.region {
                    return Ok(None);
                }
                // A complete ARN ends in `-` and the secret's suffix; a partial one is the name.
                let targets = names::arn_targets(&name_and_suffix);
                if let Some((name, suffix)) = targets.complete {
                    if let Some(meta) = store.kv_metadata_get(name).await.map_err(AwsError::store)? {
                        if self.suffix(name, &meta.created_time)? == suffix {
                            return self.load(name, meta).await.map(Some);
                        }
                    }
                }
                match targets.partial {
                    Some(n) => n.to_string(),
                    None => return Ok(None),
                }
            }
        };
        if names::check_name(&name).is_err() {
            return Ok(None);
        }
        match store.kv_metadata_get(&name).await.map_err(AwsError::store)? {
            Some(meta) => self.load(&name, meta).await.map(Some),
            None => Ok(None),
        }
    }

    /// A secret with its attributes, after its resource policy was checked for this request:
    /// a statement that denies the signer this operation refuses it (on record in the audit log).
    pub async fn load(&self, name: &str, meta: KvMetadataRow) -> Result<Found, AwsError> {
        let attrs = self.read_attrs(name, &meta).await?;
        if let Some(doc) = &attrs.policy {
            let arn = self.arn(name, &meta)?;
            // Keys with the root policy can always manage the policy itself (no lock-out).
            let managing =
                matches!(self.operation.as_str(), "GetResourcePolicy" | "PutResourcePolicy" | "DeleteResourcePolicy");
            let exempt = managing && self.identity.is_root();
            let operation =
                if self.operation == "BatchGetSecretValue" { "GetSecretValue" } else { self.operation.as_str() };
            let statements = super::policy::parse(doc, &arn, &self.account).unwrap_or_default();
            let me = super::sts::caller_arn(&self.account, &self.key_id);
            if !exempt && super::policy::denies(&statements, &me, operation) {
                let e = AwsError::access_denied(&format!("an explicit deny in the resource policy of {name}"));
                self.record(&self.path("metadata", name), super::context::Need::Read, Some(&e)).await?;
                return Err(e);
            }
        }
        Ok(Found { name: name.to_string(), meta, attrs })
    }

    /// The name an operation's ACL check is made on when the secret may not exist: the resolved
    /// name, else the name the caller gave (an ARN's name part).
    pub fn name_for_check(&self, secret_id: &str, found: Option<&Found>) -> String {
        if let Some(f) = found {
            return f.name.clone();
        }
        match names::parse_secret_id(secret_id) {
            Ok(SecretId::Name(n)) => n,
            Ok(SecretId::Arn { name_and_suffix, .. }) => {
                let targets = names::arn_targets(&name_and_suffix);
                targets.complete.map(|(n, _)| n).or(targets.partial).unwrap_or(&name_and_suffix).to_string()
            }
            Err(_) => secret_id.to_string(),
        }
    }

    /// The stored AWS-only attributes of `name` (defaults when it has none, or only a stale set);
    /// no policy check (listings, and [`Ctx::load`] before its check).
    pub async fn read_attrs(&self, name: &str, meta: &KvMetadataRow) -> Result<Attrs, AwsError> {
        let text = self.core.store.entry_get(ATTRS_KIND, &self.entry_name(name)).await.map_err(AwsError::store)?;
        let attrs = match text {
            Some(t) => serde_json::from_str::<Attrs>(&t).map_err(|_| {
                tracing::error!(secret = %name, "stored aws attributes do not parse");
                AwsError::internal()
            })?,
            None => Attrs::default(),
        };
        if attrs.created != meta.created_time {
            return Ok(Attrs { created: meta.created_time.clone(), ..Attrs::default() });
        }
        Ok(attrs)
    }

    /// Stores a secret's AWS-only attributes (and its deletion schedule index).
    pub async fn put_attrs(&self, found: &Found, attrs: &Attrs) -> Result<(), AwsError> {
        let key = self.entry_name(&found.name);
        let text = serde_json::to_string(attrs).map_err(|_| AwsError::internal())?;
        let store = &self.core.store;
        store.entry_put(ATTRS_KIND, &key, &text).await.map_err(AwsError::store)?;
        match attrs.deletion {
            Some(t) => store.entry_put(DELETION_KIND, &key, &t.to_string()).await.map_err(AwsError::store)?,
            None => store.entry_delete(DELETION_KIND, &key).await.map_err(AwsError::store)?,
        }
        Ok(())
    }

    /// Drops a secret's AWS-only attributes (when the secret itself is deleted).
    pub async fn drop_attrs(&self, name: &str) -> Result<(), AwsError> {
        let key = self.entry_name(name);
        self.core.store.entry_delete(ATTRS_KIND, &key).await.map_err(AwsError::store)?;
        self.core.store.entry_delete(DELETION_KIND, &key).await.map_err(AwsError::store)
    }

    /// The version id of one version: its request token, else the derived id.
    pub async fn version_id(&self, found: &Found, version: i64) -> Result<String, AwsError> {
        let tokens = self.host().storage().kv_request_tokens(&found.name).await.map_err(AwsError::store)?;
        self.id_among(found, &tokens, version)
    }

    /// The id of `version` given the secret's request tokens.
    fn id_among(&self, found: &Found, tokens: &[(String, i64)], version: i64) -> Result<String, AwsError> {
        match tokens.iter().find(|(_, v)| *v == version) {
            Some((t, _)) => Ok(t.clone()),
            None => self.derived_version_id(&found.name, &found.meta, version),
        }
    }

    /// Every kept version of a secret with its version id and AWS labels, oldest first.
    pub async fn versions(&self, found: &Found) -> Result<Vec<VersionInfo>, AwsError> {
        let store = self.host().storage();
        let Some((_, rows)) = store.kv_metadata_with_versions(&found.name).await.map_err(AwsError::store)? else {
            return Ok(Vec::new());
        };
        let tokens = store.kv_request_tokens(&found.name).await.map_err(AwsError::store)?;
        let stages = store.kv_stages(&found.name).await.map_err(AwsError::store)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id = self.id_among(found, &tokens, row.version)?;
            let labels = stages.iter().filter(|(_, v)| *v == row.version).map(|(s, _)| label_of(s)).collect();
            out.push(VersionInfo { id, labels, row });
        }
        Ok(out)
    }
}

/// One version as AWS lists it.
pub struct VersionInfo {
    /// `VersionId`.
    pub id: String,
    /// `VersionStages`.
    pub labels: Vec<String>,
    /// The stored row.
    pub row: KvVersionRow,
}

/// RFC 3339 time as AWS's JSON timestamps (seconds since the epoch, fractional).
pub fn epoch(rfc3339: &str) -> Value {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => json!(t.timestamp_millis() as f64 / 1000.0),
        Err(_) => Value::Null,
    }
}

/// The tags as AWS shows them.
pub fn tags_json(tags: &[(String, String)]) -> Value {
    Value::Array(tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect())
}
