//! Bearer tokens: HS256 JWTs compatible with the FastAPI-users tokens Chronicle clients hold
//! (audience `fastapi-users:auth`, `sub` = user id, one day), signed with a secret that is
//! configured or generated once into the data folder.

use std::os::unix::fs::OpenOptionsExt;
use std::time::{SystemTime, UNIX_EPOCH};

use chronicle_store::DataFolder;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

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
    /// The user's token generation at issue; tokens from before a password change are
    /// refused. Absent in tokens issued before generations existed: generation 0.
    #[serde(default)]
    generation: i64,
}

/// Who a valid token names, and in which generation it was issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSubject {
    /// The user id.
    pub user_id: String,
    /// The user's token generation when it was issued.
    pub generation: i64,
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
        // never leaves an empty or readable secret behind. The name is fresh each time: a
        // leftover of a crashed start (in a container, the pid is always 1) is never in the way.
        let staging = path.with_extension(format!("{}.tmp", uuid::Uuid::new_v4().simple()));
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

    /// A token for `user_id` in its token `generation`, valid for [`TOKEN_LIFETIME_SECONDS`].
    pub fn issue(&self, user_id: &str, generation: i64) -> anyhow::Result<String> {
        let now = unix_now();
        let claims = Claims {
            sub: user_id.to_owned(),
            aud: vec![AUDIENCE.to_owned()],
            iat: now,
            exp: now + TOKEN_LIFETIME_SECONDS,
            generation,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Who a valid, unexpired token names (whether that generation is still current is the
    /// caller's to check against the user).
    pub fn verify(&self, token: &str) -> Option<TokenSubject> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()
            .map(|data| TokenSubject {
                user_id: data.claims.sub,
                generation: data.claims.generation,
            })
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_tampering_and_other_secrets() {
        let tokens = Tokens::new(b"secret");
        let token = tokens.issue("user-1", 3).unwrap();
        assert_eq!(
            tokens.verify(&token),
            Some(TokenSubject {
                user_id: "user-1".into(),
                generation: 3
            })
        );
        assert_eq!(Tokens::new(b"other").verify(&token), None);
        assert_eq!(tokens.verify(&format!("{token}x")), None);
        assert_eq!(tokens.verify("garbage"), None);
    }

    #[test]
    fn secrets_are_generated_private_and_short_ones_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let tokens = Tokens::load(&DataFolder::new(dir.path()), None).unwrap();
        let token = tokens.issue("u", 0).unwrap();
        let file = dir.path().join("auth_secret");
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            Tokens::load(&DataFolder::new(dir.path()), None)
                .unwrap()
                .verify(&token)
                .map(|subject| subject.user_id)
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
    fn a_leftover_of_a_crashed_start_does_not_stop_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let folder = DataFolder::new(dir.path());
        std::fs::write(
            folder
                .auth_secret()
                .with_extension(std::process::id().to_string()),
            "",
        )
        .unwrap();
        std::fs::write(folder.auth_secret().with_extension("1"), "").unwrap();
        let tokens = Tokens::load(&folder, None).unwrap();
        let token = tokens.issue("u", 0).unwrap();
        assert!(tokens.verify(&token).is_some());
        assert!(folder.auth_secret().is_file());
    }
}
