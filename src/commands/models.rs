//! `openclaw models pull|list`: the embedded local models under `<state dir>/models/`, and the configured remote ones.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use serde_json::{Value, json};

use super::Ctx;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Fetch a local model into <state dir>/models (default: smollm2-135m), or copy a GGUF file there with --file.
    Pull {
        /// The model: a catalog name (see `models list`), or the name to give the --file copy.
        name: Option<String>,
        /// Take this local GGUF file instead of downloading (any llama-architecture GGUF with a chat template).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Replace a model that is already there.
        #[arg(long)]
        force: bool,
    },
    /// List the local models (pulled and available) and the configured remote ones.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(ctx: &Ctx, command: ModelsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelsCommand::Pull { name, file, force } => pull(ctx, name, file, force).await,
        ModelsCommand::List { json } => list(ctx, json),
    }
}

/// A progress bar over the bytes written, plus plain lines for the steps.
pub(super) fn reporter() -> impl FnMut(openclaw_local::Progress) {
    let mut bar: Option<indicatif::ProgressBar> = None;
    move |progress| match progress {
        openclaw_local::Progress::Step(line) => {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
            eprintln!("{line}");
        }
        openclaw_local::Progress::Bytes { done, total } => {
            let bar = bar.get_or_insert_with(|| {
                let bar = indicatif::ProgressBar::new(total);
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{bar:40.cyan/blue} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
                ) {
                    bar.set_style(style);
                }
                bar
            });
            bar.set_position(done);
            if done >= total {
                bar.finish();
            }
        }
    }
}

async fn pull(ctx: &Ctx, name: Option<String>, file: Option<PathBuf>, force: bool) -> anyhow::Result<ExitCode> {
    let paths = ctx.paths()?;
    let dir = openclaw_agent::models_dir(&paths);
    let result = tokio::task::spawn_blocking(move || {
        let mut progress = reporter();
        match file {
            Some(file) => {
                let name = name.unwrap_or_else(|| openclaw_local::name_for_file(&file));
                openclaw_local::pull_file(&file, &name, &dir, force, &mut progress)
            }
            None => {
                let name = name.as_deref().unwrap_or(openclaw_local::DEFAULT_MODEL);
                let Some(entry) = openclaw_local::catalog(name) else {
                    let known: Vec<&str> = openclaw_local::CATALOG.iter().map(|entry| entry.name).collect();
                    return Err(openclaw_local::PullError::NotAModel {
                        path: dir.join(name),
                        reason: format!(
                            "{name:?} is not in the catalog ({}); for another GGUF use --file PATH",
                            known.join(", ")
                        ),
                    });
                };
                openclaw_local::pull_catalog(entry, &dir, force, &super::env, &mut progress)
            }
        }
    })
    .await?;
    let (path, inspected) = match result {
        Ok(done) => done,
        Err(openclaw_local::PullError::Exists { path }) => {
            let name = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or_default().to_owned();
            println!("local/{name} is already at {} (use --force to fetch it again)", path.display());
            return Ok(ExitCode::SUCCESS);
        }
        Err(error) => bail!(error),
    };
    let name = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or_default();
    println!(
        "Pulled local/{name}: {} ({:.0}M parameters, {}) at {}",
        inspected.name.as_deref().unwrap_or(&inspected.architecture),
        inspected.parameters as f64 / 1e6,
        inspected.quantization,
        path.display()
    );
    println!("Use it: openclaw setup --non-interactive --provider local --model {name}");
    Ok(ExitCode::SUCCESS)
}

fn list(ctx: &Ctx, as_json: bool) -> anyhow::Result<ExitCode> {
    let loaded = ctx.load()?;
    let dir = openclaw_agent::models_dir(&loaded.paths);
    let default_ref = loaded.default_agent().model.clone();
    // Which agents use which model ref (primary or fallback).
    let mut used_by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for agent in loaded.agents() {
        for model in agent.model.iter().chain(&agent.fallbacks) {
            used_by.entry(model.clone()).or_default().push(agent.id.to_string());
        }
    }
    let mut rows: Vec<Value> = Vec::new();
    let installed = openclaw_local::installed(&dir);
    for model in &installed {
        let model_ref = format!("local/{}", model.name);
        rows.push(json!({
            "ref": model_ref, "provider": "local", "local": true, "installed": true,
            "path": model.path, "bytes": model.bytes,
            "default": default_ref.as_deref() == Some(model_ref.as_str()),
            "usedBy": used_by.get(&model_ref).cloned().unwrap_or_default(),
        }));
    }
    for entry in openclaw_local::CATALOG.iter().filter(|entry| !installed.iter().any(|m| m.name == entry.name)) {
        let model_ref = format!("local/{}", entry.name);
        rows.push(json!({
            "ref": model_ref, "provider": "local", "local": true, "installed": false,
            "description": entry.description, "bytes": entry.bytes,
            "default": default_ref.as_deref() == Some(model_ref.as_str()),
            "usedBy": used_by.get(&model_ref).cloned().unwrap_or_default(),
            "pull": format!("openclaw models pull {}", entry.name),
        }));
    }
    // Remote: every configured provider's models, and every model ref an agent names.
    let mut remote: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (provider, config) in &loaded.config.models.providers {
        let problem =
            openclaw_agent::provider_settings(provider, config, &super::env).err().map(|error| error.to_string());
        for model in &config.models {
            remote.insert(format!("{provider}/{}", model.id), problem.clone());
        }
    }
    for model_ref in used_by.keys().filter(|model_ref| !model_ref.starts_with("local/")) {
        remote.entry(model_ref.clone()).or_insert_with(|| {
            let provider = model_ref.split('/').next().unwrap_or_default();
            let config = loaded.config.models.providers.get(provider).cloned().unwrap_or_default();
            openclaw_agent::provider_settings(provider, &config, &super::env).err().map(|error| error.to_string())
        });
    }
    for (model_ref, problem) in remote {
        rows.push(json!({
            "ref": model_ref, "provider": model_ref.split('/').next().unwrap_or_default(), "local": false,
            "available": problem.is_none(), "problem": problem,
            "default": default_ref.as_deref() == Some(model_ref.as_str()),
            "usedBy": used_by.get(&model_ref).cloned().unwrap_or_default(),
        }));
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&json!({"modelsDir": dir, "models": rows}))?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Local models ({}):", dir.display());
    for row in rows.iter().filter(|row| row["local"] == true) {
        let mark = if row["default"] == true { " (default)" } else { "" };
        let size = row["bytes"].as_u64().unwrap_or(0) / 1_000_000;
        if row["installed"] == true {
            println!("  {}{mark}\t{size} MB\tready", row["ref"].as_str().unwrap_or_default());
        } else {
            println!(
                "  {}{mark}\t{size} MB\tnot pulled: {}",
                row["ref"].as_str().unwrap_or_default(),
                row["pull"].as_str().unwrap_or_default()
            );
        }
    }
    let remote: Vec<&Value> = rows.iter().filter(|row| row["local"] == false).collect();
    if !remote.is_empty() {
        println!("Remote models:");
        for row in remote {
            let mark = if row["default"] == true { " (default)" } else { "" };
            let state = row["problem"].as_str().unwrap_or("ready");
            println!("  {}{mark}\t{state}", row["ref"].as_str().unwrap_or_default());
        }
    }
    Ok(ExitCode::SUCCESS)
}
