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
use openclaw_store::{Accepted, AuditEvent};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::access::{DmPolicy, Policy};
use crate::host::{ChannelEnv, ChannelKind, channel_block, resolve_secret};
use crate::{Capabilities, Channel, ChannelError, Dialect, Health, Inbound, Inbox, Peer, PeerKind, SendError, Sender};

/// The registration of the webhook channel.
pub const KIND: ChannelKind = ChannelKind {
    name: "webhook",
    summary: "generic signed HTTP webhooks (inbound POST, outbound POST, HMAC-SHA256)",
    login: "no login: set channels.webhook.secret (shared with the other system) and channels.webhook.url (where replies go)",
    token: None,
    build,
};

const DEFAULT_PATH: &str = "/channels/webhook";
const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookConfig {
    enabled: Option<bool>,
    secret: Option<openclaw_config::Secret>,
    url: Option<String>,
    path: Option<String>,
    replay_window_seconds: Option<u64>,
    text_chunk_limit: Option<usize>,
}

fn build(env: &ChannelEnv<'_>) -> Result<Vec<Arc<dyn Channel>>, ChannelError> {
    let path = "channels.webhook";
    let (config, policy_config): (WebhookConfig, _) = channel_block(env.section, path)?;
    if config.enabled == Some(false) {
        return Ok(Vec::new());
    }
    let secret = config.secret.as_ref().ok_or_else(|| ChannelError::Config {
        path: format!("{path}.secret"),
        message:
            "no shared secret (fix: set channels.webhook.secret to a long random string, or \"${WEBHOOK_SECRET}\")"
                .to_owned(),
    })?;
    let secret = resolve_secret(secret, &format!("{path}.secret"), env.env)?;
    if secret.len() < 16 {
        return Err(ChannelError::Config {
            path: format!("{path}.secret"),
            message: "too short to resist guessing (fix: at least 16 characters)".to_owned(),
        });
    }
    if let Some(url) = &config.url
        && reqwest::Url::parse(url).is_err()
    {
        return Err(ChannelError::Config {
            path: format!("{path}.url"),
            message: format!("{url:?} is not a URL (fix: https://example.com/openclaw-replies)"),
        });
    }
    // A machine channel: open unless the config restricts it.
    let policy = if !policy_config.is_set() {
        Policy::open()
    } else {
        Policy::compile(&policy_config, "webhook", path, DmPolicy::Allowlist, &env.owners)?
    };
    Ok(vec![Arc::new(WebhookChannel {
        secret,
        url: config.url.clone(),
        path: config.path.clone().unwrap_or_else(|| DEFAULT_PATH.to_owned()),
        window: Duration::from_secs(config.replay_window_seconds.unwrap_or(300).clamp(5, 3600)),
        chunk_limit: config.text_chunk_limit.unwrap_or(64 * 1024).max(64),
        policy,
        http: env.http.clone(),
        seen: Mutex::default(),
        refusals: Default::default(),
    })])
}

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

/// `sha256=<hex>` of `<timestamp>.<body>`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this never fails; an empty signature would match nothing.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Deserialize)]
struct InboundBody {
    id: Value,
    conversation: Value,
    #[serde(default)]
    text: String,
    #[serde(default)]
    sender: Option<InboundSender>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    mentioned: bool,
}

#[derive(Deserialize)]
struct InboundSender {
    id: Value,
    #[serde(default)]
    name: Option<String>,
}

/// The longest id or conversation accepted, in bytes.
const MAX_ID: usize = 200;

fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.trim().is_empty() && text.len() <= MAX_ID => Some(text.trim().to_owned()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn reply(status: StatusCode, body: Value) -> (StatusCode, axum::Json<Value>) {
    (status, axum::Json(body))
}

impl WebhookChannel {
    /// Checks the signature and freshness; the reason when refused.
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), &'static str> {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
        let timestamp: i64 = header("x-openclaw-timestamp")
            .ok_or("missing X-OpenClaw-Timestamp")?
            .parse()
            .map_err(|_| "X-OpenClaw-Timestamp is not a Unix time in seconds")?;
        let given = header("x-openclaw-signature").ok_or("missing X-OpenClaw-Signature")?;
        let expected = sign(&self.secret, timestamp, body);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes())) {
            return Err("bad signature");
        }
        let window = self.window.as_secs() as i64;
        if (now - timestamp).abs() > window {
            return Err("timestamp outside the replay window");
        }
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.retain(|_, forget_at| *forget_at > now);
        if seen.insert(expected, timestamp + window + 1).is_some() {
            return Err("replayed signature");
        }
        Ok(())
    }

    async fn reject(
        &self,
        inbox: &Inbox,
        reason: &'static str,
        source: Option<IpAddr>,
    ) -> (StatusCode, axum::Json<Value>) {
        let verdict = match source {
            Some(source) => self.refusals.refused(source, reason),
            None => crate::refusals::Verdict::Audit { suppressed: 0 },
        };
        if let crate::refusals::Verdict::Audit { suppressed } = verdict {
            tracing::warn!(reason, suppressed, "Webhook call refused.");
            let mut detail = json!({"reason": reason, "source": source.map(|ip| ip.to_string())});
            if suppressed > 0 {
                // The previous minute's further refusals from this source, as one row.
                detail["suppressedBefore"] = json!(suppressed);
                detail["windowSeconds"] = json!(crate::refusals::WINDOW.as_secs());
            }
            let _ = inbox
                .audit(AuditEvent {
                    actor: "channel:webhook".to_owned(),
                    action: "channel.webhook.rejected".to_owned(),
                    agent_id: None,
                    session_key: None,
                    run_id: None,
                    outcome: "denied".to_owned(),
                    detail,
                })
                .await;
        }
        reply(StatusCode::UNAUTHORIZED, json!({"ok": false, "error": reason}))
    }

    async fn handle(
        &self,
        inbox: &Inbox,
        headers: &HeaderMap,
        body: &[u8],
        source: Option<IpAddr>,
    ) -> (StatusCode, axum::Json<Value>) {
        if let Some(seconds) = source.and_then(|ip| self.refusals.throttled(ip)) {
            let message = format!("too many refused calls from this address; retry in {seconds} s");
            return reply(StatusCode::TOO_MANY_REQUESTS, json!({"ok": false, "error": message}));
        }
        if body.len() > MAX_BODY {
            return reply(StatusCode::PAYLOAD_TOO_LARGE, json!({"ok": false, "error": "body over 256 KiB"}));
        }
        let now = openclaw_protocol::now_ms() / 1000;
        if let Err(reason) = self.verify(headers, body, now) {
            return self.reject(inbox, reason, source).await;
        }
        let message = match parse_message(body) {
            Ok(message) => message,
            Err(error) => return reply(StatusCode::BAD_REQUEST, json!({"ok": false, "error": error})),
        };
        let id = message.platform_id.clone();
        match inbox.accept(&message, None).await {
            Ok(Accepted::New(_)) => reply(StatusCode::OK, json!({"ok": true, "id": id})),
            Ok(Accepted::Duplicate(_)) => reply(StatusCode::OK, json!({"ok": true, "id": id, "duplicate": true})),
            Err(error) => {
                tracing::warn!(%error, "Cannot record a webhook message.");
                reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"ok": false, "error": "cannot record the message now; retry"}),
                )
            }
        }
    }
}

/// Reads an inbound webhook body (`{id, conversation, text, kind?, sender?, mentioned?}`) into a message, or says
/// what is wrong with it. The signature was checked before.
///
/// # Errors
/// What the sender must fix, in one sentence.
pub fn parse_message(body: &[u8]) -> Result<Inbound, String> {
    let parsed: InboundBody = serde_json::from_slice(body).map_err(|error| {
        format!("body is not a webhook message: {error} (expected {{\"id\", \"conversation\", \"text\"}})")
    })?;
    let (Some(id), Some(conversation)) = (id_text(&parsed.id), id_text(&parsed.conversation)) else {
        return Err("id and conversation must be non-empty strings or numbers (at most 200 characters)".to_owned());
    };
    if parsed.text.trim().is_empty() {
        return Err("text is empty".to_owned());
    }
    let kind = match parsed.kind.as_deref() {
        None | Some("direct") => PeerKind::Direct,
        Some("group") => PeerKind::Group,
        Some(other) => {
            return Err(format!("kind {other:?} is not direct or group"));
        }
    };
    let sender = match &parsed.sender {
        Some(sender) => Sender {
            id: id_text(&sender.id).unwrap_or_else(|| conversation.clone()),
            name: sender.name.clone(),
            username: None,
            is_bot: false,
        },
        None => Sender { id: conversation.clone(), name: None, username: None, is_bot: false },
    };
    Ok(Inbound {
        channel: "webhook".to_owned(),
        account: "default".to_owned(),
        peer: Peer { kind, id: conversation.clone(), thread: None, title: None },
        sender,
        text: parsed.text,
        media: Vec::new(),
        reply_to: None,
        platform_id: id.clone(),
        message_id: Some(id.clone()),
        timestamp_ms: openclaw_protocol::now_ms(),
        mentioned: parsed.mentioned,
        session_key: None,
        route: json!({"conversation": conversation, "inReplyTo": id}),
    })
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
        let handler = move |request: axum::extract::Request| {
            let this = self.clone();
            let inbox = inbox.clone();
            async move {
                let source = request
                    .extensions()
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|info| info.0.ip());
                let (parts, body) = request.into_parts();
                let Ok(body) = axum::body::to_bytes(body, MAX_BODY + 1).await else {
                    return reply(StatusCode::PAYLOAD_TOO_LARGE, json!({"ok": false, "error": "body over 256 KiB"}));
                };
                this.handle(&inbox, &parts.headers, &body, source).await
            }
        };
        Some((path, axum::routing::post(handler)))
    }

    /// A conversation id, as the receiving system names its conversations. The reply has no message to answer,
    /// so its idempotency keys come from an id made here.
    fn address(&self, to: &str) -> Result<(Peer, Value), String> {
        let to = to.trim();
        let to = to.strip_prefix("webhook:").unwrap_or(to);
        if id_text(&json!(to)).is_none() || to.chars().any(char::is_control) {
            return Err(format!(
                "{to:?} is not a webhook conversation (an id of 1 to {MAX_ID} bytes without control characters)"
            ));
        }
        let peer = Peer { kind: PeerKind::Direct, id: to.to_owned(), thread: None, title: None };
        let route =
            json!({"conversation": to, "inReplyTo": null, "outboundId": format!("out-{}", uuid::Uuid::new_v4())});
        Ok((peer, route))
    }

    // No `find_sent`: a chunk whose send was cut is sent again under the same idempotency key, and the receiver
    // drops the repeat.
    async fn send(&self, route: &Value, chunk: &str, index: usize) -> Result<Option<String>, SendError> {
        let Some(url) = &self.url else {
            return Err(SendError::Permanent(
                "channels.webhook.url is not set: replies have nowhere to go (fix: set it and retry the dead letter)"
                    .to_owned(),
            ));
        };
        let in_reply_to = route["inReplyTo"].as_str().or(route["outboundId"].as_str()).unwrap_or("-");
        let id = format!("{in_reply_to}:{index}");
        let body = json!({"id": id, "conversation": route["conversation"], "inReplyTo": route["inReplyTo"],
                          "text": chunk, "chunk": index})
        .to_string();
        let timestamp = openclaw_protocol::now_ms() / 1000;
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-openclaw-timestamp", timestamp.to_string())
            .header("x-openclaw-signature", sign(&self.secret, timestamp, body.as_bytes()))
            .header("idempotency-key", &id)
            .body(body)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("cannot reach {url}: {e}")))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(None),
            429 => {
                let seconds = response
                    .headers()
                    .get("retry-after")
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.trim().parse::<u64>().ok())
                    .unwrap_or(1);
                Err(SendError::RateLimited { retry_after_ms: seconds.saturating_mul(1000) })
            }
            408 | 500..=599 => Err(SendError::Transient(format!("{url} answered {status}"))),
            _ => Err(SendError::Permanent(format!("{url} answered {status}"))),
        }
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
