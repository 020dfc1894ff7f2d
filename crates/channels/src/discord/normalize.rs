//! Normalising: a `MESSAGE_CREATE` dispatch as one `Inbound` message (DMs and guild channels, threads under their
//! parent channel, the bot's mention as the mention flag and out of the text, replies, attachments by URL).
//! Everything else (the bot's own messages, system messages, empty ones) carries no message.

use super::*;
use crate::{Inbound, Media, PeerKind, Sender};

/// 2015-01-01T00:00:00Z, where snowflake times start.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Why a dispatch carries no message, for the debug log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// The bot's own message.
    Own,
    /// A system message (a join, a pin), or one with neither text nor attachments.
    Nothing(&'static str),
    /// Not a message object.
    Malformed,
}

/// What the receive loop knows that a message does not say.
pub struct View<'a> {
    pub account: &'a str,
    pub me: &'a str,
    /// For a guild message: the thread's parent (when the channel is a thread) and the channel's name.
    pub parent: Option<&'a str>,
    pub channel_name: Option<&'a str>,
    pub quote: bool,
    pub quote_all: bool,
    pub allow_bots: bool,
}

/// The message of a `MESSAGE_CREATE` payload (`d`).
pub fn parse_message(d: &Value, view: &View<'_>) -> Result<Inbound, Skipped> {
    let (Some(id), Some(channel_id), Some(author)) =
        (d["id"].as_str(), d["channel_id"].as_str(), d["author"]["id"].as_str())
    else {
        return Err(Skipped::Malformed);
    };
    if author == view.me {
        return Err(Skipped::Own);
    }
    // 0: a message, 19: a reply; the rest are system messages.
    if !matches!(d["type"].as_u64(), None | Some(0) | Some(19)) {
        return Err(Skipped::Nothing("a system message"));
    }
    let mention = format!("<@{}>", view.me);
    let nickname_mention = format!("<@!{}>", view.me);
    let raw = d["content"].as_str().unwrap_or_default();
    let mentioned_in_list = d["mentions"].as_array().is_some_and(|list| list.iter().any(|user| user["id"] == view.me));
    let replied_to_bot = d["referenced_message"]["author"]["id"] == view.me;
    let mentioned = mentioned_in_list || raw.contains(&mention) || raw.contains(&nickname_mention) || replied_to_bot;
    let text = raw.replace(&nickname_mention, "").replace(&mention, "").trim().to_owned();
    let media: Vec<Media> = d["attachments"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|file| {
            let mime = file["content_type"].as_str().map(str::to_owned);
            Some(Media {
                kind: Media::kind_for_mime(mime.as_deref()).to_owned(),
                reference: file["url"].as_str()?.to_owned(),
                mime,
                name: file["filename"].as_str().map(str::to_owned),
            })
        })
        .collect();
    if text.is_empty() && media.is_empty() {
        return Err(Skipped::Nothing("an empty message"));
    }
    let guild = d["guild_id"].as_str();
    let peer = match guild {
        None => Peer { kind: PeerKind::Direct, id: author.to_owned(), thread: None, title: None, space: None },
        Some(guild) => Peer {
            kind: PeerKind::Channel,
            id: view.parent.unwrap_or(channel_id).to_owned(),
            thread: view.parent.map(|_| format!("thread:{channel_id}")),
            title: view.channel_name.map(str::to_owned),
            space: Some(guild.to_owned()),
        },
    };
    // A snowflake carries its creation time: milliseconds since Discord's epoch (2015), above bit 22.
    let timestamp_ms = id.parse::<u64>().map_or(0, |snowflake| ((snowflake >> 22) + DISCORD_EPOCH_MS) as i64);
    let route = Route {
        channel_id: Some(channel_id.to_owned()),
        user_id: None,
        reply_to: Some(id.to_owned()),
        quote: view.quote,
        quote_all: view.quote_all,
        nonce_base: None,
    };
    let name = d["author"]["global_name"].as_str().or(d["author"]["username"].as_str()).map(str::to_owned);
    Ok(Inbound {
        channel: "discord".to_owned(),
        account: view.account.to_owned(),
        peer,
        sender: Sender {
            id: author.to_owned(),
            name,
            username: d["author"]["username"].as_str().map(str::to_owned),
            is_bot: d["author"]["bot"] == true && !view.allow_bots,
        },
        text,
        media,
        reply_to: d["message_reference"]["message_id"].as_str().map(str::to_owned),
        platform_id: id.to_owned(),
        message_id: Some(id.to_owned()),
        timestamp_ms,
        mentioned,
        session_key: None,
        route: route.to_value(),
    })
}
