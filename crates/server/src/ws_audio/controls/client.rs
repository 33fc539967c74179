//! What a device says: [`ClientControl`] and the messages its `event` holds.

use serde::{Deserialize, Serialize};

use super::{AudioSpec, CaptureCapabilities};
use crate::ws_audio::enums::{
    ButtonState, DataPurpose, DeliveryClass, DeviceKind, PlaybackState, ProcessingProfile,
    ProtocolErrorCode, StopReason,
};
use crate::ws_audio::proto_json::{is_default, or_default, uint64};
use crate::ws_audio::schema::{CaptureBinding, Id};

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

control! {
    /// What a device says, in a TEXT frame.
    ClientControl,
    /// The `event` oneof of a [`ClientControl`].
    ClientEvent {
        (hello, "hello", Hello, ClientHello),
        (start_capture, "startCapture", StartCapture, StartCapture),
        (stop_capture, "stopCapture", StopCapture, StopCapture),
        (voice_ready, "voiceReady", VoiceReady, VoiceReady),
        (playback_acknowledgement, "playbackAcknowledgement",
            PlaybackAcknowledgement, PlaybackAcknowledgement),
        (heartbeat, "heartbeat", Heartbeat, Heartbeat),
        (button_event, "buttonEvent", ButtonEvent, ButtonEvent),
    }
}
