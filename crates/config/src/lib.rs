//! Typed OpenClaw configuration.
//!
//! Owns `~/.openclaw/openclaw.json` (override `OPENCLAW_STATE_DIR`, `OPENCLAW_CONFIG_PATH`, `--profile`): JSON5
//! parsing, `${VAR}` substitution, validation that reports every problem with its JSON path and a fix hint, and the
//! seed's agent files (`agents/<id>.json` in the state dir). Principal types: [`Paths`], [`Loaded`], [`Config`],
//! [`ResolvedAgent`].
//!
//! **Invariant:** this crate never reads the process environment itself; callers pass an env lookup, so tests and
//! the gateway decide where variables come from.
//!
//! ```
//! use openclaw_config::{load_str, Paths};
//! let paths = Paths::for_state_dir("/tmp/oc".into());
//! let loaded = load_str(r#"{ gateway: { port: 19001 }, /* JSON5 */ }"#, &paths, &|_| None).unwrap();
//! assert_eq!(loaded.config.gateway.port, 19001);
//! ```

mod agents;
mod redact;
mod reference;
mod schema;
mod substitute;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use agents::{DEFAULT_AGENT_ID, ResolvedAgent};
pub use redact::{REDACTED, is_sensitive, redact, sensitive_name};
pub use schema::*;
pub use substitute::unresolved_var;

/// Channels of OpenClaw-rs that the reference does not have (their keys are checked by the channels crate).
pub const OWN_CHANNELS: &[&str] = &["webhook"];

/// Whether the reference OpenClaw's schema knows a dotted key path (`channels.telegram.streaming`; map keys and
/// array indices match its `*`).
pub fn is_reference_key(dotted: &str) -> bool {
    let segments: Vec<String> = dotted.split('.').map(str::to_owned).collect();
    reference::is_reference_key(&segments)
}

/// Where the state directory and the config file are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub state_dir: PathBuf,
    pub config_path: PathBuf,
    /// The home directory, for `~/` in configured paths.
    pub home: Option<PathBuf>,
}

impl Paths {
    /// Resolves the paths the way the reference does: `OPENCLAW_STATE_DIR`, else `~/.openclaw` (or
    /// `~/.openclaw-<profile>`); the config is `OPENCLAW_CONFIG_PATH`, else `<state dir>/openclaw.json`.
    ///
    /// # Errors
    /// [`ConfigError::NoHome`] when neither `OPENCLAW_STATE_DIR` nor `HOME` is set.
    pub fn resolve(profile: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let state_dir = match (env("OPENCLAW_STATE_DIR").filter(|dir| !dir.is_empty()), profile) {
            (Some(dir), _) => PathBuf::from(dir),
            (None, profile) => {
                let home = env("OPENCLAW_HOME").or_else(|| env("HOME")).ok_or(ConfigError::NoHome)?;
                let name = match profile {
                    Some(profile) if !profile.is_empty() && profile != "default" => format!(".openclaw-{profile}"),
                    _ => ".openclaw".to_owned(),
                };
                PathBuf::from(home).join(name)
            }
        };
        let config_path = env("OPENCLAW_CONFIG_PATH")
            .filter(|path| !path.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| state_dir.join("openclaw.json"));
        let home = env("HOME").map(PathBuf::from);
        Ok(Paths { state_dir, config_path, home })
    }

    /// Paths for an explicit state directory with the config file inside it.
    pub fn for_state_dir(state_dir: PathBuf) -> Self {
        let config_path = state_dir.join("openclaw.json");
        Paths { state_dir, config_path, home: None }
    }

    /// The SQLite database of OpenClaw-rs (`state/openclaw-rs.sqlite`; the reference's own file is left alone).
    pub fn database_path(&self) -> PathBuf {
        self.state_dir.join("state").join("openclaw-rs.sqlite")
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding of the validator: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub severity: Severity,
    /// Where: the file for agent files, then the JSON path (`agents.defaults.model.primary`).
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() { "<root>" } else { &self.path };
        write!(f, "{path}: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (fix: {hint})")?;
        }
        Ok(())
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot find a home directory: set HOME or OPENCLAW_STATE_DIR")]
    NoHome,
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{column}: syntax error: {message} (fix: correct the JSON5 at that position)")]
    Syntax { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{path} is invalid:\n{}", format_issues(.issues))]
    Invalid { path: PathBuf, issues: Vec<Issue> },
}

fn format_issues(issues: &[Issue]) -> String {
    issues.iter().map(|issue| format!("  - {issue}")).collect::<Vec<_>>().join("\n")
}

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The file as written (after JSON5 parsing, before substitution); what `config get/set` edit.
    pub raw: Value,
    pub paths: Paths,
    /// Whether the config file exists (a missing file is an empty configuration).
    pub exists: bool,
    /// Agents from the seed-format files `agents/<id>.json`.
    pub agent_files: Vec<AgentEntry>,
    /// Those files as written (JSON5 parsed, nothing filled in), by file stem: what a reload compares.
    pub agent_files_raw: serde_json::Map<String, Value>,
    pub warnings: Vec<Issue>,
    /// Every agent resolved once at load, the default first; never empty (the implicit `main` at least).
    agents: Vec<ResolvedAgent>,
    /// `config` as JSON, made once at load (skills gate on `requires.config` paths of it).
    config_json: Arc<Value>,
}

impl Loaded {
    /// Every agent, resolved with its workspace and model; the default agent first.
    pub fn agents(&self) -> &[ResolvedAgent] {
        &self.agents
    }

    /// One agent by id.
    pub fn agent(&self, id: &str) -> Option<&ResolvedAgent> {
        self.agents.iter().find(|agent| agent.id == id)
    }

    /// The default agent (`agents.defaults.systemAgent`, else the one marked `default`, else `main`, else the first).
    pub fn default_agent(&self) -> &ResolvedAgent {
        // `resolve` always yields at least the implicit `main` agent, so the list is never empty.
        &self.agents[0]
    }

    /// The configuration (after substitution and defaults) as JSON.
    pub fn config_json(&self) -> &Arc<Value> {
        &self.config_json
    }

    fn resolve_agents(&mut self) {
        self.agents = agents::resolve(&self.config, &self.agent_files, &self.paths);
    }
}

/// Loads and validates the configuration at `paths.config_path` plus the agent files in the state dir.
///
/// # Errors
/// [`ConfigError::Syntax`] with line and column for malformed JSON5, [`ConfigError::Invalid`] with every problem
/// found, [`ConfigError::Read`] when the file exists but cannot be read.
pub fn load(paths: &Paths, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
    let (text, exists) = match std::fs::read_to_string(&paths.config_path) {
        Ok(text) => (text, true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => (String::from("{}"), false),
        Err(source) => return Err(ConfigError::Read { path: paths.config_path.clone(), source }),
    };
    let mut loaded = load_text(&text, paths, env)?;
    loaded.exists = exists;
    Ok(loaded)
}

/// Loads a configuration from text as if it were the file at `paths.config_path`, with the agent files of the
/// state dir: what [`load`] would give once that text is written (the gateway validates a config this way before
/// writing it).
///
/// # Errors
/// As [`load`].
pub fn load_text(text: &str, paths: &Paths, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
    let mut loaded = load_str(text, paths, env)?;
    let files = agents::load_agent_files(&paths.state_dir);
    let (errors, warnings): (Vec<_>, Vec<_>) =
        files.issues.into_iter().partition(|issue| issue.severity == Severity::Error);
    if !errors.is_empty() {
        return Err(ConfigError::Invalid { path: paths.state_dir.join("agents"), issues: errors });
    }
    loaded.warnings.extend(warnings);
    loaded.agent_files = files.entries;
    loaded.agent_files_raw = files.raw;
    loaded.resolve_agents();
    let mut agent_issues = agents::validate_ids(&loaded.config, &loaded.agent_files);
    agent_issues.extend(agents::workspaces_outside_state(&loaded.agents, paths));
    if !agent_issues.is_empty() {
        return Err(ConfigError::Invalid { path: paths.config_path.clone(), issues: agent_issues });
    }
    Ok(loaded)
}

/// Loads a configuration from text (the agent files are not read).
///
/// # Errors
/// As [`load`].
pub fn load_str(text: &str, paths: &Paths, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
    let raw = parse_json5(text, &paths.config_path)?;
    let mut value = raw.clone();
    let vars = value.get("env").and_then(|env| env.get("vars")).and_then(Value::as_object).cloned().unwrap_or_default();
    let lookup = |name: &str| env(name).or_else(|| vars.get(name).and_then(Value::as_str).map(str::to_owned));
    let mut warnings: Vec<Issue> = substitute::substitute_env(&mut value, &lookup)
        .into_iter()
        .map(|(path, name)| Issue {
            severity: Severity::Warning,
            path,
            message: format!("environment variable {name} is not set; the text ${{{name}}} is left as it is"),
            hint: Some(format!("export {name}=… before starting, or set env.vars.{name}")),
        })
        .collect();
    let (config, mut issues) = deserialize_checked::<Config>(value, &[]);
    if let Some(config) = &config {
        issues.extend(semantic_issues(config));
    }
    let (errors, more_warnings): (Vec<_>, Vec<_>) =
        issues.into_iter().partition(|issue| issue.severity == Severity::Error);
    warnings.extend(more_warnings);
    match config {
        Some(config) if errors.is_empty() => {
            let config_json = Arc::new(serde_json::to_value(&config).unwrap_or(Value::Null));
            let mut loaded = Loaded {
                config_json,
                config,
                raw,
                paths: paths.clone(),
                exists: true,
                agent_files: Vec::new(),
                agent_files_raw: serde_json::Map::new(),
                warnings,
                agents: Vec::new(),
            };
            loaded.resolve_agents();
            Ok(loaded)
        }
        _ => Err(ConfigError::Invalid { path: paths.config_path.clone(), issues: errors }),
    }
}

/// Parses JSON5 text, reporting syntax errors with 1-based line and column.
///
/// # Errors
/// [`ConfigError::Syntax`].
pub fn parse_json5(text: &str, path: &Path) -> Result<Value, ConfigError> {
    json5::from_str::<Value>(text).map_err(|error| {
        let (line, column) = error.position().map(|pos| (pos.line + 1, pos.column + 1)).unwrap_or((1, 1));
        let message = error.to_string();
        let message = message.rsplit_once(" at ").map(|(msg, _)| msg.to_owned()).unwrap_or(message);
        ConfigError::Syntax { path: path.to_path_buf(), line, column, message }
    })
}

/// Deserializes a typed value, collecting type errors and unknown keys as issues. `prefix` is prepended to paths.
pub(crate) fn deserialize_checked<T: DeserializeOwned>(value: Value, prefix: &[String]) -> (Option<T>, Vec<Issue>) {
    let mut ignored: Vec<Vec<String>> = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let result = {
        let deserializer = serde_path_to_error::Deserializer::new(value, &mut track);
        serde_ignored::deserialize(deserializer, |path| ignored.push(segments(&path)))
    };
    let mut issues = Vec::new();
    let typed = match result {
        Ok(typed) => Some(typed),
        Err(error) => {
            let path = track.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let full: Vec<String> = prefix.iter().cloned().chain(split_path(&path)).collect();
            issues.push(Issue {
                severity: Severity::Error,
                path: full.join("."),
                message: error.to_string(),
                hint: Some(type_hint(&full)),
            });
            None
        }
    };
    for path in ignored {
        let full: Vec<String> = prefix.iter().cloned().chain(path).collect();
        issues.push(classify_unknown(&full));
    }
    (typed, issues)
}

fn split_path(path: &str) -> Vec<String> {
    path.split('.').filter(|seg| !seg.is_empty()).map(str::to_owned).collect()
}

fn segments(path: &serde_ignored::Path<'_>) -> Vec<String> {
    use serde_ignored::Path as P;
    match path {
        P::Root => Vec::new(),
        P::Seq { parent, index } => {
            let mut out = segments(parent);
            out.push(index.to_string());
            out
        }
        P::Map { parent, key } => {
            let mut out = segments(parent);
            out.push(key.clone());
            out
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => segments(parent),
    }
}

/// The candidate a mistyped `name` most likely meant (Jaro-Winkler above 0.8), for "did you mean" hints.
pub fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), *candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

fn classify_unknown(path: &[String]) -> Issue {
    if reference::is_reference_key(path) {
        return Issue {
            severity: Severity::Warning,
            path: path.join("."),
            message: "this OpenClaw key is not implemented by OpenClaw-rs yet and is ignored".to_owned(),
            hint: None,
        };
    }
    let (parent, last) = path.split_at(path.len().saturating_sub(1));
    let name = last.first().map(String::as_str).unwrap_or_default();
    let siblings = reference::sibling_keys(parent);
    let hint = match closest(name, &siblings) {
        Some(candidate) => format!("did you mean \"{candidate}\"? Rename or remove the key"),
        None if siblings.is_empty() => "remove the key".to_owned(),
        None => format!("remove the key; keys allowed here include {}", preview(&siblings)),
    };
    Issue { severity: Severity::Error, path: path.join("."), message: "unknown key".to_owned(), hint: Some(hint) }
}

fn preview(keys: &[&str]) -> String {
    let shown: Vec<&str> = keys.iter().take(8).copied().collect();
    let more = if keys.len() > shown.len() { ", …" } else { "" };
    format!("{}{more}", shown.join(", "))
}

fn type_hint(path: &[String]) -> String {
    let last = path.last().map(String::as_str).unwrap_or_default();
    match last {
        "port" => "use a number between 1 and 65535, e.g. 18789".to_owned(),
        "model" => "use \"provider/model\" or {\"primary\": \"provider/model\", \"fallbacks\": [...]}".to_owned(),
        "apiKey" | "token" | "password" => {
            "use a string (\"${MY_KEY}\" reads an environment variable) or {\"source\":\"env\",\"id\":\"MY_KEY\"}"
                .to_owned()
        }
        _ => "change the value to the type named in the message".to_owned(),
    }
}

const DM_SCOPES: &[&str] = &["main", "per-peer", "per-channel-peer", "per-account-channel-peer"];
const BINDS: &[&str] = &["loopback", "lan", "tailnet", "auto", "custom"];
/// Wire APIs implemented by `openclaw-models`.
pub const IMPLEMENTED_APIS: &[&str] = &["openai-completions", "anthropic-messages", "ollama"];
const REFERENCE_APIS: &[&str] = &[
    "openai-responses",
    "openai-chatgpt-responses",
    "google-generative-ai",
    "google-vertex",
    "github-copilot",
    "bedrock-converse-stream",
    "pi-messages",
    "azure-openai-responses",
];

fn one_of(path: &str, value: &str, allowed: &[&str]) -> Option<Issue> {
    (!allowed.contains(&value)).then(|| Issue {
        severity: Severity::Error,
        path: path.to_owned(),
        message: format!("{value:?} is not a valid value"),
        hint: Some(format!("use one of: {}", allowed.join(", "))),
    })
}

fn check_model_ref(path: &str, model_ref: &str) -> Option<Issue> {
    let valid = model_ref.split_once('/').is_some_and(|(provider, model)| !provider.is_empty() && !model.is_empty());
    (!valid).then(|| Issue {
        severity: Severity::Error,
        path: path.to_owned(),
        message: format!("{model_ref:?} is not a model ref"),
        hint: Some("write it as \"provider/model\", e.g. \"openai/gpt-4o-mini\"".to_owned()),
    })
}

fn check_selection(path: &str, selection: &ModelSelection, issues: &mut Vec<Issue>) {
    match selection {
        ModelSelection::Ref(model_ref) => issues.extend(check_model_ref(path, model_ref)),
        ModelSelection::Chain { primary, fallbacks } => {
            if let Some(primary) = primary {
                issues.extend(check_model_ref(&format!("{path}.primary"), primary));
            }
            for (idx, fallback) in fallbacks.iter().enumerate() {
                issues.extend(check_model_ref(&format!("{path}.fallbacks.{idx}"), fallback));
            }
        }
    }
}

fn semantic_issues(config: &Config) -> Vec<Issue> {
    let mut issues = Vec::new();
    issues.extend(one_of("gateway.bind", &config.gateway.bind, BINDS));
    issues.extend(one_of("session.dmScope", &config.session.dm_scope, DM_SCOPES));
    issues.extend(one_of("session.scope", &config.session.scope, &["per-sender", "global"]));
    issues.extend(one_of("session.groupScope", &config.session.group_scope, &["per-group", "main"]));
    issues.extend(one_of("session.reset.mode", &config.session.reset.mode, &["none", "daily", "idle"]));
    if let Some(profile) = &config.tools.profile {
        issues.extend(one_of("tools.profile", profile, &["minimal", "coding", "messaging", "full"]));
    }
    if let Some(model) = &config.agents.defaults.model {
        check_selection("agents.defaults.model", model, &mut issues);
    }
    for (id, entry) in &config.agents.entries {
        if let Some(model) = &entry.model {
            check_selection(&format!("agents.entries.{id}.model"), model, &mut issues);
        }
    }
    for (idx, entry) in config.agents.list.iter().enumerate() {
        if let Some(model) = &entry.model {
            check_selection(&format!("agents.list.{idx}.model"), model, &mut issues);
        }
    }
    for (id, provider) in &config.models.providers {
        if let Some(api) = &provider.api {
            let path = format!("models.providers.{id}.api");
            if REFERENCE_APIS.contains(&api.as_str()) {
                issues.push(Issue {
                    severity: Severity::Warning,
                    path,
                    message: format!(
                        "the {api:?} API is not implemented by OpenClaw-rs yet; calls to this provider will fail"
                    ),
                    hint: Some(format!("use one of: {}", IMPLEMENTED_APIS.join(", "))),
                });
            } else {
                issues.extend(one_of(&path, api, IMPLEMENTED_APIS));
            }
        }
        for (idx, model) in provider.models.iter().enumerate() {
            if model.id.is_empty() {
                issues.push(Issue {
                    severity: Severity::Error,
                    path: format!("models.providers.{id}.models.{idx}.id"),
                    message: "a model needs an id".to_owned(),
                    hint: Some("set \"id\" to the model name the provider expects".to_owned()),
                });
            }
        }
    }
    issues.extend(one_of("gateway.reload.mode", &config.gateway.reload.mode, &["hybrid", "off", "hot", "restart"]));
    let hooks = &config.hooks;
    if hooks.enabled && hooks.token.as_deref().is_none_or(|token| token.trim().is_empty()) {
        issues.push(Issue {
            severity: Severity::Error,
            path: "hooks.token".to_owned(),
            message: "hooks.enabled needs a nonempty hooks.token".to_owned(),
            hint: Some("set hooks.token to a long random value (not the gateway token)".to_owned()),
        });
    }
    if hooks.path.as_deref().is_some_and(|path| path.trim_matches('/').is_empty()) {
        issues.push(Issue {
            severity: Severity::Error,
            path: "hooks.path".to_owned(),
            message: "the hook base path cannot be \"/\"".to_owned(),
            hint: Some("use a dedicated subpath such as \"/hooks\"".to_owned()),
        });
    }
    for (idx, mapping) in hooks.mappings.iter().enumerate() {
        if let Some(action) = &mapping.action {
            issues.extend(one_of(&format!("hooks.mappings.{idx}.action"), action, &["agent", "wake"]));
        }
    }
    if let Some(ownership) = &config.agents.ownership {
        issues.extend(one_of("agents.ownership", ownership, &["explicit"]));
    }
    for (idx, binding) in config.bindings.iter().enumerate() {
        if let Some(peer) = &binding.matcher.peer
            && let Some(kind) = &peer.kind
        {
            issues.extend(one_of(
                &format!("bindings.{idx}.match.peer.kind"),
                kind,
                &["direct", "dm", "group", "channel"],
            ));
        }
    }
    for name in config.channels.keys() {
        // Channels the reference knows are checked by the channels crate (implemented or not); `webhook` is
        // OpenClaw-rs's own generic channel.
        let path = vec!["channels".to_owned(), name.clone()];
        if !reference::is_reference_key(&path) && !OWN_CHANNELS.contains(&name.as_str()) {
            issues.push(classify_unknown(&path));
        }
    }
    issues
}

/// Reads a value at a dotted path (`agents.defaults.model`) of a raw config.
pub fn get_path<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    split_path(path).iter().try_fold(root, |node, seg| match node {
        Value::Object(map) => map.get(seg),
        Value::Array(items) => seg.parse::<usize>().ok().and_then(|idx| items.get(idx)),
        _ => None,
    })
}

/// Sets a value at a dotted path, creating objects on the way.
///
/// # Errors
/// A message when a segment on the way is not an object (or an array index out of range).
pub fn set_path(root: &mut Value, path: &str, new_value: Value) -> Result<(), String> {
    let segs = split_path(path);
    let Some((last, parents)) = segs.split_last() else {
        return Err("the path is empty; name a key such as gateway.port".to_owned());
    };
    let mut node = root;
    for (idx, seg) in parents.iter().enumerate() {
        if node.is_null() {
            *node = Value::Object(serde_json::Map::new());
        }
        node = match node {
            Value::Object(map) => map.entry(seg.clone()).or_insert(Value::Null),
            Value::Array(items) => {
                let at =
                    seg.parse::<usize>().map_err(|_| format!("{} is a list; use an index", segs[..idx].join(".")))?;
                items.get_mut(at).ok_or_else(|| format!("{} has no item {at}", segs[..idx].join(".")))?
            }
            _ => return Err(format!("{} is not an object", segs[..idx].join("."))),
        };
    }
    if node.is_null() {
        *node = Value::Object(serde_json::Map::new());
    }
    match node {
        Value::Object(map) => {
            map.insert(last.clone(), new_value);
            Ok(())
        }
        _ => Err(format!("{} is not an object", parents.join("."))),
    }
}

/// The file text [`save_raw`] writes for a raw config: 2-space JSON and a final newline.
pub fn render_raw(raw: &Value) -> String {
    serde_json::to_string_pretty(raw).unwrap_or_else(|_| "{}".to_owned()) + "\n"
}

/// Writes a raw config as 2-space JSON (mode 600), keeping the previous file as `openclaw.json.bak`.
///
/// # Errors
/// [`ConfigError::Write`].
pub fn save_raw(paths: &Paths, raw: &Value) -> Result<(), ConfigError> {
    let write_err = |source| ConfigError::Write { path: paths.config_path.clone(), source };
    if let Some(parent) = paths.config_path.parent() {
        std::fs::create_dir_all(parent).map_err(write_err)?;
        set_mode(parent, 0o700);
    }
    if paths.config_path.exists() {
        let backup = paths.config_path.with_extension("json.bak");
        std::fs::copy(&paths.config_path, &backup).map_err(write_err)?;
        set_mode(&backup, 0o600);
    }
    let text = render_raw(raw);
    let tmp = paths.config_path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(write_err)?;
    set_mode(&tmp, 0o600);
    std::fs::rename(&tmp, &paths.config_path).map_err(write_err)
}

/// Sets Unix permissions, best effort (the doctor reports what could not be set).
pub fn set_mode(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
    }
}

/// Expands a leading `~/` with `home`.
pub fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests;
