use serde::{Deserialize, Serialize};

use crate::JsonMap;

/// What a handler reports back when it acted on an event.
///
/// A handler that has nothing to say about an event declines with `Ok(None)` instead; declines
/// are not collected. `success: false` is recorded but does not stop the chain;
/// `should_continue: false` does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginResult {
    /// Whether the plugin did what it set out to do.
    pub success: bool,
    /// A short, human-readable account of what happened.
    #[serde(default)]
    pub message: Option<String>,
    /// Anything the plugin wants to report in machine-readable form.
    #[serde(default)]
    pub data: JsonMap,
    /// `false` stops the chain: plugins after this one do not see the event.
    #[serde(default = "continue_by_default")]
    pub should_continue: bool,
}

fn continue_by_default() -> bool {
    true
}

impl PluginResult {
    /// A success with a message; the chain continues.
    pub fn ok(message: impl Into<String>) -> Self {
        Self {
            success: true,
            message: Some(message.into()),
            data: JsonMap::new(),
            should_continue: true,
        }
    }

    /// A failure with a message; the chain still continues.
    pub fn failure(message: impl Into<String>) -> Self {
        Self {
            success: false,
            ..Self::ok(message)
        }
    }

    /// Attaches machine-readable data.
    pub fn with_data(mut self, data: JsonMap) -> Self {
        self.data = data;
        self
    }

    /// Stops the chain after this plugin: the event was handled and nobody else should act.
    pub fn stop_chain(mut self) -> Self {
        self.should_continue = false;
        self
    }
}
