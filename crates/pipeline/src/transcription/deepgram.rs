//! Deepgram's live API over a WebSocket: `GET {url}/v1/listen?…` with `Authorization: Token
//! KEY`, binary linear16 audio in, `Results` messages out (interim, then `is_final`). Key terms
//! (the enabled plugins' wake words and keywords) are sent as repeated `keyterm` parameters.
//!
//! A dropped or refused connection is reopened after 1 s, 2 s, 4 s; the fourth consecutive
//! failure ends the stream with [`Update::Failed`]. A recording is transcribed by streaming it
//! as fast as the server takes it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{
    BatchTranscriber, Segment, StreamInput, StreamingTranscriber, Transcript, TranscriptionError,
    TranscriptionStream, Update, Word, bare_word,
};

const PROVIDER: &str = "Deepgram";
/// Consecutive failed connections before the stream gives up.
const MAX_FAILURES: u32 = 4;
/// Deepgram closes a stream after 10 s without audio; a keep-alive every 5 s holds it open.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Settings of Deepgram's streaming API.
#[derive(Clone, Debug)]
pub struct DeepgramTranscriber {
    /// `wss://api.deepgram.com` or a compatible server, without the path.
    url: String,
    api_key: String,
    model: String,
    language: Option<String>,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Results {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    is_final: bool,
    #[serde(default)]
    channel: Option<Channel>,
}

#[derive(Deserialize)]
struct Channel {
    alternatives: Vec<Alternative>,
}

#[derive(Deserialize)]
struct Alternative {
    transcript: String,
    #[serde(default)]
    confidence: Option<f64>,
    #[serde(default)]
    words: Vec<ApiWord>,
}

#[derive(Deserialize)]
struct ApiWord {
    word: String,
    start: f64,
    end: f64,
    #[serde(default)]
    confidence: Option<f64>,
}

impl DeepgramTranscriber {
    pub fn new(
        url: &str,
        api_key: String,
        model: String,
        language: Option<String>,
        timeout: Duration,
    ) -> Self {
        crate::http::install_crypto();
        Self {
            url: url.trim_end_matches('/').to_owned(),
            api_key,
            model,
            language,
            timeout,
        }
    }

    /// The listen URL with its parameters; `keyterm` (nova-3) repeated once per term.
    fn listen_url(&self, keyterms: &[String]) -> String {
        let mut url = format!(
            "{}/v1/listen?model={}&encoding=linear16&sample_rate=16000&channels=1\
             &interim_results=true&punctuate=true&smart_format=true",
            self.url,
            encode(&self.model)
        );
        if let Some(language) = &self.language {
            url.push_str(&format!("&language={}", encode(language)));
        }
        for term in keyterms {
            url.push_str(&format!("&keyterm={}", encode(term)));
        }
        url
    }

    /// One connection's life: the backlog first, then audio out and results in, until the
    /// audio has ended and the server closed the stream (`Ok`), or the connection fails.
    /// `answered` is set once the server has sent a message in its protocol.
    async fn run_connection(
        &self,
        keyterms: &[String],
        audio: &mut mpsc::Receiver<StreamInput>,
        backlog: &mut Backlog,
        updates: &mpsc::Sender<Update>,
        offset: &mut f64,
        answered: &mut bool,
    ) -> Result<(), TranscriptionError> {
        let url = self.listen_url(keyterms);
        let unreachable = |detail: String| TranscriptionError::Unreachable {
            provider: PROVIDER,
            target: self.url.clone(),
            detail,
        };
        let timed_out = || TranscriptionError::TimedOut {
            provider: PROVIDER,
            seconds: self.timeout.as_secs_f64(),
        };
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| unreachable(e.to_string()))?;
        let token = format!("Token {}", self.api_key)
            .parse()
            .map_err(|_| unreachable("the API key is not a valid header value".into()))?;
        request.headers_mut().insert("Authorization", token);
        // Audio keeps arriving while the connection is made: it waits in the backlog, so the
        // session never waits for the provider.
        let connecting =
            tokio::time::timeout(self.timeout, tokio_tungstenite::connect_async(request));
        tokio::pin!(connecting);
        let connected = loop {
            tokio::select! {
                result = &mut connecting => break result,
                input = audio.recv(), if backlog.has_room() => backlog.push(input),
            }
        };
        let (mut socket, _) = match connected {
            Err(_) => return Err(timed_out()),
            Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
                return Err(TranscriptionError::Refused {
                    provider: PROVIDER,
                    detail: format!(
                        "{} (check DEEPGRAM_API_KEY and the model name)",
                        response.status()
                    ),
                });
            }
            Ok(Err(error)) => return Err(unreachable(error.to_string())),
            Ok(Ok(connected)) => connected,
        };
        // A stalled socket must not hold the stream: every send has the timeout.
        macro_rules! send {
            ($message:expr) => {
                match tokio::time::timeout(self.timeout, socket.send($message)).await {
                    Err(_) => return Err(timed_out()),
                    Ok(Err(error)) => return Err(unreachable(error.to_string())),
                    Ok(Ok(())) => {}
                }
            };
        }
        // Deepgram times results from the start of each connection.
        let base = *offset;
        while let Some(samples) = backlog.items.pop_front() {
            backlog.seconds -= seconds_of(&samples);
            *offset += seconds_of(&samples);
            send!(Message::binary(pcm_bytes(&samples)));
        }
        let mut finishing = backlog.finished;
        if finishing {
            send!(Message::text(r#"{"type":"CloseStream"}"#));
        }
        let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
        keep_alive.reset();
        loop {
            tokio::select! {
                input = audio.recv(), if !finishing => match input {
                    Some(StreamInput::Audio(samples)) => {
                        *offset += seconds_of(&samples);
                        send!(Message::binary(pcm_bytes(&samples)));
                        keep_alive.reset();
                    }
                    Some(StreamInput::Finish) | None => {
                        finishing = true;
                        backlog.finished = true;
                        send!(Message::text(r#"{"type":"CloseStream"}"#));
                    }
                },
                _ = keep_alive.tick(), if !finishing => {
                    send!(Message::text(r#"{"type":"KeepAlive"}"#));
                }
                message = tokio::time::timeout(if finishing { self.timeout } else { Duration::from_secs(86_400) }, socket.next()) => {
                    let message = match message {
                        Err(_) => return Err(timed_out()),
                        Ok(None) | Ok(Some(Ok(Message::Close(_)))) => {
                            return if finishing { Ok(()) } else { Err(unreachable("the server closed the stream".into())) };
                        }
                        Ok(Some(Err(error))) => return Err(unreachable(error.to_string())),
                        Ok(Some(Ok(message))) => message,
                    };
                    let Message::Text(text) = message else { continue };
                    let update = parse_message(&text, base)?;
                    *answered = true;
                    if let Some(update) = update
                        && updates.send(update).await.is_err()
                    {
                        return Ok(()); // nobody listens any more
                    }
                }
            }
        }
    }
}

/// How much audio waits for a connection: enough to ride out the reconnects (1 + 2 + 4 s plus
/// connecting); beyond it the stream stops taking audio and the session drops what it cannot
/// hand over.
const BACKLOG_SECONDS: f64 = 30.0;

/// Audio waiting for a connection.
#[derive(Default)]
struct Backlog {
    items: std::collections::VecDeque<Vec<i16>>,
    seconds: f64,
    /// The audio has ended (after the items).
    finished: bool,
}

impl Backlog {
    fn has_room(&self) -> bool {
        !self.finished && self.seconds < BACKLOG_SECONDS
    }

    fn push(&mut self, input: Option<StreamInput>) {
        match input {
            Some(StreamInput::Audio(samples)) => {
                self.seconds += seconds_of(&samples);
                self.items.push_back(samples);
            }
            Some(StreamInput::Finish) | None => self.finished = true,
        }
    }
}

fn seconds_of(samples: &[i16]) -> f64 {
    samples.len() as f64 / 16_000.0
}

fn pcm_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Reads a server message: `Results` become updates; `Metadata`, `SpeechStarted` and
/// `UtteranceEnd` carry nothing a session needs.
pub(crate) fn parse_message(text: &str, base: f64) -> Result<Option<Update>, TranscriptionError> {
    let results: Results = serde_json::from_str(text).map_err(|_| TranscriptionError::Garbled {
        provider: PROVIDER,
        detail: format!("`{}`", text.chars().take(80).collect::<String>()),
    })?;
    if results.kind != "Results" {
        return Ok(None);
    }
    let Some(best) = results
        .channel
        .and_then(|c| c.alternatives.into_iter().next())
    else {
        return Ok(None);
    };
    let words: Vec<Word> = best
        .words
        .iter()
        .map(|w| Word {
            word: bare_word(&w.word),
            start: w.start + base,
            end: w.end + base,
            confidence: w.confidence,
        })
        .collect();
    if best.transcript.trim().is_empty() {
        return Ok(None);
    }
    if !results.is_final {
        return Ok(Some(Update::Interim {
            text: best.transcript,
            words,
            confidence: best.confidence,
        }));
    }
    let start = words.first().map_or(base, |w| w.start);
    let end = words.last().map_or(base, |w| w.end);
    let mut segment = Segment::new(best.transcript, start, end, words);
    segment.confidence = best.confidence;
    Ok(Some(Update::Final(segment)))
}

fn encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

impl StreamingTranscriber for DeepgramTranscriber {
    fn open(&self, keyterms: Vec<String>) -> TranscriptionStream {
        let (audio_tx, mut audio) = mpsc::channel(64);
        let (updates, updates_rx) = mpsc::channel(256);
        let provider = self.clone();
        tokio::spawn(async move {
            let mut failures = 0;
            let mut offset = 0.0;
            let mut backlog = Backlog::default();
            loop {
                let mut answered = false;
                let connection = provider.run_connection(
                    &keyterms,
                    &mut audio,
                    &mut backlog,
                    &updates,
                    &mut offset,
                    &mut answered,
                );
                let Err(error) = connection.await else {
                    return;
                };
                // A connection the server answered in its protocol was working: start counting
                // anew. (Carrying audio is not enough: a server that takes audio and then
                // fails every time would be retried for ever.)
                if answered {
                    failures = 0;
                }
                failures += 1;
                if failures >= MAX_FAILURES || !error.is_transient() {
                    let _ = updates.send(Update::Failed(error)).await;
                    return;
                }
                tracing::warn!(%error, attempt = failures, "Deepgram stream failed; reconnecting.");
                // Audio that arrives meanwhile waits in the backlog for the next connection.
                let until = tokio::time::Instant::now() + Duration::from_secs(1 << (failures - 1));
                loop {
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => break,
                        input = audio.recv(), if backlog.has_room() => backlog.push(input),
                    }
                }
            }
        });
        TranscriptionStream {
            audio: audio_tx,
            updates: updates_rx,
        }
    }
}

#[async_trait::async_trait]
impl BatchTranscriber for DeepgramTranscriber {
    async fn transcribe(
        &self,
        audio: &[i16],
        _partials: Option<&mpsc::Sender<String>>,
    ) -> Result<Transcript, TranscriptionError> {
        let mut stream = self.open(Vec::new());
        let feed = stream.audio.clone();
        let chunks: Vec<Vec<i16>> = audio.chunks(8_000).map(<[i16]>::to_vec).collect();
        tokio::spawn(async move {
            for chunk in chunks {
                if feed.send(StreamInput::Audio(chunk)).await.is_err() {
                    return;
                }
            }
            let _ = feed.send(StreamInput::Finish).await;
        });
        drop(stream.audio);
        let mut segments = Vec::new();
        while let Some(update) = stream.updates.recv().await {
            match update {
                Update::Final(segment) => segments.push(segment),
                Update::Failed(error) => return Err(error),
                Update::Interim { .. } | Update::Missed(_) => {}
            }
        }
        Ok(Transcript::from_segments(segments))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finals_become_segments_shifted_by_the_connection_start() {
        let text = r#"{"type":"Results","is_final":true,"channel":{"alternatives":[{"transcript":"Hey Hermes.","confidence":0.9,"words":[{"word":"hey","start":0.5,"end":0.7},{"word":"hermes","start":0.8,"end":1.1}]}]}}"#;
        let Some(Update::Final(segment)) = parse_message(text, 10.0).unwrap() else {
            panic!("expected a final")
        };
        assert_eq!(segment.text, "Hey Hermes.");
        assert_eq!((segment.start, segment.end), (10.5, 11.1));
        assert_eq!(segment.confidence, Some(0.9));
    }

    #[test]
    fn empty_results_and_other_messages_carry_nothing_and_garbage_is_an_error() {
        let empty = r#"{"type":"Results","is_final":true,"channel":{"alternatives":[{"transcript":"","words":[]}]}}"#;
        assert_eq!(parse_message(empty, 0.0).unwrap(), None);
        assert_eq!(parse_message(r#"{"type":"Metadata"}"#, 0.0).unwrap(), None);
        assert!(parse_message("<html>", 0.0).is_err());
    }

    #[test]
    fn keyterms_are_repeated_and_encoded() {
        let provider = DeepgramTranscriber::new(
            "ws://127.0.0.1:1/",
            "k".into(),
            "nova-3".into(),
            None,
            Duration::from_secs(1),
        );
        let url = provider.listen_url(&["hey hermes".into(), "todo".into()]);
        assert!(url.starts_with("ws://127.0.0.1:1/v1/listen?model=nova-3&"));
        assert!(url.ends_with("&keyterm=hey%20hermes&keyterm=todo"), "{url}");
    }
}
