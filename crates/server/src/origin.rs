//! Whether a cookie-authenticated request comes from this server's own pages.
//!
//! A browser attaches its cookies to requests any site's page makes, WebSocket upgrades
//! included; only the `Origin` header says which page made it. Bearer tokens and API keys are
//! not sent by a browser on its own, so only cookie-authenticated requests are checked.

use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};

/// Whether the request's `Origin` is this server's own (its scheme-less authority equals the
/// `Host` the request was sent to) or one of `allowed` (`https://app.example.com`). A request
/// without `Origin` did not come from a web page (browsers always send it on WebSocket
/// upgrades and cross-site requests) and passes.
pub fn same_site(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    if allowed
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let host = headers.get(HOST).and_then(|host| host.to_str().ok());
    matches!((authority, host), (Some(authority), Some(host)) if authority.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    #[test]
    fn only_this_servers_pages_and_allowed_origins_pass() {
        let allowed = vec!["https://app.example.com".to_owned()];
        assert!(same_site(
            &headers(Some("http://127.0.0.1:8000"), "127.0.0.1:8000"),
            &[]
        ));
        assert!(same_site(&headers(None, "127.0.0.1:8000"), &[]));
        assert!(!same_site(
            &headers(Some("https://evil.example"), "127.0.0.1:8000"),
            &[]
        ));
        assert!(!same_site(
            &headers(Some("http://127.0.0.1:8001"), "127.0.0.1:8000"),
            &[]
        ));
        assert!(!same_site(&headers(Some("null"), "127.0.0.1:8000"), &[]));
        assert!(same_site(
            &headers(Some("https://app.example.com/"), "chronicle.local"),
            &allowed
        ));
    }
}
