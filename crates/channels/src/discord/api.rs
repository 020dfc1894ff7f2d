//! A thin Discord REST client (API v10): JSON with `Authorization: Bot <token>` (never in a URL or a log), the
//! per-route rate-limit buckets Discord describes in `X-RateLimit-Bucket` / `-Remaining` / `-Reset-After`, and its
//! 429s (`retry_after` in float seconds, `global`) read into a wait.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::SendError;

/// The longest wait for a bucket that is spent inside one call; a longer one is handed back as a rate limit, so
/// the outbox waits with only that conversation held.
const WAIT_IN_CALL: Duration = Duration::from_secs(2);

/// A failed call.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The HTTP exchange failed (connection refused, timeout).
    Network(String),
    /// Discord (or our own bucket bookkeeping) says to wait.
    RateLimited { retry_after_ms: u64, global: bool },
    /// Discord answered an error: its HTTP status, its JSON error code and message.
    Api { status: u16, code: i64, message: String },
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Network(error) => write!(f, "cannot reach Discord: {error}"),
            ApiError::RateLimited { retry_after_ms, global } => {
                let scope = if *global { "global" } else { "route" };
                write!(f, "Discord rate limit ({scope}): retry after {retry_after_ms} ms")
            }
            ApiError::Api { status, code, message } => write!(f, "Discord error {status} (code {code}): {message}"),
        }
    }
}

impl From<ApiError> for SendError {
    fn from(error: ApiError) -> Self {
        match &error {
            ApiError::Network(_) => SendError::Transient(error.to_string()),
            ApiError::RateLimited { retry_after_ms, .. } => SendError::RateLimited { retry_after_ms: *retry_after_ms },
            ApiError::Api { status, .. } if *status >= 500 || *status == 408 => SendError::Transient(error.to_string()),
            ApiError::Api { .. } => SendError::Permanent(error.to_string()),
        }
    }
}

#[derive(Debug, Default)]
struct Limits {
    /// Route key (`POST /channels/1/messages`) → the bucket Discord named for it.
    buckets_by_route: HashMap<String, String>,
    /// Bucket → (requests left, when it refills).
    buckets: HashMap<String, (u64, Instant)>,
    global_until: Option<Instant>,
}

/// One bot's REST client.
pub struct Api {
    http: reqwest::Client,
    base: String,
    authorization: String,
    limits: Mutex<Limits>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("base", &self.base).field("token", &"<redacted>").finish()
    }
}

fn seconds_ms(value: &str) -> Option<u64> {
    value.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(|s| (s * 1000.0).ceil() as u64)
}

impl Api {
    /// `base` is `apiBaseUrl` (`https://discord.com/api`; a trailing `/v10` is accepted).
    pub fn new(http: reqwest::Client, base: &str, token: &str) -> Self {
        let base = base.trim_end_matches('/');
        let base = base.strip_suffix("/v10").unwrap_or(base);
        Api { http, base: format!("{base}/v10"), authorization: format!("Bot {token}"), limits: Mutex::default() }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// How long a call on `route` must wait now, if at all.
    fn wait_for(&self, route: &str) -> Option<(Duration, bool)> {
        let limits = self.limits.lock().ok()?;
        let now = Instant::now();
        if let Some(until) = limits.global_until.filter(|until| *until > now) {
            return Some((until - now, true));
        }
        let bucket = limits.buckets_by_route.get(route)?;
        match limits.buckets.get(bucket) {
            Some((0, reset)) if *reset > now => Some((*reset - now, false)),
            _ => None,
        }
    }

    fn learn(&self, route: &str, headers: &reqwest::header::HeaderMap) {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
        let (Some(bucket), Some(remaining), Some(reset_after)) =
            (header("x-ratelimit-bucket"), header("x-ratelimit-remaining"), header("x-ratelimit-reset-after"))
        else {
            return;
        };
        let (Ok(remaining), Some(reset_ms)) = (remaining.trim().parse::<u64>(), seconds_ms(&reset_after)) else {
            return;
        };
        if let Ok(mut limits) = self.limits.lock() {
            limits.buckets_by_route.insert(route.to_owned(), bucket.clone());
            limits.buckets.insert(bucket, (remaining, Instant::now() + Duration::from_millis(reset_ms)));
        }
    }

    /// Calls `path` (after `/v10`, with its query). 204 reads as `Null`.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<Value, ApiError> {
        let route = format!("{method} {}", path.split('?').next().unwrap_or(path));
        if let Some((wait, global)) = self.wait_for(&route) {
            if wait > WAIT_IN_CALL {
                return Err(ApiError::RateLimited { retry_after_ms: wait.as_millis() as u64, global });
            }
            tokio::time::sleep(wait).await;
        }
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(Duration::from_secs(30))
            .header("authorization", &self.authorization)
            .header(
                "user-agent",
                concat!("DiscordBot (https://github.com/openclaw-rs, ", env!("CARGO_PKG_VERSION"), ")"),
            );
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| ApiError::Network(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        self.learn(&route, response.headers());
        let retry_header = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(seconds_ms);
        let text = response.text().await.map_err(|e| ApiError::Network(e.without_url().to_string()))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == 429 {
            let retry_after_ms = value["retry_after"]
                .as_f64()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| (s * 1000.0).ceil() as u64)
                .or(retry_header)
                .unwrap_or(1000);
            let global = value["global"] == true;
            if global && let Ok(mut limits) = self.limits.lock() {
                limits.global_until = Some(Instant::now() + Duration::from_millis(retry_after_ms));
            }
            return Err(ApiError::RateLimited { retry_after_ms, global });
        }
        if (200..300).contains(&status) {
            return Ok(value);
        }
        Err(ApiError::Api {
            status,
            code: value["code"].as_i64().unwrap_or(0),
            message: value["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("HTTP {status}: {}", text.chars().take(200).collect::<String>())),
        })
    }
}
