//! How deliveries are paced and when a failed one is tried again: the dispatcher's settings,
//! the backoff, and what each way an attempt ends means for the delivery.

use std::time::Duration;

use chronicle_host_ports::delivery::{AttemptEnd, DeliveryStatus, now_ms};

use crate::record::{PluginOutcome, Status};

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

impl DeliverySettings {
    /// When a delivery to a plugin that is down looks again, at the latest.
    pub(super) fn unavailable_until(&self) -> i64 {
        now_ms().saturating_add(millis(self.unavailable_wait))
    }
}

/// The delay before attempt `attempt + 1`: `base · 2^(attempt-1)`, capped, plus up to a
/// quarter more at random, so deliveries that failed together do not retry together. Never
/// sooner than the exponential delay, never later than the cap.
pub fn retry_delay(attempt: u32, base: Duration, cap: Duration, random: f64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(32);
    let delay = base.saturating_mul(1u32 << doublings.min(31)).min(cap);
    delay.mul_f64(1.0 + 0.25 * random.clamp(0.0, 1.0)).min(cap)
}

pub(super) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// An attempt given back: the plugin was not called, and the delivery waits for it.
pub(super) fn waiting(
    delivery_id: i64,
    reason: Option<String>,
    settings: &DeliverySettings,
) -> AttemptEnd {
    AttemptEnd {
        delivery_id,
        status: DeliveryStatus::Pending,
        error: reason,
        next_attempt_ms: Some(settings.unavailable_until()),
        called: false,
    }
}

/// The parts of a finished attempt the queue records.
pub(super) fn attempt_end(
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
        Status::Failed | Status::TimedOut => {
            Some(outcome.reason.as_deref().unwrap_or_default().to_owned())
        }
        Status::Skipped => {
            // The plugin went away between the check and the call: wait for it again.
            return waiting(
                delivery_id,
                outcome.reason.as_deref().map(str::to_owned),
                settings,
            );
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
