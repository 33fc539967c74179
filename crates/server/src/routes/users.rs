//! Login and the current user.

use axum::Json;
use axum::extract::{Form, FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{CurrentUser, verify_password};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The largest login body taken (two short fields, and whatever else a form adds).
pub const MAX_LOGIN_BODY: usize = 16 * 1024;

#[derive(Deserialize)]
pub struct Login {
    username: String,
    password: String,
}

/// The login form, urlencoded (OAuth2's password form) or multipart (the web UI posts a
/// browser `FormData`); other fields (`grant_type`, `scope`, …) are ignored.
pub struct LoginForm(Login);

impl<S: Send + Sync> FromRequest<S> for LoginForm {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let multipart = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                value
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("multipart/form-data")
            });
        if !multipart {
            let Form(login) = Form::<Login>::from_request(request, state)
                .await
                .map_err(|rejection| refused(rejection.status(), rejection.body_text()))?;
            return Ok(LoginForm(login));
        }
        let mut form = Multipart::from_request(request, state)
            .await
            .map_err(|rejection| refused(rejection.status(), rejection.body_text()))?;
        let (mut username, mut password) = (None, None);
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|error| refused(error.status(), error.body_text()))?
        {
            let slot = match field.name() {
                Some("username") => &mut username,
                Some("password") => &mut password,
                _ => continue,
            };
            let text = field
                .text()
                .await
                .map_err(|error| refused(error.status(), error.body_text()))?;
            *slot = Some(text);
        }
        match (username, password) {
            (Some(username), Some(password)) => Ok(LoginForm(Login { username, password })),
            _ => Err(AppError::BadRequest(
                "the login form needs the fields `username` and `password`".into(),
            )),
        }
    }
}

/// A login body refused: too large (413) or malformed (400), in our error format.
fn refused(status: StatusCode, text: String) -> AppError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge(text)
    } else {
        AppError::BadRequest(text)
    }
}

/// `POST /auth/jwt/login`, form `username` (the email) and `password`.
pub async fn login(
    State(state): State<AppState>,
    LoginForm(login): LoginForm,
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

/// `GET /api/users/me`, and `GET /users/me` where the original's web UI asks.
pub async fn me(CurrentUser(user): CurrentUser) -> Json<Value> {
    Json(
        json!({"id": user.id, "email": user.email, "is_superuser": user.is_admin, "is_active": true, "created_at": user.created_at}),
    )
}
