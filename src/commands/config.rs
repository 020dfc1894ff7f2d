//! `openclaw config get|set|validate`.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use serde_json::Value;

use super::Ctx;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a value (the whole file without a path), as written (`${VAR}` not substituted), or its default.
    Get {
        /// The dot path, e.g. gateway.port (none: the whole file).
        path: Option<String>,
    },
    /// Set a value; VALUE is parsed as JSON5 (so `18789`, `true`, `["a"]` work), else taken as a string.
    Set {
        /// The dot path, e.g. gateway.port.
        path: String,
        /// The value: JSON5 (18789, true, ["a"]) or else plain text.
        value: String,
    },
    /// Validate the configuration and report every problem.
    Validate {
        /// Print the result as JSON ({valid, issues, warnings}).
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(ctx: &Ctx, command: ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Get { path } => {
            let loaded = ctx.load()?;
            let value = match &path {
                None => Some(&loaded.raw),
                Some(path) => openclaw_config::get_path(&loaded.raw, path),
            };
            let show = |value: &Value| match value {
                Value::String(text) => text.clone(),
                value => serde_json::to_string_pretty(value).unwrap_or_default(),
            };
            match (value, &path) {
                (Some(value), _) => println!("{}", show(value)),
                // Not in the file: the value in force is the default, said so on a terminal.
                (None, Some(path)) => match openclaw_config::get_path(loaded.config_json(), path) {
                    Some(value) if !value.is_null() => {
                        let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
                        println!("{}{}", show(value), if terminal { " (default)" } else { "" });
                    }
                    _ => bail!("{path} is not set and has no default (set it: openclaw config set {path} <value>)"),
                },
                (None, None) => bail!("the configuration is empty"),
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Set { path, value } => {
            let paths = ctx.paths()?;
            let loaded = openclaw_config::load(&paths, &super::env)?;
            let mut raw = if loaded.exists { loaded.raw } else { serde_json::json!({}) };
            let parsed =
                openclaw_config::parse_json5(&value, &paths.config_path).unwrap_or(Value::String(value.clone()));
            openclaw_config::set_path(&mut raw, &path, parsed).map_err(anyhow::Error::msg)?;
            // Refuse to write a configuration that would not load.
            openclaw_config::load_str(&serde_json::to_string(&raw)?, &paths, &super::env)?;
            openclaw_config::save_raw(&paths, &raw)?;
            println!("Set {path}");
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Validate { json } => {
            let paths = ctx.paths()?;
            match openclaw_config::load(&paths, &super::env) {
                Ok(loaded) => {
                    let mut warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
                    warnings.extend(super::skills::agent_reference_warnings(&loaded));
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"valid": true, "path": paths.config_path, "warnings": warnings})
                        );
                    } else {
                        for warning in &warnings {
                            eprintln!("warning: {warning}");
                        }
                        println!("{} is valid ({} agents)", paths.config_path.display(), loaded.agents().len());
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({"valid": false, "path": paths.config_path, "error": error.to_string()})
                        );
                        Ok(ExitCode::FAILURE)
                    } else {
                        Err(error.into())
                    }
                }
            }
        }
    }
}
