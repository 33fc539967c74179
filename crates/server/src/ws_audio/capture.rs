//! One capture's rules for its packets, kept pure so they are tested without a socket: the
//! packet must come from a BINARY frame holding a capture envelope, name the capture's
//! binding, keep its delivery class, and come after the last packet in sequence.

use super::enums::DeliveryClass;
use super::schema::{
    CaptureBinding, CaptureMediaPacket, MAX_OPUS_PACKET_BYTES, Media, MediaEnvelope,
};

/// An open capture, as `capture_started` named it.
#[derive(Debug)]
pub struct Capture {
    pub binding: CaptureBinding,
    pub delivery_class: DeliveryClass,
    /// The last packet's sequence; none before the first.
    last_sequence: Option<u64>,
}

impl Capture {
    pub fn new(binding: CaptureBinding, delivery_class: DeliveryClass) -> Self {
        Self {
            binding,
            delivery_class,
            last_sequence: None,
        }
    }

    /// Whether `binding` names this capture exactly: its session, its epoch and its voice
    /// session (none, as Chronicle opens none).
    pub fn check_binding(&self, binding: Option<&CaptureBinding>) -> Result<(), String> {
        let Some(binding) = binding else {
            return Err("binding is required".into());
        };
        if binding.session() != self.binding.session() {
            return Err(format!(
                "stale session binding: `{}` is not the open capture",
                binding.session()
            ));
        }
        if binding.capture_epoch != self.binding.capture_epoch {
            return Err(format!(
                "stale epoch binding: {} is not the capture's {}",
                binding.capture_epoch, self.binding.capture_epoch
            ));
        }
        if binding.voice() != self.binding.voice() {
            return Err("stale voice binding".into());
        }
        Ok(())
    }

    /// Checks a packet, in the original server's order (delivery class, sequence, binding,
    /// then the packet itself); a packet taken becomes the capture's last.
    pub fn accept(&mut self, packet: &CaptureMediaPacket) -> Result<(), String> {
        let class = DeliveryClass::try_from(packet.delivery_class).unwrap_or_default();
        if class != self.delivery_class {
            return Err(format!(
                "delivery_class {} is not the capture's {}",
                class.as_str_name(),
                self.delivery_class.as_str_name()
            ));
        }
        if let Some(last) = self.last_sequence
            && packet.sequence <= last
        {
            return Err(format!(
                "sequence {} does not follow {last}",
                packet.sequence
            ));
        }
        self.check_binding(packet.binding.as_ref())?;
        if packet.captured_at.is_none() {
            return Err("captured_at is required".into());
        }
        let payload = &packet.opus_payload;
        if payload.is_empty() || payload.len() > MAX_OPUS_PACKET_BYTES {
            return Err(format!(
                "opus_payload must have 1 to {MAX_OPUS_PACKET_BYTES} bytes, not {}",
                payload.len()
            ));
        }
        if payload.starts_with(b"OggS") {
            return Err("opus_payload must be a raw Opus packet, not an Ogg page".into());
        }
        self.last_sequence = Some(packet.sequence);
        Ok(())
    }
}

/// The capture packet in a BINARY frame (whose size the caller has checked).
pub fn capture_packet(frame: &[u8]) -> Result<CaptureMediaPacket, String> {
    if frame.is_empty() {
        return Err("an empty media frame".into());
    }
    let envelope = MediaEnvelope::from_bytes(frame)
        .map_err(|error| format!("the media frame is not a MediaEnvelope: {error}"))?;
    match envelope.media {
        Some(Media::Capture(packet)) => Ok(packet),
        Some(Media::Playback(_)) => Err("devices send capture packets only".into()),
        None => Err("the MediaEnvelope holds no packet".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws_audio::schema::{Id, Timestamp};

    fn binding(session: &str, epoch: u64) -> CaptureBinding {
        CaptureBinding {
            capture_session_id: Some(Id::new(session)),
            voice_session_id: None,
            capture_epoch: epoch,
        }
    }

    fn packet(sequence: u64) -> CaptureMediaPacket {
        CaptureMediaPacket {
            binding: Some(binding("s1", 2)),
            sequence,
            captured_at: Some(Timestamp::now()),
            monotonic_offset_us: sequence * 20_000,
            delivery_class: DeliveryClass::Live as i32,
            opus_payload: vec![0x78, 0, 1],
        }
    }

    #[test]
    fn packets_must_follow_in_sequence_with_the_capture_binding_and_class() {
        let mut capture = Capture::new(binding("s1", 2), DeliveryClass::Live);
        capture.accept(&packet(0)).unwrap();
        capture.accept(&packet(1)).unwrap();
        capture.accept(&packet(5)).unwrap(); // gaps are the device's business
        let again = capture.accept(&packet(5)).unwrap_err();
        assert_eq!(again, "sequence 5 does not follow 5");
        assert!(capture.accept(&packet(3)).is_err());

        let mut stale = packet(6);
        stale.binding = Some(binding("s0", 2));
        assert!(
            capture
                .accept(&stale)
                .unwrap_err()
                .starts_with("stale session binding")
        );
        stale.binding = Some(binding("s1", 1));
        assert!(
            capture
                .accept(&stale)
                .unwrap_err()
                .starts_with("stale epoch binding")
        );
        let mut voiced = binding("s1", 2);
        voiced.voice_session_id = Some(Id::new("v1"));
        stale.binding = Some(voiced);
        assert_eq!(capture.accept(&stale).unwrap_err(), "stale voice binding");
        stale.binding = None;
        assert_eq!(capture.accept(&stale).unwrap_err(), "binding is required");

        let mut recovered = packet(6);
        recovered.delivery_class = DeliveryClass::Recovered as i32;
        assert!(
            capture
                .accept(&recovered)
                .unwrap_err()
                .starts_with("delivery_class")
        );
        let mut ogg = packet(6);
        ogg.opus_payload = b"OggS\0\x02".to_vec();
        assert!(capture.accept(&ogg).is_err());
        let mut empty = packet(6);
        empty.opus_payload.clear();
        assert!(capture.accept(&empty).is_err());
        let mut untimed = packet(6);
        untimed.captured_at = None;
        assert_eq!(
            capture.accept(&untimed).unwrap_err(),
            "captured_at is required"
        );
        // None of the refused packets moved the sequence on.
        capture.accept(&packet(6)).unwrap();
    }

    #[test]
    fn frames_hold_one_capture_envelope() {
        let frame = MediaEnvelope {
            media: Some(Media::Capture(packet(9))),
        }
        .to_bytes();
        assert_eq!(capture_packet(&frame).unwrap().sequence, 9);
        assert!(capture_packet(&[]).is_err());
        assert!(capture_packet(&[0xff; 8]).is_err());
        // An empty envelope is zero bytes; one with only an unknown field (3) holds no packet.
        assert!(MediaEnvelope { media: None }.to_bytes().is_empty());
        assert_eq!(
            capture_packet(&[3 << 3, 1]).unwrap_err(),
            "the MediaEnvelope holds no packet"
        );
    }
}
