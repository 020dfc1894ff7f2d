//! Sending: the typed route, the targets an operator names (`channel:<id>`, `user:<id>`, `<@id>`), Markdown as
//! Slack's mrkdwn, chunks as `chat.postMessage` (in the thread when the route has one; link unfurling off unless
//! `unfurlLinks`). Slack has no idempotency key, so a chunk whose send was cut is looked for among the bot's
//! messages in the conversation after the last one delivered before it is sent again.

use super::*;

/// Where a Slack reply goes; stored as JSON in the outbox under these camelCase names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Route {
    /// A channel id (`C…`, `G…`, `D…`) or, for an operator's delivery to a person, their user id.
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// Only the first chunk goes into the thread (`replyToMode: first` under a top-level message).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub thread_first_only: bool,
    /// The message answered (where a lookup for a cut chunk starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
}

impl StoredRoute for Route {
    const PLATFORM: &'static str = "Slack";
}

fn slack_id(text: &str) -> Option<&str> {
    (text.len() >= 2 && text.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())).then_some(text)
}

/// A target an operator names: `channel:<id>`, `user:<id>` or `<@id>`, optionally after `slack:`.
pub(super) fn address(to: &str) -> Result<(Peer, Value), String> {
    let to = to.trim();
    let to = to.strip_prefix("slack:").unwrap_or(to);
    let (kind, id) = if let Some(id) = to.strip_prefix("channel:") {
        (crate::PeerKind::Channel, id)
    } else if let Some(id) = to.strip_prefix("user:") {
        (crate::PeerKind::Direct, id)
    } else if let Some(id) = to.strip_prefix("<@").and_then(|rest| rest.strip_suffix('>')) {
        (crate::PeerKind::Direct, id)
    } else {
        return Err(format!(
            "{to:?} is not a Slack target (fix: channel:<channel id, C…> or user:<user id, U…>; a channel's id is at the bottom of its details)"
        ));
    };
    let Some(id) = slack_id(id) else {
        return Err(format!("{id:?} is not a Slack id (such as C0123ABCD or U0123ABCD)"));
    };
    let route = Route { channel: id.to_owned(), thread_ts: None, thread_first_only: false, reply_to: None };
    Ok((Peer { kind, id: id.to_owned(), thread: None, title: None, space: None }, route.to_value()))
}

fn escape(text: &str, out: &mut String) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            other => out.push(other),
        }
    }
}

/// Markdown as Slack's mrkdwn ([`crate::format::star_markup`]) with `<url|text>` links. `&`, `<` and `>` are
/// escaped, so text the model wrote cannot form a mention (`<!channel>`, `<@U…>`) or a link of its own.
pub fn to_mrkdwn(markdown: &str) -> String {
    crate::format::star_markup(markdown, &crate::format::StarStyle { escape, link })
}

fn link(url: &str, text: &str) -> String {
    let mut safe_url = String::new();
    escape(&url.replace('|', "%7C"), &mut safe_url);
    if text.is_empty() || text == safe_url {
        format!("<{safe_url}>")
    } else {
        format!("<{safe_url}|{}>", text.replace('|', "¦"))
    }
}

impl Slack {
    pub(super) async fn send_chunk(
        &self,
        route: &Route,
        chunk: &str,
        index: usize,
    ) -> Result<Option<String>, SendError> {
        let mut body = json!({"channel": route.channel, "text": chunk, "mrkdwn": true,
                              "unfurl_links": self.unfurl_links, "unfurl_media": self.unfurl_links});
        if let Some(thread) = route.thread_ts.as_deref().filter(|_| index == 0 || !route.thread_first_only) {
            body["thread_ts"] = json!(thread);
        }
        let sent = self.api.post("chat.postMessage", &body, Token::Bot).await?;
        Ok(sent["ts"].as_str().map(str::to_owned))
    }

    /// The bot's message with this text after `after` (or after the message answered), if it arrived.
    pub(super) async fn find_chunk(
        &self,
        route: &Route,
        chunk: &str,
        after: Option<&str>,
    ) -> Result<Option<String>, SendError> {
        let me = self.me().await?;
        let oldest = after.or(route.reply_to.as_deref()).unwrap_or("0");
        let answer = match &route.thread_ts {
            Some(thread) => {
                let query = [("channel", route.channel.as_str()), ("ts", thread), ("oldest", oldest), ("limit", "100")];
                self.api.get("conversations.replies", &query).await?
            }
            None => {
                let query = [("channel", route.channel.as_str()), ("oldest", oldest), ("limit", "100")];
                self.api.get("conversations.history", &query).await?
            }
        };
        let found = answer["messages"].as_array().and_then(|messages| {
            messages.iter().find(|message| {
                (message["user"] == me.user_id.as_str()
                    || (!me.bot_id.is_empty() && message["bot_id"] == me.bot_id.as_str()))
                    && message["text"] == chunk
            })
        });
        Ok(found.and_then(|message| message["ts"].as_str().map(str::to_owned)))
    }
}
