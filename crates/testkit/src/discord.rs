//! A Discord double: the REST API v10 calls the gateway makes and the Gateway WebSocket, on loopback, following
//! Discord's published descriptions (`discord/discord-api-spec` for REST: `GET /gateway/bot`, `GET /users/@me`,
//! `GET /channels/{id}`, `GET|POST /channels/{id}/messages` with `nonce` ≤ 25 and `enforce_nonce`,
//! `POST /channels/{id}/typing`, `POST /users/@me/channels`; `{code, message}` errors, 429 with `retry_after` and
//! `global`, the `X-RateLimit-*` headers; the Gateway's op codes HELLO 10, IDENTIFY 2, READY, RESUME 6 / RESUMED,
//! HEARTBEAT 1 / ACK 11, RECONNECT 7, INVALID_SESSION 9 and its close codes). Sessions keep their events, so a
//! client that resumes gets everything after the sequence number it names — also after it was killed. A test plays
//! the people (`user_sends`) and the platform's moods (`drop_connection`, `rate_limit_sends`, `fail_sends`, …).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::{Recorded, Reply, ScriptedServer};

const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
const MESSAGE_CONTENT: u64 = 1 << 15;
/// Discord's limit for a bot message's content.
pub const MAX_CONTENT: usize = 2000;

/// What the double sends a connected client.
enum Command {
    Text(String),
    /// Close the TCP connection without a close frame (a dropped connection).
    Drop,
    Close(u16),
}

#[derive(Default)]
struct Session {
    seq: u64,
    events: Vec<(u64, Value)>,
}

/// A failure the next message sends get.
#[derive(Clone)]
enum Failure {
    RateLimited {
        retry_after: f64,
        global: bool,
    },
    Status(u16),
    /// The message is created, but the answer is a 502 (the answer lost on the way back).
    LostAnswer,
}

#[derive(Default)]
struct State {
    token: String,
    bot: Value,
    counter: u64,
    channels: HashMap<String, Value>,
    guilds: Vec<Value>,
    /// Every message, in creation order.
    messages: Vec<Value>,
    nonces: HashMap<(String, String), Value>,
    sessions: HashMap<String, Session>,
    /// The session events go to (the last one identified), connected or not.
    current: Option<String>,
    live: Option<(String, mpsc::UnboundedSender<Command>)>,
    heartbeat_interval: u64,
    ack_heartbeats: bool,
    failures: VecDeque<Failure>,
    /// Per channel: `(limit, window)` and the times of recent sends.
    bucket: Option<(usize, Duration)>,
    sent_at: HashMap<String, VecDeque<Instant>>,
    /// Every message send: when, and the status it got.
    attempts: Vec<(Instant, u16)>,
    /// The Gateway's own URL, which READY gives as `resume_gateway_url`.
    resume_url: String,
    stats: Stats,
}

/// What the double saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub identifies: u32,
    pub resumes: u32,
    pub heartbeats: u32,
    /// Message sends refused with 429 (scripted, or over the bucket).
    pub rate_limited: u32,
    /// Sends answered with the message an earlier send with the same nonce created.
    pub nonce_repeats: u32,
    /// IDENTIFYs refused (a wrong token, intents without message content).
    pub refused: u32,
}

impl State {
    fn snowflake(&mut self) -> String {
        self.counter += 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(DISCORD_EPOCH_MS);
        (((now - DISCORD_EPOCH_MS) << 22) + (self.counter % (1 << 22))).to_string()
    }

    /// Queues a dispatch on the current session and sends it when the client is connected.
    fn dispatch(&mut self, event: &str, d: Value) {
        let Some(payload) = queue(self, event, d) else { return };
        if let (Some((live, sender)), Some(current)) = (&self.live, &self.current)
            && live == current
        {
            let _ = sender.send(Command::Text(payload.to_string()));
        }
    }

    fn create_message(&mut self, channel_id: &str, author: Value, content: &str, extra: Value) -> Value {
        let id = self.snowflake();
        let mut message = json!({"id": id, "channel_id": channel_id, "type": 0, "content": content,
            "author": author, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "timestamp": "2026-12-07T10:00:00.000000+00:00", "edited_timestamp": null, "flags": 0,
            "components": [], "pinned": false, "mention_everyone": false, "tts": false});
        if let Some(guild) = self.channels.get(channel_id).and_then(|channel| channel["guild_id"].as_str()) {
            message["guild_id"] = json!(guild);
        }
        if let (Some(map), Some(extra)) = (message.as_object_mut(), extra.as_object()) {
            for (key, value) in extra {
                map.insert(key.clone(), value.clone());
            }
        }
        self.messages.push(message.clone());
        self.dispatch("MESSAGE_CREATE", message.clone());
        message
    }
}

fn error(status: u16, code: i64, message: &str) -> Reply {
    Reply::json(status, json!({"code": code, "message": message}))
}

/// The double: its REST server and its Gateway.
pub struct DiscordDouble {
    rest: ScriptedServer,
    gateway: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: tokio::task::JoinHandle<()>,
}

impl DiscordDouble {
    /// A double for the bot with this token, named `bot_name`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(token: &str, bot_name: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            token: token.to_owned(),
            heartbeat_interval: 41_250,
            ack_heartbeats: true,
            ..State::default()
        }));
        {
            let mut locked = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let id = locked.snowflake();
            locked.bot = json!({"id": id, "username": bot_name, "global_name": null, "discriminator": "0",
                                "avatar": null, "bot": true, "public_flags": 0, "flags": 0, "primary_guild": null});
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let gateway = listener.local_addr().expect("local addr");
        state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).resume_url = format!("ws://{gateway}");
        let accept_state = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = accept_state.clone();
                tokio::spawn(async move {
                    if let Ok(socket) = tokio_tungstenite::accept_async(stream).await {
                        serve_gateway(socket, state).await;
                    }
                });
            }
        });
        let rest = ScriptedServer::start().await;
        let rest_state = state.clone();
        let gateway_url = format!("ws://{gateway}");
        rest.set_responder(Arc::new(move |request: &Recorded| {
            let mut state = rest_state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            respond(&mut state, request, &gateway_url)
        }));
        DiscordDouble { rest, gateway, state, accept }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The `apiBaseUrl` to configure (`http://127.0.0.1:<port>/api`).
    pub fn api_base(&self) -> String {
        format!("{}/api", self.rest.url())
    }

    /// The Gateway's address (`ws://127.0.0.1:<port>`).
    pub fn gateway_url(&self) -> String {
        format!("ws://{}", self.gateway)
    }

    /// The bot's user id.
    pub fn bot_id(&self) -> String {
        self.lock().bot["id"].as_str().unwrap_or_default().to_owned()
    }

    /// A guild with text channels `(id, name)`; announced (GUILD_CREATE) on every IDENTIFY from now on.
    pub fn add_guild(&self, guild_id: &str, channels: &[(&str, &str)]) {
        let mut state = self.lock();
        let channels: Vec<Value> = channels
            .iter()
            .map(|(id, name)| json!({"id": id, "type": 0, "guild_id": guild_id, "name": name}))
            .collect();
        for channel in &channels {
            state.channels.insert(channel["id"].as_str().unwrap_or_default().to_owned(), channel.clone());
        }
        let guild = json!({"id": guild_id, "name": format!("guild {guild_id}"), "channels": channels, "threads": []});
        state.guilds.push(guild.clone());
        state.dispatch("GUILD_CREATE", guild);
    }

    /// A public thread in a guild channel, announced with THREAD_CREATE when `announce`.
    pub fn add_thread(&self, parent: &str, thread_id: &str, announce: bool) {
        let mut state = self.lock();
        let guild = state.channels.get(parent).map(|channel| channel["guild_id"].clone()).unwrap_or(Value::Null);
        let thread = json!({"id": thread_id, "type": 11, "guild_id": guild, "parent_id": parent, "name": "a thread"});
        state.channels.insert(thread_id.to_owned(), thread.clone());
        if announce {
            state.dispatch("THREAD_CREATE", thread);
        }
    }

    /// The DM channel between the bot and a user (created once).
    pub fn dm_channel(&self, user_id: &str) -> String {
        open_dm(&mut self.lock(), user_id)
    }

    /// A person writes in a channel: the message is created and dispatched (MESSAGE_CREATE) on the session.
    /// `mention`: the bot is mentioned (`<@id>` in the text and in `mentions`). Returns the message id.
    pub fn user_sends(&self, channel_id: &str, user: (&str, &str), content: &str, mention: bool) -> String {
        let mut state = self.lock();
        let author = json!({"id": user.0, "username": user.1, "global_name": user.1, "discriminator": "0",
                            "avatar": null, "public_flags": 0, "flags": 0, "primary_guild": null});
        let bot = state.bot.clone();
        let (content, extra) = if mention {
            (format!("<@{}> {content}", bot["id"].as_str().unwrap_or_default()), json!({"mentions": [bot]}))
        } else {
            (content.to_owned(), json!({}))
        };
        let message = state.create_message(channel_id, author, &content, extra);
        message["id"].as_str().unwrap_or_default().to_owned()
    }

    /// Dispatches the last message a person wrote in a channel again (the same id), as Discord may after a resume.
    pub fn redeliver_last(&self, channel_id: &str) {
        let mut state = self.lock();
        let bot = state.bot["id"].clone();
        let last =
            state.messages.iter().rev().find(|m| m["channel_id"] == channel_id && m["author"]["id"] != bot).cloned();
        if let Some(message) = last {
            state.dispatch("MESSAGE_CREATE", message);
        }
    }

    /// The bot's message sends so far: when, and the HTTP status each got.
    pub fn send_attempts(&self) -> Vec<(Instant, u16)> {
        self.lock().attempts.clone()
    }

    /// Dispatches any event (an unknown type, a system message) on the session.
    pub fn dispatch(&self, event: &str, d: Value) {
        self.lock().dispatch(event, d);
    }

    /// Sends the connected client a raw frame (a malformed payload).
    pub fn send_raw(&self, text: &str) {
        if let Some((_, sender)) = &self.lock().live {
            let _ = sender.send(Command::Text(text.to_owned()));
        }
    }

    /// Drops the client's connection without a close frame (the session stays resumable).
    pub fn drop_connection(&self) {
        if let Some((_, sender)) = self.lock().live.take() {
            let _ = sender.send(Command::Drop);
        }
    }

    /// Closes the client's connection with a close code.
    pub fn close_connection(&self, code: u16) {
        if let Some((_, sender)) = self.lock().live.take() {
            let _ = sender.send(Command::Close(code));
        }
    }

    /// Asks the client to reconnect (op 7).
    pub fn request_reconnect(&self) {
        self.send_raw(&json!({"op": 7, "d": null}).to_string());
    }

    /// Whether a client is connected and identified (or resumed).
    pub fn connected(&self) -> bool {
        self.lock().live.is_some()
    }

    /// The heartbeat interval HELLO gives from now on (Discord's is about 41 s).
    pub fn set_heartbeat_interval(&self, millis: u64) {
        self.lock().heartbeat_interval = millis;
    }

    /// Whether heartbeats are acknowledged (not: the connection looks dead to the client).
    pub fn set_ack_heartbeats(&self, ack: bool) {
        self.lock().ack_heartbeats = ack;
    }

    /// The next `count` message sends get a 429 with `retry_after` seconds.
    pub fn rate_limit_sends(&self, count: usize, retry_after: f64, global: bool) {
        let mut state = self.lock();
        for _ in 0..count {
            state.failures.push_back(Failure::RateLimited { retry_after, global });
        }
    }

    /// The next `count` message sends get `status` (a 5xx) and create nothing.
    pub fn fail_sends(&self, count: usize, status: u16) {
        let mut state = self.lock();
        for _ in 0..count {
            state.failures.push_back(Failure::Status(status));
        }
    }

    /// The next message send creates its message but is answered 502, as when the answer is lost on the way.
    pub fn lose_next_answer(&self) {
        self.lock().failures.push_back(Failure::LostAnswer);
    }

    /// Forgets every session: a RESUME then gets INVALID_SESSION (not resumable) and the client must identify.
    pub fn forget_sessions(&self) {
        let mut state = self.lock();
        state.sessions.clear();
        state.current = None;
    }

    /// Each channel takes `limit` messages per `window`, as Discord's buckets do; the headers say so and a send
    /// over it gets a 429.
    pub fn set_bucket(&self, limit: usize, window: Duration) {
        self.lock().bucket = Some((limit, window));
    }

    /// The bot's messages in a channel, oldest first.
    pub fn bot_messages(&self, channel_id: &str) -> Vec<Value> {
        let state = self.lock();
        let bot = state.bot["id"].clone();
        state
            .messages
            .iter()
            .filter(|message| message["channel_id"] == channel_id && message["author"]["id"] == bot)
            .cloned()
            .collect()
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// Every REST request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.rest.requests()
    }
}

impl Drop for DiscordDouble {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn open_dm(state: &mut State, user_id: &str) -> String {
    let existing =
        state.channels.values().find(|channel| channel["type"] == 1 && channel["recipients"][0]["id"] == user_id);
    if let Some(id) = existing.and_then(|channel| channel["id"].as_str()) {
        return id.to_owned();
    }
    let id = state.snowflake();
    state.channels.insert(id.clone(), json!({"id": id, "type": 1, "recipients": [{"id": user_id}]}));
    id
}

/// The REST API.
fn respond(state: &mut State, request: &Recorded, gateway_url: &str) -> Reply {
    if request.header("authorization") != Some(&format!("Bot {}", state.token)) {
        return error(401, 0, "401: Unauthorized");
    }
    let path = request.path.split('?').next().unwrap_or_default();
    let query = request.path.split_once('?').map(|(_, query)| query).unwrap_or_default();
    let Some(route) = path.strip_prefix("/api/v10") else { return error(404, 0, "404: Not Found") };
    let segments: Vec<&str> = route.trim_matches('/').split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["gateway", "bot"]) => Reply::json(
            200,
            json!({"url": gateway_url, "shards": 1,
                   "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}}),
        ),
        ("GET", ["users", "@me"]) => Reply::json(200, state.bot.clone()),
        ("POST", ["users", "@me", "channels"]) => {
            let Some(user) = request.json()["recipient_id"].as_str().map(str::to_owned) else {
                return error(400, 50035, "Invalid Form Body");
            };
            let id = open_dm(state, &user);
            Reply::json(200, state.channels.get(&id).cloned().unwrap_or(Value::Null))
        }
        ("GET", ["channels", id]) => match state.channels.get(*id) {
            Some(channel) => Reply::json(200, channel.clone()),
            None => error(404, 10003, "Unknown Channel"),
        },
        ("POST", ["channels", id, "typing"]) if state.channels.contains_key(*id) => Reply::json(204, Value::Null),
        ("POST", ["channels", _, "typing"]) => error(404, 10003, "Unknown Channel"),
        ("GET", ["channels", id, "messages"]) => {
            let param = |name: &str| {
                query.split('&').find_map(|pair| pair.strip_prefix(&format!("{name}="))).map(str::to_owned)
            };
            let after: u128 = param("after").and_then(|after| after.parse().ok()).unwrap_or(0);
            let limit: usize = param("limit").and_then(|limit| limit.parse().ok()).unwrap_or(50).clamp(1, 100);
            let mut found: Vec<Value> = state
                .messages
                .iter()
                .filter(|message| message["channel_id"] == *id)
                .filter(|message| message["id"].as_str().and_then(|id| id.parse::<u128>().ok()).unwrap_or(0) > after)
                .cloned()
                .collect();
            // Discord answers newest first; with `after`, the `limit` oldest after it.
            found.truncate(limit);
            found.reverse();
            Reply::json(200, Value::Array(found))
        }
        ("POST", ["channels", id, "messages"]) => {
            let reply = create_message(state, id, &request.json());
            state.attempts.push((Instant::now(), reply.status));
            reply
        }
        _ => error(404, 0, "404: Not Found"),
    }
}

fn create_message(state: &mut State, channel_id: &str, body: &Value) -> Reply {
    if !state.channels.contains_key(channel_id) {
        return error(404, 10003, "Unknown Channel");
    }
    if let Some(failure) = state.failures.pop_front() {
        return match failure {
            Failure::RateLimited { retry_after, global } => {
                state.stats.rate_limited += 1;
                Reply::json(429, json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": global, "code": 0}))
                    .header("retry-after", &format!("{}", retry_after.ceil() as u64))
                    .header("x-ratelimit-global", if global { "true" } else { "false" })
            }
            Failure::Status(status) => error(status, 0, "Internal Server Error"),
            Failure::LostAnswer => {
                let _created = create_message(state, channel_id, body);
                error(502, 0, "Bad Gateway")
            }
        };
    }
    let content = body["content"].as_str().unwrap_or_default();
    if content.trim().is_empty() || content.chars().count() > MAX_CONTENT {
        return error(400, 50035, "Invalid Form Body (content: must be 1 to 2000 characters)");
    }
    let nonce = match &body["nonce"] {
        Value::String(nonce) if nonce.len() <= 25 => Some(nonce.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Null => None,
        _ => return error(400, 50035, "Invalid Form Body (nonce: at most 25 characters)"),
    };
    if body["enforce_nonce"] == true
        && let Some(nonce) = &nonce
        && let Some(first) = state.nonces.get(&(channel_id.to_owned(), nonce.clone()))
    {
        state.stats.nonce_repeats += 1;
        return Reply::json(200, first.clone());
    }
    // The bucket: `limit` sends per window per channel.
    let now = Instant::now();
    let mut headers = Vec::new();
    if let Some((limit, window)) = state.bucket {
        let sent = state.sent_at.entry(channel_id.to_owned()).or_default();
        while sent.front().is_some_and(|at| now.duration_since(*at) >= window) {
            sent.pop_front();
        }
        let reset_after = sent.front().map_or(window, |first| window.saturating_sub(now.duration_since(*first)));
        if sent.len() >= limit {
            state.stats.rate_limited += 1;
            return Reply::json(
                429,
                json!({"message": "You are being rate limited.", "retry_after": reset_after.as_secs_f64(), "global": false, "code": 0}),
            )
            .header("x-ratelimit-bucket", &format!("messages-{channel_id}"))
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset-after", &format!("{:.3}", reset_after.as_secs_f64()));
        }
        sent.push_back(now);
        let reset_after = sent.front().map_or(window, |first| window.saturating_sub(now.duration_since(*first)));
        headers.push(("x-ratelimit-bucket".to_owned(), format!("messages-{channel_id}")));
        headers.push(("x-ratelimit-limit".to_owned(), limit.to_string()));
        headers.push(("x-ratelimit-remaining".to_owned(), (limit - sent.len()).to_string()));
        headers.push(("x-ratelimit-reset-after".to_owned(), format!("{:.3}", reset_after.as_secs_f64())));
    }
    let mut extra = json!({"nonce": nonce});
    if let Some(reference) = body["message_reference"]["message_id"].as_str() {
        extra["type"] = json!(19);
        extra["message_reference"] = json!({"message_id": reference, "channel_id": channel_id});
    }
    let bot = state.bot.clone();
    let message = state.create_message(channel_id, bot, content, extra);
    if let Some(nonce) = nonce {
        state.nonces.insert((channel_id.to_owned(), nonce), message.clone());
    }
    let mut reply = Reply::json(200, message);
    reply.headers.extend(headers);
    reply
}

/// One Gateway connection.
async fn serve_gateway(
    mut socket: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    state: Arc<Mutex<State>>,
) {
    let lock = || state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let interval = lock().heartbeat_interval;
    if socket.send(Message::text(json!({"op": 10, "d": {"heartbeat_interval": interval}}).to_string())).await.is_err() {
        return;
    }
    let (sender, mut commands) = mpsc::unbounded_channel::<Command>();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Text(text)) => {
                    if socket.send(Message::text(text)).await.is_err() {
                        return;
                    }
                }
                Some(Command::Drop) | None => return,
                Some(Command::Close(code)) => {
                    let frame = CloseFrame { code: CloseCode::from(code), reason: "closed by the double".into() };
                    let _ = socket.close(Some(frame)).await;
                    return;
                }
            },
            frame = socket.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text.to_string(),
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                        let mut state = lock();
                        if state.live.as_ref().is_some_and(|(_, live)| live.same_channel(&sender)) {
                            state.live = None;
                        }
                        return;
                    }
                    Some(Ok(_)) => continue,
                };
                let payload: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let reply = handle(&mut lock(), &payload, &sender);
                match reply {
                    Handled::Send(frames) => {
                        for frame in frames {
                            if socket.send(Message::text(frame.to_string())).await.is_err() {
                                return;
                            }
                        }
                    }
                    Handled::Close(code) => {
                        let frame = CloseFrame { code: CloseCode::from(code), reason: "refused by the double".into() };
                        let _ = socket.close(Some(frame)).await;
                        return;
                    }
                }
            }
        }
    }
}

enum Handled {
    Send(Vec<Value>),
    Close(u16),
}

fn handle(state: &mut State, payload: &Value, sender: &mpsc::UnboundedSender<Command>) -> Handled {
    let d = &payload["d"];
    match payload["op"].as_u64() {
        Some(1) => {
            state.stats.heartbeats += 1;
            Handled::Send(if state.ack_heartbeats { vec![json!({"op": 11})] } else { Vec::new() })
        }
        Some(2) => {
            if d["token"].as_str() != Some(state.token.as_str()) {
                state.stats.refused += 1;
                return Handled::Close(4004);
            }
            if d["intents"].as_u64().unwrap_or(0) & MESSAGE_CONTENT == 0 {
                state.stats.refused += 1;
                return Handled::Close(4014);
            }
            state.stats.identifies += 1;
            let session_id = format!("session-{}", state.snowflake());
            state.sessions.insert(session_id.clone(), Session::default());
            state.current = Some(session_id.clone());
            let session = state.sessions.entry(session_id.clone()).or_default();
            session.seq = 1;
            let ready = json!({"op": 0, "t": "READY", "s": 1, "d": {"v": 10, "user": state.bot, "session_id": session_id,
                "resume_gateway_url": state.resume_url, "guilds": [], "application": {"id": state.bot["id"]}}});
            session.events.push((1, ready.clone()));
            let mut frames = vec![ready];
            let guilds = state.guilds.clone();
            state.live = Some((session_id, sender.clone()));
            for guild in guilds {
                frames.extend(queue(state, "GUILD_CREATE", guild));
            }
            Handled::Send(frames)
        }
        Some(6) => {
            let session_id = d["session_id"].as_str().unwrap_or_default().to_owned();
            let from = d["seq"].as_u64().unwrap_or(0);
            if d["token"].as_str() != Some(state.token.as_str()) {
                state.stats.refused += 1;
                return Handled::Close(4004);
            }
            let Some(session) = state.sessions.get(&session_id) else {
                return Handled::Send(vec![json!({"op": 9, "d": false})]);
            };
            state.stats.resumes += 1;
            let mut frames: Vec<Value> =
                session.events.iter().filter(|(seq, _)| *seq > from).map(|(_, payload)| payload.clone()).collect();
            state.current = Some(session_id.clone());
            state.live = Some((session_id, sender.clone()));
            frames.extend(queue(state, "RESUMED", json!({})));
            Handled::Send(frames)
        }
        // A frame that is not a known op: Discord closes with 4001 (unknown opcode) or 4002 (decode error).
        Some(_) => Handled::Close(4001),
        None => Handled::Close(4002),
    }
}

/// A dispatch queued on the current session (the caller sends it, or not).
fn queue(state: &mut State, event: &str, d: Value) -> Option<Value> {
    let session = state.sessions.entry(state.current.clone()?).or_default();
    session.seq += 1;
    let payload = json!({"op": 0, "t": event, "s": session.seq, "d": d});
    session.events.push((session.seq, payload.clone()));
    Some(payload)
}
