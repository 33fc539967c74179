//! How many requests a program may make: per API key and per user across all their keys
//! (so more keys buy no more), [`RateLimits::per_minute`] each, answered 429 with
//! `Retry-After` past that. A fixed window per key and per user, started by its first request:
//! simple to reason about, and a client that keeps to the limit is never refused.
//!
//! Logins (the web app, a JWT) are not counted: a person clicking through pages is not a
//! program, and wrong passwords have their own limits (`login_limits.rs`). Kept in memory,
//! bounded; a restart forgets.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The window the limit counts in.
const WINDOW: Duration = Duration::from_secs(60);
/// Windows kept; past that the finished ones are dropped (and, if all are running, the
/// oldest).
const MAX_WINDOWS: usize = 20_000;

#[derive(Clone, Copy, Debug)]
struct Window {
    started: Instant,
    count: u32,
}

/// Request counts per key and per user.
#[derive(Debug)]
pub struct RateLimits {
    per_minute: u32,
    max_windows: usize,
    windows: Mutex<HashMap<String, Window>>,
}

impl RateLimits {
    /// At most `per_minute` requests a minute per key and per user; 0: no limit.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            max_windows: MAX_WINDOWS,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The limit, per minute (0: none).
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Counts a request by key `key_id` of user `user_id` at `now`, or refuses it with the
    /// whole seconds until the fuller of the two windows ends (a refused request is not
    /// counted).
    pub fn check(&self, key_id: &str, user_id: &str, now: Instant) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        // Room for this request's two windows: finished ones go first, then the oldest.
        if windows.len() + 2 > self.max_windows {
            windows.retain(|_, window| now.duration_since(window.started) < WINDOW);
            while windows.len() + 2 > self.max_windows {
                let Some(oldest) = windows
                    .iter()
                    .min_by_key(|(_, window)| window.started)
                    .map(|(id, _)| id.clone())
                else {
                    break;
                };
                windows.remove(&oldest);
            }
        }
        let ids = [format!("key:{key_id}"), format!("user:{user_id}")];
        let mut wait = None;
        for id in &ids {
            let window = windows.entry(id.clone()).or_insert(Window {
                started: now,
                count: 0,
            });
            if now.duration_since(window.started) >= WINDOW {
                *window = Window {
                    started: now,
                    count: 0,
                };
            }
            if window.count >= self.per_minute {
                let left = (window.started + WINDOW).saturating_duration_since(now);
                let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                wait = wait.max(Some(seconds.max(1)));
            }
        }
        if let Some(seconds) = wait {
            return Err(seconds);
        }
        for id in &ids {
            if let Some(window) = windows.get_mut(id) {
                window.count += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_limit_a_minute_and_more_keys_buy_no_more() {
        let limits = RateLimits::new(3);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limits.check("k1", "u1", start), Ok(()));
        }
        assert_eq!(
            limits.check("k1", "u1", start + Duration::from_secs(20)),
            Err(40)
        );
        // Another key of the same user: the user's window is full too.
        assert_eq!(
            limits.check("k2", "u1", start + Duration::from_secs(20)),
            Err(40)
        );
        // Another user's key is not affected.
        assert_eq!(limits.check("k3", "u2", start), Ok(()));
        // The minute over, the count starts again.
        assert_eq!(limits.check("k1", "u1", start + WINDOW), Ok(()));
    }

    #[test]
    fn no_limit_when_it_is_zero_and_the_table_stays_bounded() {
        let off = RateLimits::new(0);
        let now = Instant::now();
        for _ in 0..1_000 {
            assert_eq!(off.check("k", "u", now), Ok(()));
        }
        let limits = RateLimits {
            max_windows: 100,
            ..RateLimits::new(1)
        };
        for n in 0..500 {
            assert_eq!(
                limits.check(&format!("k{n}"), &format!("u{n}"), now),
                Ok(())
            );
        }
        let kept = limits.windows.lock().map(|w| w.len()).unwrap_or(0);
        assert!(kept <= 100, "{kept}");
    }
}
