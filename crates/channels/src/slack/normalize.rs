//! Normalising: a Slack `message` or `app_mention` event as one `Inbound` message (DMs, channels, group DMs,
//! threads, the bot's mention as the mention flag and out of the text, files by URL). The message's id is its
//! channel and `ts`, so the `message` and `app_mention` events of one message, and Slack's redeliveries, are one.
//! Edits, deletions, joins, the bot's own messages and other bots' carry no message.

use super::*;
use crate::{Inbound, Media, PeerKind, Sender};

/// Why an event carries no message, for the debug log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// Not a message (a reaction, a channel rename, an unknown type).
    OtherType(String),
    /// The bot's own message.
    Own,
    /// An edit, a deletion, a join, or an empty message.
    Nothing(&'static str),
    /// Not an event at all.
    Malformed,
}

/// What the receive loop knows that an event does not say.
pub struct View<'a> {
    pub account: &'a str,
    pub user_id: &'a str,
    pub bot_id: &'a str,
    pub quote: bool,
    pub quote_all: bool,
    pub allow_bots: bool,
}

/// Slack's `&amp;`, `&lt;`, `&gt;` back to the characters.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// The message of an event (`event` inside an `event_callback`).
pub fn parse_event(event: &Value, view: &View<'_>) -> Result<Inbound, Skipped> {
    let Some(kind) = event["type"].as_str() else { return Err(Skipped::Malformed) };
    if kind != "message" && kind != "app_mention" {
        return Err(Skipped::OtherType(kind.to_owned()));
    }
    // Plain messages, files and thread replies also shown in the channel; the other subtypes are edits,
    // deletions, joins, topic changes and bots.
    match event["subtype"].as_str() {
        None | Some("file_share") | Some("thread_broadcast") => {}
        Some("bot_message") if view.allow_bots => {}
        Some(_) => return Err(Skipped::Nothing("a message subtype without a person's text")),
    }
    let (Some(channel), Some(ts)) = (event["channel"].as_str(), event["ts"].as_str()) else {
        return Err(Skipped::Malformed);
    };
    let user = event["user"].as_str().or(event["bot_id"].as_str()).ok_or(Skipped::Malformed)?;
    if user == view.user_id || (!view.bot_id.is_empty() && event["bot_id"] == view.bot_id) {
        return Err(Skipped::Own);
    }
    let mention = format!("<@{}>", view.user_id);
    let raw = event["text"].as_str().unwrap_or_default();
    let mentioned = kind == "app_mention" || (!view.user_id.is_empty() && raw.contains(&mention));
    let text = unescape(raw.replace(&mention, "").trim());
    let media: Vec<Media> = event["files"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|file| {
            let mime = file["mimetype"].as_str().map(str::to_owned);
            Some(Media {
                kind: Media::kind_for_mime(mime.as_deref()).to_owned(),
                reference: file["url_private"].as_str()?.to_owned(),
                mime,
                name: file["name"].as_str().map(str::to_owned),
            })
        })
        .collect();
    if text.is_empty() && media.is_empty() {
        return Err(Skipped::Nothing("an empty message"));
    }
    // `channel_type` comes with `message` events; `app_mention` comes from channels. D… ids are DMs.
    let channel_type =
        event["channel_type"].as_str().unwrap_or(if channel.starts_with('D') { "im" } else { "channel" });
    let thread_ts = event["thread_ts"].as_str().filter(|thread| *thread != ts);
    let kind = match channel_type {
        "im" => PeerKind::Direct,
        "mpim" => PeerKind::Group,
        _ => PeerKind::Channel,
    };
    let peer = Peer {
        kind,
        id: if kind == PeerKind::Direct { user.to_owned() } else { channel.to_owned() },
        // A DM's reply threads stay on the DM's session (the reference's rule); elsewhere a thread is its own.
        thread: thread_ts.filter(|_| kind != PeerKind::Direct).map(|thread| format!("thread:{thread}")),
        title: None,
        space: None,
    };
    // A reply to a thread stays in it; `replyToMode` first/all starts a thread under a top-level message.
    let reply_thread = thread_ts.map(str::to_owned).or_else(|| view.quote.then(|| ts.to_owned()));
    let route = Route {
        channel: channel.to_owned(),
        thread_ts: reply_thread,
        thread_first_only: view.quote && !view.quote_all && thread_ts.is_none(),
        reply_to: Some(ts.to_owned()),
    };
    let timestamp_ms = ts.split('.').next().and_then(|seconds| seconds.parse::<i64>().ok()).map_or(0, |s| s * 1000);
    Ok(Inbound {
        channel: "slack".to_owned(),
        account: view.account.to_owned(),
        peer,
        sender: Sender {
            id: user.to_owned(),
            name: event["user_profile"]["real_name"].as_str().map(str::to_owned),
            username: event["user_profile"]["name"].as_str().map(str::to_owned),
            is_bot: event["bot_id"].is_string() && !view.allow_bots,
        },
        text,
        media,
        reply_to: thread_ts.map(str::to_owned),
        platform_id: format!("{channel}:{ts}"),
        message_id: Some(ts.to_owned()),
        timestamp_ms,
        mentioned,
        session_key: None,
        route: route.to_value(),
    })
}
