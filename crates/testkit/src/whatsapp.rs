//! [`WhatsAppDouble`]: the WhatsApp Business Cloud API as a business's app sees it, for the calls the channel uses,
//! following Meta's published reference: `POST /{version}/{phone-number-id}/messages` (text, template, the `read`
//! status with a typing indicator), `GET /{version}/{phone-number-id}` (the number's details), Graph API errors as
//! `{"error": {message, type, code, fbtrace_id}}` (190 for a bad token, 130429 throughput, 131047 outside the
//! 24-hour window, 131000 for a server fault), and the webhook it calls: deliveries of people's messages and status
//! updates (`sent` with the send's `biz_opaque_callback_data`), each signed with
//! `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body keyed with the app secret>`. Like Meta, it delivers again
//! what the webhook did not take (no answer, or a 5xx), in order, until it is taken.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{Recorded, Reply, ScriptedServer};

/// `sha256=<hex>` of `body` keyed with the app secret, as Meta signs a delivery.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A message the business sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub id: String,
    pub to: String,
    /// The text, or `[template <name>]`.
    pub text: String,
    /// The message quoted (`context.message_id`).
    pub context: Option<String>,
}

#[derive(Default)]
struct State {
    token: String,
    app_secret: String,
    phone_number_id: String,
    webhook: Option<String>,
    sent: Vec<Sent>,
    reads: Vec<String>,
    attempts: Vec<(Instant, u16)>,
    rate_limited: usize,
    failing: usize,
    lose_next: bool,
    closed_windows: HashSet<String>,
    last_delivery: Option<Vec<u8>>,
    counter: u64,
    /// Deliveries that were taken only after one or more retries.
    retried: usize,
}

/// A delivery waiting for the webhook, and who wants to hear how its first attempt went.
struct Outgoing {
    body: Vec<u8>,
    first: Option<tokio::sync::oneshot::Sender<u16>>,
}

/// The double. Dropping it stops it.
pub struct WhatsAppDouble {
    server: ScriptedServer,
    state: Arc<Mutex<State>>,
    http: reqwest::Client,
    queue: tokio::sync::mpsc::UnboundedSender<Outgoing>,
    worker: tokio::task::JoinHandle<()>,
}

impl Drop for WhatsAppDouble {
    fn drop(&mut self) {
        self.worker.abort();
    }
}

/// Delivers the queue in order: each delivery until the webhook takes it (a 2xx, or a 4xx that a retry would not
/// change), retrying every 100 ms while it does not answer or answers 5xx.
async fn deliver_in_order(
    state: Arc<Mutex<State>>,
    http: reqwest::Client,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Outgoing>,
) {
    while let Some(mut outgoing) = queue.recv().await {
        let mut attempts = 0;
        loop {
            let (url, secret) = {
                let state = lock(&state);
                (state.webhook.clone(), state.app_secret.clone())
            };
            let status = match url {
                Some(url) => post_delivery(&http, &url, &secret, &outgoing.body).await,
                None => 0,
            };
            attempts += 1;
            if let Some(first) = outgoing.first.take() {
                let _ = first.send(status);
            }
            if (200..500).contains(&status) {
                if attempts > 1 {
                    lock(&state).retried += 1;
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn graph_error(status: u16, code: i64, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEfGh"}}),
    )
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// POSTs a signed delivery to the gateway's webhook; its status (0 when it could not be reached).
async fn post_delivery(http: &reqwest::Client, url: &str, app_secret: &str, body: &[u8]) -> u16 {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(app_secret, body))
        .body(body.to_vec())
        .send()
        .await;
    response.map(|response| response.status().as_u16()).unwrap_or(0)
}

impl WhatsAppDouble {
    /// A business phone number `phone_number_id` whose app has this access token and app secret.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(phone_number_id: &str, token: &str, app_secret: &str) -> Self {
        let state = Arc::new(Mutex::new(State {
            token: token.to_owned(),
            app_secret: app_secret.to_owned(),
            phone_number_id: phone_number_id.to_owned(),
            ..State::default()
        }));
        let server = ScriptedServer::start().await;
        let http = reqwest::Client::new();
        let (queue, receiver) = tokio::sync::mpsc::unbounded_channel();
        let worker = tokio::spawn(deliver_in_order(state.clone(), http.clone(), receiver));
        let (responder_state, responder_queue) = (state.clone(), queue.clone());
        server.set_responder(Arc::new(move |request: &Recorded| respond(&responder_state, &responder_queue, request)));
        WhatsAppDouble { server, state, http, queue, worker }
    }

    /// Queues a delivery; resolves to its first attempt's status (0: the webhook did not answer; it is retried).
    async fn enqueue(&self, body: Vec<u8>) -> u16 {
        let (first, status) = tokio::sync::oneshot::channel();
        if self.queue.send(Outgoing { body, first: Some(first) }).is_err() {
            return 0;
        }
        status.await.unwrap_or(0)
    }

    /// How many deliveries the webhook took only after a retry.
    pub fn retried(&self) -> usize {
        lock(&self.state).retried
    }

    /// The `apiBaseUrl` to configure.
    pub fn api_base(&self) -> String {
        self.server.url()
    }

    /// Where deliveries go: the gateway's webhook URL.
    pub fn set_webhook(&self, url: &str) {
        lock(&self.state).webhook = Some(url.to_owned());
    }

    fn delivery(&self, value: Value) -> Vec<u8> {
        let phone_number_id = lock(&self.state).phone_number_id.clone();
        let mut value = value;
        value["messaging_product"] = json!("whatsapp");
        value["metadata"] = json!({"display_phone_number": "15550001111", "phone_number_id": phone_number_id});
        json!({"object": "whatsapp_business_account",
               "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]})
        .to_string()
        .into_bytes()
    }

    /// `wa_id` (digits) named `name` writes `text`: the delivery is signed and POSTed to the webhook (and again
    /// until it is taken). Returns the message's `wamid` and the first attempt's HTTP status.
    pub async fn user_sends(&self, wa_id: &str, name: &str, text: &str) -> (String, u16) {
        let id = {
            let mut state = lock(&self.state);
            state.counter += 1;
            // The person writes again: the customer-service window reopens.
            state.closed_windows.remove(wa_id);
            format!("wamid.IN{:06}", state.counter)
        };
        let body = self.delivery(json!({
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": id, "timestamp": now_s().to_string(), "type": "text",
                          "text": {"body": text}}],
        }));
        lock(&self.state).last_delivery = Some(body.clone());
        (id, self.enqueue(body).await)
    }

    /// POSTs `body` signed with the app secret, once; the webhook's status.
    ///
    /// # Panics
    /// When no webhook is set.
    pub async fn deliver_signed(&self, body: &[u8]) -> u16 {
        let (url, secret) = {
            let state = lock(&self.state);
            (state.webhook.clone().expect("set_webhook first"), state.app_secret.clone())
        };
        post_delivery(&self.http, &url, &secret, body).await
    }

    /// Delivers the last message again (Meta retries a delivery it is not sure arrived).
    pub fn redeliver_last(&self) {
        if let Some(body) = lock(&self.state).last_delivery.clone() {
            let _ = self.queue.send(Outgoing { body, first: None });
        }
    }

    /// The person's last message was more than 24 hours ago: free-form replies are refused (131047) until they
    /// write again.
    pub fn close_window(&self, wa_id: &str) {
        lock(&self.state).closed_windows.insert(wa_id.to_owned());
    }

    /// The next `count` sends are refused with 130429.
    pub fn rate_limit_sends(&self, count: usize) {
        lock(&self.state).rate_limited = count;
    }

    /// The next `count` sends fail with a 500 (131000).
    pub fn fail_sends(&self, count: usize) {
        lock(&self.state).failing = count;
    }

    /// The next send creates its message, but its answer is lost (the connection is dropped).
    pub fn lose_next_answer(&self) {
        lock(&self.state).lose_next = true;
    }

    /// What the business sent to `wa_id`, oldest first.
    pub fn bot_messages(&self, wa_id: &str) -> Vec<Sent> {
        lock(&self.state).sent.iter().filter(|sent| sent.to == wa_id).cloned().collect()
    }

    /// The messages marked read (with a typing indicator).
    pub fn reads(&self) -> Vec<String> {
        lock(&self.state).reads.clone()
    }

    /// Each send attempt: when, and the HTTP status it got (429 for a 130429 refusal).
    pub fn send_attempts(&self) -> Vec<(Instant, u16)> {
        lock(&self.state).attempts.clone()
    }
}

fn respond(
    state: &Arc<Mutex<State>>,
    queue: &tokio::sync::mpsc::UnboundedSender<Outgoing>,
    request: &Recorded,
) -> Reply {
    let mut guard = lock(state);
    let expected = format!("Bearer {}", guard.token);
    if request.header("authorization") != Some(expected.as_str()) {
        return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token");
    }
    let path = request.path.split('?').next().unwrap_or_default();
    let number = format!("/{}", guard.phone_number_id);
    let versioned = path.strip_prefix("/v").and_then(|rest| rest.split_once('/')).map(|(_, rest)| format!("/{rest}"));
    match (request.method.as_str(), versioned.as_deref()) {
        ("GET", Some(rest)) if rest == number => Reply::json(
            200,
            json!({"display_phone_number": "+1 555-000-1111", "verified_name": "Claw Support",
                   "id": guard.phone_number_id, "quality_rating": "GREEN"}),
        ),
        ("POST", Some(rest)) if rest == format!("{number}/messages") => {
            let body = request.json();
            if body["messaging_product"] != "whatsapp" {
                return graph_error(400, 100, "(#100) The parameter messaging_product is required.");
            }
            if body["status"] == "read" {
                guard.reads.push(body["message_id"].as_str().unwrap_or_default().to_owned());
                return Reply::json(200, json!({"success": true}));
            }
            send(&mut guard, queue, &body)
        }
        _ => graph_error(400, 100, "Unsupported request - method type or path unknown"),
    }
}

fn send(guard: &mut State, queue: &tokio::sync::mpsc::UnboundedSender<Outgoing>, body: &Value) -> Reply {
    let now = Instant::now();
    let to = body["to"].as_str().unwrap_or_default().to_owned();
    let refused = if guard.rate_limited > 0 {
        guard.rate_limited -= 1;
        Some(graph_error(400, 130429, "(#130429) Rate limit hit"))
    } else if guard.failing > 0 {
        guard.failing -= 1;
        Some(graph_error(500, 131000, "Something went wrong"))
    } else if body["type"] == "text" && guard.closed_windows.contains(&to) {
        Some(graph_error(400, 131047, "Re-engagement message"))
    } else if to.is_empty() || !to.chars().all(|c| c.is_ascii_digit()) {
        Some(graph_error(400, 100, "(#100) Invalid parameter"))
    } else {
        None
    };
    if let Some(reply) = refused {
        // A rate-limit refusal is recorded as 429, what the compliance harness looks for; Meta answers it with
        // HTTP 400 and code 130429.
        let limited = reply.chunks.iter().any(|(_, bytes)| bytes.windows(6).any(|w| w == b"130429"));
        guard.attempts.push((now, if limited { 429 } else { reply.status }));
        return reply;
    }
    let text = match body["type"].as_str() {
        Some("text") => body["text"]["body"].as_str().unwrap_or_default().to_owned(),
        Some("template") => format!("[template {}]", body["template"]["name"].as_str().unwrap_or_default()),
        _ => return graph_error(400, 100, "(#100) Unsupported message type"),
    };
    guard.counter += 1;
    let id = format!("wamid.OUT{:06}", guard.counter);
    guard.sent.push(Sent {
        id: id.clone(),
        to: to.clone(),
        text,
        context: body["context"]["message_id"].as_str().map(str::to_owned),
    });
    guard.attempts.push((now, 200));
    // The `sent` status update follows on the webhook, with the send's callback data.
    {
        let mut status = json!({"id": id, "status": "sent", "timestamp": now_s().to_string(),
                                "recipient_id": to});
        if let Some(data) = body["biz_opaque_callback_data"].as_str() {
            status["biz_opaque_callback_data"] = json!(data);
        }
        let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
            "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001111", "phone_number_id": guard.phone_number_id},
                "statuses": [status]}}]}]})
        .to_string()
        .into_bytes();
        let _ = queue.send(Outgoing { body: payload, first: None });
    }
    if std::mem::take(&mut guard.lose_next) {
        return Reply::dropped(200);
    }
    Reply::json(
        200,
        json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}], "messages": [{"id": id}]}),
    )
}
