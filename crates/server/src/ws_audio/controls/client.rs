//! What a device says: [`ClientControl`] and the messages its `event` holds.

use serde::{Deserialize, Serialize};

use super::{AudioSpec, CaptureCapabilities, exactly_one};
use crate::ws_audio::enums::{
    ButtonState, DataPurpose, DeliveryClass, DeviceKind, PlaybackState, ProcessingProfile,
    ProtocolErrorCode, StopReason,
};
use crate::ws_audio::proto_json::{is_default, or_default, uint64};
use crate::ws_audio::schema::{CaptureBinding, Id, Timestamp};

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
