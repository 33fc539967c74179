//! What a device says: [`ClientControl`] and the messages its `event` holds.

use serde::{Deserialize, Serialize};

use super::{AudioSpec, CaptureCapabilities};
use crate::ws_audio::enums::{
    ButtonState, DataPurpose, DeliveryClass, DeviceKind, PlaybackState, ProcessingProfile,
    ProtocolErrorCode, StopReason,
};
use crate::ws_audio::proto_json::message;
use crate::ws_audio::schema::{CaptureBinding, Id};

message! {
    /// The first message of a connection.
    #[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct ClientHello {
        /// A login token, as `/ws?token=` takes.
        pub bearer_token "bearerToken": String,
        pub source_id "sourceId": Option<Id>,
        pub device_kind "deviceKind": DeviceKind,
        pub display_name "displayName": String,
        pub supported_uplink "supportedUplink": Vec<AudioSpec>,
        pub supported_downlink "supportedDownlink": Vec<AudioSpec>,
    }
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

message! {
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct StartCapture {
        pub capture_epoch "captureEpoch": u64,
        pub processing_profile "processingProfile": ProcessingProfile,
        pub data_purpose "dataPurpose": DataPurpose,
        pub delivery_class "deliveryClass": DeliveryClass,
        pub audio_spec "audioSpec": Option<AudioSpec>,
        pub capabilities: Option<CaptureCapabilities>,
        pub recovery_batch_id "recoveryBatchId": String,
        pub memory_space_id "memorySpaceId": Option<Id>,
    }
}

message! {
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct StopCapture {
        pub binding: Option<CaptureBinding>,
        pub reason: StopReason,
    }
}

message! {
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct VoiceReady {
        pub binding: Option<CaptureBinding>,
        pub capabilities: Option<CaptureCapabilities>,
    }
}

message! {
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct PlaybackAcknowledgement {
        pub binding: Option<CaptureBinding>,
        pub response_id "responseId": Option<Id>,
        pub generation: u64,
        pub state: PlaybackState,
        pub monotonic_timestamp_us "monotonicTimestampUs": u64,
        pub error_code "errorCode": ProtocolErrorCode,
    }
}

message! {
    /// Sent by the device, echoed by the server.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Heartbeat {
        pub monotonic_timestamp_us "monotonicTimestampUs": u64,
    }
}

message! {
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct ButtonEvent {
        pub state: ButtonState,
    }
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
