//! Who is connected (`system-presence`, `hello-ok.snapshot.presence`, `presence` events), built to stay cheap with
//! thousands of clients: snapshots and events show the most recent [`SHOWN`] connections (`system-presence` lists
//! all), and changes are announced by the gateway's state task at most once a second rather than once per connect
//! — a storm of N connects used to cost N broadcasts of N entries to N clients.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

/// Entries in snapshots and events.
pub(crate) const SHOWN: usize = 64;

#[derive(Default)]
struct Entries {
    /// conn id → (join order, entry).
    by_conn: HashMap<String, (u64, Value)>,
    /// join order → conn id, for the most recent first.
    by_order: BTreeMap<u64, String>,
    next: u64,
}

/// The connected clients.
#[derive(Default)]
pub(crate) struct Presence {
    entries: Mutex<Entries>,
    version: AtomicU64,
}

impl Presence {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn join(&self, conn_id: &str, entry: Value) {
        let mut entries = self.lock();
        entries.next += 1;
        let order = entries.next;
        if let Some((old, _)) = entries.by_conn.insert(conn_id.to_owned(), (order, entry)) {
            entries.by_order.remove(&old);
        }
        entries.by_order.insert(order, conn_id.to_owned());
        drop(entries);
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn leave(&self, conn_id: &str) {
        let mut entries = self.lock();
        if let Some((order, _)) = entries.by_conn.remove(conn_id) {
            entries.by_order.remove(&order);
            drop(entries);
            self.version.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Every connection, oldest first.
    pub(crate) fn all(&self) -> Vec<Value> {
        let entries = self.lock();
        entries.by_order.values().filter_map(|conn| entries.by_conn.get(conn).map(|(_, v)| v.clone())).collect()
    }

    /// The [`SHOWN`] most recent connections, oldest of them first.
    pub(crate) fn shown(&self) -> Vec<Value> {
        let entries = self.lock();
        let mut shown: Vec<Value> = entries
            .by_order
            .values()
            .rev()
            .take(SHOWN)
            .filter_map(|conn| entries.by_conn.get(conn).map(|(_, v)| v.clone()))
            .collect();
        shown.reverse();
        shown
    }

    pub(crate) fn count(&self) -> usize {
        self.lock().by_conn.len()
    }

    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn shows_the_most_recent_and_lists_all() {
        let presence = Presence::default();
        for n in 0..(SHOWN + 10) {
            presence.join(&format!("c{n}"), json!({"connId": format!("c{n}")}));
        }
        presence.leave("c3");
        presence.leave("unknown");
        assert_eq!(presence.count(), SHOWN + 9);
        assert_eq!(presence.all().len(), SHOWN + 9);
        let shown = presence.shown();
        assert_eq!(shown.len(), SHOWN);
        assert_eq!(shown.last().unwrap()["connId"], format!("c{}", SHOWN + 9));
        assert_eq!(shown[0]["connId"], "c10");
        assert_eq!(presence.version(), (SHOWN + 11) as u64);
    }
}
