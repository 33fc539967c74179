//! What the server says: [`ServerControl`] and the messages its `event` holds.

use serde::{Deserialize, Serialize};

use super::{AudioSpec, Heartbeat};
use crate::ws_audio::enums::{ProtocolErrorCode, StopReason};
use crate::ws_audio::proto_json::{is_default, or_default, uint64};
use crate::ws_audio::schema::{CaptureBinding, Duration, Id};

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

control! {
    /// What the server says, in a TEXT frame.
    ServerControl,
    /// The `event` oneof of a [`ServerControl`].
    ServerEvent {
        (hello, "hello", Hello, ServerHello),
        (capture_started, "captureStarted", CaptureStarted, CaptureStarted),
        (capture_stopped, "captureStopped", CaptureStopped, CaptureStopped),
        (playback_offer, "playbackOffer", PlaybackOffer, PlaybackOffer),
        (cancel_playback, "cancelPlayback", CancelPlayback, CancelPlayback),
        (heartbeat, "heartbeat", Heartbeat, Heartbeat),
        (error, "error", Error, ProtocolError),
        (capture_packet_accepted, "capturePacketAccepted",
            CapturePacketAccepted, CapturePacketAccepted),
        (transcript_update, "transcriptUpdate", TranscriptUpdate, TranscriptUpdate),
    }
}
