//! `openclaw agent deploy`: the seed's commands. `deploy <id> --channel <c>` routes a channel's messages to an
//! agent (a `bindings` entry, as the reference writes routing); `deploy --config agent-config.json` installs a
//! seed-format agent file as `<state dir>/agents/<id>.json`. Either is checked by loading the whole configuration
//! before it is kept, and a running gateway picks it up on its next reload (within a second).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};

use super::Ctx;

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  openclaw agent deploy customer-support --channel telegram\n  \
                        openclaw agent deploy --config agent-config.json\n  \
                        openclaw agent deploy --config agent-config.json --channel webhook")]
pub struct DeployArgs {
    /// The agent's id (with --config: the file's `id` when omitted).
    id: Option<String>,
    /// A channel whose messages this agent answers (repeatable); written as a `bindings` entry.
    #[arg(long = "channel", value_name = "CHANNEL")]
    channels: Vec<String>,
    /// A seed-format agent file (JSON or JSON5: id, name, model, skills, channels, personality) to install as
    /// <state dir>/agents/<id>.json.
    #[arg(long = "config", value_name = "FILE")]
    file: Option<PathBuf>,
}

/// Installs `file` as the agent file of its id, keeping it only if the configuration still loads.
fn install_file(ctx: &Ctx, file: &Path, id: Option<&str>) -> anyhow::Result<String> {
    let paths = ctx.paths()?;
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut entry = openclaw_config::parse_json5(&text, file)?;
    let Some(object) = entry.as_object_mut() else {
        bail!(
            "{} must hold one JSON object (the agent: id, name, model, skills, channels, personality)",
            file.display()
        );
    };
    let named = object.get("id").and_then(Value::as_str).map(str::to_owned);
    let id = match (id, named.as_deref()) {
        (Some(given), Some(named)) if given != named => {
            bail!(
                "{} is agent {named:?}, not {given:?} (fix: drop the id argument, or change the file's id)",
                file.display()
            )
        }
        (Some(id), _) | (None, Some(id)) if !id.is_empty() => id.to_owned(),
        _ => bail!("{} has no \"id\" (fix: add \"id\": \"customer-support\", or pass the id)", file.display()),
    };
    // Checked before it names a file: an id is a file name here, so `../x` must never reach the path.
    openclaw_protocol::AgentId::new(&id).map_err(|error| anyhow::anyhow!("{}: {error}", file.display()))?;
    object.insert("id".to_owned(), json!(id));
    let dir = paths.state_dir.join("agents");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let target = dir.join(format!("{id}.json"));
    let before = std::fs::read(&target).ok();
    std::fs::write(&target, serde_json::to_string_pretty(&entry)? + "\n")
        .with_context(|| format!("cannot write {}", target.display()))?;
    // The whole configuration must load with it; if not, the previous file (or none) is put back.
    if let Err(error) = openclaw_config::load(&paths, &super::env) {
        let restored = match &before {
            Some(bytes) => std::fs::write(&target, bytes),
            None => std::fs::remove_file(&target),
        };
        if let Err(undo) = restored {
            eprintln!("warning: could not restore {}: {undo}", target.display());
        }
        return Err(anyhow::Error::from(error).context(format!("{} was not installed", file.display())));
    }
    println!("Installed {} as {}", file.display(), target.display());
    Ok(id)
}

/// Adds a `bindings` entry routing `channel` to `agent`, unless one exists; returns whether it was added.
fn bind(raw: &mut Value, agent: &str, channel: &str) -> anyhow::Result<bool> {
    if !raw.is_object() {
        *raw = json!({});
    }
    let bindings =
        raw.as_object_mut().context("the config is not an object")?.entry("bindings").or_insert_with(|| json!([]));
    let Some(list) = bindings.as_array_mut() else { bail!("bindings in the config is not a list (fix it by hand)") };
    let exists = list.iter().any(|binding| {
        binding["agentId"] == agent
            && binding["match"]["channel"] == channel
            && binding["match"].as_object().is_some_and(|m| m.len() == 1)
    });
    if !exists {
        list.push(json!({"agentId": agent, "match": {"channel": channel}}));
    }
    Ok(!exists)
}

pub async fn deploy(ctx: &Ctx, args: DeployArgs) -> anyhow::Result<ExitCode> {
    for channel in &args.channels {
        super::check_channel(channel)
            .map_err(|known| anyhow::anyhow!("unknown channel {channel:?} (this build has: {known})"))?;
    }
    let id = match &args.file {
        Some(file) => install_file(ctx, file, args.id.as_deref())?,
        None => args.id.clone().context("which agent? (fix: openclaw agent deploy <id> --channel <channel>)")?,
    };
    let paths = ctx.paths()?;
    let loaded = openclaw_config::load(&paths, &super::env)?;
    let agent = super::find_agent(&loaded, Some(&id))?;
    if args.file.is_none() && args.channels.is_empty() {
        bail!("nothing to deploy (fix: --channel <channel>, or --config <agent file>)");
    }
    let mut raw = if loaded.exists { loaded.raw.clone() } else { json!({}) };
    let mut added = Vec::new();
    for channel in &args.channels {
        if bind(&mut raw, &id, channel)? {
            added.push(channel.clone());
        }
    }
    if !added.is_empty() {
        openclaw_config::load_str(&serde_json::to_string(&raw)?, &paths, &super::env)?;
        openclaw_config::save_raw(&paths, &raw)?;
    }
    // Every channel the agent answers on: bound now, bound before, or named in its own `channels`.
    let mut channels: Vec<String> = agent.channels.clone();
    channels.extend(args.channels.iter().cloned());
    channels
        .extend(loaded.config.bindings.iter().filter(|b| b.agent_id == id).filter_map(|b| b.matcher.channel.clone()));
    channels.sort();
    channels.dedup();
    for channel in &channels {
        let set_up = channel == "webchat" || loaded.config.channels.contains_key(channel);
        if super::check_channel(channel).is_err() {
            eprintln!("warning: {id} names channel {channel:?}, which this build does not have");
        } else if !set_up {
            eprintln!(
                "warning: channel {channel} is not set up yet: its messages reach {id} once it is (openclaw channels login {channel})"
            );
        }
    }
    let on = if channels.is_empty() { "no channel yet".to_owned() } else { channels.join(", ") };
    println!("Deployed {id}: answers on {on}.");
    println!("A running gateway picks this up within a second; follow it with: openclaw logs --agent {id} --follow");
    Ok(ExitCode::SUCCESS)
}
