//! AgentSkills `SKILL.md` skills, compatible with the reference OpenClaw: discovery in its precedence order,
//! frontmatter, gating on `metadata.openclaw.requires`/`os`, `skills.entries.<name>` (enabled, env, apiKey,
//! permissions), per-agent allowlists, the `<available_skills>` prompt index within a budget, and install/remove.
//!
//! **Invariants:** discovery never fails as a whole — a broken SKILL.md is a [`Problem`] and its siblings still
//! load; the first root (in precedence order) that has a name wins; a skill folder that resolves outside its root
//! (symlinks) is refused; nothing here runs a skill's code (commands go through `exec` and its sandbox).

mod frontmatter;
mod install;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use openclaw_config::{SkillEntry, SkillPermissions};
use serde_json::Value;

pub use frontmatter::{Frontmatter, FrontmatterError, OpenclawMeta, Requires, read as read_frontmatter};
pub use install::{InstallError, install, remove};

/// How deep below a root a SKILL.md is looked for.
const MAX_DEPTH: usize = 6;
/// Default `skills.limits.maxSkillFileBytes`.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024;
/// Default `skills.limits.maxSkillsInPrompt`.
pub const DEFAULT_MAX_IN_PROMPT: usize = 150;
/// Default `skills.limits.maxSkillsPromptChars`.
pub const DEFAULT_MAX_PROMPT_CHARS: usize = 30_000;

/// Where a skill was found (highest precedence first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// `<workspace>/skills`
    Workspace,
    /// `<workspace>/.agents/skills`
    ProjectAgents,
    /// `~/.agents/skills` (default state dir only)
    Personal,
    /// `<state dir>/skills` (`skills install --global`)
    Managed,
    /// `skills.load.extraDirs`
    Extra,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Workspace => "workspace",
            Source::ProjectAgents => "project-agents",
            Source::Personal => "personal",
            Source::Managed => "managed",
            Source::Extra => "extra",
        }
    }

    /// Whether the skill folder must resolve inside the root (symlinked folders allowed only in user-level roots).
    fn contained(self) -> bool {
        matches!(self, Source::Workspace | Source::ProjectAgents | Source::Extra)
    }
}

/// The roots to search, in precedence order. `home` is only used when the state dir is the default one (as the
/// reference does, so a profile's gateway does not pick up one user's personal skills); without a state dir there
/// is no managed root.
pub fn roots(
    workspace: &Path,
    state_dir: Option<&Path>,
    home: Option<&Path>,
    default_state: bool,
    extra_dirs: &[PathBuf],
) -> Vec<(Source, PathBuf)> {
    let mut roots = vec![
        (Source::Workspace, workspace.join("skills")),
        (Source::ProjectAgents, workspace.join(".agents").join("skills")),
    ];
    if let (Some(home), true) = (home, default_state) {
        roots.push((Source::Personal, home.join(".agents").join("skills")));
    }
    if let Some(state_dir) = state_dir {
        roots.push((Source::Managed, state_dir.join("skills")));
    }
    roots.extend(extra_dirs.iter().map(|dir| (Source::Extra, dir.clone())));
    roots
}

/// One skill.
#[derive(Debug, Clone, PartialEq)]
pub struct Skill {
    pub name: String,
    pub description: String,
    /// The skill's folder (`{baseDir}`).
    pub dir: PathBuf,
    /// Its SKILL.md.
    pub file: PathBuf,
    pub source: Source,
    pub front: Frontmatter,
}

/// A SKILL.md that could not be loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: PathBuf,
    pub message: String,
}

/// Everything discovery found.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// One skill per name, the highest-precedence one, sorted by name.
    pub skills: Vec<Skill>,
    /// Skills hidden by a same-named one of higher precedence.
    pub shadowed: Vec<Skill>,
    pub problems: Vec<Problem>,
}

impl Catalog {
    pub fn get(&self, name: &str) -> Option<&Skill> {
        self.skills.iter().find(|skill| skill.name == name)
    }
}

/// Finds every SKILL.md under the roots.
pub fn discover(roots: &[(Source, PathBuf)], max_file_bytes: u64) -> Catalog {
    let mut catalog = Catalog::default();
    let mut by_name: BTreeMap<String, Skill> = BTreeMap::new();
    for (source, root) in roots {
        let Ok(real_root) = root.canonicalize() else { continue };
        let mut found = Vec::new();
        let mut walk_state = Walk {
            follow_links: !source.contained(),
            visited: std::collections::HashSet::new(),
            entries_left: MAX_WALK_ENTRIES,
            deadline: std::time::Instant::now() + MAX_WALK_TIME,
        };
        walk(&real_root, 0, &mut found, &mut walk_state);
        if walk_state.entries_left == 0 || std::time::Instant::now() >= walk_state.deadline {
            catalog.problems.push(Problem {
                path: real_root.clone(),
                message: format!(
                    "skill discovery stopped early in this folder (more than {MAX_WALK_ENTRIES} entries or {} ms); move what is not a skill elsewhere",
                    MAX_WALK_TIME.as_millis()
                ),
            });
        }
        for dir in found {
            match load(&real_root, &dir, *source, max_file_bytes) {
                Ok(skill) => match by_name.get(&skill.name) {
                    Some(_) => catalog.shadowed.push(skill),
                    None => {
                        by_name.insert(skill.name.clone(), skill);
                    }
                },
                Err(message) => catalog.problems.push(Problem { path: dir.join("SKILL.md"), message }),
            }
        }
    }
    catalog.skills = by_name.into_values().collect();
    catalog
}

/// Entries looked at in one root at most, and for how long: a planted maze of folders or links must not slow every
/// turn of every user of the agent.
const MAX_WALK_ENTRIES: usize = 5_000;
const MAX_WALK_TIME: std::time::Duration = std::time::Duration::from_millis(200);

/// The state of one root's walk.
struct Walk {
    /// Whether symlinked folders are entered (operator roots only; never in a workspace, which the agent writes).
    follow_links: bool,
    /// Folders entered, by device and inode: a link loop is entered once.
    visited: std::collections::HashSet<(u64, u64)>,
    entries_left: usize,
    deadline: std::time::Instant,
}

/// Folders with a SKILL.md below `dir` (not descending into a skill, hidden folders or `node_modules`).
fn walk(dir: &Path, depth: usize, found: &mut Vec<PathBuf>, state: &mut Walk) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(dir) else { return };
    if !state.visited.insert((meta.dev(), meta.ino())) {
        return;
    }
    if dir.join("SKILL.md").is_file() {
        found.push(dir.to_path_buf());
        return;
    }
    if depth >= MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut children: Vec<PathBuf> = Vec::new();
    for entry in entries.flatten() {
        if state.entries_left == 0 || std::time::Instant::now() >= state.deadline {
            state.entries_left = 0;
            return;
        }
        state.entries_left -= 1;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "node_modules" {
            continue;
        }
        let Ok(kind) = entry.file_type() else { continue };
        let is_dir = kind.is_dir() || (kind.is_symlink() && state.follow_links && entry.path().is_dir());
        if is_dir {
            children.push(entry.path());
        }
    }
    children.sort();
    for child in children {
        walk(&child, depth + 1, found, state);
    }
}

fn load(root: &Path, dir: &Path, source: Source, max_file_bytes: u64) -> Result<Skill, String> {
    let real_dir = dir.canonicalize().map_err(|error| format!("cannot resolve the folder: {error}"))?;
    if source.contained() && !real_dir.starts_with(root) {
        return Err(format!("the skill folder resolves to {}, outside {}", real_dir.display(), root.display()));
    }
    let file = real_dir.join("SKILL.md");
    let real_file = file.canonicalize().map_err(|error| format!("cannot resolve SKILL.md: {error}"))?;
    if !real_file.starts_with(&real_dir) {
        return Err(format!("SKILL.md links outside its folder (to {})", real_file.display()));
    }
    let size = std::fs::metadata(&real_file).map_err(|error| error.to_string())?.len();
    if size > max_file_bytes {
        return Err(format!("SKILL.md is {size} bytes, more than skills.limits.maxSkillFileBytes ({max_file_bytes})"));
    }
    let text = std::fs::read_to_string(&real_file).map_err(|error| format!("cannot read SKILL.md: {error}"))?;
    let front = frontmatter::read(&text).map_err(|error| error.to_string())?;
    let name = front
        .name
        .clone()
        .or_else(|| real_dir.file_name().map(|name| name.to_string_lossy().into_owned()))
        .unwrap_or_default();
    if !valid_name(&name) {
        return Err(format!("{name:?} is not a valid skill name (letters, digits, '-', '_', '.'; at most 64)"));
    }
    Ok(Skill { name, description: front.description.clone(), dir: real_dir, file: real_file, source, front })
}

/// Skill names are command names and folder names.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// What gating looks at.
pub struct GateEnv<'a> {
    /// `PATH` for `requires.bins`.
    pub path: Option<&'a str>,
    /// The process environment.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The whole configuration as JSON (for `requires.config`).
    pub config: &'a Value,
    pub entries: &'a BTreeMap<String, SkillEntry>,
}

/// Whether a skill can be used here, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eligibility {
    pub eligible: bool,
    /// Each unmet requirement, in words that say how to meet it.
    pub reasons: Vec<String>,
}

fn this_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    }
}

/// Whether `bin` is an executable file on `path`.
pub fn on_path(bin: &str, path: Option<&str>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable =
        |file: &Path| file.metadata().is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0);
    if bin.contains('/') {
        return executable(Path::new(bin));
    }
    path.unwrap_or("").split(':').filter(|dir| !dir.is_empty()).any(|dir| executable(&Path::new(dir).join(bin)))
}

fn truthy(config: &Value, dotted: &str) -> bool {
    let mut value = config;
    for part in dotted.split('.') {
        match value.get(part) {
            Some(next) => value = next,
            None => return false,
        }
    }
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(_) => true,
    }
}

/// Checks a skill's requirements (the reference's rules: `os` always applies; `always` skips the rest).
pub fn check(skill: &Skill, gate: &GateEnv<'_>) -> Eligibility {
    let meta = &skill.front.openclaw;
    let entry = gate.entries.get(&skill.name);
    let mut reasons = Vec::new();
    if entry.and_then(|entry| entry.enabled) == Some(false) {
        reasons.push(format!("disabled in config (skills.entries.{}.enabled = false)", skill.name));
    }
    if !meta.os.is_empty() && !meta.os.iter().any(|os| os == this_os()) {
        reasons.push(format!("only for {} (this is {})", meta.os.join(", "), this_os()));
    }
    if !meta.always {
        for bin in &meta.requires.bins {
            if !on_path(bin, gate.path) {
                reasons.push(format!("missing binary: {bin} (install it on PATH)"));
            }
        }
        if !meta.requires.any_bins.is_empty() && !meta.requires.any_bins.iter().any(|bin| on_path(bin, gate.path)) {
            reasons.push(format!("needs one of these binaries on PATH: {}", meta.requires.any_bins.join(", ")));
        }
        for var in &meta.requires.env {
            let configured = entry.is_some_and(|entry| {
                entry.env.contains_key(var)
                    || (entry.api_key.is_some() && meta.primary_env.as_deref() == Some(var.as_str()))
            });
            if !configured && (gate.env)(var).is_none_or(|value| value.is_empty()) {
                reasons.push(format!(
                    "missing environment variable: {var} (set it, or skills.entries.{}.env.{var})",
                    skill.name
                ));
            }
        }
        for path in &meta.requires.config {
            if !truthy(gate.config, path) {
                reasons.push(format!("config {path} is not set (needs a truthy value)"));
            }
        }
    }
    Eligibility { eligible: reasons.is_empty(), reasons }
}

/// Whether an agent's allowlist (`agents.entries.<id>.skills`, else `agents.defaults.skills`; `None` = all)
/// lets it see a skill.
pub fn allowed(allowlist: Option<&[String]>, name: &str) -> bool {
    allowlist.is_none_or(|names| names.iter().any(|allowed| allowed == name))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The `## Skills` section of the system prompt: the guidance and the `<available_skills>` index of the given
/// skills (those the model may pick: eligible, allowed, not `disable-model-invocation`), within the budget.
/// Empty when there are none.
pub fn prompt_section(skills: &[&Skill], max_skills: usize, max_chars: usize) -> String {
    let shown: Vec<&&Skill> = skills.iter().filter(|skill| !skill.front.disable_model_invocation).collect();
    if shown.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "## Skills\nSkills are instructions for particular tasks. Before a task that matches a skill's description, read its SKILL.md (the location below) with the read tool and follow it; `{baseDir}` in it means the skill's folder. Do not read skills you do not need.\n<available_skills>\n",
    );
    let mut omitted = 0;
    for (index, skill) in shown.iter().enumerate() {
        let entry = format!(
            "  <skill>\n    <name>{}</name>\n    <description>{}</description>\n    <location>{}</location>\n  </skill>\n",
            escape(&skill.name),
            escape(&skill.description),
            escape(&skill.file.display().to_string())
        );
        if index >= max_skills || out.len() + entry.len() > max_chars {
            omitted = shown.len() - index;
            break;
        }
        out.push_str(&entry);
    }
    out.push_str("</available_skills>\n");
    if omitted > 0 {
        out.push_str(&format!(
            "({omitted} more skills are installed but not listed: the skills prompt budget is used up.)\n"
        ));
    }
    out.push('\n');
    out
}

/// What a skill's commands may touch and the variables they get.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Access {
    pub read: Vec<PathBuf>,
    pub write: Vec<PathBuf>,
    pub network: bool,
    pub env: Vec<(String, String)>,
}

fn expand(path: &str, skill: &Skill, home: Option<&Path>) -> PathBuf {
    let path = path.replace("{baseDir}", &skill.dir.display().to_string());
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// Whether a skill's folder is the operator's: found in an operator-managed root (`<state dir>/skills`, where
/// `openclaw skills install --global` puts skills, `~/.agents/skills`, `skills.load.extraDirs`) and not inside the
/// agent's workspace, which the agent's own tools can write. Only such a skill gets grants or configured secrets.
pub fn operator_managed(skill: &Skill, workspace: &Path) -> bool {
    let in_workspace = workspace.canonicalize().is_ok_and(|real| skill.dir.starts_with(real));
    matches!(skill.source, Source::Personal | Source::Managed | Source::Extra) && !in_workspace
}

/// The grants of a skill: `skills.entries.<name>.permissions` if set, else its frontmatter's; the entry's `env`
/// and `apiKey` (as `primaryEnv`), and the variables the permissions name, read from the gateway's environment.
///
/// A skill that is not [`operator_managed`] gets none of it — not its own declared permissions (the agent could
/// have written them), and not the configured entry of the same name (its secrets were meant for the operator's
/// copy): its commands run with the workspace only.
pub fn access(
    skill: &Skill,
    entry: Option<&SkillEntry>,
    api_key: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
    workspace: &Path,
) -> Access {
    if !operator_managed(skill, workspace) {
        return Access::default();
    }
    let declared: SkillPermissions = entry
        .and_then(|entry| entry.permissions.clone())
        .or_else(|| skill.front.openclaw.permissions.clone())
        .unwrap_or_default();
    let mut vars = Vec::new();
    for name in &declared.env {
        if let Some(value) = env(name) {
            vars.push((name.clone(), value));
        }
    }
    if let Some(entry) = entry {
        vars.extend(entry.env.iter().map(|(name, value)| (name.clone(), value.clone())));
    }
    if let (Some(key), Some(var)) = (api_key, skill.front.openclaw.primary_env.as_ref()) {
        vars.push((var.clone(), key));
    }
    Access {
        read: declared.read.iter().map(|path| expand(path, skill, home)).collect(),
        write: declared.write.iter().map(|path| expand(path, skill, home)).collect(),
        network: declared.network.unwrap_or(false),
        env: vars,
    }
}
