//! The device WebSocket, `GET /ws?codec=pcm|opus&token=JWT&device_name=NAME`, framed as the
//! original server's (reference section 6.1): JSON headers in text frames, each payload in the
//! binary frame right after its header ([`framing`]).
//!
//! A connection that breaks the framing (bad JSON, a binary frame where a header is due, a
//! payload over 1 MiB, a payload of the wrong size) is closed with a reason and a log line;
//! no other connection notices. Button presses are queued behind the session's transcripts
//! (before any audio, on the connection's own queue), so a slow plugin never stalls audio.
//!
//! Audio goes to the connection's [`DeviceSession`], which hands it to the pipeline's session
//! (transcription, conversations) and the recording; the transcripts it relays come back to
//! the device as `interim_transcript` messages, as in the original. Besides the framing, as
//! the original's PCM handler did, a PCM connection whose audio has started may send bare
//! binary frames of audio, in the format `audio-start` declared (16 kHz s16 mono unless it
//! said otherwise).
//!
//! Chunks that carry spool ids ([`spool`]) are answered with `audio-ack` once on disk, in the
//! order they came; a chunk acknowledged before (on this connection or an earlier one of the
//! same device, [`crate::receipts`]) is acknowledged again at once and not processed twice.
//! The device's downlink ([`crate::devices`]) is relayed as JSON messages (`stop-audio`).

pub mod framing;
mod spool;

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chronicle_audio::Codec;
use chronicle_plugin_api::EndReason;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::acks::Acks;
use crate::auth::user_for_token;
use crate::device_session::{
    DeviceFault, DeviceSession, StreamSpec, WRITE_TIMEOUT, is_protocol_violation,
};
use crate::devices::{Downlink, DownlinkReceiver, Protocol};
use crate::receipts::SegmentMarks;
use crate::state::AppState;
#[cfg(test)]
use framing::MAX_PAYLOAD;
use framing::{
    Closing, Framing, Header, INTERNAL, MessageKind, POLICY_VIOLATION, PROTOCOL_ERROR, TOO_BIG,
    UNSUPPORTED_DATA, pcm_format,
};
use spool::SpoolChunk;

/// A device that sends nothing for this long is gone (audio arrives every 100 ms or so, and
/// idle clients ping).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Params {
    codec: Option<String>,
    token: Option<String>,
    device_name: Option<String>,
}

/// Upgrades the request; authentication happens after the upgrade, as in the original, so the
/// device gets a JSON reason before the close.
#[utoipa::path(
    get, path = "/ws", summary = "Stream audio from a device (WebSocket)", tag = "devices",
    description = "The device WebSocket (Wyoming-style JSON headers, then PCM or Opus frames). Authenticated after the upgrade, so a device gets a reason before the close.",
    params(Params),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade", content_type = "text/plain", body = String),
    )
)]
pub async fn handler(
    ws: WebSocketUpgrade,
    Query(params): Query<Params>,
    headers: HeaderMap,
    State(state): State<AppState>,
) -> Response {
    let cookie_token = crate::auth::cookie_token(&headers)
        .map(str::to_owned)
        // A browser sends its cookie to any site's page that opens this socket: only a page
        // of this server (or an origin the operator allows) may stream as its user.
        .filter(|_| {
            let allowed = crate::origin::same_site(&headers, &state.core.config.allowed_origins);
            if !allowed {
                tracing::warn!(
                    origin = ?headers.get(axum::http::header::ORIGIN),
                    "Ignoring the login cookie of a WebSocket opened by another site."
                );
            }
            allowed
        });
    // Small buffers that grow on demand: most frames are 100 ms of audio, and thousands of
    // devices should not each hold the default 128 KiB.
    ws.max_message_size(framing::MAX_PAYLOAD + 64 * 1024)
        .max_frame_size(framing::MAX_PAYLOAD + 64 * 1024)
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .on_upgrade(move |socket| serve(socket, state, params, cookie_token))
}

async fn serve(
    mut socket: WebSocket,
    state: AppState,
    params: Params,
    cookie_token: Option<String>,
) {
    let token = params.token.clone().or(cookie_token);
    let user = match token {
        Some(token) => user_for_token(&state, &token, chronicle_store::KeyScope::Write).await,
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
    let session = DeviceSession::connect(&state, user, device_name).await;
    let downlink =
        state
            .core
            .devices
            .connect(&session.user.id, &session.client_id, Protocol::Legacy);
    let mut device = Device {
        session,
        state,
        codec,
        acks: Acks::default(),
        queued: SegmentMarks::default(),
        downlink,
    };
    let ended = device.run(&mut socket).await;
    if let Err(closing) = &ended {
        tracing::warn!(client = %device.session.client_id, code = closing.code, reason = %closing.reason, "Closing a device connection.");
    }
    device.session.finish(EndReason::WebsocketDisconnect).await;
    device.settle_acks().await;
    if let Err(closing) = ended {
        close(&mut socket, closing).await;
    }
}

/// Sends `value`; an error when the device has not taken it within [`WRITE_TIMEOUT`].
async fn send_json(socket: &mut WebSocket, value: &Value) -> Result<(), axum::Error> {
    let message = Message::Text(format!("{value}\n").into());
    match tokio::time::timeout(WRITE_TIMEOUT, socket.send(message)).await {
        Ok(sent) => sent,
        Err(_) => Err(axum::Error::new(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the device does not read what it is sent",
        ))),
    }
}

async fn close(socket: &mut WebSocket, closing: Closing) {
    let frame = CloseFrame {
        code: closing.code,
        reason: closing.reason.into(),
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
}

/// How `/ws` tells a device that its input could not be taken.
fn closing(fault: DeviceFault) -> Closing {
    let code = match fault {
        DeviceFault::BadAudio(_) => UNSUPPORTED_DATA,
        DeviceFault::Internal(_) => INTERNAL,
        DeviceFault::TooFast => POLICY_VIOLATION,
    };
    Closing::new(code, fault.to_string())
}

fn gone(_: axum::Error) -> Closing {
    Closing::new(1000, "gone")
}

struct Device {
    session: DeviceSession,
    state: AppState,
    codec: Codec,
    /// `audio-ack`s owed, in the order the chunks came.
    acks: Acks<SpoolChunk>,
    /// The highest spool sequence taken per segment on this connection, acknowledged or not
    /// yet: a chunk resent before its ack went out is not processed twice either.
    queued: SegmentMarks,
    downlink: DownlinkReceiver,
}

impl Device {
    async fn run(&mut self, socket: &mut WebSocket) -> Result<(), Closing> {
        let mut framing = Framing::default();
        loop {
            // A device that sends faster than the disk writes waits for its acks.
            if self.acks.is_full() {
                let (chunk, written) = self.acks.next().await;
                self.acknowledge(socket, chunk, written).await?;
            }
            let received = tokio::select! {
                received = tokio::time::timeout(IDLE_TIMEOUT, socket.recv()) => received,
                interim = self.session.next_interim() => {
                    send_json(socket, &interim).await.map_err(gone)?;
                    continue;
                }
                (chunk, written) = self.acks.next() => {
                    self.acknowledge(socket, chunk, written).await?;
                    continue;
                }
                downlink = self.downlink.recv() => {
                    let Downlink::Legacy(message) = downlink;
                    send_json(socket, &message).await.map_err(gone)?;
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
                Err(error) if is_protocol_violation(&error) => {
                    return Err(Closing::new(PROTOCOL_ERROR, format!("{error}")));
                }
                // A transport failure (a reset, a vanished device) is a disconnect, not a
                // protocol violation: there is nobody left to tell.
                Err(error) => {
                    tracing::debug!(client = %self.session.client_id, %error, "Device connection lost.");
                    return Ok(());
                }
            };
            match message {
                Message::Text(text) => {
                    if let Some(header) = framing.text(&text)?
                        && let Some(reply) = self.handle(header, None).await?
                    {
                        send_json(socket, &reply).await.map_err(gone)?;
                    }
                }
                // Bare PCM, the original's "legacy mode": audio without a header, once a PCM
                // stream has started.
                Message::Binary(payload)
                    if !framing.is_waiting()
                        && self.codec == Codec::Pcm
                        && self.session.is_open() =>
                {
                    self.session.audio(&payload).await.map_err(closing)?;
                }
                Message::Binary(payload) => {
                    let header = framing.binary(&payload)?;
                    if let Some(reply) = self.handle(header, Some(&payload)).await? {
                        send_json(socket, &reply).await.map_err(gone)?;
                    }
                }
                Message::Close(_) => return Ok(()),
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
        Ok(())
    }

    /// Sends the ack of a chunk now on disk, and remembers it for the device's reconnects.
    async fn acknowledge(
        &mut self,
        socket: &mut WebSocket,
        chunk: SpoolChunk,
        written: Result<(), String>,
    ) -> Result<(), Closing> {
        if let Err(error) = written {
            // Unacknowledged, the chunk stays in the device's spool for its next connection.
            return Err(Closing::new(
                INTERNAL,
                format!("cannot record audio: {error}"),
            ));
        }
        self.record_receipt(&chunk);
        send_json(socket, &chunk.ack()).await.map_err(gone)
    }

    fn record_receipt(&self, chunk: &SpoolChunk) {
        self.state.core.receipts.record(
            &self.session.user.id,
            &self.session.client_id,
            &chunk.segment,
            chunk.sequence,
        );
    }

    /// After the connection ends: the chunks whose acks could not be sent are on disk all the
    /// same (the recording is finished), so a resend on the next connection is not taken
    /// twice.
    async fn settle_acks(&mut self) {
        while !self.acks.is_empty() {
            if let (chunk, Ok(())) = self.acks.next().await {
                self.record_receipt(&chunk);
            }
        }
    }

    /// Whether this spool chunk was taken before, here or on an earlier connection.
    fn already_taken(&self, chunk: &SpoolChunk) -> bool {
        self.queued.covers(&chunk.segment, chunk.sequence)
            || self.state.core.receipts.acknowledged(
                &self.session.user.id,
                &self.session.client_id,
                &chunk.segment,
                chunk.sequence,
            )
    }

    async fn handle(
        &mut self,
        header: Header,
        payload: Option<&[u8]>,
    ) -> Result<Option<Value>, Closing> {
        match header.kind {
            MessageKind::Ping => return Ok(Some(json!({"type": "pong"}))),
            MessageKind::AudioStart => {
                if !self.session.is_open() {
                    self.start(&header.data).await?;
                }
            }
            MessageKind::AudioChunk => self.chunk(&header.data, payload).await?,
            MessageKind::AudioStop => self.session.finish(EndReason::UserStopped).await,
            MessageKind::ButtonEvent => {
                let state = header.data.get("state").and_then(Value::as_str);
                self.session
                    .press(state.unwrap_or(""))
                    .await
                    .map_err(closing)?;
            }
            MessageKind::Unknown(kind) => {
                tracing::debug!(client = %self.session.client_id, %kind, "Ignoring an unknown message type.")
            }
        }
        Ok(None)
    }

    async fn chunk(&mut self, data: &Value, payload: Option<&[u8]>) -> Result<(), Closing> {
        let spooled = SpoolChunk::from_data(data)?;
        if let Some(chunk) = spooled.clone().filter(|chunk| self.already_taken(chunk)) {
            tracing::debug!(client = %self.session.client_id, segment = %chunk.segment, sequence = chunk.sequence, "A spool chunk came again; acknowledged, not taken twice.");
            self.acks.in_turn(chunk);
            return Ok(());
        }
        let Some(payload) = payload else {
            // A chunk header without payload carries no audio: nothing to keep.
            if let Some(chunk) = spooled {
                self.acks.in_turn(chunk);
            }
            return Ok(());
        };
        if !self.session.is_open() {
            self.start(data).await?;
        }
        let handling = std::time::Instant::now();
        match spooled {
            Some(chunk) => {
                let written = self.session.audio_durably(payload).await.map_err(closing)?;
                self.queued.mark(&chunk.segment, chunk.sequence);
                self.acks.after(chunk, written);
            }
            None => self.session.audio(payload).await.map_err(closing)?,
        }
        metrics::histogram!("chronicle_audio_chunk_handling_seconds")
            .record(handling.elapsed().as_secs_f64());
        Ok(())
    }

    async fn start(&mut self, data: &Value) -> Result<(), Closing> {
        // PCM defaults to batch, as in the original; Opus devices always stream.
        let batch = self.codec == Codec::Pcm
            && data.get("mode").and_then(Value::as_str).unwrap_or("batch") == "batch";
        let spec = StreamSpec {
            codec: self.codec,
            format: pcm_format(data),
            batch,
        };
        self.session.start(spec).await.map_err(closing)
    }
}

#[cfg(test)]
mod robustness;
