//! The yardstick: a bare hyper server (through axum's thin router) that does the least a gateway could — `/readyz`,
//! a fixed chat completion, and a WebSocket that answers the gateway protocol's `connect` and `agent` at once. The
//! bench measures it beside `openclaw` in the same run, as the physical limit on this machine.
//!
//! Usage: `hello [PORT]` (0 = any); prints `listening on ws://ADDR` once bound.

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

async fn completion() -> Response {
    axum::Json(json!({
        "id": "chatcmpl-hello", "object": "chat.completion", "created": 1_763_700_000, "model": "hello",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}],
    }))
    .into_response()
}

async fn socket(mut socket: WebSocket) {
    let challenge = json!({"type": "event", "event": "connect.challenge", "payload": {"nonce": "n", "ts": 0}});
    if socket.send(Message::text(challenge.to_string())).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = socket.recv().await {
        let Message::Text(text) = message else { continue };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
        let id = frame["id"].clone();
        if frame["method"] == "agent" {
            let accepted = json!({"type": "res", "id": id, "ok": true, "payload": {"status": "accepted"}});
            if socket.send(Message::text(accepted.to_string())).await.is_err() {
                return;
            }
        }
        let last = json!({"type": "res", "id": id, "ok": true, "payload": {"status": "ok", "text": "pong"}});
        if socket.send(Message::text(last.to_string())).await.is_err() {
            return;
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).and_then(|port| port.parse::<u16>().ok()).unwrap_or(0);
    let app = Router::new()
        .route("/readyz", get(|| async { "ok" }))
        .route("/v1/chat/completions", post(completion))
        .route("/", get(|upgrade: WebSocketUpgrade| async move { upgrade.on_upgrade(socket) }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    // TCP_NODELAY, as the gateway sets it.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream: &mut tokio::net::TcpStream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, app).await
}
