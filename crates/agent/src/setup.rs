//! Turning the configuration into running parts: provider settings (with built-in defaults for `openai`,
//! `anthropic` and `ollama`), API keys resolved from the environment, and the model chain of an agent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use openclaw_config::{Config, ProviderConfig, Secret, unresolved_var};
use openclaw_models::{
    Api, BreakerConfig, ErrorKind, ModelError, ModelInfo, ModelRef, ModelRouter, ProviderSettings, RetryPolicy,
};

/// Built-in providers used when a model ref names them without a `models.providers` entry.
pub const BUILTIN_PROVIDERS: &[BuiltinProvider] = &[
    BuiltinProvider {
        id: "openai",
        api: Api::OpenAiCompletions,
        base_url: "https://api.openai.com/v1",
        key_env: Some("OPENAI_API_KEY"),
        default_model: "gpt-4o-mini",
    },
    BuiltinProvider {
        id: "anthropic",
        api: Api::AnthropicMessages,
        base_url: "https://api.anthropic.com",
        key_env: Some("ANTHROPIC_API_KEY"),
        default_model: "claude-sonnet-4-5",
    },
    BuiltinProvider {
        id: "local",
        api: Api::Local,
        // Empty: the state dir's `models/` (a configured `baseUrl` is another directory of GGUF files).
        base_url: "",
        key_env: None,
        default_model: "smollm2-135m",
    },
    BuiltinProvider {
        id: "ollama",
        api: Api::Ollama,
        base_url: "http://127.0.0.1:11434",
        key_env: None,
        default_model: "llama3.2",
    },
];

/// A provider OpenClaw knows without configuration: its API, endpoint, key variable and a sensible first model.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinProvider {
    pub id: &'static str,
    pub api: Api,
    pub base_url: &'static str,
    pub key_env: Option<&'static str>,
    pub default_model: &'static str,
}

/// The built-in provider with this id.
pub fn builtin_provider(id: &str) -> Option<&'static BuiltinProvider> {
    BUILTIN_PROVIDERS.iter().find(|provider| provider.id == id)
}

fn resolve_secret(provider: &str, secret: &Secret, env: &dyn Fn(&str) -> Option<String>) -> Result<String, ModelError> {
    secret.resolve(env).map_err(|error| {
        ModelError::new(provider, ErrorKind::NotConfigured, format!("models.providers.{provider}.apiKey {error}"))
    })
}

/// The settings of one configured provider.
///
/// # Errors
/// A [`ModelError`] of kind `NotConfigured` naming what is missing (base URL, API key variable, API).
pub fn provider_settings(
    id: &str,
    config: &ProviderConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ProviderSettings, ModelError> {
    let builtin = builtin_provider(id);
    let api = match (&config.api, builtin) {
        (Some(api), _) => Api::parse(api).ok_or_else(|| {
            ModelError::new(
                id,
                ErrorKind::NotConfigured,
                format!(
                    "the {api:?} API is not implemented yet (fix: use openai-completions, anthropic-messages, ollama or local)"
                ),
            )
        })?,
        (None, Some(builtin)) => builtin.api,
        (None, None) => Api::OpenAiCompletions,
    };
    let base_url = match (&config.base_url, builtin) {
        (Some(url), _) => url.clone(),
        (None, Some(builtin)) => builtin.base_url.to_owned(),
        (None, None) => {
            return Err(ModelError::new(
                id,
                ErrorKind::NotConfigured,
                format!("models.providers.{id} has no baseUrl (fix: set models.providers.{id}.baseUrl)"),
            ));
        }
    };
    if let Some(name) = unresolved_var(&base_url) {
        return Err(ModelError::new(
            id,
            ErrorKind::NotConfigured,
            format!("models.providers.{id}.baseUrl reads {name}, which is not set (fix: export {name})"),
        ));
    }
    let api_key = match (&config.api_key, builtin) {
        (Some(secret), _) => Some(resolve_secret(id, secret, env)?),
        (None, Some(BuiltinProvider { key_env: Some(var), .. })) => {
            let secret = Secret::Ref { source: "env".to_owned(), provider: None, id: (*var).to_owned() };
            Some(resolve_secret(id, &secret, env)?)
        }
        _ => None,
    };
    let models = config
        .models
        .iter()
        .map(|model| ModelInfo {
            id: model.id.clone(),
            context_window: model.context_window.or(model.context_tokens),
            max_tokens: model.max_tokens,
            cost_per_million: [model.cost.input, model.cost.output, model.cost.cache_read, model.cost.cache_write],
        })
        .collect();
    let timeout = Duration::from_secs(config.timeout_seconds.unwrap_or(120));
    Ok(ProviderSettings {
        id: id.to_owned(),
        api,
        base_url,
        api_key,
        headers: config.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        timeout,
        idle_timeout: timeout.min(Duration::from_secs(90)),
        max_tokens: config.max_tokens,
        models,
    })
}

/// A router with every configured provider, plus the built-in ones the agents' model refs name. `models_dir` is where
/// the `local` provider finds its GGUF files unless its `baseUrl` names another directory.
#[cfg_attr(not(feature = "local"), allow(unused_variables))]
pub fn build_router(
    config: &Config,
    model_refs: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    retry: RetryPolicy,
    models_dir: &Path,
) -> ModelRouter {
    let mut router = ModelRouter::new(retry, BreakerConfig::default());
    let mut ids: Vec<String> = config.models.providers.keys().cloned().collect();
    for model_ref in model_refs {
        if let Some(parsed) = ModelRef::parse(model_ref)
            && !ids.contains(&parsed.provider)
            && builtin_provider(&parsed.provider).is_some()
        {
            ids.push(parsed.provider);
        }
    }
    for id in ids {
        let provider_config = config.models.providers.get(&id).cloned().unwrap_or_default();
        match provider_settings(&id, &provider_config, env) {
            #[cfg(feature = "local")]
            Ok(settings) if settings.api == Api::Local => {
                let provider = openclaw_local::LocalProvider::from_dir(&settings.id, local_dir(&settings, models_dir));
                router.add_provider_impl(std::sync::Arc::new(provider), settings.models);
            }
            // Without the `local` feature, `build_provider` answers every call with how to get it.
            Ok(settings) => router.add_provider(settings),
            Err(error) => router.add_unavailable(&id, error),
        }
    }
    router
}

/// The directory a `local`-API provider serves `<name>.gguf` files from: its `baseUrl` when set, else `models_dir`.
pub fn local_dir(settings: &ProviderSettings, models_dir: &Path) -> PathBuf {
    if settings.base_url.is_empty() { models_dir.to_path_buf() } else { PathBuf::from(&settings.base_url) }
}

/// Where the local provider looks for models by default: `<state dir>/models`.
pub fn models_dir(paths: &openclaw_config::Paths) -> PathBuf {
    paths.state_dir.join("models")
}

/// The router for a loaded configuration: every configured provider plus the built-in ones its agents name.
pub fn router_for(loaded: &openclaw_config::Loaded, env: &dyn Fn(&str) -> Option<String>) -> ModelRouter {
    let refs: Vec<String> =
        loaded.agents().iter().flat_map(|agent| agent.model.iter().chain(&agent.fallbacks).cloned()).collect();
    build_router(&loaded.config, &refs, env, RetryPolicy::default(), &models_dir(&loaded.paths))
}
