//! Users, passwords and tokens: argon2 hashes, HS256 JWTs compatible with the FastAPI-users
//! tokens Chronicle clients hold (audience `fastapi-users:auth`, `sub` = user id, one day).

use std::os::unix::fs::OpenOptionsExt;
use std::time::{SystemTime, UNIX_EPOCH};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use chronicle_store::{DataFolder, Owner, Store, User};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::state::AppState;

/// The token audience FastAPI-users issues and checks.
const AUDIENCE: &str = "fastapi-users:auth";
/// How long a token lives.
pub const TOKEN_LIFETIME_SECONDS: u64 = 86_400;

/// Signs and checks tokens.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    aud: Vec<String>,
    exp: u64,
    iat: u64,
}

impl Tokens {
    /// Keys from `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// The secret: `AUTH_SECRET_KEY`, or one generated once and kept in the data folder's
    /// `auth_secret` (readable by this user only), so tokens survive restarts.
    pub fn load(folder: &DataFolder, configured: Option<String>) -> anyhow::Result<Self> {
        if let Some(secret) = configured.filter(|s| !s.is_empty()) {
            anyhow::ensure!(
                secret.len() >= 16,
                "AUTH_SECRET_KEY must have at least 16 characters"
            );
            return Ok(Self::new(secret.as_bytes()));
        }
        let path = folder.auth_secret();
        if let Ok(secret) = std::fs::read_to_string(&path) {
            let secret = secret.trim();
            anyhow::ensure!(
                secret.len() >= 32,
                "{} holds no usable secret (too short); delete it to have a new one generated",
                path.display()
            );
            return Ok(Self::new(secret.as_bytes()));
        }
        let secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        std::fs::create_dir_all(folder.root())?;
        // Written whole under another name, readable by this user only, then renamed: a crash
        // never leaves an empty or readable secret behind.
        let staging = path.with_extension(std::process::id().to_string());
        {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&staging)?;
            file.write_all(secret.as_bytes())?;
            file.sync_all()?;
        }
        std::fs::rename(&staging, &path)?;
        Ok(Self::new(secret.as_bytes()))
    }

    /// A token for `user_id`, valid for [`TOKEN_LIFETIME_SECONDS`].
    pub fn issue(&self, user_id: &str) -> anyhow::Result<String> {
        let now = unix_now();
        let claims = Claims {
            sub: user_id.to_owned(),
            aud: vec![AUDIENCE.to_owned()],
            iat: now,
            exp: now + TOKEN_LIFETIME_SECONDS,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// The user id a valid, unexpired token names.
    pub fn verify(&self, token: &str) -> Option<String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()
            .map(|data| data.claims.sub)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

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
    known
        && tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
}

/// Creates a user, or updates the password and role of an existing one.
pub async fn ensure_user(
    store: &Store,
    email: &str,
    password: &str,
    admin: bool,
) -> anyhow::Result<User> {
    let hash = hash_password(password.to_owned()).await?;
    match store.user_by_email(email).await? {
        Some(user) => {
            store.set_password(&user.id, &hash).await?;
            store.set_admin(&user.id, admin).await?;
            Ok(store.user(&user.id).await?.unwrap_or(user))
        }
        None => Ok(store.create_user(email, &hash, admin).await?),
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

/// The user a token names, if it is valid and the user still exists.
pub async fn user_for_token(state: &AppState, token: &str) -> Option<User> {
    let user_id = state.tokens.verify(token)?;
    state.store.user(&user_id).await.ok().flatten()
}

impl<S> FromRequestParts<S> for CurrentUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .ok_or(AppError::Unauthorized)?;
        user_for_token(&state, token.trim())
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
    fn tokens_round_trip_and_reject_tampering_and_other_secrets() {
        let tokens = Tokens::new(b"secret");
        let token = tokens.issue("user-1").unwrap();
        assert_eq!(tokens.verify(&token).as_deref(), Some("user-1"));
        assert_eq!(Tokens::new(b"other").verify(&token), None);
        assert_eq!(tokens.verify(&format!("{token}x")), None);
        assert_eq!(tokens.verify("garbage"), None);
    }

    #[test]
    fn secrets_are_generated_private_and_short_ones_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let tokens = Tokens::load(&DataFolder::new(dir.path()), None).unwrap();
        let token = tokens.issue("u").unwrap();
        let file = dir.path().join("auth_secret");
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            Tokens::load(&DataFolder::new(dir.path()), None)
                .unwrap()
                .verify(&token)
                .as_deref(),
            Some("u"),
            "kept across restarts"
        );
        std::fs::write(&file, "").unwrap();
        assert!(
            Tokens::load(&DataFolder::new(dir.path()), None).is_err(),
            "an empty secret file is refused"
        );
        assert!(Tokens::load(&DataFolder::new(dir.path()), Some("short".into())).is_err());
        assert!(
            Tokens::load(
                &DataFolder::new(dir.path()),
                Some("a-long-enough-secret".into())
            )
            .is_ok()
        );
    }

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
