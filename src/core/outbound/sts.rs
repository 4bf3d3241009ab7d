//! The one outbound STS call: a client's signed `sts:GetCallerIdentity` request, forwarded to the
//! operator's STS endpoint (never to a host the client names) through the allow-list's pinned
//! address, and the `GetCallerIdentityResponse` it answers, parsed. Errors name the step and the
//! status, never a header or the answer's body.

use std::time::Duration;

use super::Permit;

/// Longest STS answer read, in bytes (a real one is under 1 KiB).
pub const MAX_ANSWER_LEN: usize = 64 * 1024;

/// How long the connection and the whole exchange may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The identity STS answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// `arn:aws:iam::ACCOUNT:user/NAME`, `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`, …
    pub arn: String,
    /// The principal's unique id (`AIDA…`, `AROA…:session`).
    pub user_id: String,
    /// The 12-digit account.
    pub account: String,
}

/// The signed request to forward.
pub struct Forward<'a> {
    /// The allow-list's decision for the configured STS endpoint (address pinned).
    pub permit: &'a Permit,
    /// The `Host` header the client signed.
    pub host: &'a str,
    /// The headers to send, exactly as signed (`Authorization` included, `Host` not).
    pub headers: &'a [(String, String)],
    /// The signed body.
    pub body: Vec<u8>,
}

/// POSTs the request to the permit's URL and parses the answer.
pub async fn get_caller_identity(f: &Forward<'_>) -> Result<CallerIdentity, String> {
    let client = f
        .permit
        .client_builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .build()
        .map_err(|e| e.without_url().to_string())?;
    let mut req = client.post(f.permit.url.clone()).header(reqwest::header::HOST, f.host);
    for (name, value) in f.headers {
        req = req.header(name.as_str(), value.as_str());
    }
    let mut answer =
        req.body(f.body.clone()).send().await.map_err(|e| format!("request failed: {}", e.without_url()))?;
    let status = answer.status();
    let mut body = Vec::new();
    while let Some(chunk) =
        answer.chunk().await.map_err(|e| format!("reading the answer failed: {}", e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_LEN {
            return Err("the STS answer is too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&body);
    if !status.is_success() {
        let code = element(&text, "Code").map(|c| format!(" ({c})")).unwrap_or_default();
        return Err(format!("received error code {} from STS{code}", status.as_u16()));
    }
    parse_answer(&text)
}

/// Reads `Arn`, `UserId` and `Account` out of a `GetCallerIdentityResponse`.
pub fn parse_answer(xml: &str) -> Result<CallerIdentity, String> {
    let result = element(xml, "GetCallerIdentityResult")
        .filter(|_| element(xml, "GetCallerIdentityResponse").is_some())
        .ok_or_else(|| "the STS answer is not a GetCallerIdentityResponse".to_string())?;
    let field = |name: &str| {
        element(&result, name).filter(|v| !v.is_empty()).ok_or_else(|| format!("the STS answer has no {name}"))
    };
    Ok(CallerIdentity { arn: field("Arn")?, user_id: field("UserId")?, account: field("Account")? })
}

/// The text of the one `<name>…</name>` element of `xml` (attributes allowed on the opening
/// tag), entities decoded. None when absent or given twice.
fn element(xml: &str, name: &str) -> Option<String> {
    let close = format!("</{name}>");
    let mut found = None;
    let mut rest = xml;
    while let Some(i) = rest.find(&format!("<{name}")) {
        let after = &rest[i + name.len() + 1..];
        let tag_end = after.find('>')?;
        if !matches!(after.chars().next(), Some('>' | ' ' | '\t' | '\r' | '\n')) {
            rest = after;
            continue;
        }
        let inner = &after[tag_end + 1..];
        let end = inner.find(&close)?;
        if found.is_some() {
            return None;
        }
        found = Some(unescape(inner[..end].trim()));
        rest = &inner[end + close.len()..];
    }
    found
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:sts::123456789012:assumed-role/app/i-0abc</Arn>
    <UserId>AROAEXAMPLE:i-0abc</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>01234567-89ab</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>"#;

    #[test]
    fn a_real_answer_parses() {
        let id = parse_answer(ANSWER).unwrap();
        assert_eq!(id.arn, "arn:aws:sts::123456789012:assumed-role/app/i-0abc");
        assert_eq!(id.user_id, "AROAEXAMPLE:i-0abc");
        assert_eq!(id.account, "123456789012");
    }

    #[test]
    fn other_answers_are_refused() {
        assert!(parse_answer("<ErrorResponse><Error><Code>X</Code></Error></ErrorResponse>").is_err());
        let twice = ANSWER.replace("<Account>", "<Arn>arn:aws:iam::1:user/x</Arn><Account>");
        assert!(parse_answer(&twice).is_err());
        let no_arn = ANSWER.replace("Arn>", "Xrn>");
        assert!(parse_answer(&no_arn).is_err());
        let lookalike = ANSWER.replace("<Arn>", "<ArnX>x</ArnX><Arn>");
        assert_eq!(parse_answer(&lookalike).unwrap().arn, "arn:aws:sts::123456789012:assumed-role/app/i-0abc");
    }
}
