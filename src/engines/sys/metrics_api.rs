//! `sys/metrics`: this node's metrics in the Prometheus text format (`?format=prometheus`), or
//! the minimal JSON of Vault's form without `format`.

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::Core;

/// The content type of the Prometheus text format.
pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether this request is a scrape served without a token
/// (`[telemetry] unauthenticated_metrics_access`).
pub fn is_open(core: &Core, path: &str, op: Operation) -> bool {
    op == Operation::Read && path.trim_end_matches('/') == "sys/metrics" && core.metrics.is_unauthenticated()
}

/// One scrape.
pub async fn read(core: &Core, req: &Request) -> Result<Response, ApiError> {
    let format = params::str_field(&req.data, "format")?.unwrap_or("");
    if let Some(k) = req.data.keys().find(|k| *k != "format") {
        return Err(ApiError::bad_request(format!("unknown parameter {k:?}: sys/metrics takes only \"format\"")));
    }
    let families = crate::core::metrics::gather(core).await;
    match format {
        "prometheus" => Ok(Response::Text { content_type: PROMETHEUS, body: crate::core::metrics::to_text(&families) }),
        "" => {
            let now = core.clock.now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            Ok(Response::Bare { status: http::StatusCode::OK, body: crate::core::metrics::to_json(&families, &now) })
        }
        _ => Err(ApiError::bad_request("format: the only format is \"prometheus\" (or none, for JSON)")),
    }
}
