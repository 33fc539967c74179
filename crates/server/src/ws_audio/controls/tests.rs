//! The control messages read as proto3 JSON parsers read them and written as the original
//! server writes them; `validate` refuses what the original refuses.

use serde_json::{Value, json};

use super::*;
use crate::ws_audio::enums::{
    ButtonState, DeliveryClass, DeviceKind, ProcessingProfile, ProtocolErrorCode, StopReason,
};
use crate::ws_audio::schema::{CaptureBinding, Id, Timestamp};
use crate::ws_audio::validate;

fn hello_json() -> Value {
    json!({
        "event_id": {"value": "e1"},
        "sent_at": "2026-03-01T10:00:00.500Z",
        "hello": {
            "bearer_token": "token",
            "source_id": {"value": "pendant-1"},
            "device_kind": "DEVICE_KIND_OMI",
            "display_name": "Pendant",
            "supported_uplink": [{"codec": "AUDIO_CODEC_OPUS", "sample_rate_hz": 16000, "channel_count": 1, "frame_duration": "0.020s", "bitrate_bps": 24000}]
        }
    })
}

fn read(value: &Value) -> Result<ClientControl, String> {
    ClientControl::from_json(&value.to_string()).map_err(|e| e.to_string())
}

#[test]
fn a_hello_reads_with_proto_names_enum_names_and_durations() {
    let control = read(&hello_json()).unwrap();
    assert_eq!(control.event_id, Some(Id::new("e1")));
    assert_eq!(control.sent_at.unwrap().nanos, 500_000_000);
    let ClientEvent::Hello(hello) = &control.event else {
        panic!("a hello: {control:?}");
    };
    assert_eq!(hello.bearer_token, "token");
    assert_eq!(hello.device_kind, DeviceKind::Omi);
    assert_eq!(
        hello.supported_uplink[0],
        AudioSpec::opus(16_000, 20, 24_000)
    );
    validate::control(&control).unwrap();
}

#[test]
fn lower_camel_case_names_enum_numbers_and_64_bit_strings_are_taken_too() {
    let control = read(&json!({
        "eventId": {"value": "e2"},
        "sentAt": "2026-03-01T10:00:00Z",
        "startCapture": {
            "captureEpoch": "18446744073709551615",
            "processingProfile": 2,
            "dataPurpose": "DATA_PURPOSE_NORMAL_CAPTURE",
            "deliveryClass": "DELIVERY_CLASS_LIVE",
            "audioSpec": {"codec": 1, "sampleRateHz": "16000", "channelCount": 1, "frameDuration": "0.060s"},
            "recoveryBatchId": null
        }
    }))
    .unwrap();
    let ClientEvent::StartCapture(start) = &control.event else {
        panic!("a start: {control:?}");
    };
    assert_eq!(start.capture_epoch, u64::MAX);
    assert_eq!(start.processing_profile, ProcessingProfile::SourceNative);
    assert_eq!(start.delivery_class, DeliveryClass::Live);
    assert_eq!(start.audio_spec, Some(AudioSpec::opus(16_000, 60, 0)));
    validate::control(&control).unwrap();

    let heartbeat = read(&json!({"event_id": {"value": "e3"}, "sent_at": "2026-03-01T10:00:00Z", "heartbeat": {"monotonic_timestamp_us": 1234}})).unwrap();
    assert_eq!(
        heartbeat.event,
        ClientEvent::Heartbeat(Heartbeat {
            monotonic_timestamp_us: 1234
        })
    );
}

#[test]
fn unknown_fields_names_and_values_are_errors() {
    let mut top = hello_json();
    top["extra"] = json!(1);
    let mut nested = hello_json();
    nested["hello"]["colour"] = json!("red");
    let mut unknown_kind = hello_json();
    unknown_kind["hello"]["device_kind"] = json!("DEVICE_KIND_TOASTER");
    let mut unknown_number = hello_json();
    unknown_number["hello"]["device_kind"] = json!(99);
    let mut negative = hello_json();
    negative["hello"]["supported_uplink"][0]["sample_rate_hz"] = json!(-1);
    let mut bad_duration = hello_json();
    bad_duration["hello"]["supported_uplink"][0]["frame_duration"] = json!("20ms");
    let mut bad_time = hello_json();
    bad_time["sent_at"] = json!("noon");
    for (case, value) in [
        ("top", top),
        ("nested", nested),
        ("kind", unknown_kind),
        ("number", unknown_number),
        ("negative", negative),
        ("duration", bad_duration),
        ("time", bad_time),
    ] {
        assert!(read(&value).is_err(), "{case}: {value}");
    }
    let error = read(&json!({"event_id": {"value": "e"}, "bogus": {}})).unwrap_err();
    assert!(error.contains("unknown field `bogus`"), "{error}");
    let error = {
        let mut kind = hello_json();
        kind["hello"]["device_kind"] = json!("DEVICE_KIND_TOASTER");
        read(&kind).unwrap_err()
    };
    assert!(
        error.contains("unknown DeviceKind `DEVICE_KIND_TOASTER`"),
        "{error}"
    );
}

#[test]
fn a_control_holds_exactly_one_event() {
    let none = read(&json!({"event_id": {"value": "e"}, "sent_at": "2026-03-01T10:00:00Z"}));
    assert!(none.unwrap_err().contains("holds none"));
    let two = read(
        &json!({"event_id": {"value": "e"}, "sent_at": "2026-03-01T10:00:00Z", "heartbeat": {}, "button_event": {"state": "BUTTON_STATE_SINGLE_PRESS"}}),
    );
    assert!(two.unwrap_err().contains("holds several"));
}

#[test]
fn server_controls_are_written_with_proto_names_and_without_defaults() {
    let binding = CaptureBinding {
        capture_session_id: Some(Id::new("s1")),
        voice_session_id: None,
        capture_epoch: 0,
    };
    let control = ServerControl {
        event_id: Some(Id::new("e9")),
        sent_at: Some(Timestamp {
            seconds: 1_772_359_200,
            nanos: 0,
        }),
        event: ServerEvent::CapturePacketAccepted(CapturePacketAccepted {
            binding: Some(binding),
            sequence: 12,
        }),
    };
    let written: Value = serde_json::from_str(&control.to_json()).unwrap();
    assert_eq!(
        written,
        json!({
            "event_id": {"value": "e9"},
            "sent_at": "2026-03-01T10:00:00Z",
            "capture_packet_accepted": {"binding": {"capture_session_id": {"value": "s1"}}, "sequence": "12"}
        })
    );
    assert_eq!(
        ServerControl::from_json(&control.to_json()).unwrap(),
        control
    );

    let error = ServerControl::now(ServerEvent::Error(ProtocolError {
        code: ProtocolErrorCode::AuthenticationFailed,
        detail: "authentication failed".into(),
        rejected_event_id: None,
    }));
    let written: Value = serde_json::from_str(&error.to_json()).unwrap();
    assert_eq!(
        written["error"],
        json!({"code": "PROTOCOL_ERROR_CODE_AUTHENTICATION_FAILED", "detail": "authentication failed"})
    );
}

#[test]
fn client_controls_survive_the_json_round_trip() {
    for event in [
        ClientEvent::Hello(ClientHello {
            bearer_token: "t".into(),
            source_id: Some(Id::new("src")),
            device_kind: DeviceKind::Havpe,
            supported_uplink: vec![AudioSpec::opus(16_000, 20, 24_000)],
            ..ClientHello::default()
        }),
        ClientEvent::StopCapture(StopCapture {
            binding: Some(CaptureBinding {
                capture_session_id: Some(Id::new("s")),
                voice_session_id: None,
                capture_epoch: 7,
            }),
            reason: StopReason::UserRequested,
        }),
        ClientEvent::ButtonEvent(ButtonEvent {
            state: ButtonState::DoublePress,
        }),
        ClientEvent::Heartbeat(Heartbeat::default()),
    ] {
        let control = ClientControl::now(event);
        let text = control.to_json();
        assert_eq!(ClientControl::from_json(&text).unwrap(), control, "{text}");
    }
}

#[test]
fn validation_refuses_what_the_original_refuses() {
    let check = |value: Value| read(&value).map(|c| validate::control(&c));
    let start = |spec: Value| {
        json!({"event_id": {"value": "e"}, "sent_at": "2026-03-01T10:00:00Z", "start_capture": {
            "processing_profile": "PROCESSING_PROFILE_SOURCE_NATIVE",
            "data_purpose": "DATA_PURPOSE_NORMAL_CAPTURE",
            "delivery_class": "DELIVERY_CLASS_LIVE",
            "audio_spec": spec,
        }})
    };
    let opus = |rate: u32, channels: u32, frame: &str| json!({"codec": "AUDIO_CODEC_OPUS", "sample_rate_hz": rate, "channel_count": channels, "frame_duration": frame});
    assert_eq!(check(start(opus(16_000, 1, "0.020s"))), Ok(Ok(())));
    for (spec, why) in [
        (opus(16_000, 1, "0.040s"), "20 or 60 ms"),
        (opus(16_000, 1, "0.0205s"), "20 or 60 ms"),
        (opus(48_000, 1, "0.020s"), "16000 Hz mono"),
        (opus(16_000, 2, "0.020s"), "16000 Hz mono"),
        (
            json!({"codec": "AUDIO_CODEC_PCM_S16LE", "sample_rate_hz": 16000, "channel_count": 1, "frame_duration": "0.020s"}),
            "AUDIO_CODEC_OPUS",
        ),
    ] {
        let refused = check(start(spec)).unwrap().unwrap_err();
        assert!(refused.contains(why), "{refused}");
    }
    let mut recovered = start(opus(16_000, 1, "0.020s"));
    recovered["start_capture"]["delivery_class"] = json!("DELIVERY_CLASS_RECOVERED");
    assert!(
        check(recovered)
            .unwrap()
            .unwrap_err()
            .contains("recovery_batch_id")
    );
    let mut unprofiled = start(opus(16_000, 1, "0.020s"));
    unprofiled["start_capture"]
        .as_object_mut()
        .unwrap()
        .remove("processing_profile");
    assert_eq!(
        check(unprofiled).unwrap().unwrap_err(),
        "processing_profile must not be UNSPECIFIED"
    );

    let mut no_event_id = hello_json();
    no_event_id["event_id"] = json!({"value": ""});
    assert!(
        check(no_event_id)
            .unwrap()
            .unwrap_err()
            .starts_with("event_id")
    );
    let mut no_time = hello_json();
    no_time.as_object_mut().unwrap().remove("sent_at");
    assert_eq!(check(no_time).unwrap().unwrap_err(), "sent_at is required");
    let mut no_kind = hello_json();
    no_kind["hello"]["device_kind"] = json!("DEVICE_KIND_UNSPECIFIED");
    assert!(
        check(no_kind)
            .unwrap()
            .unwrap_err()
            .starts_with("device_kind")
    );
    let stop = json!({"event_id": {"value": "e"}, "sent_at": "2026-03-01T10:00:00Z", "stop_capture": {"reason": "STOP_REASON_USER_REQUESTED"}});
    assert_eq!(check(stop).unwrap().unwrap_err(), "binding is required");
    let press =
        json!({"event_id": {"value": "e"}, "sent_at": "2026-03-01T10:00:00Z", "button_event": {}});
    assert!(check(press).unwrap().unwrap_err().starts_with("state"));
}
