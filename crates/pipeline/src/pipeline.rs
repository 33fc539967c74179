//! [`Pipeline`]: what every conversation needs on its way (the store, the plugins, the
//! providers, the live sessions, the delivery queue), and the steps that are the pipeline's
//! own rather than a session's: finishing conversations in the background, stars, settling.

use std::sync::Arc;

use chronicle_host_ports::delivery::NewEvent;
use chronicle_plugin_api::{EndReason, Event, JsonMap};
use chronicle_plugin_host::delivery::{DeliverySettings, Dispatcher, HostSource};
use chronicle_store::{Owner, Store};
use serde_json::{Value, json};

use crate::config::ConversationSettings;
use crate::events::object;
use crate::finished::{BatchAudio, Finished};
use crate::llm::ChatModel;
use crate::plugins::Plugins;
use crate::session::Sessions;
use crate::transcription::Transcriber;

/// Batch transcriptions running at once (each holds a whole recording in memory).
const BATCH_TRANSCRIPTIONS: usize = 2;

/// Everything a conversation needs on its way: the store, the plugins, the providers, the
/// live sessions. One per server (or per CLI run).
pub struct Pipeline {
    pub store: Store,
    pub plugins: Arc<dyn Plugins>,
    pub transcriber: Option<Transcriber>,
    pub llm: Option<ChatModel>,
    pub settings: ConversationSettings,
    pub sessions: Sessions,
    /// Live transcripts and presses, for the people watching.
    pub watchers: crate::watch::Watchers,
    /// Delivers the terminal events the store queues, if this process holds the data
    /// folder's delivery lock (one process per data folder delivers).
    pub deliveries: Dispatcher,
    /// Conversations between their close and their `conversation.complete`.
    finishing: std::sync::atomic::AtomicUsize,
    /// Batch transcriptions allowed at once.
    pub(crate) batch_turns: tokio::sync::Semaphore,
    /// `settings.wake_words` as a compiled wake-word condition, made once; `None` without
    /// wake words.
    pub(crate) wake_detector: Option<chronicle_plugin_host::condition::Condition>,
}

impl Pipeline {
    /// The pipeline over `store`, with the dispatcher of its delivery queue started (chains a
    /// stopped process left unfinished resume now).
    pub async fn new(
        store: Store,
        plugins: Arc<dyn Plugins>,
        transcriber: Option<Transcriber>,
        llm: Option<ChatModel>,
        settings: ConversationSettings,
        delivery: DeliverySettings,
    ) -> anyhow::Result<Arc<Self>> {
        let hosts = Arc::clone(&plugins);
        let hosts: HostSource = Arc::new(move || hosts.host());
        let lock_path = store.folder().delivery_lock();
        let deliveries =
            Dispatcher::start_locked(Arc::new(store.clone()), hosts, delivery, lock_path).await?;
        let wake_detector = (!settings.wake_words.is_empty()).then(|| {
            chronicle_plugin_host::condition::Condition::WakeWord(
                chronicle_plugin_host::condition::Phrases(settings.wake_words.clone()),
            )
        });
        let pipeline = Arc::new(Self {
            wake_detector,
            store,
            plugins,
            transcriber,
            llm,
            settings,
            sessions: Sessions::default(),
            watchers: Default::default(),
            deliveries,
            finishing: Default::default(),
            batch_turns: tokio::sync::Semaphore::new(BATCH_TRANSCRIPTIONS),
        });
        Ok(pipeline)
    }

    /// Closes the conversations and sessions a killed process left open, as
    /// `server_restart`, so that [`Pipeline::resume_unannounced`] finishes them (memories,
    /// `conversation.complete`) from what was stored before the crash, and removes the
    /// `.partial` files of uploads it was taking in (they have no conversation). Call once at
    /// start, before any session or upload; returns how many conversations it closed.
    pub async fn close_abandoned(&self) -> anyhow::Result<usize> {
        let folder = self.store.folder().clone();
        match tokio::task::spawn_blocking(move || folder.remove_partial_files()).await? {
            Ok(0) => {}
            Ok(removed) => {
                tracing::info!(removed, "Removed the unfinished uploads the last run left.")
            }
            Err(error) => tracing::warn!(%error, "Cannot remove the unfinished uploads."),
        }
        let closed = self.store.close_abandoned(EndReason::ServerRestart).await?;
        for id in &closed {
            tracing::info!(conversation = %id, "Closing a conversation the last run left open.");
        }
        Ok(closed.len())
    }

    /// Finishes the conversations a stopped process closed but never announced; returns how
    /// many. Call once at start, before any session. One with a recording of its own and no
    /// transcript yet (an upload, a batch-mode session) is transcribed from that recording.
    pub async fn resume_unannounced(self: &Arc<Self>) -> anyhow::Result<usize> {
        let conversations = self.store.unannounced_conversations().await?;
        for conversation in &conversations {
            let id = &conversation.conversation_id;
            tracing::info!(conversation = %id, "Finishing a conversation the last run closed but never announced.");
            let untranscribed = self.transcriber.is_some()
                && conversation.transcript.trim().is_empty()
                && conversation.transcription_error.is_none();
            let batch_audio = match &conversation.audio_path {
                Some(path) if untranscribed && self.store.has_audio_of_its_own(id).await? => {
                    Some(BatchAudio::File(path.into()))
                }
                _ => None,
            };
            self.finish_in_background(Finished {
                conversation_id: id.clone(),
                user_id: conversation.user_id.clone(),
                client_id: conversation.client_id.clone(),
                end_reason: conversation.end_reason.unwrap_or(EndReason::ServerRestart),
                duration: conversation.duration_seconds.unwrap_or(0.0),
                batch_audio,
            });
        }
        Ok(conversations.len())
    }

    /// The plugins in service, for as long as this pipeline lives; for tasks that must not
    /// keep it alive.
    pub(crate) fn plugins_while_alive(
        self: &Arc<Self>,
    ) -> impl Fn() -> Option<Arc<dyn Plugins>> + Send + 'static {
        let pipeline = Arc::downgrade(self);
        move || pipeline.upgrade().map(|p| Arc::clone(&p.plugins))
    }

    /// Finishes `finished` on a task of its own (see `finish.rs`).
    pub fn finish_in_background(self: &Arc<Self>, finished: Finished) {
        use std::sync::atomic::Ordering;
        self.finishing.fetch_add(1, Ordering::SeqCst);
        let pipeline = Arc::clone(self);
        tokio::spawn(async move {
            Arc::clone(&pipeline).finish(finished).await;
            pipeline.finishing.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Waits (up to `limit`) until no conversation is being finished and every terminal
    /// event's chain has run (retries due later excepted); whether it got there.
    pub async fn settle(&self, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.finishing.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.deliveries.settle(left).await
    }

    /// Toggles a conversation's star and queues `conversation.starred` with it; the new state
    /// as the API answers it, or `None` if the owner may not see the conversation.
    pub async fn toggle_star(
        &self,
        owner: Owner,
        conversation_id: &str,
    ) -> anyhow::Result<Option<Value>> {
        let toggled = self
            .store
            .toggle_star(&owner, conversation_id, |starred| NewEvent {
                event: Event::ConversationStarred,
                user_id: starred.user_id.clone(),
                conversation_id: Some(starred.conversation_id.clone()),
                data: object(json!({
                    "conversation_id": starred.conversation_id,
                    "starred": starred.starred,
                    "starred_at": starred.starred_at,
                    "title": starred.title,
                })),
                metadata: JsonMap::new(),
            })
            .await?;
        let Some((starred, _)) = toggled else {
            return Ok(None);
        };
        self.deliveries.wake();
        Ok(Some(json!({
            "conversation_id": starred.conversation_id,
            "starred": starred.starred,
            "starred_at": starred.starred_at,
        })))
    }
}
