//! Model providers behind one streaming trait.
//!
//! Principal types: [`ModelProvider`] (one wire API: [`openai::OpenAiProvider`] for OpenAI-compatible Chat
//! Completions and Ollama, [`anthropic::AnthropicProvider`] for Anthropic Messages), [`ModelRouter`] (retries with
//! backoff honouring `Retry-After`, fallbacks across model refs, a circuit breaker per provider, cost accounting),
//! and [`ModelError`] (classified, with `is_retryable`).
//!
//! **Invariants:** providers take and return `openclaw-protocol` messages only; this crate never sees the
//! configuration file, channels, or the store. Secrets are never logged.

pub mod anthropic;
mod breaker;
mod error;
mod http;
pub mod openai;
mod router;

use futures::stream::BoxStream;
use openclaw_protocol::{AgentMessage, AssistantMessage, ToolSpec};

pub use breaker::BreakerConfig;
pub use error::{ErrorKind, ModelError};
pub use http::client as http_client;
pub use router::{ModelRef, ModelRouter, RetryPolicy, RouteAttempt};

/// Which wire API a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    OpenAiCompletions,
    AnthropicMessages,
    Ollama,
    /// The embedded model (`openclaw-local`), run in-process; the agent's setup builds it, not [`build_provider`].
    Local,
}

impl Api {
    /// Parses the reference's `api` value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "openai-completions" => Some(Api::OpenAiCompletions),
            "anthropic-messages" => Some(Api::AnthropicMessages),
            "ollama" => Some(Api::Ollama),
            "local" => Some(Api::Local),
            _ => None,
        }
    }

    /// The reference's name for the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::OpenAiCompletions => "openai-completions",
            Api::AnthropicMessages => "anthropic-messages",
            Api::Ollama => "ollama",
            Api::Local => "local",
        }
    }
}

/// Price and limits of one model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelInfo {
    pub id: String,
    pub context_window: Option<u64>,
    pub max_tokens: Option<u64>,
    /// US dollars per million tokens: input, output, cache read, cache write.
    pub cost_per_million: [f64; 4],
}

/// Everything needed to talk to one provider (built from `models.providers.<id>` by the caller).
#[derive(Clone)]
pub struct ProviderSettings {
    pub id: String,
    pub api: Api,
    pub base_url: String,
    /// The resolved key (never logged).
    pub api_key: Option<String>,
    pub headers: Vec<(String, String)>,
    /// Deadline for the response headers.
    pub timeout: std::time::Duration,
    /// Longest silence allowed between two stream chunks.
    pub idle_timeout: std::time::Duration,
    pub max_tokens: Option<u64>,
    pub models: Vec<ModelInfo>,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("id", &self.id)
            .field("api", &self.api)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// One call to a model.
#[derive(Debug, Clone, Default)]
pub struct ModelRequest {
    /// The model id at the provider (the part after `provider/`).
    pub model: String,
    pub system: String,
    pub messages: Vec<AgentMessage>,
    pub tools: Vec<ToolSpec>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f32>,
}

/// What a provider streams back. The last event of a successful stream is [`StreamEvent::Done`].
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    TextDelta(String),
    ThinkingDelta(String),
    /// A piece of a tool call: the first piece of each call carries its id and name.
    ToolCallDelta {
        index: usize,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    Done(AssistantMessage),
    /// What the backend is doing before its answer starts (loading a model, reading a long prompt), for a person
    /// watching; never part of the answer, and not output (a fallback may still follow it).
    Progress(String),
}

/// A stream of events from one call.
pub type EventStream = BoxStream<'static, Result<StreamEvent, ModelError>>;

/// One model backend.
#[async_trait::async_trait]
pub trait ModelProvider: Send + Sync {
    /// The provider id (`openai`, `anthropic`, `ollama`, or a custom one).
    fn id(&self) -> &str;

    /// The wire API.
    fn api(&self) -> Api;

    /// Starts a streaming call.
    ///
    /// # Errors
    /// A [`ModelError`] when the call fails before the stream starts (connection, HTTP status).
    async fn stream(&self, request: &ModelRequest) -> Result<EventStream, ModelError>;
}

/// Builds the provider for some settings.
pub fn build_provider(settings: ProviderSettings) -> std::sync::Arc<dyn ModelProvider> {
    match settings.api {
        Api::AnthropicMessages => std::sync::Arc::new(anthropic::AnthropicProvider::new(settings)),
        Api::OpenAiCompletions | Api::Ollama => std::sync::Arc::new(openai::OpenAiProvider::new(settings)),
        Api::Local => std::sync::Arc::new(LocalNotLoaded(settings.id)),
    }
}

/// Stands in for the embedded model where the agent's setup did not build it (a build without the `local`
/// feature): every call says how to get it.
struct LocalNotLoaded(String);

#[async_trait::async_trait]
impl ModelProvider for LocalNotLoaded {
    fn id(&self) -> &str {
        &self.0
    }

    fn api(&self) -> Api {
        Api::Local
    }

    async fn stream(&self, _request: &ModelRequest) -> Result<EventStream, ModelError> {
        Err(ModelError::new(
            &self.0,
            ErrorKind::NotConfigured,
            "this build has no embedded model (fix: build openclaw with the `local` feature, or choose a remote provider)",
        ))
    }
}
