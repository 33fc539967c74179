//! Memories and titles: what the language model draws from a finished conversation.
//!
//! Extraction asks for facts as JSON, then drops every fact the user already has (or that
//! repeats another new one): equal after normalization, or sharing nearly all its words.

use std::collections::HashSet;

use serde_json::Value;

use crate::llm::{ChatModel, LlmError, json_in};

const EXTRACTION_PROMPT: &str = "You extract lasting personal memories from a conversation \
transcript recorded by a wearable device. Return facts worth remembering about the user: \
preferences, plans, commitments, people, places, decisions. Each fact is one short \
self-contained sentence in the third person. Skip small talk and anything already listed \
under EXISTING MEMORIES. Answer with JSON only: {\"facts\": [\"...\"]}. If there is nothing \
worth remembering, answer {\"facts\": []}.";

const TITLE_PROMPT: &str = "You write a title and a summary for a conversation transcript \
recorded by a wearable device. The title has at most 8 words; the summary at most 3 \
sentences. Answer with JSON only: {\"title\": \"...\", \"summary\": \"...\"}.";

/// How many of the user's memories the model is shown to avoid repeats.
const SHOWN_EXISTING: usize = 50;

/// The facts in `transcript` that are new for a user who already has `existing`.
pub async fn extract(
    model: &ChatModel,
    transcript: &str,
    existing: &[String],
) -> Result<Vec<String>, LlmError> {
    let mut prompt = String::new();
    if !existing.is_empty() {
        prompt.push_str("EXISTING MEMORIES:\n");
        for memory in existing.iter().take(SHOWN_EXISTING) {
            prompt.push_str(&format!("- {memory}\n"));
        }
        prompt.push('\n');
    }
    prompt.push_str("TRANSCRIPT:\n");
    prompt.push_str(transcript);
    let answer = model.complete(EXTRACTION_PROMPT, &prompt).await?;
    let facts = parse_facts(&answer)
        .ok_or_else(|| LlmError::Garbled(format!("no facts in `{}`", excerpt(&answer))))?;
    Ok(deduplicate(facts, existing))
}

/// Facts from `{"facts": [...]}` (or `{"memories": [...]}`); strings only.
pub(crate) fn parse_facts(answer: &str) -> Option<Vec<String>> {
    let value = json_in(answer)?;
    let list = value
        .get("facts")
        .or_else(|| value.get("memories"))?
        .as_array()?;
    Some(
        list.iter()
            .filter_map(Value::as_str)
            .map(|fact| fact.trim().to_owned())
            .filter(|fact| !fact.is_empty())
            .collect(),
    )
}

/// `facts` without those that repeat `existing` or an earlier fact.
pub fn deduplicate(facts: Vec<String>, existing: &[String]) -> Vec<String> {
    let mut seen: Vec<HashSet<String>> = existing.iter().map(|m| words(m)).collect();
    let mut kept = Vec::new();
    for fact in facts {
        let mine = words(&fact);
        if mine.is_empty() || seen.iter().any(|other| similar(&mine, other)) {
            continue;
        }
        seen.push(mine);
        kept.push(fact);
    }
    kept
}

/// The words of a text, lowercase, punctuation dropped.
fn words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The same words, or nearly (Jaccard ≥ 0.8): "Alex likes tea" and "Alex likes tea." are one.
fn similar(a: &HashSet<String>, b: &HashSet<String>) -> bool {
    let shared = a.intersection(b).count() as f64;
    let all = a.union(b).count() as f64;
    all > 0.0 && shared / all >= 0.8
}

/// A title and a summary for `transcript`.
pub async fn title_and_summary(
    model: &ChatModel,
    transcript: &str,
) -> Result<(String, String), LlmError> {
    let answer = model.complete(TITLE_PROMPT, transcript).await?;
    let value = json_in(&answer)
        .ok_or_else(|| LlmError::Garbled(format!("no title in `{}`", excerpt(&answer))))?;
    let field = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    match (field("title"), field("summary")) {
        (Some(title), Some(summary)) => Ok((title.chars().take(120).collect(), summary)),
        _ => Err(LlmError::Garbled(format!(
            "no title and summary in `{}`",
            excerpt(&answer)
        ))),
    }
}

fn excerpt(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_of_existing_and_of_each_other_are_dropped() {
        let existing = vec!["Alex likes green tea.".to_owned()];
        let facts = vec![
            "alex likes green tea".to_owned(),
            "Alex is moving to Lisbon in May.".to_owned(),
            "Alex is moving to Lisbon in May".to_owned(),
            "  ".to_owned(),
            "Alex's sister is called Mia.".to_owned(),
        ];
        assert_eq!(
            deduplicate(facts, &existing),
            [
                "Alex is moving to Lisbon in May.",
                "Alex's sister is called Mia."
            ]
        );
    }

    #[test]
    fn facts_are_read_from_either_key_and_strings_only() {
        assert_eq!(
            parse_facts("{\"facts\": [\"a\", 3, \" \"]}"),
            Some(vec!["a".to_owned()])
        );
        assert_eq!(
            parse_facts("{\"memories\": [\"b\"]}"),
            Some(vec!["b".to_owned()])
        );
        assert_eq!(parse_facts("{\"other\": 1}"), None);
    }
}
