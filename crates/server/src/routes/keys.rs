//! `/api/keys`: a user's personal API keys. Made only with a login (a JWT or the web app's
//! session), never with another key; listed and revoked by their owner (or an admin). The key
//! is in the answer that makes it and nowhere else, ever.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chronicle_store::KeyScope;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api_keys::{create as create_key, parse_lifetime};
use crate::auth::{CurrentUser, LoggedIn};
use crate::error::{AppError, AppJson, AppQuery, AppResult};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewKey {
    name: String,
    scope: String,
    /// `90d`, `12h`, `30m`, `45s`; absent or null: it does not expire.
    #[serde(default)]
    expires: Option<String>,
}

/// `POST /api/keys` {name, scope, expires?} → 201 {key, api_key}.
#[utoipa::path(
    post, path = "/api/keys", summary = "Make an API key", tag = "keys", request_body = NewKey,
    description = "Only with a login (a JWT or the web app's session), never with another key.",
    responses((status = 201, description = "The key: shown this once", body = super::schemas::KeyCreated))
)]
pub async fn create(
    State(state): State<AppState>,
    LoggedIn(user): LoggedIn,
    AppJson(new): AppJson<NewKey>,
) -> AppResult<(StatusCode, Json<Value>)> {
    let scope: KeyScope = new.scope.parse().map_err(AppError::BadRequest)?;
    let lifetime = new
        .expires
        .as_deref()
        .map(parse_lifetime)
        .transpose()
        .map_err(AppError::BadRequest)?;
    let (key, record) = create_key(&state.store, &user, &new.name, scope, lifetime).await?;
    tracing::info!(user = user.email, key = record.prefix, %scope, "API key made.");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "key": key,
            "api_key": record,
            "note": "This is the only time the key is shown: keep it now.",
        })),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// An admin's `?all=true`: every user's keys.
    #[serde(default)]
    all: bool,
}

/// `GET /api/keys`: mine, newest first (an admin's `?all=true`: everyone's).
#[utoipa::path(
    get, path = "/api/keys", summary = "List API keys", tag = "keys", params(ListQuery),
    responses((status = 200, description = "The caller's keys, newest first, without the keys themselves", body = super::schemas::KeyList))
)]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(query): AppQuery<ListQuery>,
) -> AppResult<Json<Value>> {
    let owner = if query.all {
        if !user.0.is_admin {
            return Err(AppError::Forbidden);
        }
        user.owner()
    } else {
        chronicle_store::Owner::User(user.0.id.clone())
    };
    let keys = state.store.api_keys(&owner).await?;
    Ok(Json(json!({"keys": keys})))
}

/// `DELETE /api/keys/{id}`: revoked from the next request on.
#[utoipa::path(
    delete, path = "/api/keys/{id}", summary = "Revoke an API key", tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 200, description = "Revoked from the next request on", body = super::schemas::KeyRevoked))
)]
pub async fn revoke(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    let record = state.store.revoke_api_key(&user.owner(), &id).await?;
    tracing::info!(user = user.0.email, key = record.prefix, "API key revoked.");
    Ok(Json(json!({"api_key": record})))
}
