//! Conditions decide, per plugin, whether a transcript-carrying event reaches it, and what the
//! plugin's copy of the data gains when it does.
//!
//! Matching follows the original's normalization (lowercase, ASCII punctuation to spaces,
//! whitespace collapsed) but on whole words: wake word `hey hermes` matches "Hey, Hermes! Turn
//! off the lights" and not "hey hermesian stuff"; keyword `vivi` does not match "the vivid
//! lights". Conditions are compiled once at load; the transcript is normalized once per event,
//! however many plugins look at it.

use aho_corasick::{AhoCorasick, MatchKind};
use chronicle_plugin_api::Event;
use regex::Regex;
use serde_json::Value;

/// A compiled condition.
#[derive(Clone, Debug)]
pub enum Condition {
    /// Every event.
    Always,
    /// The transcript starts with one of the phrases (whole words); adds `command` (what
    /// follows the wake word) and `original_transcript`.
    WakeWord(Phrases),
    /// One of the phrases appears anywhere as whole words; adds `command` (the transcript
    /// without the keyword) and `original_transcript`.
    KeywordAnywhere(Keywords),
    /// The regular expression matches the original transcript; named groups are added.
    Regex(Regex),
    /// Upstream's placeholder for custom checks, which it never implemented: every event, as
    /// there.
    Conditional,
    /// Only `wake_word.detected`, and only when its `score` reaches the threshold; an event
    /// without a score (a detector that gives none) counts as 1.0, as in the original.
    AcousticWakeWord {
        /// The lowest score that runs the plugin.
        threshold: f64,
    },
}

/// Normalized wake-word phrases, in the order written.
#[derive(Clone, Debug)]
pub struct Phrases(pub Vec<String>);

/// Normalized keywords and an automaton that finds them all in one pass.
#[derive(Clone, Debug)]
pub struct Keywords {
    phrases: Vec<String>,
    automaton: AhoCorasick,
}

impl Keywords {
    /// Compiles normalized keywords.
    pub fn new(phrases: Vec<String>) -> Result<Self, String> {
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&phrases)
            .map_err(|error| error.to_string())?;
        Ok(Self { phrases, automaton })
    }
}

impl Condition {
    /// The name written in `plugins.yml`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Condition::Always => "always",
            Condition::WakeWord(_) => "wake_word",
            Condition::KeywordAnywhere(_) => "keyword_anywhere",
            Condition::Regex(_) => "regex",
            Condition::Conditional => "conditional",
            Condition::AcousticWakeWord { .. } => "acoustic_wake_word",
        }
    }

    /// A JSON description for listings.
    pub fn describe(&self) -> Value {
        match self {
            Condition::Always => serde_json::json!({"type": "always"}),
            Condition::WakeWord(phrases) => {
                serde_json::json!({"type": "wake_word", "wake_words": phrases.0})
            }
            Condition::KeywordAnywhere(keywords) => {
                serde_json::json!({"type": "keyword_anywhere", "keywords": keywords.phrases})
            }
            Condition::Regex(regex) => {
                serde_json::json!({"type": "regex", "pattern": regex.as_str()})
            }
            Condition::Conditional => serde_json::json!({"type": "conditional"}),
            Condition::AcousticWakeWord { threshold } => {
                serde_json::json!({"type": "acoustic_wake_word", "threshold": threshold})
            }
        }
    }

    /// The phrases speech recognition should listen for (the original's `get_asr_keywords`).
    pub fn phrases(&self) -> &[String] {
        match self {
            Condition::WakeWord(phrases) => &phrases.0,
            Condition::KeywordAnywhere(keywords) => &keywords.phrases,
            Condition::Always
            | Condition::Regex(_)
            | Condition::Conditional
            | Condition::AcousticWakeWord { .. } => &[],
        }
    }

    /// Decides whether `event` with this transcript reaches the plugin.
    pub fn evaluate(&self, event: Event, transcript: &mut TranscriptView<'_>) -> Verdict {
        // One look at the kind decides the conditions that read no transcript.
        match self {
            Condition::Always | Condition::Conditional => return Verdict::Run(Vec::new()),
            Condition::AcousticWakeWord { threshold } => {
                let score = transcript.score().unwrap_or(1.0);
                return if event == Event::WakeWordDetected && score >= *threshold {
                    Verdict::Run(Vec::new())
                } else {
                    Verdict::Skip
                };
            }
            _ if event.bypasses_transcript_conditions() => return Verdict::Run(Vec::new()),
            _ => {}
        }
        let Some(original) = transcript.original else {
            return Verdict::Skip;
        };
        match self {
            Condition::Always | Condition::Conditional | Condition::AcousticWakeWord { .. } => {
                Verdict::Run(Vec::new())
            }
            Condition::WakeWord(phrases) => {
                let normalized = transcript.normalized();
                for phrase in &phrases.0 {
                    if normalized.text.starts_with(phrase.as_str())
                        && normalized.is_word_end(phrase.len())
                    {
                        let rest = &original[normalized.origin_of(phrase.len())..];
                        let command = trim_command(rest.trim_start_matches(|c: char| {
                            c.is_whitespace() || c.is_ascii_punctuation()
                        }));
                        return Verdict::Run(vec![
                            ("command".into(), Value::from(command)),
                            ("original_transcript".into(), Value::from(original)),
                        ]);
                    }
                }
                Verdict::Skip
            }
            Condition::KeywordAnywhere(keywords) => {
                let normalized = transcript.normalized();
                // Most speech holds none of the keywords: an unanchored yes/no (a prefilter
                // scan) is cheaper than walking every overlapping match to find that out.
                if !keywords.automaton.is_match(normalized.text.as_str()) {
                    return Verdict::Skip;
                }
                let found = keywords
                    .automaton
                    .find_overlapping_iter(normalized.text.as_str())
                    .filter(|m| {
                        normalized.is_word_start(m.start()) && normalized.is_word_end(m.end())
                    })
                    .min_by_key(|m| (m.pattern().as_usize(), m.start()));
                match found {
                    Some(m) => {
                        let start = normalized.origin_of(m.start());
                        let end = normalized.origin_of(m.end());
                        let command = trim_command(&remove_span(original, start, end)).to_owned();
                        Verdict::Run(vec![
                            ("command".into(), Value::from(command)),
                            ("original_transcript".into(), Value::from(original)),
                        ])
                    }
                    None => Verdict::Skip,
                }
            }
            // Most speech does not match: find that out without allocating the captures.
            Condition::Regex(regex) if !regex.is_match(original) => Verdict::Skip,
            Condition::Regex(regex) => match regex.captures(original) {
                Some(captures) => Verdict::Run(
                    regex
                        .capture_names()
                        .flatten()
                        .map(|name| {
                            let value = captures
                                .name(name)
                                .map_or(Value::Null, |m| Value::from(m.as_str()));
                            (name.to_owned(), value)
                        })
                        .collect(),
                ),
                None => Verdict::Skip,
            },
        }
    }
}

/// What a condition decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Deliver, adding these fields to the plugin's copy of the data.
    Run(Vec<(String, Value)>),
    /// Do not deliver.
    Skip,
}

/// The transcript of one event, normalized at most once however many conditions read it.
pub struct TranscriptView<'a> {
    data: &'a serde_json::Map<String, Value>,
    original: Option<&'a str>,
    normalized: Option<Normalized<'a>>,
}

impl<'a> TranscriptView<'a> {
    /// A view of `data["transcript"]`, if it is a string.
    pub fn new(data: &'a serde_json::Map<String, Value>) -> Self {
        Self {
            data,
            original: chronicle_plugin_api::small_map_get(data, "transcript")
                .and_then(Value::as_str),
            normalized: None,
        }
    }

    /// The detector's `score`, when the event carries a number there.
    fn score(&self) -> Option<f64> {
        chronicle_plugin_api::small_map_get(self.data, "score").and_then(Value::as_f64)
    }

    fn normalized(&mut self) -> &Normalized<'a> {
        let original = self.original.unwrap_or("");
        self.normalized
            .get_or_insert_with(|| Normalized::new(original))
    }
}

/// Text normalized for matching, and where each of its bytes came from in the original.
#[derive(Clone, Debug)]
pub struct Normalized<'a> {
    /// Lowercased, ASCII punctuation turned into spaces, whitespace collapsed and trimmed.
    pub text: String,
    /// For each byte of `text`, the byte offset in the original of the character it came
    /// from; empty for ASCII text (most speech), whose offsets a match works out as it needs.
    origin: Vec<u32>,
    original: &'a str,
}

impl<'a> Normalized<'a> {
    /// Normalizes `original`.
    pub fn new(original: &'a str) -> Self {
        let (text, origin) = if original.is_ascii() {
            (normalize_ascii(original), Vec::new())
        } else {
            normalize_unicode(original)
        };
        Self {
            text,
            origin,
            original,
        }
    }

    /// Where byte `index` of the normalized text came from; the end maps to the end of the
    /// original.
    fn origin_of(&self, index: usize) -> usize {
        if self.original.is_ascii() {
            return ascii_origin_of(self.original, index);
        }
        self.origin
            .get(index)
            .map_or(self.original.len(), |offset| *offset as usize)
    }

    fn is_word_start(&self, index: usize) -> bool {
        index == 0 || self.text.as_bytes().get(index - 1) == Some(&b' ')
    }

    fn is_word_end(&self, index: usize) -> bool {
        index == self.text.len() || self.text.as_bytes().get(index) == Some(&b' ')
    }
}

/// The normalized text and, for each of its bytes, the offset of the character it came from.
fn normalize_unicode(original: &str) -> (String, Vec<u32>) {
    let mut text = String::with_capacity(original.len());
    let mut origin = Vec::with_capacity(original.len());
    let mut pending_space: Option<usize> = None;
    for (offset, c) in original.char_indices() {
        if c.is_whitespace() || c.is_ascii_punctuation() {
            if !text.is_empty() && pending_space.is_none() {
                pending_space = Some(offset);
            }
            continue;
        }
        if let Some(space_offset) = pending_space.take() {
            text.push(' ');
            origin.push(space_offset as u32);
        }
        for lower in c.to_lowercase() {
            text.push(lower);
            origin.extend(std::iter::repeat_n(offset as u32, lower.len_utf8()));
        }
    }
    (text, origin)
}

/// For each ASCII byte, what normalization makes of it: 0 for a separator (whitespace as
/// `char::is_whitespace` has it, or punctuation), else its lowercase.
const ASCII_MAP: [u8; 128] = {
    let mut map = [0u8; 128];
    let mut byte = 0;
    while byte < 128 {
        let b = byte as u8;
        let separator =
            matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r') || b.is_ascii_punctuation();
        map[byte] = if separator { 0 } else { b.to_ascii_lowercase() };
        byte += 1;
    }
    map
};

/// [`normalize_unicode`]'s text for ASCII input, byte by byte with no Unicode tables.
fn normalize_ascii(original: &str) -> String {
    let mut text = Vec::with_capacity(original.len());
    let mut pending_space = false;
    for &byte in original.as_bytes() {
        let mapped = ASCII_MAP[usize::from(byte & 0x7f)];
        if mapped == 0 {
            pending_space = !text.is_empty();
            continue;
        }
        if pending_space {
            text.push(b' ');
            pending_space = false;
        }
        text.push(mapped);
    }
    // ASCII in, ASCII out: always valid.
    String::from_utf8(text).unwrap_or_default()
}

/// For ASCII `original`, where byte `index` of its normalized text came from (the end maps
/// to the end): walks only as far as `index`, allocating nothing.
fn ascii_origin_of(original: &str, index: usize) -> usize {
    let mut emitted = 0;
    let mut pending_space: Option<usize> = None;
    for (offset, &byte) in original.as_bytes().iter().enumerate() {
        if ASCII_MAP[usize::from(byte & 0x7f)] == 0 {
            if emitted > 0 && pending_space.is_none() {
                pending_space = Some(offset);
            }
            continue;
        }
        if let Some(space_offset) = pending_space.take() {
            if emitted == index {
                return space_offset;
            }
            emitted += 1;
        }
        if emitted == index {
            return offset;
        }
        emitted += 1;
    }
    original.len()
}

/// Normalizes a configured phrase (wake word or keyword).
pub fn normalize(phrase: &str) -> String {
    Normalized::new(phrase).text
}

/// The original's separators around a removed keyword.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '.' | '-' | '!' | '?' | ';' | ':')
}

/// `original` without `start..end` and the separators around it, its words joined by one
/// space.
fn remove_span(original: &str, start: usize, end: usize) -> String {
    let before = original[..start].trim_end_matches(is_separator);
    let after = original[end..].trim_start_matches(is_separator);
    let capacity = before.len() + 1 + after.len();
    // ASCII speech splits on ASCII whitespace, without Unicode tables.
    if original.is_ascii() {
        let words = before.split_ascii_whitespace();
        join_words(words.chain(after.split_ascii_whitespace()), capacity)
    } else {
        join_words(
            before.split_whitespace().chain(after.split_whitespace()),
            capacity,
        )
    }
}

fn join_words<'a>(words: impl Iterator<Item = &'a str>, capacity: usize) -> String {
    let mut joined = String::with_capacity(capacity);
    for word in words {
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(word);
    }
    joined
}

/// A command without the sentence punctuation a transcriber puts at its end: "turn off the
/// lights." is the instruction "turn off the lights".
fn trim_command(command: &str) -> &str {
    command.trim_end_matches(|c: char| {
        c.is_whitespace() || matches!(c, '.' | '!' | '?' | ',' | ';' | ':')
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn wake(words: &[&str]) -> Condition {
        Condition::WakeWord(Phrases(words.iter().map(|w| normalize(w)).collect()))
    }

    fn keyword(words: &[&str]) -> Condition {
        Condition::KeywordAnywhere(
            Keywords::new(words.iter().map(|w| normalize(w)).collect()).unwrap(),
        )
    }

    #[track_caller]
    fn check(condition: &Condition, transcript: &str, expected_command: Option<&str>) {
        let data = json!({"transcript": transcript});
        let data = data.as_object().unwrap();
        let verdict =
            condition.evaluate(Event::TranscriptStreaming, &mut TranscriptView::new(data));
        match (verdict, expected_command) {
            (Verdict::Skip, None) => {}
            (Verdict::Run(extras), Some(command)) => {
                let extras: serde_json::Map<_, _> = extras.into_iter().collect();
                assert_eq!(extras["command"], command, "transcript {transcript:?}");
                assert_eq!(extras["original_transcript"], transcript);
            }
            (verdict, expected) => panic!("{transcript:?}: got {verdict:?}, expected {expected:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn the_ascii_path_normalizes_as_the_unicode_path(text in "[ -~\t\n\x0B\x0C\r]{0,80}") {
            let (text_unicode, origin) = normalize_unicode(&text);
            proptest::prop_assert_eq!(normalize_ascii(&text), text_unicode.clone());
            for index in 0..=text_unicode.len() {
                let expected = origin.get(index).map_or(text.len(), |offset| *offset as usize);
                proptest::prop_assert_eq!(ascii_origin_of(&text, index), expected);
            }
        }
    }

    #[test]
    fn normalization_matches_the_original() {
        assert_eq!(normalize("Don't STOP—now…  ok"), "don t stop—now… ok");
        assert_eq!(normalize("  Hey,   Hermes! "), "hey hermes");
        assert_eq!(normalize("!!!"), "");
    }

    /// Reference section 1.3, with our word-boundary fix.
    #[test]
    fn wake_words_match_whole_words_at_the_start() {
        let hermes = wake(&["hey hermes"]);
        check(
            &hermes,
            "Hey, Hermes! Turn off the lights",
            Some("Turn off the lights"),
        );
        check(
            &hermes,
            "hey hermes turn on the fan.",
            Some("turn on the fan"),
        );
        check(&hermes, "Hey Hermes", Some(""));
        check(&hermes, "Hey Hermes!", Some(""));
        // FIXED: the original matched the prefix and commanded "ian stuff".
        check(&hermes, "hey hermesian stuff", None);
        check(&hermes, "Hey Hermesian stuff", None);
        // FIXED: the original fell back to the whole transcript here.
        check(&hermes, " Hey Hermes turn on", Some("turn on"));
        check(&hermes, "\"Hey Hermes\" go", Some("go"));
        check(&hermes, "well, hey hermes", None);
        check(&wake(&["Hey, Hermes!"]), "Hey-Hermes: go", Some("go"));
        check(
            &wake(&["computer", "hey hermes"]),
            "Computer, lights",
            Some("lights"),
        );
        check(&wake(&["héllo"]), "HÉLLO wörld", Some("wörld"));
    }

    #[test]
    fn keywords_match_whole_words_anywhere() {
        let hermes = keyword(&["hermes"]);
        check(
            &hermes,
            "Turn off the hall lights, Hermes, please",
            Some("Turn off the hall lights please"),
        );
        check(
            &hermes,
            "Hermes, turn off the lights in the hall",
            Some("turn off the lights in the hall"),
        );
        // FIXED: the original matched inside "vivid" and commanded "the d lights".
        check(&keyword(&["vivi"]), "the vivid lights", None);
        check(
            &keyword(&["vivi"]),
            "the vivid vivi lights",
            Some("the vivid lights"),
        );
        check(&keyword(&["hall light"]), "Turn off the hall lights", None);
        check(
            &keyword(&["urgent", "call"]),
            "call me, it is urgent",
            Some("call me, it is"),
        );
        check(&keyword(&["a b", "b"]), "x a b", Some("x"));
        check(&hermes, "", None);
    }

    #[test]
    fn regex_adds_named_groups() {
        let condition = Condition::Regex(
            Regex::new(r"(?i)remind me to (?P<task>.+?)(?: at (?P<time>\d+))?$").unwrap(),
        );
        let data = json!({"transcript": "Remind me to call mum at 5"});
        let verdict = condition.evaluate(
            Event::TranscriptBatch,
            &mut TranscriptView::new(data.as_object().unwrap()),
        );
        assert_eq!(
            verdict,
            Verdict::Run(vec![
                ("task".into(), json!("call mum")),
                ("time".into(), json!("5"))
            ])
        );
        let data = json!({"transcript": "nothing to see"});
        assert_eq!(
            condition.evaluate(
                Event::TranscriptBatch,
                &mut TranscriptView::new(data.as_object().unwrap())
            ),
            Verdict::Skip
        );
    }

    #[test]
    fn buttons_stars_and_actions_bypass_transcript_conditions_and_others_need_a_transcript() {
        let condition = wake(&["hey hermes"]);
        let no_transcript = json!({"state": "SINGLE_PRESS"});
        let data = no_transcript.as_object().unwrap();
        for event in [
            Event::ButtonSinglePress,
            Event::ButtonDoublePress,
            Event::ButtonLongPress,
            Event::ConversationStarred,
            Event::PluginAction,
        ] {
            assert_eq!(
                condition.evaluate(event, &mut TranscriptView::new(data)),
                Verdict::Run(vec![])
            );
        }
        assert_eq!(
            condition.evaluate(Event::MemoryProcessed, &mut TranscriptView::new(data)),
            Verdict::Skip
        );
        assert_eq!(
            Condition::Always.evaluate(Event::MemoryProcessed, &mut TranscriptView::new(data)),
            Verdict::Run(vec![])
        );
    }
}
