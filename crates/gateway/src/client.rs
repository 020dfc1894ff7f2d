//! A client for the gateway protocol v4, used by the `openclaw` CLI (`gateway call|health|status`, `agent`, `logs`):
//! it waits for `connect.challenge`, sends `connect` with the shared token or password, and then matches responses
//! to requests by id, handing events to the caller as they arrive.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use openclaw_protocol::gateway::PROTOCOL_VERSION;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// A client failure.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot connect to the gateway at {url}: {reason} (fix: start it with `openclaw gateway run`, or pass --url)"
    )]
    Connect { url: String, reason: String },
    #[error("the gateway refused the connection: {0}")]
    Refused(String),
    #[error("{code}: {message}")]
    Rpc { code: String, message: String, details: Value },
    #[error("the gateway closed the connection")]
    Closed,
    #[error("no answer from the gateway within {0}s")]
    Timeout(u64),
    #[error("the gateway sent something that is not protocol v4: {0}")]
    Protocol(String),
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A connected, authenticated client.
pub struct GatewayClient {
    socket: Socket,
    next_id: u64,
}

/// How to reach and authenticate to a gateway.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    pub url: String,
    pub token: Option<String>,
    pub password: Option<String>,
    pub scopes: Vec<String>,
    pub client_id: String,
    pub mode: String,
}

impl GatewayClient {
    /// Connects and completes the handshake.
    ///
    /// # Errors
    /// [`ClientError`] when the gateway is unreachable or refuses the connection.
    pub async fn connect(options: &ClientOptions) -> Result<Self, ClientError> {
        let connect = tokio_tungstenite::connect_async(options.url.as_str());
        let (socket, _) = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .map_err(|_| ClientError::Connect { url: options.url.clone(), reason: "timed out".to_owned() })?
            .map_err(|error| ClientError::Connect { url: options.url.clone(), reason: error.to_string() })?;
        let mut client = GatewayClient { socket, next_id: 0 };
        let challenge = client.next_frame(Duration::from_secs(15)).await?;
        if challenge["event"] != "connect.challenge" {
            return Err(ClientError::Protocol(format!("expected connect.challenge, got {challenge}")));
        }
        let mut auth = json!({});
        if let Some(token) = &options.token {
            auth["token"] = json!(token);
        }
        if let Some(password) = &options.password {
            auth["password"] = json!(password);
        }
        let params = json!({
            "minProtocol": PROTOCOL_VERSION, "maxProtocol": PROTOCOL_VERSION,
            "client": {"id": options.client_id, "version": crate::VERSION, "platform": std::env::consts::OS, "mode": options.mode},
            "caps": [], "auth": auth, "role": "operator", "scopes": options.scopes,
        });
        let hello = client.request("connect", params, &mut |_| {}).await.map_err(|error| match error {
            ClientError::Rpc { message, .. } => ClientError::Refused(message),
            other => other,
        })?;
        if hello["type"] != "hello-ok" {
            return Err(ClientError::Protocol(format!("expected hello-ok, got {hello}")));
        }
        Ok(client)
    }

    async fn next_frame(&mut self, wait: Duration) -> Result<Value, ClientError> {
        loop {
            let message = tokio::time::timeout(wait, self.socket.next())
                .await
                .map_err(|_| ClientError::Timeout(wait.as_secs()))?
                .ok_or(ClientError::Closed)?
                .map_err(|_| ClientError::Closed)?;
            match message {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str())
                        .map_err(|error| ClientError::Protocol(error.to_string()));
                }
                Message::Close(_) => return Err(ClientError::Closed),
                _ => {}
            }
        }
    }

    /// Sends a request and waits for its final response; events (and an `accepted` first answer) go to `on_event`.
    ///
    /// # Errors
    /// [`ClientError::Rpc`] for an error response, or a transport failure.
    pub async fn request(
        &mut self,
        method: &str,
        params: Value,
        on_event: &mut (dyn FnMut(&Value) + Send),
    ) -> Result<Value, ClientError> {
        self.next_id += 1;
        let id = format!("{}:{}", self.next_id, uuid::Uuid::new_v4());
        let frame = json!({"type": "req", "id": id, "method": method, "params": params});
        self.socket.send(Message::Text(frame.to_string().into())).await.map_err(|_| ClientError::Closed)?;
        loop {
            let frame = self.next_frame(Duration::from_secs(3600)).await?;
            match frame["type"].as_str() {
                Some("event") => on_event(&frame),
                Some("res") if frame["id"] == id => {
                    if frame["ok"] != true {
                        let error = &frame["error"];
                        return Err(ClientError::Rpc {
                            code: error["code"].as_str().unwrap_or("ERROR").to_owned(),
                            message: error["message"].as_str().unwrap_or("request failed").to_owned(),
                            details: error["details"].clone(),
                        });
                    }
                    // Two-phase methods acknowledge first; the final answer follows under the same id.
                    if frame["payload"]["status"] == "accepted" {
                        on_event(&frame);
                        continue;
                    }
                    return Ok(frame["payload"].clone());
                }
                _ => {}
            }
        }
    }
}
