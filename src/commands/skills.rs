//! `openclaw skills list|info|check|install|remove`.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use openclaw_agent::{SkillStatus, SkillsSettings, skill_statuses};
use openclaw_config::{Loaded, ResolvedAgent};
use serde_json::json;

use super::{Ctx, skills_host};

#[derive(Debug, Subcommand)]
pub enum SkillsCommand {
    /// List the skills an agent can see, with whether each is ready.
    List {
        /// The agent (default: the default agent).
        #[arg(long)]
        agent: Option<String>,
        /// Only the skills that are ready to use.
        #[arg(long)]
        eligible: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Everything about one skill: where it is, what it needs, what it may touch.
    Info {
        /// The skill's name (as `skills list` shows it).
        name: String,
        /// The agent whose view to show (default: the default agent).
        #[arg(long)]
        agent: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Which skills are ready and what the others are missing.
    Check {
        /// The agent whose skills to check (default: the default agent).
        #[arg(long)]
        agent: Option<String>,
    },
    /// Install a skill folder or a git repository (`https://…/repo.git#ref`, `file://…`) into the agent's
    /// workspace `skills/` (or, with --global, into `<state dir>/skills` for every agent).
    Install {
        /// Where the skill is: a folder with a SKILL.md, or git+<url>[#ref].
        source: String,
        /// Install under this name instead of the SKILL.md's.
        #[arg(long = "as")]
        as_name: Option<String>,
        /// Install into <state dir>/skills for every agent (shows its grants and asks; --yes without a terminal).
        #[arg(long)]
        global: bool,
        /// Replace an installed skill of the same name.
        #[arg(long)]
        force: bool,
        /// Grant the permissions a --global skill declares without asking (needed when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
        /// The agent whose workspace gets it (default: the default agent).
        #[arg(long)]
        agent: Option<String>,
    },
    /// Remove an installed skill.
    Remove {
        /// The skill's name.
        name: String,
        /// Remove it from <state dir>/skills (the global one).
        #[arg(long)]
        global: bool,
        /// The agent whose workspace holds it (default: the default agent).
        #[arg(long)]
        agent: Option<String>,
    },
}

fn agent<'a>(loaded: &'a Loaded, id: Option<&str>) -> anyhow::Result<&'a ResolvedAgent> {
    super::find_agent(loaded, id)
}

/// Shows what an installed skill asks for and, for an operator-managed (--global) install, asks the operator to
/// grant it; a workspace install gets no grants (the agent can write its workspace), which is said.
fn confirm_grants(dir: &std::path::Path, global: bool, yes: bool) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(dir.join("SKILL.md"))?;
    let Some(permissions) = openclaw_skills::read_frontmatter(&text).ok().and_then(|f| f.openclaw.permissions) else {
        return Ok(true);
    };
    let asks = format!(
        "read {:?}, write {:?}, network {}, environment {:?}",
        permissions.read,
        permissions.write,
        permissions.network.unwrap_or(false),
        permissions.env
    );
    if !global {
        println!(
            "It asks for: {asks}. In a workspace these are not granted (the agent can write there): install it with --global, or grant them in skills.entries.<name>.permissions."
        );
        return Ok(true);
    }
    println!("It asks for: {asks}.");
    if yes {
        return Ok(true);
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    print!("Grant these to its program for every agent? [y/N] ");
    std::io::Write::flush(&mut std::io::stdout())?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Where `install`/`remove` work: the agent's workspace `skills/`, or with `--global` the state dir's.
fn root(loaded: &Loaded, agent: &ResolvedAgent, global: bool) -> std::path::PathBuf {
    if global { loaded.paths.state_dir.join("skills") } else { agent.workspace.join("skills") }
}

fn statuses(loaded: &Loaded, agent: &ResolvedAgent) -> (Vec<SkillStatus>, Vec<openclaw_skills::Problem>) {
    let settings = SkillsSettings::from_loaded(loaded, agent.skills.clone());
    skill_statuses(&skills_host(&loaded.paths), &agent.workspace, &settings)
}

/// What agents name that does not exist (the seed's agent files list skills and channels by name): a skill not
/// installed anywhere the agent looks, a channel this build lacks or has not set up. Warnings for `config validate`
/// and `doctor`: the agent still runs, without them.
pub fn agent_reference_warnings(loaded: &Loaded) -> Vec<String> {
    let mut warnings = Vec::new();
    for agent in loaded.agents() {
        if let Some(listed) = &agent.skills {
            let (found, _) = statuses(loaded, agent);
            for name in listed.iter().filter(|name| !found.iter().any(|status| &status.skill.name == *name)) {
                warnings.push(format!(
                    "agent {} lists skill {name:?}, which is not installed (fix: openclaw skills install <folder or git+URL> --agent {}, or drop it from the agent)",
                    agent.id, agent.id
                ));
            }
        }
        for channel in &agent.channels {
            if let Err(known) = super::check_channel(channel) {
                warnings.push(format!(
                    "agent {} names channel {channel:?}, which this build does not have (it has: {known})",
                    agent.id
                ));
            } else if channel != "webchat" && !loaded.config.channels.contains_key(channel) {
                warnings.push(format!(
                    "agent {} answers on {channel}, which is not set up yet (fix: openclaw channels login {channel})",
                    agent.id
                ));
            }
        }
    }
    warnings
}

fn state(status: &SkillStatus) -> String {
    if !status.allowed {
        "not allowed for this agent (agents.*.skills)".to_owned()
    } else if status.eligibility.eligible {
        "ready".to_owned()
    } else {
        status.eligibility.reasons.join("; ")
    }
}

fn to_json(status: &SkillStatus) -> serde_json::Value {
    let skill = &status.skill;
    let meta = &skill.front.openclaw;
    json!({
        "name": skill.name,
        "description": skill.description,
        "source": skill.source.label(),
        "dir": skill.dir,
        "file": skill.file,
        "eligible": status.eligibility.eligible,
        "allowed": status.allowed,
        "missing": status.eligibility.reasons,
        "emoji": meta.emoji,
        "homepage": skill.front.homepage,
        "userInvocable": skill.front.user_invocable,
        "disableModelInvocation": skill.front.disable_model_invocation,
        "requires": {"bins": meta.requires.bins, "anyBins": meta.requires.any_bins, "env": meta.requires.env, "config": meta.requires.config},
        "os": meta.os,
        "permissions": meta.permissions,
        "install": meta.install,
    })
}

pub async fn run(ctx: &Ctx, command: SkillsCommand) -> anyhow::Result<ExitCode> {
    let loaded = ctx.load()?;
    match command {
        SkillsCommand::List { agent: id, eligible, json } => {
            let agent = agent(&loaded, id.as_deref())?;
            let (statuses, problems) = statuses(&loaded, agent);
            let shown: Vec<&SkillStatus> =
                statuses.iter().filter(|s| !eligible || (s.eligibility.eligible && s.allowed)).collect();
            if json {
                let list: Vec<_> = shown.iter().map(|s| to_json(s)).collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if shown.is_empty() {
                println!(
                    "No skills for agent {} (looked in {}/skills and the shared skill folders).",
                    agent.id,
                    agent.workspace.display()
                );
            } else {
                for status in shown {
                    println!(
                        "{}\t{}\t{}\t{}",
                        status.skill.name,
                        state(status),
                        status.skill.source.label(),
                        status.skill.description
                    );
                }
            }
            for problem in problems {
                eprintln!("warning: skipped {}: {}", problem.path.display(), problem.message);
            }
            Ok(ExitCode::SUCCESS)
        }
        SkillsCommand::Info { name, agent: id, json } => {
            let agent = agent(&loaded, id.as_deref())?;
            let (statuses, _) = statuses(&loaded, agent);
            let Some(status) = statuses.iter().find(|s| s.skill.name == name) else {
                bail!("no skill named {name} for agent {} (see `openclaw skills list`)", agent.id);
            };
            let value = to_json(status);
            if json {
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                let skill = &status.skill;
                println!("{}: {}", skill.name, skill.description);
                println!("  status:   {}", state(status));
                println!("  source:   {} ({})", skill.source.label(), skill.file.display());
                let requires = &skill.front.openclaw.requires;
                for (label, list) in [
                    ("bins", &requires.bins),
                    ("anyBins", &requires.any_bins),
                    ("env", &requires.env),
                    ("config", &requires.config),
                ] {
                    if !list.is_empty() {
                        println!("  requires {label}: {}", list.join(", "));
                    }
                }
                let granted = if openclaw_skills::operator_managed(skill, &agent.workspace) {
                    "granted to its own program"
                } else {
                    "NOT granted: the skill is in a workspace the agent can write"
                };
                match &skill.front.openclaw.permissions {
                    Some(p) => println!(
                        "  permissions: read {:?}, write {:?}, network {}, env {:?} ({granted})",
                        p.read,
                        p.write,
                        p.network.unwrap_or(false),
                        p.env
                    ),
                    None => println!("  permissions: its folder (read) and the workspace only"),
                }
                for install in &skill.front.openclaw.install {
                    if let Some(label) = install.get("label").and_then(|l| l.as_str()) {
                        println!("  install: {label}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        SkillsCommand::Check { agent: id } => {
            let agent = agent(&loaded, id.as_deref())?;
            let (statuses, problems) = statuses(&loaded, agent);
            let ready = statuses.iter().filter(|s| s.eligibility.eligible && s.allowed).count();
            println!("{ready} of {} skills ready for agent {}.", statuses.len(), agent.id);
            for status in statuses.iter().filter(|s| !(s.eligibility.eligible && s.allowed)) {
                println!("  {}: {}", status.skill.name, state(status));
            }
            for problem in &problems {
                println!("  invalid {}: {}", problem.path.display(), problem.message);
            }
            Ok(ExitCode::SUCCESS)
        }
        SkillsCommand::Install { source, as_name, global, force, yes, agent: id } => {
            let agent = agent(&loaded, id.as_deref())?;
            let target = root(&loaded, agent, global);
            let (name, dir) = openclaw_skills::install(&source, &target, as_name.as_deref(), force)?;
            if !confirm_grants(&dir, global, yes)? {
                openclaw_skills::remove(&name, &target)?;
                bail!(
                    "not installed: the permissions {name} asks for were not granted (rerun with --yes to grant them)"
                );
            }
            println!("Installed {name} in {}.", dir.display());
            let (statuses, _) = statuses(&loaded, agent);
            if let Some(status) = statuses.iter().find(|s| s.skill.name == name) {
                println!("Status for agent {}: {}", agent.id, state(status));
            }
            Ok(ExitCode::SUCCESS)
        }
        SkillsCommand::Remove { name, global, agent: id } => {
            let dir = openclaw_skills::remove(&name, &root(&loaded, agent(&loaded, id.as_deref())?, global))?;
            println!("Removed {name} ({}).", dir.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
