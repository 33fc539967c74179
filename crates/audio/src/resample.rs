//! Mono resampling to [`TARGET_RATE`], shared by file decoding and stream normalizing.
//!
//! A thin streaming wrapper around rubato's synchronous FFT resampler: it buffers input
//! until a whole resampler chunk is available, drops the resampler's start-up delay, and
//! on [`Resampler16k::finish`] flushes the tail so that the output holds exactly
//! `round(input_frames * 16000 / input_rate)` frames, aligned with the input.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::{AudioError, TARGET_RATE};

/// Requested chunk size (input frames); rubato rounds it to fit the rate ratio.
const CHUNK_HINT: usize = 1024;

/// Streaming mono resampler from any rate to 16 kHz.
pub(crate) struct Resampler16k {
    inner: Fft<f32>,
    in_rate: u32,
    /// Input frames not yet handed to rubato (fewer than one chunk between calls).
    pending: Vec<f32>,
    /// Scratch output for one chunk.
    scratch: Vec<f32>,
    /// Output frames still to drop at the start (the resampler delay).
    to_trim: usize,
    frames_in: u64,
    frames_out: u64,
}

impl Resampler16k {
    pub(crate) fn new(in_rate: u32) -> Result<Self, AudioError> {
        let inner = Fft::<f32>::new(
            in_rate as usize,
            TARGET_RATE as usize,
            CHUNK_HINT,
            1,
            FixedSync::Both,
        )
        .map_err(|e| AudioError::BadFormat(format!("cannot resample from {in_rate} Hz: {e}")))?;
        let scratch = vec![0.0; inner.output_frames_max()];
        let to_trim = inner.output_delay();
        Ok(Self {
            inner,
            in_rate,
            pending: Vec::new(),
            scratch,
            to_trim,
            frames_in: 0,
            frames_out: 0,
        })
    }

    /// Feed mono samples (nominal range -1.0..=1.0); appends finished 16 kHz samples to `out`.
    ///
    /// Samples outside that range are clipped to it and NaN becomes silence: a float file may
    /// hold any bit pattern, and one NaN or infinity in an FFT block would poison the block
    /// (rubato's inverse FFT panics on it; found by `fuzz/fuzz_targets/upload_decode.rs`).
    pub(crate) fn push(&mut self, input: &[f32], out: &mut Vec<i16>) -> Result<(), AudioError> {
        self.frames_in += input.len() as u64;
        self.pending
            .extend(input.iter().map(|&sample| clip(sample)));
        let need = self.inner.input_frames_next();
        let mut pos = 0;
        while self.pending.len() - pos >= need {
            let written = Self::run(
                &mut self.inner,
                &self.pending[pos..pos + need],
                &mut self.scratch,
            )?;
            pos += need;
            self.emit(written, u64::MAX, out);
        }
        self.pending.drain(..pos);
        Ok(())
    }

    /// Flush everything still buffered; appends the tail to `out` and resets the state,
    /// so the resampler can start a new stream.
    pub(crate) fn finish(&mut self, out: &mut Vec<i16>) -> Result<(), AudioError> {
        let expected = (self.frames_in as u128 * TARGET_RATE as u128 + self.in_rate as u128 / 2)
            / self.in_rate as u128;
        let expected = u64::try_from(expected).unwrap_or(u64::MAX);
        let need = self.inner.input_frames_next();
        // Pad the last partial chunk with silence, then keep pumping silence until the
        // delayed output has caught up with the input.
        let mut chunk = std::mem::take(&mut self.pending);
        chunk.resize(need, 0.0);
        let mut rounds = 0usize;
        while self.frames_out < expected {
            let written = Self::run(&mut self.inner, &chunk, &mut self.scratch)?;
            self.emit(written, expected, out);
            chunk.iter_mut().for_each(|s| *s = 0.0);
            rounds += 1;
            // The delay is at most a few chunks; this only guards against a logic error.
            if rounds > 64 {
                break;
            }
        }
        self.reset();
        Ok(())
    }

    fn reset(&mut self) {
        self.inner.reset();
        self.pending.clear();
        self.to_trim = self.inner.output_delay();
        self.frames_in = 0;
        self.frames_out = 0;
    }

    fn run(inner: &mut Fft<f32>, input: &[f32], scratch: &mut [f32]) -> Result<usize, AudioError> {
        let capacity = scratch.len();
        let resample_err =
            |e: &dyn std::fmt::Display| AudioError::BadFormat(format!("resampling failed: {e}"));
        let input = InterleavedSlice::new(input, 1, input.len()).map_err(|e| resample_err(&e))?;
        let mut output =
            InterleavedSlice::new_mut(scratch, 1, capacity).map_err(|e| resample_err(&e))?;
        let (_, written) = inner
            .process_into_buffer(&input, &mut output, None)
            .map_err(|e| resample_err(&e))?;
        Ok(written)
    }

    /// Move `written` scratch frames to `out`, dropping the start-up delay and anything
    /// beyond `limit` total output frames.
    fn emit(&mut self, written: usize, limit: u64, out: &mut Vec<i16>) {
        let skip = self.to_trim.min(written);
        self.to_trim -= skip;
        let room = usize::try_from(limit.saturating_sub(self.frames_out)).unwrap_or(usize::MAX);
        let take = (written - skip).min(room);
        out.extend(self.scratch[skip..skip + take].iter().map(|&s| to_i16(s)));
        self.frames_out += take as u64;
    }
}

/// `sample` within -1.0..=1.0, NaN as 0.0.
fn clip(sample: f32) -> f32 {
    if sample.is_nan() {
        0.0
    } else {
        sample.clamp(-1.0, 1.0)
    }
}

/// Convert a nominal -1.0..=1.0 sample to i16, rounding and saturating (NaN becomes 0).
pub(crate) fn to_i16(sample: f32) -> i16 {
    // `as` saturates on overflow and maps NaN to 0.
    (sample * 32768.0).round() as i16
}
