//! A Slack double: the Web API methods the gateway calls and Socket Mode, on loopback, following Slack's published
//! descriptions (`slackapi/slack-api-specs` and the Socket Mode protocol: `auth.test`, `apps.connections.open` with
//! the app token, `chat.postMessage`, `conversations.history`, `conversations.replies`; `{ok, error}` answers, HTTP
//! 429 with `Retry-After`; the `hello`, `events_api` envelopes acknowledged by `envelope_id`, `disconnect`).
//! An envelope not acknowledged is delivered again on the next connection with `retry_attempt` raised — Slack retries
//! an unacknowledged event the same way, if more slowly. A test plays the people (`user_sends`) and the platform's
//! moods; [`sign`] signs an HTTP Events API request as Slack does.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::{Recorded, Reply, ScriptedServer};

/// Slack cuts `text` here.
pub const MAX_TEXT: usize = 40_000;

enum Command {
    Text(String),
    Drop,
}

#[derive(Clone)]
enum Failure {
    RateLimited(u64),
    Status(u16),
    LostAnswer,
}

#[derive(Default)]
struct State {
    bot_token: String,
    app_token: String,
    bot_user: String,
    bot_id: String,
    team: String,
    clock: u64,
    envelopes: u64,
    /// Channel id → its type (`im`, `channel`, `group`, `mpim`).
    channels: Vec<(String, String)>,
    /// Every message, oldest first.
    messages: Vec<Value>,
    /// Envelopes sent and not acknowledged, oldest first.
    unacked: VecDeque<Value>,
    live: Option<mpsc::UnboundedSender<Command>>,
    failures: VecDeque<Failure>,
    ws_url: String,
    /// Every `chat.postMessage`: when, and the status it got.
    attempts: Vec<(std::time::Instant, u16)>,
    stats: Stats,
}

/// What the double saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub connections: u32,
    pub acknowledged: u32,
    /// Envelopes sent again on a later connection because they were not acknowledged.
    pub redelivered: u32,
    pub rate_limited: u32,
}

fn error(status: u16, code: &str) -> Reply {
    Reply::json(status, json!({"ok": false, "error": code}))
}

impl State {
    fn ts(&mut self) -> String {
        self.clock += 1;
        let seconds =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        format!("{seconds}.{:06}", self.clock % 1_000_000)
    }

    fn channel_type(&self, channel: &str) -> Option<String> {
        self.channels.iter().find(|(id, _)| id == channel).map(|(_, kind)| kind.clone())
    }

    /// Wraps an event in an `event_callback` and an `events_api` envelope, and sends it when connected.
    fn callback(&mut self, event: Value) -> Value {
        self.envelopes += 1;
        json!({"token": "verification-token", "team_id": self.team, "api_app_id": "A0DOUBLE", "event": event,
               "type": "event_callback", "event_id": format!("Ev{:08}", self.envelopes), "event_time": self.clock})
    }

    fn deliver(&mut self, event: Value) -> Value {
        let callback = self.callback(event);
        let envelope = json!({"envelope_id": format!("env-{}", self.envelopes), "type": "events_api",
            "payload": callback, "accepts_response_payload": false, "retry_attempt": 0, "retry_reason": ""});
        self.unacked.push_back(envelope.clone());
        if let Some(live) = &self.live {
            let _ = live.send(Command::Text(envelope.to_string()));
        }
        callback
    }

    fn post_message(&mut self, body: &Value) -> Reply {
        let channel = body["channel"].as_str().unwrap_or_default().to_owned();
        // A user id as the channel posts in the app's DM with that user.
        let known = self.channel_type(&channel).is_some() || channel.starts_with('U');
        if !known {
            return error(200, "channel_not_found");
        }
        if let Some(failure) = self.failures.pop_front() {
            return match failure {
                Failure::RateLimited(seconds) => {
                    self.stats.rate_limited += 1;
                    error(429, "ratelimited").header("retry-after", &seconds.to_string())
                }
                Failure::Status(status) => error(status, "internal_error"),
                Failure::LostAnswer => {
                    let _created = self.post_message(body);
                    error(503, "service_unavailable")
                }
            };
        }
        let text = body["text"].as_str().unwrap_or_default();
        if text.trim().is_empty() {
            return error(200, "no_text");
        }
        if text.chars().count() > MAX_TEXT {
            return error(200, "msg_too_long");
        }
        let ts = self.ts();
        let mut message = json!({"type": "message", "user": self.bot_user, "bot_id": self.bot_id, "text": text,
                                 "ts": ts, "team": self.team});
        if let Some(thread) = body["thread_ts"].as_str() {
            message["thread_ts"] = json!(thread);
        }
        let mut stored = message.clone();
        stored["channel"] = json!(channel);
        stored["unfurl_links"] = body["unfurl_links"].clone();
        self.messages.push(stored);
        // Slack sends the bot its own message too, when it subscribes to the channel's messages.
        let mut event = message.clone();
        event["channel"] = json!(channel);
        event["channel_type"] = json!(self.channel_type(&channel).unwrap_or_else(|| "im".to_owned()));
        self.deliver(event);
        Reply::json(200, json!({"ok": true, "channel": channel, "ts": ts, "message": message}))
    }
}

/// The double: its Web API and its Socket Mode endpoint.
pub struct SlackDouble {
    rest: ScriptedServer,
    state: Arc<Mutex<State>>,
    accept: tokio::task::JoinHandle<()>,
}

impl SlackDouble {
    /// A workspace whose app has these tokens; its bot is named `claw`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(bot_token: &str, app_token: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            bot_token: bot_token.to_owned(),
            app_token: app_token.to_owned(),
            bot_user: "UBOTCLAW1".to_owned(),
            bot_id: "BBOTCLAW1".to_owned(),
            team: "T0DOUBLE1".to_owned(),
            ..State::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let address: SocketAddr = listener.local_addr().expect("local addr");
        state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).ws_url = format!("ws://{address}/link");
        let accept_state = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = accept_state.clone();
                tokio::spawn(async move {
                    if let Ok(socket) = tokio_tungstenite::accept_async(stream).await {
                        serve_socket(socket, state).await;
                    }
                });
            }
        });
        let rest = ScriptedServer::start().await;
        let rest_state = state.clone();
        rest.set_responder(Arc::new(move |request: &Recorded| {
            let mut state = rest_state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            respond(&mut state, request)
        }));
        SlackDouble { rest, state, accept }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The `apiBaseUrl` to configure (`http://127.0.0.1:<port>/api`).
    pub fn api_base(&self) -> String {
        format!("{}/api", self.rest.url())
    }

    pub fn bot_user(&self) -> String {
        self.lock().bot_user.clone()
    }

    /// A conversation of a type: `im` (ids start with D), `channel` (C), `group` (G, private), `mpim` (G).
    pub fn add_channel(&self, id: &str, kind: &str) {
        self.lock().channels.push((id.to_owned(), kind.to_owned()));
    }

    /// A person writes: the message is stored and delivered as a `message` event — and, when it mentions the bot
    /// outside a DM, as an `app_mention` event too, as Slack does for an app subscribed to both. `mention` puts
    /// `<@bot>` first. Returns the `event_callback` of the `message` event (what HTTP mode POSTs) and the `ts`.
    pub fn user_sends(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        mention: bool,
        thread_ts: Option<&str>,
    ) -> (Value, String) {
        let mut state = self.lock();
        let text = if mention { format!("<@{}> {text}", state.bot_user) } else { text.to_owned() };
        let ts = state.ts();
        let kind = state.channel_type(channel).unwrap_or_else(|| "channel".to_owned());
        let mut event = json!({"type": "message", "channel": channel, "channel_type": kind, "user": user,
                               "text": text, "ts": ts, "team": state.team,
                               "event_ts": ts});
        if let Some(thread) = thread_ts {
            event["thread_ts"] = json!(thread);
        }
        state.messages.push(event.clone());
        let callback = state.deliver(event.clone());
        if mention && kind != "im" {
            let mut app_mention = event;
            app_mention["type"] = json!("app_mention");
            if let Some(map) = app_mention.as_object_mut() {
                map.remove("channel_type");
            }
            state.deliver(app_mention);
        }
        (callback, ts)
    }

    /// A person writes in a conversation of an app on the HTTP Events API: the message is stored and its
    /// `event_callback` returned for the test to POST, signed, to the gateway; nothing goes over Socket Mode.
    pub fn http_event(&self, channel: &str, user: &str, text: &str) -> Value {
        let mut state = self.lock();
        let ts = state.ts();
        let kind = state.channel_type(channel).unwrap_or_else(|| "channel".to_owned());
        let event = json!({"type": "message", "channel": channel, "channel_type": kind, "user": user,
                           "text": text, "ts": ts, "team": state.team, "event_ts": ts});
        state.messages.push(event.clone());
        state.callback(event)
    }

    /// Delivers the last message a person wrote in a channel again, in a new envelope, as Slack does when it
    /// retries an event it thinks was not received.
    pub fn redeliver_last(&self, channel: &str) {
        let mut state = self.lock();
        let bot = state.bot_user.clone();
        let last = state.messages.iter().rev().find(|m| m["channel"] == channel && m["user"] != bot.as_str()).cloned();
        if let Some(event) = last {
            state.deliver(event);
        }
    }

    /// The bot's `chat.postMessage` calls so far: when, and the HTTP status each got.
    pub fn send_attempts(&self) -> Vec<(std::time::Instant, u16)> {
        self.lock().attempts.clone()
    }

    /// Delivers any event (an unknown type, an edit).
    pub fn deliver(&self, event: Value) {
        self.lock().deliver(event);
    }

    /// Sends the connected client a raw frame.
    pub fn send_raw(&self, text: &str) {
        if let Some(live) = &self.lock().live {
            let _ = live.send(Command::Text(text.to_owned()));
        }
    }

    /// Asks the client to reconnect (`disconnect`, `refresh_requested`), as Slack does every few hours.
    pub fn request_refresh(&self) {
        self.send_raw(
            &json!({"type": "disconnect", "reason": "refresh_requested",
                              "debug_info": {"host": "double"}})
            .to_string(),
        );
    }

    /// Drops the client's connection without a close frame.
    pub fn drop_connection(&self) {
        if let Some(live) = self.lock().live.take() {
            let _ = live.send(Command::Drop);
        }
    }

    pub fn connected(&self) -> bool {
        self.lock().live.is_some()
    }

    /// The next `count` posts get HTTP 429 with `Retry-After: seconds`.
    pub fn rate_limit_posts(&self, count: usize, seconds: u64) {
        let mut state = self.lock();
        for _ in 0..count {
            state.failures.push_back(Failure::RateLimited(seconds));
        }
    }

    /// The next `count` posts get `status` and create nothing.
    pub fn fail_posts(&self, count: usize, status: u16) {
        let mut state = self.lock();
        for _ in 0..count {
            state.failures.push_back(Failure::Status(status));
        }
    }

    /// The next post creates its message but is answered 503.
    pub fn lose_next_answer(&self) {
        self.lock().failures.push_back(Failure::LostAnswer);
    }

    /// The bot's messages in a channel (for a DM: the D… channel or the user id), oldest first: `(text, thread_ts)`.
    pub fn bot_messages(&self, channel: &str) -> Vec<(String, Option<String>)> {
        let state = self.lock();
        state
            .messages
            .iter()
            .filter(|message| message["channel"] == channel && message["user"] == state.bot_user.as_str())
            .map(|message| {
                (
                    message["text"].as_str().unwrap_or_default().to_owned(),
                    message["thread_ts"].as_str().map(str::to_owned),
                )
            })
            .collect()
    }

    /// Envelopes not acknowledged yet.
    pub fn unacknowledged(&self) -> usize {
        self.lock().unacked.len()
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.rest.requests()
    }
}

impl Drop for SlackDouble {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Signs an HTTP Events API request as Slack does: the `X-Slack-Signature` for `timestamp` and `body`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .map(|value| value.replace("%2E", ".").replace("%2e", "."))
}

fn respond(state: &mut State, request: &Recorded) -> Reply {
    let path = request.path.split('?').next().unwrap_or_default();
    let query = request.path.split_once('?').map(|(_, query)| query).unwrap_or_default();
    let Some(method) = path.strip_prefix("/api/") else { return error(404, "unknown_method") };
    let token = request.header("authorization").and_then(|value| value.strip_prefix("Bearer ")).unwrap_or_default();
    if method == "apps.connections.open" {
        if token != state.app_token {
            return error(200, "invalid_auth");
        }
        return Reply::json(200, json!({"ok": true, "url": format!("{}?ticket={}", state.ws_url, state.clock)}));
    }
    if token != state.bot_token {
        return error(200, "invalid_auth");
    }
    match method {
        "auth.test" => Reply::json(
            200,
            json!({"ok": true, "url": "https://double.slack.com/", "team": "Double", "user": "claw",
                   "team_id": state.team, "user_id": state.bot_user, "bot_id": state.bot_id,
                   "is_enterprise_install": false}),
        ),
        "chat.postMessage" => {
            let reply = state.post_message(&request.json());
            state.attempts.push((std::time::Instant::now(), reply.status));
            reply
        }
        "conversations.history" | "conversations.replies" => {
            let Some(channel) = query_param(query, "channel") else { return error(200, "channel_not_found") };
            let oldest: f64 = query_param(query, "oldest").and_then(|oldest| oldest.parse().ok()).unwrap_or(0.0);
            let thread = query_param(query, "ts");
            let ts_of = |message: &Value| message["ts"].as_str().and_then(|ts| ts.parse::<f64>().ok()).unwrap_or(0.0);
            let mut found: Vec<Value> = state
                .messages
                .iter()
                .filter(|message| message["channel"] == channel.as_str() && ts_of(message) > oldest)
                .filter(|message| match (&thread, method) {
                    (Some(thread), "conversations.replies") => {
                        message["thread_ts"] == thread.as_str() || message["ts"] == thread.as_str()
                    }
                    // The history holds top-level messages.
                    _ => message["thread_ts"].is_null(),
                })
                .cloned()
                .collect();
            if method == "conversations.history" {
                found.reverse();
            }
            Reply::json(200, json!({"ok": true, "messages": found, "has_more": false}))
        }
        _ => error(200, "unknown_method"),
    }
}

async fn serve_socket(mut socket: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, state: Arc<Mutex<State>>) {
    let lock = || state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (sender, mut commands) = mpsc::unbounded_channel::<Command>();
    let pending: Vec<Value> = {
        let mut state = lock();
        state.stats.connections += 1;
        if let Some(old) = state.live.replace(sender.clone()) {
            let _ = old.send(Command::Drop);
        }
        let pending: Vec<Value> = state.unacked.iter().cloned().collect();
        state.stats.redelivered += pending.len() as u32;
        pending
    };
    let hello = json!({"type": "hello", "num_connections": 1, "debug_info": {"host": "double"},
                       "connection_info": {"app_id": "A0DOUBLE"}});
    if socket.send(Message::text(hello.to_string())).await.is_err() {
        return;
    }
    for mut envelope in pending {
        envelope["retry_attempt"] = json!(envelope["retry_attempt"].as_u64().unwrap_or(0) + 1);
        envelope["retry_reason"] = json!("timeout");
        if socket.send(Message::text(envelope.to_string())).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Text(text)) => {
                    if socket.send(Message::text(text)).await.is_err() {
                        return;
                    }
                }
                Some(Command::Drop) | None => return,
            },
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let ack: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    if let Some(id) = ack["envelope_id"].as_str() {
                        let mut state = lock();
                        let before = state.unacked.len();
                        state.unacked.retain(|envelope| envelope["envelope_id"] != id);
                        if state.unacked.len() < before {
                            state.stats.acknowledged += 1;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    let mut state = lock();
                    if state.live.as_ref().is_some_and(|live| live.same_channel(&sender)) {
                        state.live = None;
                    }
                    return;
                }
                Some(Ok(_)) => {}
            },
        }
    }
}
