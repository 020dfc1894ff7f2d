//! The generic webhook channel (an OpenClaw-rs extension, `channels.webhook`): any system that can send and receive
//! signed HTTP POSTs talks to an agent.
//!
//! Inbound: `POST <path>` (default `/channels/webhook`) with a JSON body
//! `{"id", "conversation", "text", "sender": {"id", "name"}?, "kind": "direct"|"group"?}` and two headers:
//! `X-OpenClaw-Timestamp` (Unix seconds) and `X-OpenClaw-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>"
//! keyed with the secret>`. A bad signature, a timestamp outside the replay window (`replayWindowSeconds`, default
//! 300) or a signature seen before is refused with 401 and recorded in the audit log; a valid redelivery of a known
//! `id` is answered 200 with `"duplicate": true` and not processed twice.
//!
//! Outbound: each reply chunk is `POST`ed to `url` as `{"id", "conversation", "inReplyTo", "text", "chunk"}`, signed
//! the same way, with `Idempotency-Key: <id>` (the same on a retry, so the receiver can drop repeats); 2xx is done,
//! 429 waits for `Retry-After`, 5xx and network errors are retried, other 4xx are dead letters.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use openclaw_store::Accepted;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::access::{DmPolicy, Policy};
use crate::host::{ChannelEnv, ChannelKind, channel_block, resolve_secret};
use crate::{
    Capabilities, Channel, ChannelError, Dialect, Health, Inbound, Inbox, Peer, PeerKind, SendError, Sender,
    StoredRoute,
};

mod config;
mod normalize;
mod receive;
mod send;

pub use normalize::parse_message;
use normalize::{MAX_ID, id_text};
use send::Route;
pub use send::sign;

/// The registration of the webhook channel.
pub const KIND: ChannelKind = ChannelKind {
    name: "webhook",
    summary: "generic signed HTTP webhooks (inbound POST, outbound POST, HMAC-SHA256)",
    login: "no login: set channels.webhook.secret (shared with the other system) and channels.webhook.url (where replies go)",
    token: None,
    setup: &[
        crate::SetupStep::Secret("secret"),
        crate::SetupStep::Url {
            key: "url",
            question: "URL where replies are POSTed (empty: set channels.webhook.url later)",
        },
    ],
    flags: &[
        crate::AddFlag { flag: "secret", key: "secret", check: Some(config::check_secret) },
        crate::AddFlag { flag: "url", key: "url", check: Some(config::check_url) },
    ],
    build: config::build,
};

const DEFAULT_PATH: &str = "/channels/webhook";
const MAX_BODY: usize = 256 * 1024;

/// The webhook channel's one account.
pub struct WebhookChannel {
    secret: String,
    url: Option<String>,
    path: String,
    window: Duration,
    chunk_limit: usize,
    policy: Policy,
    http: reqwest::Client,
    /// Signatures accepted within the replay window (signature → when it may be forgotten, in Unix seconds).
    seen: Mutex<HashMap<String, i64>>,
    /// Refused calls per source: audited once a minute, throttled past a few dozen.
    refusals: crate::refusals::Refusals,
}

#[async_trait]
impl Channel for WebhookChannel {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn account(&self) -> &str {
        "default"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::text(None, self.chunk_limit, Dialect::Markdown)
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn mode(&self) -> String {
        format!("webhook {}", self.path)
    }

    async fn receive(self: Arc<Self>, _inbox: Inbox) -> Result<(), ChannelError> {
        Ok(())
    }

    fn route(self: Arc<Self>, inbox: Inbox) -> Option<(String, axum::routing::MethodRouter)> {
        let path = self.path.clone();
        let route = crate::refusals::post_route(
            self,
            inbox,
            MAX_BODY,
            |this| &this.refusals,
            |this, inbox, post| async move { axum::response::IntoResponse::into_response(this.handle(&inbox, &post).await) },
        );
        Some((path, route))
    }

    /// A conversation id, as the receiving system names its conversations.
    fn address(&self, to: &str) -> Result<(Peer, Value), String> {
        send::address(to)
    }

    // No `find_sent`: a chunk whose send was cut is sent again under the same idempotency key, and the receiver
    // drops the repeat.
    async fn send(&self, route: &Value, chunk: &str, index: usize) -> Result<Option<String>, SendError> {
        self.post_chunk(&Route::read(route)?, chunk, index).await
    }

    async fn probe(&self) -> Health {
        match &self.url {
            Some(url) => Health { ok: true, detail: format!("inbound {}; replies to {url}", self.path) },
            None => Health { ok: false, detail: format!("inbound {}; no reply url (channels.webhook.url)", self.path) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_message_reads_a_body_or_says_what_is_missing() {
        let message = parse_message(br#"{"id": 7, "conversation": "c1", "text": "hi", "kind": "group"}"#).expect("ok");
        assert_eq!(
            (message.platform_id.as_str(), message.peer.kind, message.sender.id.as_str()),
            ("7", PeerKind::Group, "c1")
        );
        assert!(parse_message(b"[]").expect_err("not an object").contains("expected"));
        assert!(
            parse_message(br#"{"id": "", "conversation": "c", "text": "x"}"#)
                .expect_err("empty id")
                .contains("non-empty")
        );
        assert_eq!(
            parse_message(br#"{"id": 1, "conversation": "c", "text": " "}"#).expect_err("blank"),
            "text is empty"
        );
        assert!(
            parse_message(br#"{"id": 1, "conversation": "c", "text": "x", "kind": "room"}"#)
                .expect_err("kind")
                .contains("room")
        );
    }
}
