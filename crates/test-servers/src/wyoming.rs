//! The Wyoming protocol over TCP, as spoken by Home Assistant's speech servers
//! (wyoming-faster-whisper and friends), so the Wyoming transcription client
//! can be tested against real framing, including several requests on one
//! connection, streaming transcripts and a server that misbehaves.
//!
//! Framing: a JSON header line `{"type", "data"?, "data_length"?,
//! "payload_length"?, "version"?}`, then `data_length` bytes of JSON merged into
//! `data`, then `payload_length` bytes of binary payload.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::recorded::{Recorded, ServerTask, bind_local};

/// The protocol version written in headers, as the Python library does.
const VERSION: &str = "1.5.4";
/// Longest header line accepted; longer means a broken client, not a big event.
const MAX_LINE: u64 = 1024 * 1024;
/// Largest `data_length` / `payload_length` accepted, so a bad header cannot
/// make the server allocate without bound.
const MAX_BLOCK: u64 = 64 * 1024 * 1024;

/// A Wyoming ASR server.
pub struct Wyoming {
    addr: SocketAddr,
    requests: Recorded<WyomingRequest>,
    describes: Arc<AtomicUsize>,
    _task: ServerTask,
}

/// One transcription request, complete at `audio-stop`.
#[derive(Clone, Debug)]
pub struct WyomingRequest {
    pub language: Option<String>,
    /// `transcribe.data.name`.
    pub model: Option<String>,
    pub rate: u32,
    pub width: u16,
    pub channels: u16,
    /// All `audio-chunk` payloads, concatenated.
    pub audio: Vec<u8>,
    /// `audio.len() / (rate * width * channels)`; 0.0 if the format is zero.
    pub audio_seconds: f64,
}

/// How the server answers one request.
#[derive(Clone, Debug)]
pub enum WyomingReply {
    /// A `transcript` event (preceded by `transcript-start`, one `transcript-chunk`
    /// per word and `transcript-stop` when the server streams).
    Transcript(String),
    /// Drops the connection without answering.
    Close,
    /// Writes `this is not wyoming\n`, then closes.
    Garbage,
    /// Waits, then answers with the inner reply.
    Delay(Duration, Box<WyomingReply>),
}

type Responder = dyn Fn(&WyomingRequest) -> WyomingReply + Send + Sync;

#[derive(Clone)]
struct Shared {
    streaming: bool,
    responder: Arc<Responder>,
    requests: Recorded<WyomingRequest>,
    describes: Arc<AtomicUsize>,
}

impl Wyoming {
    /// `streaming` decides whether `info` advertises
    /// `supports_transcript_streaming` and whether transcripts are streamed.
    pub async fn start(
        streaming: bool,
        responder: impl Fn(&WyomingRequest) -> WyomingReply + Send + Sync + 'static,
    ) -> Self {
        let (listener, addr) = bind_local().await;
        let requests = Recorded::default();
        let describes = Arc::new(AtomicUsize::new(0));
        let shared = Shared {
            streaming,
            responder: Arc::new(responder),
            requests: requests.clone(),
            describes: Arc::clone(&describes),
        };
        let task = ServerTask::spawn(async move {
            // Owned by this task, so aborting it aborts every connection too.
            let mut connections = JoinSet::new();
            loop {
                while connections.try_join_next().is_some() {}
                match listener.accept().await {
                    Ok((stream, _)) => {
                        connections.spawn(serve_connection(stream, shared.clone()));
                    }
                    // E.g. out of file descriptors: back off instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        });
        Self {
            addr,
            requests,
            describes,
            _task: task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `tcp://127.0.0.1:PORT`, the form Home Assistant uses for Wyoming services.
    pub fn uri(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// Completed requests (recorded at `audio-stop`), in order.
    pub fn requests(&self) -> Vec<WyomingRequest> {
        self.requests.snapshot()
    }

    /// How many `describe` events arrived, over all connections.
    pub fn describes(&self) -> usize {
        self.describes.load(Ordering::SeqCst)
    }
}

/// One decoded event.
struct Event {
    kind: String,
    data: Map<String, Value>,
    payload: Vec<u8>,
}

/// A request being assembled from `transcribe` / `audio-*` events.
#[derive(Default)]
struct Pending {
    language: Option<String>,
    model: Option<String>,
    rate: Option<u32>,
    width: Option<u16>,
    channels: Option<u16>,
    audio: Vec<u8>,
}

impl Pending {
    fn set_format(&mut self, data: &Map<String, Value>) {
        let number = |key: &str| data.get(key).and_then(Value::as_u64);
        if let Some(rate) = number("rate").and_then(|n| u32::try_from(n).ok()) {
            self.rate = Some(rate);
        }
        if let Some(width) = number("width").and_then(|n| u16::try_from(n).ok()) {
            self.width = Some(width);
        }
        if let Some(channels) = number("channels").and_then(|n| u16::try_from(n).ok()) {
            self.channels = Some(channels);
        }
    }

    fn finish(self) -> WyomingRequest {
        let rate = self.rate.unwrap_or(16_000);
        let width = self.width.unwrap_or(2);
        let channels = self.channels.unwrap_or(1);
        let bytes_per_second = f64::from(rate) * f64::from(width) * f64::from(channels);
        let audio_seconds = if bytes_per_second > 0.0 {
            self.audio.len() as f64 / bytes_per_second
        } else {
            0.0
        };
        WyomingRequest {
            language: self.language,
            model: self.model,
            rate,
            width,
            channels,
            audio: self.audio,
            audio_seconds,
        }
    }
}

/// Serves one TCP connection until the client leaves, sends something that is
/// not Wyoming, or the reply says to hang up.
async fn serve_connection(stream: TcpStream, shared: Shared) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut pending: Option<Pending> = None;
    loop {
        let event = match read_event(&mut read).await {
            Ok(Some(event)) => event,
            // EOF or malformed input: drop the connection.
            Ok(None) | Err(_) => return,
        };
        let text = |key: &str| {
            event
                .data
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match event.kind.as_str() {
            "describe" => {
                shared.describes.fetch_add(1, Ordering::SeqCst);
                if write_event(&mut write, "info", &info(shared.streaming), &[])
                    .await
                    .is_err()
                {
                    return;
                }
            }
            "ping" => {
                let data = text("text").map_or_else(|| json!({}), |t| json!({ "text": t }));
                if write_event(&mut write, "pong", &data, &[]).await.is_err() {
                    return;
                }
            }
            "transcribe" => {
                pending = Some(Pending {
                    language: text("language"),
                    model: text("name"),
                    ..Pending::default()
                });
            }
            "audio-start" => {
                let request = pending.get_or_insert_with(Pending::default);
                request.audio.clear();
                request.set_format(&event.data);
            }
            "audio-chunk" => {
                let request = pending.get_or_insert_with(Pending::default);
                request.set_format(&event.data);
                request.audio.extend_from_slice(&event.payload);
            }
            "audio-stop" => {
                let request = pending.take().unwrap_or_default().finish();
                shared.requests.push(request.clone());
                let reply = (shared.responder)(&request);
                if !answer(&mut write, reply, shared.streaming).await {
                    return;
                }
            }
            _ => {}
        }
    }
}

/// Sends the reply; false means the connection must close.
async fn answer(
    write: &mut (impl AsyncWrite + Unpin),
    mut reply: WyomingReply,
    streaming: bool,
) -> bool {
    loop {
        match reply {
            WyomingReply::Delay(wait, inner) => {
                tokio::time::sleep(wait).await;
                reply = *inner;
            }
            WyomingReply::Close => return false,
            WyomingReply::Garbage => {
                let _ = write.write_all(b"this is not wyoming\n").await;
                let _ = write.shutdown().await;
                return false;
            }
            WyomingReply::Transcript(text) => {
                return send_transcript(write, &text, streaming).await.is_ok();
            }
        }
    }
}

async fn send_transcript(
    write: &mut (impl AsyncWrite + Unpin),
    text: &str,
    streaming: bool,
) -> std::io::Result<()> {
    if streaming {
        write_event(write, "transcript-start", &json!({ "language": "en" }), &[]).await?;
        for word in text.split_whitespace() {
            let data = json!({ "text": format!("{word} ") });
            write_event(write, "transcript-chunk", &data, &[]).await?;
        }
        write_event(write, "transcript-stop", &json!({}), &[]).await?;
    }
    let data = json!({ "text": text, "language": "en" });
    write_event(write, "transcript", &data, &[]).await
}

fn info(streaming: bool) -> Value {
    let attribution = json!({ "name": "test", "url": "http://127.0.0.1" });
    json!({
        "asr": [{
            "name": "fake-whisper",
            "description": "test",
            "attribution": attribution,
            "installed": true,
            "version": "1.0",
            "models": [{
                "name": "tiny",
                "description": "tiny",
                "attribution": attribution,
                "installed": true,
                "languages": ["en"],
                "version": "1.0",
            }],
            "supports_transcript_streaming": streaming,
        }],
        "tts": [],
        "handle": [],
        "intent": [],
        "wake": [],
        "mic": [],
        "snd": [],
    })
}

/// Reads one event; `Ok(None)` at a clean end of stream, `Err` on anything
/// that is not well-formed Wyoming.
async fn read_event(reader: &mut (impl AsyncBufRead + Unpin)) -> Result<Option<Event>, String> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut *reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| e.to_string())?;
        if read == 0 {
            return Ok(None);
        }
        if line.last() != Some(&b'\n') {
            return Err("header line too long or cut off".into());
        }
        if !line.iter().all(u8::is_ascii_whitespace) {
            break;
        }
    }
    let header: Value = serde_json::from_slice(&line).map_err(|e| e.to_string())?;
    let Value::Object(mut header) = header else {
        return Err("header is not a JSON object".into());
    };
    let Some(Value::String(kind)) = header.remove("type") else {
        return Err("header has no string `type`".into());
    };
    let mut data = match header.remove("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(data)) => data,
        Some(_) => return Err("`data` is not an object".into()),
    };
    let length = |key: &str| -> Result<usize, String> {
        match header.get(key) {
            None | Some(Value::Null) => Ok(0),
            Some(value) => value
                .as_u64()
                .filter(|n| *n <= MAX_BLOCK)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| format!("bad `{key}`")),
        }
    };
    let data_length = length("data_length")?;
    let payload_length = length("payload_length")?;
    if data_length > 0 {
        let mut bytes = vec![0; data_length];
        reader
            .read_exact(&mut bytes)
            .await
            .map_err(|e| e.to_string())?;
        match serde_json::from_slice(&bytes).map_err(|e| e.to_string())? {
            Value::Object(extra) => data.extend(extra),
            _ => return Err("data block is not a JSON object".into()),
        }
    }
    let mut payload = vec![0; payload_length];
    reader
        .read_exact(&mut payload)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(Event {
        kind,
        data,
        payload,
    }))
}

/// Writes an event the way the Python library does: data goes in a separate
/// block announced by `data_length` (omitted when empty), then the payload.
async fn write_event(
    write: &mut (impl AsyncWrite + Unpin),
    kind: &str,
    data: &Value,
    payload: &[u8],
) -> std::io::Result<()> {
    let data_bytes = match data {
        Value::Object(map) if map.is_empty() => Vec::new(),
        Value::Null => Vec::new(),
        other => serde_json::to_vec(other)?,
    };
    let mut header = Map::new();
    header.insert("type".into(), kind.into());
    header.insert("version".into(), VERSION.into());
    if !data_bytes.is_empty() {
        header.insert("data_length".into(), data_bytes.len().into());
    }
    if !payload.is_empty() {
        header.insert("payload_length".into(), payload.len().into());
    }
    let mut out = serde_json::to_vec(&header)?;
    out.push(b'\n');
    out.extend_from_slice(&data_bytes);
    out.extend_from_slice(payload);
    write.write_all(&out).await?;
    write.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads events with the server's own decoder, which handles both data forms.
    async fn next(reader: &mut (impl AsyncBufRead + Unpin)) -> Event {
        read_event(reader).await.unwrap().unwrap()
    }

    async fn send_request(write: &mut (impl AsyncWrite + Unpin), audio: &[u8]) {
        // Inline `data`, as some clients write it.
        let transcribe =
            "{\"type\":\"transcribe\",\"data\":{\"name\":\"tiny\",\"language\":\"en\"}}\n";
        write.write_all(transcribe.as_bytes()).await.unwrap();
        let format = json!({ "rate": 16000, "width": 2, "channels": 1 });
        write_event(write, "audio-start", &format, &[])
            .await
            .unwrap();
        write_event(write, "audio-chunk", &format, &audio[..audio.len() / 2])
            .await
            .unwrap();
        write_event(write, "audio-chunk", &format, &audio[audio.len() / 2..])
            .await
            .unwrap();
        write_event(write, "audio-stop", &json!({}), &[])
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn describe_then_streamed_transcripts_on_one_connection() {
        let server = Wyoming::start(true, |request| {
            WyomingReply::Transcript(format!("heard {} seconds", request.audio_seconds))
        })
        .await;
        assert!(server.uri().starts_with("tcp://127.0.0.1:"));
        let stream = TcpStream::connect(server.addr()).await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);

        write_event(&mut write, "describe", &Value::Null, &[])
            .await
            .unwrap();
        let info = next(&mut read).await;
        assert_eq!(info.kind, "info");
        assert_eq!(info.data["asr"][0]["supports_transcript_streaming"], true);
        assert_eq!(server.describes(), 1);

        for _ in 0..2 {
            send_request(&mut write, &[0; 32_000]).await;
            let kinds_and_text = [
                ("transcript-start", None),
                ("transcript-chunk", Some("heard ")),
                ("transcript-chunk", Some("1 ")),
                ("transcript-chunk", Some("seconds ")),
                ("transcript-stop", None),
                ("transcript", Some("heard 1 seconds")),
            ];
            for (kind, text) in kinds_and_text {
                let event = next(&mut read).await;
                assert_eq!(event.kind, kind);
                if let Some(text) = text {
                    assert_eq!(event.data["text"], text);
                }
            }
        }
        let requests = server.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].model.as_deref(), Some("tiny"));
        assert_eq!(requests[0].language.as_deref(), Some("en"));
        assert_eq!(
            (requests[0].rate, requests[0].width, requests[0].channels),
            (16000, 2, 1)
        );
        assert_eq!(requests[0].audio.len(), 32_000);
    }

    #[tokio::test]
    async fn faults_close_the_connection() {
        let server = Wyoming::start(false, |request| {
            if request.audio.len() == 2 {
                WyomingReply::Garbage
            } else {
                WyomingReply::Delay(Duration::from_millis(10), Box::new(WyomingReply::Close))
            }
        })
        .await;
        for (audio, expected) in [
            (&[0u8; 2][..], &b"this is not wyoming\n"[..]),
            (&[0u8; 4], b""),
        ] {
            let mut stream = TcpStream::connect(server.addr()).await.unwrap();
            send_request(&mut stream, audio).await;
            let mut received = Vec::new();
            stream.read_to_end(&mut received).await.unwrap();
            assert_eq!(received, expected);
        }

        // Malformed input closes the connection rather than panicking the server.
        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        stream
            .write_all(b"{\"type\":\"audio-chunk\",\"payload_length\":-1}\n")
            .await
            .unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).await.unwrap();
        assert!(received.is_empty());
        assert_eq!(server.requests().len(), 2);
    }

    #[tokio::test]
    async fn dropping_the_handle_stops_the_server() {
        let server = Wyoming::start(false, |_| WyomingReply::Transcript(String::new())).await;
        let mut open = TcpStream::connect(server.addr()).await.unwrap();
        let addr = server.addr();
        drop(server);
        let mut received = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), open.read_to_end(&mut received));
        assert!(read.await.is_ok(), "open connection was not closed");
        assert!(TcpStream::connect(addr).await.is_err());
    }
}
