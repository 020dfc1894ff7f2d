//! Tools an agent can call: the [`Tool`] trait, the [`ToolRegistry`], [`ToolPolicy`] evaluation (profiles, groups,
//! allow/deny), and the built-in tools — `read`, `write`, `edit`, `ls`, `exec` (sandboxed), `web_fetch` (SSRF-guarded), `memory_search`, `memory_get`, `message` (through a [`Messenger`]).
//!
//! **Invariants:** a tool never sees channels, HTTP or the database directly: it gets a [`ToolContext`] (the
//! workspace and, for memory, a [`MemoryIndex`]). File tools never reach outside the workspace, whatever the path
//! (`..`, absolute paths and symlinks are resolved first and refused if they leave it).

mod beneath;
mod exec;
mod fs;
mod memory;
mod message;
mod policy;
mod quota;
mod shell;
mod web;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use openclaw_protocol::ToolSpec;
use serde_json::Value;

pub use exec::{
    ApprovalRequest, Approver, Ask, Decision, ExecSecurity, ExecSettings, ExecTool, LAUNCHERS, SkillAccess,
};
pub use fs::{EditTool, LsTool, ReadTool, WriteTool, read_workspace_file};
pub use memory::{MemoryGetTool, MemoryIndex, MemorySearchTool, chunk_markdown, memory_files};
pub use message::{MAX_MESSAGE_BYTES, MessageReceipt, MessageRequest, MessageTool, Messenger};
pub use openclaw_protocol::MemoryHit;
pub use openclaw_sandbox as sandbox;
pub use policy::{ToolPolicy, expand_group};
pub use quota::DEFAULT_WORKSPACE_BYTES;
pub use web::{WebFetchSettings, WebFetchTool, is_private};

/// Why a tool call failed. The message goes back to the model as an error result.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("denied: {0}")]
    Denied(String),
    #[error("{0}")]
    Failed(String),
}

/// How the configurable tools behave (from `tools.*`, per agent).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSettings {
    pub exec: ExecSettings,
    pub web_fetch: WebFetchSettings,
    /// The most the workspace may hold (`tools.fs.maxWorkspaceMb`): file writes and commands stop short of it.
    pub workspace_bytes: u64,
}

impl Default for ToolSettings {
    fn default() -> Self {
        ToolSettings {
            exec: ExecSettings::default(),
            web_fetch: WebFetchSettings::default(),
            workspace_bytes: DEFAULT_WORKSPACE_BYTES,
        }
    }
}

/// What a tool call sees of the world.
#[derive(Clone)]
pub struct ToolContext {
    pub agent_id: String,
    pub session_key: String,
    pub workspace: PathBuf,
    pub memory: Option<Arc<dyn MemoryIndex>>,
    pub settings: Arc<ToolSettings>,
    /// The agent's eligible skills (their folders are readable; `exec` applies their grants).
    pub skills: Arc<Vec<SkillAccess>>,
    /// Who approves commands that need it (`tools.exec.ask`); `None`: such commands are refused.
    pub approver: Option<Arc<dyn Approver>>,
    /// Who sends the `message` tool's messages (the gateway's channels); `None`: the tool is not offered.
    pub messenger: Option<Arc<dyn Messenger>>,
}

impl ToolContext {
    /// A context with default settings and no skills.
    pub fn new(agent_id: &str, session_key: &str, workspace: PathBuf) -> Self {
        ToolContext {
            agent_id: agent_id.to_owned(),
            session_key: session_key.to_owned(),
            workspace,
            memory: None,
            settings: Arc::default(),
            skills: Arc::default(),
            approver: None,
            messenger: None,
        }
    }
}

/// A tool's answer (text for the model).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    pub text: String,
}

/// One tool.
#[async_trait::async_trait]
pub trait Tool: Send + Sync {
    /// Name, description and argument schema, as offered to the model.
    fn spec(&self) -> ToolSpec;

    /// Runs the tool.
    ///
    /// # Errors
    /// A [`ToolError`] that is reported to the model as an error result.
    async fn invoke(&self, arguments: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError>;

    /// How long a call may take before the runtime stops it (`None`: the runtime's default). Tools with their own
    /// configured limit (exec) report it here.
    fn max_duration(&self, _ctx: &ToolContext) -> Option<std::time::Duration> {
        None
    }

    /// Whether the tool can work here at all (the `message` tool needs a gateway's channels); one that cannot is
    /// not offered to the model.
    fn offered(&self, _ctx: &ToolContext) -> bool {
        true
    }
}

/// Tools by name.
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: BTreeMap<String, Arc<dyn Tool>>,
}

impl ToolRegistry {
    /// The built-in tools of this release.
    pub fn builtin() -> Self {
        let mut registry = ToolRegistry::default();
        registry.register(Arc::new(ReadTool));
        registry.register(Arc::new(LsTool));
        registry.register(Arc::new(WriteTool));
        registry.register(Arc::new(EditTool));
        registry.register(Arc::new(ExecTool));
        registry.register(Arc::new(WebFetchTool));
        registry.register(Arc::new(MemorySearchTool));
        registry.register(Arc::new(MemoryGetTool));
        registry.register(Arc::new(MessageTool));
        registry
    }

    /// Adds (or replaces) a tool.
    pub fn register(&mut self, tool: Arc<dyn Tool>) {
        self.tools.insert(tool.spec().name, tool);
    }

    /// A tool by name.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Tool>> {
        self.tools.get(name).cloned()
    }

    /// The specs of the tools a policy allows and that can work in `ctx`, by name.
    pub fn specs(&self, policy: &ToolPolicy, ctx: &ToolContext) -> Vec<ToolSpec> {
        self.tools
            .values()
            .filter(|tool| tool.offered(ctx))
            .map(|tool| tool.spec())
            .filter(|spec| policy.allows(&spec.name))
            .collect()
    }
}

/// Reads a string argument.
pub(crate) fn str_arg<'a>(arguments: &'a Value, name: &str) -> Result<Option<&'a str>, ToolError> {
    match arguments.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(ToolError::InvalidArguments(format!("{name} must be a string, got {other}"))),
    }
}

/// Reads a non-negative integer argument (numbers sent as strings are accepted: small models do that).
pub(crate) fn uint_arg(arguments: &Value, name: &str) -> Result<Option<u64>, ToolError> {
    match arguments.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .map(Some)
            .ok_or_else(|| ToolError::InvalidArguments(format!("{name} must be a non-negative integer"))),
        Some(Value::String(text)) => {
            text.trim().parse().map(Some).map_err(|_| {
                ToolError::InvalidArguments(format!("{name} must be a non-negative integer, got {text:?}"))
            })
        }
        Some(other) => Err(ToolError::InvalidArguments(format!("{name} must be a non-negative integer, got {other}"))),
    }
}
