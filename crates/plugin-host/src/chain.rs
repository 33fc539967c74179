//! Walking one event's chain of plugins: the one walk that live and durable dispatch share.
//!
//! The walk takes each plugin subscribed to the event in priority order, admits it (enabled,
//! chain not stopped, condition met, initialized), calls it guarded with one context built in
//! one place ([`PluginHost::call_slot`]), hands the metadata on, and builds the dispatch record.
//! What varies is the [`Journal`]: a live event keeps nothing but its record ([`Live`]); a
//! terminal event writes each step to the durable queue before the call (the dispatcher's
//! journal, in `delivery/lanes.rs`).
//!
//! Invariant: a plugin's panic, error or overrun is recorded as that plugin's outcome and the
//! chain goes on; nothing a plugin does ends a walk early except `should_continue: false`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use chronicle_host_ports::Actor;
use chronicle_plugin_api::{
    Delivery, Event, EventData, HandlerOutcome, JsonMap, Plugin, PluginContext,
};

use serde_json::Value;

use crate::condition::{TranscriptView, Verdict};
use crate::guard::{Invocation, guard};
use crate::host::PluginHost;
use crate::record::{CallRecorder, DispatchRecord, PluginOutcome, Status};
use crate::services::HostServices;
use crate::slot::{Health, HostInner, Slot, unavailable_reason};

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
        Event::WakeWordDetected => plugin.on_wake_word_detected(ctx),
    }
}

/// A process-wide unique event id: a random prefix drawn once per process, then a counter.
/// Cheaper than a random UUID per event (no system call on the hot path) and unique across
/// restarts all the same.
pub(crate) fn next_event_id() -> Arc<str> {
    static PREFIX: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Written by hand rather than with `format!`: this runs for every live event.
    let mut id = [0u8; 12 + 1 + 16];
    id[..12].copy_from_slice(&PREFIX.as_bytes()[..12]);
    id[12] = b'-';
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1) as usize;
    for (i, byte) in id[13..13 + digits].iter_mut().enumerate() {
        let nibble = (n >> (4 * (digits - 1 - i))) & 0xf;
        *byte = b"0123456789abcdef"[nibble as usize];
    }
    Arc::from(std::str::from_utf8(&id[..13 + digits]).unwrap_or("event"))
}

pub(crate) fn millis(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Whether a slot takes an event now.
pub(crate) enum Admission {
    /// Call it, with what its condition adds to the data.
    Run(Vec<(String, Value)>),
    /// Not this time: disabled, condition not met, or the chain stopped.
    Skip(Arc<str>),
    /// It would (with these extras), but it is not initialized (degraded, failed,
    /// restarting), for this reason.
    Unavailable(Vec<(String, Value)>, String),
}

/// One call of one plugin's handler.
pub(crate) struct SlotCall<'a> {
    pub event: Event,
    pub user_id: &'a Arc<str>,
    pub data: EventData,
    pub metadata: JsonMap,
    pub event_id: &'a Arc<str>,
    pub attempt: u32,
    pub recorder: &'a CallRecorder,
}

/// The chain's running state, handed from plugin to plugin.
pub(crate) struct ChainState {
    /// The metadata as the last plugin left it.
    pub metadata: JsonMap,
    /// The plugin that stopped the chain (`should_continue: false`), if one did.
    pub stopped_by: Option<Arc<str>>,
}

/// What the journal decided for one admitted-or-not plugin.
pub(crate) enum Step {
    /// Not called; recorded as skipped, for this reason.
    Skip(Arc<str>),
    /// Call it, as this attempt, with what its condition adds to the data.
    Call {
        attempt: u32,
        extras: Vec<(String, Value)>,
    },
    /// Not called and not part of this walk's record (already settled elsewhere).
    Pass,
}

/// What a walk writes down as it goes; the one thing live and durable dispatch do differently.
pub(crate) trait Journal: Send {
    /// Why a step cannot be written (the durable queue refused).
    type Error: Send;

    /// Whether `plugin_id` was passed before this walk (a chain resumed after a restart).
    fn passed_before(&self, plugin_id: &str) -> bool;

    /// Writes down what happens at `slot`, given its admission and the chain so far.
    fn step(
        &mut self,
        slot: &Slot,
        admission: Admission,
        chain: &ChainState,
    ) -> impl Future<Output = Result<Step, Self::Error>> + Send;

    /// Writes down how a call that [`Step::Call`] asked for ended.
    fn called(&mut self, slot: &Slot, outcome: &PluginOutcome, attempt: u32);

    /// Writes down that the walk reached the end of the chain.
    fn finish(
        &mut self,
        chain: &ChainState,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// The journal of a live event: nothing to write but the record.
pub(crate) struct Live;

impl Journal for Live {
    type Error = Infallible;

    fn passed_before(&self, _plugin_id: &str) -> bool {
        false
    }

    async fn step(
        &mut self,
        _slot: &Slot,
        admission: Admission,
        _chain: &ChainState,
    ) -> Result<Step, Infallible> {
        Ok(match admission {
            Admission::Run(extras) => Step::Call { attempt: 1, extras },
            Admission::Skip(reason) => Step::Skip(reason),
            Admission::Unavailable(_, reason) => Step::Skip(reason.into()),
        })
    }

    fn called(&mut self, _slot: &Slot, _outcome: &PluginOutcome, _attempt: u32) {}

    async fn finish(&mut self, _chain: &ChainState) -> Result<(), Infallible> {
        Ok(())
    }
}

/// One event about to walk its chain.
pub(crate) struct Walk {
    pub event: Event,
    pub user_id: Arc<str>,
    pub event_id: Arc<str>,
    pub data: Arc<JsonMap>,
    pub chain: ChainState,
}

impl PluginHost {
    /// Walks `walk`'s chain with `journal`, then logs and returns the record of what each
    /// plugin did.
    pub(crate) async fn walk<J: Journal>(
        &self,
        walk: Walk,
        journal: &mut J,
    ) -> Result<Arc<DispatchRecord>, J::Error> {
        let inner = &self.inner;
        let started_at = SystemTime::now();
        let clock = Instant::now();
        let Walk {
            event,
            user_id,
            event_id,
            data,
            mut chain,
        } = walk;
        let mut transcript = TranscriptView::new(&data);
        let recorder = CallRecorder::default();
        let slots = &inner.chains[event.index()];
        let mut outcomes = Vec::with_capacity(slots.len());

        for &index in slots {
            let slot = &inner.slots[index];
            if journal.passed_before(&slot.id) {
                continue;
            }
            let admission = inner.admit(index, event, &mut transcript, chain.stopped_by.as_deref());
            match journal.step(slot, admission, &chain).await? {
                Step::Skip(reason) => outcomes.push(PluginOutcome::skipped(&slot.id, reason)),
                Step::Pass => {}
                Step::Call { attempt, extras } => {
                    let call = SlotCall {
                        event,
                        user_id: &user_id,
                        data: EventData::new(Arc::clone(&data), extras),
                        metadata: std::mem::take(&mut chain.metadata),
                        event_id: &event_id,
                        attempt,
                        recorder: &recorder,
                    };
                    let outcome;
                    (outcome, chain.metadata) = self.call_slot(index, call).await;
                    if outcome.stops_chain() {
                        chain.stopped_by = Some(Arc::clone(&slot.id));
                    }
                    journal.called(slot, &outcome, attempt);
                    outcomes.push(outcome);
                }
            }
        }
        journal.finish(&chain).await?;
        let walked = Walk {
            event,
            user_id,
            event_id,
            data,
            chain,
        };
        Ok(self.log(walked, outcomes, &recorder, started_at, clock))
    }

    /// Calls slot `index` alone, outside any chain (a retry, a held delivery, a replay), with
    /// `walk`'s event and metadata as this `attempt`; logs it as a one-plugin record and
    /// returns the plugin's outcome.
    pub(crate) async fn call_alone(&self, index: usize, walk: Walk, attempt: u32) -> PluginOutcome {
        let started_at = SystemTime::now();
        let clock = Instant::now();
        let recorder = CallRecorder::default();
        let Walk {
            event,
            user_id,
            event_id,
            data,
            chain,
        } = walk;
        let call = SlotCall {
            event,
            user_id: &user_id,
            data: Arc::clone(&data).into(),
            metadata: chain.metadata,
            event_id: &event_id,
            attempt,
            recorder: &recorder,
        };
        let (outcome, metadata) = self.call_slot(index, call).await;
        let called = Walk {
            event,
            user_id,
            event_id,
            data,
            chain: ChainState {
                metadata,
                stopped_by: None,
            },
        };
        self.log(called, vec![outcome.clone()], &recorder, started_at, clock);
        outcome
    }

    /// The record of what `walk` met, logged.
    fn log(
        &self,
        walk: Walk,
        plugins: Vec<PluginOutcome>,
        recorder: &CallRecorder,
        started_at: SystemTime,
        clock: Instant,
    ) -> Arc<DispatchRecord> {
        let record = Arc::new(DispatchRecord {
            event: walk.event,
            user_id: walk.user_id,
            plugins,
            metadata: walk.chain.metadata,
            services: recorder.take(),
            event_id: walk.event_id,
            data: walk.data,
            started_at,
            duration_ms: millis(clock),
        });
        self.inner.backends.event_log.record(Arc::clone(&record));
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
            reason: reason.map(Arc::from),
            result,
            duration_ms,
        };
        (outcome, std::mem::take(&mut ctx.metadata))
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
            return Admission::Skip(Arc::clone(&slot.skip_reasons.disabled));
        }
        if let Some(by) = stopped_by {
            return Admission::Skip(format!("chain stopped by `{by}`").into());
        }
        match slot.spec.condition.evaluate(event, transcript) {
            Verdict::Skip => Admission::Skip(Arc::clone(&slot.skip_reasons.not_met)),
            Verdict::Run(extras) => match unavailable_reason(slot) {
                Some(reason) => Admission::Unavailable(extras, reason),
                None => Admission::Run(extras),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_a_process_prefix_and_a_hex_counter() {
        let first = next_event_id();
        let second = next_event_id();
        let (prefix, count) = first.split_once('-').expect("prefix-counter");
        let (prefix_2, count_2) = second.split_once('-').expect("prefix-counter");
        assert_eq!(prefix.len(), 12);
        assert_eq!(prefix, prefix_2);
        let count = u64::from_str_radix(count, 16).expect("hex");
        let count_2 = u64::from_str_radix(count_2, 16).expect("hex");
        assert!(count_2 > count, "{first} then {second}");
    }
}
