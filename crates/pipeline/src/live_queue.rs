//! A session's live events waiting for plugins: in memory, in order, and bounded.
//!
//! One queue per session, drained by the session's own task one event at a time (see
//! [`crate::session`]). The rules when a device outruns its plugins:
//!
//! - The queue holds [`CAPACITY`] events. When it is full, the oldest queued
//!   `transcript.streaming` event makes room: it is dropped, counted in
//!   `chronicle_live_events_dropped_total{event="transcript.streaming"}` and logged (a warning
//!   when a burst of drops starts, then at most one a minute while it lasts, and a line with
//!   the total once the queue has emptied). A late transcript is useless to a live plugin, and
//!   the transcript itself is stored.
//! - Every other event (a button press) is never dropped: when the queue is full of events
//!   that cannot be dropped, it is queued beyond the capacity anyway, up to [`HARD_CAP`]
//!   events. Only a device that presses faster than its plugins can answer, a thousand presses
//!   ahead, reaches that cap; the push is then refused, and the server closes the device
//!   (1008) rather than hold unbounded memory. A `transcript.streaming` that arrives while the
//!   queue is that full of presses is itself the oldest droppable event, so it is the one
//!   dropped.
//!
//! So the queue holds at most [`CAPACITY`] events, or more only when every one of them is a
//! press, and never more than [`HARD_CAP`]. Events are delivered in the order they were
//! queued, minus the dropped ones.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chronicle_plugin_api::Event;
use chronicle_plugin_host::DispatchRequest;
use tokio::sync::Notify;

use crate::plugins::Plugins;

/// Live events a session keeps for its plugins before `transcript.streaming` events are dropped.
pub const CAPACITY: usize = 256;
/// Events (then all presses) a session keeps at most; a press beyond is refused.
pub const HARD_CAP: usize = 1024;
/// How often a burst of drops is logged again while it lasts.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Whether an event may be dropped when the queue is full.
fn droppable(event: Event) -> bool {
    event == Event::TranscriptStreaming
}

/// A session's queue of live events (see the module's rules).
pub struct LiveQueue {
    /// For log lines: the session.
    session_id: String,
    capacity: usize,
    hard_cap: usize,
    state: Mutex<State>,
    /// Wakes the consumer: an event was queued or the queue closed.
    ready: Notify,
}

#[derive(Default)]
struct State {
    events: VecDeque<DispatchRequest>,
    /// How many of `events` may be dropped.
    droppable: usize,
    /// Whether the consumer is delivering an event now.
    in_flight: bool,
    /// No more events: the consumer ends once the queue is empty.
    closed: bool,
    /// Events dropped since the queue was made.
    dropped: u64,
    /// Events dropped since the queue was last empty.
    burst_dropped: u64,
    /// Events dropped since the last warning, and when that was.
    unwarned: u64,
    warned_at: Option<Instant>,
}

impl LiveQueue {
    /// An empty queue with the rules' limits; `session_id` names it in logs.
    pub fn new(session_id: impl Into<String>) -> Self {
        Self::with_limits(session_id, CAPACITY, HARD_CAP)
    }

    fn with_limits(session_id: impl Into<String>, capacity: usize, hard_cap: usize) -> Self {
        Self {
            session_id: session_id.into(),
            capacity,
            hard_cap: hard_cap.max(capacity),
            state: Mutex::new(State::default()),
            ready: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `event` behind the others, dropping the oldest `transcript.streaming` if the queue
    /// is full. `false` only when the event was refused: a press (or another event that is never
    /// dropped) meeting [`HARD_CAP`], or a closed queue. A `transcript.streaming` is always
    /// taken, even when it is the one dropped.
    pub fn push(&self, event: DispatchRequest) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        let new_droppable = droppable(event.event);
        if state.events.len() >= self.capacity {
            let oldest = (state.droppable > 0)
                .then(|| state.events.iter().position(|e| droppable(e.event)))
                .flatten();
            if let Some(index) = oldest {
                state.events.remove(index);
                state.droppable -= 1;
                self.count_drop(&mut state);
            } else if new_droppable {
                // Nothing older may go: the new one is the oldest droppable event.
                self.count_drop(&mut state);
                return true;
            } else if state.events.len() >= self.hard_cap {
                return false;
            }
        }
        state.droppable += usize::from(new_droppable);
        state.events.push_back(event);
        drop(state);
        self.ready.notify_one();
        true
    }

    /// Counts and logs (rate-limited) one dropped `transcript.streaming`.
    fn count_drop(&self, state: &mut State) {
        metrics::counter!("chronicle_live_events_dropped_total", "event" => "transcript.streaming")
            .increment(1);
        state.dropped += 1;
        state.burst_dropped += 1;
        state.unwarned += 1;
        if state.warned_at.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            tracing::warn!(
                session = %self.session_id,
                dropped = state.unwarned,
                "Plugins are behind this session: its oldest queued transcript.streaming events are being dropped."
            );
            state.unwarned = 0;
            state.warned_at = Some(Instant::now());
        }
    }

    /// The next event to deliver, oldest first, once there is one; `None` once the queue is
    /// closed and empty. The event counts as pending until [`LiveQueue::delivered`].
    pub async fn next(&self) -> Option<DispatchRequest> {
        loop {
            {
                let mut state = self.lock();
                if let Some(event) = state.events.pop_front() {
                    state.droppable -= usize::from(droppable(event.event));
                    state.in_flight = true;
                    if state.events.is_empty() && state.burst_dropped > 0 {
                        tracing::info!(
                            session = %self.session_id,
                            dropped = state.burst_dropped,
                            "Plugins caught up with this session after transcript.streaming events were dropped."
                        );
                        state.burst_dropped = 0;
                        state.unwarned = 0;
                        state.warned_at = None;
                    }
                    return Some(event);
                }
                if state.closed {
                    return None;
                }
            }
            // A push between the check and here leaves a permit, so no wake-up is lost.
            self.ready.notified().await;
        }
    }

    /// The event [`LiveQueue::next`] gave has been delivered.
    pub fn delivered(&self) {
        self.lock().in_flight = false;
    }

    /// Events queued or being delivered.
    pub fn pending(&self) -> usize {
        let state = self.lock();
        state.events.len() + usize::from(state.in_flight)
    }

    /// Refuses further events; the consumer delivers those queued, then ends.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// Events dropped since the queue was made.
    #[cfg(test)]
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

/// Delivers a session's (or a device's) live events in order, one at a time, on a task of
/// its own.
/// `plugins` gives the plugins in service, or nothing once their owner is gone (the queue
/// must not keep the pipeline alive).
pub(crate) fn spawn_live_queue(
    plugins: impl Fn() -> Option<Arc<dyn Plugins>> + Send + 'static,
    queue: Arc<LiveQueue>,
) {
    tokio::spawn(async move {
        while let Some(event) = queue.next().await {
            let Some(plugins) = plugins() else {
                queue.close();
                return;
            };
            plugins.dispatch(event).await;
            queue.delivered();
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn event(event: Event, n: usize) -> DispatchRequest {
        let mut data = chronicle_plugin_api::JsonMap::new();
        data.insert("n".into(), n.into());
        DispatchRequest::new(event, "user", data)
    }

    fn streaming(n: usize) -> DispatchRequest {
        event(Event::TranscriptStreaming, n)
    }

    fn press(n: usize) -> DispatchRequest {
        event(Event::ButtonSinglePress, n)
    }

    /// Everything queued now, as (event, n), without waiting.
    async fn drain(queue: &LiveQueue) -> Vec<(Event, u64)> {
        queue.close();
        let mut seen = Vec::new();
        while let Some(event) = queue.next().await {
            seen.push((event.event, event.data["n"].as_u64().unwrap()));
            queue.delivered();
        }
        seen
    }

    #[tokio::test]
    async fn overflow_drops_the_oldest_streaming_events_and_keeps_every_press_in_order() {
        let queue = LiveQueue::with_limits("s", 8, 32);
        // 1..=12 streaming with presses after 3 and 9: 14 events into room for 8.
        for n in 1..=12 {
            assert!(queue.push(streaming(n)));
            if n == 3 || n == 9 {
                assert!(queue.push(press(n)));
            }
        }
        assert_eq!(queue.pending(), 8);
        assert_eq!(queue.dropped(), 6);
        let seen = drain(&queue).await;
        use Event::{ButtonSinglePress as P, TranscriptStreaming as S};
        assert_eq!(
            seen,
            [
                (P, 3),
                (S, 7),
                (S, 8),
                (S, 9),
                (P, 9),
                (S, 10),
                (S, 11),
                (S, 12)
            ]
        );
    }

    #[tokio::test]
    async fn the_default_limits_drop_what_overflows_256() {
        let queue = LiveQueue::new("s");
        for n in 0..300 {
            assert!(queue.push(streaming(n)));
        }
        assert!(queue.push(press(300)));
        assert_eq!(queue.dropped(), 45);
        assert_eq!(queue.pending(), CAPACITY);
        let seen = drain(&queue).await;
        assert_eq!(seen.first(), Some(&(Event::TranscriptStreaming, 45)));
        assert_eq!(seen.last(), Some(&(Event::ButtonSinglePress, 300)));
    }

    #[tokio::test]
    async fn presses_beyond_the_capacity_are_kept_and_streaming_then_goes() {
        let queue = LiveQueue::with_limits("s", 4, 16);
        assert!(queue.push(streaming(0)));
        for n in 1..=10 {
            assert!(queue.push(press(n)));
        }
        // The streaming event made room for the fourth press; the rest went beyond.
        assert_eq!(queue.dropped(), 1);
        assert_eq!(queue.pending(), 10);
        // Full of presses: a new streaming event is the one dropped, and says it was taken.
        assert!(queue.push(streaming(11)));
        assert_eq!(queue.dropped(), 2);
        let seen = drain(&queue).await;
        let expected: Vec<_> = (1..=10).map(|n| (Event::ButtonSinglePress, n)).collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn the_hard_cap_refuses_a_press_and_streaming_still_flows_after() {
        let queue = LiveQueue::with_limits("s", 4, 6);
        for n in 0..6 {
            assert!(queue.push(press(n)));
        }
        assert!(!queue.push(press(6)));
        assert!(!queue.push(event(Event::ButtonLongPress, 7)));
        assert_eq!(queue.pending(), 6);
        assert_eq!(queue.dropped(), 0);
        // Delivering makes room again: below the capacity streaming is queued, at it the oldest
        // streaming event goes.
        for _ in 0..3 {
            queue.next().await.unwrap();
            queue.delivered();
        }
        assert!(queue.push(streaming(8)));
        assert!(queue.push(streaming(9)));
        assert_eq!(queue.dropped(), 1);
        let seen = drain(&queue).await;
        use Event::{ButtonSinglePress as P, TranscriptStreaming as S};
        assert_eq!(seen, [(P, 3), (P, 4), (P, 5), (S, 9)]);
    }

    #[tokio::test]
    async fn pending_counts_the_event_being_delivered() {
        let queue = LiveQueue::new("s");
        assert_eq!(queue.pending(), 0);
        queue.push(press(1));
        queue.push(streaming(2));
        assert_eq!(queue.pending(), 2);
        let first = queue.next().await.unwrap();
        assert_eq!(first.event, Event::ButtonSinglePress);
        assert_eq!(queue.pending(), 2);
        queue.delivered();
        assert_eq!(queue.pending(), 1);
    }

    #[tokio::test]
    async fn closing_delivers_what_is_queued_then_ends_the_consumer() {
        let queue = Arc::new(LiveQueue::new("s"));
        let consumer = {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while let Some(event) = queue.next().await {
                    seen.push(event.data["n"].as_u64().unwrap());
                    queue.delivered();
                }
                seen
            })
        };
        for n in 0..5 {
            assert!(queue.push(streaming(n)));
            tokio::task::yield_now().await;
        }
        queue.close();
        assert!(!queue.push(press(5)), "a closed queue takes nothing");
        assert_eq!(consumer.await.unwrap(), [0, 1, 2, 3, 4]);
        assert_eq!(queue.pending(), 0);
    }

    #[tokio::test]
    async fn closing_an_empty_queue_wakes_a_waiting_consumer() {
        let queue = Arc::new(LiveQueue::new("s"));
        let consumer = {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move { queue.next().await.is_none() })
        };
        tokio::task::yield_now().await;
        queue.close();
        assert!(consumer.await.unwrap());
    }
}
