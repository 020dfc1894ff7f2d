//! Receiving: `/sync` long polling. The `since` token of a batch is saved with its last message (earlier ones in
//! the batch are recorded first, and a batch fetched again after a crash is recognised event by event), or alone
//! when the batch carried none. A timeline that came back `limited` (more happened than one sync holds) is filled
//! in from `/messages` back to the previous token, so nothing sent while the gateway was down is skipped. The first
//! sync of a new account only sets the starting point: history before the bot was connected is not answered.

use super::normalize::{RoomView, Skipped, normalize};
use super::*;

/// What `/sync` is asked for: room messages and memberships, nothing else.
const FILTER: &str = r#"{"room":{"timeline":{"limit":50,"types":["m.room.message","m.room.member"]},"state":{"lazy_load_members":true,"types":["m.room.member"]},"ephemeral":{"not_types":["*"]},"account_data":{"not_types":["*"]}},"presence":{"not_types":["*"]},"account_data":{"not_types":["*"]}}"#;
/// Pages of `/messages` read to fill one gap.
const MAX_GAP_PAGES: usize = 20;

impl Matrix {
    fn cursor_key(&self) -> String {
        format!("matrix:{}:since", self.account)
    }

    pub(super) async fn sync_loop(&self, inbox: &Inbox) -> Result<(), ChannelError> {
        let key = self.cursor_key();
        let mut since = inbox.cursor(&key).await?;
        let mut failures = 0_u32;
        while !inbox.is_closed() {
            let me = match self.me().await {
                Ok(me) => me,
                Err(error) => {
                    failures += 1;
                    tracing::warn!(account = %self.account, %error, "Matrix sign-in failed; retrying.");
                    if matches!(&error, ApiError::Api { status: 401 | 403, .. }) {
                        tracing::error!(account = %self.account, "The Matrix credentials were refused (fix: openclaw channels login matrix).");
                    }
                    inbox.backoff(failures).await;
                    continue;
                }
            };
            let mut path = format!("/_matrix/client/v3/sync?filter={}", api::segment(FILTER));
            if let Some(since) = &since {
                path.push_str(&format!("&since={}&timeout={SYNC_TIMEOUT_MS}", api::segment(since)));
            } else {
                path.push_str("&timeout=0");
            }
            let call =
                self.api.call(reqwest::Method::GET, &path, None, Duration::from_millis(SYNC_TIMEOUT_MS + 15_000));
            let batch = tokio::select! {
                result = call => result,
                () = inbox.closed() => return Ok(()),
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(error) => {
                    failures += 1;
                    tracing::warn!(account = %self.account, %error, "Matrix /sync failed; retrying.");
                    inbox.backoff(failures).await;
                    continue;
                }
            };
            let Some(next) = batch["next_batch"].as_str().map(str::to_owned) else {
                failures += 1;
                tracing::warn!(account = %self.account, "A Matrix /sync answer without next_batch was ignored.");
                inbox.backoff(failures).await;
                continue;
            };
            self.join_invites(&batch).await;
            let saved = match &since {
                // The starting point only.
                None => inbox.save_cursor(&key, &next).await,
                Some(previous) => self.record(inbox, &me, &batch, previous, &key, &next).await,
            };
            match saved {
                Ok(()) => {
                    failures = 0;
                    since = Some(next);
                }
                Err(error) => {
                    // Not recorded, the token not moved: the same batch comes again.
                    failures += 1;
                    tracing::warn!(account = %self.account, %error, "Cannot record a Matrix sync batch; retrying.");
                    inbox.backoff(failures).await;
                }
            }
        }
        Ok(())
    }

    /// Records every message of a batch, the token with the last one.
    async fn record(
        &self,
        inbox: &Inbox,
        me: &str,
        batch: &Value,
        previous: &str,
        key: &str,
        next: &str,
    ) -> Result<(), openclaw_store::StoreError> {
        let mut messages = Vec::new();
        let empty = serde_json::Map::new();
        let rooms = batch["rooms"]["join"].as_object().unwrap_or(&empty);
        for (room_id, room) in rooms {
            let timeline = room["timeline"]["events"].as_array().map(Vec::as_slice).unwrap_or_default();
            if timeline.iter().any(|event| event["type"] == "m.room.member") {
                self.forget_room(room_id);
            }
            let gap = match room["timeline"]["prev_batch"].as_str() {
                Some(gap_start) if room["timeline"]["limited"] == true => {
                    self.fill_gap(room_id, gap_start, previous).await
                }
                _ => Vec::new(),
            };
            let direct = self.is_direct(room_id).await;
            let view = RoomView {
                account: &self.account,
                me,
                room_id,
                direct,
                reply_to: self.reply_to,
                thread_replies: self.thread_replies,
            };
            for event in gap.iter().chain(timeline) {
                match normalize(event, &view) {
                    Ok(message) => messages.push(message),
                    Err(Skipped::OtherType(kind)) if kind != "m.room.member" => {
                        tracing::debug!(account = %self.account, kind = %openclaw_protocol::log_safe(&kind), "Matrix event of another type ignored.");
                    }
                    Err(Skipped::Malformed) => {
                        tracing::warn!(account = %self.account, room = %openclaw_protocol::log_safe(room_id), "A malformed Matrix event was ignored.");
                    }
                    Err(_) => {}
                }
            }
        }
        let Some(last) = messages.pop() else { return inbox.save_cursor(key, next).await };
        for message in &messages {
            inbox.accept(message, None).await?;
        }
        inbox.accept(&last, Some((key.to_owned(), next.to_owned()))).await.map(|_| ())
    }

    /// The events of a room between the previous token and the start of a `limited` timeline, oldest first.
    async fn fill_gap(&self, room_id: &str, from: &str, to: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut from = from.to_owned();
        for _ in 0..MAX_GAP_PAGES {
            let path = format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=100&from={}&to={}&filter={}",
                api::segment(room_id),
                api::segment(&from),
                api::segment(to),
                api::segment(r#"{"types":["m.room.message"]}"#)
            );
            match self.api.call(reqwest::Method::GET, &path, None, Duration::from_secs(30)).await {
                Ok(mut page) => {
                    let Some(Value::Array(chunk)) = page.get_mut("chunk").map(Value::take) else { break };
                    if chunk.is_empty() {
                        break;
                    }
                    events.extend(chunk);
                    match page["end"].as_str() {
                        Some(end) => from = end.to_owned(),
                        None => break,
                    }
                }
                Err(error) => {
                    tracing::warn!(account = %self.account, %error, "Cannot read the Matrix messages a sync skipped; some may be missed.");
                    break;
                }
            }
        }
        events.reverse();
        events
    }

    fn forget_room(&self, room_id: &str) {
        if let Ok(mut direct) = self.direct.lock() {
            direct.remove(room_id);
        }
    }

    /// A room with two members (the bot and one person) is a direct chat.
    async fn is_direct(&self, room_id: &str) -> bool {
        if let Some(known) = self.direct.lock().ok().and_then(|direct| direct.get(room_id).copied()) {
            return known;
        }
        let path = format!("/_matrix/client/v3/rooms/{}/joined_members", api::segment(room_id));
        match self.api.call(reqwest::Method::GET, &path, None, Duration::from_secs(15)).await {
            Ok(members) => {
                let direct = members["joined"].as_object().is_some_and(|joined| joined.len() == 2);
                if let Ok(mut cache) = self.direct.lock() {
                    cache.insert(room_id.to_owned(), direct);
                }
                direct
            }
            // Unknown: treated as a room (mentions and the room policy apply), and asked again next time.
            Err(_) => false,
        }
    }

    /// Joins the rooms the bot is invited to, as `autoJoin` allows.
    async fn join_invites(&self, batch: &Value) {
        let Some(invites) = batch["rooms"]["invite"].as_object() else { return };
        for room_id in invites.keys() {
            let allowed = match self.auto_join {
                AutoJoin::Always => true,
                AutoJoin::Off => false,
                AutoJoin::Allowlist => self.auto_join_allowlist.iter().any(|room| room == room_id),
            };
            if !allowed {
                tracing::info!(account = %self.account, room = %openclaw_protocol::log_safe(room_id),
                    "Matrix invite not joined (autoJoin).");
                continue;
            }
            let path = format!("/_matrix/client/v3/join/{}", api::segment(room_id));
            match self.api.call(reqwest::Method::POST, &path, Some(&json!({})), Duration::from_secs(20)).await {
                Ok(_) => {
                    tracing::info!(account = %self.account, room = %openclaw_protocol::log_safe(room_id), "Joined a Matrix room on invite.")
                }
                Err(error) => tracing::warn!(account = %self.account, %error, "Cannot join a Matrix room on invite."),
            }
        }
    }
}
