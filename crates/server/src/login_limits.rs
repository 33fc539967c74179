//! How many wrong passwords a login may try: per account and per address, with backoff.
//!
//! Each account (its email, case-insensitive) and each client address has a count of recent
//! failures. The first few are free (an honest typo); after that each further failure doubles
//! the wait before the next attempt is heard, up to [`MAX_WAIT`], and an attempt during the
//! wait is answered 429 with `Retry-After` without checking the password (so a guesser gains
//! nothing by hammering). A success clears the account's count; a quiet [`FORGET_AFTER`]
//! clears either. Kept in memory, bounded: a restart forgets, which only helps an attacker
//! once per restart.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failures an account may have before it waits.
const FREE_PER_ACCOUNT: u32 = 5;
/// Failures an address may have before it waits (several people may share one).
const FREE_PER_ADDRESS: u32 = 20;
/// The longest wait.
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// A key without failures for this long starts afresh.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Keys kept per kind; past that the stalest are forgotten first.
const MAX_KEYS: usize = 10_000;

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
    /// No attempt is heard before this.
    blocked_until: Option<Instant>,
}

/// Failures by key, bounded.
#[derive(Debug)]
struct Table<K> {
    free: u32,
    entries: HashMap<K, Failures>,
}

impl<K: std::hash::Hash + Eq + Clone> Table<K> {
    fn new(free: u32) -> Self {
        Self {
            free,
            entries: HashMap::new(),
        }
    }

    fn wait(&mut self, key: &K, now: Instant) -> Option<Duration> {
        let failures = self.entries.get(key)?;
        if now.duration_since(failures.last) > FORGET_AFTER {
            self.entries.remove(key);
            return None;
        }
        failures
            .blocked_until
            .and_then(|until| until.checked_duration_since(now))
            .filter(|wait| !wait.is_zero())
    }

    fn fail(&mut self, key: K, now: Instant) {
        if self.entries.len() >= MAX_KEYS && !self.entries.contains_key(&key) {
            self.forget_stalest();
        }
        let free = self.free;
        let failures = self.entries.entry(key).or_insert(Failures {
            count: 0,
            last: now,
            blocked_until: None,
        });
        if now.duration_since(failures.last) > FORGET_AFTER {
            failures.count = 0;
        }
        failures.count = failures.count.saturating_add(1);
        failures.last = now;
        if failures.count >= free {
            // 1 s after the last free one, then 2, 4, … up to the cap.
            let doublings = (failures.count - free).min(20);
            let wait = Duration::from_secs(1u64 << doublings).min(MAX_WAIT);
            failures.blocked_until = Some(now + wait);
        }
    }

    fn clear(&mut self, key: &K) {
        self.entries.remove(key);
    }

    fn forget_stalest(&mut self) {
        if let Some(stalest) = self
            .entries
            .iter()
            .min_by_key(|(_, failures)| failures.last)
            .map(|(key, _)| key.clone())
        {
            self.entries.remove(&stalest);
        }
    }
}

/// The login limits of one server.
#[derive(Debug)]
pub struct LoginLimits {
    accounts: Mutex<Table<String>>,
    addresses: Mutex<Table<IpAddr>>,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            accounts: Mutex::new(Table::new(FREE_PER_ACCOUNT)),
            addresses: Mutex::new(Table::new(FREE_PER_ADDRESS)),
        }
    }
}

fn account_key(email: &str) -> String {
    email.trim().to_ascii_lowercase()
}

impl LoginLimits {
    /// How long an attempt for `email` from `address` must wait; `None` when it may go ahead.
    pub fn wait(&self, email: &str, address: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let account = lock(&self.accounts).wait(&account_key(email), now);
        let address = address.and_then(|ip| lock(&self.addresses).wait(&ip, now));
        account.max(address)
    }

    /// Counts a wrong password (or an unknown email: the two look alike from outside).
    pub fn failed(&self, email: &str, address: Option<IpAddr>) {
        let now = Instant::now();
        lock(&self.accounts).fail(account_key(email), now);
        if let Some(ip) = address {
            lock(&self.addresses).fail(ip, now);
        }
    }

    /// A right password: the account starts afresh.
    pub fn succeeded(&self, email: &str) {
        lock(&self.accounts).clear(&account_key(email));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_waits_after_its_free_failures_and_the_wait_doubles() {
        let mut table = Table::new(FREE_PER_ACCOUNT);
        let start = Instant::now();
        let key = "ana@example.com".to_owned();
        for _ in 0..FREE_PER_ACCOUNT - 1 {
            table.fail(key.clone(), start);
            assert_eq!(table.wait(&key, start), None);
        }
        table.fail(key.clone(), start);
        assert_eq!(table.wait(&key, start), Some(Duration::from_secs(1)));
        table.fail(key.clone(), start);
        assert_eq!(table.wait(&key, start), Some(Duration::from_secs(2)));
        for _ in 0..30 {
            table.fail(key.clone(), start);
        }
        assert_eq!(table.wait(&key, start), Some(MAX_WAIT));
        assert_eq!(table.wait(&key, start + MAX_WAIT), None, "the wait ends");
        assert_eq!(
            table.wait(&key, start + FORGET_AFTER + Duration::from_secs(1)),
            None
        );
        assert!(table.entries.is_empty(), "a quiet key is forgotten");
        table.fail(key.clone(), start);
        table.clear(&key);
        assert_eq!(table.wait(&key, start), None);
    }

    #[test]
    fn accounts_are_case_insensitive_and_addresses_count_apart() {
        let limits = LoginLimits::default();
        let here: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..FREE_PER_ACCOUNT {
            limits.failed("Ana@Example.com", Some(here));
        }
        assert!(limits.wait("ana@example.com", None).is_some());
        assert_eq!(limits.wait("bob@example.com", Some(here)), None);
        limits.succeeded("ANA@example.com");
        assert_eq!(limits.wait("ana@example.com", None), None);
    }

    #[test]
    fn the_tables_stay_bounded() {
        let mut table = Table::new(1);
        let now = Instant::now();
        for n in 0..MAX_KEYS + 10 {
            table.fail(n, now + Duration::from_millis(n as u64));
        }
        assert_eq!(table.entries.len(), MAX_KEYS);
        assert!(!table.entries.contains_key(&0), "the stalest went first");
    }
}
