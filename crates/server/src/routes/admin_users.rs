//! `/api/admin/users`: the accounts, for admins — list, add, reset a password, make admin,
//! deactivate. The same rules as `chronicle user add`: passwords of at least
//! [`crate::auth::MIN_PASSWORD_CHARS`] characters, emails unique whatever their case.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chronicle_store::User;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{AdminUser, check_password, hash_password};
use crate::error::{AppError, AppJson, AppResult};
use crate::state::AppState;

/// A user as admins see them (never the hash).
fn shown(user: &User) -> Value {
    json!({
        "id": user.id,
        "email": user.email,
        "is_admin": user.is_admin,
        "is_active": user.is_active,
        "created_at": user.created_at,
    })
}

#[utoipa::path(
    get, path = "/api/admin/users", summary = "List users", tag = "admin",
    responses((status = 200, description = "Every user", body = super::schemas::UserList))
)]
pub async fn list(State(state): State<AppState>, _admin: AdminUser) -> AppResult<Json<Value>> {
    let users = state.store.list_users().await?;
    Ok(Json(
        json!({"users": users.iter().map(shown).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    email: String,
    password: String,
    #[serde(default)]
    is_admin: bool,
}

#[utoipa::path(
    post, path = "/api/admin/users", summary = "Add a user", tag = "admin", request_body = NewUser,
    responses(
        (status = 201, description = "The user", body = super::schemas::UserView),
        (status = 409, description = "The email is taken", body = super::schemas::Detail),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppJson(new): AppJson<NewUser>,
) -> AppResult<(StatusCode, Json<Value>)> {
    let email = new.email.trim();
    if !email.contains('@') {
        return Err(AppError::BadRequest(format!(
            "`{email}` is not an email address"
        )));
    }
    check_password(&new.password).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let hash = hash_password(new.password).await?;
    let user = state.store.create_user(email, &hash, new.is_admin).await?;
    Ok((StatusCode::CREATED, Json(shown(&user))))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UserChange {
    password: Option<String>,
    is_admin: Option<bool>,
    is_active: Option<bool>,
}

#[utoipa::path(
    patch, path = "/api/admin/users/{id}", summary = "Change a user", tag = "admin", request_body = UserChange,
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, description = "The user as they are now", body = super::schemas::UserView))
)]
pub async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    AppJson(change): AppJson<UserChange>,
) -> AppResult<Json<Value>> {
    let store = &state.store;
    if store.user(&id).await?.is_none() {
        return Err(AppError::NotFound(format!("No user {id}")));
    }
    // An admin who demotes or deactivates themself could leave no one to undo it.
    if id == admin.id && (change.is_admin == Some(false) || change.is_active == Some(false)) {
        return Err(AppError::BadRequest(
            "you cannot remove your own admin rights or deactivate yourself; \
             ask another admin"
                .into(),
        ));
    }
    if let Some(password) = change.password {
        check_password(&password).map_err(|e| AppError::BadRequest(e.to_string()))?;
        store
            .set_password(&id, &hash_password(password).await?)
            .await?;
    }
    if let Some(is_admin) = change.is_admin {
        store.set_admin(&id, is_admin).await?;
    }
    if let Some(is_active) = change.is_active {
        store.set_active(&id, is_active).await?;
    }
    let user = store
        .user(&id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No user {id}")))?;
    Ok(Json(shown(&user)))
}
