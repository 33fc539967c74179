//! SQLite storage for Chronicle: users, devices, conversations, memories, the event log, plugin
//! documents and the durable delivery queue of terminal events ([`delivery`]).
//!
//! Everything lives in one file, `<data dir>/chronicle.db`, in WAL mode. [`Store`] is a cheap
//! clone around one writer connection and a few reader connections; every method is `async` and
//! runs SQLite on `tokio::task::spawn_blocking`. Writes are serialized in process, and a lock
//! held by another process is waited for and retried, so callers never see "database is
//! locked".
//!
//! Scoping: every method that reads a user's data takes an [`Owner`], so a caller cannot forget
//! it: [`Owner::User`] sees only that user's rows, [`Owner::Admin`] sees all. Methods keyed by an
//! id the server itself holds (appending to the conversation a session is recording, say) take
//! no owner.
//!
//! Schema: `migrations/NNNN_name.sql`, embedded with `include_str!`, applied in order in one
//! transaction and tracked with `PRAGMA user_version`. Timestamps are RFC 3339 UTC strings with
//! milliseconds ([`time`]). Deleting a conversation deletes its row; its memories stay, unlinked.
//! Plugin documents implement [`chronicle_host_ports::DocumentStore`] with the shared
//! matching rules of `chronicle-host-ports`.
//!
//! This crate must never know HTTP (no axum, no request or response types), run plugins, or
//! hash passwords: it stores what it is given.

mod api_keys;
mod chat;
mod conversations;
mod db;
pub mod delivery;
mod documents;
mod error;
mod events;
mod folder;
mod hit_kind;
mod memories;
#[cfg(feature = "openapi")]
pub mod openapi;
mod search;
mod sessions;
mod steps;
mod store;
#[cfg(test)]
mod testing;
pub mod time;
mod users;
mod vector_index;
mod vectors;

pub use api_keys::{ApiKey, KeyScope, NewApiKey};
pub use chat::{ChatMessage, ChatRole, ChatSession};
pub use conversations::{Conversation, ConversationQuery, NewConversation, Starred, Totals};
pub use documents::{CollectionSummary, DocumentPage};
pub use error::StoreError;
pub use events::{EventFilter, EventLogRow};
pub use folder::{DATABASE_FILE, DataFolder};
pub use memories::Memory;
pub use search::{HitKind, MAX_QUERY_WORDS, MatchedBy, SearchHit, SearchQuery, Semantic};
pub use sessions::Session;
pub use store::{DEFAULT_EVENT_LOG_CAPACITY, Owner, Store, StoreOptions};
pub use users::{Client, User};
pub use vector_index::normalized;
pub use vectors::{EmbedCursor, EmbeddingProgress, MAX_EMBEDDED_CHARS, TextToEmbed};
