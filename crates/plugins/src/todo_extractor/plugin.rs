use chronicle_plugin_api::{
    HandlerOutcome, JsonMap, Plugin, PluginContext, PluginResult, SettingsError, async_trait,
};
use regex::Regex;
use serde_json::{Value, json};

use super::TodoExtractorConfig;

/// Extracts action items and stores each once per conversation (permission `database`).
pub struct TodoExtractorPlugin {
    config: TodoExtractorConfig,
    phrases: Regex,
}

impl TodoExtractorPlugin {
    /// Compiles the configured phrases.
    pub fn new(config: TodoExtractorConfig) -> Result<Self, SettingsError> {
        let phrases = compile_phrases(&config.phrases)?;
        Ok(Self { config, phrases })
    }

    async fn extract_and_store(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        let todos = extract_todos(&self.phrases, ctx.transcript());
        if todos.is_empty() {
            return Ok(Some(PluginResult::ok("No action items found")));
        }
        // A retried delivery carries the same key: do not store its items twice.
        let source = ctx.delivery.idempotency_key();
        let mut already = JsonMap::new();
        already.insert("source".into(), Value::from(source.as_str()));
        if ctx
            .services
            .count(&self.config.collection, &already)
            .await?
            == 0
        {
            for task in &todos {
                let document = json!({
                    "user_id": &*ctx.user_id,
                    "task": task,
                    "completed": false,
                    "conversation_id": ctx.data.get("conversation_id"),
                    "created_at": crate::support::unix_now(),
                    "source": source,
                });
                ctx.services
                    .insert_one(
                        &self.config.collection,
                        crate::support::into_object(document),
                    )
                    .await?;
            }
        }
        tracing::info!(user = %ctx.user_id, count = todos.len(), "Extracted action items.");
        let mut data = JsonMap::new();
        data.insert("todos".into(), json!(todos));
        Ok(Some(
            PluginResult::ok(format!("Extracted {} action items", todos.len())).with_data(data),
        ))
    }
}

/// One regex matching any phrase at a word boundary, longest phrases first so "remind me to"
/// wins over a shorter phrase it contains.
fn compile_phrases(phrases: &[String]) -> Result<Regex, SettingsError> {
    let mut phrases: Vec<&str> = phrases
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect();
    if phrases.is_empty() {
        return Err(SettingsError::at("phrases", "needs at least one phrase"));
    }
    phrases.sort_by_key(|phrase| std::cmp::Reverse(phrase.len()));
    let alternatives: Vec<String> = phrases
        .iter()
        .map(|phrase| {
            let escaped = regex::escape(phrase).replace(' ', r"\s+");
            let starts_word = phrase.starts_with(|c: char| c.is_alphanumeric());
            let ends_word = phrase.ends_with(|c: char| c.is_alphanumeric());
            format!(
                "{}{escaped}{}",
                if starts_word { r"\b" } else { "" },
                if ends_word { r"\b" } else { "" }
            )
        })
        .collect();
    Regex::new(&format!("(?i)(?:{})", alternatives.join("|")))
        .map_err(|error| SettingsError::at("phrases", error.to_string()))
}

/// Words that join two clauses; dropped from the end of an item ("buy milk and").
const TRAILING_JOINERS: [&str; 6] = ["and", "but", "or", "then", "so", "also"];

/// The action items in `transcript`, trimmed and without repeats (compared case-insensitively),
/// in the order they were said.
pub fn extract_todos(phrases: &Regex, transcript: &str) -> Vec<String> {
    let mut todos: Vec<String> = Vec::new();
    for sentence in transcript.split(['.', '!', '?', ';', '\n']) {
        let matches: Vec<_> = phrases.find_iter(sentence).collect();
        for (index, found) in matches.iter().enumerate() {
            let end = matches
                .get(index + 1)
                .map_or(sentence.len(), |next| next.start());
            let mut item = sentence[found.end()..end]
                .trim_matches(|c: char| c.is_whitespace() || c == ',' || c == ':');
            loop {
                let trimmed = TRAILING_JOINERS.iter().find_map(|joiner| {
                    let lower = item.to_lowercase();
                    lower
                        .strip_suffix(joiner)
                        .filter(|rest| rest.ends_with(|c: char| c.is_whitespace() || c == ','))
                        .map(|rest| {
                            item[..rest.len()]
                                .trim_end_matches(|c: char| c.is_whitespace() || c == ',')
                        })
                });
                match trimmed {
                    Some(shorter) => item = shorter,
                    None => break,
                }
            }
            if !item.is_empty() && !todos.iter().any(|todo| todo.eq_ignore_ascii_case(item)) {
                todos.push(item.to_owned());
            }
        }
    }
    todos
}

#[async_trait]
impl Plugin for TodoExtractorPlugin {
    async fn on_conversation_complete(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.extract_and_store(ctx).await
    }

    async fn on_transcript(&self, ctx: &mut PluginContext) -> HandlerOutcome {
        self.extract_and_store(ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(transcript: &str, expected: &[&str]) {
        let phrases = compile_phrases(&TodoExtractorConfig::default().phrases).unwrap();
        assert_eq!(
            extract_todos(&phrases, transcript),
            expected,
            "{transcript:?}"
        );
    }

    #[test]
    fn items_are_matched_on_word_boundaries_trimmed_and_deduplicated_in_order() {
        check(
            "I need to buy milk. Then I should call mum!",
            &["buy milk", "call mum"],
        );
        check(
            "I need to buy milk and I should call mum",
            &["buy milk", "call mum"],
        );
        check(
            "Remind me to water the plants; i need to BUY MILK. I need to buy milk",
            &["water the plants", "BUY MILK"],
        );
        check(
            "TODO: file taxes, and renew passport",
            &["file taxes, and renew passport"],
        );
        // The guide's patterns matched inside words and ran to the end of the transcript.
        check("Ai need to relax", &[]);
        check("I shouldn't worry", &[]);
        check("nothing to do here", &[]);
        check("I need to", &[]);
    }

    #[test]
    fn phrases_must_not_be_empty() {
        assert_eq!(
            compile_phrases(&[" ".into()]).unwrap_err().key.as_deref(),
            Some("phrases")
        );
    }
}
