//! Login throttling, per account and per client address.
//!
//! Each key (an account name, an address) may fail `max_failures` times within `window`;
//! after that it is locked until the window of its oldest counted failure has passed, and the
//! caller answers 429 with `Retry-After`. A success clears the account's failures (not the
//! address's, so one good password does not reset an address that is guessing others).
//! State is per process; in multi-node mode each node throttles on its own.

use std::collections::{HashMap, VecDeque};

#[derive(Debug, Clone, Copy)]
pub struct ThrottleConfig {
    pub max_failures: usize,
    pub window_seconds: i64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            max_failures: 5,
            window_seconds: 15 * 60,
        }
    }
}

#[derive(Debug, Default)]
pub struct Throttle {
    config: ThrottleConfig,
    failures: HashMap<String, VecDeque<i64>>,
}

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Throttle {
        Throttle {
            config,
            failures: HashMap::new(),
        }
    }

    /// `Err(seconds)` to wait when any of `keys` is locked at `now` (unix seconds).
    pub fn check(&mut self, keys: &[&str], now: i64) -> Result<(), i64> {
        let mut wait = 0;
        for key in keys {
            if let Some(times) = self.failures.get_mut(*key) {
                prune(times, now, self.config.window_seconds);
                if times.len() >= self.config.max_failures {
                    let oldest = times.front().copied().unwrap_or(now);
                    wait = wait.max(oldest + self.config.window_seconds - now);
                }
            }
        }
        if wait > 0 { Err(wait) } else { Ok(()) }
    }

    pub fn record_failure(&mut self, keys: &[&str], now: i64) {
        for key in keys {
            let times = self.failures.entry((*key).to_owned()).or_default();
            prune(times, now, self.config.window_seconds);
            times.push_back(now);
        }
        // Bound memory under a flood of distinct keys.
        if self.failures.len() > 100_000 {
            let window = self.config.window_seconds;
            self.failures.retain(|_, times| {
                prune(times, now, window);
                !times.is_empty()
            });
        }
    }

    pub fn record_success(&mut self, account_key: &str) {
        self.failures.remove(account_key);
    }
}

fn prune(times: &mut VecDeque<i64>, now: i64, window: i64) {
    while times.front().is_some_and(|t| *t + window <= now) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_until_the_window_passes() {
        let mut throttle = Throttle::new(ThrottleConfig {
            max_failures: 3,
            window_seconds: 60,
        });
        for t in 0..3 {
            assert!(throttle.check(&["user:a", "addr:1"], t).is_ok());
            throttle.record_failure(&["user:a", "addr:1"], t);
        }
        assert_eq!(throttle.check(&["user:a"], 10), Err(50));
        assert_eq!(
            throttle.check(&["user:b", "addr:1"], 10),
            Err(50),
            "the address is locked too"
        );
        assert!(throttle.check(&["user:b", "addr:2"], 10).is_ok());
        assert!(throttle.check(&["user:a"], 61).is_ok());
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let mut throttle = Throttle::new(ThrottleConfig {
            max_failures: 2,
            window_seconds: 60,
        });
        throttle.record_failure(&["user:a", "addr:1"], 0);
        throttle.record_failure(&["user:a", "addr:1"], 1);
        throttle.record_success("user:a");
        assert!(throttle.check(&["user:a"], 2).is_ok());
        assert!(throttle.check(&["addr:1"], 2).is_err());
    }
}
