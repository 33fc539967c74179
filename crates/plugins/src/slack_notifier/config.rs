//! The settings of `slack_notifier` (mirrored, with the same words, in
//! `plugins/slack_notifier/config.yml`).

use serde::Deserialize;

/// Settings of `slack_notifier`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The channel's incoming webhook URL (`https://hooks.slack.com/services/…`). Empty: the
    /// plugin declines every event.
    #[serde(default)]
    pub slack_webhook_url: String,
    /// How many characters of the transcript the message shows.
    #[serde(default = "default_transcript_chars")]
    pub transcript_chars: usize,
    /// How long to wait for Slack, in seconds.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: f64,
}

fn default_transcript_chars() -> usize {
    500
}

fn default_timeout_seconds() -> f64 {
    15.0
}
