//! The pipeline: audio becomes transcripts, conversations and memories, and plugins hear
//! about each step at the right moment.
//!
//! - [`transcription`]: the providers (OpenAI-compatible, Wyoming, Deepgram) behind one pair of
//!   traits, batch and streaming.
//! - [`session`]: a device's live session: speech opens a conversation; a stop, a disconnect,
//!   a close request, a pause in speech or the maximum length closes it.
//! - [`finish`]: what happens once a conversation closes: batch transcription, memories,
//!   title and summary, and the events `transcript.batch`, `memory.processed` and
//!   `conversation.complete`, in that order.
//! - [`llm`] and [`memory`]: the language model and what is asked of it.
//! - [`config`]: which providers, from `config/chronicle.yml` and the environment.
//!
//! Not here: HTTP routes and WebSockets (the server), SQL (the store), plugins (the host). The
//! pipeline reaches plugins only through [`Plugins`].

pub mod config;
pub mod finish;
mod http;
pub mod ingest;
pub mod llm;
pub mod memory;
pub mod replay;
#[cfg(test)]
mod robustness;
pub mod session;
pub mod transcription;

use std::sync::Arc;

use chronicle_plugin_api::{Event, JsonMap, async_trait};
use chronicle_plugin_host::{DispatchRecord, DispatchRequest, PluginHost};
use chronicle_store::{Owner, Store};
use serde_json::{Value, json};

pub use crate::config::{ConversationSettings, PipelineConfig};
pub use crate::llm::ChatModel;
pub use crate::session::{Session, Sessions, Speech};
pub use crate::transcription::Transcriber;

/// Batch transcriptions running at once (each holds a whole recording in memory).
const BATCH_TRANSCRIPTIONS: usize = 2;

/// Where events go: the plugin host in service (the server swaps it on reload).
#[async_trait]
pub trait Plugins: Send + Sync {
    /// Runs `request` through its chain.
    async fn dispatch(&self, request: DispatchRequest) -> Arc<DispatchRecord>;
    /// The wake words and keywords of the enabled plugins, for keyword boosting.
    fn asr_keywords(&self) -> Vec<String>;
}

#[async_trait]
impl Plugins for PluginHost {
    async fn dispatch(&self, request: DispatchRequest) -> Arc<DispatchRecord> {
        PluginHost::dispatch(self, request).await
    }

    fn asr_keywords(&self) -> Vec<String> {
        PluginHost::asr_keywords(self)
    }
}

#[async_trait]
impl Plugins for arc_swap::ArcSwap<PluginHost> {
    async fn dispatch(&self, request: DispatchRequest) -> Arc<DispatchRecord> {
        self.load_full().dispatch(request).await
    }

    fn asr_keywords(&self) -> Vec<String> {
        self.load().asr_keywords()
    }
}

/// Everything a conversation needs on its way: the store, the plugins, the providers, the
/// live sessions. One per server (or per CLI run).
pub struct Pipeline {
    pub store: Store,
    pub plugins: Arc<dyn Plugins>,
    pub transcriber: Option<Transcriber>,
    pub llm: Option<ChatModel>,
    pub settings: ConversationSettings,
    pub sessions: Sessions,
    /// Conversations between their close and their `conversation.complete`.
    finishing: std::sync::atomic::AtomicUsize,
    /// Batch transcriptions allowed at once.
    batch_turns: tokio::sync::Semaphore,
}

impl Pipeline {
    pub fn new(
        store: Store,
        plugins: Arc<dyn Plugins>,
        transcriber: Option<Transcriber>,
        llm: Option<ChatModel>,
        settings: ConversationSettings,
    ) -> Self {
        Self {
            store,
            plugins,
            transcriber,
            llm,
            settings,
            sessions: Sessions::default(),
            finishing: Default::default(),
            batch_turns: tokio::sync::Semaphore::new(BATCH_TRANSCRIPTIONS),
        }
    }

    /// Finishes `finished` on a task of its own (see [`crate::finish`]).
    pub fn finish_in_background(self: &Arc<Self>, finished: finish::Finished) {
        use std::sync::atomic::Ordering;
        self.finishing.fetch_add(1, Ordering::SeqCst);
        let pipeline = Arc::clone(self);
        tokio::spawn(async move {
            Arc::clone(&pipeline).finish(finished).await;
            pipeline.finishing.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Waits (up to `limit`) until no conversation is being finished; whether it got there.
    pub async fn settle(&self, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.finishing.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        true
    }

    /// Dispatches on a task of its own: callers (a device's read loop, an HTTP handler) never
    /// wait for plugins.
    pub fn dispatch_in_background(&self, request: DispatchRequest) {
        let plugins = Arc::clone(&self.plugins);
        tokio::spawn(async move {
            plugins.dispatch(request).await;
        });
    }

    /// Toggles a conversation's star and dispatches `conversation.starred`; the new state as
    /// the API answers it, or `None` if the owner may not see the conversation.
    pub async fn toggle_star(
        &self,
        owner: Owner,
        conversation_id: &str,
    ) -> anyhow::Result<Option<Value>> {
        let Some((starred, starred_at)) = self.store.toggle_star(&owner, conversation_id).await?
        else {
            return Ok(None);
        };
        let conversation = self.store.conversation(&owner, conversation_id).await?;
        let (user_id, title) = conversation.map_or_else(Default::default, |c| (c.user_id, c.title));
        let answer = json!({"conversation_id": conversation_id, "starred": starred, "starred_at": starred_at});
        let mut data = answer.clone();
        data["title"] = json!(title);
        self.dispatch_in_background(request(
            Event::ConversationStarred,
            &user_id,
            data,
            json!({}),
        ));
        Ok(Some(answer))
    }
}

/// Shorthand for event data.
pub fn object(value: Value) -> JsonMap {
    match value {
        Value::Object(map) => map,
        _ => JsonMap::new(),
    }
}

/// A dispatch request from JSON data and metadata.
pub fn request(event: Event, user_id: &str, data: Value, metadata: Value) -> DispatchRequest {
    DispatchRequest {
        metadata: object(metadata),
        ..DispatchRequest::new(event, user_id, object(data))
    }
}
