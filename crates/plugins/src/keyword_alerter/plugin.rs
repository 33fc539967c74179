use aho_corasick::{AhoCorasick, MatchKind};
use chronicle_plugin_api::{
    HandlerOutcome, JsonMap, Plugin, PluginContext, PluginResult, SettingsError, async_trait,
};
use serde_json::{Value, json};

use super::KeywordAlerterConfig;

/// Alerts on whole-word keywords in transcripts.
pub struct KeywordAlerterPlugin {
    /// The keywords as configured, in order.
    keywords: Vec<String>,
    /// One automaton for all of them, over [`normalize`]d text: 20,000 keywords cost one
    /// pass over a transcript, not 20,000 regex searches (nor 20,000 compiled regexes).
    automaton: AhoCorasick,
}

/// Lowercase, with each run of whitespace as one space: how keywords and transcripts are
/// compared (`CALL  the\ndoctor` says `call the doctor`).
fn normalize(text: &str) -> String {
    text.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl KeywordAlerterPlugin {
    /// Builds the automaton of the configured keywords.
    pub fn new(config: KeywordAlerterConfig) -> Result<Self, SettingsError> {
        let keywords: Vec<String> = config
            .keywords
            .iter()
            .map(|keyword| keyword.trim())
            .filter(|keyword| !keyword.is_empty())
            .map(str::to_owned)
            .collect();
        if keywords.is_empty() {
            return Err(SettingsError::at("keywords", "needs at least one keyword"));
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(keywords.iter().map(|keyword| normalize(keyword)))
            .map_err(|error| SettingsError::at("keywords", error.to_string()))?;
        Ok(Self {
            keywords,
            automaton,
        })
    }

    /// The keywords said as whole words, in the configured order.
    pub(super) fn said(&self, transcript: &str) -> Vec<&str> {
        let text = normalize(transcript);
        let mut found = vec![false; self.keywords.len()];
        for hit in self.automaton.find_overlapping_iter(&text) {
            let before = text[..hit.start()].chars().next_back();
            let after = text[hit.end()..].chars().next();
            if !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char) {
                found[hit.pattern().as_usize()] = true;
            }
        }
        self.keywords
            .iter()
            .zip(found)
            .filter(|(_, said)| *said)
            .map(|(keyword, _)| keyword.as_str())
            .collect()
    }
}

#[async_trait]
impl Plugin for KeywordAlerterPlugin {
    async fn on_transcript(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        let transcript = ctx.transcript();
        let said = self.said(transcript);
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
