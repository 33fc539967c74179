//! Posting a conversation to Slack.

use std::sync::OnceLock;
use std::time::Duration;

use chronicle_plugin_api::{
    ConnectionCheck, ConnectionReport, HandlerOutcome, HealthReport, JsonMap, Plugin,
    PluginContext, PluginError, PluginResult, SettingsError, async_trait,
};
use serde_json::{Value, json};

use super::config::SlackConfig;
use crate::text::{cut, text_of};

/// The plugin.
pub struct SlackNotifierPlugin {
    /// `None` when no URL is set.
    url: Option<reqwest::Url>,
    transcript_chars: usize,
    timeout: Duration,
    client: crate::http::LazyClient,
}

impl SlackNotifierPlugin {
    /// Checks the settings: the URL must be http(s), the timeout above 0.
    pub fn new(config: SlackConfig) -> Result<Self, SettingsError> {
        let url = match config.slack_webhook_url.trim() {
            "" => None,
            text => {
                let url = reqwest::Url::parse(text).map_err(|error| {
                    SettingsError::at(
                        "slack_webhook_url",
                        format!(
                            "`{text}` is not a URL ({error}); copy the channel's incoming \
                             webhook URL from Slack"
                        ),
                    )
                })?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(SettingsError::at(
                        "slack_webhook_url",
                        format!("`{text}` is not an http(s) URL"),
                    ));
                }
                Some(url)
            }
        };
        if !(config.timeout_seconds > 0.0 && config.timeout_seconds <= 300.0) {
            return Err(SettingsError::at(
                "timeout_seconds",
                "must be above 0 and at most 300",
            ));
        }
        Ok(Self {
            url,
            transcript_chars: config.transcript_chars,
            timeout: Duration::from_secs_f64(config.timeout_seconds),
            client: OnceLock::new(),
        })
    }

    fn client(&self) -> Result<&reqwest::Client, PluginError> {
        crate::http::client(&self.client, |builder| {
            builder
                .timeout(self.timeout)
                .connect_timeout(self.timeout.min(Duration::from_secs(10)))
        })
    }

    /// Posts `body`; Slack's status and answer text, or why nothing came back.
    async fn post(&self, url: &reqwest::Url, body: &Value) -> Result<(u16, String), String> {
        let client = self.client().map_err(|error| error.message)?;
        let response = client
            .post(url.clone())
            .json(body)
            .send()
            .await
            .map_err(|error| crate::http::describe(&error))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Ok((status, text.chars().take(200).collect()))
    }
}

/// How to fix what Slack answered.
fn fix_for(status: u16, text: &str) -> &'static str {
    match (status, text) {
        (403, _) | (_, "invalid_token") => {
            "the webhook URL's token is not valid: create a new incoming webhook in Slack"
        }
        (404, _) | (_, "no_service") => {
            "the webhook was removed or the URL is wrong: copy it again from Slack"
        }
        (410, _) | (_, "channel_is_archived") => {
            "the channel is archived: point the webhook at another channel"
        }
        _ => "check slack_webhook_url in plugins.yml and Slack's status",
    }
}

/// Escapes text for Slack's mrkdwn.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The message for a `conversation.complete` with `data`, showing at most `transcript_chars`
/// characters of the transcript.
pub fn message(data: &JsonMap, transcript_chars: usize) -> Value {
    let transcript = text_of(data.get("transcript")).unwrap_or("");
    let duration = data.get("duration").and_then(Value::as_f64).unwrap_or(0.0);
    let conversation = data.get("conversation");
    let title = text_of(conversation.and_then(|c| c.get("title")));
    let summary = text_of(conversation.and_then(|c| c.get("summary")));
    let shown = cut(transcript, transcript_chars);
    let mut blocks = Vec::new();
    if let Some(title) = title {
        blocks.push(json!({"type": "header", "text": {"type": "plain_text", "text": title.chars().take(150).collect::<String>()}}));
    }
    if let Some(summary) = summary {
        blocks
            .push(json!({"type": "section", "text": {"type": "mrkdwn", "text": escape(summary)}}));
    }
    let quoted = if shown.is_empty() {
        "_(no transcript)_".to_owned()
    } else {
        // A ``` inside would end the code block early.
        format!("```{}```", escape(&shown).replace("```", "'''"))
    };
    blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": quoted}}));
    json!({
        "text": format!("New conversation ({duration:.1}s)"),
        "blocks": blocks,
    })
}

#[async_trait]
impl Plugin for SlackNotifierPlugin {
    async fn initialize(&self) -> Result<(), PluginError> {
        if self.url.is_some() {
            self.client()?;
        }
        Ok(())
    }

    async fn health_check(&self) -> HealthReport {
        match &self.url {
            Some(url) => HealthReport::ok(format!(
                "posts to {}",
                url.host_str().unwrap_or("the webhook")
            )),
            None => HealthReport::unhealthy(
                "slack_webhook_url is not set: set it (e.g. ${SLACK_WEBHOOK_URL}) in plugins.yml",
            ),
        }
    }

    async fn test_connection(&self) -> ConnectionReport {
        let Some(url) = &self.url else {
            return ConnectionReport::new(vec![ConnectionCheck::failed(
                "settings",
                "slack_webhook_url is not set",
                "set slack_webhook_url (e.g. ${SLACK_WEBHOOK_URL}) for slack_notifier in plugins.yml",
            )]);
        };
        let name = format!("POST {}", url.host_str().unwrap_or("the webhook"));
        // An empty message is refused by a live webhook (400 no_text) and posts nothing.
        let check = match self.post(url, &json!({})).await {
            Ok((400, text)) if text == "no_text" => ConnectionCheck::passed(
                name,
                "the webhook answered (an empty test message, refused as expected; nothing was posted)",
            ),
            Ok((status, text)) if (200..300).contains(&status) => {
                ConnectionCheck::passed(name, format!("answered {status} {text}"))
            }
            Ok((status, text)) => ConnectionCheck::failed(
                name,
                format!("answered {status} {text}"),
                fix_for(status, &text),
            ),
            Err(why) => ConnectionCheck::failed(
                name,
                why,
                "check the URL, and that this machine can reach Slack (proxy, firewall, DNS)",
            ),
        };
        ConnectionReport::new(vec![check])
    }

    async fn on_conversation_complete(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let body = message(&ctx.data, self.transcript_chars);
        match self.post(url, &body).await {
            Ok((status, _)) if (200..300).contains(&status) => {
                Ok(Some(PluginResult::ok("Notification sent")))
            }
            Ok((status, text)) => Err(PluginError::unreachable(format!(
                "Slack answered {status} {text}: {}",
                fix_for(status, &text)
            ))),
            Err(why) => Err(PluginError::unreachable(format!(
                "Slack was not reached: {why}"
            ))),
        }
    }
}
