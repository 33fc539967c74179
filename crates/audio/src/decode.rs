//! Decoding uploaded audio files (WAV, MP3, FLAC, OGG/Vorbis) to 16 kHz mono s16.
//!
//! One streaming core, [`decode_with`], reads packets from any source and hands the 16 kHz
//! samples on as each packet is decoded: [`decode_file`] collects them from bytes in memory;
//! [`decode_to_wav`] reads a file on disk and writes a WAV file, so memory stays the same
//! whatever the file's length.

use std::fs::File;
use std::io::{BufWriter, Cursor};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

use crate::resample::{Resampler16k, to_i16};
use crate::wav::hound_error;
use crate::{AudioError, TARGET_RATE};

/// The sample rates a file may declare. The resampler's work and memory grow with the rate's
/// ratio to 16 kHz: a header claiming 100 MHz would have it plan FFTs over hundreds of
/// millions of points and exhaust memory before a single sample is decoded, and one claiming
/// 1 Hz would turn each sample into 16,000.
pub const FILE_RATES: std::ops::RangeInclusive<u32> = 1_000..=384_000;

/// What a file turned out to be, once decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Sample rate of the file.
    pub source_rate: u32,
    /// Channel count of the file.
    pub source_channels: u16,
    /// Container: `"wav"`, `"mp3"`, `"flac"` or `"ogg"`.
    pub format: String,
    /// Seconds of 16 kHz audio it gave.
    pub duration_seconds: f64,
}

/// An uploaded file, decoded and normalized, held in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    /// 16 kHz mono samples.
    pub samples: Vec<i16>,
    /// Sample rate of the file.
    pub source_rate: u32,
    /// Channel count of the file.
    pub source_channels: u16,
    /// Container: `"wav"`, `"mp3"`, `"flac"` or `"ogg"`.
    pub format: String,
    /// Length of `samples` in seconds.
    pub duration_seconds: f64,
}

/// Decode a whole audio file held in memory: any WAV (8/16/24/32-bit integer, 32/64-bit
/// float), MP3, FLAC or OGG/Vorbis, at any rate from 1 to 384 kHz and any channel count.
/// Channels are averaged and the result resampled to 16 kHz.
///
/// The content decides the format; `filename`'s extension is only a hint. A file cut
/// short after its first decodable packet yields the audio up to the cut; empty,
/// garbage or unsupported input yields an [`AudioError`] that can be shown to the user.
/// Never panics: a panic inside a decoder is caught and reported as a damaged file.
pub fn decode_file(bytes: &[u8], filename: Option<&str>) -> Result<DecodedAudio, AudioError> {
    if bytes.is_empty() {
        return Err(AudioError::Unsupported("the file is empty".into()));
    }
    let mut samples = Vec::new();
    let source = Box::new(Cursor::new(bytes));
    let decoded = decode_with(source, filename, &mut |chunk| {
        samples.extend_from_slice(chunk);
        Ok(())
    })?;
    Ok(DecodedAudio {
        samples,
        source_rate: decoded.source_rate,
        source_channels: decoded.source_channels,
        format: decoded.format,
        duration_seconds: decoded.duration_seconds,
    })
}

/// Decodes the audio file at `source` as [`decode_file`] does, writing the 16 kHz mono audio
/// to a new WAV file at `dest` as it goes: memory does not grow with the file's length. On
/// failure `dest` is removed.
pub fn decode_to_wav(
    source: &Path,
    dest: &Path,
    filename: Option<&str>,
) -> Result<Decoded, AudioError> {
    let file = File::open(source)
        .map_err(|e| AudioError::io(format!("could not open {}", source.display()), e))?;
    let length = file
        .metadata()
        .map_err(|e| AudioError::io(format!("could not read {}", source.display()), e))?
        .len();
    if length == 0 {
        return Err(AudioError::Unsupported("the file is empty".into()));
    }
    let outcome = (|| {
        let mut writer =
            hound::WavWriter::new(
                BufWriter::new(File::create(dest).map_err(|e| {
                    AudioError::io(format!("could not create {}", dest.display()), e)
                })?),
                crate::wav::spec(),
            )
            .map_err(|e| hound_error(&format!("could not create {}", dest.display()), e))?;
        let decoded = decode_with(Box::new(file), filename, &mut |chunk| {
            chunk
                .iter()
                .try_for_each(|&sample| writer.write_sample(sample))
                .map_err(|e| hound_error(&format!("could not write {}", dest.display()), e))
        })?;
        writer
            .finalize()
            .map_err(|e| hound_error(&format!("could not write {}", dest.display()), e))?;
        Ok(decoded)
    })();
    if outcome.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    outcome
}

/// Where decoded samples go, a packet's worth at a time.
type Sink<'a> = dyn FnMut(&[i16]) -> Result<(), AudioError> + 'a;

/// The streaming core: probes `source`, decodes its audio track packet by packet and hands
/// each packet's 16 kHz mono samples to `sink`. A panic inside a decoder is caught and
/// reported as a damaged file.
fn decode_with<'s>(
    source: Box<dyn MediaSource + 's>,
    filename: Option<&str>,
    sink: &mut Sink<'_>,
) -> Result<Decoded, AudioError> {
    match catch_unwind(AssertUnwindSafe(|| decode_inner(source, filename, sink))) {
        Ok(result) => result,
        Err(_) => {
            tracing::error!(
                ?filename,
                "audio decoder panicked; reporting the file as damaged"
            );
            Err(AudioError::Corrupt(
                "the decoder could not make sense of it".into(),
            ))
        }
    }
}

/// The most audio one file may hold: the longest conversation (2 h 59 min) and a margin. A
/// file that declares more is refused before anything is decoded, and decoding stops once it
/// has produced this much, so a small file of hours of silence (a 306 KiB FLAC of 24 hours)
/// cannot fill the memory.
pub const MAX_FILE_SECONDS: u64 = 3 * 60 * 60;

fn decode_inner<'s>(
    source: Box<dyn MediaSource + 's>,
    filename: Option<&str>,
    sink: &mut Sink<'_>,
) -> Result<Decoded, AudioError> {
    let mut hint = Hint::new();
    if let Some(ext) = filename
        .and_then(|f| Path::new(f).extension())
        .and_then(|e| e.to_str())
    {
        hint.with_extension(&ext.to_ascii_lowercase());
    }
    let mss = MediaSourceStream::new(source, Default::default());
    let mut reader = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| AudioError::Unsupported(probe_message(&e)))?;
    let format = container_name(reader.as_ref());

    let track = reader
        .default_track(TrackType::Audio)
        .ok_or_else(|| AudioError::Unsupported("the file has no audio track".into()))?;
    let track_id = track.id;
    // What the container declares, checked before a sample is decoded.
    if let (Some(frames), Some(rate)) = (
        track.num_frames,
        track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .and_then(|audio| audio.sample_rate),
    ) && rate > 0
    {
        let seconds = frames as f64 / f64::from(rate);
        if seconds > MAX_FILE_SECONDS as f64 {
            return Err(AudioError::TooLong {
                seconds,
                limit: MAX_FILE_SECONDS,
            });
        }
    }
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| AudioError::Unsupported("the file has no audio track".into()))?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| match e {
            SymError::Unsupported(_) => AudioError::Unsupported(format!(
                "the {format} file uses an audio codec this server cannot decode"
            )),
            other => AudioError::Corrupt(other.to_string()),
        })?;

    // One packet's samples at a time, handed to `sink`; `total` counts them all.
    let mut out: Vec<i16> = Vec::new();
    let mut total: u64 = 0;
    let mut source: Option<(u32, u16)> = None;
    let mut resampler: Option<Resampler16k> = None;
    let mut interleaved: Vec<f32> = Vec::new();
    let mut mono: Vec<f32> = Vec::new();
    let mut bad_packets = 0usize;
    let mut last_error: Option<String> = None;

    loop {
        let packet = match reader.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) | Err(SymError::ResetRequired) => break,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => {
                if source.is_some() {
                    tracing::warn!(error = %e, "stopping at a damaged part of the audio file");
                    break;
                }
                return Err(AudioError::Corrupt(e.to_string()));
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        let buffer = match decoder.decode(&packet) {
            Ok(buffer) => buffer,
            Err(SymError::DecodeError(e)) => {
                bad_packets += 1;
                last_error = Some(e.to_string());
                continue;
            }
            Err(SymError::IoError(e)) => {
                bad_packets += 1;
                last_error = Some(e.to_string());
                continue;
            }
            Err(e) => {
                if source.is_some() {
                    tracing::warn!(error = %e, "stopping at an undecodable part of the audio file");
                    break;
                }
                return Err(AudioError::Corrupt(e.to_string()));
            }
        };
        let spec = buffer.spec();
        let rate = spec.rate();
        let channels = spec.channels().count();
        if buffer.frames() == 0 {
            continue;
        }
        if rate == 0 || channels == 0 {
            return Err(AudioError::Corrupt(
                "the file declares no sample rate or no channels".into(),
            ));
        }
        match source {
            None => {
                if !FILE_RATES.contains(&rate) {
                    return Err(AudioError::BadFormat(format!(
                        "sample rate {rate} Hz is outside {}..={} Hz",
                        FILE_RATES.start(),
                        FILE_RATES.end()
                    )));
                }
                let channels16 = u16::try_from(channels).unwrap_or(u16::MAX);
                source = Some((rate, channels16));
                if rate != TARGET_RATE {
                    resampler = Some(Resampler16k::new(rate)?);
                }
            }
            Some((first_rate, _)) if first_rate != rate => {
                tracing::warn!(
                    first_rate,
                    rate,
                    "sample rate changes mid-file; keeping the first part"
                );
                break;
            }
            Some(_) => {}
        }
        buffer.copy_to_vec_interleaved::<f32>(&mut interleaved);
        mono.clear();
        let scale = 1.0 / channels as f32;
        mono.extend(
            interleaved
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() * scale),
        );
        match resampler.as_mut() {
            Some(r) => r.push(&mono, &mut out)?,
            None => out.extend(mono.iter().map(|&s| to_i16(s))),
        }
        // What it really holds, whatever it declared.
        total += out.len() as u64;
        if total > MAX_FILE_SECONDS * u64::from(TARGET_RATE) {
            return Err(AudioError::TooLong {
                seconds: total as f64 / f64::from(TARGET_RATE),
                limit: MAX_FILE_SECONDS,
            });
        }
        sink(&out)?;
        out.clear();
    }
    if let Some(r) = resampler.as_mut() {
        r.finish(&mut out)?;
        total += out.len() as u64;
        sink(&out)?;
    }
    if bad_packets > 0 {
        tracing::debug!(bad_packets, ?last_error, "skipped undecodable packets");
    }

    let Some((source_rate, source_channels)) = source else {
        return Err(match last_error {
            Some(e) => AudioError::Corrupt(format!("no part of the audio could be decoded ({e})")),
            None => AudioError::NoAudio,
        });
    };
    if total == 0 {
        return Err(AudioError::NoAudio);
    }
    let duration_seconds = total as f64 / f64::from(TARGET_RATE);
    Ok(Decoded {
        source_rate,
        source_channels,
        format,
        duration_seconds,
    })
}

/// Short container name for [`DecodedAudio::format`].
fn container_name(reader: &dyn FormatReader) -> String {
    match reader.format_info().short_name {
        "wave" => "wav".to_string(),
        other => other.to_string(),
    }
}

fn probe_message(error: &SymError) -> String {
    match error {
        SymError::Unsupported(_) => "the content is not in a known audio format".to_string(),
        SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file ends before its audio starts".to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::test_util::{assert_close, frequency, random_bytes, rms, sine, sine_i16};
    use crate::wav_bytes;

    const FLAC: &[u8] = include_bytes!("../tests/fixtures/tone_440hz_22050hz_mono.flac");
    const MP3: &[u8] = include_bytes!("../tests/fixtures/tone_440hz_44100hz_mono.mp3");
    const OGG: &[u8] = include_bytes!("../tests/fixtures/tone_440hz_48000hz_stereo.ogg");

    /// Sample encodings hound can write.
    #[derive(Clone, Copy)]
    enum Kind {
        U8,
        I16,
        I24,
        I32,
        F32,
    }

    /// A WAV file with one signal (-1.0..1.0) per channel.
    fn make_wav(rate: u32, kind: Kind, channels: &[Vec<f64>]) -> Vec<u8> {
        let (bits, format) = match kind {
            Kind::U8 => (8, hound::SampleFormat::Int),
            Kind::I16 => (16, hound::SampleFormat::Int),
            Kind::I24 => (24, hound::SampleFormat::Int),
            Kind::I32 => (32, hound::SampleFormat::Int),
            Kind::F32 => (32, hound::SampleFormat::Float),
        };
        let spec = hound::WavSpec {
            channels: channels.len() as u16,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: format,
        };
        let mut cursor = Cursor::new(Vec::new());
        {
            let mut w = hound::WavWriter::new(&mut cursor, spec).expect("writer");
            for i in 0..channels[0].len() {
                for ch in channels {
                    let s = ch[i];
                    match kind {
                        Kind::U8 => w.write_sample((s * 127.0).round() as i8),
                        Kind::I16 => w.write_sample((s * 32767.0).round() as i16),
                        Kind::I24 => w.write_sample((s * 8_388_607.0).round() as i32),
                        Kind::I32 => w.write_sample((s * 2_147_483_647.0).round() as i32),
                        Kind::F32 => w.write_sample(s as f32),
                    }
                    .expect("sample");
                }
            }
            w.finalize().expect("finalize");
        }
        cursor.into_inner()
    }

    /// Decode and check rate, channel count, format, duration (±1%), tone (±5%) and level.
    fn check(
        bytes: &[u8],
        name: &str,
        rate: u32,
        channels: u16,
        format: &str,
        seconds: f64,
        amp: f64,
    ) -> DecodedAudio {
        let d = decode_file(bytes, Some(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(d.source_rate, rate, "{name}");
        assert_eq!(d.source_channels, channels, "{name}");
        assert_eq!(d.format, format, "{name}");
        assert_close(
            &format!("{name} duration"),
            d.duration_seconds,
            seconds,
            0.01,
        );
        assert_close(
            &format!("{name} samples"),
            d.samples.len() as f64,
            seconds * 16_000.0,
            0.01,
        );
        // Skip 50 ms at each end: resampler and codec edges.
        assert_close(
            &format!("{name} tone"),
            frequency(&d.samples, 16_000, 800),
            440.0,
            0.05,
        );
        assert_close(
            &format!("{name} level"),
            rms(&d.samples, 800),
            amp / 2f64.sqrt(),
            0.1,
        );
        d
    }

    #[test]
    fn wav_44100_stereo_is_averaged_and_resampled() {
        // Left carries the tone, right is silent: the average halves the amplitude.
        let left = sine(440.0, 0.6, 44_100, 1.0);
        let right = vec![0.0; left.len()];
        let bytes = make_wav(44_100, Kind::I16, &[left, right]);
        check(&bytes, "a.wav", 44_100, 2, "wav", 1.0, 0.3);
    }

    #[test]
    fn wav_8000_mono_16_bit_is_upsampled() {
        let bytes = make_wav(8_000, Kind::I16, &[sine(440.0, 0.5, 8_000, 1.0)]);
        check(&bytes, "b.wav", 8_000, 1, "wav", 1.0, 0.5);
    }

    #[test]
    fn wav_8000_mono_8_bit_unsigned() {
        let bytes = make_wav(8_000, Kind::U8, &[sine(440.0, 0.5, 8_000, 1.0)]);
        check(&bytes, "c.wav", 8_000, 1, "wav", 1.0, 0.5);
    }

    #[test]
    fn wav_48000_24_bit() {
        let bytes = make_wav(48_000, Kind::I24, &[sine(440.0, 0.5, 48_000, 1.0)]);
        check(&bytes, "d.wav", 48_000, 1, "wav", 1.0, 0.5);
    }

    #[test]
    fn wav_32_bit_int_and_float() {
        let tone = sine(440.0, 0.5, 32_000, 1.0);
        let bytes = make_wav(32_000, Kind::I32, &[tone.clone(), tone.clone()]);
        check(&bytes, "e.wav", 32_000, 2, "wav", 1.0, 0.5);
        let bytes = make_wav(44_100, Kind::F32, &[sine(440.0, 0.5, 44_100, 1.5)]);
        check(&bytes, "f.wav", 44_100, 1, "wav", 1.5, 0.5);
    }

    /// Found by `fuzz/fuzz_targets/upload_decode.rs`: a float WAV holding NaN or infinity
    /// made the resampler's inverse FFT panic, so the file was refused as damaged.
    #[test]
    fn float_samples_that_are_not_numbers_are_silence_and_loud_ones_clip() {
        let mut tone = sine(440.0, 0.5, 22_050, 1.0);
        for (at, odd) in [
            (100, f64::NAN),
            (5_000, f64::INFINITY),
            (9_000, -1e30),
            (12_000, 7.0),
        ] {
            tone[at] = odd;
        }
        let bytes = make_wav(22_050, Kind::F32, &[tone]);
        let decoded = decode_file(&bytes, Some("odd.wav")).expect("odd samples decode");
        assert_eq!(decoded.samples.len(), 16_000);
        let loudest = decoded.samples.iter().map(|s| s.unsigned_abs()).max();
        assert!(
            loudest.is_some_and(|l| l > 16_000),
            "the tone is still there"
        );
    }

    #[test]
    fn wav_16000_mono_16_bit_passes_through_exactly() {
        let samples = sine_i16(440.0, 0.5, 16_000, 0.5);
        let d = decode_file(&wav_bytes(&samples), None).expect("decode");
        assert_eq!(d.samples, samples);
        assert_eq!(d.duration_seconds, 0.5);
    }

    #[test]
    fn flac_fixture() {
        check(FLAC, "tone.flac", 22_050, 1, "flac", 1.0, 0.5);
    }

    #[test]
    fn mp3_fixture() {
        check(MP3, "tone.mp3", 44_100, 1, "mp3", 1.5, 0.5);
    }

    #[test]
    fn ogg_vorbis_fixture() {
        check(OGG, "tone.ogg", 48_000, 2, "ogg", 1.5, 0.5);
    }

    #[test]
    fn the_content_wins_over_a_wrong_or_missing_extension() {
        check(MP3, "really-an-mp3.wav", 44_100, 1, "mp3", 1.5, 0.5);
        check(FLAC, "noext", 22_050, 1, "flac", 1.0, 0.5);
        let d = decode_file(OGG, None).expect("no name");
        assert_eq!(d.format, "ogg");
    }

    #[test]
    fn a_file_on_disk_is_decoded_to_a_wav_file_as_it_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = dir.path().join("tone.ogg");
        std::fs::write(&source, OGG).expect("write");
        let dest = dir.path().join("tone.wav");
        let decoded = decode_to_wav(&source, &dest, Some("tone.ogg")).expect("decode");
        let in_memory = decode_file(OGG, Some("tone.ogg")).expect("decode in memory");
        assert_eq!(decoded.format, "ogg");
        assert_eq!((decoded.source_rate, decoded.source_channels), (48_000, 2));
        assert_eq!(decoded.duration_seconds, in_memory.duration_seconds);
        let mut written = Vec::new();
        let mut chunks = crate::WavChunks::open(&dest).expect("a WAV");
        while chunks.read(4096, &mut written).expect("read") > 0 {}
        assert_eq!(written, in_memory.samples, "the same samples either way");

        // A file that is not audio leaves no WAV behind.
        std::fs::write(&source, b"not audio at all, just words").expect("write");
        let error = decode_to_wav(&source, &dest, Some("x.ogg")).expect_err("garbage");
        assert!(matches!(error, AudioError::Unsupported(_)), "{error}");
        assert!(!dest.exists());
        std::fs::write(&source, b"").expect("write");
        assert!(decode_to_wav(&source, &dest, None).is_err());
    }

    #[test]
    fn a_file_declaring_more_than_three_hours_is_refused_before_decoding() {
        // A WAV header that claims four hours of 16 kHz mono 16-bit audio, with a second of it.
        let declared: u32 = 4 * 60 * 60 * 16_000 * 2;
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"RIFF");
        bytes.extend_from_slice(&(declared + 36).to_le_bytes());
        bytes.extend_from_slice(b"WAVEfmt ");
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
        bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
        bytes.extend_from_slice(&16_000u32.to_le_bytes());
        bytes.extend_from_slice(&32_000u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&16u16.to_le_bytes());
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&declared.to_le_bytes());
        bytes.extend(std::iter::repeat_n(0u8, 32_000));
        let error = decode_file(&bytes, Some("bomb.wav")).unwrap_err();
        assert!(
            matches!(error, AudioError::TooLong { limit: MAX_FILE_SECONDS, seconds } if seconds > 14_000.0),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("more than the 10800 s one file may have"),
            "{error}"
        );
    }

    #[test]
    fn empty_and_header_only_files_are_errors() {
        let e = decode_file(b"", Some("x.wav")).expect_err("empty");
        assert!(
            e.to_string().starts_with("not a supported audio file"),
            "{e}"
        );
        let e = decode_file(&wav_bytes(&[]), Some("x.wav")).expect_err("no samples");
        assert!(e.to_string().contains("holds no audio"), "{e}");
        assert!(e.is_input_error());
    }

    #[test]
    fn text_is_not_audio() {
        let e = decode_file(b"hello, this is not a song at all\n", Some("notes.mp3"))
            .expect_err("text");
        assert!(matches!(e, AudioError::Unsupported(_)), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("not a supported audio file (WAV, MP3, FLAC, OGG/Vorbis): "),
            "{e}"
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        for seed in 0..40u64 {
            let len = [1, 3, 12, 44, 100, 1000, 4096, 20_000][seed as usize % 8];
            // Most cases start with a real magic, to get past the probe.
            let magic: &[u8] = match seed % 5 {
                1 => b"RIFF\x24\x00\x00\x00WAVEfmt ",
                2 => b"fLaC\x00\x00\x00\x22",
                3 => b"OggS\x00\x02",
                4 => &[0xFF, 0xFB, 0x90, 0x64],
                _ => b"",
            };
            let mut bytes = magic.to_vec();
            bytes.extend(random_bytes(seed, len));
            for name in [None, Some("x.wav"), Some("x.mp3"), Some("x.ogg")] {
                if let Ok(d) = decode_file(&bytes, name) {
                    // Noise that happens to parse is fine; it must still be well formed.
                    assert_eq!(
                        d.duration_seconds,
                        d.samples.len() as f64 / 16_000.0,
                        "seed {seed}"
                    );
                }
            }
        }
    }

    #[test]
    fn truncated_files_never_panic() {
        let wav = make_wav(44_100, Kind::I24, &[sine(440.0, 0.5, 44_100, 0.5)]);
        for (name, bytes, full) in [
            ("t.wav", wav.as_slice(), 0.5),
            ("t.flac", FLAC, 1.0),
            ("t.mp3", MP3, 1.5),
            ("t.ogg", OGG, 1.5),
        ] {
            let mut cuts: Vec<usize> = (0..60).collect();
            cuts.extend((1..40).map(|i| bytes.len() * i / 40));
            for cut in cuts {
                match decode_file(&bytes[..cut], Some(name)) {
                    Ok(d) => assert!(
                        d.duration_seconds <= full * 1.01,
                        "{name} cut at {cut}: {} s",
                        d.duration_seconds
                    ),
                    Err(e) => assert!(!e.to_string().is_empty()),
                }
            }
        }
        // A WAV cut in the middle of its data keeps what is there.
        let half = decode_file(&wav[..wav.len() / 2], Some("t.wav")).expect("half a wav");
        assert_close("half duration", half.duration_seconds, 0.25, 0.02);
    }

    #[test]
    fn corrupted_payloads_never_panic() {
        for (i, fixture) in [FLAC, MP3, OGG].into_iter().enumerate() {
            for seed in 0..8u64 {
                let mut bytes = fixture.to_vec();
                let noise = random_bytes(seed + 100 * i as u64, bytes.len());
                // Overwrite every 7th byte after the first 200 with noise.
                for (j, b) in bytes.iter_mut().enumerate().skip(200) {
                    if j % 7 == seed as usize % 7 {
                        *b = noise[j];
                    }
                }
                let _ = decode_file(&bytes, None);
            }
        }
    }
}
