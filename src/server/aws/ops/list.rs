//! `ListSecrets`: walks the mount's folders the signer may list, keeps the secrets it may
//! describe, applies AWS's `Filters`, sorts by creation date and pages.

use serde_json::{json, Map, Value};

use super::super::context::Ctx;
use super::super::params;
use super::super::protocol::AwsError;
use super::super::secret::{Attrs, Found};
use crate::base::logical::Operation;
use crate::store::Page;

/// Most secrets one listing walks (the rest are left out, as documented).
const MAX_WALK: usize = 100_000;

/// One parsed filter: a key and its values (any may match; a `!` value must not).
struct Filter {
    key: String,
    values: Vec<String>,
}

fn filters(body: &Map<String, Value>) -> Result<Vec<Filter>, AwsError> {
    let Some(list) = params::opt_objects(body, "Filters", 10)? else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(list.len());
    for f in list {
        let key = params::req_str(f, "Key")?;
        if !matches!(
            key,
            "description" | "name" | "tag-key" | "tag-value" | "primary-region" | "owning-service" | "all"
        ) {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid filter key {key:?}: use description, name, tag-key, tag-value, primary-region, owning-service or all."
            )));
        }
        let values = params::opt_strings(f, "Values", 10)?.unwrap_or_default();
        if values.is_empty() {
            return Err(AwsError::invalid_parameter("A filter needs 1 to 10 Values."));
        }
        for v in &values {
            let ok = v.len() <= 512 && v.chars().all(|c| c.is_ascii_alphanumeric() || " :_@/+=.-!".contains(c));
            if !ok {
                return Err(AwsError::invalid_parameter(
                    "Filter values are up to 512 characters of letters, digits, spaces and :_@/+=.-!",
                ));
            }
        }
        out.push(Filter { key: key.to_string(), values });
    }
    Ok(out)
}

/// Words of a string: split at punctuation, letter/digit changes and lower-to-upper changes.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev: Option<char> = None;
    for c in s.chars() {
        let split = match prev {
            _ if !c.is_alphanumeric() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                prev = None;
                continue;
            }
            Some(p) => (p.is_lowercase() && c.is_uppercase()) || (p.is_alphabetic() != c.is_alphabetic()),
            None => false,
        };
        if split && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
        prev = Some(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.into_iter().map(|w| w.to_lowercase()).collect()
}

/// Whether one secret passes one filter value (without its `!`).
fn value_matches(key: &str, value: &str, name: &str, attrs: &Attrs, region: &str) -> bool {
    let description = attrs.description.as_deref().unwrap_or("");
    match key {
        "name" => name.starts_with(value),
        "description" => description.to_lowercase().starts_with(&value.to_lowercase()),
        "tag-key" => attrs.tags.iter().any(|(k, _)| k.starts_with(value)),
        "tag-value" => attrs.tags.iter().any(|(_, v)| v.starts_with(value)),
        "primary-region" => region.starts_with(value),
        "owning-service" => false,
        _ => {
            let mut hay = words(name);
            hay.extend(words(description));
            for (k, v) in &attrs.tags {
                hay.extend(words(k));
                hay.extend(words(v));
            }
            words(value).iter().any(|w| hay.iter().any(|h| h.starts_with(w.as_str())))
        }
    }
}

fn passes(filters: &[Filter], name: &str, attrs: &Attrs, region: &str) -> bool {
    filters.iter().all(|f| {
        let (neg, pos): (Vec<&String>, Vec<&String>) = f.values.iter().partition(|v| v.starts_with('!'));
        let any_pos = pos.is_empty() || pos.iter().any(|v| value_matches(&f.key, v, name, attrs, region));
        let no_neg = neg.iter().all(|v| !value_matches(&f.key, v.trim_start_matches('!'), name, attrs, region));
        any_pos && no_neg
    })
}

/// Every secret under the mount the signer may list its way to and describe.
async fn visible(ctx: &Ctx<'_>) -> Result<Vec<Found>, AwsError> {
    let storage = ctx.host().storage();
    let mut folders = vec![String::new()];
    let mut out = Vec::new();
    while let Some(folder) = folders.pop() {
        if ctx.core.token_permits(&ctx.identity, &ctx.path("metadata", &folder), Operation::List).await.is_err() {
            continue;
        }
        let children = storage.kv_children(&folder, Page::ALL).await.map_err(AwsError::store)?;
        for child in children {
            let full = format!("{folder}{child}");
            if child.ends_with('/') {
                folders.push(full);
                continue;
            }
            if out.len() >= MAX_WALK {
                return Ok(out);
            }
            if ctx.core.token_permits(&ctx.identity, &ctx.path("metadata", &full), Operation::Read).await.is_err() {
                continue;
            }
            if let Some(meta) = storage.kv_metadata_get(&full).await.map_err(AwsError::store)? {
                let attrs = ctx.read_attrs(&full, &meta).await?;
                out.push(Found { name: full, meta, attrs });
            }
        }
    }
    Ok(out)
}

/// The secrets that pass the request's filters, sorted, and the page asked for.
async fn page(ctx: &Ctx<'_>, body: &Map<String, Value>, max: usize) -> Result<(Vec<Found>, Option<String>), AwsError> {
    let filters = filters(body)?;
    let include_deleted = params::opt_bool(body, "IncludePlannedDeletion")?.unwrap_or(false);
    let descending = match params::opt_str(body, "SortOrder")? {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(AwsError::invalid_parameter("SortOrder must be asc or desc.")),
    };
    let start = params::page_start(body)?;
    ctx.record(&ctx.path("metadata", ""), super::super::context::Need::List, None).await?;
    let mut kept: Vec<Found> = visible(ctx)
        .await?
        .into_iter()
        .filter(|f| (include_deleted || f.attrs.deletion.is_none()) && passes(&filters, &f.name, &f.attrs, &ctx.region))
        .collect();
    kept.sort_by(|a, b| (&a.meta.created_time, &a.name).cmp(&(&b.meta.created_time, &b.name)));
    if descending {
        kept.reverse();
    }
    let total = kept.len();
    let end = (start + max).min(total);
    let page: Vec<Found> = kept.into_iter().skip(start).take(end.saturating_sub(start)).collect();
    Ok((page, params::next_token(end, total)))
}

/// `ListSecrets`.
pub async fn list(ctx: &Ctx<'_>, body: &Map<String, Value>) -> Result<Value, AwsError> {
    params::only(body, &["MaxResults", "NextToken", "Filters", "SortOrder", "IncludePlannedDeletion"])?;
    let max = params::max_results(body, 100)?;
    let (page, next) = page(ctx, body, max).await?;
    let mut list = Vec::with_capacity(page.len());
    for found in &page {
        list.push(Value::Object(super::describe::summary(ctx, found).await?));
    }
    let mut out = json!({ "SecretList": list });
    if let (Some(n), Value::Object(m)) = (next, &mut out) {
        m.insert("NextToken".into(), json!(n));
    }
    Ok(out)
}

/// The names `BatchGetSecretValue` with `Filters` reads, and the next page's token.
pub async fn matching(
    ctx: &Ctx<'_>,
    body: &Map<String, Value>,
    max: usize,
) -> Result<(Vec<String>, Option<String>), AwsError> {
    let (page, next) = page(ctx, body, max).await?;
    Ok((page.into_iter().map(|f| f.name).collect(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_as_aws_describes() {
        assert_eq!(words("credsDatabase#892"), vec!["creds", "database", "892"]);
        assert_eq!(words("My_Secret"), vec!["my", "secret"]);
    }

    #[test]
    fn filters_match_by_prefix_with_negation() {
        let attrs = Attrs {
            description: Some("Prod DB".into()),
            tags: vec![("team".into(), "payments".into())],
            ..Attrs::default()
        };
        let f = |key: &str, values: &[&str]| Filter {
            key: key.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        assert!(passes(&[f("name", &["app/"])], "app/db", &attrs, "us-east-1"));
        assert!(!passes(&[f("name", &["App/"])], "app/db", &attrs, "us-east-1"));
        assert!(passes(&[f("description", &["prod"])], "x", &attrs, "r"));
        assert!(passes(&[f("tag-key", &["te"]), f("tag-value", &["pay"])], "x", &attrs, "r"));
        assert!(!passes(&[f("tag-value", &["!pay"])], "x", &attrs, "r"));
        assert!(passes(&[f("all", &["PAYMENTS"])], "x", &attrs, "r"));
        assert!(!passes(&[f("all", &["nothing"])], "x", &attrs, "r"));
    }
}
