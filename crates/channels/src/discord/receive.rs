//! Receiving: the Gateway WebSocket (v10, JSON). HELLO gives the heartbeat interval; the first beat comes after a
//! random part of it, and a beat whose ACK has not come by the next one means a dead connection (closed, then
//! resumed). IDENTIFY asks for guilds, guild and direct messages and their content; READY gives the session id
//! and the resume URL. Each message is recorded with `{sessionId, seq, resumeUrl}` as the cursor in the same
//! transaction, so after a drop — or a crash — the session is RESUMEd from the last recorded event and Discord
//! replays everything after it (a message replayed twice is recognised by its id). RECONNECT (op 7) resumes;
//! INVALID_SESSION (op 9) resumes when Discord says it can, else identifies anew after 1–5 s. Close codes that no
//! retry can mend (4004 authentication, 4010–4014 shard, version and intents) stop the account with the fix.

use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

use super::normalize::{Skipped, View, parse_message};
use super::*;

/// The resumable session, saved as the account's receive cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Session {
    pub session_id: String,
    pub seq: u64,
    pub resume_url: String,
}

/// How one connection ended.
#[derive(Debug)]
enum Ended {
    /// Dropped, zombied or told to reconnect: resume the session.
    Resume(String),
    /// The session cannot be resumed: identify anew.
    Identify(String),
    /// Nothing a retry mends (bad token, intents not enabled): the account stops, with the fix.
    Fatal(String),
    /// The gateway is shutting down.
    Shutdown,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const HELLO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Close codes after which a retry cannot help, with what to do.
pub(super) fn fatal_close(code: u16) -> Option<&'static str> {
    match code {
        4004 => Some("Discord refused the bot token (fix: openclaw channels login discord with a fresh token)"),
        4010 | 4011 => Some("Discord wants this bot sharded, which OpenClaw-rs does not do yet"),
        4012 => Some("Discord no longer serves gateway v10 (fix: update OpenClaw-rs)"),
        4013 => Some("Discord refused the intents asked for (fix: update OpenClaw-rs)"),
        4014 => Some(
            "the Message Content intent is not enabled for this bot (fix: Developer Portal → your application → Bot → Privileged Gateway Intents → Message Content Intent)",
        ),
        _ => None,
    }
}

/// Whether a close code ends the session (identify anew rather than resume).
fn ends_session(code: u16) -> bool {
    matches!(code, 4007 | 4009)
}

fn jitter(max: std::time::Duration) -> std::time::Duration {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    let millis = max.as_millis().max(1) as u64;
    std::time::Duration::from_millis(random % millis)
}

impl Discord {
    fn cursor_key(&self) -> String {
        format!("discord:{}:session", self.account)
    }

    pub(super) async fn gateway_loop(&self, inbox: &Inbox) -> Result<(), ChannelError> {
        let key = self.cursor_key();
        let mut session: Option<Session> =
            inbox.cursor(&key).await?.and_then(|saved| serde_json::from_str(&saved).ok());
        let mut gateway_url: Option<String> = None;
        let mut failures = 0_u32;
        while !inbox.is_closed() {
            let url = match (&session, &gateway_url) {
                (Some(session), _) => session.resume_url.clone(),
                (None, Some(url)) => url.clone(),
                (None, None) => match self.api.call(reqwest::Method::GET, "/gateway/bot", None).await {
                    Ok(answer) => {
                        let url = answer["url"].as_str().unwrap_or("wss://gateway.discord.gg").to_owned();
                        gateway_url = Some(url.clone());
                        url
                    }
                    Err(error) => {
                        failures += 1;
                        if matches!(error, ApiError::Api { status: 401, .. }) {
                            tracing::error!(account = %self.account, "Discord refused the bot token (fix: openclaw channels login discord).");
                        } else {
                            tracing::warn!(account = %self.account, %error, "Cannot ask Discord for its gateway; retrying.");
                        }
                        inbox.backoff(failures).await;
                        continue;
                    }
                },
            };
            // A RESUME gets no READY, so a process that starts by resuming asks who the bot is first: without its id
            // no mention of it is recognised and its own messages are not told apart.
            if session.is_some()
                && self.me.get().is_none()
                && let Err(error) = self.me().await
            {
                failures += 1;
                tracing::warn!(account = %self.account, %error, "Cannot ask Discord who the bot is; retrying.");
                inbox.backoff(failures).await;
                continue;
            }
            let started = std::time::Instant::now();
            match self.connection(inbox, &url, &mut session, &key).await {
                Ended::Shutdown => return Ok(()),
                Ended::Fatal(reason) => {
                    tracing::error!(account = %self.account, %reason, "The Discord account stopped receiving.");
                    return Err(ChannelError::Other(format!("discord account {}: {reason}", self.account)));
                }
                Ended::Resume(reason) => {
                    tracing::info!(account = %self.account, %reason, "Discord connection ended; resuming.");
                }
                Ended::Identify(reason) => {
                    tracing::info!(account = %self.account, %reason, "Discord session ended; identifying anew.");
                    session = None;
                    if let Err(error) = inbox.save_cursor(&key, "").await {
                        tracing::warn!(account = %self.account, %error, "Cannot forget the ended Discord session.");
                    }
                    // Discord asks for a pause of 1 to 5 seconds before a new IDENTIFY.
                    tokio::select! {
                        () = tokio::time::sleep(std::time::Duration::from_secs(1) + jitter(std::time::Duration::from_secs(4))) => {}
                        () = inbox.closed() => return Ok(()),
                    }
                }
            }
            // A connection that lasted is not a failure; quick failures back off.
            failures = if started.elapsed() > std::time::Duration::from_secs(30) { 0 } else { failures + 1 };
            if failures > 1 {
                inbox.backoff(failures - 1).await;
            }
        }
        Ok(())
    }

    /// One WebSocket connection: HELLO, IDENTIFY or RESUME, then events until it ends.
    async fn connection(&self, inbox: &Inbox, url: &str, session: &mut Option<Session>, key: &str) -> Ended {
        let address = format!("{}/?v=10&encoding=json", url.trim_end_matches('/'));
        let connect = tokio::time::timeout(HELLO_TIMEOUT, tokio_tungstenite::connect_async(address.as_str()));
        let mut socket: Socket = tokio::select! {
            result = connect => match result {
                Ok(Ok((socket, _))) => socket,
                Ok(Err(error)) => return Ended::Resume(format!("cannot connect to the Discord gateway: {error}")),
                Err(_) => return Ended::Resume("connecting to the Discord gateway timed out".to_owned()),
            },
            () = inbox.closed() => return Ended::Shutdown,
        };
        let interval = match tokio::time::timeout(HELLO_TIMEOUT, next_payload(&mut socket)).await {
            Ok(Ok(hello)) if hello["op"] == 10 => hello["d"]["heartbeat_interval"].as_u64().unwrap_or(41_250),
            Ok(Ok(_)) => return Ended::Resume("the Discord gateway did not start with HELLO".to_owned()),
            Ok(Err(ended)) => return ended,
            Err(_) => return Ended::Resume("no HELLO from the Discord gateway".to_owned()),
        };
        let interval = std::time::Duration::from_millis(interval.max(100));
        let hello = match session {
            Some(session) => {
                json!({"op": 6, "d": {"token": self.token, "session_id": session.session_id, "seq": session.seq}})
            }
            None => json!({"op": 2, "d": {"token": self.token, "intents": INTENTS,
                                       "properties": {"os": std::env::consts::OS, "browser": "openclaw-rs", "device": "openclaw-rs"}}}),
        };
        if let Err(error) = socket.send(Message::text(hello.to_string())).await {
            return Ended::Resume(format!("cannot write to the Discord gateway: {error}"));
        }
        let mut seq: Option<u64> = session.as_ref().map(|session| session.seq);
        let mut acked = true;
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + jitter(interval), interval);
        loop {
            let payload = tokio::select! {
                () = inbox.closed() => {
                    let _ = socket.close(None).await;
                    return Ended::Shutdown;
                }
                _ = beat.tick() => {
                    if !acked {
                        let _ = socket.close(None).await;
                        return Ended::Resume("no heartbeat ACK from the Discord gateway".to_owned());
                    }
                    acked = false;
                    if let Err(error) = socket.send(Message::text(json!({"op": 1, "d": seq}).to_string())).await {
                        return Ended::Resume(format!("cannot send a heartbeat: {error}"));
                    }
                    continue;
                }
                payload = next_payload(&mut socket) => payload,
            };
            let payload = match payload {
                Ok(payload) => payload,
                Err(ended) => return ended,
            };
            match payload["op"].as_u64() {
                Some(0) => {
                    let event_seq = payload["s"].as_u64();
                    if event_seq.is_some() {
                        seq = event_seq;
                    }
                    if let Err(error) = self.dispatch(inbox, &payload, session, seq, key, url).await {
                        // Not recorded: this connection is dropped and resumed from the last recorded event, so
                        // Discord sends the message again.
                        tracing::warn!(account = %self.account, %error, "Cannot record a Discord message; resuming to receive it again.");
                        let _ = socket.close(None).await;
                        return Ended::Resume("a message could not be recorded".to_owned());
                    }
                }
                Some(1) => {
                    if let Err(error) = socket.send(Message::text(json!({"op": 1, "d": seq}).to_string())).await {
                        return Ended::Resume(format!("cannot send a heartbeat: {error}"));
                    }
                }
                Some(7) => {
                    let _ = socket.close(None).await;
                    return Ended::Resume("Discord asked for a reconnect".to_owned());
                }
                Some(9) => {
                    let _ = socket.close(None).await;
                    return if payload["d"] == true && session.is_some() {
                        Ended::Resume("Discord invalidated the session, resumable".to_owned())
                    } else {
                        Ended::Identify("Discord invalidated the session".to_owned())
                    };
                }
                Some(11) => acked = true,
                _ => {
                    tracing::debug!(account = %self.account, op = %payload["op"], "Discord gateway payload of another op ignored.");
                }
            }
        }
    }

    /// One dispatch (op 0): READY starts the session, channel events fill the channel cache, MESSAGE_CREATE is
    /// recorded with the session as its cursor.
    async fn dispatch(
        &self,
        inbox: &Inbox,
        payload: &Value,
        session: &mut Option<Session>,
        seq: Option<u64>,
        key: &str,
        url: &str,
    ) -> Result<(), openclaw_store::StoreError> {
        let d = &payload["d"];
        match payload["t"].as_str().unwrap_or_default() {
            "READY" => {
                if let Some(me) = d["user"]["id"].as_str() {
                    let _ = self.me.set(me.to_owned());
                }
                let Some(session_id) = d["session_id"].as_str() else {
                    tracing::warn!(account = %self.account, "A Discord READY without a session id was ignored.");
                    return Ok(());
                };
                let resume_url = d["resume_gateway_url"].as_str().unwrap_or(url).to_owned();
                let ready = Session { session_id: session_id.to_owned(), seq: seq.unwrap_or(0), resume_url };
                tracing::info!(account = %self.account, user = %d["user"]["username"].as_str().unwrap_or("?"), "Discord session ready.");
                inbox.save_cursor(key, &serde_json::to_string(&ready).unwrap_or_default()).await?;
                *session = Some(ready);
            }
            "RESUMED" => tracing::info!(account = %self.account, "Discord session resumed."),
            "GUILD_CREATE" => {
                for channel in
                    d["channels"].as_array().into_iter().flatten().chain(d["threads"].as_array().into_iter().flatten())
                {
                    if let Some(id) = channel["id"].as_str() {
                        self.remember_channel(id, config::channel_info(channel));
                    }
                }
            }
            "CHANNEL_CREATE" | "CHANNEL_UPDATE" | "THREAD_CREATE" | "THREAD_UPDATE" => {
                if let Some(id) = d["id"].as_str() {
                    self.remember_channel(id, config::channel_info(d));
                }
            }
            "MESSAGE_CREATE" => self.record(inbox, d, session, seq, key).await?,
            _ => {}
        }
        Ok(())
    }

    async fn record(
        &self,
        inbox: &Inbox,
        d: &Value,
        session: &mut Option<Session>,
        seq: Option<u64>,
        key: &str,
    ) -> Result<(), openclaw_store::StoreError> {
        let me = self.me.get().cloned().unwrap_or_default();
        let mut info = match (d["guild_id"].as_str(), d["channel_id"].as_str()) {
            (Some(_), Some(channel)) => self.channel_info(channel).await,
            _ => ChannelInfo::default(),
        };
        // A thread goes by its parent channel's name (the guild's channel map names parents).
        if let Some(parent) = &info.parent {
            info.name = self.channel_info(parent).await.name;
        }
        let view = View {
            account: &self.account,
            me: &me,
            parent: info.parent.as_deref(),
            channel_name: info.name.as_deref(),
            quote: self.reply_to != ReplyTo::Off,
            quote_all: self.reply_to == ReplyTo::All,
            allow_bots: self.allow_bots,
        };
        let cursor = match (session.as_mut(), seq) {
            (Some(session), Some(seq)) => {
                session.seq = seq;
                Some((key.to_owned(), serde_json::to_string(session).unwrap_or_default()))
            }
            _ => None,
        };
        match parse_message(d, &view) {
            Ok(message) => {
                inbox.accept(&message, cursor).await?;
            }
            Err(Skipped::Malformed) => {
                tracing::warn!(account = %self.account, "A malformed Discord MESSAGE_CREATE was ignored.");
            }
            Err(skipped) => tracing::debug!(account = %self.account, ?skipped, "Discord message not for the agent."),
        }
        Ok(())
    }
}

/// The next JSON payload; a frame that is not JSON is logged and skipped (the connection is kept).
async fn next_payload(socket: &mut Socket) -> Result<Value, Ended> {
    loop {
        let frame = match socket.next().await {
            None => return Err(Ended::Resume("the Discord gateway closed the connection".to_owned())),
            Some(Err(error)) => return Err(Ended::Resume(format!("the Discord gateway connection failed: {error}"))),
            Some(Ok(frame)) => frame,
        };
        let text = match frame {
            Message::Text(text) => text.to_string(),
            Message::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Message::Close(frame) => {
                let (code, reason) =
                    frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1000, String::new()));
                if let Some(fix) = fatal_close(code) {
                    return Err(Ended::Fatal(format!("close code {code}: {fix}")));
                }
                let why = format!("the Discord gateway closed with {code} {}", openclaw_protocol::log_safe(&reason));
                return Err(if ends_session(code) { Ended::Identify(why) } else { Ended::Resume(why) });
            }
            _ => continue,
        };
        match serde_json::from_str::<Value>(&text) {
            Ok(payload) if payload.is_object() => return Ok(payload),
            _ => {
                tracing::warn!(bytes = text.len(), "A Discord gateway payload that is not a JSON object was ignored.");
            }
        }
    }
}
