//! What happens in live sessions, for people watching (the web app's Live page): transcripts
//! as they arrive, button presses, sessions starting and ending.
//!
//! A broadcast, not a queue: a watcher that falls behind misses updates (the conversation keeps
//! them all) and never slows a device down. Nothing is sent while no one watches.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

/// Updates kept for a watcher that is slow to read; beyond, it misses the oldest.
const WATCH_QUEUE: usize = 256;

/// One thing that happened in a user's live session.
#[derive(Clone, Debug, Serialize)]
pub struct Watched {
    /// Whose session it is.
    #[serde(skip)]
    pub user_id: Arc<str>,
    /// `interim`, `final`, `button` or `session`.
    #[serde(skip)]
    pub kind: &'static str,
    /// The device.
    pub client_id: String,
    /// What happened: the transcript's text and timing, the button's state, the session's.
    #[serde(flatten)]
    pub data: Value,
}

/// The live updates of every session, for whoever subscribes.
#[derive(Clone, Debug)]
pub struct Watchers(broadcast::Sender<Watched>);

impl Default for Watchers {
    fn default() -> Self {
        Self(broadcast::channel(WATCH_QUEUE).0)
    }
}

impl Watchers {
    /// Tells every watcher, if there is one.
    pub fn tell(&self, watched: Watched) {
        if self.0.receiver_count() > 0 {
            let _ = self.0.send(watched);
        }
    }

    /// Every update from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Watched> {
        self.0.subscribe()
    }
}
