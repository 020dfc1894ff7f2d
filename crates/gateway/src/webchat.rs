//! WebChat on the gateway: `chat.send` puts the client's message in the channels' durable inbox (under its
//! idempotency key) before answering `started`; the dispatcher runs the turn like any channel's, and the gateway
//! streams its `chat` events to the client that asked. The answer comes back through the outbox to
//! [`WebChatLive::deliver`], which sends the run's `final` event after the last delta.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use openclaw_agent::{AgentError, AgentEvent, AgentProfile, TurnOutcome, TurnRequest};
use openclaw_channels::webchat::{self, WebChat};
use openclaw_protocol::gateway::{ErrorShape, RequestFrame, ResponseFrame};
use openclaw_store::Accepted;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::Gateway;
use crate::methods::{Run, agent_for_key, draining, invalid, stamped, unavailable};
use crate::ws::Conn;

/// How long an answer waits for its run's stream to end before it is sent anyway.
const STREAM_WAIT: Duration = Duration::from_secs(30);

/// A client waiting on a WebChat run.
struct Waiting {
    conn: Arc<Conn>,
    identity: Value,
    /// The `seq` the `final` event takes; `None` while the run's deltas are streaming.
    next_seq: watch::Sender<Option<u64>>,
}

/// The clients waiting on WebChat runs, by run id.
#[derive(Default)]
pub(crate) struct LiveRuns {
    waiting: Mutex<HashMap<String, Waiting>>,
}

impl LiveRuns {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        self.waiting.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers the client waiting on a run, unless one already is (a second send of the same message keeps the
    /// first client's stream). Returns whether it did.
    fn insert(&self, run_id: &str, conn: Arc<Conn>, identity: Value) -> bool {
        match self.lock().entry(run_id.to_owned()) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Waiting { conn, identity, next_seq: watch::channel(Some(1)).0 });
                true
            }
        }
    }

    fn conn(&self, run_id: &str) -> Option<Arc<Conn>> {
        self.lock().get(run_id).map(|waiting| waiting.conn.clone())
    }

    fn set_next_seq(&self, run_id: &str, next: Option<u64>) {
        if let Some(waiting) = self.lock().get(run_id) {
            waiting.next_seq.send_replace(next);
        }
    }

    fn remove(&self, run_id: &str) {
        self.lock().remove(run_id);
    }
}

/// The outbox's way back to WebChat clients.
pub(crate) struct WebChatLive {
    pub(crate) gateway: Weak<Gateway>,
}

#[async_trait::async_trait]
impl webchat::Live for WebChatLive {
    async fn deliver(&self, route: &Value, text: &str) {
        let (Some(gateway), Some(run_id)) = (self.gateway.upgrade(), route["runId"].as_str()) else { return };
        let found =
            gateway.webchat.lock().get(run_id).map(|w| (w.conn.clone(), w.identity.clone(), w.next_seq.subscribe()));
        // The client is gone (or the gateway restarted since): the answer is in the transcript.
        let Some((conn, identity, mut next_seq)) = found else { return };
        let seq = match tokio::time::timeout(STREAM_WAIT, next_seq.wait_for(Option::is_some)).await {
            Ok(Ok(seq)) => seq.unwrap_or(1),
            _ => return,
        };
        gateway.webchat.remove(run_id);
        let event = json!({"state": "final", "stopReason": "stop",
                           "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}});
        conn.event("chat", stamped(&identity, seq, &event)).await;
    }
}

/// `chat.send {sessionKey, message, idempotencyKey}`: recorded in the inbox, then `started` (or, for a key seen
/// before, that run's state with `duplicate: true`), then the run's `chat` events.
pub(crate) async fn chat_send(gateway: &Arc<Gateway>, conn: Arc<Conn>, request: &RequestFrame) {
    let result = accept(gateway, &conn, &request.params).await;
    let frame = match result {
        Ok(payload) => ResponseFrame::ok(&request.id, payload),
        Err(error) => ResponseFrame::error(&request.id, error),
    };
    conn.respond(frame).await;
}

async fn accept(gateway: &Arc<Gateway>, conn: &Arc<Conn>, params: &Value) -> Result<Value, ErrorShape> {
    let field = |name: &str| params.get(name).and_then(Value::as_str).filter(|v| !v.trim().is_empty());
    let (Some(session_key), Some(message), Some(run_id)) =
        (field("sessionKey"), field("message"), field("idempotencyKey"))
    else {
        return Err(invalid("chat.send needs params.sessionKey, params.message and params.idempotencyKey"));
    };
    if gateway.is_draining() {
        return Err(draining());
    }
    let loaded = gateway.loaded();
    let agent = agent_for_key(&loaded, session_key)
        .ok_or_else(|| invalid(format!("no agent owns the session {session_key}")))?;
    // A retry of a run this process knows: its state, not a second run.
    match gateway.runs.wait(run_id) {
        crate::runs::Waited::Finished(_) => return Ok(json!({"runId": run_id, "status": "ok", "duplicate": true})),
        crate::runs::Waited::Pending(_) => {
            return Ok(json!({"runId": run_id, "status": "in_flight", "duplicate": true}));
        }
        crate::runs::Waited::Unknown => {}
    }
    let Some(host) = gateway.channels.get() else {
        return Err(unavailable("the gateway's channels are not running yet; retry in a moment"));
    };
    // Registered before the message is recorded: the dispatcher may start its turn at once.
    let identity = json!({"runId": run_id, "sessionKey": session_key, "agentId": agent.id});
    let waiting = gateway.webchat.insert(run_id, conn.clone(), identity);
    let inbound = WebChat::message(session_key, message, run_id, &conn.client_id);
    let accepted = host.inbox().accept(&inbound, None).await;
    // A message still queued (sent before a restart) streams to the client that sent it again; otherwise nothing
    // will run for this client.
    let queued = match &accepted {
        Ok(Accepted::New(_)) => true,
        Ok(Accepted::Duplicate(id)) => {
            gateway.store.inbound(*id).await.ok().flatten().is_some_and(|row| row.status == "pending")
        }
        Err(_) => false,
    };
    if waiting && !queued {
        gateway.webchat.remove(run_id);
    }
    match accepted {
        Ok(Accepted::New(_)) => Ok(json!({"runId": run_id, "status": "started"})),
        Ok(Accepted::Duplicate(_)) => {
            Ok(json!({"runId": run_id, "status": if queued { "in_flight" } else { "ok" }, "duplicate": true}))
        }
        Err(error) => Err(unavailable(format!("cannot record the message: {error}"))),
    }
}

/// A WebChat turn the dispatcher runs: streamed to the client that sent it, registered under the client's run id
/// (for `chat.abort` and `agent.wait`). The `final` event of an answer is left to the outbox; the other endings
/// (aborted, error, a silent answer) are sent here.
pub(crate) async fn run_turn(
    gateway: &Arc<Gateway>,
    profile: &AgentProfile,
    run_id: &str,
    request: TurnRequest,
) -> Result<TurnOutcome, AgentError> {
    let session_key = request.session_key.clone();
    let handle = match gateway.runs.start(run_id, &session_key) {
        Ok(handle) => handle,
        // Run before by this process (its commit failed and the message is tried again): not registered twice.
        Err(_) => return gateway.run_turn(profile, request, &mut |_| {}).await,
    };
    let conn = gateway.webchat.conn(run_id);
    let Some(conn) = conn else {
        // Nobody is waiting (the client's gateway was restarted): the turn runs for the transcript.
        return gateway.run_turn_registered(profile, request, handle, run_id).await;
    };
    gateway.webchat.set_next_seq(run_id, None);
    let run = Run::new(conn, run_id.to_owned(), session_key, profile.id.clone(), handle);
    let mut text = String::new();
    let (outcome, _, mut finisher) =
        run.stream(gateway, profile, request, "chat", |event| chat_event(&mut text, event)).await;
    match &outcome {
        Ok(done) if !done.silent && !done.text.is_empty() => {
            gateway.webchat.set_next_seq(run_id, Some(finisher.next_seq()));
        }
        _ => {
            gateway.webchat.remove(run_id);
            finisher.send("chat", ending(&outcome)).await;
        }
    }
    outcome
}

/// A run's `chat` event for an agent event (`status` at the start, `delta` with the cumulative text).
pub(crate) fn chat_event(text: &mut String, event: &AgentEvent) -> Option<Value> {
    match event {
        AgentEvent::RunStarted { .. } => Some(json!({"state": "status", "phase": "started"})),
        AgentEvent::TextDelta(delta) => {
            text.push_str(delta);
            Some(json!({"state": "delta", "deltaText": delta,
                        "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}}))
        }
        _ => None,
    }
}

/// The last `chat` event of a run that ends without an answer to deliver.
fn ending(outcome: &Result<TurnOutcome, AgentError>) -> Value {
    match outcome {
        Ok(_) => json!({"state": "final", "stopReason": "stop", "message": {"role": "assistant", "content": []}}),
        Err(AgentError::Aborted) => json!({"state": "aborted", "stopReason": "aborted"}),
        Err(error) => json!({"state": "error", "errorMessage": error.to_string()}),
    }
}
