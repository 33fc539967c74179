use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use serde_json::Value;

use crate::{Event, JsonMap, Services};

/// Everything a handler receives about one event.
///
/// Each plugin gets its own context. `data` is the event's data plus what this plugin's
/// condition added (`command`, `original_transcript`, regex groups), read as one map (see
/// [`EventData`]); the event's part is shared read-only between plugins without copying.
/// `metadata` is handed from plugin to plugin along the chain: what an earlier plugin writes
/// here, a later one reads.
pub struct PluginContext {
    /// The user the event belongs to; `system` for calls that name no user.
    pub user_id: Arc<str>,
    /// The event being handled.
    pub event: Event,
    /// The event's data, with this plugin's condition extras.
    pub data: EventData,
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

/// An event's data as one plugin sees it: the data every plugin of the chain shares, plus what
/// this plugin's condition added.
///
/// It reads as one [`JsonMap`] (it dereferences to one, extras winning over the event's
/// fields). [`EventData::get`] and [`PluginContext::str_field`] look a field up in both
/// without copying anything; the merged map is built once, on first use, only for a plugin
/// that asks for the whole map.
pub struct EventData {
    shared: Arc<JsonMap>,
    /// A condition adds two or three fields: a list looked through beats a map built.
    extras: Vec<(String, Value)>,
    merged: OnceLock<JsonMap>,
}

impl EventData {
    /// The event's `shared` data with a plugin's `extras`.
    pub fn new(shared: Arc<JsonMap>, extras: Vec<(String, Value)>) -> Self {
        Self {
            shared,
            extras,
            merged: OnceLock::new(),
        }
    }

    /// The value of `key`: the condition's, else the event's.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.extras
            .iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
            .or_else(|| small_map_get(&self.shared, key))
    }

    /// The event's data, as every plugin of the chain sees it.
    pub fn shared(&self) -> &Arc<JsonMap> {
        &self.shared
    }

    /// What this plugin's condition added.
    pub fn extras(&self) -> &[(String, Value)] {
        &self.extras
    }
}

/// `map.get(key)`, by comparing keys when the map is small, as event data is: a handful of
/// string comparisons costs less than hashing the key (serde_json's maps hash with SipHash).
pub fn small_map_get<'a>(map: &'a JsonMap, key: &str) -> Option<&'a Value> {
    if map.len() <= 16 {
        map.iter()
            .find(|(name, _)| name.as_str() == key)
            .map(|(_, value)| value)
    } else {
        map.get(key)
    }
}

impl Deref for EventData {
    type Target = JsonMap;

    fn deref(&self) -> &JsonMap {
        if self.extras.is_empty() {
            return &self.shared;
        }
        self.merged.get_or_init(|| {
            let mut merged = JsonMap::with_capacity(self.shared.len() + self.extras.len());
            merged.extend(self.shared.iter().map(|(k, v)| (k.clone(), v.clone())));
            merged.extend(self.extras.iter().map(|(k, v)| (k.clone(), v.clone())));
            merged
        })
    }
}

impl From<Arc<JsonMap>> for EventData {
    fn from(shared: Arc<JsonMap>) -> Self {
        Self::new(shared, Vec::new())
    }
}

impl From<JsonMap> for EventData {
    fn from(data: JsonMap) -> Self {
        Self::new(Arc::new(data), Vec::new())
    }
}

impl Clone for EventData {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.shared), self.extras.clone())
    }
}

impl std::fmt::Debug for EventData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl serde::Serialize for EventData {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(value: Value) -> JsonMap {
        match value {
            Value::Object(map) => map,
            _ => JsonMap::new(),
        }
    }

    #[test]
    fn event_data_reads_as_one_map_with_the_extras_winning() {
        let shared = Arc::new(map(
            json!({"transcript": "hey hermes lights", "command": "x"}),
        ));
        let data = EventData::new(
            Arc::clone(&shared),
            vec![("command".to_owned(), json!("lights"))],
        );
        assert_eq!(data.get("command"), Some(&json!("lights")));
        assert_eq!(data.get("transcript"), Some(&json!("hey hermes lights")));
        assert_eq!(
            Value::Object((*data).clone()),
            json!({"transcript": "hey hermes lights", "command": "lights"})
        );
        assert_eq!(data.len(), 2);
        // The event's part is shared, never copied.
        assert!(Arc::ptr_eq(data.shared(), &shared));
        let plain = EventData::from(Arc::clone(&shared));
        assert!(std::ptr::eq(&*plain, &*shared));
    }
}
