//! URLs as they may be printed or logged: no password, no query string (which may carry one).

/// `url` without a password or query parameters (which may carry one), for printing.
pub fn redact_url(url: &str) -> String {
    if url.starts_with("sqlite:") {
        return url.split('?').next().unwrap_or(url).to_string();
    }
    let no_query = url.split('?').next().unwrap_or(url);
    let Some((scheme, rest)) = no_query.split_once("://") else {
        return "<url>".into();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{user}@{host}")
        }
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_passwords_and_query_strings() {
        assert_eq!(
            redact_url("postgres://coffer:pw@db:5432/coffer?sslmode=require"),
            "postgres://coffer@db:5432/coffer"
        );
        assert_eq!(redact_url("postgresql://db/coffer?password=pw"), "postgresql://db/coffer");
        assert_eq!(redact_url("postgres://u:p@ss@db/x"), "postgres://u@db/x");
        assert_eq!(redact_url("sqlite:///var/lib/coffer/coffer.db?mode=rwc"), "sqlite:///var/lib/coffer/coffer.db");
        assert_eq!(redact_url("no scheme with pw"), "<url>");
    }
}
