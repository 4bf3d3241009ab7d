//! STS `GetCallerIdentity` (query protocol, XML answers), so that SDK credential checks and
//! `aws sts get-caller-identity` work against Coffer's keys.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response as HttpResponse;

use super::protocol::AwsError;

/// The answer's XML namespace.
const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Escapes text for XML.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

fn respond(status: StatusCode, body: String) -> HttpResponse {
    let mut resp = HttpResponse::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    resp
}

/// The ARN of a Coffer key's identity.
pub fn caller_arn(account: &str, key_id: &str) -> String {
    format!("arn:aws:iam::{account}:user/coffer/{key_id}")
}

/// Checks the form body: `Action=GetCallerIdentity` (and `Version`, if given, 2011-06-15).
pub fn check_action(form: &[(String, String)]) -> Result<(), AwsError> {
    let action = form.iter().find(|(k, _)| k == "Action").map(|(_, v)| v.as_str());
    match action {
        Some("GetCallerIdentity") => {}
        Some(other) => {
            return Err(AwsError::new(
                "InvalidAction",
                format!("Could not find operation {} for version 2011-06-15", xml(other)),
            ))
        }
        None => return Err(AwsError::new("MissingAction", "Missing Action")),
    }
    match form.iter().find(|(k, _)| k == "Version").map(|(_, v)| v.as_str()) {
        None | Some("2011-06-15") => Ok(()),
        Some(_) => Err(AwsError::new("InvalidAction", "Could not find operation GetCallerIdentity for that version")),
    }
}

/// The answer of `GetCallerIdentity`.
pub fn identity(account: &str, key_id: &str, request_id: &str) -> HttpResponse {
    let body = format!(
        "<GetCallerIdentityResponse xmlns=\"{NS}\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    \
         <Account>{}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  \
         </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
        xml(&caller_arn(account, key_id)),
        xml(key_id),
        xml(account),
        xml(request_id)
    );
    respond(StatusCode::OK, body)
}

/// An error in the query protocol's shape (`Sender` faults are 400 or 403).
pub fn error(e: &AwsError, request_id: &str) -> HttpResponse {
    let (status, kind) = match e.code {
        "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "AccessDenied" => (StatusCode::FORBIDDEN, "Sender"),
        _ if e.status.is_server_error() => (e.status, "Receiver"),
        _ => (StatusCode::BAD_REQUEST, "Sender"),
    };
    let body = format!(
        "<ErrorResponse xmlns=\"{NS}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  \
         </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
        xml(e.code),
        xml(&e.message),
        xml(request_id)
    );
    respond(status, body)
}
