//! Normalising: a room timeline event as one `Inbound` message (direct rooms and rooms, threads, mentions,
//! replies, media by `mxc://` reference). Everything else (state, edits, notices from other bots, redactions,
//! unknown types) carries no message.

use super::*;
use crate::{Inbound, Media, PeerKind, Sender};

/// Why an event carries no message, for the debug log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// Not `m.room.message` (a state event, a reaction, an unknown type).
    OtherType(String),
    /// The bot's own message.
    Own,
    /// An edit, a notice (bots answer with notices; answering them loops) or an empty message.
    Nothing(&'static str),
    /// Not an event at all.
    Malformed,
}

/// What is known about the room an event came from.
pub(super) struct RoomView<'a> {
    pub account: &'a str,
    pub me: &'a str,
    pub room_id: &'a str,
    pub direct: bool,
    pub reply_to: ReplyTo,
    pub thread_replies: ThreadReplies,
}

/// The message of a timeline event.
pub(super) fn normalize(event: &Value, room: &RoomView<'_>) -> Result<Inbound, Skipped> {
    let Some(kind) = event["type"].as_str() else { return Err(Skipped::Malformed) };
    if kind != "m.room.message" {
        return Err(Skipped::OtherType(kind.to_owned()));
    }
    let (Some(event_id), Some(sender)) = (event["event_id"].as_str(), event["sender"].as_str()) else {
        return Err(Skipped::Malformed);
    };
    if sender == room.me {
        return Err(Skipped::Own);
    }
    let content = &event["content"];
    let relation = &content["m.relates_to"];
    if relation["rel_type"] == "m.replace" {
        return Err(Skipped::Nothing("an edit"));
    }
    let msgtype = content["msgtype"].as_str().unwrap_or_default();
    let mut media = Vec::new();
    let mut text = content["body"].as_str().unwrap_or_default().to_owned();
    match msgtype {
        "m.text" | "m.emote" => {}
        "m.notice" => return Err(Skipped::Nothing("a notice")),
        "m.image" | "m.file" | "m.audio" | "m.video" => {
            media.push(Media {
                kind: match msgtype {
                    "m.image" => "photo",
                    "m.audio" => "audio",
                    "m.video" => "video",
                    _ => "document",
                }
                .to_owned(),
                reference: content["url"].as_str().unwrap_or_default().to_owned(),
                mime: content["info"]["mimetype"].as_str().map(str::to_owned),
                name: content["filename"].as_str().or(content["body"].as_str()).map(str::to_owned),
            });
            // With a `filename`, the body is a caption; without one, the body is the file's name.
            if !content["filename"].is_string() {
                text.clear();
            }
        }
        _ => return Err(Skipped::Nothing("a message type without text")),
    }
    let quoted = relation["m.in_reply_to"]["event_id"].as_str();
    if quoted.is_some() {
        text = strip_reply_fallback(&text);
    }
    if text.trim().is_empty() && media.is_empty() {
        return Err(Skipped::Nothing("an empty message"));
    }
    let thread_root = (relation["rel_type"] == "m.thread").then(|| relation["event_id"].as_str()).flatten();
    let mentioned = content["m.mentions"]["user_ids"]
        .as_array()
        .is_some_and(|ids| ids.iter().any(|id| id.as_str() == Some(room.me)))
        || (!room.me.is_empty() && text.contains(room.me))
        || content["formatted_body"].as_str().is_some_and(|html| html.contains(&format!("matrix.to/#/{}", room.me)));
    let quoting = room.reply_to != ReplyTo::Off;
    let reply_thread = match room.thread_replies {
        ThreadReplies::Off => None,
        ThreadReplies::Inbound => thread_root.map(str::to_owned),
        // A new thread on the message answered, or the thread it is in.
        ThreadReplies::Always => Some(thread_root.unwrap_or(event_id).to_owned()),
    };
    let route = Route {
        room_id: room.room_id.to_owned(),
        thread_root: reply_thread,
        in_reply_to: Some(event_id.to_owned()),
        quote: quoting,
        quote_all: room.reply_to == ReplyTo::All,
        outbound_id: None,
    };
    let localpart = sender.trim_start_matches('@').split(':').next().unwrap_or(sender);
    Ok(Inbound {
        channel: "matrix".to_owned(),
        account: room.account.to_owned(),
        peer: Peer {
            kind: if room.direct { PeerKind::Direct } else { PeerKind::Group },
            id: room.room_id.to_owned(),
            thread: thread_root.map(|root| format!("thread:{root}")),
            title: None,
            space: None,
        },
        sender: Sender { id: sender.to_owned(), name: None, username: Some(localpart.to_owned()), is_bot: false },
        text,
        media,
        reply_to: quoted.map(str::to_owned),
        platform_id: event_id.to_owned(),
        message_id: Some(event_id.to_owned()),
        timestamp_ms: event["origin_server_ts"].as_i64().unwrap_or_else(openclaw_protocol::now_ms),
        mentioned,
        session_key: None,
        route: route.to_value(),
    })
}

/// A reply's body without the quote clients put before it (`> <@user> …` lines, then a blank line).
fn strip_reply_fallback(body: &str) -> String {
    if !body.starts_with("> ") {
        return body.to_owned();
    }
    let mut lines = body.lines().skip_while(|line| line.starts_with('>'));
    let rest: Vec<&str> = lines.by_ref().skip_while(|line| line.trim().is_empty()).collect();
    rest.join("\n")
}

/// Reads one timeline event of `room_id` (JSON) as the bot `me` would, in a direct room when `direct`; the fuzz
/// target and the tests read events through it.
///
/// # Errors
/// Why the event carries no message.
pub fn parse_event(body: &[u8], me: &str, room_id: &str, direct: bool) -> Result<Inbound, Skipped> {
    let event: Value = serde_json::from_slice(body).map_err(|_| Skipped::Malformed)?;
    let room = RoomView {
        account: "default",
        me,
        room_id,
        direct,
        reply_to: ReplyTo::First,
        thread_replies: ThreadReplies::Inbound,
    };
    normalize(&event, &room)
}
