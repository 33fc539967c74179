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

mod lanes;
mod lock;
mod policy;
mod retry;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chronicle_host_ports::BackendError;
use chronicle_host_ports::delivery::{DeliveryQueue, QueuedEvent, now_ms};
use tokio::sync::Notify;

use crate::host::PluginHost;
pub use policy::{DeliverySettings, retry_delay};

/// The plugin host in service now (the server swaps it on reload).
pub type HostSource = Arc<dyn Fn() -> PluginHost + Send + Sync>;

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

impl Inner {
    fn stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    fn is_active(&self) -> bool {
        self.active.load(std::sync::atomic::Ordering::Acquire)
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
