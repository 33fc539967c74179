//! Which providers the pipeline uses and how conversations are cut: `config/chronicle.yml`
//! (optional; see `config/chronicle.yml.template`), then environment variables, which win.
//!
//! | key | environment | default |
//! |---|---|---|
//! | `transcription.provider` | `TRANSCRIPTION_PROVIDER` | none (`deepgram` when `DEEPGRAM_API_KEY` is set) |
//! | `transcription.url` | `TRANSCRIPTION_URL` | per provider |
//! | `transcription.api_key` | `TRANSCRIPTION_API_KEY`, `DEEPGRAM_API_KEY` | none |
//! | `transcription.model` | `TRANSCRIPTION_MODEL` | per provider |
//! | `transcription.language` | `TRANSCRIPTION_LANGUAGE` | none (the provider detects it) |
//! | `transcription.timeout_seconds` | `TRANSCRIPTION_TIMEOUT_SECONDS` | 60 |
//! | `transcription.retries` | `TRANSCRIPTION_RETRIES` | 2 |
//! | `llm.base_url` | `LLM_BASE_URL`, `OPENAI_BASE_URL` | `https://api.openai.com/v1` when a key is set |
//! | `llm.api_key` | `LLM_API_KEY`, `OPENAI_API_KEY` | none |
//! | `llm.model` | `LLM_MODEL`, `OPENAI_MODEL` | `gpt-4o-mini` for OpenAI itself |
//! | `llm.timeout_seconds` | `LLM_TIMEOUT_SECONDS` | 60 |
//! | `embeddings.base_url` | `EMBEDDINGS_BASE_URL` | `https://api.openai.com/v1` when only a key is set |
//! | `embeddings.api_key` | `EMBEDDINGS_API_KEY` (else `OPENAI_API_KEY` for OpenAI itself) | none |
//! | `embeddings.model` | `EMBEDDINGS_MODEL` | `text-embedding-3-small` for OpenAI itself |
//! | `embeddings.dimensions` | `EMBEDDINGS_DIMENSIONS` | the model's own |
//! | `embeddings.timeout_seconds` | `EMBEDDINGS_TIMEOUT_SECONDS` | 30 |
//! | `embeddings.batch_size` | `EMBEDDINGS_BATCH_SIZE` | 64 |
//! | `embeddings.min_similarity` | `EMBEDDINGS_MIN_SIMILARITY` | 0.25 (cosine; below it, not found by meaning) |
//! | `conversations.inactivity_timeout_seconds` | `SPEECH_INACTIVITY_THRESHOLD_SECONDS` | 60 |
//! | `conversations.max_duration_seconds` | `MAX_CONVERSATION_SECONDS` | 10740 |
//! | `conversations.wake_words` | `WAKE_WORDS` (comma-separated) | none: no `wake_word.detected` |
//! | `memory.extraction` | `MEMORY_EXTRACTION` | true |

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::llm::ChatModel;
use crate::transcription::deepgram::DeepgramTranscriber;
use crate::transcription::openai::OpenAiTranscriber;
use crate::transcription::wyoming::WyomingTranscriber;
use crate::transcription::{RetryPolicy, Transcriber};

/// How conversations are cut, finished and listened to.
#[derive(Clone, Debug, PartialEq)]
pub struct ConversationSettings {
    /// Normalized phrases that, said at the start of a final live segment, fire
    /// `wake_word.detected` with what followed as the command (a detector on the transcript:
    /// it gives no score).
    pub wake_words: Vec<String>,
    /// Audio without new words that closes a conversation.
    pub inactivity_seconds: f64,
    /// The longest conversation.
    pub max_duration_seconds: f64,
    /// Whether memories are drawn from finished conversations (needs a language model).
    pub extract_memories: bool,
    /// Retries of a batch transcription.
    pub retry: RetryPolicy,
}

impl Default for ConversationSettings {
    fn default() -> Self {
        Self {
            wake_words: Vec::new(),
            inactivity_seconds: 60.0,
            max_duration_seconds: 10_740.0,
            extract_memories: true,
            retry: RetryPolicy::default(),
        }
    }
}

/// The most retries of a transcription: backoff doubles, so more would wait for hours.
const MAX_RETRIES: u32 = 10;

/// The pipeline's configuration, read and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineConfig {
    pub transcription: Option<TranscriptionConfig>,
    pub llm: Option<LlmConfig>,
    pub embeddings: Option<EmbeddingsConfig>,
    pub conversations: ConversationSettings,
}

/// An embeddings server (OpenAI's `POST /embeddings`).
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingsConfig {
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    /// Sent as `dimensions` and checked in every answer, when set.
    pub dimensions: Option<usize>,
    pub timeout: Duration,
    /// Texts per request.
    pub batch_size: usize,
    /// The least cosine similarity at which a text is found by meaning.
    pub min_similarity: f32,
}

/// A transcription provider and its settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TranscriptionConfig {
    pub provider: Provider,
    pub url: String,
    pub api_key: Option<String>,
    pub model: String,
    pub language: Option<String>,
    pub timeout: Duration,
}

/// The transcription providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    OpenAi,
    Wyoming,
    Deepgram,
}

/// A chat completions server.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmConfig {
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    pub timeout: Duration,
}

/// The file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    transcription: FileTranscription,
    #[serde(default)]
    llm: FileLlm,
    #[serde(default)]
    embeddings: FileEmbeddings,
    #[serde(default)]
    conversations: FileConversations,
    #[serde(default)]
    memory: FileMemory,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTranscription {
    provider: Option<String>,
    url: Option<String>,
    api_key: Option<String>,
    model: Option<String>,
    language: Option<String>,
    timeout_seconds: Option<f64>,
    retries: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLlm {
    base_url: Option<String>,
    api_key: Option<String>,
    model: Option<String>,
    timeout_seconds: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEmbeddings {
    base_url: Option<String>,
    api_key: Option<String>,
    model: Option<String>,
    dimensions: Option<usize>,
    timeout_seconds: Option<f64>,
    batch_size: Option<usize>,
    min_similarity: Option<f32>,
}

/// The most texts one embeddings request carries (OpenAI takes 2048).
const MAX_BATCH: usize = 2048;
/// The longest vector taken (OpenAI's largest model has 3072).
pub const MAX_DIMENSIONS: usize = 8192;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConversations {
    wake_words: Option<Vec<String>>,
    inactivity_timeout_seconds: Option<f64>,
    max_duration_seconds: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMemory {
    extraction: Option<bool>,
}

/// The largest `chronicle.yml` read.
const MAX_FILE_BYTES: usize = 256 * 1024;

/// A configuration that cannot be used; the message names the file or variable and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl PipelineConfig {
    /// Reads `path` (when it exists) and the environment through `env`.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let file = match std::fs::read_to_string(path) {
            Ok(text) if text.len() > MAX_FILE_BYTES => {
                return Err(ConfigError(format!(
                    "{}: {} bytes, more than the {MAX_FILE_BYTES} a configuration may have",
                    path.display(),
                    text.len()
                )));
            }
            // Budgeted: one document, and aliases cannot make it grow past a configuration.
            Ok(text) => serde_saphyr::from_str_with_options::<Option<File>>(
                &text,
                serde_saphyr::options! {
                    budget: serde_saphyr::budget! {
                        max_documents: 1,
                        max_aliases: 100,
                        max_nodes: 10_000,
                        max_depth: 32,
                    },
                },
            )
            .map_err(|error| ConfigError(format!("{}: {error}", path.display())))?
            .unwrap_or_default(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(error) => {
                return Err(ConfigError(format!(
                    "cannot read {}: {error}",
                    path.display()
                )));
            }
        };
        Self::from_parts(file, path, env)
    }

    /// Reads the environment only (no file).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_parts(File::default(), Path::new("(environment)"), env)
    }

    fn from_parts(
        file: File,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| env(n).filter(|v| !v.trim().is_empty()))
        };
        let at = |key: &str| format!("`{key}` in {}", path.display());
        // Seconds: positive, finite and below about eleven days, from the environment or else
        // the file; the error names whichever gave the bad value.
        let number =
            |names: &[&str], key: &str, file: Option<f64>| -> Result<Option<f64>, ConfigError> {
                let valid = |n: f64| n.is_finite() && n > 0.0 && n <= 1_000_000.0;
                let rule = "must be a number of seconds above 0 and at most 1000000";
                match var(names) {
                    Some(text) => match text.trim().parse::<f64>() {
                        Ok(n) if valid(n) => Ok(Some(n)),
                        _ => Err(ConfigError(format!("{} {rule}, not `{text}`", names[0]))),
                    },
                    None => match file {
                        Some(n) if !valid(n) => {
                            Err(ConfigError(format!("{} {rule}, not {n}", at(key))))
                        }
                        other => Ok(other),
                    },
                }
            };

        let t = file.transcription;
        let deepgram_key = var(&["DEEPGRAM_API_KEY"]);
        let provider_name = var(&["TRANSCRIPTION_PROVIDER"])
            .or(t.provider)
            .or_else(|| deepgram_key.as_ref().map(|_| "deepgram".to_owned()));
        let transcription = match provider_name.as_deref().map(str::trim) {
            None | Some("none") | Some("") => None,
            Some(name) => {
                let provider = match name {
                    "openai" => Provider::OpenAi,
                    "wyoming" => Provider::Wyoming,
                    "deepgram" => Provider::Deepgram,
                    other => {
                        return Err(ConfigError(format!(
                            "unknown transcription provider `{other}` (TRANSCRIPTION_PROVIDER or {}): use openai, wyoming, deepgram or none",
                            at("transcription.provider")
                        )));
                    }
                };
                let api_key = var(&["TRANSCRIPTION_API_KEY"])
                    .or(t.api_key)
                    .or(match provider {
                        Provider::Deepgram => deepgram_key,
                        _ => None,
                    });
                if provider == Provider::Deepgram && api_key.is_none() {
                    return Err(ConfigError(
                        "the deepgram transcription provider needs an API key: set DEEPGRAM_API_KEY".into(),
                    ));
                }
                let (url, model) = match provider {
                    Provider::OpenAi => ("https://api.openai.com", "whisper-1"),
                    Provider::Wyoming => ("tcp://127.0.0.1:10300", ""),
                    Provider::Deepgram => ("wss://api.deepgram.com", "nova-3"),
                };
                let timeout = number(
                    &["TRANSCRIPTION_TIMEOUT_SECONDS"],
                    "transcription.timeout_seconds",
                    t.timeout_seconds,
                )?
                .unwrap_or(60.0);
                Some(TranscriptionConfig {
                    provider,
                    url: var(&["TRANSCRIPTION_URL"])
                        .or(t.url)
                        .unwrap_or_else(|| url.to_owned()),
                    api_key,
                    model: var(&["TRANSCRIPTION_MODEL"])
                        .or(t.model)
                        .unwrap_or_else(|| model.to_owned()),
                    language: var(&["TRANSCRIPTION_LANGUAGE"]).or(t.language),
                    timeout: Duration::from_secs_f64(timeout),
                })
            }
        };
        let retries = match var(&["TRANSCRIPTION_RETRIES"]) {
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n) if n <= MAX_RETRIES => n,
                _ => {
                    return Err(ConfigError(format!(
                        "TRANSCRIPTION_RETRIES must be a whole number from 0 to {MAX_RETRIES}, not `{text}`"
                    )));
                }
            },
            None => match t.retries.unwrap_or(2) {
                n if n <= MAX_RETRIES => n,
                n => {
                    return Err(ConfigError(format!(
                        "{} must be from 0 to {MAX_RETRIES}, not {n}",
                        at("transcription.retries")
                    )));
                }
            },
        };

        let l = file.llm;
        let api_key = var(&["LLM_API_KEY", "OPENAI_API_KEY"]).or(l.api_key);
        let base_url = var(&["LLM_BASE_URL", "OPENAI_BASE_URL"]).or(l.base_url);
        let model = var(&["LLM_MODEL", "OPENAI_MODEL"]).or(l.model);
        let llm = match (base_url, model, api_key) {
            (None, None, None) => None,
            (base_url, model, api_key) => {
                let base_url = base_url.unwrap_or_else(|| "https://api.openai.com/v1".to_owned());
                let model = match model {
                    Some(model) => model,
                    None if base_url.contains("api.openai.com") => "gpt-4o-mini".to_owned(),
                    None => {
                        return Err(ConfigError(format!(
                            "the language model at {base_url} needs a model name: set LLM_MODEL or {}",
                            at("llm.model")
                        )));
                    }
                };
                let timeout = number(
                    &["LLM_TIMEOUT_SECONDS"],
                    "llm.timeout_seconds",
                    l.timeout_seconds,
                )?
                .unwrap_or(60.0);
                Some(LlmConfig {
                    base_url,
                    api_key,
                    model,
                    timeout: Duration::from_secs_f64(timeout),
                })
            }
        };

        let e = file.embeddings;
        let base_url = var(&["EMBEDDINGS_BASE_URL"]).or(e.base_url);
        let model = var(&["EMBEDDINGS_MODEL"]).or(e.model);
        let own_key = var(&["EMBEDDINGS_API_KEY"]).or(e.api_key);
        let embeddings = match (base_url, model, own_key) {
            (None, None, None) => None,
            (base_url, model, api_key) => {
                let base_url = base_url.unwrap_or_else(|| "https://api.openai.com/v1".to_owned());
                let openai = base_url.contains("api.openai.com");
                let api_key = api_key.or_else(|| var(&["OPENAI_API_KEY"]).filter(|_| openai));
                let model = match model {
                    Some(model) => model,
                    None if openai => "text-embedding-3-small".to_owned(),
                    None => {
                        return Err(ConfigError(format!(
                            "the embeddings server at {base_url} needs a model name: set \
                             EMBEDDINGS_MODEL or {} (e.g. nomic-embed-text for Ollama)",
                            at("embeddings.model")
                        )));
                    }
                };
                let whole = |names: &[&str], key: &str, file: Option<usize>, max: usize| {
                    let text = var(names);
                    let value = match &text {
                        Some(text) => text.trim().parse::<usize>().ok(),
                        None => file,
                    };
                    match (value, &text) {
                        (Some(n), _) if (1..=max).contains(&n) => Ok(Some(n)),
                        (None, None) => Ok(None),
                        _ => Err(ConfigError(format!(
                            "{} must be a whole number from 1 to {max}",
                            text.as_ref()
                                .map_or_else(|| at(key), |_| names[0].to_owned())
                        ))),
                    }
                };
                let dimensions = whole(
                    &["EMBEDDINGS_DIMENSIONS"],
                    "embeddings.dimensions",
                    e.dimensions,
                    MAX_DIMENSIONS,
                )?;
                let batch_size = whole(
                    &["EMBEDDINGS_BATCH_SIZE"],
                    "embeddings.batch_size",
                    e.batch_size,
                    MAX_BATCH,
                )?
                .unwrap_or(64);
                let timeout = number(
                    &["EMBEDDINGS_TIMEOUT_SECONDS"],
                    "embeddings.timeout_seconds",
                    e.timeout_seconds,
                )?
                .unwrap_or(30.0);
                let min_similarity = match var(&["EMBEDDINGS_MIN_SIMILARITY"]) {
                    Some(text) => text.trim().parse::<f32>().ok(),
                    None => Some(e.min_similarity.unwrap_or(0.25)),
                }
                .filter(|n| (-1.0..=1.0).contains(n))
                .ok_or_else(|| {
                    ConfigError(format!(
                        "EMBEDDINGS_MIN_SIMILARITY or {} must be a number from -1 to 1",
                        at("embeddings.min_similarity")
                    ))
                })?;
                Some(EmbeddingsConfig {
                    base_url,
                    api_key,
                    model,
                    dimensions,
                    timeout: Duration::from_secs_f64(timeout),
                    batch_size,
                    min_similarity,
                })
            }
        };

        let c = file.conversations;
        let defaults = ConversationSettings::default();
        let extract_memories = match var(&["MEMORY_EXTRACTION"]) {
            Some(text) => match text.trim() {
                "true" | "1" => true,
                "false" | "0" => false,
                other => {
                    return Err(ConfigError(format!(
                        "MEMORY_EXTRACTION must be true or false, not `{other}`"
                    )));
                }
            },
            None => file.memory.extraction.unwrap_or(true),
        };
        let wake_words = match var(&["WAKE_WORDS"]) {
            Some(text) => text.split(',').map(str::to_owned).collect(),
            None => c.wake_words.unwrap_or_default(),
        };
        let conversations = ConversationSettings {
            wake_words: wake_words
                .iter()
                .map(|phrase| chronicle_plugin_host::condition::normalize(phrase))
                .filter(|phrase| !phrase.is_empty())
                .collect(),
            inactivity_seconds: number(
                &["SPEECH_INACTIVITY_THRESHOLD_SECONDS"],
                "conversations.inactivity_timeout_seconds",
                c.inactivity_timeout_seconds,
            )?
            .unwrap_or(defaults.inactivity_seconds),
            max_duration_seconds: number(
                &["MAX_CONVERSATION_SECONDS"],
                "conversations.max_duration_seconds",
                c.max_duration_seconds,
            )?
            .unwrap_or(defaults.max_duration_seconds),
            extract_memories,
            retry: RetryPolicy {
                retries,
                ..defaults.retry
            },
        };
        Ok(Self {
            transcription,
            llm,
            embeddings,
            conversations,
        })
    }

    /// The providers this configuration names.
    pub fn build(&self) -> (Option<Transcriber>, Option<ChatModel>) {
        let transcriber = self.transcription.as_ref().map(|t| {
            let retry = self.conversations.retry;
            match t.provider {
                Provider::OpenAi => Transcriber::by_utterance(
                    "openai",
                    Arc::new(OpenAiTranscriber::new(
                        &t.url,
                        t.api_key.clone(),
                        t.model.clone(),
                        t.language.clone(),
                        t.timeout,
                    )),
                    retry,
                ),
                Provider::Wyoming => Transcriber::by_utterance(
                    "wyoming",
                    Arc::new(WyomingTranscriber::new(
                        &t.url,
                        t.language.clone(),
                        Some(t.model.clone()).filter(|m| !m.is_empty()),
                        t.timeout,
                    )),
                    retry,
                ),
                Provider::Deepgram => {
                    let provider = Arc::new(DeepgramTranscriber::new(
                        &t.url,
                        t.api_key.clone().unwrap_or_default(),
                        t.model.clone(),
                        t.language.clone(),
                        t.timeout,
                    ));
                    Transcriber {
                        name: "deepgram",
                        batch: provider.clone(),
                        streaming: provider,
                    }
                }
            }
        });
        let llm = self
            .llm
            .as_ref()
            .map(|l| ChatModel::new(&l.base_url, l.api_key.clone(), l.model.clone(), l.timeout));
        (transcriber, llm)
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        let transcription = match &self.transcription {
            Some(t) => format!("transcription: {:?} at {}", t.provider, t.url),
            None => "transcription: none (audio and conversations are stored without transcripts)"
                .into(),
        };
        let llm = match &self.llm {
            Some(l) => format!("language model: {} at {}", l.model, l.base_url),
            None => "language model: none (no memories, titles or summaries; llm.generate is unavailable)".into(),
        };
        let embeddings = match &self.embeddings {
            Some(e) => format!(
                "embeddings: {} at {} (search by words and meaning)",
                e.model, e.base_url
            ),
            None => "embeddings: none (search by words alone)".into(),
        };
        format!("{transcription}; {llm}; {embeddings}")
    }
}

/// The default place of the file: `chronicle.yml` in the configuration folder.
pub fn default_path(config_dir: &Path) -> PathBuf {
    config_dir.join("chronicle.yml")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(yaml: &str, vars: &[(&str, &str)]) -> Result<PipelineConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chronicle.yml");
        std::fs::write(&path, yaml).unwrap();
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        PipelineConfig::load(&path, &|name| vars.get(name).cloned())
    }

    #[test]
    fn nothing_configured_means_no_providers_and_the_original_defaults() {
        let config = load("", &[]).unwrap();
        assert_eq!(config.transcription, None);
        assert_eq!(config.llm, None);
        assert_eq!(config.conversations, ConversationSettings::default());
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let yaml = "transcription:\n  provider: wyoming\n  url: tcp://10.0.0.2:10300\nconversations:\n  inactivity_timeout_seconds: 30\n";
        let config = load(
            yaml,
            &[
                ("TRANSCRIPTION_URL", "tcp://127.0.0.1:1"),
                ("SPEECH_INACTIVITY_THRESHOLD_SECONDS", "5"),
            ],
        )
        .unwrap();
        let transcription = config.transcription.unwrap();
        assert_eq!(
            (transcription.provider, transcription.url.as_str()),
            (Provider::Wyoming, "tcp://127.0.0.1:1")
        );
        assert_eq!(config.conversations.inactivity_seconds, 5.0);
    }

    #[test]
    fn a_deepgram_key_alone_selects_deepgram() {
        let config = load("", &[("DEEPGRAM_API_KEY", "k")]).unwrap();
        let transcription = config.transcription.unwrap();
        assert_eq!(transcription.provider, Provider::Deepgram);
        assert_eq!(transcription.model, "nova-3");
    }

    #[test]
    fn a_second_document_or_an_alias_bomb_is_refused() {
        let error = load(
            "memory:\n  extraction: true\n---\nmemory:\n  extraction: false\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("chronicle.yml"), "{error}");
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for level in 1..=8 {
            let items = vec![format!("*a{}", level - 1); 9].join(", ");
            bomb.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        let error = load(&bomb, &[]).unwrap_err().to_string();
        assert!(error.contains("chronicle.yml"), "{error}");
    }

    #[test]
    fn mistakes_name_the_place_and_the_fix() {
        let error = load("transcription:\n  provider: whisper\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("unknown transcription provider `whisper`")
                && error.contains("openai, wyoming, deepgram"),
            "{error}"
        );
        let error = load("llm:\n  base_url: http://localhost:11434/v1\n", &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("set LLM_MODEL"), "{error}");
        let error = load("conversations:\n  inactivity: 3\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("chronicle.yml")
                && error.contains("inactivity")
                && error.contains("line 2"),
            "{error}"
        );
        let error = load(
            "transcription:\n  provider: openai\n  timeout_seconds: -1\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("`transcription.timeout_seconds` in") && error.contains("not -1"),
            "{error}"
        );
        let error = load(
            "",
            &[
                ("TRANSCRIPTION_TIMEOUT_SECONDS", "inf"),
                ("TRANSCRIPTION_PROVIDER", "openai"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("TRANSCRIPTION_TIMEOUT_SECONDS must be"),
            "{error}"
        );
        let error = load("", &[("TRANSCRIPTION_RETRIES", "100")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("from 0 to 10"), "{error}");
        let error = load("", &[("MAX_CONVERSATION_SECONDS", "soon")])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("MAX_CONVERSATION_SECONDS must be a number of seconds"),
            "{error}"
        );
        let error = load("", &[("TRANSCRIPTION_PROVIDER", "deepgram")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("DEEPGRAM_API_KEY"), "{error}");
    }

    #[test]
    fn embeddings_come_from_the_file_or_the_environment_and_name_what_is_wrong() {
        assert_eq!(load("", &[]).unwrap().embeddings, None);
        let e = load(
            "embeddings:\n  base_url: http://localhost:11434/v1\n  model: nomic-embed-text\n  dimensions: 768\n",
            &[("EMBEDDINGS_BATCH_SIZE", "16")],
        )
        .unwrap()
        .embeddings
        .unwrap();
        assert_eq!(
            (
                e.base_url.as_str(),
                e.model.as_str(),
                e.dimensions,
                e.batch_size
            ),
            (
                "http://localhost:11434/v1",
                "nomic-embed-text",
                Some(768),
                16
            )
        );
        assert_eq!(
            (e.timeout, e.min_similarity),
            (Duration::from_secs(30), 0.25)
        );
        // OpenAI itself: its model by default, and the OpenAI key.
        let e = load("", &[("EMBEDDINGS_API_KEY", "sk-1")])
            .unwrap()
            .embeddings
            .unwrap();
        assert_eq!(
            (e.base_url.as_str(), e.model.as_str()),
            ("https://api.openai.com/v1", "text-embedding-3-small")
        );
        let error = load("embeddings:\n  base_url: http://localhost:11434/v1\n", &[]).unwrap_err();
        assert!(error.to_string().contains("EMBEDDINGS_MODEL"), "{error}");
        let error = load("embeddings:\n  model: m\n  dimensions: 0\n", &[]).unwrap_err();
        assert!(
            error.to_string().contains("embeddings.dimensions"),
            "{error}"
        );
        let error = load(
            "",
            &[
                ("EMBEDDINGS_MODEL", "m"),
                ("EMBEDDINGS_MIN_SIMILARITY", "2"),
            ],
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("EMBEDDINGS_MIN_SIMILARITY"),
            "{error}"
        );
    }
}
