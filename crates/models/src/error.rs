//! Classified model errors (pingora-style: the kind says whether a retry may help).

use std::time::Duration;

/// What went wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorKind {
    /// The provider is not usable as configured (missing key, unsupported API).
    NotConfigured,
    /// 401/403.
    Auth,
    /// 429, with the delay the provider asked for.
    RateLimited { retry_after: Option<Duration> },
    /// Anthropic 529 / an `overloaded_error`.
    Overloaded { retry_after: Option<Duration> },
    /// Another 5xx.
    Server { status: u16 },
    /// Another 4xx.
    BadRequest { status: u16 },
    /// The prompt is larger than the model's context.
    ContextOverflow,
    /// Could not connect.
    Connect,
    /// No answer (or no chunk) within the deadline.
    Timeout,
    /// The stream ended before the provider said it was done.
    StreamCut,
    /// The provider sent something that is not its documented format.
    Protocol,
    /// The provider's circuit breaker is open after repeated failures.
    CircuitOpen,
}

/// A model call failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{provider}: {message}")]
pub struct ModelError {
    pub provider: String,
    pub kind: ErrorKind,
    pub message: String,
}

impl ModelError {
    /// A new error.
    pub fn new(provider: &str, kind: ErrorKind, message: impl Into<String>) -> Self {
        ModelError { provider: provider.to_owned(), kind, message: message.into() }
    }

    /// Whether the same call may succeed if retried.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::RateLimited { .. }
                | ErrorKind::Overloaded { .. }
                | ErrorKind::Server { .. }
                | ErrorKind::Connect
                | ErrorKind::Timeout
                | ErrorKind::StreamCut
        )
    }

    /// Whether another model (a fallback) may succeed where this one failed.
    pub fn allows_fallback(&self) -> bool {
        self.is_retryable()
            || matches!(
                self.kind,
                ErrorKind::CircuitOpen | ErrorKind::NotConfigured | ErrorKind::Auth | ErrorKind::ContextOverflow
            )
    }

    /// Whether the failure counts against the provider's health (circuit breaker).
    pub fn counts_for_breaker(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Server { .. }
                | ErrorKind::Connect
                | ErrorKind::Timeout
                | ErrorKind::StreamCut
                | ErrorKind::Overloaded { .. }
        )
    }

    /// The delay the provider asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.kind {
            ErrorKind::RateLimited { retry_after } | ErrorKind::Overloaded { retry_after } => retry_after,
            _ => None,
        }
    }
}
