//! What a device stream carries ([`Codec`]) and the decoder that turns its payloads into
//! 16 kHz mono ([`StreamDecoder`]).

use std::fmt;
use std::str::FromStr;

use crate::{AudioError, OpusDecoder, PcmFormat, StreamNormalizer};

/// The codec a device names when it connects (`/ws?codec=pcm|opus`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Raw PCM described by the `audio-start` header (the default).
    #[default]
    Pcm,
    /// 20 ms Opus packets at 16 kHz mono, as the OMI pendant sends.
    Opus,
}

impl Codec {
    /// The name in the connection's query string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Codec::Pcm => "pcm",
            Codec::Opus => "opus",
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A codec name that is neither `pcm` nor `opus`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Unsupported codec: {0}. Supported: pcm, opus")]
pub struct UnsupportedCodec(pub String);

impl FromStr for Codec {
    type Err = UnsupportedCodec;

    /// Case-insensitive, as devices write `PCM` and `opus` alike.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let name = name.to_lowercase();
        match name.as_str() {
            "pcm" => Ok(Codec::Pcm),
            "opus" => Ok(Codec::Opus),
            _ => Err(UnsupportedCodec(name)),
        }
    }
}

/// Decodes one device stream's payloads to 16 kHz mono, whatever its codec.
#[derive(Debug)]
pub enum StreamDecoder {
    /// PCM of the header's format, normalized.
    Pcm(Box<StreamNormalizer>),
    /// Opus packets, one per payload.
    Opus(Box<OpusDecoder>),
}

impl StreamDecoder {
    /// A decoder for `codec`; `format` describes PCM and is ignored for Opus (always 16 kHz
    /// mono).
    pub fn new(codec: Codec, format: PcmFormat) -> Result<Self, AudioError> {
        Ok(match codec {
            Codec::Pcm => StreamDecoder::Pcm(Box::new(StreamNormalizer::new(format)?)),
            Codec::Opus => StreamDecoder::Opus(Box::new(OpusDecoder::new()?)),
        })
    }

    /// The samples in one payload.
    pub fn push(&mut self, payload: &[u8]) -> Result<Vec<i16>, AudioError> {
        match self {
            StreamDecoder::Pcm(normalizer) => normalizer.push(payload),
            StreamDecoder::Opus(decoder) => decoder.decode(payload),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_names_are_case_insensitive_and_unknown_ones_say_what_is_supported() {
        assert_eq!("PCM".parse(), Ok(Codec::Pcm));
        assert_eq!("opus".parse(), Ok(Codec::Opus));
        let error = "aac".parse::<Codec>().expect_err("aac");
        assert_eq!(
            error.to_string(),
            "Unsupported codec: aac. Supported: pcm, opus"
        );
    }
}
