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
    /// The gateway's shared secret (16+ characters); without it one is generated unless one is configured.
    #[arg(long)]
    gateway_token: Option<String>,
    /// Do not ask about channels (connect one later with `openclaw channels add`).
    #[arg(long)]
    skip_channels: bool,
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
    fn flag(name: &'static str) -> impl Fn(String) -> anyhow::Error {
        move |problem| anyhow::anyhow!("--{name}: {problem}")
    }
    if provider == "local" {
        let model = args.model.as_deref().unwrap_or(openclaw_local::DEFAULT_MODEL);
        let model = check_local_model(model).map_err(flag("model"))?;
        return Ok(Choice { provider, base_url: None, api: "local", key_env: None, model });
    }
    check_provider_id(&provider).map_err(flag("provider"))?;
    let (default_api, default_url, default_key, default_model) = defaults_for(&provider);
    let api = match &args.api {
        Some(api) => api_name(api)?,
        None => default_api,
    };
    let base_url = match (&args.base_url, default_url) {
        (Some(url), _) => check_base_url(url).map_err(flag("base-url"))?,
        (None, Some(url)) => url.to_owned(),
        (None, None) => {
            bail!("--base-url is required for the provider {provider:?} (e.g. --base-url http://127.0.0.1:8080/v1)")
        }
    };
    let model = args.model.clone().unwrap_or_else(|| default_model.to_owned());
    if model.is_empty() {
        bail!("--model is required for the provider {provider:?} (the model id the endpoint expects)");
    }
    let key_env = match &args.api_key_env {
        Some(var) => check_env_name(var).map_err(flag("api-key-env"))?,
        None => default_key.map(str::to_owned),
    };
    Ok(Choice { provider, base_url: Some(base_url), api, key_env, model })
}

/// Asks until `check` accepts the answer (Enter takes `default`); each refusal says what was wrong.
fn ask<T>(prompt: &str, default: &str, check: impl Fn(&str) -> Result<T, String>) -> anyhow::Result<T> {
    let mut stdout = std::io::stdout();
    loop {
        if default.is_empty() {
            write!(stdout, "{prompt}: ")?
        } else {
            write!(stdout, "{prompt} [{default}]: ")?
        }
        stdout.flush()?;
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line)?;
        if read == 0 {
            println!();
            bail!("no input (stdin closed); use --non-interactive with flags instead");
        }
        let line = line.trim();
        match check(if line.is_empty() { default } else { line }) {
            Ok(value) => return Ok(value),
            Err(problem) => println!("  {problem}"),
        }
    }
}

/// The providers onboarding offers: the built-in ones, then `custom` for any OpenAI-compatible endpoint.
fn provider_choices() -> Vec<&'static str> {
    let mut choices: Vec<&str> = openclaw_agent::BUILTIN_PROVIDERS.iter().map(|builtin| builtin.id).collect();
    choices.push("custom");
    choices
}

fn one_of<'a>(what: &str, choices: &[&'a str], answer: &str) -> Result<&'a str, String> {
    choices.iter().find(|choice| choice.eq_ignore_ascii_case(answer)).copied().ok_or_else(|| {
        let close = openclaw_config::closest(&answer.to_lowercase(), choices);
        let hint = close.map(|choice| format!(" (did you mean {choice}?)")).unwrap_or_default();
        format!("{answer:?} is not a {what}{hint}; choose one of {}", choices.join(", "))
    })
}

fn check_base_url(answer: &str) -> Result<String, String> {
    if answer.is_empty() {
        return Err("the base URL is required (e.g. http://127.0.0.1:8080/v1)".to_owned());
    }
    match reqwest::Url::parse(answer) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(answer.to_owned()),
        _ => Err(format!("{answer:?} is not an http(s) URL (e.g. http://127.0.0.1:8080/v1)")),
    }
}

fn check_local_model(answer: &str) -> Result<String, String> {
    if openclaw_local::valid_name(answer) {
        Ok(answer.to_owned())
    } else {
        Err(format!("{answer:?} is not a local model name (see openclaw models list)"))
    }
}

fn check_provider_id(answer: &str) -> Result<(), String> {
    if answer.is_empty() || openclaw_protocol::AgentId::new(answer).is_err() {
        Err(format!("{answer:?} is not a provider name (use lower-case letters, digits, '-' and '_', e.g. vllm)"))
    } else {
        Ok(())
    }
}

fn check_env_name(answer: &str) -> Result<Option<String>, String> {
    let valid = answer.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !answer.starts_with(|c: char| c.is_ascii_digit());
    match answer {
        "" | "none" => Ok(None),
        name if valid => Ok(Some(name.to_owned())),
        name => Err(format!("{name:?} is not an environment variable name (e.g. OPENAI_API_KEY; empty for none)")),
    }
}

fn check_gateway_token(answer: &str) -> Result<Option<String>, String> {
    match answer {
        "generate" | "keep" => Ok(None),
        token if token.chars().count() >= 16 && !token.chars().any(char::is_whitespace) => Ok(Some(token.to_owned())),
        _ => Err("a gateway token needs 16 or more characters without spaces (Enter generates one)".to_owned()),
    }
}

/// What the channel question chose.
struct ChannelChoice {
    name: &'static str,
    /// Keys written under `channels.<name>`.
    keys: Vec<(&'static str, Value)>,
}

fn interactive_model(args: &SetupArgs) -> anyhow::Result<Choice> {
    let choices = provider_choices();
    println!(
        "Let's connect a model. Providers: local (the embedded model: offline, no account or key), {}, or custom (any \
         OpenAI-compatible endpoint).",
        choices.iter().filter(|c| !matches!(**c, "local" | "custom")).copied().collect::<Vec<_>>().join(", ")
    );
    let suggested = match args.provider.as_deref() {
        Some(provider) if choices.contains(&provider) => provider,
        Some(_) => "custom",
        None => suggested_provider(),
    };
    let picked = ask("Provider", suggested, |answer| one_of("provider", &choices, answer))?;
    if picked == "local" {
        let model =
            ask("Local model", args.model.as_deref().unwrap_or(openclaw_local::DEFAULT_MODEL), check_local_model)?;
        return from_flags(&SetupArgs { provider: Some(picked.to_owned()), model: Some(model), ..args.clone() });
    }
    let provider = if picked == "custom" {
        let default = args.provider.as_deref().filter(|p| !choices.contains(p)).unwrap_or("");
        ask("A name for this endpoint (e.g. vllm)", default, |answer| {
            if choices.contains(&answer) {
                return Err(format!("{answer} is a built-in provider; pick another name for a custom endpoint"));
            }
            check_provider_id(answer).map(|()| answer.to_owned())
        })?
    } else {
        picked.to_owned()
    };
    let (default_api, default_url, default_key, default_model) = defaults_for(&provider);
    let base_url = ask("Base URL", args.base_url.as_deref().or(default_url).unwrap_or(""), check_base_url)?;
    let apis = ["openai", "anthropic", "ollama"];
    let shown_api = match default_api {
        "anthropic-messages" => "anthropic",
        "ollama" => "ollama",
        _ => "openai",
    };
    let api = ask("API (openai, anthropic, ollama)", args.api.as_deref().unwrap_or(shown_api), |answer| {
        one_of("wire API", &apis, answer)
    })?;
    let key_env = ask(
        "Environment variable with the API key (empty for none)",
        args.api_key_env.as_deref().or(default_key).unwrap_or(""),
        check_env_name,
    )?;
    let model = ask("Model id", args.model.as_deref().unwrap_or(default_model), |answer| {
        if answer.is_empty() {
            Err("the model id is required (what the endpoint calls it)".to_owned())
        } else {
            Ok(answer.to_owned())
        }
    })?;
    from_flags(&SetupArgs {
        non_interactive: true,
        provider: Some(provider),
        base_url: Some(base_url),
        api_key_env: key_env,
        model: Some(model),
        api: Some(api.to_owned()),
        ..args.clone()
    })
}

/// The channel question: none, or one of this build's channels with what it needs to start.
fn interactive_channel() -> anyhow::Result<Option<ChannelChoice>> {
    let mut choices = vec!["none"];
    choices.extend(openclaw_channels::KINDS.iter().map(|kind| kind.name));
    println!("Connect a channel now? ({}; later: openclaw channels add)", choices.join(", "));
    let picked = ask("Channel", "none", |answer| one_of("channel", &choices, answer))?;
    let Some(kind) = openclaw_channels::kind(picked) else { return Ok(None) };
    let mut keys = vec![("enabled", json!(true))];
    for step in kind.setup {
        match *step {
            openclaw_channels::SetupStep::Token => {
                let Some(spec) = &kind.token else { continue };
                let token = ask(&format!("{} token ({})", kind.name, kind.login), "", |answer| {
                    (spec.check)(answer).map(|()| answer.to_owned())
                })?;
                keys.push((spec.key, json!(token)));
            }
            openclaw_channels::SetupStep::Secret(key) => keys.push((key, json!(openclaw_gateway::new_secret()))),
            openclaw_channels::SetupStep::Url { key, question } => {
                let url =
                    ask(
                        question,
                        "",
                        |answer| {
                            if answer.is_empty() { Ok(None) } else { check_base_url(answer).map(Some) }
                        },
                    )?;
                if let Some(url) = url {
                    keys.push((key, json!(url)));
                }
            }
            openclaw_channels::SetupStep::Flag { flag, question } => {
                let Some(known) = kind.flags.iter().find(|known| known.flag == flag) else { continue };
                let value = ask(question, "", |answer| match known.check {
                    Some(check) => check(answer).map(|()| answer.to_owned()),
                    None if answer.is_empty() => Err(format!("--{flag} needs a value")),
                    None => Ok(answer.to_owned()),
                })?;
                keys.push((known.key, json!(value)));
            }
            openclaw_channels::SetupStep::DmPolicy => {
                let policies = ["pairing", "allowlist", "open"];
                println!(
                    "Who may message the agent? pairing: a stranger gets a code you approve (openclaw pairing \
                     approve); allowlist: only ids in allowFrom; open: anyone."
                );
                let policy = ask("Direct messages", "pairing", |answer| one_of("DM policy", &policies, answer))?;
                keys.push(("dmPolicy", json!(policy)));
                if policy == "open" {
                    keys.push(("allowFrom", json!(["*"])));
                }
            }
        }
    }
    Ok(Some(ChannelChoice { name: kind.name, keys }))
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
    let mut raw = if loaded.exists { loaded.raw.clone() } else { json!({}) };
    // A gateway without a secret would serve any local process (and, through a browser, any page): setup writes a
    // random token, as the reference's onboarding does, unless one is configured or in the environment. The CLI
    // reads it from the file; other clients take it from `openclaw config get gateway.auth.token`.
    let has_secret = ["gateway.auth.token", "gateway.auth.password"]
        .iter()
        .any(|path| openclaw_config::get_path(&raw, path).is_some())
        || super::env("OPENCLAW_GATEWAY_TOKEN").is_some_and(|value| !value.is_empty());
    if let Some(token) = &args.gateway_token {
        check_gateway_token(token).map_err(|problem| anyhow::anyhow!("--gateway-token: {problem}"))?;
    }

    let (choice, token, channel, exec) = if args.non_interactive {
        (from_flags(&args)?, args.gateway_token.clone(), None, None)
    } else {
        let choice = interactive_model(&args)?;
        println!();
        println!("The gateway serves your agents on 127.0.0.1 to clients that present its token.");
        let keep = if has_secret { "keep" } else { "generate" };
        let token = match &args.gateway_token {
            Some(token) => Some(token.clone()),
            None => ask("Gateway token (Enter: generate one; or paste your own)", keep, check_gateway_token)?,
        };
        println!();
        let channel = if args.skip_channels { None } else { interactive_channel()? };
        println!();
        println!(
            "Agents may run shell commands, always inside the sandbox (workspace only, no network unless granted). \
             deny: never; allowlist: only tools.exec.safeBins; full: any program."
        );
        let current = openclaw_config::get_path(&raw, "tools.exec.security").and_then(Value::as_str).unwrap_or("full");
        let modes = ["deny", "allowlist", "full"];
        let exec = ask("Shell commands", current, |answer| one_of("mode", &modes, answer))?;
        (choice, token, channel, Some(exec))
    };

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
    let generated = token.is_none() && !has_secret;
    match (&token, generated) {
        (Some(token), _) => set(&mut raw, "gateway.auth.token", json!(token))?,
        (None, true) => set(&mut raw, "gateway.auth.token", json!(openclaw_gateway::new_secret()))?,
        (None, false) => {}
    }
    if let Some(channel) = &channel {
        for (key, value) in &channel.keys {
            set(&mut raw, &format!("channels.{}.{key}", channel.name), value.clone())?;
        }
    }
    if let Some(exec) = exec {
        set(&mut raw, "tools.exec.security", json!(exec))?;
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
    let missing_key = choice.key_env.as_ref().filter(|var| super::env(var).is_none_or(|value| value.is_empty()));
    if let Some(var) = missing_key {
        println!("Note: {var} is not set in this shell; export it before talking to the agent.");
    }
    match (&token, generated) {
        (Some(_), _) => println!("Gateway token: yours, in gateway.auth.token"),
        (None, true) => {
            println!(
                "Gateway token: generated into gateway.auth.token (clients: openclaw config get gateway.auth.token)"
            )
        }
        (None, false) => println!("Gateway token: kept the configured one"),
    }
    if let Some(channel) = &channel {
        println!("Channel: {} (channels.{})", channel.name, channel.name);
    }
    let exec = openclaw_config::get_path(&raw, "tools.exec.security").and_then(Value::as_str).unwrap_or("full");
    let bind = match openclaw_config::get_path(&raw, "gateway.bind").and_then(Value::as_str) {
        None | Some("loopback") => "listens on loopback only".to_owned(),
        Some(bind) => format!("binds {bind} (gateway.bind)"),
    };
    println!(
        "Security: the gateway {bind} and needs its token; shell commands: {exec}, sandboxed. Review with: \
         openclaw security audit"
    );
    for line in next_steps(&choice, missing_key.map(String::as_str), channel.as_ref()) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// What to run next, for the choices made: the first command works as printed (after the export it names).
fn next_steps(choice: &Choice, missing_key: Option<&str>, channel: Option<&ChannelChoice>) -> Vec<String> {
    let mut steps = Vec::new();
    let first = "openclaw agent --local -m \"hello\"";
    match missing_key {
        Some(var) => steps.push(format!("Next: export {var}=<your key>, then {first}")),
        None => steps.push(format!("Next: {first}")),
    }
    if choice.api == "local" {
        steps.push("      (the embedded model answers offline; a small model, so keep questions simple)".to_owned());
    }
    match channel.map(|channel| channel.name) {
        Some("telegram") => {
            steps.push("Then: openclaw gateway run, and message your bot on Telegram;".to_owned());
            steps.push(
                "      a stranger's first message gets a code: openclaw pairing approve telegram <CODE>".to_owned(),
            );
        }
        Some(name) => steps.push(format!(
            "Then: openclaw gateway run; the {name} channel listens on the gateway's port (openclaw channels status)"
        )),
        None => steps.push("Then: openclaw gateway run, and openclaw dashboard for its address".to_owned()),
    }
    steps
}
