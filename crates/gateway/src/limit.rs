//! Failed-authentication throttling per client address, with the reference's semantics
//! (`gateway.auth.rateLimit.{maxAttempts, windowMs, lockoutMs, exemptLoopback}`): after `maxAttempts` failures inside
//! one window the address is locked out for `lockoutMs`; a success clears its record.
//!
//! Written here rather than with `governor`: a GCRA limiter counts every request and refills continuously, while
//! this counts only failures, locks out for a fixed time and resets on success — what the reference's clients expect.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked at most; beyond this the oldest windows are dropped first (a flood cannot grow memory).
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
}

/// Failure counters by address.
#[derive(Debug)]
pub(crate) struct AuthFailures {
    max_attempts: u32,
    window: Duration,
    lockout: Duration,
    exempt_loopback: bool,
    records: Mutex<HashMap<IpAddr, Record>>,
}

impl AuthFailures {
    pub(crate) fn new(max_attempts: u32, window: Duration, lockout: Duration, exempt_loopback: bool) -> Self {
        AuthFailures { max_attempts: max_attempts.max(1), window, lockout, exempt_loopback, records: Mutex::default() }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn exempt(&self, ip: IpAddr) -> bool {
        self.exempt_loopback && ip.is_loopback()
    }

    /// How long the address must wait before it may try again, if it is locked out.
    pub(crate) fn locked(&self, ip: IpAddr) -> Option<Duration> {
        if self.exempt(ip) {
            return None;
        }
        let now = Instant::now();
        let until = self.records().get(&ip)?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Counts a failure; returns the lockout it triggered, if any.
    pub(crate) fn failed(&self, ip: IpAddr) -> Option<Duration> {
        if self.exempt(ip) {
            return None;
        }
        let now = Instant::now();
        let mut records = self.records();
        if records.len() >= MAX_TRACKED && !records.contains_key(&ip) {
            let oldest = records.iter().min_by_key(|(_, record)| record.window_start).map(|(ip, _)| *ip);
            if let Some(oldest) = oldest {
                records.remove(&oldest);
            }
        }
        let record = records.entry(ip).or_insert(Record { failures: 0, window_start: now, locked_until: None });
        if now.duration_since(record.window_start) > self.window || record.locked_until.is_some_and(|u| u <= now) {
            *record = Record { failures: 0, window_start: now, locked_until: None };
        }
        record.failures += 1;
        if record.failures >= self.max_attempts {
            record.locked_until = Some(now + self.lockout);
            return Some(self.lockout);
        }
        None
    }

    /// Clears the address's record after a successful authentication.
    pub(crate) fn succeeded(&self, ip: IpAddr) {
        self.records().remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_max_attempts_and_success_resets() {
        let limits = AuthFailures::new(3, Duration::from_secs(60), Duration::from_secs(300), true);
        let remote: IpAddr = "203.0.113.7".parse().unwrap();
        assert!(limits.failed(remote).is_none());
        assert!(limits.failed(remote).is_none());
        assert!(limits.locked(remote).is_none());
        assert_eq!(limits.failed(remote), Some(Duration::from_secs(300)));
        let wait = limits.locked(remote).expect("locked after the third failure");
        assert!(wait > Duration::from_secs(299));
        limits.succeeded(remote);
        assert!(limits.locked(remote).is_none());
        // Loopback is exempt when configured so.
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..10 {
            assert!(limits.failed(local).is_none());
        }
        assert!(limits.locked(local).is_none());
    }
}
