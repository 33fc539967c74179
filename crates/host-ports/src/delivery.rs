//! The durable queue of terminal events, as the host's dispatcher needs it from storage.
//!
//! A terminal event is written with the state change that produced it ([`NewEvent`]), then
//! walked through its chain by the dispatcher, which records its progress ([`ChainProgress`])
//! and one delivery per plugin it calls ([`DeliveryRow`]) after each step, so a crash resumes
//! where it stopped. Failed deliveries are retried outside the chain; the last failure makes a
//! dead letter, which can be replayed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use chronicle_plugin_api::{Event, JsonMap};

use crate::BackendError;

/// Milliseconds since the Unix epoch, now: the queue's unit of time.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

/// A terminal event to enqueue in the same transaction as the change that produced it.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// The event.
    pub event: Event,
    /// Its user.
    pub user_id: String,
    /// The conversation it is about: its events reach each plugin in the order produced.
    pub conversation_id: Option<String>,
    /// What plugins receive as `data`.
    pub data: JsonMap,
    /// The chain's initial metadata.
    pub metadata: JsonMap,
}

impl NewEvent {
    /// The ordering lane: the conversation, or the user for events about none.
    pub fn lane(&self) -> String {
        lane(self.conversation_id.as_deref(), &self.user_id)
    }
}

/// The ordering lane of an event: events of one lane reach each plugin in order.
pub fn lane(conversation_id: Option<&str>, user_id: &str) -> String {
    match conversation_id {
        Some(conversation) => format!("conversation:{conversation}"),
        None => format!("user:{user_id}"),
    }
}

/// An enqueued event, as the dispatcher is told about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enqueued {
    /// Its place in the queue: later events have larger numbers.
    pub seq: i64,
    /// Its ordering lane.
    pub lane: String,
    /// Its user, for fairness between users.
    pub user_id: String,
}

/// An event whose chain has not finished.
#[derive(Clone, Debug, PartialEq)]
pub struct QueuedEvent {
    /// Its place in the queue.
    pub seq: i64,
    /// The id plugins see in `context.delivery.event_id`.
    pub event_id: String,
    /// The event.
    pub event: Event,
    /// Its user.
    pub user_id: String,
    /// Its ordering lane.
    pub lane: String,
    /// The event's data.
    pub data: JsonMap,
    /// How far its chain got.
    pub progress: ChainProgress,
    /// When it was enqueued, in milliseconds since the Unix epoch.
    pub enqueued_ms: i64,
}

/// How far an event's chain got.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChainProgress {
    /// The metadata as the last plugin left it.
    pub metadata: JsonMap,
    /// The plugins the chain is past (called, skipped, or left to a retry), in chain order.
    pub passed: Vec<String>,
    /// The plugin that stopped the chain with `should_continue: false`.
    pub stopped_by: Option<String>,
}

/// Where one (event, plugin) delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting: for its time, for an earlier delivery to the same plugin, or for the plugin.
    Pending,
    /// Being delivered now.
    Running,
    /// The plugin returned a successful result.
    Succeeded,
    /// The plugin returned no result.
    Declined,
    /// The attempt failed; another follows at `next_attempt_ms`.
    Failed,
    /// Every attempt failed: a dead letter, until replayed.
    Dead,
}

impl DeliveryStatus {
    /// Every status, in life order.
    pub const ALL: [DeliveryStatus; 6] = [
        Self::Pending,
        Self::Running,
        Self::Succeeded,
        Self::Declined,
        Self::Failed,
        Self::Dead,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Declined => "declined",
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }

    /// Whether nothing more will happen to the delivery (unless it is replayed).
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Succeeded | Self::Declined | Self::Dead)
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "unknown delivery status `{name}`; use one of {}",
                    names.join(", ")
                )
            })
    }
}

/// One (event, plugin) delivery.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeliveryRow {
    /// The id `chronicle deliveries replay` takes.
    pub id: i64,
    /// The event's place in the queue.
    pub seq: i64,
    /// The event's id.
    pub event_id: String,
    /// The event.
    pub event: Event,
    /// Its user.
    pub user_id: String,
    /// Its ordering lane.
    pub lane: String,
    /// The plugin.
    pub plugin_id: String,
    /// `event_id:plugin_id`, the same on every attempt.
    pub idempotency_key: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far (a replay adds one).
    pub attempt: u32,
    /// When the next attempt is due, for pending and failed deliveries.
    pub next_attempt_ms: Option<i64>,
    /// Why the last attempt failed, or why it waits.
    pub last_error: Option<String>,
    /// When the event was enqueued.
    pub enqueued_ms: i64,
    /// When the delivery last changed.
    pub updated_ms: i64,
}

/// A delivery to run outside its chain (a retry, a held delivery, a replay), claimed as
/// running.
#[derive(Clone, Debug, PartialEq)]
pub struct DueDelivery {
    /// The delivery, its attempt already counted.
    pub row: DeliveryRow,
    /// The event's data with what the plugin's condition added the first time.
    pub data: JsonMap,
    /// The metadata the plugin saw (or would have seen) the first time.
    pub metadata: JsonMap,
}

/// The plugin a chain is about to reach.
#[derive(Clone, Debug, PartialEq)]
pub struct Reach {
    /// The plugin.
    pub plugin_id: String,
    /// The metadata it gets.
    pub metadata: JsonMap,
    /// What its condition adds to the data.
    pub extras: JsonMap,
    /// `None` to call it now; `Some((due_ms, why))` when it cannot take events now and the
    /// delivery waits, without counting an attempt.
    pub wait: Option<(i64, String)>,
}

/// Where a chain's walk is, as [`DeliveryQueue::advance`] records it.
#[derive(Clone, Debug, PartialEq)]
pub enum ChainStep {
    /// About to reach this plugin.
    Reach(Reach),
    /// Past the last plugin: the chain is finished.
    Finish,
}

/// What [`DeliveryQueue::advance`] decided for a [`Reach`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reached {
    /// Call the plugin now: this is attempt `attempt` of delivery `delivery_id`.
    Call {
        /// The delivery.
        delivery_id: i64,
        /// The attempt, counting this one.
        attempt: u32,
    },
    /// An earlier event of the lane still waits for this plugin: this one waits behind it.
    Held {
        /// The delivery.
        delivery_id: i64,
    },
    /// The plugin cannot take events now; the delivery waits for it.
    Waiting {
        /// The delivery.
        delivery_id: i64,
    },
    /// The delivery had already settled (it was retried on its own after a crash).
    Settled,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptEnd {
    /// The delivery.
    pub delivery_id: i64,
    /// Its new status.
    pub status: DeliveryStatus,
    /// Why it failed or waits.
    pub error: Option<String>,
    /// When the next attempt is due (failed and pending deliveries).
    pub next_attempt_ms: Option<i64>,
    /// `false` when the plugin was not called after all: the attempt is given back.
    pub called: bool,
}

/// Which deliveries to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// Only these statuses (all when empty).
    pub statuses: Vec<DeliveryStatus>,
    /// Only this user's.
    pub user_id: Option<String>,
    /// Only this lane's: a conversation's id for its events.
    pub lane: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// Which deliveries to replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayTarget {
    /// One delivery, whatever its status (except running).
    One(i64),
    /// Every dead letter.
    AllDead,
}

/// Counts of deliveries by status.
pub type StatusCounts = Vec<(DeliveryStatus, u64)>;

/// The durable queue of terminal events. Events are put in by the state changes that produce
/// them (the store's own methods); this is what the dispatcher does with them.
#[async_trait::async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// Events whose chains have not finished, with `seq` over `after_seq`, oldest first.
    async fn unfinished_events(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<QueuedEvent>, BackendError>;

    /// Records the progress of event `seq`'s chain and ends the delivery in `end`, then takes
    /// `step` (opens the delivery it reaches, or marks the chain finished), in one
    /// transaction. Returns what to do about a reached plugin; `None` for [`ChainStep::Finish`].
    async fn advance(
        &self,
        seq: i64,
        progress: &ChainProgress,
        end: Option<AttemptEnd>,
        step: ChainStep,
    ) -> Result<Option<Reached>, BackendError>;

    /// Claims (marks running, counting an attempt) up to `limit` deliveries due at `now_ms`
    /// whose earlier deliveries in the lane to the same plugin have settled, oldest first, at
    /// most `per_plugin` per plugin counting the ones `running` already lists.
    async fn claim_due(
        &self,
        now_ms: i64,
        limit: usize,
        per_plugin: usize,
        running: &[(String, usize)],
    ) -> Result<Vec<DueDelivery>, BackendError>;

    /// Records how an attempt made outside the chain ended.
    async fn end_attempt(&self, end: AttemptEnd) -> Result<(), BackendError>;

    /// Makes the pending deliveries to `plugin_id` that wait for a later time due at `now_ms`
    /// (the plugin they waited for is back); returns how many.
    async fn due_now(&self, plugin_id: &str, now_ms: i64) -> Result<u64, BackendError>;

    /// When the earliest pending or failed delivery falls due, if any.
    async fn next_due_ms(&self) -> Result<Option<i64>, BackendError>;

    /// After a restart: deliveries left running outside a chain go back to pending, due at
    /// `now_ms` (those a chain was calling resume with their chain). Returns how many.
    async fn recover(&self, now_ms: i64) -> Result<u64, BackendError>;

    /// Deliveries matching `filter`, newest first.
    async fn list(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRow>, BackendError>;

    /// One delivery.
    async fn delivery(&self, id: i64) -> Result<Option<DeliveryRow>, BackendError>;

    /// Makes the target deliveries pending and due at `now_ms`, keeping their attempts and
    /// idempotency keys; returns the ids replayed.
    async fn replay(&self, target: ReplayTarget, now_ms: i64) -> Result<Vec<i64>, BackendError>;

    /// How many deliveries have each status.
    async fn status_counts(&self) -> Result<StatusCounts, BackendError>;
}
