//! Sending: a recipient an operator names, message bodies in HTML with a plain-text fallback.

use super::*;

/// Telegram HTML back to plain text (when Telegram refuses the markup).
pub(super) fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(ch),
            _ => {}
        }
    }
    out.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&")
}

/// A chat an operator names: a numeric chat id (a user's is positive, a group's negative) or a public channel's
/// `@username`, optionally `:topic:<id>` for a forum topic; a leading `telegram:` is allowed.
pub(super) fn address(to: &str) -> Result<(Peer, Value), String> {
    let to = to.trim();
    let to = to.strip_prefix("telegram:").unwrap_or(to);
    let (chat, topic) = match to.split_once(":topic:") {
        Some((chat, topic)) => {
            let topic: i64 = topic.parse().map_err(|_| format!("topic {topic:?} is not a number"))?;
            (chat, Some(topic))
        }
        None => (to, None),
    };
    let kind = if let Some(name) = chat.strip_prefix('@') {
        let valid = (4..=32).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("{chat:?} is not a Telegram username (5 to 32 letters, digits and _ after the @)"));
        }
        PeerKind::Channel
    } else {
        match chat.parse::<i64>() {
            Ok(id) if id > 0 => PeerKind::Direct,
            Ok(id) if id < 0 => PeerKind::Group,
            _ => {
                return Err(format!(
                    "{chat:?} is not a Telegram chat (a numeric chat id such as 123456789 or -1001234567890, or \
                     @channelname; a user's id is in `openclaw pairing list` or the bot's updates)"
                ));
            }
        }
    };
    let mut route = Route::to(ChatId::Name(chat.to_owned()));
    let mut peer = Peer { kind, id: chat.to_owned(), thread: None, title: None, space: None };
    if let Some(topic) = topic {
        route.thread_id = Some(topic);
        peer.thread = Some(format!("topic:{topic}"));
    }
    Ok((peer, route.to_value()))
}

/// A chat as the Bot API names it: its numeric id, or a public channel's `@username` (kept as written).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub(super) enum ChatId {
    Id(i64),
    Name(String),
}

/// Where a Telegram reply goes; stored as JSON in the outbox (and pairing requests) under these camelCase names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Route {
    pub chat_id: ChatId,
    /// A forum topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<i64>,
    /// The message being answered (where `find_sent` starts looking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<i64>,
    /// The chat is a forum (its topics share one chat).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forum: bool,
    /// Quote this message (`replyToMode`): on the first chunk, or on every chunk with `reply_all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reply_all: bool,
}

impl Route {
    pub(super) fn to(chat_id: ChatId) -> Self {
        Route { chat_id, thread_id: None, message_id: None, forum: false, reply_to: None, reply_all: false }
    }
}

impl StoredRoute for Route {
    const PLATFORM: &'static str = "Telegram";
}

/// `sendMessage` / `editMessageText` fields for a chunk of HTML.
pub(super) fn message_body(route: &Route, chunk: &str) -> Value {
    let mut body = json!({"chat_id": route.chat_id, "text": chunk, "parse_mode": "HTML",
                          "link_preview_options": {"is_disabled": true}});
    if let Some(thread) = route.thread_id {
        body["message_thread_id"] = json!(thread);
    }
    body
}

/// The same request with the chunk as plain text, for when Telegram refuses its markup.
pub(super) fn without_markup(mut body: Value, chunk: &str) -> Value {
    body["text"] = json!(strip_html(chunk));
    if let Some(map) = body.as_object_mut() {
        map.remove("parse_mode");
    }
    body
}

impl Telegram {
    /// Calls a text method with the chunk as HTML; when Telegram refuses the markup, with the same words as plain
    /// text.
    pub(super) async fn call_text(
        &self,
        method: &str,
        body: Value,
        chunk: &str,
        timeout: Duration,
    ) -> Result<Value, ApiError> {
        match self.api.call(method, &body, timeout).await {
            Err(ApiError::Api { code: 400, description, .. }) if description.contains("parse entities") => {
                self.api.call(method, &without_markup(body, chunk), timeout).await
            }
            result => result,
        }
    }
}
