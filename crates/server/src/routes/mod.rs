//! The HTTP API: one module per area, assembled by [`app`].
//!
//! Architecture Invariant: every `/api` route takes [`crate::auth::CurrentUser`] or
//! [`crate::auth::AdminUser`]; data routes scope reads by [`chronicle_store::Owner`], so a user
//! sees only their own rows and an admin sees all.

mod admin;
mod admin_users;
mod audio;
mod chat;
mod conversations;
pub mod deliveries;
mod documents;
mod events;
mod keys;
mod live;
mod mcp;
mod memories;
pub mod openapi;
mod plugin_settings;
mod schemas;
mod search;
mod system;
mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post};

use crate::state::AppState;

/// The whole application.
pub fn app(state: AppState) -> Router {
    let uploads = Router::new()
        .route("/api/process-audio-files", post(audio::receive))
        .route("/api/audio/upload", post(audio::receive))
        .layer(DefaultBodyLimit::max(audio::MAX_UPLOAD));
    Router::new()
        .route("/", get(crate::web::index))
        .route("/app/{*file}", get(crate::web::file))
        .route("/health", get(system::health))
        .route("/metrics", get(system::metrics))
        .route("/api/system", get(system::info))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/api/docs", get(openapi::docs))
        .route(
            "/auth/jwt/login",
            post(users::login).layer(DefaultBodyLimit::max(users::MAX_LOGIN_BODY)),
        )
        .route(
            "/auth/cookie/login",
            post(users::cookie_login).layer(DefaultBodyLimit::max(users::MAX_LOGIN_BODY)),
        )
        .route("/auth/cookie/logout", post(users::cookie_logout))
        .route("/api/users/me", get(users::me))
        .route("/users/me", get(users::me))
        .route("/ws", get(crate::ws::handler))
        .route("/ws/audio", get(crate::ws_audio::handler))
        .route("/api/conversations", get(conversations::list))
        .route(
            "/api/conversations/{id}",
            get(conversations::get).delete(conversations::delete),
        )
        .route("/api/conversations/{id}/audio", get(conversations::audio))
        .route(
            "/api/conversations/{id}/memories",
            get(conversations::memories),
        )
        .route("/api/conversations/{id}/star", post(conversations::star))
        .route("/api/conversations/{id}/close", post(conversations::close))
        .route("/api/sessions", get(conversations::sessions))
        .route("/api/live/stream", get(live::stream))
        .route("/api/memories", get(memories::list).post(memories::create))
        .route("/api/memories/search", get(memories::search))
        .route(
            "/api/memories/{id}",
            delete(memories::delete).patch(memories::update),
        )
        .route("/api/plugins/documents", get(documents::collections))
        .route(
            "/api/plugins/{plugin_id}/documents/{collection}",
            get(documents::page),
        )
        .route("/api/events", get(events::list).delete(events::clear))
        .route("/api/events/stream", get(events::stream))
        .route("/api/admin/plugins/health", get(admin::health))
        .route("/api/admin/plugins/metadata", get(admin::metadata))
        .route(
            "/api/admin/plugins/config",
            get(admin::get_config)
                .put(admin::put_config)
                .post(admin::put_config),
        )
        .route(
            "/api/admin/plugins/config/validate",
            post(admin::validate_config),
        )
        .route(
            "/api/admin/plugins/config/structured/{id}",
            post(plugin_settings::save),
        )
        .route("/api/admin/plugins/reload", post(admin::reload))
        .route(
            "/api/admin/plugins/{id}/test-connection",
            post(admin::test_connection),
        )
        .route(
            "/api/admin/users",
            get(admin_users::list).post(admin_users::create),
        )
        .route("/api/admin/users/{id}", patch(admin_users::update))
        .route("/api/search", get(search::search))
        .route("/api/chat/sessions", get(chat::list).post(chat::create))
        .route("/api/chat/sessions/{id}", get(chat::get))
        .route("/api/chat/sessions/{id}/messages", post(chat::ask))
        .route("/api/keys", get(keys::list).post(keys::create))
        .route(
            "/mcp",
            post(mcp::post).get(mcp::not_here).delete(mcp::not_here),
        )
        .route("/api/keys/{id}", delete(keys::revoke))
        .route("/api/admin/deliveries", get(deliveries::list))
        .route(
            "/api/admin/deliveries/replay-dead",
            post(deliveries::replay_dead),
        )
        .route(
            "/api/admin/deliveries/{id}/replay",
            post(deliveries::replay_one),
        )
        .merge(uploads)
        .with_state(state)
}
