//! `openclaw agents list|add`.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use serde_json::json;

use super::Ctx;

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// List the configured agents.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Add an agent (`agents.entries.<id>`) and create its workspace.
    Add {
        /// The new agent's id (lowercase letters, digits, - and _), e.g. support.
        id: String,
        /// A display name for it (default: the id).
        #[arg(long)]
        name: Option<String>,
        /// Model ref `provider/model` (default: agents.defaults.model).
        #[arg(long)]
        model: Option<String>,
        /// Workspace folder (default: <state dir>/workspace-<id>).
        #[arg(long)]
        workspace: Option<String>,
    },
}

pub async fn run(ctx: &Ctx, command: AgentsCommand) -> anyhow::Result<ExitCode> {
    match command {
        AgentsCommand::List { json } => {
            let loaded = ctx.load()?;
            let agents = loaded.agents();
            if json {
                let list: Vec<_> = agents
                    .iter()
                    .map(|a| json!({"id": a.id, "name": a.name, "default": a.is_default, "model": a.model, "workspace": a.workspace, "source": a.source}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for agent in agents {
                    let marker = if agent.is_default { " (default)" } else { "" };
                    println!(
                        "{}{marker}\t{}\tmodel={}\tworkspace={}",
                        agent.id,
                        agent.name.as_deref().unwrap_or("-"),
                        agent.model.as_deref().unwrap_or("(none)"),
                        agent.workspace.display()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AgentsCommand::Add { id, name, model, workspace } => {
            openclaw_protocol::AgentId::new(&id)?;
            let loaded = ctx.load()?;
            if loaded.agent(&id).is_some_and(|agent| agent.source != "implicit") {
                bail!("agent {id:?} already exists");
            }
            if let Some(model) = &model
                && openclaw_models::ModelRef::parse(model).is_none()
            {
                bail!("--model {model:?} is not a model ref (fix: \"provider/model\")");
            }
            let mut raw = if loaded.exists { loaded.raw.clone() } else { json!({}) };
            // The implicit `main` agent of a single-agent install must survive the first explicit agent, and a roster
            // of several agents names its default the way the reference (2026.9) wants: explicit ownership plus
            // `agents.defaults.systemAgent.agentId` (it retired `default: true` markers on entries).
            let default = loaded.default_agent();
            if default.source == "implicit" {
                openclaw_config::set_path(&mut raw, "agents.entries.main", json!({})).map_err(anyhow::Error::msg)?;
            }
            if openclaw_config::get_path(&raw, "agents.defaults.systemAgent.agentId").is_none() {
                openclaw_config::set_path(&mut raw, "agents.defaults.systemAgent.agentId", json!(default.id))
                    .map_err(anyhow::Error::msg)?;
            }
            openclaw_config::set_path(&mut raw, "agents.ownership", json!("explicit")).map_err(anyhow::Error::msg)?;
            let mut entry = json!({});
            if let Some(name) = name {
                entry["name"] = json!(name);
            }
            if let Some(model) = model {
                entry["model"] = json!(model);
            }
            if let Some(workspace) = workspace {
                entry["workspace"] = json!(workspace);
            }
            openclaw_config::set_path(&mut raw, &format!("agents.entries.{id}"), entry).map_err(anyhow::Error::msg)?;
            openclaw_config::load_str(&serde_json::to_string(&raw)?, &loaded.paths, &super::env)?;
            openclaw_config::save_raw(&loaded.paths, &raw)?;
            let loaded = ctx.load()?;
            if let Some(agent) = loaded.agent(&id) {
                openclaw_agent::ensure_workspace(&agent.workspace)?;
                println!("Added agent {id} (workspace {})", agent.workspace.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
