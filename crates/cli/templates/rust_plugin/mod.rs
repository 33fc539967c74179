//! `scaffold_example`: counts the words of each finished conversation. Replace this with what
//! your plugin does.

mod config;
mod plugin;

use chronicle_plugin_api::{AccessLevel, PluginDescriptor, parse_settings};

pub use config::ScaffoldExampleConfig;
pub use plugin::ScaffoldExamplePlugin;

/// Registration of `scaffold_example`.
pub const DESCRIPTOR: PluginDescriptor = PluginDescriptor {
    id: "scaffold_example",
    name: "Scaffold Example",
    description: "Counts the words of each finished conversation",
    access_levels: &[AccessLevel::Conversation],
    build: |settings| {
        Ok(Box::new(ScaffoldExamplePlugin::new(parse_settings(
            settings,
        )?)))
    },
};

#[cfg(test)]
mod tests;
