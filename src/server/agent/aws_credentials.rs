//! Where `aws` auto-auth finds the workload's AWS credentials, in the AWS SDKs' order: the
//! environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`: Lambda,
//! `aws-vault exec`), else the container credentials endpoint that ECS tasks and EKS Pod Identity
//! provide (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` on 169.254.170.2, or
//! `AWS_CONTAINER_CREDENTIALS_FULL_URI` with the token in `AWS_CONTAINER_AUTHORIZATION_TOKEN` or
//! the file `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`). As in the SDKs, a full URI over plain HTTP
//! must name a loopback address or the ECS/EKS link-local hosts. Read again at every login, so
//! rotated credentials are picked up.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroizing;

/// The ECS task-role endpoint's host, for a relative URI.
const ECS_HOST: &str = "http://169.254.170.2";

/// Hosts a plain-HTTP full URI may name besides loopback: ECS and EKS Pod Identity.
const LINK_LOCAL: [&str; 3] = ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"];

/// Largest answer read from the endpoint.
const MAX_ANSWER: usize = 64 << 10;

/// A set of AWS credentials, wiped on drop.
pub struct Credentials {
    /// The access key id.
    pub key_id: Zeroizing<String>,
    /// The secret access key.
    pub secret: Zeroizing<String>,
    /// The session token of temporary credentials.
    pub token: Option<Zeroizing<String>>,
}

fn env(name: &str) -> Option<Zeroizing<String>> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).map(Zeroizing::new)
}

/// The credentials, from the environment or the container endpoint.
pub async fn find() -> Result<Credentials, String> {
    if let Some(key_id) = env("AWS_ACCESS_KEY_ID") {
        let secret = env("AWS_SECRET_ACCESS_KEY").ok_or("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")?;
        return Ok(Credentials { key_id, secret, token: env("AWS_SESSION_TOKEN") });
    }
    let url = if let Some(relative) = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        format!("{ECS_HOST}{}", relative.as_str())
    } else if let Some(full) = env("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        allowed(&full)?;
        full.to_string()
    } else {
        return Err("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where \
                    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI is set (ECS, EKS Pod Identity)"
            .into());
    };
    from_endpoint(&url).await
}

/// Whether a full URI may be fetched: HTTPS anywhere, plain HTTP only to loopback or ECS/EKS.
fn allowed(uri: &str) -> Result<(), String> {
    let refuse = || format!("AWS_CONTAINER_CREDENTIALS_FULL_URI {uri:?}: not https, loopback or the ECS/EKS endpoint");
    let parsed = url::Url::parse(uri).map_err(|_| refuse())?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = parsed.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
            let ok = host == "localhost"
                || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
                || LINK_LOCAL.iter().any(|h| host.parse::<IpAddr>().ok() == h.parse::<IpAddr>().ok());
            if ok {
                Ok(())
            } else {
                Err(refuse())
            }
        }
        _ => Err(refuse()),
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "AccessKeyId")]
    key_id: String,
    #[serde(rename = "SecretAccessKey")]
    secret: String,
    #[serde(rename = "Token", default)]
    token: Option<String>,
}

async fn from_endpoint(url: &str) -> Result<Credentials, String> {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| format!("the credentials client: {e}"))?;
    let mut req = http.get(url);
    let token = match env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
        Some(file) => Some(Zeroizing::new(
            std::fs::read_to_string(file.as_str())
                .map_err(|e| format!("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: {e}"))?
                .trim()
                .to_string(),
        )),
        None => env("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
    };
    if let Some(t) = &token {
        req = req.header(reqwest::header::AUTHORIZATION, t.as_str());
    }
    let what = "the container credentials endpoint";
    let resp = req.send().await.map_err(|_| format!("{what} cannot be reached"))?;
    if !resp.status().is_success() {
        return Err(format!("{what} answered {}", resp.status().as_u16()));
    }
    if resp.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
        return Err(format!("{what} answered too much"));
    }
    let body = Zeroizing::new(resp.bytes().await.map_err(|_| format!("{what}: the answer was cut off"))?.to_vec());
    if body.len() > MAX_ANSWER {
        return Err(format!("{what} answered too much"));
    }
    // Never echo the answer: it holds the secret key.
    let a: Answer = serde_json::from_slice(&body).map_err(|_| format!("{what}: not a credentials answer"))?;
    Ok(Credentials {
        key_id: Zeroizing::new(a.key_id),
        secret: Zeroizing::new(a.secret),
        token: a.token.filter(|t| !t.is_empty()).map(Zeroizing::new),
    })
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn a_full_uri_over_plain_http_must_be_loopback_or_the_ecs_eks_hosts() {
        for ok in [
            "https://creds.example.com/role",
            "http://127.0.0.1:8080/creds",
            "http://localhost/creds",
            "http://[::1]:9/creds",
            "http://169.254.170.2/v2/credentials/x",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
        ] {
            assert!(allowed(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/creds",
            "http://10.0.0.1/creds",
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1.example.com/creds",
            "ftp://127.0.0.1/creds",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(allowed(bad).is_err(), "{bad}");
        }
    }
}
