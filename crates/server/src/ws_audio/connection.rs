//! One `/ws/audio` connection: the subprotocol check, the hello that authenticates it, and
//! the loop that serves its captures until it closes or breaks the protocol.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chronicle_audio::{Codec, PcmFormat, TARGET_RATE};
use chronicle_plugin_api::EndReason;

use super::capture::{Capture, capture_packet};
use super::controls::{
    CapturePacketAccepted, CaptureStarted, CaptureStopped, ClientControl, ClientEvent, ClientHello,
    ProtocolError, ServerControl, ServerEvent, ServerHello, StartCapture, StopCapture,
};
use super::enums::ProtocolErrorCode;
use super::schema::{CaptureBinding, Id, MAX_MEDIA_BYTES};
use super::validate;
use crate::acks::Acks;
use crate::auth::user_for_token;
use crate::device_session::{
    DeviceFault, DeviceSession, StreamSpec, WRITE_TIMEOUT, is_protocol_violation,
};
use crate::devices::{DownlinkReceiver, Protocol};
use crate::state::AppState;
use crate::ws::IDLE_TIMEOUT;
use crate::ws::framing::Closing;

/// The subprotocol a client must ask for.
pub const SUBPROTOCOL: &str = "chronicle.audio.v2";

/// How long a client has to say hello (the original's apps wait 10 s for the answer).
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Close codes.
const PROTOCOL_ERROR: u16 = 1002;
const POLICY_VIOLATION: u16 = 1008;
const TOO_BIG: u16 = 1009;
const INTERNAL: u16 = 1011;

/// Why a connection ends early: told to the client as a `ServerControl` error, then a close.
#[derive(Debug)]
struct Refusal {
    code: ProtocolErrorCode,
    detail: String,
    close: u16,
    rejected_event_id: Option<Id>,
}

impl Refusal {
    /// The client broke the protocol.
    fn invalid(detail: impl Into<String>) -> Self {
        Self {
            code: ProtocolErrorCode::InvalidMedia,
            detail: detail.into(),
            close: POLICY_VIOLATION,
            rejected_event_id: None,
        }
    }

    fn too_large(detail: impl Into<String>) -> Self {
        Self {
            code: ProtocolErrorCode::MessageTooLarge,
            close: TOO_BIG,
            ..Self::invalid(detail)
        }
    }

    fn internal(detail: impl Into<String>) -> Self {
        Self {
            code: ProtocolErrorCode::Internal,
            close: INTERNAL,
            ..Self::invalid(detail)
        }
    }

    fn rejecting(mut self, event_id: Option<&Id>) -> Self {
        self.rejected_event_id = event_id.cloned();
        self
    }
}

impl From<DeviceFault> for Refusal {
    fn from(fault: DeviceFault) -> Self {
        match fault {
            DeviceFault::BadAudio(_) | DeviceFault::TooFast => Refusal::invalid(fault.to_string()),
            DeviceFault::Internal(_) => Refusal::internal(fault.to_string()),
        }
    }
}

/// How a connection ends.
enum End {
    /// The client closed or vanished: nobody to tell.
    Gone,
    Refused(Refusal),
}

impl From<Refusal> for End {
    fn from(refusal: Refusal) -> Self {
        End::Refused(refusal)
    }
}

/// Sends `event`; a device that has not taken it within [`WRITE_TIMEOUT`] is gone.
async fn send(socket: &mut WebSocket, event: ServerEvent) -> Result<(), End> {
    let text = ServerControl::now(event).to_json();
    match tokio::time::timeout(WRITE_TIMEOUT, socket.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(End::Gone),
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: String) {
    let closing = Closing::new(code, reason);
    let frame = CloseFrame {
        code: closing.code,
        reason: closing.reason.into(),
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
}

/// Tells the client why, and closes.
async fn refuse(socket: &mut WebSocket, refusal: Refusal) {
    let error = ProtocolError {
        code: refusal.code,
        detail: refusal.detail.clone(),
        rejected_event_id: refusal.rejected_event_id,
    };
    let _ = send(socket, ServerEvent::Error(error)).await;
    close(socket, refusal.close, refusal.detail).await;
}

/// Serves one connection; `speaks_v2`: the client asked for the subprotocol.
pub async fn serve(mut socket: WebSocket, state: AppState, speaks_v2: bool) {
    if !speaks_v2 {
        close(
            &mut socket,
            PROTOCOL_ERROR,
            format!("{SUBPROTOCOL} required"),
        )
        .await;
        return;
    }
    let (event_id, hello) = match hello(&mut socket).await {
        Ok(hello) => hello,
        Err(End::Gone) => return,
        Err(End::Refused(refusal)) => return refuse(&mut socket, refusal).await,
    };
    let Some(user) = user_for_token(
        &state,
        &hello.bearer_token,
        chronicle_store::KeyScope::Write,
    )
    .await
    else {
        let error = ProtocolError {
            code: ProtocolErrorCode::AuthenticationFailed,
            detail: "authentication failed".into(),
            rejected_event_id: event_id,
        };
        let _ = send(&mut socket, ServerEvent::Error(error)).await;
        close(
            &mut socket,
            POLICY_VIOLATION,
            "authentication failed".into(),
        )
        .await;
        return;
    };
    let device_name = match hello.display_name.trim() {
        "" => hello.source_id.map(|id| id.value).unwrap_or_default(),
        name => name.to_owned(),
    };
    let device = DeviceSession::connect(&state, user, device_name).await;
    let downlink =
        state
            .core
            .devices
            .connect(&device.user.id, &device.client_id, Protocol::AudioV2);
    let connection_id = format!("audio-v2-{}", uuid::Uuid::new_v4());
    tracing::debug!(client = %device.client_id, connection = %connection_id, "A chronicle.audio.v2 device connected.");
    let greeting = ServerHello {
        client_id: Some(Id::new(device.client_id.clone())),
        connection_id: Some(Id::new(connection_id)),
    };
    let mut connection = Connection {
        device,
        capture: None,
        acks: Acks::default(),
        _downlink: downlink,
    };
    let ended = match send(&mut socket, ServerEvent::Hello(greeting)).await {
        Ok(()) => connection.run(&mut socket).await,
        Err(end) => Err(end),
    };
    connection
        .device
        .finish(EndReason::WebsocketDisconnect)
        .await;
    if let Err(End::Refused(refusal)) = ended {
        tracing::warn!(client = %connection.device.client_id, code = refusal.close, detail = %refusal.detail, "Closing a chronicle.audio.v2 connection.");
        refuse(&mut socket, refusal).await;
    }
}

/// The first control, which must be a valid `hello`, with its event id.
async fn hello(socket: &mut WebSocket) -> Result<(Option<Id>, ClientHello), End> {
    let first = tokio::time::timeout(HELLO_TIMEOUT, socket.recv())
        .await
        .map_err(|_| {
            Refusal::invalid(format!(
                "no ClientHello within {} s",
                HELLO_TIMEOUT.as_secs()
            ))
        })?;
    let text = match first {
        Some(Ok(Message::Text(text))) => text,
        Some(Ok(Message::Close(_))) | None => return Err(End::Gone),
        Some(Err(error)) => return Err(read_error(error)),
        Some(Ok(_)) => return Err(Refusal::invalid("first control must be ClientHello").into()),
    };
    let control = parse(&text)?;
    match control.event {
        ClientEvent::Hello(hello) => Ok((control.event_id, hello)),
        _ => Err(Refusal::invalid("first control must be ClientHello")
            .rejecting(control.event_id.as_ref())
            .into()),
    }
}

/// A TEXT frame's control, checked.
fn parse(text: &str) -> Result<ClientControl, Refusal> {
    let control = ClientControl::from_json(text)
        .map_err(|error| Refusal::invalid(format!("invalid ClientControl: {error}")))?;
    validate::control(&control)
        .map_err(|detail| Refusal::invalid(detail).rejecting(control.event_id.as_ref()))?;
    Ok(control)
}

/// A failed read: a frame over the bound, or a vanished client.
fn read_error(error: axum::Error) -> End {
    let text = error.to_string();
    if text.contains("limit") || text.contains("too long") {
        Refusal::too_large(format!("a frame is too large: {text}")).into()
    } else if is_protocol_violation(&error) {
        Refusal {
            close: PROTOCOL_ERROR,
            ..Refusal::invalid(text)
        }
        .into()
    } else {
        tracing::debug!(%error, "A chronicle.audio.v2 connection was lost.");
        End::Gone
    }
}

struct Connection {
    device: DeviceSession,
    capture: Option<Capture>,
    /// `capture_packet_accepted`s owed, in the order the packets came.
    acks: Acks<CapturePacketAccepted>,
    /// Registered so the downlink registry knows the device; nothing is sent on v2 yet.
    _downlink: DownlinkReceiver,
}

impl Connection {
    async fn run(&mut self, socket: &mut WebSocket) -> Result<(), End> {
        loop {
            // A device that sends faster than the disk writes waits for its acks.
            if self.acks.is_full() {
                let (accepted, written) = self.acks.next().await;
                accept(socket, accepted, written).await?;
            }
            let received = tokio::select! {
                received = tokio::time::timeout(IDLE_TIMEOUT, socket.recv()) => received,
                (accepted, written) = self.acks.next() => {
                    accept(socket, accepted, written).await?;
                    continue;
                }
            };
            let Ok(message) = received else {
                return Err(Refusal {
                    close: 1001,
                    ..Refusal::invalid(format!("nothing received for {} s", IDLE_TIMEOUT.as_secs()))
                }
                .into());
            };
            let message = match message {
                Some(Ok(message)) => message,
                Some(Err(error)) => return Err(read_error(error)),
                None => return Ok(()),
            };
            match message {
                Message::Text(text) => {
                    let control = parse(&text)?;
                    let event_id = control.event_id.clone();
                    self.control(socket, control.event)
                        .await
                        .map_err(|end| match end {
                            End::Refused(refusal) => {
                                End::Refused(refusal.rejecting(event_id.as_ref()))
                            }
                            End::Gone => End::Gone,
                        })?;
                }
                Message::Binary(frame) => self.media(&frame).await?,
                Message::Close(_) => return Ok(()),
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
    }

    async fn control(&mut self, socket: &mut WebSocket, event: ClientEvent) -> Result<(), End> {
        match event {
            ClientEvent::Hello(_) => Err(Refusal::invalid("hello was already received").into()),
            ClientEvent::StartCapture(start) => {
                let started = self.start(start).await?;
                send(socket, ServerEvent::CaptureStarted(started)).await
            }
            ClientEvent::StopCapture(stop) => {
                let binding = self.stop(socket, stop).await?;
                send(
                    socket,
                    ServerEvent::CaptureStopped(CaptureStopped {
                        binding: Some(binding),
                    }),
                )
                .await
            }
            ClientEvent::Heartbeat(heartbeat) => {
                send(socket, ServerEvent::Heartbeat(heartbeat)).await
            }
            ClientEvent::ButtonEvent(button) => {
                let state = button.state.press_name().unwrap_or("");
                Ok(self.device.press(state).await.map_err(Refusal::from)?)
            }
            ClientEvent::VoiceReady(_) => {
                tracing::debug!(client = %self.device.client_id, "voice_ready ignored: Chronicle offers no playback.");
                Ok(())
            }
            ClientEvent::PlaybackAcknowledgement(_) => {
                tracing::debug!(client = %self.device.client_id, "playback_acknowledgement ignored: Chronicle offers no playback.");
                Ok(())
            }
        }
    }

    /// Opens a capture: a pipeline session for 16 kHz mono Opus, streamed.
    async fn start(&mut self, start: StartCapture) -> Result<CaptureStarted, Refusal> {
        if self.capture.is_some() {
            return Err(Refusal::invalid(
                "a capture is already open: stop_capture it first",
            ));
        }
        let spec = StreamSpec {
            codec: Codec::Opus,
            format: PcmFormat {
                rate: TARGET_RATE,
                width: 2,
                channels: 1,
            },
            batch: false,
        };
        self.device.start(spec).await?;
        let session_id = self.device.session_id().unwrap_or_default().to_owned();
        let binding = CaptureBinding {
            capture_session_id: Some(Id::new(session_id)),
            voice_session_id: None,
            capture_epoch: start.capture_epoch,
        };
        self.capture = Some(Capture::new(binding.clone(), start.delivery_class));
        Ok(CaptureStarted {
            binding: Some(binding),
            audio_spec: start.audio_spec,
        })
    }

    /// Ends the open capture once every packet taken is acknowledged; returns its binding.
    async fn stop(
        &mut self,
        socket: &mut WebSocket,
        stop: StopCapture,
    ) -> Result<CaptureBinding, End> {
        let Some(capture) = &self.capture else {
            return Err(Refusal::invalid("no capture is open").into());
        };
        capture
            .check_binding(stop.binding.as_ref())
            .map_err(Refusal::invalid)?;
        while !self.acks.is_empty() {
            let (accepted, written) = self.acks.next().await;
            accept(socket, accepted, written).await?;
        }
        self.device.finish(EndReason::UserStopped).await;
        let binding = self.capture.take().map(|capture| capture.binding);
        Ok(binding.unwrap_or_default())
    }

    /// A BINARY frame: a capture packet, decoded, heard and recorded; its ack is queued.
    async fn media(&mut self, frame: &[u8]) -> Result<(), End> {
        if frame.len() > MAX_MEDIA_BYTES {
            return Err(Refusal::too_large(format!(
                "a media frame has at most {MAX_MEDIA_BYTES} bytes, not {}",
                frame.len()
            ))
            .into());
        }
        let packet = capture_packet(frame).map_err(Refusal::invalid)?;
        let Some(capture) = &mut self.capture else {
            return Err(Refusal::invalid("no capture is open").into());
        };
        capture.accept(&packet).map_err(Refusal::invalid)?;
        let written = self
            .device
            .audio_durably(&packet.opus_payload)
            .await
            .map_err(Refusal::from)?;
        let accepted = CapturePacketAccepted {
            binding: packet.binding,
            sequence: packet.sequence,
        };
        self.acks.after(accepted, written);
        Ok(())
    }
}

/// Sends the ack of a packet now on disk.
async fn accept(
    socket: &mut WebSocket,
    accepted: CapturePacketAccepted,
    written: Result<(), String>,
) -> Result<(), End> {
    if let Err(error) = written {
        // Unacknowledged, the packet stays in the device's spool for its next connection.
        return Err(Refusal::internal(format!("cannot record audio: {error}")).into());
    }
    send(socket, ServerEvent::CapturePacketAccepted(accepted)).await
}
