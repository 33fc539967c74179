//! Recorded sessions, replayed without a device: a JSON Lines file of timed transcript
//! segments, button presses and requests, fed through a [`Session`] as if a device had sent
//! them (the format is documented in `docs/replay-format.md`).
//!
//! ```text
//! {"type": "session", "device_name": "kitchen"}
//! {"at": 1.0, "type": "segment", "text": "Hey Hermes, turn off the lights", "end": 2.8}
//! {"at": 4.0, "type": "button", "state": "SINGLE_PRESS"}
//! {"at": 9.0, "type": "close"}
//! {"at": 80.0, "type": "stop"}
//! ```
//!
//! `at` is seconds of audio since the session started; lines must not go back in time. The
//! session's clock runs through the file, so pauses longer than the inactivity threshold close
//! conversations as they would live.

use std::sync::Arc;

use chronicle_plugin_api::EndReason;
use serde::Deserialize;
use serde_json::json;

use crate::session::{Session, SessionOwner, Speech, button_press};
use crate::transcription::{Segment, spread};
use crate::{Pipeline, request};

/// One line of a replay file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Line {
    /// The session's device (optional, first line only).
    Session {
        #[serde(default)]
        device_name: Option<String>,
    },
    /// A final transcript segment spoken from `at` to `end` (default: 0.4 s per word).
    Segment {
        at: f64,
        text: String,
        #[serde(default)]
        end: Option<f64>,
        #[serde(default)]
        speaker: Option<String>,
    },
    /// A button press (`SINGLE_PRESS`, `DOUBLE_PRESS`, `LONG_PRESS`).
    Button { at: f64, state: String },
    /// A close request, as `POST /api/conversations/{client_id}/close` makes.
    Close { at: f64 },
    /// Audio continues silently until `at` (lets the inactivity timeout fire).
    Silence { at: f64 },
    /// The device stops (`audio-stop`); the end of the file stops it too.
    Stop { at: f64 },
}

impl Line {
    fn at(&self) -> Option<f64> {
        match self {
            Line::Session { .. } => None,
            Line::Segment { at, .. }
            | Line::Button { at, .. }
            | Line::Close { at }
            | Line::Silence { at }
            | Line::Stop { at } => Some(*at),
        }
    }
}

/// Reads a replay file; errors name the line and what is wrong.
pub fn parse(text: &str, file: &str) -> Result<Vec<Line>, String> {
    let mut lines = Vec::new();
    let mut clock = 0.0_f64;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with("//") {
            continue;
        }
        let line: Line = serde_json::from_str(raw).map_err(|error| {
            format!(
                "{file}:{number}:{}: {error}\nhelp: each line is one JSON object with a `type` of session, segment, button, close, silence or stop, and `at` in seconds",
                error.column()
            )
        })?;
        if let Some(at) = line.at() {
            if !at.is_finite() || at < clock {
                return Err(format!(
                    "{file}:{number}:1: `at` is {at}, earlier than the line before ({clock})\nhelp: keep the lines in time order"
                ));
            }
            clock = at;
        } else if !lines.is_empty() {
            return Err(format!(
                "{file}:{number}:1: a `session` line must come first"
            ));
        }
        lines.push(line);
    }
    Ok(lines)
}

/// Plays `lines` through a new session of `owner`; returns the session (stopped).
pub async fn play(
    pipeline: &Arc<Pipeline>,
    mut owner: SessionOwner,
    lines: &[Line],
) -> anyhow::Result<Arc<Session>> {
    if let Some(Line::Session {
        device_name: Some(name),
    }) = lines.first()
    {
        owner.device_name = name.clone();
    }
    let (session, _) = Session::start(pipeline, owner, Speech::Replayed, false, None);
    for line in lines {
        if let Some(at) = line.at() {
            session.advance_to(pipeline, at).await?;
        }
        match line {
            Line::Session { .. } | Line::Silence { .. } => {}
            Line::Segment {
                at,
                text,
                end,
                speaker,
            } => {
                let words = text.split_whitespace().count().max(1) as f64;
                let end = end.unwrap_or(at + 0.4 * words).max(*at);
                let words = spread(text, end - at)
                    .into_iter()
                    .flat_map(|sentence| sentence.shifted(*at).words)
                    .collect();
                let mut segment = Segment::new(text.clone(), *at, end, words);
                if let Some(speaker) = speaker {
                    segment.speaker = speaker.clone();
                }
                session.segment(pipeline, segment).await?;
            }
            Line::Button { state, .. } => {
                let (event, data) =
                    button_press(state, Some(&session.session_id), &session.owner.client_id);
                let Some(event) = event else {
                    anyhow::bail!(
                        "unknown button state `{state}`: use SINGLE_PRESS, DOUBLE_PRESS or LONG_PRESS"
                    );
                };
                let press = request(
                    event,
                    &session.owner.user_id,
                    data,
                    json!({"client_id": session.owner.client_id}),
                );
                // A replay waits for the queue instead of dropping: nothing is late here.
                while !session.queue_live(press.clone()) {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
            Line::Close { .. } => {
                session.close(pipeline, EndReason::CloseRequested).await?;
            }
            Line::Stop { .. } => break,
        }
        // Each line's events reach the plugins before the next line: a replay keeps the
        // session's order, and a plugin's close request finds the session still live.
        settle(pipeline, &session).await;
    }
    session.stop(pipeline, EndReason::UserStopped).await;
    settle(pipeline, &session).await;
    Ok(session)
}

/// Waits until the session's live events and every closed conversation have reached the
/// plugins (a conversation's finish is bounded by its providers' timeouts; this by 120 s).
async fn settle(pipeline: &Pipeline, session: &Session) {
    while session.live_pending() > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    if !pipeline.settle(std::time::Duration::from_secs(120)).await {
        tracing::warn!("Conversations were still being finished after 120 s.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_file_reads_line_by_line() {
        let text = r#"{"type": "session", "device_name": "kitchen"}

{"at": 1.0, "type": "segment", "text": "Hey Hermes, turn off the lights", "end": 2.8}
// a comment
{"at": 4.0, "type": "button", "state": "SINGLE_PRESS"}
{"at": 80, "type": "stop"}"#;
        let lines = parse(text, "s.jsonl").unwrap();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[3], Line::Stop { at: 80.0 });
    }

    #[test]
    fn mistakes_name_the_line() {
        let error = parse("{\"at\": 1, \"type\": \"segment\"}", "s.jsonl").unwrap_err();
        assert!(
            error.starts_with("s.jsonl:1:") && error.contains("text"),
            "{error}"
        );
        let error = parse(
            "{\"at\": 5, \"type\": \"close\"}\n{\"at\": 2, \"type\": \"stop\"}",
            "s.jsonl",
        )
        .unwrap_err();
        assert!(error.starts_with("s.jsonl:2:1: `at` is 2"), "{error}");
        let error = parse("{\"at\": 5, \"type\": \"dance\"}", "s.jsonl").unwrap_err();
        assert!(error.contains("unknown variant"), "{error}");
        let error = parse(
            "{\"at\": 5, \"type\": \"close\"}\n{\"type\": \"session\"}",
            "s.jsonl",
        )
        .unwrap_err();
        assert!(error.contains("must come first"), "{error}");
    }
}
