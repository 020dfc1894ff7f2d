//! Slack (a Slack app's bot). Receiving: Socket Mode by default (`apps.connections.open` with the app token, the
//! `hello`, each `events_api` envelope recorded before it is acknowledged by its `envelope_id` — an envelope not
//! acknowledged is delivered again by Slack —, `disconnect` → a fresh connection), or the HTTP Events API
//! (`mode: "http"`: `X-Slack-Signature` checked against the signing secret over `v0:<timestamp>:<body>` with a
//! 5-minute window and a replay cache, `url_verification` answered, the 3-second ack met because recording comes
//! first). `auth.test` at start says who the bot is. DMs (`im`), channels and private channels mention-gated by
//! default, group DMs (`mpim`), threads as the session's `thread:<thread_ts>` suffix; `message` and `app_mention`
//! for the same message are one message (its id is the channel and `ts`). Sending: `chat.postMessage` in Slack's
//! mrkdwn, threads by `thread_ts`, link unfurling off, 429 + `Retry-After` as a wait; a cut send is looked for
//! in the conversation's history. The reference's keys: `channels.slack.{enabled, mode, botToken, appToken,
//! signingSecret, webhookPath, dmPolicy, allowFrom, dm.{enabled, policy, allowFrom}, groupPolicy,
//! channels.<id>.{enabled, allow, requireMention, users}, mentionPatterns, allowBots, replyToMode, textChunkLimit,
//! unfurlLinks, accounts}` and OpenClaw-rs's `apiBaseUrl` (default `https://slack.com/api`).

mod api;
mod config;
mod normalize;
mod receive;
mod send;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use serde_json::{Value, json};

pub use api::{Api, ApiError, Token};
pub use normalize::parse_event;
pub use send::to_mrkdwn;

use send::Route;

use crate::access::Policy;
use crate::host::ChannelKind;
use crate::{Capabilities, Channel, ChannelError, Dialect, Health, Inbox, Peer, SendError, StoredRoute};

/// The registration of the Slack channel.
pub const KIND: ChannelKind = ChannelKind {
    name: "slack",
    summary: "Slack (a Slack app: Socket Mode, or the HTTP Events API with a signing secret)",
    login: "the bot token, xoxb-… (api.slack.com/apps → your app → OAuth & Permissions); Socket Mode also needs appToken (xapp-…)",
    token: Some(crate::TokenSpec { key: "botToken", check: config::check_token }),
    setup: &[crate::SetupStep::Token, crate::SetupStep::DmPolicy],
    flags: &[
        crate::AddFlag { flag: "bot-token", key: "botToken", check: Some(config::check_token) },
        crate::AddFlag { flag: "app-token", key: "appToken", check: Some(config::check_app_token) },
        crate::AddFlag { flag: "mode", key: "mode", check: Some(config::check_mode) },
        crate::AddFlag { flag: "signing-secret", key: "signingSecret", check: Some(config::check_signing_secret) },
        crate::AddFlag { flag: "webhook-path", key: "webhookPath", check: None },
    ],
    build: config::build,
};

pub(crate) const DEFAULT_API: &str = "https://slack.com/api";
const DEFAULT_CHUNK: usize = 4000;
/// Slack cuts `text` at 40,000 characters.
const MAX_TEXT: usize = 40_000;
/// The HTTP Events API's freshness window.
const SIGNATURE_WINDOW_S: i64 = 300;
const MAX_BODY: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyTo {
    Off,
    First,
    All,
}

/// How events arrive.
enum Mode {
    Socket,
    Http { signing_secret: String, path: String },
}

/// Who the bot is (`auth.test`).
#[derive(Debug, Clone, Default)]
struct Me {
    user_id: String,
    bot_id: String,
}

/// One Slack bot account.
pub struct Slack {
    account: String,
    api: Api,
    mode: Mode,
    policy: Policy,
    chunk_limit: usize,
    reply_to: ReplyTo,
    allow_bots: bool,
    unfurl_links: bool,
    me: OnceLock<Me>,
    /// HTTP mode: refused calls counted per source, and signatures seen inside the window (a replay).
    refusals: crate::refusals::Refusals,
    seen: Mutex<HashMap<String, i64>>,
}

#[async_trait]
impl Channel for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { threads: true, ..Capabilities::text(Some(MAX_TEXT), self.chunk_limit, Dialect::Markdown) }
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn mode(&self) -> String {
        match self.mode {
            Mode::Socket => "socket".to_owned(),
            Mode::Http { .. } => "http".to_owned(),
        }
    }

    async fn receive(self: Arc<Self>, inbox: Inbox) -> Result<(), ChannelError> {
        match self.mode {
            Mode::Socket => self.socket_loop(&inbox).await,
            Mode::Http { .. } => Ok(()),
        }
    }

    fn route(self: Arc<Self>, inbox: Inbox) -> Option<(String, axum::routing::MethodRouter)> {
        let Mode::Http { path, .. } = &self.mode else { return None };
        let path = path.clone();
        let route = crate::refusals::post_route(
            self,
            inbox,
            MAX_BODY,
            |this| &this.refusals,
            |this, inbox, post| async move {
                axum::response::IntoResponse::into_response(this.http_event(&inbox, &post).await)
            },
        );
        Some((path, route))
    }

    fn render(&self, markdown: &str) -> Vec<String> {
        let limit = self.chunk_limit.max(16);
        crate::format::chunk(markdown, limit)
            .iter()
            .map(|chunk| to_mrkdwn(chunk))
            .filter(|chunk| !chunk.trim().is_empty())
            .collect()
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

    async fn probe(&self) -> Health {
        match self.api.post("auth.test", &json!({}), Token::Bot).await {
            Ok(me) => Health {
                ok: true,
                detail: format!(
                    "bot {} (user {}) in {}",
                    me["user"].as_str().unwrap_or("?"),
                    me["user_id"].as_str().unwrap_or("?"),
                    me["team"].as_str().unwrap_or("?")
                ),
            },
            Err(error) => Health { ok: false, detail: error.to_string() },
        }
    }
}

impl Slack {
    /// Who the bot is, from `auth.test` (once).
    async fn me(&self) -> Result<Me, ApiError> {
        if let Some(me) = self.me.get() {
            return Ok(me.clone());
        }
        let answer = self.api.post("auth.test", &json!({}), Token::Bot).await?;
        let me = Me {
            user_id: answer["user_id"].as_str().unwrap_or_default().to_owned(),
            bot_id: answer["bot_id"].as_str().unwrap_or_default().to_owned(),
        };
        let _ = self.me.set(me.clone());
        Ok(me)
    }
}

#[cfg(test)]
mod tests;
