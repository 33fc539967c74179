//! OpenAI-compatible HTTP endpoints: audio transcriptions (Whisper-style, as also
//! served by Groq, faster-whisper-server, LocalAI ...) and chat completions.
//!
//! Each server records the requests it got and lets a responder closure decide
//! every answer, including errors, garbage and slow replies, so tests can check
//! both what Chronicle sends and how it copes with what comes back.

use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::recorded::{Recorded, ServerTask, serve_axum};

/// Uploads are whole recordings; axum's 2 MB default would reject realistic ones.
const MAX_BODY: usize = 512 * 1024 * 1024;

/// A server for `POST /v1/audio/transcriptions`.
pub struct Transcriptions {
    addr: SocketAddr,
    requests: Recorded<TranscriptionRequest>,
    _task: ServerTask,
}

/// One transcription upload, as the server understood it.
#[derive(Clone, Debug)]
pub struct TranscriptionRequest {
    pub model: String,
    pub response_format: String,
    pub language: Option<String>,
    pub prompt: Option<String>,
    /// The Authorization header as sent (e.g. `Bearer sk-...`).
    pub authorization: Option<String>,
    pub filename: Option<String>,
    /// Every `timestamp_granularities[]` field, in order (e.g. `["word", "segment"]`).
    pub timestamp_granularities: Vec<String>,
    /// The uploaded file's bytes.
    pub audio: Vec<u8>,
    /// Duration read from the WAV header; 0.0 if the file is not a readable WAV.
    pub audio_seconds: f64,
}

/// How the transcription server answers one request.
#[derive(Clone, Debug)]
pub enum TranscriptionReply {
    /// 200 in the requested `response_format`: `verbose_json` gets segments (one
    /// per sentence, spread evenly over the audio) and words (spread evenly within
    /// their segment); `text`, `srt` and `vtt` get the plain text; anything else
    /// gets `{"text": ...}`.
    Text(String),
    /// 200 with a body that is not JSON (`<html>oops`).
    Garbage,
    /// That HTTP status with an OpenAI-style error body.
    Status(u16),
    /// Waits, then answers with the inner reply.
    Delay(Duration, Box<TranscriptionReply>),
}

type TranscriptionResponder = dyn Fn(&TranscriptionRequest) -> TranscriptionReply + Send + Sync;

#[derive(Clone)]
struct TranscriptionState {
    responder: Arc<TranscriptionResponder>,
    requests: Recorded<TranscriptionRequest>,
}

impl Transcriptions {
    /// Serves POST /v1/audio/transcriptions (multipart: `file`, `model`,
    /// `response_format`, optional `language`, `prompt` and repeated
    /// `timestamp_granularities[]`). Requests without `file` or `model` get a 400
    /// and are neither recorded nor shown to the responder.
    pub async fn start(
        responder: impl Fn(&TranscriptionRequest) -> TranscriptionReply + Send + Sync + 'static,
    ) -> Self {
        let requests = Recorded::default();
        let state = TranscriptionState {
            responder: Arc::new(responder),
            requests: requests.clone(),
        };
        let router = Router::new()
            .route("/v1/audio/transcriptions", post(transcribe))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(state);
        let (task, addr) = serve_axum(router).await;
        Self {
            addr,
            requests,
            _task: task,
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash or `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Valid requests received so far, in arrival order.
    pub fn requests(&self) -> Vec<TranscriptionRequest> {
        self.requests.snapshot()
    }
}

async fn transcribe(
    State(state): State<TranscriptionState>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let request = match read_transcription(&headers, multipart).await {
        Ok(request) => request,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, &message),
    };
    state.requests.push(request.clone());
    let mut reply = (state.responder)(&request);
    loop {
        match reply {
            TranscriptionReply::Delay(wait, inner) => {
                tokio::time::sleep(wait).await;
                reply = *inner;
            }
            TranscriptionReply::Text(text) => return transcription_body(&request, &text),
            TranscriptionReply::Garbage => return garbage(),
            TranscriptionReply::Status(code) => return status_reply(code),
        }
    }
}

async fn read_transcription(
    headers: &HeaderMap,
    mut multipart: Multipart,
) -> Result<TranscriptionRequest, String> {
    let mut model = None;
    let mut response_format = None;
    let mut language = None;
    let mut prompt = None;
    let mut file = None;
    let mut timestamp_granularities = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| format!("bad multipart body: {e}"))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let filename = field.file_name().map(str::to_owned);
            let bytes = field
                .bytes()
                .await
                .map_err(|e| format!("bad multipart field `file`: {e}"))?;
            file = Some((filename, bytes.to_vec()));
            continue;
        }
        let text = field
            .text()
            .await
            .map_err(|e| format!("bad multipart field `{name}`: {e}"))?;
        match name.as_str() {
            "model" => model = Some(text),
            "response_format" => response_format = Some(text),
            "language" => language = Some(text),
            "prompt" => prompt = Some(text),
            "timestamp_granularities[]" | "timestamp_granularities" => {
                timestamp_granularities.push(text);
            }
            _ => {}
        }
    }
    let (filename, audio) = file.ok_or("missing multipart field `file`")?;
    let model = model.ok_or("missing multipart field `model`")?;
    Ok(TranscriptionRequest {
        model,
        response_format: response_format.unwrap_or_else(|| "json".to_owned()),
        language,
        prompt,
        authorization: authorization(headers),
        filename,
        timestamp_granularities,
        audio_seconds: wav_seconds(&audio),
        audio,
    })
}

fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// The WAV's duration, or 0.0 when the bytes are not a WAV hound can read.
fn wav_seconds(bytes: &[u8]) -> f64 {
    match hound::WavReader::new(Cursor::new(bytes)) {
        Ok(reader) => {
            let rate = reader.spec().sample_rate;
            if rate == 0 {
                0.0
            } else {
                f64::from(reader.duration()) / f64::from(rate)
            }
        }
        Err(_) => 0.0,
    }
}

fn transcription_body(request: &TranscriptionRequest, text: &str) -> Response {
    match request.response_format.as_str() {
        "verbose_json" => axum::Json(verbose_json(text, request.audio_seconds)).into_response(),
        "text" | "srt" | "vtt" => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            text.to_owned(),
        )
            .into_response(),
        _ => axum::Json(json!({ "text": text })).into_response(),
    }
}

/// Whisper's `verbose_json`: one segment per sentence, each an equal share of
/// the audio, with that segment's words sharing its span equally.
fn verbose_json(text: &str, seconds: f64) -> Value {
    let sentences = sentences(text);
    let share = if sentences.is_empty() {
        0.0
    } else {
        seconds / sentences.len() as f64
    };
    let mut segments = Vec::new();
    let mut words = Vec::new();
    for (id, sentence) in sentences.iter().enumerate() {
        let start = share * id as f64;
        let end = start + share;
        segments.push(json!({
            "id": id,
            "seek": 0,
            "start": start,
            "end": end,
            "text": format!(" {sentence}"),
            "tokens": [],
            "temperature": 0.0,
            "avg_logprob": -0.2,
            "compression_ratio": 1.0,
            "no_speech_prob": 0.01,
        }));
        let tokens: Vec<&str> = sentence
            .split_whitespace()
            .map(|token| token.trim_matches(|c: char| !c.is_alphanumeric() && c != '\''))
            .filter(|word| !word.is_empty())
            .collect();
        let step = share / tokens.len().max(1) as f64;
        for (i, word) in tokens.iter().enumerate() {
            words.push(json!({
                "word": word,
                "start": start + step * i as f64,
                "end": start + step * (i + 1) as f64,
            }));
        }
    }
    json!({
        "task": "transcribe",
        "language": "english",
        "duration": seconds,
        "text": text,
        "segments": segments,
        "words": words,
    })
}

/// Splits after `.`, `!` or `?` when followed by whitespace or the end.
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        let ends =
            matches!(c, '.' | '!' | '?') && chars.peek().is_none_or(|next| next.is_whitespace());
        if ends {
            out.push(std::mem::take(&mut current));
        }
    }
    out.push(current);
    out.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn garbage() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html")],
        "<html>oops",
    )
        .into_response()
}

/// Out-of-range codes become 500 rather than a panic.
fn status_reply(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error_response(status, &format!("scripted failure with status {code}"))
}

fn error_response(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "error": {
            "message": message,
            "type": "server_error",
            "param": null,
            "code": null,
        }
    });
    (status, axum::Json(body)).into_response()
}

/// A server for `POST /v1/chat/completions`.
pub struct Chat {
    addr: SocketAddr,
    requests: Recorded<(Value, Option<String>)>,
    _task: ServerTask,
}

/// How the chat server answers one request.
#[derive(Clone, Debug)]
pub enum ChatReply {
    /// 200 with a `chat.completion` whose single choice has this content (streamed a word a
    /// chunk when the request asks `stream: true`).
    Content(String),
    /// 200 with the assistant calling these tools (name, arguments), no content; streamed
    /// with each call's arguments in two pieces when asked.
    ToolCalls(Vec<(String, Value)>),
    /// 200 with a body that is not JSON (`<html>oops`).
    Garbage,
    /// That HTTP status with an OpenAI-style error body.
    Status(u16),
    /// Waits, then answers with the inner reply.
    Delay(Duration, Box<ChatReply>),
}

type ChatResponder = dyn Fn(&Value) -> ChatReply + Send + Sync;

#[derive(Clone)]
struct ChatState {
    responder: Arc<ChatResponder>,
    requests: Recorded<(Value, Option<String>)>,
    ids: Arc<AtomicU64>,
}

impl Chat {
    /// Serves POST /v1/chat/completions; the responder gets the JSON request
    /// body. Bodies that are not JSON get a 400 and are not recorded.
    pub async fn start(responder: impl Fn(&Value) -> ChatReply + Send + Sync + 'static) -> Self {
        let requests = Recorded::default();
        let state = ChatState {
            responder: Arc::new(responder),
            requests: requests.clone(),
            ids: Arc::new(AtomicU64::new(1)),
        };
        let router = Router::new()
            .route("/v1/chat/completions", post(complete))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(state);
        let (task, addr) = serve_axum(router).await;
        Self {
            addr,
            requests,
            _task: task,
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash or `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Request bodies received so far, in arrival order.
    pub fn requests(&self) -> Vec<Value> {
        self.requests
            .snapshot()
            .into_iter()
            .map(|(body, _)| body)
            .collect()
    }

    /// The Authorization header of each request, in the same order as [`Chat::requests`].
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.requests
            .snapshot()
            .into_iter()
            .map(|(_, auth)| auth)
            .collect()
    }
}

async fn complete(State(state): State<ChatState>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            return error_response(StatusCode::BAD_REQUEST, &format!("body is not JSON: {e}"));
        }
    };
    state.requests.push((body.clone(), authorization(&headers)));
    let mut reply = (state.responder)(&body);
    loop {
        match reply {
            ChatReply::Delay(wait, inner) => {
                tokio::time::sleep(wait).await;
                reply = *inner;
            }
            reply @ (ChatReply::Content(_) | ChatReply::ToolCalls(_))
                if body.get("stream").and_then(Value::as_bool) == Some(true) =>
            {
                let id = state.ids.fetch_add(1, Ordering::Relaxed);
                return streamed(id, &reply);
            }
            ChatReply::ToolCalls(calls) => {
                let id = state.ids.fetch_add(1, Ordering::Relaxed);
                let calls: Vec<Value> = calls
                    .iter()
                    .enumerate()
                    .map(|(i, (name, arguments))| json!({"id": format!("call_{id}_{i}"), "type": "function", "function": {"name": name, "arguments": arguments.to_string()}}))
                    .collect();
                return axum::Json(json!({
                    "id": format!("chatcmpl-{id}"),
                    "object": "chat.completion",
                    "choices": [{
                        "index": 0,
                        "message": { "role": "assistant", "content": null, "tool_calls": calls },
                        "finish_reason": "tool_calls",
                    }],
                }))
                .into_response();
            }
            ChatReply::Content(content) => {
                let id = state.ids.fetch_add(1, Ordering::Relaxed);
                let created = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let model = body
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                return axum::Json(json!({
                    "id": format!("chatcmpl-{id}"),
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{
                        "index": 0,
                        "message": { "role": "assistant", "content": content },
                        "finish_reason": "stop",
                    }],
                    "usage": { "prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2 },
                }))
                .into_response();
            }
            ChatReply::Garbage => return garbage(),
            ChatReply::Status(code) => return status_reply(code),
        }
    }
}

/// A reply as OpenAI streams it: `chat.completion.chunk` events, then `[DONE]`.
fn streamed(id: u64, reply: &ChatReply) -> Response {
    let chunk = |delta: Value, finish: Option<&str>| {
        let event = json!({
            "id": format!("chatcmpl-{id}"),
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        format!("data: {event}\n\n")
    };
    let mut body = chunk(json!({"role": "assistant", "content": ""}), None);
    match reply {
        ChatReply::Content(content) => {
            for piece in content.split_inclusive(' ') {
                body.push_str(&chunk(json!({"content": piece}), None));
            }
            body.push_str(&chunk(json!({}), Some("stop")));
        }
        ChatReply::ToolCalls(calls) => {
            for (i, (name, arguments)) in calls.iter().enumerate() {
                let arguments = arguments.to_string();
                let half = arguments.len() / 2;
                let half = (0..=half)
                    .rev()
                    .find(|at| arguments.is_char_boundary(*at))
                    .unwrap_or(0);
                body.push_str(&chunk(
                    json!({"tool_calls": [{"index": i, "id": format!("call_{id}_{i}"), "type": "function", "function": {"name": name, "arguments": &arguments[..half]}}]}),
                    None,
                ));
                body.push_str(&chunk(
                    json!({"tool_calls": [{"index": i, "function": {"arguments": &arguments[half..]}}]}),
                    None,
                ));
            }
            body.push_str(&chunk(json!({}), Some("tool_calls")));
        }
        _ => {}
    }
    body.push_str("data: [DONE]\n\n");
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

/// The content of the last `user` message ("" if none), for responders that
/// answer based on what was asked.
pub fn last_user_message(body: &Value) -> String {
    messages_with_role(body, "user")
        .last()
        .cloned()
        .unwrap_or_default()
}

/// The content of the first `system` message ("" if none).
pub fn system_message(body: &Value) -> String {
    messages_with_role(body, "system")
        .first()
        .cloned()
        .unwrap_or_default()
}

/// Contents of the messages with `role`; array contents (`[{"type":"text","text":..}]`)
/// are joined text parts.
fn messages_with_role(body: &Value, role: &str) -> Vec<String> {
    body.get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|message| message.get("role").and_then(Value::as_str) == Some(role))
        .map(|message| match message.get("content") {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect(),
            _ => String::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> reqwest::Client {
        // reqwest is built without a TLS provider; plain http still needs one installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    }

    fn wav(seconds: u32) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut out, spec).unwrap();
        for _ in 0..16_000 * seconds {
            writer.write_sample(0i16).unwrap();
        }
        writer.finalize().unwrap();
        out.into_inner()
    }

    async fn upload(server: &Transcriptions, format: &str) -> reqwest::Response {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(wav(2)).file_name("audio.wav"),
            )
            .text("model", "whisper-1")
            .text("response_format", format.to_owned())
            .text("language", "en")
            .text("timestamp_granularities[]", "word")
            .text("timestamp_granularities[]", "segment");
        client()
            .post(format!("{}/v1/audio/transcriptions", server.base_url()))
            .bearer_auth("sk-test")
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn transcriptions_verbose_json_and_faults() {
        let server = Transcriptions::start(|request| match request.response_format.as_str() {
            "verbose_json" => TranscriptionReply::Text("Hello there. How are you?".into()),
            "json" => TranscriptionReply::Delay(
                Duration::from_millis(20),
                Box::new(TranscriptionReply::Status(503)),
            ),
            _ => TranscriptionReply::Garbage,
        })
        .await;

        let body: Value = upload(&server, "verbose_json").await.json().await.unwrap();
        assert_eq!(body["duration"], 2.0);
        assert_eq!(body["segments"].as_array().unwrap().len(), 2);
        assert_eq!(body["segments"][1]["text"], " How are you?");
        assert_eq!(body["segments"][1]["start"], 1.0);
        let words = body["words"].as_array().unwrap();
        assert_eq!(words.len(), 5);
        assert_eq!(words[1]["word"], "there");
        assert_eq!(words[4]["end"], 2.0);

        let response = upload(&server, "json").await;
        assert_eq!(response.status(), 503);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "server_error");

        let response = upload(&server, "text").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "<html>oops");

        let requests = server.requests();
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0].model, "whisper-1");
        assert_eq!(requests[0].language.as_deref(), Some("en"));
        assert_eq!(requests[0].authorization.as_deref(), Some("Bearer sk-test"));
        assert_eq!(requests[0].filename.as_deref(), Some("audio.wav"));
        assert_eq!(requests[0].timestamp_granularities, ["word", "segment"]);
        assert_eq!(requests[0].audio_seconds, 2.0);
    }

    #[tokio::test]
    async fn chat_completion_echoes_model_and_records() {
        let server = Chat::start(|body| {
            ChatReply::Content(format!(
                "{} / {}",
                system_message(body),
                last_user_message(body)
            ))
        })
        .await;
        let response: Value = client()
            .post(format!("{}/v1/chat/completions", server.base_url()))
            .bearer_auth("key")
            .json(&json!({
                "model": "gpt-test",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "first"},
                    {"role": "assistant", "content": "ok"},
                    {"role": "user", "content": [{"type": "text", "text": "second"}]},
                ],
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(response["model"], "gpt-test");
        assert_eq!(response["id"], "chatcmpl-1");
        assert_eq!(
            response["choices"][0]["message"]["content"],
            "be brief / second"
        );
        assert_eq!(server.requests()[0]["model"], "gpt-test");
        assert_eq!(server.authorizations(), [Some("Bearer key".to_owned())]);

        let status = client()
            .post(format!("{}/v1/chat/completions", server.base_url()))
            .body("not json")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 400);
        assert_eq!(server.requests().len(), 1);
    }

    #[test]
    fn sentence_split() {
        assert_eq!(sentences("A. B! C? 3.5 d"), ["A.", "B!", "C?", "3.5 d"]);
        assert!(sentences("  ").is_empty());
    }
}

/// A server for `POST /v1/embeddings`.
pub struct Embeddings {
    addr: SocketAddr,
    requests: Recorded<Value>,
    _task: ServerTask,
}

/// How the embeddings server answers one request.
#[derive(Clone, Debug)]
pub enum EmbeddingReply {
    /// 200 with these vectors, one per input, as OpenAI lists them (`data[i].embedding`).
    Vectors(Vec<Vec<f32>>),
    /// 200 with a body that is not JSON.
    Garbage,
    /// That HTTP status with an OpenAI-style error body.
    Status(u16),
}

type EmbeddingResponder = dyn Fn(&[String]) -> EmbeddingReply + Send + Sync;

#[derive(Clone)]
struct EmbeddingState {
    responder: Arc<EmbeddingResponder>,
    requests: Recorded<Value>,
}

impl Embeddings {
    /// Serves POST /v1/embeddings (`{"model", "input": string or [string]}`); the responder
    /// gets the inputs. A body without `model` or `input` gets a 400 and is not recorded.
    pub async fn start(
        responder: impl Fn(&[String]) -> EmbeddingReply + Send + Sync + 'static,
    ) -> Self {
        let requests = Recorded::default();
        let state = EmbeddingState {
            responder: Arc::new(responder),
            requests: requests.clone(),
        };
        let router = Router::new()
            .route("/v1/embeddings", post(embed))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(state);
        let (task, addr) = serve_axum(router).await;
        Self {
            addr,
            requests,
            _task: task,
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash or `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Request bodies received so far, in arrival order.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.snapshot()
    }
}

async fn embed(State(state): State<EmbeddingState>, body: Bytes) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            return error_response(StatusCode::BAD_REQUEST, &format!("body is not JSON: {e}"));
        }
    };
    let inputs: Option<Vec<String>> = match body.get("input") {
        Some(Value::String(text)) => Some(vec![text.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    };
    let (Some(inputs), Some(model)) = (inputs, body.get("model").and_then(Value::as_str)) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "`model` and `input` (a string or strings) are required",
        );
    };
    let model = model.to_owned();
    state.requests.push(body.clone());
    match (state.responder)(&inputs) {
        EmbeddingReply::Vectors(vectors) => {
            let data: Vec<Value> = vectors
                .into_iter()
                .enumerate()
                .map(|(index, embedding)| {
                    json!({"object": "embedding", "index": index, "embedding": embedding})
                })
                .collect();
            axum::Json(json!({
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }))
            .into_response()
        }
        EmbeddingReply::Garbage => garbage(),
        EmbeddingReply::Status(code) => status_reply(code),
    }
}
