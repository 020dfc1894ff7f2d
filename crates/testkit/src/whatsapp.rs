//! [`WhatsAppDouble`]: the WhatsApp Business Cloud API as a business's app sees it, for the calls the channel uses,
//! following Meta's published reference: `POST /{version}/{phone-number-id}/messages` (text, template, the `read`
//! status with a typing indicator), `GET /{version}/{phone-number-id}` (the number's details), Graph API errors as
//! `{"error": {message, type, code, fbtrace_id}}` (190 for a bad token, 130429 throughput, 131047 outside the
//! 24-hour window, 131000 for a server fault), and the webhook it calls: deliveries of people's messages and status
//! updates (`sent` with the send's `biz_opaque_callback_data`), each signed with
//! `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body keyed with the app secret>`.

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
}

/// The double. Dropping it stops it.
pub struct WhatsAppDouble {
    server: ScriptedServer,
    state: Arc<Mutex<State>>,
    http: reqwest::Client,
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
        let (responder_state, responder_http) = (state.clone(), http.clone());
        server.set_responder(Arc::new(move |request: &Recorded| respond(&responder_state, &responder_http, request)));
        WhatsAppDouble { server, state, http }
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

    /// `wa_id` (digits) named `name` writes `text`: the delivery is signed and POSTed to the webhook. Returns the
    /// message's `wamid` and the webhook's HTTP status.
    ///
    /// # Panics
    /// When no webhook is set.
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
        (id, self.deliver_signed(&body).await)
    }

    /// POSTs `body` signed with the app secret; the webhook's status.
    pub async fn deliver_signed(&self, body: &[u8]) -> u16 {
        let (url, secret) = {
            let state = lock(&self.state);
            (state.webhook.clone().expect("set_webhook first"), state.app_secret.clone())
        };
        post_delivery(&self.http, &url, &secret, body).await
    }

    /// Delivers the last message again (Meta retries a delivery it is not sure arrived).
    pub fn redeliver_last(&self) {
        let (url, secret, body) = {
            let state = lock(&self.state);
            (state.webhook.clone(), state.app_secret.clone(), state.last_delivery.clone())
        };
        if let (Some(url), Some(body)) = (url, body) {
            let http = self.http.clone();
            tokio::spawn(async move { post_delivery(&http, &url, &secret, &body).await });
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

fn respond(state: &Arc<Mutex<State>>, http: &reqwest::Client, request: &Recorded) -> Reply {
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
            send(&mut guard, http, &body)
        }
        _ => graph_error(400, 100, "Unsupported request - method type or path unknown"),
    }
}

fn send(guard: &mut State, http: &reqwest::Client, body: &Value) -> Reply {
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
    if let Some(url) = guard.webhook.clone() {
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
        let (secret, http) = (guard.app_secret.clone(), http.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            post_delivery(&http, &url, &secret, &payload).await;
        });
    }
    if std::mem::take(&mut guard.lose_next) {
        return Reply::dropped(200);
    }
    Reply::json(
        200,
        json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}], "messages": [{"id": id}]}),
    )
}
