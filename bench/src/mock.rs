//! The instant mock model: an OpenAI-compatible server on loopback that answers every chat completion with "pong"
//! at once (streamed when asked), keeps connections alive and records nothing, so a long soak does not grow it.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// A running mock; it stops when the runtime does.
pub struct MockModel {
    pub addr: SocketAddr,
}

impl MockModel {
    /// Binds `127.0.0.1:port` (0 for any) and serves in the background.
    ///
    /// # Errors
    /// The bind error.
    pub async fn start(port: u16) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let app = Router::new().route("/v1/chat/completions", post(complete)).route("/v1/models", get(models));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(MockModel { addr })
    }

    /// The base URL providers are configured with (`…/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

async fn models() -> Response {
    axum::Json(json!({"object": "list", "data": [{"id": "mock-1", "object": "model", "owned_by": "bench"}]}))
        .into_response()
}

fn chunk(model: &str, delta: Value, finish: Option<&str>, usage: Option<Value>) -> String {
    let mut event = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1_763_700_000,
                           "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    if let Some(usage) = usage {
        event["usage"] = usage;
    }
    format!("data: {event}\n\n")
}

async fn complete(body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = request["model"].as_str().unwrap_or("mock-1");
    let usage = json!({"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11});
    if request["stream"].as_bool().unwrap_or(false) {
        let text = [
            chunk(model, json!({"role": "assistant", "content": "pong"}), None, None),
            chunk(model, json!({}), Some("stop"), Some(usage)),
            "data: [DONE]\n\n".to_owned(),
        ]
        .concat();
        return ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], text)
            .into_response();
    }
    axum::Json(json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_763_700_000, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}],
        "usage": usage,
    }))
    .into_response()
}
