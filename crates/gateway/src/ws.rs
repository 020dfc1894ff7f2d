//! The WebSocket side: the v4 handshake (`connect.challenge`, `connect`, `hello-ok`), auth, then one task per
//! request, with `tick` events on an interval. Outgoing frames go through one writer task per connection so that
//! concurrent requests never interleave partial frames.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures::{SinkExt, StreamExt};
use openclaw_protocol::gateway::{
    ClientFrame, ConnectParams, ErrorShape, EventFrame, MAX_BUFFERED_BYTES, MAX_PAYLOAD_BYTES,
    PRE_AUTH_MAX_FRAME_BYTES, PROTOCOL_VERSION, ResponseFrame,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::admission::{Admitted, Budget, Capped, Full, PRE_AUTH_READ_BYTES};
use crate::device::Refusal;
use crate::{Gateway, VERSION, methods, secret_eq};
use openclaw_store::{DeviceRecord, DeviceToken};

type Socket = WebSocketStream<Capped<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>>;

/// The read buffer of a connection, and the most a text frame carries: longer messages go out as a first frame and
/// continuation frames of at most this size. The socket's write buffer keeps the capacity of the largest frame it
/// ever held, so unfragmented, one 1 MB answer would pin a megabyte to that connection for as long as it stays
/// open (and every idle client kept the size of the 64-entry presence event, ~23 KB).
const WS_CHUNK_BYTES: usize = 2 * 1024;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Close codes of the reference: 1002 protocol errors, 1008 auth failures, 1009 frames too large.
const CLOSE_PROTOCOL: u16 = 1002;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TOO_BIG: u16 = 1009;

/// Every operator scope (what a shared-secret client may ask for).
pub(crate) const OPERATOR_SCOPES: &[&str] = &[
    "operator.read",
    "operator.write",
    "operator.admin",
    "operator.approvals",
    "operator.pairing",
    "operator.talk",
    "operator.talk.secrets",
    "operator.questions",
];

pub(crate) fn routes() -> Router<Arc<Gateway>> {
    // Every method, so that a wrong one hears what this endpoint is rather than a bare 405.
    Router::new().route("/", any(upgrade))
}

/// The RFC 6455 opening handshake on hyper's connection, done here rather than by axum's `WebSocketUpgrade` because
/// that one hides tungstenite's raw frames, which the writer needs to fragment long messages (see [`WS_CHUNK_BYTES`]).
async fn upgrade(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    if crate::dashboard::wants_page(request.method(), request.headers()) {
        return crate::dashboard::page();
    }
    let key = match websocket_key(request.method(), request.headers()) {
        Ok(key) => key,
        Err((status, message)) => return (status, message).into_response(),
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return (StatusCode::UPGRADE_REQUIRED, "this connection cannot be upgraded to a WebSocket").into_response();
    };
    let admitted = match gateway.admission.admit(peer.ip()) {
        Ok(admitted) => admitted,
        Err(Full::Address(limit)) => {
            let message = format!(
                "too many unauthenticated connections from this address (at most {limit}): finish their connect first"
            );
            return (StatusCode::SERVICE_UNAVAILABLE, message).into_response();
        }
        Err(Full::Total) => {
            let message = "the gateway is at its connection limit; try again later";
            return (StatusCode::SERVICE_UNAVAILABLE, message).into_response();
        }
    };
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => return tracing::debug!(peer = %peer, %error, "A WebSocket upgrade failed."),
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_PAYLOAD_BYTES))
            .max_frame_size(Some(MAX_PAYLOAD_BYTES))
            .read_buffer_size(WS_CHUNK_BYTES)
            // Each frame goes to the socket as it is queued: nothing accumulates in the write buffer.
            .write_buffer_size(0);
        // Until its connect is accepted, the client may send PRE_AUTH_READ_BYTES in all (read under the codec).
        let budget = Budget::new(PRE_AUTH_READ_BYTES);
        let io = Capped::new(hyper_util::rt::TokioIo::new(upgraded), budget.clone());
        let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        connection(socket, gateway, peer, budget, admitted).await;
    });
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let headers = [(header::CONNECTION, "upgrade".to_owned()), (header::UPGRADE, "websocket".to_owned())];
    (StatusCode::SWITCHING_PROTOCOLS, headers, [(header::SEC_WEBSOCKET_ACCEPT, accept)]).into_response()
}

/// The client's `Sec-WebSocket-Key` once the request is a valid opening handshake (RFC 6455 §4.2.1), or the status
/// and what to fix.
fn websocket_key(method: &Method, headers: &HeaderMap) -> Result<String, (StatusCode, String)> {
    const HINT: &str = "this is the gateway's WebSocket endpoint (protocol v4): connect with a WebSocket client";
    let bad = |what: &str| Err((StatusCode::BAD_REQUEST, format!("{what}; {HINT}")));
    if method != Method::GET {
        return Err((StatusCode::METHOD_NOT_ALLOWED, format!("the method must be GET; {HINT}")));
    }
    let text = |name: &HeaderName| headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or_default();
    if !text(&header::CONNECTION).split(',').any(|token| token.trim().eq_ignore_ascii_case("upgrade")) {
        return bad("the Connection header must include `upgrade`");
    }
    if !text(&header::UPGRADE).split(',').any(|token| token.trim().eq_ignore_ascii_case("websocket")) {
        return bad("the Upgrade header must be `websocket`");
    }
    if text(&header::SEC_WEBSOCKET_VERSION).trim() != "13" {
        return bad("the Sec-WebSocket-Version header must be 13");
    }
    match text(&header::SEC_WEBSOCKET_KEY).trim() {
        "" => bad("the Sec-WebSocket-Key header is missing"),
        key => Ok(key.to_owned()),
    }
}

/// Sends one message; a long text goes as frames of at most [`WS_CHUNK_BYTES`], cut on character boundaries.
async fn send_message(sink: &mut futures::stream::SplitSink<Socket, Message>, message: Message) -> bool {
    let text = match message {
        Message::Text(text) if text.len() > WS_CHUNK_BYTES => text,
        other => return sink.send(other).await.is_ok(),
    };
    let (mut start, mut opcode) = (0, OpCode::Data(Data::Text));
    let bytes = tokio_tungstenite::tungstenite::Bytes::from(text.clone());
    while start < bytes.len() {
        // A character is at most 4 bytes, so every cut moves forward.
        let end = text.as_str().floor_char_boundary(start + WS_CHUNK_BYTES);
        let frame = Frame::message(bytes.slice(start..end), opcode, end == bytes.len());
        if sink.feed(Message::Frame(frame)).await.is_err() {
            return false;
        }
        (start, opcode) = (end, OpCode::Data(Data::Continue));
    }
    sink.flush().await.is_ok()
}

/// One client connection, seen by the method handlers.
pub(crate) struct Conn {
    tx: mpsc::Sender<Message>,
    seq: AtomicU64,
    pub(crate) conn_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) client_id: String,
    /// Session keys whose `session.message` events this connection asked for.
    subscriptions: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Requests being handled: a closing connection lets their answers out first (a `config.patch` that restarts
    /// the gateway still answers).
    in_flight: AtomicU64,
}

/// Queues one JSON frame for the writer task. A closed connection drops it: the client is gone.
async fn send_frame(tx: &mpsc::Sender<Message>, frame: &impl serde::Serialize) {
    if let Ok(text) = serde_json::to_string(frame) {
        let _ = tx.send(Message::Text(text.into())).await;
    }
}

impl Conn {
    /// Sends a response frame.
    pub(crate) async fn respond(&self, frame: ResponseFrame) {
        send_frame(&self.tx, &frame).await;
    }

    /// Sends an event with the connection's next sequence number.
    pub(crate) async fn event(&self, name: &str, payload: Value) {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        send_frame(&self.tx, &EventFrame::new(name, payload, Some(seq))).await;
    }

    /// Sends an event whose payload is already JSON text (a broadcast, serialized once for every connection).
    pub(crate) async fn event_json(&self, name: &str, payload: &str) {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let name = serde_json::to_string(name).unwrap_or_default();
        let text = format!(r#"{{"type":"event","event":{name},"payload":{payload},"seq":{seq}}}"#);
        let _ = self.tx.send(Message::Text(text.into())).await;
    }

    /// Starts or stops `session.message` events for a session.
    pub(crate) fn subscribe(&self, session_key: &str, on: bool) {
        let mut subscriptions = self.subscriptions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if on {
            subscriptions.insert(session_key.to_owned());
        } else {
            subscriptions.remove(session_key);
        }
    }

    /// Whether a broadcast is for this connection: its scope, and its session when it is about one.
    fn wants(&self, broadcast: &crate::Broadcast) -> bool {
        broadcast.scope.is_none_or(|scope| self.has_scope(scope))
            && broadcast.session_key.as_ref().is_none_or(|key| {
                self.subscriptions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(key)
            })
    }

    /// Whether the connection holds a scope (admin implies write, write implies read).
    pub(crate) fn has_scope(&self, scope: &str) -> bool {
        let held = |s: &str| self.scopes.iter().any(|have| have == s);
        held(scope) || held("operator.admin") || (scope == "operator.read" && held("operator.write"))
    }
}

async fn close(tx: &mpsc::Sender<Message>, code: u16, reason: &str) {
    let frame = CloseFrame { code: code.into(), reason: Utf8Bytes::from(reason.to_owned()) };
    let _ = tx.send(Message::Close(Some(frame))).await;
}

async fn connection(socket: Socket, gateway: Arc<Gateway>, peer: SocketAddr, budget: Budget, mut admitted: Admitted) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Message>(256);
    let writer = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            let closing = matches!(message, Message::Close(_));
            if !send_message(&mut sink, message).await || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let conn_number = gateway.connections.fetch_add(1, Ordering::SeqCst) + 1;
    tracing::debug!(peer = %peer, conn = conn_number, "WebSocket connection opened.");

    let nonce = uuid::Uuid::new_v4().to_string();
    let challenge = EventFrame::new(
        "connect.challenge",
        json!({"nonce": nonce, "ts": openclaw_protocol::now_ms(), "capabilities": []}),
        None,
    );
    send_frame(&tx, &challenge).await;
    let conn = match handshake(&mut stream, &tx, &gateway, peer, &nonce, &budget).await {
        Some(conn) => {
            budget.lift();
            admitted.authenticated();
            Arc::new(conn)
        }
        None => {
            drop(tx);
            let _ = writer.await;
            return;
        }
    };

    let mut tick = tokio::time::interval(gateway.tick_interval);
    tick.tick().await; // the first tick fires at once; skip it
    let mut shutdown = gateway.shutdown_signal();
    let mut events = gateway.subscribe_events();
    loop {
        tokio::select! {
            broadcast = events.recv() => match broadcast {
                Ok(broadcast) if conn.wants(&broadcast) => conn.event_json(broadcast.event, &broadcast.payload).await,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(conn = %conn.conn_id, missed, "A slow client missed broadcast events.");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {}
            },
            changed = shutdown.changed() => {
                // A closed channel means the gateway is gone: stop as well.
                let stopping = changed.is_err() || *shutdown.borrow();
                if !stopping {
                    continue;
                }
                // Answers being written (a config.patch that asked for this restart) go out first, briefly.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
                while conn.in_flight.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let restart = gateway.restart_requested();
                let reason = if restart { "gateway restarting" } else { "gateway stopping" };
                let expected = if restart { json!(2000) } else { json!(null) };
                conn.event("shutdown", json!({"reason": reason, "restartExpectedMs": expected})).await;
                close(&tx, 1001, "gateway shutting down").await;
                break;
            }
            incoming = stream.next() => {
                let Some(Ok(message)) = incoming else { break };
                match message {
                    Message::Text(text) => match serde_json::from_str::<ClientFrame>(text.as_str()) {
                        Ok(ClientFrame::Req(request)) => {
                            let conn = conn.clone();
                            let gateway = gateway.clone();
                            conn.in_flight.fetch_add(1, Ordering::SeqCst);
                            tokio::spawn(async move {
                                methods::dispatch(&gateway, conn.clone(), request).await;
                                conn.in_flight.fetch_sub(1, Ordering::SeqCst);
                            });
                        }
                        Err(error) => {
                            let id = serde_json::from_str::<Value>(text.as_str()).ok()
                                .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
                                .unwrap_or_default();
                            let shape = ErrorShape::new("INVALID_REQUEST", format!("invalid frame: {error}"));
                            conn.respond(ResponseFrame::error(&id, shape)).await;
                        }
                    },
                    Message::Binary(_) => conn.respond(ResponseFrame::error("", ErrorShape::new("INVALID_REQUEST", "binary frames are not supported; send JSON text frames"))).await,
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            }
            _ = tick.tick() => conn.event("tick", json!({"ts": openclaw_protocol::now_ms()})).await,
        }
    }
    gateway.presence_leave(&conn.conn_id);
    tracing::debug!(conn = %conn.conn_id, client = %openclaw_protocol::log_safe(&conn.client_id), "WebSocket connection closed.");
    drop(conn);
    drop(tx);
    let _ = writer.await;
}

/// Answers the `connect` with an error and closes the connection with `close_code`.
async fn refuse(tx: &mpsc::Sender<Message>, id: &str, error: ErrorShape, close_code: u16, reason: &str) {
    send_frame(tx, &ResponseFrame::error(id, error)).await;
    close(tx, close_code, reason).await;
}

/// Reads and checks `connect`; answers `hello-ok` or an error followed by a close.
async fn handshake(
    stream: &mut futures::stream::SplitStream<Socket>,
    tx: &mpsc::Sender<Message>,
    gateway: &Gateway,
    peer: SocketAddr,
    nonce: &str,
    budget: &Budget,
) -> Option<Conn> {
    let first = match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.next()).await {
        Err(_) => {
            close(tx, CLOSE_POLICY, "handshake timeout: send connect first").await;
            return None;
        }
        // The read budget ran out under the codec: the frame was larger than a pre-auth frame may be.
        Ok(Some(Err(_))) if budget.spent() => {
            close(tx, CLOSE_TOO_BIG, "frame too large before authentication (64 KiB at most)").await;
            return None;
        }
        Ok(None | Some(Err(_))) => return None,
        Ok(Some(Ok(message))) => message,
    };
    let text = match first {
        Message::Text(text) if text.len() > PRE_AUTH_MAX_FRAME_BYTES => {
            close(tx, CLOSE_TOO_BIG, "frame too large before authentication (64 KiB at most)").await;
            return None;
        }
        Message::Text(text) => text,
        _ => {
            close(tx, CLOSE_PROTOCOL, "the first frame must be a JSON text frame with method connect").await;
            return None;
        }
    };
    let (request, params) = match openclaw_protocol::gateway::parse_connect(text.as_str()) {
        Ok(parsed) => parsed,
        Err(refusal) => {
            refuse(tx, &refusal.id, *refusal.error, CLOSE_PROTOCOL, refusal.reason).await;
            return None;
        }
    };
    let role = params.role.clone().unwrap_or_else(|| "operator".to_owned());
    if role != "operator" {
        let message = format!("the {role} role is not supported by this gateway yet");
        let error = openclaw_protocol::gateway::invalid_request(message, "ROLE_UNSUPPORTED");
        refuse(tx, &request.id, error, CLOSE_POLICY, "role not supported").await;
        return None;
    }
    if let Some(wait) = gateway.auth_failures.locked(peer.ip()) {
        let retry_ms = wait.as_millis() as u64;
        let mut error = ErrorShape::new("UNAVAILABLE", "too many failed authentication attempts; retry later")
            .with_details(json!({"code": "AUTH_RATE_LIMITED", "recommendedNextStep": "wait_then_retry"}));
        error.retryable = Some(true);
        error.retry_after_ms = Some(retry_ms);
        refuse(tx, &request.id, error, CLOSE_POLICY, "rate limited").await;
        return None;
    }
    let grant = match authorize(gateway, &params, peer, nonce).await {
        Ok(grant) => {
            gateway.auth_failures.succeeded(peer.ip());
            grant
        }
        Err((code, message)) => {
            if code != "PAIRING_REQUIRED" {
                gateway.auth_failures.failed(peer.ip());
            }
            tracing::warn!(peer = %peer, reason = code, "Rejected a connection: authentication failed.");
            let next_step = if code == "PAIRING_REQUIRED" { "wait_then_retry" } else { "update_auth_credentials" };
            let details = json!({"code": code, "canRetryWithDeviceToken": false, "recommendedNextStep": next_step});
            let top = if code == "PAIRING_REQUIRED" { "NOT_PAIRED" } else { "INVALID_REQUEST" };
            refuse(tx, &request.id, ErrorShape::new(top, message).with_details(details), CLOSE_POLICY, "unauthorized")
                .await;
            return None;
        }
    };
    let scopes = grant.scopes;
    let conn_id = uuid::Uuid::new_v4().to_string();
    let loaded = gateway.loaded();
    let auth = gateway.auth();
    gateway.presence_join(
        &conn_id,
        json!({
            "instanceId": params.client.instance_id.clone().unwrap_or_else(|| conn_id.clone()),
            "connId": conn_id, "host": params.client.display_name, "ip": peer.ip().to_string(),
            "version": params.client.version, "platform": params.client.platform,
            "deviceFamily": params.client.device_family, "mode": params.client.mode, "roles": [role],
            "scopes": scopes, "deviceId": params.device.as_ref().and_then(|d| d.get("id")).cloned(), "reason": "connect",
            "ts": openclaw_protocol::now_ms(),
        }),
    );
    let hello = json!({
        "type": "hello-ok",
        "protocol": PROTOCOL_VERSION,
        "server": {"version": VERSION, "connId": conn_id, "bootId": gateway.boot_id},
        "features": {"methods": methods::METHODS, "events": methods::EVENTS},
        "snapshot": {
            "presence": gateway.presence_shown(),
            "health": {"ok": true},
            "stateVersion": gateway.state_version(),
            "uptimeMs": gateway.uptime_ms(),
            "configPath": loaded.paths.config_path,
            "stateDir": loaded.paths.state_dir,
            "appliedConfigHash": Some(gateway.applied_hash()).filter(|hash| !hash.is_empty()),
            "sessionDefaults": methods::session_defaults(gateway),
            "authMode": if auth.token.is_some() { "token" } else if auth.password.is_some() { "password" } else { "none" },
        },
        "auth": match &grant.device_token {
            Some((token, issued)) => json!({"role": role, "scopes": scopes, "deviceToken": token, "issuedAtMs": issued,
                "deviceTokens": [{"deviceToken": token, "role": role, "scopes": scopes, "issuedAtMs": issued}]}),
            None => json!({"role": role, "scopes": scopes}),
        },
        "policy": {"maxPayload": MAX_PAYLOAD_BYTES, "maxBufferedBytes": MAX_BUFFERED_BYTES, "tickIntervalMs": gateway.tick_interval.as_millis() as u64},
    });
    send_frame(tx, &ResponseFrame::ok(&request.id, hello)).await;
    Some(Conn {
        tx: tx.clone(),
        seq: AtomicU64::new(0),
        conn_id,
        scopes,
        client_id: params.client.id,
        subscriptions: Default::default(),
        in_flight: AtomicU64::new(0),
    })
}

/// What a successful `connect` is granted.
struct Grant {
    scopes: Vec<String>,
    /// A device token issued on this connection, with its issue time.
    device_token: Option<(String, i64)>,
}

fn requested_scopes(params: &ConnectParams) -> Vec<String> {
    match &params.scopes {
        Some(scopes) => scopes.iter().filter(|s| OPERATOR_SCOPES.contains(&s.as_str())).cloned().collect(),
        None => OPERATOR_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn store_refusal(error: openclaw_store::StoreError) -> Refusal {
    ("AUTH_UNAVAILABLE", format!("unavailable: the gateway cannot read its device registry: {error}"))
}

/// Authenticates a `connect`: the shared secret, or a device token; verifies a device signature when one is sent,
/// and registers (loopback: approves) new devices, issuing them a device token.
async fn authorize(gateway: &Gateway, params: &ConnectParams, peer: SocketAddr, nonce: &str) -> Result<Grant, Refusal> {
    let auth = params.auth.clone().unwrap_or_default();
    let presented =
        auth.token.clone().or_else(|| auth.device_token.clone()).or_else(|| auth.password.clone()).unwrap_or_default();
    let device = match &params.device {
        Some(device) => Some(crate::device::verify(params, device, nonce, &presented)?),
        None => None,
    };
    let requested = requested_scopes(params);
    if let Err(refusal) = authenticate(gateway, params, peer) {
        // Not the shared secret: perhaps a device token, which only works with the device it was issued to.
        let token = if presented.is_empty() {
            None
        } else {
            let hash = crate::device::sha256_hex(presented.as_bytes());
            gateway.store.device_token(&hash).await.map_err(store_refusal)?
        };
        let Some(token) = token else { return Err(refusal) };
        let same_device = device.as_ref().is_none_or(|d| d.id == token.device_id);
        if token.revoked || !same_device {
            return Err((
                "AUTH_DEVICE_TOKEN_MISMATCH",
                "unauthorized: this device token is revoked or belongs to another device".to_owned(),
            ));
        }
        let scopes = requested.into_iter().filter(|scope| token.scopes.contains(scope)).collect();
        return Ok(Grant { scopes, device_token: None });
    }
    let Some(device) = device else {
        return Ok(Grant { scopes: requested, device_token: None });
    };
    let now = openclaw_protocol::now_ms();
    let known = gateway.store.device(&device.id).await.map_err(store_refusal)?;
    let approved = known.as_ref().is_some_and(|d| d.approved) || peer.ip().is_loopback();
    gateway
        .store
        .upsert_device(DeviceRecord {
            device_id: device.id.clone(),
            public_key: device.public_key.clone(),
            client_id: Some(params.client.id.clone()),
            platform: Some(params.client.platform.clone()),
            approved,
            created_at: now,
            last_seen_at: now,
        })
        .await
        .map_err(store_refusal)?;
    if !approved {
        return Err((
            "PAIRING_REQUIRED",
            format!("pairing required: approve device {} on the gateway host", device.id),
        ));
    }
    let token = crate::device::new_token();
    let record = DeviceToken {
        device_id: device.id.clone(),
        role: params.role.clone().unwrap_or_else(|| "operator".to_owned()),
        scopes: requested.clone(),
        issued_at: now,
        revoked: false,
    };
    gateway
        .store
        .add_device_token(&crate::device::sha256_hex(token.as_bytes()), record)
        .await
        .map_err(store_refusal)?;
    Ok(Grant { scopes: requested, device_token: Some((token, now)) })
}

/// Checks the shared secret; returns the detail code and message of a failure.
fn authenticate(gateway: &Gateway, params: &ConnectParams, peer: SocketAddr) -> Result<(), (&'static str, String)> {
    let auth = params.auth.clone().unwrap_or_default();
    let shared = gateway.auth();
    match (&shared.token, &shared.password) {
        (None, None) if peer.ip().is_loopback() => Ok(()),
        (None, None) => Err((
            "AUTH_REQUIRED",
            "unauthorized: this gateway accepts unauthenticated clients on loopback only".to_owned(),
        )),
        (Some(expected), _) if auth.token.as_deref().is_some_and(|given| secret_eq(given, expected)) => Ok(()),
        (_, Some(expected)) if auth.password.as_deref().is_some_and(|given| secret_eq(given, expected)) => Ok(()),
        (Some(_), _) if auth.token.is_some() => Err((
            "AUTH_TOKEN_MISMATCH",
            "unauthorized: gateway token mismatch (check OPENCLAW_GATEWAY_TOKEN or gateway.auth.token)".to_owned(),
        )),
        (_, Some(_)) if auth.password.is_some() => {
            Err(("AUTH_PASSWORD_MISMATCH", "unauthorized: gateway password mismatch".to_owned()))
        }
        (Some(_), _) => Err((
            "AUTH_TOKEN_MISSING",
            "unauthorized: this gateway requires a token (connect with auth.token)".to_owned(),
        )),
        (None, Some(_)) => Err(("AUTH_PASSWORD_MISSING", "unauthorized: this gateway requires a password".to_owned())),
    }
}
