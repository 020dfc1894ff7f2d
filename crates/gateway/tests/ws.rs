//! The gateway over a real socket: HTTP health endpoints, the v4 handshake and its failures (with the reference's
//! close codes), scopes, unknown methods, and the two-phase `agent` method with streamed events.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use openclaw_agent::AgentRuntime;
use openclaw_config::Paths;
use openclaw_gateway::{AuthSettings, Gateway};
use openclaw_models::{Api, BreakerConfig, ModelRouter, ProviderSettings, RetryPolicy};
use openclaw_store::{SqliteStore, Store};
use openclaw_testkit::{ScriptedServer, openai};
use openclaw_tools::ToolRegistry;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

struct Fixture {
    _dir: tempfile::TempDir,
    model: ScriptedServer,
    addr: std::net::SocketAddr,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Fixture {
    start_with(json!({})).await
}

/// A gateway whose configuration also has `tools`.
async fn start_with(tools: Value) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let model = ScriptedServer::start().await;
    let config = json!({
        "agents": {"defaults": {"model": "mock/m1"}},
        "models": {"providers": {"mock": {"baseUrl": format!("{}/v1", model.url())}}},
        "tools": tools,
    });
    let paths = Paths::for_state_dir(dir.path().to_path_buf());
    let loaded = openclaw_config::load_str(&config.to_string(), &paths, &|_| None).unwrap();
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let mut router = ModelRouter::new(RetryPolicy::default(), BreakerConfig::default());
    router.add_provider(ProviderSettings {
        id: "mock".into(),
        api: Api::OpenAiCompletions,
        base_url: format!("{}/v1", model.url()),
        api_key: None,
        headers: Vec::new(),
        timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        max_tokens: None,
        models: Vec::new(),
    });
    let runtime = Arc::new(AgentRuntime::new(store as Arc<dyn Store>, Arc::new(router), ToolRegistry::builtin(), None));
    let gateway = Gateway::new(loaded, runtime, AuthSettings { token: Some("secret-token".into()), password: None });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(openclaw_gateway::serve(gateway, listener, async move {
        let _ = stopped.await;
    }));
    Fixture { _dir: dir, model, addr, _shutdown: shutdown }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(fx: &Fixture) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/", fx.addr)).await.unwrap();
    let challenge = next_json(&mut socket).await;
    assert_eq!(challenge["type"], "event");
    assert_eq!(challenge["event"], "connect.challenge");
    assert!(challenge["payload"]["nonce"].is_string() && challenge["payload"]["ts"].is_i64());
    socket
}

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

async fn send(socket: &mut Socket, value: Value) {
    socket.send(Message::Text(value.to_string().into())).await.unwrap();
}

fn connect_frame(token: &str, min: u32, max: u32, scopes: Value) -> Value {
    json!({"type": "req", "id": "1:c", "method": "connect", "params": {
        "minProtocol": min, "maxProtocol": max,
        "client": {"id": "cli", "version": "test", "platform": "linux", "mode": "cli"},
        "caps": [], "auth": {"token": token}, "role": "operator", "scopes": scopes}})
}

async fn close_code(socket: &mut Socket) -> u16 {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap() {
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

async fn authed(fx: &Fixture, scopes: Value) -> Socket {
    let mut socket = open(fx).await;
    send(&mut socket, connect_frame("secret-token", 4, 4, scopes)).await;
    let hello = next_json(&mut socket).await;
    assert_eq!(hello["ok"], true, "{hello}");
    socket
}

#[tokio::test]
async fn hello_ok_has_the_seven_keys_and_honest_features() {
    let fx = start().await;
    let mut socket = open(&fx).await;
    send(&mut socket, connect_frame("secret-token", 3, 4, json!(["operator.read"]))).await;
    let hello = next_json(&mut socket).await;
    assert_eq!(hello["type"], "res");
    assert_eq!(hello["id"], "1:c");
    let payload = &hello["payload"];
    for key in ["type", "protocol", "server", "features", "snapshot", "auth", "policy"] {
        assert!(!payload[key].is_null(), "hello-ok misses {key}: {payload}");
    }
    assert_eq!(payload["type"], "hello-ok");
    assert_eq!(payload["protocol"], 4);
    assert_eq!(payload["auth"]["scopes"], json!(["operator.read"]));
    assert_eq!(payload["policy"]["maxPayload"], 26_214_400);
    let methods: Vec<&str> =
        payload["features"]["methods"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert!(methods.contains(&"health") && methods.contains(&"agent"));

    send(&mut socket, json!({"type": "req", "id": "2", "method": "health", "params": {}})).await;
    let health = next_json(&mut socket).await;
    assert_eq!(health["ok"], true);
    assert_eq!(health["payload"]["defaultAgentId"], "main");
    assert!(health["payload"]["agents"][0]["sessions"]["path"].is_string(), "the reference renderer reads this");

    send(&mut socket, json!({"type": "req", "id": "3", "method": "no.such", "params": {}})).await;
    let unknown = next_json(&mut socket).await;
    assert_eq!(unknown["error"], json!({"code": "INVALID_REQUEST", "message": "unknown method: no.such"}));

    send(
        &mut socket,
        json!({"type": "req", "id": "4", "method": "agent", "params": {"message": "hi", "idempotencyKey": "k"}}),
    )
    .await;
    let forbidden = next_json(&mut socket).await;
    assert_eq!(forbidden["error"]["code"], "FORBIDDEN");
    assert_eq!(forbidden["error"]["details"]["code"], "MISSING_SCOPE");
    assert_eq!(forbidden["error"]["details"]["missingScope"], "operator.write");
}

#[tokio::test]
async fn handshake_failures_close_with_the_reference_codes() {
    let fx = start().await;
    let mut socket = open(&fx).await;
    send(&mut socket, connect_frame("wrong", 4, 4, json!(["operator.read"]))).await;
    let answer = next_json(&mut socket).await;
    assert_eq!(answer["ok"], false);
    assert_eq!(answer["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH");
    assert_eq!(close_code(&mut socket).await, 1008);

    let mut socket = open(&fx).await;
    send(&mut socket, connect_frame("secret-token", 2, 3, json!(["operator.read"]))).await;
    let answer = next_json(&mut socket).await;
    assert_eq!(answer["error"]["details"]["code"], "PROTOCOL_MISMATCH");
    assert_eq!(answer["error"]["details"]["expectedProtocol"], 4);
    assert_eq!(close_code(&mut socket).await, 1002);

    let mut socket = open(&fx).await;
    send(&mut socket, json!({"type": "req", "id": "1", "method": "health", "params": {}})).await;
    let answer = next_json(&mut socket).await;
    assert_eq!(answer["error"]["details"]["code"], "CONNECT_REQUIRED");
    assert_eq!(close_code(&mut socket).await, 1002);

    let mut socket = open(&fx).await;
    let mut huge = connect_frame("secret-token", 4, 4, json!([]));
    huge["params"]["client"]["displayName"] = json!("x".repeat(1024 * 1024));
    send(&mut socket, huge).await;
    assert_eq!(close_code(&mut socket).await, 1009);

    let mut socket = open(&fx).await;
    let mut missing = connect_frame("secret-token", 4, 4, json!([]));
    missing["params"]["auth"] = json!({});
    send(&mut socket, missing).await;
    let answer = next_json(&mut socket).await;
    assert_eq!(answer["error"]["details"]["code"], "AUTH_TOKEN_MISSING");
}

#[tokio::test]
async fn agent_answers_twice_under_one_id_and_streams_events() {
    let fx = start().await;
    fx.model.push(openai::text("Hello from the agent.").paced(Duration::from_millis(5)));
    let mut socket = authed(&fx, json!(["operator.write"])).await;
    send(
        &mut socket,
        json!({"type": "req", "id": "9", "method": "agent",
        "params": {"message": "hi", "agentId": "main", "idempotencyKey": "run-123", "deliver": false, "timeout": 600}}),
    )
    .await;
    let accepted = next_json(&mut socket).await;
    assert_eq!(accepted["id"], "9");
    assert_eq!(accepted["payload"]["status"], "accepted");
    assert_eq!(accepted["payload"]["runId"], "run-123");
    assert_eq!(accepted["payload"]["sessionKey"], "agent:main:main");
    let mut deltas = String::new();
    let mut seqs = Vec::new();
    let mut streams = Vec::new();
    let final_frame = loop {
        let frame = next_json(&mut socket).await;
        if frame["type"] == "event" {
            assert_eq!(frame["event"], "agent");
            seqs.push(frame["payload"]["seq"].as_u64().unwrap());
            let stream = frame["payload"]["stream"].as_str().unwrap().to_owned();
            if streams.last() != Some(&stream) {
                streams.push(stream);
            }
            if frame["payload"]["stream"] == "assistant" {
                deltas.push_str(frame["payload"]["data"]["delta"].as_str().unwrap());
                assert_eq!(frame["payload"]["data"]["text"].as_str().unwrap(), deltas, "text is cumulative");
            }
            continue;
        }
        break frame;
    };
    assert_eq!(deltas, "Hello from the agent.");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "event seq is monotonic: {seqs:?}");
    assert_eq!(streams, ["lifecycle", "run_status", "assistant", "usage", "lifecycle"], "the reference's order");
    assert_eq!(final_frame["id"], "9");
    assert_eq!(final_frame["payload"]["status"], "ok");
    assert_eq!(final_frame["payload"]["result"]["payloads"][0]["text"], "Hello from the agent.");

    send(
        &mut socket,
        json!({"type": "req", "id": "10", "method": "chat.history", "params": {"sessionKey": "agent:main:main"}}),
    )
    .await;
    let history = next_json(&mut socket).await;
    let messages = history["payload"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[1]["content"][0]["text"], "Hello from the agent.");
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status: u16 = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn health_endpoints_answer_without_auth() {
    let fx = start().await;
    assert_eq!(http_get(fx.addr, "/healthz").await, (200, json!({"ok": true, "status": "live"})));
    let (status, ready) = http_get(fx.addr, "/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(ready["ready"], true);
    let (status, startup) = http_get(fx.addr, "/startupz").await;
    assert_eq!(status, 200);
    assert_eq!(startup["status"], "started");
}

#[tokio::test]
async fn chat_send_streams_deltas_in_order_before_the_final() {
    let fx = start().await;
    fx.model.push(openai::text("alpha beta gamma delta").paced(Duration::from_millis(5)));
    let mut socket = authed(&fx, json!(["operator.write"])).await;
    send(
        &mut socket,
        json!({"type": "req", "id": "c1", "method": "chat.send",
        "params": {"sessionKey": "agent:main:webchat", "message": "go", "idempotencyKey": "chat-1"}}),
    )
    .await;
    let started = next_json(&mut socket).await;
    assert_eq!(started["payload"], json!({"runId": "chat-1", "status": "started"}));
    let mut states = Vec::new();
    let mut seqs = Vec::new();
    let mut cumulative = String::new();
    loop {
        let frame = next_json(&mut socket).await;
        assert_eq!(frame["event"], "chat", "{frame}");
        let payload = &frame["payload"];
        assert_eq!(payload["runId"], "chat-1");
        assert_eq!(payload["sessionKey"], "agent:main:webchat");
        seqs.push(payload["seq"].as_u64().unwrap());
        let state = payload["state"].as_str().unwrap().to_owned();
        if state == "delta" {
            cumulative.push_str(payload["deltaText"].as_str().unwrap());
            assert_eq!(payload["message"]["content"][0]["text"].as_str().unwrap(), cumulative);
        }
        states.push(state.clone());
        if state == "final" {
            assert_eq!(payload["message"]["content"][0]["text"], "alpha beta gamma delta");
            break;
        }
    }
    assert!(states.len() >= 6, "status, four word deltas, then the final: {states:?}");
    assert_eq!(states[0], "status");
    assert!(states[1..states.len() - 1].iter().all(|s| s == "delta"), "{states:?}");
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "seq increases by one");

    // Another client is unaffected by bad frames on this one.
    let mut other = open(&fx).await;
    send(&mut other, json!({"type": "oops"})).await;
    let answer = next_json(&mut other).await;
    assert_eq!(answer["ok"], false);
    assert_eq!(close_code(&mut other).await, 1002);
    send(&mut socket, json!({"type": "req", "id": "h", "method": "health", "params": {}})).await;
    assert_eq!(next_json(&mut socket).await["ok"], true);
}

#[tokio::test]
async fn abort_wait_reset_delete_and_graceful_shutdown() {
    let fx = start().await;
    // A slow answer: 40 words, 30 ms apart.
    let long = (0..40).map(|i| format!("w{i}")).collect::<Vec<_>>().join(" ");
    fx.model.push(openai::text(&long).paced(Duration::from_millis(30)));
    let mut socket = authed(&fx, json!(["operator.write"])).await;
    send(
        &mut socket,
        json!({"type": "req", "id": "s1", "method": "chat.send",
        "params": {"sessionKey": "agent:main:abort", "message": "talk", "idempotencyKey": "run-abort"}}),
    )
    .await;
    assert_eq!(next_json(&mut socket).await["payload"]["status"], "started");
    // Wait for the first delta, then abort from a second connection.
    loop {
        let frame = next_json(&mut socket).await;
        if frame["payload"]["state"] == "delta" {
            break;
        }
    }
    let mut control = authed(&fx, json!(["operator.write", "operator.admin"])).await;
    // The same idempotency key while the run is in progress names the run already going; no second run starts.
    send(
        &mut control,
        json!({"type": "req", "id": "dup", "method": "chat.send",
        "params": {"sessionKey": "agent:main:abort", "message": "again", "idempotencyKey": "run-abort"}}),
    )
    .await;
    let duplicate = next_json(&mut control).await;
    assert_eq!(duplicate["ok"], true, "{duplicate}");
    assert_eq!(duplicate["payload"]["runId"], "run-abort");
    assert_eq!(duplicate["payload"]["status"], "in_flight");
    send(
        &mut control,
        json!({"type": "req", "id": "a", "method": "chat.abort", "params": {"sessionKey": "agent:main:abort"}}),
    )
    .await;
    let aborted = next_json(&mut control).await;
    assert_eq!(aborted["payload"]["aborted"], true, "{aborted}");
    assert_eq!(aborted["payload"]["runIds"], json!(["run-abort"]));
    let last = loop {
        let frame = next_json(&mut socket).await;
        if frame["event"] == "chat" && frame["payload"]["state"] != "delta" {
            break frame;
        }
    };
    assert_eq!(last["payload"]["state"], "aborted", "{last}");
    send(&mut control, json!({"type": "req", "id": "w", "method": "agent.wait", "params": {"runId": "run-abort"}}))
        .await;
    assert_eq!(next_json(&mut control).await["payload"]["status"], "aborted");
    send(&mut control, json!({"type": "req", "id": "w2", "method": "agent.wait", "params": {"runId": "nope"}})).await;
    assert_eq!(next_json(&mut control).await["error"]["message"], "unknown run: nope");

    // A completed run can be waited for after the fact.
    fx.model.push(openai::text("done quickly"));
    send(
        &mut control,
        json!({"type": "req", "id": "g", "method": "agent",
        "params": {"message": "hi", "idempotencyKey": "run-ok", "sessionKey": "agent:main:abort"}}),
    )
    .await;
    assert_eq!(next_json(&mut control).await["payload"]["status"], "accepted");
    let final_frame = loop {
        let frame = next_json(&mut control).await;
        if frame["type"] == "res" {
            break frame;
        }
    };
    send(&mut control, json!({"type": "req", "id": "w3", "method": "agent.wait", "params": {"runId": "run-ok"}})).await;
    assert_eq!(next_json(&mut control).await["payload"], final_frame["payload"]);

    // reset starts a new window; delete removes the key.
    send(
        &mut control,
        json!({"type": "req", "id": "r", "method": "sessions.reset", "params": {"key": "agent:main:abort"}}),
    )
    .await;
    assert_eq!(next_json(&mut control).await["payload"]["reset"], true);
    send(
        &mut control,
        json!({"type": "req", "id": "d", "method": "sessions.delete", "params": {"key": "agent:main:abort"}}),
    )
    .await;
    assert_eq!(next_json(&mut control).await["payload"]["windows"], 1);
    send(
        &mut control,
        json!({"type": "req", "id": "h", "method": "chat.history", "params": {"sessionKey": "agent:main:abort"}}),
    )
    .await;
    assert_eq!(next_json(&mut control).await["payload"]["messages"], json!([]));

    // Shutdown: every connection gets `shutdown` and a 1001 close; /readyz would answer 503 meanwhile.
    drop(fx._shutdown);
    let frame = loop {
        // Other clients leaving first show up as `presence` events.
        let frame = next_json(&mut control).await;
        if frame["event"] != "presence" {
            break frame;
        }
    };
    assert_eq!(frame["event"], "shutdown", "{frame}");
    loop {
        match tokio::time::timeout(Duration::from_secs(5), control.next()).await.unwrap() {
            Some(Ok(Message::Close(Some(close)))) => {
                assert_eq!(u16::from(close.code), 1001);
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn exec_approvals_are_asked_over_the_gateway() {
    let fx = start_with(json!({"exec": {"ask": "always"}})).await;
    fx.model.push(openai::tool_call("c1", "exec", &json!({"command": "echo approved-run"}), 50));
    fx.model.push(openai::tool_call("c2", "exec", &json!({"command": "echo refused-run"}), 50));
    fx.model.push(openai::tool_call("c3", "exec", &json!({"command": "echo always-run"}), 50));
    // Allowed for good a moment ago: runs without asking again.
    fx.model.push(openai::tool_call("c4", "exec", &json!({"command": "echo always-run"}), 50));
    fx.model.push(openai::text("Done."));
    let mut socket = authed(&fx, json!(["operator.write", "operator.approvals"])).await;
    send(
        &mut socket,
        json!({"type": "req", "id": "9", "method": "agent",
        "params": {"message": "run things", "agentId": "main", "idempotencyKey": "run-ask"}}),
    )
    .await;
    let mut requested = Vec::new();
    let mut resolved = Vec::new();
    let final_frame = loop {
        let frame = next_json(&mut socket).await;
        if frame["event"] == "exec.approval.requested" {
            let payload = &frame["payload"];
            let command = payload["request"]["command"].as_str().unwrap().to_owned();
            assert_eq!(payload["request"]["agentId"], "main");
            assert!(payload["expiresAtMs"].as_i64().unwrap() > payload["createdAtMs"].as_i64().unwrap());
            let decision = match command.as_str() {
                "echo approved-run" => "allow-once",
                "echo always-run" => "allow-always",
                _ => "deny",
            };
            requested.push(command);
            send(
                &mut socket,
                json!({"type": "req", "id": format!("r{}", requested.len()), "method": "exec.approval.resolve",
                "params": {"id": payload["id"], "decision": decision}}),
            )
            .await;
        } else if frame["event"] == "exec.approval.resolved" {
            resolved.push(frame["payload"]["decision"].as_str().unwrap().to_owned());
        } else if frame["type"] == "res" && frame["id"] == "9" && frame["payload"]["status"] != "accepted" {
            break frame;
        } else if frame["type"] == "res" && frame["id"].as_str().is_some_and(|id| id.starts_with('r')) {
            assert_eq!(frame["ok"], true, "{frame}");
        }
    };
    assert_eq!(final_frame["payload"]["status"], "ok", "{final_frame}");
    assert_eq!(requested, ["echo approved-run", "echo refused-run", "echo always-run"]);
    assert_eq!(resolved, ["allow-once", "deny", "allow-always"]);
    let requests = fx.model.requests();
    let result = |index: usize| {
        requests[index].json()["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned()
    };
    assert_eq!(result(1), "approved-run\n[exit code 0]");
    assert!(result(2).contains("not approved"), "{}", result(2));
    assert_eq!(result(3), "always-run\n[exit code 0]");
    assert_eq!(result(4), "always-run\n[exit code 0]");

    send(
        &mut socket,
        json!({"type": "req", "id": "x", "method": "exec.approval.resolve", "params": {"id": "nope", "decision": "deny"}}),
    )
    .await;
    let error = next_json(&mut socket).await;
    assert_eq!(error["ok"], false);
    assert!(error["error"]["message"].as_str().unwrap().contains("no pending approval"), "{error}");
}

/// A WebSocket client on a bare TCP socket that sees the frames as the gateway sent them, not reassembled.
struct RawSocket(tokio::net::TcpStream);

impl RawSocket {
    /// Opens the socket with the RFC 6455 example key and checks the answer's accept key.
    async fn open(addr: std::net::SocketAddr) -> Self {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                       Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.unwrap());
        }
        let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
        RawSocket(stream)
    }

    /// One frame: whether it is final, its opcode, its payload (a server never masks).
    async fn frame(&mut self) -> (bool, u8, Vec<u8>) {
        let mut head = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(10), self.0.read_exact(&mut head)).await.unwrap().unwrap();
        assert_eq!(head[1] & 0x80, 0, "a server frame is never masked");
        let len = match head[1] & 0x7f {
            126 => u64::from(self.0.read_u16().await.unwrap()),
            127 => self.0.read_u64().await.unwrap(),
            n => u64::from(n),
        };
        let mut payload = vec![0; usize::try_from(len).unwrap()];
        self.0.read_exact(&mut payload).await.unwrap();
        (head[0] & 0x80 != 0, head[0] & 0x0f, payload)
    }

    /// One text message and the payload size of each frame it came in. Each frame is checked to be UTF-8 on its
    /// own: frames are cut between characters.
    async fn message(&mut self) -> (Value, Vec<usize>) {
        let (mut fin, opcode, mut bytes) = self.frame().await;
        assert_eq!(opcode, 1, "a message starts with a text frame");
        assert!(std::str::from_utf8(&bytes).is_ok(), "a frame cut inside a character");
        let mut sizes = vec![bytes.len()];
        while !fin {
            let (next_fin, opcode, more) = self.frame().await;
            assert_eq!(opcode, 0, "the rest of a message comes in continuation frames");
            assert!(std::str::from_utf8(&more).is_ok(), "a frame cut inside a character");
            sizes.push(more.len());
            bytes.extend(more);
            fin = next_fin;
        }
        (serde_json::from_slice(&bytes).unwrap(), sizes)
    }

    async fn send(&mut self, value: Value) {
        let payload = value.to_string().into_bytes();
        let mask = [0x12u8, 0x34, 0x56, 0x78];
        let mut frame = vec![0x81];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n => {
                frame.push(0x80 | 126);
                frame.extend(u16::try_from(n).unwrap().to_be_bytes());
            }
        }
        frame.extend(mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.0.write_all(&frame).await.unwrap();
    }
}

#[tokio::test]
async fn a_long_message_arrives_whole_in_frames_of_at_most_2_kib() {
    let fx = start().await;
    // Two-, three- and four-byte characters, so that frame boundaries fall inside characters unless cut with care.
    let answer = "é漢🙂x".repeat(1500);
    fx.model.push(openai::text(&answer));
    let mut socket = RawSocket::open(fx.addr).await;
    assert_eq!(socket.message().await.0["event"], "connect.challenge");
    socket.send(connect_frame("secret-token", 4, 4, json!(["operator.write"]))).await;
    assert_eq!(socket.message().await.0["ok"], true);
    socket
        .send(json!({"type": "req", "id": "a", "method": "agent",
            "params": {"message": "hi", "agentId": "main", "idempotencyKey": "long-1", "deliver": false}}))
        .await;
    let (mut largest, mut longest_split) = (0, 0);
    let final_frame = loop {
        let (frame, sizes) = socket.message().await;
        largest = largest.max(sizes.iter().copied().max().unwrap_or_default());
        longest_split = longest_split.max(sizes.len());
        if frame["type"] == "res" && frame["payload"]["status"] != "accepted" {
            break frame;
        }
    };
    assert_eq!(final_frame["payload"]["result"]["payloads"][0]["text"], answer.as_str(), "the text arrives intact");
    assert!(largest <= 2048, "no frame is over 2 KiB: the largest had {largest} bytes");
    assert!(longest_split >= 6, "the ~15 KB answer came in several frames: at most {longest_split}");
}

#[tokio::test]
async fn a_plain_http_request_to_the_websocket_endpoint_says_what_to_do() {
    let fx = start().await;
    for (request, status, says) in [
        (
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            405,
            "the method must be GET",
        ),
        (
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            400,
            "Connection header must include `upgrade`",
        ),
        (
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            400,
            "Sec-WebSocket-Version header must be 13",
        ),
        (
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n",
            400,
            "Sec-WebSocket-Key header is missing",
        ),
    ] {
        let mut stream = tokio::net::TcpStream::connect(fx.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut response)).await.unwrap().unwrap();
        let response = String::from_utf8_lossy(&response[..n]);
        assert!(response.starts_with(&format!("HTTP/1.1 {status}")), "{request:?} → {response}");
        assert!(response.contains(says) && response.contains("connect with a WebSocket client"), "{response}");
    }
}
