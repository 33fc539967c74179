//! What a control must hold beyond its shape, as the original server checks it: ids of 1 to
//! 255 characters, no UNSPECIFIED where a choice is needed, and an uplink the server decodes
//! (Opus, 16 kHz, mono, 20 or 60 ms packets). The first rule broken is the refusal's detail.

use super::controls::{AudioSpec, ClientControl, ClientEvent};
use super::enums::{AudioCodec, DeliveryClass};
use super::schema::{CaptureBinding, Id};

/// The longest id taken (an event id, a source id, a recovery batch id).
const MAX_ID: usize = 255;
/// The longest bearer token taken. The original takes 255 characters; our tokens and
/// future API keys may be longer, and the frame's 64 KiB bound the rest.
const MAX_TOKEN: usize = 4096;
/// The uplink: what devices send and the decoder takes.
pub const UPLINK_RATE_HZ: u32 = 16_000;
pub const UPLINK_FRAME_MS: [u64; 2] = [20, 60];

fn text_of_length(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.chars().count())
}

fn id(id: &Option<Id>, field: &str) -> Result<(), String> {
    match id {
        Some(id) if text_of_length(&id.value, MAX_ID) => Ok(()),
        _ => Err(format!("{field} must have 1 to {MAX_ID} characters")),
    }
}

fn binding(binding: &Option<CaptureBinding>) -> Result<(), String> {
    match binding {
        Some(binding) if text_of_length(binding.session(), MAX_ID) => Ok(()),
        Some(_) => Err(format!(
            "binding.capture_session_id must have 1 to {MAX_ID} characters"
        )),
        None => Err("binding is required".into()),
    }
}

fn chosen<T: Default + PartialEq>(value: &T, field: &str) -> Result<(), String> {
    if *value == T::default() {
        Err(format!("{field} must not be UNSPECIFIED"))
    } else {
        Ok(())
    }
}

/// An uplink the server decodes.
pub fn uplink(spec: &AudioSpec) -> Result<(), String> {
    if spec.codec != AudioCodec::Opus {
        return Err(format!(
            "the uplink must be AUDIO_CODEC_OPUS, not {}",
            spec.codec.as_str_name()
        ));
    }
    if spec.sample_rate_hz != UPLINK_RATE_HZ || spec.channel_count != 1 {
        return Err(format!(
            "the uplink must be {UPLINK_RATE_HZ} Hz mono, not {} Hz with {} channels",
            spec.sample_rate_hz, spec.channel_count
        ));
    }
    let millis = spec.frame_duration.as_ref().and_then(|d| d.whole_millis());
    match millis {
        Some(millis) if UPLINK_FRAME_MS.contains(&millis) => Ok(()),
        _ => Err("the uplink frame_duration must be 20 or 60 ms".into()),
    }
}

/// Checks a control from a device.
pub fn control(control: &ClientControl) -> Result<(), String> {
    id(&control.event_id, "event_id")?;
    if control.sent_at.is_none() {
        return Err("sent_at is required".into());
    }
    match &control.event {
        ClientEvent::Hello(hello) => {
            if !text_of_length(&hello.bearer_token, MAX_TOKEN) {
                return Err(format!(
                    "bearer_token must have 1 to {MAX_TOKEN} characters"
                ));
            }
            id(&hello.source_id, "source_id")?;
            chosen(&hello.device_kind, "device_kind")
        }
        ClientEvent::StartCapture(start) => {
            chosen(&start.processing_profile, "processing_profile")?;
            chosen(&start.data_purpose, "data_purpose")?;
            chosen(&start.delivery_class, "delivery_class")?;
            if start.delivery_class == DeliveryClass::Recovered
                && !text_of_length(&start.recovery_batch_id, MAX_ID)
            {
                return Err("a RECOVERED capture needs a recovery_batch_id".into());
            }
            match &start.audio_spec {
                Some(spec) => uplink(spec),
                None => Err("audio_spec is required".into()),
            }
        }
        ClientEvent::StopCapture(stop) => {
            binding(&stop.binding)?;
            chosen(&stop.reason, "reason")
        }
        ClientEvent::VoiceReady(ready) => binding(&ready.binding),
        ClientEvent::PlaybackAcknowledgement(ack) => {
            binding(&ack.binding)?;
            id(&ack.response_id, "response_id")?;
            chosen(&ack.state, "state")
        }
        ClientEvent::Heartbeat(_) => Ok(()),
        ClientEvent::ButtonEvent(button) => chosen(&button.state, "state"),
    }
}
