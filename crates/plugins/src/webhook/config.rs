use serde::Deserialize;

/// Settings of `webhook` (`plugins/webhook/config.yml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Where each event is POSTed; every endpoint gets every event the plugin is subscribed
    /// to. Empty: the plugin loads but delivers nothing, and its health check says so.
    pub endpoints: Vec<EndpointConfig>,
    /// Seconds to wait for an endpoint's answer (connecting included), at most the plugin's
    /// `timeout` in `plugins.yml`, whichever ends first.
    pub timeout_seconds: f64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            timeout_seconds: 15.0,
        }
    }
}

/// One receiver of webhooks.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The `http://` or `https://` URL the events are POSTed to. Each URL may be listed once.
    pub url: String,
    /// The Standard Webhooks secret the receiver verifies with: `whsec_` followed by base64,
    /// usually `${WEBHOOK_SECRET}` from `plugins/webhook/.env` rather than written here.
    pub secret: String,
    /// Dotted paths of the payload to send (`data.conversation.title`, `data.transcript`,
    /// `metadata.end_reason`, `user_id`), each sent at its place in the payload; `type` and
    /// `timestamp` are always sent. A path the event lacks is left out. Unset: everything.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// A name for logs, results and connection tests; defaults to the URL without its query.
    #[serde(default)]
    pub name: Option<String>,
}

impl std::fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("url", &self.url)
            .field("secret", &"…")
            .field("fields", &self.fields)
            .field("name", &self.name)
            .finish()
    }
}
