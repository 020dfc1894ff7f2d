//! A gateway-protocol (v4) WebSocket client for tests and the benchmark load: connect with a token, then requests
//! awaited to their final response. Works against ours, the reference and the bench's hello yardstick alike.

use std::sync::atomic::{AtomicU64, Ordering};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Makes every idempotency key of the run unique.
static KEYS: AtomicU64 = AtomicU64::new(0);

/// What went wrong on a connection.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    #[error("WebSocket: {0}")]
    Socket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("the connection closed before the answer")]
    Closed,
    #[error("the gateway refused: {0}")]
    Refused(String),
}

/// One connected, authenticated client.
pub struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Client {
    /// Connects to `url`, waits for the challenge and completes `connect` with `token`.
    ///
    /// # Errors
    /// [`WsError`] when the socket fails or the gateway refuses the connect.
    pub async fn connect(url: &str, token: &str) -> Result<Self, WsError> {
        let (socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
        let mut client = Client { socket, next_id: 0 };
        // The gateway speaks first (connect.challenge); answer it.
        client.next_frame().await?;
        let params = json!({
            "minProtocol": 4, "maxProtocol": 4,
            "client": {"id": "cli", "version": "0.0.1", "platform": "linux", "mode": "cli"},
            "role": "operator", "scopes": ["operator.read", "operator.write", "operator.admin"],
            "caps": [], "auth": {"token": token}, "userAgent": "openclaw-testkit",
        });
        let answer = client.request("connect", params).await?;
        if answer["ok"] != true {
            return Err(WsError::Refused(answer["error"].to_string()));
        }
        Ok(client)
    }

    async fn next_frame(&mut self) -> Result<Value, WsError> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(text.as_str()).unwrap_or(Value::Null)),
                Some(Ok(Message::Close(_))) | None => return Err(WsError::Closed),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
            }
        }
    }

    /// Sends a request and returns its first response frame.
    async fn request(&mut self, method: &str, params: Value) -> Result<Value, WsError> {
        let id = self.send(method, params).await?;
        self.response(&id, false).await
    }

    async fn send(&mut self, method: &str, params: Value) -> Result<String, WsError> {
        self.next_id += 1;
        let id = format!("b{}", self.next_id);
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.socket.send(Message::text(frame.to_string())).await?;
        Ok(id)
    }

    /// Sends a request and returns its final response frame (an `agent` run answers `accepted` first).
    ///
    /// # Errors
    /// [`WsError`] when the connection fails.
    pub async fn request_final(&mut self, method: &str, params: Value) -> Result<Value, WsError> {
        let id = self.send(method, params).await?;
        self.response(&id, true).await
    }

    /// The response to `id`; with `last`, skips an `accepted` one for the final.
    async fn response(&mut self, id: &str, last: bool) -> Result<Value, WsError> {
        loop {
            let frame = self.next_frame().await?;
            if frame["type"] != "res" || frame["id"] != id {
                continue;
            }
            if last && frame["ok"] == true && frame["payload"]["status"] == "accepted" {
                continue;
            }
            return Ok(frame);
        }
    }

    /// Stays connected as an idle client does: reads (and drops) what the gateway sends — ticks, presence — until
    /// the connection closes.
    pub async fn idle(mut self) {
        while self.next_frame().await.is_ok() {}
    }

    /// One `agent` turn in session `session_key` to its final response; `Ok(false)` when the final is an error.
    ///
    /// # Errors
    /// [`WsError`] when the connection fails.
    pub async fn agent(&mut self, message: &str, session_key: &str) -> Result<bool, WsError> {
        let key = format!("testkit-{}-{}", std::process::id(), KEYS.fetch_add(1, Ordering::SeqCst));
        let params = json!({"message": message, "agentId": "main", "sessionKey": session_key, "idempotencyKey": key});
        Ok(self.request_final("agent", params).await?["ok"] == true)
    }
}
