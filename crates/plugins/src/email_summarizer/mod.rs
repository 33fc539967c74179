//! `email_summarizer`: an email after each completed conversation, with its title, its
//! summary and its transcript, sent over SMTP (lettre).
//!
//! - **Transport**: STARTTLS (`smtp_use_tls`, required, not opportunistic), implicit TLS
//!   (`smtp_use_ssl`, port 465) or plain, chosen by real booleans; login when a username is
//!   set; extra trusted CAs from `smtp_ca_file` for a server with a private certificate.
//! - **Message**: a text part and an HTML part (multipart/alternative); the subject is the
//!   prefix and the conversation's date ("Conversation Summary - Jan 15, 2025 at 02:30 PM") in
//!   the configured time zone; the summary is the conversation's (written by the language
//!   model) when it has one, else its first sentences. The Message-ID comes from the
//!   delivery's idempotency key, so a repeat after a crash is recognizably the same mail.
//! - **Recipients**: the `recipients` of the settings, or else the address of the account the
//!   conversation belongs to.
//!
//! Without `smtp_host` the plugin loads, declines every event and its health says what to
//! set. At start it logs in once: an unreachable server leaves it degraded (retried by the
//! host), a refused login or a TLS mismatch leaves it failed with the fix. A failed send is
//! the delivery's failure, which the durable queue retries.

mod config;
mod message;
mod plugin;

use chronicle_plugin_api::{AccessLevel, PluginDescriptor, parse_settings};

pub use config::EmailSummarizerConfig;
pub use message::{Summary, fallback_summary};
pub use plugin::EmailSummarizerPlugin;

/// How the host finds the plugin.
pub const DESCRIPTOR: PluginDescriptor = PluginDescriptor {
    id: "email_summarizer",
    name: "Email Summarizer",
    description: "Emails a summary of each completed conversation",
    access_levels: &[AccessLevel::Conversation],
    build: |settings| {
        Ok(Box::new(EmailSummarizerPlugin::new(parse_settings(
            settings,
        )?)?))
    },
};

#[cfg(test)]
mod tests;
