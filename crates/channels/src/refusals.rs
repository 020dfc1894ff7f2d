//! Refused webhook calls (a forged or replayed signature), counted per source address: the first refusal of a
//! minute for each reason is written to the audit log at once, the rest of that minute are counted and written as
//! one summary row with the next minute's first; past [`THROTTLE_AFTER`] refusals in a minute a source is answered
//! 429 without its signature being checked. Unthrottled, every forged POST added an undeletable audit row
//! (1,500 a second). [`post_route`] serves a signed-webhook channel's POSTs: a throttled source is answered 429
//! before anything is read, a body over the channel's limit 413, the rest go to the channel's handler.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one counting window lasts.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Refusals in one window after which a source is throttled for the rest of it.
pub const THROTTLE_AFTER: u32 = 20;
/// Sources tracked at most (the oldest windows go first).
const MAX_SOURCES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

/// What to do with one refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Write an audit row; `suppressed` refusals of the source's previous window were not written one by one.
    Audit { suppressed: u32 },
    /// Counted; no row now.
    Counted,
}

#[derive(Debug, Default)]
pub struct Refusals {
    /// Per source and reason: what goes to the audit log.
    audit: Mutex<HashMap<(IpAddr, &'static str), Window>>,
    /// Per source: what throttles it.
    sources: Mutex<HashMap<IpAddr, Window>>,
}

/// Counts one event in `key`'s window; returns the count of the window it closed, if it closed one.
fn count<K: std::hash::Hash + Eq + Copy>(map: &Mutex<HashMap<K, Window>>, key: K) -> Option<u32> {
    let mut map = map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if map.len() >= MAX_SOURCES && !map.contains_key(&key) {
        let oldest = map.iter().min_by_key(|(_, window)| window.start).map(|(key, _)| *key);
        if let Some(oldest) = oldest {
            map.remove(&oldest);
        }
    }
    let now = Instant::now();
    match map.get_mut(&key) {
        Some(window) if now.duration_since(window.start) < WINDOW => {
            window.count += 1;
            None
        }
        Some(window) => {
            let closed = window.count;
            *window = Window { start: now, count: 1 };
            Some(closed)
        }
        None => {
            map.insert(key, Window { start: now, count: 1 });
            Some(0)
        }
    }
}

impl Refusals {
    /// Seconds to wait when the source is throttled now.
    pub fn throttled(&self, source: IpAddr) -> Option<u64> {
        let sources = self.sources.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let window = sources.get(&source)?;
        let left = WINDOW.checked_sub(window.start.elapsed())?;
        (window.count >= THROTTLE_AFTER).then(|| left.as_secs().max(1))
    }

    /// Counts one refusal from `source` for `reason`.
    pub fn refused(&self, source: IpAddr, reason: &'static str) -> Verdict {
        count(&self.sources, source);
        match count(&self.audit, (source, reason)) {
            Some(closed) => Verdict::Audit { suppressed: closed.saturating_sub(1) },
            None => Verdict::Counted,
        }
    }
}

/// Counts a refused call and writes its audit row (`channel.<channel>.rejected`, outcome `denied`) when the window
/// calls for one; the caller answers 401.
pub async fn record(
    refusals: &Refusals,
    inbox: &crate::Inbox,
    channel: &str,
    reason: &'static str,
    source: Option<IpAddr>,
) {
    let verdict = match source {
        Some(source) => refusals.refused(source, reason),
        None => Verdict::Audit { suppressed: 0 },
    };
    let Verdict::Audit { suppressed } = verdict else { return };
    tracing::warn!(channel, reason, suppressed, "Channel call refused.");
    let mut detail = serde_json::json!({"reason": reason, "source": source.map(|ip| ip.to_string())});
    if suppressed > 0 {
        // The previous minute's further refusals from this source, as one row.
        detail["suppressedBefore"] = serde_json::json!(suppressed);
        detail["windowSeconds"] = serde_json::json!(WINDOW.as_secs());
    }
    let event = openclaw_store::AuditEvent {
        actor: format!("channel:{channel}"),
        action: format!("channel.{channel}.rejected"),
        agent_id: None,
        session_key: None,
        run_id: None,
        outcome: "denied".to_owned(),
        detail,
    };
    if let Err(error) = inbox.audit(event).await {
        tracing::warn!(%error, "Cannot write the audit row of a refused call.");
    }
}

/// A webhook POST as a channel's handler gets it.
pub struct Post {
    pub headers: axum::http::HeaderMap,
    pub body: axum::body::Bytes,
    /// The caller's address, when the server knows it.
    pub source: Option<IpAddr>,
}

fn refusal(status: axum::http::StatusCode, error: String) -> axum::response::Response {
    axum::response::IntoResponse::into_response((status, axum::Json(serde_json::json!({"ok": false, "error": error}))))
}

/// Reads a POST for a channel whose refusals are `refusals`; `Err` is the answer (429 throttled, 413 too large).
async fn read_post(
    request: axum::extract::Request,
    max_body: usize,
    refusals: &Refusals,
) -> Result<Post, axum::response::Response> {
    let source = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip());
    if let Some(seconds) = source.and_then(|ip| refusals.throttled(ip)) {
        let message = format!("too many refused calls from this address; retry in {seconds} s");
        return Err(refusal(axum::http::StatusCode::TOO_MANY_REQUESTS, message));
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, max_body).await else {
        let limit =
            if max_body >= 1 << 20 { format!("{} MiB", max_body >> 20) } else { format!("{} KiB", max_body >> 10) };
        return Err(refusal(axum::http::StatusCode::PAYLOAD_TOO_LARGE, format!("body over {limit}")));
    };
    Ok(Post { headers: parts.headers, body, source })
}

/// The POST route of a signed-webhook channel `this`: each request read by [`read_post`] (its refusals found by
/// `refusals`), then handed to `handle`.
pub fn post_route<T, F, Fut>(
    this: std::sync::Arc<T>,
    inbox: crate::Inbox,
    max_body: usize,
    refusals: fn(&T) -> &Refusals,
    handle: F,
) -> axum::routing::MethodRouter
where
    T: Send + Sync + 'static,
    F: Fn(std::sync::Arc<T>, crate::Inbox, Post) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = axum::response::Response> + Send + 'static,
{
    axum::routing::post(move |request: axum::extract::Request| {
        let (this, inbox, handle) = (this.clone(), inbox.clone(), handle.clone());
        async move {
            match read_post(request, max_body, refusals(&this)).await {
                Ok(post) => handle(this, inbox, post).await,
                Err(refused) => refused,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_a_minute_then_throttled() {
        let refusals = Refusals::default();
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        assert_eq!(refusals.refused(ip, "bad signature"), Verdict::Audit { suppressed: 0 });
        assert_eq!(refusals.refused(ip, "replayed signature"), Verdict::Audit { suppressed: 0 }, "per reason");
        for _ in 2..THROTTLE_AFTER {
            assert_eq!(refusals.refused(ip, "bad signature"), Verdict::Counted);
        }
        assert!(refusals.throttled(ip).is_some());
        assert!(refusals.throttled("203.0.113.6".parse().unwrap()).is_none(), "per source");
        // A new window reports what the old one counted.
        refusals.sources.lock().unwrap().get_mut(&ip).unwrap().start -= WINDOW;
        refusals.audit.lock().unwrap().get_mut(&(ip, "bad signature")).unwrap().start -= WINDOW;
        assert_eq!(refusals.refused(ip, "bad signature"), Verdict::Audit { suppressed: THROTTLE_AFTER - 2 });
        assert!(refusals.throttled(ip).is_none());
    }
}
