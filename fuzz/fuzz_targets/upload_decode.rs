//! `upload_decode`: an uploaded audio file of any bytes through the decoder front
//! (`chronicle_audio::decode_file`: the probe that sniffs the container, the demuxer, the
//! decoder, the resampler to 16 kHz mono), as `POST /api/audio/upload` and `chronicle process`
//! hand it over.
//!
//! The first input byte picks the file name the upload carries (its extension is only a hint
//! to the probe); the rest is the file.
//!
//! Properties, as the crate promises them: no input makes it panic (libFuzzer's panic hook
//! aborts before `decode_file`'s own catcher could turn a decoder panic into an error, so a
//! caught panic is a crash here too); a success is audio that holds samples, whose duration is
//! exactly their count at 16 kHz, within the budget of `MAX_FILE_SECONDS`, from a file whose
//! rate is within `FILE_RATES` and which has channels, in one of the four containers; a failure
//! blames the input and, when it is `TooLong`, says by how much it is over the limit.

#![no_main]

use chronicle_audio::{AudioError, FILE_RATES, MAX_FILE_SECONDS, TARGET_RATE, decode_file};
use libfuzzer_sys::fuzz_target;

/// File names an upload may carry.
const NAMES: &[Option<&str>] = &[
    None,
    Some("x.wav"),
    Some("x.mp3"),
    Some("x.flac"),
    Some("x.ogg"),
    Some("x"),
];

/// FIXME(upstream): symphonia-format-riff 0.6.1 overflows, with debug assertions only, on a WAV
/// whose `fmt ` chunk has a channel count times bytes per sample above `u16::MAX`, or a
/// WAVE_FORMAT_EXTENSIBLE channel mask with fewer bits than channels that it cannot widen.
/// `decode_file` catches that panic and reports the file as damaged, but here the panic hook
/// aborts first, so these headers are left out (the same test as `known_riff_overflow` in
/// `crates/audio/src/robustness.rs`). Release builds wrap instead. The probe finds a `RIFF`
/// header after leading junk too, so every place one starts is checked.
fn known_riff_overflow(bytes: &[u8]) -> bool {
    (0..bytes.len().saturating_sub(3))
        .filter(|&at| bytes[at..].starts_with(b"RIFF"))
        .any(|at| riff_header_overflows(&bytes[at..]))
}

fn riff_header_overflows(bytes: &[u8]) -> bool {
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if bytes.get(8..16) != Some(b"WAVEfmt ") {
        return false;
    }
    let (Some(tag), Some(channels), Some(bits)) = (u16_at(20), u16_at(22), u16_at(34)) else {
        return false;
    };
    let block_align_overflows = channels.checked_mul(bits / 8).is_none();
    let mask_overflows = tag == 0xFFFE
        && u32_at(40).is_some_and(|mask| {
            let missing = i32::from(channels) - mask.count_ones() as i32;
            missing > 0 && (missing >= 32 || mask.leading_zeros() == 0)
        });
    block_align_overflows || mask_overflows
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    if known_riff_overflow(bytes) {
        return;
    }
    let name = NAMES[usize::from(pick) % NAMES.len()];
    match decode_file(bytes, name) {
        Ok(audio) => {
            assert!(!audio.samples.is_empty(), "a success holds samples");
            assert_eq!(
                audio.duration_seconds,
                audio.samples.len() as f64 / f64::from(TARGET_RATE)
            );
            assert!(
                audio.samples.len() as u64 <= MAX_FILE_SECONDS * u64::from(TARGET_RATE),
                "{} s is over the budget of {MAX_FILE_SECONDS} s",
                audio.duration_seconds
            );
            assert!(
                FILE_RATES.contains(&audio.source_rate),
                "{}",
                audio.source_rate
            );
            assert!(audio.source_channels > 0);
            assert!(
                ["wav", "mp3", "flac", "ogg"].contains(&audio.format.as_str()),
                "{}",
                audio.format
            );
        }
        Err(error) => {
            assert!(error.is_input_error(), "{error}");
            if let AudioError::TooLong { seconds, limit } = error {
                assert_eq!(limit, MAX_FILE_SECONDS);
                assert!(seconds > limit as f64, "{seconds} s is not too long");
            }
        }
    }
});
