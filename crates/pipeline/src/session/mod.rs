//! A device's live session: its clock (seconds of audio received), the conversation open in
//! it, its transcription stream and its ordered queue of live events.
//!
//! With speech detection (a streaming provider, or segments replayed from a file) a
//! conversation opens on the first meaningful final segment and closes on `audio-stop`
//! (`user_stopped`), a disconnect (`websocket_disconnect`), a plugin's close request (the
//! reason it gives: `button_close`, `plugin_requested`, `user_requested`),
//! `inactivity_seconds` of audio without new words (`inactivity_timeout`) or
//! `max_duration_seconds` of conversation (`max_duration`); the next speech opens the next one. Without it (no provider, batch mode, or a provider that failed),
//! a conversation spans the audio from the start to its end, cut at the maximum length.
//!
//! By job: `intake.rs` takes audio and keeps the clock, `transcripts.rs` takes the
//! provider's words, `conversations.rs` opens and ends conversations; the device's recording
//! and button presses are in `device.rs`.
//!
//! Live events (`transcript.streaming`, buttons) reach plugins in order on the session's own
//! task; the device's read loop never waits for a plugin. Their queue is bounded: see
//! `live_queue.rs` for what is dropped (the oldest `transcript.streaming`) and what never
//! is (button presses).

mod conversations;
mod intake;
mod lifecycle;
#[cfg(test)]
mod tests;
mod transcripts;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chronicle_plugin_api::Event;
use chronicle_plugin_host::DispatchRequest;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::live_queue::LiveQueue;
use crate::transcription::StreamInput;

/// Transcripts waiting to be relayed to the device; a device that does not read loses some.
const INTERIM_QUEUE: usize = 64;
/// How long a stop waits for the provider's last words.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(15);

/// Where a session's words come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speech {
    /// The pipeline's streaming transcriber.
    Provider,
    /// Segments handed in by the caller ([`Session::segment`]), as `chronicle replay` does.
    Replayed,
    /// None: conversations span the audio.
    Undetected,
}

/// Who a session belongs to.
#[derive(Clone, Debug)]
pub struct SessionOwner {
    pub user_id: String,
    pub client_id: String,
    pub device_name: String,
}

/// One device's session.
pub struct Session {
    pub session_id: String,
    pub owner: SessionOwner,
    pub speech: Speech,
    pub state: tokio::sync::Mutex<SessionState>,
    /// Live events waiting for plugins; closed when the session is dropped.
    live: Arc<LiveQueue>,
    transcription: Mutex<Option<(mpsc::Sender<StreamInput>, JoinHandle<()>)>>,
}

/// What a session is doing.
#[derive(Default)]
pub struct SessionState {
    /// Whether a recorder writes this session's audio (the server's).
    pub recording: bool,
    pub audio_path: Option<PathBuf>,
    /// Seconds of audio received: the session's clock.
    pub audio_seconds: f64,
    /// The conversation open now.
    pub conversation: Option<OpenConversation>,
    /// Final segments so far (numbers `segment_id`).
    segments: usize,
    /// Why speech detection stopped working, if it did.
    speech_failed: Option<String>,
    /// A batch session's audio, kept for transcription at the end.
    batch_audio: Option<Vec<i16>>,
    /// The session is ending: audio is refused, the provider's last words are still taken.
    stopping: bool,
    /// The session has ended: nothing opens a conversation any more.
    stopped: bool,
}

/// A conversation open in a session.
#[derive(Clone, Debug)]
pub struct OpenConversation {
    pub id: String,
    /// Session clock when it opened.
    pub started_at: f64,
    /// Session clock at the end of the last words.
    pub last_speech_at: f64,
}

impl SessionState {
    fn detects_speech(&self, speech: Speech) -> bool {
        speech != Speech::Undetected && self.speech_failed.is_none() && self.batch_audio.is_none()
    }

    /// The open conversation's id.
    pub fn conversation_id(&self) -> Option<&str> {
        self.conversation.as_ref().map(|c| c.id.as_str())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Session {
    /// Queues a live event (a button press) behind the session's others, never waiting. When
    /// plugins are 256 events behind, the oldest queued `transcript.streaming` is dropped to
    /// make room; a press is never dropped and is queued beyond that if it must. `false` only
    /// when a press would be the 1,025th event queued (a device pressing far faster than its
    /// plugins answer), so the caller can refuse the device (see `live_queue.rs`).
    pub fn queue_live(&self, event: DispatchRequest) -> bool {
        self.live.push(event)
    }

    /// Live events queued or being dispatched now.
    pub fn live_pending(&self) -> usize {
        self.live.pending()
    }
}

impl Drop for Session {
    /// Nobody can queue live events any more: the queue's task delivers what is queued and
    /// ends.
    fn drop(&mut self) {
        self.live.close();
    }
}

/// A device's button press as plugins see it: the event for its state (`None` for a state
/// Chronicle does not know; both the original's spellings are taken) and the event data.
pub fn button_press(
    state: &str,
    session_id: Option<&str>,
    client_id: &str,
) -> (Option<Event>, Value) {
    let event = match state {
        "SINGLE_PRESS" | "SINGLE_TAP" => Some(Event::ButtonSinglePress),
        "DOUBLE_PRESS" | "DOUBLE_TAP" => Some(Event::ButtonDoublePress),
        "LONG_PRESS" => Some(Event::ButtonLongPress),
        _ => None,
    };
    let data = json!({
        "state": state,
        "timestamp": crate::finished::unix_now(),
        "audio_uuid": session_id,
        "session_id": session_id,
        "client_id": client_id,
    });
    (event, data)
}

/// The live sessions of a pipeline.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    fn insert(&self, session: Arc<Session>) {
        lock(&self.live).insert(session.session_id.clone(), session);
    }

    fn remove(&self, session_id: &str) {
        lock(&self.live).remove(session_id);
    }

    /// A live session by id.
    pub fn get(&self, session_id: &str) -> Option<Arc<Session>> {
        lock(&self.live).get(session_id).cloned()
    }

    /// The live session of a device that `user_id` may act on (`None` for an admin: any).
    pub fn by_client(&self, client_id: &str, user_id: Option<&str>) -> Option<Arc<Session>> {
        lock(&self.live)
            .values()
            .find(|s| {
                s.owner.client_id == client_id && user_id.is_none_or(|user| s.owner.user_id == user)
            })
            .cloned()
    }

    /// Every live session.
    pub fn all(&self) -> Vec<Arc<Session>> {
        lock(&self.live).values().cloned().collect()
    }

    /// How many sessions are live.
    pub fn count(&self) -> usize {
        lock(&self.live).len()
    }
}
