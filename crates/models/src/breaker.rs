//! A circuit breaker per provider: after `failure_threshold` consecutive failures the provider is skipped for
//! `cooldown`; then one trial call is let through (half-open) and its outcome closes or re-opens the circuit.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Breaker settings.
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    pub failure_threshold: u32,
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig { failure_threshold: 5, cooldown: Duration::from_secs(30) }
    }
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// One provider's breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    config: BreakerConfig,
    state: Mutex<State>,
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Breaker { config, state: Mutex::new(State::Closed { failures: 0 }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a call may go through now (an expired open circuit lets one trial through).
    pub(crate) fn allow(&self) -> bool {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => true,
            State::HalfOpen => false,
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen;
                true
            }
            State::Open { .. } => false,
        }
    }

    pub(crate) fn record_success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    pub(crate) fn record_failure(&self) {
        let mut state = self.lock();
        let failures = match *state {
            State::Closed { failures } => failures + 1,
            State::HalfOpen | State::Open { .. } => self.config.failure_threshold,
        };
        *state = if failures >= self.config.failure_threshold {
            State::Open { until: Instant::now() + self.config.cooldown }
        } else {
            State::Closed { failures }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_half_opens_after_cooldown() {
        let breaker = Breaker::new(BreakerConfig { failure_threshold: 2, cooldown: Duration::from_millis(20) });
        assert!(breaker.allow());
        breaker.record_failure();
        assert!(breaker.allow());
        breaker.record_failure();
        assert!(!breaker.allow(), "open after two failures");
        std::thread::sleep(Duration::from_millis(25));
        assert!(breaker.allow(), "one trial after the cooldown");
        assert!(!breaker.allow(), "only one trial at a time");
        breaker.record_failure();
        assert!(!breaker.allow(), "a failed trial re-opens");
        std::thread::sleep(Duration::from_millis(25));
        assert!(breaker.allow());
        breaker.record_success();
        assert!(breaker.allow() && breaker.allow(), "a good trial closes");
    }
}
