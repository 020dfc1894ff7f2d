//! The HTTP side shared by every provider: one client, status → [`ModelError`] mapping, `Retry-After` parsing,
//! and an SSE event stream with a per-chunk idle timeout.

use std::sync::OnceLock;
use std::time::Duration;

use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::header::HeaderMap;

use crate::{ErrorKind, ModelError, ProviderSettings};

/// The process-wide HTTP client (connection pooling across providers and channels), with rustls on `ring`.
pub fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        // Installing twice is harmless: the second call reports the provider already set.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("openclaw-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    })
}

/// Sends a JSON POST and maps failures before the body to [`ModelError`].
pub(crate) async fn post_json(
    settings: &ProviderSettings,
    url: &str,
    headers: Vec<(String, String)>,
    body: &serde_json::Value,
) -> Result<reqwest::Response, ModelError> {
    let provider = settings.id.as_str();
    let mut request = client().post(url).json(body).timeout(settings.timeout);
    for (name, value) in headers.iter().chain(settings.headers.iter()) {
        request = request.header(name, value);
    }
    // The timeout above bounds the whole exchange; streams get their own idle timeout per chunk, so only the
    // headers are bounded here.
    let send = tokio::time::timeout(settings.timeout, request.send());
    let response = match send.await {
        Err(_) => {
            return Err(ModelError::new(
                provider,
                ErrorKind::Timeout,
                format!("no response from {url} within {}s", settings.timeout.as_secs()),
            ));
        }
        Ok(Err(error)) => return Err(request_error(provider, url, &error)),
        Ok(Ok(response)) => response,
    };
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let retry_after = parse_retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    Err(status_error(provider, status, retry_after, &text))
}

fn request_error(provider: &str, url: &str, error: &reqwest::Error) -> ModelError {
    let (kind, what) = if error.is_timeout() {
        (ErrorKind::Timeout, "timed out")
    } else if error.is_connect() {
        (ErrorKind::Connect, "cannot connect")
    } else {
        (ErrorKind::Connect, "request failed")
    };
    let mut message = format!("{what} to {url}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        message.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    message.push_str(" (fix: check the provider's baseUrl and that it is running and reachable)");
    ModelError::new(provider, kind, message)
}

/// Maps an HTTP error status and body to a classified error.
pub(crate) fn status_error(provider: &str, status: u16, retry_after: Option<Duration>, body: &str) -> ModelError {
    let detail = error_message(body).unwrap_or_else(|| body.chars().take(300).collect());
    let lower = detail.to_lowercase();
    let (kind, hint) = match status {
        401 | 403 => (ErrorKind::Auth, " (fix: check the API key configured for this provider)"),
        429 => (ErrorKind::RateLimited { retry_after }, ""),
        529 => (ErrorKind::Overloaded { retry_after }, ""),
        503 if lower.contains("overload") => (ErrorKind::Overloaded { retry_after }, ""),
        500..=599 => (ErrorKind::Server { status }, ""),
        400 | 413
            if lower.contains("context length")
                || lower.contains("context_length")
                || lower.contains("too long")
                || lower.contains("maximum context") =>
        {
            (ErrorKind::ContextOverflow, "")
        }
        404 => (ErrorKind::BadRequest { status }, " (fix: check the model id and the provider's baseUrl)"),
        _ => (ErrorKind::BadRequest { status }, ""),
    };
    ModelError::new(provider, kind, format!("HTTP {status}: {detail}{hint}"))
}

/// The `message` of an OpenAI (`{"error":{"message"}}`) or Anthropic (`{"type":"error","error":{…}}`) error body.
pub(crate) fn error_message(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let error = value.get("error")?;
    match error {
        serde_json::Value::String(text) => Some(text.clone()),
        _ => error.get("message").and_then(|m| m.as_str()).map(str::to_owned),
    }
}

/// `Retry-After` (seconds or an HTTP date) or `retry-after-ms`.
pub(crate) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) =
        headers.get("retry-after-ms").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<f64>().ok())
    {
        return Some(Duration::from_secs_f64((ms / 1000.0).max(0.0)));
    }
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return Some(Duration::from_secs_f64(seconds.max(0.0)));
    }
    let date = jiff::fmt::rfc2822::parse(value).ok()?;
    let wait = date.timestamp().as_millisecond() - jiff::Timestamp::now().as_millisecond();
    Some(Duration::from_millis(wait.max(0) as u64))
}

/// The SSE events of a response body; each next event must arrive within `idle`.
pub(crate) fn sse_events(
    provider: String,
    response: reqwest::Response,
    idle: Duration,
) -> impl Stream<Item = Result<Event, ModelError>> + Send + 'static {
    let events = response.bytes_stream().eventsource();
    futures::stream::unfold((events, provider, false), move |(mut events, provider, finished)| async move {
        if finished {
            return None;
        }
        match tokio::time::timeout(idle, events.next()).await {
            Err(_) => Some((
                Err(ModelError::new(
                    &provider,
                    ErrorKind::Timeout,
                    format!("the stream stalled: nothing received for {}s", idle.as_secs()),
                )),
                (events, provider, true),
            )),
            Ok(None) => None,
            Ok(Some(Ok(event))) => Some((Ok(event), (events, provider, false))),
            Ok(Some(Err(error))) => {
                let err = ModelError::new(&provider, ErrorKind::StreamCut, format!("the stream broke: {error}"));
                Some((Err(err), (events, provider, true)))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_millis(1500)));
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(Duration::ZERO), "a date in the past means now");
    }

    #[test]
    fn statuses_are_classified() {
        let body = r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#;
        let error = status_error("openai", 401, None, body);
        assert_eq!(error.kind, ErrorKind::Auth);
        assert!(error.message.contains("Incorrect API key"));
        assert!(!error.is_retryable());
        let error = status_error(
            "anthropic",
            529,
            None,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert!(matches!(error.kind, ErrorKind::Overloaded { .. }));
        assert!(error.is_retryable());
        let error = status_error(
            "openai",
            400,
            None,
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens"}}"#,
        );
        assert_eq!(error.kind, ErrorKind::ContextOverflow);
    }
}
