//! The dispatcher: works the durable inbox (access policy → pairing → commands → routing → the agent turn, one
//! message at a time per conversation) and the outbox (chunked delivery in order per conversation, retries with
//! backoff, the platform's `retry_after` honoured for that conversation only, dead letters). Both queues live in
//! the store, so a restart resumes them where they stood.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openclaw_protocol::now_ms;
use openclaw_store::{AuditEvent, Delivery, InboundRecord, NewOutbound, OutboundRecord, PairingRequest, Store};
use serde_json::json;
use tokio::sync::{Notify, Semaphore, watch};

use crate::access::{self, Decision, DmPolicy};
use crate::commands::{self, Command};
use crate::{Channel, ChannelTurn, Inbound, PeerKind, SendError, TurnFailure, Turns, routing};

/// Processing attempts before an inbound message is given up (each attempt that never finished means the process
/// stopped while working on it).
const MAX_INBOUND_ATTEMPTS: i64 = 5;
/// Delivery attempts before a reply becomes a dead letter.
const MAX_SEND_ATTEMPTS: i64 = 12;
/// Turns running at once across conversations.
const MAX_CONCURRENT_TURNS: usize = 8;
const TYPING_EVERY: Duration = Duration::from_secs(4);

/// The inbox and outbox workers of one gateway.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    turns: Arc<dyn Turns>,
    channels: Vec<Arc<dyn Channel>>,
    wake: Arc<Notify>,
    outbox_wake: Notify,
    shutdown: watch::Receiver<bool>,
    /// Conversations with a message in progress.
    busy: Mutex<HashSet<String>>,
    /// Conversations with a delivery in progress.
    sending: Mutex<HashSet<String>>,
    /// The abort switch of the turn running in each conversation (`/stop`).
    aborts: Mutex<HashMap<String, watch::Sender<bool>>>,
    /// `/stop` messages (by inbox id) that stopped a running turn.
    stopped: Mutex<HashSet<i64>>,
    permits: Semaphore,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Dispatcher {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        turns: Arc<dyn Turns>,
        channels: Vec<Arc<dyn Channel>>,
        wake: Arc<Notify>,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Self> {
        Arc::new(Dispatcher {
            store,
            turns,
            channels,
            wake,
            outbox_wake: Notify::new(),
            shutdown,
            busy: Mutex::default(),
            sending: Mutex::default(),
            aborts: Mutex::default(),
            stopped: Mutex::default(),
            permits: Semaphore::new(MAX_CONCURRENT_TURNS),
        })
    }

    /// Starts the inbox and outbox workers.
    pub(crate) fn spawn(self: Arc<Self>) {
        tokio::spawn(self.clone().inbox_loop());
        tokio::spawn(self.outbox_loop());
    }

    pub(crate) fn wake_outbox(&self) {
        self.outbox_wake.notify_one();
    }

    fn channel(&self, name: &str, account: &str) -> Option<Arc<dyn Channel>> {
        self.channels.iter().find(|channel| channel.name() == name && channel.account() == account).cloned()
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    async fn pause(&self, wake: &Notify, wait: Duration) {
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
    }

    async fn inbox_loop(self: Arc<Self>) {
        while !self.stopping() {
            match self.store.pending_inbound(500).await {
                Ok(pending) => {
                    let mut seen = HashSet::new();
                    for record in pending {
                        let oldest = seen.insert(record.conversation.clone());
                        if lock(&self.busy).contains(&record.conversation) {
                            // Waiting behind a running turn; a `/stop` acts on that turn now.
                            self.stop_early(&record);
                            continue;
                        }
                        // Only the oldest pending message of a conversation may start.
                        if !oldest {
                            continue;
                        }
                        lock(&self.busy).insert(record.conversation.clone());
                        let this = self.clone();
                        tokio::spawn(async move {
                            let conversation = record.conversation.clone();
                            this.process(record).await;
                            lock(&this.busy).remove(&conversation);
                            this.wake.notify_one();
                        });
                    }
                }
                Err(error) => tracing::warn!(%error, "Cannot read the channel inbox; retrying."),
            }
            self.pause(&self.wake, Duration::from_secs(2)).await;
        }
    }

    /// `/stop` waiting behind the turn it is meant to stop: stop that turn now, and remember that it did (its own
    /// answer says so when its turn comes).
    fn stop_early(&self, record: &InboundRecord) {
        let text = record.payload.get("text").and_then(|text| text.as_str()).unwrap_or_default();
        if commands::parse(text, None) == Some(Command::Stop)
            && let Some(abort) = lock(&self.aborts).get(&record.conversation)
            && abort.send(true).is_ok()
        {
            lock(&self.stopped).insert(record.id);
        }
    }

    async fn finish(&self, id: i64, status: &str, note: &str, reply: Option<NewOutbound>) {
        let queued = reply.is_some();
        if let Err(error) = self.store.finish_inbound(id, status, Some(note), reply).await {
            tracing::warn!(id, %error, "Cannot finish an inbound message; it will be processed again.");
        }
        if queued {
            self.wake_outbox();
        }
    }

    fn reply(message: &Inbound, text: String) -> NewOutbound {
        NewOutbound {
            channel: message.channel.clone(),
            account: message.account.clone(),
            conversation: message.conversation(),
            route: message.route.clone(),
            text,
        }
    }

    async fn process(&self, record: InboundRecord) {
        let Ok(_permit) = self.permits.acquire().await else { return };
        let attempts = match self.store.claim_inbound(record.id).await {
            Ok(attempts) => attempts,
            Err(error) => {
                tracing::warn!(id = record.id, %error, "Cannot claim an inbound message; retrying later.");
                return;
            }
        };
        if attempts > MAX_INBOUND_ATTEMPTS {
            let note = format!("given up after {MAX_INBOUND_ATTEMPTS} attempts that never finished");
            tracing::error!(id = record.id, conversation = %openclaw_protocol::log_safe(&record.conversation), "{note}");
            self.finish(record.id, "failed", &note, None).await;
            return;
        }
        let message: Inbound = match serde_json::from_value(record.payload.clone()) {
            Ok(message) => message,
            Err(error) => {
                self.finish(record.id, "failed", &format!("unreadable stored message: {error}"), None).await;
                return;
            }
        };
        let Some(channel) = self.channel(&message.channel, &message.account) else {
            let note = format!("channel {}/{} is not configured any more", message.channel, message.account);
            self.finish(record.id, "failed", &note, None).await;
            return;
        };
        let policy = channel.policy();
        let paired = message.peer.kind == PeerKind::Direct
            && policy.dm != DmPolicy::Open
            && self.store.is_paired(&message.channel, &message.account, &message.sender.id).await.unwrap_or(false);
        match policy.decide(&message, paired) {
            Decision::Allow => {}
            Decision::Ignore(reason) => {
                tracing::debug!(id = record.id, %reason, "Inbound message ignored.");
                self.finish(record.id, "ignored", &reason, None).await;
                return;
            }
            Decision::Pair => {
                self.pair(&record, &message).await;
                return;
            }
        }
        let loaded = self.turns.loaded();
        let route = routing::route(&loaded, &message);
        tracing::debug!(id = record.id, agent = %route.agent_id, session = %openclaw_protocol::log_safe(&route.session_key),
                        matched_by = route.matched_by, "Inbound message routed.");
        if let Some(command) = commands::parse(&message.text, None) {
            let answer = self.command(command, record.id, &route).await;
            self.finish(record.id, "done", "command", Some(Self::reply(&message, answer))).await;
            return;
        }
        let typing = channel.capabilities().typing.then(|| {
            let channel = channel.clone();
            let route = message.route.clone();
            tokio::spawn(async move {
                loop {
                    let _ = channel.typing(&route).await;
                    tokio::time::sleep(TYPING_EVERY).await;
                }
            })
        });
        let (abort, aborted) = watch::channel(false);
        lock(&self.aborts).insert(record.conversation.clone(), abort);
        let turn = ChannelTurn {
            agent_id: route.agent_id.clone(),
            session_key: route.session_key.clone(),
            text: agent_text(&message),
            abort: aborted,
            delivery: Delivery { inbox_id: Some(record.id), reply: Self::reply(&message, String::new()) },
        };
        let result = self.turns.run_turn(turn).await;
        lock(&self.aborts).remove(&record.conversation);
        if let Some(typing) = typing {
            typing.abort();
        }
        match result {
            Ok(()) | Err(TurnFailure::Aborted) => {}
            Err(TurnFailure::NotStored(error)) => {
                // Nothing was committed: the message stays pending and is tried again.
                tracing::warn!(id = record.id, %error, "A channel turn could not be stored; it will run again.");
                return;
            }
            Err(error) => {
                // A turn that committed has finished the message with its own error reply; one that failed before
                // committing (an unknown agent, a workspace that cannot be created) is answered here.
                let still_pending =
                    self.store.inbound(record.id).await.ok().flatten().is_some_and(|row| row.status == "pending");
                if still_pending {
                    let text = format!("Sorry, I could not answer that: {error}");
                    self.finish(record.id, "failed", &error.to_string(), Some(Self::reply(&message, text))).await;
                }
            }
        }
        self.wake_outbox();
    }

    async fn pair(&self, record: &InboundRecord, message: &Inbound) {
        let now = now_ms();
        let waiting = match self.store.pairing_requests(Some(&message.channel), now).await {
            Ok(waiting) => waiting,
            Err(error) => {
                tracing::warn!(%error, "Cannot read pairing requests; retrying later.");
                return;
            }
        };
        let waiting: Vec<PairingRequest> = waiting.into_iter().filter(|r| r.account == message.account).collect();
        let code = match waiting.iter().find(|request| request.sender_id == message.sender.id) {
            Some(request) => request.code.clone(),
            None if waiting.len() >= access::MAX_PENDING_PAIRINGS => {
                self.finish(record.id, "ignored", "pairing: too many requests waiting", None).await;
                return;
            }
            None => {
                let request = PairingRequest {
                    channel: message.channel.clone(),
                    account: message.account.clone(),
                    sender_id: message.sender.id.clone(),
                    code: access::pairing_code(),
                    display: message.sender.name.clone().or_else(|| message.sender.username.clone()),
                    conversation: message.conversation(),
                    route: message.route.clone(),
                    created_at: now,
                    expires_at: now + access::PAIRING_TTL_MS,
                };
                if let Err(error) = self.store.add_pairing_request(request.clone()).await {
                    tracing::warn!(%error, "Cannot record a pairing request; retrying later.");
                    return;
                }
                let _ = self
                    .store
                    .append_audit(AuditEvent {
                        actor: format!("{}:{}", message.channel, message.sender.id),
                        action: "channel.pairing.requested".to_owned(),
                        agent_id: None,
                        session_key: None,
                        run_id: None,
                        outcome: "pending".to_owned(),
                        detail: json!({"channel": message.channel, "account": message.account,
                                       "sender": message.sender.id}),
                    })
                    .await;
                request.code
            }
        };
        let text = format!(
            "OpenClaw: access not configured.\n\nYour {channel} id: {sender}\nPairing code: {code}\n\nAsk the bot owner to approve with:\nopenclaw pairing approve {channel} {code}",
            channel = message.channel,
            sender = message.sender.id,
        );
        self.finish(record.id, "ignored", "pairing requested", Some(Self::reply(message, text))).await;
    }

    async fn command(&self, command: Command, id: i64, route: &routing::Route) -> String {
        match command {
            Command::Help => commands::HELP.to_owned(),
            Command::New => match self.store.end_session(&route.session_key).await {
                Ok(_) => "New session started.".to_owned(),
                Err(error) => format!("Could not start a new session: {error}"),
            },
            Command::Stop if lock(&self.stopped).remove(&id) => "Stopped.".to_owned(),
            Command::Stop => "Nothing is running.".to_owned(),
            Command::Status => match self.store.active_session(&route.session_key).await {
                Ok(Some(session)) => format!(
                    "Agent: {}\nSession: {}\nModel: {}\nMessages: {}\nTokens: {} in / {} out",
                    route.agent_id,
                    route.session_key,
                    session.model.as_deref().unwrap_or("not used yet"),
                    session.entry_count,
                    session.input_tokens,
                    session.output_tokens
                ),
                Ok(None) => format!("Agent: {}\nSession: {} (new)", route.agent_id, route.session_key),
                Err(error) => format!("Status unavailable: {error}"),
            },
        }
    }

    async fn outbox_loop(self: Arc<Self>) {
        while !self.stopping() {
            let now = now_ms();
            match self.store.due_outbound(now, 200).await {
                Ok(due) => {
                    for item in due {
                        if !lock(&self.sending).insert(item.conversation.clone()) {
                            continue;
                        }
                        let this = self.clone();
                        tokio::spawn(async move {
                            let conversation = item.conversation.clone();
                            this.deliver(item).await;
                            lock(&this.sending).remove(&conversation);
                            this.outbox_wake.notify_one();
                        });
                    }
                }
                Err(error) => tracing::warn!(%error, "Cannot read the channel outbox; retrying."),
            }
            let next = self.store.next_outbound_at().await.ok().flatten();
            let wait = next.map_or(1000, |at| (at - now_ms()).clamp(5, 1000));
            self.pause(&self.outbox_wake, Duration::from_millis(wait as u64)).await;
        }
    }

    async fn deliver(&self, item: OutboundRecord) {
        let Some(channel) = self.channel(&item.channel, &item.account) else {
            let error = SendError::Transient(format!("channel {}/{} is not running", item.channel, item.account));
            // Nothing was sent: a chunk in flight from before stays so.
            self.failed(&item, error, true).await;
            return;
        };
        let chunks = channel.render(&item.text);
        for (index, chunk) in chunks.iter().enumerate().skip(item.chunks_sent.max(0) as usize) {
            // A chunk found in flight was being sent when the process stopped (or the answer to its send was lost):
            // it may have arrived. The channel looks for it first; only when it is not there is it sent again.
            let uncertain = item.in_flight == Some(index as i64);
            if let Err(error) = self.store.outbound_sending(item.id, index as i64, uncertain).await {
                tracing::warn!(id = item.id, %error, "Cannot record a send; retrying later.");
                return;
            }
            if uncertain {
                let after = match self.store.last_delivered_id(&item.conversation).await {
                    Ok(after) => after,
                    Err(error) => {
                        tracing::warn!(id = item.id, %error, "Cannot read the conversation's last delivery.");
                        return;
                    }
                };
                match channel.find_sent(&item.route, chunk, after.as_deref()).await {
                    Ok(Some(platform_id)) => {
                        tracing::info!(id = item.id, chunk = index, conversation = %openclaw_protocol::log_safe(&item.conversation),
                            "A chunk whose send was cut had arrived; not sending it again.");
                        if let Err(error) =
                            self.store.outbound_progress(item.id, index as i64 + 1, Some(&platform_id)).await
                        {
                            tracing::warn!(id = item.id, %error, "Cannot record a delivered chunk.");
                            return;
                        }
                        continue;
                    }
                    Ok(None) => {
                        tracing::info!(id = item.id, chunk = index, conversation = %openclaw_protocol::log_safe(&item.conversation),
                        "A chunk whose send was cut is not on the platform; sending it again.")
                    }
                    Err(error) => {
                        // Still uncertain: it stays in flight and is looked for again next time.
                        self.failed(&item, error, true).await;
                        return;
                    }
                }
            }
            let platform_id = match channel.send(&item.route, chunk, index).await {
                Ok(platform_id) => platform_id,
                Err(error) => {
                    // A transient failure (a timeout, a lost connection, a 5xx) may hide a send that arrived.
                    let uncertain = matches!(error, SendError::Transient(_));
                    self.failed(&item, error, uncertain).await;
                    return;
                }
            };
            if let Err(error) = self.store.outbound_progress(item.id, index as i64 + 1, platform_id.as_deref()).await {
                tracing::warn!(id = item.id, %error, "Cannot record a delivered chunk.");
                return;
            }
        }
        if let Err(error) = self.store.finish_outbound(item.id, "sent", None).await {
            tracing::warn!(id = item.id, %error, "Cannot record a delivered reply.");
        }
    }

    /// Records a failed attempt. `uncertain`: the chunk in flight may have arrived, so it stays marked and is looked
    /// for before it is sent again.
    async fn failed(&self, item: &OutboundRecord, error: SendError, uncertain: bool) {
        let now = now_ms();
        let message = error.to_string();
        let outcome = match error {
            SendError::Permanent(_) => None,
            _ if item.attempts + 1 >= MAX_SEND_ATTEMPTS => None,
            SendError::RateLimited { retry_after_ms } => Some(now + retry_after_ms as i64),
            SendError::Transient(_) => {
                let backoff = 1000_i64.saturating_mul(1 << item.attempts.clamp(0, 9)).min(300_000);
                let jitter = now.rem_euclid(250);
                Some(now + backoff + jitter)
            }
        };
        let result = match outcome {
            Some(at) => {
                tracing::info!(id = item.id, conversation = %openclaw_protocol::log_safe(&item.conversation), error = %message, "Delivery will be retried.");
                self.store.retry_outbound(item.id, at, &message, uncertain).await
            }
            None => {
                tracing::warn!(id = item.id, conversation = %openclaw_protocol::log_safe(&item.conversation), error = %message, "Delivery failed: dead letter.");
                self.store.finish_outbound(item.id, "dead", Some(&message)).await
            }
        };
        if let Err(error) = result {
            tracing::warn!(id = item.id, %error, "Cannot record a failed delivery.");
        }
    }
}

/// What the agent reads: the text, with who wrote it in groups, and attachments named.
fn agent_text(message: &Inbound) -> String {
    let mut text = match message.peer.kind {
        PeerKind::Direct => message.text.clone(),
        _ => {
            let who =
                message.sender.name.as_deref().or(message.sender.username.as_deref()).unwrap_or(&message.sender.id);
            format!("{who}: {}", message.text)
        }
    };
    for media in &message.media {
        text.push_str(&format!(
            "\n[attachment: {}{}]",
            media.kind,
            media.name.as_deref().map(|name| format!(" {name}")).unwrap_or_default()
        ));
    }
    text
}
