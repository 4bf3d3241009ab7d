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

fn internal() -> HttpResponse {
    with_headers(StatusCode::INTERNAL_SERVER_ERROR, Body::from(r#"{"errors":["internal error"]}"#))
}

fn json_body(status: StatusCode, v: &Value) -> HttpResponse {
    match serde_json::to_vec(v) {
        Ok(bytes) => with_headers(status, Body::from(bytes)),
        Err(_) => internal(),
    }
}

/// Vault's response envelope, fields in sorted order (as a `serde_json::Map` writes them).
#[derive(serde::Serialize)]
struct Envelope<'a> {
    auth: Option<&'a Value>,
    data: Option<&'a Value>,
    lease_duration: i64,
    lease_id: &'a str,
    renewable: bool,
    request_id: &'a str,
    warnings: Option<&'a [String]>,
    wrap_info: Option<()>,
}

/// Renders a successful logical response.
pub fn response(request_id: &str, r: Response) -> HttpResponse {
    match r {
        Response::NoContent => with_headers(StatusCode::NO_CONTENT, Body::empty()),
        Response::Status(s) => with_headers(s, Body::empty()),
        Response::Text { content_type, body } => {
            let mut resp = with_headers(StatusCode::OK, Body::from(body));
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            resp
        }
        Response::Binary { content_type, body } => {
            let mut resp = with_headers(StatusCode::OK, Body::from(body));
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            resp
        }
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
        Response::Envelope { status, data, warnings, auth, repeat_top_level: false, lease } => {
            // Written straight from borrowed fields (no map built); keys in the order a sorted
            // map gives, so the bytes are the same as the general path's below.
            let (lease_id, renewable, lease_duration) = match &lease {
                Some(l) => (l.id.as_str(), l.renewable, l.duration),
                None => ("", false, 0),
            };
            let envelope = Envelope {
                auth: auth.as_ref(),
                data: data.as_ref(),
                lease_duration,
                lease_id,
                renewable,
                request_id,
                warnings: (!warnings.is_empty()).then_some(warnings.as_slice()),
                wrap_info: None,
            };
            match serde_json::to_vec(&envelope) {
                Ok(bytes) => with_headers(status, Body::from(bytes)),
                Err(_) => internal(),
            }
        }
        Response::Envelope { status, data, warnings, auth, repeat_top_level: true, lease } => {
            let mut env = Map::new();
            if let Some(Value::Object(d)) = &data {
                env.extend(d.iter().map(|(k, v)| (k.clone(), v.clone())));
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(r: HttpResponse) -> String {
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_envelope_is_written_as_the_sorted_map_would_write_it() {
        let lease = crate::base::logical::LeaseInfo { id: "db/creds/x/1".into(), duration: 60, renewable: true };
        for (data, warnings, auth, lease) in [
            (Some(json!({"data": {"v": "é\"\n"}, "metadata": {"version": 1}})), vec![], None, None),
            (None, vec!["careful".to_string()], Some(json!({"client_token": "t"})), Some(lease.clone())),
        ] {
            let expected = json!({
                "request_id": "rid",
                "lease_id": lease.as_ref().map_or("", |l| l.id.as_str()),
                "renewable": lease.as_ref().is_some_and(|l| l.renewable),
                "lease_duration": lease.as_ref().map_or(0, |l| l.duration),
                "data": data.clone().unwrap_or(Value::Null),
                "wrap_info": null,
                "warnings": if warnings.is_empty() { Value::Null } else { json!(warnings) },
                "auth": auth.clone().unwrap_or(Value::Null),
            });
            let r = Response::Envelope { status: StatusCode::OK, data, warnings, auth, repeat_top_level: false, lease };
            assert_eq!(body(response("rid", r)).await, serde_json::to_string(&expected).unwrap());
        }
    }
}
