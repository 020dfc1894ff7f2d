//! Channels: where people's messages come from and where the answers go.
//!
//! One [`Channel`] trait (inbound into the [`Inbox`], outbound `send`/`typing`, [`Capabilities`], `probe`), one
//! folder per channel (`telegram/`, `webhook/`, `matrix/`, `discord/`, `slack/`, `whatsapp/`, `webchat/`) with its config, API client and format, and around them what every
//! channel shares: the durable inbox and outbox ([`dispatch`]), routing to an agent and a session key
//! ([`routing`]), the access policy and DM pairing ([`access`]), in-chat commands ([`commands`]) and output shaping
//! ([`format`]). [`Host`] builds the configured channels and runs them.
//!
//! **Adding a channel:** a folder `src/<name>/` whose `mod.rs` exposes `pub const KIND: ChannelKind` (its config
//! parser and builder) and implements [`Channel`]; then one line in [`KINDS`]. Nothing else changes.
//!
//! **Invariants:**
//! - An inbound message is in the store before the platform is told it was received (Telegram's offset moves,
//!   a webhook gets its 200); a redelivered message is recognised by `(channel, account, platform id)`.
//! - A message is finished in the same transaction that stores its answer's turn and queues the reply; a crash
//!   before that leaves it pending, and it is processed again after a restart.
//! - Replies of one conversation are delivered in order; a rate-limited or failing conversation waits alone.
//! - The agent never learns which channel a message came from: it gets a session key, a text and an opaque
//!   delivery ticket.

pub mod access;
pub mod commands;
#[cfg(feature = "discord")]
pub mod discord;
pub mod dispatch;
pub mod format;
mod host;
#[cfg(feature = "matrix")]
pub mod matrix;
pub mod refusals;
pub mod routing;
#[cfg(feature = "slack")]
pub mod slack;
#[cfg(feature = "telegram")]
pub mod telegram;
mod turn;
pub mod webchat;
#[cfg(feature = "webhook")]
pub mod webhook;
#[cfg(feature = "whatsapp")]
pub mod whatsapp;

use std::sync::Arc;

use async_trait::async_trait;
use openclaw_store::{Accepted, NewInbound, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use host::{
    Account, AddFlag, AddressError, Addressed, ChannelEnv, ChannelKind, Host, SetupStep, TokenSpec, accounts,
    build_all, channel_block, channel_issues, kind, parse_block, resolve_secret, status,
};
pub use turn::{ChannelTurn, TurnFailure, Turns};

/// Every channel this build has: its name, config parser and builder. Adding a channel adds one line here.
pub const KINDS: &[ChannelKind] = &[
    #[cfg(feature = "telegram")]
    telegram::KIND,
    #[cfg(feature = "webhook")]
    webhook::KIND,
    #[cfg(feature = "matrix")]
    matrix::KIND,
    #[cfg(feature = "discord")]
    discord::KIND,
    #[cfg(feature = "slack")]
    slack::KIND,
    #[cfg(feature = "whatsapp")]
    whatsapp::KIND,
];

/// A platform's typed reply route, stored as JSON in the outbox (and pairing requests). A stored route that does
/// not read is a dead letter, not a retry.
pub trait StoredRoute: Serialize + serde::de::DeserializeOwned {
    /// The platform, for the error a route that does not read gets.
    const PLATFORM: &'static str;

    /// A stored route.
    ///
    /// # Errors
    /// [`SendError::Permanent`] naming what does not read.
    fn read(value: &Value) -> Result<Self, SendError> {
        serde_json::from_value(value.clone()).map_err(|error| {
            SendError::Permanent(format!("the stored {} route does not read: {error}", Self::PLATFORM))
        })
    }

    /// The route as it is stored.
    fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// What kind of conversation a message is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerKind {
    /// A one-to-one conversation.
    Direct,
    /// A group chat.
    Group,
    /// A broadcast channel.
    Channel,
}

impl PeerKind {
    /// The name used in session keys and bindings.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerKind::Direct => "direct",
            PeerKind::Group => "group",
            PeerKind::Channel => "channel",
        }
    }
}

/// The conversation a message belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub kind: PeerKind,
    /// The chat / room / conversation id on the platform.
    pub id: String,
    /// A thread or forum topic inside it (`topic:<id>` for Telegram forums, `thread:<id>` elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The space that holds the conversation, where the platform has one (a Discord guild): its access rules
    /// ([`access::Policy::spaces`]) apply to the conversations in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<String>,
}

/// Who wrote a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default)]
    pub is_bot: bool,
}

/// An attachment, by reference (downloaded only when used).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// `photo`, `document`, `audio`, `video`, `voice`, `sticker`.
    pub kind: String,
    /// The platform's reference (a Telegram `file_id`, a URL).
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Media {
    /// The kind of an attachment known only by its MIME type (`image/png` is a photo; unknown is a document).
    pub fn kind_for_mime(mime: Option<&str>) -> &'static str {
        match mime.and_then(|mime| mime.split('/').next()) {
            Some("image") => "photo",
            Some("audio") => "audio",
            Some("video") => "video",
            _ => "document",
        }
    }
}

/// One inbound message, the same shape for every channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inbound {
    pub channel: String,
    pub account: String,
    pub peer: Peer,
    pub sender: Sender,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<Media>,
    /// The platform's id of the message this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The deduplication key: the platform's id of this delivery (Telegram `update_id`, a webhook's `id`).
    pub platform_id: String,
    /// The platform's id of the message itself (what a reply quotes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The channel saw an explicit mention of the bot (an @mention entity, a reply to the bot).
    #[serde(default)]
    pub mentioned: bool,
    /// The session the sender named itself (WebChat): routing then only finds the agent that owns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_key: Option<String>,
    /// Where a reply goes, in the channel's own terms.
    pub route: Value,
}

impl Inbound {
    /// The conversation key: replies are ordered per conversation.
    pub fn conversation(&self) -> String {
        let mut key = format!("{}:{}:{}:{}", self.channel, self.account, self.peer.kind.as_str(), self.peer.id);
        if let Some(thread) = &self.peer.thread {
            key.push(':');
            key.push_str(thread);
        }
        key
    }
}

/// A plain inbound message for unit tests.
#[cfg(test)]
pub(crate) fn test_message(channel: &str, kind: PeerKind, chat: &str, sender: &str, text: &str) -> Inbound {
    Inbound {
        channel: channel.to_owned(),
        account: "default".to_owned(),
        peer: Peer { kind, id: chat.to_owned(), thread: None, title: None, space: None },
        sender: Sender { id: sender.to_owned(), name: None, username: None, is_bot: false },
        text: text.to_owned(),
        media: Vec::new(),
        reply_to: None,
        platform_id: "1".to_owned(),
        message_id: None,
        timestamp_ms: 0,
        mentioned: false,
        session_key: None,
        route: Value::Null,
    }
}

/// How a channel renders Markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// Markdown passed through as written.
    Markdown,
    /// Telegram's HTML subset (`<b>`, `<i>`, `<s>`, `<code>`, `<pre>`, `<a>`, `<blockquote>`).
    TelegramHtml,
    /// No markup: formatting is dropped, text kept.
    Plain,
}

/// What a channel can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// The longest message the platform takes, in characters (`None`: no limit).
    pub max_text: Option<usize>,
    /// Where replies are cut (`textChunkLimit`), at most `max_text`.
    pub chunk_limit: usize,
    pub dialect: Dialect,
    pub media: bool,
    pub threads: bool,
    pub reactions: bool,
    pub edits: bool,
    pub typing: bool,
}

impl Capabilities {
    /// Text only: no media, threads, reactions, edits or typing (a channel adds what it does).
    pub fn text(max_text: Option<usize>, chunk_limit: usize, dialect: Dialect) -> Self {
        Capabilities {
            max_text,
            chunk_limit,
            dialect,
            media: false,
            threads: false,
            reactions: false,
            edits: false,
            typing: false,
        }
    }
}

/// Why a send failed, as far as retrying goes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// The platform asked us to slow down: retry this conversation after the delay.
    #[error("rate limited by the platform: retry after {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u64 },
    /// Worth retrying later (network error, 5xx, timeout).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Retrying will not help (bad request, blocked by the user, unknown chat): a dead letter.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// A channel account's health.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub ok: bool,
    pub detail: String,
}

/// A channel failure outside sending (configuration, start-up).
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Other(String),
}

/// Where channels put what they receive: the durable inbox. The dispatcher is woken on each new message.
#[derive(Clone)]
pub struct Inbox {
    store: Arc<dyn Store>,
    wake: Arc<tokio::sync::Notify>,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

impl Inbox {
    /// An inbox over a store (`wake` is notified on every new message).
    pub fn new(
        store: Arc<dyn Store>,
        wake: Arc<tokio::sync::Notify>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        Inbox { store, wake, shutdown }
    }

    /// Records a message (once: a redelivery is recognised) and saves `cursor` in the same transaction. Only
    /// after this returns may the channel acknowledge the message to its platform.
    ///
    /// # Errors
    /// The store's error: the message is not acknowledged, so the platform delivers it again.
    pub async fn accept(&self, message: &Inbound, cursor: Option<(String, String)>) -> Result<Accepted, StoreError> {
        let payload = serde_json::to_value(message).unwrap_or(Value::Null);
        let accepted = self
            .store
            .accept_inbound(
                NewInbound {
                    channel: message.channel.clone(),
                    account: message.account.clone(),
                    platform_id: message.platform_id.clone(),
                    conversation: message.conversation(),
                    sender: message.sender.id.clone(),
                    payload,
                    received_at: message.timestamp_ms,
                },
                cursor,
            )
            .await?;
        if matches!(accepted, Accepted::New(_)) {
            self.wake.notify_one();
        }
        Ok(accepted)
    }

    /// A receive cursor a channel saved (Telegram's update offset, a Matrix `since` token), by its key.
    ///
    /// # Errors
    /// The store's error.
    pub async fn cursor(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.store.channel_cursor(key).await
    }

    /// Saves a receive cursor without a message (an update that carried nothing to answer). With a message, pass
    /// the cursor to [`Inbox::accept`] instead, so both are saved together.
    ///
    /// # Errors
    /// The store's error.
    pub async fn save_cursor(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.store.set_channel_cursor(key, value).await
    }

    /// Records a security event the channel saw (a forged or replayed call).
    ///
    /// # Errors
    /// The store's error.
    pub async fn audit(&self, event: openclaw_store::AuditEvent) -> Result<(), StoreError> {
        self.store.append_audit(event).await.map(|_| ())
    }

    /// Resolves when the gateway shuts down.
    pub async fn closed(&self) {
        let mut shutdown = self.shutdown.clone();
        let _ = shutdown.wait_for(|stop| *stop).await;
    }

    /// Whether the gateway is shutting down.
    pub fn is_closed(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Waits before a receive loop tries again after `failures` failures in a row (0.5 s doubling, at most 30 s),
    /// or until the gateway shuts down.
    pub async fn backoff(&self, failures: u32) {
        let wait =
            std::time::Duration::from_millis(500 * 2_u64.pow(failures.min(6))).min(std::time::Duration::from_secs(30));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = self.closed() => {}
        }
    }
}

/// One account of one channel.
#[async_trait]
pub trait Channel: Send + Sync + 'static {
    /// The channel's name (`telegram`).
    fn name(&self) -> &'static str;
    /// The account id (`default` unless `accounts.<id>`).
    fn account(&self) -> &str;
    fn capabilities(&self) -> Capabilities;
    /// Who may talk to the agent through this account.
    fn policy(&self) -> &access::Policy;
    /// Receives until the inbox closes (a polling loop); channels fed by HTTP return at once.
    async fn receive(self: Arc<Self>, inbox: Inbox) -> Result<(), ChannelError>;
    /// The HTTP route this account serves on the gateway's port (a webhook): its path and handler.
    fn route(self: Arc<Self>, _inbox: Inbox) -> Option<(String, axum::routing::MethodRouter)> {
        None
    }
    /// A reply (Markdown, as the agent wrote it) as the chunks this platform shows, in its own markup. The
    /// default renders [`Capabilities::dialect`] and cuts at [`Capabilities::chunk_limit`] ([`format::render`]);
    /// a platform with its own markup (Slack's mrkdwn, Matrix's HTML) renders it here instead.
    fn render(&self, markdown: &str) -> Vec<String> {
        format::render(markdown, &self.capabilities())
    }
    /// Sends one chunk, already in the channel's dialect, to a reply route. `index` is the chunk's position in
    /// its reply (a reply-to quote goes on the first only). Returns the platform's id for the message it created,
    /// when the platform gives one.
    async fn send(&self, route: &Value, chunk: &str, index: usize) -> Result<Option<String>, SendError>;
    /// Looks on the platform for a chunk whose send was cut (the process stopped, or the answer to the send was
    /// lost), so that it is not shown twice: `Ok(Some(id))` when it arrived, `Ok(None)` when it did not or the
    /// platform cannot tell — it is then sent again, which is safe only where the platform deduplicates (the
    /// webhook's idempotency key). `after` is the platform id of the last chunk delivered in the conversation.
    async fn find_sent(&self, _route: &Value, _chunk: &str, _after: Option<&str>) -> Result<Option<String>, SendError> {
        Ok(None)
    }
    /// The conversation an operator names with `to` (`openclaw agent --channel telegram --to 42 --deliver`): who
    /// it is with, and the route a reply there takes. A channel that can only answer says so.
    fn address(&self, _to: &str) -> Result<(Peer, Value), String> {
        Err(format!("{} only answers messages; it cannot start a conversation", self.name()))
    }
    /// Shows "typing…" in a conversation for a few seconds.
    async fn typing(&self, _route: &Value) -> Result<(), SendError> {
        Ok(())
    }
    /// Checks the account against its platform (`channels status --probe`).
    async fn probe(&self) -> Health;
    /// What the mode is (`polling`, `webhook`, …), for status lines.
    fn mode(&self) -> String;
}
