//! `ws_header`: the Wyoming framing of `/ws` (`chronicle_server::ws::framing`) driven by any
//! sequence of frames, as a device might send them.
//!
//! The input is a list of frames separated by `0xFF` (a byte UTF-8 never holds): a frame
//! starting with `0xFE` is a binary frame of the bytes after it, one starting with `0xFD` a
//! binary frame of as many zero bytes as the little-endian `u32` after it says (up to one past
//! the limit, so large payloads cost a few input bytes), any other a text frame (read lossily as
//! UTF-8, as the socket delivers only text).
//!
//! Properties, against a model of the rules (`ws/robustness.rs` has the same model for
//! generated frames): a text frame where a header is due is a header when its JSON is an object
//! (or, FIXME as there, an array of one to three fields) with a string `type`, no repeated
//! field, and a `payload_length` that is absent, null or a size up to `MAX_PAYLOAD`; otherwise
//! it is refused with 1003, or 1009 for a size over the limit. A header announcing a payload
//! makes the next frame due as binary, of exactly that size. Every refusal's reason fits a close
//! frame (123 bytes). The format an `audio-start` announces is taken exactly as sent or refused,
//! and a normalizer built for it takes any payload; 16 kHz s16 mono comes out as it went in.

#![no_main]

use std::fmt;

use chronicle_audio::{PcmFormat, StreamNormalizer, TARGET_RATE};
use chronicle_server::ws::framing::{
    Closing, Framing, Header, MAX_PAYLOAD, MessageKind, TOO_BIG, UNSUPPORTED_DATA, pcm_format,
};
use libfuzzer_sys::fuzz_target;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

fn frames(data: &[u8]) -> Vec<Frame> {
    data.split(|&byte| byte == 0xFF)
        .map(|frame| match frame {
            [0xFE, payload @ ..] => Frame::Binary(payload.to_vec()),
            [0xFD, size @ ..] => {
                let mut bytes = [0u8; 4];
                for (to, from) in bytes.iter_mut().zip(size) {
                    *to = *from;
                }
                let size = (u32::from_le_bytes(bytes) as usize).min(MAX_PAYLOAD + 1);
                Frame::Binary(vec![0; size])
            }
            text => Frame::Text(String::from_utf8_lossy(text).into_owned()),
        })
        .collect()
}

/// The top-level keys of a JSON object, repeats included (`serde_json::Value` keeps only the
/// last of repeated keys; the header's derived `Deserialize` refuses a repeated field).
fn object_keys(text: &str) -> Option<Vec<String>> {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                keys.push(key);
            }
            Ok(keys)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.deserialize_map(Keys).ok()
}

/// A header's fields as the framing reads them: an object's, or, positionally, those of an
/// array of one to three elements.
fn header_fields(header: &Value) -> Option<Map<String, Value>> {
    match header {
        Value::Object(fields) => Some(fields.clone()),
        Value::Array(items) if (1..=3).contains(&items.len()) => Some(
            ["type", "data", "payload_length"]
                .into_iter()
                .zip(items.iter().cloned())
                .map(|(key, value)| (key.to_owned(), value))
                .collect(),
        ),
        _ => None,
    }
}

/// What the framing must make of a text frame where a header is due: `Err(code)`, or the
/// payload size it announces.
fn expected(text: &str) -> Result<u64, u16> {
    let text = text.trim();
    let header: Value = serde_json::from_str(text).map_err(|_| UNSUPPORTED_DATA)?;
    let fields = header_fields(&header).ok_or(UNSUPPORTED_DATA)?;
    if let Some(keys) = object_keys(text) {
        for field in ["type", "data", "payload_length"] {
            if keys.iter().filter(|key| *key == field).count() > 1 {
                return Err(UNSUPPORTED_DATA);
            }
        }
    }
    if !fields.get("type").is_some_and(Value::is_string) {
        return Err(UNSUPPORTED_DATA);
    }
    let length = match fields.get("payload_length") {
        None | Some(Value::Null) => 0,
        Some(value) => value.as_u64().ok_or(UNSUPPORTED_DATA)?,
    };
    if length > MAX_PAYLOAD as u64 {
        return Err(TOO_BIG);
    }
    Ok(length)
}

/// A refusal: the code the model expects, and a reason that fits a close frame.
fn check_closing(closing: &Closing, code: u16) {
    assert_eq!(closing.code, code, "{}", closing.reason);
    assert!(closing.reason.len() <= 123, "{}", closing.reason);
}

/// The audio side of the session: the normalizer `audio-start` built, and for 16 kHz s16 mono
/// the bytes pushed and the samples that came out, which must match.
#[derive(Default)]
struct Audio {
    normalizer: Option<StreamNormalizer>,
    pushed: Vec<u8>,
    out: Vec<i16>,
}

impl Audio {
    fn header(&mut self, header: &Header, payload: &[u8]) {
        if header.kind == MessageKind::AudioStart {
            self.finish();
            let format = pcm_format(&header.data);
            let sent = |key: &str, default: u64| {
                header
                    .data
                    .get(key)
                    .and_then(Value::as_u64)
                    .unwrap_or(default)
            };
            match StreamNormalizer::new(format) {
                Ok(normalizer) => {
                    // Built only for exactly the numbers sent, never for a value that wrapped
                    // or saturated into range.
                    assert_eq!(u64::from(format.rate), sent("rate", u64::from(TARGET_RATE)));
                    assert_eq!(u64::from(format.width), sent("width", 2));
                    assert_eq!(u64::from(format.channels), sent("channels", 1));
                    self.normalizer = Some(normalizer);
                }
                Err(error) => assert!(error.is_input_error(), "{error}"),
            }
        }
        if let Some(normalizer) = &mut self.normalizer
            && header.kind == MessageKind::AudioChunk
        {
            let samples = normalizer
                .push(payload)
                .unwrap_or_else(|error| panic!("a built normalizer takes any payload: {error}"));
            if normalizer.format() == PcmFormat::default() {
                self.pushed.extend_from_slice(payload);
                self.out.extend(samples);
            }
        }
    }

    fn finish(&mut self) {
        if let Some(mut normalizer) = self.normalizer.take() {
            let rest = normalizer.finish();
            if normalizer.format() == PcmFormat::default() {
                self.out.extend(rest);
                let want: Vec<i16> = self
                    .pushed
                    .chunks_exact(2)
                    .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
                    .collect();
                assert_eq!(self.out, want, "16 kHz s16 mono passes through as it is");
            }
        }
        self.pushed.clear();
        self.out.clear();
    }
}

fuzz_target!(|data: &[u8]| {
    let mut framing = Framing::default();
    let mut audio = Audio::default();
    // The model: the size of the payload due next.
    let mut due: Option<u64> = None;
    for frame in frames(data) {
        match frame {
            Frame::Text(text) => {
                let want = match due {
                    Some(_) => Err(UNSUPPORTED_DATA),
                    None => expected(&text),
                };
                match (want, framing.text(&text)) {
                    (Ok(0), Ok(Some(header))) => {
                        assert_eq!(header.payload_length.unwrap_or(0), 0);
                        assert!(!framing.is_waiting());
                        audio.header(&header, &[]);
                    }
                    (Ok(length), Ok(None)) if length > 0 => {
                        assert!(framing.is_waiting());
                        due = Some(length);
                    }
                    (Err(code), Err(closing)) => {
                        check_closing(&closing, code);
                        break;
                    }
                    (want, got) => {
                        let got = got.map(|h| h.map(|h| h.kind)).map_err(|c| c.reason);
                        panic!("{text:?}: expected {want:?}, got {got:?}");
                    }
                }
            }
            Frame::Binary(payload) => {
                let want = match due.take() {
                    Some(length) if length == payload.len() as u64 => Ok(length),
                    _ => Err(UNSUPPORTED_DATA),
                };
                let got = framing.binary(&payload);
                assert!(!framing.is_waiting());
                match (want, got) {
                    (Ok(length), Ok(header)) => {
                        assert_eq!(header.payload_length, Some(length));
                        audio.header(&header, &payload);
                    }
                    (Err(code), Err(closing)) => {
                        check_closing(&closing, code);
                        break;
                    }
                    (want, got) => {
                        let got = got.map(|h| h.kind).map_err(|c| c.reason);
                        panic!("{} bytes: expected {want:?}, got {got:?}", payload.len());
                    }
                }
            }
        }
    }
    audio.finish();
});
