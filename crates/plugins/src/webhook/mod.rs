//! `webhook`: POSTs each event it is subscribed to, as JSON, to one or more endpoints, signed
//! per [Standard Webhooks](https://www.standardwebhooks.com/) so any of its libraries can
//! verify what we send.
//!
//! **The request.** `POST <url>` with `content-type: application/json` and the three headers
//! of the specification:
//! - `webhook-id`: the delivery's idempotency key (`<event id>:webhook`), the same on every
//!   retry of the event, so a receiver drops a repeat by remembering the ids it has handled;
//! - `webhook-timestamp`: Unix seconds when this attempt was sent (receivers refuse a
//!   signature more than 5 minutes off their clock);
//! - `webhook-signature`: `v1,` + base64 of HMAC-SHA256, keyed with the bytes of the
//!   endpoint's `whsec_…` secret, of `"{webhook-id}.{webhook-timestamp}.{body}"`.
//!
//! **The body.** `{"type": "<event name>", "timestamp": "<RFC 3339, UTC>", "user_id": …,
//! "data": {…the event's data…}, "metadata": {…the chain's metadata…}}`. `timestamp` is when
//! this attempt was made (the event's own times are in its data). An endpoint with `fields`
//! gets only the dotted paths listed, each at its place in the same structure, plus `type` and
//! `timestamp`; a path the event lacks is left out. A connection test sends `{"type":
//! "webhook.test", "timestamp", "data": {"message"}}` whatever `fields` says.
//!
//! **Answers.** Any 2xx is delivered. `410 Gone` disables the endpoint: it is recorded in the
//! plugin's document store (collection `disabled_endpoints`, keyed by URL), so it stays
//! disabled across restarts, logged as a warning, and later events skip it (the result lists
//! it under `disabled`). To send to it again, point `url` at the receiver's new address, or
//! delete its document: `DELETE FROM plugin_documents WHERE plugin_id = 'webhook' AND
//! collection = 'disabled_endpoints'` in `data/chronicle.db`. Anything else (refused, timed
//! out, a TLS or DNS failure, a redirect, another status) fails the delivery with an error
//! naming each endpoint and what happened; the durable queue retries terminal events with
//! backoff (`max_retries`), live ones (`transcript.streaming`, `button.*`) are not retried.
//!
//! **No double sends on retry.** Endpoints are sent to at once. When some answered and others
//! failed, the ones that answered are recorded for that webhook id (collection
//! `partial_deliveries`), and the retry sends only to the rest; the record is deleted once all
//! have it (a dead-lettered delivery keeps it, so a replay also skips them). A crash between
//! an answer and that record, or a timeout of the whole handler, resends: delivery is at least
//! once, and receivers deduplicate by `webhook-id` as the specification asks.
//!
//! **Time.** Each request waits `timeout_seconds` (15) at most, cut short to end half a second
//! before the handler's deadline (`timeout` in `plugins.yml`: 30 s for terminal events, 5 s for
//! live ones) so a slow endpoint is named in the error. Redirects are not followed: a POST
//! redirected becomes a GET, and a signed body must go where it was configured to.
//!
//! Needs the `database` permission (disabled endpoints, partial deliveries). With no endpoints
//! the plugin loads, declines every event and its health check says what to add.

mod config;
mod payload;
mod plugin;
mod signing;

use chronicle_plugin_api::{AccessLevel, PluginDescriptor, parse_settings};

pub use config::{EndpointConfig, WebhookConfig};
pub use plugin::{DISABLED_COLLECTION, PARTIAL_COLLECTION, WebhookPlugin};
pub use signing::{Secret, sign};

/// Registration of `webhook`.
pub const DESCRIPTOR: PluginDescriptor = PluginDescriptor {
    id: "webhook",
    name: "Webhook",
    description: "POSTs events as JSON to your endpoints, signed per Standard Webhooks",
    access_levels: &[
        AccessLevel::Transcript,
        AccessLevel::Conversation,
        AccessLevel::Memory,
        AccessLevel::Button,
    ],
    build: |settings| Ok(Box::new(WebhookPlugin::new(parse_settings(settings)?)?)),
};

#[cfg(test)]
mod tests;
