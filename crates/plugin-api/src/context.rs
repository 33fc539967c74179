use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;

use crate::{Event, JsonMap, Services};

/// Everything a handler receives about one event.
///
/// Each plugin gets its own context. `data` is the event's data plus what this plugin's
/// condition added (`command`, `original_transcript`, regex groups); it is shared read-only
/// between plugins without copying, and [`Arc::make_mut`] gives a plugin a private copy should
/// it want one. `metadata` is handed from plugin to plugin along the chain: what an earlier
/// plugin writes here, a later one reads.
pub struct PluginContext {
    /// The user the event belongs to; `system` for calls that name no user.
    pub user_id: Arc<str>,
    /// The event being handled.
    pub event: Event,
    /// The event's data, with this plugin's condition extras.
    pub data: Arc<JsonMap>,
    /// Metadata shared along the chain; changes made here reach the plugins that run later.
    pub metadata: JsonMap,
    /// What the host offers this plugin, each call checked against its granted permissions.
    pub services: Arc<dyn Services>,
    /// Identity, attempt and deadline of this delivery.
    pub delivery: Delivery,
}

impl PluginContext {
    /// The `transcript` field of the data, or `""` when the event carries none.
    pub fn transcript(&self) -> &str {
        self.str_field("transcript").unwrap_or("")
    }

    /// A string field of the data, if present and a string.
    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }
}

impl std::fmt::Debug for PluginContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginContext")
            .field("user_id", &self.user_id)
            .field("event", &self.event)
            .field("data", &self.data)
            .field("metadata", &self.metadata)
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

/// Which delivery of which event a handler is working on.
///
/// The same event delivered again to the same plugin (a retry, a replay) keeps its
/// [`Delivery::idempotency_key`], so a plugin with side effects can recognise a repeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Identifies the event, the same for every plugin in its chain.
    pub event_id: Arc<str>,
    /// The plugin this delivery is for.
    pub plugin_id: Arc<str>,
    /// 1 for the first attempt, then 2, 3, … for retries.
    pub attempt: u32,
    /// When the host stops waiting for the handler and records a timeout.
    pub deadline: SystemTime,
}

impl Delivery {
    /// A key that is stable across retries of this event to this plugin.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.event_id, self.plugin_id)
    }
}
