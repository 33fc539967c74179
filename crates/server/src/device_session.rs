//! A connected device's side of the pipeline, whatever protocol it speaks: the pipeline
//! session its audio opens, the decoder for that audio, the recording, and its button presses.
//!
//! `/ws` ([`crate::ws`]) and `/ws/audio` ([`crate::ws_audio`]) differ in framing only; both
//! hand what the device sends to a [`DeviceSession`], so a conversation, its recording and
//! the plugins' events are the same whichever way the audio came.

use std::sync::Arc;

use chronicle_audio::{Codec, PcmFormat, StreamDecoder, TARGET_RATE};
use chronicle_pipeline::device::{DeviceEvents, Pressed};
use chronicle_pipeline::session::SessionOwner;
use chronicle_pipeline::watch::Watched;
use chronicle_pipeline::{Session, Speech};
use chronicle_plugin_api::EndReason;
use chronicle_store::User;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::auth::client_id;
use crate::recordings::Written;
use crate::state::AppState;

/// Markers kept per connection; presses beyond still reach plugins.
const MAX_MARKERS: usize = 1000;

/// Whether a read failed because the device broke the WebSocket protocol (an unmasked frame,
/// reserved bits, an unknown opcode, bad UTF-8 in a text frame): a reason to close with 1002,
/// where a reset or a vanished device leaves nobody to tell.
pub fn is_protocol_violation(error: &axum::Error) -> bool {
    let text = error.to_string();
    text.contains("protocol error") || text.contains("UTF-8")
}

/// The longest a message to a device may wait to be written: a device that stops reading
/// (its acknowledgements and transcripts pile up) is closed rather than kept, with its
/// unread messages, for as long as it holds the socket open.
pub const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a device's input could not be taken; each protocol tells the device in its own way.
#[derive(Debug)]
pub enum DeviceFault {
    /// The device sent audio or a format that cannot be decoded.
    BadAudio(String),
    /// The server could not do its part (the recording, the store).
    Internal(String),
    /// Button events arrive faster than plugins can handle them.
    TooFast,
}

impl std::fmt::Display for DeviceFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceFault::BadAudio(message) | DeviceFault::Internal(message) => f.write_str(message),
            DeviceFault::TooFast => {
                f.write_str("button events arrive faster than plugins can handle them")
            }
        }
    }
}

/// What a session's audio stream is.
#[derive(Clone, Copy, Debug)]
pub struct StreamSpec {
    pub codec: Codec,
    /// The PCM layout (ignored for Opus, always 16 kHz mono).
    pub format: PcmFormat,
    /// Keep the audio and transcribe it whole at the end, instead of live.
    pub batch: bool,
}

/// One device connection's pipeline side.
pub struct DeviceSession {
    state: AppState,
    pub user: User,
    /// `abc123-pendant`, from the user id and the device's name ([`client_id`]).
    pub client_id: String,
    pub device_name: String,
    /// Presses outside a session go to plugins in order on a queue of this connection's own,
    /// so a slow plugin never stalls the read loop.
    outside_sessions: DeviceEvents,
    markers: usize,
    session: Option<Arc<Session>>,
    /// Transcripts to relay to the device, while a streaming provider transcribes.
    interims: Option<mpsc::Receiver<Value>>,
    decoder: Option<StreamDecoder>,
}

impl DeviceSession {
    /// The device `device_name` of `user` has connected: it is recorded among the user's
    /// clients and counted among the open connections.
    pub async fn connect(state: &AppState, user: User, device_name: String) -> Self {
        let client = client_id(&user.id, &device_name);
        if let Err(error) = state
            .store
            .upsert_client(&user.id, &client, &device_name)
            .await
        {
            tracing::warn!(%error, "Could not record the device.");
        }
        metrics::gauge!("chronicle_websocket_connections").increment(1.0);
        Self {
            outside_sessions: DeviceEvents::new(&state.core.pipeline, &user.id, &client),
            markers: 0,
            state: state.clone(),
            user,
            client_id: client,
            device_name,
            session: None,
            interims: None,
            decoder: None,
        }
    }

    /// The open pipeline session's id.
    pub fn session_id(&self) -> Option<&str> {
        self.session
            .as_ref()
            .map(|session| session.session_id.as_str())
    }

    pub fn is_open(&self) -> bool {
        self.session.is_some()
    }

    /// Opens a pipeline session for a stream of `spec`, recorded to the data folder.
    pub async fn start(&mut self, spec: StreamSpec) -> Result<(), DeviceFault> {
        let core = Arc::clone(&self.state.core);
        let decoder =
            StreamDecoder::new(spec.codec, spec.format).map_err(|e| match spec.codec {
                Codec::Opus => DeviceFault::Internal(format!("cannot decode Opus: {e}")),
                Codec::Pcm => DeviceFault::BadAudio(format!("unsupported audio format: {e}")),
            })?;
        let owner = SessionOwner {
            user_id: self.user.id.clone(),
            client_id: self.client_id.clone(),
            device_name: self.device_name.clone(),
        };
        let (session, interims) =
            Session::start(&core.pipeline, owner, Speech::Provider, spec.batch, None);
        // Registered first: if anything below fails, `finish` unregisters it.
        self.session = Some(Arc::clone(&session));
        self.interims = interims;
        let path = core
            .store
            .folder()
            .session_audio(&self.client_id, &session.session_id);
        core.recordings
            .start(&session.session_id, path.clone())
            .await
            .map_err(|e| DeviceFault::Internal(format!("cannot record audio: {e}")))?;
        session
            .record_to(&core.pipeline, path)
            .await
            .map_err(|e| DeviceFault::Internal(format!("cannot record the session: {e}")))?;
        self.decoder = Some(decoder);
        self.tell_watchers(
            "session",
            json!({"state": "started", "session_id": session.session_id}),
        );
        Ok(())
    }

    /// Tells the people watching this user's live sessions.
    fn tell_watchers(&self, kind: &'static str, data: Value) {
        self.state.core.pipeline.watchers.tell(Watched {
            user_id: Arc::from(self.user.id.as_str()),
            kind,
            client_id: self.client_id.clone(),
            data,
        });
    }

    /// One payload of the open session's stream: decoded, heard by the session, queued for
    /// the recording. Without an open session it is dropped.
    pub async fn audio(&mut self, payload: &[u8]) -> Result<(), DeviceFault> {
        let Some(heard) = self.hear(payload)? else {
            return Ok(());
        };
        let outcome = heard
            .session
            .audio(&self.state.core.pipeline, &heard.samples)
            .await;
        // Recorded whatever the session made of it.
        self.state
            .core
            .recordings
            .append(&heard.session.session_id, heard.samples)
            .await;
        outcome.map_err(kept_error)
    }

    /// Like [`DeviceSession::audio`], for audio the device wants acknowledged: the answer
    /// resolves once it is on disk (at once, without an open session: there is nothing to
    /// keep).
    pub async fn audio_durably(&mut self, payload: &[u8]) -> Result<Written, DeviceFault> {
        let Some(heard) = self.hear(payload)? else {
            let (done, written) = tokio::sync::oneshot::channel();
            let _ = done.send(Ok(()));
            return Ok(written);
        };
        let outcome = heard
            .session
            .audio(&self.state.core.pipeline, &heard.samples)
            .await;
        let written = self
            .state
            .core
            .recordings
            .append_durably(&heard.session.session_id, heard.samples)
            .await;
        outcome.map_err(kept_error)?;
        Ok(written)
    }

    /// Decodes a payload for the open session.
    fn hear(&mut self, payload: &[u8]) -> Result<Option<Heard>, DeviceFault> {
        let (Some(decoder), Some(session)) = (&mut self.decoder, &self.session) else {
            return Ok(None);
        };
        let samples = decoder
            .push(payload)
            .map_err(|error| DeviceFault::BadAudio(format!("undecodable audio: {error}")))?;
        let sample_count = samples.len() as u64;
        metrics::counter!("chronicle_audio_received_milliseconds_total")
            .increment(sample_count * 1000 / u64::from(TARGET_RATE));
        metrics::histogram!("chronicle_audio_chunk_seconds")
            .record(sample_count as f64 / f64::from(TARGET_RATE));
        Ok(Some(Heard {
            session: Arc::clone(session),
            samples,
        }))
    }

    /// Ends the open session: its conversation with `end_reason`, its recording, its
    /// registration. Nothing happens without one.
    pub async fn finish(&mut self, end_reason: EndReason) {
        let Some(session) = self.session.take() else {
            return;
        };
        self.decoder = None;
        self.interims = None;
        let core = Arc::clone(&self.state.core);
        if session.stop(&core.pipeline, end_reason).await {
            core.recordings.finish(&session.session_id).await;
        }
        self.tell_watchers(
            "session",
            json!({"state": "ended", "session_id": session.session_id, "end_reason": end_reason.as_str()}),
        );
    }

    /// A press of the device's button, `state` as the device named it (`SINGLE_PRESS`, …).
    pub async fn press(&mut self, state: &str) -> Result<(), DeviceFault> {
        self.markers += 1;
        self.tell_watchers("button", json!({"state": state}));
        // In a session, presses queue behind its transcripts, so plugins see them in order.
        let pressed = match &self.session {
            Some(session) => {
                let keep_marker = self.markers <= MAX_MARKERS;
                session
                    .press(&self.state.core.pipeline, state, keep_marker)
                    .await
            }
            None => self.outside_sessions.press(state),
        };
        match pressed {
            Pressed::Queued => Ok(()),
            Pressed::Unknown => {
                tracing::warn!(client = %self.client_id, state, "Unknown button state; only the marker is kept.");
                Ok(())
            }
            Pressed::TooFast => Err(DeviceFault::TooFast),
        }
    }

    /// The next transcript to relay to the device; never, when there is nothing to relay.
    pub async fn next_interim(&mut self) -> Value {
        if let Some(receiver) = &mut self.interims
            && let Some(interim) = receiver.recv().await
        {
            return interim;
        }
        std::future::pending().await
    }
}

/// A decoded payload and the session it is for.
struct Heard {
    session: Arc<Session>,
    samples: Vec<i16>,
}

fn kept_error(error: anyhow::Error) -> DeviceFault {
    DeviceFault::Internal(format!("cannot keep the conversation: {error}"))
}

impl Drop for DeviceSession {
    fn drop(&mut self) {
        metrics::gauge!("chronicle_websocket_connections").decrement(1.0);
    }
}
