use chronicle_plugin_api::{
    HandlerOutcome, JsonMap, Plugin, PluginContext, PluginResult, SettingsError, async_trait,
};
use regex::Regex;
use serde_json::{Value, json};

use super::KeywordAlerterConfig;

/// Alerts on whole-word keywords in transcripts.
pub struct KeywordAlerterPlugin {
    keywords: Vec<(String, Regex)>,
}

impl KeywordAlerterPlugin {
    /// Compiles one word-boundary matcher per keyword.
    pub fn new(config: KeywordAlerterConfig) -> Result<Self, SettingsError> {
        let keywords: Vec<(String, Regex)> = config
            .keywords
            .iter()
            .map(|keyword| keyword.trim())
            .filter(|keyword| !keyword.is_empty())
            .map(|keyword| {
                let pattern = format!(
                    r"(?i)(?:^|\W){}(?:$|\W)",
                    regex::escape(keyword).replace(' ', r"\s+")
                );
                Regex::new(&pattern)
                    .map(|regex| (keyword.to_owned(), regex))
                    .map_err(|error| SettingsError::at("keywords", error.to_string()))
            })
            .collect::<Result<_, _>>()?;
        if keywords.is_empty() {
            return Err(SettingsError::at("keywords", "needs at least one keyword"));
        }
        Ok(Self { keywords })
    }
}

#[async_trait]
impl Plugin for KeywordAlerterPlugin {
    async fn on_transcript(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        let transcript = ctx.transcript();
        let said: Vec<&str> = self
            .keywords
            .iter()
            .filter(|(_, regex)| regex.is_match(transcript))
            .map(|(keyword, _)| keyword.as_str())
            .collect();
        let Some(first) = said.first() else {
            return Ok(None);
        };
        tracing::warn!(user = %ctx.user_id, keyword = %first, transcript, "Keyword alert.");
        let mut data = JsonMap::new();
        data.insert("keyword".into(), Value::from(*first));
        data.insert("keywords".into(), json!(said));
        data.insert("transcript".into(), Value::from(transcript));
        Ok(Some(
            PluginResult::ok(format!("Alert sent for keyword: {first}")).with_data(data),
        ))
    }
}
