//! The plugins bundled with Chronicle, compiled into the binary and run in process.
//!
//! Each plugin lives in its own folder as `config.rs` (its settings, whose doc comments are
//! the reference; the shipped `plugins/<id>/config.yml` mirrors them) and `plugin.rs` (its
//! handlers), and is listed once in [`REGISTRY`] behind a Cargo feature of the same name.
//!
//! Bundled plugins use only the plugin contract (`chronicle-plugin-api`): whatever they do,
//! a plugin written outside this crate can do too.

use chronicle_plugin_api::PluginDescriptor;

#[cfg(feature = "email_summarizer")]
pub mod email_summarizer;
#[cfg(feature = "homeassistant")]
pub mod homeassistant;
#[cfg(any(
    feature = "webhook",
    feature = "slack_notifier",
    feature = "homeassistant"
))]
mod http;
#[cfg(feature = "keyword_alerter")]
pub mod keyword_alerter;
#[cfg(feature = "slack_notifier")]
pub mod slack_notifier;
#[cfg(feature = "test_button_actions")]
pub mod test_button_actions;
#[cfg(feature = "test_event")]
pub mod test_event;
#[cfg(feature = "todo_extractor")]
pub mod todo_extractor;
#[cfg(feature = "webhook")]
pub mod webhook;

mod support;
#[cfg(test)]
mod testing;
#[cfg(any(
    feature = "slack_notifier",
    feature = "homeassistant",
    feature = "email_summarizer"
))]
mod text;

/// The template `chronicle plugin new` renders, compiled and tested here so every scaffold is
/// known to build.
#[cfg(test)]
#[path = "../../cli/templates/rust_plugin/mod.rs"]
mod scaffold_example;

/// Every bundled plugin compiled into this build.
pub const REGISTRY: &[PluginDescriptor] = &[
    #[cfg(feature = "test_event")]
    test_event::DESCRIPTOR,
    #[cfg(feature = "test_button_actions")]
    test_button_actions::DESCRIPTOR,
    #[cfg(feature = "todo_extractor")]
    todo_extractor::DESCRIPTOR,
    #[cfg(feature = "keyword_alerter")]
    keyword_alerter::DESCRIPTOR,
    #[cfg(feature = "webhook")]
    webhook::DESCRIPTOR,
    #[cfg(feature = "slack_notifier")]
    slack_notifier::DESCRIPTOR,
    #[cfg(feature = "email_summarizer")]
    email_summarizer::DESCRIPTOR,
    #[cfg(feature = "homeassistant")]
    homeassistant::DESCRIPTOR,
];
