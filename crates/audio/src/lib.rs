//! Audio for Chronicle: everything that turns what devices and people send into the one
//! format the rest of the backend works with, **16 kHz mono signed 16-bit PCM**
//! ([`TARGET_RATE`]), and writes it to WAV files.
//!
//! - [`decode_to_wav`]: an uploaded WAV, MP3, FLAC or OGG/Vorbis file (1 to 384 kHz, any
//!   channel count) on disk to a 16 kHz mono WAV file, a packet at a time, via `symphonia`
//!   and `rubato`; [`decode_file`] does the same from bytes to samples in memory.
//! - [`StreamNormalizer`]: raw little-endian PCM chunks from the WebSocket
//!   (`audio-chunk` payloads described by a [`PcmFormat`], chunks of any length) to
//!   16 kHz mono, keeping resampler state across chunks; 16 kHz s16 mono passes through.
//! - [`OpusDecoder`]: one Opus packet (the OMI pendant's 20 ms frames) to 16 kHz mono,
//!   in pure Rust (`ropus`); [`OpusEncoder`] makes real packets for tests and benchmarks.
//! - [`WavRecorder`]: a per-session WAV file that stays readable if the process is killed;
//!   [`WavChunks`] reads one back a piece at a time; [`wav_bytes`] builds a WAV in memory.
//!
//! Every failure is an [`AudioError`] whose message a user can act on; no input,
//! however malformed, makes this crate panic.
//!
//! What this crate must never do: speak HTTP or WebSocket, know about users, sessions,
//! conversations or storage layout (callers pass paths and bytes), spawn tasks or threads,
//! or call out to the network. It is synchronous and CPU-bound: async callers should run
//! [`decode_to_wav`] on a blocking thread.

mod codec;
mod decode;
mod error;
mod opus;
mod resample;
#[cfg(test)]
mod robustness;
mod stream;
#[cfg(test)]
mod test_util;
mod wav;

pub use codec::{Codec, StreamDecoder, UnsupportedCodec};
pub use decode::{Decoded, DecodedAudio, FILE_RATES, MAX_FILE_SECONDS, decode_file, decode_to_wav};
pub use error::AudioError;
pub use opus::{OPUS_FRAME_SAMPLES, OpusDecoder, OpusEncoder};
pub use stream::{PcmFormat, StreamNormalizer};
pub use wav::{WavChunks, WavRecorder, wav_bytes};

/// The sample rate everything is normalized to, in Hz.
pub const TARGET_RATE: u32 = 16_000;

#[cfg(test)]
mod tests {
    use super::*;

    /// The server keeps these in async tasks.
    #[test]
    fn stateful_types_are_send() {
        fn send<T: Send>() {}
        send::<StreamNormalizer>();
        send::<OpusDecoder>();
        send::<OpusEncoder>();
        send::<WavRecorder>();
        send::<DecodedAudio>();
        send::<AudioError>();
    }
}
