//! The web app: the files under `crates/server/web/`, compiled into the binary (so the app
//! works offline and needs no Node.js to build or run) and served at `/` from the same origin
//! as the API. The pages are plain ES modules that call the API with the session cookie.
//!
//! Every answer carries a Content-Security-Policy that allows only this origin's scripts,
//! styles, media and connections, and no framing; assets are revalidated by ETag.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "web/"]
struct Assets;

/// What a page may load: only what this server serves.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// `GET /`: the app's one page.
#[utoipa::path(
    get, path = "/", summary = "The web app", tag = "web", security(()),
    responses((status = 200, description = "The web app's page", content_type = "text/html", body = String))
)]
pub async fn index(headers: HeaderMap) -> Response {
    asset("index.html", &headers)
}

/// `GET /app/{file}`: a script, a style sheet, an icon.
#[utoipa::path(
    get, path = "/app/{file}", summary = "A file of the web app", tag = "web", security(()),
    params(("file" = String, Path, description = "A script, style sheet or icon of the web app")),
    responses(
        (status = 200, description = "The file", body = Vec<u8>),
        (status = 304, description = "Not changed since the `If-None-Match` ETag"),
        (status = 404, description = "No such file", content_type = "text/plain", body = String),
    )
)]
pub async fn file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    asset(&file, &headers)
}

/// An embedded file, with its type, ETag and the policy every page gets.
pub(crate) fn asset(name: &str, request: &HeaderMap) -> Response {
    let Some(file) = Assets::get(name) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let etag = format!(
        "\"{}\"",
        file.metadata
            .sha256_hash()
            .iter()
            .take(12)
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    );
    let mut response = if request
        .get(IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value == etag)
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = file.data.into_owned().into_response();
        if let Ok(mime) = HeaderValue::from_str(file.metadata.mimetype()) {
            response.headers_mut().insert(CONTENT_TYPE, mime);
        }
        response
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, etag);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_assets_are_in_the_binary_with_their_types() {
        let page = asset("index.html", &HeaderMap::new());
        assert_eq!(page.status(), StatusCode::OK);
        assert!(
            page.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap_or("")
                .starts_with("text/html")
        );
        assert!(page.headers().contains_key("content-security-policy"));
        let etag = page.headers()[ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(IF_NONE_MATCH, etag);
        assert_eq!(
            asset("index.html", &again).status(),
            StatusCode::NOT_MODIFIED
        );
        for script in Assets::iter().filter(|name| name.ends_with(".js")) {
            let response = asset(&script, &HeaderMap::new());
            assert_eq!(response.status(), StatusCode::OK, "{script}");
            assert!(
                response.headers()[CONTENT_TYPE]
                    .to_str()
                    .unwrap_or("")
                    .contains("javascript"),
                "{script}"
            );
        }
        assert_eq!(
            asset("../Cargo.toml", &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
    }
}
