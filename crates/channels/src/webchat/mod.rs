//! WebChat: the gateway's own WebSocket (`chat.send`) as a channel. A message a client sends is written to the
//! inbox under its idempotency key before the client hears `started`, runs through the same dispatcher as every
//! other channel (one turn at a time per session, `/new` `/stop` …), and its answer leaves through the outbox. The
//! gateway streams the turn's deltas to the client itself (the [`Live`] it gives this channel); this channel's
//! `send` hands the queued answer back to it as the run's `final` event.
//!
//! WebChat has no config block: the people using it are the gateway's authenticated operators, so its policy is
//! open and the session is the one the client names (`Inbound::session_key`), not one routing derives.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::access::Policy;
use crate::{Capabilities, Channel, ChannelError, Dialect, Health, Inbound, Inbox, Peer, PeerKind, SendError, Sender};

/// The channel's name.
pub const NAME: &str = "webchat";
const ACCOUNT: &str = "default";

/// Where WebChat answers go: the gateway's live connections.
#[async_trait]
pub trait Live: Send + Sync + 'static {
    /// Delivers an answer to the client waiting on the run in `route` (`{sessionKey, runId}`). A client that is
    /// gone is not an error: the answer is in the session's transcript, which it reads when it reconnects.
    async fn deliver(&self, route: &Value, text: &str);
}

/// The WebChat channel (one account).
pub struct WebChat {
    live: Arc<dyn Live>,
    policy: Policy,
}

impl WebChat {
    pub fn new(live: Arc<dyn Live>) -> Self {
        WebChat { live, policy: Policy::open() }
    }

    /// The inbound message for a `chat.send`: `run_id` is the client's idempotency key (the deduplication key),
    /// `client` who sent it (its connection's client id).
    pub fn message(session_key: &str, text: &str, run_id: &str, client: &str) -> Inbound {
        Inbound {
            channel: NAME.to_owned(),
            account: ACCOUNT.to_owned(),
            peer: Peer { kind: PeerKind::Direct, id: session_key.to_owned(), thread: None, title: None, space: None },
            sender: Sender { id: client.to_owned(), name: None, username: None, is_bot: false },
            text: text.to_owned(),
            media: Vec::new(),
            reply_to: None,
            platform_id: run_id.to_owned(),
            message_id: None,
            timestamp_ms: openclaw_protocol::now_ms(),
            mentioned: true,
            session_key: Some(session_key.to_owned()),
            route: json!({"sessionKey": session_key, "runId": run_id}),
        }
    }
}

#[async_trait]
impl Channel for WebChat {
    fn name(&self) -> &'static str {
        NAME
    }

    fn account(&self) -> &str {
        ACCOUNT
    }

    fn capabilities(&self) -> Capabilities {
        // One answer is one event, however long.
        Capabilities::text(None, usize::MAX, Dialect::Markdown)
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    async fn receive(self: Arc<Self>, _inbox: Inbox) -> Result<(), ChannelError> {
        // Fed by the gateway's `chat.send`.
        Ok(())
    }

    async fn send(&self, route: &Value, chunk: &str, _index: usize) -> Result<Option<String>, SendError> {
        self.live.deliver(route, chunk).await;
        Ok(None)
    }

    async fn probe(&self) -> Health {
        Health { ok: true, detail: "the gateway's WebSocket (chat.send)".to_owned() }
    }

    fn mode(&self) -> String {
        "websocket".to_owned()
    }
}
