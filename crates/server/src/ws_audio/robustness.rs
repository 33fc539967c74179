//! Property tests: nothing a `chronicle.audio.v2` client sends makes the server's parsing
//! panic, and what it takes it takes as the rules say.
//!
//! - Any TEXT frame is a control or an error, and a control that passes `validate` writes
//!   back to JSON that reads as the same control.
//! - Any BINARY frame is a capture packet or an error; a packet taken from bytes encodes back
//!   to a frame that decodes to it.
//! - Any sequence of packets is taken by a [`Capture`] exactly when a small model says: the
//!   capture's binding and class, a sequence above the last taken, and a plausible payload.

use proptest::prelude::*;

use super::capture::{Capture, capture_packet};
use super::controls::ClientControl;
use super::enums::DeliveryClass;
use super::schema::{CaptureBinding, CaptureMediaPacket, Id, Media, MediaEnvelope, Timestamp};
use super::validate;

/// JSON-ish text: real control shapes with mangled parts, and noise.
fn control_text() -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec![
        "hello",
        "start_capture",
        "stopCapture",
        "heartbeat",
        "button_event",
        "bogus",
    ]);
    let values = prop::sample::select(vec![
        "{}",
        "null",
        "1",
        "\"x\"",
        "[]",
        "{\"state\":\"BUTTON_STATE_LONG_PRESS\"}",
        "{\"monotonic_timestamp_us\":\"18446744073709551616\"}",
        "{\"state\":-1}",
        "{\"audio_spec\":{\"frame_duration\":\"0.020s\",\"codec\":1}}",
    ]);
    prop_oneof![
        (names, values, any::<bool>()).prop_map(|(name, value, stamped)| {
            let stamp = if stamped {
                "\"event_id\":{\"value\":\"e\"},\"sent_at\":\"2026-01-01T00:00:00Z\","
            } else {
                ""
            };
            format!("{{{stamp}\"{name}\":{value}}}")
        }),
        ".{0,120}",
    ]
}

fn binding(session: &str, epoch: u64) -> CaptureBinding {
    CaptureBinding {
        capture_session_id: Some(Id::new(session)),
        voice_session_id: None,
        capture_epoch: epoch,
    }
}

/// Packets mostly of the open capture, some of another session, epoch or class.
fn packet() -> impl Strategy<Value = CaptureMediaPacket> {
    (
        prop::sample::select(vec!["s1", "s1", "s1", "s2"]),
        prop::sample::select(vec![0u64, 0, 0, 1]),
        0u64..12,
        prop::sample::select(vec![1i32, 1, 1, 2, 0, 7]),
        prop::collection::vec(any::<u8>(), 0..8),
        any::<bool>(),
    )
        .prop_map(
            |(session, epoch, sequence, class, payload, timed)| CaptureMediaPacket {
                binding: Some(binding(session, epoch)),
                sequence,
                captured_at: timed.then(Timestamp::now),
                monotonic_offset_us: 0,
                delivery_class: class,
                opus_payload: payload,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_a_control_or_an_error(text in control_text()) {
        if let Ok(control) = ClientControl::from_json(&text) {
            let _ = validate::control(&control);
            let again = ClientControl::from_json(&control.to_json());
            prop_assert_eq!(again.ok(), Some(control));
        }
    }

    #[test]
    fn any_bytes_are_a_capture_packet_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(packet) = capture_packet(&bytes) {
            let frame = MediaEnvelope { media: Some(Media::Capture(packet.clone())) }.to_bytes();
            prop_assert_eq!(capture_packet(&frame), Ok(packet));
        }
    }

    #[test]
    fn packets_are_taken_exactly_as_the_rules_say(packets in prop::collection::vec(packet(), 1..16)) {
        let mut capture = Capture::new(binding("s1", 0), DeliveryClass::Live);
        let mut last: Option<u64> = None;
        for packet in packets {
            let expected = packet.delivery_class == DeliveryClass::Live as i32
                && last.is_none_or(|last| packet.sequence > last)
                && packet.binding == Some(binding("s1", 0))
                && packet.captured_at.is_some()
                && !packet.opus_payload.is_empty()
                && !packet.opus_payload.starts_with(b"OggS");
            prop_assert_eq!(capture.accept(&packet).is_ok(), expected, "{:?}", packet);
            if expected {
                last = Some(packet.sequence);
            }
        }
    }
}
