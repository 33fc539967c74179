//! `todo_extractor`: pulls action items ("I need to buy milk") out of finished conversations
//! and stores them in the plugin's document store — the guide's first example, done properly.

mod config;
mod plugin;

use chronicle_plugin_api::{AccessLevel, PluginDescriptor, parse_settings};

pub use config::TodoExtractorConfig;
pub use plugin::{TodoExtractorPlugin, extract_todos};

/// Registration of `todo_extractor`.
pub const DESCRIPTOR: PluginDescriptor = PluginDescriptor {
    id: "todo_extractor",
    name: "Todo Extractor",
    description: "Extracts action items from conversations and stores them",
    access_levels: &[AccessLevel::Conversation, AccessLevel::Transcript],
    build: |settings| {
        Ok(Box::new(TodoExtractorPlugin::new(parse_settings(
            settings,
        )?)?))
    },
};

#[cfg(test)]
mod tests;
