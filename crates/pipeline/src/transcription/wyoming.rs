//! The Wyoming protocol over TCP, as Home Assistant's local speech servers speak it
//! (wyoming-faster-whisper and friends): `transcribe`, `audio-start`, `audio-chunk`…,
//! `audio-stop`, answered by `transcript`. Servers that stream their text send
//! `transcript-start`, `transcript-chunk`… and `transcript-stop` first; the chunks are passed
//! on as partial text.
//!
//! An event is a JSON header line, then `data_length` bytes of JSON data (merged into the
//! header's `data`), then `payload_length` bytes of payload.

use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{BatchTranscriber, Transcript, TranscriptionError, spread};

const PROVIDER: &str = "the Wyoming speech server";
/// The protocol version we write; servers accept older and newer.
const VERSION: &str = "1.5.4";
/// Longest header line or data block we read: a transcript is small.
const MAX_HEADER: usize = 1024 * 1024;
/// Longest payload we read (and discard): servers send none to a transcriber.
const MAX_PAYLOAD: usize = 16 * 1024 * 1024;
/// Audio per chunk: one second, as Home Assistant sends.
const CHUNK_SAMPLES: usize = 16_000;

/// A Wyoming speech-to-text server.
#[derive(Clone, Debug)]
pub struct WyomingTranscriber {
    /// `host:port`.
    address: String,
    language: Option<String>,
    model: Option<String>,
    timeout: Duration,
}

/// An event read from the server.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) kind: String,
    pub(crate) data: Map<String, Value>,
}

impl WyomingTranscriber {
    /// `uri` is `tcp://host:port` or `host:port`.
    pub fn new(
        uri: &str,
        language: Option<String>,
        model: Option<String>,
        timeout: Duration,
    ) -> Self {
        Self {
            address: uri
                .trim_start_matches("tcp://")
                .trim_end_matches('/')
                .to_owned(),
            language,
            model,
            timeout,
        }
    }

    /// Asks the server what it offers (`describe` → `info`): the speech-to-text programs'
    /// names and whether they stream their text.
    pub async fn describe(&self) -> Result<String, TranscriptionError> {
        let work = async {
            let mut stream = self.connect().await?;
            write_event(&mut stream, "describe", &json!({}), &[])
                .await
                .map_err(|e| self.lost(e))?;
            let mut reader = BufReader::new(stream);
            loop {
                let event = read_event(&mut reader).await?;
                if event.kind == "info" {
                    return Ok(describe_info(&event.data));
                }
            }
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or(Err(TranscriptionError::TimedOut {
                provider: PROVIDER,
                seconds: self.timeout.as_secs_f64(),
            }))
    }

    async fn connect(&self) -> Result<TcpStream, TranscriptionError> {
        let stream = TcpStream::connect(&self.address).await.map_err(|e| {
            TranscriptionError::Unreachable {
                provider: PROVIDER,
                target: format!("tcp://{}", self.address),
                detail: e.to_string(),
            }
        })?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    fn lost(&self, error: std::io::Error) -> TranscriptionError {
        TranscriptionError::Unreachable {
            provider: PROVIDER,
            target: format!("tcp://{}", self.address),
            detail: format!("connection lost: {error}"),
        }
    }

    async fn exchange(
        &self,
        audio: &[i16],
        partials: Option<&mpsc::Sender<String>>,
    ) -> Result<Transcript, TranscriptionError> {
        let mut stream = self.connect().await?;
        let format = json!({"rate": 16000, "width": 2, "channels": 1});
        let mut transcribe = Map::new();
        if let Some(language) = &self.language {
            transcribe.insert("language".into(), json!(language));
        }
        if let Some(model) = &self.model {
            transcribe.insert("name".into(), json!(model));
        }
        let (reader, mut writer) = stream.split();
        // Written while the answer is read: a server may answer (or fail) before taking all.
        let send = async {
            write_event(&mut writer, "transcribe", &Value::Object(transcribe), &[]).await?;
            write_event(&mut writer, "audio-start", &format, &[]).await?;
            for chunk in audio.chunks(CHUNK_SAMPLES) {
                let bytes: Vec<u8> = chunk.iter().flat_map(|s| s.to_le_bytes()).collect();
                write_event(&mut writer, "audio-chunk", &format, &bytes).await?;
            }
            write_event(&mut writer, "audio-stop", &json!({}), &[]).await?;
            writer.flush().await
        };
        let receive = async {
            let mut reader = BufReader::new(reader);
            loop {
                let event = read_event(&mut reader).await?;
                match event.kind.as_str() {
                    "transcript" => {
                        let text = event
                            .data
                            .get("text")
                            .and_then(Value::as_str)
                            .ok_or_else(|| garbled("a `transcript` event without `text`"))?;
                        return Ok(text.trim().to_owned());
                    }
                    "transcript-chunk" => {
                        if let (Some(partials), Some(text)) =
                            (partials, event.data.get("text").and_then(Value::as_str))
                        {
                            let _ = partials.try_send(text.to_owned());
                        }
                    }
                    "error" => {
                        let text = event.data.get("text").and_then(Value::as_str).unwrap_or("");
                        return Err(TranscriptionError::Refused {
                            provider: PROVIDER,
                            detail: text.to_owned(),
                        });
                    }
                    _ => {}
                }
            }
        };
        // The answer ends the exchange, even if the server stopped taking audio before it.
        tokio::pin!(send, receive);
        let mut sending = true;
        let text = loop {
            tokio::select! {
                sent = &mut send, if sending => {
                    sending = false;
                    if let Err(error) = sent {
                        tracing::debug!(%error, "The Wyoming server stopped taking audio.");
                    }
                }
                text = &mut receive => break text?,
            }
        };
        let seconds = audio.len() as f64 / f64::from(chronicle_audio::TARGET_RATE);
        // Wyoming gives text only: time it over the audio sent.
        Ok(Transcript::from_segments(spread(&text, seconds)))
    }
}

#[async_trait::async_trait]
impl BatchTranscriber for WyomingTranscriber {
    async fn transcribe(
        &self,
        audio: &[i16],
        partials: Option<&mpsc::Sender<String>>,
    ) -> Result<Transcript, TranscriptionError> {
        tokio::time::timeout(self.timeout, self.exchange(audio, partials))
            .await
            .unwrap_or(Err(TranscriptionError::TimedOut {
                provider: PROVIDER,
                seconds: self.timeout.as_secs_f64(),
            }))
    }
}

fn garbled(detail: impl Into<String>) -> TranscriptionError {
    TranscriptionError::Garbled {
        provider: PROVIDER,
        detail: detail.into(),
    }
}

/// Writes one event, its data as a separate block (as the reference library does).
pub(crate) async fn write_event<W: AsyncWrite + Unpin>(
    writer: &mut W,
    kind: &str,
    data: &Value,
    payload: &[u8],
) -> std::io::Result<()> {
    let data = data.to_string();
    let mut header = json!({"type": kind, "version": VERSION, "data_length": data.len()});
    if !payload.is_empty() {
        header["payload_length"] = json!(payload.len());
    }
    let mut bytes = header.to_string().into_bytes();
    bytes.push(b'\n');
    bytes.extend_from_slice(data.as_bytes());
    bytes.extend_from_slice(payload);
    writer.write_all(&bytes).await
}

/// Reads one event; anything that is not the protocol is [`TranscriptionError::Garbled`],
/// the end of the connection [`TranscriptionError::Unreachable`].
pub(crate) async fn read_event<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> Result<Event, TranscriptionError> {
    let mut line = Vec::new();
    let read = (&mut *reader)
        .take(MAX_HEADER as u64)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| closed(e.to_string()))?;
    if read == 0 {
        return Err(closed(
            "the server closed the connection before answering".into(),
        ));
    }
    if line.last() != Some(&b'\n') {
        return Err(garbled("an event header longer than 1 MiB"));
    }
    let header: Value = serde_json::from_slice(&line).map_err(|_| {
        garbled(format!(
            "expected a JSON event header, got `{}`",
            String::from_utf8_lossy(&line)
                .trim()
                .chars()
                .take(80)
                .collect::<String>()
        ))
    })?;
    let kind = header
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| garbled("an event header without `type`"))?
        .to_owned();
    let mut data = match header.get("data") {
        Some(Value::Object(data)) => data.clone(),
        _ => Map::new(),
    };
    let length = |key: &str| header.get(key).and_then(Value::as_u64).unwrap_or(0) as usize;
    let data_length = length("data_length");
    if data_length > MAX_HEADER {
        return Err(garbled(format!("data_length {data_length} is over 1 MiB")));
    }
    if data_length > 0 {
        let mut block = vec![0; data_length];
        reader
            .read_exact(&mut block)
            .await
            .map_err(|e| closed(e.to_string()))?;
        match serde_json::from_slice(&block) {
            Ok(Value::Object(more)) => data.extend(more),
            _ => return Err(garbled("event data that is not a JSON object")),
        }
    }
    let payload_length = length("payload_length");
    if payload_length > MAX_PAYLOAD {
        return Err(garbled(format!(
            "payload_length {payload_length} is over 16 MiB"
        )));
    }
    if payload_length > 0 {
        let mut payload = vec![0; payload_length];
        reader
            .read_exact(&mut payload)
            .await
            .map_err(|e| closed(e.to_string()))?;
    }
    Ok(Event { kind, data })
}

fn closed(detail: String) -> TranscriptionError {
    TranscriptionError::Unreachable {
        provider: PROVIDER,
        target: "the open connection".into(),
        detail,
    }
}

/// A one-line description of an `info` event's speech-to-text programs.
fn describe_info(info: &Map<String, Value>) -> String {
    let programs: Vec<String> = info
        .get("asr")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|program| {
            let name = program.get("name").and_then(Value::as_str).unwrap_or("?");
            let models: Vec<&str> = program
                .get("models")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|m| m.get("name").and_then(Value::as_str))
                .collect();
            let streaming = program
                .get("supports_transcript_streaming")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            format!(
                "{name} ({}{})",
                models.join(", "),
                if streaming { "; streams its text" } else { "" }
            )
        })
        .collect();
    if programs.is_empty() {
        "no speech-to-text program".into()
    } else {
        programs.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_round_trip_with_data_blocks_and_inline_data() {
        let mut bytes = Vec::new();
        write_event(
            &mut bytes,
            "audio-chunk",
            &json!({"rate": 16000}),
            &[1, 2, 3, 4],
        )
        .await
        .unwrap();
        bytes.extend_from_slice(b"{\"type\": \"transcript\", \"data\": {\"text\": \"hi\"}}\n");
        let mut reader = BufReader::new(&bytes[..]);
        let chunk = read_event(&mut reader).await.unwrap();
        assert_eq!(
            (chunk.kind.as_str(), &chunk.data["rate"]),
            ("audio-chunk", &json!(16000))
        );
        let transcript = read_event(&mut reader).await.unwrap();
        assert_eq!(transcript.data["text"], "hi");
        assert!(matches!(
            read_event(&mut reader).await,
            Err(TranscriptionError::Unreachable { .. })
        ));
    }

    #[tokio::test]
    async fn bad_headers_are_garbled_not_panics() {
        for bytes in [
            &b"not json\n"[..],
            b"{\"no_type\": 1}\n",
            b"{\"type\": \"x\", \"data_length\": 99999999999}\n",
            b"{\"type\": \"x\", \"data_length\": 3}\n[1]",
        ] {
            let mut reader = BufReader::new(bytes);
            assert!(
                matches!(
                    read_event(&mut reader).await,
                    Err(TranscriptionError::Garbled { .. })
                ),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}
