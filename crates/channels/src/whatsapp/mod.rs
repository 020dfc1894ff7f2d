//! WhatsApp through the official WhatsApp Business Cloud API (`channels.whatsapp` with `provider: "cloud"`; the
//! reference's WhatsApp Web linking by QR is not implemented).
//!
//! Receiving: Meta calls the webhook (`webhookPath`, default `/channels/whatsapp/webhook`): a `GET` with
//! `hub.mode=subscribe` and the configured `hub.verify_token` is answered with `hub.challenge`; each `POST` must carry
//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body keyed with the app secret>` (refused with 401 and
//! audited otherwise). Its messages are recorded (a redelivery is recognised by the message's `wamid`) before the
//! 200 goes back; a store failure answers 503 so Meta delivers again. Status updates (sent, delivered, read, failed)
//! are logged, and the ones carrying our `biz_opaque_callback_data` tell which chunk became which message.
//!
//! Sending: `POST {apiBaseUrl}/{apiVersion}/{phoneNumberId}/messages` with the access token; text in WhatsApp's
//! markup (`*bold*`, `_italic_`, `~strike~`, `` `code` ``, fenced blocks), cut at `textChunkLimit` (4000). Graph
//! API errors are classified: rate limits (130429, 131056, 80007, 4, 613) wait, an invalid token (190) or an
//! undeliverable number is a dead letter, and a reply outside the 24-hour customer-service window (131047) is
//! replaced by the configured re-engagement template, or dead-lettered saying why. The Cloud API has neither an
//! idempotency key nor a list of sent messages, so each chunk carries a key in `biz_opaque_callback_data`; a chunk
//! whose send answer was lost is looked for among the status updates that came back with that key.

mod config;
mod normalize;
mod receive;
mod send;

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use serde_json::{Value, json};

pub use normalize::parse_delivery;
pub use receive::signature;
pub use send::to_whatsapp;

use send::Route;

use crate::access::Policy;
use crate::host::ChannelKind;
use crate::{Capabilities, Channel, ChannelError, Dialect, Health, Inbox, Peer, SendError, StoredRoute};

/// The registration of the WhatsApp channel.
pub const KIND: ChannelKind = ChannelKind {
    name: "whatsapp",
    summary: "WhatsApp Business (the official Cloud API: signed webhooks in, the Graph API out)",
    login: "the Cloud API's access token (developers.facebook.com → your app → WhatsApp → API Setup; a system user's \
            permanent token for production), with phoneNumberId, appSecret and verifyToken",
    token: Some(crate::TokenSpec { key: "accessToken", check: config::check_token }),
    setup: &[
        crate::SetupStep::Flag { flag: "phone-number-id", question: "Phone number ID (API Setup, not the number)" },
        crate::SetupStep::Token,
        crate::SetupStep::Flag { flag: "app-secret", question: "App secret (App settings → Basic)" },
        // The verify token is ours to choose: a random one, to enter in the app's webhook settings.
        crate::SetupStep::Secret("verifyToken"),
        crate::SetupStep::DmPolicy,
    ],
    flags: &[
        crate::AddFlag { flag: "phone-number-id", key: "phoneNumberId", check: Some(config::check_phone_number_id) },
        crate::AddFlag { flag: "access-token", key: "accessToken", check: Some(config::check_token) },
        crate::AddFlag { flag: "app-secret", key: "appSecret", check: Some(config::check_app_secret) },
        crate::AddFlag { flag: "verify-token", key: "verifyToken", check: Some(config::check_verify_token) },
        crate::AddFlag { flag: "webhook-path", key: "webhookPath", check: None },
    ],
    build: config::build,
};

pub(crate) const DEFAULT_API: &str = "https://graph.facebook.com";
const DEFAULT_VERSION: &str = "v21.0";
const DEFAULT_CHUNK: usize = 4000;
/// The Cloud API's limit for a text message's body.
const MAX_TEXT: usize = 4096;
const MAX_BODY: usize = 1 << 20;
/// How many chunk keys → message ids a conversation remembers (a cut send is looked for among them).
const REMEMBERED: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyTo {
    Off,
    First,
    All,
}

/// The template sent instead of a reply when the 24-hour window is closed (error 131047).
#[derive(Debug, Clone)]
struct Template {
    name: String,
    language: String,
}

/// One WhatsApp Business phone number.
pub struct WhatsApp {
    account: String,
    http: reqwest::Client,
    /// `{apiBaseUrl}/{apiVersion}/{phoneNumberId}`.
    base: String,
    phone_number_id: String,
    token: String,
    app_secret: String,
    verify_token: String,
    path: String,
    policy: Policy,
    chunk_limit: usize,
    reply_to: ReplyTo,
    read_receipts: bool,
    reengagement: Option<Template>,
    /// Set when the webhook route is mounted: where status updates record which chunk became which message.
    inbox: OnceLock<Inbox>,
    /// Serialises the read-modify-write of a conversation's remembered chunk keys.
    sent_keys: tokio::sync::Mutex<()>,
    refusals: crate::refusals::Refusals,
}

#[async_trait]
impl Channel for WhatsApp {
    fn name(&self) -> &'static str {
        "whatsapp"
    }

    fn account(&self) -> &str {
        &self.account
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { typing: true, ..Capabilities::text(Some(MAX_TEXT), self.chunk_limit, Dialect::Markdown) }
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn mode(&self) -> String {
        format!("cloud webhook {}", self.path)
    }

    async fn receive(self: Arc<Self>, _inbox: Inbox) -> Result<(), ChannelError> {
        Ok(())
    }

    fn route(self: Arc<Self>, inbox: Inbox) -> Option<(String, axum::routing::MethodRouter)> {
        let _ = self.inbox.set(inbox.clone());
        let path = self.path.clone();
        let verify = {
            let this = self.clone();
            move |query: axum::extract::Query<std::collections::HashMap<String, String>>| {
                let this = this.clone();
                async move { this.verify_subscription(&query.0) }
            }
        };
        let deliver = crate::refusals::post_route(
            self,
            inbox,
            MAX_BODY,
            |this| &this.refusals,
            |this, inbox, post| async move { this.delivery(&inbox, &post).await },
        );
        Some((path, deliver.get(verify)))
    }

    fn render(&self, markdown: &str) -> Vec<String> {
        crate::format::chunk(markdown, self.chunk_limit.max(16))
            .iter()
            .map(|chunk| to_whatsapp(chunk))
            .filter(|chunk| !chunk.trim().is_empty())
            .collect()
    }

    fn address(&self, to: &str) -> Result<(Peer, Value), String> {
        send::address(to)
    }

    async fn send(&self, route: &Value, chunk: &str, index: usize) -> Result<Option<String>, SendError> {
        self.send_chunk(&Route::read(route)?, chunk, index).await
    }

    async fn find_sent(&self, route: &Value, chunk: &str, after: Option<&str>) -> Result<Option<String>, SendError> {
        self.find_chunk(&Route::read(route)?, chunk, after).await
    }

    async fn typing(&self, route: &Value) -> Result<(), SendError> {
        let route = Route::read(route)?;
        match route.reply_to.as_deref().filter(|_| self.read_receipts) {
            // Marks the message answered as read and shows "typing…" until the reply (or 25 s).
            Some(message) => self
                .post(&json!({"messaging_product": "whatsapp", "status": "read", "message_id": message,
                               "typing_indicator": {"type": "text"}}))
                .await
                .map(|_| ())
                .map_err(SendError::from),
            None => Ok(()),
        }
    }

    async fn probe(&self) -> Health {
        match self.get(&[("fields", "display_phone_number,verified_name")]).await {
            Ok(number) => Health {
                ok: true,
                detail: format!(
                    "number {} ({}), phone number id {}",
                    number["display_phone_number"].as_str().unwrap_or("?"),
                    number["verified_name"].as_str().unwrap_or("?"),
                    self.phone_number_id
                ),
            },
            Err(error) => Health { ok: false, detail: error.to_string() },
        }
    }
}

#[cfg(test)]
mod tests;
