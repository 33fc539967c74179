//! The plugin services `close_conversation` and `star_conversation`, served by the pipeline.
//!
//! The plugin host needs these before the pipeline exists (the pipeline holds the plugins), so
//! the two meet through a channel rather than a reference set late: [`SessionControl`] is the
//! host's end, [`ControlRequests`] the pipeline's, served once the pipeline exists.
//! A plugin acts for the user of the event it handles and reaches that user's sessions only;
//! the host itself ([`Actor::System`]) reaches any.

use std::sync::{Arc, Weak};

use chronicle_host_ports::{Actor, BackendError, ConversationControl};
use chronicle_plugin_api::{CloseReason, async_trait};
use chronicle_store::Owner;
use tokio::sync::{mpsc, oneshot};

use crate::Pipeline;
use crate::session::Session;

type Reply = oneshot::Sender<Result<bool, BackendError>>;

/// One request from a plugin.
enum Request {
    Close {
        actor: Actor,
        session_id: String,
        reason: CloseReason,
        reply: Reply,
    },
    Star {
        actor: Actor,
        session_id: String,
        reply: Reply,
    },
}

/// The host's end: what the plugin services call.
pub struct SessionControl {
    requests: mpsc::UnboundedSender<Request>,
}

/// The pipeline's end: [`ControlRequests::serve`] answers it once the pipeline exists.
pub struct ControlRequests(mpsc::UnboundedReceiver<Request>);

impl SessionControl {
    /// Both ends of a new channel.
    pub fn new() -> (Arc<Self>, ControlRequests) {
        let (requests, received) = mpsc::unbounded_channel();
        (Arc::new(Self { requests }), ControlRequests(received))
    }

    async fn ask(&self, request: impl FnOnce(Reply) -> Request) -> Result<bool, BackendError> {
        let (reply, answer) = oneshot::channel();
        let gone = || BackendError::Unavailable("the pipeline is not running".into());
        self.requests.send(request(reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

#[async_trait]
impl ConversationControl for SessionControl {
    async fn close_conversation(
        &self,
        actor: &Actor,
        session_id: &str,
        reason: CloseReason,
    ) -> Result<bool, BackendError> {
        self.ask(|reply| Request::Close {
            actor: actor.clone(),
            session_id: session_id.to_owned(),
            reason,
            reply,
        })
        .await
    }

    async fn star_conversation(
        &self,
        actor: &Actor,
        session_id: &str,
    ) -> Result<bool, BackendError> {
        self.ask(|reply| Request::Star {
            actor: actor.clone(),
            session_id: session_id.to_owned(),
            reply,
        })
        .await
    }
}

impl ControlRequests {
    /// Serves the requests while the pipeline lives; each on its own task, as a plugin's call
    /// would run, so a slow close does not hold the next request.
    pub fn serve(mut self, pipeline: &Arc<Pipeline>) {
        let pipeline: Weak<Pipeline> = Arc::downgrade(pipeline);
        tokio::spawn(async move {
            while let Some(request) = self.0.recv().await {
                let Some(pipeline) = pipeline.upgrade() else {
                    return;
                };
                tokio::spawn(async move { pipeline.answer(request).await });
            }
        });
    }
}

impl Pipeline {
    async fn answer(self: Arc<Self>, request: Request) {
        match request {
            Request::Close {
                actor,
                session_id,
                reason,
                reply,
            } => {
                let _ = reply.send(self.close_for(&actor, &session_id, reason).await);
            }
            Request::Star {
                actor,
                session_id,
                reply,
            } => {
                let _ = reply.send(self.star_for(&actor, &session_id).await);
            }
        }
    }

    fn session_for(&self, actor: &Actor, session_id: &str) -> Option<Arc<Session>> {
        self.sessions
            .get(session_id)
            .filter(|s| actor.may_reach(&s.owner.user_id))
    }

    /// Closes the conversation open in the session, with the reason the plugin gives.
    async fn close_for(
        self: &Arc<Self>,
        actor: &Actor,
        session_id: &str,
        reason: CloseReason,
    ) -> Result<bool, BackendError> {
        let Some(session) = self.session_for(actor, session_id) else {
            return Ok(false);
        };
        session
            .close(self, reason.into())
            .await
            .map_err(|error| BackendError::Failed(error.to_string()))
    }

    /// Stars the conversation open in a live session, or else the session's latest stored
    /// conversation (a press after the conversation already ended still stars it).
    async fn star_for(&self, actor: &Actor, session_id: &str) -> Result<bool, BackendError> {
        let owner = match actor {
            Actor::System => Owner::Admin,
            Actor::User(user_id) => Owner::User(user_id.to_string()),
        };
        let live = match self.session_for(actor, session_id) {
            Some(session) => session
                .state
                .lock()
                .await
                .conversation_id()
                .map(str::to_owned),
            None => None,
        };
        let conversation_id = match live {
            Some(id) => id,
            None => match self
                .store
                .latest_conversation_for_session(&owner, session_id)
                .await
            {
                Ok(Some(conversation)) => conversation.conversation_id,
                Ok(None) => return Ok(false),
                Err(error) => return Err(BackendError::Failed(error.to_string())),
            },
        };
        self.toggle_star(owner, &conversation_id)
            .await
            .map(|answer| answer.is_some())
            .map_err(|error| BackendError::Failed(error.to_string()))
    }
}
