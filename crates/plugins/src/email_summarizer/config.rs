//! The settings of `email_summarizer` (mirrored, with the same words, in
//! `plugins/email_summarizer/config.yml`). The keys of the Python plugin keep their meaning.

use serde::{Deserialize, Deserializer};

/// Settings of `email_summarizer`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSummarizerConfig {
    /// The subject's start; the conversation's date follows.
    #[serde(default = "default_subject_prefix")]
    pub subject_prefix: String,
    /// Whether the mail shows the conversation's id.
    #[serde(default = "yes")]
    pub include_conversation_id: bool,
    /// Whether the mail shows how long the conversation lasted.
    #[serde(default = "yes")]
    pub include_duration: bool,
    /// Without a summary from the language model, the mail quotes this many of the
    /// transcript's first sentences (at least 1).
    #[serde(default = "default_summary_max_sentences")]
    pub summary_max_sentences: usize,
    /// How many characters of the transcript the mail includes (0: none).
    #[serde(default = "default_transcript_chars")]
    pub transcript_chars: usize,
    /// The time zone of the date in the subject and body: an IANA name (`Europe/Berlin`), or
    /// empty for the server's own.
    #[serde(default)]
    pub timezone: String,

    /// The SMTP server. Empty: the plugin declines every event.
    #[serde(default)]
    pub smtp_host: String,
    /// Its port; when unset or empty, 465 with `smtp_use_ssl`, 587 with `smtp_use_tls`, else
    /// 25.
    #[serde(default, deserialize_with = "optional_port")]
    pub smtp_port: Option<u16>,
    /// The login; empty: no login.
    #[serde(default)]
    pub smtp_username: String,
    /// The password (or app password).
    #[serde(default)]
    pub smtp_password: String,
    /// STARTTLS: connect in plain text, then require the upgrade to TLS (port 587).
    #[serde(default = "yes")]
    pub smtp_use_tls: bool,
    /// Implicit TLS: TLS from the first byte (port 465). Not together with `smtp_use_tls`.
    #[serde(default)]
    pub smtp_use_ssl: bool,
    /// A PEM file of certificate authorities to trust besides the system's, for a server
    /// with a private certificate. Empty: the system's only.
    #[serde(default)]
    pub smtp_ca_file: String,
    /// How long one SMTP exchange may take, in seconds; a send also ends half a second before
    /// the handler's deadline (`timeout` in plugins.yml).
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: f64,

    /// The sender's address (`ann@example.com`, or `Ann <ann@example.com>` to name the sender
    /// here); empty: `smtp_username`, when that is an address.
    #[serde(default)]
    pub from_email: String,
    /// The sender's display name.
    #[serde(default = "default_from_name")]
    pub from_name: String,
    /// Who receives every summary. Empty: the address of the account the conversation belongs
    /// to.
    #[serde(default)]
    pub recipients: Vec<String>,
}

fn yes() -> bool {
    true
}

fn default_subject_prefix() -> String {
    "Conversation Summary".into()
}

fn default_summary_max_sentences() -> usize {
    3
}

fn default_transcript_chars() -> usize {
    20_000
}

fn default_timeout_seconds() -> f64 {
    30.0
}

fn default_from_name() -> String {
    "Chronicle AI".into()
}

/// A port as a number, or nothing: null, or an empty string (`${SMTP_PORT:-}` with the
/// variable unset). A quoted number is read as a number.
fn optional_port<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        Number(f64),
        Text(String),
    }
    let text = match Option::<Port>::deserialize(deserializer)? {
        None => return Ok(None),
        Some(Port::Text(text)) if text.trim().is_empty() => return Ok(None),
        Some(Port::Text(text)) => text.trim().to_owned(),
        Some(Port::Number(number)) => number.to_string(),
    };
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(Some(port)),
        _ => Err(serde::de::Error::custom(format!(
            "`{text}` is not a port: use a number from 1 to 65535 (587 for STARTTLS, 465 for implicit TLS)"
        ))),
    }
}
