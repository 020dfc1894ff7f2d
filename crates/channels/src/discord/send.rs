//! Sending: the typed route, the targets an operator names (`channel:<id>`, `user:<id>`, `<@id>`), chunks as
//! `POST /channels/{id}/messages` with a nonce from the message answered and the chunk's index (`enforce_nonce`:
//! Discord hands back the first message for a repeated nonce, for a few minutes) and `allowed_mentions` empty, so
//! an answer pings nobody; a chunk whose send was cut longer ago is looked for among the bot's recent messages.

use super::*;

/// Discord's longest nonce.
const MAX_NONCE: usize = 25;

/// Where a Discord reply goes; stored as JSON in the outbox under these camelCase names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Route {
    /// The channel (or thread, or DM channel) to post in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    /// A user to write to in their DM channel (opened on first send), when no channel is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The message answered: the base of each chunk's nonce, and what a quote points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quote: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quote_all: bool,
    /// For a reply that answers nothing (an operator's delivery): the base of its nonces instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce_base: Option<String>,
}

impl StoredRoute for Route {
    const PLATFORM: &'static str = "Discord";
}

fn snowflake(text: &str) -> Option<&str> {
    (!text.is_empty() && text.len() <= 20 && text.chars().all(|c| c.is_ascii_digit())).then_some(text)
}

/// A target an operator names: `channel:<id>` (a channel or thread), `user:<id>` or `<@id>` (a DM), with an
/// optional leading `discord:`.
pub(super) fn address(to: &str) -> Result<(Peer, Value), String> {
    let to = to.trim();
    let to = to.strip_prefix("discord:").unwrap_or(to);
    let (kind, id) = if let Some(id) = to.strip_prefix("channel:") {
        (crate::PeerKind::Channel, id)
    } else if let Some(id) = to.strip_prefix("user:") {
        (crate::PeerKind::Direct, id)
    } else if let Some(id) = to.strip_prefix("<@").and_then(|rest| rest.strip_suffix('>')) {
        (crate::PeerKind::Direct, id.trim_start_matches('!'))
    } else {
        return Err(format!(
            "{to:?} is not a Discord target (fix: channel:<channel id> or user:<user id>; Developer Mode → right-click → Copy ID)"
        ));
    };
    let Some(id) = snowflake(id) else { return Err(format!("{id:?} is not a Discord id (digits only)")) };
    let nonce_base = uuid::Uuid::new_v4().simple().to_string().chars().take(16).collect::<String>();
    let route = Route {
        channel_id: (kind == crate::PeerKind::Channel).then(|| id.to_owned()),
        user_id: (kind == crate::PeerKind::Direct).then(|| id.to_owned()),
        reply_to: None,
        quote: false,
        quote_all: false,
        nonce_base: Some(nonce_base),
    };
    Ok((Peer { kind, id: id.to_owned(), thread: None, title: None, space: None }, route.to_value()))
}

/// A chunk's nonce: the message answered (or the delivery's own base) and the chunk's index, at most 25 characters.
pub(super) fn nonce(route: &Route, index: usize) -> String {
    let base = route.reply_to.as_deref().or(route.nonce_base.as_deref()).unwrap_or("reply");
    let suffix = format!(".{index}");
    let room = MAX_NONCE.saturating_sub(suffix.len());
    let tail: String = base.chars().rev().take(room).collect::<Vec<_>>().into_iter().rev().collect();
    format!("{tail}{suffix}")
}

impl Discord {
    pub(super) async fn send_chunk(
        &self,
        route: &Route,
        chunk: &str,
        index: usize,
    ) -> Result<Option<String>, SendError> {
        let channel = self.channel_of(route).await?;
        let mut body = json!({"content": chunk, "nonce": nonce(route, index), "enforce_nonce": true,
                              "allowed_mentions": {"parse": [], "replied_user": false}});
        if let Some(quoted) = route.reply_to.as_deref().filter(|_| route.quote && (index == 0 || route.quote_all)) {
            body["message_reference"] = json!({"message_id": quoted, "fail_if_not_exists": false});
        }
        let sent = self.api.call(reqwest::Method::POST, &format!("/channels/{channel}/messages"), Some(&body)).await?;
        Ok(sent["id"].as_str().map(str::to_owned))
    }

    /// The bot's message with this content after `after` (or after the message answered), if it arrived.
    pub(super) async fn find_chunk(
        &self,
        route: &Route,
        chunk: &str,
        after: Option<&str>,
    ) -> Result<Option<String>, SendError> {
        let channel = self.channel_of(route).await?;
        let me = self.me().await?;
        let mut path = format!("/channels/{channel}/messages?limit=50");
        if let Some(after) = after.or(route.reply_to.as_deref()) {
            path.push_str(&format!("&after={after}"));
        }
        let recent = self.api.call(reqwest::Method::GET, &path, None).await?;
        let found = recent.as_array().and_then(|messages| {
            messages.iter().find(|message| message["author"]["id"] == me.as_str() && message["content"] == chunk)
        });
        Ok(found.and_then(|message| message["id"].as_str().map(str::to_owned)))
    }
}
