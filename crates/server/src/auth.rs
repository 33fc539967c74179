//! Users and passwords (argon2 hashes) and who a request is: [`CurrentUser`] and [`AdminUser`]
//! from a bearer token ([`Tokens`], in `tokens.rs`), a personal API key (`api_keys.rs`, within
//! its scope: read for `GET`, write for changes and device streams, admin for admin routes), or
//! the web app's session cookie ([`SESSION_COOKIE`], `HttpOnly`, `SameSite=Strict`), which
//! counts only on requests made by this server's own pages (the `Origin` check of `origin.rs`).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::Method;
use axum::http::request::Parts;
use chronicle_store::{KeyScope, Owner, Store, User};

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

/// How a request proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A login: a bearer JWT or the session cookie. Everything the user may do.
    Login,
    /// A personal API key, within its scope.
    Key(KeyScope),
}

impl Credential {
    /// Refuses what this credential's scope does not cover, saying what it would need.
    pub fn allows(self, needs: KeyScope) -> Result<(), AppError> {
        match self {
            Credential::Key(scope) if scope < needs => Err(AppError::Refused(format!(
                "this API key has the {scope} scope; this request needs {needs}"
            ))),
            _ => Ok(()),
        }
    }
}

/// The user a token (a login's JWT or an API key) names, if it is valid, the user still
/// exists and is active, and a JWT was issued since the user's last password change; 401
/// otherwise. A key's request counts against its rate limit (429 past it).
pub async fn authenticate(state: &AppState, token: &str) -> Result<(User, Credential), AppError> {
    if crate::api_keys::is_api_key(token) {
        let (user, key) = crate::api_keys::authenticate(&state.store, token)
            .await
            .ok_or(AppError::Unauthorized)?;
        let limits = &state.core.rate_limits;
        if let Err(retry_after) = limits.check(&key.id, &user.id, std::time::Instant::now()) {
            return Err(AppError::TooManyRequests {
                message: format!(
                    "more than {} requests a minute with this user's API keys; try again in \
                     {retry_after} s",
                    limits.per_minute()
                ),
                retry_after,
            });
        }
        return Ok((user, Credential::Key(key.scope)));
    }
    let subject = state.tokens.verify(token).ok_or(AppError::Unauthorized)?;
    let user = state
        .store
        .user(&subject.user_id)
        .await
        .ok()
        .flatten()
        .ok_or(AppError::Unauthorized)?;
    if user.is_active && user.token_generation == subject.generation {
        Ok((user, Credential::Login))
    } else {
        Err(AppError::Unauthorized)
    }
}

/// The user a token names, as [`authenticate`], when its credential covers `needs` (a device
/// stream needs [`KeyScope::Write`]).
pub async fn user_for_token(state: &AppState, token: &str, needs: KeyScope) -> Option<User> {
    let refusal = match authenticate(state, token).await {
        Ok((user, credential)) => match credential.allows(needs) {
            Ok(()) => return Some(user),
            Err(refusal) => refusal,
        },
        Err(AppError::Unauthorized) => return None,
        Err(refusal) => refusal,
    };
    tracing::warn!(%refusal, "Refusing a token.");
    None
}

/// What a request's method needs of a key: reading for `GET`, `HEAD` and `OPTIONS`, writing
/// for the rest.
fn scope_for(method: &Method) -> KeyScope {
    if [Method::GET, Method::HEAD, Method::OPTIONS].contains(method) {
        KeyScope::Read
    } else {
        KeyScope::Write
    }
}

/// Who the request is, from its bearer token or key, or its session cookie (from this
/// server's pages only).
async fn caller(parts: &Parts, state: &AppState) -> Result<(User, Credential), AppError> {
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
    authenticate(state, token).await
}

/// Implements `FromRequestParts` for an extractor made from the request's caller (who it is
/// and how it proved it, [`caller`]) by `$build`, which may refuse.
macro_rules! from_caller {
    ($extractor:ident, |$parts:ident, $user:ident, $credential:ident| $build:expr) => {
        impl<S> FromRequestParts<S> for $extractor
        where
            AppState: FromRef<S>,
            S: Send + Sync,
        {
            type Rejection = AppError;

            async fn from_request_parts(
                $parts: &mut Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                let state = AppState::from_ref(state);
                let ($user, $credential) = caller($parts, &state).await?;
                $build
            }
        }
    };
}

/// The user of a request and how they proved it, with no scope checked yet: for a route that
/// decides per operation what it needs (`/mcp`: reading tools with a read key, `add_memory`
/// only with write).
pub struct Authenticated(pub User, pub Credential);

from_caller!(Authenticated, |parts, user, credential| Ok(Authenticated(
    user, credential
)));

/// The user of a request made with a login (a JWT or the session cookie), not an API key:
/// what making API keys takes, so a leaked key cannot make more.
pub struct LoggedIn(pub User);

from_caller!(LoggedIn, |parts, user, credential| match credential {
    Credential::Login => Ok(LoggedIn(user)),
    Credential::Key(_) => Err(AppError::Refused(
        "API keys are made with a login, not with another key".into(),
    )),
});

// A key's scope must cover the method: reading for `GET`, writing for the rest.
from_caller!(CurrentUser, |parts, user, credential| {
    credential.allows(scope_for(&parts.method))?;
    Ok(CurrentUser(user))
});

// An admin's login, or an admin's key with the admin scope.
from_caller!(AdminUser, |parts, user, credential| {
    if !user.is_admin {
        return Err(AppError::Forbidden);
    }
    credential.allows(KeyScope::Admin)?;
    Ok(AdminUser(user))
});

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
