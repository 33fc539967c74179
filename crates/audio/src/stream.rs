//! Normalizing a stream of raw PCM chunks (the WebSocket `audio-chunk` payloads) to
//! 16 kHz mono s16.

use crate::resample::{Resampler16k, to_i16};
use crate::{AudioError, TARGET_RATE};

/// Description of raw little-endian PCM, as sent in `audio-start` / `audio-chunk`
/// (`{"rate":16000,"width":2,"channels":1}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PcmFormat {
    /// Frames per second, 8000..=192000.
    pub rate: u32,
    /// Bytes per sample: 1 (unsigned 8-bit), 2 (s16le) or 4 (s32le).
    pub width: u16,
    /// Interleaved channels, 1..=8.
    pub channels: u16,
}

impl Default for PcmFormat {
    /// 16000 Hz, 16-bit, mono: what every device sends unless told otherwise.
    fn default() -> Self {
        Self {
            rate: TARGET_RATE,
            width: 2,
            channels: 1,
        }
    }
}

impl PcmFormat {
    /// Lowest accepted rate.
    pub const MIN_RATE: u32 = 8_000;
    /// Highest accepted rate.
    pub const MAX_RATE: u32 = 192_000;
    /// Highest accepted channel count.
    pub const MAX_CHANNELS: u16 = 8;

    /// Check the parameters; the error names the offending one.
    pub fn validate(&self) -> Result<(), AudioError> {
        if !(Self::MIN_RATE..=Self::MAX_RATE).contains(&self.rate) {
            return Err(AudioError::BadFormat(format!(
                "sample rate {} Hz is outside {}..={} Hz",
                self.rate,
                Self::MIN_RATE,
                Self::MAX_RATE
            )));
        }
        if !matches!(self.width, 1 | 2 | 4) {
            return Err(AudioError::BadFormat(format!(
                "sample width {} bytes is not supported (use 1, 2 or 4)",
                self.width
            )));
        }
        if self.channels == 0 || self.channels > Self::MAX_CHANNELS {
            return Err(AudioError::BadFormat(format!(
                "channel count {} is outside 1..={}",
                self.channels,
                Self::MAX_CHANNELS
            )));
        }
        Ok(())
    }

    /// Bytes per frame (one sample for every channel).
    pub fn frame_bytes(&self) -> usize {
        usize::from(self.width) * usize::from(self.channels)
    }

    /// `true` for 16 kHz, 16-bit mono: the target format itself.
    pub fn is_target(&self) -> bool {
        *self == Self::default()
    }
}

/// Turns raw PCM chunks of any length into 16 kHz mono s16 samples.
///
/// A chunk may end in the middle of a frame: the leftover bytes are kept and completed
/// by the next chunk. Channels are averaged; other rates go through a streaming
/// resampler whose state lives across chunks, so splitting the same bytes differently
/// gives the same output. 16 kHz 16-bit mono input is passed through as is.
pub struct StreamNormalizer {
    format: PcmFormat,
    /// Bytes of an incomplete frame carried over to the next chunk.
    carry: Vec<u8>,
    resampler: Option<Resampler16k>,
    mono: Vec<f32>,
}

impl std::fmt::Debug for StreamNormalizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamNormalizer")
            .field("format", &self.format)
            .field("carry", &self.carry.len())
            .field("resampling", &self.resampler.is_some())
            .finish()
    }
}

impl StreamNormalizer {
    /// A normalizer for `format`; rejects rates outside 8000..=192000 Hz, widths other
    /// than 1, 2 or 4 bytes, and 0 or more than 8 channels.
    pub fn new(format: PcmFormat) -> Result<Self, AudioError> {
        format.validate()?;
        let resampler = if format.rate == TARGET_RATE {
            None
        } else {
            Some(Resampler16k::new(format.rate)?)
        };
        Ok(Self {
            format,
            carry: Vec::new(),
            resampler,
            mono: Vec::new(),
        })
    }

    /// The input format.
    pub fn format(&self) -> PcmFormat {
        self.format
    }

    /// Feed the next chunk of raw little-endian PCM; returns the 16 kHz mono samples that
    /// are ready (possibly none while the resampler fills up).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<i16>, AudioError> {
        let frame = self.format.frame_bytes();
        // Complete the frame left over from the previous chunk.
        let mut rest = bytes;
        let mut head: Vec<u8> = Vec::new();
        if !self.carry.is_empty() {
            let missing = frame - self.carry.len();
            if rest.len() < missing {
                self.carry.extend_from_slice(rest);
                return Ok(Vec::new());
            }
            head = std::mem::take(&mut self.carry);
            head.extend_from_slice(&rest[..missing]);
            rest = &rest[missing..];
        }
        let whole = rest.len() / frame * frame;
        self.carry.extend_from_slice(&rest[whole..]);
        let rest = &rest[..whole];

        if self.format.is_target() {
            let mut out = Vec::with_capacity((head.len() + rest.len()) / 2);
            out.extend(
                head.chunks_exact(2)
                    .chain(rest.chunks_exact(2))
                    .map(|b| i16::from_le_bytes([b[0], b[1]])),
            );
            return Ok(out);
        }

        self.mono.clear();
        let (width, channels) = (usize::from(self.format.width), self.format.channels);
        for frame_bytes in head.chunks_exact(frame).chain(rest.chunks_exact(frame)) {
            let sum: f32 = frame_bytes.chunks_exact(width).map(sample_to_f32).sum();
            self.mono.push(sum / f32::from(channels));
        }
        let mut out = Vec::new();
        match self.resampler.as_mut() {
            Some(resampler) => resampler.push(&self.mono, &mut out)?,
            None => out.extend(self.mono.iter().map(|&s| to_i16(s))),
        }
        Ok(out)
    }

    /// End of stream: returns the samples still inside the resampler (empty for 16 kHz
    /// input). An incomplete trailing frame is dropped. The normalizer can then be reused
    /// for a new stream of the same format.
    pub fn finish(&mut self) -> Vec<i16> {
        if !self.carry.is_empty() {
            tracing::debug!(
                bytes = self.carry.len(),
                "dropping an incomplete PCM frame at the end of the stream"
            );
            self.carry.clear();
        }
        let mut out = Vec::new();
        if let Some(resampler) = self.resampler.as_mut()
            && let Err(error) = resampler.finish(&mut out)
        {
            tracing::warn!(%error, "could not flush the resampler");
        }
        out
    }
}

/// One little-endian sample of 1 (unsigned), 2 or 4 (signed) bytes as -1.0..1.0.
fn sample_to_f32(bytes: &[u8]) -> f32 {
    match *bytes {
        [b] => (f32::from(b) - 128.0) / 128.0,
        [a, b] => f32::from(i16::from_le_bytes([a, b])) / 32768.0,
        [a, b, c, d] => (f64::from(i32::from_le_bytes([a, b, c, d])) / 2_147_483_648.0) as f32,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{assert_close, frequency, rms, sine};

    /// Encode per-channel signals (-1.0..1.0) as interleaved little-endian PCM.
    fn pcm(width: u16, channels: &[Vec<f64>]) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..channels[0].len() {
            for ch in channels {
                let s = ch[i];
                match width {
                    1 => out.push(((s * 127.0).round() + 128.0) as u8),
                    2 => out.extend(((s * 32767.0).round() as i16).to_le_bytes()),
                    _ => out.extend(((s * 2_147_483_647.0).round() as i32).to_le_bytes()),
                }
            }
        }
        out
    }

    /// Push `bytes` in chunks of the given (cycled) lengths, then finish.
    fn run(format: PcmFormat, bytes: &[u8], sizes: &[usize]) -> Vec<i16> {
        let mut n = StreamNormalizer::new(format).expect("format");
        let mut out = Vec::new();
        let mut pos = 0;
        for &size in sizes.iter().cycle() {
            if pos >= bytes.len() {
                break;
            }
            let end = (pos + size).min(bytes.len());
            out.extend(n.push(&bytes[pos..end]).expect("push"));
            pos = end;
        }
        out.extend(n.finish());
        out
    }

    /// Odd chunk lengths that split samples and frames everywhere, including empty chunks.
    const ODD: &[usize] = &[1, 3, 0, 7, 2, 333, 5, 1, 1021, 13, 4097, 9];

    #[test]
    fn default_format_is_16k_s16_mono_and_passes_through_exactly() {
        let format = PcmFormat::default();
        assert_eq!((format.rate, format.width, format.channels), (16_000, 2, 1));
        assert!(format.is_target());
        let bytes = pcm(2, &[sine(440.0, 0.5, 16_000, 0.7)]);
        let expected: Vec<i16> = bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(run(format, &bytes, &[bytes.len()]), expected);
        assert_eq!(run(format, &bytes, ODD), expected);
        assert_eq!(run(format, &bytes, &[1]), expected);
    }

    #[test]
    fn resampled_stream_is_independent_of_chunking() {
        let format = PcmFormat {
            rate: 44_100,
            width: 2,
            channels: 2,
        };
        let tone = sine(440.0, 0.5, 44_100, 1.0);
        let bytes = pcm(2, &[tone.clone(), tone]);
        let whole = run(format, &bytes, &[bytes.len()]);
        let split = run(format, &bytes, ODD);
        assert!(whole.len().abs_diff(split.len()) <= 1);
        let worst = whole
            .iter()
            .zip(&split)
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
            .max()
            .unwrap_or(0);
        assert!(worst <= 2, "chunked output differs by {worst}");
        assert_close("length", whole.len() as f64, 16_000.0, 0.01);
        assert_close("tone", frequency(&whole, 16_000, 800), 440.0, 0.05);
        assert_close("level", rms(&whole, 800), 0.5 / 2f64.sqrt(), 0.1);
    }

    #[test]
    fn every_width_is_understood() {
        for (rate, width, channels) in [
            (8_000, 1, 1),
            (48_000, 4, 2),
            (16_000, 2, 2),
            (22_050, 2, 1),
            (44_101, 2, 1),
        ] {
            let format = PcmFormat {
                rate,
                width,
                channels,
            };
            let tone = sine(440.0, 0.5, rate, 1.0);
            let bytes = pcm(width, &vec![tone; usize::from(channels)]);
            let out = run(format, &bytes, ODD);
            let what = format!("{format:?}");
            assert_close(&format!("{what} length"), out.len() as f64, 16_000.0, 0.01);
            assert_close(
                &format!("{what} tone"),
                frequency(&out, 16_000, 800),
                440.0,
                0.05,
            );
            assert_close(
                &format!("{what} level"),
                rms(&out, 800),
                0.5 / 2f64.sqrt(),
                0.1,
            );
        }
    }

    #[test]
    fn a_trailing_partial_frame_is_dropped_and_the_normalizer_is_reusable() {
        let format = PcmFormat {
            rate: 16_000,
            width: 2,
            channels: 2,
        };
        let mut n = StreamNormalizer::new(format).expect("format");
        // Frame 1: (100, 300) -> 200; then 3 bytes of an unfinished frame.
        let mut bytes = Vec::new();
        for s in [100i16, 300, 7] {
            bytes.extend(s.to_le_bytes());
        }
        assert_eq!(n.push(&bytes[..5]).expect("push"), vec![200]);
        assert_eq!(n.finish(), Vec::<i16>::new());
        assert_eq!(n.push(&bytes[..4]).expect("push"), vec![200]);
    }

    #[test]
    fn resampler_restarts_cleanly_after_finish() {
        let format = PcmFormat {
            rate: 48_000,
            width: 2,
            channels: 1,
        };
        let bytes = pcm(2, &[sine(440.0, 0.5, 48_000, 0.3)]);
        let mut n = StreamNormalizer::new(format).expect("format");
        let mut first = n.push(&bytes).expect("push");
        first.extend(n.finish());
        let mut second = n.push(&bytes).expect("push");
        second.extend(n.finish());
        assert_eq!(first, second);
        assert_eq!(first.len(), 4_800);
    }

    #[test]
    fn bad_formats_are_rejected() {
        for (rate, width, channels) in [
            (7_999, 2, 1),
            (192_001, 2, 1),
            (0, 2, 1),
            (16_000, 3, 1),
            (16_000, 0, 1),
            (16_000, 8, 1),
            (16_000, 2, 0),
            (16_000, 2, 9),
        ] {
            let format = PcmFormat {
                rate,
                width,
                channels,
            };
            let e = StreamNormalizer::new(format).expect_err("invalid");
            assert!(matches!(e, AudioError::BadFormat(_)), "{format:?}: {e:?}");
        }
        for rate in [8_000, 11_025, 44_100, 96_000, 192_000] {
            StreamNormalizer::new(PcmFormat {
                rate,
                width: 2,
                channels: 8,
            })
            .expect("valid");
        }
    }
}
