//! One allow-list entry: a URL prefix compared parsed, never as a string.

use std::net::IpAddr;

/// An entry such as `https://rotator.internal/hooks/`: scheme, lower-cased host, effective port
/// and a path that matches on a `/` boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedUrl {
    scheme: String,
    host: url::Host<String>,
    port: u16,
    path: String,
    text: String,
}

impl std::fmt::Display for AllowedUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl AllowedUrl {
    /// Parses an entry: `http` or `https`, a host, no credentials, query or fragment. The text
    /// must already be in its normal form (as the URL parser writes it back, host lower-cased),
    /// apart from a missing `/` path: `https://h` stands for `https://h/`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(text).map_err(|_| format!("{text:?} is not a valid URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{text:?}: only http and https URLs can be allowed"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{text:?}: an allowed URL must not carry credentials"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{text:?}: an allowed URL must not have a query or a fragment"));
        }
        let host = url.host().ok_or_else(|| format!("{text:?}: an allowed URL needs a host"))?.to_owned();
        let port = url.port_or_known_default().ok_or_else(|| format!("{text:?}: no port"))?;
        let normal = url.as_str();
        if normal != text && normal != format!("{text}/") {
            return Err(format!(
                "{text:?} is not in its normal form: write it as {normal:?} (lower-case host, no '.' or '..' \
                 segments, no default port)"
            ));
        }
        Ok(Self { scheme: url.scheme().to_string(), host, port, path: url.path().to_string(), text: normal.into() })
    }

    /// Whether this entry admits `url`.
    pub fn admits(&self, url: &reqwest::Url) -> bool {
        if url.scheme() != self.scheme || url.port_or_known_default() != Some(self.port) {
            return false;
        }
        if url.host().map(|h| h.to_owned()) != Some(self.host.clone()) {
            return false;
        }
        if !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        let path = url.path();
        path == self.path
            || (self.path.ends_with('/') && path.starts_with(&self.path))
            || path.strip_prefix(self.path.as_str()).is_some_and(|rest| rest.starts_with('/'))
    }

    /// Whether the entry's host is the address `ip`, written as an address.
    pub fn names_literally(&self, ip: IpAddr) -> bool {
        match (&self.host, ip) {
            (url::Host::Ipv4(a), IpAddr::V4(b)) => *a == b,
            (url::Host::Ipv6(a), IpAddr::V6(b)) => *a == b,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap()
    }

    #[test]
    fn entries_compare_parsed_on_path_boundaries() {
        let e = AllowedUrl::parse("https://rotator.internal/hooks/").unwrap();
        assert!(e.admits(&url("https://rotator.internal/hooks/db")));
        assert!(e.admits(&url("https://ROTATOR.internal:443/hooks/")));
        assert!(!e.admits(&url("https://rotator.internal/hooksx")));
        assert!(!e.admits(&url("https://rotator.internal/hooks")));
        assert!(!e.admits(&url("https://rotator.internal/other/../x")));
        assert!(!e.admits(&url("https://rotator.internal/hooks/../admin")));
        assert!(!e.admits(&url("http://rotator.internal/hooks/db")));
        assert!(!e.admits(&url("https://rotator.internal:8443/hooks/db")));
        assert!(!e.admits(&url("https://rotator.internal.evil.net/hooks/db")));
        assert!(!e.admits(&url("https://user:pw@rotator.internal/hooks/db")));

        let bare = AllowedUrl::parse("https://rotator.internal").unwrap();
        assert!(bare.admits(&url("https://rotator.internal/anything")));
        assert!(!bare.admits(&url("https://rotator.internal.evil.net/")));
        let no_slash = AllowedUrl::parse("https://h/hook").unwrap();
        assert!(no_slash.admits(&url("https://h/hook")) && no_slash.admits(&url("https://h/hook/x")));
        assert!(!no_slash.admits(&url("https://h/hooks")));
    }

    #[test]
    fn entries_must_be_normal() {
        for bad in [
            "ftp://h/",
            "https://u:p@h/",
            "https://h/?q=1",
            "https://h/#f",
            "https://H/",
            "https://h:443/",
            "https://h/a/../b",
            "not a url",
            "https://2130706433/",
        ] {
            assert!(AllowedUrl::parse(bad).is_err(), "{bad}");
        }
        let lit = AllowedUrl::parse("http://127.0.0.1:9000/").unwrap();
        assert!(lit.names_literally("127.0.0.1".parse().unwrap()));
        assert!(!lit.names_literally("::ffff:127.0.0.1".parse().unwrap()));
        // Decimal and hex spellings parse to the same address, so they reach only this entry.
        assert!(lit.admits(&url("http://2130706433:9000/x")));
    }
}
