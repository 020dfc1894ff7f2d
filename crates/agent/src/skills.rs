//! An agent's skills and tool settings, from the configuration: each turn discovers the skills afresh (so a
//! skill added, removed or made eligible — its binary installed — is seen on the next turn without a watcher),
//! gates them, applies the agent's allowlist, and hands the prompt its index and the tools their grants.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openclaw_config::{ExecConfig, ExecSecurityMode, Loaded, SandboxMode, SkillEntry};
use openclaw_skills::{Eligibility, GateEnv, Skill};
use openclaw_tools::sandbox::{Grants, Limits, Mode};
use openclaw_tools::{Ask, ExecSecurity, ExecSettings, SkillAccess, ToolSettings, WebFetchSettings};
use serde_json::Value;

/// A lookup of the gateway's environment variables.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What skills see of the host: set once by the binary (the agent crate never reads the environment itself).
#[derive(Clone)]
pub struct SkillsHost {
    /// `<state dir>` (its `skills/` is the managed root).
    pub state_dir: Option<PathBuf>,
    /// The user's home (`~/.agents/skills`, `~` in paths).
    pub home: Option<PathBuf>,
    /// Whether the state dir is the default `~/.openclaw` (personal skills are read only then).
    pub default_state: bool,
    /// The gateway's environment (gating on `requires.env`, `PATH`, variables granted to skills).
    pub env: EnvLookup,
}

impl Default for SkillsHost {
    fn default() -> Self {
        SkillsHost { state_dir: None, home: None, default_state: false, env: Arc::new(|_| None) }
    }
}

/// The skills part of an agent's configuration.
#[derive(Debug, Clone, Default)]
pub struct SkillsSettings {
    /// `agents.entries.<id>.skills` else `agents.defaults.skills`; `None` = every skill.
    pub allowlist: Option<Vec<String>>,
    pub extra_dirs: Vec<PathBuf>,
    pub entries: BTreeMap<String, SkillEntry>,
    pub max_in_prompt: usize,
    pub max_prompt_chars: usize,
    pub max_file_bytes: u64,
    /// The configuration as JSON, for `requires.config`.
    pub config: Arc<Value>,
}

impl SkillsSettings {
    /// The settings of an agent with this allowlist.
    pub fn from_loaded(loaded: &Loaded, allowlist: Option<Vec<String>>) -> Self {
        let config = &loaded.config;
        let limits = &config.skills.limits;
        SkillsSettings {
            allowlist,
            extra_dirs: config.skills.load.extra_dirs.iter().map(PathBuf::from).collect(),
            entries: config.skills.entries.clone(),
            max_in_prompt: limits.max_skills_in_prompt.unwrap_or(openclaw_skills::DEFAULT_MAX_IN_PROMPT),
            max_prompt_chars: limits.max_skills_prompt_chars.unwrap_or(openclaw_skills::DEFAULT_MAX_PROMPT_CHARS),
            max_file_bytes: limits.max_skill_file_bytes.unwrap_or(openclaw_skills::DEFAULT_MAX_FILE_BYTES),
            config: loaded.config_json().clone(),
        }
    }
}

/// One discovered skill as an agent sees it.
#[derive(Debug, Clone)]
pub struct SkillStatus {
    pub skill: Skill,
    pub eligibility: Eligibility,
    /// Whether the agent's allowlist includes it.
    pub allowed: bool,
}

/// Every skill an agent could see, with its status, and the SKILL.md files that failed to load.
pub fn skill_statuses(
    host: &SkillsHost,
    workspace: &std::path::Path,
    settings: &SkillsSettings,
) -> (Vec<SkillStatus>, Vec<openclaw_skills::Problem>) {
    let roots = openclaw_skills::roots(
        workspace,
        host.state_dir.as_deref(),
        host.home.as_deref(),
        host.default_state,
        &settings.extra_dirs,
    );
    let catalog = openclaw_skills::discover(&roots, settings.max_file_bytes);
    let path = (host.env)("PATH");
    let gate = GateEnv { path: path.as_deref(), env: &*host.env, config: &settings.config, entries: &settings.entries };
    let statuses = catalog
        .skills
        .into_iter()
        .map(|skill| {
            let eligibility = openclaw_skills::check(&skill, &gate);
            let allowed = openclaw_skills::allowed(settings.allowlist.as_deref(), &skill.name);
            SkillStatus { skill, eligibility, allowed }
        })
        .collect();
    (statuses, catalog.problems)
}

/// What one turn gets from the skills: the prompt section and the grants of the usable ones.
pub(crate) struct TurnSkills {
    pub prompt: String,
    pub access: Vec<SkillAccess>,
}

pub(crate) fn turn_skills(host: &SkillsHost, workspace: &std::path::Path, settings: &SkillsSettings) -> TurnSkills {
    let (statuses, problems) = skill_statuses(host, workspace, settings);
    for problem in &problems {
        tracing::warn!(path = %problem.path.display(), problem = %problem.message, "skipped a skill");
    }
    let usable: Vec<&Skill> = statuses
        .iter()
        .filter(|status| status.eligibility.eligible && status.allowed)
        .map(|status| &status.skill)
        .collect();
    let prompt = openclaw_skills::prompt_section(&usable, settings.max_in_prompt, settings.max_prompt_chars);
    let env: &dyn Fn(&str) -> Option<String> = &*host.env;
    let access = usable
        .iter()
        .map(|skill| {
            let entry = settings.entries.get(&skill.name);
            let api_key = entry.and_then(|entry| entry.api_key.as_ref()).and_then(|key| key.resolve(env).ok());
            let granted = openclaw_skills::access(skill, entry, api_key, env, host.home.as_deref(), workspace);
            SkillAccess {
                name: skill.name.clone(),
                dir: skill.dir.clone(),
                grants: Grants { read: granted.read, write: granted.write, network: granted.network },
                env: granted.env,
            }
        })
        .collect();
    TurnSkills { prompt, access }
}

/// Default programs of `tools.exec.security = "allowlist"`: read-only text tools that run no other program
/// (`find` was one until it turned out to: `-exec`, `-fprintf`).
const DEFAULT_SAFE_BINS: &[&str] =
    &["ls", "cat", "head", "tail", "wc", "grep", "sort", "uniq", "cut", "tr", "echo", "pwd", "date", "jq"];

/// `tools.exec` and `tools.web.fetch` → how `exec` and `web_fetch` behave.
pub(crate) fn tool_settings(tools: &openclaw_config::ToolPolicy) -> ToolSettings {
    ToolSettings {
        exec: exec_settings(&tools.exec),
        web_fetch: web_fetch_settings(&tools.web.fetch),
        workspace_bytes: tools
            .fs
            .max_workspace_mb
            .map(|mb| mb << 20)
            .unwrap_or(openclaw_tools::DEFAULT_WORKSPACE_BYTES),
    }
}

fn web_fetch_settings(fetch: &openclaw_config::WebFetchConfig) -> WebFetchSettings {
    let defaults = WebFetchSettings::default();
    WebFetchSettings {
        enabled: fetch.enabled.unwrap_or(defaults.enabled),
        max_chars: fetch.max_chars.unwrap_or(defaults.max_chars),
        max_response_bytes: fetch.max_response_bytes.unwrap_or(defaults.max_response_bytes),
        max_redirects: fetch.max_redirects.unwrap_or(defaults.max_redirects),
        timeout: fetch.timeout_seconds.map(Duration::from_secs).unwrap_or(defaults.timeout),
        user_agent: fetch.user_agent.clone().unwrap_or(defaults.user_agent),
        allowed_hostnames: fetch.ssrf_policy.allowed_hostnames.clone(),
        blocked_hostnames: fetch.ssrf_policy.blocked_hostnames.clone(),
        allow_private: fetch.ssrf_policy.dangerously_allow_private_network.unwrap_or(false),
    }
}

fn exec_settings(exec: &ExecConfig) -> ExecSettings {
    let sandbox = &exec.sandbox;
    let defaults = Limits::default();
    let limits = Limits {
        cpu_seconds: sandbox.cpu_seconds.unwrap_or(defaults.cpu_seconds),
        memory_bytes: sandbox.memory_mb.map(|mb| mb << 20).unwrap_or(defaults.memory_bytes),
        processes: sandbox.max_processes.unwrap_or(defaults.processes),
        file_bytes: sandbox.max_file_mb.map(|mb| mb << 20).unwrap_or(defaults.file_bytes),
        write_bytes: sandbox.max_write_mb.map(|mb| mb << 20).unwrap_or(defaults.write_bytes),
        wall: exec.timeout_seconds.map(Duration::from_secs).unwrap_or(defaults.wall),
        output_bytes: sandbox.max_output_bytes.unwrap_or(defaults.output_bytes),
    };
    let security = match exec.security {
        Some(ExecSecurityMode::Deny) => ExecSecurity::Deny,
        Some(ExecSecurityMode::Allowlist) => ExecSecurity::Allowlist(
            exec.safe_bins.clone().unwrap_or_else(|| DEFAULT_SAFE_BINS.iter().map(|bin| (*bin).to_owned()).collect()),
        ),
        Some(ExecSecurityMode::Full) | None => ExecSecurity::Full,
    };
    let mut path: Vec<String> = exec.path_prepend.clone();
    path.push(ExecSettings::default().path);
    let mut read: Vec<PathBuf> = sandbox.read_paths.iter().map(PathBuf::from).collect();
    read.extend(exec.path_prepend.iter().map(PathBuf::from));
    ExecSettings {
        security,
        ask: match exec.ask {
            Some(openclaw_config::ExecAsk::OnMiss) => Ask::OnMiss,
            Some(openclaw_config::ExecAsk::Always) => Ask::Always,
            Some(openclaw_config::ExecAsk::Off) | None => Ask::Off,
        },
        mode: match sandbox.mode {
            Some(SandboxMode::Off) => Mode::Off,
            Some(SandboxMode::Enforce) | None => Mode::Enforce,
        },
        limits,
        grants: Grants {
            read,
            write: sandbox.write_paths.iter().map(PathBuf::from).collect(),
            network: sandbox.network.unwrap_or(false),
        },
        path: path.join(":"),
    }
}
