//! Personal API keys: `chr_` and 64 hex digits (244 random bits), shown once when made; the
//! store keeps only their SHA-256 (a key is random, so a fast hash is as safe as a slow one
//! and lets each request find its key by an index). A key is accepted wherever a bearer token
//! is, within its [`KeyScope`].

use std::time::{Duration, SystemTime};

use chronicle_store::{ApiKey, KeyScope, NewApiKey, Store, StoreError, User, time};
use sha2::{Digest, Sha256};

/// What every key starts with, so a token is told from a key at a glance (and by scanners
/// that look for leaked credentials).
pub const KEY_PREFIX: &str = "chr_";

/// How many of a key's characters are kept to tell keys apart (`chr_` and 8).
const SHOWN_CHARS: usize = 12;

/// The hex SHA-256 of `key`: what the store keeps.
pub fn key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whether `token` is shaped like a key (rather than a login's JWT).
pub fn is_api_key(token: &str) -> bool {
    token.starts_with(KEY_PREFIX)
}

/// `90d`, `12h`, `30m`, `45s` or a bare number of days, as a duration; the error says what is
/// taken.
pub fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "d"),
    };
    let count: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a lifetime; write e.g. 90d, 12h or 30m"))?;
    let seconds = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        other => {
            return Err(format!(
                "`{other}` is not a unit; write days (90d), hours (12h), minutes (30m) or \
                 seconds (45s)"
            ));
        }
    };
    if count == 0 {
        return Err("a key must live longer than that; leave the expiry out for none".into());
    }
    count
        .checked_mul(seconds)
        .filter(|total| *total <= 100 * 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is over a hundred years; leave the expiry out for none"))
}

/// A new key for `user`, stored; the key itself (shown once) and its record.
pub async fn create(
    store: &Store,
    user: &User,
    name: &str,
    scope: KeyScope,
    lifetime: Option<Duration>,
) -> Result<(String, ApiKey), StoreError> {
    if scope == KeyScope::Admin && !user.is_admin {
        return Err(StoreError::Invalid(format!(
            "{} is not an admin, so their keys cannot have the admin scope; use read or write",
            user.email
        )));
    }
    let key = format!(
        "{KEY_PREFIX}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let expires_at = lifetime.map(|lifetime| time::rfc3339(SystemTime::now() + lifetime));
    let record = store
        .create_api_key(NewApiKey {
            user_id: user.id.clone(),
            name: name.to_owned(),
            scope,
            key_hash: key_hash(&key),
            prefix: key.chars().take(SHOWN_CHARS).collect(),
            expires_at,
        })
        .await?;
    Ok((key, record))
}

/// The user and the key record `key` stands for, if it is a stored key, not revoked or
/// expired, of an active user. Its use is recorded (once a minute).
pub async fn authenticate(store: &Store, key: &str) -> Option<(User, ApiKey)> {
    let record = store.api_key_by_hash(&key_hash(key)).await.ok().flatten()?;
    let now = time::now();
    if !record.is_valid_at(&now) {
        return None;
    }
    let user = store.user(&record.user_id).await.ok().flatten()?;
    if !user.is_active {
        return None;
    }
    // Recorded to the minute: a key already used this minute costs no write (and no write
    // lock) on every request.
    let minute = |time: &str| time.get(..16).map(str::to_owned);
    if record.last_used_at.as_deref().and_then(minute) < minute(&now)
        && let Err(error) = store.touch_api_key(&record.id, &now).await
    {
        tracing::warn!(%error, key = record.prefix, "Could not record an API key's use.");
    }
    Some((user, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_days_hours_or_minutes() {
        assert_eq!(parse_lifetime("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_lifetime("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert_eq!(parse_lifetime("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_lifetime("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_lifetime("7"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_lifetime("0d").is_err());
        assert!(parse_lifetime("3w").unwrap_err().contains("not a unit"));
        assert!(
            parse_lifetime("soon")
                .unwrap_err()
                .contains("not a lifetime")
        );
        assert!(parse_lifetime("99999999999d").is_err());
    }

    #[test]
    fn a_key_is_told_from_a_token_and_hashed_as_hex() {
        assert!(is_api_key("chr_0123"));
        assert!(!is_api_key("eyJhbGciOi.x.y"));
        let hash = key_hash("chr_abc");
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, key_hash("chr_abd"));
    }
}
