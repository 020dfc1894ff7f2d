//! A thin Telegram Bot API client: `POST <apiRoot>/bot<token>/<method>` with JSON, `{ok, result}` or
//! `{ok: false, error_code, description, parameters.retry_after}` back.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::SendError;

/// An API failure.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The HTTP exchange failed (connection refused, timeout).
    Network(String),
    /// Telegram answered `ok: false`.
    Api { code: u16, description: String, retry_after: Option<u64> },
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Network(error) => write!(f, "cannot reach the Telegram Bot API: {error}"),
            ApiError::Api { code, description, .. } => write!(f, "Telegram error {code}: {description}"),
        }
    }
}

impl From<ApiError> for SendError {
    fn from(error: ApiError) -> Self {
        match &error {
            ApiError::Network(_) => SendError::Transient(error.to_string()),
            ApiError::Api { retry_after: Some(seconds), .. } => {
                SendError::RateLimited { retry_after_ms: seconds.saturating_mul(1000) }
            }
            ApiError::Api { code: 429, .. } => SendError::RateLimited { retry_after_ms: 1000 },
            ApiError::Api { code, .. } if *code >= 500 => SendError::Transient(error.to_string()),
            ApiError::Api { .. } => SendError::Permanent(error.to_string()),
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

/// One bot's client.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The base URL contains the token.
        f.debug_struct("Api").field("base", &"<redacted>").finish()
    }
}

impl Api {
    pub fn new(http: reqwest::Client, api_root: &str, token: &str) -> Self {
        Api { http, base: format!("{}/bot{token}", api_root.trim_end_matches('/')) }
    }

    /// Calls a method; `timeout` bounds the whole exchange.
    pub async fn call(&self, method: &str, body: &Value, timeout: Duration) -> Result<Value, ApiError> {
        let response = self
            .http
            .post(format!("{}/{method}", self.base))
            .json(body)
            .timeout(timeout)
            .send()
            .await
            // The URL holds the token: report the failure without it.
            .map_err(|e| ApiError::Network(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let retry_header = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok());
        let text = response.text().await.map_err(|e| ApiError::Network(e.without_url().to_string()))?;
        match serde_json::from_str::<Envelope>(&text) {
            Ok(envelope) if envelope.ok => Ok(envelope.result),
            Ok(envelope) => Err(ApiError::Api {
                code: envelope.error_code.unwrap_or(status),
                description: envelope.description.unwrap_or_else(|| format!("HTTP {status}")),
                retry_after: envelope.parameters.and_then(|p| p.retry_after).or(retry_header),
            }),
            Err(_) => Err(ApiError::Api {
                code: if status == 200 { 502 } else { status },
                description: format!("HTTP {status}: {}", text.chars().take(200).collect::<String>()),
                retry_after: retry_header,
            }),
        }
    }
}
