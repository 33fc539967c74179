//! Live dispatch of one event through its chain, and direct plugin-to-plugin calls.

use std::sync::Arc;
use std::time::SystemTime;

use chronicle_host_ports::Actor;
use chronicle_plugin_api::{Delivery, Event, EventData, JsonMap, PluginContext, PluginResult};
use serde_json::Value;

use crate::chain::{ChainState, Live, Walk, next_event_id};
use crate::guard::{Invocation, guard};
use crate::host::PluginHost;
use crate::record::{CallRecorder, DispatchRecord};
use crate::services::HostServices;
use crate::slot::{HostInner, unavailable_reason};

/// One event to route.
#[derive(Clone, Debug)]
pub struct DispatchRequest {
    /// The event.
    pub event: Event,
    /// Its user.
    pub user_id: Arc<str>,
    /// Its data, shared read-only by all plugins (and by whoever sent it: nothing is copied).
    pub data: Arc<JsonMap>,
    /// Initial metadata, handed along the chain.
    pub metadata: JsonMap,
}

impl DispatchRequest {
    /// An event with data and no metadata.
    pub fn new(event: Event, user_id: impl Into<Arc<str>>, data: impl Into<Arc<JsonMap>>) -> Self {
        Self {
            event,
            user_id: user_id.into(),
            data: data.into(),
            metadata: JsonMap::new(),
        }
    }
}

impl PluginHost {
    /// Routes one event through every subscribed plugin, in priority order, and returns (and
    /// logs) the record of what each did.
    pub async fn dispatch(&self, request: DispatchRequest) -> Arc<DispatchRecord> {
        let walk = Walk {
            event: request.event,
            user_id: request.user_id,
            event_id: next_event_id(),
            data: request.data,
            chain: ChainState {
                metadata: request.metadata,
                stopped_by: None,
            },
        };
        let Ok(record) = self.walk(walk, &mut Live).await;
        record
    }
}

impl HostInner {
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
            data: EventData::from(data),
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
