//! Live device sessions: one per WebSocket with audio, each recording its audio to a WAV file,
//! holding the conversation open in it, and delivering its live events (button presses) in
//! order on a task of its own.
//!
//! Without a transcription provider a conversation spans the audio between `audio-start` (or
//! the first audio after a close) and its end: `audio-stop` (`user_stopped`), the device going
//! away (`websocket_disconnect`) or a close request (`close_requested`). Each end completes the
//! conversation in the store and dispatches `conversation.complete`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use chronicle_plugin_api::backend::{BackendError, ConversationControl};
use chronicle_plugin_api::{CloseReason, Event, async_trait};
use chronicle_plugin_host::DispatchRequest;
use chronicle_store::{NewConversation, Owner};
use serde_json::{Value, json};

use crate::state::{Core, request};

/// The live sessions of a server.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Arc<LiveSession>>>,
}

/// One device's session.
pub struct LiveSession {
    pub session_id: String,
    pub user_id: String,
    pub client_id: String,
    pub device_name: String,
    pub state: tokio::sync::Mutex<SessionState>,
}

/// What a session is doing.
#[derive(Default)]
pub struct SessionState {
    /// Whether the session's recording was started (it lives on the recorder thread).
    pub recording: bool,
    pub audio_path: Option<PathBuf>,
    /// The conversation open now, and the recording's length when it opened.
    pub conversation: Option<(String, f64)>,
    /// Seconds of audio received.
    pub audio_seconds: f64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sessions {
    /// Registers a session.
    pub fn open(&self, user_id: &str, client_id: &str, device_name: &str) -> Arc<LiveSession> {
        let session = Arc::new(LiveSession {
            session_id: uuid::Uuid::new_v4().to_string(),
            user_id: user_id.to_owned(),
            client_id: client_id.to_owned(),
            device_name: device_name.to_owned(),
            state: tokio::sync::Mutex::default(),
        });
        lock(&self.live).insert(session.session_id.clone(), Arc::clone(&session));
        session
    }

    /// Forgets a session.
    pub fn remove(&self, session_id: &str) {
        lock(&self.live).remove(session_id);
    }

    /// A live session by id.
    pub fn get(&self, session_id: &str) -> Option<Arc<LiveSession>> {
        lock(&self.live).get(session_id).cloned()
    }

    /// The live session of a device that `user_id` may act on (`None` for an admin: any).
    pub fn by_client(&self, client_id: &str, user_id: Option<&str>) -> Option<Arc<LiveSession>> {
        lock(&self.live)
            .values()
            .find(|s| s.client_id == client_id && user_id.is_none_or(|user| s.user_id == user))
            .cloned()
    }

    /// Every live session (for shutdown).
    pub fn all(&self) -> Vec<Arc<LiveSession>> {
        lock(&self.live).values().cloned().collect()
    }

    /// How many devices are connected with a session.
    pub fn count(&self) -> usize {
        lock(&self.live).len()
    }
}

impl LiveSession {
    /// Opens a conversation if none is open (at audio start, or at the first audio after a
    /// close request).
    pub async fn ensure_conversation(
        &self,
        core: &Core,
        state: &mut SessionState,
    ) -> anyhow::Result<String> {
        if let Some((id, _)) = &state.conversation {
            return Ok(id.clone());
        }
        let title = format!(
            "Recording from {}",
            if self.device_name.is_empty() {
                &self.client_id
            } else {
                &self.device_name
            }
        );
        let conversation = core
            .store
            .create_conversation(NewConversation {
                user_id: self.user_id.clone(),
                client_id: self.client_id.clone(),
                session_id: Some(self.session_id.clone()),
                title,
                audio_path: state.audio_path.as_ref().map(|p| p.display().to_string()),
            })
            .await?;
        state.conversation = Some((conversation.conversation_id.clone(), state.audio_seconds));
        Ok(conversation.conversation_id)
    }

    /// Ends the open conversation, if any: completes it in the store and dispatches
    /// `conversation.complete`. Returns whether one was open.
    pub async fn end_conversation(
        &self,
        core: &Core,
        state: &mut SessionState,
        end_reason: &str,
    ) -> anyhow::Result<bool> {
        let Some((conversation_id, started_at)) = state.conversation.take() else {
            return Ok(false);
        };
        let duration = (state.audio_seconds - started_at).max(0.0);
        // Only the call that completed it announces it, so a race cannot send it twice.
        let completed = match core
            .store
            .complete_conversation(&conversation_id, end_reason, Some(duration))
            .await
        {
            Ok(completed) => completed,
            Err(error) => {
                // Still open in the store: keep it open here too, so a later end completes it.
                state.conversation = Some((conversation_id, started_at));
                return Err(error.into());
            }
        };
        if !completed {
            return Ok(true);
        }
        core.dispatch_in_background(conversation_complete(
            &self.user_id,
            &self.client_id,
            &conversation_id,
            duration,
            end_reason,
        ));
        Ok(true)
    }
}

/// The `conversation.complete` request for a finished conversation (the transcript is empty
/// until a transcription provider is configured).
pub fn conversation_complete(
    user_id: &str,
    client_id: &str,
    conversation_id: &str,
    duration: f64,
    end_reason: &str,
) -> DispatchRequest {
    request(
        Event::ConversationComplete,
        user_id,
        json!({
            "conversation": {"client_id": client_id, "user_id": user_id},
            "transcript": "",
            "duration": duration,
            "conversation_id": conversation_id,
        }),
        json!({"end_reason": end_reason}),
    )
}

/// Toggles a conversation's star and dispatches `conversation.starred`.
pub async fn toggle_star(
    core: &Core,
    owner: Owner,
    conversation_id: &str,
) -> anyhow::Result<Option<Value>> {
    let Some((starred, starred_at)) = core.store.toggle_star(&owner, conversation_id).await? else {
        return Ok(None);
    };
    let conversation = core.store.conversation(&owner, conversation_id).await?;
    let (user_id, title) = conversation.map_or_else(Default::default, |c| (c.user_id, c.title));
    let answer =
        json!({"conversation_id": conversation_id, "starred": starred, "starred_at": starred_at});
    let mut data = answer.clone();
    data["title"] = json!(title);
    core.dispatch_in_background(request(
        Event::ConversationStarred,
        &user_id,
        data,
        json!({}),
    ));
    Ok(Some(answer))
}

/// The plugin services `close_conversation` and `star_conversation`, backed by the live
/// sessions. A plugin acts for the user of the event it handles: it can reach that user's
/// sessions only (calls made for `system` reach any).
pub struct ServerConversations {
    /// Set once the server's core exists (the core holds the plugin host, which holds this).
    pub core: std::sync::OnceLock<Weak<Core>>,
}

/// A live session and the server it belongs to.
type Reached = (Arc<Core>, Arc<LiveSession>);

impl ServerConversations {
    fn core(&self) -> Result<Arc<Core>, BackendError> {
        self.core
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| BackendError::Unavailable("the server is not running".into()))
    }

    fn session(&self, user_id: &str, session_id: &str) -> Result<Option<Reached>, BackendError> {
        let core = self.core()?;
        let session = core
            .sessions
            .get(session_id)
            .filter(|s| user_id == "system" || s.user_id == user_id);
        Ok(session.map(|session| (core, session)))
    }
}

#[async_trait]
impl ConversationControl for ServerConversations {
    async fn close_conversation(
        &self,
        user_id: &str,
        session_id: &str,
        _reason: CloseReason,
    ) -> Result<bool, BackendError> {
        let Some((core, session)) = self.session(user_id, session_id)? else {
            return Ok(false);
        };
        let mut state = session.state.lock().await;
        session
            .end_conversation(&core, &mut state, "close_requested")
            .await
            .map_err(|error| BackendError::Failed(error.to_string()))
    }

    /// Stars the conversation open in a live session, or else the session's latest stored
    /// conversation (a press after the conversation already ended still stars it).
    async fn star_conversation(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<bool, BackendError> {
        let core = self.core()?;
        let owner = if user_id == "system" {
            Owner::Admin
        } else {
            Owner::User(user_id.to_owned())
        };
        let live = match self.session(user_id, session_id)? {
            Some((_, session)) => session
                .state
                .lock()
                .await
                .conversation
                .clone()
                .map(|(id, _)| id),
            None => None,
        };
        let conversation_id = match live {
            Some(id) => id,
            None => match core
                .store
                .latest_conversation_for_session(&owner, session_id)
                .await
            {
                Ok(Some(conversation)) => conversation.conversation_id,
                Ok(None) => return Ok(false),
                Err(error) => return Err(BackendError::Failed(error.to_string())),
            },
        };
        toggle_star(&core, owner, &conversation_id)
            .await
            .map(|answer| answer.is_some())
            .map_err(|error| BackendError::Failed(error.to_string()))
    }
}

/// Ends every live session: its conversation, its recording and its row, with `reason`.
pub async fn end_all(core: &Core, reason: &str) {
    for session in core.sessions.all() {
        let mut state = session.state.lock().await;
        if let Err(error) = session.end_conversation(core, &mut state, reason).await {
            tracing::warn!(%error, "Could not complete a conversation at shutdown.");
        }
        if std::mem::take(&mut state.recording) {
            core.recordings.finish(&session.session_id).await;
        }
        let _ = core
            .store
            .end_session(&session.session_id, reason, state.audio_seconds)
            .await;
        core.sessions.remove(&session.session_id);
    }
}
