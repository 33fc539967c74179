//! Users (who log in) and clients (the devices they stream from).

use rusqlite::{OptionalExtension, Row, ffi, params};
use serde::Serialize;

use crate::db::{DbError, is_duplicate, violates};
use crate::store::new_id;
use crate::{Owner, Store, StoreError, time};

/// Someone who logs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// UUID v4.
    pub id: String,
    /// Unique whatever its (ASCII) case.
    pub email: String,
    /// The stored password hash (never serialized).
    #[serde(skip_serializing)]
    pub password_hash: String,
    /// Whether the user sees every user's data.
    pub is_admin: bool,
    /// Whether the user may sign in; a deactivated user's tokens are refused.
    pub is_active: bool,
    /// RFC 3339.
    pub created_at: String,
    /// Bumped by each password change: a token issued in an earlier generation is refused.
    #[serde(skip_serializing)]
    pub token_generation: i64,
}

/// A device that streams audio for a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Client {
    /// The device's id, unique across users.
    pub client_id: String,
    /// Its owner.
    pub user_id: String,
    /// The name the device gave.
    pub device_name: String,
    /// RFC 3339, first seen.
    pub created_at: String,
    /// RFC 3339, last connected.
    pub last_seen_at: String,
}

const USER_COLUMNS: &str =
    "id, email, password_hash, is_admin, created_at, token_generation, is_active";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        email: row.get(1)?,
        password_hash: row.get(2)?,
        is_admin: row.get(3)?,
        created_at: row.get(4)?,
        token_generation: row.get(5)?,
        is_active: row.get(6)?,
    })
}

const CLIENT_COLUMNS: &str = "client_id, user_id, device_name, created_at, last_seen_at";

fn client_from_row(row: &Row<'_>) -> rusqlite::Result<Client> {
    Ok(Client {
        client_id: row.get(0)?,
        user_id: row.get(1)?,
        device_name: row.get(2)?,
        created_at: row.get(3)?,
        last_seen_at: row.get(4)?,
    })
}

/// An error for a write that names a user who does not exist.
pub(crate) fn unknown_user(user_id: &str) -> StoreError {
    StoreError::Invalid(format!(
        "user `{user_id}` does not exist; create the user first"
    ))
}

impl Store {
    /// Creates a user; `Conflict` if the email is taken (in any case).
    pub async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        is_admin: bool,
    ) -> Result<User, StoreError> {
        if email.trim().is_empty() {
            return Err(StoreError::Invalid("a user needs an email".into()));
        }
        let user = User {
            id: new_id(),
            email: email.to_owned(),
            password_hash: password_hash.to_owned(),
            is_admin,
            created_at: time::now(),
            token_generation: 0,
            is_active: true,
        };
        let row = user.clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO users (id, email, password_hash, is_admin, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    row.id,
                    row.email,
                    row.password_hash,
                    row.is_admin,
                    row.created_at
                ],
            )
            .map_err(|error| {
                if is_duplicate(&error) {
                    DbError::Store(StoreError::Conflict(format!(
                        "a user with email `{}` already exists; log in or choose another email",
                        row.email
                    )))
                } else {
                    error.into()
                }
            })?;
            Ok(())
        })
        .await?;
        Ok(user)
    }

    /// The user with this email, compared without (ASCII) case.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let email = email.to_owned();
        self.read(move |connection| {
            Ok(connection
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE email = ?1"
                ))?
                .query_row([&email], user_from_row)
                .optional()?)
        })
        .await
    }

    /// The user with this id.
    pub async fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let id = id.to_owned();
        self.read(move |connection| {
            Ok(connection
                .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
                .query_row([&id], user_from_row)
                .optional()?)
        })
        .await
    }

    /// Every user, oldest first.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users ORDER BY created_at, rowid"
            ))?;
            let users = statement.query_map([], user_from_row)?;
            Ok(users.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Replaces a user's password hash and starts a new token generation, so every token
    /// issued before is refused; `NotFound` if there is no such user.
    pub async fn set_password(&self, id: &str, password_hash: &str) -> Result<(), StoreError> {
        let (id, hash) = (id.to_owned(), password_hash.to_owned());
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE users SET password_hash = ?2, token_generation = token_generation + 1 WHERE id = ?1",
                params![id, hash],
            )?;
            found(changed)
        })
        .await
    }

    /// Makes a user an admin or not; `NotFound` if there is no such user.
    pub async fn set_admin(&self, id: &str, is_admin: bool) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE users SET is_admin = ?2 WHERE id = ?1",
                params![id, is_admin],
            )?;
            found(changed)
        })
        .await
    }

    /// Lets a user sign in again, or refuses their logins and, with a new token generation,
    /// every token they hold; `NotFound` if there is no such user.
    pub async fn set_active(&self, id: &str, is_active: bool) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE users SET is_active = ?2, \
                 token_generation = token_generation + (is_active <> ?2) WHERE id = ?1",
                params![id, is_active],
            )?;
            found(changed)
        })
        .await
    }

    /// Records that device `client_id` of `user_id` connected: creates it, or updates its name
    /// and `last_seen_at`. `Conflict` if the id belongs to another user, `Invalid` if the user
    /// does not exist.
    pub async fn upsert_client(
        &self,
        user_id: &str,
        client_id: &str,
        device_name: &str,
    ) -> Result<Client, StoreError> {
        let (user_id, client_id, device_name) = (
            user_id.to_owned(),
            client_id.to_owned(),
            device_name.to_owned(),
        );
        self.write(move |tx| {
            let now = time::now();
            let client = tx
                .prepare_cached(&format!(
                    "INSERT INTO clients (client_id, user_id, device_name, created_at, last_seen_at) \
                     VALUES (?1, ?2, ?3, ?4, ?4) \
                     ON CONFLICT (client_id) DO UPDATE \
                         SET device_name = excluded.device_name, last_seen_at = excluded.last_seen_at \
                         WHERE clients.user_id = excluded.user_id \
                     RETURNING {CLIENT_COLUMNS}"
                ))?
                .query_row(params![client_id, user_id, device_name, now], client_from_row)
                .optional()
                .map_err(|error| {
                    if violates(&error, ffi::SQLITE_CONSTRAINT_FOREIGNKEY) {
                        DbError::Store(unknown_user(&user_id))
                    } else {
                        error.into()
                    }
                })?;
            client.ok_or_else(|| {
                StoreError::Conflict(format!(
                    "client id `{client_id}` belongs to another user; use another device name"
                ))
                .into()
            })
        })
        .await
    }

    /// The devices the owner may see, most recently seen first.
    pub async fn clients(&self, owner: &Owner) -> Result<Vec<Client>, StoreError> {
        let user = owner.user_id().map(str::to_owned);
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {CLIENT_COLUMNS} FROM clients WHERE (?1 IS NULL OR user_id = ?1) \
                 ORDER BY last_seen_at DESC, rowid DESC"
            ))?;
            let clients = statement.query_map([&user], client_from_row)?;
            Ok(clients.collect::<Result<_, _>>()?)
        })
        .await
    }
}

/// `Ok` if an update changed a row, `NotFound` if it changed none.
pub(crate) fn found(changed: usize) -> Result<(), DbError> {
    if changed == 0 {
        Err(StoreError::NotFound.into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::store;

    #[tokio::test]
    async fn users_are_created_found_listed_and_changed() {
        let (_dir, store) = store().await;
        let ana = store
            .create_user("Ana@Example.com", "h1", false)
            .await
            .unwrap();
        assert_eq!(ana.id.len(), 36);
        assert!(!ana.id.contains('{'));
        let bob = store
            .create_user("bob@example.com", "h2", true)
            .await
            .unwrap();

        assert_eq!(
            store.user_by_email("ana@example.COM").await.unwrap(),
            Some(ana.clone())
        );
        assert_eq!(store.user_by_email("nobody@x").await.unwrap(), None);
        assert_eq!(store.user(&bob.id).await.unwrap(), Some(bob.clone()));
        assert_eq!(store.user("missing").await.unwrap(), None);
        assert_eq!(
            store.list_users().await.unwrap(),
            vec![ana.clone(), bob.clone()]
        );

        store.set_password(&ana.id, "h3").await.unwrap();
        store.set_admin(&ana.id, true).await.unwrap();
        let changed = store.user(&ana.id).await.unwrap().unwrap();
        assert_eq!(
            (changed.password_hash.as_str(), changed.is_admin),
            ("h3", true)
        );
        assert_eq!(
            store.set_password("missing", "h").await,
            Err(StoreError::NotFound)
        );
        assert_eq!(
            store.set_admin("missing", true).await,
            Err(StoreError::NotFound)
        );
    }

    #[tokio::test]
    async fn a_duplicate_or_empty_email_is_refused() {
        let (_dir, store) = store().await;
        store
            .create_user("ana@example.com", "h", false)
            .await
            .unwrap();
        let error = store
            .create_user("ANA@example.com", "h", false)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, StoreError::Conflict(message) if message.contains("already exists")),
            "{error:?}"
        );
        assert!(matches!(
            store.create_user(" ", "h", false).await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(store.list_users().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn serialized_users_never_show_the_password_hash() {
        let (_dir, store) = store().await;
        let user = store
            .create_user("ana@example.com", "secret-hash", false)
            .await
            .unwrap();
        let json = serde_json::to_value(&user).unwrap();
        assert_eq!(
            json.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["id", "email", "is_admin", "is_active", "created_at"]
        );
        assert!(!json.to_string().contains("secret-hash"));
    }

    #[tokio::test]
    async fn clients_are_upserted_per_user() {
        let (_dir, store) = store().await;
        let ana = store.create_user("ana@x", "h", false).await.unwrap();
        let bob = store.create_user("bob@x", "h", false).await.unwrap();

        let first = store
            .upsert_client(&ana.id, "ana-omi", "omi")
            .await
            .unwrap();
        assert_eq!(first.created_at, first.last_seen_at);
        let second = store
            .upsert_client(&ana.id, "ana-omi", "omi v2")
            .await
            .unwrap();
        assert_eq!(second.created_at, first.created_at);
        assert_eq!(second.device_name, "omi v2");
        assert!(second.last_seen_at >= first.last_seen_at);

        let error = store
            .upsert_client(&bob.id, "ana-omi", "mine")
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::Conflict(_)), "{error:?}");
        let error = store
            .upsert_client("ghost", "ghost-omi", "omi")
            .await
            .unwrap_err();
        assert!(
            matches!(&error, StoreError::Invalid(message) if message.contains("ghost")),
            "{error:?}"
        );

        store
            .upsert_client(&bob.id, "bob-omi", "omi")
            .await
            .unwrap();
        assert_eq!(
            store.clients(&Owner::User(ana.id.clone())).await.unwrap(),
            vec![second]
        );
        assert_eq!(store.clients(&Owner::Admin).await.unwrap().len(), 2);
    }
}
