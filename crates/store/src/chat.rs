//! Chat sessions with one's memories (`migrations/0010_chat.sql`): each user's sessions, and
//! their messages in order, each answer with the sources it cited.

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;
use serde_json::Value;

use crate::store::new_id;
use crate::{Owner, Store, StoreError, time};

/// A chat session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatSession {
    pub session_id: String,
    pub user_id: String,
    /// What it is about: the first question, cut, unless given.
    pub title: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: the last message.
    pub updated_at: String,
}

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    User,
    Assistant,
}

/// One message of a session.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatMessage {
    pub id: i64,
    pub role: ChatRole,
    pub content: String,
    /// For an answer: the sources it cited (conversation id, time, what was said).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub sources: Vec<Value>,
    /// RFC 3339.
    pub created_at: String,
}

/// The longest title kept.
const TITLE_CHARS: usize = 80;

fn session_row(row: &Row<'_>) -> rusqlite::Result<ChatSession> {
    Ok(ChatSession {
        session_id: row.get(0)?,
        user_id: row.get(1)?,
        title: row.get(2)?,
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
    })
}

impl Store {
    /// A new session for `user_id`.
    pub async fn create_chat_session(
        &self,
        user_id: &str,
        title: &str,
    ) -> Result<ChatSession, StoreError> {
        let now = time::now();
        let session = ChatSession {
            session_id: new_id(),
            user_id: user_id.to_owned(),
            title: title.trim().chars().take(TITLE_CHARS).collect(),
            created_at: now.clone(),
            updated_at: now,
        };
        let row = session.clone();
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO chat_sessions (session_id, user_id, title, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                row.session_id,
                row.user_id,
                row.title,
                row.created_at,
                row.updated_at
            ])?;
            Ok(())
        })
        .await?;
        Ok(session)
    }

    /// The sessions `owner` may see, the latest first.
    pub async fn chat_sessions(
        &self,
        owner: &Owner,
        limit: usize,
    ) -> Result<Vec<ChatSession>, StoreError> {
        let user = owner.user_id().map(str::to_owned);
        let limit = crate::db::sql_count(limit);
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT session_id, user_id, title, created_at, updated_at FROM chat_sessions \
                 WHERE ?1 IS NULL OR user_id = ?1 ORDER BY updated_at DESC LIMIT ?2",
            )?;
            let rows = statement.query_map(params![user, limit], session_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// One session, if `owner` may see it.
    pub async fn chat_session(
        &self,
        owner: &Owner,
        id: &str,
    ) -> Result<Option<ChatSession>, StoreError> {
        let (user, id) = (owner.user_id().map(str::to_owned), id.to_owned());
        self.read(move |connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT session_id, user_id, title, created_at, updated_at FROM chat_sessions \
                     WHERE session_id = ?1 AND (?2 IS NULL OR user_id = ?2)",
                )?
                .query_row(params![id, user], session_row)
                .optional()?)
        })
        .await
    }

    /// Gives a session the title `title` (cut).
    pub async fn rename_chat_session(&self, id: &str, title: &str) -> Result<(), StoreError> {
        let (id, title) = (
            id.to_owned(),
            title.trim().chars().take(TITLE_CHARS).collect::<String>(),
        );
        self.write(move |tx| {
            tx.prepare_cached("UPDATE chat_sessions SET title = ?2 WHERE session_id = ?1")?
                .execute(params![id, title])?;
            Ok(())
        })
        .await
    }

    /// A session's messages, oldest first (the last `limit`).
    pub async fn chat_messages(
        &self,
        session_id: &str,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let id = session_id.to_owned();
        let limit = crate::db::sql_count(limit);
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT id, role, content, sources, created_at FROM ( \
                 SELECT * FROM chat_messages WHERE session_id = ?1 ORDER BY id DESC LIMIT ?2 \
                 ) ORDER BY id",
            )?;
            let rows = statement.query_map(params![id, limit], |row| {
                let role: String = row.get(1)?;
                let sources: String = row.get(3)?;
                Ok(ChatMessage {
                    id: row.get(0)?,
                    role: if role == "user" {
                        ChatRole::User
                    } else {
                        ChatRole::Assistant
                    },
                    content: row.get(2)?,
                    sources: serde_json::from_str(&sources).unwrap_or_default(),
                    created_at: row.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Adds a message to a session, which it makes the latest.
    pub async fn add_chat_message(
        &self,
        session_id: &str,
        role: ChatRole,
        content: &str,
        sources: &[Value],
    ) -> Result<ChatMessage, StoreError> {
        let now = time::now();
        let (id, content) = (session_id.to_owned(), content.to_owned());
        let sources_json = Value::Array(sources.to_vec()).to_string();
        let (row_content, row_now) = (content.clone(), now.clone());
        let role_name = match role {
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
        };
        let message_id = self
            .write(move |tx| {
                tx.prepare_cached(
                    "INSERT INTO chat_messages (session_id, role, content, sources, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    id,
                    role_name,
                    row_content,
                    sources_json,
                    row_now
                ])?;
                let message_id = tx.last_insert_rowid();
                tx.prepare_cached(
                    "UPDATE chat_sessions SET updated_at = ?2 WHERE session_id = ?1",
                )?
                .execute(params![id, row_now])?;
                Ok(message_id)
            })
            .await?;
        Ok(ChatMessage {
            id: message_id,
            role,
            content,
            sources: sources.to_vec(),
            created_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::store_with_two_users;

    #[tokio::test]
    async fn sessions_are_per_user_and_keep_their_messages_in_order() {
        let (_dir, store, ana, bob) = store_with_two_users().await;
        let session = store
            .create_chat_session(&ana.id, "What did I promise Anna?")
            .await
            .unwrap();
        store
            .add_chat_message(
                &session.session_id,
                ChatRole::User,
                "What did I promise?",
                &[],
            )
            .await
            .unwrap();
        let source = json!({"conversation_id": "c1", "time": "2026-12-01T10:00:00.000Z"});
        store
            .add_chat_message(
                &session.session_id,
                ChatRole::Assistant,
                "To buy oat milk [1].",
                std::slice::from_ref(&source),
            )
            .await
            .unwrap();
        let messages = store.chat_messages(&session.session_id, 50).await.unwrap();
        assert_eq!(
            messages.iter().map(|m| m.role).collect::<Vec<_>>(),
            [ChatRole::User, ChatRole::Assistant]
        );
        assert_eq!(messages[1].sources, vec![source]);
        assert_eq!(
            store.chat_messages(&session.session_id, 1).await.unwrap()[0].role,
            ChatRole::Assistant
        );
        let ana_owner = Owner::User(ana.id.clone());
        let bob_owner = Owner::User(bob.id.clone());
        assert_eq!(store.chat_sessions(&ana_owner, 10).await.unwrap().len(), 1);
        assert!(
            store
                .chat_sessions(&bob_owner, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .chat_session(&bob_owner, &session.session_id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .chat_session(&ana_owner, &session.session_id)
                .await
                .unwrap()
                .is_some()
        );
    }
}
