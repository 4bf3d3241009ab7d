//! `sys/config/outbound`: read and replace the API part of the outbound allow-list (writes need
//! sudo). Entries from the config file are shown but cannot be removed here.

use serde_json::{json, Map, Value};

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::outbound::{AllowedUrl, MAX_ENTRIES};
use crate::core::Core;

/// Handles the endpoint.
pub async fn handle(core: &Core, req: &Request) -> Result<Response, ApiError> {
    match req.operation {
        Operation::Read => read(core).await,
        op if op.is_write() => {
            let entries = parse(&req.data)?;
            core.outbound.set_api(&core.store, &entries).await?;
            read(core).await
        }
        Operation::Delete => {
            core.outbound.set_api(&core.store, &[]).await?;
            Ok(Response::NoContent)
        }
        _ => Err(ApiError::unsupported_operation()),
    }
}

async fn read(core: &Core) -> Result<Response, ApiError> {
    let list = core.outbound.list(&core.store).await?;
    let text = |v: &[AllowedUrl]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    Ok(Response::data(json!({
        "allowed_urls": list.all().map(ToString::to_string).collect::<Vec<_>>(),
        "config_allowed_urls": text(&list.config),
        "api_allowed_urls": text(&list.api),
    })))
}

/// `allowed_urls`: a list of strings (one comma-separated string or a JSON array string too,
/// the list rule of `params::string_list`).
fn parse(data: &Map<String, Value>) -> Result<Vec<AllowedUrl>, ApiError> {
    if matches!(data.get("allowed_urls"), None | Some(Value::Null)) {
        return Err(ApiError::bad_request("allowed_urls is required (an empty list allows nothing)"));
    }
    let items = params::string_list(data, "allowed_urls")?;
    if items.len() > MAX_ENTRIES {
        return Err(ApiError::bad_request(format!("allowed_urls may hold at most {MAX_ENTRIES} entries")));
    }
    let mut out: Vec<AllowedUrl> = Vec::with_capacity(items.len());
    for item in &items {
        let entry =
            AllowedUrl::parse(item).map_err(|e| ApiError::bad_request(format!("invalid allowed_urls entry: {e}")))?;
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    Ok(out)
}
