//! Renders logical responses and errors as Vault's JSON bodies and headers.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response as HttpResponse;
use serde_json::{json, Map, Value};

use crate::base::error::ApiError;
use crate::base::logical::Response;

fn with_headers(status: StatusCode, body: Body) -> HttpResponse {
    let mut resp = HttpResponse::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn json_body(status: StatusCode, v: &Value) -> HttpResponse {
    match serde_json::to_vec(v) {
        Ok(bytes) => with_headers(status, Body::from(bytes)),
        Err(_) => with_headers(StatusCode::INTERNAL_SERVER_ERROR, Body::from(r#"{"errors":["internal error"]}"#)),
    }
}

/// Renders a successful logical response.
pub fn response(request_id: &str, r: Response) -> HttpResponse {
    match r {
        Response::NoContent => with_headers(StatusCode::NO_CONTENT, Body::empty()),
        Response::Status(s) => with_headers(s, Body::empty()),
        Response::Bare { status, body } => json_body(status, &body),
        Response::Wrapped { wrap_info } => json_body(
            StatusCode::OK,
            &json!({
                "request_id": "",
                "lease_id": "",
                "renewable": false,
                "lease_duration": 0,
                "data": null,
                "wrap_info": wrap_info,
                "warnings": null,
                "auth": null,
            }),
        ),
        Response::Envelope { status, data, warnings, auth, repeat_top_level, lease } => {
            let mut env = Map::new();
            if repeat_top_level {
                if let Some(Value::Object(d)) = &data {
                    env.extend(d.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            env.insert("request_id".into(), json!(request_id));
            let (lease_id, renewable, duration) = match lease {
                Some(l) => (l.id, l.renewable, l.duration),
                None => (String::new(), false, 0),
            };
            env.insert("lease_id".into(), json!(lease_id));
            env.insert("renewable".into(), json!(renewable));
            env.insert("lease_duration".into(), json!(duration));
            env.insert("data".into(), data.unwrap_or(Value::Null));
            env.insert("wrap_info".into(), Value::Null);
            env.insert("warnings".into(), if warnings.is_empty() { Value::Null } else { json!(warnings) });
            env.insert("auth".into(), auth.unwrap_or(Value::Null));
            json_body(status, &Value::Object(env))
        }
    }
}

/// Renders an error as `{"errors":[…]}` (or an empty body where Vault sends one).
pub fn error(e: &ApiError) -> HttpResponse {
    if e.empty_body {
        return with_headers(e.status, Body::empty());
    }
    let mut resp = json_body(e.status, &json!({ "errors": e.errors }));
    if let Some(secs) = e.retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}
