//! `test_event`: stores every event it receives in its document store, so tests and plugin
//! authors can see exactly what reached plugins.

mod config;
mod plugin;

use chronicle_plugin_api::{AccessLevel, PluginDescriptor, parse_settings};

pub use config::TestEventConfig;
pub use plugin::TestEventPlugin;

/// Registration of `test_event`.
pub const DESCRIPTOR: PluginDescriptor = PluginDescriptor {
    id: "test_event",
    name: "Test Event",
    description: "Stores every event it receives in its document store",
    access_levels: &AccessLevel::ALL,
    build: |settings| Ok(Box::new(TestEventPlugin::new(parse_settings(settings)?))),
};

#[cfg(test)]
mod tests;
