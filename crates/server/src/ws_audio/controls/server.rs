//! What the server says: [`ServerControl`] and the messages its `event` holds.

use serde::{Deserialize, Serialize};

use super::{AudioSpec, Heartbeat, exactly_one};
use crate::ws_audio::enums::{ProtocolErrorCode, StopReason};
use crate::ws_audio::proto_json::{is_default, or_default, uint64};
use crate::ws_audio::schema::{CaptureBinding, Duration, Id, Timestamp};

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
