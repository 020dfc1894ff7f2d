//! The agent runtime.
//!
//! Principal types: [`AgentRuntime`] (runs turns: model → tool calls → results → model, one run at a time per
//! session key, compaction near the context limit, the `NO_REPLY` convention), [`AgentProfile`] (an agent as
//! resolved from the configuration), [`TurnRequest`] / [`TurnOutcome`] / [`AgentEvent`].
//!
//! **Invariants:**
//! - The agent crate never knows which channel a message came from: a turn is a session key and a message.
//! - A turn is committed to the store as a whole at its end (or not at all); nothing of it is written before.
//! - No sockets, no HTTP servers, no process handling here: providers, tools and the store are traits.

mod context;
mod lanes;
mod memory_index;
mod prompt;
mod runtime;
mod setup;
mod skills;
mod workspace;

pub use context::{ContextMessage, active_branch, context_messages, plan_cut};
pub use lanes::Lanes;
pub use memory_index::StoreMemoryIndex;
pub use prompt::{PromptInput, TRUNCATION_MARKER, build_system_prompt, truncate_middle};
pub use runtime::{AgentError, AgentEvent, AgentProfile, AgentRuntime, TurnOutcome, TurnRequest};
pub use setup::{
    BUILTIN_PROVIDERS, BuiltinProvider, build_router, builtin_provider, local_dir, models_dir, provider_settings,
    router_for,
};
pub use skills::{SkillStatus, SkillsHost, SkillsSettings, skill_statuses};
pub use workspace::{INJECTED, TEMPLATES, WorkspaceFile, ensure_workspace, load_workspace_files};
