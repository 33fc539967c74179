//! What the server says: [`ServerControl`] and the messages its `event` holds.

use serde::{Deserialize, Serialize};

use super::{AudioSpec, Heartbeat};
use crate::ws_audio::enums::{ProtocolErrorCode, StopReason};
use crate::ws_audio::proto_json::message;
use crate::ws_audio::schema::{CaptureBinding, Duration, Id};

message! {
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct ServerHello {
        pub client_id "clientId": Option<Id>,
        pub connection_id "connectionId": Option<Id>,
    }
}

message! {
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct CaptureStarted {
        pub binding: Option<CaptureBinding>,
        pub audio_spec "audioSpec": Option<AudioSpec>,
    }
}

message! {
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct CaptureStopped {
        pub binding: Option<CaptureBinding>,
    }
}

message! {
    /// The packet `sequence` of `binding` is on disk: the device may drop its copy.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct CapturePacketAccepted {
        pub binding: Option<CaptureBinding>,
        pub sequence: u64,
    }
}

message! {
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct TranscriptUpdate {
        pub binding: Option<CaptureBinding>,
        pub text: String,
        pub is_final "isFinal": bool,
        pub confidence: f32,
        pub speaker_name "speakerName": String,
    }
}

message! {
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct PlaybackOffer {
        pub binding: Option<CaptureBinding>,
        pub turn_id "turnId": Option<Id>,
        pub response_id "responseId": Option<Id>,
        pub generation: u64,
        pub audio_spec "audioSpec": Option<AudioSpec>,
        pub duration: Option<Duration>,
        pub barge_in_allowed "bargeInAllowed": bool,
    }
}

message! {
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct CancelPlayback {
        pub binding: Option<CaptureBinding>,
        pub response_id "responseId": Option<Id>,
        pub generation: u64,
        pub reason: StopReason,
    }
}

message! {
    /// Why the server refused a message; the connection closes after it.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct ProtocolError {
        pub code: ProtocolErrorCode,
        pub detail: String,
        pub rejected_event_id "rejectedEventId": Option<Id>,
    }
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
