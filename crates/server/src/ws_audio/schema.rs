//! The binary side of `chronicle.audio.v2`: the [`MediaEnvelope`] each BINARY frame holds,
//! with prost's derive and the field numbers of `proto/chronicle_audio_v2.proto` (no code is
//! generated), and the messages the JSON controls share with it ([`Id`], [`CaptureBinding`],
//! and, from `well_known.rs`, [`Timestamp`] and [`Duration`]).

use serde::{Deserialize, Serialize};

use super::enums::DeliveryClass;
use super::proto_json::message;
pub use super::well_known::{Duration, Timestamp};

/// The largest BINARY frame taken: one envelope.
pub const MAX_MEDIA_BYTES: usize = 4 * 1024;
/// The largest raw Opus packet taken.
pub const MAX_OPUS_PACKET_BYTES: usize = 1500;

message! {
    /// Every identifier message of the protocol (`EventId`, `ClientId`, `CaptureSessionId`,
    /// …): one string, `{"value": "…"}` in JSON, field 1 in binary.
    #[derive(Clone, PartialEq, Eq, Hash, prost::Message, Serialize, Deserialize)]
    pub struct Id {
        #[prost(string, tag = "1")]
        pub value: String,
    }
}

impl Id {
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
        }
    }
}

message! {
    /// Names one capture; the server gives it in `capture_started`, and every packet and
    /// control about the capture carries it back unchanged.
    #[derive(Clone, PartialEq, Eq, prost::Message, Serialize, Deserialize)]
    pub struct CaptureBinding {
        #[prost(message, optional, tag = "1")]
        pub capture_session_id "captureSessionId": Option<Id>,
        #[prost(message, optional, tag = "2")]
        pub voice_session_id "voiceSessionId": Option<Id>,
        #[prost(uint64, tag = "3")]
        pub capture_epoch "captureEpoch": u64,
    }
}

impl CaptureBinding {
    /// The capture session's id (empty when absent).
    pub fn session(&self) -> &str {
        self.capture_session_id.as_ref().map_or("", |id| &id.value)
    }

    /// The voice session's id (empty when absent: Chronicle opens none).
    pub fn voice(&self) -> &str {
        self.voice_session_id.as_ref().map_or("", |id| &id.value)
    }
}

/// One capture packet: a raw Opus packet of the capture `binding`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CaptureMediaPacket {
    #[prost(message, optional, tag = "1")]
    pub binding: Option<CaptureBinding>,
    /// Strictly increasing within a capture.
    #[prost(uint64, tag = "2")]
    pub sequence: u64,
    #[prost(message, optional, tag = "3")]
    pub captured_at: Option<Timestamp>,
    /// Microseconds since the capture started.
    #[prost(uint64, tag = "4")]
    pub monotonic_offset_us: u64,
    #[prost(enumeration = "DeliveryClass", tag = "5")]
    pub delivery_class: i32,
    #[prost(bytes = "vec", tag = "6")]
    pub opus_payload: Vec<u8>,
}

/// One playback packet (server to device; Chronicle sends none).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PlaybackMediaPacket {
    #[prost(message, optional, tag = "1")]
    pub response_id: Option<Id>,
    #[prost(uint64, tag = "2")]
    pub generation: u64,
    #[prost(uint64, tag = "3")]
    pub sequence: u64,
    #[prost(bool, tag = "4")]
    pub final_packet: bool,
    #[prost(bytes = "vec", tag = "5")]
    pub opus_payload: Vec<u8>,
}

/// What a BINARY frame holds: one packet.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MediaEnvelope {
    #[prost(oneof = "Media", tags = "1, 2")]
    pub media: Option<Media>,
}

/// The packet in a [`MediaEnvelope`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Media {
    #[prost(message, tag = "1")]
    Capture(CaptureMediaPacket),
    #[prost(message, tag = "2")]
    Playback(PlaybackMediaPacket),
}

impl MediaEnvelope {
    /// The envelope in protobuf binary, as a BINARY frame carries it.
    pub fn to_bytes(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(self)
    }

    /// The envelope in a BINARY frame.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, prost::DecodeError> {
        prost::Message::decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet() -> MediaEnvelope {
        MediaEnvelope {
            media: Some(Media::Capture(CaptureMediaPacket {
                binding: Some(CaptureBinding {
                    capture_session_id: Some(Id::new("session-1")),
                    voice_session_id: None,
                    capture_epoch: 3,
                }),
                sequence: 41,
                captured_at: Some(Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 5,
                }),
                monotonic_offset_us: 820_000,
                delivery_class: DeliveryClass::Live as i32,
                opus_payload: vec![0x78, 1, 2, 3],
            })),
        }
    }

    #[test]
    fn a_media_envelope_survives_the_binary_round_trip() {
        let envelope = packet();
        let bytes = envelope.to_bytes();
        assert_eq!(MediaEnvelope::from_bytes(&bytes).unwrap(), envelope);
        // The field numbers of the proto: envelope field 1 (capture, length-delimited), then
        // the packet's field 1 (binding, length-delimited).
        assert_eq!(bytes[0], 1 << 3 | 2);
        assert_eq!(bytes[2], 1 << 3 | 2);
        let Some(Media::Capture(capture)) = MediaEnvelope::from_bytes(&bytes).unwrap().media else {
            panic!("a capture packet");
        };
        assert_eq!(capture.delivery_class(), DeliveryClass::Live);
    }

    #[test]
    fn bytes_as_another_encoder_writes_them_decode_field_by_field() {
        // MediaEnvelope{capture{sequence: 7, delivery_class: RECOVERED, opus_payload: [9]}},
        // written by hand from the proto's field numbers.
        let capture = [2 << 3, 7, 5 << 3, 2, 6 << 3 | 2, 1, 9];
        let mut bytes = vec![1 << 3 | 2, capture.len() as u8];
        bytes.extend(capture);
        let Some(Media::Capture(packet)) = MediaEnvelope::from_bytes(&bytes).unwrap().media else {
            panic!("a capture packet");
        };
        assert_eq!(packet.sequence, 7);
        assert_eq!(packet.delivery_class(), DeliveryClass::Recovered);
        assert_eq!(packet.opus_payload, [9]);
        assert!(MediaEnvelope::from_bytes(&[0xff, 0xff]).is_err());
    }

    #[test]
    fn whole_milliseconds_are_read_from_durations() {
        assert_eq!(Duration::from_millis(20).whole_millis(), Some(20));
        assert_eq!(Duration::from_millis(1500).whole_millis(), Some(1500));
        let odd = Duration {
            seconds: 0,
            nanos: 20_000_001,
        };
        assert_eq!(odd.whole_millis(), None);
    }
}
