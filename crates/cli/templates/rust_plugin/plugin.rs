use chronicle_plugin_api::{
    HandlerOutcome, JsonMap, Plugin, PluginContext, PluginError, PluginResult, async_trait,
};
use serde_json::Value;

use super::ScaffoldExampleConfig;

/// The plugin: handlers for the events it subscribes to; every other handler declines.
pub struct ScaffoldExamplePlugin {
    config: ScaffoldExampleConfig,
}

impl ScaffoldExamplePlugin {
    /// Builds the plugin from its settings; no I/O here, that belongs in `initialize`.
    pub fn new(config: ScaffoldExampleConfig) -> Self {
        Self { config }
    }
}

#[async_trait]
impl Plugin for ScaffoldExamplePlugin {
    async fn initialize(&self) -> Result<(), PluginError> {
        // Connect to services here: PluginError::unreachable(..) when one is down (the plugin
        // is retried later), PluginError::broken(..) when it can never work as configured.
        Ok(())
    }

    async fn on_conversation_complete(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        let words = ctx.transcript().split_whitespace().count();
        if words < self.config.min_words {
            return Ok(None); // decline: nothing to report
        }
        let mut data = JsonMap::new();
        data.insert("words".into(), Value::from(words));
        Ok(Some(
            PluginResult::ok(format!("{words} words")).with_data(data),
        ))
    }
}
