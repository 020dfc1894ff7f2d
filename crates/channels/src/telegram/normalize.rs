//! Normalising: a Telegram update as one `Inbound` message (chats, topics, mentions, replies, media).

use super::*;

impl Telegram {
    /// The normalised message of an update; `None` for updates that carry none (edits, callbacks, …).
    pub(super) fn normalize(&self, update: &Value) -> Option<Inbound> {
        normalize(update, &self.account, self.me.get(), self.reply_to)
    }
}

/// The normalised message of an update for a bot (`me`, once known); `None` for updates that carry none.
pub(super) fn normalize(update: &Value, account: &str, me: Option<&Me>, reply_to: ReplyTo) -> Option<Inbound> {
    let update_id = update["update_id"].as_i64()?;
    let message = update.get("message").or_else(|| update.get("channel_post"))?;
    let chat = &message["chat"];
    let chat_id = chat["id"].as_i64().map(|id| id.to_string()).or_else(|| chat["id"].as_str().map(str::to_owned))?;
    let kind = match chat["type"].as_str().unwrap_or("private") {
        "private" => PeerKind::Direct,
        "channel" => PeerKind::Channel,
        _ => PeerKind::Group,
    };
    let from = &message["from"];
    let sender_id = from["id"].as_i64().map(|id| id.to_string()).unwrap_or_else(|| chat_id.clone());
    let name =
        [from["first_name"].as_str(), from["last_name"].as_str()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let text = message["text"].as_str().or_else(|| message["caption"].as_str()).unwrap_or_default().to_owned();
    let mut media = Vec::new();
    if let Some(sizes) = message["photo"].as_array()
        && let Some(largest) = sizes.last()
    {
        media.push(Media {
            kind: "photo".to_owned(),
            reference: largest["file_id"].as_str().unwrap_or_default().to_owned(),
            mime: Some("image/jpeg".to_owned()),
            name: None,
        });
    }
    if let Some(document) = message.get("document").filter(|d| d.is_object()) {
        media.push(Media {
            kind: "document".to_owned(),
            reference: document["file_id"].as_str().unwrap_or_default().to_owned(),
            mime: document["mime_type"].as_str().map(str::to_owned),
            name: document["file_name"].as_str().map(str::to_owned),
        });
    }
    if text.is_empty() && media.is_empty() {
        return None;
    }

    let reply_to_bot =
        me.is_some_and(|me| message["reply_to_message"]["from"]["id"].as_i64() == Some(me.id) && me.id != 0);
    let named = me.is_some_and(|me| {
        !me.username.is_empty() && text.to_lowercase().contains(&format!("@{}", me.username.to_lowercase()))
    });
    let text_mention = message["entities"].as_array().is_some_and(|entities| {
        entities.iter().any(|entity| {
            entity["type"] == "text_mention" && me.is_some_and(|me| entity["user"]["id"].as_i64() == Some(me.id))
        })
    });
    let thread =
        (message["is_topic_message"].as_bool() == Some(true)).then(|| message["message_thread_id"].as_i64()).flatten();
    let message_id = message["message_id"].as_i64();
    let date = message["date"].as_i64().unwrap_or_default();
    // Telegram sends seconds; some emulators send milliseconds.
    let timestamp_ms = if date > 100_000_000_000 { date } else { date * 1000 };
    let quoting = reply_to != ReplyTo::Off;
    let route = super::send::Route {
        chat_id: super::send::ChatId::Name(chat_id.clone()),
        thread_id: thread,
        message_id,
        forum: chat["is_forum"].as_bool() == Some(true),
        reply_to: message_id.filter(|_| quoting),
        reply_all: quoting && message_id.is_some() && reply_to == ReplyTo::All,
    }
    .to_value();
    Some(Inbound {
        channel: "telegram".to_owned(),
        account: account.to_owned(),
        peer: Peer {
            kind,
            id: chat_id,
            thread: thread.map(|id| format!("topic:{id}")),
            title: chat["title"].as_str().map(str::to_owned),
            space: None,
        },
        sender: Sender {
            id: sender_id,
            name: (!name.is_empty()).then_some(name),
            username: from["username"].as_str().map(str::to_owned),
            is_bot: from["is_bot"].as_bool().unwrap_or(false),
        },
        text,
        media,
        reply_to: message["reply_to_message"]["message_id"].as_i64().map(|id| id.to_string()),
        platform_id: update_id.to_string(),
        message_id: message_id.map(|id| id.to_string()),
        timestamp_ms,
        mentioned: reply_to_bot || named || text_mention,
        session_key: None,
        route,
    })
}

/// Reads a Telegram update (the JSON of `getUpdates` or a webhook call) as bot `@bot_username` would, quoting the
/// message it answers (`replyToMode: first`, so the whole reply route is built); the fuzz target reads updates
/// through it.
pub fn parse_update(body: &[u8], bot_username: &str) -> Option<Inbound> {
    let update: Value = serde_json::from_slice(body).ok()?;
    let me = Me { id: 1, username: bot_username.to_owned() };
    normalize(&update, "default", Some(&me), ReplyTo::First)
}
