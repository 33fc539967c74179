//! Sentence embeddings from an OpenAI-compatible server (`POST {base_url}/embeddings`: OpenAI,
//! Ollama's `/v1`, vLLM, llama.cpp's server, text-embeddings-inference), and the background
//! embedder that gives every memory and finished conversation's segments a vector of the
//! configured model, for search by meaning.
//!
//! The embedder wakes when the store says text was written (and once a minute besides), takes
//! what has no vector of the model in batches, and saves the vectors; a failure waits, doubling
//! from one second to a minute, and is tried again, so nothing is skipped while the server is
//! down. A model change needs nothing done: the new model's vectors are missing, so every text
//! is embedded again.

use std::sync::Arc;
use std::time::Duration;

use chronicle_store::{EmbedCursor, EmbeddingProgress, Store, TextToEmbed};
use serde::Deserialize;
use serde_json::json;

use crate::config::{EmbeddingsConfig, MAX_DIMENSIONS};
use crate::http::{HttpClient, HttpFailure};

/// The most bytes an answer may have: a full batch of the longest vectors, written out.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// The longest wait between tries after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often the embedder looks for text without being woken.
const IDLE_LOOK: Duration = Duration::from_secs(60);

/// Why texts were not embedded.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EmbedError {
    #[error("the embeddings server at {url} is unreachable: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("the embeddings server did not answer within {0} s")]
    TimedOut(f64),
    #[error("the embeddings server refused the request: {0}")]
    Refused(String),
    #[error("the embeddings server answered something unusable: {0}")]
    Garbled(String),
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Datum>,
}

#[derive(Deserialize)]
struct Datum {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

/// An OpenAI-compatible embeddings server and the model to ask.
#[derive(Clone, Debug)]
pub struct EmbeddingModel {
    http: HttpClient,
    base_url: String,
    api_key: Option<String>,
    model: String,
    dimensions: Option<usize>,
    batch_size: usize,
    min_similarity: f32,
}

impl EmbeddingModel {
    pub fn new(config: &EmbeddingsConfig) -> Self {
        Self {
            http: HttpClient::new(config.timeout),
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            api_key: config.api_key.clone(),
            model: config.model.clone(),
            dimensions: config.dimensions,
            batch_size: config.batch_size,
            min_similarity: config.min_similarity,
        }
    }

    /// The least cosine similarity at which a text is found by meaning.
    pub fn min_similarity(&self) -> f32 {
        self.min_similarity
    }

    /// The model's name: what the store keeps beside each vector.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Where it is, for logs and the System page.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// One vector per text, in order. Every vector has the same length (the configured
    /// `dimensions` when set), is finite and not all zero.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let url = format!("{}/embeddings", self.base_url);
        let mut body = json!({"model": self.model, "input": texts, "encoding_format": "float"});
        if let Some(dimensions) = self.dimensions {
            body["dimensions"] = json!(dimensions);
        }
        let answer = self
            .http
            .send_bounded(
                self.http.post(&url, self.api_key.as_deref()).json(&body),
                MAX_ANSWER_BYTES,
            )
            .await
            .map_err(|failure| match failure {
                HttpFailure::Unreachable(detail) => EmbedError::Unreachable {
                    url: url.clone(),
                    detail,
                },
                HttpFailure::TimedOut(seconds) => EmbedError::TimedOut(seconds),
                HttpFailure::Status(detail) => EmbedError::Refused(detail),
                HttpFailure::TooLarge(max) => {
                    EmbedError::Garbled(format!("an answer over {max} bytes"))
                }
            })?;
        let answer: Answer = serde_json::from_str(&answer).map_err(|error| {
            EmbedError::Garbled(format!(
                "{error} in `{}`",
                answer.chars().take(80).collect::<String>()
            ))
        })?;
        self.vectors_in(answer, texts.len())
    }

    /// The answer's vectors in the order of the texts, checked.
    fn vectors_in(&self, answer: Answer, count: usize) -> Result<Vec<Vec<f32>>, EmbedError> {
        if answer.data.len() != count {
            return Err(EmbedError::Garbled(format!(
                "{} vectors for {count} texts",
                answer.data.len()
            )));
        }
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; count];
        for (position, datum) in answer.data.into_iter().enumerate() {
            let index = datum.index.unwrap_or(position);
            let slot = vectors.get_mut(index).ok_or_else(|| {
                EmbedError::Garbled(format!("a vector for text {index} of {count}"))
            })?;
            if slot.is_some() {
                return Err(EmbedError::Garbled(format!("two vectors for text {index}")));
            }
            *slot = Some(datum.embedding);
        }
        let vectors: Vec<Vec<f32>> = vectors.into_iter().flatten().collect();
        let length = self.dimensions.unwrap_or_else(|| vectors[0].len());
        for vector in &vectors {
            if vector.len() != length || length == 0 || length > MAX_DIMENSIONS {
                return Err(EmbedError::Garbled(format!(
                    "a vector of {} numbers where {length} were expected",
                    vector.len()
                )));
            }
            if chronicle_store::normalized(vector).is_none() {
                return Err(EmbedError::Garbled(
                    "a vector of zeros or of numbers that are not finite".into(),
                ));
            }
        }
        Ok(vectors)
    }
}

/// Embeds what the store holds without a vector of the model, now and as text arrives.
pub struct Embedder {
    pub model: Arc<EmbeddingModel>,
    store: Store,
    /// Where this pass over the texts has got to.
    cursor: std::sync::Mutex<EmbedCursor>,
}

impl Embedder {
    /// The embedder over `store` of the configuration's embeddings server, if it names one.
    pub fn configured(config: &crate::PipelineConfig, store: &Store) -> Option<Self> {
        config
            .embeddings
            .as_ref()
            .map(|embeddings| Self::new(EmbeddingModel::new(embeddings), store.clone()))
    }

    pub fn new(model: EmbeddingModel, store: Store) -> Self {
        Self {
            model: Arc::new(model),
            store,
            cursor: std::sync::Mutex::default(),
        }
    }

    /// One batch: embedded and saved. `Ok(0)` when nothing waits.
    pub async fn embed_batch(&self) -> Result<usize, EmbeddingFailure> {
        let model = self.model.model();
        let cursor = self.cursor.lock().map(|c| *c).unwrap_or_default();
        let mut texts = self.pending(cursor).await?;
        // The end of a pass: once more from the start, for what was edited behind it.
        if texts.is_empty() && cursor != EmbedCursor::default() {
            texts = self.pending(EmbedCursor::default()).await?;
            self.move_cursor(EmbedCursor::default(), &[]);
        }
        if texts.is_empty() {
            return Ok(0);
        }
        let inputs: Vec<String> = texts.iter().map(|t| t.text.clone()).collect();
        let vectors = self
            .model
            .embed(&inputs)
            .await
            .map_err(EmbeddingFailure::Server)?;
        let saved = texts
            .iter()
            .zip(vectors)
            .map(|(text, vector)| (text.kind, text.rowid, vector))
            .collect();
        self.store
            .save_embeddings(model, saved)
            .await
            .map_err(|error| EmbeddingFailure::Store(error.to_string()))?;
        let from = self.cursor.lock().map(|c| *c).unwrap_or_default();
        self.move_cursor(from, &texts);
        Ok(texts.len())
    }

    async fn pending(&self, cursor: EmbedCursor) -> Result<Vec<TextToEmbed>, EmbeddingFailure> {
        self.store
            .texts_to_embed(self.model.model(), cursor, self.model.batch_size)
            .await
            .map_err(|error| EmbeddingFailure::Store(error.to_string()))
    }

    fn move_cursor(&self, from: EmbedCursor, texts: &[TextToEmbed]) {
        if let Ok(mut cursor) = self.cursor.lock() {
            *cursor = from.past(texts);
        }
    }

    /// How far the model's embedding has come.
    pub async fn progress(&self) -> Result<EmbeddingProgress, EmbeddingFailure> {
        self.store
            .embedding_progress(self.model.model())
            .await
            .map_err(|error| EmbeddingFailure::Store(error.to_string()))
    }

    /// Runs until the task is dropped: embeds whatever waits, then sleeps until text is
    /// written (or a minute passes); after a failure, waits and tries again.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut backoff = Duration::from_secs(1);
            loop {
                match self.embed_batch().await {
                    Ok(0) => {
                        backoff = Duration::from_secs(1);
                        let _ = tokio::time::timeout(IDLE_LOOK, self.store.text_changed()).await;
                    }
                    Ok(count) => {
                        backoff = Duration::from_secs(1);
                        metrics::counter!("chronicle_embedded_texts_total").increment(count as u64);
                    }
                    Err(error) => {
                        metrics::counter!("chronicle_embedding_failures_total").increment(1);
                        tracing::warn!(%error, retry_in = ?backoff, "Embedding failed; trying again.");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        })
    }
}

/// Why a batch was not embedded.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EmbeddingFailure {
    #[error(transparent)]
    Server(EmbedError),
    #[error("the store failed: {0}")]
    Store(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(dimensions: Option<usize>) -> EmbeddingModel {
        EmbeddingModel::new(&EmbeddingsConfig {
            base_url: "http://127.0.0.1:9".into(),
            api_key: None,
            model: "m".into(),
            dimensions,
            timeout: Duration::from_secs(1),
            batch_size: 8,
            min_similarity: 0.25,
        })
    }

    fn answer(data: serde_json::Value) -> Answer {
        serde_json::from_value(json!({ "data": data })).unwrap()
    }

    #[test]
    fn vectors_come_back_in_the_texts_order_and_bad_ones_are_refused() {
        let m = model(None);
        let vectors = m
            .vectors_in(
                answer(json!([{"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1.0, 0.0]}])),
                2,
            )
            .unwrap();
        assert_eq!(vectors, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        let refused =
            |data, count, m: &EmbeddingModel| m.vectors_in(answer(data), count).unwrap_err();
        assert!(matches!(
            refused(json!([{"embedding": [1.0]}]), 2, &m),
            EmbedError::Garbled(_)
        ));
        assert!(matches!(
            refused(
                json!([{"embedding": [1.0, 0.0]}, {"embedding": [1.0]}]),
                2,
                &m
            ),
            EmbedError::Garbled(_)
        ));
        assert!(matches!(
            refused(
                json!([{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [1.0]}]),
                2,
                &m
            ),
            EmbedError::Garbled(_)
        ));
        assert!(matches!(
            refused(json!([{"index": 5, "embedding": [1.0]}]), 1, &m),
            EmbedError::Garbled(_)
        ));
        assert!(matches!(
            refused(json!([{"embedding": [0.0, 0.0]}]), 1, &m),
            EmbedError::Garbled(_)
        ));
        assert!(matches!(
            refused(json!([{"embedding": [1.0, 0.0]}]), 1, &model(Some(3))),
            EmbedError::Garbled(_)
        ));
    }
}
