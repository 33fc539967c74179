//! Terminal events in lanes, and each event's chain walked with the durable journal.
//!
//! Events of one conversation (or, for events about none, of one user) form a lane and run
//! one at a time in queue order; lanes run in parallel, users taking turns. Each step of a
//! chain is written to the queue before its call ([`Durable`]), so a crash resumes there.

use std::collections::VecDeque;
use std::sync::Arc;

use chronicle_host_ports::BackendError;
use chronicle_host_ports::delivery::{
    AttemptEnd, ChainProgress, ChainStep, QueuedEvent, Reach, Reached,
};

use super::policy::attempt_end;
use super::{Busy, Inner, State, lock};
use crate::chain::{Admission, ChainState, Journal, Step, Walk};
use crate::record::PluginOutcome;
use crate::slot::{Slot, unavailable_reason};

/// Events read from the queue and held in memory at most; more wait on disk.
const BACKLOG: usize = 4096;
/// Events read per query.
const READ_BATCH: usize = 256;

impl Inner {
    /// Reads new events into their lanes whenever woken, and at every poll.
    pub(super) async fn feed_loop(self: Arc<Self>) {
        let mut stopping = self.stopping.subscribe();
        loop {
            if self.stopping() {
                return;
            }
            if let Err(error) = self.read_events().await {
                tracing::warn!(%error, "Could not read the delivery queue; trying again.");
            }
            tokio::select! {
                () = self.feed.notified() => {}
                () = tokio::time::sleep(self.settings.poll) => {}
                _ = stopping.changed() => {}
            }
        }
    }

    async fn read_events(self: &Arc<Self>) -> Result<(), BackendError> {
        loop {
            let after = {
                let mut state = lock(&self.state);
                state.capped = state.known.len() >= BACKLOG;
                if state.capped {
                    return Ok(());
                }
                state.read_up_to
            };
            let events = self.queue.unfinished_events(after, READ_BATCH).await?;
            let Some(last) = events.last().map(|event| event.seq) else {
                return Ok(());
            };
            let mut state = lock(&self.state);
            if state.read_up_to < after {
                // A lane rewound the reading while this read was out: read again from there.
                continue;
            }
            state.read_up_to = state.read_up_to.max(last);
            for event in events {
                if !state.known.insert(event.seq) {
                    continue;
                }
                let lane = event.lane.clone();
                let user = event.user_id.clone();
                let queued = state.lanes.entry(lane.clone()).or_default();
                queued.push_back(event);
                if queued.len() == 1 && !state.active.contains_key(&lane) {
                    if !state.ready.contains_key(&user) {
                        state.turns.push_back(user.clone());
                    }
                    state.ready.entry(user).or_default().push_back(lane);
                }
            }
            self.start_lanes(&mut state);
        }
    }

    /// Starts a task for ready lanes while there is room, taking users in turn.
    fn start_lanes(self: &Arc<Self>, state: &mut State) {
        let per_user = (self.settings.lanes / 2).max(1);
        while state.active.len() < self.settings.lanes && !self.stopping() {
            let crowded = state.turns.len() > 1;
            let Some(position) = state.turns.iter().position(|user| {
                !crowded || state.active_per_user.get(user).copied().unwrap_or(0) < per_user
            }) else {
                return;
            };
            let Some(user) = state.turns.remove(position) else {
                return;
            };
            let Some(lane) = state.ready.get_mut(&user).and_then(VecDeque::pop_front) else {
                state.ready.remove(&user);
                continue;
            };
            if state
                .ready
                .get(&user)
                .is_some_and(|lanes| !lanes.is_empty())
            {
                state.turns.push_back(user.clone());
            } else {
                state.ready.remove(&user);
            }
            state.active.insert(lane.clone(), user.clone());
            *state.active_per_user.entry(user).or_default() += 1;
            tokio::spawn(Arc::clone(self).run_lane(lane));
        }
    }

    /// Runs the lane's events one after the other until it is empty.
    async fn run_lane(self: Arc<Self>, lane: String) {
        loop {
            let next = {
                let mut state = lock(&self.state);
                let next = match state.lanes.get_mut(&lane) {
                    Some(queued) if !self.stopping() => queued.pop_front(),
                    _ => None,
                };
                if next.is_none() {
                    self.end_lane(&mut state, &lane);
                }
                next
            };
            let Some(event) = next else {
                return;
            };
            let seq = event.seq;
            let finished = self.run_chain(event).await;
            let mut state = lock(&self.state);
            state.known.remove(&seq);
            if let Err(error) = finished {
                // Left unfinished in the queue: read again (from there) after a pause.
                tracing::warn!(%error, seq, "Could not record a delivery step; will resume the chain.");
                state.read_up_to = state.read_up_to.min(seq - 1);
                if let Some(queued) = state.lanes.remove(&lane) {
                    for later in queued {
                        state.known.remove(&later.seq);
                    }
                }
                self.end_lane(&mut state, &lane);
                drop(state);
                let inner = Arc::clone(&self);
                tokio::spawn(async move {
                    tokio::time::sleep(inner.settings.poll).await;
                    inner.feed.notify_one();
                });
                return;
            }
            if state.capped && state.known.len() < BACKLOG / 2 {
                state.capped = false;
                self.feed.notify_one();
            }
        }
    }

    /// Frees the lane's slot and gives it to the next ready lane.
    fn end_lane(self: &Arc<Self>, state: &mut State, lane: &str) {
        state.lanes.remove(lane);
        if let Some(user) = state.active.remove(lane)
            && let Some(count) = state.active_per_user.get_mut(&user)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                state.active_per_user.remove(&user);
            }
        }
        self.start_lanes(state);
    }

    /// Walks `event`'s chain from where it stopped, recording each step.
    async fn run_chain(self: &Arc<Self>, event: QueuedEvent) -> Result<(), BackendError> {
        let _busy = Busy::new(&self.state);
        let host = (self.hosts)();
        let mut progress = event.progress;
        let walk = Walk {
            event: event.event,
            user_id: Arc::from(event.user_id.as_str()),
            event_id: Arc::from(event.event_id.as_str()),
            data: Arc::new(event.data),
            chain: ChainState {
                metadata: std::mem::take(&mut progress.metadata),
                stopped_by: progress.stopped_by.as_deref().map(Arc::from),
            },
        };
        let mut journal = Durable {
            dispatcher: self,
            seq: event.seq,
            progress,
            ended: None,
            calling: None,
            left_for_later: false,
        };
        host.walk(walk, &mut journal).await?;
        Ok(())
    }
}

/// The journal of a terminal event: each step goes to the durable queue before the call, and
/// each call's end with the next step, in one transaction.
struct Durable<'a> {
    dispatcher: &'a Inner,
    seq: i64,
    progress: ChainProgress,
    /// How the last call ended, written with the next step.
    ended: Option<AttemptEnd>,
    /// The delivery being called now.
    calling: Option<i64>,
    /// Whether a delivery of this chain failed, waits or is held: the retry loop looks.
    left_for_later: bool,
}

impl Durable<'_> {
    /// The progress as the queue stores it: where the chain is now.
    fn sync(&mut self, chain: &ChainState) {
        self.progress.metadata.clone_from(&chain.metadata);
        self.progress.stopped_by = chain.stopped_by.as_deref().map(str::to_owned);
    }
}

impl Journal for Durable<'_> {
    type Error = BackendError;

    fn passed_before(&self, plugin_id: &str) -> bool {
        self.progress
            .passed
            .iter()
            .any(|passed| passed == plugin_id)
    }

    async fn step(
        &mut self,
        slot: &Slot,
        admission: Admission,
        chain: &ChainState,
    ) -> Result<Step, BackendError> {
        let (extras, wait) = match admission {
            Admission::Skip(reason) => {
                self.progress.passed.push(slot.id.to_string());
                return Ok(Step::Skip(reason));
            }
            Admission::Unavailable(extras, reason) => {
                let due = self.dispatcher.settings.unavailable_until();
                (extras, Some((due, reason)))
            }
            Admission::Run(extras) => (extras, None),
        };
        self.sync(chain);
        let reach = Reach {
            plugin_id: slot.id.to_string(),
            metadata: chain.metadata.clone(),
            extras: extras.iter().cloned().collect(),
            wait,
        };
        let reached = self
            .dispatcher
            .queue
            .advance(
                self.seq,
                &self.progress,
                self.ended.take(),
                ChainStep::Reach(reach),
            )
            .await?;
        self.progress.passed.push(slot.id.to_string());
        Ok(match reached {
            Some(Reached::Call {
                delivery_id,
                attempt,
            }) => {
                self.calling = Some(delivery_id);
                Step::Call { attempt, extras }
            }
            Some(Reached::Held { .. }) => {
                self.left_for_later = true;
                Step::Skip("held behind an earlier event of this conversation".into())
            }
            Some(Reached::Waiting { .. }) => {
                self.left_for_later = true;
                lock(&self.dispatcher.state)
                    .awaited
                    .insert(slot.id.to_string());
                Step::Skip(match unavailable_reason(slot) {
                    Some(reason) => format!("{reason}; the delivery waits for it").into(),
                    None => "the delivery waits for the plugin".into(),
                })
            }
            Some(Reached::Settled) | None => Step::Pass,
        })
    }

    fn called(&mut self, slot: &Slot, outcome: &PluginOutcome, attempt: u32) {
        let Some(delivery_id) = self.calling.take() else {
            return;
        };
        let ended = attempt_end(
            delivery_id,
            outcome,
            attempt,
            slot.spec.max_retries,
            &self.dispatcher.settings,
        );
        self.left_for_later |= !ended.status.is_settled();
        self.ended = Some(ended);
    }

    async fn finish(&mut self, chain: &ChainState) -> Result<(), BackendError> {
        self.sync(chain);
        self.dispatcher
            .queue
            .advance(
                self.seq,
                &self.progress,
                self.ended.take(),
                ChainStep::Finish,
            )
            .await?;
        if self.left_for_later {
            self.dispatcher.retry.notify_one();
        }
        Ok(())
    }
}
