//! Personal API keys: what a program holds instead of a password. The store keeps each key's
//! hash, never the key; the server makes the key and hashes it (`crates/server/src/api_keys.rs`).

use std::fmt;
use std::str::FromStr;

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use crate::db::DbError;
use crate::store::new_id;
use crate::users::{found, unknown_user};
use crate::{Owner, Store, StoreError, time};

/// What a key may do. Each scope includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    /// Reading: `GET` requests.
    Read,
    /// Reading and changing: uploads, edits, devices streaming, chat.
    Write,
    /// Everything, admin routes too (and only for an admin's key).
    Admin,
}

impl KeyScope {
    /// Its name, as stored and as the API and CLI take it.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Read => "read",
            KeyScope::Write => "write",
            KeyScope::Admin => "admin",
        }
    }
}

impl fmt::Display for KeyScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyScope {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(KeyScope::Read),
            "write" => Ok(KeyScope::Write),
            "admin" => Ok(KeyScope::Admin),
            other => Err(format!(
                "`{other}` is not a scope; use read, write or admin"
            )),
        }
    }
}

/// A key as its owner sees it: everything but the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    /// UUID v4: what revocation names.
    pub id: String,
    /// Its owner.
    pub user_id: String,
    /// What its owner called it ("Claude Desktop").
    pub name: String,
    /// What it may do.
    pub scope: KeyScope,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; none: it does not expire.
    pub expires_at: Option<String>,
    /// RFC 3339, to the minute: when it was last accepted.
    pub last_used_at: Option<String>,
    /// RFC 3339; set: it is refused.
    pub revoked_at: Option<String>,
}

impl ApiKey {
    /// Whether it is accepted at `now` (RFC 3339): not revoked, not expired.
    pub fn is_valid_at(&self, now: &str) -> bool {
        self.revoked_at.is_none()
            && self
                .expires_at
                .as_deref()
                .is_none_or(|expires| expires > now)
    }
}

/// A key to store.
pub struct NewApiKey {
    /// Its owner (must exist).
    pub user_id: String,
    /// Its name.
    pub name: String,
    /// Its scope.
    pub scope: KeyScope,
    /// The SHA-256 of the key, in hex.
    pub key_hash: String,
    /// The key's first characters.
    pub prefix: String,
    /// When it stops being accepted, if ever (RFC 3339).
    pub expires_at: Option<String>,
}

const COLUMNS: &str =
    "id, user_id, name, scope, prefix, created_at, expires_at, last_used_at, revoked_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<ApiKey> {
    let scope: String = row.get(3)?;
    Ok(ApiKey {
        id: row.get(0)?,
        user_id: row.get(1)?,
        name: row.get(2)?,
        scope: scope.parse().map_err(|error: String| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, error.into())
        })?,
        prefix: row.get(4)?,
        created_at: row.get(5)?,
        expires_at: row.get(6)?,
        last_used_at: row.get(7)?,
        revoked_at: row.get(8)?,
    })
}

impl Store {
    /// Stores a key; `Invalid` if the user does not exist or the name is blank.
    pub async fn create_api_key(&self, new: NewApiKey) -> Result<ApiKey, StoreError> {
        let name = new.name.trim().to_owned();
        if name.is_empty() {
            return Err(StoreError::Invalid(
                "a key needs a name, e.g. the program that will use it".into(),
            ));
        }
        let key = ApiKey {
            id: new_id(),
            user_id: new.user_id,
            name,
            scope: new.scope,
            prefix: new.prefix,
            created_at: time::now(),
            expires_at: new.expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        let (row, hash) = (key.clone(), new.key_hash);
        self.write(move |tx| {
            let user_exists: bool = tx
                .prepare_cached("SELECT count(*) FROM users WHERE id = ?1")?
                .query_row([&row.user_id], |r| r.get::<_, i64>(0))?
                > 0;
            if !user_exists {
                return Err(DbError::Store(unknown_user(&row.user_id)));
            }
            tx.prepare_cached(
                "INSERT INTO api_keys (id, user_id, name, scope, key_hash, prefix, created_at, \
                 expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                row.id,
                row.user_id,
                row.name,
                row.scope.as_str(),
                hash,
                row.prefix,
                row.created_at,
                row.expires_at
            ])?;
            Ok(())
        })
        .await?;
        Ok(key)
    }

    /// The key whose hash this is, revoked or expired ones too.
    pub async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let hash = key_hash.to_owned();
        self.read(move |connection| {
            Ok(connection
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM api_keys WHERE key_hash = ?1"
                ))?
                .query_row([&hash], from_row)
                .optional()?)
        })
        .await
    }

    /// The owner's keys (every user's for an admin), newest first.
    pub async fn api_keys(&self, owner: &Owner) -> Result<Vec<ApiKey>, StoreError> {
        let user = owner.user_id().map(str::to_owned);
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM api_keys WHERE ?1 IS NULL OR user_id = ?1 \
                 ORDER BY created_at DESC, rowid DESC"
            ))?;
            let keys = statement.query_map([&user], from_row)?;
            Ok(keys.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Revokes the key `id` if the owner may see it; `NotFound` otherwise. Revoking twice
    /// keeps the first time.
    pub async fn revoke_api_key(&self, owner: &Owner, id: &str) -> Result<ApiKey, StoreError> {
        let (user, id) = (owner.user_id().map(str::to_owned), id.to_owned());
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?3) \
                     WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)",
                )?
                .execute(params![id, user, time::now()])?;
            found(changed)?;
            Ok(tx
                .prepare_cached(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"))?
                .query_row([&id], from_row)?)
        })
        .await
    }

    /// Records that the key `id` was accepted at `now`, at most once a minute (a key used
    /// for every request would otherwise be a write for every request).
    pub async fn touch_api_key(&self, id: &str, now: &str) -> Result<(), StoreError> {
        let (id, now) = (id.to_owned(), now.to_owned());
        // The minute: `2026-12-04T19:05`.
        let minute = now.get(..16).unwrap_or(&now).to_owned();
        self.write(move |tx| {
            tx.prepare_cached(
                "UPDATE api_keys SET last_used_at = ?2 \
                 WHERE id = ?1 AND (last_used_at IS NULL OR substr(last_used_at, 1, 16) < ?3)",
            )?
            .execute(params![id, now, minute])?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::store_with_two_users;

    fn new_key(user_id: &str, hash: &str, scope: KeyScope) -> NewApiKey {
        NewApiKey {
            user_id: user_id.to_owned(),
            name: "Claude Desktop".into(),
            scope,
            key_hash: hash.into(),
            prefix: "chr_abcd".into(),
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn a_key_is_found_by_its_hash_listed_for_its_owner_and_revoked_once() {
        let (_dir, store, user, other) = store_with_two_users().await;
        let key = store
            .create_api_key(new_key(&user.id, "h1", KeyScope::Read))
            .await
            .unwrap();
        store
            .create_api_key(new_key(&other.id, "h2", KeyScope::Write))
            .await
            .unwrap();
        assert_eq!(
            store.api_key_by_hash("h1").await.unwrap(),
            Some(key.clone())
        );
        assert_eq!(store.api_key_by_hash("nope").await.unwrap(), None);
        let mine = store.api_keys(&Owner::User(user.id.clone())).await.unwrap();
        assert_eq!(mine, vec![key.clone()]);
        assert_eq!(store.api_keys(&Owner::Admin).await.unwrap().len(), 2);

        // Bob cannot revoke Alice's key; she can, and the first time stays.
        let bob = Owner::User(other.id.clone());
        assert!(matches!(
            store.revoke_api_key(&bob, &key.id).await,
            Err(StoreError::NotFound)
        ));
        let revoked = store
            .revoke_api_key(&Owner::User(user.id.clone()), &key.id)
            .await
            .unwrap();
        let when = revoked.revoked_at.clone().expect("revoked");
        assert!(!revoked.is_valid_at(&time::now()));
        let again = store.revoke_api_key(&Owner::Admin, &key.id).await.unwrap();
        assert_eq!(again.revoked_at, Some(when));
    }

    #[tokio::test]
    async fn last_use_is_written_once_a_minute_and_expiry_is_checked() {
        let (_dir, store, user, _) = store_with_two_users().await;
        let mut new = new_key(&user.id, "h1", KeyScope::Admin);
        new.expires_at = Some("2026-12-05T00:00:00.000Z".into());
        let key = store.create_api_key(new).await.unwrap();
        assert!(key.is_valid_at("2026-12-04T23:59:59.999Z"));
        assert!(!key.is_valid_at("2026-12-05T00:00:00.000Z"));

        store
            .touch_api_key(&key.id, "2026-12-04T19:05:01.000Z")
            .await
            .unwrap();
        store
            .touch_api_key(&key.id, "2026-12-04T19:05:40.000Z")
            .await
            .unwrap();
        let used = store.api_key_by_hash("h1").await.unwrap().unwrap();
        assert_eq!(
            used.last_used_at.as_deref(),
            Some("2026-12-04T19:05:01.000Z")
        );
        store
            .touch_api_key(&key.id, "2026-12-04T19:06:00.000Z")
            .await
            .unwrap();
        let used = store.api_key_by_hash("h1").await.unwrap().unwrap();
        assert_eq!(
            used.last_used_at.as_deref(),
            Some("2026-12-04T19:06:00.000Z")
        );
    }

    #[tokio::test]
    async fn a_key_needs_a_name_and_an_owner() {
        let (_dir, store, user, _) = store_with_two_users().await;
        let mut blank = new_key(&user.id, "h1", KeyScope::Read);
        blank.name = "  ".into();
        assert!(matches!(
            store.create_api_key(blank).await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store
                .create_api_key(new_key("ghost", "h2", KeyScope::Read))
                .await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!("Write".parse::<KeyScope>(), Ok(KeyScope::Write));
        assert!("owner".parse::<KeyScope>().is_err());
    }
}
