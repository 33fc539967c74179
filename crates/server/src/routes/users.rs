//! Login and the current user.

use axum::Json;
use axum::extract::{Form, FromRequest, Multipart, Request, State};
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{CurrentUser, SESSION_COOKIE, TOKEN_LIFETIME_SECONDS, verify_password};
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

/// The address a request came from, when the server knows it.
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

/// `POST /auth/jwt/login`, form `username` (the email) and `password`. Limited per account
/// and per address (see [`crate::login_limits`]): past a few wrong passwords an attempt
/// waits, answered 429 with `Retry-After`.
#[utoipa::path(
    post, path = "/auth/jwt/login", summary = "Log in: a JWT", tag = "auth", security(()),
    description = "Limited per account and per address: past a few wrong passwords an attempt waits (429 with `Retry-After`).",
    request_body(content = super::schemas::LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A JWT", body = super::schemas::Token),
        (status = 400, description = "`LOGIN_BAD_CREDENTIALS`, or a malformed form", body = super::schemas::Detail),
        (status = 429, description = "Too many failed logins", body = super::schemas::Detail),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    LoginForm(login): LoginForm,
) -> AppResult<Json<Value>> {
    let token = authenticate(&state, address, login).await?;
    Ok(Json(json!({"access_token": token, "token_type": "bearer"})))
}

/// `POST /auth/cookie/login`, the same form and limits as [`login`]: 204 with the session in
/// an `HttpOnly`, `SameSite=Strict` cookie, for the web app (scripts never see the token).
#[utoipa::path(
    post, path = "/auth/cookie/login", summary = "Sign in to the web app: a session cookie", tag = "auth", security(()),
    description = "The web app's sign-in: the session in an `HttpOnly`, `SameSite=Strict` cookie.",
    request_body(content = super::schemas::LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "Signed in: `Set-Cookie`"),
        (status = 400, description = "`LOGIN_BAD_CREDENTIALS`, or a malformed form", body = super::schemas::Detail),
        (status = 429, description = "Too many failed logins", body = super::schemas::Detail),
    )
)]
pub async fn cookie_login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    LoginForm(login): LoginForm,
) -> AppResult<Response> {
    let token = authenticate(&state, address, login).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={TOKEN_LIFETIME_SECONDS}"
    );
    session_cookie(&cookie)
}

/// `POST /auth/cookie/logout`: 204, and the session cookie removed.
#[utoipa::path(
    post, path = "/auth/cookie/logout", summary = "Sign out of the web app", tag = "auth", security(()),
    responses((status = 204, description = "Signed out: the cookie removed"))
)]
pub async fn cookie_logout() -> AppResult<Response> {
    session_cookie(&format!(
        "{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    ))
}

fn session_cookie(cookie: &str) -> AppResult<Response> {
    let value = HeaderValue::from_str(cookie)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("cannot set the cookie: {e}")))?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(SET_COOKIE, value);
    Ok(response)
}

/// Checks a login form against the limits and the password; a new token for the user.
async fn authenticate(
    state: &AppState,
    address: Option<std::net::IpAddr>,
    login: Login,
) -> AppResult<String> {
    let email = login.username.trim();
    let limits = &state.core.login_limits;
    if let Some(wait) = limits.wait(email, address) {
        let retry_after = wait.as_secs().max(1);
        return Err(AppError::TooManyRequests {
            message: format!("too many failed logins; try again in {retry_after} s"),
            retry_after,
        });
    }
    let user = state.store.user_by_email(email).await?;
    let hash = user.as_ref().map(|user| user.password_hash.clone());
    let verified = verify_password(login.password, hash).await;
    // A deactivated account is answered like a wrong password: same work, same words.
    let Some(user) = user.filter(|user| verified && user.is_active) else {
        limits.failed(email, address);
        return Err(AppError::BadRequest("LOGIN_BAD_CREDENTIALS".into()));
    };
    limits.succeeded(email);
    Ok(state.tokens.issue(&user.id, user.token_generation)?)
}

/// `GET /api/users/me`, and `GET /users/me` where the original's web UI asks.
#[utoipa::path(
    get, path = "/api/users/me", summary = "The caller", tag = "auth",
    responses((status = 200, description = "The caller", body = super::schemas::Me))
)]
pub async fn me(CurrentUser(user): CurrentUser) -> Json<Value> {
    Json(
        json!({"id": user.id, "email": user.email, "is_superuser": user.is_admin, "is_admin": user.is_admin, "is_active": user.is_active, "created_at": user.created_at}),
    )
}
