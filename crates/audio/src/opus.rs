//! Opus packets (the OMI pendant's codec) to and from 16 kHz mono s16.
//!
//! Uses `ropus`, a pure-Rust port of the reference codec (bit-exact against libopus), so
//! a fresh machine builds Chronicle with no system library and no C toolchain.

use std::panic::{AssertUnwindSafe, catch_unwind};

use ropus::{Application, Channels, DecodeMode, Decoder, Encoder};

use crate::AudioError;

/// Samples in one 20 ms frame at 16 kHz: what the OMI pendant sends per packet.
pub const OPUS_FRAME_SAMPLES: usize = 320;

/// The sample rate both ends of a device stream use.
const SAMPLE_RATE: u32 = 16_000;

/// Longest packet Opus allows is 120 ms: 1920 samples at 16 kHz.
const MAX_PACKET_SAMPLES: usize = 1920;

/// Largest encoded packet we ask the encoder for (libopus's documented recommendation).
const MAX_PACKET_BYTES: usize = 4000;

fn codec_error(what: &str, error: impl std::fmt::Display) -> AudioError {
    AudioError::Codec(format!("{what}: {error}"))
}

/// Decodes single Opus packets to 16 kHz mono s16 samples.
///
/// One decoder per stream: Opus keeps state between packets.
pub struct OpusDecoder {
    inner: Decoder,
    buf: Vec<i16>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder").finish_non_exhaustive()
    }
}

fn new_decoder() -> Result<Decoder, AudioError> {
    Decoder::new(SAMPLE_RATE, Channels::Mono)
        .map_err(|e| codec_error("cannot create the Opus decoder", e))
}

impl OpusDecoder {
    /// A decoder producing 16 kHz mono.
    pub fn new() -> Result<Self, AudioError> {
        Ok(Self {
            inner: new_decoder()?,
            buf: vec![0; MAX_PACKET_SAMPLES],
        })
    }

    /// Decode one packet (typically 20 ms: 320 samples). An empty or corrupt packet is an
    /// error; the decoder stays usable for the next packet.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<i16>, AudioError> {
        if packet.is_empty() {
            // The codec reads an empty packet as "conceal a lost one"; from a device it
            // is a framing mistake.
            return Err(AudioError::Codec("empty Opus packet".into()));
        }
        // Packets come from devices we do not control. Should the codec ever panic on
        // one, that packet is an error and the stream goes on with a fresh decoder,
        // since the old one's state may be half-updated.
        let decoded = catch_unwind(AssertUnwindSafe(|| {
            self.inner.decode(packet, &mut self.buf, DecodeMode::Normal)
        }));
        match decoded {
            Ok(Ok(n)) => Ok(self.buf[..n.min(self.buf.len())].to_vec()),
            Ok(Err(e)) => Err(codec_error("cannot decode the Opus packet", e)),
            Err(_) => {
                self.inner = new_decoder()?;
                Err(AudioError::Codec(
                    "the Opus decoder failed on this packet; it was reset".into(),
                ))
            }
        }
    }
}

/// Encodes 16 kHz mono s16 audio into 20 ms Opus packets, as the pendant does; used by
/// tests, benchmarks and device simulators.
pub struct OpusEncoder {
    inner: Encoder,
    out: Vec<u8>,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder").finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// An encoder for 16 kHz mono voice.
    pub fn new() -> Result<Self, AudioError> {
        let inner = Encoder::builder(SAMPLE_RATE, Channels::Mono, Application::Voip)
            .build()
            .map_err(|e| codec_error("cannot create the Opus encoder", e))?;
        Ok(Self {
            inner,
            out: vec![0; MAX_PACKET_BYTES],
        })
    }

    /// Encode exactly one 20 ms frame ([`OPUS_FRAME_SAMPLES`] samples) into one packet.
    pub fn encode(&mut self, frame: &[i16]) -> Result<Vec<u8>, AudioError> {
        if frame.len() != OPUS_FRAME_SAMPLES {
            return Err(AudioError::BadFormat(format!(
                "an Opus frame holds {OPUS_FRAME_SAMPLES} samples, got {}",
                frame.len()
            )));
        }
        let n = self
            .inner
            .encode(frame, &mut self.out)
            .map_err(|e| codec_error("cannot encode the Opus frame", e))?;
        Ok(self.out[..n.min(self.out.len())].to_vec())
    }

    /// Encode a whole signal into packets of `frame_ms` (20, 40 or 60, as wearables send);
    /// the last frame is padded with silence.
    pub fn encode_all_in(
        &mut self,
        samples: &[i16],
        frame_ms: usize,
    ) -> Result<Vec<Vec<u8>>, AudioError> {
        let frame = OPUS_FRAME_SAMPLES * frame_ms / 20;
        let mut packets = Vec::with_capacity(samples.len().div_ceil(frame.max(1)));
        for chunk in samples.chunks(frame.max(1)) {
            let mut padded = chunk.to_vec();
            padded.resize(frame, 0);
            let n = self
                .inner
                .encode(&padded, &mut self.out)
                .map_err(|e| codec_error("cannot encode the Opus frame", e))?;
            packets.push(self.out[..n.min(self.out.len())].to_vec());
        }
        Ok(packets)
    }

    /// Encode a whole signal into 20 ms packets; the last frame is padded with silence.
    pub fn encode_all(&mut self, samples: &[i16]) -> Result<Vec<Vec<u8>>, AudioError> {
        let mut packets = Vec::with_capacity(samples.len().div_ceil(OPUS_FRAME_SAMPLES));
        for chunk in samples.chunks(OPUS_FRAME_SAMPLES) {
            if chunk.len() == OPUS_FRAME_SAMPLES {
                packets.push(self.encode(chunk)?);
            } else {
                let mut padded = chunk.to_vec();
                padded.resize(OPUS_FRAME_SAMPLES, 0);
                packets.push(self.encode(&padded)?);
            }
        }
        Ok(packets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{assert_close, frequency, random_bytes, rms, sine_i16};

    #[test]
    fn a_sine_survives_encode_and_decode() {
        let signal = sine_i16(440.0, 0.5, 16_000, 1.0);
        let mut encoder = OpusEncoder::new().expect("encoder");
        let packets = encoder.encode_all(&signal).expect("encode");
        assert_eq!(packets.len(), 50);
        assert!(packets.iter().all(|p| !p.is_empty() && p.len() < 400));

        let mut decoder = OpusDecoder::new().expect("decoder");
        let mut out = Vec::new();
        for packet in &packets {
            let pcm = decoder.decode(packet).expect("decode");
            assert_eq!(pcm.len(), OPUS_FRAME_SAMPLES);
            out.extend(pcm);
        }
        assert_eq!(out.len(), signal.len());
        assert_close("tone", frequency(&out, 16_000, 800), 440.0, 0.05);
        assert_close("level", rms(&out, 800), 0.5 / 2f64.sqrt(), 0.15);
    }

    #[test]
    fn a_short_tail_is_padded_to_a_whole_frame() {
        let mut encoder = OpusEncoder::new().expect("encoder");
        let packets = encoder.encode_all(&[1000; 500]).expect("encode");
        assert_eq!(packets.len(), 2);
        let e = encoder.encode(&[0; 100]).expect_err("short frame");
        assert!(matches!(e, AudioError::BadFormat(_)), "{e:?}");
    }

    #[test]
    fn corrupt_and_empty_packets_are_errors_not_panics() {
        let mut decoder = OpusDecoder::new().expect("decoder");
        let e = decoder.decode(&[]).expect_err("empty");
        assert!(matches!(e, AudioError::Codec(_)), "{e:?}");
        // TOC byte for code 3 (arbitrary frame count) with an impossible frame count.
        let e = decoder
            .decode(&[0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3])
            .expect_err("corrupt");
        assert!(e.to_string().starts_with("Opus codec error"), "{e}");
        // Random garbage may or may not parse, but must never panic.
        for seed in 0..200 {
            let _ = decoder.decode(&random_bytes(seed, 1 + seed as usize % 300));
        }
        // The decoder still works afterwards.
        let mut encoder = OpusEncoder::new().expect("encoder");
        let packet = encoder.encode(&[0; OPUS_FRAME_SAMPLES]).expect("encode");
        assert_eq!(
            decoder.decode(&packet).expect("decode").len(),
            OPUS_FRAME_SAMPLES
        );
    }
}
