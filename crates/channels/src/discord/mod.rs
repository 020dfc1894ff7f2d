//! Discord (a bot over the Discord Gateway and the REST API v10). Receiving: the Gateway WebSocket (HELLO,
//! IDENTIFY with the message-content intent, heartbeats whose ACKs are checked, RESUME after a drop, RECONNECT and
//! INVALID_SESSION), with the session id, the sequence number and the resume URL saved in the same transaction as
//! each message, so a gateway that crashed resumes its session and Discord replays what it missed. Sending:
//! `POST /channels/{id}/messages` with a nonce made from the message answered and the chunk's index
//! (`enforce_nonce`: Discord returns the first message again for a repeated one) and no mentions allowed,
//! per-route rate-limit buckets, typing. DMs and guild channels (mention-gated by default), threads as the session's
//! `thread:` suffix. The reference's keys: `channels.discord.{enabled, token, allowFrom, dmPolicy, dm.{enabled,
//! policy, allowFrom}, groupPolicy, guilds.<id>.{requireMention, users, channels.<id|name|*>.{enabled, allow,
//! requireMention, users}}, mentionPatterns, allowBots, replyToMode, textChunkLimit, maxLinesPerMessage, accounts}`
//! and OpenClaw-rs's `apiBaseUrl` (default `https://discord.com/api`).

mod api;
mod config;
mod normalize;
mod receive;
mod send;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use serde_json::{Value, json};

pub use api::{Api, ApiError};
pub use normalize::parse_message;

use send::Route;

use crate::access::Policy;
use crate::host::ChannelKind;
use crate::{Capabilities, Channel, ChannelError, Dialect, Health, Inbox, Peer, SendError, StoredRoute};

/// The registration of the Discord channel.
pub const KIND: ChannelKind = ChannelKind {
    name: "discord",
    summary: "Discord (a bot over the Gateway WebSocket and the REST API)",
    login: "a bot token (Developer Portal → your application → Bot → Reset Token; enable the Message Content intent)",
    token: Some(crate::TokenSpec { key: "token", check: config::check_token }),
    setup: &[crate::SetupStep::Token, crate::SetupStep::DmPolicy],
    flags: &[],
    build: config::build,
};

pub(crate) const DEFAULT_API: &str = "https://discord.com/api";
/// Discord's limit for a message's content.
const MAX_TEXT: usize = 2000;
const DEFAULT_LINES: usize = 17;
/// GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT.
pub const INTENTS: u64 = 1 | (1 << 9) | (1 << 12) | (1 << 15);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyTo {
    Off,
    First,
    All,
}

/// What the bot knows about a channel: a thread's parent, a channel's name.
#[derive(Debug, Clone, Default)]
struct ChannelInfo {
    parent: Option<String>,
    name: Option<String>,
}

/// One Discord bot account.
pub struct Discord {
    account: String,
    api: Api,
    token: String,
    policy: Policy,
    chunk_limit: usize,
    max_lines: usize,
    reply_to: ReplyTo,
    allow_bots: bool,
    /// The bot's user id (READY, or `GET /users/@me`).
    me: OnceLock<String>,
    /// Channels seen (guild channels and threads), by id.
    channels: Mutex<HashMap<String, ChannelInfo>>,
    /// The DM channel with a user, by user id (a delivery an operator addresses to `user:<id>`).
    dm_channels: Mutex<HashMap<String, String>>,
}

#[async_trait]
impl Channel for Discord {
    fn name(&self) -> &'static str {
        "discord"
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            threads: true,
            typing: true,
            ..Capabilities::text(Some(MAX_TEXT), self.chunk_limit, Dialect::Markdown)
        }
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn mode(&self) -> String {
        "gateway".to_owned()
    }

    async fn receive(self: Arc<Self>, inbox: Inbox) -> Result<(), ChannelError> {
        self.gateway_loop(&inbox).await
    }

    fn render(&self, markdown: &str) -> Vec<String> {
        let chunks = crate::format::render(markdown, &self.capabilities());
        chunks.iter().flat_map(|chunk| crate::format::split_lines(chunk, self.max_lines)).collect()
    }

    fn address(&self, to: &str) -> Result<(Peer, Value), String> {
        send::address(to)
    }

    async fn send(&self, route: &Value, chunk: &str, index: usize) -> Result<Option<String>, SendError> {
        let route = Route::read(route)?;
        self.send_chunk(&route, chunk, index).await
    }

    async fn find_sent(&self, route: &Value, chunk: &str, after: Option<&str>) -> Result<Option<String>, SendError> {
        let route = Route::read(route)?;
        self.find_chunk(&route, chunk, after).await
    }

    async fn typing(&self, route: &Value) -> Result<(), SendError> {
        let route = Route::read(route)?;
        let channel = self.channel_of(&route).await?;
        self.api.call(reqwest::Method::POST, &format!("/channels/{channel}/typing"), None).await?;
        Ok(())
    }

    async fn probe(&self) -> Health {
        match self.api.call(reqwest::Method::GET, "/users/@me", None).await {
            Ok(me) => Health {
                ok: true,
                detail: format!(
                    "bot {} (id {})",
                    me["username"].as_str().unwrap_or("?"),
                    me["id"].as_str().unwrap_or("?")
                ),
            },
            Err(error) => Health { ok: false, detail: error.to_string() },
        }
    }
}

impl Discord {
    /// The bot's own user id.
    async fn me(&self) -> Result<String, ApiError> {
        if let Some(me) = self.me.get() {
            return Ok(me.clone());
        }
        let answer = self.api.call(reqwest::Method::GET, "/users/@me", None).await?;
        let id = answer["id"].as_str().unwrap_or_default().to_owned();
        let _ = self.me.set(id.clone());
        Ok(id)
    }

    fn remember_channel(&self, id: &str, info: ChannelInfo) {
        if let Ok(mut channels) = self.channels.lock() {
            channels.insert(id.to_owned(), info);
        }
    }

    /// A guild channel's parent (when it is a thread) and name: from the events seen, else `GET /channels/{id}`.
    async fn channel_info(&self, id: &str) -> ChannelInfo {
        if let Some(known) = self.channels.lock().ok().and_then(|channels| channels.get(id).cloned()) {
            return known;
        }
        match self.api.call(reqwest::Method::GET, &format!("/channels/{id}"), None).await {
            Ok(channel) => {
                let info = config::channel_info(&channel);
                self.remember_channel(id, info.clone());
                info
            }
            Err(error) => {
                tracing::debug!(account = %self.account, %error, "Cannot look a Discord channel up; treated as a channel.");
                ChannelInfo::default()
            }
        }
    }

    /// The channel a route sends to (opening the DM channel for a `user:` route).
    async fn channel_of(&self, route: &Route) -> Result<String, ApiError> {
        if let Some(channel) = &route.channel_id {
            return Ok(channel.clone());
        }
        let user = route.user_id.clone().unwrap_or_default();
        if let Some(known) = self.dm_channels.lock().ok().and_then(|dms| dms.get(&user).cloned()) {
            return Ok(known);
        }
        let opened =
            self.api.call(reqwest::Method::POST, "/users/@me/channels", Some(&json!({"recipient_id": user}))).await?;
        let channel = opened["id"].as_str().unwrap_or_default().to_owned();
        if let Ok(mut dms) = self.dm_channels.lock() {
            dms.insert(user, channel.clone());
        }
        Ok(channel)
    }
}

#[cfg(test)]
mod tests;
