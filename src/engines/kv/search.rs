//! `sys/search` on a KV v2 mount: the mount's metadata rows walked in path order a page at a
//! time, each key kept when its name, custom metadata and labels match and the caller may see it.
//! Values are never read.

use serde_json::{Map, Value};

use super::store_err;
use crate::base::error::ApiError;
use crate::base::glob::glob_match;
use crate::core::engine::Call;
use crate::core::search::{Found, SearchQuery, Visibility};
use crate::store::KvMetadataRow;

/// Metadata rows read from the store at once.
const PAGE_ROWS: i64 = 256;

/// Most keys one search request examines: past it the page ends early and says where the next
/// one goes on (`next_after`), so a search that matches little in a large mount stays bounded.
pub const MAX_EXAMINED: usize = 10_000;

/// The key's last segment: what `name_glob` matches.
fn name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether the stored custom metadata holds every wanted entry with exactly that value. Stored
/// text that does not parse is a 500 (logged under an error id), never a match.
fn metadata_matches(row: &KvMetadataRow, wanted: &[(String, String)]) -> Result<bool, ApiError> {
    if wanted.is_empty() {
        return Ok(true);
    }
    let Some(text) = row.custom_metadata.as_deref() else { return Ok(false) };
    let held: Map<String, Value> = crate::base::stored::parse("kv custom_metadata", text)?;
    Ok(wanted.iter().all(|(k, v)| held.get(k).and_then(Value::as_str) == Some(v.as_str())))
}

/// Whether `row` passes the filters that need no further read.
fn row_matches(row: &KvMetadataRow, q: &SearchQuery) -> Result<bool, ApiError> {
    if !row.path.starts_with(&q.prefix) {
        return Ok(false);
    }
    if q.name_glob.as_deref().is_some_and(|g| !glob_match(g, name(&row.path))) {
        return Ok(false);
    }
    metadata_matches(row, &q.custom_metadata)
}

/// One page of the search.
pub async fn search(call: &Call<'_>, q: &SearchQuery, visible: &Visibility) -> Result<Found, ApiError> {
    let storage = call.host.storage();
    let mut found = Found::default();
    let mut cursor = q.after.clone();
    let mut examined = 0usize;
    loop {
        let rows = storage.kv_metadata_page(&q.prefix, cursor.as_deref(), PAGE_ROWS).await.map_err(store_err)?;
        let last_page = i64::try_from(rows.len()).unwrap_or(i64::MAX) < PAGE_ROWS;
        for row in rows {
            examined += 1;
            if row_matches(&row, q)? && visible.allows(&row.path) && has_stage(call, &row.path, q).await? {
                found.keys.push(row.path.clone());
                if found.keys.len() >= q.limit {
                    return Ok(found);
                }
            }
            cursor = Some(row.path);
            if examined >= MAX_EXAMINED {
                found.next_after = cursor;
                return Ok(found);
            }
        }
        if last_page {
            return Ok(found);
        }
    }
}

/// Whether some version of `path` carries the wanted label (always, when none is wanted).
async fn has_stage(call: &Call<'_>, path: &str, q: &SearchQuery) -> Result<bool, ApiError> {
    let Some(stage) = q.stage.as_deref() else { return Ok(true) };
    let labels = call.host.storage().kv_stages(path).await.map_err(store_err)?;
    Ok(labels.iter().any(|(l, _)| l == stage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_glob_matches_the_last_segment_and_metadata_every_entry() {
        assert_eq!(name("app/db/main"), "main");
        assert_eq!(name("top"), "top");
        let mut row = KvMetadataRow::bare("m", "app/prod-db", 1, 1);
        let q = SearchQuery { name_glob: Some("*db*".into()), limit: 10, ..Default::default() };
        assert!(row_matches(&row, &q).unwrap());
        let q = SearchQuery { name_glob: Some("app*".into()), limit: 10, ..Default::default() };
        assert!(!row_matches(&row, &q).unwrap(), "the glob sees the name, not the folder");
        row.custom_metadata = Some(r#"{"owner":"team-a","tier":"1"}"#.into());
        let want =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        assert!(metadata_matches(&row, &want(&[("owner", "team-a")])).unwrap());
        assert!(metadata_matches(&row, &want(&[("owner", "team-a"), ("tier", "1")])).unwrap());
        assert!(!metadata_matches(&row, &want(&[("owner", "team-b")])).unwrap());
        assert!(!metadata_matches(&row, &want(&[("missing", "")])).unwrap());
        row.custom_metadata = None;
        assert!(!metadata_matches(&row, &want(&[("owner", "team-a")])).unwrap());
        assert!(metadata_matches(&row, &[]).unwrap());
        row.custom_metadata = Some("{not json".into());
        assert!(metadata_matches(&row, &want(&[("owner", "x")])).is_err());
    }
}
