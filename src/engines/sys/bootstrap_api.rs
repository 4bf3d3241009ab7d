//! `GET sys/bootstrap` (what the file manages, and this node's last run) and `POST
//! sys/bootstrap/plan` (what a given file would change; nothing is applied). Both need `sudo`.
//! A plan reads the store through the pipeline as the caller, so it shows nothing the caller's
//! policies could not read.

use std::sync::Arc;

use serde_json::json;

use crate::base::error::ApiError;
use crate::base::logical::{Request, Response};
use crate::base::params;
use crate::core::bootstrap::{managed::Managed, plan, spec};
use crate::core::engine::Call;
use crate::core::Core;

fn refused(errors: Vec<String>) -> ApiError {
    ApiError { errors, ..ApiError::bad_request("") }
}

/// `GET sys/bootstrap`.
pub async fn status(core: &Core) -> Result<Response, ApiError> {
    Ok(Response::data(core.bootstrap.status(core).await?))
}

/// `POST sys/bootstrap/plan` `{"file": "<the file's TOML>"}`.
pub async fn plan(core: &Core, call: &Call<'_>, req: &Request) -> Result<Response, ApiError> {
    let text = params::str_field(&req.data, "file")?.ok_or_else(|| ApiError::bad_request("missing file"))?;
    let spec = spec::parse(text).map_err(refused)?;
    let managed = Managed::load(core).await?;
    let who = Arc::new(call.token.clone());
    let changes = plan::plan(core, &who, &spec, &managed).await.map_err(refused)?;
    Ok(Response::data(json!({
        "changes": changes.iter().map(plan::Change::describe).collect::<Vec<_>>(),
    })))
}
