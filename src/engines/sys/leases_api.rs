//! `sys/leases/*` and `sys/quotas/lease-count/*`: lease lookup, listing, renewal, revocation,
//! counts, tidy, and the lease-count quotas.

use http::StatusCode;

use crate::base::error::ApiError;
use crate::base::logical::{Operation, Request, Response};
use crate::base::params;
use crate::core::engine::Call;
use crate::core::leases;

fn lease_id<'a>(req: &'a Request, from_path: &'a str) -> Result<&'a str, ApiError> {
    let id = if from_path.is_empty() { params::str_field(&req.data, "lease_id")?.unwrap_or("") } else { from_path };
    if id.is_empty() {
        return Err(ApiError::bad_request("missing lease_id"));
    }
    Ok(id)
}

/// Routes `sys/leases/<rest>`; `None` when no lease endpoint matches.
pub async fn route(call: &Call<'_>, rest: &str, req: &Request) -> Option<Result<Response, ApiError>> {
    let op = req.operation;
    let write = op.is_write();
    let core = match call.host.whole_core() {
        Ok(core) => core,
        Err(e) => return Some(Err(e)),
    };
    let (head, tail) = rest.split_once('/').unwrap_or((rest, ""));
    Some(match head {
        "lookup" if op == Operation::List => leases::list(core, tail).await,
        "lookup" if write && tail.is_empty() => match lease_id(req, "") {
            Ok(id) => leases::lookup(core, id).await,
            Err(e) => Err(e),
        },
        "renew" if write => match (lease_id(req, tail), params::duration_field(&req.data, "increment")) {
            (Ok(id), Ok(inc)) => leases::renew(core, id, inc.map(|i| i64::try_from(i).unwrap_or(i64::MAX))).await,
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        "revoke" if write => revoke(call, req, tail).await,
        "revoke-prefix" | "revoke-force" if write => revoke_prefix(call, tail, head == "revoke-force").await,
        "count" if op == Operation::Read => {
            let irrevocable = params::str_field(&req.data, "type").ok().flatten() == Some("irrevocable");
            leases::count(core, irrevocable).await
        }
        "tidy" if write => Ok(tidy(core)),
        _ => return None,
    })
}

/// `revoke-prefix/<prefix>` and `revoke-force/<prefix>`. An empty prefix would name every lease:
/// it is refused rather than read as "all".
async fn revoke_prefix(call: &Call<'_>, prefix: &str, force: bool) -> Result<Response, ApiError> {
    if prefix.trim_matches('/').is_empty() {
        return Err(ApiError::bad_request("missing prefix: an empty prefix would revoke every lease"));
    }
    leases::revoke_prefix(call.host.whole_core()?, prefix, force).await.map(|()| Response::NoContent)
}

async fn revoke(call: &Call<'_>, req: &Request, tail: &str) -> Result<Response, ApiError> {
    let id = lease_id(req, tail)?.to_string();
    if params::bool_field(&req.data, "sync")? == Some(false) {
        let core =
            call.host.whole_core()?.self_arc().ok_or_else(|| ApiError::internal(&"server handle unavailable"))?;
        tokio::spawn(async move {
            if let Err(e) = leases::revoke(&core, &id).await {
                tracing::warn!(lease = %id, error = %e, "background lease revocation failed; it will be retried");
            }
        });
        return Ok(Response::Status(StatusCode::ACCEPTED));
    }
    leases::revoke(call.host.whole_core()?, &id).await.map(|()| Response::NoContent)
}

/// `sys/leases/tidy`: an immediate expiry pass on this node when it leads (otherwise the
/// leader's worker runs one within a second anyway).
fn tidy(core: &crate::core::Core) -> Response {
    if let (Some(core), Some(fence)) = (core.self_arc(), core.leader.load_full()) {
        tokio::spawn(async move {
            let now = core.clock.now().timestamp_millis();
            match leases::worker::expire_due(&core, &fence, now).await {
                Ok(n) => tracing::info!(leases = n, "lease tidy finished"),
                Err(e) => tracing::warn!(error = %e, "lease tidy stopped"),
            }
        });
    }
    Response::Envelope {
        status: StatusCode::ACCEPTED,
        data: None,
        warnings: vec![
            "Tidy operation successfully started. Any information from the operation will be printed to Coffer's server logs."
                .into(),
        ],
        auth: None,
        repeat_top_level: false,
        lease: None,
    }
}

/// Routes `sys/quotas/lease-count[/<name>]`.
pub async fn quotas(call: &Call<'_>, rest: &str, req: &Request) -> Result<Response, ApiError> {
    let core = call.host.whole_core()?;
    match rest {
        "" if req.operation == Operation::List => leases::quota::list(core).await,
        "" => Err(ApiError::unsupported_operation()),
        name => leases::quota::endpoint(core, name, req).await,
    }
}
