//! What happens once a conversation has closed, in this order:
//!
//! 1. batch transcription of its audio, when it was recorded in batch mode or uploaded, then
//!    `transcript.batch` (when there are words);
//! 2. memory extraction with the language model, the memories stored with the conversation's
//!    id, then `memory.processed`;
//! 3. a title and a summary;
//! 4. `conversation.complete`, always, last.
//!
//! Each event is queued in the same transaction as what it announces (the transcript, the
//! memories, the title and summary) and delivered by the durable dispatcher, which keeps the
//! events of one conversation in order for each plugin: a plugin sees `memory.processed`
//! before `conversation.complete`. A failing provider costs its step only: the reason is
//! recorded (transcription) or logged (the model), and the conversation still completes.

use std::sync::Arc;
use std::time::Instant;

use chronicle_plugin_api::Event;
use chronicle_store::Owner;
use serde_json::{Value, json};

use chronicle_host_ports::delivery::NewEvent;

use crate::events::object;
use crate::finished::{BatchAudio, Finished};
use crate::memory;
use crate::pipeline::Pipeline;

/// How many of the user's memories new facts are checked against.
const EXISTING_MEMORIES: usize = 500;

impl Pipeline {
    /// Runs the steps above for `finished`. A step that fails is logged and costs only
    /// itself: `conversation.complete` is dispatched whatever happened before it.
    pub async fn finish(self: Arc<Self>, finished: Finished) {
        let id = &finished.conversation_id;
        if let Err(error) = self.transcribe_batch(&finished).await {
            tracing::error!(conversation = %id, %error, "Could not keep the batch transcript.");
        }
        // Read once: memory.processed and conversation.complete both carry it.
        let user_email = self.user_email(&finished.user_id).await;
        let remembered = match self.remember(&finished, user_email.as_deref()).await {
            Ok(remembered) => remembered,
            Err(error) => {
                tracing::error!(conversation = %id, %error, "Could not draw memories and a title.");
                Remembered::default()
            }
        };
        let data = json!({
            "conversation": {
                "client_id": finished.client_id,
                "user_id": finished.user_id,
                "user_email": user_email,
                "title": remembered.title,
                "summary": remembered.summary,
                "created_at": remembered.created_at,
            },
            "transcript": remembered.transcript,
            "duration": finished.duration,
            "conversation_id": id,
        });
        let announce = new_event(
            Event::ConversationComplete,
            &finished,
            data,
            json!({"end_reason": finished.end_reason}),
        );
        match self
            .store
            .announce_completion(id, remembered.new_title_summary, announce)
            .await
        {
            Ok(_) => self.deliveries.wake(),
            // The conversation stays unannounced, so the next start finishes it again.
            Err(error) => {
                tracing::error!(conversation = %id, %error, "Could not queue conversation.complete.")
            }
        }
    }

    /// Step 1: the whole recording, when there is one, and `transcript.batch`.
    async fn transcribe_batch(&self, finished: &Finished) -> anyhow::Result<()> {
        let (Some(audio), Some(transcriber)) = (&finished.batch_audio, &self.transcriber) else {
            return Ok(());
        };
        let id = &finished.conversation_id;
        // A few at a time: each holds a piece of a recording and a provider connection.
        let _turn = self.batch_turns.acquire().await?;
        let transcribed = match audio {
            BatchAudio::Samples(samples) => {
                transcriber.transcribe(samples, self.settings.retry).await
            }
            BatchAudio::File(path) => transcriber.transcribe_file(path, self.settings.retry).await,
        };
        match transcribed {
            Ok(transcript) => {
                let segments: Vec<Value> =
                    transcript.segments.iter().map(|s| s.to_json()).collect();
                let announce = (!transcript.text.trim().is_empty()).then(|| {
                    let data = json!({
                        "transcript": transcript.text,
                        "segment_id": format!("{id}_batch"),
                        "conversation_id": id,
                        "segments": segments,
                        "word_count": transcript.words().len(),
                    });
                    new_event(
                        Event::TranscriptBatch,
                        finished,
                        data,
                        json!({"client_id": finished.client_id}),
                    )
                });
                let queued = self
                    .store
                    .set_transcript(id, &transcript.text, segments, announce)
                    .await?;
                if queued.is_some() {
                    self.deliveries.wake();
                }
            }
            Err(error) => {
                tracing::warn!(conversation = %id, %error, "Transcription failed; the conversation keeps its audio without a transcript.");
                self.store
                    .set_transcription_error(id, &error.to_string())
                    .await?;
            }
        }
        Ok(())
    }

    /// Steps 2 and 3: memories and `memory.processed`, then a title and a summary.
    async fn remember(
        &self,
        finished: &Finished,
        user_email: Option<&str>,
    ) -> anyhow::Result<Remembered> {
        let id = &finished.conversation_id;
        let conversation = self
            .store
            .conversation(&Owner::Admin, id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("conversation {id} vanished"))?;
        let transcript = conversation.transcript.trim().to_owned();
        let mut remembered = Remembered {
            created_at: Some(conversation.created_at),
            title: Some(conversation.title),
            summary: conversation.summary,
            new_title_summary: None,
            transcript,
        };
        let transcript = &remembered.transcript;
        match &self.llm {
            Some(_) if transcript.is_empty() => {
                tracing::debug!(conversation = %id, "No words: no memories, no summary.");
            }
            Some(model) => {
                if self.settings.extract_memories
                    && let Err(error) = self
                        .extract_memories(finished, model, transcript, user_email)
                        .await
                {
                    tracing::error!(conversation = %id, %error, "Could not keep the memories.");
                }
                match memory::title_and_summary(model, transcript).await {
                    Ok((title, summary)) => {
                        remembered.title = Some(title.clone());
                        remembered.summary = Some(summary.clone());
                        remembered.new_title_summary = Some((title, summary));
                    }
                    Err(error) => {
                        tracing::warn!(conversation = %id, %error, "No title and summary.")
                    }
                }
            }
            None => {
                tracing::info!(conversation = %id, "Memory extraction skipped: no language model is configured.")
            }
        }
        Ok(remembered)
    }

    /// The account's email address, for plugins that write to the user.
    async fn user_email(&self, user_id: &str) -> Option<String> {
        self.store
            .user(user_id)
            .await
            .ok()
            .flatten()
            .map(|user| user.email)
    }

    async fn extract_memories(
        &self,
        finished: &Finished,
        model: &crate::ChatModel,
        transcript: &str,
        user_email: Option<&str>,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        let owner = Owner::User(finished.user_id.clone());
        // Finished again after a restart: its memories (and their event) were already kept.
        if !self
            .store
            .conversation_memories(&owner, &finished.conversation_id)
            .await?
            .is_empty()
        {
            return Ok(());
        }
        let existing: Vec<String> = self
            .store
            .list_memories(&owner, EXISTING_MEMORIES)
            .await?
            .into_iter()
            .map(|m| m.content)
            .collect();
        let facts = match memory::extract(model, transcript, &existing).await {
            Ok(facts) => facts,
            Err(error) => {
                tracing::warn!(conversation = %finished.conversation_id, %error, "Memory extraction failed.");
                return Ok(());
            }
        };
        let email = user_email.map(str::to_owned);
        let metadata = json!({
            "processing_time": started.elapsed().as_secs_f64(),
            "memory_provider": "chronicle",
            "model": model.model(),
        });
        let (conversation_id, client_id, user_id) = (
            finished.conversation_id.clone(),
            finished.client_id.clone(),
            finished.user_id.clone(),
        );
        self.store
            .add_memories(
                &finished.user_id,
                &finished.conversation_id,
                &facts,
                move |ids| {
                    let data = json!({
                        "memories": ids,
                        "memory_count": ids.len(),
                        "conversation": {
                            "conversation_id": conversation_id,
                            "client_id": client_id,
                            "user_id": user_id,
                            "user_email": email,
                        },
                        "conversation_id": conversation_id,
                    });
                    NewEvent {
                        event: Event::MemoryProcessed,
                        user_id: user_id.clone(),
                        conversation_id: Some(conversation_id.clone()),
                        data: object(data),
                        metadata: object(metadata.clone()),
                    }
                },
            )
            .await?;
        self.deliveries.wake();
        Ok(())
    }
}

/// What steps 2 and 3 leave for `conversation.complete`.
#[derive(Default)]
struct Remembered {
    /// When the conversation began (RFC 3339).
    created_at: Option<String>,
    transcript: String,
    title: Option<String>,
    summary: Option<String>,
    /// A title and summary the model just wrote, stored with the announcement.
    new_title_summary: Option<(String, String)>,
}

/// A terminal event about `finished`'s conversation.
fn new_event(event: Event, finished: &Finished, data: Value, metadata: Value) -> NewEvent {
    NewEvent {
        event,
        user_id: finished.user_id.clone(),
        conversation_id: Some(finished.conversation_id.clone()),
        data: object(data),
        metadata: object(metadata),
    }
}
