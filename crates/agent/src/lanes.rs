//! Per-session lanes: one run at a time per session key; further turns for the same key wait in arrival order
//! (tokio's mutex is fair). Idle lanes are dropped so the map does not grow without bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The lanes of all sessions.
#[derive(Default)]
pub struct Lanes {
    lanes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while a turn runs; dropping it lets the next turn of the session start.
pub struct LaneGuard<'a> {
    lanes: &'a Lanes,
    key: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Lanes {
    /// Waits for the session's lane.
    pub async fn acquire(&self, key: &str) -> LaneGuard<'_> {
        let lane = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            lanes.entry(key.to_owned()).or_default().clone()
        };
        let guard = lane.lock_owned().await;
        LaneGuard { lanes: self, key: key.to_owned(), guard: Some(guard) }
    }

    /// How many sessions have a lane (running or waiting).
    pub fn len(&self) -> usize {
        self.lanes.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    /// Whether no lane exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for LaneGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut lanes = self.lanes.lanes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Only this map and nobody else holds the lane: no one waits, so it can go.
        if lanes.get(&self.key).is_some_and(|lane| Arc::strong_count(lane) == 1) {
            lanes.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_turn_at_a_time_per_key_in_order() {
        let lanes = Arc::new(Lanes::default());
        let log = Arc::new(Mutex::new(Vec::new()));
        let first = lanes.acquire("a").await;
        let mut waiters = Vec::new();
        for idx in 0..3 {
            let lanes = lanes.clone();
            let log = log.clone();
            waiters.push(tokio::spawn(async move {
                let _lane = lanes.acquire("a").await;
                log.lock().unwrap().push(idx);
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _other = lanes.acquire("b").await; // another session is not blocked
        assert!(log.lock().unwrap().is_empty());
        drop(first);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert_eq!(*log.lock().unwrap(), vec![0, 1, 2]);
        drop(_other);
        assert!(lanes.is_empty());
    }
}
