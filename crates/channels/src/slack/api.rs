//! A thin Slack Web API client: `POST <apiBaseUrl>/<method>` with a JSON body, or `GET` with query parameters for
//! the read methods, `Authorization: Bearer <token>` (the bot token, or the app token for
//! `apps.connections.open`; never in a URL or a log); `{ok: false, error}` answers and HTTP 429 with `Retry-After`
//! read.

use std::time::Duration;

use serde_json::Value;

use crate::SendError;

/// A failed call.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The HTTP exchange failed (connection refused, timeout).
    Network(String),
    /// HTTP 429 (or `error: ratelimited`): wait this long.
    RateLimited { retry_after_ms: u64 },
    /// Slack answered `ok: false` (or a status that is not 2xx): its error code.
    Slack { status: u16, error: String },
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Network(error) => write!(f, "cannot reach Slack: {error}"),
            ApiError::RateLimited { retry_after_ms } => write!(f, "Slack rate limit: retry after {retry_after_ms} ms"),
            ApiError::Slack { status, error } => write!(f, "Slack error {error} (HTTP {status})"),
        }
    }
}

impl From<ApiError> for SendError {
    fn from(error: ApiError) -> Self {
        match &error {
            ApiError::Network(_) => SendError::Transient(error.to_string()),
            ApiError::RateLimited { retry_after_ms } => SendError::RateLimited { retry_after_ms: *retry_after_ms },
            ApiError::Slack { status, .. } if *status >= 500 || *status == 408 => {
                SendError::Transient(error.to_string())
            }
            ApiError::Slack { error: code, .. }
                if matches!(
                    code.as_str(),
                    "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout"
                ) =>
            {
                SendError::Transient(error.to_string())
            }
            ApiError::Slack { .. } => SendError::Permanent(error.to_string()),
        }
    }
}

/// Which token a call carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    Bot,
    App,
}

/// One account's client.
pub struct Api {
    http: reqwest::Client,
    base: String,
    bot_token: String,
    app_token: Option<String>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("base", &self.base).field("tokens", &"<redacted>").finish()
    }
}

impl Api {
    pub fn new(http: reqwest::Client, base: &str, bot_token: String, app_token: Option<String>) -> Self {
        Api { http, base: base.trim_end_matches('/').to_owned(), bot_token, app_token }
    }

    /// `POST <method>` with a JSON body.
    pub async fn post(&self, method: &str, body: &Value, token: Token) -> Result<Value, ApiError> {
        let request = self.http.post(format!("{}/{method}", self.base)).json(body);
        self.send(request, token).await
    }

    /// `GET <method>?<query>` (the read methods take form parameters, not JSON).
    pub async fn get(&self, method: &str, query: &[(&str, &str)]) -> Result<Value, ApiError> {
        let request = self.http.get(format!("{}/{method}", self.base)).query(query);
        self.send(request, Token::Bot).await
    }

    async fn send(&self, request: reqwest::RequestBuilder, token: Token) -> Result<Value, ApiError> {
        let token = match token {
            Token::Bot => self.bot_token.as_str(),
            Token::App => self.app_token.as_deref().unwrap_or_default(),
        };
        let response = request
            .bearer_auth(token)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| ApiError::Network(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok());
        let text = response.text().await.map_err(|e| ApiError::Network(e.without_url().to_string()))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == 429 || value["error"] == "ratelimited" {
            return Err(ApiError::RateLimited { retry_after_ms: retry_after.unwrap_or(1).saturating_mul(1000) });
        }
        if (200..300).contains(&status) && value["ok"] == true {
            return Ok(value);
        }
        Err(ApiError::Slack {
            status: if (200..300).contains(&status) { 400 } else { status },
            error: value["error"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("HTTP {status}: {}", text.chars().take(200).collect::<String>())),
        })
    }
}
