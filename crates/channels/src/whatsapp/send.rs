//! Sending: the typed route, WhatsApp's markup, the Graph API's calls and errors, and looking for a cut send among
//! the status updates that came back.

use sha2::{Digest, Sha256};

use super::*;

/// Where a WhatsApp reply goes; stored as JSON in the outbox under these camelCase names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Route {
    /// The person's `wa_id` (digits).
    pub to: String,
    /// The message answered (quoted as `context` when `replyToMode` says so; the base of the chunks' keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// For a message that answers nothing (an operator's delivery): the base of its chunks' keys instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_id: Option<String>,
}

impl StoredRoute for Route {
    const PLATFORM: &'static str = "whatsapp";
}

/// A number an operator names (`+15551234567`, `whatsapp:15551234567`).
pub(super) fn address(to: &str) -> Result<(Peer, Value), String> {
    let to = to.trim();
    let bare = to.strip_prefix("whatsapp:").unwrap_or(to);
    let number = config::digits(bare);
    let shaped = bare.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')'));
    if !shaped || !(7..=15).contains(&number.len()) {
        return Err(format!("{to:?} is not a WhatsApp number (the international number, such as +15551234567)"));
    }
    let peer = Peer { kind: crate::PeerKind::Direct, id: number.clone(), thread: None, title: None, space: None };
    let route = Route { to: number, reply_to: None, outbound_id: Some(format!("out-{}", uuid::Uuid::new_v4())) };
    Ok((peer, route.to_value()))
}

fn push_plain(text: &str, out: &mut String) {
    out.push_str(text);
}

fn link(url: &str, text: &str) -> String {
    if text.is_empty() || text == url { url.to_owned() } else { format!("{text} ({url})") }
}

/// Markdown as WhatsApp shows it ([`crate::format::star_markup`]): links as `text (url)`, since WhatsApp has no
/// link markup and makes URLs clickable itself.
pub fn to_whatsapp(markdown: &str) -> String {
    crate::format::star_markup(markdown, &crate::format::StarStyle { escape: push_plain, link })
}

/// A Graph API failure.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("cannot reach the Graph API: {0}")]
    Network(String),
    #[error("the Graph API answered {status}: ({code}) {message}")]
    Api { status: u16, code: i64, message: String },
}

impl From<GraphError> for SendError {
    fn from(error: GraphError) -> Self {
        match &error {
            GraphError::Network(_) => SendError::Transient(error.to_string()),
            GraphError::Api { status, code, .. } => match code {
                // Throughput, then the pair rate (one message to a person every few seconds), then the account's
                // and the app's call limits. Graph says no time; these waits are its documented windows.
                130429 => SendError::RateLimited { retry_after_ms: 2_000 },
                131056 => SendError::RateLimited { retry_after_ms: 6_000 },
                80007 | 4 | 613 | 131048 => SendError::RateLimited { retry_after_ms: 60_000 },
                190 => SendError::Permanent(format!(
                    "{error} — the access token is invalid or expired (fix: a new token, then openclaw channels login \
                     whatsapp)"
                )),
                1 | 2 | 131000 | 131016 => SendError::Transient(error.to_string()),
                _ if *status == 429 => SendError::RateLimited { retry_after_ms: 2_000 },
                _ if *status >= 500 => SendError::Transient(error.to_string()),
                _ => SendError::Permanent(error.to_string()),
            },
        }
    }
}

/// The key a chunk carries in `biz_opaque_callback_data`: the message answered (or the delivery's own id) and the
/// chunk's text, so a cut send can be recognised by the status update that comes back with it.
fn chunk_key(route: &Route, chunk: &str) -> String {
    let base = route.reply_to.as_deref().or(route.outbound_id.as_deref()).unwrap_or("none");
    let digest = hex::encode(Sha256::digest(chunk.as_bytes()));
    format!("oc1:{base}:{}", &digest[..16])
}

impl WhatsApp {
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, GraphError> {
        let response = request
            .bearer_auth(&self.token)
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await
            .map_err(|error| GraphError::Network(error.without_url().to_string()))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let error = &body["error"];
        Err(GraphError::Api {
            status,
            code: error["code"].as_i64().unwrap_or(0),
            message: openclaw_protocol::log_safe(error["message"].as_str().unwrap_or("no message")).to_string(),
        })
    }

    /// `POST {base}/messages`.
    pub(super) async fn post(&self, body: &Value) -> Result<Value, GraphError> {
        self.call(self.http.post(format!("{}/messages", self.base)).json(body)).await
    }

    /// `GET {base}` (the phone number).
    pub(super) async fn get(&self, query: &[(&str, &str)]) -> Result<Value, GraphError> {
        self.call(self.http.get(&self.base).query(query)).await
    }

    pub(super) async fn send_chunk(
        &self,
        route: &Route,
        chunk: &str,
        index: usize,
    ) -> Result<Option<String>, SendError> {
        let key = chunk_key(route, chunk);
        let mut body = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": route.to,
                              "type": "text", "text": {"preview_url": false, "body": chunk},
                              "biz_opaque_callback_data": key});
        let quote = match self.reply_to {
            ReplyTo::Off => false,
            ReplyTo::First => index == 0,
            ReplyTo::All => true,
        };
        if let Some(message) = route.reply_to.as_deref().filter(|_| quote) {
            body["context"] = json!({"message_id": message});
        }
        match self.post(&body).await {
            Ok(sent) => Ok(sent["messages"][0]["id"].as_str().map(str::to_owned)),
            Err(GraphError::Api { code: 131047, .. }) => self.reengage(route, &key).await,
            Err(error) => Err(error.into()),
        }
    }

    /// The 24-hour window is closed: the re-engagement template instead of the reply, or a dead letter saying so.
    async fn reengage(&self, route: &Route, key: &str) -> Result<Option<String>, SendError> {
        let Some(template) = &self.reengagement else {
            return Err(SendError::Permanent(
                "the person last wrote more than 24 hours ago, so WhatsApp takes only a template message now (fix: \
                 set channels.whatsapp.templates.reengagement to an approved template; the person's next message \
                 reopens the window)"
                    .to_owned(),
            ));
        };
        tracing::warn!(account = %self.account, template = %template.name, "Outside WhatsApp's 24-hour window: the re-engagement template goes instead of the reply.");
        let body = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": route.to,
                          "type": "template", "template": {"name": template.name,
                                                           "language": {"code": template.language}},
                          "biz_opaque_callback_data": key});
        let sent = self.post(&body).await?;
        Ok(sent["messages"][0]["id"].as_str().map(str::to_owned))
    }

    fn sent_cursor(&self, recipient: &str) -> String {
        format!("whatsapp:{}:sent:{recipient}", self.account)
    }

    /// Records that the chunk with `key` became message `id` (from a status update), keeping the newest few.
    pub(super) async fn remember_sent(
        &self,
        inbox: &Inbox,
        recipient: &str,
        key: &str,
        id: &str,
    ) -> Result<(), openclaw_store::StoreError> {
        let _guard = self.sent_keys.lock().await;
        let cursor = self.sent_cursor(recipient);
        let mut remembered: Vec<(String, String)> =
            inbox.cursor(&cursor).await?.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default();
        if remembered.iter().any(|(known, message)| known == key && message == id) {
            return Ok(());
        }
        remembered.retain(|(known, _)| known != key);
        remembered.push((key.to_owned(), id.to_owned()));
        let excess = remembered.len().saturating_sub(REMEMBERED);
        remembered.drain(..excess);
        inbox.save_cursor(&cursor, &serde_json::to_string(&remembered).unwrap_or_default()).await
    }

    /// A cut chunk, looked for among the status updates: they come within a second or two of a send, so this
    /// waits up to five seconds for one.
    pub(super) async fn find_chunk(
        &self,
        route: &Route,
        chunk: &str,
        after: Option<&str>,
    ) -> Result<Option<String>, SendError> {
        let Some(inbox) = self.inbox.get() else { return Ok(None) };
        let key = chunk_key(route, chunk);
        let cursor = self.sent_cursor(&route.to);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let remembered: Vec<(String, String)> = inbox
                .cursor(&cursor)
                .await
                .map_err(|error| SendError::Transient(error.to_string()))?
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default();
            // The same text earlier in the reply has the same key; the chunk delivered last is not this one.
            let found = remembered
                .into_iter()
                .find(|(known, message)| *known == key && Some(message.as_str()) != after)
                .map(|(_, message)| message);
            if found.is_some() || std::time::Instant::now() >= deadline {
                return Ok(found);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}
