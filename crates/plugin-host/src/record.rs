//! The dispatch record: what happened to one event, plugin by plugin.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use chronicle_plugin_api::{Event, JsonMap, PluginResult};
use serde::Serialize;
use serde_json::Value;

/// What happened to one event. Serializes as the `chronicle plugin test --json` object.
#[derive(Clone, Debug, Serialize)]
pub struct DispatchRecord {
    /// The event.
    pub event: Event,
    /// Its user.
    pub user_id: Arc<str>,
    /// Every plugin subscribed to the event, in chain order, with its outcome.
    pub plugins: Vec<PluginOutcome>,
    /// The metadata as the last plugin left it.
    pub metadata: JsonMap,
    /// Every service call plugins made while handling it, allowed or not.
    pub services: Vec<ServiceCall>,
    /// Identifies the event in logs and idempotency keys.
    #[serde(skip)]
    pub event_id: Arc<str>,
    /// The data the chain was given (without what conditions added).
    #[serde(skip)]
    pub data: Arc<JsonMap>,
    /// When dispatch started.
    #[serde(skip)]
    pub started_at: SystemTime,
    /// How long the whole chain took.
    #[serde(skip)]
    pub duration_ms: f64,
}

impl DispatchRecord {
    /// The outcome of `plugin_id`, if it was subscribed.
    pub fn outcome(&self, plugin_id: &str) -> Option<&PluginOutcome> {
        self.plugins
            .iter()
            .find(|outcome| *outcome.plugin_id == *plugin_id)
    }

    /// Whether any plugin failed or timed out.
    pub fn has_failures(&self) -> bool {
        self.plugins
            .iter()
            .any(|outcome| matches!(outcome.status, Status::Failed | Status::TimedOut))
    }
}

/// One plugin's part in a dispatch.
#[derive(Clone, Debug, Serialize)]
pub struct PluginOutcome {
    /// The plugin.
    pub plugin_id: Arc<str>,
    /// What happened.
    pub status: Status,
    /// Why, for skipped, failed and timed-out plugins. Shared: the reasons a chain gives
    /// again and again (a condition not met) are made once, when the host loads.
    pub reason: Option<Arc<str>>,
    /// What the plugin returned, when it returned a result.
    pub result: Option<PluginResult>,
    /// Time spent in the plugin's handler.
    pub duration_ms: f64,
}

impl PluginOutcome {
    /// A plugin that was not called, and why.
    pub(crate) fn skipped(plugin_id: &Arc<str>, reason: impl Into<Arc<str>>) -> Self {
        Self {
            plugin_id: Arc::clone(plugin_id),
            status: Status::Skipped,
            reason: Some(reason.into()),
            result: None,
            duration_ms: 0.0,
        }
    }

    /// Whether the plugin asked the chain to stop (`should_continue: false`).
    pub fn stops_chain(&self) -> bool {
        self.result
            .as_ref()
            .is_some_and(|result| !result.should_continue)
    }
}

/// The fate of an event at one plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The handler returned a result (successful or not).
    Executed,
    /// The handler returned no result.
    Declined,
    /// The handler was not called: disabled, condition not met, chain stopped, not initialized.
    Skipped,
    /// The handler returned an error or panicked.
    Failed,
    /// The handler did not finish before its deadline.
    TimedOut,
}

/// A service call a plugin made.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceCall {
    /// Who called.
    pub plugin_id: Arc<str>,
    /// Which service (`close_conversation`, `insert_one`, …).
    pub call: &'static str,
    /// Its arguments.
    pub args: Value,
    /// Whether the plugin's permissions allowed it.
    pub allowed: bool,
}

/// Collects the service calls of one dispatch, including those of plugins called through
/// `call_plugin`.
#[derive(Clone, Default)]
pub struct CallRecorder(Arc<Mutex<Vec<ServiceCall>>>);

impl CallRecorder {
    /// Adds a call.
    pub fn push(&self, call: ServiceCall) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(call);
    }

    /// The calls so far.
    pub fn take(&self) -> Vec<ServiceCall> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
