//! The device WebSocket, `GET /ws?codec=pcm|opus&token=JWT&device_name=NAME`, framed as the
//! original server's (reference section 6.1): JSON headers in text frames, each payload in the
//! binary frame right after its header.
//!
//! A connection that breaks the framing (bad JSON, a binary frame where a header is due, a
//! payload over 1 MiB, a payload of the wrong size) is closed with a reason and a log line;
//! no other connection notices. Button presses are queued behind the session's transcripts
//! (before any audio, on the connection's own queue), so a slow plugin never stalls audio.
//!
//! Audio goes to the connection's pipeline session (`chronicle_pipeline::Session`), which
//! transcribes it and opens and closes conversations; the transcripts it relays come back to
//! the device as `interim_transcript` messages, as in the original.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chronicle_audio::{Codec, PcmFormat, StreamDecoder, TARGET_RATE};
use chronicle_pipeline::device::{DeviceEvents, Pressed};
use chronicle_pipeline::session::SessionOwner;
use chronicle_pipeline::{Session, Speech};
use chronicle_plugin_api::EndReason;
use chronicle_store::User;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::auth::{client_id, user_for_token};
use crate::state::AppState;

/// The largest payload a header may announce.
pub const MAX_PAYLOAD: usize = 1024 * 1024;
/// A device that sends nothing for this long is gone (audio arrives every 100 ms or so, and
/// idle clients ping).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Markers kept per connection; presses beyond still reach plugins.
const MAX_MARKERS: usize = 1000;

/// Close codes.
const POLICY_VIOLATION: u16 = 1008;
const UNSUPPORTED_DATA: u16 = 1003;
const TOO_BIG: u16 = 1009;

#[derive(Debug, Deserialize)]
pub struct Params {
    codec: Option<String>,
    token: Option<String>,
    device_name: Option<String>,
}

/// Upgrades the request; authentication happens after the upgrade, as in the original, so the
/// device gets a JSON reason before the close.
pub async fn handler(
    ws: WebSocketUpgrade,
    Query(params): Query<Params>,
    headers: HeaderMap,
    State(state): State<AppState>,
) -> Response {
    let cookie_token = headers
        .get(axum::http::header::COOKIE)
        .and_then(|value| value.to_str().ok())
        .and_then(|cookies| {
            cookies.split(';').find_map(|c| {
                c.trim()
                    .strip_prefix("fastapiusersauth=")
                    .map(str::to_owned)
            })
        });
    // Small buffers that grow on demand: most frames are 100 ms of audio, and thousands of
    // devices should not each hold the default 128 KiB.
    ws.max_message_size(MAX_PAYLOAD + 64 * 1024)
        .max_frame_size(MAX_PAYLOAD + 64 * 1024)
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| serve(socket, state, params, cookie_token))
}

/// Why a connection ends early.
struct Closing {
    code: u16,
    reason: String,
}

impl Closing {
    /// A close with `reason`, cut to fit a close frame (123 bytes, on a character boundary):
    /// reasons can quote what the client sent.
    fn new(code: u16, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > 123 {
            let mut end = 120;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
            reason.push('…');
        }
        Self { code, reason }
    }
}

async fn serve(
    mut socket: WebSocket,
    state: AppState,
    params: Params,
    cookie_token: Option<String>,
) {
    let token = params.token.clone().or(cookie_token);
    let user = match token {
        Some(token) => user_for_token(&state, &token).await,
        None => None,
    };
    let Some(user) = user else {
        let error = json!({"type": "error", "error": "authentication_failed", "message": "Authentication failed. Please log in again and ensure your token is valid.", "code": 1008});
        let _ = send_json(&mut socket, &error).await;
        close(
            &mut socket,
            Closing::new(POLICY_VIOLATION, "Authentication failed"),
        )
        .await;
        return;
    };
    let codec = match params.codec.as_deref().map_or(Ok(Codec::Pcm), str::parse) {
        Ok(codec) => codec,
        Err(unsupported) => {
            let reason = unsupported.to_string();
            let _ = send_json(&mut socket, &json!({"type": "error", "error": "unsupported_codec", "message": reason, "code": 1008})).await;
            close(&mut socket, Closing::new(POLICY_VIOLATION, reason)).await;
            return;
        }
    };
    if send_json(
        &mut socket,
        &json!({"type": "ready", "message": "WebSocket connection established"}),
    )
    .await
    .is_err()
    {
        return;
    }
    let device_name = params.device_name.unwrap_or_default();
    let client = client_id(&user.id, &device_name);
    if let Err(error) = state
        .store
        .upsert_client(&user.id, &client, &device_name)
        .await
    {
        tracing::warn!(%error, "Could not record the device.");
    }
    metrics::gauge!("chronicle_websocket_connections").increment(1.0);
    // Presses outside a session go to plugins in order on a queue of this connection's own,
    // so a slow plugin never stalls the audio read loop.
    let outside_sessions = DeviceEvents::new(&state.core.pipeline, &user.id, &client);
    let mut device = Device {
        outside_sessions,
        markers: 0,
        state: state.clone(),
        user,
        client_id: client,
        device_name,
        codec,
        session: None,
        interims: None,
        decoder: None,
    };
    let ended = device.run(&mut socket).await;
    if let Err(closing) = &ended {
        tracing::warn!(client = %device.client_id, code = closing.code, reason = %closing.reason, "Closing a device connection.");
    }
    device.finish(EndReason::WebsocketDisconnect).await;
    metrics::gauge!("chronicle_websocket_connections").decrement(1.0);
    if let Err(closing) = ended {
        close(&mut socket, closing).await;
    }
}

async fn send_json(socket: &mut WebSocket, value: &Value) -> Result<(), axum::Error> {
    socket
        .send(Message::Text(format!("{value}\n").into()))
        .await
}

async fn close(socket: &mut WebSocket, closing: Closing) {
    let frame = CloseFrame {
        code: closing.code,
        reason: closing.reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// A header: `{"type": ..., "data": {...}, "payload_length": N}`.
#[derive(Debug, Deserialize)]
struct Header {
    #[serde(rename = "type")]
    kind: MessageKind,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    payload_length: Option<u64>,
}

/// What a header announces, by its `type`.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
enum MessageKind {
    Ping,
    AudioStart,
    AudioChunk,
    AudioStop,
    ButtonEvent,
    /// Any other `type`: ignored, as the original does, so newer devices still connect.
    Unknown(String),
}

impl From<String> for MessageKind {
    fn from(kind: String) -> Self {
        match kind.as_str() {
            "ping" => MessageKind::Ping,
            "audio-start" => MessageKind::AudioStart,
            "audio-chunk" => MessageKind::AudioChunk,
            "audio-stop" => MessageKind::AudioStop,
            "button-event" => MessageKind::ButtonEvent,
            _ => MessageKind::Unknown(kind),
        }
    }
}

#[cfg(test)]
impl MessageKind {
    /// The `type` as the device wrote it.
    fn as_str(&self) -> &str {
        match self {
            MessageKind::Ping => "ping",
            MessageKind::AudioStart => "audio-start",
            MessageKind::AudioChunk => "audio-chunk",
            MessageKind::AudioStop => "audio-stop",
            MessageKind::ButtonEvent => "button-event",
            MessageKind::Unknown(kind) => kind,
        }
    }
}

#[cfg(test)]
impl PartialEq<String> for MessageKind {
    fn eq(&self, kind: &String) -> bool {
        self.as_str() == kind
    }
}

#[cfg(test)]
impl From<MessageKind> for Value {
    fn from(kind: MessageKind) -> Self {
        Value::from(kind.as_str())
    }
}

struct Device {
    outside_sessions: DeviceEvents,
    markers: usize,
    state: AppState,
    user: User,
    client_id: String,
    device_name: String,
    codec: Codec,
    session: Option<Arc<Session>>,
    /// Transcripts to relay to the device, while a streaming provider transcribes.
    interims: Option<mpsc::Receiver<Value>>,
    decoder: Option<StreamDecoder>,
}

/// The next transcript to relay; never, when there is nothing to relay.
async fn next_interim(interims: &mut Option<mpsc::Receiver<Value>>) -> Value {
    if let Some(receiver) = interims
        && let Some(interim) = receiver.recv().await
    {
        return interim;
    }
    std::future::pending().await
}

/// The framing: a header in a text frame, then, when it announces a payload, exactly that many
/// bytes in the next binary frame. Pure, so its rules are tested without a socket.
#[derive(Debug, Default)]
struct Framing {
    /// A header whose payload is due next, and the payload's announced size.
    waiting: Option<(Header, usize)>,
}

impl Framing {
    /// A text frame: the header to handle now, or `None` when it announces a payload, which the
    /// next binary frame must carry.
    fn text(&mut self, text: &str) -> Result<Option<Header>, Closing> {
        if self.waiting.is_some() {
            return Err(Closing::new(
                UNSUPPORTED_DATA,
                "a text frame came where the binary payload was due",
            ));
        }
        let header: Header = serde_json::from_str(text.trim()).map_err(|error| {
            Closing::new(UNSUPPORTED_DATA, format!("invalid JSON header: {error}"))
        })?;
        let length = header.payload_length.unwrap_or(0);
        if length > MAX_PAYLOAD as u64 {
            return Err(Closing::new(
                TOO_BIG,
                format!("payload_length {length} exceeds the limit of {MAX_PAYLOAD} bytes"),
            ));
        }
        if length > 0 {
            self.waiting = Some((header, length as usize));
            Ok(None)
        } else {
            Ok(Some(header))
        }
    }

    /// A binary frame: the payload of the waiting header, which is returned.
    fn binary(&mut self, payload: &[u8]) -> Result<Header, Closing> {
        let Some((header, length)) = self.waiting.take() else {
            return Err(Closing::new(
                UNSUPPORTED_DATA,
                "a binary frame came where a JSON header was expected",
            ));
        };
        if payload.len() != length {
            return Err(Closing::new(
                UNSUPPORTED_DATA,
                format!(
                    "the payload has {} bytes; its header announced {length}",
                    payload.len()
                ),
            ));
        }
        Ok(header)
    }
}

/// The PCM format an `audio-start` or first `audio-chunk` announces; 16 kHz s16 mono unless
/// it says otherwise. A number too large for its field saturates, so the normalizer refuses it
/// rather than taking it wrapped into range (65537 channels are not 1).
fn pcm_format(data: &Value) -> PcmFormat {
    let number = |key: &str| data.get(key).and_then(Value::as_u64);
    PcmFormat {
        rate: number("rate").map_or(TARGET_RATE, |r| u32::try_from(r).unwrap_or(u32::MAX)),
        width: number("width").map_or(2, |w| u16::try_from(w).unwrap_or(u16::MAX)),
        channels: number("channels").map_or(1, |c| u16::try_from(c).unwrap_or(u16::MAX)),
    }
}

impl Device {
    async fn run(&mut self, socket: &mut WebSocket) -> Result<(), Closing> {
        let mut framing = Framing::default();
        loop {
            let received = tokio::select! {
                received = tokio::time::timeout(IDLE_TIMEOUT, socket.recv()) => received,
                interim = next_interim(&mut self.interims) => {
                    send_json(socket, &interim)
                        .await
                        .map_err(|_| Closing::new(1000, "gone"))?;
                    continue;
                }
            };
            let Ok(message) = received else {
                return Err(Closing::new(
                    1001,
                    format!("nothing received for {} s", IDLE_TIMEOUT.as_secs()),
                ));
            };
            let Some(message) = message else { break };
            let message = match message {
                Ok(message) => message,
                Err(error)
                    if error.to_string().contains("limit")
                        || error.to_string().contains("too long") =>
                {
                    return Err(Closing::new(TOO_BIG, format!("frame too large: {error}")));
                }
                // A transport failure (a reset, a vanished device) is a disconnect, not a
                // protocol violation: there is nobody left to tell.
                Err(error) => {
                    tracing::debug!(client = %self.client_id, %error, "Device connection lost.");
                    return Ok(());
                }
            };
            match message {
                Message::Text(text) => {
                    if let Some(header) = framing.text(&text)?
                        && let Some(reply) = self.handle(header, None).await?
                    {
                        send_json(socket, &reply)
                            .await
                            .map_err(|_| Closing::new(1000, "gone"))?;
                    }
                }
                Message::Binary(payload) => {
                    let header = framing.binary(&payload)?;
                    if let Some(reply) = self.handle(header, Some(&payload)).await? {
                        send_json(socket, &reply)
                            .await
                            .map_err(|_| Closing::new(1000, "gone"))?;
                    }
                }
                Message::Close(_) => return Ok(()),
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
        Ok(())
    }

    async fn handle(
        &mut self,
        header: Header,
        payload: Option<&[u8]>,
    ) -> Result<Option<Value>, Closing> {
        match header.kind {
            MessageKind::Ping => return Ok(Some(json!({"type": "pong"}))),
            MessageKind::AudioStart => {
                if self.session.is_none() {
                    self.start(&header.data).await?;
                }
            }
            MessageKind::AudioChunk => {
                let Some(payload) = payload else {
                    return Ok(None); // a chunk header without payload carries no audio
                };
                if self.session.is_none() {
                    self.start(&header.data).await?;
                }
                let handling = std::time::Instant::now();
                self.audio(payload).await?;
                metrics::histogram!("chronicle_audio_chunk_handling_seconds")
                    .record(handling.elapsed().as_secs_f64());
            }
            MessageKind::AudioStop => self.finish(EndReason::UserStopped).await,
            MessageKind::ButtonEvent => self.button(&header.data).await?,
            MessageKind::Unknown(kind) => {
                tracing::debug!(client = %self.client_id, %kind, "Ignoring an unknown message type.")
            }
        }
        Ok(None)
    }

    async fn start(&mut self, data: &Value) -> Result<(), Closing> {
        let core = Arc::clone(&self.state.core);
        let format = pcm_format(data);
        let decoder = StreamDecoder::new(self.codec, format).map_err(|e| match self.codec {
            Codec::Opus => Closing::new(1011, format!("cannot decode Opus: {e}")),
            Codec::Pcm => Closing::new(UNSUPPORTED_DATA, format!("unsupported audio format: {e}")),
        })?;
        // PCM defaults to batch, as in the original; Opus devices always stream.
        let batch = self.codec == Codec::Pcm
            && data.get("mode").and_then(Value::as_str).unwrap_or("batch") == "batch";
        let owner = SessionOwner {
            user_id: self.user.id.clone(),
            client_id: self.client_id.clone(),
            device_name: self.device_name.clone(),
        };
        let (session, interims) =
            Session::start(&core.pipeline, owner, Speech::Provider, batch, None);
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
            .map_err(|e| Closing::new(1011, format!("cannot record audio: {e}")))?;
        session
            .record_to(&core.pipeline, path)
            .await
            .map_err(|e| Closing::new(1011, format!("cannot record the session: {e}")))?;
        self.decoder = Some(decoder);
        Ok(())
    }

    async fn audio(&mut self, payload: &[u8]) -> Result<(), Closing> {
        let Some(decoder) = &mut self.decoder else {
            return Ok(());
        };
        let samples = decoder.push(payload).map_err(|error| {
            Closing::new(UNSUPPORTED_DATA, format!("undecodable audio: {error}"))
        })?;
        let Some(session) = &self.session else {
            return Ok(());
        };
        let core = Arc::clone(&self.state.core);
        let sample_count = samples.len() as u64;
        metrics::counter!("chronicle_audio_received_milliseconds_total")
            .increment(sample_count * 1000 / u64::from(TARGET_RATE));
        metrics::histogram!("chronicle_audio_chunk_seconds")
            .record(sample_count as f64 / f64::from(TARGET_RATE));
        let heard = session.audio(&core.pipeline, &samples).await;
        // Recorded whatever the session made of it.
        core.recordings.append(&session.session_id, samples).await;
        heard.map_err(|e| Closing::new(1011, format!("cannot keep the conversation: {e}")))
    }

    /// Ends the session: its conversation with `end_reason`, its recording, its registration.
    async fn finish(&mut self, end_reason: EndReason) {
        let Some(session) = self.session.take() else {
            return;
        };
        self.decoder = None;
        self.interims = None;
        let core = Arc::clone(&self.state.core);
        if session.stop(&core.pipeline, end_reason).await {
            core.recordings.finish(&session.session_id).await;
        }
    }

    async fn button(&mut self, data: &Value) -> Result<(), Closing> {
        let raw_state = data.get("state").and_then(Value::as_str).unwrap_or("");
        self.markers += 1;
        // In a session, presses queue behind its transcripts, so plugins see them in order.
        let pressed = match &self.session {
            Some(session) => {
                let keep_marker = self.markers <= MAX_MARKERS;
                session
                    .press(&self.state.core.pipeline, raw_state, keep_marker)
                    .await
            }
            None => self.outside_sessions.press(raw_state),
        };
        match pressed {
            Pressed::Queued => Ok(()),
            Pressed::Unknown => {
                tracing::warn!(client = %self.client_id, state = raw_state, "Unknown button state; only the marker is kept.");
                Ok(())
            }
            Pressed::TooFast => Err(Closing::new(
                POLICY_VIOLATION,
                "button events arrive faster than plugins can handle them",
            )),
        }
    }
}

#[cfg(test)]
mod robustness;
