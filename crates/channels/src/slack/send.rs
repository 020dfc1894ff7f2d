//! Sending: the typed route, the targets an operator names (`channel:<id>`, `user:<id>`, `<@id>`), Markdown as
//! Slack's mrkdwn, chunks as `chat.postMessage` (in the thread when the route has one; link unfurling off unless
//! `unfurlLinks`). Slack has no idempotency key, so a chunk whose send was cut is looked for among the bot's
//! messages in the conversation after the last one delivered before it is sent again.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

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

/// Markdown as Slack's mrkdwn: `*bold*`, `_italic_`, `~strike~`, `` `code` `` and fenced blocks, `<url|text>`
/// links, headings as bold lines, bullets as `•`, quotes as `>`. `&`, `<` and `>` are escaped, so text the model
/// wrote cannot form a mention (`<!channel>`, `<@U…>`) or a link of its own.
pub fn to_mrkdwn(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TABLES);
    let mut out = String::new();
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut link: Option<(String, String)> = None;
    let mut quote_depth = 0_usize;
    for event in Parser::new_ext(markdown, options) {
        let sink: &mut String = match &mut link {
            Some((_, text)) => text,
            None => &mut out,
        };
        match event {
            Event::Text(text) => escape(&text, sink),
            Event::Code(code) => {
                sink.push('`');
                escape(&code, sink);
                sink.push('`');
            }
            Event::Html(raw) | Event::InlineHtml(raw) => escape(&raw, sink),
            Event::SoftBreak | Event::HardBreak => {
                sink.push('\n');
                if quote_depth > 0 {
                    sink.push_str("> ");
                }
            }
            Event::Rule => sink.push_str("———\n\n"),
            Event::Start(Tag::Strong) | Event::End(TagEnd::Strong) => sink.push('*'),
            Event::Start(Tag::Emphasis) | Event::End(TagEnd::Emphasis) => sink.push('_'),
            Event::Start(Tag::Strikethrough) | Event::End(TagEnd::Strikethrough) => sink.push('~'),
            Event::Start(Tag::Heading { .. }) => sink.push('*'),
            Event::End(TagEnd::Heading(_)) => sink.push_str("*\n\n"),
            Event::Start(Tag::Paragraph) => {}
            Event::End(TagEnd::Paragraph) => sink.push_str(if lists.is_empty() { "\n\n" } else { "\n" }),
            Event::Start(Tag::BlockQuote(_)) => {
                quote_depth += 1;
                sink.push_str("> ");
            }
            Event::End(TagEnd::BlockQuote(_)) => quote_depth = quote_depth.saturating_sub(1),
            Event::Start(Tag::CodeBlock(_)) => sink.push_str("```\n"),
            Event::End(TagEnd::CodeBlock) => {
                if !sink.ends_with('\n') {
                    sink.push('\n');
                }
                sink.push_str("```\n\n");
            }
            Event::Start(Tag::List(start)) => lists.push(start),
            Event::End(TagEnd::List(_)) => {
                lists.pop();
                if lists.is_empty() {
                    sink.push('\n');
                }
            }
            Event::Start(Tag::Item) => {
                sink.push_str(&"    ".repeat(lists.len().saturating_sub(1)));
                match lists.last_mut() {
                    Some(Some(number)) => {
                        sink.push_str(&format!("{number}. "));
                        *number += 1;
                    }
                    _ => sink.push_str("• "),
                }
            }
            Event::End(TagEnd::Item) if !sink.ends_with('\n') => sink.push('\n'),
            Event::Start(Tag::Link { dest_url, .. }) => link = Some((dest_url.to_string(), String::new())),
            Event::End(TagEnd::Link) => {
                if let Some((url, text)) = link.take() {
                    let mut safe_url = String::new();
                    escape(&url.replace('|', "%7C"), &mut safe_url);
                    if text.is_empty() || text == safe_url {
                        out.push_str(&format!("<{safe_url}>"));
                    } else {
                        out.push_str(&format!("<{safe_url}|{}>", text.replace('|', "¦")));
                    }
                }
            }
            Event::End(TagEnd::TableCell) => sink.push_str(" | "),
            Event::End(TagEnd::TableRow) | Event::End(TagEnd::TableHead) => {
                let trimmed = sink.trim_end_matches([' ', '|']).len();
                sink.truncate(trimmed);
                sink.push('\n');
            }
            _ => {}
        }
    }
    out.trim_end().to_owned()
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
