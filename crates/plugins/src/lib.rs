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

/// Makes ring the process's TLS crypto provider, once: reqwest's and lettre's rustls are built
/// without one, so the process chooses.
#[cfg(any(
    feature = "webhook",
    feature = "slack_notifier",
    feature = "homeassistant",
    feature = "email_summarizer"
))]
pub(crate) fn install_crypto_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // Another part of the process may have chosen first; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Time kept back from a handler's deadline to record or report what happened.
#[cfg(any(
    feature = "webhook",
    feature = "homeassistant",
    feature = "email_summarizer"
))]
const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_millis(500);

/// The shortest wait for an answer, however close the deadline.
#[cfg(any(feature = "webhook", feature = "homeassistant"))]
pub(crate) const MIN_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(100);

/// The handler's time left before `deadline`, less the margin kept to report; zero once past.
#[cfg(any(
    feature = "webhook",
    feature = "homeassistant",
    feature = "email_summarizer"
))]
pub(crate) fn time_left(deadline: std::time::SystemTime) -> std::time::Duration {
    deadline
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default()
        .saturating_sub(DEADLINE_MARGIN)
}

/// The wait for an answer: the `configured` timeout, cut short to end before the handler's
/// deadline (less the margin), but never below [`MIN_REQUEST_TIMEOUT`].
#[cfg(any(feature = "webhook", feature = "homeassistant"))]
pub(crate) fn request_timeout(
    configured: std::time::Duration,
    deadline: std::time::SystemTime,
) -> std::time::Duration {
    configured.min(time_left(deadline)).max(MIN_REQUEST_TIMEOUT)
}

/// Seconds since the Unix epoch, for timestamps stored with documents.
pub(crate) fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// A JSON object as a map; any other value is wrapped as `{"value": ...}`.
pub(crate) fn into_object(value: serde_json::Value) -> chronicle_plugin_api::JsonMap {
    match value {
        serde_json::Value::Object(map) => map,
        other => std::iter::once(("value".to_owned(), other)).collect(),
    }
}
