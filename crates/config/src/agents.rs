//! Agents from every source — `agents.entries.<id>`, the legacy `agents.list[]`, and the seed's agent files
//! `agents/<id>.json` — resolved into one [`ResolvedAgent`] each, with workspace, model and policy filled in.

use std::path::{Path, PathBuf};

use crate::{AgentEntry, Config, Issue, ModelSelection, Paths, Personality, Severity, ToolPolicy, expand_home};
use openclaw_protocol::AgentId;

/// The id of the agent a single-agent install has.
pub const DEFAULT_AGENT_ID: &str = "main";

/// An agent with everything it needs to run.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedAgent {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_default: bool,
    pub workspace: PathBuf,
    pub agent_dir: PathBuf,
    /// Primary model ref (may be unset when nothing is configured).
    pub model: Option<String>,
    pub fallbacks: Vec<String>,
    pub skills: Option<Vec<String>>,
    pub tools: ToolPolicy,
    pub personality: Option<Personality>,
    pub channels: Vec<String>,
    pub bootstrap_max_chars: usize,
    pub bootstrap_total_max_chars: usize,
    /// Where it was defined: `agents.entries.<id>`, `agents.list[i]`, `agents/<id>.json` or `implicit`.
    pub source: String,
}

/// The seed-format agent files `<state>/agents/<id>.json`: the entries, each file as written (by file stem), and
/// what is wrong with them.
pub(crate) struct AgentFiles {
    pub(crate) entries: Vec<AgentEntry>,
    pub(crate) raw: serde_json::Map<String, serde_json::Value>,
    pub(crate) issues: Vec<Issue>,
}

/// Reads the seed-format agent files `<state>/agents/<id>.json`.
pub(crate) fn load_agent_files(state_dir: &std::path::Path) -> AgentFiles {
    let dir = state_dir.join("agents");
    let mut entries = Vec::new();
    let mut raw = serde_json::Map::new();
    let mut issues = Vec::new();
    let Ok(read_dir) = std::fs::read_dir(&dir) else {
        return AgentFiles { entries, raw, issues };
    };
    let mut files: Vec<PathBuf> = read_dir
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    for file in files {
        let file_name = file.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let stem = file.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
        let label = format!("agents/{file_name}");
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(error) => {
                issues.push(error_issue(&label, format!("cannot read: {error}"), "check the file's permissions"));
                continue;
            }
        };
        let value = match crate::parse_json5(&text, &file) {
            Ok(value) => value,
            Err(crate::ConfigError::Syntax { line, column, message, .. }) => {
                issues.push(error_issue(
                    &format!("{label}:{line}:{column}"),
                    format!("syntax error: {message}"),
                    "correct the JSON at that position",
                ));
                continue;
            }
            Err(other) => {
                issues.push(error_issue(&label, other.to_string(), "fix the file"));
                continue;
            }
        };
        raw.insert(stem.clone(), value.clone());
        let (entry, found) = crate::deserialize_checked::<AgentEntry>(value, &[]);
        for mut issue in found {
            // The agent file is its own document: keys that are unknown for an agent entry are errors there.
            issue.path = format!("{label}: {}", issue.path);
            issues.push(issue);
        }
        if let Some(mut entry) = entry {
            match &entry.id {
                Some(id) if id != &stem => issues.push(error_issue(
                    &format!("{label}: id"),
                    format!("the id {id:?} differs from the file name {stem:?}"),
                    &format!("rename the file to {id}.json or set \"id\": \"{stem}\""),
                )),
                Some(_) => entries.push(entry),
                None => {
                    entry.id = Some(stem);
                    entries.push(entry);
                }
            }
        }
    }
    AgentFiles { entries, raw, issues }
}

fn error_issue(path: &str, message: String, hint: &str) -> Issue {
    Issue { severity: Severity::Error, path: path.to_owned(), message, hint: Some(hint.to_owned()) }
}

/// An agent's commands may write anywhere in its workspace: a workspace that holds the state dir or the config file
/// would let them rewrite the gateway's own configuration, database and secrets. Compared as written and, where the
/// folders exist, after links.
pub(crate) fn workspaces_outside_state(agents: &[ResolvedAgent], paths: &Paths) -> Vec<Issue> {
    let real = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let guarded = [
        ("state dir", paths.state_dir.clone(), real(&paths.state_dir)),
        ("config file", paths.config_path.clone(), real(&paths.config_path)),
    ];
    let mut issues = Vec::new();
    for agent in agents {
        let workspace = real(&agent.workspace);
        if let Some((what, path, _)) = guarded
            .iter()
            .find(|(_, path, real_path)| path.starts_with(&agent.workspace) || real_path.starts_with(&workspace))
        {
            issues.push(error_issue(
                &format!("{}.workspace", agent.source),
                format!(
                    "the workspace {} of agent {:?} contains the gateway's {what} {}: the agent's commands could rewrite the gateway's configuration and secrets",
                    agent.workspace.display(),
                    agent.id,
                    path.display()
                ),
                "choose a workspace outside the state dir's own files (the default is <state dir>/workspace)",
            ));
        }
    }
    issues
}

/// Checks agent ids from every source and that each id is defined once.
pub(crate) fn validate_ids(config: &Config, files: &[AgentEntry]) -> Vec<Issue> {
    let mut issues = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    let check = |id: &str, path: String, issues: &mut Vec<Issue>, seen: &mut Vec<(String, String)>| {
        if let Err(error) = AgentId::new(id) {
            issues.push(error_issue(&path, error.to_string(), "rename the agent"));
        }
        if let Some((_, first)) = seen.iter().find(|(known, _)| known == id) {
            issues.push(error_issue(
                &path,
                format!("agent {id:?} is already defined at {first}"),
                "keep one definition of each agent",
            ));
        }
        seen.push((id.to_owned(), path));
    };
    for id in config.agents.entries.keys() {
        check(id, format!("agents.entries.{id}"), &mut issues, &mut seen);
    }
    for (idx, entry) in config.agents.list.iter().enumerate() {
        match &entry.id {
            Some(id) => check(id, format!("agents.list.{idx}"), &mut issues, &mut seen),
            None => issues.push(error_issue(
                &format!("agents.list.{idx}.id"),
                "an agent in agents.list needs an id".to_owned(),
                "add \"id\", or move the agent to agents.entries.<id>",
            )),
        }
    }
    for entry in files {
        if let Some(id) = &entry.id {
            check(id, format!("agents/{id}.json"), &mut issues, &mut seen);
        }
    }
    for (idx, binding) in config.bindings.iter().enumerate() {
        let known = seen.iter().any(|(id, _)| id == &binding.agent_id)
            || (seen.is_empty() && binding.agent_id == DEFAULT_AGENT_ID);
        if !known {
            issues.push(error_issue(
                &format!("bindings.{idx}.agentId"),
                format!("no agent {:?} is defined", binding.agent_id),
                "define the agent under agents.entries, or correct the id",
            ));
        }
    }
    issues
}

/// Every agent, default first.
pub(crate) fn resolve(config: &Config, files: &[AgentEntry], paths: &Paths) -> Vec<ResolvedAgent> {
    let mut agents: Vec<ResolvedAgent> = Vec::new();
    for (id, entry) in &config.agents.entries {
        agents.push(resolve_one(config, id, entry, paths, format!("agents.entries.{id}")));
    }
    for (idx, entry) in config.agents.list.iter().enumerate() {
        if let Some(id) = &entry.id {
            agents.push(resolve_one(config, id, entry, paths, format!("agents.list[{idx}]")));
        }
    }
    // A configuration without an agent roster has the implicit `main` agent; agent files add agents beside it.
    if agents.is_empty() && !files.iter().any(|entry| entry.id.as_deref() == Some(DEFAULT_AGENT_ID)) {
        agents.push(implicit_main(config, paths));
    }
    for entry in files {
        if let Some(id) = &entry.id {
            agents.push(resolve_one(config, id, entry, paths, format!("agents/{id}.json")));
        }
    }
    // The default: `agents.defaults.systemAgent.agentId`, else a legacy `default: true` marker, else `main`, else
    // the first agent.
    let system_agent = config.agents.defaults.system_agent.as_ref().and_then(|s| s.agent_id.as_deref());
    let default_idx = system_agent
        .and_then(|id| agents.iter().position(|agent| agent.id == id))
        .or_else(|| agents.iter().position(|agent| agent.is_default))
        .or_else(|| agents.iter().position(|agent| agent.id == DEFAULT_AGENT_ID))
        .unwrap_or(0);
    let mut default = agents.remove(default_idx);
    default.is_default = true;
    for agent in &mut agents {
        agent.is_default = false;
    }
    agents.insert(0, default);
    agents
}

/// The agent a configuration without agents has: `main`.
fn implicit_main(config: &Config, paths: &Paths) -> ResolvedAgent {
    let mut agent = resolve_one(config, DEFAULT_AGENT_ID, &AgentEntry::default(), paths, "implicit".to_owned());
    agent.is_default = true;
    agent
}

fn resolve_one(config: &Config, id: &str, entry: &AgentEntry, paths: &Paths, source: String) -> ResolvedAgent {
    let defaults = &config.agents.defaults;
    let home = paths.home.as_deref();
    let workspace = match (&entry.workspace, &defaults.workspace) {
        (Some(workspace), _) => expand_home(workspace, home),
        (None, Some(base)) if id == DEFAULT_AGENT_ID => expand_home(base, home),
        (None, Some(base)) => expand_home(base, home).join(id),
        (None, None) if id == DEFAULT_AGENT_ID => paths.state_dir.join("workspace"),
        (None, None) => paths.state_dir.join(format!("workspace-{id}")),
    };
    let agent_dir = entry
        .agent_dir
        .as_deref()
        .map(|dir| expand_home(dir, home))
        .unwrap_or_else(|| paths.state_dir.join("agents").join(id).join("agent"));
    let selection: Option<&ModelSelection> = entry.model.as_ref().or(defaults.model.as_ref());
    let model = selection.and_then(ModelSelection::primary).map(str::to_owned);
    // Fallbacks are per selection; an entry with a plain ref inherits the defaults' fallbacks.
    let fallbacks = match (&entry.model, &defaults.model) {
        (Some(ModelSelection::Chain { fallbacks, .. }), _) => fallbacks.clone(),
        (_, Some(defaults_model)) => defaults_model.fallbacks().to_vec(),
        _ => Vec::new(),
    };
    let mut channels = entry.channels.clone().unwrap_or_default();
    channels.sort();
    ResolvedAgent {
        id: id.to_owned(),
        name: entry.name.clone(),
        description: entry.description.clone(),
        is_default: entry.default,
        workspace,
        agent_dir,
        model,
        fallbacks,
        skills: entry.skills.clone().or_else(|| defaults.skills.clone()),
        tools: entry.tools.clone().unwrap_or_else(|| config.tools.clone()),
        personality: entry.personality.clone(),
        channels,
        bootstrap_max_chars: entry.bootstrap_max_chars.unwrap_or(defaults.bootstrap_max_chars),
        bootstrap_total_max_chars: entry.bootstrap_total_max_chars.unwrap_or(defaults.bootstrap_total_max_chars),
        source,
    }
}
