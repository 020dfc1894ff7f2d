//! `openclaw setup` / `onboard`: choose a model provider, write the configuration, create the workspace.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};

use super::Ctx;

#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    /// Do not ask; take everything from the flags.
    #[arg(long)]
    non_interactive: bool,
    /// Accepted for compatibility with the reference's onboarding (agents are powerful: you accept the risk).
    #[arg(long, hide = true)]
    accept_risk: bool,
    /// Accepted for compatibility; the health check is `openclaw doctor`.
    #[arg(long, hide = true)]
    skip_health: bool,
    /// Provider id: local (the embedded offline model, the default when no provider key is set), openai,
    /// anthropic, ollama, or any name for an OpenAI-compatible endpoint.
    #[arg(long)]
    provider: Option<String>,
    /// The provider's base URL (e.g. http://127.0.0.1:8080/v1).
    #[arg(long, alias = "custom-base-url")]
    base_url: Option<String>,
    /// The environment variable that holds the API key (stored as "${VAR}", never the key itself).
    #[arg(long)]
    api_key_env: Option<String>,
    /// The model id at the provider.
    #[arg(long, alias = "custom-model-id")]
    model: Option<String>,
    /// Wire API: openai (default), anthropic, ollama.
    #[arg(long, alias = "custom-compatibility")]
    api: Option<String>,
}

fn api_name(api: &str) -> anyhow::Result<&'static str> {
    Ok(match api {
        "openai" | "openai-completions" => "openai-completions",
        "anthropic" | "anthropic-messages" => "anthropic-messages",
        "ollama" => "ollama",
        "local" => "local",
        other => bail!("unknown API {other:?} (fix: use openai, anthropic, ollama or local)"),
    })
}

struct Choice {
    provider: String,
    base_url: Option<String>,
    api: &'static str,
    key_env: Option<String>,
    model: String,
}

/// The defaults for a provider id: the built-in table for known providers, an OpenAI-compatible endpoint otherwise.
fn defaults_for(provider: &str) -> (&'static str, Option<&'static str>, Option<&'static str>, &'static str) {
    match openclaw_agent::builtin_provider(provider) {
        Some(builtin) => (builtin.api.as_str(), Some(builtin.base_url), builtin.key_env, builtin.default_model),
        None => ("openai-completions", None, None, ""),
    }
}

/// The provider to suggest: the first built-in remote one whose key is in the environment, else the local model.
fn suggested_provider() -> &'static str {
    openclaw_agent::BUILTIN_PROVIDERS
        .iter()
        .find(|builtin| builtin.key_env.is_some_and(|var| super::env(var).is_some_and(|v| !v.is_empty())))
        .map_or("local", |builtin| builtin.id)
}

fn from_flags(args: &SetupArgs) -> anyhow::Result<Choice> {
    let provider = args
        .provider
        .clone()
        .unwrap_or_else(|| if args.base_url.is_some() { "custom".to_owned() } else { suggested_provider().to_owned() });
    if provider == "local" {
        let model = args.model.clone().unwrap_or_else(|| openclaw_local::DEFAULT_MODEL.to_owned());
        if !openclaw_local::valid_name(&model) {
            bail!("--model {model:?} is not a local model name (see openclaw models list)");
        }
        return Ok(Choice { provider, base_url: None, api: "local", key_env: None, model });
    }
    if openclaw_protocol::AgentId::new(&provider).is_err() {
        bail!("--provider {provider:?} is not a valid id (fix: use lower-case letters, digits, '-' and '_')");
    }
    let (default_api, default_url, default_key, default_model) = defaults_for(&provider);
    let api = match &args.api {
        Some(api) => api_name(api)?,
        None => default_api,
    };
    let base_url = args.base_url.clone().or(default_url.map(str::to_owned));
    if base_url.is_none() {
        bail!("--base-url is required for the provider {provider:?} (e.g. --base-url http://127.0.0.1:8080/v1)");
    }
    let model = args.model.clone().unwrap_or_else(|| default_model.to_owned());
    if model.is_empty() {
        bail!("--model is required for the provider {provider:?} (the model id the endpoint expects)");
    }
    let key_env = args.api_key_env.clone().or(default_key.map(str::to_owned));
    if let Some(var) = &key_env
        && !var.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        bail!("--api-key-env {var:?} is not an environment variable name (fix: e.g. --api-key-env OPENAI_API_KEY)");
    }
    Ok(Choice { provider, base_url, api, key_env, model })
}

fn ask(prompt: &str, default: &str) -> anyhow::Result<String> {
    let mut stdout = std::io::stdout();
    if default.is_empty() {
        write!(stdout, "{prompt}: ")?
    } else {
        write!(stdout, "{prompt} [{default}]: ")?
    }
    stdout.flush()?;
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line)?;
    if read == 0 {
        bail!("no input (stdin closed); use --non-interactive with flags instead");
    }
    let line = line.trim();
    Ok(if line.is_empty() { default.to_owned() } else { line.to_owned() })
}

fn interactive(args: &SetupArgs) -> anyhow::Result<Choice> {
    println!(
        "Let's connect a model. Choose a provider: local (the embedded model: offline, no account or key), openai, anthropic, ollama, or a name for any OpenAI-compatible endpoint."
    );
    let provider = ask("Provider", args.provider.as_deref().unwrap_or(suggested_provider()))?;
    if provider == "local" {
        let model = ask("Local model", args.model.as_deref().unwrap_or(openclaw_local::DEFAULT_MODEL))?;
        return from_flags(&SetupArgs { provider: Some(provider), model: Some(model), ..args.clone() });
    }
    let (default_api, default_url, default_key, default_model) = defaults_for(&provider);
    let base_url = ask("Base URL", args.base_url.as_deref().or(default_url).unwrap_or(""))?;
    let api = api_name(&ask("API (openai, anthropic, ollama)", args.api.as_deref().unwrap_or(default_api))?)?;
    let key_env = ask(
        "Environment variable with the API key (empty for none)",
        args.api_key_env.as_deref().or(default_key).unwrap_or(""),
    )?;
    let model = ask("Model id", args.model.as_deref().unwrap_or(default_model))?;
    from_flags(&SetupArgs {
        non_interactive: true,
        accept_risk: true,
        skip_health: true,
        provider: Some(provider),
        base_url: Some(base_url).filter(|url| !url.is_empty()),
        api_key_env: Some(key_env).filter(|var| !var.is_empty()),
        model: Some(model),
        api: Some(api.to_owned()),
    })
}

/// Pulls a catalog model that is not in the state dir's `models/` yet; a model that is neither there nor in the
/// catalog is an error saying how to add it.
async fn ensure_local_model(paths: &openclaw_config::Paths, name: &str) -> anyhow::Result<()> {
    let dir = openclaw_agent::models_dir(paths);
    let path = openclaw_local::model_path(&dir, name)?;
    if path.exists() {
        println!("Local model: {}", path.display());
        return Ok(());
    }
    let Some(entry) = openclaw_local::catalog(name) else {
        bail!("no local model {name:?} at {} (fix: openclaw models pull --file PATH {name})", path.display());
    };
    println!("Fetching the local model {name} (once; it then runs offline) …");
    tokio::task::spawn_blocking(move || {
        openclaw_local::pull_catalog(entry, &dir, false, &super::env, &mut super::models::reporter())
    })
    .await??;
    Ok(())
}

pub async fn run(ctx: &Ctx, args: SetupArgs) -> anyhow::Result<ExitCode> {
    let paths = ctx.paths()?;
    // A broken existing file is reported, not overwritten.
    let loaded = openclaw_config::load(&paths, &super::env)
        .context("the existing configuration is invalid; fix it or move it away first")?;
    let choice = if args.non_interactive { from_flags(&args)? } else { interactive(&args)? };

    let mut raw = if loaded.exists { loaded.raw.clone() } else { json!({}) };
    let set = |raw: &mut Value, path: &str, value: Value| {
        openclaw_config::set_path(raw, path, value).map_err(anyhow::Error::msg)
    };
    if choice.api == "local" {
        // The built-in `local` provider needs no entry; the model file must be there.
        ensure_local_model(&paths, &choice.model).await?;
    } else {
        // The reference requires `name` on every model entry.
        let mut provider = json!({ "api": choice.api, "models": [{ "id": choice.model, "name": choice.model }] });
        if let Some(url) = &choice.base_url {
            provider["baseUrl"] = json!(url);
        }
        if let Some(var) = &choice.key_env {
            provider["apiKey"] = json!(format!("${{{var}}}"));
        }
        set(&mut raw, &format!("models.providers.{}", choice.provider), provider)?;
    }
    set(&mut raw, "agents.defaults.model", json!({ "primary": format!("{}/{}", choice.provider, choice.model) }))?;
    if openclaw_config::get_path(&raw, "gateway.mode").is_none() {
        set(&mut raw, "gateway.mode", json!("local"))?;
    }
    // A gateway without a secret would serve any local process (and, through a browser, any page): setup writes a
    // random token, as the reference's onboarding does, unless one is configured or in the environment. The CLI
    // reads it from the file; other clients take it from `openclaw config get gateway.auth.token`.
    let has_secret = ["gateway.auth.token", "gateway.auth.password"]
        .iter()
        .any(|path| openclaw_config::get_path(&raw, path).is_some())
        || super::env("OPENCLAW_GATEWAY_TOKEN").is_some_and(|value| !value.is_empty());
    let generated = !has_secret;
    if generated {
        set(&mut raw, "gateway.auth.token", json!(openclaw_gateway::new_secret()))?;
    }
    // Validate what we are about to write with the same loader everything else uses.
    let text = serde_json::to_string(&raw)?;
    openclaw_config::load_str(&text, &paths, &super::env)?;
    openclaw_config::save_raw(&paths, &raw)?;

    let loaded = openclaw_config::load(&paths, &super::env)?;
    let agent = loaded.default_agent();
    let created = openclaw_agent::ensure_workspace(&agent.workspace)?;
    ctx.store(&paths).await?;
    println!("Wrote {}", paths.config_path.display());
    println!("Default model: {}/{}", choice.provider, choice.model);
    println!("Workspace: {} ({} files created)", agent.workspace.display(), created.len());
    if let Some(var) = &choice.key_env
        && super::env(var).is_none_or(|value| value.is_empty())
    {
        println!("Note: {var} is not set in this shell; export it before talking to the agent.");
    }
    if generated {
        println!("Gateway token: generated into gateway.auth.token (clients: openclaw config get gateway.auth.token)");
    }
    println!("Next: openclaw agent --local -m \"hello\"");
    Ok(ExitCode::SUCCESS)
}
