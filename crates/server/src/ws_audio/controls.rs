//! The JSON side of `chronicle.audio.v2`: [`ClientControl`] and [`ServerControl`], one per
//! TEXT frame, in proto3 JSON with the field names of `proto/chronicle_audio_v2.proto`.
//!
//! Read as a proto3 JSON parser reads (`proto_json.rs`): lowerCamelCase names are taken too,
//! enums by name or number, 64-bit integers as strings or numbers; unknown fields are refused,
//! as the original server refuses them. Written as the original writes: proto field names,
//! fields at their default left out. What each message must hold beyond its shape is checked
//! in `validate.rs`.

use serde::{Deserialize, Serialize};

use super::enums::{
    AudioCodec, ButtonState, DataPurpose, DeliveryClass, DeviceKind, DuplexMode, InputRoute,
    OutputRoute, PlaybackState, ProcessingProfile, ProtocolErrorCode, StopReason,
};
use super::proto_json::{is_default, or_default, uint32, uint64};
use super::schema::{CaptureBinding, Duration, Id, Timestamp};

/// The largest TEXT frame taken: one control message.
pub const MAX_CONTROL_BYTES: usize = 64 * 1024;

/// An audio format.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioSpec {
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub codec: AudioCodec,
    #[serde(
        default,
        with = "uint32",
        skip_serializing_if = "is_default",
        alias = "sampleRateHz"
    )]
    pub sample_rate_hz: u32,
    #[serde(
        default,
        with = "uint32",
        skip_serializing_if = "is_default",
        alias = "channelCount"
    )]
    pub channel_count: u32,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "frameDuration"
    )]
    pub frame_duration: Option<Duration>,
    #[serde(
        default,
        with = "uint32",
        skip_serializing_if = "is_default",
        alias = "bitrateBps"
    )]
    pub bitrate_bps: u32,
}

impl AudioSpec {
    /// Opus, mono, at `rate` Hz in packets of `frame_ms` milliseconds.
    pub fn opus(rate: u32, frame_ms: u32, bitrate_bps: u32) -> Self {
        Self {
            codec: AudioCodec::Opus,
            sample_rate_hz: rate,
            channel_count: 1,
            frame_duration: Some(Duration::from_millis(frame_ms)),
            bitrate_bps,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffectStatus {
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub requested: bool,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub available: bool,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub enabled: bool,
}

/// What the device's audio path can do.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureCapabilities {
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default",
        alias = "duplexMode"
    )]
    pub duplex_mode: DuplexMode,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default",
        alias = "inputRoute"
    )]
    pub input_route: InputRoute,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default",
        alias = "outputRoute"
    )]
    pub output_route: OutputRoute,
    #[serde(
        default,
        with = "uint32",
        skip_serializing_if = "is_default",
        alias = "nativeSampleRateHz"
    )]
    pub native_sample_rate_hz: u32,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "acousticEchoCancellation"
    )]
    pub acoustic_echo_cancellation: Option<EffectStatus>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "noiseSuppression"
    )]
    pub noise_suppression: Option<EffectStatus>,
}

/// The first message of a connection.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientHello {
    /// A login token, as `/ws?token=` takes.
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default",
        alias = "bearerToken"
    )]
    pub bearer_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "sourceId")]
    pub source_id: Option<Id>,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default",
        alias = "deviceKind"
    )]
    pub device_kind: DeviceKind,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default",
        alias = "displayName"
    )]
    pub display_name: String,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default",
        alias = "supportedUplink"
    )]
    pub supported_uplink: Vec<AudioSpec>,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default",
        alias = "supportedDownlink"
    )]
    pub supported_downlink: Vec<AudioSpec>,
}

/// Never shows the token.
impl std::fmt::Debug for ClientHello {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHello")
            .field("source_id", &self.source_id)
            .field("device_kind", &self.device_kind)
            .field("display_name", &self.display_name)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartCapture {
    #[serde(
        default,
        with = "uint64",
        skip_serializing_if = "is_default",
        alias = "captureEpoch"
    )]
    pub capture_epoch: u64,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default",
        alias = "processingProfile"
    )]
    pub processing_profile: ProcessingProfile,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default",
        alias = "dataPurpose"
    )]
    pub data_purpose: DataPurpose,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default",
        alias = "deliveryClass"
    )]
    pub delivery_class: DeliveryClass,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "audioSpec")]
    pub audio_spec: Option<AudioSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<CaptureCapabilities>,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default",
        alias = "recoveryBatchId"
    )]
    pub recovery_batch_id: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "memorySpaceId"
    )]
    pub memory_space_id: Option<Id>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopCapture {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<CaptureBinding>,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub reason: StopReason,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceReady {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<CaptureBinding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<CaptureCapabilities>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybackAcknowledgement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<CaptureBinding>,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "responseId")]
    pub response_id: Option<Id>,
    #[serde(default, with = "uint64", skip_serializing_if = "is_default")]
    pub generation: u64,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub state: PlaybackState,
    #[serde(
        default,
        with = "uint64",
        skip_serializing_if = "is_default",
        alias = "monotonicTimestampUs"
    )]
    pub monotonic_timestamp_us: u64,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default",
        alias = "errorCode"
    )]
    pub error_code: ProtocolErrorCode,
}

/// Sent by the device, echoed by the server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    #[serde(
        default,
        with = "uint64",
        skip_serializing_if = "is_default",
        alias = "monotonicTimestampUs"
    )]
    pub monotonic_timestamp_us: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonEvent {
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub state: ButtonState,
}

/// What a device says, in a TEXT frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ClientControlFields", into = "ClientControlFields")]
pub struct ClientControl {
    pub event_id: Option<Id>,
    pub sent_at: Option<Timestamp>,
    pub event: ClientEvent,
}

/// The `event` oneof of a [`ClientControl`].
#[derive(Clone, Debug, PartialEq)]
pub enum ClientEvent {
    Hello(ClientHello),
    StartCapture(StartCapture),
    StopCapture(StopCapture),
    VoiceReady(VoiceReady),
    PlaybackAcknowledgement(PlaybackAcknowledgement),
    Heartbeat(Heartbeat),
    ButtonEvent(ButtonEvent),
}

impl ClientControl {
    /// A control with a fresh event id, sent now.
    pub fn now(event: ClientEvent) -> Self {
        Self {
            event_id: Some(Id::new(uuid::Uuid::new_v4().to_string())),
            sent_at: Some(Timestamp::now()),
            event,
        }
    }

    /// Reads one TEXT frame.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The TEXT frame for this control.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A [`ClientControl`] as JSON has it: each oneof member a field of its own.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientControlFields {
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "eventId")]
    event_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "sentAt")]
    sent_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hello: Option<ClientHello>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "startCapture"
    )]
    start_capture: Option<StartCapture>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "stopCapture"
    )]
    stop_capture: Option<StopCapture>,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "voiceReady")]
    voice_ready: Option<VoiceReady>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "playbackAcknowledgement"
    )]
    playback_acknowledgement: Option<PlaybackAcknowledgement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    heartbeat: Option<Heartbeat>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "buttonEvent"
    )]
    button_event: Option<ButtonEvent>,
}

impl TryFrom<ClientControlFields> for ClientControl {
    type Error = String;

    fn try_from(fields: ClientControlFields) -> Result<Self, String> {
        let events = [
            fields.hello.map(ClientEvent::Hello),
            fields.start_capture.map(ClientEvent::StartCapture),
            fields.stop_capture.map(ClientEvent::StopCapture),
            fields.voice_ready.map(ClientEvent::VoiceReady),
            fields
                .playback_acknowledgement
                .map(ClientEvent::PlaybackAcknowledgement),
            fields.heartbeat.map(ClientEvent::Heartbeat),
            fields.button_event.map(ClientEvent::ButtonEvent),
        ];
        let event = exactly_one(events, "ClientControl")?;
        Ok(Self {
            event_id: fields.event_id,
            sent_at: fields.sent_at,
            event,
        })
    }
}

impl From<ClientControl> for ClientControlFields {
    fn from(control: ClientControl) -> Self {
        let mut fields = ClientControlFields {
            event_id: control.event_id,
            sent_at: control.sent_at,
            ..Self::default()
        };
        match control.event {
            ClientEvent::Hello(event) => fields.hello = Some(event),
            ClientEvent::StartCapture(event) => fields.start_capture = Some(event),
            ClientEvent::StopCapture(event) => fields.stop_capture = Some(event),
            ClientEvent::VoiceReady(event) => fields.voice_ready = Some(event),
            ClientEvent::PlaybackAcknowledgement(event) => {
                fields.playback_acknowledgement = Some(event)
            }
            ClientEvent::Heartbeat(event) => fields.heartbeat = Some(event),
            ClientEvent::ButtonEvent(event) => fields.button_event = Some(event),
        }
        fields
    }
}

/// The one member a oneof holds.
fn exactly_one<T, const N: usize>(members: [Option<T>; N], message: &str) -> Result<T, String> {
    let mut present = members.into_iter().flatten();
    match (present.next(), present.next()) {
        (Some(member), None) => Ok(member),
        (None, _) => Err(format!(
            "a {message} must hold one event; this one holds none"
        )),
        (Some(_), Some(_)) => Err(format!(
            "a {message} must hold one event; this one holds several"
        )),
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerHello {
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "clientId")]
    pub client_id: Option<Id>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "connectionId"
    )]
    pub connection_id: Option<Id>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureStarted {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<CaptureBinding>,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "audioSpec")]
    pub audio_spec: Option<AudioSpec>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureStopped {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<CaptureBinding>,
}

/// The packet `sequence` of `binding` is on disk: the device may drop its copy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapturePacketAccepted {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<CaptureBinding>,
    #[serde(default, with = "uint64", skip_serializing_if = "is_default")]
    pub sequence: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<CaptureBinding>,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub text: String,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default",
        alias = "isFinal"
    )]
    pub is_final: bool,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub confidence: f32,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default",
        alias = "speakerName"
    )]
    pub speaker_name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybackOffer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<CaptureBinding>,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "turnId")]
    pub turn_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "responseId")]
    pub response_id: Option<Id>,
    #[serde(default, with = "uint64", skip_serializing_if = "is_default")]
    pub generation: u64,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "audioSpec")]
    pub audio_spec: Option<AudioSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default",
        alias = "bargeInAllowed"
    )]
    pub barge_in_allowed: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelPlayback {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<CaptureBinding>,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "responseId")]
    pub response_id: Option<Id>,
    #[serde(default, with = "uint64", skip_serializing_if = "is_default")]
    pub generation: u64,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub reason: StopReason,
}

/// Why the server refused a message; the connection closes after it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolError {
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub code: ProtocolErrorCode,
    #[serde(
        default,
        deserialize_with = "or_default",
        skip_serializing_if = "is_default"
    )]
    pub detail: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "rejectedEventId"
    )]
    pub rejected_event_id: Option<Id>,
}

/// What the server says, in a TEXT frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ServerControlFields", into = "ServerControlFields")]
pub struct ServerControl {
    pub event_id: Option<Id>,
    pub sent_at: Option<Timestamp>,
    pub event: ServerEvent,
}

/// The `event` oneof of a [`ServerControl`].
#[derive(Clone, Debug, PartialEq)]
pub enum ServerEvent {
    Hello(ServerHello),
    CaptureStarted(CaptureStarted),
    CaptureStopped(CaptureStopped),
    PlaybackOffer(PlaybackOffer),
    CancelPlayback(CancelPlayback),
    Heartbeat(Heartbeat),
    Error(ProtocolError),
    CapturePacketAccepted(CapturePacketAccepted),
    TranscriptUpdate(TranscriptUpdate),
}

impl ServerControl {
    /// A control with a fresh event id, sent now.
    pub fn now(event: ServerEvent) -> Self {
        Self {
            event_id: Some(Id::new(uuid::Uuid::new_v4().to_string())),
            sent_at: Some(Timestamp::now()),
            event,
        }
    }

    /// Reads one TEXT frame.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The TEXT frame for this control.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A [`ServerControl`] as JSON has it.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerControlFields {
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "eventId")]
    event_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "sentAt")]
    sent_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hello: Option<ServerHello>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "captureStarted"
    )]
    capture_started: Option<CaptureStarted>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "captureStopped"
    )]
    capture_stopped: Option<CaptureStopped>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "playbackOffer"
    )]
    playback_offer: Option<PlaybackOffer>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "cancelPlayback"
    )]
    cancel_playback: Option<CancelPlayback>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    heartbeat: Option<Heartbeat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<ProtocolError>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "capturePacketAccepted"
    )]
    capture_packet_accepted: Option<CapturePacketAccepted>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "transcriptUpdate"
    )]
    transcript_update: Option<TranscriptUpdate>,
}

impl TryFrom<ServerControlFields> for ServerControl {
    type Error = String;

    fn try_from(fields: ServerControlFields) -> Result<Self, String> {
        let events = [
            fields.hello.map(ServerEvent::Hello),
            fields.capture_started.map(ServerEvent::CaptureStarted),
            fields.capture_stopped.map(ServerEvent::CaptureStopped),
            fields.playback_offer.map(ServerEvent::PlaybackOffer),
            fields.cancel_playback.map(ServerEvent::CancelPlayback),
            fields.heartbeat.map(ServerEvent::Heartbeat),
            fields.error.map(ServerEvent::Error),
            fields
                .capture_packet_accepted
                .map(ServerEvent::CapturePacketAccepted),
            fields.transcript_update.map(ServerEvent::TranscriptUpdate),
        ];
        let event = exactly_one(events, "ServerControl")?;
        Ok(Self {
            event_id: fields.event_id,
            sent_at: fields.sent_at,
            event,
        })
    }
}

impl From<ServerControl> for ServerControlFields {
    fn from(control: ServerControl) -> Self {
        let mut fields = ServerControlFields {
            event_id: control.event_id,
            sent_at: control.sent_at,
            ..Self::default()
        };
        match control.event {
            ServerEvent::Hello(event) => fields.hello = Some(event),
            ServerEvent::CaptureStarted(event) => fields.capture_started = Some(event),
            ServerEvent::CaptureStopped(event) => fields.capture_stopped = Some(event),
            ServerEvent::PlaybackOffer(event) => fields.playback_offer = Some(event),
            ServerEvent::CancelPlayback(event) => fields.cancel_playback = Some(event),
            ServerEvent::Heartbeat(event) => fields.heartbeat = Some(event),
            ServerEvent::Error(event) => fields.error = Some(event),
            ServerEvent::CapturePacketAccepted(event) => {
                fields.capture_packet_accepted = Some(event)
            }
            ServerEvent::TranscriptUpdate(event) => fields.transcript_update = Some(event),
        }
        fields
    }
}

#[cfg(test)]
mod tests;
