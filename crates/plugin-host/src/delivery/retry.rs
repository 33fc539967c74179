//! Deliveries outside their chain: retries after a failure, deliveries held behind an earlier
//! one, replays of dead letters, each one plugin call, bounded in number overall and per plugin.

use std::sync::Arc;
use std::time::Duration;

use chronicle_host_ports::BackendError;
use chronicle_host_ports::delivery::{AttemptEnd, DeliveryStatus, DueDelivery, now_ms};

use super::policy::{attempt_end, waiting};
use super::{Busy, Inner, lock};
use crate::chain::{ChainState, Walk};
use crate::slot::unavailable_reason;

impl Inner {
    /// Claims due deliveries and runs them, whenever woken and at every poll.
    pub(super) async fn retry_loop(self: Arc<Self>) {
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
        let walk = Walk {
            event: row.event,
            user_id: Arc::from(row.user_id.as_str()),
            event_id: Arc::from(row.event_id.as_str()),
            data: Arc::new(due.data),
            chain: ChainState {
                metadata: due.metadata,
                stopped_by: None,
            },
        };
        let outcome = host.call_alone(index, walk, row.attempt).await;
        attempt_end(
            row.id,
            &outcome,
            row.attempt,
            slot.spec.max_retries,
            &self.settings,
        )
    }
}
