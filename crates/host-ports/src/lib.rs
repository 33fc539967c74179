//! The ports between the plugin host and the rest of Chronicle: what the host needs to serve
//! a plugin's service calls and to deliver terminal events durably.
//!
//! The host (`chronicle-plugin-host`) implements the plugin contract's `Services` on top of
//! these traits; the store and pipeline provide the real implementations and the host ships
//! in-memory ones for the CLI and tests. The pure document matching rules live here too, so
//! every store filters and updates alike. [`delivery`] is the durable queue of terminal events
//! the host's dispatcher works through, and the row types the admin API and CLI show.
//!
//! Not for plugin authors: a plugin sees only `chronicle-plugin-api`. This crate holds types
//! and traits and pure functions only, no I/O.

pub mod delivery;

use std::sync::Arc;

use serde_json::Value;

use chronicle_plugin_api::{CloseReason, JsonMap};

/// A failure in a backend, reported to the plugin as a service error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The request cannot be served as asked (bad filter, unknown operator).
    #[error("{0}")]
    InvalidRequest(String),
    /// The backend could not be reached or is not configured.
    #[error("{0}")]
    Unavailable(String),
    /// The backend failed.
    #[error("{0}")]
    Failed(String),
}

/// Who a plugin's service call acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The user whose event (or `call_plugin` request) the plugin is handling: reaches that
    /// user's sessions and conversations only.
    User(Arc<str>),
    /// The host itself, for what a process plugin asks outside any handler: reaches every
    /// user's. No user id, whatever it is spelled, grants this.
    System,
}

impl Actor {
    /// Whether this actor may act on what `owner_user_id` owns.
    pub fn may_reach(&self, owner_user_id: &str) -> bool {
        match self {
            Actor::User(user_id) => **user_id == *owner_user_id,
            Actor::System => true,
        }
    }

    /// The user id plugins and dispatch records see: the user's, or `system`.
    pub fn user_id(&self) -> Arc<str> {
        match self {
            Actor::User(user_id) => Arc::clone(user_id),
            Actor::System => Arc::from("system"),
        }
    }
}

/// Live sessions and stored conversations, as far as plugins may act on them.
#[async_trait::async_trait]
pub trait ConversationControl: Send + Sync {
    /// Closes the conversation open in `session_id`, if `actor` may reach it, ending it with
    /// `reason`; `Ok(false)` when there is none.
    async fn close_conversation(
        &self,
        actor: &Actor,
        session_id: &str,
        reason: CloseReason,
    ) -> Result<bool, BackendError>;

    /// Toggles the star of the conversation open in (or last stored from) `session_id`, if
    /// `actor` may reach it; `Ok(false)` when there is none.
    async fn star_conversation(
        &self,
        actor: &Actor,
        session_id: &str,
    ) -> Result<bool, BackendError>;
}

/// The devices connected now, as plugins may reach them.
pub trait Devices: Send + Sync {
    /// Tells the connections of device `client_id`, owned by `user_id`, to stop playing audio,
    /// if `actor` may reach that user; how many connections were told.
    fn stop_playback(&self, actor: &Actor, user_id: &str, client_id: &str) -> usize;
}

/// No device is connected: the CLI, tests, and commands that run without a server.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDevices;

impl Devices for NoDevices {
    fn stop_playback(&self, _actor: &Actor, _user_id: &str, _client_id: &str) -> usize {
        0
    }
}

/// Documents stored by plugins, kept apart per plugin and per collection.
#[async_trait::async_trait]
pub trait DocumentStore: Send + Sync {
    /// Stores `document` and returns the `_id` it was given (or kept, if it had a string one).
    async fn insert_one(
        &self,
        plugin_id: &str,
        collection: &str,
        document: JsonMap,
    ) -> Result<String, BackendError>;

    /// The documents matching `filter` (see [`matches_filter`]), in insertion order.
    async fn find(
        &self,
        plugin_id: &str,
        collection: &str,
        filter: &JsonMap,
        limit: Option<usize>,
    ) -> Result<Vec<JsonMap>, BackendError>;

    /// Applies `update` (see [`apply_update`]) to the first matching document.
    async fn update_one(
        &self,
        plugin_id: &str,
        collection: &str,
        filter: &JsonMap,
        update: &JsonMap,
    ) -> Result<bool, BackendError>;

    /// Deletes the first matching document.
    async fn delete_one(
        &self,
        plugin_id: &str,
        collection: &str,
        filter: &JsonMap,
    ) -> Result<bool, BackendError>;

    /// Counts the matching documents.
    async fn count(
        &self,
        plugin_id: &str,
        collection: &str,
        filter: &JsonMap,
    ) -> Result<u64, BackendError>;
}

/// A text generator (the server's LLM provider).
#[async_trait::async_trait]
pub trait LanguageModel: Send + Sync {
    /// Completes `prompt`.
    async fn generate(&self, prompt: &str) -> Result<String, BackendError>;
}

/// Search over a user's conversations and memories (the server's: words and meaning).
#[async_trait::async_trait]
pub trait SearchIndex: Send + Sync {
    /// The answer to `query` for `user_id`, as `GET /api/search` gives it.
    async fn search(
        &self,
        user_id: &str,
        query: &chronicle_plugin_api::protocol::SearchParams,
    ) -> Result<Value, BackendError>;
}

/// Gives `document` its `_id`: a string `_id` it already has is kept, anything else is replaced
/// by `fresh()`. Returns the id. Every store assigns ids by this rule.
pub fn ensure_id(document: &mut JsonMap, fresh: impl FnOnce() -> String) -> String {
    let id = match document.get("_id") {
        Some(Value::String(id)) => id.clone(),
        _ => fresh(),
    };
    document.insert("_id".into(), Value::from(id.as_str()));
    id
}

/// Whether `document` matches `filter`: every filter key equals the document's value at that
/// key, where a dotted key (`a.b`) reaches into nested objects. Operators (`$gt`, …) are not
/// supported and are rejected.
pub fn matches_filter(document: &JsonMap, filter: &JsonMap) -> Result<bool, BackendError> {
    for (key, expected) in filter {
        if key.starts_with('$') {
            return Err(BackendError::InvalidRequest(format!(
                "filter operator `{key}` is not supported: filters compare fields for equality"
            )));
        }
        if lookup(document, key) != Some(expected) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn lookup<'a>(document: &'a JsonMap, dotted: &str) -> Option<&'a Value> {
    let mut parts = dotted.split('.');
    let mut current = document.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// Applies a MongoDB-style update: `$set` (fields to replace), `$unset` (fields to remove) and
/// `$inc` (numbers to add). An update without operators is taken as `$set`. `_id` never
/// changes.
pub fn apply_update(document: &mut JsonMap, update: &JsonMap) -> Result<(), BackendError> {
    if !update.keys().any(|key| key.starts_with('$')) {
        return set_fields(document, update);
    }
    for (operator, fields) in update {
        let fields = fields.as_object().ok_or_else(|| {
            BackendError::InvalidRequest(format!("`{operator}` takes an object of fields"))
        })?;
        match operator.as_str() {
            "$set" => set_fields(document, fields)?,
            "$unset" => {
                for key in fields.keys().filter(|key| *key != "_id") {
                    document.remove(key);
                }
            }
            "$inc" => {
                for (key, by) in fields {
                    let current = document.get(key).cloned().unwrap_or(Value::from(0));
                    document.insert(key.clone(), add_numbers(key, &current, by)?);
                }
            }
            other => {
                return Err(BackendError::InvalidRequest(format!(
                    "update operator `{other}` is not supported (use $set, $unset or $inc)"
                )));
            }
        }
    }
    Ok(())
}

fn set_fields(document: &mut JsonMap, fields: &JsonMap) -> Result<(), BackendError> {
    for (key, value) in fields {
        if key == "_id" {
            continue;
        }
        if key.starts_with('$') {
            return Err(BackendError::InvalidRequest(format!(
                "cannot mix operator `{key}` with plain fields in one update"
            )));
        }
        document.insert(key.clone(), value.clone());
    }
    Ok(())
}

fn add_numbers(key: &str, current: &Value, by: &Value) -> Result<Value, BackendError> {
    let not_numbers = || BackendError::InvalidRequest(format!("`$inc` on `{key}` needs numbers"));
    match (current.as_i64(), by.as_i64()) {
        (Some(a), Some(b)) => Ok(Value::from(a.saturating_add(b))),
        _ => {
            let sum =
                current.as_f64().ok_or_else(not_numbers)? + by.as_f64().ok_or_else(not_numbers)?;
            Ok(Value::from(sum))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(value: Value) -> JsonMap {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn filters_compare_fields_for_equality_including_nested_ones() {
        let doc = map(json!({"task": "milk", "done": false, "meta": {"by": "ana"}}));
        assert!(matches_filter(&doc, &map(json!({}))).unwrap());
        assert!(matches_filter(&doc, &map(json!({"task": "milk", "meta.by": "ana"}))).unwrap());
        assert!(!matches_filter(&doc, &map(json!({"done": true}))).unwrap());
        assert!(!matches_filter(&doc, &map(json!({"missing": null}))).unwrap());
        assert!(matches_filter(&doc, &map(json!({"$or": []}))).is_err());
    }

    #[test]
    fn updates_support_set_unset_inc_and_plain_objects() {
        let mut doc = map(json!({"_id": "1", "n": 1, "gone": true}));
        apply_update(&mut doc, &map(json!({"$set": {"a": 1, "_id": "x"}, "$unset": {"gone": ""}, "$inc": {"n": 2, "m": 0.5}}))).unwrap();
        assert_eq!(
            Value::Object(doc.clone()),
            json!({"_id": "1", "n": 3, "a": 1, "m": 0.5})
        );
        apply_update(&mut doc, &map(json!({"b": "plain"}))).unwrap();
        assert_eq!(doc["b"], "plain");
        assert!(apply_update(&mut doc, &map(json!({"$push": {"a": 1}}))).is_err());
        assert!(apply_update(&mut doc, &map(json!({"$inc": {"b": 1}}))).is_err());
    }
}
