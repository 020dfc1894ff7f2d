//! Telegram (Bot API): long polling by default (`getUpdates` with the offset kept in the store, advanced in the
//! same transaction that records the message), or a webhook (`webhookUrl` + `webhookSecret`, checked against
//! `X-Telegram-Bot-Api-Secret-Token`). Text in and out (HTML parse mode, 4000-character chunks), groups and forum
//! topics, mentions, replies, typing; photos and documents in (as references). The reference's keys:
//! `channels.telegram.{enabled, botToken, tokenFile, apiRoot, dmPolicy, allowFrom, groupPolicy, groupAllowFrom,
//! groups, mentionPatterns, textChunkLimit, replyToMode, webhookUrl, webhookSecret, webhookPath, accounts,
//! defaultAccount}`.

mod api;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

pub use api::{Api, ApiError};

use crate::access::{DmPolicy, Policy};
use crate::host::{Account, ChannelEnv, ChannelKind, accounts, channel_block, parse_block, resolve_secret};
use crate::{
    Capabilities, Channel, ChannelError, Dialect, Health, Inbound, Inbox, Media, Peer, PeerKind, SendError, Sender,
};

/// The registration of the Telegram channel.
pub const KIND: ChannelKind = ChannelKind {
    name: "telegram",
    summary: "Telegram bots (Bot API: long polling or webhook)",
    login: "a bot token from @BotFather (openclaw channels login telegram, or channels add --channel telegram --token …)",
    token: Some(crate::TokenSpec { key: "botToken", check: check_token }),
    build,
};

/// A bot token as @BotFather gives it: the bot's numeric id, a colon, then letters, digits, `_` and `-`.
fn check_token(token: &str) -> Result<(), String> {
    let valid = token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.chars().all(|c| c.is_ascii_digit())
            && !secret.is_empty()
            && secret.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    if valid {
        Ok(())
    } else {
        Err("that is not a Telegram bot token (it looks like 123456789:AAE…, from @BotFather's /newbot)".to_owned())
    }
}

const DEFAULT_API_ROOT: &str = "https://api.telegram.org";
const DEFAULT_CHUNK: usize = 4000;
const MAX_TEXT: usize = 4096;
const POLL_TIMEOUT_SECONDS: u64 = 25;
/// How many message ids past the last known one `find_sent` tries. A bot's ids in private chats and basic groups
/// come from one counter shared by all its chats, so the chunk's id is past the others created meanwhile.
const FIND_SENT_WINDOW: i64 = 100;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TelegramConfig {
    enabled: Option<bool>,
    bot_token: Option<openclaw_config::Secret>,
    token_file: Option<String>,
    api_root: Option<String>,
    text_chunk_limit: Option<usize>,
    /// `off` (default) | `first` | `all`: quote the message being answered.
    reply_to_mode: Option<String>,
    webhook_url: Option<String>,
    webhook_secret: Option<openclaw_config::Secret>,
    webhook_path: Option<String>,
    /// Declared so that it is a known key; `host::accounts` reads it.
    #[serde(rename = "accounts")]
    _accounts: Option<BTreeMap<String, serde::de::IgnoredAny>>,
}

fn build(env: &ChannelEnv<'_>) -> Result<Vec<Arc<dyn Channel>>, ChannelError> {
    let base: TelegramConfig = parse_block(env.section, "channels.telegram")?;
    if base.enabled == Some(false) {
        return Ok(Vec::new());
    }
    let has_own_token = base.bot_token.is_some() || base.token_file.is_some();
    let mut built: Vec<Arc<dyn Channel>> = Vec::new();
    for Account { id: account, block, path } in accounts(env.section, "channels.telegram", has_own_token) {
        let (config, policy_config): (TelegramConfig, _) = channel_block(&block, &path)?;
        if config.enabled == Some(false) {
            continue;
        }
        let token = match (&config.bot_token, &config.token_file) {
            (Some(secret), _) => resolve_secret(secret, &format!("{path}.botToken"), env.env)?,
            (None, Some(file)) => std::fs::read_to_string(file).map(|text| text.trim().to_owned()).map_err(|e| {
                ChannelError::Config { path: format!("{path}.tokenFile"), message: format!("cannot read {file}: {e}") }
            })?,
            (None, None) if account == "default" => (env.env)("TELEGRAM_BOT_TOKEN").filter(|t| !t.is_empty()).ok_or_else(|| {
                ChannelError::Config {
                    path: format!("{path}.botToken"),
                    message: "no bot token (fix: openclaw channels add --channel telegram --token <token from @BotFather>, or set TELEGRAM_BOT_TOKEN)".to_owned(),
                }
            })?,
            (None, None) => {
                return Err(ChannelError::Config {
                    path: format!("{path}.botToken"),
                    message: "no bot token for this account (fix: set botToken or tokenFile)".to_owned(),
                });
            }
        };
        let policy = Policy::compile(&policy_config, "telegram", &path, DmPolicy::Pairing, &env.owners)?;
        let webhook = match &config.webhook_url {
            Some(url) => {
                let key = format!("{path}.webhookSecret");
                let secret = config.webhook_secret.as_ref().ok_or_else(|| ChannelError::Config {
                    path: key.clone(),
                    message:
                        "webhookUrl needs webhookSecret, so forged updates can be refused (fix: a long random string)"
                            .to_owned(),
                })?;
                let secret = resolve_secret(secret, &key, env.env)?;
                Some(Webhook {
                    url: url.clone(),
                    secret,
                    path: config.webhook_path.clone().unwrap_or_else(|| "/telegram-webhook".to_owned()),
                })
            }
            None => None,
        };
        let reply_to = match config.reply_to_mode.as_deref() {
            None | Some("off") => ReplyTo::Off,
            Some("first") => ReplyTo::First,
            Some("all") => ReplyTo::All,
            Some(other) => {
                return Err(ChannelError::Config {
                    path: format!("{path}.replyToMode"),
                    message: format!("{other:?} is not a reply mode (fix: off, first or all)"),
                });
            }
        };
        let chunk_limit = config.text_chunk_limit.unwrap_or(DEFAULT_CHUNK).clamp(64, MAX_TEXT);
        let api_root = config.api_root.clone().unwrap_or_else(|| DEFAULT_API_ROOT.to_owned());
        built.push(Arc::new(Telegram {
            account,
            api: Api::new(env.http.clone(), &api_root, &token),
            policy,
            chunk_limit,
            reply_to,
            webhook,
            me: OnceLock::new(),
        }));
    }
    Ok(built)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyTo {
    Off,
    First,
    All,
}

struct Webhook {
    url: String,
    secret: String,
    path: String,
}

/// The bot's own identity (`getMe`), for mentions.
#[derive(Debug, Clone)]
struct Me {
    id: i64,
    username: String,
}

/// One Telegram bot account.
pub struct Telegram {
    account: String,
    api: Api,
    policy: Policy,
    chunk_limit: usize,
    reply_to: ReplyTo,
    webhook: Option<Webhook>,
    me: OnceLock<Me>,
}

impl Telegram {
    fn cursor_key(&self) -> String {
        format!("telegram:{}:offset", self.account)
    }

    async fn identify(&self) -> Result<Me, ApiError> {
        if let Some(me) = self.me.get() {
            return Ok(me.clone());
        }
        let result = self.api.call("getMe", &json!({}), Duration::from_secs(15)).await?;
        let me = Me {
            id: result["id"].as_i64().unwrap_or_default(),
            username: result["username"].as_str().unwrap_or_default().to_owned(),
        };
        let _ = self.me.set(me.clone());
        Ok(me)
    }

    /// The normalised message of an update; `None` for updates that carry none (edits, callbacks, …).
    fn normalize(&self, update: &Value) -> Option<Inbound> {
        normalize(update, &self.account, self.me.get(), self.reply_to)
    }

    async fn poll(&self, inbox: &Inbox) -> Result<(), ChannelError> {
        // A webhook left over from an earlier setup makes getUpdates fail with 409.
        let _ = self.api.call("deleteWebhook", &json!({}), Duration::from_secs(15)).await;
        let key = self.cursor_key();
        let mut offset: i64 = inbox.cursor(&key).await?.and_then(|value| value.parse().ok()).unwrap_or(0);
        let mut failures = 0_u32;
        while !inbox.is_closed() {
            if self.me.get().is_none()
                && let Err(error) = self.identify().await
            {
                tracing::warn!(account = %self.account, %error, "Telegram getMe failed; retrying.");
                failures += 1;
                backoff(inbox, failures).await;
                continue;
            }
            let started = Instant::now();
            let body = json!({"offset": offset, "timeout": POLL_TIMEOUT_SECONDS,
                              "allowed_updates": ["message", "channel_post"]});
            let call = self.api.call("getUpdates", &body, Duration::from_secs(POLL_TIMEOUT_SECONDS + 15));
            let updates = tokio::select! {
                result = call => result,
                () = inbox.closed() => return Ok(()),
            };
            let updates = match updates {
                Ok(updates) => {
                    failures = 0;
                    updates.as_array().cloned().unwrap_or_default()
                }
                Err(error) => {
                    failures += 1;
                    tracing::warn!(account = %self.account, %error, "Telegram getUpdates failed; retrying.");
                    backoff(inbox, failures).await;
                    continue;
                }
            };
            let empty = updates.is_empty();
            for update in updates {
                let Some(update_id) = update["update_id"].as_i64() else { continue };
                if update_id < offset {
                    continue;
                }
                let next = update_id + 1;
                let saved = match self.normalize(&update) {
                    Some(message) => inbox.accept(&message, Some((key.clone(), next.to_string()))).await.map(|_| ()),
                    None => inbox.save_cursor(&key, &next.to_string()).await,
                };
                if let Err(error) = saved {
                    // Not recorded, not acknowledged: the next getUpdates returns it again.
                    tracing::warn!(account = %self.account, %error, "Cannot record a Telegram update; retrying.");
                    failures += 1;
                    backoff(inbox, failures).await;
                    break;
                }
                offset = next;
            }
            if empty && started.elapsed() < Duration::from_millis(100) {
                // A server that does not hold long polls open: do not spin.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }
}

async fn backoff(inbox: &Inbox, failures: u32) {
    let wait = Duration::from_millis(500 * 2_u64.pow(failures.min(6))).min(Duration::from_secs(30));
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        () = inbox.closed() => {}
    }
}

/// Telegram HTML back to plain text (when Telegram refuses the markup).
fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(ch),
            _ => {}
        }
    }
    out.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&")
}

#[async_trait]
impl Channel for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn capabilities(&self) -> Capabilities {
        // What this channel does: text with typing, into forum topics. Media are read in as references only; the
        // platform's edits and reactions are not offered (edits serve `find_sent` alone).
        Capabilities {
            threads: true,
            typing: true,
            ..Capabilities::text(Some(MAX_TEXT), self.chunk_limit, Dialect::TelegramHtml)
        }
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn mode(&self) -> String {
        if self.webhook.is_some() { "webhook".to_owned() } else { "polling".to_owned() }
    }

    async fn receive(self: Arc<Self>, inbox: Inbox) -> Result<(), ChannelError> {
        match &self.webhook {
            None => self.poll(&inbox).await,
            Some(webhook) => {
                let mut failures = 0;
                loop {
                    let body = json!({"url": webhook.url, "secret_token": webhook.secret,
                                      "allowed_updates": ["message", "channel_post"]});
                    let result = async {
                        self.identify().await?;
                        self.api.call("setWebhook", &body, Duration::from_secs(15)).await
                    };
                    match result.await {
                        Ok(_) => return Ok(()),
                        Err(error) => {
                            failures += 1;
                            tracing::warn!(account = %self.account, %error, "Telegram setWebhook failed; retrying.");
                            backoff(&inbox, failures).await;
                            if inbox.is_closed() {
                                return Ok(());
                            }
                        }
                    }
                }
            }
        }
    }

    fn route(self: Arc<Self>, inbox: Inbox) -> Option<(String, axum::routing::MethodRouter)> {
        let path = self.webhook.as_ref()?.path.clone();
        let handler = move |headers: HeaderMap, body: axum::body::Bytes| {
            let this = self.clone();
            let inbox = inbox.clone();
            async move { this.webhook_update(&inbox, &headers, &body).await }
        };
        Some((path, axum::routing::post(handler)))
    }

    fn address(&self, to: &str) -> Result<(Peer, Value), String> {
        address(to)
    }

    async fn send(&self, route: &Value, chunk: &str, index: usize) -> Result<Option<String>, SendError> {
        let mut body = message_body(route, chunk);
        if let Some(reply_to) = route.get("replyTo")
            && (index == 0 || route["replyAll"].as_bool() == Some(true))
        {
            body["reply_parameters"] = json!({"message_id": reply_to, "allow_sending_without_reply": true});
        }
        let sent = self.call_text("sendMessage", body, chunk, Duration::from_secs(30)).await?;
        Ok(sent["message_id"].as_i64().map(|id| id.to_string()))
    }

    /// The Bot API has no idempotency key and no way to read a chat, but message ids only grow and a bot may edit its
    /// own messages: editing a message to the text it already has is refused with "message is not modified". So
    /// the ids after the last message known in the chat are tried, each edited to the chunk's own text: "not
    /// modified" is the chunk; "not found" and "can't be edited" (someone else's) are not. Every bot message in a
    /// chat goes through this conversation's queue, one at a time, so any bot message past the last one recorded is
    /// the chunk in flight — except in forum chats, whose topics are separate conversations sharing one chat; there
    /// the chunk is sent again.
    async fn find_sent(&self, route: &Value, chunk: &str, after: Option<&str>) -> Result<Option<String>, SendError> {
        if route.get("threadId").is_some() || route["forum"].as_bool() == Some(true) {
            return Ok(None);
        }
        let known = [after.and_then(|id| id.parse::<i64>().ok()), route["messageId"].as_i64()];
        let Some(floor) = known.into_iter().flatten().max() else { return Ok(None) };
        let timeout = Duration::from_secs(10);
        for candidate in floor + 1..=floor + FIND_SENT_WINDOW {
            let mut body = message_body(route, chunk);
            body["message_id"] = json!(candidate);
            // As `send` sent it: plain text if Telegram refused the markup.
            match self.call_text("editMessageText", body, chunk, timeout).await {
                Err(ApiError::Api { code: 400, description, .. }) if description.contains("not modified") => {
                    return Ok(Some(candidate.to_string()));
                }
                Err(ApiError::Api { code: 400, .. }) => {} // not found, or not ours
                Err(error) => return Err(error.into()),
                Ok(_) => {
                    // A message of ours that was not recorded and had other text: it now shows the chunk. Sending
                    // it again would show it twice.
                    tracing::error!(account = %self.account, message_id = candidate,
                        "Looking for a cut send edited an unrecorded bot message; another sender shares this chat.");
                    return Ok(Some(candidate.to_string()));
                }
            }
        }
        Ok(None)
    }

    async fn typing(&self, route: &Value) -> Result<(), SendError> {
        let mut body = json!({"chat_id": route["chatId"], "action": "typing"});
        if let Some(thread) = route.get("threadId") {
            body["message_thread_id"] = thread.clone();
        }
        self.api.call("sendChatAction", &body, Duration::from_secs(10)).await.map(|_| ()).map_err(Into::into)
    }

    async fn probe(&self) -> Health {
        match self.api.call("getMe", &json!({}), Duration::from_secs(10)).await {
            Ok(me) => Health {
                ok: true,
                detail: format!("bot @{} (id {})", me["username"].as_str().unwrap_or("?"), me["id"]),
            },
            Err(error) => Health { ok: false, detail: error.to_string() },
        }
    }
}

/// The normalised message of an update for a bot (`me`, once known); `None` for updates that carry none.
fn normalize(update: &Value, account: &str, me: Option<&Me>, reply_to: ReplyTo) -> Option<Inbound> {
    let update_id = update["update_id"].as_i64()?;
    let message = update.get("message").or_else(|| update.get("channel_post"))?;
    let chat = &message["chat"];
    let chat_id = chat["id"].as_i64().map(|id| id.to_string()).or_else(|| chat["id"].as_str().map(str::to_owned))?;
    let kind = match chat["type"].as_str().unwrap_or("private") {
        "private" => PeerKind::Direct,
        "channel" => PeerKind::Channel,
        _ => PeerKind::Group,
    };
    let from = &message["from"];
    let sender_id = from["id"].as_i64().map(|id| id.to_string()).unwrap_or_else(|| chat_id.clone());
    let name =
        [from["first_name"].as_str(), from["last_name"].as_str()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let text = message["text"].as_str().or_else(|| message["caption"].as_str()).unwrap_or_default().to_owned();
    let mut media = Vec::new();
    if let Some(sizes) = message["photo"].as_array()
        && let Some(largest) = sizes.last()
    {
        media.push(Media {
            kind: "photo".to_owned(),
            reference: largest["file_id"].as_str().unwrap_or_default().to_owned(),
            mime: Some("image/jpeg".to_owned()),
            name: None,
        });
    }
    if let Some(document) = message.get("document").filter(|d| d.is_object()) {
        media.push(Media {
            kind: "document".to_owned(),
            reference: document["file_id"].as_str().unwrap_or_default().to_owned(),
            mime: document["mime_type"].as_str().map(str::to_owned),
            name: document["file_name"].as_str().map(str::to_owned),
        });
    }
    if text.is_empty() && media.is_empty() {
        return None;
    }

    let reply_to_bot =
        me.is_some_and(|me| message["reply_to_message"]["from"]["id"].as_i64() == Some(me.id) && me.id != 0);
    let named = me.is_some_and(|me| {
        !me.username.is_empty() && text.to_lowercase().contains(&format!("@{}", me.username.to_lowercase()))
    });
    let text_mention = message["entities"].as_array().is_some_and(|entities| {
        entities.iter().any(|entity| {
            entity["type"] == "text_mention" && me.is_some_and(|me| entity["user"]["id"].as_i64() == Some(me.id))
        })
    });
    let thread =
        (message["is_topic_message"].as_bool() == Some(true)).then(|| message["message_thread_id"].as_i64()).flatten();
    let message_id = message["message_id"].as_i64();
    let date = message["date"].as_i64().unwrap_or_default();
    // Telegram sends seconds; some emulators send milliseconds.
    let timestamp_ms = if date > 100_000_000_000 { date } else { date * 1000 };
    let mut route = json!({"chatId": chat_id});
    if let Some(thread) = thread {
        route["threadId"] = json!(thread);
    }
    if let Some(id) = message_id {
        route["messageId"] = json!(id);
    }
    if chat["is_forum"].as_bool() == Some(true) {
        route["forum"] = json!(true);
    }
    if let Some(id) = message_id
        && reply_to != ReplyTo::Off
    {
        route["replyTo"] = json!(id);
        route["replyAll"] = json!(reply_to == ReplyTo::All);
    }
    Some(Inbound {
        channel: "telegram".to_owned(),
        account: account.to_owned(),
        peer: Peer {
            kind,
            id: chat_id,
            thread: thread.map(|id| format!("topic:{id}")),
            title: chat["title"].as_str().map(str::to_owned),
        },
        sender: Sender {
            id: sender_id,
            name: (!name.is_empty()).then_some(name),
            username: from["username"].as_str().map(str::to_owned),
            is_bot: from["is_bot"].as_bool().unwrap_or(false),
        },
        text,
        media,
        reply_to: message["reply_to_message"]["message_id"].as_i64().map(|id| id.to_string()),
        platform_id: update_id.to_string(),
        message_id: message_id.map(|id| id.to_string()),
        timestamp_ms,
        mentioned: reply_to_bot || named || text_mention,
        session_key: None,
        route,
    })
}

/// Reads a Telegram update (the JSON of `getUpdates` or a webhook call) as bot `@bot_username` would, quoting the
/// message it answers (`replyToMode: first`, so the whole reply route is built); the fuzz target reads updates
/// through it.
pub fn parse_update(body: &[u8], bot_username: &str) -> Option<Inbound> {
    let update: Value = serde_json::from_slice(body).ok()?;
    let me = Me { id: 1, username: bot_username.to_owned() };
    normalize(&update, "default", Some(&me), ReplyTo::First)
}

/// A chat an operator names: a numeric chat id (a user's is positive, a group's negative) or a public channel's
/// `@username`, optionally `:topic:<id>` for a forum topic; a leading `telegram:` is allowed.
fn address(to: &str) -> Result<(Peer, Value), String> {
    let to = to.trim();
    let to = to.strip_prefix("telegram:").unwrap_or(to);
    let (chat, topic) = match to.split_once(":topic:") {
        Some((chat, topic)) => {
            let topic: i64 = topic.parse().map_err(|_| format!("topic {topic:?} is not a number"))?;
            (chat, Some(topic))
        }
        None => (to, None),
    };
    let kind = if let Some(name) = chat.strip_prefix('@') {
        let valid = (4..=32).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("{chat:?} is not a Telegram username (5 to 32 letters, digits and _ after the @)"));
        }
        PeerKind::Channel
    } else {
        match chat.parse::<i64>() {
            Ok(id) if id > 0 => PeerKind::Direct,
            Ok(id) if id < 0 => PeerKind::Group,
            _ => {
                return Err(format!(
                    "{chat:?} is not a Telegram chat (a numeric chat id such as 123456789 or -1001234567890, or \
                     @channelname; a user's id is in `openclaw pairing list` or the bot's updates)"
                ));
            }
        }
    };
    let mut route = json!({"chatId": chat});
    let mut peer = Peer { kind, id: chat.to_owned(), thread: None, title: None };
    if let Some(topic) = topic {
        route["threadId"] = json!(topic);
        peer.thread = Some(format!("topic:{topic}"));
    }
    Ok((peer, route))
}

/// `sendMessage` / `editMessageText` fields for a chunk of HTML.
fn message_body(route: &Value, chunk: &str) -> Value {
    let mut body = json!({"chat_id": route["chatId"], "text": chunk, "parse_mode": "HTML",
                          "link_preview_options": {"is_disabled": true}});
    if let Some(thread) = route.get("threadId") {
        body["message_thread_id"] = thread.clone();
    }
    body
}

/// The same request with the chunk as plain text, for when Telegram refuses its markup.
fn without_markup(mut body: Value, chunk: &str) -> Value {
    body["text"] = json!(strip_html(chunk));
    if let Some(map) = body.as_object_mut() {
        map.remove("parse_mode");
    }
    body
}

impl Telegram {
    /// Calls a text method with the chunk as HTML; when Telegram refuses the markup, with the same words as plain
    /// text.
    async fn call_text(&self, method: &str, body: Value, chunk: &str, timeout: Duration) -> Result<Value, ApiError> {
        match self.api.call(method, &body, timeout).await {
            Err(ApiError::Api { code: 400, description, .. }) if description.contains("parse entities") => {
                self.api.call(method, &without_markup(body, chunk), timeout).await
            }
            result => result,
        }
    }

    async fn webhook_update(&self, inbox: &Inbox, headers: &HeaderMap, body: &[u8]) -> (StatusCode, &'static str) {
        let Some(webhook) = &self.webhook else { return (StatusCode::NOT_FOUND, "not found") };
        let given = headers.get("x-telegram-bot-api-secret-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), webhook.secret.as_bytes())) {
            tracing::warn!(account = %self.account, "Telegram webhook call with a wrong secret token refused.");
            return (StatusCode::UNAUTHORIZED, "bad secret token");
        }
        let Ok(update) = serde_json::from_slice::<Value>(body) else {
            return (StatusCode::BAD_REQUEST, "body is not a JSON update");
        };
        let Some(message) = self.normalize(&update) else { return (StatusCode::OK, "ignored") };
        match inbox.accept(&message, None).await {
            Ok(_) => (StatusCode::OK, "ok"),
            // Telegram retries a failed delivery.
            Err(error) => {
                tracing::warn!(account = %self.account, %error, "Cannot record a Telegram update.");
                (StatusCode::SERVICE_UNAVAILABLE, "cannot record the update; retry")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_built_from_the_channel_block() {
        let text = r#"{"channels": {"telegram": {"botToken": "1:a", "dmPolicy": "open", "allowFrom": ["*"],
                       "accounts": {"work": {"botToken": "2:b", "dmPolicy": "pairing"}}}}}"#;
        let paths = openclaw_config::Paths::for_state_dir(std::env::temp_dir().join("openclaw-telegram-accounts"));
        let loaded = openclaw_config::load_str(text, &paths, &|_| None).expect("config");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (built, errors) = crate::build_all(&loaded, &|_| None, &reqwest::Client::new());
        assert!(errors.is_empty(), "{errors:?}");
        let accounts: Vec<(&str, DmPolicy)> = built.iter().map(|c| (c.account(), c.policy().dm)).collect();
        assert_eq!(accounts, vec![("default", DmPolicy::Open), ("work", DmPolicy::Pairing)]);
        let typo = r#"{"channels": {"telegram": {"botToken": "1:a", "accounts": {"work": {"botTokn": "2:b"}}}}}"#;
        let loaded = openclaw_config::load_str(typo, &paths, &|_| None).expect("config");
        let (_, errors) = crate::build_all(&loaded, &|_| None, &reqwest::Client::new());
        assert!(errors.iter().any(|e| e.starts_with("channels.telegram.accounts.work.botTokn")), "{errors:?}");
    }

    #[test]
    fn bot_tokens_are_checked_before_they_are_saved() {
        assert!(check_token("123456789:AAEhBP0av28nL-Abc_xyz").is_ok());
        for bad in ["", "123456789", ":abc", "abc:def", "123:", "123:a b", "https://api.telegram.org/bot1:a"] {
            assert!(check_token(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn operators_name_chats_as_telegram_does() {
        let (peer, route) = address("123456789").expect("a user");
        assert_eq!((peer.kind, route), (PeerKind::Direct, json!({"chatId": "123456789"})));
        let (peer, route) = address("telegram:-1001234567890:topic:7").expect("a forum topic");
        assert_eq!((peer.kind, peer.thread.as_deref()), (PeerKind::Group, Some("topic:7")));
        assert_eq!(route, json!({"chatId": "-1001234567890", "threadId": 7}));
        assert_eq!(address("@news_channel").expect("a channel").0.kind, PeerKind::Channel);
        for bad in ["", "abc", "0", "@x", "@no spaces", "6:topic:x", "6:topic:"] {
            assert!(address(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn parse_update_reads_messages_and_ignores_the_rest() {
        let update = br#"{"update_id": 5, "message": {"message_id": 9, "date": 1700000000, "text": "hey @Bot",
            "chat": {"id": -100, "type": "supergroup", "title": "T", "is_forum": true},
            "from": {"id": 42, "first_name": "Ann", "username": "ann"}}}"#;
        let message = parse_update(update, "bot").expect("a message");
        assert_eq!(
            (message.peer.kind, message.peer.id.as_str(), message.sender.id.as_str()),
            (PeerKind::Group, "-100", "42")
        );
        assert!(message.mentioned, "@Bot names the bot, whatever the case");
        assert_eq!((message.route["messageId"].clone(), message.route["forum"].clone()), (json!(9), json!(true)));
        assert_eq!(parse_update(br#"{"update_id": 6, "edited_message": {}}"#, "bot"), None);
        assert_eq!(parse_update(b"not json", "bot"), None);
        assert_eq!(parse_update(br#"{"update_id": 7, "message": {"chat": {"id": 1}}}"#, "bot"), None, "no text");
    }
}
