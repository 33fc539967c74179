//! OpenAI-compatible transcription: `POST {base_url}/v1/audio/transcriptions`, multipart, asking
//! for `verbose_json` so segments and word times come back where the server offers them. The
//! same request serves OpenAI, Groq, faster-whisper servers and whisper.cpp's server.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;

use super::{BatchTranscriber, Segment, Transcript, TranscriptionError, Word, bare_word, spread};
use crate::http::{HttpClient, HttpFailure};

const PROVIDER: &str = "the OpenAI-compatible transcription server";

/// Settings of an OpenAI-compatible transcription server.
#[derive(Clone, Debug)]
pub struct OpenAiTranscriber {
    http: HttpClient,
    /// Without `/v1`: `https://api.openai.com`, `http://localhost:8000`.
    base_url: String,
    api_key: Option<String>,
    model: String,
    language: Option<String>,
}

impl OpenAiTranscriber {
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        model: String,
        language: Option<String>,
        timeout: Duration,
    ) -> Self {
        Self {
            http: HttpClient::new(timeout),
            base_url: base_url
                .trim_end_matches('/')
                .trim_end_matches("/v1")
                .to_owned(),
            api_key,
            model,
            language,
        }
    }

    fn url(&self) -> String {
        format!("{}/v1/audio/transcriptions", self.base_url)
    }
}

/// The `verbose_json` answer; plain `json` servers send only `text`.
#[derive(Deserialize)]
struct VerboseJson {
    text: String,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    segments: Option<Vec<ApiSegment>>,
    #[serde(default)]
    words: Option<Vec<ApiWord>>,
}

#[derive(Deserialize)]
struct ApiSegment {
    #[serde(default)]
    start: f64,
    #[serde(default)]
    end: f64,
    text: String,
    #[serde(default)]
    avg_logprob: Option<f64>,
}

#[derive(Deserialize)]
struct ApiWord {
    word: String,
    start: f64,
    end: f64,
}

#[async_trait::async_trait]
impl BatchTranscriber for OpenAiTranscriber {
    async fn transcribe(
        &self,
        audio: &[i16],
        _partials: Option<&mpsc::Sender<String>>,
    ) -> Result<Transcript, TranscriptionError> {
        let wav = chronicle_audio::wav_bytes(audio);
        let seconds = audio.len() as f64 / f64::from(chronicle_audio::TARGET_RATE);
        let file = reqwest::multipart::Part::bytes(wav)
            .file_name("audio.wav")
            .mime_str("audio/wav")
            .map_err(|e| garbled(e.to_string()))?;
        let mut form = reqwest::multipart::Form::new()
            .part("file", file)
            .text("model", self.model.clone())
            .text("response_format", "verbose_json")
            .text("timestamp_granularities[]", "segment")
            .text("timestamp_granularities[]", "word");
        if let Some(language) = &self.language {
            form = form.text("language", language.clone());
        }
        let url = self.url();
        let body = self
            .http
            .send(
                self.http
                    .post(&url, self.api_key.as_deref())
                    .multipart(form),
            )
            .await
            .map_err(|failure| failure.into_transcription(PROVIDER, &url))?;
        parse(&body, seconds)
    }
}

fn garbled(detail: String) -> TranscriptionError {
    TranscriptionError::Garbled {
        provider: PROVIDER,
        detail,
    }
}

/// Reads an answer: `verbose_json` with segments (and words, when offered), `json` with text
/// only (timed by [`spread`]), or a plain-text body from a server that ignores the format.
pub(crate) fn parse(body: &str, seconds: f64) -> Result<Transcript, TranscriptionError> {
    let trimmed = body.trim_start();
    if !trimmed.starts_with('{') {
        return Err(garbled(format!(
            "expected JSON, got `{}`",
            trimmed.chars().take(80).collect::<String>()
        )));
    }
    let answer: VerboseJson = serde_json::from_str(body).map_err(|e| garbled(e.to_string()))?;
    let duration = answer.duration.unwrap_or(seconds);
    let segments = match answer.segments {
        Some(segments) if !segments.is_empty() => {
            let mut words = answer.words.unwrap_or_default().into_iter().peekable();
            segments
                .into_iter()
                .filter(|s| !s.text.trim().is_empty())
                .map(|s| {
                    // Words belong to the segment they start in.
                    let mut mine = Vec::new();
                    while let Some(word) = words.next_if(|w| w.start < s.end || s.end <= s.start) {
                        mine.push(Word {
                            word: bare_word(&word.word),
                            start: word.start,
                            end: word.end,
                            confidence: None,
                        });
                    }
                    if mine.is_empty() {
                        mine = spread(&s.text, s.end - s.start)
                            .into_iter()
                            .flat_map(|piece| piece.shifted(s.start).words)
                            .collect();
                    }
                    let mut segment = Segment::new(s.text, s.start, s.end, mine);
                    segment.confidence = s.avg_logprob.map(f64::exp);
                    segment
                })
                .collect()
        }
        _ => spread(&answer.text, duration),
    };
    let mut transcript = Transcript::from_segments(segments);
    if transcript.text.is_empty() {
        transcript.text = answer.text.trim().to_owned();
    }
    Ok(transcript)
}

impl HttpFailure {
    /// This failure as a transcription error.
    pub(crate) fn into_transcription(
        self,
        provider: &'static str,
        url: &str,
    ) -> TranscriptionError {
        match self {
            HttpFailure::Unreachable(detail) => TranscriptionError::Unreachable {
                provider,
                target: url.to_owned(),
                detail,
            },
            HttpFailure::TimedOut(seconds) => TranscriptionError::TimedOut { provider, seconds },
            HttpFailure::Status(detail) => TranscriptionError::Refused { provider, detail },
            HttpFailure::TooLarge(max) => TranscriptionError::Refused {
                provider,
                detail: format!("an answer over {max} bytes"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_json_keeps_segments_and_gives_each_its_words() {
        let body = r#"{"text":"Hello there. Bye.","duration":3.0,
            "segments":[{"start":0.0,"end":1.5,"text":" Hello there."},{"start":1.5,"end":3.0,"text":" Bye."}],
            "words":[{"word":"Hello","start":0.1,"end":0.5},{"word":"there","start":0.6,"end":1.0},{"word":"Bye","start":1.6,"end":2.0}]}"#;
        let transcript = parse(body, 3.0).unwrap();
        assert_eq!(transcript.text, "Hello there. Bye.");
        assert_eq!(transcript.segments[0].words.len(), 2);
        assert_eq!(transcript.segments[1].words[0].word, "bye");
    }

    #[test]
    fn plain_json_is_timed_over_the_audio() {
        let transcript = parse(r#"{"text":"one two"}"#, 2.0).unwrap();
        assert_eq!(transcript.segments.len(), 1);
        assert_eq!(transcript.segments[0].end, 2.0);
    }

    #[test]
    fn html_is_garbage() {
        assert!(matches!(
            parse("<html>oops</html>", 1.0),
            Err(TranscriptionError::Garbled { .. })
        ));
        assert!(matches!(
            parse("{\"nope\": 1}", 1.0),
            Err(TranscriptionError::Garbled { .. })
        ));
    }
}
