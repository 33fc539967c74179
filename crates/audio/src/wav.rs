//! 16 kHz mono 16-bit WAV: crash-tolerant session recording and in-memory encoding.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::{AudioError, TARGET_RATE};

/// The WAV format every recording uses.
pub(crate) fn spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: TARGET_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

/// A WAV file's data chunk length is a u32: at 2 bytes per sample about 37 hours fit.
const MAX_SAMPLES: u64 = (u32::MAX as u64 - 64) / 2;

/// Samples between two header updates: one second of audio.
const FLUSH_EVERY: u64 = TARGET_RATE as u64;

/// Writes a 16 kHz mono 16-bit WAV file as audio arrives.
///
/// The header is rewritten after every second of appended audio, so if the process dies
/// before [`WavRecorder::finish`], the file still reads as a valid WAV holding at least
/// everything up to the last header update. Dropping the recorder without `finish`
/// finalizes the file as well, but any error is then lost: call `finish` to see it.
/// The header updates flush to the operating system; they do not `fsync`: that is
/// [`WavRecorder::sync`], for a caller that promises a device its audio is on disk.
pub struct WavRecorder {
    writer: hound::WavWriter<BufWriter<File>>,
    /// A second handle on the file, only to `fsync` it: hound keeps its own to itself.
    sync_handle: File,
    path: PathBuf,
    samples: u64,
    unflushed: u64,
}

impl std::fmt::Debug for WavRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavRecorder")
            .field("path", &self.path)
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

impl WavRecorder {
    /// Create (or truncate) `path`, creating missing parent folders, and write the header.
    pub fn create(path: &Path) -> Result<Self, AudioError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| {
                AudioError::io(format!("could not create folder {}", parent.display()), e)
            })?;
        }
        let writer = hound::WavWriter::create(path, spec())
            .map_err(|e| hound_error(&format!("could not create {}", path.display()), e))?;
        let sync_handle = File::open(path)
            .map_err(|e| AudioError::io(format!("could not open {}", path.display()), e))?;
        Ok(Self {
            writer,
            sync_handle,
            path: path.to_path_buf(),
            samples: 0,
            unflushed: 0,
        })
    }

    /// Append 16 kHz mono samples.
    pub fn append(&mut self, samples: &[i16]) -> Result<(), AudioError> {
        if self.samples + samples.len() as u64 > MAX_SAMPLES {
            return Err(AudioError::BadFormat(format!(
                "{} is full: a WAV file holds at most about 37 hours of 16 kHz audio",
                self.path.display()
            )));
        }
        for &sample in samples {
            self.writer
                .write_sample(sample)
                .map_err(|e| hound_error(&format!("could not write {}", self.path.display()), e))?;
        }
        self.samples += samples.len() as u64;
        self.unflushed += samples.len() as u64;
        if self.unflushed >= FLUSH_EVERY {
            self.writer.flush().map_err(|e| {
                hound_error(&format!("could not update {}", self.path.display()), e)
            })?;
            self.unflushed = 0;
        }
        Ok(())
    }

    /// Makes everything appended so far durable: the header updated, the data handed to the
    /// operating system and the file's data flushed to the disk (`fsync`). Costs a disk
    /// round trip: call it when someone waits for the promise, not per chunk.
    pub fn sync(&mut self) -> Result<(), AudioError> {
        self.writer
            .flush()
            .map_err(|e| hound_error(&format!("could not update {}", self.path.display()), e))?;
        self.unflushed = 0;
        self.sync_handle
            .sync_data()
            .map_err(|e| AudioError::io(format!("could not sync {}", self.path.display()), e))
    }

    /// Seconds of audio appended so far.
    pub fn seconds(&self) -> f64 {
        self.samples as f64 / f64::from(TARGET_RATE)
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write the final header and close the file; returns the recorded seconds.
    pub fn finish(self) -> Result<f64, AudioError> {
        let seconds = self.seconds();
        let path = self.path;
        self.writer
            .finalize()
            .map_err(|e| hound_error(&format!("could not finish {}", path.display()), e))?;
        Ok(seconds)
    }
}

/// Encode 16 kHz mono samples as a complete WAV file in memory.
///
/// # Panics
///
/// If `samples` holds more than a WAV file can (about 2^31 samples, 37 hours).
pub fn wav_bytes(samples: &[i16]) -> Vec<u8> {
    assert!(
        samples.len() as u64 <= MAX_SAMPLES,
        "too many samples for one WAV file"
    );
    let mut cursor = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    {
        // Writing to memory cannot fail once the size is checked.
        let mut writer =
            hound::WavWriter::new(&mut cursor, spec()).expect("WAV header into memory");
        for &sample in samples {
            writer.write_sample(sample).expect("WAV sample into memory");
        }
        writer.finalize().expect("WAV header into memory");
    }
    cursor.into_inner()
}

/// Reads a 16 kHz mono 16-bit WAV file that this crate wrote (a recording, a decoded upload) a
/// piece at a time, so a long one is never held whole.
///
/// It reads to the end of the file, not to the length its header declares: a recorder killed
/// mid-session updated its header up to a second before it died, and the audio after that
/// is on disk all the same.
pub struct WavChunks {
    file: BufReader<File>,
    path: PathBuf,
}

impl std::fmt::Debug for WavChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavChunks")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Reads into `buffer` until it is full or the file ends; how many bytes it read.
fn fill(file: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// The length of the header [`WavRecorder`] and [`crate::decode_to_wav`] write: RIFF, `fmt `
/// of 16 bytes, then `data`.
const HEADER: usize = 44;

impl WavChunks {
    /// Opens `path`, which must be a 16 kHz mono 16-bit WAV file with the plain 44-byte header.
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        let unreadable = |e| hound_error(&format!("could not read {}", path.display()), e);
        let reader = hound::WavReader::open(path).map_err(unreadable)?;
        if reader.spec() != spec() {
            return Err(AudioError::BadFormat(format!(
                "{} is not 16 kHz mono 16-bit audio",
                path.display()
            )));
        }
        let mut file = reader.into_inner();
        let mut header = [0u8; HEADER];
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_exact(&mut header))
            .map_err(|e| AudioError::io(format!("could not read {}", path.display()), e))?;
        if &header[36..40] != b"data" {
            return Err(AudioError::BadFormat(format!(
                "{} is not a recording of this server (its audio does not follow a 44-byte header)",
                path.display()
            )));
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Appends up to `max` samples to `into`; how many it appended, 0 at the end.
    pub fn read(&mut self, max: usize, into: &mut Vec<i16>) -> Result<usize, AudioError> {
        // A block at a time, so reading a long piece needs no second copy of it as bytes.
        let mut block = [0u8; 64 * 1024];
        let mut read = 0;
        while read < max {
            let want = ((max - read) * 2).min(block.len());
            let got = fill(&mut self.file, &mut block[..want]).map_err(|e| {
                AudioError::io(format!("could not read {}", self.path.display()), e)
            })?;
            // An odd byte at the very end is half a sample, never completed.
            into.extend(
                block[..got]
                    .chunks_exact(2)
                    .map(|pair| i16::from_le_bytes([pair[0], pair[1]])),
            );
            read += got / 2;
            if got < want {
                break;
            }
        }
        Ok(read)
    }
}

pub(crate) fn hound_error(context: &str, error: hound::Error) -> AudioError {
    match error {
        hound::Error::IoError(source) => AudioError::io(context, source),
        other => AudioError::BadFormat(format!("{context}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::sine_i16;

    fn read(path: &Path) -> (hound::WavSpec, Vec<i16>) {
        let reader = hound::WavReader::open(path).expect("readable WAV");
        let spec = reader.spec();
        let samples = reader
            .into_samples::<i16>()
            .collect::<Result<Vec<_>, _>>()
            .expect("samples");
        (spec, samples)
    }

    #[test]
    fn records_and_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a/b/session.wav");
        let signal = sine_i16(440.0, 0.5, 16_000, 2.5);
        let mut recorder = WavRecorder::create(&path).expect("create");
        assert_eq!(recorder.path(), path);
        for chunk in signal.chunks(777) {
            recorder.append(chunk).expect("append");
        }
        assert_eq!(recorder.seconds(), 2.5);
        assert_eq!(recorder.finish().expect("finish"), 2.5);
        let (spec, samples) = read(&path);
        assert_eq!(spec, super::spec());
        assert_eq!(samples, signal);
    }

    #[test]
    fn an_empty_recording_is_a_valid_wav() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.wav");
        assert_eq!(
            WavRecorder::create(&path)
                .expect("create")
                .finish()
                .expect("finish"),
            0.0
        );
        assert!(read(&path).1.is_empty());
    }

    #[test]
    fn a_dropped_recorder_leaves_a_complete_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dropped.wav");
        let signal = sine_i16(440.0, 0.5, 16_000, 1.3);
        let mut recorder = WavRecorder::create(&path).expect("create");
        recorder.append(&signal).expect("append");
        drop(recorder);
        assert_eq!(read(&path).1, signal);
    }

    #[test]
    fn a_killed_process_leaves_the_audio_up_to_the_last_header_update() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("killed.wav");
        let signal = sine_i16(440.0, 0.5, 16_000, 2.5);
        let mut recorder = WavRecorder::create(&path).expect("create");
        for chunk in signal.chunks(1_600) {
            recorder.append(chunk).expect("append");
        }
        // No destructor runs when a process is killed: leak the recorder instead.
        std::mem::forget(recorder);
        let (spec, samples) = read(&path);
        assert_eq!(spec, super::spec());
        assert!(samples.len() >= 32_000, "only {} samples", samples.len());
        assert_eq!(samples[..], signal[..samples.len()]);
    }

    #[test]
    fn a_synced_recording_holds_every_sample_appended_before_the_sync() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("synced.wav");
        let signal = sine_i16(440.0, 0.5, 16_000, 0.3);
        let mut recorder = WavRecorder::create(&path).expect("create");
        // Less than a second: no header update would have happened without the sync.
        recorder.append(&signal).expect("append");
        recorder.sync().expect("sync");
        std::mem::forget(recorder);
        assert_eq!(read(&path).1, signal);
    }

    #[test]
    fn create_fails_with_a_useful_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").expect("write");
        let e = WavRecorder::create(&file.join("x.wav")).expect_err("parent is a file");
        assert!(!e.is_input_error());
        assert!(e.to_string().contains("plain-file"), "{e}");
    }

    #[test]
    fn wav_bytes_is_a_16k_mono_wav() {
        let signal = sine_i16(440.0, 0.5, 16_000, 0.25);
        let bytes = wav_bytes(&signal);
        assert_eq!(bytes.len(), 44 + signal.len() * 2);
        let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).expect("reader");
        assert_eq!(reader.spec(), super::spec());
        let samples: Vec<i16> = reader.into_samples().map(|s| s.expect("sample")).collect();
        assert_eq!(samples, signal);
    }

    fn pcm(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    #[test]
    fn a_recording_reads_back_in_pieces_to_the_end_of_its_data_whatever_its_header_says() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.wav");
        let samples = sine_i16(440.0, 0.5, 16_000, 2.5);
        let mut recorder = WavRecorder::create(&path).expect("create");
        recorder.append(&samples).expect("append");
        recorder.finish().expect("finish");
        let mut chunks = WavChunks::open(&path).expect("open");
        let mut read = Vec::new();
        let mut sizes = Vec::new();
        loop {
            let n = chunks.read(16_000, &mut read).expect("read");
            if n == 0 {
                break;
            }
            sizes.push(n);
        }
        assert_eq!(sizes, [16_000, 16_000, 8_000]);
        assert_eq!(read, samples);

        // The header says 2.5 s, the data stops after 1 s.
        let bytes = std::fs::read(&path).expect("read file");
        std::fs::write(&path, &bytes[..44 + 32_000]).expect("cut");
        let mut read = Vec::new();
        let mut chunks = WavChunks::open(&path).expect("open the cut file");
        while chunks.read(10_000, &mut read).expect("read") > 0 {}
        assert_eq!(read, samples[..16_000]);

        // A killed recorder's header says 1 s; 2.5 s are on disk.
        let mut longer = wav_bytes(&samples[..16_000]);
        longer.extend(pcm(&samples[16_000..]));
        std::fs::write(&path, &longer).expect("write");
        let mut read = Vec::new();
        let mut chunks = WavChunks::open(&path).expect("open");
        while chunks.read(7_000, &mut read).expect("read") > 0 {}
        assert_eq!(read, samples, "everything on disk");

        std::fs::write(&path, wav_bytes(&[])).expect("write");
        let stereo = hound::WavSpec {
            channels: 2,
            ..spec()
        };
        hound::WavWriter::create(&path, stereo)
            .expect("stereo")
            .finalize()
            .expect("finalize");
        let error = WavChunks::open(&path).expect_err("stereo is not ours");
        assert!(error.to_string().contains("16 kHz mono"), "{error}");
    }
}
