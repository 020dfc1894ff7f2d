//! Matrix (the client-server API, unencrypted rooms): `/sync` long polling with the `since` token saved in the
//! same transaction as the message it delivered, sending with a transaction id (Matrix deduplicates a repeated
//! `PUT .../send/m.room.message/<txnId>`, so a chunk whose send was cut is simply sent again), auto-join on invite
//! (`autoJoin`), direct rooms (two members) and rooms with mentions (`m.mentions`, the bot's user id), threads
//! (`m.thread`) and HTML formatted bodies. The reference's keys: `channels.matrix.{enabled, homeserver, userId,
//! accessToken, password, deviceId, deviceName, encryption, dm.{enabled, policy, allowFrom}, dmPolicy, allowFrom,
//! groupPolicy, groupAllowFrom, groups, autoJoin, autoJoinAllowlist, replyToMode, threadReplies, textChunkLimit,
//! accounts, defaultAccount}`. End-to-end encryption is not implemented: `encryption: true` is refused.

mod api;
mod config;
mod normalize;
mod receive;
mod send;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

pub use api::{Api, ApiError};
pub use normalize::parse_event;
pub use send::to_html;

use send::Route;

use crate::access::Policy;
use crate::host::ChannelKind;
use crate::{Capabilities, Channel, ChannelError, Dialect, Health, Inbox, Peer, SendError, StoredRoute};

/// The registration of the Matrix channel.
pub const KIND: ChannelKind = ChannelKind {
    name: "matrix",
    summary: "Matrix (client-server API: /sync long polling, unencrypted rooms)",
    login: "an access token of the bot's Matrix account (openclaw channels login matrix; channels.matrix.homeserver must be set), or userId + password",
    token: Some(crate::TokenSpec { key: "accessToken", check: config::check_token }),
    setup: &[
        crate::SetupStep::Url { key: "homeserver", question: "Homeserver URL (https://matrix.example.org)" },
        crate::SetupStep::Token,
        crate::SetupStep::DmPolicy,
    ],
    flags: &[
        crate::AddFlag { flag: "homeserver", key: "homeserver", check: Some(config::check_homeserver) },
        crate::AddFlag { flag: "user-id", key: "userId", check: Some(config::check_user_id) },
        crate::AddFlag { flag: "access-token", key: "accessToken", check: Some(config::check_token) },
        crate::AddFlag { flag: "password", key: "password", check: None },
        crate::AddFlag { flag: "device-name", key: "deviceName", check: None },
    ],
    build: config::build,
};

const DEFAULT_CHUNK: usize = 4000;
/// Matrix limits an event to 64 KiB; the HTML copy doubles a chunk, so text stays well under it.
const MAX_TEXT: usize = 16_000;
const SYNC_TIMEOUT_MS: u64 = 25_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyTo {
    Off,
    First,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AutoJoin {
    Always,
    Allowlist,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThreadReplies {
    Off,
    Inbound,
    Always,
}

/// How the account signs in.
enum Credentials {
    Token(String),
    Password { user: String, password: String, device_id: String, device_name: String },
}

/// One Matrix bot account.
pub struct Matrix {
    account: String,
    api: Api,
    credentials: Credentials,
    policy: Policy,
    chunk_limit: usize,
    reply_to: ReplyTo,
    thread_replies: ThreadReplies,
    auto_join: AutoJoin,
    auto_join_allowlist: Vec<String>,
    /// The bot's user id (`whoami`, or the configured `userId`), once known.
    me: OnceLock<String>,
    /// Whether a room is a direct chat (two members), by room id.
    direct: Mutex<HashMap<String, bool>>,
}

#[async_trait]
impl Channel for Matrix {
    fn name(&self) -> &'static str {
        "matrix"
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn capabilities(&self) -> Capabilities {
        // Chunks are cut as Markdown; `send` gives each its HTML body (`formatted_body`) beside the text one.
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
        "sync".to_owned()
    }

    async fn receive(self: Arc<Self>, inbox: Inbox) -> Result<(), ChannelError> {
        self.sync_loop(&inbox).await
    }

    fn address(&self, to: &str) -> Result<(Peer, Value), String> {
        send::address(to)
    }

    async fn send(&self, route: &Value, chunk: &str, index: usize) -> Result<Option<String>, SendError> {
        let route = Route::read(route)?;
        self.send_chunk(&route, chunk, index).await
    }

    async fn typing(&self, route: &Value) -> Result<(), SendError> {
        let route = Route::read(route)?;
        let me = self.me().await?;
        let path = format!("/_matrix/client/v3/rooms/{}/typing/{}", api::segment(&route.room_id), api::segment(&me));
        self.api
            .call(reqwest::Method::PUT, &path, Some(&json!({"typing": true, "timeout": 6000})), Duration::from_secs(10))
            .await
            .map(|_| ())
            .map_err(Into::into)
    }

    async fn probe(&self) -> Health {
        match self.whoami().await {
            Ok(me) => Health {
                ok: true,
                detail: format!(
                    "user {} (device {}) on {}",
                    me["user_id"].as_str().unwrap_or("?"),
                    me["device_id"].as_str().unwrap_or("?"),
                    self.api.homeserver()
                ),
            },
            Err(error) => Health { ok: false, detail: error.to_string() },
        }
    }
}

impl Matrix {
    /// Signs in with the password when there is no token yet (once per process; the device id stays the same, so
    /// Matrix still recognises a transaction id sent before a restart).
    async fn sign_in(&self) -> Result<(), ApiError> {
        if self.api.has_token() {
            return Ok(());
        }
        let Credentials::Password { user, password, device_id, device_name } = &self.credentials else {
            return Ok(());
        };
        let body = json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
                          "password": password, "device_id": device_id, "initial_device_display_name": device_name});
        let answer = self
            .api
            .call(reqwest::Method::POST, "/_matrix/client/v3/login", Some(&body), Duration::from_secs(20))
            .await?;
        let token = answer["access_token"].as_str().unwrap_or_default();
        if token.is_empty() {
            return Err(ApiError::Api {
                status: 502,
                code: "M_UNKNOWN".to_owned(),
                message: "login gave no access token".to_owned(),
                retry_after_ms: None,
            });
        }
        self.api.set_token(token);
        if let Some(user) = answer["user_id"].as_str() {
            let _ = self.me.set(user.to_owned());
        }
        Ok(())
    }

    /// `whoami`: who the credentials belong to (`user_id`, `device_id`), signing in first when needed.
    async fn whoami(&self) -> Result<Value, ApiError> {
        self.sign_in().await?;
        self.api.call(reqwest::Method::GET, "/_matrix/client/v3/account/whoami", None, Duration::from_secs(15)).await
    }

    /// The bot's own user id.
    async fn me(&self) -> Result<String, ApiError> {
        if let Some(me) = self.me.get() {
            return Ok(me.clone());
        }
        let answer = self.whoami().await?;
        let user = answer["user_id"].as_str().unwrap_or_default().to_owned();
        let _ = self.me.set(user.clone());
        Ok(user)
    }
}

#[cfg(test)]
mod tests;
