//! A session's life: started (registered, its live queue and transcription stream opened) and
//! stopped (the provider's last words awaited, the conversation ended, the session recorded
//! and unregistered).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chronicle_plugin_api::EndReason;
use serde_json::Value;
use tokio::sync::mpsc;

use super::{
    FLUSH_TIMEOUT, INTERIM_QUEUE, Session, SessionOwner, SessionState, Speech, lock, transcripts,
};
use crate::Pipeline;
use crate::live_queue::{LiveQueue, spawn_live_queue};
use crate::transcription::StreamInput;

impl Session {
    /// Starts a session. `batch`: the device asked for batch mode, so the audio is kept and
    /// transcribed whole at the end. Returns the session and, with a streaming provider, the
    /// transcripts to relay to the device (`interim_transcript` messages).
    pub fn start(
        pipeline: &Arc<Pipeline>,
        owner: SessionOwner,
        speech: Speech,
        batch: bool,
        audio_path: Option<PathBuf>,
    ) -> (Arc<Self>, Option<mpsc::Receiver<Value>>) {
        let session_id = uuid::Uuid::new_v4().to_string();
        let live = Arc::new(LiveQueue::new(session_id.clone()));
        spawn_live_queue(pipeline.plugins_while_alive(), Arc::clone(&live));
        let batch_audio = (batch && pipeline.transcriber.is_some()).then(Vec::new);
        let speech = if batch_audio.is_some()
            || (speech == Speech::Provider && pipeline.transcriber.is_none())
        {
            Speech::Undetected
        } else {
            speech
        };
        let session = Arc::new(Self {
            session_id,
            owner,
            speech,
            state: tokio::sync::Mutex::new(SessionState {
                audio_path,
                batch_audio,
                ..SessionState::default()
            }),
            live,
            transcription: Mutex::new(None),
        });
        pipeline.sessions.insert(Arc::clone(&session));
        let mut interims = None;
        if speech == Speech::Provider
            && let Some(transcriber) = &pipeline.transcriber
        {
            let stream = transcriber.streaming.open(pipeline.plugins.asr_keywords());
            let (relay, relayed) = mpsc::channel(INTERIM_QUEUE);
            let reader = tokio::spawn(transcripts::read_updates(
                Arc::downgrade(pipeline),
                Arc::downgrade(&session),
                stream.updates,
                relay,
            ));
            *lock(&session.transcription) = Some((stream.audio, reader));
            interims = Some(relayed);
        }
        (session, interims)
    }

    /// Ends the session: waits (bounded) for the provider's last words, ends the conversation
    /// with `end_reason`, records the session's end, and unregisters it. Returns whether a
    /// recorder writes its audio, for the caller to close. The state stays stopped, so a late
    /// chunk or segment opens nothing.
    pub async fn stop(&self, pipeline: &Arc<Pipeline>, end_reason: EndReason) -> bool {
        self.state.lock().await.stopping = true;
        let transcription = lock(&self.transcription).take();
        if let Some((audio, reader)) = transcription {
            let _ = audio.send_timeout(StreamInput::Finish, FLUSH_TIMEOUT).await;
            drop(audio);
            let abort = reader.abort_handle();
            if tokio::time::timeout(FLUSH_TIMEOUT, reader).await.is_err() {
                abort.abort();
                tracing::warn!(session = %self.session_id, "The transcription provider did not finish within {} s; ending without its last words.", FLUSH_TIMEOUT.as_secs());
            }
        }
        let mut state = self.state.lock().await;
        state.stopped = true;
        if let Err(error) = self
            .end_conversation(pipeline, &mut state, end_reason)
            .await
        {
            tracing::warn!(%error, "Could not complete the conversation.");
        }
        if let Err(error) = pipeline
            .store
            .end_session(&self.session_id, end_reason, state.audio_seconds)
            .await
        {
            tracing::debug!(%error, "Could not record the end of the session.");
        }
        pipeline.sessions.remove(&self.session_id);
        std::mem::take(&mut state.recording)
    }
}

impl Pipeline {
    /// Ends every live session with `reason` (at shutdown); returns each with whether it was
    /// being recorded, so the caller can close the recordings.
    pub async fn stop_sessions(self: &Arc<Self>, reason: EndReason) -> Vec<(Arc<Session>, bool)> {
        let stopping = self.sessions.all().into_iter().map(|session| async move {
            let recording = session.stop(self, reason).await;
            (session, recording)
        });
        futures_util::future::join_all(stopping).await
    }
}
