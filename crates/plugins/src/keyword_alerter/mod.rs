//! `keyword_alerter`: raises an alert when a configured keyword is said — the guide's second
//! example, matching whole words instead of substrings.

mod config;
mod plugin;

use chronicle_plugin_api::{AccessLevel, PluginDescriptor, parse_settings};

pub use config::KeywordAlerterConfig;
pub use plugin::KeywordAlerterPlugin;

/// Registration of `keyword_alerter`.
pub const DESCRIPTOR: PluginDescriptor = PluginDescriptor {
    id: "keyword_alerter",
    name: "Keyword Alerter",
    description: "Alerts when a configured keyword is said",
    access_levels: &[AccessLevel::Transcript],
    build: |settings| {
        Ok(Box::new(KeywordAlerterPlugin::new(parse_settings(
            settings,
        )?)?))
    },
};

#[cfg(test)]
mod tests;
