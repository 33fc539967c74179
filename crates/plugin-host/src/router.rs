//! Routing one event through its chain of plugins, and direct plugin-to-plugin calls.
//!
//! Invariant: a plugin's panic, error or overrun is recorded as that plugin's outcome and the
//! chain goes on; nothing a plugin does ends a dispatch early except `should_continue: false`.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chronicle_host_ports::Actor;
use chronicle_plugin_api::{
    Delivery, Event, HandlerOutcome, JsonMap, Plugin, PluginContext, PluginResult,
};
use futures_util::FutureExt;
use serde_json::Value;

use crate::condition::{TranscriptView, Verdict};
use crate::host::{Health, HostInner, PluginHost, Slot};
use crate::record::{CallRecorder, DispatchRecord, PluginOutcome, Status};
use crate::services::HostServices;

/// One event to route.
#[derive(Clone, Debug)]
pub struct DispatchRequest {
    /// The event.
    pub event: Event,
    /// Its user.
    pub user_id: String,
    /// Its data, shared read-only by all plugins.
    pub data: JsonMap,
    /// Initial metadata, handed along the chain.
    pub metadata: JsonMap,
}

impl DispatchRequest {
    /// An event with data and no metadata.
    pub fn new(event: Event, user_id: impl Into<String>, data: JsonMap) -> Self {
        Self {
            event,
            user_id: user_id.into(),
            data,
            metadata: JsonMap::new(),
        }
    }
}

/// How a guarded call ended.
pub(crate) enum Invocation<T> {
    Returned(T),
    Panicked(String),
    TimedOut(Duration),
}

/// Runs `future` with a deadline, turning a panic into a value.
pub(crate) async fn guard<T>(deadline: Duration, future: impl Future<Output = T>) -> Invocation<T> {
    match tokio::time::timeout(deadline, AssertUnwindSafe(future).catch_unwind()).await {
        Ok(Ok(value)) => Invocation::Returned(value),
        Ok(Err(payload)) => Invocation::Panicked(panic_message(payload.as_ref())),
        Err(_) => Invocation::TimedOut(deadline),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

type HandlerFuture<'a> = Pin<Box<dyn Future<Output = HandlerOutcome> + Send + 'a>>;

/// The handler of `plugin` for the context's event.
fn handler<'a>(plugin: &'a dyn Plugin, ctx: &'a mut PluginContext) -> HandlerFuture<'a> {
    match ctx.event {
        Event::TranscriptStreaming | Event::TranscriptBatch => plugin.on_transcript(ctx),
        Event::ConversationComplete => plugin.on_conversation_complete(ctx),
        Event::MemoryProcessed => plugin.on_memory_processed(ctx),
        Event::ConversationStarred => plugin.on_conversation_starred(ctx),
        Event::ButtonSinglePress | Event::ButtonDoublePress | Event::ButtonLongPress => {
            plugin.on_button_event(ctx)
        }
        Event::PluginAction => plugin.on_plugin_action(ctx),
    }
}

/// A process-wide unique event id: a random prefix drawn once per process, then a counter.
/// Cheaper than a random UUID per event (no system call on the hot path) and unique across
/// restarts all the same.
fn next_event_id() -> Arc<str> {
    static PREFIX: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Arc::from(format!("{}-{n:x}", *PREFIX))
}

fn millis(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Why a slot cannot take events now, if it cannot.
pub(crate) fn unavailable_reason(slot: &Slot) -> Option<String> {
    let error = || slot.error().unwrap_or_default();
    match slot.health() {
        Health::Initialized if slot.instance.is_some() => None,
        Health::Disabled => Some("disabled in plugins.yml".to_owned()),
        Health::Degraded => Some(format!("not initialized (degraded): {}", error())),
        Health::Failed => Some(format!("not initialized (failed): {}", error())),
        Health::Registered | Health::Initialized => Some("not initialized".to_owned()),
    }
}

/// Whether a slot takes an event now.
pub(crate) enum Admission {
    /// Call it, with what its condition adds to the data.
    Run(JsonMap),
    /// Not this time: disabled, condition not met, or the chain stopped.
    Skip(String),
    /// It would (with these extras), but it is not initialized (degraded, failed,
    /// restarting), for this reason.
    Unavailable(JsonMap, String),
}

/// One call of one plugin's handler.
pub(crate) struct SlotCall<'a> {
    pub event: Event,
    pub user_id: &'a Arc<str>,
    pub data: Arc<JsonMap>,
    pub metadata: JsonMap,
    pub event_id: &'a Arc<str>,
    pub attempt: u32,
    pub recorder: &'a CallRecorder,
}

impl PluginHost {
    /// Routes one event through every subscribed plugin, in priority order, and returns (and
    /// logs) the record of what each did.
    pub async fn dispatch(&self, request: DispatchRequest) -> Arc<DispatchRecord> {
        let inner = &self.inner;
        let started_at = SystemTime::now();
        let clock = Instant::now();
        let event = request.event;
        let user_id: Arc<str> = Arc::from(request.user_id);
        let event_id = next_event_id();
        let data = Arc::new(request.data);
        let mut transcript = TranscriptView::new(&data);
        let recorder = CallRecorder::default();
        let mut metadata = request.metadata;
        let chain = &inner.chains[event.index()];
        let mut outcomes = Vec::with_capacity(chain.len());
        let mut stopped_by: Option<Arc<str>> = None;

        for &index in chain {
            let slot = &inner.slots[index];
            let extras = match inner.admit(index, event, &mut transcript, stopped_by.as_deref()) {
                Admission::Run(extras) => extras,
                Admission::Skip(reason) | Admission::Unavailable(_, reason) => {
                    outcomes.push(PluginOutcome::skipped(&slot.id, reason));
                    continue;
                }
            };
            let call = SlotCall {
                event,
                user_id: &user_id,
                data: with_extras(&data, extras),
                metadata: std::mem::take(&mut metadata),
                event_id: &event_id,
                attempt: 1,
                recorder: &recorder,
            };
            let outcome;
            (outcome, metadata) = self.call_slot(index, call).await;
            if outcome.stops_chain() {
                stopped_by = Some(Arc::clone(&slot.id));
            }
            outcomes.push(outcome);
        }

        let record = Arc::new(DispatchRecord {
            event,
            user_id,
            plugins: outcomes,
            metadata,
            services: recorder.take(),
            event_id,
            data,
            started_at,
            duration_ms: millis(clock),
        });
        inner.backends.event_log.record(Arc::clone(&record));
        record
    }

    /// Calls slot `index`'s handler for `call`, guarded, and returns its outcome and the
    /// metadata as the plugin left it.
    pub(crate) async fn call_slot(
        &self,
        index: usize,
        call: SlotCall<'_>,
    ) -> (PluginOutcome, JsonMap) {
        let slot = &self.inner.slots[index];
        let Some(plugin) = &slot.instance else {
            let reason = unavailable_reason(slot).unwrap_or_else(|| "not initialized".into());
            return (PluginOutcome::skipped(&slot.id, reason), call.metadata);
        };
        let timeout = slot.timeout_for(call.event);
        let mut ctx = PluginContext {
            user_id: Arc::clone(call.user_id),
            event: call.event,
            data: call.data,
            metadata: call.metadata,
            services: Arc::new(HostServices {
                host: Arc::downgrade(&self.inner),
                plugin_id: Arc::clone(&slot.id),
                actor: Actor::User(Arc::clone(call.user_id)),
                grants: slot.grants,
                depth: 0,
                recorder: call.recorder.clone(),
            }),
            delivery: Delivery {
                event_id: Arc::clone(call.event_id),
                plugin_id: Arc::clone(&slot.id),
                attempt: call.attempt,
                deadline: SystemTime::now() + timeout,
            },
        };
        let call_started = Instant::now();
        let invocation = guard(timeout, handler(plugin.as_ref(), &mut ctx)).await;
        let duration_ms = millis(call_started);
        let (status, reason, result) = match invocation {
            Invocation::Returned(Ok(Some(result))) => (Status::Executed, None, Some(result)),
            Invocation::Returned(Ok(None)) => (Status::Declined, None, None),
            Invocation::Returned(Err(error)) => (Status::Failed, Some(error.message), None),
            Invocation::Panicked(message) => {
                (Status::Failed, Some(format!("panicked: {message}")), None)
            }
            Invocation::TimedOut(after) => (
                Status::TimedOut,
                Some(format!("no answer within {:.1} s", after.as_secs_f64())),
                None,
            ),
        };
        if let Some(reason) = &reason {
            tracing::warn!(plugin = %slot.id, event = %call.event, ?status, error = %reason, "Plugin call failed.");
        }
        let outcome = PluginOutcome {
            plugin_id: Arc::clone(&slot.id),
            status,
            reason,
            result,
            duration_ms,
        };
        (outcome, std::mem::take(&mut ctx.metadata))
    }
}

/// `data` with `extras` added, shared when there are none.
pub(crate) fn with_extras(data: &Arc<JsonMap>, extras: JsonMap) -> Arc<JsonMap> {
    if extras.is_empty() {
        Arc::clone(data)
    } else {
        let mut copy = (**data).clone();
        copy.extend(extras);
        Arc::new(copy)
    }
}

impl HostInner {
    /// Whether slot `index` takes `event` now, given who stopped the chain, if anyone.
    pub(crate) fn admit(
        &self,
        index: usize,
        event: Event,
        transcript: &mut TranscriptView,
        stopped_by: Option<&str>,
    ) -> Admission {
        let slot = &self.slots[index];
        if slot.health() == Health::Disabled {
            return Admission::Skip("disabled in plugins.yml".to_owned());
        }
        if let Some(by) = stopped_by {
            return Admission::Skip(format!("chain stopped by `{by}`"));
        }
        match slot.spec.condition.evaluate(event, transcript) {
            Verdict::Skip => Admission::Skip(format!(
                "condition `{}` not met",
                slot.spec.condition.type_name()
            )),
            Verdict::Run(extras) => {
                let extras = extras.into_iter().collect();
                match unavailable_reason(slot) {
                    Some(reason) => Admission::Unavailable(extras, reason),
                    None => Admission::Run(extras),
                }
            }
        }
    }

    /// Calls `target`'s `on_plugin_action` directly: no condition, no event log. Every way the
    /// call can go wrong becomes a failed result that says why.
    pub(crate) async fn call_action(
        self: &Arc<Self>,
        target: &str,
        action: &str,
        mut data: JsonMap,
        actor: Actor,
        depth: u8,
        recorder: &CallRecorder,
    ) -> Option<PluginResult> {
        let Some(slot) = self.slots.iter().find(|slot| *slot.id == *target) else {
            return Some(PluginResult::failure(format!(
                "Plugin '{target}' not found"
            )));
        };
        if !slot.spec.enabled {
            return Some(PluginResult::failure(format!(
                "Plugin '{target}' is disabled"
            )));
        }
        let (Some(plugin), None) = (&slot.instance, unavailable_reason(slot)) else {
            let reason = unavailable_reason(slot).unwrap_or_default();
            return Some(PluginResult::failure(format!(
                "Plugin '{target}' is {reason}"
            )));
        };
        data.insert("action".into(), Value::from(action));
        let timeout = slot.timeout_for(Event::PluginAction);
        let mut ctx = PluginContext {
            user_id: actor.user_id(),
            event: Event::PluginAction,
            data: Arc::new(data),
            metadata: JsonMap::new(),
            services: Arc::new(HostServices {
                host: Arc::downgrade(self),
                plugin_id: Arc::clone(&slot.id),
                actor,
                grants: slot.grants,
                depth,
                recorder: recorder.clone(),
            }),
            delivery: Delivery {
                event_id: next_event_id(),
                plugin_id: Arc::clone(&slot.id),
                attempt: 1,
                deadline: SystemTime::now() + timeout,
            },
        };
        match guard(timeout, plugin.on_plugin_action(&mut ctx)).await {
            Invocation::Returned(Ok(result)) => result,
            Invocation::Returned(Err(error)) => Some(PluginResult::failure(format!(
                "Plugin action failed: {error}"
            ))),
            Invocation::Panicked(message) => Some(PluginResult::failure(format!(
                "Plugin action failed: panicked: {message}"
            ))),
            Invocation::TimedOut(after) => Some(PluginResult::failure(format!(
                "Plugin action failed: '{target}' gave no answer within {:.1} s",
                after.as_secs_f64()
            ))),
        }
    }
}
