//! The OpenAPI 3.1 document (`GET /api/openapi.json`) and its offline reader (`GET /api/docs`).
//!
//! The document is derived from the `#[utoipa::path]` attribute on each handler, the query
//! and body types the handlers take, and the types they answer with ([`super::schemas`]).
//! What every operation shares is added here once, by [`Shared`]: the security schemes, each
//! operation's id, and the `{"detail"}` errors its authentication, parameters and rate limit
//! can answer with. A unit test below fails when [`super::app`] serves a route that the
//! document lacks.

use axum::Json;
use axum::http::HeaderMap;
use axum::response::Response;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{
    admin, admin_users, audio, chat, conversations, deliveries, documents, events, keys, live, mcp,
    memories, plugin_settings, schemas, search, system, users,
};

/// The paths [`super::app`] serves twice, for clients of the Python Chronicle: the alias and
/// the path whose operation it repeats.
const ALIASES: [(&str, &str); 2] = [
    ("/users/me", "/api/users/me"),
    ("/api/process-audio-files", "/api/audio/upload"),
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chronicle",
        description = "The Chronicle server's HTTP API: conversations, memories, search, plugins, \
            devices. Authenticate with `Authorization: Bearer` and a login's JWT \
            (`POST /auth/jwt/login`) or a personal API key (`chr_…`, scoped read, write or \
            admin), or with the web app's session cookie. Every error is `{\"detail\": \"…\"}`.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        system::health, system::metrics, system::info,
        users::login, users::cookie_login, users::cookie_logout, users::me,
        crate::web::index, crate::web::file, openapi_json, docs,
        crate::ws::handler, crate::ws_audio::handler,
        conversations::list, conversations::get, conversations::delete, conversations::audio,
        conversations::memories, conversations::star, conversations::close,
        conversations::sessions, audio::receive,
        live::stream,
        memories::list, memories::create, memories::search, memories::update, memories::delete,
        search::search,
        chat::create, chat::list, chat::get, chat::ask,
        documents::collections, documents::page,
        events::list, events::clear, events::stream,
        keys::create, keys::list, keys::revoke,
        mcp::post, mcp::not_here,
        admin::health, admin::metadata, admin::get_config, admin::put_config,
        admin::validate_config, admin::reload, admin::test_connection,
        plugin_settings::save,
        admin_users::list, admin_users::create, admin_users::update,
        deliveries::list, deliveries::replay_one, deliveries::replay_dead,
    ),
    components(schemas(schemas::Detail)),
    security(("bearer" = []), ("cookie" = [])),
    modifiers(&Shared),
    tags(
        (name = "system", description = "Health, metrics, what runs"),
        (name = "auth", description = "Logging in, the session cookie, the caller"),
        (name = "conversations", description = "Conversations, their audio and memories, uploads, device sessions"),
        (name = "live", description = "The caller's devices as they stream"),
        (name = "memories", description = "What is remembered about the caller"),
        (name = "search", description = "Everything said and remembered, ranked"),
        (name = "documents", description = "What plugins stored"),
        (name = "events", description = "The event log: what each plugin did with each event"),
        (name = "chat", description = "Ask your memories: answers that cite their sources"),
        (name = "keys", description = "Personal API keys"),
        (name = "mcp", description = "The Model Context Protocol server, for assistants"),
        (name = "admin", description = "Plugins, their configuration, users, the delivery queue: admins only"),
        (name = "devices", description = "The WebSockets devices stream audio on"),
        (name = "web", description = "The web app and this document"),
    )
)]
pub struct ApiDoc;

/// What every operation shares, added to each once.
struct Shared;

impl Modify for Shared {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A login's JWT (`POST /auth/jwt/login`) or a personal API key (`chr_…`).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The web app's session (`POST /auth/cookie/login`).",
            ))),
        );
        for (alias, original) in ALIASES {
            if let Some(item) = document.paths.paths.get(original).cloned() {
                document.paths.paths.insert(alias.to_owned(), item);
            }
        }
        for (path, item) in document.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                operation.operation_id = Some(operation_id(method, path));
                add_errors(operation, path);
            }
        }
    }
}

/// Each operation of a path, with its method's name.
fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation?)))
    .collect()
}

/// `get /api/conversations/{id}` → `get_api_conversations_id`: unique, whatever the handlers
/// are called.
fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<&str> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect();
    if words.is_empty() {
        format!("{method}_root")
    } else {
        format!("{method}_{}", words.join("_"))
    }
}

/// The `{"detail"}` answers an operation can give whatever it does: a malformed parameter or
/// body (400), no credential or a wrong one (401), a credential that may not (403), nothing at
/// that id (404), too many requests (429).
fn add_errors(operation: &mut Operation, path: &str) {
    let public = operation
        .security
        .as_ref()
        .is_some_and(|requirements| requirements.iter().all(|r| r == &Default::default()));
    let takes_input = operation
        .parameters
        .as_ref()
        .is_some_and(|parameters| !parameters.is_empty())
        || operation.request_body.is_some();
    let mut errors: Vec<(&str, &str)> = Vec::new();
    if takes_input {
        errors.push(("400", "A malformed parameter or body"));
    }
    if !public {
        errors.push(("401", "No credential, or one that is not valid"));
        errors.push((
            "403",
            "The credential may not do this (an API key's scope, not an admin)",
        ));
        errors.push((
            "429",
            "Over the rate limit: `Retry-After` says when to try again",
        ));
    }
    if path.contains('{') {
        errors.push(("404", "Nothing there"));
    }
    for (status, description) in errors {
        if operation.responses.responses.contains_key(status) {
            continue;
        }
        let response = ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(RefOr::Ref(Ref::from_schema_name("Detail")))),
            )
            .build();
        operation
            .responses
            .responses
            .insert(status.to_owned(), RefOr::T(response));
    }
}

/// The document, as JSON.
#[utoipa::path(
    get, path = "/api/openapi.json", summary = "This OpenAPI document", tag = "web", security(()),
    responses((status = 200, description = "This document", body = Object))
)]
pub async fn openapi_json() -> Json<Document> {
    Json(ApiDoc::openapi())
}

/// A page that reads the document, in the web app's style, with nothing from elsewhere.
#[utoipa::path(
    get, path = "/api/docs", summary = "This document as a page, readable offline", tag = "web", security(()),
    responses((status = 200, description = "The API's reference, readable offline", content_type = "text/html", body = String))
)]
pub async fn docs(headers: HeaderMap) -> Response {
    crate::web::asset("api-docs.html", &headers)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every `(method, path)` that `routes/mod.rs` gives the router, read from its source: a
    /// `.route("path", get(...).post(...))` call lists its methods as `get(`, `.post(`, ….
    fn served() -> BTreeSet<(String, String)> {
        let source = include_str!("mod.rs");
        let mut served = BTreeSet::new();
        for call in source.split(".route(").skip(1) {
            let Some(path) = call.split('"').nth(1) else {
                continue;
            };
            let mut depth = 0usize;
            let mut end = call.len();
            for (at, c) in call.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => {
                        end = at;
                        break;
                    }
                    ')' => depth -= 1,
                    _ => {}
                }
            }
            let arguments = &call[..end];
            // Axum's `{*file}` is OpenAPI's `{file}`.
            let path = path.replace("{*", "{");
            for method in ["get", "put", "post", "delete", "patch"] {
                let called = arguments
                    .match_indices(&format!("{method}("))
                    .any(|(at, _)| {
                        at == 0
                            || !arguments[..at]
                                .ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
                    });
                if called {
                    served.insert((method.to_owned(), path.clone()));
                }
            }
        }
        served
    }

    fn documented() -> BTreeSet<(String, String)> {
        let mut document = ApiDoc::openapi();
        let mut documented = BTreeSet::new();
        for (path, item) in document.paths.paths.iter_mut() {
            for (method, _) in operations(item) {
                documented.insert((method.to_owned(), path.clone()));
            }
        }
        documented
    }

    #[test]
    fn every_route_the_server_serves_is_in_the_document_and_nothing_else() {
        let served = served();
        assert!(
            served.len() > 50,
            "read too few routes from mod.rs: {served:?}"
        );
        assert!(served.contains(&("put".into(), "/api/admin/plugins/config".into())));
        assert!(served.contains(&("post".into(), "/api/admin/plugins/config".into())));
        assert!(served.contains(&("get".into(), "/app/{file}".into())));
        let documented = documented();
        let missing: Vec<_> = served.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "served but not in the OpenAPI document: {missing:?}"
        );
        let extra: Vec<_> = documented.difference(&served).collect();
        assert!(
            extra.is_empty(),
            "in the document but not served: {extra:?}"
        );
    }

    #[test]
    fn every_operation_has_a_unique_id_its_errors_and_the_right_security() {
        let document = serde_json::to_value(ApiDoc::openapi()).expect("the document is JSON");
        assert_eq!(document["openapi"], "3.1.0");
        let mut ids = BTreeSet::new();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                let id = operation["operationId"].as_str().expect("an operationId");
                assert!(ids.insert(id.to_owned()), "{id} twice");
                let public = operation["security"] == serde_json::json!([{}]);
                let responses = &operation["responses"];
                if !public {
                    for status in ["401", "403", "429"] {
                        assert_eq!(
                            responses[status]["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/Detail",
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
        let public: BTreeSet<&str> = ["/health", "/auth/jwt/login", "/api/openapi.json", "/"]
            .into_iter()
            .collect();
        for path in public {
            let operations = document["paths"][path].as_object().expect(path);
            for operation in operations.values() {
                assert_eq!(operation["security"], serde_json::json!([{}]), "{path}");
            }
        }
        assert_eq!(
            document["paths"]["/api/conversations"]["get"]["security"],
            serde_json::Value::Null,
            "authenticated operations take the document's security"
        );
        assert_eq!(
            document["security"],
            serde_json::json!([{"bearer": []}, {"cookie": []}])
        );
    }
}
