use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use serde_json::Value;

use crate::{JsonMap, PluginResult};

/// What the host offers a plugin while it handles an event (`ctx.services`).
///
/// Every call is checked against the plugin's `permissions` in `config/plugins.yml`; a call the
/// plugin was not granted returns [`ServiceError::PermissionDenied`], whose message names the
/// permission to add. Document-store calls act on the calling plugin's own documents only.
#[crate::async_trait]
pub trait Services: Send + Sync {
    /// Asks the server to close the conversation open in `session_id` (permission
    /// `close_conversation`). `Ok(false)` when that session has no open conversation.
    async fn close_conversation(
        &self,
        session_id: &str,
        reason: CloseReason,
    ) -> Result<bool, ServiceError>;

    /// Toggles the star on the conversation open in `session_id` (permission
    /// `star_conversation`). `Ok(false)` when there is none.
    async fn star_conversation(&self, session_id: &str) -> Result<bool, ServiceError>;

    /// Calls another plugin's `on_plugin_action` directly, with `data` plus `action` (permission
    /// `call_plugin`). An unknown, disabled or failing target gives `Ok(Some(result))` with
    /// `success: false` and a message saying why; `Ok(None)` means the target declined.
    /// `user_id` defaults to `system`.
    async fn call_plugin(
        &self,
        plugin_id: &str,
        action: &str,
        data: JsonMap,
        user_id: Option<&str>,
    ) -> Result<Option<PluginResult>, ServiceError>;

    /// Stores a document in one of this plugin's collections and returns its `_id`
    /// (permission `database`).
    async fn insert_one(&self, collection: &str, document: JsonMap)
    -> Result<String, ServiceError>;

    /// The documents whose fields equal every field of `filter`, oldest first (permission
    /// `database`). An empty filter matches everything.
    async fn find(&self, collection: &str, filter: &JsonMap) -> Result<Vec<JsonMap>, ServiceError>;

    /// The first document matching `filter` (permission `database`).
    async fn find_one(
        &self,
        collection: &str,
        filter: &JsonMap,
    ) -> Result<Option<JsonMap>, ServiceError>;

    /// Updates the first document matching `filter` with `$set`, `$unset` and `$inc`
    /// operators; a plain object is taken as `$set` (permission `database`). `Ok(false)` when
    /// nothing matched.
    async fn update_one(
        &self,
        collection: &str,
        filter: &JsonMap,
        update: &JsonMap,
    ) -> Result<bool, ServiceError>;

    /// Deletes the first document matching `filter` (permission `database`).
    async fn delete_one(&self, collection: &str, filter: &JsonMap) -> Result<bool, ServiceError>;

    /// Counts the documents matching `filter` (permission `database`).
    async fn count(&self, collection: &str, filter: &JsonMap) -> Result<u64, ServiceError>;

    /// Generates text with the server's language model (permission `llm`).
    async fn llm_generate(&self, prompt: &str) -> Result<String, ServiceError>;

    /// Tells the device `client_id` to stop playing audio, as the original's `stop_playback`
    /// did (permission `stop_playback`): `Ok(true)` when a connection of that device was told.
    /// `user_id` is the device's owner; `None` means the user of the event being handled.
    async fn stop_playback(
        &self,
        client_id: &str,
        user_id: Option<&str>,
    ) -> Result<bool, ServiceError>;

    /// Searches the user's conversations and memories as `GET /api/search` does (permission
    /// `search`): the answer's JSON (`hits`, `ranking`, `note`, `time_filter`). `user_id` in
    /// `query` is whose; `None` means the user of the event being handled. A host without a
    /// search (the offline tools) says so.
    async fn search(&self, query: &SearchParams) -> Result<Value, ServiceError> {
        let _ = query;
        Err(ServiceError::Unavailable {
            service: "search",
            reason: "this host has no search".into(),
        })
    }
}

/// Why a plugin asks to close a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// A person asked for it.
    UserRequested,
    /// A plugin decided to.
    PluginRequested,
    /// The device button was pressed.
    ButtonClose,
}

impl CloseReason {
    /// The name stored with the conversation.
    pub const fn as_str(self) -> &'static str {
        match self {
            CloseReason::UserRequested => "user_requested",
            CloseReason::PluginRequested => "plugin_requested",
            CloseReason::ButtonClose => "button_close",
        }
    }
}

/// A right a plugin must be granted in `plugins.yml` (`permissions: [database, call_plugin]`)
/// before it may use the matching service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// `close_conversation`.
    CloseConversation,
    /// `star_conversation`.
    StarConversation,
    /// `call_plugin`.
    CallPlugin,
    /// The plugin's document store.
    Database,
    /// `llm_generate`.
    Llm,
    /// `stop_playback`.
    StopPlayback,
    /// `search`: the user's conversations and memories, by words and meaning.
    Search,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 7] = [
        Permission::CloseConversation,
        Permission::StarConversation,
        Permission::CallPlugin,
        Permission::Database,
        Permission::Llm,
        Permission::StopPlayback,
        Permission::Search,
    ];

    /// The name written in `plugins.yml`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::CloseConversation => "close_conversation",
            Permission::StarConversation => "star_conversation",
            Permission::CallPlugin => "call_plugin",
            Permission::Database => "database",
            Permission::Llm => "llm",
            Permission::StopPlayback => "stop_playback",
            Permission::Search => "search",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a permission name that is not one of [`Permission::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown permission `{0}` (expected one of: close_conversation, star_conversation, call_plugin, database, llm, stop_playback, search)"
)]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|permission| permission.as_str() == name)
            .ok_or_else(|| UnknownPermission(name.to_owned()))
    }
}

/// Why a service call did not happen or did not work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The plugin was not granted the permission the service needs.
    #[error(
        "plugin `{plugin_id}` may not use {service}: add `{permission}` to its `permissions` in config/plugins.yml"
    )]
    PermissionDenied {
        /// The calling plugin.
        plugin_id: String,
        /// The service it called.
        service: &'static str,
        /// The permission that would allow it.
        permission: Permission,
    },
    /// The service is not available in this deployment or right now.
    #[error("{service} is unavailable: {reason}")]
    Unavailable {
        /// The service called.
        service: &'static str,
        /// Why it is unavailable.
        reason: String,
    },
    /// The request itself was wrong (a bad filter, an unknown update operator).
    #[error("invalid {service} request: {reason}")]
    InvalidRequest {
        /// The service called.
        service: &'static str,
        /// What is wrong with the request.
        reason: String,
    },
    /// The service tried and failed.
    #[error("{service} failed: {reason}")]
    Failed {
        /// The service called.
        service: &'static str,
        /// What went wrong.
        reason: String,
    },
}

/// `search.query` params: as `GET /api/search` takes them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// The words; a time in them ("yesterday") becomes a filter.
    pub query: String,
    /// RFC 3339 or `YYYY-MM-DD`: only from then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// RFC 3339 or `YYYY-MM-DD` (the whole day): only until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// `memory` or `conversation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// How many hits, 1 to 50 (10 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The IANA time zone the times in `query` are read in; the server's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Whose conversations and memories; the event's user when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_parse_from_their_names() {
        for permission in Permission::ALL {
            assert_eq!(permission.as_str().parse(), Ok(permission));
        }
        assert_eq!(
            "databse".parse::<Permission>().unwrap_err().to_string(),
            "unknown permission `databse` (expected one of: close_conversation, star_conversation, call_plugin, database, llm, stop_playback, search)"
        );
    }

    #[test]
    fn a_denied_call_names_the_permission_to_grant() {
        let error = ServiceError::PermissionDenied {
            plugin_id: "todo".into(),
            service: "insert_one",
            permission: Permission::Database,
        };
        assert_eq!(
            error.to_string(),
            "plugin `todo` may not use insert_one: add `database` to its `permissions` in config/plugins.yml"
        );
    }
}
