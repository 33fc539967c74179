//! A live stream from a provider that only transcribes whole recordings: the audio is cut into
//! utterances at pauses (an energy threshold over 30 ms frames), and each utterance is
//! transcribed on its own, in order, while audio keeps arriving.
//!
//! A failed utterance (after its retries) is reported as [`Update::Missed`] and the stream goes
//! on: the provider may be back for the next one. At most [`WAITING_CUTS`] utterances wait for
//! the provider; beyond that an utterance is reported missed at once, so a provider that is
//! down costs bounded memory.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{
    BatchTranscriber, RetryPolicy, StreamInput, StreamingTranscriber, Transcriber,
    TranscriptionStream, Update,
};

const RATE: usize = 16_000;
/// Utterances waiting for the provider.
pub const WAITING_CUTS: usize = 8;
/// Analysis frame: 30 ms.
const FRAME: usize = RATE * 30 / 1000;

/// How speech is told from silence and cut into utterances.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UtteranceSettings {
    /// RMS level (of i16 samples) above which a frame is speech.
    pub threshold: f64,
    /// Silence that ends an utterance.
    pub pause_seconds: f64,
    /// The longest utterance; a longer stretch of speech is cut.
    pub max_seconds: f64,
    /// Audio kept before the first speech frame, so the first word is not clipped.
    pub preroll_seconds: f64,
}

impl Default for UtteranceSettings {
    fn default() -> Self {
        Self {
            threshold: 300.0,
            pause_seconds: 0.7,
            max_seconds: 20.0,
            preroll_seconds: 0.3,
        }
    }
}

/// A batch provider serving live streams.
#[derive(Clone)]
pub struct Utterances {
    pub provider: Arc<dyn BatchTranscriber>,
    pub settings: UtteranceSettings,
    pub retry: RetryPolicy,
}

/// An utterance cut from the stream: its audio and where it starts, in seconds.
#[derive(Debug, PartialEq)]
pub(crate) struct Cut {
    pub(crate) start: f64,
    pub(crate) audio: Vec<i16>,
}

/// The cutting, apart from any I/O: samples in, finished utterances out.
pub(crate) struct Cutter {
    settings: UtteranceSettings,
    /// Samples not yet analysed (less than a frame).
    pending: Vec<i16>,
    /// Recent silence kept as pre-roll while no utterance is open.
    preroll: std::collections::VecDeque<i16>,
    /// The open utterance, with its start.
    current: Option<Cut>,
    /// Consecutive silent samples at the end of the open utterance.
    silence: usize,
    /// Samples analysed so far (the clock).
    position: usize,
}

impl Cutter {
    pub(crate) fn new(settings: UtteranceSettings) -> Self {
        Self {
            settings,
            pending: Vec::new(),
            preroll: std::collections::VecDeque::new(),
            current: None,
            silence: 0,
            position: 0,
        }
    }

    /// Takes samples; returns the utterances they finished.
    pub(crate) fn push(&mut self, samples: &[i16]) -> Vec<Cut> {
        self.pending.extend_from_slice(samples);
        let mut finished = Vec::new();
        let frames = self.pending.len() / FRAME;
        let pending = std::mem::take(&mut self.pending);
        for frame in pending.chunks(FRAME).take(frames) {
            if let Some(cut) = self.frame(frame) {
                finished.push(cut);
            }
        }
        self.pending = pending[frames * FRAME..].to_vec();
        finished
    }

    /// Ends the stream: the open utterance, if any.
    pub(crate) fn finish(&mut self) -> Option<Cut> {
        let pending = std::mem::take(&mut self.pending);
        if let Some(current) = &mut self.current {
            current.audio.extend_from_slice(&pending);
        }
        self.close()
    }

    fn frame(&mut self, frame: &[i16]) -> Option<Cut> {
        let energy =
            (frame.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / frame.len() as f64).sqrt();
        let speech = energy > self.settings.threshold;
        let start = self.position as f64 / RATE as f64;
        self.position += frame.len();
        match &mut self.current {
            None if speech => {
                let preroll: Vec<i16> = self.preroll.drain(..).collect();
                let mut audio = preroll;
                let start = start - audio.len() as f64 / RATE as f64;
                audio.extend_from_slice(frame);
                self.current = Some(Cut { start, audio });
                self.silence = 0;
                None
            }
            None => {
                self.preroll.extend(frame);
                let keep = (self.settings.preroll_seconds * RATE as f64) as usize;
                while self.preroll.len() > keep {
                    self.preroll.pop_front();
                }
                None
            }
            Some(current) => {
                current.audio.extend_from_slice(frame);
                self.silence = if speech {
                    0
                } else {
                    self.silence + frame.len()
                };
                let paused = self.silence as f64 / RATE as f64 >= self.settings.pause_seconds;
                let too_long =
                    current.audio.len() as f64 / RATE as f64 >= self.settings.max_seconds;
                if paused || too_long {
                    self.close()
                } else {
                    None
                }
            }
        }
    }

    fn close(&mut self) -> Option<Cut> {
        self.silence = 0;
        self.current.take()
    }
}

impl StreamingTranscriber for Utterances {
    fn open(&self, _keyterms: Vec<String>) -> TranscriptionStream {
        let (audio_tx, mut audio) = mpsc::channel::<StreamInput>(64);
        let (updates, updates_rx) = mpsc::channel(256);
        // Cut here, transcribe on a second task: audio intake never waits for the provider.
        let (cuts_tx, mut cuts) = mpsc::channel::<Cut>(WAITING_CUTS);
        let settings = self.settings;
        let behind = updates.clone();
        tokio::spawn(async move {
            let mut cutter = Cutter::new(settings);
            let hand_over = |cut: Cut| {
                if let Err(mpsc::error::TrySendError::Full(cut)) = cuts_tx.try_send(cut) {
                    let seconds = cut.audio.len() as f64 / RATE as f64;
                    let _ = behind.try_send(Update::Missed(super::TranscriptionError::Behind {
                        seconds,
                    }));
                }
            };
            while let Some(input) = audio.recv().await {
                match input {
                    StreamInput::Audio(samples) => {
                        cutter.push(&samples).into_iter().for_each(&hand_over)
                    }
                    StreamInput::Finish => break,
                }
            }
            if let Some(cut) = cutter.finish() {
                // The last one waits for room: nothing comes behind it.
                let _ = cuts_tx.send(cut).await;
            }
        });
        let this = self.clone();
        tokio::spawn(async move {
            while let Some(cut) = cuts.recv().await {
                let (partials_tx, mut partials) = mpsc::channel::<String>(64);
                let relay = updates.clone();
                let relaying = tokio::spawn(async move {
                    let mut text = String::new();
                    while let Some(piece) = partials.recv().await {
                        text.push_str(&piece);
                        let interim = Update::Interim {
                            text: text.trim().to_owned(),
                            words: Vec::new(),
                            confidence: None,
                        };
                        if relay.send(interim).await.is_err() {
                            return;
                        }
                    }
                });
                let result = this.transcribe_cut(&cut, &partials_tx).await;
                drop(partials_tx);
                let _ = relaying.await;
                let sent = match result {
                    Ok(segments) => {
                        let mut sent = Ok(());
                        for segment in segments {
                            sent = updates.send(Update::Final(segment)).await;
                        }
                        sent.map_err(|_| ())
                    }
                    Err(error) => updates.send(Update::Missed(error)).await.map_err(|_| ()),
                };
                if sent.is_err() {
                    return;
                }
            }
        });
        TranscriptionStream {
            audio: audio_tx,
            updates: updates_rx,
        }
    }
}

impl Utterances {
    async fn transcribe_cut(
        &self,
        cut: &Cut,
        partials: &mpsc::Sender<String>,
    ) -> Result<Vec<super::Segment>, super::TranscriptionError> {
        let transcript = self
            .retry
            .run("an utterance", || {
                self.provider.transcribe(&cut.audio, Some(partials))
            })
            .await?;
        Ok(transcript
            .segments
            .into_iter()
            .map(|segment| segment.shifted(cut.start))
            .collect())
    }
}

impl Transcriber {
    /// A provider that transcribes whole recordings, serving live sessions utterance by
    /// utterance.
    pub fn by_utterance(
        name: &'static str,
        batch: Arc<dyn BatchTranscriber>,
        retry: RetryPolicy,
    ) -> Self {
        let streaming = Arc::new(Utterances {
            provider: Arc::clone(&batch),
            settings: UtteranceSettings::default(),
            retry,
        });
        Self {
            name,
            batch,
            streaming,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(seconds: f64) -> Vec<i16> {
        (0..(seconds * RATE as f64) as usize)
            .map(|i| ((i as f64 * 0.1).sin() * 8000.0) as i16)
            .collect()
    }

    fn silence(seconds: f64) -> Vec<i16> {
        vec![0; (seconds * RATE as f64) as usize]
    }

    #[test]
    fn speech_between_pauses_becomes_one_utterance_each_with_its_start() {
        let mut cutter = Cutter::new(UtteranceSettings::default());
        let mut audio = silence(1.0);
        audio.extend(tone(1.5));
        audio.extend(silence(1.0));
        audio.extend(tone(0.6));
        audio.extend(silence(0.2));
        let mut cuts = Vec::new();
        // Pushed in odd pieces, as a device sends them.
        for piece in audio.chunks(1234) {
            cuts.extend(cutter.push(piece));
        }
        assert_eq!(cuts.len(), 1, "the second utterance has not paused yet");
        cuts.extend(cutter.finish());
        assert_eq!(cuts.len(), 2);
        assert!((cuts[0].start - 0.7).abs() < 0.05, "{}", cuts[0].start);
        assert!((cuts[1].start - 3.2).abs() < 0.05, "{}", cuts[1].start);
        assert!(cutter.finish().is_none());
    }

    #[test]
    fn long_speech_is_cut_at_the_maximum() {
        let settings = UtteranceSettings {
            max_seconds: 2.0,
            ..Default::default()
        };
        let mut cutter = Cutter::new(settings);
        let cuts = cutter.push(&tone(5.0));
        assert_eq!(cuts.len(), 2);
        assert!(cuts.iter().all(|c| c.audio.len() <= 2 * RATE + FRAME));
    }

    #[test]
    fn silence_alone_is_no_utterance() {
        let mut cutter = Cutter::new(UtteranceSettings::default());
        assert!(cutter.push(&silence(3.0)).is_empty());
        assert!(cutter.finish().is_none());
    }
}
