//! Device sessions: when a device streamed, how long, how it ended, and where its audio is.

use rusqlite::{OptionalExtension, Row, ffi, params};
use serde::Serialize;

use chronicle_plugin_api::EndReason;

use crate::db::{DbError, end_reason_column, violates};
use crate::users::unknown_user;
use crate::{Owner, Store, StoreError, time};

/// A device session.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    /// The id the server gave the session (conversations carry it).
    pub session_id: String,
    /// The owner.
    pub user_id: String,
    /// The device.
    pub client_id: String,
    // The session's recording, shown to clients only as `has_audio`.
    /// `has_audio`: whether the session's recording is kept.
    #[serde(rename = "has_audio", serialize_with = "crate::db::serialize_is_some")]
    #[cfg_attr(feature = "openapi", schema(value_type = bool))]
    pub audio_path: Option<String>,
    /// When audio started (RFC 3339).
    pub started_at: String,
    /// When it ended, once it did.
    pub ended_at: Option<String>,
    /// How it ended, once it did.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::EndReasonName>))]
    pub end_reason: Option<EndReason>,
    /// Seconds of audio received.
    pub audio_seconds: f64,
}

const COLUMNS: &str =
    "session_id, user_id, client_id, audio_path, started_at, ended_at, end_reason, audio_seconds";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        session_id: row.get(0)?,
        user_id: row.get(1)?,
        client_id: row.get(2)?,
        audio_path: row.get(3)?,
        started_at: row.get(4)?,
        ended_at: row.get(5)?,
        end_reason: end_reason_column(row, 6)?,
        audio_seconds: row.get(7)?,
    })
}

impl Store {
    /// Records that a session started.
    pub async fn start_session(
        &self,
        session_id: &str,
        user_id: &str,
        client_id: &str,
        audio_path: Option<&str>,
    ) -> Result<Session, StoreError> {
        let (session_id, user_id, client_id, audio_path) = (
            session_id.to_owned(),
            user_id.to_owned(),
            client_id.to_owned(),
            audio_path.map(str::to_owned),
        );
        self.write(move |tx| {
            tx.prepare_cached(&format!(
                "INSERT INTO sessions (session_id, user_id, client_id, audio_path, started_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) RETURNING {COLUMNS}"
            ))?
            .query_row(
                params![session_id, user_id, client_id, audio_path, time::now()],
                from_row,
            )
            .map_err(|error| {
                if violates(&error, ffi::SQLITE_CONSTRAINT_FOREIGNKEY) {
                    DbError::Store(unknown_user(&user_id))
                } else {
                    error.into()
                }
            })
        })
        .await
    }

    /// Records how a session ended; a session ends once (later calls change nothing). Returns
    /// whether this call ended it.
    pub async fn end_session(
        &self,
        session_id: &str,
        end_reason: EndReason,
        audio_seconds: f64,
    ) -> Result<bool, StoreError> {
        let session_id = session_id.to_owned();
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE sessions SET ended_at = ?2, end_reason = ?3, audio_seconds = ?4 \
                     WHERE session_id = ?1 AND ended_at IS NULL",
                )?
                .execute(params![
                    session_id,
                    time::now(),
                    end_reason.as_str(),
                    audio_seconds
                ])?;
            Ok(changed == 1)
        })
        .await
    }

    /// A session the owner may see.
    pub async fn session(
        &self,
        owner: &Owner,
        session_id: &str,
    ) -> Result<Option<Session>, StoreError> {
        let (user, session_id) = (owner.user_id().map(str::to_owned), session_id.to_owned());
        self.read(move |connection| {
            Ok(connection
                .prepare_cached(&format!("SELECT {COLUMNS} FROM sessions WHERE session_id = ?1 AND (?2 IS NULL OR user_id = ?2)"))?
                .query_row(params![session_id, user], from_row)
                .optional()?)
        })
        .await
    }

    /// The sessions the owner may see, newest first.
    pub async fn list_sessions(
        &self,
        owner: &Owner,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        let user = owner.user_id().map(str::to_owned);
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM sessions WHERE (?1 IS NULL OR user_id = ?1) \
                 ORDER BY started_at DESC, rowid DESC LIMIT ?2"
            ))?;
            let rows = statement.query_map(params![user, limit as i64], from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sessions_start_end_once_and_are_scoped_to_their_owner() {
        let (_dir, store, ana, bob) = crate::testing::store_with_two_users().await;
        let started = store
            .start_session("s1", &ana.id, "a1-omi", Some("/audio/s1.wav"))
            .await
            .unwrap();
        assert_eq!((started.ended_at, started.audio_seconds), (None, 0.0));
        assert!(
            store
                .end_session("s1", EndReason::UserStopped, 12.5)
                .await
                .unwrap()
        );
        assert!(
            !store
                .end_session("s1", EndReason::WebsocketDisconnect, 99.0)
                .await
                .unwrap(),
            "a session ends once"
        );
        let ended = store
            .session(&Owner::User(ana.id.clone()), "s1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (ended.end_reason, ended.audio_seconds),
            (Some(EndReason::UserStopped), 12.5)
        );
        assert!(
            store
                .session(&Owner::User(bob.id.clone()), "s1")
                .await
                .unwrap()
                .is_none()
        );
        store
            .start_session("s2", &ana.id, "a1-omi", None)
            .await
            .unwrap();
        let listed: Vec<String> = store
            .list_sessions(&Owner::Admin, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.session_id)
            .collect();
        assert_eq!(listed, ["s2", "s1"]);
        assert!(
            store
                .list_sessions(&Owner::User(bob.id), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            store.start_session("s3", "nobody", "x", None).await,
            Err(StoreError::Invalid(_))
        ));
    }
}
