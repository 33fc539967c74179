//! `slack_notifier`: a Slack message for each completed conversation, through an incoming
//! webhook, as in the plugin guide's first example.
//!
//! The message keeps the guide's shape (`text` "New conversation (12.5s)" and a section with
//! the transcript's first 500 characters in a code block) and adds, when the conversation has
//! them, its title as a header and its summary. Text is escaped for Slack's mrkdwn (`&`, `<`,
//! `>`), so a transcript cannot mention a channel or break the block.
//!
//! A failed post (unreachable, timeout, any non-2xx answer) is the delivery's failure, which
//! the durable queue retries. Without `slack_webhook_url` the plugin loads, declines every
//! event and its health check says what to set.
//!
//! The connection test posts an empty message: a live incoming webhook refuses it with
//! `400 no_text`, which proves the URL without posting anything to the channel.

mod config;
mod plugin;

use chronicle_plugin_api::{AccessLevel, PluginDescriptor, parse_settings};

pub use config::SlackConfig;
pub use plugin::{SlackNotifierPlugin, message};

/// How the host finds the plugin.
pub const DESCRIPTOR: PluginDescriptor = PluginDescriptor {
    id: "slack_notifier",
    name: "Slack notifier",
    description: "Posts each completed conversation to a Slack channel",
    access_levels: &[AccessLevel::Conversation],
    build: |settings| {
        Ok(Box::new(SlackNotifierPlugin::new(parse_settings(
            settings,
        )?)?))
    },
};

#[cfg(test)]
mod tests;
