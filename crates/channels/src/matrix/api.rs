//! A thin Matrix client-server API client: JSON over HTTP with `Authorization: Bearer <token>` (never in the URL,
//! so errors and logs cannot carry it), Matrix's `{errcode, error, retry_after_ms}` errors read.

use std::sync::RwLock;
use std::time::Duration;

use serde_json::Value;

use crate::SendError;

/// A failed call.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The HTTP exchange failed (connection refused, timeout).
    Network(String),
    /// The homeserver answered an error.
    Api { status: u16, code: String, message: String, retry_after_ms: Option<u64> },
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Network(error) => write!(f, "cannot reach the Matrix homeserver: {error}"),
            ApiError::Api { status, code, message, .. } => write!(f, "Matrix error {status} {code}: {message}"),
        }
    }
}

impl From<ApiError> for SendError {
    fn from(error: ApiError) -> Self {
        match &error {
            ApiError::Network(_) => SendError::Transient(error.to_string()),
            ApiError::Api { retry_after_ms: Some(wait), .. } => SendError::RateLimited { retry_after_ms: *wait },
            ApiError::Api { status: 429, .. } => SendError::RateLimited { retry_after_ms: 1000 },
            ApiError::Api { status, .. } if *status >= 500 || *status == 408 => SendError::Transient(error.to_string()),
            ApiError::Api { .. } => SendError::Permanent(error.to_string()),
        }
    }
}

/// One account's client.
pub struct Api {
    http: reqwest::Client,
    homeserver: String,
    token: RwLock<Option<String>>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("homeserver", &self.homeserver).field("token", &"<redacted>").finish()
    }
}

/// A path segment, percent-encoded (room ids hold `!` and `:`, event ids `$`).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Api {
    pub fn new(http: reqwest::Client, homeserver: &str, token: Option<String>) -> Self {
        Api { http, homeserver: homeserver.trim_end_matches('/').to_owned(), token: RwLock::new(token) }
    }

    pub fn homeserver(&self) -> &str {
        &self.homeserver
    }

    pub fn has_token(&self) -> bool {
        self.token.read().map(|token| token.is_some()).unwrap_or(false)
    }

    pub fn set_token(&self, token: &str) {
        if let Ok(mut slot) = self.token.write() {
            *slot = Some(token.to_owned());
        }
    }

    /// Calls `path` (which starts with `/_matrix/`); `timeout` bounds the whole exchange.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, ApiError> {
        let mut request = self.http.request(method, format!("{}{path}", self.homeserver)).timeout(timeout);
        let token = self.token.read().ok().and_then(|token| token.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| ApiError::Network(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let retry_header = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(|seconds| seconds.saturating_mul(1000));
        let text = response.text().await.map_err(|e| ApiError::Network(e.without_url().to_string()))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) && value.is_object() {
            return Ok(value);
        }
        Err(ApiError::Api {
            status: if status == 200 { 502 } else { status },
            code: value["errcode"].as_str().unwrap_or("M_UNKNOWN").to_owned(),
            message: value["error"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("HTTP {status}: {}", text.chars().take(200).collect::<String>())),
            retry_after_ms: value["retry_after_ms"].as_u64().or(retry_header),
        })
    }
}
