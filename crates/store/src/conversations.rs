//! Conversations: what a device recorded, its transcript, and how it ended.
//!
//! Deleting a conversation deletes its row (no soft delete: a user who deletes a conversation
//! means it); the memories drawn from it stay, with `conversation_id` set to null.

use rusqlite::{OptionalExtension, Row, ffi, params};
use serde::Serialize;
use serde_json::Value;

use chronicle_host_ports::delivery::{Enqueued, NewEvent};
use chronicle_plugin_api::EndReason;

use crate::db::{DbError, end_reason_column, json_column, sql_count, violates};
use crate::delivery;
use crate::store::new_id;
use crate::users::{found, unknown_user};
use crate::{Owner, Store, StoreError, time};

/// A stored conversation. Serializes with exactly these field names.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversation {
    /// UUID v4.
    pub conversation_id: String,
    /// The owner.
    pub user_id: String,
    /// The device that recorded it.
    pub client_id: String,
    /// The streaming session it was recorded in, if any.
    pub session_id: Option<String>,
    /// A title: set at creation, replaced once the conversation is summarised
    /// ([`Store::set_title_summary`]).
    pub title: String,
    /// A summary, once one was made.
    pub summary: Option<String>,
    /// The transcript so far, pieces joined by a space.
    pub transcript: String,
    /// Transcript segments, in order, as the transcriber gave them.
    pub segments: Vec<Value>,
    /// Markers (button presses, …), in order.
    pub markers: Vec<Value>,
    // The recorded audio, relative to the data directory or absolute. Never shown to clients
    // (a server path is none of theirs): they see `has_audio` and fetch the audio by the
    // conversation's id.
    /// `has_audio`: whether its recording is kept (`GET /api/conversations/{id}/audio`).
    #[serde(rename = "has_audio", serialize_with = "crate::db::serialize_is_some")]
    #[cfg_attr(feature = "openapi", schema(value_type = bool))]
    pub audio_path: Option<String>,
    /// Whether the user starred it.
    pub starred: bool,
    /// When it was starred (RFC 3339), if it is.
    pub starred_at: Option<String>,
    /// Why it ended, once completed.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::EndReasonName>))]
    pub end_reason: Option<EndReason>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, once completed.
    pub completed_at: Option<String>,
    /// The length of its audio, once completed.
    pub duration_seconds: Option<f64>,
    /// Why transcription failed, if it did (the audio is kept, so it can be tried again).
    pub transcription_error: Option<String>,
}

/// Which conversations a list shows; every part is optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConversationQuery {
    /// Words the title or the transcript contains (one phrase, any case).
    pub text: Option<String>,
    /// Only the starred ones (`true`) or only the others (`false`).
    pub starred: Option<bool>,
    /// Created at or after this time (RFC 3339, UTC) or date (`2026-12-04`).
    pub since: Option<String>,
    /// Created at or before this time, or during this date.
    pub until: Option<String>,
}

/// What a new conversation starts with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewConversation {
    /// The owner (must exist).
    pub user_id: String,
    /// The device recording it.
    pub client_id: String,
    /// The streaming session, if any.
    pub session_id: Option<String>,
    /// A title.
    pub title: String,
    /// Where its audio is stored, if it is.
    pub audio_path: Option<String>,
}

const COLUMNS: &str = "conversation_id, user_id, client_id, session_id, title, summary, \
     transcript, segments, markers, audio_path, starred, starred_at, end_reason, created_at, \
     completed_at, duration_seconds, transcription_error";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Conversation> {
    Ok(Conversation {
        conversation_id: row.get(0)?,
        user_id: row.get(1)?,
        client_id: row.get(2)?,
        session_id: row.get(3)?,
        title: row.get(4)?,
        summary: row.get(5)?,
        transcript: row.get(6)?,
        segments: json_column(row, 7)?,
        markers: json_column(row, 8)?,
        audio_path: row.get(9)?,
        starred: row.get(10)?,
        starred_at: row.get(11)?,
        end_reason: end_reason_column(row, 12)?,
        created_at: row.get(13)?,
        completed_at: row.get(14)?,
        duration_seconds: row.get(15)?,
        transcription_error: row.get(16)?,
    })
}

/// How much an owner has, for the System page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Totals {
    /// Every conversation, open or not.
    pub conversations: u64,
    /// Conversations not yet finished.
    pub open_conversations: u64,
    /// Memories.
    pub memories: u64,
}

impl Store {
    /// Starts a conversation; `Invalid` if the user does not exist.
    pub async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> Result<Conversation, StoreError> {
        let conversation = Conversation {
            conversation_id: new_id(),
            user_id: new.user_id,
            client_id: new.client_id,
            session_id: new.session_id,
            title: new.title,
            summary: None,
            transcript: String::new(),
            segments: Vec::new(),
            markers: Vec::new(),
            audio_path: new.audio_path,
            starred: false,
            starred_at: None,
            end_reason: None,
            created_at: time::now(),
            completed_at: None,
            duration_seconds: None,
            transcription_error: None,
        };
        let row = conversation.clone();
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO conversations \
                 (conversation_id, user_id, client_id, session_id, title, audio_path, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                row.conversation_id,
                row.user_id,
                row.client_id,
                row.session_id,
                row.title,
                row.audio_path,
                row.created_at
            ])
            .map_err(|error| {
                if violates(&error, ffi::SQLITE_CONSTRAINT_FOREIGNKEY) {
                    DbError::Store(unknown_user(&row.user_id))
                } else {
                    error.into()
                }
            })?;
            Ok(())
        })
        .await?;
        Ok(conversation)
    }

    /// The conversation `id`, if the owner may see it.
    pub async fn conversation(
        &self,
        owner: &Owner,
        id: &str,
    ) -> Result<Option<Conversation>, StoreError> {
        self.newest_where("conversation_id = ?1", id, owner.user_id())
            .await
    }

    /// The newest conversation matching `condition` (on `?1` = `key`), of `user` when given.
    async fn newest_where(
        &self,
        condition: &'static str,
        key: &str,
        user: Option<&str>,
    ) -> Result<Option<Conversation>, StoreError> {
        let (key, user) = (key.to_owned(), user.map(str::to_owned));
        self.read(move |connection| {
            Ok(connection
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM conversations \
                     WHERE {condition} AND (?2 IS NULL OR user_id = ?2) \
                     ORDER BY created_at DESC, rowid DESC LIMIT 1"
                ))?
                .query_row(params![key, user], from_row)
                .optional()?)
        })
        .await
    }

    /// A page of the owner's conversations, newest first, and how many there are in all.
    pub async fn list_conversations(
        &self,
        owner: &Owner,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<Conversation>, u64), StoreError> {
        self.find_conversations(owner, &ConversationQuery::default(), limit, offset)
            .await
    }

    /// How much the owner has: conversations (and how many are open) and memories.
    pub async fn totals(&self, owner: &Owner) -> Result<Totals, StoreError> {
        let user = owner.user_id().map(str::to_owned);
        self.read(move |connection| {
            let count = |sql: &str| -> Result<u64, DbError> {
                let n: i64 = connection
                    .prepare_cached(sql)?
                    .query_row([&user], |row| row.get(0))?;
                Ok(n.unsigned_abs())
            };
            Ok(Totals {
                conversations: count(
                    "SELECT count(*) FROM conversations WHERE ?1 IS NULL OR user_id = ?1",
                )?,
                open_conversations: count(
                    "SELECT count(*) FROM conversations \
                     WHERE completed_at IS NULL AND (?1 IS NULL OR user_id = ?1)",
                )?,
                memories: count("SELECT count(*) FROM memories WHERE ?1 IS NULL OR user_id = ?1")?,
            })
        })
        .await
    }

    /// A page of the owner's conversations that match `query`, newest first, and how many
    /// match in all.
    pub async fn find_conversations(
        &self,
        owner: &Owner,
        query: &ConversationQuery,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<Conversation>, u64), StoreError> {
        let user = owner.user_id().map(str::to_owned);
        let text = query
            .text
            .as_deref()
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(|text| {
                let escaped = text
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                format!("%{escaped}%")
            });
        let until = query.until.clone().map(time::until_bound);
        // Only the filters in use go into the query, so that without a text filter the
        // owner's page is read from the `(user_id, created_at)` index in order rather than
        // by scanning every conversation (an `?1 IS NULL OR user_id = ?1` clause would keep
        // SQLite from using it: 14 ms for a page of 10,000 conversations, BENCHMARKS.md).
        let mut clauses: Vec<&str> = Vec::new();
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(user) = user {
            clauses.push("user_id = ?");
            values.push(user.into());
        }
        if let Some(starred) = query.starred {
            clauses.push("starred = ?");
            values.push(i64::from(starred).into());
        }
        if let Some(since) = query.since.clone() {
            clauses.push("created_at >= ?");
            values.push(since.into());
        }
        if let Some(until) = until {
            clauses.push("created_at <= ?");
            values.push(until.into());
        }
        if let Some(text) = text {
            clauses.push("(title LIKE ? ESCAPE '\\' OR transcript LIKE ? ESCAPE '\\')");
            values.push(text.clone().into());
            values.push(text.into());
        }
        let matches = if clauses.is_empty() {
            "1".to_owned()
        } else {
            clauses.join(" AND ")
        };
        self.read(move |connection| {
            // One read transaction, so the page and the total agree.
            let tx = connection.unchecked_transaction()?;
            let total: i64 = tx
                .prepare_cached(&format!(
                    "SELECT count(*) FROM conversations WHERE {matches}"
                ))?
                .query_row(rusqlite::params_from_iter(&values), |row| row.get(0))?;
            let mut statement = tx.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM conversations WHERE {matches} \
                 ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?"
            ))?;
            let mut page_values = values.clone();
            page_values.push(sql_count(limit).into());
            page_values.push(sql_count(offset).into());
            let page = statement
                .query_map(rusqlite::params_from_iter(&page_values), from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            drop(statement);
            tx.commit()?;
            Ok((page, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    /// Appends `text` to the transcript (after a space, unless the transcript is empty; blank
    /// text adds nothing) and `segments` to the segments; `NotFound` if there is no such
    /// conversation.
    pub async fn append_transcript(
        &self,
        id: &str,
        text: &str,
        segments: Vec<Value>,
    ) -> Result<(), StoreError> {
        let id = id.to_owned();
        let text = text.trim().to_owned();
        let segments = segments
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| StoreError::Invalid(format!("segment is not JSON: {error}")))?;
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE conversations SET transcript = CASE \
                         WHEN ?2 = '' THEN transcript \
                         WHEN transcript = '' THEN ?2 \
                         ELSE transcript || ' ' || ?2 END \
                     WHERE conversation_id = ?1",
                )?
                .execute(params![id, text])?;
            found(changed)?;
            let mut append = tx.prepare_cached(
                "UPDATE conversations SET segments = json_insert(segments, '$[#]', json(?2)) \
                 WHERE conversation_id = ?1",
            )?;
            for segment in &segments {
                append.execute(params![id, segment])?;
            }
            Ok(())
        })
        .await
    }

    /// Replaces the transcript and the segments (a batch transcription of the whole audio),
    /// and enqueues `announce` (its `transcript.batch`) in the same transaction. `NotFound` if
    /// there is no such conversation.
    pub async fn set_transcript(
        &self,
        id: &str,
        text: &str,
        segments: Vec<Value>,
        announce: Option<NewEvent>,
    ) -> Result<Option<Enqueued>, StoreError> {
        let (id, text) = (id.to_owned(), text.trim().to_owned());
        let segments = Value::Array(segments).to_string();
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE conversations SET transcript = ?2, segments = ?3, \
                         transcription_error = NULL \
                     WHERE conversation_id = ?1",
                )?
                .execute(params![id, text, segments])?;
            found(changed)?;
            announce
                .as_ref()
                .map(|event| delivery::enqueue(tx, event))
                .transpose()
        })
        .await
        .inspect(|_| self.text_changed.notify_one())
    }

    /// Records why the conversation's transcription failed; `NotFound` if there is no such
    /// conversation.
    pub async fn set_transcription_error(&self, id: &str, error: &str) -> Result<(), StoreError> {
        let (id, error) = (id.to_owned(), error.to_owned());
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE conversations SET transcription_error = ?2 WHERE conversation_id = ?1",
                )?
                .execute(params![id, error])?;
            found(changed)
        })
        .await
    }

    /// Appends `marker` to the markers; `NotFound` if there is no such conversation.
    pub async fn add_marker(&self, id: &str, marker: Value) -> Result<(), StoreError> {
        let id = id.to_owned();
        let marker = marker.to_string();
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE conversations SET markers = json_insert(markers, '$[#]', json(?2)) \
                     WHERE conversation_id = ?1",
                )?
                .execute(params![id, marker])?;
            found(changed)
        })
        .await
    }

    /// Marks the conversation completed now, with why and how long. Idempotent: returns `true`
    /// for the call that completed it and `false` for later ones, which change nothing.
    /// `NotFound` if there is no such conversation.
    pub async fn complete_conversation(
        &self,
        id: &str,
        end_reason: EndReason,
        duration_seconds: Option<f64>,
    ) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE conversations SET completed_at = ?2, end_reason = ?3, \
                         duration_seconds = ?4 \
                     WHERE conversation_id = ?1 AND completed_at IS NULL",
                )?
                .execute(params![
                    id,
                    time::now(),
                    end_reason.as_str(),
                    duration_seconds
                ])?;
            if changed > 0 {
                return Ok(true);
            }
            let exists = tx
                .prepare_cached("SELECT 1 FROM conversations WHERE conversation_id = ?1")?
                .exists([&id])?;
            if exists {
                Ok(false)
            } else {
                Err(StoreError::NotFound.into())
            }
        })
        .await
        .inspect(|_| self.text_changed.notify_one())
    }

    /// Stars the conversation or takes its star away, and enqueues the event `announce` makes
    /// of the change (its `conversation.starred`) in the same transaction. `None` if the owner
    /// may not see it.
    pub async fn toggle_star(
        &self,
        owner: &Owner,
        id: &str,
        announce: impl Fn(&Starred) -> NewEvent + Send + 'static,
    ) -> Result<Option<(Starred, Enqueued)>, StoreError> {
        let (user, id) = (owner.user_id().map(str::to_owned), id.to_owned());
        self.write(move |tx| {
            let starred = tx
                .prepare_cached(
                    "UPDATE conversations SET starred = 1 - starred, \
                         starred_at = CASE WHEN starred = 0 THEN ?3 ELSE NULL END \
                     WHERE conversation_id = ?1 AND (?2 IS NULL OR user_id = ?2) \
                     RETURNING conversation_id, user_id, title, starred, starred_at",
                )?
                .query_row(params![id, user, time::now()], |row| {
                    Ok(Starred {
                        conversation_id: row.get(0)?,
                        user_id: row.get(1)?,
                        title: row.get(2)?,
                        starred: row.get(3)?,
                        starred_at: row.get(4)?,
                    })
                })
                .optional()?;
            let Some(starred) = starred else {
                return Ok(None);
            };
            let enqueued = delivery::enqueue(tx, &announce(&starred))?;
            Ok(Some((starred, enqueued)))
        })
        .await
    }

    /// Deletes the conversation; `false` if the owner may not see it. Its memories stay,
    /// unlinked.
    pub async fn delete_conversation(&self, owner: &Owner, id: &str) -> Result<bool, StoreError> {
        let (user, id) = (owner.user_id().map(str::to_owned), id.to_owned());
        let files = self
            .write(move |tx| {
                let row: Option<(Option<String>, Option<String>)> = tx
                    .prepare_cached(
                        "SELECT audio_path, session_id FROM conversations \
                         WHERE conversation_id = ?1 AND (?2 IS NULL OR user_id = ?2)",
                    )?
                    .query_row(params![id, user], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?;
                let Some((audio, session)) = row else {
                    return Ok(None);
                };
                tx.prepare_cached("DELETE FROM conversations WHERE conversation_id = ?1")?
                    .execute([&id])?;
                let mut files = Vec::new();
                // Its own recording (an upload's), unless another conversation shares it.
                if let Some(audio) = audio {
                    let shared = tx
                        .prepare_cached("SELECT 1 FROM conversations WHERE audio_path = ?1")?
                        .exists([&audio])?;
                    if !shared {
                        files.push(audio);
                    }
                }
                // The recording of its ended session, once no conversation of it is left; the
                // session row forgets where it was.
                if let Some(session) = session {
                    let remaining = tx
                        .prepare_cached("SELECT 1 FROM conversations WHERE session_id = ?1")?
                        .exists([&session])?;
                    let recording: Option<String> = tx
                        .prepare_cached(
                            "SELECT audio_path FROM sessions \
                             WHERE session_id = ?1 AND ended_at IS NOT NULL",
                        )?
                        .query_row([&session], |row| row.get(0))
                        .optional()?
                        .flatten();
                    if let (false, Some(recording)) = (remaining, recording) {
                        tx.prepare_cached(
                            "UPDATE sessions SET audio_path = NULL WHERE session_id = ?1",
                        )?
                        .execute([&session])?;
                        files.push(recording);
                    }
                }
                Ok(Some(files))
            })
            .await?;
        let Some(files) = files else {
            return Ok(false);
        };
        for file in files {
            self.folder().remove_audio(std::path::Path::new(&file));
        }
        Ok(true)
    }

    /// The newest conversation of `session_id` that is not completed.
    pub async fn open_conversation_for_session(
        &self,
        session_id: &str,
    ) -> Result<Option<Conversation>, StoreError> {
        self.newest_where("session_id = ?1 AND completed_at IS NULL", session_id, None)
            .await
    }

    /// The newest conversation of a session that the owner may see, open or completed.
    pub async fn latest_conversation_for_session(
        &self,
        owner: &Owner,
        session_id: &str,
    ) -> Result<Option<Conversation>, StoreError> {
        self.newest_where("session_id = ?1", session_id, owner.user_id())
            .await
    }

    /// Replaces the title and the summary; `NotFound` if there is no such conversation.
    pub async fn set_title_summary(
        &self,
        id: &str,
        title: &str,
        summary: &str,
    ) -> Result<(), StoreError> {
        let (id, title, summary) = (id.to_owned(), title.to_owned(), summary.to_owned());
        self.write(move |tx| set_title_summary(tx, &id, &title, &summary))
            .await
    }

    /// Enqueues the conversation's `conversation.complete` (`announce`) and records that it
    /// was, with its new title and summary if there are, in one transaction; `NotFound` if
    /// there is no such conversation.
    pub async fn announce_completion(
        &self,
        id: &str,
        title_summary: Option<(String, String)>,
        announce: NewEvent,
    ) -> Result<Enqueued, StoreError> {
        let id = id.to_owned();
        self.write(move |tx| {
            if let Some((title, summary)) = &title_summary {
                set_title_summary(tx, &id, title, summary)?;
            }
            let changed = tx
                .prepare_cached(
                    "UPDATE conversations SET announced_ms = ?2 WHERE conversation_id = ?1",
                )?
                .execute(params![id, delivery::now_ms()])?;
            found(changed)?;
            delivery::enqueue(tx, &announce)
        })
        .await
    }

    /// Closes what a process that died left open: every conversation not completed, with
    /// `end_reason` and the span of its segments as its duration, and every session not
    /// ended, in one transaction. Returns the ids of the conversations closed, which are then
    /// [`Store::unannounced_conversations`] to finish. Call at start, before any session.
    pub async fn close_abandoned(&self, end_reason: EndReason) -> Result<Vec<String>, StoreError> {
        self.write(move |tx| {
            let ids = tx
                .prepare_cached(
                    "SELECT conversation_id FROM conversations WHERE completed_at IS NULL \
                     ORDER BY created_at",
                )?
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let now = time::now();
            tx.prepare_cached(
                "UPDATE conversations SET completed_at = ?1, end_reason = ?2, \
                     duration_seconds = max(0.0, coalesce( \
                         json_extract(segments, '$[#-1].end') - json_extract(segments, '$[0].start'), \
                         0.0)) \
                 WHERE completed_at IS NULL",
            )?
            .execute(params![now, end_reason.as_str()])?;
            tx.prepare_cached(
                "UPDATE sessions SET ended_at = ?1, end_reason = ?2 WHERE ended_at IS NULL",
            )?
            .execute(params![now, end_reason.as_str()])?;
            Ok(ids)
        })
        .await
    }

    /// Whether the conversation's recording holds it alone (an upload's file, a session's with
    /// one conversation), so transcribing the whole file transcribes just this conversation.
    pub async fn has_audio_of_its_own(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.read(move |connection| {
            let sharing: i64 = connection
                .prepare_cached(
                    "SELECT COUNT(*) FROM conversations WHERE audio_path = \
                     (SELECT audio_path FROM conversations WHERE conversation_id = ?1)",
                )?
                .query_row([&id], |row| row.get(0))?;
            Ok(sharing == 1)
        })
        .await
    }

    /// Completed conversations whose `conversation.complete` was never enqueued: the process
    /// stopped between their close and their announcement. Oldest first.
    pub async fn unannounced_conversations(&self) -> Result<Vec<Conversation>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM conversations \
                 WHERE completed_at IS NOT NULL AND announced_ms IS NULL ORDER BY completed_at"
            ))?;
            let rows = statement
                .query_map([], from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }
}

fn set_title_summary(
    tx: &rusqlite::Transaction<'_>,
    id: &str,
    title: &str,
    summary: &str,
) -> Result<(), DbError> {
    let changed = tx
        .prepare_cached(
            "UPDATE conversations SET title = ?2, summary = ?3 WHERE conversation_id = ?1",
        )?
        .execute(params![id, title, summary])?;
    found(changed)
}

/// A conversation's star after a toggle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Starred {
    /// The conversation.
    pub conversation_id: String,
    /// Its owner.
    pub user_id: String,
    /// Its title.
    pub title: String,
    /// Whether it is starred now.
    pub starred: bool,
    /// When it was starred (RFC 3339), if it is.
    pub starred_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::User;

    use crate::testing::store_with_two_users as store;

    fn new(user: &User, session: Option<&str>) -> NewConversation {
        NewConversation {
            user_id: user.id.clone(),
            client_id: format!("{}-omi", user.email),
            session_id: session.map(str::to_owned),
            title: "Conversation".into(),
            audio_path: None,
        }
    }

    fn ana(user: &User) -> Owner {
        Owner::User(user.id.clone())
    }

    /// Toggles the star, queueing an event that carries the new state.
    async fn star(store: &Store, owner: &Owner, id: &str) -> Option<(bool, Option<String>)> {
        let toggled = store
            .toggle_star(owner, id, |starred| NewEvent {
                event: chronicle_plugin_api::Event::ConversationStarred,
                user_id: starred.user_id.clone(),
                conversation_id: Some(starred.conversation_id.clone()),
                data: json!({"starred": starred.starred})
                    .as_object()
                    .unwrap()
                    .clone(),
                metadata: Default::default(),
            })
            .await
            .unwrap();
        toggled.map(|(starred, _)| (starred.starred, starred.starred_at))
    }

    #[tokio::test]
    async fn a_new_conversation_is_stored_as_returned_and_serializes_with_the_agreed_fields() {
        let (_dir, store, ana_user, _) = store().await;
        let created = store
            .create_conversation(NewConversation {
                audio_path: Some("audio/a.wav".into()),
                ..new(&ana_user, Some("s1"))
            })
            .await
            .unwrap();
        let stored = store
            .conversation(&ana(&ana_user), &created.conversation_id)
            .await
            .unwrap();
        assert_eq!(stored, Some(created.clone()));
        let json = serde_json::to_value(&created).unwrap();
        assert_eq!(
            json.as_object().unwrap().keys().collect::<Vec<_>>(),
            [
                "conversation_id",
                "user_id",
                "client_id",
                "session_id",
                "title",
                "summary",
                "transcript",
                "segments",
                "markers",
                "has_audio",
                "starred",
                "starred_at",
                "end_reason",
                "created_at",
                "completed_at",
                "duration_seconds",
                "transcription_error",
            ]
        );
        assert_eq!(json["segments"], json!([]));
        assert_eq!(json["starred"], json!(false));

        let error = store
            .create_conversation(NewConversation {
                user_id: "ghost".into(),
                ..new(&ana_user, None)
            })
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::Invalid(_)), "{error:?}");
    }

    #[tokio::test]
    async fn transcripts_segments_and_markers_are_appended_in_order() {
        let (_dir, store, user, _) = store().await;
        let id = store
            .create_conversation(new(&user, None))
            .await
            .unwrap()
            .conversation_id;
        store
            .append_transcript(&id, "Hello", vec![json!({"text": "Hello", "start": 0.0})])
            .await
            .unwrap();
        store.append_transcript(&id, "  ", vec![]).await.unwrap();
        store
            .append_transcript(
                &id,
                "world again ",
                vec![
                    json!({"text": "world", "start": 1.5}),
                    json!({"text": "again"}),
                ],
            )
            .await
            .unwrap();
        store
            .add_marker(&id, json!({"type": "button", "at": 2}))
            .await
            .unwrap();
        store.add_marker(&id, json!("plain")).await.unwrap();

        let stored = store
            .conversation(&Owner::Admin, &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.transcript, "Hello world again");
        assert_eq!(
            stored.segments,
            vec![
                json!({"text": "Hello", "start": 0.0}),
                json!({"text": "world", "start": 1.5}),
                json!({"text": "again"})
            ]
        );
        assert_eq!(
            stored.markers,
            vec![json!({"type": "button", "at": 2}), json!("plain")]
        );

        assert_eq!(
            store.append_transcript("missing", "x", vec![]).await,
            Err(StoreError::NotFound)
        );
        assert_eq!(
            store.add_marker("missing", json!({})).await,
            Err(StoreError::NotFound)
        );
    }

    #[tokio::test]
    async fn completing_is_idempotent_and_closes_the_sessions_open_conversation() {
        let (_dir, store, user, _) = store().await;
        let first = store
            .create_conversation(new(&user, Some("s1")))
            .await
            .unwrap();
        let second = store
            .create_conversation(new(&user, Some("s1")))
            .await
            .unwrap();
        store
            .create_conversation(new(&user, Some("s2")))
            .await
            .unwrap();

        let open = store.open_conversation_for_session("s1").await.unwrap();
        assert_eq!(open.unwrap().conversation_id, second.conversation_id);

        assert!(
            store
                .complete_conversation(
                    &second.conversation_id,
                    EndReason::PluginRequested,
                    Some(12.5)
                )
                .await
                .unwrap()
        );
        assert!(
            !store
                .complete_conversation(
                    &second.conversation_id,
                    EndReason::InactivityTimeout,
                    Some(99.0)
                )
                .await
                .unwrap()
        );
        let completed = store
            .conversation(&Owner::Admin, &second.conversation_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(completed.end_reason, Some(EndReason::PluginRequested));
        assert_eq!(completed.duration_seconds, Some(12.5));
        assert!(completed.completed_at.is_some());

        let open = store.open_conversation_for_session("s1").await.unwrap();
        assert_eq!(open.unwrap().conversation_id, first.conversation_id);
        store
            .complete_conversation(&first.conversation_id, EndReason::InactivityTimeout, None)
            .await
            .unwrap();
        assert_eq!(
            store.open_conversation_for_session("s1").await.unwrap(),
            None
        );
        assert_eq!(
            store.open_conversation_for_session("none").await.unwrap(),
            None
        );
        assert_eq!(
            store
                .complete_conversation("missing", EndReason::UserStopped, None)
                .await,
            Err(StoreError::NotFound)
        );
    }

    #[tokio::test]
    async fn titles_and_summaries_are_replaced() {
        let (_dir, store, user, _) = store().await;
        let id = store
            .create_conversation(new(&user, None))
            .await
            .unwrap()
            .conversation_id;
        store
            .set_title_summary(&id, "Groceries", "Milk and eggs.")
            .await
            .unwrap();
        let stored = store
            .conversation(&Owner::Admin, &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.title, "Groceries");
        assert_eq!(stored.summary.as_deref(), Some("Milk and eggs."));
        assert_eq!(
            store.set_title_summary("missing", "t", "s").await,
            Err(StoreError::NotFound)
        );
    }

    #[tokio::test]
    async fn lists_are_newest_first_paged_and_scoped_to_the_owner() {
        let (_dir, store, ana_user, bob_user) = store().await;
        let mut ana_ids = Vec::new();
        for _ in 0..5 {
            let conversation = store
                .create_conversation(new(&ana_user, None))
                .await
                .unwrap();
            ana_ids.push(conversation.conversation_id);
        }
        let bob_id = store
            .create_conversation(new(&bob_user, None))
            .await
            .unwrap()
            .conversation_id;
        ana_ids.reverse();

        let (page, total) = store
            .list_conversations(&ana(&ana_user), 2, 1)
            .await
            .unwrap();
        assert_eq!(total, 5);
        assert_eq!(
            page.iter().map(|c| &c.conversation_id).collect::<Vec<_>>(),
            [&ana_ids[1], &ana_ids[2]]
        );
        let (all, total) = store
            .list_conversations(&Owner::Admin, 100, 0)
            .await
            .unwrap();
        assert_eq!(total, 6);
        assert_eq!(all[0].conversation_id, bob_id);
        let (beyond, total) = store
            .list_conversations(&ana(&ana_user), 10, 10)
            .await
            .unwrap();
        assert_eq!((beyond.len(), total), (0, 5));
    }

    #[tokio::test]
    async fn lists_filter_by_words_star_and_dates_and_count_what_matches() {
        let (_dir, store, ana_user, bob_user) = store().await;
        let mut ids = Vec::new();
        for text in [
            "buy oat milk",
            "call Anna about 50% off_sale",
            "nothing much",
        ] {
            let id = store
                .create_conversation(new(&ana_user, None))
                .await
                .unwrap()
                .conversation_id;
            store.append_transcript(&id, text, vec![]).await.unwrap();
            ids.push(id);
        }
        let bobs = store
            .create_conversation(new(&bob_user, None))
            .await
            .unwrap()
            .conversation_id;
        store
            .append_transcript(&bobs, "oat milk too", vec![])
            .await
            .unwrap();
        star(&store, &ana(&ana_user), &ids[2]).await;
        let find = |query: ConversationQuery| {
            let store = store.clone();
            let owner = ana(&ana_user);
            async move {
                let (page, total) = store
                    .find_conversations(&owner, &query, 10, 0)
                    .await
                    .unwrap();
                assert_eq!(page.len() as u64, total);
                page.into_iter()
                    .map(|c| c.conversation_id)
                    .collect::<Vec<_>>()
            }
        };
        let text = |t: &str| ConversationQuery {
            text: Some(t.into()),
            ..Default::default()
        };
        assert_eq!(
            find(text("OAT milk")).await,
            [ids[0].clone()],
            "any case, own only"
        );
        assert_eq!(
            find(text("50% off_")).await,
            [ids[1].clone()],
            "% and _ are literal"
        );
        assert_eq!(find(text("50%%")).await, Vec::<String>::new());
        let starred = ConversationQuery {
            starred: Some(true),
            ..Default::default()
        };
        assert_eq!(find(starred).await, [ids[2].clone()]);
        let today = time::now()[..10].to_owned();
        let during = |since: Option<&str>, until: Option<&str>| ConversationQuery {
            since: since.map(str::to_owned),
            until: until.map(str::to_owned),
            ..Default::default()
        };
        assert_eq!(
            find(during(Some(&today), Some(&today))).await.len(),
            3,
            "a whole day"
        );
        assert_eq!(find(during(None, Some("2000-01-01"))).await.len(), 0);
        assert_eq!(find(during(Some("2999-01-01"), None)).await.len(), 0);
    }

    #[tokio::test]
    async fn a_user_cannot_see_star_or_delete_another_users_conversation_and_an_admin_can() {
        let (_dir, store, ana_user, bob_user) = store().await;
        let id = store
            .create_conversation(new(&ana_user, None))
            .await
            .unwrap()
            .conversation_id;
        let bob = Owner::User(bob_user.id.clone());

        assert_eq!(store.conversation(&bob, &id).await.unwrap(), None);
        assert_eq!(star(&store, &bob, &id).await, None);
        assert!(!store.delete_conversation(&bob, &id).await.unwrap());
        assert_eq!(store.list_conversations(&bob, 10, 0).await.unwrap().1, 0);
        let untouched = store
            .conversation(&ana(&ana_user), &id)
            .await
            .unwrap()
            .unwrap();
        assert!(!untouched.starred);

        let (starred, starred_at) = star(&store, &ana(&ana_user), &id).await.unwrap();
        assert!(starred);
        let starred_at = starred_at.unwrap();
        let stored = store
            .conversation(&Owner::Admin, &id)
            .await
            .unwrap()
            .unwrap();
        assert!(stored.starred);
        assert_eq!(stored.starred_at.as_deref(), Some(starred_at.as_str()));
        assert_eq!(star(&store, &Owner::Admin, &id).await, Some((false, None)));
        assert_eq!(star(&store, &Owner::Admin, "missing").await, None);
        // One `conversation.starred` queued per toggle that happened, none for refused ones.
        use chronicle_host_ports::delivery::DeliveryQueue;
        let queued = store.unfinished_events(0, 10).await.unwrap();
        assert_eq!(queued.len(), 2);
        assert_eq!(queued[0].data["starred"], json!(true));
        assert_eq!(queued[1].data["starred"], json!(false));
        assert_eq!(queued[0].lane, format!("conversation:{id}"));

        assert!(store.delete_conversation(&Owner::Admin, &id).await.unwrap());
        assert_eq!(store.conversation(&Owner::Admin, &id).await.unwrap(), None);
        assert!(!store.delete_conversation(&Owner::Admin, &id).await.unwrap());

        let own = store
            .create_conversation(new(&bob_user, None))
            .await
            .unwrap()
            .conversation_id;
        assert!(store.delete_conversation(&bob, &own).await.unwrap());
    }

    #[tokio::test]
    async fn the_latest_conversation_of_a_session_is_found_open_or_completed_for_its_owner() {
        let (_dir, store, ana_user, bob_user) = store().await;
        let first = store
            .create_conversation(new(&ana_user, Some("s1")))
            .await
            .unwrap();
        store
            .complete_conversation(&first.conversation_id, EndReason::CloseRequested, Some(1.0))
            .await
            .unwrap();
        let found = store
            .latest_conversation_for_session(&ana(&ana_user), "s1")
            .await
            .unwrap();
        assert_eq!(
            found.map(|c| c.conversation_id),
            Some(first.conversation_id.clone()),
            "a completed one counts"
        );
        let second = store
            .create_conversation(new(&ana_user, Some("s1")))
            .await
            .unwrap();
        let found = store
            .latest_conversation_for_session(&Owner::Admin, "s1")
            .await
            .unwrap();
        assert_eq!(
            found.map(|c| c.conversation_id),
            Some(second.conversation_id),
            "the newest wins"
        );
        assert!(
            store
                .latest_conversation_for_session(&ana(&bob_user), "s1")
                .await
                .unwrap()
                .is_none(),
            "not another user's"
        );
        assert!(
            store
                .latest_conversation_for_session(&ana(&ana_user), "none")
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_batch_transcript_replaces_the_text_and_clears_an_earlier_failure() {
        let (_dir, store, ana_user, _) = store().await;
        let id = store
            .create_conversation(new(&ana_user, None))
            .await
            .unwrap()
            .conversation_id;
        store
            .set_transcription_error(&id, "the server is down")
            .await
            .unwrap();
        let failed = store
            .conversation(&Owner::Admin, &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            failed.transcription_error.as_deref(),
            Some("the server is down")
        );
        store
            .set_transcript(
                &id,
                " Hello there. ",
                vec![json!({"text": "Hello there."})],
                None,
            )
            .await
            .unwrap();
        let done = store
            .conversation(&Owner::Admin, &id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (done.transcript.as_str(), done.segments.len()),
            ("Hello there.", 1)
        );
        assert_eq!(done.transcription_error, None);
        assert!(matches!(
            store.set_transcript("nope", "x", vec![], None).await,
            Err(StoreError::NotFound)
        ));
    }
}

#[cfg(test)]
mod abandoned {
    use serde_json::json;

    use super::*;
    use crate::testing::store_with_two_users as store;

    #[tokio::test]
    async fn what_a_killed_process_left_open_is_closed_once_as_a_server_restart() {
        let (_dir, store, ana, _) = store().await;
        store
            .start_session("s1", &ana.id, "ana-omi", Some("audio/s1.wav"))
            .await
            .unwrap();
        let open = store
            .create_conversation(NewConversation {
                user_id: ana.id.clone(),
                client_id: "ana-omi".into(),
                session_id: Some("s1".into()),
                title: "Conversation".into(),
                audio_path: None,
            })
            .await
            .unwrap();
        let segments = vec![
            json!({"text": "hello", "start": 2.0, "end": 3.5}),
            json!({"text": "again", "start": 4.0, "end": 9.5}),
        ];
        store
            .append_transcript(&open.conversation_id, "hello again", segments)
            .await
            .unwrap();
        assert!(store.unannounced_conversations().await.unwrap().is_empty());

        let closed = store
            .close_abandoned(EndReason::ServerRestart)
            .await
            .unwrap();
        assert_eq!(closed, std::slice::from_ref(&open.conversation_id));
        let owner = Owner::User(ana.id.clone());
        let stored = store
            .conversation(&owner, &open.conversation_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.end_reason, Some(EndReason::ServerRestart));
        assert_eq!(stored.duration_seconds, Some(7.5));
        let session = store.session(&owner, "s1").await.unwrap().unwrap();
        assert!(session.ended_at.is_some(), "{session:?}");
        // Now it is finished like any conversation a crash left unannounced, and only once.
        let unannounced = store.unannounced_conversations().await.unwrap();
        assert_eq!(unannounced.len(), 1);
        assert!(
            store
                .close_abandoned(EndReason::ServerRestart)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[cfg(test)]
mod deletion {
    use super::*;
    use crate::testing::store_with_two_users as store;

    #[tokio::test]
    async fn deleting_a_conversation_deletes_its_audio_and_the_sessions_once_it_has_none_left() {
        let (_dir, store, ana, _) = store().await;
        let owner = Owner::User(ana.id.clone());
        let write = |path: &std::path::Path| {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"RIFF").unwrap();
        };
        let upload = store.folder().upload_audio("ana-omi");
        write(&upload);
        let uploaded = store
            .create_conversation(NewConversation {
                user_id: ana.id.clone(),
                client_id: "ana-omi".into(),
                session_id: None,
                title: "Upload".into(),
                audio_path: Some(upload.display().to_string()),
            })
            .await
            .unwrap();
        let recording = store.folder().session_audio("ana-omi", "s1");
        write(&recording);
        store
            .start_session(
                "s1",
                &ana.id,
                "ana-omi",
                Some(&recording.display().to_string()),
            )
            .await
            .unwrap();
        let mut streamed = Vec::new();
        for _ in 0..2 {
            let conversation = store
                .create_conversation(NewConversation {
                    user_id: ana.id.clone(),
                    client_id: "ana-omi".into(),
                    session_id: Some("s1".into()),
                    title: "Streamed".into(),
                    audio_path: None,
                })
                .await
                .unwrap();
            streamed.push(conversation);
        }
        store
            .end_session("s1", EndReason::UserStopped, 10.0)
            .await
            .unwrap();

        assert!(
            store
                .delete_conversation(&owner, &uploaded.conversation_id)
                .await
                .unwrap()
        );
        assert!(!upload.exists(), "the upload's audio went with it");

        assert!(
            store
                .delete_conversation(&owner, &streamed[0].conversation_id)
                .await
                .unwrap()
        );
        assert!(
            recording.exists(),
            "another conversation of the session is left"
        );
        assert!(
            store
                .delete_conversation(&owner, &streamed[1].conversation_id)
                .await
                .unwrap()
        );
        assert!(
            !recording.exists(),
            "the last one takes the session's recording"
        );
        let session = store.session(&owner, "s1").await.unwrap().unwrap();
        assert_eq!(session.audio_path, None);
        assert!(!store.delete_conversation(&owner, "gone").await.unwrap());
    }
}
