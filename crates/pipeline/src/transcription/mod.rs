//! Speech to text, behind two traits: [`BatchTranscriber`] (a whole recording in, a transcript
//! out) and [`StreamingTranscriber`] (audio in as it arrives, interim and final results out).
//!
//! Every provider serves both, so any provider can back both live sessions and uploads:
//! Deepgram streams natively and transcribes a recording by streaming it; the OpenAI-compatible
//! and Wyoming providers transcribe natively and serve a live session through
//! [`utterances::Utterances`], which cuts the stream at pauses and transcribes each utterance.

pub mod deepgram;
pub mod openai;
pub mod utterances;
pub mod wyoming;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// One recognized word, timed in seconds from the start of the audio given to the provider.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Word {
    pub word: String,
    pub start: f64,
    pub end: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

/// A stretch of speech: a sentence from a batch transcriber, a final result from a stream.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Segment {
    pub text: String,
    pub start: f64,
    pub end: f64,
    pub speaker: String,
    pub words: Vec<Word>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

impl Segment {
    /// A segment from its words, with the text given (punctuated) or else the words joined.
    pub fn new(text: impl Into<String>, start: f64, end: f64, words: Vec<Word>) -> Self {
        let mut text = text.into().trim().to_owned();
        if text.is_empty() {
            text = words
                .iter()
                .map(|w| w.word.as_str())
                .collect::<Vec<_>>()
                .join(" ");
        }
        Self {
            text,
            start,
            end: end.max(start),
            speaker: "SPEAKER_00".into(),
            words,
            confidence: None,
        }
    }

    /// Moves the segment `offset` seconds later (a piece of a longer recording).
    pub fn shifted(mut self, offset: f64) -> Self {
        self.start += offset;
        self.end += offset;
        for word in &mut self.words {
            word.start += offset;
            word.end += offset;
        }
        self
    }

    /// Whether this is speech worth a conversation: some word that is not just punctuation.
    pub fn is_meaningful(&self) -> bool {
        self.text.chars().any(char::is_alphanumeric)
    }

    /// The stored form (the original's segment shape, with the words inside).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| json!({"text": self.text}))
    }
}

/// A whole transcript.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transcript {
    pub text: String,
    pub segments: Vec<Segment>,
}

impl Transcript {
    /// A transcript of `segments`, its text their texts joined by a space.
    pub fn from_segments(segments: Vec<Segment>) -> Self {
        let text = segments
            .iter()
            .map(|s| s.text.as_str())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Self { text, segments }
    }

    /// Every word, in order.
    pub fn words(&self) -> Vec<&Word> {
        self.segments.iter().flat_map(|s| &s.words).collect()
    }
}

/// Why a transcription failed. The message names the provider and what to check.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TranscriptionError {
    /// The provider could not be reached (refused, reset, DNS).
    #[error("{provider} is unreachable at {target}: {detail}")]
    Unreachable {
        provider: &'static str,
        target: String,
        detail: String,
    },
    /// The provider did not answer in time.
    #[error("{provider} did not answer within {seconds} s")]
    TimedOut {
        provider: &'static str,
        seconds: f64,
    },
    /// The provider answered with an error status.
    #[error("{provider} refused the request: {detail}")]
    Refused {
        provider: &'static str,
        detail: String,
    },
    /// The provider fell so far behind a live session that speech was skipped.
    #[error(
        "the transcription provider fell behind: {seconds:.1} s of speech were not transcribed"
    )]
    Behind { seconds: f64 },
    /// The provider answered something that is not its protocol.
    #[error("{provider} answered something unreadable: {detail}")]
    Garbled {
        provider: &'static str,
        detail: String,
    },
}

impl TranscriptionError {
    /// Whether trying again may help.
    pub fn is_transient(&self) -> bool {
        match self {
            // A 4xx other than a timeout or a rate limit will be answered the same way again
            // (a bad key, a file too large, an unknown model).
            Self::Refused { detail, .. } => {
                !detail.starts_with('4') || detail.starts_with("408") || detail.starts_with("429")
            }
            _ => true,
        }
    }
}

/// A provider that transcribes a whole recording (16 kHz mono s16).
#[async_trait::async_trait]
pub trait BatchTranscriber: Send + Sync {
    /// Transcribes `audio`. `partials`, when given, receives text as the provider produces it
    /// (for relaying to the device while an utterance is being transcribed).
    async fn transcribe(
        &self,
        audio: &[i16],
        partials: Option<&mpsc::Sender<String>>,
    ) -> Result<Transcript, TranscriptionError>;
}

/// What a live stream tells its session.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// Words so far of the utterance being spoken; will be replaced.
    Interim {
        text: String,
        words: Vec<Word>,
        confidence: Option<f64>,
    },
    /// A finished piece of speech, timed from the start of the stream.
    Final(Segment),
    /// A piece of speech could not be transcribed (after its retries); the stream goes on.
    Missed(TranscriptionError),
    /// The stream broke and could not be reopened; no more updates come.
    Failed(TranscriptionError),
}

/// Audio for a live stream.
#[derive(Debug)]
pub enum StreamInput {
    /// 16 kHz mono s16 samples.
    Audio(Vec<i16>),
    /// The end of the audio: flush, deliver the last finals, then end the updates.
    Finish,
}

/// An open live stream: audio goes in, updates come out; the updates end after
/// [`StreamInput::Finish`] has been answered or on failure.
pub struct TranscriptionStream {
    pub audio: mpsc::Sender<StreamInput>,
    pub updates: mpsc::Receiver<Update>,
}

/// A provider that transcribes audio as it arrives.
pub trait StreamingTranscriber: Send + Sync {
    /// Opens a stream, boosting `keyterms` where the provider can (wake words, keywords).
    fn open(&self, keyterms: Vec<String>) -> TranscriptionStream;
}

/// A configured provider: the name used in logs and both ways to use it.
#[derive(Clone)]
pub struct Transcriber {
    pub name: &'static str,
    pub batch: Arc<dyn BatchTranscriber>,
    pub streaming: Arc<dyn StreamingTranscriber>,
}

/// How hard a batch transcription tries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub retries: u32,
    /// Wait before the first retry; doubles each time.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 2,
            backoff: Duration::from_secs(1),
        }
    }
}

impl Transcriber {
    /// Transcribes a recording, retrying transient failures `policy.retries` times. A
    /// recording over ten minutes goes in pieces cut at its quietest moments (OpenAI takes at
    /// most 25 MB a file, and a long request outlives any sensible timeout).
    pub async fn transcribe(
        &self,
        audio: &[i16],
        policy: RetryPolicy,
    ) -> Result<Transcript, TranscriptionError> {
        self.transcribe_in_pieces(audio, policy, PIECE_SAMPLES)
            .await
    }

    async fn transcribe_in_pieces(
        &self,
        audio: &[i16],
        policy: RetryPolicy,
        piece: usize,
    ) -> Result<Transcript, TranscriptionError> {
        let mut segments = Vec::new();
        for (start, end) in pieces(audio, piece) {
            let transcript = self.transcribe_piece(&audio[start..end], policy).await?;
            let offset = start as f64 / RATE as f64;
            segments.extend(transcript.segments.into_iter().map(|s| s.shifted(offset)));
        }
        Ok(Transcript::from_segments(segments))
    }

    /// Transcribes the 16 kHz mono WAV file at `path` as [`Transcriber::transcribe`] does, reading
    /// it one piece at a time: memory holds one piece (ten minutes, 19.2 MB), whatever the
    /// file's length.
    pub async fn transcribe_file(
        &self,
        path: &std::path::Path,
        policy: RetryPolicy,
    ) -> Result<Transcript, TranscriptionError> {
        self.transcribe_file_in_pieces(path, policy, PIECE_SAMPLES)
            .await
    }

    async fn transcribe_file_in_pieces(
        &self,
        path: &std::path::Path,
        policy: RetryPolicy,
        piece: usize,
    ) -> Result<Transcript, TranscriptionError> {
        let unreadable = |detail: String| TranscriptionError::Garbled {
            provider: "the stored recording",
            detail,
        };
        let path = path.to_path_buf();
        let mut reader =
            tokio::task::spawn_blocking(move || chronicle_audio::WavChunks::open(&path))
                .await
                .map_err(|e| unreadable(e.to_string()))?
                .map_err(|e| unreadable(e.to_string()))?;
        let mut buffer: Vec<i16> = Vec::with_capacity(piece);
        let mut offset = 0usize;
        let mut segments = Vec::new();
        loop {
            // Fill the buffer up to one piece, off the runtime's threads.
            let want = piece - buffer.len();
            let (back, filled, read) = tokio::task::spawn_blocking(move || {
                let read = reader.read(want, &mut buffer);
                (reader, buffer, read)
            })
            .await
            .map_err(|e| unreadable(e.to_string()))?;
            reader = back;
            buffer = filled;
            let read = read.map_err(|e| unreadable(e.to_string()))?;
            let last = read < want;
            let cut = if last {
                buffer.len()
            } else {
                quiet_cut(&buffer, 0, piece)
            };
            if cut > 0 {
                let transcript = self.transcribe_piece(&buffer[..cut], policy).await?;
                let seconds = offset as f64 / RATE as f64;
                segments.extend(transcript.segments.into_iter().map(|s| s.shifted(seconds)));
            }
            if last {
                break;
            }
            buffer.drain(..cut);
            offset += cut;
        }
        Ok(Transcript::from_segments(segments))
    }

    async fn transcribe_piece(
        &self,
        audio: &[i16],
        policy: RetryPolicy,
    ) -> Result<Transcript, TranscriptionError> {
        policy
            .run(self.name, || self.batch.transcribe(audio, None))
            .await
    }
}

impl RetryPolicy {
    /// Runs `attempt` until it succeeds, fails for good, or has been retried `retries` times,
    /// waiting `backoff` before the first retry and twice as long before each next one.
    pub(crate) async fn run<T, F, Fut>(
        self,
        what: &str,
        mut attempt: F,
    ) -> Result<T, TranscriptionError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, TranscriptionError>>,
    {
        let mut delay = self.backoff;
        let mut retried = 0;
        loop {
            match attempt().await {
                Err(error) if error.is_transient() && retried < self.retries => {
                    retried += 1;
                    tracing::warn!(what, %error, attempt = retried, "Transcription failed; trying again.");
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                }
                outcome => return outcome,
            }
        }
    }
}

const RATE: usize = 16_000;
/// The longest piece of a recording sent at once: ten minutes (19.2 MB as WAV).
const PIECE_SAMPLES: usize = 600 * RATE;

/// Where to cut `audio` into pieces of at most `max` samples: at the quietest 30 ms frame of
/// the last ten seconds before each limit, so words are rarely split.
pub(crate) fn pieces(audio: &[i16], max: usize) -> Vec<(usize, usize)> {
    let mut cuts = Vec::new();
    let mut start = 0;
    while audio.len() - start > max {
        let cut = quiet_cut(audio, start, max);
        cuts.push((start, cut));
        start = cut;
    }
    cuts.push((start, audio.len()));
    cuts
}

/// The end of the piece that starts at `start` when more than `max` samples follow it: the
/// quietest 30 ms frame of the last ten seconds before `start + max`.
fn quiet_cut(audio: &[i16], start: usize, max: usize) -> usize {
    const FRAME: usize = RATE * 30 / 1000;
    let search = (10 * RATE).min(max / 2);
    let limit = start + max;
    let energy = |at: usize| {
        audio[at..at + FRAME]
            .iter()
            .map(|&s| i64::from(s).pow(2))
            .sum::<i64>()
    };
    (limit - search..limit - FRAME)
        .step_by(FRAME)
        .min_by_key(|&at| energy(at))
        .unwrap_or(limit)
}

/// Splits `text` into sentences (after `.`, `!` or `?` followed by a space).
pub(crate) fn sentences(text: &str) -> Vec<String> {
    let mut sentences = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        if matches!(c, '.' | '!' | '?') && chars.peek().is_none_or(|n| n.is_whitespace()) {
            let sentence = current.trim().to_owned();
            if !sentence.is_empty() {
                sentences.push(sentence);
            }
            current.clear();
        }
    }
    let rest = current.trim();
    if !rest.is_empty() {
        sentences.push(rest.to_owned());
    }
    sentences
}

/// Segments for a text with no timing of its own: one per sentence, the time `[0, seconds]`
/// shared out by word count, each word timed likewise.
pub(crate) fn spread(text: &str, seconds: f64) -> Vec<Segment> {
    let sentences = sentences(text);
    let total_words: usize = sentences.iter().map(|s| s.split_whitespace().count()).sum();
    if total_words == 0 {
        return Vec::new();
    }
    let per_word = seconds.max(0.0) / total_words as f64;
    let mut at = 0.0;
    sentences
        .into_iter()
        .map(|sentence| {
            let start = at;
            let words = sentence
                .split_whitespace()
                .map(|token| {
                    let word = Word {
                        word: bare_word(token),
                        start: at,
                        end: at + per_word,
                        confidence: None,
                    };
                    at += per_word;
                    word
                })
                .collect();
            Segment::new(sentence, start, at, words)
        })
        .collect()
}

/// A token as a plain word: lowercase, punctuation at either end removed.
pub(crate) fn bare_word(token: &str) -> String {
    token
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_after_terminal_punctuation_only() {
        assert_eq!(
            sentences("Hey Hermes, turn off the lights. Thanks! Is 3.5 ok? yes"),
            [
                "Hey Hermes, turn off the lights.",
                "Thanks!",
                "Is 3.5 ok?",
                "yes"
            ]
        );
    }

    #[test]
    fn spread_times_words_evenly_across_the_audio() {
        let segments = spread("One two. Three four.", 4.0);
        assert_eq!(segments.len(), 2);
        assert_eq!((segments[1].start, segments[1].end), (2.0, 4.0));
        assert_eq!(segments[0].words[1].word, "two");
        assert_eq!(segments[1].words[0].start, 2.0);
        assert!(spread("  ", 3.0).is_empty());
    }

    #[test]
    fn long_recordings_are_cut_at_their_quietest_moments() {
        let seconds = |n: f64| (n * RATE as f64) as usize;
        // Loud throughout, but for a quiet moment at 55 s.
        let mut audio = vec![5000_i16; seconds(130.0)];
        audio[seconds(55.0)..seconds(55.1)].fill(0);
        let cuts = pieces(&audio, seconds(60.0));
        assert_eq!(cuts.len(), 3, "{cuts:?}");
        assert!(
            (seconds(55.0)..seconds(55.1)).contains(&cuts[0].1),
            "{cuts:?}"
        );
        assert_eq!(cuts[1].0, cuts[0].1);
        assert!(cuts.iter().all(|(start, end)| end - start <= seconds(60.0)));
        assert_eq!(cuts[2].1, audio.len());
        assert_eq!(pieces(&audio[..100], 1000), [(0, 100)]);
        assert_eq!(pieces(&[], 1000), [(0, 0)]);
    }

    /// Answers each piece with its length in samples, timed over the piece.
    struct Lengths;

    #[async_trait::async_trait]
    impl BatchTranscriber for Lengths {
        async fn transcribe(
            &self,
            audio: &[i16],
            _: Option<&mpsc::Sender<String>>,
        ) -> Result<Transcript, TranscriptionError> {
            let seconds = audio.len() as f64 / RATE as f64;
            Ok(Transcript::from_segments(vec![Segment::new(
                audio.len().to_string(),
                0.0,
                seconds,
                vec![],
            )]))
        }
    }

    #[tokio::test]
    async fn a_recording_on_disk_is_cut_and_timed_as_the_same_audio_in_memory() {
        let seconds = |n: f64| (n * RATE as f64) as usize;
        let mut audio = vec![5000_i16; seconds(130.0)];
        audio[seconds(55.0)..seconds(55.1)].fill(0);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.wav");
        std::fs::write(&path, chronicle_audio::wav_bytes(&audio)).expect("write");
        let lengths = Arc::new(Lengths);
        let transcriber = Transcriber {
            name: "lengths",
            batch: lengths,
            streaming: Arc::new(utterances::Utterances {
                provider: Arc::new(Lengths),
                settings: utterances::UtteranceSettings::default(),
                retry: RetryPolicy::default(),
            }),
        };
        let policy = RetryPolicy::default();
        let piece = seconds(60.0);
        let in_memory = transcriber
            .transcribe_in_pieces(&audio, policy, piece)
            .await
            .expect("in memory");
        let from_disk = transcriber
            .transcribe_file_in_pieces(&path, policy, piece)
            .await
            .expect("from disk");
        assert_eq!(in_memory.segments.len(), 3);
        assert_eq!(from_disk, in_memory);
        assert!((in_memory.segments[1].start - 55.0).abs() < 0.1);

        let missing = transcriber
            .transcribe_file(&dir.path().join("gone.wav"), policy)
            .await
            .expect_err("no file");
        assert!(missing.to_string().contains("gone.wav"), "{missing}");
    }

    #[test]
    fn meaningful_speech_needs_a_letter_or_digit() {
        assert!(!Segment::new("...", 0.0, 1.0, vec![]).is_meaningful());
        assert!(Segment::new("ok.", 0.0, 1.0, vec![]).is_meaningful());
    }
}
