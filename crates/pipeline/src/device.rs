//! What a connected device does to the pipeline besides sending audio: its session's
//! recording, and its button presses, kept as markers on the open conversation and sent to
//! plugins in order. The server hands these over as they arrive and keeps none of it.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::live_queue::{LiveQueue, spawn_live_queue};
use crate::session::{Session, button_press};
use crate::{Pipeline, request};

/// What came of a button press.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pressed {
    /// Queued for the plugins, behind the device's earlier events.
    Queued,
    /// A state no event has (only the marker is kept).
    Unknown,
    /// The device presses far faster than its plugins answer (see `live_queue.rs`).
    TooFast,
}

impl Session {
    /// The device's audio of this session is recorded at `path`: the session is stored with
    /// it, and the conversations it opens point into it.
    pub async fn record_to(&self, pipeline: &Pipeline, path: PathBuf) -> anyhow::Result<()> {
        pipeline
            .store
            .start_session(
                &self.session_id,
                &self.owner.user_id,
                &self.owner.client_id,
                Some(&path.display().to_string()),
            )
            .await?;
        let mut state = self.state.lock().await;
        state.recording = true;
        state.audio_path = Some(path);
        Ok(())
    }

    /// A press of the device's button during this session: kept as a marker on the open
    /// conversation when `keep_marker` (a device may send only so many), and queued for the
    /// plugins behind the session's transcripts.
    pub async fn press(&self, pipeline: &Pipeline, state: &str, keep_marker: bool) -> Pressed {
        let (event, data) = button_press(state, Some(&self.session_id), &self.owner.client_id);
        if keep_marker {
            let conversation = self.state.lock().await.conversation_id().map(str::to_owned);
            if let Some(conversation_id) = conversation {
                let mut marker = data.clone();
                marker["type"] = json!("button_event");
                if let Err(error) = pipeline.store.add_marker(&conversation_id, marker).await {
                    tracing::warn!(%error, "Could not keep the button marker.");
                }
            }
        }
        queue_press(
            event,
            data,
            &self.owner.user_id,
            &self.owner.client_id,
            |press| self.queue_live(press),
        )
    }
}

/// The presses of a device with no session open, in order, on a queue like a session's.
pub struct DeviceEvents {
    queue: Arc<LiveQueue>,
    user_id: String,
    client_id: String,
}

impl DeviceEvents {
    /// The queue of the device `client_id` of `user_id`, delivered on a task of its own.
    pub fn new(pipeline: &Arc<Pipeline>, user_id: &str, client_id: &str) -> Self {
        let queue = Arc::new(LiveQueue::new(client_id));
        spawn_live_queue(pipeline.plugins_while_alive(), Arc::clone(&queue));
        Self {
            queue,
            user_id: user_id.to_owned(),
            client_id: client_id.to_owned(),
        }
    }

    /// A press outside any session.
    pub fn press(&self, state: &str) -> Pressed {
        let (event, data) = button_press(state, None, &self.client_id);
        queue_press(event, data, &self.user_id, &self.client_id, |press| {
            self.queue.push(press)
        })
    }
}

impl Drop for DeviceEvents {
    fn drop(&mut self) {
        self.queue.close();
    }
}

fn queue_press(
    event: Option<chronicle_plugin_api::Event>,
    data: Value,
    user_id: &str,
    client_id: &str,
    queue: impl FnOnce(chronicle_plugin_host::DispatchRequest) -> bool,
) -> Pressed {
    let Some(event) = event else {
        return Pressed::Unknown;
    };
    let press = request(event, user_id, data, json!({"client_id": client_id}));
    if queue(press) {
        Pressed::Queued
    } else {
        Pressed::TooFast
    }
}
