//! The language model: an OpenAI-compatible chat completions server (`POST
//! {base_url}/chat/completions`: Ollama, OpenAI, vLLM, llama.cpp's server). It extracts
//! memories, writes titles and summaries, and backs the plugins' `llm.generate`.

use std::time::Duration;

use chronicle_host_ports::{BackendError, LanguageModel};
use chronicle_plugin_api::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::{HttpClient, HttpFailure};

/// Settings of a chat completions server.
#[derive(Clone, Debug)]
pub struct ChatModel {
    http: HttpClient,
    /// With `/v1` where the server wants it: `https://api.openai.com/v1`,
    /// `http://localhost:11434/v1`.
    base_url: String,
    api_key: Option<String>,
    model: String,
    retries: u32,
}

/// Why a completion failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("the language model at {url} is unreachable: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("the language model did not answer within {0} s")]
    TimedOut(f64),
    #[error("the language model refused the request: {0}")]
    Refused(String),
    #[error("the language model answered something unreadable: {0}")]
    Garbled(String),
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
}

impl ChatModel {
    pub fn new(base_url: &str, api_key: Option<String>, model: String, timeout: Duration) -> Self {
        Self {
            http: HttpClient::new(timeout),
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            model,
            retries: 1,
        }
    }

    /// The model's name, for logs.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Completes a conversation of `system` and `user` messages at a low temperature, retrying
    /// a transient failure once.
    pub async fn complete(&self, system: &str, user: &str) -> Result<String, LlmError> {
        let mut messages = Vec::new();
        if !system.is_empty() {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.push(json!({"role": "user", "content": user}));
        let body = json!({"model": self.model, "messages": messages, "temperature": 0.2});
        let mut attempt = 0;
        loop {
            match self.request(&body).await {
                Err(error @ (LlmError::Unreachable { .. } | LlmError::TimedOut(_)))
                    if attempt < self.retries =>
                {
                    attempt += 1;
                    tracing::warn!(%error, "The language model failed; trying again.");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                other => return other,
            }
        }
    }

    async fn request(&self, body: &Value) -> Result<String, LlmError> {
        let url = format!("{}/chat/completions", self.base_url);
        let answer = self
            .http
            .send(self.http.post(&url, self.api_key.as_deref()).json(body))
            .await
            .map_err(|failure| match failure {
                HttpFailure::Unreachable(detail) => LlmError::Unreachable {
                    url: url.clone(),
                    detail,
                },
                HttpFailure::TimedOut(seconds) => LlmError::TimedOut(seconds),
                HttpFailure::Status(detail) => LlmError::Refused(detail),
                HttpFailure::TooLarge(max) => {
                    LlmError::Garbled(format!("an answer over {max} bytes"))
                }
            })?;
        let completion: Completion = serde_json::from_str(&answer).map_err(|_| {
            LlmError::Garbled(format!("`{}`", answer.chars().take(80).collect::<String>()))
        })?;
        completion
            .choices
            .into_iter()
            .next()
            .and_then(|choice| choice.message.content)
            .ok_or_else(|| LlmError::Garbled("a completion without a message".into()))
    }
}

/// A tool the model asked to call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// JSON, as the model wrote it (it may not parse).
    pub arguments: String,
}

/// One answer of the model: its text, and the tools it wants called before it goes on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Turn {
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
}

/// The most bytes a streamed answer may have.
const MAX_STREAM_BYTES: usize = 4 * 1024 * 1024;

impl Turn {
    /// Takes one streamed `chat.completion.chunk`'s delta.
    fn take(&mut self, delta: &Value, on_text: &mut (dyn FnMut(&str) + Send)) {
        if let Some(text) = delta.get("content").and_then(Value::as_str)
            && !text.is_empty()
        {
            on_text(text);
            self.content.push_str(text);
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = call
                .get("index")
                .and_then(Value::as_u64)
                .map_or(self.tool_calls.len(), |i| i as usize);
            // A model names at most a few tools a turn; an index past that is garbage.
            if index > 32 {
                continue;
            }
            while self.tool_calls.len() <= index {
                self.tool_calls.push(ToolCall::default());
            }
            let slot = &mut self.tool_calls[index];
            if let Some(id) = call.get("id").and_then(Value::as_str) {
                slot.id = id.to_owned();
            }
            let function = call.get("function");
            if let Some(name) = function.and_then(|f| f.get("name")).and_then(Value::as_str) {
                slot.name.push_str(name);
            }
            if let Some(arguments) = function
                .and_then(|f| f.get("arguments"))
                .and_then(Value::as_str)
            {
                slot.arguments.push_str(arguments);
            }
        }
    }
}

impl ChatModel {
    /// One turn of a conversation with tools, streamed: `on_text` gets the answer's text as it
    /// comes; the turn ends with the whole text and any tool calls. A server that does not
    /// stream (a plain `chat.completion`) is read whole.
    pub async fn stream_turn(
        &self,
        messages: &[Value],
        tools: &[Value],
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Turn, LlmError> {
        let url = format!("{}/chat/completions", self.base_url);
        let mut body =
            json!({"model": self.model, "messages": messages, "temperature": 0.2, "stream": true});
        if !tools.is_empty() {
            body["tools"] = json!(tools);
        }
        let failed = |failure: HttpFailure| match failure {
            HttpFailure::Unreachable(detail) => LlmError::Unreachable {
                url: url.clone(),
                detail,
            },
            HttpFailure::TimedOut(seconds) => LlmError::TimedOut(seconds),
            HttpFailure::Status(detail) => LlmError::Refused(detail),
            HttpFailure::TooLarge(max) => LlmError::Garbled(format!("an answer over {max} bytes")),
        };
        let mut response = self
            .http
            .open(self.http.post(&url, self.api_key.as_deref()).json(&body))
            .await
            .map_err(&failed)?;
        let streamed = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/event-stream"));
        let mut turn = Turn::default();
        let mut pending: Vec<u8> = Vec::new();
        let mut read = 0usize;
        while let Some(chunk) = self.http.next_chunk(&mut response).await.map_err(&failed)? {
            read += chunk.len();
            if read > MAX_STREAM_BYTES {
                return Err(LlmError::Garbled(format!(
                    "an answer over {MAX_STREAM_BYTES} bytes"
                )));
            }
            pending.extend_from_slice(&chunk);
            if !streamed {
                continue;
            }
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let Some(data) = line.trim().strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    return Ok(turn);
                }
                let chunk: Value = serde_json::from_str(data).map_err(|_| {
                    LlmError::Garbled(format!("`{}`", data.chars().take(80).collect::<String>()))
                })?;
                if let Some(delta) = chunk.pointer("/choices/0/delta") {
                    turn.take(delta, on_text);
                }
            }
        }
        if streamed {
            return Ok(turn);
        }
        let whole = String::from_utf8_lossy(&pending);
        let completion: Value = serde_json::from_str(&whole).map_err(|_| {
            LlmError::Garbled(format!("`{}`", whole.chars().take(80).collect::<String>()))
        })?;
        let message = completion
            .pointer("/choices/0/message")
            .ok_or_else(|| LlmError::Garbled("a completion without a message".into()))?;
        turn.take(message, on_text);
        Ok(turn)
    }
}

#[async_trait]
impl LanguageModel for ChatModel {
    async fn generate(&self, prompt: &str) -> Result<String, BackendError> {
        self.complete("", prompt)
            .await
            .map_err(|error| match error {
                LlmError::Unreachable { .. } | LlmError::TimedOut(_) => {
                    BackendError::Unavailable(error.to_string())
                }
                LlmError::Refused(_) | LlmError::Garbled(_) => {
                    BackendError::Failed(error.to_string())
                }
            })
    }
}

/// The JSON object in a model's answer: models wrap JSON in code fences or prose, so the first
/// `{` to the last `}` is read.
pub fn json_in(answer: &str) -> Option<Value> {
    let start = answer.find('{')?;
    let end = answer.rfind('}')?;
    if end < start {
        return None;
    }
    serde_json::from_str(&answer[start..=end]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_found_inside_fences_and_prose() {
        let answer = "Sure!\n```json\n{\"facts\": [\"a\"]}\n```";
        assert_eq!(json_in(answer), Some(json!({"facts": ["a"]})));
        assert_eq!(json_in("no json here"), None);
        assert_eq!(json_in("} backwards {"), None);
    }
}
