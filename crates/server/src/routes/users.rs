//! Login and the current user.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{CurrentUser, verify_password};
use crate::error::{AppError, AppForm, AppResult};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Login {
    username: String,
    password: String,
}

/// `POST /auth/jwt/login`, form `username` (the email) and `password`.
pub async fn login(
    State(state): State<AppState>,
    AppForm(login): AppForm<Login>,
) -> AppResult<Json<Value>> {
    let user = state.store.user_by_email(login.username.trim()).await?;
    let hash = user.as_ref().map(|user| user.password_hash.clone());
    let verified = verify_password(login.password, hash).await;
    let Some(user) = user.filter(|_| verified) else {
        return Err(AppError::BadRequest("LOGIN_BAD_CREDENTIALS".into()));
    };
    let token = state.tokens.issue(&user.id)?;
    Ok(Json(json!({"access_token": token, "token_type": "bearer"})))
}

/// `GET /api/users/me`.
pub async fn me(CurrentUser(user): CurrentUser) -> Json<Value> {
    Json(
        json!({"id": user.id, "email": user.email, "is_superuser": user.is_admin, "is_active": true, "created_at": user.created_at}),
    )
}
