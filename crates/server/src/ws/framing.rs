//! The Wyoming framing of `/ws`: a JSON header in a text frame, and, when it announces a
//! payload, exactly that many bytes in the next binary frame. Pure, so its rules are tested
//! without a socket (`robustness.rs`).

use chronicle_audio::{PcmFormat, TARGET_RATE};
use serde::Deserialize;
use serde_json::Value;

/// The largest payload a header may announce.
pub const MAX_PAYLOAD: usize = 1024 * 1024;

/// Close codes.
pub const PROTOCOL_ERROR: u16 = 1002;
pub const POLICY_VIOLATION: u16 = 1008;
pub const UNSUPPORTED_DATA: u16 = 1003;
pub const TOO_BIG: u16 = 1009;
pub const INTERNAL: u16 = 1011;

/// Why a connection ends early.
#[derive(Debug)]
pub struct Closing {
    pub code: u16,
    pub reason: String,
}

impl Closing {
    /// A close with `reason`, cut to fit a close frame (123 bytes, on a character boundary):
    /// reasons can quote what the client sent.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > 123 {
            let mut end = 120;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
            reason.push('…');
        }
        Self { code, reason }
    }
}

/// A header: `{"type": ..., "data": {...}, "payload_length": N}`.
#[derive(Debug, Deserialize)]
pub struct Header {
    #[serde(rename = "type")]
    pub kind: MessageKind,
    #[serde(default)]
    pub data: Value,
    #[serde(default)]
    pub payload_length: Option<u64>,
}

/// What a header announces, by its `type`.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum MessageKind {
    Ping,
    AudioStart,
    AudioChunk,
    AudioStop,
    ButtonEvent,
    /// Any other `type`: ignored, as the original does, so newer devices still connect.
    Unknown(String),
}

impl From<String> for MessageKind {
    fn from(kind: String) -> Self {
        match kind.as_str() {
            "ping" => MessageKind::Ping,
            "audio-start" => MessageKind::AudioStart,
            "audio-chunk" => MessageKind::AudioChunk,
            "audio-stop" => MessageKind::AudioStop,
            "button-event" => MessageKind::ButtonEvent,
            _ => MessageKind::Unknown(kind),
        }
    }
}

#[cfg(test)]
impl MessageKind {
    /// The `type` as the device wrote it.
    pub fn as_str(&self) -> &str {
        match self {
            MessageKind::Ping => "ping",
            MessageKind::AudioStart => "audio-start",
            MessageKind::AudioChunk => "audio-chunk",
            MessageKind::AudioStop => "audio-stop",
            MessageKind::ButtonEvent => "button-event",
            MessageKind::Unknown(kind) => kind,
        }
    }
}

#[cfg(test)]
impl PartialEq<String> for MessageKind {
    fn eq(&self, kind: &String) -> bool {
        self.as_str() == kind
    }
}

#[cfg(test)]
impl From<MessageKind> for Value {
    fn from(kind: MessageKind) -> Self {
        Value::from(kind.as_str())
    }
}

/// The framing: a header in a text frame, then, when it announces a payload, exactly that many
/// bytes in the next binary frame. Pure, so its rules are tested without a socket.
#[derive(Debug, Default)]
pub struct Framing {
    /// A header whose payload is due next, and the payload's announced size.
    pub(super) waiting: Option<(Header, usize)>,
}

impl Framing {
    /// Whether a header's payload is due next.
    pub fn is_waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// A text frame: the header to handle now, or `None` when it announces a payload, which the
    /// next binary frame must carry.
    pub fn text(&mut self, text: &str) -> Result<Option<Header>, Closing> {
        if self.waiting.is_some() {
            return Err(Closing::new(
                UNSUPPORTED_DATA,
                "a text frame came where the binary payload was due",
            ));
        }
        let header: Header = serde_json::from_str(text.trim()).map_err(|error| {
            Closing::new(UNSUPPORTED_DATA, format!("invalid JSON header: {error}"))
        })?;
        let length = header.payload_length.unwrap_or(0);
        if length > MAX_PAYLOAD as u64 {
            return Err(Closing::new(
                TOO_BIG,
                format!("payload_length {length} exceeds the limit of {MAX_PAYLOAD} bytes"),
            ));
        }
        if length > 0 {
            self.waiting = Some((header, length as usize));
            Ok(None)
        } else {
            Ok(Some(header))
        }
    }

    /// A binary frame: the payload of the waiting header, which is returned.
    pub fn binary(&mut self, payload: &[u8]) -> Result<Header, Closing> {
        let Some((header, length)) = self.waiting.take() else {
            return Err(Closing::new(
                UNSUPPORTED_DATA,
                "a binary frame came where a JSON header was expected",
            ));
        };
        if payload.len() != length {
            return Err(Closing::new(
                UNSUPPORTED_DATA,
                format!(
                    "the payload has {} bytes; its header announced {length}",
                    payload.len()
                ),
            ));
        }
        Ok(header)
    }
}

/// The PCM format an `audio-start` or first `audio-chunk` announces; 16 kHz s16 mono unless
/// it says otherwise. A number too large for its field saturates, so the normalizer refuses it
/// rather than taking it wrapped into range (65537 channels are not 1).
pub fn pcm_format(data: &Value) -> PcmFormat {
    let number = |key: &str| data.get(key).and_then(Value::as_u64);
    PcmFormat {
        rate: number("rate").map_or(TARGET_RATE, |r| u32::try_from(r).unwrap_or(u32::MAX)),
        width: number("width").map_or(2, |w| u16::try_from(w).unwrap_or(u16::MAX)),
        channels: number("channels").map_or(1, |c| u16::try_from(c).unwrap_or(u16::MAX)),
    }
}
