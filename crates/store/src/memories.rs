//! Memories: facts Chronicle keeps about a user, usually drawn from a conversation.
//!
//! Search is a case-insensitive substring match of every query word. Each memory keeps its
//! content lowercased by Rust (`search_text`), so case folding is Unicode-aware, unlike SQLite's
//! ASCII-only `LIKE`; a user's memories are few enough for a scan.

use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Row, params, params_from_iter};
use serde::Serialize;

use chronicle_host_ports::delivery::{Enqueued, NewEvent};
use rusqlite::Transaction;

use crate::db::{DbError, sql_count};
use crate::delivery;
use crate::store::new_id;
use crate::users::unknown_user;
use crate::{Owner, Store, StoreError, time};

/// Something remembered about a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Memory {
    /// UUID v4.
    pub memory_id: String,
    /// The owner.
    pub user_id: String,
    /// The conversation it was drawn from, while that conversation exists.
    pub conversation_id: Option<String>,
    /// What is remembered.
    pub content: String,
    /// RFC 3339.
    pub created_at: String,
}

const COLUMNS: &str = "memory_id, user_id, conversation_id, content, created_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Memory> {
    Ok(Memory {
        memory_id: row.get(0)?,
        user_id: row.get(1)?,
        conversation_id: row.get(2)?,
        content: row.get(3)?,
        created_at: row.get(4)?,
    })
}

/// The most different words a memory search takes.
pub const MAX_SEARCH_WORDS: usize = 64;

impl Store {
    /// Remembers `content` for `user_id`, drawn from `conversation_id` if given. `Invalid` if
    /// the content is blank, the user does not exist, or the conversation is not the user's.
    pub async fn add_memory(
        &self,
        user_id: &str,
        conversation_id: Option<&str>,
        content: &str,
    ) -> Result<Memory, StoreError> {
        let memory = new_memory(user_id, conversation_id, content)?;
        let row = memory.clone();
        self.write(move |tx| {
            check_owner(tx, &row.user_id, row.conversation_id.as_deref())?;
            insert(tx, &row)
        })
        .await?;
        self.text_changed.notify_one();
        Ok(memory)
    }

    /// Remembers every fact of `contents` drawn from `conversation_id`, and enqueues the event
    /// `announce` makes of their ids (its `memory.processed`), in one transaction: either all
    /// are kept and announced, or none. Checked as [`Store::add_memory`].
    pub async fn add_memories(
        &self,
        user_id: &str,
        conversation_id: &str,
        contents: &[String],
        announce: impl Fn(&[String]) -> NewEvent + Send + 'static,
    ) -> Result<(Vec<Memory>, Enqueued), StoreError> {
        let memories = contents
            .iter()
            .map(|content| new_memory(user_id, Some(conversation_id), content))
            .collect::<Result<Vec<_>, _>>()?;
        let rows = memories.clone();
        let enqueued = self
            .write(move |tx| {
                // One owner for every row: checked once.
                if let Some(first) = rows.first() {
                    check_owner(tx, &first.user_id, first.conversation_id.as_deref())?;
                }
                for row in &rows {
                    insert(tx, row)?;
                }
                let ids: Vec<String> = rows.iter().map(|m| m.memory_id.clone()).collect();
                delivery::enqueue(tx, &announce(&ids))
            })
            .await?;
        self.text_changed.notify_one();
        Ok((memories, enqueued))
    }

    /// The newest `limit` memories the owner may see, newest first.
    pub async fn list_memories(
        &self,
        owner: &Owner,
        limit: usize,
    ) -> Result<Vec<Memory>, StoreError> {
        self.search_memories(owner, "", limit).await
    }

    /// The newest `limit` memories the owner may see whose content contains every word of
    /// `query` (at most [`MAX_SEARCH_WORDS`] different words), ignoring case; newest first. A
    /// blank query matches every memory.
    pub async fn search_memories(
        &self,
        owner: &Owner,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Memory>, StoreError> {
        Ok(self.memory_page(owner, query, limit, 0).await?.0)
    }

    /// A page of [`Store::search_memories`]: `limit` from `offset`, and how many match in all.
    pub async fn memory_page(
        &self,
        owner: &Owner,
        query: &str,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<Memory>, u64), StoreError> {
        let mut words: Vec<String> = query
            .to_lowercase()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        words.sort();
        words.dedup();
        // Each word is a term of the query, and SQLite bounds how many one may have: a long
        // paste is a clear error, not an internal one.
        if words.len() > MAX_SEARCH_WORDS {
            return Err(StoreError::Invalid(format!(
                "a search takes at most {MAX_SEARCH_WORDS} different words, this one has {}",
                words.len()
            )));
        }
        let mut matching = "FROM memories WHERE (?1 IS NULL OR user_id = ?1)".to_owned();
        let mut values = vec![
            owner
                .user_id()
                .map_or(SqlValue::Null, |user| SqlValue::Text(user.to_owned())),
        ];
        for word in words {
            values.push(SqlValue::Text(word));
            matching.push_str(&format!(" AND instr(search_text, ?{}) > 0", values.len()));
        }
        let count = format!("SELECT count(*) {matching}");
        let filters = values.len();
        values.push(SqlValue::Integer(sql_count(limit)));
        values.push(SqlValue::Integer(sql_count(offset)));
        let page = format!(
            "SELECT {COLUMNS} {matching} ORDER BY created_at DESC, rowid DESC LIMIT ?{} OFFSET ?{}",
            filters + 1,
            filters + 2
        );
        self.read(move |connection| {
            // One read transaction, so the page and the total agree.
            let tx = connection.unchecked_transaction()?;
            let total: i64 = tx
                .prepare_cached(&count)?
                .query_row(params_from_iter(&values[..filters]), |row| row.get(0))?;
            let mut statement = tx.prepare_cached(&page)?;
            let memories = statement
                .query_map(params_from_iter(&values), from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            drop(statement);
            tx.commit()?;
            Ok((memories, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    /// The memories drawn from `conversation_id` that the owner may see, in the order they were
    /// made.
    pub async fn conversation_memories(
        &self,
        owner: &Owner,
        conversation_id: &str,
    ) -> Result<Vec<Memory>, StoreError> {
        let (user, conversation_id) = (
            owner.user_id().map(str::to_owned),
            conversation_id.to_owned(),
        );
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM memories \
                 WHERE conversation_id = ?1 AND (?2 IS NULL OR user_id = ?2) \
                 ORDER BY created_at, rowid"
            ))?;
            let memories = statement.query_map(params![conversation_id, user], from_row)?;
            Ok(memories.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Rewrites a memory's content; `None` if the owner may not see it.
    pub async fn update_memory(
        &self,
        owner: &Owner,
        id: &str,
        content: &str,
    ) -> Result<Option<Memory>, StoreError> {
        if content.trim().is_empty() {
            return Err(StoreError::Invalid("a memory needs some content".into()));
        }
        let (user, id, content) = (
            owner.user_id().map(str::to_owned),
            id.to_owned(),
            content.to_owned(),
        );
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE memories SET content = ?1, search_text = ?2 \
                     WHERE memory_id = ?3 AND (?4 IS NULL OR user_id = ?4)",
                )?
                .execute(params![content, content.to_lowercase(), id, user])?;
            if changed == 0 {
                return Ok(None);
            }
            Ok(tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM memories WHERE memory_id = ?1"
                ))?
                .query_row([&id], from_row)
                .optional()?)
        })
        .await
        .inspect(|_| self.text_changed.notify_one())
    }

    /// Forgets a memory; `false` if the owner may not see it.
    pub async fn delete_memory(&self, owner: &Owner, id: &str) -> Result<bool, StoreError> {
        let (user, id) = (owner.user_id().map(str::to_owned), id.to_owned());
        self.write(move |tx| {
            let deleted = tx
                .prepare_cached(
                    "DELETE FROM memories WHERE memory_id = ?1 AND (?2 IS NULL OR user_id = ?2)",
                )?
                .execute(params![id, user])?;
            Ok(deleted > 0)
        })
        .await
    }
}

fn new_memory(
    user_id: &str,
    conversation_id: Option<&str>,
    content: &str,
) -> Result<Memory, StoreError> {
    if content.trim().is_empty() {
        return Err(StoreError::Invalid("a memory needs some content".into()));
    }
    Ok(Memory {
        memory_id: new_id(),
        user_id: user_id.to_owned(),
        conversation_id: conversation_id.map(str::to_owned),
        content: content.to_owned(),
        created_at: time::now(),
    })
}

/// Refuses a memory of an unknown user, or drawn from a conversation that is not theirs.
fn check_owner(
    tx: &Transaction<'_>,
    user_id: &str,
    conversation_id: Option<&str>,
) -> Result<(), DbError> {
    let user_exists = tx
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1")?
        .exists([user_id])?;
    if !user_exists {
        return Err(unknown_user(user_id).into());
    }
    if let Some(conversation_id) = conversation_id {
        let owner: Option<String> = tx
            .prepare_cached("SELECT user_id FROM conversations WHERE conversation_id = ?1")?
            .query_row([conversation_id], |r| r.get(0))
            .optional()?;
        if owner.as_deref() != Some(user_id) {
            return Err(StoreError::Invalid(format!(
                "conversation `{conversation_id}` is not one of user `{user_id}`'s \
                 conversations; give one of theirs or none"
            ))
            .into());
        }
    }
    Ok(())
}

/// Writes a memory whose owner [`check_owner`] accepted.
fn insert(tx: &Transaction<'_>, row: &Memory) -> Result<(), DbError> {
    tx.prepare_cached(
        "INSERT INTO memories \
         (memory_id, user_id, conversation_id, content, search_text, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        row.memory_id,
        row.user_id,
        row.conversation_id,
        row.content,
        row.content.to_lowercase(),
        row.created_at
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewConversation, User};

    use crate::testing::store_with_two_users as store;

    #[tokio::test]
    async fn memories_come_in_pages_newest_first_with_the_total_that_matches() {
        let (_dir, store, ana, bob) = store().await;
        for n in 0..7 {
            store
                .add_memory(&ana.id, None, &format!("note {n} about oat milk"))
                .await
                .unwrap();
        }
        store.add_memory(&ana.id, None, "tea").await.unwrap();
        store
            .add_memory(&bob.id, None, "bob's oat milk")
            .await
            .unwrap();
        let ana = Owner::User(ana.id.clone());
        let (first, total) = store.memory_page(&ana, "oat", 3, 0).await.unwrap();
        assert_eq!(total, 7);
        let contents: Vec<&str> = first.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(
            contents,
            [
                "note 6 about oat milk",
                "note 5 about oat milk",
                "note 4 about oat milk"
            ]
        );
        let (last, _) = store.memory_page(&ana, "oat", 3, 6).await.unwrap();
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].content, "note 0 about oat milk");
        assert_eq!(store.memory_page(&ana, "", 100, 0).await.unwrap().1, 8);
        assert_eq!(
            store.memory_page(&Owner::Admin, "", 1, 0).await.unwrap().1,
            9
        );
    }

    async fn conversation(store: &Store, user: &User) -> String {
        store
            .create_conversation(NewConversation {
                user_id: user.id.clone(),
                client_id: "omi".into(),
                session_id: None,
                title: "t".into(),
                audio_path: None,
            })
            .await
            .unwrap()
            .conversation_id
    }

    fn contents(memories: &[Memory]) -> Vec<&str> {
        memories.iter().map(|m| m.content.as_str()).collect()
    }

    #[tokio::test]
    async fn memories_are_listed_newest_first_and_limited() {
        let (_dir, store, ana, _) = store().await;
        for content in ["one", "two", "three"] {
            store.add_memory(&ana.id, None, content).await.unwrap();
        }
        let owner = Owner::User(ana.id.clone());
        assert_eq!(
            contents(&store.list_memories(&owner, 10).await.unwrap()),
            ["three", "two", "one"]
        );
        assert_eq!(
            contents(&store.list_memories(&owner, 2).await.unwrap()),
            ["three", "two"]
        );
        assert!(matches!(
            store.add_memory(&ana.id, None, "  ").await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store.add_memory("ghost", None, "x").await,
            Err(StoreError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn search_needs_every_word_ignores_case_and_treats_wildcards_as_text() {
        let (_dir, store, ana, _) = store().await;
        for content in [
            "Buy MILK at the store",
            "Milk is in the fridge",
            "Meet Ärzte on Friday",
            "Discount: 100% off_today",
        ] {
            store.add_memory(&ana.id, None, content).await.unwrap();
        }
        let owner = Owner::User(ana.id.clone());
        let search = |query: &'static str| {
            let (store, owner) = (store.clone(), owner.clone());
            async move { store.search_memories(&owner, query, 10).await.unwrap() }
        };
        assert_eq!(
            contents(&search("milk").await),
            ["Milk is in the fridge", "Buy MILK at the store"]
        );
        assert_eq!(
            contents(&search("STORE milk").await),
            ["Buy MILK at the store"]
        );
        assert_eq!(contents(&search("milk   friday").await), Vec::<&str>::new());
        assert_eq!(contents(&search("ärzte").await), ["Meet Ärzte on Friday"]);
        assert_eq!(contents(&search("%").await), ["Discount: 100% off_today"]);
        assert_eq!(contents(&search("f_t").await), ["Discount: 100% off_today"]);
        assert_eq!(contents(&search("o_f").await), Vec::<&str>::new());
        assert_eq!(search("").await.len(), 4);
        assert_eq!(
            store.search_memories(&owner, "the", 1).await.unwrap().len(),
            1
        );
    }

    #[tokio::test]
    async fn conversation_memories_are_in_order_and_survive_the_conversation_unlinked() {
        let (_dir, store, ana, bob) = store().await;
        let id = conversation(&store, &ana).await;
        let first = store.add_memory(&ana.id, Some(&id), "first").await.unwrap();
        store
            .add_memory(&ana.id, Some(&id), "second")
            .await
            .unwrap();
        store.add_memory(&ana.id, None, "elsewhere").await.unwrap();
        assert_eq!(first.conversation_id.as_deref(), Some(id.as_str()));
        let owner = Owner::User(ana.id.clone());
        assert_eq!(
            contents(&store.conversation_memories(&owner, &id).await.unwrap()),
            ["first", "second"]
        );
        let error = store
            .add_memory(&bob.id, Some(&id), "not mine")
            .await
            .unwrap_err();
        assert!(matches!(error, StoreError::Invalid(_)), "{error:?}");
        assert!(matches!(
            store.add_memory(&ana.id, Some("missing"), "x").await,
            Err(StoreError::Invalid(_))
        ));

        assert!(store.delete_conversation(&owner, &id).await.unwrap());
        assert!(
            store
                .conversation_memories(&owner, &id)
                .await
                .unwrap()
                .is_empty()
        );
        let kept = store.list_memories(&owner, 10).await.unwrap();
        assert_eq!(kept.len(), 3);
        assert!(kept.iter().all(|m| m.conversation_id.is_none()));
    }

    #[tokio::test]
    async fn a_user_cannot_see_search_or_delete_another_users_memory_and_an_admin_can() {
        let (_dir, store, ana, bob) = store().await;
        let id = conversation(&store, &ana).await;
        let memory = store
            .add_memory(&ana.id, Some(&id), "secret")
            .await
            .unwrap();
        let bob = Owner::User(bob.id.clone());

        assert!(store.list_memories(&bob, 10).await.unwrap().is_empty());
        assert!(
            store
                .search_memories(&bob, "secret", 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .conversation_memories(&bob, &id)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(!store.delete_memory(&bob, &memory.memory_id).await.unwrap());
        let note = store.add_memory(&ana.id, None, "groceries").await.unwrap();
        assert_eq!(
            store
                .update_memory(&bob, &note.memory_id, "mine now")
                .await
                .unwrap(),
            None
        );
        let edited = store
            .update_memory(&Owner::User(ana.id.clone()), &note.memory_id, "Oat MILK")
            .await
            .unwrap()
            .expect("ana edits her own memory");
        assert_eq!(edited.content, "Oat MILK");
        let found = store
            .search_memories(&Owner::User(ana.id.clone()), "milk", 10)
            .await
            .unwrap();
        assert_eq!(found, [edited], "the edit is searched, whatever its case");
        assert!(
            store
                .delete_memory(&Owner::Admin, &note.memory_id)
                .await
                .unwrap()
        );
        assert_eq!(
            store.list_memories(&Owner::Admin, 10).await.unwrap(),
            vec![memory.clone()]
        );
        assert_eq!(
            store
                .search_memories(&Owner::Admin, "SECRET", 10)
                .await
                .unwrap(),
            vec![memory.clone()]
        );
        assert!(
            store
                .delete_memory(&Owner::Admin, &memory.memory_id)
                .await
                .unwrap()
        );
        assert!(
            !store
                .delete_memory(&Owner::Admin, &memory.memory_id)
                .await
                .unwrap()
        );
        assert!(
            store
                .list_memories(&Owner::Admin, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[cfg(test)]
mod long_queries {
    use super::*;
    use crate::testing::store_with_two_users as store;

    #[tokio::test]
    async fn a_search_of_too_many_words_is_refused_saying_so() {
        let (_dir, store, ana, _) = store().await;
        let owner = Owner::User(ana.id.clone());
        store
            .add_memory(&ana.id, None, "buy oat milk")
            .await
            .unwrap();
        let many: Vec<String> = (0..1000).map(|n| format!("w{n}")).collect();
        let error = store
            .search_memories(&owner, &many.join(" "), 10)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, StoreError::Invalid(message) if message.contains("at most 64 different words, this one has 1000")),
            "{error:?}"
        );
        let words = vec!["oat"; 500].join(" ");
        assert_eq!(
            store
                .search_memories(&owner, &words, 10)
                .await
                .unwrap()
                .len(),
            1,
            "repeats count once"
        );
    }
}
