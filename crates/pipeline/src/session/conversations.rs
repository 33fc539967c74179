//! A session's conversations: opened when someone speaks, ended by a stop, a disconnect, a
//! close request, a pause or the maximum length, and handed to `finish` once completed.

use std::sync::Arc;

use chronicle_plugin_api::EndReason;
use chronicle_store::NewConversation;

use super::{OpenConversation, Session, SessionState};
use crate::Pipeline;
use crate::finished::{BatchAudio, Finished};

impl Session {
    /// Opens a conversation if none is open; its id.
    pub async fn open_conversation(
        &self,
        pipeline: &Pipeline,
        state: &mut SessionState,
    ) -> anyhow::Result<String> {
        if let Some(open) = &state.conversation {
            return Ok(open.id.clone());
        }
        let owner = &self.owner;
        let device = if owner.device_name.is_empty() {
            &owner.client_id
        } else {
            &owner.device_name
        };
        let conversation = pipeline
            .store
            .create_conversation(NewConversation {
                user_id: owner.user_id.clone(),
                client_id: owner.client_id.clone(),
                session_id: Some(self.session_id.clone()),
                title: format!("Recording from {device}"),
                audio_path: state.audio_path.as_ref().map(|p| p.display().to_string()),
            })
            .await?;
        if let Some(error) = &state.speech_failed {
            pipeline
                .store
                .set_transcription_error(&conversation.conversation_id, error)
                .await?;
        }
        let now = state.audio_seconds;
        state.conversation = Some(OpenConversation {
            id: conversation.conversation_id.clone(),
            started_at: now,
            last_speech_at: now,
        });
        Ok(conversation.conversation_id)
    }

    /// Ends the open conversation, if any, with `reason`; whether one was open.
    pub async fn close(&self, pipeline: &Arc<Pipeline>, reason: EndReason) -> anyhow::Result<bool> {
        let mut state = self.state.lock().await;
        self.end_conversation(pipeline, &mut state, reason).await
    }

    /// Ends the open conversation, if any: completes it in the store and hands it to
    /// [`crate::finish`]. Returns whether one was open.
    pub async fn end_conversation(
        &self,
        pipeline: &Arc<Pipeline>,
        state: &mut SessionState,
        end_reason: EndReason,
    ) -> anyhow::Result<bool> {
        let Some(open) = state.conversation.take() else {
            return Ok(false);
        };
        // To the millisecond: 2.0000000000000004 s helps nobody.
        let duration = ((state.audio_seconds - open.started_at).max(0.0) * 1000.0).round() / 1000.0;
        // Only the call that completed it announces it, so a race cannot send it twice.
        let completed = match pipeline
            .store
            .complete_conversation(&open.id, end_reason, Some(duration))
            .await
        {
            Ok(completed) => completed,
            Err(error) => {
                // Still open in the store: keep it open here too, so a later end completes it.
                state.conversation = Some(open);
                return Err(error.into());
            }
        };
        let batch_audio = state
            .batch_audio
            .as_mut()
            .map(|kept| BatchAudio::Samples(std::mem::take(kept)));
        if completed {
            let finished = Finished {
                conversation_id: open.id,
                user_id: self.owner.user_id.clone(),
                client_id: self.owner.client_id.clone(),
                end_reason,
                duration,
                batch_audio,
            };
            pipeline.finish_in_background(finished);
        }
        Ok(true)
    }
}
