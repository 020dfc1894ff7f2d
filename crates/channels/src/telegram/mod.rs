//! Telegram (Bot API): long polling by default (`getUpdates` with the offset kept in the store, advanced in the
//! same transaction that records the message), or a webhook (`webhookUrl` + `webhookSecret`, checked against
//! `X-Telegram-Bot-Api-Secret-Token`). Text in and out (HTML parse mode, 4000-character chunks), groups and forum
//! topics, mentions, replies, typing; photos and documents in (as references). The reference's keys:
//! `channels.telegram.{enabled, botToken, tokenFile, apiRoot, dmPolicy, allowFrom, groupPolicy, groupAllowFrom,
//! groups, mentionPatterns, textChunkLimit, replyToMode, webhookUrl, webhookSecret, webhookPath, accounts,
//! defaultAccount}`.

mod api;
mod config;
mod normalize;
mod receive;
mod send;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

pub use api::{Api, ApiError};
pub use normalize::parse_update;

use send::{Route, address, message_body};

use crate::access::{DmPolicy, Policy};
use crate::host::{Account, ChannelEnv, ChannelKind, accounts, channel_block, parse_block, resolve_secret};
use crate::{
    Capabilities, Channel, ChannelError, Dialect, Health, Inbound, Inbox, Media, Peer, PeerKind, SendError, Sender,
    StoredRoute,
};

/// The registration of the Telegram channel.
pub const KIND: ChannelKind = ChannelKind {
    name: "telegram",
    summary: "Telegram bots (Bot API: long polling or webhook)",
    login: "a bot token from @BotFather (openclaw channels login telegram, or channels add --channel telegram --token …)",
    token: Some(crate::TokenSpec { key: "botToken", check: config::check_token }),
    setup: &[crate::SetupStep::Token, crate::SetupStep::DmPolicy],
    flags: &[],
    build: config::build,
};

const DEFAULT_API_ROOT: &str = "https://api.telegram.org";
const DEFAULT_CHUNK: usize = 4000;
const MAX_TEXT: usize = 4096;
const POLL_TIMEOUT_SECONDS: u64 = 25;
/// How many message ids past the last known one `find_sent` tries. A bot's ids in private chats and basic groups
/// come from one counter shared by all its chats, so the chunk's id is past the others created meanwhile.
const FIND_SENT_WINDOW: i64 = 100;

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
                            inbox.backoff(failures).await;
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
        let route = Route::read(route)?;
        let mut body = message_body(&route, chunk);
        if let Some(reply_to) = route.reply_to
            && (index == 0 || route.reply_all)
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
        let route = Route::read(route)?;
        if route.thread_id.is_some() || route.forum {
            return Ok(None);
        }
        let known = [after.and_then(|id| id.parse::<i64>().ok()), route.message_id];
        let Some(floor) = known.into_iter().flatten().max() else { return Ok(None) };
        let timeout = Duration::from_secs(10);
        for candidate in floor + 1..=floor + FIND_SENT_WINDOW {
            let mut body = message_body(&route, chunk);
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
        let route = Route::read(route)?;
        let mut body = json!({"chat_id": route.chat_id, "action": "typing"});
        if let Some(thread) = route.thread_id {
            body["message_thread_id"] = json!(thread);
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
    fn stored_routes_read_back_as_written() {
        for stored in [
            json!({"chatId": 21}),
            json!({"chatId": "-100", "threadId": 4, "forum": true}),
            json!({"chatId": "6", "messageId": 9, "replyTo": 9, "replyAll": true}),
        ] {
            assert_eq!(Route::read(&stored).expect("reads").to_value(), stored);
        }
        // Rows written before the route was typed carried `replyAll: false`.
        let old = Route::read(&json!({"chatId": "6", "replyTo": 9, "replyAll": false})).expect("reads");
        assert_eq!((old.reply_to, old.reply_all), (Some(9), false));
        assert!(matches!(Route::read(&json!({"chat": 1})), Err(SendError::Permanent(_))));
    }

    #[test]
    fn bot_tokens_are_checked_before_they_are_saved() {
        assert!(config::check_token("123456789:AAEhBP0av28nL-Abc_xyz").is_ok());
        for bad in ["", "123456789", ":abc", "abc:def", "123:", "123:a b", "https://api.telegram.org/bot1:a"] {
            assert!(config::check_token(bad).is_err(), "{bad:?} was accepted");
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
