//! [`FaultProxy`]: an HTTP proxy on loopback between a channel and a real counterpart (the Telegram emulator,
//! Synapse) that adds the faults the counterpart cannot make on demand, for the compliance harness: a 429 in the
//! platform's own format, a send whose answer is lost after the message was created, and a delivery served again
//! (the last poll that carried a message, answered once more — to the poll in flight, so it is not left waiting
//! for the next long poll).
//!
//! Everything else is forwarded as it is. Each request gets its own connection (`connection: close`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::{Recorded, Reply, read_request, write_reply};

/// What the proxy knows of the platform.
pub struct Platform {
    /// A request that sends a message (its attempts are recorded, and the faults hit it).
    pub is_send: fn(&Recorded) -> bool,
    /// A request that polls for messages (a delivery can be served again to it).
    pub is_poll: fn(&Recorded) -> bool,
    /// Whether a poll's answer carries a message for the bot (not only its own echoes).
    pub carries_message: Arc<dyn Fn(&Value) -> bool + Send + Sync>,
    /// The platform's 429 asking for a wait of the given seconds.
    pub rate_limited: fn(f64) -> Reply,
}

#[derive(Default)]
struct State {
    rate_limit: Option<f64>,
    lose_answer: bool,
    replay_pending: bool,
    last_delivery: Option<(u16, Vec<u8>)>,
    replayed: Vec<Vec<u8>>,
    lost: usize,
    attempts: Vec<(Instant, u16)>,
}

/// A fault-injecting HTTP proxy. Dropping it stops accepting connections.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    replay: Arc<Notify>,
    accept_task: tokio::task::JoinHandle<()>,
}

struct Shared {
    upstream: String,
    platform: Platform,
    state: Arc<Mutex<State>>,
    replay: Arc<Notify>,
    http: reqwest::Client,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://host:port`, no trailing slash) on a free loopback port.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(upstream: &str, platform: Platform) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State::default()));
        let replay = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            platform,
            state: state.clone(),
            replay: replay.clone(),
            http: reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("an HTTP client"),
        });
        let accept_task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = handle(stream, shared).await;
                });
            }
        });
        FaultProxy { addr, state, replay, accept_task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next send is refused with the platform's 429 asking for `seconds`.
    pub fn rate_limit_next(&self, seconds: f64) {
        lock(&self.state).rate_limit = Some(seconds);
    }

    /// The next send is forwarded (its message is created) and then its connection is cut without an answer.
    pub fn lose_next_answer(&self) {
        lock(&self.state).lose_answer = true;
    }

    /// The last poll answer that carried a message is served again, to the poll in flight or the next one.
    pub fn redeliver_last(&self) {
        lock(&self.state).replay_pending = true;
        self.replay.notify_waiters();
    }

    /// The bodies served again so far.
    pub fn replayed(&self) -> Vec<Vec<u8>> {
        lock(&self.state).replayed.clone()
    }

    /// Panics unless the harness's faults were all met: exactly one redelivery served, carrying the message the
    /// harness delivers twice, and exactly one answer lost.
    pub fn assert_faults_met(&self) {
        let replayed: Vec<String> =
            self.replayed().iter().map(|body| String::from_utf8_lossy(body).into_owned()).collect();
        assert!(
            replayed.len() == 1 && replayed[0].contains("compliance: delivered twice"),
            "the redelivery was served: {replayed:?}"
        );
        assert_eq!(self.lost_answers(), 1, "the lost answer was lost");
    }

    /// How many answers were lost so far.
    pub fn lost_answers(&self) -> usize {
        lock(&self.state).lost
    }

    /// The send attempts so far: when, and the status each got (a lost answer counts as the upstream's status).
    pub fn send_attempts(&self) -> Vec<(Instant, u16)> {
        lock(&self.state).attempts.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

/// Takes a pending replay, if there is one and something to replay.
fn take_replay(state: &Mutex<State>) -> Option<(u16, Vec<u8>)> {
    let mut state = lock(state);
    if !state.replay_pending {
        return None;
    }
    let delivery = state.last_delivery.clone()?;
    state.replay_pending = false;
    state.replayed.push(delivery.1.clone());
    Some(delivery)
}

async fn handle(mut stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let Some(request) = read_request(&mut stream).await? else { return Ok(()) };
    let platform = &shared.platform;
    if (platform.is_send)(&request) {
        let (rate_limit, lose) = {
            let mut state = lock(&shared.state);
            match state.rate_limit.take() {
                Some(seconds) => (Some(seconds), false),
                None => (None, std::mem::take(&mut state.lose_answer)),
            }
        };
        if let Some(seconds) = rate_limit {
            lock(&shared.state).attempts.push((Instant::now(), 429));
            return write_reply(&mut stream, &(platform.rate_limited)(seconds)).await;
        }
        let at = Instant::now();
        let answer = forward(&shared, &request).await;
        lock(&shared.state).attempts.push((at, answer.status));
        if lose {
            // The message exists upstream; the channel never hears so.
            lock(&shared.state).lost += 1;
            return Ok(());
        }
        return write_reply(&mut stream, &answer).await;
    }
    if (platform.is_poll)(&request) {
        if let Some((status, body)) = take_replay(&shared.state) {
            return write_reply(&mut stream, &Reply::bytes(status, "application/json", body)).await;
        }
        let replay = shared.replay.notified();
        tokio::pin!(replay);
        replay.as_mut().enable();
        let answer = tokio::select! {
            answer = forward(&shared, &request) => answer,
            () = &mut replay => match take_replay(&shared.state) {
                Some((status, body)) => Reply::bytes(status, "application/json", body),
                None => forward(&shared, &request).await,
            },
        };
        let body: Vec<u8> = answer.chunks.iter().flat_map(|(_, bytes)| bytes.clone()).collect();
        if answer.status == 200
            && serde_json::from_slice::<Value>(&body).is_ok_and(|value| (platform.carries_message)(&value))
        {
            lock(&shared.state).last_delivery = Some((answer.status, body));
        }
        return write_reply(&mut stream, &answer).await;
    }
    let answer = forward(&shared, &request).await;
    write_reply(&mut stream, &answer).await
}

/// The upstream's answer to `request`, or a 502 saying why there is none.
async fn forward(shared: &Shared, request: &Recorded) -> Reply {
    let Ok(method) = reqwest::Method::from_bytes(request.method.as_bytes()) else {
        return Reply::json(400, serde_json::json!({"error": "bad method"}));
    };
    let mut builder = shared
        .http
        .request(method, format!("{}{}", shared.upstream, request.path))
        .timeout(Duration::from_secs(120))
        .body(request.body.clone());
    for (name, value) in &request.headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection" | "transfer-encoding") {
            builder = builder.header(name, value);
        }
    }
    match builder.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .unwrap_or("application/json")
                .to_owned();
            let body = response.bytes().await.map(|bytes| bytes.to_vec()).unwrap_or_default();
            Reply::bytes(status, &content_type, body)
        }
        Err(error) => Reply::json(502, serde_json::json!({"error": format!("upstream: {error}")})),
    }
}

/// Telegram's Bot API: `sendMessage` sends, `getUpdates` polls, and a 429 is `parameters.retry_after` seconds.
pub fn telegram() -> Platform {
    Platform {
        is_send: |request| request.path.ends_with("/sendMessage"),
        is_poll: |request| request.path.ends_with("/getUpdates"),
        carries_message: Arc::new(|value| value["result"].as_array().is_some_and(|updates| !updates.is_empty())),
        rate_limited: |seconds| {
            let seconds = seconds.ceil() as u64;
            Reply::json(
                429,
                serde_json::json!({"ok": false, "error_code": 429,
                    "description": format!("Too Many Requests: retry after {seconds}"),
                    "parameters": {"retry_after": seconds}}),
            )
        },
    }
}

/// Matrix's client-server API: `PUT …/send/m.room.message/{txn}` sends, `/sync` polls, and a 429 is
/// `M_LIMIT_EXCEEDED` with `retry_after_ms`. A sync carries a message when a room's timeline has an
/// `m.room.message` from someone other than `bot`.
pub fn matrix(bot: &str) -> Platform {
    let bot = bot.to_owned();
    Platform {
        is_send: |request| request.method == "PUT" && request.path.contains("/send/m.room.message/"),
        is_poll: |request| request.path.contains("/sync"),
        carries_message: Arc::new(move |value| {
            value["rooms"]["join"].as_object().is_some_and(|rooms| {
                rooms.values().any(|room| {
                    room["timeline"]["events"].as_array().is_some_and(|events| {
                        events.iter().any(|event| event["type"] == "m.room.message" && event["sender"] != bot.as_str())
                    })
                })
            })
        }),
        rate_limited: |seconds| {
            Reply::json(
                429,
                serde_json::json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests",
                    "retry_after_ms": (seconds * 1000.0).ceil() as u64}),
            )
        },
    }
}
