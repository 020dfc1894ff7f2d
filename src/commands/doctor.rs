//! `openclaw doctor`: configuration, state-dir permissions (700 dirs, 600 files), database integrity, and whether
//! each provider the agents use answers.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use openclaw_store::Store;

use super::Ctx;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Fix what can be fixed safely (permissions).
    #[arg(long, alias = "repair")]
    fix: bool,
}

struct Report {
    failures: usize,
}

impl Report {
    fn ok(&self, what: &str) {
        println!("ok    {what}");
    }
    fn fail(&mut self, what: &str) {
        self.failures += 1;
        println!("FAIL  {what}");
    }
    fn warn(&self, what: &str) {
        println!("warn  {what}");
    }
}

fn check_mode(report: &mut Report, path: &Path, want: u32, fix: bool) {
    let Ok(meta) = std::fs::metadata(path) else { return };
    let mode = meta.permissions().mode() & 0o777;
    if mode & !want == 0 {
        report.ok(&format!("{} has mode {mode:o}", path.display()));
    } else if fix {
        openclaw_config::set_mode(path, want);
        report.ok(&format!("{} was {mode:o}, set to {want:o}", path.display()));
    } else {
        report
            .fail(&format!("{} has mode {mode:o}; it should be {want:o} (fix: openclaw doctor --fix)", path.display()));
    }
}

pub async fn run(ctx: &Ctx, args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let mut report = Report { failures: 0 };
    let paths = ctx.paths()?;
    let loaded = match openclaw_config::load(&paths, &super::env) {
        Ok(loaded) => {
            report.ok(&format!("configuration {} is valid", paths.config_path.display()));
            for warning in &loaded.warnings {
                report.warn(&warning.to_string());
            }
            for warning in super::skills::agent_reference_warnings(&loaded) {
                report.warn(&warning);
            }
            loaded
        }
        Err(error) => {
            report.fail(&error.to_string());
            println!("\n1 problem found.");
            return Ok(ExitCode::FAILURE);
        }
    };
    check_mode(&mut report, &paths.state_dir, 0o700, args.fix);
    check_mode(&mut report, &paths.state_dir.join("state"), 0o700, args.fix);
    check_mode(&mut report, &paths.config_path, 0o600, args.fix);
    for dir in [paths.state_dir.join("logs"), paths.state_dir.join("skills")] {
        if dir.exists() {
            check_mode(&mut report, &dir, 0o700, args.fix);
        }
    }
    for agent in loaded.agents() {
        if agent.workspace.exists() {
            check_mode(&mut report, &agent.workspace, 0o700, args.fix);
        }
    }
    let db = paths.database_path();
    check_mode(&mut report, &db, 0o600, args.fix);
    if db.exists() {
        match ctx.store(&paths).await {
            Ok(store) => match store.check_integrity().await {
                Ok(problems) if problems.is_empty() => {
                    report.ok(&format!("database {} passes its integrity check", db.display()))
                }
                Ok(problems) => report.fail(&format!("database integrity: {}", problems.join("; "))),
                Err(error) => report.fail(&format!("database: {error}")),
            },
            Err(error) => report.fail(&format!("database: {error:#}")),
        }
    }
    let probe = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let mut probed: Vec<String> = Vec::new();
    for agent in loaded.agents() {
        let Some(model) = &agent.model else {
            report.fail(&format!("agent {} has no model (fix: openclaw setup)", agent.id));
            continue;
        };
        let Some(model_ref) = openclaw_models::ModelRef::parse(model) else { continue };
        // Agents often share a provider: check each one once.
        if probed.contains(&model_ref.provider) {
            continue;
        }
        probed.push(model_ref.provider.clone());
        let provider = loaded.config.models.providers.get(&model_ref.provider).cloned().unwrap_or_default();
        match openclaw_agent::provider_settings(&model_ref.provider, &provider, &super::env) {
            Err(error) => report.fail(&format!("agent {}: {error}", agent.id)),
            Ok(settings) if settings.api == openclaw_models::Api::Local => {
                // In-process: the file must be there and readable; nothing to reach.
                let dir = openclaw_agent::local_dir(&settings, &openclaw_agent::models_dir(&loaded.paths));
                let checked =
                    openclaw_local::model_path(&dir, &model_ref.model).map_err(|error| error.to_string()).and_then(
                        |path| openclaw_local::inspect(&path).map(|info| (path, info)).map_err(|e| e.to_string()),
                    );
                match checked {
                    Ok((path, info)) => report.ok(&format!(
                        "local model {model} at {} ({:.0}M parameters, {})",
                        path.display(),
                        info.parameters as f64 / 1e6,
                        info.quantization
                    )),
                    Err(error) => report
                        .fail(&format!("agent {}: {error} (fix: openclaw models pull {})", agent.id, model_ref.model)),
                }
            }
            Ok(settings) => {
                let url = settings.base_url.trim_end_matches('/').to_owned();
                match probe.get(&url).send().await {
                    Ok(response) => report.ok(&format!(
                        "provider {} at {url} answers (HTTP {})",
                        model_ref.provider,
                        response.status().as_u16()
                    )),
                    Err(error) => report.fail(&format!(
                        "provider {} at {url} is unreachable: {error} (fix: check models.providers.{}.baseUrl)",
                        model_ref.provider, model_ref.provider
                    )),
                }
            }
        }
    }
    if report.failures == 0 {
        println!("\nNo problems found.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("\n{} problem(s) found.", report.failures);
        Ok(ExitCode::FAILURE)
    }
}
