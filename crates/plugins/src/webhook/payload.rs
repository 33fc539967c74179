//! The JSON body a webhook carries, and the selection of its fields per endpoint.

use std::time::SystemTime;

use chronicle_plugin_api::JsonMap;
use serde_json::Value;

/// The top-level keys of a payload, in the order they are sent.
pub const TOP_LEVEL: [&str; 5] = ["type", "timestamp", "user_id", "data", "metadata"];

/// The payload for one event: `{"type", "timestamp", "user_id", "data", "metadata"}`.
pub fn payload(
    event_type: &str,
    at: SystemTime,
    user_id: &str,
    data: &JsonMap,
    metadata: &JsonMap,
) -> JsonMap {
    let mut payload = JsonMap::new();
    payload.insert("type".into(), Value::from(event_type));
    payload.insert("timestamp".into(), Value::from(rfc3339(at)));
    payload.insert("user_id".into(), Value::from(user_id));
    payload.insert("data".into(), Value::Object(data.clone()));
    payload.insert("metadata".into(), Value::Object(metadata.clone()));
    payload
}

/// A dotted path into a payload (`data.conversation.title`), checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath(Vec<String>);

impl FieldPath {
    /// Parses a path; the error says how to write it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(format!(
                "`{text}` is not a dotted path: write keys joined by dots, as `data.conversation.title`"
            ));
        }
        if !TOP_LEVEL.contains(&segments[0].as_str()) {
            return Err(format!(
                "`{text}` is not in the payload, which has {}: did you mean `data.{text}`?",
                TOP_LEVEL.map(|key| format!("`{key}`")).join(", ")
            ));
        }
        Ok(Self(segments))
    }
}

/// The parts of `payload` that `paths` name, each at its place, plus `type` and `timestamp`.
/// A path that goes through a missing key or a non-object selects nothing.
pub fn select(payload: &JsonMap, paths: &[FieldPath]) -> JsonMap {
    let mut selected = JsonMap::new();
    for key in ["type", "timestamp"] {
        if let Some(value) = payload.get(key) {
            selected.insert(key.into(), value.clone());
        }
    }
    for FieldPath(segments) in paths {
        let Some((last, parents)) = segments.split_last() else {
            continue;
        };
        let mut source = payload;
        let mut found = true;
        for key in parents {
            match source.get(key) {
                Some(Value::Object(inner)) => source = inner,
                _ => {
                    found = false;
                    break;
                }
            }
        }
        let Some(value) = source.get(last).filter(|_| found) else {
            continue;
        };
        let mut target = &mut selected;
        for key in parents {
            let slot = target
                .entry(key.clone())
                .or_insert_with(|| Value::Object(JsonMap::new()));
            if !slot.is_object() {
                *slot = Value::Object(JsonMap::new());
            }
            let Value::Object(inner) = slot else {
                unreachable!("made an object above")
            };
            target = inner;
        }
        target.insert(last.clone(), value.clone());
    }
    selected
}

/// `time` as RFC 3339 in UTC with milliseconds (`2026-11-25T09:00:00.123Z`).
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::json;

    use super::*;

    fn object(value: Value) -> JsonMap {
        value.as_object().unwrap().clone()
    }

    #[track_caller]
    fn check(paths: &[&str], expected: Value) {
        let payload = object(json!({
            "type": "conversation.complete",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "user_id": "u1",
            "data": {"conversation": {"title": "Groceries", "summary": "milk"}, "transcript": "buy milk", "memories": [{"text": "x"}]},
            "metadata": {"end_reason": "user_stopped"},
        }));
        let paths: Vec<FieldPath> = paths.iter().map(|p| FieldPath::parse(p).unwrap()).collect();
        assert_eq!(
            Value::Object(select(&payload, &paths)),
            expected,
            "{paths:?}"
        );
    }

    #[test]
    fn selected_fields_keep_their_place_and_type_and_timestamp_always_go() {
        let always =
            json!({"type": "conversation.complete", "timestamp": "2026-01-01T00:00:00.000Z"});
        check(&[], always.clone());
        check(
            &["data.conversation.title", "metadata.end_reason"],
            json!({"type": "conversation.complete", "timestamp": "2026-01-01T00:00:00.000Z",
                   "data": {"conversation": {"title": "Groceries"}}, "metadata": {"end_reason": "user_stopped"}}),
        );
        check(
            &["data.conversation.title", "data.conversation", "user_id"],
            json!({"type": "conversation.complete", "timestamp": "2026-01-01T00:00:00.000Z",
                   "data": {"conversation": {"title": "Groceries", "summary": "milk"}}, "user_id": "u1"}),
        );
        // Missing keys and paths through arrays or strings select nothing.
        check(
            &[
                "data.missing",
                "data.memories.text",
                "data.transcript.length",
            ],
            always,
        );
    }

    #[test]
    fn paths_must_start_at_a_payload_key() {
        assert!(FieldPath::parse(" data.transcript ").is_ok());
        let error = FieldPath::parse("transcript").unwrap_err();
        assert!(
            error.ends_with("did you mean `data.transcript`?"),
            "{error}"
        );
        assert!(
            FieldPath::parse("data..title")
                .unwrap_err()
                .contains("dotted path")
        );
        assert!(FieldPath::parse("").is_err());
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        let at = |millis: u64| rfc3339(UNIX_EPOCH + Duration::from_millis(millis));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_614_265_330_123), "2021-02-25T15:02:10.123Z");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }
}
