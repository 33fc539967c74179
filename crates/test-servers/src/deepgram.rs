//! Deepgram's live streaming API (`GET /v1/listen` upgraded to a WebSocket),
//! so the streaming transcription client can be tested against the real message
//! shapes: interim then final `Results`, `Finalize`, `CloseStream` with its
//! closing `Metadata`, refused upgrades, garbage and silence.
//!
//! Transcripts are scripted against audio time: an [`Utterance`] is emitted once
//! the client has sent enough linear16 audio to reach its `at` second.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::recorded::{Recorded, ServerTask, serve_axum};

/// How long to wait for the client's answer to our close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A transcript the script emits once the audio received reaches `at` seconds.
#[derive(Clone, Debug)]
pub struct Utterance {
    pub at: f64,
    pub text: String,
}

/// What the server does on one connection.
#[derive(Clone, Debug)]
pub enum DeepgramBehaviour {
    /// For each utterance, once received audio reaches `at`: an interim `Results`
    /// (first half of the words) then a final one (all words, `speech_final`).
    /// Words span from `max(at - 0.3 * words, previous end)` to `at`.
    ///
    /// An utterance is *pending* when audio has reached its first word but not
    /// `at`; `Finalize` emits it at once as a final (`from_finalize: true`), and
    /// `CloseStream` emits it as a final before `Metadata` and a normal close.
    Script(Vec<Utterance>),
    /// Refuses the upgrade with this HTTP status (e.g. 401 for a bad key).
    Reject(u16),
    /// Accepts, sends one text frame that is not JSON, and keeps the socket open.
    Garbage,
    /// Accepts and never sends anything (audio is read and discarded).
    Silent,
}

/// What one connection sent; updated live while the socket is open.
#[derive(Clone, Debug)]
pub struct DeepgramConnection {
    /// Query pairs in order, URL-decoded; repeated keys (`keyterm`) are kept.
    pub query: Vec<(String, String)>,
    /// The Authorization header as sent (Deepgram clients send `Token <key>`).
    pub authorization: Option<String>,
    pub audio_bytes: usize,
    pub close_stream_received: bool,
    /// The socket has ended (or the upgrade was refused).
    pub closed: bool,
}

impl DeepgramConnection {
    /// Every value given for `key`, in order.
    pub fn query_values(&self, key: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

type BehaviourFn = dyn Fn(usize) -> DeepgramBehaviour + Send + Sync;

#[derive(Clone)]
struct Shared {
    behaviour: Arc<BehaviourFn>,
    connections: Recorded<DeepgramConnection>,
    /// Never sent on; its sender dropping with the handle ends open sockets,
    /// which axum runs outside the server task.
    shutdown: watch::Receiver<()>,
}

/// A fake Deepgram live-transcription server.
pub struct Deepgram {
    addr: SocketAddr,
    connections: Recorded<DeepgramConnection>,
    _task: ServerTask,
    _shutdown: watch::Sender<()>,
}

impl Deepgram {
    /// `behaviour` is chosen per connection from its index (0, 1, ...), so a test
    /// can make the first connection fail and the second succeed.
    pub async fn start(
        behaviour: impl Fn(usize) -> DeepgramBehaviour + Send + Sync + 'static,
    ) -> Self {
        let (shutdown_tx, shutdown) = watch::channel(());
        let connections = Recorded::default();
        let shared = Shared {
            behaviour: Arc::new(behaviour),
            connections: connections.clone(),
            shutdown,
        };
        let router = Router::new()
            .route("/v1/listen", get(listen))
            .with_state(shared);
        let (task, addr) = serve_axum(router).await;
        Self {
            addr,
            connections,
            _task: task,
            _shutdown: shutdown_tx,
        }
    }

    /// `ws://127.0.0.1:PORT`; clients append `/v1/listen?...`.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Every upgrade attempt so far, in order (index = connection index).
    pub fn connections(&self) -> Vec<DeepgramConnection> {
        self.connections.snapshot()
    }
}

async fn listen(
    State(shared): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let query = parse_query(query.as_deref().unwrap_or_default());
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let index = shared.connections.push(DeepgramConnection {
        query: query.clone(),
        authorization,
        audio_bytes: 0,
        close_stream_received: false,
        closed: false,
    });
    let behaviour = (shared.behaviour)(index);
    let request_id = request_id(index);
    if let DeepgramBehaviour::Reject(code) = behaviour {
        shared.connections.update(index, |c| c.closed = true);
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({
            "err_code": "SCRIPTED_REJECTION",
            "err_msg": format!("scripted rejection with status {code}"),
            "request_id": request_id,
        });
        return (status, axum::Json(body)).into_response();
    }
    let connections = shared.connections.clone();
    let on_failure = shared.connections.clone();
    upgrade
        .on_failed_upgrade(move |_| on_failure.update(index, |c| c.closed = true))
        .on_upgrade(move |socket| async move {
            let mut stream = Stream::new(socket, connections.clone(), index, request_id, &query);
            stream.run(behaviour, shared.shutdown).await;
            connections.update(index, |c| c.closed = true);
        })
}

/// A per-connection id shaped like Deepgram's UUID request ids.
fn request_id(index: usize) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{:08x}-{}-{}-{}-{}",
        index,
        &random[..4],
        &random[4..8],
        &random[8..12],
        &random[12..24]
    )
}

/// Splits `a=1&b=2`, keeping duplicates, decoding `%XX` and `+`.
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

/// Form-style URL decoding; invalid escapes are kept literally rather than rejected.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        // Two hex digits are at most 255.
                        out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One word with its place in the audio.
struct Word {
    word: String,
    punctuated: String,
    start: f64,
    end: f64,
}

/// One open socket and its scripting state.
struct Stream {
    socket: WebSocket,
    connections: Recorded<DeepgramConnection>,
    index: usize,
    request_id: String,
    bytes_per_second: f64,
    channels: u64,
    audio_bytes: usize,
    /// Index of the next utterance not yet emitted.
    next: usize,
    /// End of the last emitted word, so utterances never overlap.
    last_end: f64,
}

/// Whether the message loop goes on after handling a message.
enum Flow {
    Continue,
    Stop,
}

impl Stream {
    fn new(
        socket: WebSocket,
        connections: Recorded<DeepgramConnection>,
        index: usize,
        request_id: String,
        query: &[(String, String)],
    ) -> Self {
        let number = |key: &str, default: u64| {
            query
                .iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.parse::<u64>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        let sample_rate = number("sample_rate", 16_000);
        let channels = number("channels", 1);
        Self {
            socket,
            connections,
            index,
            request_id,
            // linear16: two bytes per sample per channel.
            bytes_per_second: (sample_rate * channels * 2) as f64,
            channels,
            audio_bytes: 0,
            next: 0,
            last_end: 0.0,
        }
    }

    fn seconds(&self) -> f64 {
        self.audio_bytes as f64 / self.bytes_per_second
    }

    async fn run(&mut self, behaviour: DeepgramBehaviour, mut shutdown: watch::Receiver<()>) {
        let script = match behaviour {
            DeepgramBehaviour::Script(script) => Some(script),
            DeepgramBehaviour::Garbage => {
                if self.text("this is not json {".to_owned()).await.is_err() {
                    return;
                }
                None
            }
            DeepgramBehaviour::Silent | DeepgramBehaviour::Reject(_) => None,
        };
        loop {
            let message = tokio::select! {
                message = self.socket.recv() => message,
                _ = shutdown.changed() => return,
            };
            let flow = match message {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => Flow::Stop,
                Some(Ok(Message::Binary(audio))) => {
                    self.audio_bytes += audio.len();
                    let total = self.audio_bytes;
                    self.connections
                        .update(self.index, |c| c.audio_bytes = total);
                    match &script {
                        Some(script) => self.emit_due(script).await,
                        None => Flow::Continue,
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    self.control(text.as_str(), script.as_deref()).await
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Flow::Continue,
            };
            if matches!(flow, Flow::Stop) {
                return;
            }
        }
    }

    /// Handles a JSON control message. Only a scripted connection answers
    /// them; one that is not understood closes it, as Deepgram does.
    async fn control(&mut self, text: &str, script: Option<&[Utterance]>) -> Flow {
        let kind = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned));
        if kind.as_deref() == Some("CloseStream") {
            self.connections
                .update(self.index, |c| c.close_stream_received = true);
        }
        let Some(script) = script else {
            return Flow::Continue;
        };
        match kind.as_deref() {
            Some("KeepAlive") => Flow::Continue,
            Some("Finalize") => self.emit_pending(script, true).await,
            Some("CloseStream") => {
                if let Flow::Stop = self.emit_pending(script, false).await {
                    return Flow::Stop;
                }
                let metadata = json!({
                    "type": "Metadata",
                    "request_id": self.request_id,
                    "duration": self.seconds(),
                    "channels": self.channels,
                });
                if self.text(metadata.to_string()).await.is_err() {
                    return Flow::Stop;
                }
                self.close(close_code::NORMAL, "").await;
                Flow::Stop
            }
            _ => {
                self.close(close_code::POLICY, "unrecognised control message")
                    .await;
                Flow::Stop
            }
        }
    }

    /// Emits every utterance whose time the audio has reached: interim, then final.
    async fn emit_due(&mut self, script: &[Utterance]) -> Flow {
        while let Some(utterance) = script.get(self.next) {
            if self.seconds() < utterance.at {
                break;
            }
            self.next += 1;
            let words = self.place(utterance);
            let half = (words.len() / 2).max(1).min(words.len());
            let interim = self.results(&words[..half], utterance, false, false);
            let last = self.results(&words, utterance, true, false);
            if self.text(interim).await.is_err() || self.text(last).await.is_err() {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    /// Emits the utterance the audio is in the middle of, if any, as a final.
    async fn emit_pending(&mut self, script: &[Utterance], from_finalize: bool) -> Flow {
        let Some(utterance) = script.get(self.next) else {
            return Flow::Continue;
        };
        let (start, _) = self.span(utterance);
        if self.seconds() <= start {
            return Flow::Continue;
        }
        self.next += 1;
        let words = self.place(utterance);
        let message = self.results(&words, utterance, true, from_finalize);
        match self.text(message).await {
            Ok(()) => Flow::Continue,
            Err(()) => Flow::Stop,
        }
    }

    /// Where an utterance's words go: `max(at - 0.3 * n, last end)` to `at`,
    /// pushed later when earlier words already reach past `at`.
    fn span(&self, utterance: &Utterance) -> (f64, f64) {
        let count = utterance.text.split_whitespace().count().max(1) as f64;
        let start = (utterance.at - 0.3 * count).max(self.last_end).max(0.0);
        let end = if utterance.at > start {
            utterance.at
        } else {
            start + 0.1 * count
        };
        (start, end)
    }

    /// Gives each word an equal, strictly increasing slot within the span.
    fn place(&mut self, utterance: &Utterance) -> Vec<Word> {
        let (start, end) = self.span(utterance);
        let tokens: Vec<&str> = utterance.text.split_whitespace().collect();
        let step = (end - start) / tokens.len().max(1) as f64;
        let words: Vec<Word> = tokens
            .iter()
            .enumerate()
            .map(|(i, token)| Word {
                word: token
                    .trim_matches(|c: char| !c.is_alphanumeric())
                    .to_lowercase(),
                punctuated: (*token).to_owned(),
                start: start + step * i as f64,
                end: start + step * (i + 1) as f64,
            })
            .collect();
        self.last_end = self.last_end.max(end);
        words
    }

    fn results(
        &self,
        words: &[Word],
        utterance: &Utterance,
        is_final: bool,
        from_finalize: bool,
    ) -> String {
        let start = words.first().map_or(utterance.at.max(0.0), |w| w.start);
        let end = words.last().map_or(start, |w| w.end);
        let transcript = words
            .iter()
            .map(|w| w.punctuated.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let words: Vec<Value> = words
            .iter()
            .map(|w| {
                json!({
                    "word": w.word,
                    "start": w.start,
                    "end": w.end,
                    "confidence": 0.99,
                    "punctuated_word": w.punctuated,
                })
            })
            .collect();
        json!({
            "type": "Results",
            "channel_index": [0, 1],
            "duration": end - start,
            "start": start,
            "is_final": is_final,
            "speech_final": is_final,
            "from_finalize": from_finalize,
            "channel": {
                "alternatives": [{
                    "transcript": transcript,
                    "confidence": 0.98,
                    "words": words,
                }],
            },
            "metadata": {
                "request_id": self.request_id,
                "model_info": { "name": "fake", "version": "1", "arch": "fake" },
            },
        })
        .to_string()
    }

    async fn text(&mut self, text: String) -> Result<(), ()> {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|_| ())
    }

    /// Sends a close frame and waits (briefly) for the client's reply, so the
    /// close handshake completes the way a real server's does.
    async fn close(&mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        if self.socket.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            while let Some(Ok(_)) = self.socket.recv().await {}
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

    use super::*;

    type Client = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    async fn connect(server: &Deepgram, query: &str) -> Result<Client, tungstenite::Error> {
        let mut request = format!("{}/v1/listen?{query}", server.url())
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", "Token secret".parse().unwrap());
        tokio_tungstenite::connect_async(request)
            .await
            .map(|(socket, _)| socket)
    }

    async fn next_json(socket: &mut Client) -> Value {
        loop {
            match socket.next().await.unwrap().unwrap() {
                tungstenite::Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    fn script(at: f64, text: &str) -> Utterance {
        Utterance {
            at,
            text: text.to_owned(),
        }
    }

    #[tokio::test]
    async fn scripted_session_interim_then_final_then_metadata() {
        let server = Deepgram::start(|index| match index {
            0 => DeepgramBehaviour::Reject(401),
            _ => DeepgramBehaviour::Script(vec![
                script(0.5, "Hey, how are you?"),
                script(1.5, "Fine."),
            ]),
        })
        .await;

        match connect(&server, "model=nova-3").await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
            other => panic!("expected a refused upgrade, got {other:?}"),
        }

        let query = "encoding=linear16&sample_rate=16000&channels=1&interim_results=true\
                     &keyterm=Chronicle&keyterm=New%20York&keyterm=a+b&model=nova-3";
        let mut socket = connect(&server, query).await.unwrap();
        // 0.6 s of audio passes the first utterance only.
        socket
            .send(tungstenite::Message::Binary(vec![0u8; 19_200].into()))
            .await
            .unwrap();
        let interim = next_json(&mut socket).await;
        assert_eq!(interim["type"], "Results");
        assert_eq!(interim["is_final"], false);
        assert_eq!(
            interim["channel"]["alternatives"][0]["transcript"],
            "Hey, how"
        );
        let last = next_json(&mut socket).await;
        assert_eq!(last["is_final"], true);
        assert_eq!(last["speech_final"], true);
        let alternative = &last["channel"]["alternatives"][0];
        assert_eq!(alternative["transcript"], "Hey, how are you?");
        assert_eq!(alternative["words"][0]["word"], "hey");
        assert_eq!(alternative["words"][0]["punctuated_word"], "Hey,");
        let words = alternative["words"].as_array().unwrap();
        let times: Vec<f64> = words
            .iter()
            .flat_map(|w| [w["start"].as_f64().unwrap(), w["end"].as_f64().unwrap()])
            .collect();
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!(
            words
                .iter()
                .all(|w| w["start"].as_f64() < w["end"].as_f64())
        );
        assert_eq!(times.last().copied(), Some(0.5));

        let live = &server.connections()[1];
        assert_eq!(live.audio_bytes, 19_200);
        assert!(!live.closed);

        // 0.8 more seconds puts the audio inside "Fine." (1.2..1.5): CloseStream flushes it.
        socket
            .send(tungstenite::Message::Binary(vec![0u8; 25_600].into()))
            .await
            .unwrap();
        socket
            .send(tungstenite::Message::Text(r#"{"type":"KeepAlive"}"#.into()))
            .await
            .unwrap();
        socket
            .send(tungstenite::Message::Text(
                r#"{"type":"CloseStream"}"#.into(),
            ))
            .await
            .unwrap();
        let flushed = next_json(&mut socket).await;
        assert_eq!(flushed["is_final"], true);
        assert_eq!(flushed["channel"]["alternatives"][0]["transcript"], "Fine.");
        let metadata = next_json(&mut socket).await;
        assert_eq!(metadata["type"], "Metadata");
        assert_eq!(metadata["duration"], 1.4);
        match socket.next().await {
            Some(Ok(tungstenite::Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1000);
            }
            other => panic!("expected a normal close, got {other:?}"),
        }
        while socket.next().await.is_some() {}

        let connections = server.connections();
        assert_eq!(connections.len(), 2);
        assert!(connections[0].closed);
        let connection = &connections[1];
        assert_eq!(connection.authorization.as_deref(), Some("Token secret"));
        assert_eq!(
            connection.query_values("keyterm"),
            ["Chronicle", "New York", "a b"]
        );
        assert_eq!(connection.query_values("model"), ["nova-3"]);
        assert!(connection.close_stream_received);
        // The server marks the record closed just after the handshake finishes.
        for _ in 0..100 {
            if server.connections()[1].closed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(server.connections()[1].closed);
    }

    #[tokio::test]
    async fn finalize_garbage_and_malformed_input() {
        let server = Deepgram::start(|index| match index {
            0 => DeepgramBehaviour::Script(vec![script(1.0, "one two")]),
            _ => DeepgramBehaviour::Garbage,
        })
        .await;
        let mut socket = connect(&server, "sample_rate=8000").await.unwrap();
        // 0.5 s at 8 kHz: inside "one two" (0.4..1.0) but not past it.
        socket
            .send(tungstenite::Message::Binary(vec![0u8; 8_000].into()))
            .await
            .unwrap();
        socket
            .send(tungstenite::Message::Text(r#"{"type":"Finalize"}"#.into()))
            .await
            .unwrap();
        let finalized = next_json(&mut socket).await;
        assert_eq!(finalized["is_final"], true);
        assert_eq!(finalized["from_finalize"], true);
        assert_eq!(
            finalized["channel"]["alternatives"][0]["transcript"],
            "one two"
        );
        socket
            .send(tungstenite::Message::Text("{not json".into()))
            .await
            .unwrap();
        match socket.next().await {
            Some(Ok(tungstenite::Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1008);
            }
            other => panic!("expected a policy close, got {other:?}"),
        }

        let mut garbage = connect(&server, "").await.unwrap();
        match garbage.next().await {
            Some(Ok(tungstenite::Message::Text(text))) => {
                assert!(serde_json::from_str::<Value>(&text).is_err());
            }
            other => panic!("expected a garbage text frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn dropping_the_handle_closes_open_sockets() {
        let server = Deepgram::start(|_| DeepgramBehaviour::Silent).await;
        let mut socket = connect(&server, "").await.unwrap();
        socket
            .send(tungstenite::Message::Binary(vec![0u8; 320].into()))
            .await
            .unwrap();
        drop(server);
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(_)) = socket.next().await {}
        });
        assert!(
            ended.await.is_ok(),
            "socket stayed open after the server was dropped"
        );
    }

    #[test]
    fn query_decoding() {
        assert_eq!(
            parse_query("a=1&b=x%2By&a=%zz&c&d=%E2%9C%93"),
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "x+y".to_owned()),
                ("a".to_owned(), "%zz".to_owned()),
                ("c".to_owned(), String::new()),
                ("d".to_owned(), "✓".to_owned()),
            ]
        );
        assert_eq!(decode("%"), "%");
        assert_eq!(decode("%4"), "%4");
    }
}
