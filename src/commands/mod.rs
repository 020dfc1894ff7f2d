//! The commands, and what they share: finding the state dir, loading the configuration (warnings to stderr),
//! opening the store, and building the agent runtime.

pub mod agent;
pub mod agents;
pub mod channels;
pub mod config;
pub mod deploy;
pub mod doctor;
pub mod gateway;
pub mod logs;
pub mod models;
pub mod overview;
pub mod security;
pub mod sessions;
pub mod setup;
pub mod skills;

use std::sync::Arc;

use anyhow::Context;
use openclaw_config::{Loaded, Paths};
use openclaw_store::SqliteStore;

/// What every command gets.
pub struct Ctx {
    pub profile: Option<String>,
}

/// The process environment, as the library crates take it.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Ctx {
    pub fn paths(&self) -> anyhow::Result<Paths> {
        Ok(Paths::resolve(self.profile.as_deref(), &env)?)
    }

    /// Loads and validates the configuration; warnings go to stderr.
    pub fn load(&self) -> anyhow::Result<Loaded> {
        let paths = self.paths()?;
        let loaded = openclaw_config::load(&paths, &env)?;
        for warning in &loaded.warnings {
            eprintln!("warning: {warning}");
        }
        Ok(loaded)
    }

    /// Loads the configuration without printing its warnings (for a command that also loads it to report).
    pub fn load_quiet(&self) -> anyhow::Result<Loaded> {
        Ok(openclaw_config::load(&self.paths()?, &env)?)
    }

    /// Opens the store (creating the state dir with mode 700 and the database with mode 600).
    pub async fn store(&self, paths: &Paths) -> anyhow::Result<Arc<SqliteStore>> {
        let db = paths.database_path();
        if let Some(dir) = db.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            openclaw_config::set_mode(&paths.state_dir, 0o700);
            openclaw_config::set_mode(dir, 0o700);
        }
        let store = SqliteStore::open(&db).await?;
        openclaw_config::set_mode(&db, 0o600);
        Ok(Arc::new(store))
    }
}

/// The agent named `id`, or the default agent; an unknown id is refused with the agents there are.
pub fn find_agent<'a>(loaded: &'a Loaded, id: Option<&str>) -> anyhow::Result<&'a openclaw_config::ResolvedAgent> {
    let Some(id) = id else { return Ok(loaded.default_agent()) };
    loaded.agent(id).with_context(|| {
        let known: Vec<&str> = loaded.agents().iter().map(|a| a.id.as_str()).collect();
        format!("no agent {id:?} (known agents: {}; add one: openclaw agents add {id})", known.join(", "))
    })
}

/// Whether an agent can answer on `name`: a channel component of this build, or the web chat. `Err` lists the
/// channels there are.
pub fn check_channel(name: &str) -> Result<(), String> {
    if name == "webchat" || openclaw_channels::kind(name).is_some() {
        return Ok(());
    }
    let mut names: Vec<&str> = openclaw_channels::KINDS.iter().map(|kind| kind.name).collect();
    names.push("webchat");
    Err(names.join(", "))
}

/// The agent runtime over `store`, with every provider the agents use; runs left by dead processes are marked
/// interrupted first.
pub async fn build_runtime(
    loaded: &Loaded,
    store: Arc<SqliteStore>,
) -> anyhow::Result<Arc<openclaw_agent::AgentRuntime>> {
    let recovered = openclaw_store::Store::recover_runs(store.as_ref(), &process_alive).await?;
    if recovered > 0 {
        tracing::warn!(recovered, "Marked runs left unfinished by a stopped process as interrupted.");
    }
    let router = openclaw_agent::router_for(loaded, &env);
    let mut tools = openclaw_tools::ToolRegistry::builtin();
    let (mcp_tools, mcp_errors) = openclaw_mcp::connect_all(&loaded.config.mcp).await;
    for error in mcp_errors {
        tracing::warn!("{error}; its tools are not available");
    }
    for tool in mcp_tools {
        tools.register(tool);
    }
    Ok(Arc::new(
        openclaw_agent::AgentRuntime::new(
            store as Arc<dyn openclaw_store::Store>,
            Arc::new(router),
            tools,
            Some(i64::from(std::process::id())),
        )
        .with_skills_host(skills_host(&loaded.paths)),
    ))
}

/// Where skills are found for this state dir, gated on this process's environment.
pub fn skills_host(paths: &Paths) -> openclaw_agent::SkillsHost {
    let default_state = paths.home.as_ref().is_some_and(|home| paths.state_dir == home.join(".openclaw"));
    openclaw_agent::SkillsHost {
        state_dir: Some(paths.state_dir.clone()),
        home: paths.home.clone(),
        default_state,
        env: Arc::new(env),
    }
}

/// Whether a process id belongs to a running process (for crash recovery of runs).
pub fn process_alive(pid: i64) -> bool {
    pid == i64::from(std::process::id()) || std::path::Path::new(&format!("/proc/{pid}")).exists()
}
