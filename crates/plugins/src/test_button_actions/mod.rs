//! `test_button_actions`: turns device button presses into actions — close or star the
//! current conversation, or call another plugin.

mod config;
mod plugin;

use chronicle_plugin_api::{AccessLevel, PluginDescriptor, parse_settings};

pub use config::{ButtonAction, TestButtonActionsConfig};
pub use plugin::TestButtonActionsPlugin;

/// Registration of `test_button_actions`.
pub const DESCRIPTOR: PluginDescriptor = PluginDescriptor {
    id: "test_button_actions",
    name: "Test Button Actions",
    description: "Closes or stars the conversation, or calls a plugin, on a button press",
    access_levels: &[AccessLevel::Button],
    build: |settings| {
        Ok(Box::new(TestButtonActionsPlugin::new(parse_settings(
            settings,
        )?)))
    },
};

#[cfg(test)]
mod tests;
