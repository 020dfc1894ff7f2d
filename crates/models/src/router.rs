//! The router: one call across a chain of model refs (primary, then fallbacks), with bounded retries and backoff
//! for transient errors (honouring `Retry-After`), a circuit breaker per provider, and cost accounting.
//!
//! A call is retried or failed over only while nothing has been streamed to the caller: once text has been shown,
//! repeating it elsewhere would duplicate it, so a mid-stream failure ends the call with a clean error.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use openclaw_protocol::{AssistantMessage, Usage};

use crate::breaker::Breaker;
use crate::{
    BreakerConfig, ErrorKind, ModelError, ModelInfo, ModelProvider, ModelRequest, ProviderSettings, StreamEvent,
};

/// `provider/model` (the model part may itself contain `/`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef {
    pub provider: String,
    pub model: String,
}

impl ModelRef {
    /// Parses `provider/model`.
    pub fn parse(text: &str) -> Option<Self> {
        let (provider, model) = text.trim().split_once('/')?;
        (!provider.is_empty() && !model.is_empty())
            .then(|| ModelRef { provider: provider.to_owned(), model: model.to_owned() })
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// Retry settings for transient errors.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited for; the next fallback is tried instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(2_u32.saturating_pow(attempt));
        // Up to 25% jitter so that many clients do not retry in lockstep.
        let jitter_ms = (openclaw_protocol::now_ms().rem_euclid(1000) as u64 * exp.as_millis() as u64) / 4000;
        (exp + Duration::from_millis(jitter_ms)).min(self.max_delay)
    }
}

/// One model tried during a call, and why it did not answer (if it did not).
#[derive(Debug, Clone, PartialEq)]
pub struct RouteAttempt {
    pub model: ModelRef,
    pub retries: u32,
    pub error: Option<ModelError>,
}

/// Providers by id, with their breakers and model prices.
pub struct ModelRouter {
    providers: HashMap<String, Result<Arc<dyn ModelProvider>, ModelError>>,
    models: HashMap<String, Vec<ModelInfo>>,
    breakers: HashMap<String, Breaker>,
    retry: RetryPolicy,
    breaker: BreakerConfig,
}

impl ModelRouter {
    /// An empty router.
    pub fn new(retry: RetryPolicy, breaker: BreakerConfig) -> Self {
        ModelRouter { providers: HashMap::new(), models: HashMap::new(), breakers: HashMap::new(), retry, breaker }
    }

    /// Adds a usable provider.
    pub fn add_provider(&mut self, settings: ProviderSettings) {
        let models = settings.models.clone();
        self.add_provider_impl(crate::build_provider(settings), models);
    }

    /// Adds a provider implementation directly (an in-process model, or a test double).
    pub fn add_provider_impl(&mut self, provider: Arc<dyn ModelProvider>, models: Vec<ModelInfo>) {
        let id = provider.id().to_owned();
        self.models.insert(id.clone(), models);
        self.breakers.insert(id.clone(), Breaker::new(self.breaker));
        self.providers.insert(id, Ok(provider));
    }

    /// Registers a provider that is configured but cannot be used; calls to it fail with `error`.
    pub fn add_unavailable(&mut self, id: &str, error: ModelError) {
        self.providers.insert(id.to_owned(), Err(error));
    }

    /// What is known about a model (context window, prices).
    pub fn model_info(&self, model: &ModelRef) -> Option<&ModelInfo> {
        self.models.get(&model.provider)?.iter().find(|info| info.id == model.model)
    }

    fn price(&self, model: &ModelRef, usage: &mut Usage) {
        let Some(info) = self.model_info(model) else {
            return;
        };
        let [input, output, cache_read, cache_write] = info.cost_per_million;
        usage.cost.input = usage.input as f64 * input / 1e6;
        usage.cost.output = usage.output as f64 * output / 1e6;
        usage.cost.cache_read = usage.cache_read as f64 * cache_read / 1e6;
        usage.cost.cache_write = usage.cache_write as f64 * cache_write / 1e6;
        usage.cost.total = usage.cost.input + usage.cost.output + usage.cost.cache_read + usage.cost.cache_write;
    }

    /// Calls the first model of `chain` that answers, streaming its events to `on_event`.
    ///
    /// # Errors
    /// The last error when no model answered, with every attempt.
    pub async fn complete(
        &self,
        chain: &[ModelRef],
        request: &ModelRequest,
        on_event: &mut (dyn FnMut(&StreamEvent) + Send),
    ) -> Result<(AssistantMessage, Vec<RouteAttempt>), (ModelError, Vec<RouteAttempt>)> {
        let mut attempts: Vec<RouteAttempt> = Vec::new();
        let mut last_error = ModelError::new(
            "router",
            ErrorKind::NotConfigured,
            "no model is configured (fix: set agents.defaults.model.primary, e.g. \"openai/gpt-4o-mini\")",
        );
        for model in chain {
            let provider = match self.providers.get(&model.provider) {
                Some(Ok(provider)) => provider.clone(),
                Some(Err(error)) => {
                    last_error = error.clone();
                    attempts.push(RouteAttempt { model: model.clone(), retries: 0, error: Some(error.clone()) });
                    continue;
                }
                None => {
                    let error = ModelError::new(
                        &model.provider,
                        ErrorKind::NotConfigured,
                        format!(
                            "no provider {:?} is configured for model {model} (fix: add models.providers.{} with a baseUrl, or run `openclaw setup`)",
                            model.provider, model.provider
                        ),
                    );
                    last_error = error.clone();
                    attempts.push(RouteAttempt { model: model.clone(), retries: 0, error: Some(error) });
                    continue;
                }
            };
            let breaker = self.breakers.get(&model.provider);
            let mut request = request.clone();
            request.model.clone_from(&model.model);
            let mut retries = 0;
            let outcome = loop {
                if breaker.is_some_and(|breaker| !breaker.allow()) {
                    break Err(ModelError::new(
                        &model.provider,
                        ErrorKind::CircuitOpen,
                        "skipped: the provider failed repeatedly and its circuit breaker is open",
                    ));
                }
                let mut emitted = false;
                let result = call_once(provider.as_ref(), &request, on_event, &mut emitted).await;
                match result {
                    Ok(mut message) => {
                        if let Some(breaker) = breaker {
                            breaker.record_success();
                        }
                        self.price(model, &mut message.usage);
                        break Ok(message);
                    }
                    Err(error) => {
                        if let Some(breaker) = breaker
                            && error.counts_for_breaker()
                        {
                            breaker.record_failure();
                        }
                        if emitted {
                            // Part of the answer was already shown: no retry, no fallback.
                            attempts.push(RouteAttempt { model: model.clone(), retries, error: Some(error.clone()) });
                            return Err((error, attempts));
                        }
                        if !error.is_retryable() || retries >= self.retry.max_retries {
                            break Err(error);
                        }
                        let delay = error.retry_after().unwrap_or_else(|| self.retry.backoff(retries));
                        if delay > self.retry.max_retry_after {
                            break Err(error);
                        }
                        tracing::warn!(provider = %model.provider, retries, delay_ms = delay.as_millis() as u64, error = %error, "Retrying the model call.");
                        tokio::time::sleep(delay).await;
                        retries += 1;
                    }
                }
            };
            match outcome {
                Ok(message) => {
                    attempts.push(RouteAttempt { model: model.clone(), retries, error: None });
                    return Ok((message, attempts));
                }
                Err(error) => {
                    attempts.push(RouteAttempt { model: model.clone(), retries, error: Some(error.clone()) });
                    let fall_over = error.allows_fallback();
                    last_error = error;
                    if !fall_over {
                        break;
                    }
                    tracing::warn!(model = %model, error = %last_error, "Model failed; trying the next fallback.");
                }
            }
        }
        Err((last_error, attempts))
    }
}

async fn call_once(
    provider: &dyn ModelProvider,
    request: &ModelRequest,
    on_event: &mut (dyn FnMut(&StreamEvent) + Send),
    emitted: &mut bool,
) -> Result<AssistantMessage, ModelError> {
    let mut stream = provider.stream(request).await?;
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::Done(message) => return Ok(message),
            progress @ StreamEvent::Progress(_) => on_event(&progress),
            other => {
                *emitted = true;
                on_event(&other);
            }
        }
    }
    Err(ModelError::new(provider.id(), ErrorKind::StreamCut, "the stream ended without a final message"))
}
