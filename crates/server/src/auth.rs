//! Users and passwords (argon2 hashes) and who a request is: [`CurrentUser`] and [`AdminUser`]
//! from a bearer token ([`Tokens`], in `tokens.rs`), or from the web app's session cookie
//! ([`SESSION_COOKIE`], `HttpOnly`, `SameSite=Strict`), which counts only on requests made by
//! this server's own pages (the `Origin` check of `origin.rs`).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use chronicle_store::{Owner, Store, User};

use crate::error::AppError;
use crate::state::AppState;
pub use crate::tokens::{TOKEN_LIFETIME_SECONDS, Tokens};

/// An argon2id hash of `password` (slow on purpose: run it off the async threads).
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        // Argon2id with default parameters and a random salt.
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
    })
    .await?
}

/// How many password checks run at once: argon2 is slow and memory-hungry by design, and a
/// flood of logins must not take every blocking thread the store needs.
static PASSWORD_CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// A hash to check against when the email is unknown, so an unknown and a known email take
/// the same time and nobody learns which accounts exist. Made once, on first need.
static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// Whether `password` matches `hash` (`None`: no such user; the same work is done anyway).
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    let Ok(_permit) = PASSWORD_CHECKS.acquire().await else {
        return false;
    };
    let known = hash.is_some();
    let hash = match hash {
        Some(hash) => hash,
        None => match DUMMY_HASH
            .get_or_try_init(|| hash_password(uuid::Uuid::new_v4().to_string()))
            .await
        {
            Ok(dummy) => dummy.clone(),
            Err(_) => return false,
        },
    };
    // The check runs for an unknown email too (against the dummy), so both take as long.
    let matches = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    matches && known
}

/// The shortest password accepted, for `ADMIN_PASSWORD` and `chronicle user add`.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Refuses a password shorter than [`MIN_PASSWORD_CHARS`], saying so.
pub fn check_password(password: &str) -> anyhow::Result<()> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        anyhow::bail!(
            "the password has {chars} characters; at least {MIN_PASSWORD_CHARS} are needed"
        );
    }
    Ok(())
}

/// Creates a user, or updates the password and role of an existing one. The password is
/// replaced (which refuses the user's older tokens) only when it is a different one, so a
/// server restarted with the same `ADMIN_PASSWORD` keeps its sessions.
pub async fn ensure_user(
    store: &Store,
    email: &str,
    password: &str,
    admin: bool,
) -> anyhow::Result<User> {
    check_password(password)?;
    match store.user_by_email(email).await? {
        Some(user) => {
            let same = verify_password(password.to_owned(), Some(user.password_hash.clone())).await;
            if !same {
                let hash = hash_password(password.to_owned()).await?;
                store.set_password(&user.id, &hash).await?;
            }
            store.set_admin(&user.id, admin).await?;
            Ok(store.user(&user.id).await?.unwrap_or(user))
        }
        None => {
            let hash = hash_password(password.to_owned()).await?;
            Ok(store.create_user(email, &hash, admin).await?)
        }
    }
}

/// The user of a request with a valid bearer token.
pub struct CurrentUser(pub User);

impl CurrentUser {
    /// What this user may see: their own rows, or everything for an admin.
    pub fn owner(&self) -> Owner {
        if self.0.is_admin {
            Owner::Admin
        } else {
            Owner::User(self.0.id.clone())
        }
    }
}

/// The user of a request, who must be an admin.
pub struct AdminUser(pub User);

/// The token of an `Authorization: Bearer …` header, if the request has one.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// The cookie the web app's session is kept in: the original's name, so its clients find it.
pub const SESSION_COOKIE: &str = "fastapiusersauth";

/// The session cookie's token, if the request carries one.
pub fn cookie_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .find_map(|cookie| {
            cookie
                .trim()
                .strip_prefix(SESSION_COOKIE)
                .and_then(|rest| rest.strip_prefix('='))
        })
        .filter(|token| !token.is_empty())
}

/// The user a token names, if it is valid, the user still exists, is active and the token was
/// issued since the user's last password change.
pub async fn user_for_token(state: &AppState, token: &str) -> Option<User> {
    let subject = state.tokens.verify(token)?;
    let user = state.store.user(&subject.user_id).await.ok().flatten()?;
    (user.is_active && user.token_generation == subject.generation).then_some(user)
}

impl<S> FromRequestParts<S> for CurrentUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = match bearer_token(&parts.headers) {
            Some(token) => token,
            None => {
                let token = cookie_token(&parts.headers).ok_or(AppError::Unauthorized)?;
                // A browser attaches the cookie to whatever any site's page asks of us.
                if !crate::origin::same_site(&parts.headers, &state.core.config.allowed_origins) {
                    tracing::warn!(
                        origin = ?parts.headers.get(axum::http::header::ORIGIN),
                        "Refusing a cookie-authenticated request from another site."
                    );
                    return Err(AppError::Forbidden);
                }
                token
            }
        };
        user_for_token(&state, token)
            .await
            .map(CurrentUser)
            .ok_or(AppError::Unauthorized)
    }
}

impl<S> FromRequestParts<S> for AdminUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let CurrentUser(user) = CurrentUser::from_request_parts(parts, state).await?;
        if user.is_admin {
            Ok(AdminUser(user))
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// `abc123-pendant`: the last six characters of the user id and the device name, lowercased,
/// reduced to `[a-z0-9-]` and ten characters, as the original server formed client ids.
pub fn client_id(user_id: &str, device_name: &str) -> String {
    let tail: String = user_id
        .chars()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut device: String = device_name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .take(10)
        .collect();
    if device.is_empty() {
        device = "device".into();
    }
    format!("{tail}-{device}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_follow_the_original() {
        assert_eq!(
            client_id("0123456789abcdef", "My Pendant!"),
            "abcdef-mypendant"
        );
        assert_eq!(client_id("u1", "plugin-test-ws"), "u1-plugin-tes");
        assert_eq!(client_id("abcdefgh", "***"), "cdefgh-device");
    }

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let hash = hash_password("hunter2".into()).await.unwrap();
        assert!(verify_password("hunter2".into(), Some(hash.clone())).await);
        assert!(!verify_password("hunter3".into(), Some(hash)).await);
        assert!(!verify_password("hunter2".into(), None).await);
    }
}
