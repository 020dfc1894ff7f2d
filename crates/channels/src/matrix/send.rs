//! Sending: the typed route, rooms an operator names, Markdown chunks as `m.text` with an HTML `formatted_body`,
//! each under a transaction id made from the message answered and the chunk's index (Matrix returns the first
//! event again for a repeated id, so a chunk whose send was cut is sent again safely).

use pulldown_cmark::{Event, Options, Parser, html};

use super::*;

/// Where a Matrix reply goes; stored as JSON in the outbox under these camelCase names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Route {
    pub room_id: String,
    /// Reply inside this thread (its root event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_root: Option<String>,
    /// The event answered: the base of each chunk's transaction id, and what a quote points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// Quote `in_reply_to` on the first chunk (`replyToMode: first`), or on every chunk with `quote_all`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quote: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quote_all: bool,
    /// For a reply that answers nothing (an operator's delivery): the base of its transaction ids instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_id: Option<String>,
}

impl StoredRoute for Route {
    const PLATFORM: &'static str = "Matrix";
}

/// A room an operator names: its id (`!abc:example.org`), optionally with a leading `matrix:`.
pub(super) fn address(to: &str) -> Result<(Peer, Value), String> {
    let to = to.trim();
    let room = to.strip_prefix("matrix:").unwrap_or(to);
    let room = room.strip_prefix("room:").unwrap_or(room);
    let valid = room.starts_with('!')
        && room.split_once(':').is_some_and(|(local, server)| local.len() > 1 && !server.is_empty())
        && !room.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        let hint = if room.starts_with('#') {
            " (an alias: look its room id up in the room's settings, Advanced)"
        } else if room.starts_with('@') {
            " (a user: name the id of the direct room with them)"
        } else {
            ""
        };
        return Err(format!("{room:?} is not a Matrix room id (such as !abcdef:example.org){hint}"));
    }
    let peer = Peer { kind: crate::PeerKind::Group, id: room.to_owned(), thread: None, title: None, space: None };
    let route = Route {
        room_id: room.to_owned(),
        thread_root: None,
        in_reply_to: None,
        quote: false,
        quote_all: false,
        outbound_id: Some(format!("out-{}", uuid::Uuid::new_v4().simple())),
    };
    Ok((peer, route.to_value()))
}

/// Markdown as the HTML of a Matrix `formatted_body`. HTML the model wrote is shown as text, never passed on as
/// markup.
pub fn to_html(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TABLES);
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out.trim_end().to_owned()
}

impl Matrix {
    pub(super) async fn send_chunk(
        &self,
        route: &Route,
        chunk: &str,
        index: usize,
    ) -> Result<Option<String>, SendError> {
        self.sign_in().await?;
        let mut content = json!({"msgtype": "m.text", "body": chunk, "format": "org.matrix.custom.html",
                                 "formatted_body": to_html(chunk),
                                 // Mentions nobody: a reply cannot ping a room or a user.
                                 "m.mentions": {}});
        let quote = route.in_reply_to.as_deref().filter(|_| route.quote && (index == 0 || route.quote_all));
        if let Some(root) = &route.thread_root {
            let mut relation = json!({"rel_type": "m.thread", "event_id": root, "is_falling_back": quote.is_none()});
            let replied = quote.or(route.in_reply_to.as_deref()).unwrap_or(root);
            relation["m.in_reply_to"] = json!({"event_id": replied});
            content["m.relates_to"] = relation;
        } else if let Some(quoted) = quote {
            content["m.relates_to"] = json!({"m.in_reply_to": {"event_id": quoted}});
        }
        let base = route.in_reply_to.as_deref().or(route.outbound_id.as_deref()).unwrap_or("reply");
        let txn = format!("ocrs.{}.{index}", api::segment(base));
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
            api::segment(&route.room_id),
            api::segment(&txn)
        );
        let answer = self.api.call(reqwest::Method::PUT, &path, Some(&content), Duration::from_secs(30)).await?;
        Ok(answer["event_id"].as_str().map(str::to_owned))
    }
}
