//! Sending: the typed route, recipients an operator names, and signed chunks POSTed to `url`.

use super::*;

/// Where a webhook reply goes; stored as JSON in the outbox under these camelCase names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Route {
    pub conversation: String,
    /// The inbound message answered (each chunk's idempotency key is `<inReplyTo>:<chunk>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// For a reply that answers nothing (an operator's delivery): the base of its idempotency keys instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_id: Option<String>,
}

impl StoredRoute for Route {
    const PLATFORM: &'static str = "webhook";
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

/// A conversation id, as the receiving system names its conversations. The reply has no message to answer, so
/// its idempotency keys come from an id made here.
pub(super) fn address(to: &str) -> Result<(Peer, Value), String> {
    let to = to.trim();
    let to = to.strip_prefix("webhook:").unwrap_or(to);
    if id_text(&json!(to)).is_none() || to.chars().any(char::is_control) {
        return Err(format!(
            "{to:?} is not a webhook conversation (an id of 1 to {MAX_ID} bytes without control characters)"
        ));
    }
    let peer = Peer { kind: PeerKind::Direct, id: to.to_owned(), thread: None, title: None, space: None };
    let route = Route {
        conversation: to.to_owned(),
        in_reply_to: None,
        outbound_id: Some(format!("out-{}", uuid::Uuid::new_v4())),
    };
    Ok((peer, route.to_value()))
}

impl WebhookChannel {
    /// POSTs one signed chunk to `url`.
    pub(super) async fn post_chunk(
        &self,
        route: &Route,
        chunk: &str,
        index: usize,
    ) -> Result<Option<String>, SendError> {
        let Some(url) = &self.url else {
            return Err(SendError::Permanent(
                "channels.webhook.url is not set: replies have nowhere to go (fix: set it and retry the dead letter)"
                    .to_owned(),
            ));
        };
        let base = route.in_reply_to.as_deref().or(route.outbound_id.as_deref()).unwrap_or("-");
        let id = format!("{base}:{index}");
        let body = json!({"id": id, "conversation": route.conversation, "inReplyTo": route.in_reply_to,
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
}
