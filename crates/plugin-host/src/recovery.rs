//! Background recovery: plugins that are degraded or failed are initialized again, with
//! backoff, until they come up. They get no events meanwhile.
//!
//! A long-running host (the server) starts this with [`PluginHost::spawn_recovery`]; one-shot
//! commands do not need it. A process plugin whose process is merely restarting is left to its
//! supervisor.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use crate::host::{PluginHost, initialize_slot};
use crate::slot::{Health, HostInner};

/// When to retry.
#[derive(Clone, Copy, Debug)]
pub struct RecoveryPolicy {
    /// The first retry comes this long after a plugin is found down.
    pub initial_delay: Duration,
    /// Each later retry waits twice as long, up to this.
    pub max_delay: Duration,
    /// How often the task looks for plugins to retry.
    pub tick: Duration,
}

impl Default for RecoveryPolicy {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(600),
            tick: Duration::from_secs(5),
        }
    }
}

impl RecoveryPolicy {
    /// The wait after a retry that waited `previous` failed (pure, tested without sleeping).
    pub fn next_delay(&self, previous: Option<Duration>) -> Duration {
        match previous {
            None => self.initial_delay,
            Some(previous) => previous.saturating_mul(2).min(self.max_delay),
        }
    }
}

impl PluginHost {
    /// Starts retrying degraded and failed plugins in the background. The task ends when the
    /// host is dropped.
    pub fn spawn_recovery(&self, policy: RecoveryPolicy) -> tokio::task::JoinHandle<()> {
        let host = Arc::downgrade(&self.inner);
        tokio::spawn(recover(host, policy))
    }
}

async fn recover(host: Weak<HostInner>, policy: RecoveryPolicy) {
    // Per slot: when to try next, and the wait that led there.
    let mut schedule: HashMap<usize, (Instant, Duration)> = HashMap::new();
    loop {
        tokio::time::sleep(policy.tick).await;
        let Some(host) = host.upgrade() else {
            return;
        };
        for (index, slot) in host.slots.iter().enumerate() {
            let restarting = slot
                .process
                .as_ref()
                .is_some_and(|process| process.down_reason().is_some());
            let down = matches!(slot.base_health(), Health::Degraded | Health::Failed);
            let Some(plugin) = slot.instance.clone().filter(|_| down && !restarting) else {
                schedule.remove(&index);
                continue;
            };
            let now = Instant::now();
            let (due, waited) = *schedule.entry(index).or_insert_with(|| {
                let delay = policy.next_delay(None);
                (now + delay, delay)
            });
            if now < due {
                continue;
            }
            let (health, error) = initialize_slot(plugin).await;
            match &error {
                None => {
                    tracing::info!(plugin = %slot.id, "Plugin recovered.");
                    schedule.remove(&index);
                }
                Some(error) => {
                    let delay = policy.next_delay(Some(waited));
                    tracing::warn!(plugin = %slot.id, %error, retry_in_s = delay.as_secs(), "Plugin still down.");
                    schedule.insert(index, (Instant::now() + delay, delay));
                }
            }
            slot.set_health(health, error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_at_the_initial_and_double_to_the_cap() {
        let policy = RecoveryPolicy::default();
        let mut delay = None;
        let mut seen = Vec::new();
        for _ in 0..7 {
            let next = policy.next_delay(delay);
            seen.push(next.as_secs());
            delay = Some(next);
        }
        assert_eq!(seen, [30, 60, 120, 240, 480, 600, 600]);
    }
}
