use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One of the ten events a plugin can subscribe to.
///
/// Events are written in `config/plugins.yml` and on the wire as their dotted names
/// (`conversation.complete`); [`Event::as_str`] and [`FromStr`] convert both ways, and an unknown
/// name is an error rather than a subscription that never fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// A final segment of live speech (`transcript.streaming`). Data: `transcript`,
    /// `segment_id`, `conversation_id`, `session_id`, `client_id`, `words`, `segments`,
    /// `confidence`, `is_final`.
    TranscriptStreaming,
    /// A whole recording transcribed at once (`transcript.batch`). Data: `transcript`,
    /// `segment_id`, `conversation_id`, `segments`, `word_count`.
    TranscriptBatch,
    /// A conversation finished processing (`conversation.complete`). Data: `conversation`,
    /// `transcript`, `duration` (seconds), `conversation_id`; metadata: `end_reason`.
    ConversationComplete,
    /// A conversation was starred or unstarred (`conversation.starred`). Data:
    /// `conversation_id`, `starred`, `starred_at`, `title`.
    ConversationStarred,
    /// Memories were extracted from a conversation (`memory.processed`). Data: `memories`,
    /// `memory_count`, `conversation`, `conversation_id`.
    MemoryProcessed,
    /// The device button was pressed once (`button.single_press`). Data: `state`, `timestamp`,
    /// `audio_uuid`, `session_id`, `client_id`.
    ButtonSinglePress,
    /// The device button was pressed twice (`button.double_press`); data as for a single press.
    ButtonDoublePress,
    /// The device button was held (`button.long_press`); data as for a single press.
    ButtonLongPress,
    /// Another plugin called this one through `call_plugin` (`plugin_action`). Data: `action`
    /// plus whatever the caller sent.
    PluginAction,
    /// A wake word was heard in a live session (`wake_word.detected`), handled by
    /// `on_wake_word_detected`. Data, as in the original: `command` (what was said after the
    /// wake word), `transcript` (the same), `wakeword`, `score` (`null` when the detector gives
    /// none), `source`, `asr_status`, `session_id`, `client_id`, `conversation_id`.
    WakeWordDetected,
}

impl Event {
    /// Every event, in the order the documentation lists them.
    pub const ALL: [Event; 10] = [
        Event::TranscriptStreaming,
        Event::TranscriptBatch,
        Event::ConversationComplete,
        Event::ConversationStarred,
        Event::MemoryProcessed,
        Event::ButtonSinglePress,
        Event::ButtonDoublePress,
        Event::ButtonLongPress,
        Event::PluginAction,
        Event::WakeWordDetected,
    ];

    /// The dotted name used in configuration files and on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Event::TranscriptStreaming => "transcript.streaming",
            Event::TranscriptBatch => "transcript.batch",
            Event::ConversationComplete => "conversation.complete",
            Event::ConversationStarred => "conversation.starred",
            Event::MemoryProcessed => "memory.processed",
            Event::ButtonSinglePress => "button.single_press",
            Event::ButtonDoublePress => "button.double_press",
            Event::ButtonLongPress => "button.long_press",
            Event::PluginAction => "plugin_action",
            Event::WakeWordDetected => "wake_word.detected",
        }
    }

    /// A dense index in `0..10`, stable within one build; lets the host keep per-event tables in
    /// arrays instead of maps.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// What kind of data the event carries, which a plugin declares it can handle.
    ///
    /// `plugin_action` has none: every plugin may be called by another.
    pub const fn access_level(self) -> Option<AccessLevel> {
        match self {
            Event::TranscriptStreaming | Event::TranscriptBatch | Event::WakeWordDetected => {
                Some(AccessLevel::Transcript)
            }
            Event::ConversationComplete | Event::ConversationStarred => {
                Some(AccessLevel::Conversation)
            }
            Event::MemoryProcessed => Some(AccessLevel::Memory),
            Event::ButtonSinglePress | Event::ButtonDoublePress | Event::ButtonLongPress => {
                Some(AccessLevel::Button)
            }
            Event::PluginAction => None,
        }
    }

    /// Whether transcript conditions (`wake_word`, `keyword_anywhere`, `regex`) are ignored for
    /// this event: a button press, a star toggle, a direct call or a detected wake word (whose
    /// wake word was already found) is always delivered.
    pub const fn bypasses_transcript_conditions(self) -> bool {
        matches!(
            self,
            Event::ButtonSinglePress
                | Event::ButtonDoublePress
                | Event::ButtonLongPress
                | Event::ConversationStarred
                | Event::PluginAction
                | Event::WakeWordDetected
        )
    }

    /// Whether the event is *terminal*: it reports a finished state change and is worth a long
    /// deadline and retries. The others are *live*: late is useless, so their deadline is short.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Event::TranscriptBatch
                | Event::MemoryProcessed
                | Event::ConversationComplete
                | Event::ConversationStarred
        )
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for an event name that is not one of the ten.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown event `{name}`{}", suggestion_suffix(.suggestion))]
pub struct UnknownEvent {
    /// The name as written.
    pub name: String,
    /// The known event closest to what was written, if one is close.
    pub suggestion: Option<Event>,
}

fn suggestion_suffix(suggestion: &Option<Event>) -> String {
    match suggestion {
        Some(event) => format!(" (did you mean `{event}`?)"),
        None => String::new(),
    }
}

impl FromStr for Event {
    type Err = UnknownEvent;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Event::ALL
            .into_iter()
            .find(|event| event.as_str() == name)
            .ok_or_else(|| UnknownEvent {
                name: name.to_owned(),
                suggestion: closest(name, Event::ALL.iter().map(|e| (*e, e.as_str()))),
            })
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A kind of data a plugin declares it can handle (the guide's `SUPPORTED_ACCESS_LEVELS`).
///
/// Subscribing a plugin to an event whose access level it does not support is a configuration
/// error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLevel {
    /// `transcript.streaming` and `transcript.batch`.
    Transcript,
    /// `conversation.complete` and `conversation.starred`.
    Conversation,
    /// `memory.processed`.
    Memory,
    /// `button.*`.
    Button,
}

impl AccessLevel {
    /// Every access level.
    pub const ALL: [AccessLevel; 4] = [
        AccessLevel::Transcript,
        AccessLevel::Conversation,
        AccessLevel::Memory,
        AccessLevel::Button,
    ];

    /// The name used in manifests and on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Transcript => "transcript",
            AccessLevel::Conversation => "conversation",
            AccessLevel::Memory => "memory",
            AccessLevel::Button => "button",
        }
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for an access level name that is not one of the four.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown access level `{0}` (expected one of: transcript, conversation, memory, button)")]
pub struct UnknownAccessLevel(pub String);

impl FromStr for AccessLevel {
    type Err = UnknownAccessLevel;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        AccessLevel::ALL
            .into_iter()
            .find(|level| level.as_str() == name)
            .ok_or_else(|| UnknownAccessLevel(name.to_owned()))
    }
}

/// The candidate whose name is within a small edit distance of `name`, for "did you mean".
pub(crate) fn closest<T: Copy>(
    name: &str,
    candidates: impl Iterator<Item = (T, &'static str)>,
) -> Option<T> {
    candidates
        .map(|(value, candidate)| (edit_distance(name, candidate), value))
        .filter(|(distance, _)| *distance <= 3.max(name.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, value)| value)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_round_trips_through_its_dotted_name() {
        for event in Event::ALL {
            assert_eq!(event.as_str().parse::<Event>(), Ok(event));
            assert_eq!(
                event.index(),
                Event::ALL.iter().position(|e| *e == event).unwrap()
            );
            let json = serde_json::to_string(&event).unwrap();
            assert_eq!(json, format!("\"{}\"", event.as_str()));
            assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
        }
    }

    #[test]
    fn unknown_event_is_an_error_with_a_suggestion() {
        let error = "conversation.completed".parse::<Event>().unwrap_err();
        assert_eq!(error.suggestion, Some(Event::ConversationComplete));
        assert_eq!(
            error.to_string(),
            "unknown event `conversation.completed` (did you mean `conversation.complete`?)"
        );
        let error = "nonsense".parse::<Event>().unwrap_err();
        assert_eq!(error.suggestion, None);
        assert!(serde_json::from_str::<Event>("\"button.triple_press\"").is_err());
    }

    #[test]
    fn delivery_classes_follow_the_design() {
        let terminal: Vec<_> = Event::ALL.into_iter().filter(|e| e.is_terminal()).collect();
        assert_eq!(
            terminal,
            [
                Event::TranscriptBatch,
                Event::ConversationComplete,
                Event::ConversationStarred,
                Event::MemoryProcessed
            ]
        );
        assert!(Event::ButtonLongPress.bypasses_transcript_conditions());
        assert!(!Event::ConversationComplete.bypasses_transcript_conditions());
    }
}
