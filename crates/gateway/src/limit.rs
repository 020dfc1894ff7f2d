//! Failed-authentication throttling per client address (`gateway.auth.rateLimit.{maxAttempts, windowMs, lockoutMs,
//! exemptLoopback}`): after `maxAttempts` failures inside one window, the address may try once per [`PACE`] until
//! `lockoutMs` pass without a failure; a success clears its record.
//!
//! Paced, not locked out: the reference refuses every attempt during its lockout, the right secret too, so one
//! guesser on a shared address (loopback, a NAT) locks its legitimate users out. Here an attempt inside the pace is
//! refused unread (429), and one after it is checked — the right secret passes, a guesser gets one try a second,
//! which no random token yields to. Loopback is paced too unless `exemptLoopback` says otherwise (a local process is
//! no more trusted than a remote one: a browser page is one).
//!
//! Written here rather than with `governor`: a GCRA limiter counts every request; this counts only failures and
//! forgets them on success.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked at most; beyond this the oldest windows are dropped first (a flood cannot grow memory).
const MAX_TRACKED: usize = 10_000;
/// How often a throttled address may try.
pub(crate) const PACE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    window_start: Instant,
    last_failure: Instant,
    /// While throttled: the earliest next attempt.
    next_allowed: Option<Instant>,
}

/// The configurable part (applied again on a config reload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) max_attempts: u32,
    pub(crate) window: Duration,
    pub(crate) lockout: Duration,
    pub(crate) exempt_loopback: bool,
}

/// Failure counters by address.
#[derive(Debug)]
pub(crate) struct AuthFailures {
    settings: Mutex<Settings>,
    records: Mutex<HashMap<IpAddr, Record>>,
}

impl AuthFailures {
    pub(crate) fn new(max_attempts: u32, window: Duration, lockout: Duration, exempt_loopback: bool) -> Self {
        let settings = Settings { max_attempts: max_attempts.max(1), window, lockout, exempt_loopback };
        AuthFailures { settings: Mutex::new(settings), records: Mutex::default() }
    }

    /// New settings (a reload); the counts so far are kept.
    pub(crate) fn configure(&self, mut settings: Settings) {
        settings.max_attempts = settings.max_attempts.max(1);
        *self.settings.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = settings;
    }

    fn settings(&self) -> Settings {
        *self.settings.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn exempt(&self, ip: IpAddr) -> bool {
        self.settings().exempt_loopback && ip.is_loopback()
    }

    /// How long the address must wait before its next attempt is checked, if it is throttled now.
    pub(crate) fn locked(&self, ip: IpAddr) -> Option<Duration> {
        if self.exempt(ip) {
            return None;
        }
        let now = Instant::now();
        let lockout = self.settings().lockout;
        let mut records = self.records();
        let record = records.get(&ip)?;
        if now.duration_since(record.last_failure) > lockout {
            records.remove(&ip);
            return None;
        }
        let until = record.next_allowed?;
        (until > now).then(|| until - now)
    }

    /// Counts a failure; returns the wait it imposes, if the address is throttled now.
    pub(crate) fn failed(&self, ip: IpAddr) -> Option<Duration> {
        if self.exempt(ip) {
            return None;
        }
        let settings = self.settings();
        let now = Instant::now();
        let mut records = self.records();
        if records.len() >= MAX_TRACKED && !records.contains_key(&ip) {
            let oldest = records.iter().min_by_key(|(_, record)| record.last_failure).map(|(ip, _)| *ip);
            if let Some(oldest) = oldest {
                records.remove(&oldest);
            }
        }
        let fresh = Record { failures: 0, window_start: now, last_failure: now, next_allowed: None };
        let record = records.entry(ip).or_insert(fresh);
        let throttled = record.next_allowed.is_some();
        let stale = if throttled {
            now.duration_since(record.last_failure) > settings.lockout
        } else {
            now.duration_since(record.window_start) > settings.window
        };
        if stale {
            *record = fresh;
        }
        record.failures += 1;
        record.last_failure = now;
        if record.failures >= settings.max_attempts {
            record.next_allowed = Some(now + PACE);
            return Some(PACE);
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
    fn paces_after_max_attempts_and_success_resets() {
        let limits = AuthFailures::new(3, Duration::from_secs(60), Duration::from_secs(300), false);
        let remote: IpAddr = "203.0.113.7".parse().unwrap();
        assert!(limits.failed(remote).is_none());
        assert!(limits.failed(remote).is_none());
        assert!(limits.locked(remote).is_none());
        assert_eq!(limits.failed(remote), Some(PACE));
        let wait = limits.locked(remote).expect("paced after the third failure");
        assert!(wait <= PACE);
        // Once the pace has passed, an attempt is checked again (the right secret would pass).
        limits.records().get_mut(&remote).unwrap().next_allowed = Some(Instant::now());
        assert!(limits.locked(remote).is_none());
        limits.succeeded(remote);
        assert!(limits.locked(remote).is_none());
        // Loopback is paced too, unless configured exempt — and a reload applies that.
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..3 {
            limits.failed(local);
        }
        assert!(limits.locked(local).is_some());
        limits.configure(Settings {
            max_attempts: 3,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(300),
            exempt_loopback: true,
        });
        assert!(limits.locked(local).is_none());
    }
}
