//! Durable delivery of terminal events: the [`Dispatcher`] walks each queued event's chain,
//! recording its progress in the [`DeliveryQueue`] after every plugin, and retries failed
//! deliveries on their own with backoff until they succeed or die.
//!
//! - **Lanes.** Events of one conversation (or, for events about none, of one user) form a
//!   lane, run one event at a time in queue order, so each plugin sees them in the order they
//!   were produced. Different lanes run in parallel, at most [`DeliverySettings::lanes`] at
//!   once and, while others wait, at most half of them for one user, taken round-robin.
//! - **Retries** run outside the chain, at most [`DeliverySettings::retries`] at once and
//!   [`DeliverySettings::retries_per_plugin`] per plugin, so one failing plugin cannot take
//!   the others' turn. A later event of a lane waits ("held") behind an earlier delivery to
//!   the same plugin that has not settled.
//! - **Crash safety.** What the chain is about to call is written before the call; after a
//!   restart the chain resumes there (a new attempt, the same idempotency key). Deliveries
//!   are therefore *at least once*: a plugin may see an event again after a crash, never not
//!   at all.
//! - A plugin that is subscribed but not initialized (degraded, failed, restarting) gets a
//!   delivery that waits for it without spending attempts; a plugin no longer enabled or
//!   subscribed when its retry comes ends the delivery as dead, so it can be replayed later.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use chronicle_host_ports::BackendError;
use chronicle_host_ports::delivery::{
    AttemptEnd, DeliveryQueue, DeliveryStatus, DueDelivery, QueuedEvent, Reach, Reached, now_ms,
};
use tokio::sync::Notify;

use crate::condition::TranscriptView;
use crate::host::PluginHost;
use crate::record::{CallRecorder, DispatchRecord, PluginOutcome, Status};
use crate::router::{Admission, SlotCall, unavailable_reason, with_extras};

/// The plugin host in service now (the server swaps it on reload).
pub type HostSource = Arc<dyn Fn() -> PluginHost + Send + Sync>;

/// How the dispatcher paces itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Chains run at once.
    pub lanes: usize,
    /// Retries (and held or replayed deliveries) run at once.
    pub retries: usize,
    /// Retries of one plugin run at once.
    pub retries_per_plugin: usize,
    /// The delay before the first retry; it doubles with each attempt.
    pub base_delay: Duration,
    /// The longest delay between attempts.
    pub max_delay: Duration,
    /// How long a delivery to a plugin that cannot take events waits before it looks again.
    pub unavailable_wait: Duration,
    /// How often the queue is read for events other processes wrote, and for due retries.
    pub poll: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            lanes: 32,
            retries: 16,
            retries_per_plugin: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(600),
            unavailable_wait: Duration::from_secs(30),
            poll: Duration::from_secs(1),
        }
    }
}

/// Events read from the queue and held in memory at most; more wait on disk.
const BACKLOG: usize = 4096;
/// Events read per query.
const READ_BATCH: usize = 256;

/// The delay before attempt `attempt + 1`: `base · 2^(attempt-1)`, capped, plus up to a
/// quarter more at random, so deliveries that failed together do not retry together. Never
/// sooner than the exponential delay, never later than the cap.
pub fn retry_delay(attempt: u32, base: Duration, cap: Duration, random: f64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(32);
    let delay = base.saturating_mul(1u32 << doublings.min(31)).min(cap);
    delay.mul_f64(1.0 + 0.25 * random.clamp(0.0, 1.0)).min(cap)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Runs the durable queue. Cheap to clone; dropping every clone does not stop it: call
/// [`Dispatcher::shutdown`].
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    /// `false` on standby: another process delivers this queue.
    active: std::sync::atomic::AtomicBool,
    /// The file whose lock makes this process the one that delivers, if one does.
    lock_path: Option<std::path::PathBuf>,
    /// The locked file while this process holds it (the OS releases it when we end).
    lock: Mutex<Option<std::fs::File>>,
    queue: Arc<dyn DeliveryQueue>,
    hosts: HostSource,
    settings: DeliverySettings,
    state: Mutex<State>,
    /// New events in the queue, or room in the backlog.
    feed: Notify,
    /// A delivery may have fallen due.
    retry: Notify,
    /// Shutdown was asked for.
    stopping: tokio::sync::watch::Sender<bool>,
}

#[derive(Default)]
struct State {
    /// Events in memory per lane, oldest first.
    lanes: HashMap<String, VecDeque<QueuedEvent>>,
    /// Lanes with events and no task, per user, in arrival order.
    ready: HashMap<String, VecDeque<String>>,
    /// Users in the order they get turns.
    turns: VecDeque<String>,
    /// Lanes with a task, and their users.
    active: HashMap<String, String>,
    /// Active lanes per user.
    active_per_user: HashMap<String, usize>,
    /// Events in memory (waiting or running), so a re-read does not take one twice.
    known: HashSet<i64>,
    /// The highest `seq` read from the queue.
    read_up_to: i64,
    /// Retries running, per plugin.
    retrying: HashMap<String, usize>,
    /// Steps being written or plugins being called now (chains and retries).
    busy: usize,
    /// Reading stopped at [`BACKLOG`]: read again once lanes have drained some.
    capped: bool,
    /// Plugins that deliveries wait for (not initialized when their turn came).
    awaited: HashSet<String>,
}

impl State {
    fn retries_running(&self) -> usize {
        self.retrying.values().sum()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Dispatcher {
    /// Recovers what a stopped process left running, then starts working through `queue`
    /// with the plugins `hosts` gives.
    pub async fn start(
        queue: Arc<dyn DeliveryQueue>,
        hosts: HostSource,
        settings: DeliverySettings,
    ) -> Result<Self, BackendError> {
        let dispatcher = Self::new(queue, hosts, settings, None);
        Arc::clone(&dispatcher.inner).begin().await?;
        Ok(dispatcher)
    }

    /// Like [`Dispatcher::start`], but only while this process holds the lock on `lock_path`:
    /// one process delivers a queue. Without it (a CLI command beside the server), the
    /// dispatcher stands by, what this process enqueues waits for the holder, and it takes
    /// over if the holder ends.
    pub async fn start_locked(
        queue: Arc<dyn DeliveryQueue>,
        hosts: HostSource,
        settings: DeliverySettings,
        lock_path: std::path::PathBuf,
    ) -> Result<Self, BackendError> {
        let dispatcher = Self::new(queue, hosts, settings, Some(lock_path));
        if dispatcher.inner.try_lock()? {
            Arc::clone(&dispatcher.inner).begin().await?;
        } else {
            tracing::info!(
                "Another Chronicle process delivers this data folder's events; standing by."
            );
            tokio::spawn(Arc::clone(&dispatcher.inner).stand_by());
        }
        Ok(dispatcher)
    }

    fn new(
        queue: Arc<dyn DeliveryQueue>,
        hosts: HostSource,
        settings: DeliverySettings,
        lock_path: Option<std::path::PathBuf>,
    ) -> Self {
        let (stopping, _) = tokio::sync::watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                active: std::sync::atomic::AtomicBool::new(false),
                lock_path,
                lock: Mutex::new(None),
                queue,
                hosts,
                settings,
                state: Mutex::default(),
                feed: Notify::new(),
                retry: Notify::new(),
                stopping,
            }),
        }
    }

    /// Whether this dispatcher delivers (rather than standing by).
    pub fn is_active(&self) -> bool {
        self.inner.is_active()
    }

    /// The queue this dispatcher works through.
    pub fn queue(&self) -> &Arc<dyn DeliveryQueue> {
        &self.inner.queue
    }

    /// Something was enqueued: look at the queue now rather than at the next poll.
    pub fn wake(&self) {
        self.inner.feed.notify_one();
        self.inner.retry.notify_one();
    }

    /// Waits (up to `limit`) until every enqueued chain has finished and no retry is running
    /// (retries due later do not count); whether it got there.
    pub async fn settle(&self, limit: Duration) -> bool {
        if !self.inner.is_active() {
            return true;
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let quiet = {
                let state = lock(&self.inner.state);
                state.known.is_empty() && state.busy == 0 && state.retries_running() == 0
            };
            if quiet {
                match self.inner.queue.unfinished_events(0, 1).await {
                    Ok(events) if events.is_empty() => return true,
                    Ok(_) => self.wake(),
                    Err(error) => tracing::warn!(%error, "Could not read the delivery queue."),
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops taking work and waits (up to `grace`) for the steps in flight. Chains left
    /// unfinished resume at the next start.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.stopping.send_replace(true);
        self.inner.feed.notify_one();
        self.inner.retry.notify_one();
        let deadline = tokio::time::Instant::now() + grace;
        while lock(&self.inner.state).busy > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl DeliverySettings {
    /// When a delivery to a plugin that is down looks again, at the latest.
    fn unavailable_until(&self) -> i64 {
        now_ms().saturating_add(millis(self.unavailable_wait))
    }
}

/// An attempt given back: the plugin was not called, and the delivery waits for it.
fn waiting(delivery_id: i64, reason: Option<String>, settings: &DeliverySettings) -> AttemptEnd {
    AttemptEnd {
        delivery_id,
        status: DeliveryStatus::Pending,
        error: reason,
        next_attempt_ms: Some(settings.unavailable_until()),
        called: false,
    }
}

/// The parts of a finished attempt the queue records.
fn attempt_end(
    delivery_id: i64,
    outcome: &PluginOutcome,
    attempt: u32,
    max_retries: u32,
    settings: &DeliverySettings,
) -> AttemptEnd {
    let failure = match outcome.status {
        Status::Executed => match &outcome.result {
            Some(result) if !result.success => Some(
                result
                    .message
                    .clone()
                    .unwrap_or_else(|| "the plugin returned success: false".into()),
            ),
            _ => None,
        },
        Status::Declined => None,
        Status::Failed | Status::TimedOut => Some(outcome.reason.clone().unwrap_or_default()),
        Status::Skipped => {
            // The plugin went away between the check and the call: wait for it again.
            return waiting(delivery_id, outcome.reason.clone(), settings);
        }
    };
    let Some(error) = failure else {
        let status = if outcome.status == Status::Declined {
            DeliveryStatus::Declined
        } else {
            DeliveryStatus::Succeeded
        };
        return AttemptEnd {
            delivery_id,
            status,
            error: None,
            next_attempt_ms: None,
            called: true,
        };
    };
    if attempt > max_retries {
        return AttemptEnd {
            delivery_id,
            status: DeliveryStatus::Dead,
            error: Some(format!("{error} (attempt {attempt}, the last)")),
            next_attempt_ms: None,
            called: true,
        };
    }
    let delay = retry_delay(
        attempt,
        settings.base_delay,
        settings.max_delay,
        fastrand::f64(),
    );
    AttemptEnd {
        delivery_id,
        status: DeliveryStatus::Failed,
        error: Some(error),
        next_attempt_ms: Some(now_ms().saturating_add(millis(delay))),
        called: true,
    }
}

impl Inner {
    fn stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    fn is_active(&self) -> bool {
        self.active.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Takes the lock if it is free; whether this process holds it now.
    fn try_lock(&self) -> Result<bool, BackendError> {
        let Some(path) = &self.lock_path else {
            return Ok(true);
        };
        let failed = |error: std::io::Error| {
            BackendError::Failed(format!("cannot lock {}: {error}", path.display()))
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(failed)?;
        match file.try_lock() {
            Ok(()) => {
                *self.lock.lock().unwrap_or_else(PoisonError::into_inner) = Some(file);
                Ok(true)
            }
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(error)) => Err(failed(error)),
        }
    }

    /// Recovers what a stopped process left running and starts the loops.
    async fn begin(self: Arc<Self>) -> Result<(), BackendError> {
        let recovered = self.queue.recover(now_ms()).await?;
        if recovered > 0 {
            tracing::info!(
                recovered,
                "Deliveries interrupted by a restart will be retried."
            );
        }
        self.active
            .store(true, std::sync::atomic::Ordering::Release);
        tokio::spawn(Arc::clone(&self).feed_loop());
        tokio::spawn(self.retry_loop());
        Ok(())
    }

    /// Tries the lock every poll until it is free, then delivers.
    async fn stand_by(self: Arc<Self>) {
        let mut stopping = self.stopping.subscribe();
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll) => {}
                _ = stopping.changed() => return,
            }
            if self.stopping() {
                return;
            }
            match self.try_lock() {
                Ok(true) => {
                    tracing::info!(
                        "The process that delivered this data folder's events has ended; delivering them here."
                    );
                    if let Err(error) = Arc::clone(&self).begin().await {
                        tracing::error!(%error, "Could not start delivering.");
                    }
                    return;
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "Could not try the delivery lock."),
            }
        }
    }

    /// Reads new events into their lanes whenever woken, and at every poll.
    async fn feed_loop(self: Arc<Self>) {
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
        let host = (self.hosts)();
        let inner = &host.inner;
        let started_at = SystemTime::now();
        let clock = std::time::Instant::now();
        let seq = event.seq;
        let user_id: Arc<str> = Arc::from(event.user_id.as_str());
        let event_id: Arc<str> = Arc::from(event.event_id.as_str());
        let data = Arc::new(event.data);
        let mut transcript = TranscriptView::new(&data);
        let mut progress = event.progress;
        let recorder = CallRecorder::default();
        let mut outcomes = Vec::new();
        let mut end: Option<AttemptEnd> = None;
        // Whether a delivery of this chain failed, waits or is held: the retry loop looks.
        let mut left_for_later = false;
        let _busy = Busy::new(&self.state);

        for &index in &inner.chains[event.event.index()] {
            let slot = &inner.slots[index];
            if progress.passed.iter().any(|passed| **passed == *slot.id) {
                continue;
            }
            let admission = inner.admit(
                index,
                event.event,
                &mut transcript,
                progress.stopped_by.as_deref(),
            );
            let (extras, wait) = match admission {
                Admission::Skip(reason) => {
                    outcomes.push(PluginOutcome::skipped(&slot.id, reason));
                    progress.passed.push(slot.id.to_string());
                    continue;
                }
                Admission::Unavailable(extras, reason) => {
                    let due = self.settings.unavailable_until();
                    (extras, Some((due, reason)))
                }
                Admission::Run(extras) => (extras, None),
            };
            let reach = Reach {
                plugin_id: slot.id.to_string(),
                metadata: progress.metadata.clone(),
                extras: extras.clone(),
                wait,
            };
            let reached = self
                .queue
                .advance(seq, &progress, end.take(), Some(reach), false)
                .await?;
            progress.passed.push(slot.id.to_string());
            match reached {
                Some(Reached::Call {
                    delivery_id,
                    attempt,
                }) => {
                    let call = SlotCall {
                        event: event.event,
                        user_id: &user_id,
                        data: with_extras(&data, extras),
                        metadata: std::mem::take(&mut progress.metadata),
                        event_id: &event_id,
                        attempt,
                        recorder: &recorder,
                    };
                    let outcome;
                    (outcome, progress.metadata) = host.call_slot(index, call).await;
                    if outcome.stops_chain() {
                        progress.stopped_by = Some(slot.id.to_string());
                    }
                    let ended = attempt_end(
                        delivery_id,
                        &outcome,
                        attempt,
                        slot.spec.max_retries,
                        &self.settings,
                    );
                    left_for_later |= !ended.status.is_settled();
                    end = Some(ended);
                    outcomes.push(outcome);
                }
                Some(Reached::Held { .. }) => {
                    left_for_later = true;
                    outcomes.push(PluginOutcome::skipped(
                        &slot.id,
                        "held behind an earlier event of this conversation".into(),
                    ));
                }
                Some(Reached::Waiting { .. }) => {
                    left_for_later = true;
                    lock(&self.state).awaited.insert(slot.id.to_string());
                    let reason = match unavailable_reason(&inner.slots[index]) {
                        Some(reason) => format!("{reason}; the delivery waits for it"),
                        None => "the delivery waits for the plugin".into(),
                    };
                    outcomes.push(PluginOutcome::skipped(&slot.id, reason));
                }
                Some(Reached::Settled) | None => {}
            }
        }
        self.queue
            .advance(seq, &progress, end.take(), None, true)
            .await?;
        if left_for_later {
            self.retry.notify_one();
        }
        let record = Arc::new(DispatchRecord {
            event: event.event,
            user_id,
            plugins: outcomes,
            metadata: progress.metadata,
            services: recorder.take(),
            event_id,
            data,
            started_at,
            duration_ms: clock.elapsed().as_secs_f64() * 1000.0,
        });
        inner.backends.event_log.record(record);
        Ok(())
    }

    /// Claims due deliveries and runs them, whenever woken and at every poll.
    async fn retry_loop(self: Arc<Self>) {
        let mut stopping = self.stopping.subscribe();
        loop {
            if self.stopping() {
                return;
            }
            self.release_awaited().await;
            // A read first: claiming takes the write lock, which the chains need.
            let pause = match self.queue.next_due_ms().await {
                Ok(Some(due)) if due <= now_ms() => {
                    if let Err(error) = self.claim_and_run().await {
                        tracing::warn!(%error, "Could not claim due deliveries; trying again.");
                    }
                    self.settings.poll
                }
                Ok(Some(due)) => {
                    Duration::from_millis(u64::try_from(due.saturating_sub(now_ms())).unwrap_or(0))
                        .min(self.settings.poll)
                }
                Ok(None) => self.settings.poll,
                Err(error) => {
                    tracing::warn!(%error, "Could not read the delivery queue; trying again.");
                    self.settings.poll
                }
            };
            tokio::select! {
                () = self.retry.notified() => {}
                () = tokio::time::sleep(pause.max(Duration::from_millis(5))) => {}
                _ = stopping.changed() => {}
            }
        }
    }

    /// Deliveries waiting for a plugin that is back fall due now, rather than at their
    /// next look (up to [`DeliverySettings::unavailable_wait`] away): a plugin process that
    /// restarts in a second gets its events a second later.
    async fn release_awaited(&self) {
        let awaited: Vec<String> = lock(&self.state).awaited.iter().cloned().collect();
        if awaited.is_empty() {
            return;
        }
        let host = (self.hosts)();
        for plugin_id in awaited {
            let back = host
                .inner
                .slots
                .iter()
                .position(|slot| *slot.id == *plugin_id)
                .is_some_and(|index| unavailable_reason(&host.inner.slots[index]).is_none());
            if back && self.queue.due_now(&plugin_id, now_ms()).await.is_ok() {
                lock(&self.state).awaited.remove(&plugin_id);
            }
        }
    }

    async fn claim_and_run(self: &Arc<Self>) -> Result<(), BackendError> {
        // Counted busy from the claim until each claimed delivery has its task.
        let _busy = Busy::new(&self.state);
        loop {
            let (free, running) = {
                let state = lock(&self.state);
                let free = self
                    .settings
                    .retries
                    .saturating_sub(state.retries_running());
                let running: Vec<(String, usize)> = state
                    .retrying
                    .iter()
                    .map(|(plugin, count)| (plugin.clone(), *count))
                    .collect();
                (free, running)
            };
            if free == 0 || self.stopping() {
                return Ok(());
            }
            let claimed = self
                .queue
                .claim_due(now_ms(), free, self.settings.retries_per_plugin, &running)
                .await?;
            if claimed.is_empty() {
                return Ok(());
            }
            let mut state = lock(&self.state);
            for due in claimed {
                *state.retrying.entry(due.row.plugin_id.clone()).or_default() += 1;
                tokio::spawn(Arc::clone(self).run_retry(due));
            }
        }
    }

    /// One delivery outside its chain: a retry, a held delivery or a replay.
    async fn run_retry(self: Arc<Self>, due: DueDelivery) {
        let plugin_id = due.row.plugin_id.clone();
        let _busy = Busy::new(&self.state);
        let end = self.attempt(due).await;
        // A row left running would hold the plugin's later events of this conversation, so
        // the end is written even if the database refuses for a while.
        let mut pause = Duration::from_millis(100);
        for tries in 1.. {
            match self.queue.end_attempt(end.clone()).await {
                Ok(()) => break,
                Err(error) if tries < 10 => {
                    tracing::warn!(%error, plugin = %plugin_id, "Could not record a delivery attempt; trying again.");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(30));
                }
                Err(error) => {
                    // Left running: recovery at the next start puts it back.
                    tracing::error!(%error, plugin = %plugin_id, "Could not record a delivery attempt.");
                    break;
                }
            }
        }
        let mut state = lock(&self.state);
        if let Some(count) = state.retrying.get_mut(&plugin_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                state.retrying.remove(&plugin_id);
            }
        }
        drop(state);
        self.retry.notify_one();
    }

    async fn attempt(self: &Arc<Self>, due: DueDelivery) -> AttemptEnd {
        let row = due.row;
        let host = (self.hosts)();
        let inner = &host.inner;
        let index = inner.chains[row.event.index()]
            .iter()
            .copied()
            .find(|&index| *inner.slots[index].id == *row.plugin_id);
        let gone = |why: String| AttemptEnd {
            delivery_id: row.id,
            status: DeliveryStatus::Dead,
            error: Some(why),
            next_attempt_ms: None,
            called: false,
        };
        let Some(index) = index else {
            return gone(format!(
                "plugin `{}` is no longer subscribed to {}; replay it once it is",
                row.plugin_id, row.event
            ));
        };
        let slot = &inner.slots[index];
        if !slot.spec.enabled {
            return gone(format!(
                "plugin `{}` is disabled in plugins.yml; replay it once it is enabled",
                row.plugin_id
            ));
        }
        if let Some(reason) = unavailable_reason(&inner.slots[index]) {
            lock(&self.state).awaited.insert(row.plugin_id.clone());
            return waiting(
                row.id,
                Some(format!("{reason}; the delivery waits for it")),
                &self.settings,
            );
        }
        let started_at = SystemTime::now();
        let clock = std::time::Instant::now();
        let user_id: Arc<str> = Arc::from(row.user_id.as_str());
        let event_id: Arc<str> = Arc::from(row.event_id.as_str());
        let recorder = CallRecorder::default();
        let data = Arc::new(due.data);
        let call = SlotCall {
            event: row.event,
            user_id: &user_id,
            data: Arc::clone(&data),
            metadata: due.metadata,
            event_id: &event_id,
            attempt: row.attempt,
            recorder: &recorder,
        };
        let (outcome, metadata) = host.call_slot(index, call).await;
        let end = attempt_end(
            row.id,
            &outcome,
            row.attempt,
            slot.spec.max_retries,
            &self.settings,
        );
        inner.backends.event_log.record(Arc::new(DispatchRecord {
            event: row.event,
            user_id,
            plugins: vec![outcome],
            metadata,
            services: recorder.take(),
            event_id,
            data,
            started_at,
            duration_ms: clock.elapsed().as_secs_f64() * 1000.0,
        }));
        end
    }
}

/// Counts a step in flight while alive.
struct Busy<'a>(&'a Mutex<State>);

impl<'a> Busy<'a> {
    fn new(state: &'a Mutex<State>) -> Self {
        lock(state).busy += 1;
        Self(state)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        lock(self.0).busy -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_the_base_with_a_little_jitter_and_stop_at_the_cap() {
        let base = Duration::from_secs(1);
        let cap = Duration::from_secs(600);
        assert_eq!(retry_delay(1, base, cap, 0.0), Duration::from_secs(1));
        assert_eq!(retry_delay(2, base, cap, 0.0), Duration::from_secs(2));
        assert_eq!(retry_delay(3, base, cap, 0.0), Duration::from_secs(4));
        assert_eq!(retry_delay(3, base, cap, 1.0), Duration::from_secs(5));
        assert_eq!(retry_delay(11, base, cap, 0.0), cap);
        assert_eq!(retry_delay(40, base, cap, 1.0), cap);
        assert_eq!(retry_delay(u32::MAX, base, cap, 0.5), cap);
    }
}
