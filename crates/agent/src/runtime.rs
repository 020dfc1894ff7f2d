//! Running a turn: lane → session → context → (compaction) → model ⇄ tools → one atomic commit.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openclaw_config::{CompactionConfig, Loaded, Personality, ResolvedAgent};
use openclaw_models::{ModelError, ModelRef, ModelRequest, ModelRouter, StreamEvent};
use openclaw_protocol::{
    AgentMessage, AssistantMessage, CompactionEntry, EntryHeader, ModelChangeEntry, SessionKey, StopReason, ToolCall,
    ToolResultMessage, TranscriptEntry, Usage, UserContent, UserMessage, UserPart, new_id, now_ms,
};
use openclaw_store::{AuditEvent, NewRun, NewSession, RunStatus, SessionRecord, Store, StoreError, TurnCommit};
use openclaw_tools::{Approver, MemoryIndex, ToolContext, ToolPolicy, ToolRegistry, ToolSettings};
use sha2::{Digest, Sha256};

use crate::context::{ContextMessage, active_branch, context_messages, plan_cut};
use crate::lanes::Lanes;
use crate::memory_index::StoreMemoryIndex;
use crate::prompt::{PromptInput, build_system_prompt};
use crate::skills::{SkillsHost, SkillsSettings, tool_settings, turn_skills};
use crate::workspace::{ensure_workspace, load_workspace_files};

/// Model calls with tools per turn before the model is asked to answer without them.
const MAX_TOOL_ROUNDS: usize = 24;
/// The same call (tool + arguments) this many times in one turn is a loop.
const LOOP_REPEATS: usize = 3;
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);
const DEFAULT_CONTEXT_WINDOW: u64 = 128_000;
/// The reply that means "say nothing".
pub const SILENT_REPLY: &str = "NO_REPLY";

/// Why a turn failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(
        "agent {agent}: no model is configured (fix: run `openclaw setup`, or set agents.defaults.model.primary to \"provider/model\")"
    )]
    NoModel { agent: String },
    #[error("agent {agent}: {model:?} is not a model ref (fix: write it as \"provider/model\")")]
    BadModelRef { agent: String, model: String },
    #[error("cannot prepare the workspace: {0}")]
    Workspace(#[from] std::io::Error),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The model call failed; the turn was recorded with this error.
    #[error("{error}")]
    Model { error: ModelError, run_id: String, session_id: String },
    #[error("the turn took longer than {0}s and was stopped (fix: raise agents.defaults.timeoutSeconds)")]
    Timeout(u64),
    #[error("the turn was aborted")]
    Aborted,
    #[error("no agent {0:?} is configured (fix: add it under agents.entries, or correct the binding that names it)")]
    UnknownAgent(String),
}

/// An agent ready to run.
#[derive(Debug, Clone)]
pub struct AgentProfile {
    pub id: String,
    pub name: Option<String>,
    pub workspace: PathBuf,
    /// Primary first, then fallbacks.
    pub models: Vec<ModelRef>,
    pub personality: Option<Personality>,
    pub tools: ToolPolicy,
    pub max_file_chars: usize,
    pub max_total_chars: usize,
    pub compaction: CompactionConfig,
    pub timeout: Option<Duration>,
    pub main_key: String,
    /// The agent's skills configuration (allowlist, entries, limits).
    pub skills: SkillsSettings,
    /// How its configurable tools behave (`tools.exec`, …).
    pub tool_settings: Arc<ToolSettings>,
}

impl AgentProfile {
    /// The profile of a resolved agent.
    ///
    /// # Errors
    /// [`AgentError::NoModel`] / [`AgentError::BadModelRef`].
    pub fn from_resolved(agent: &ResolvedAgent, loaded: &Loaded) -> Result<Self, AgentError> {
        let config = &loaded.config;
        let primary = agent.model.clone().ok_or_else(|| AgentError::NoModel { agent: agent.id.clone() })?;
        let mut models = Vec::new();
        for model in std::iter::once(&primary).chain(agent.fallbacks.iter()) {
            let parsed = ModelRef::parse(model)
                .ok_or_else(|| AgentError::BadModelRef { agent: agent.id.clone(), model: model.clone() })?;
            if !models.contains(&parsed) {
                models.push(parsed);
            }
        }
        Ok(AgentProfile {
            id: agent.id.clone(),
            name: agent.name.clone(),
            workspace: agent.workspace.clone(),
            models,
            personality: agent.personality.clone(),
            tools: ToolPolicy {
                profile: agent.tools.profile.clone(),
                allow: agent.tools.allow.clone(),
                also_allow: agent.tools.also_allow.clone(),
                deny: agent.tools.deny.clone(),
            },
            max_file_chars: agent.bootstrap_max_chars,
            max_total_chars: agent.bootstrap_total_max_chars,
            compaction: config.agents.defaults.compaction.clone(),
            timeout: config.agents.defaults.timeout_seconds.filter(|s| *s > 0).map(Duration::from_secs),
            main_key: config.session.main_key.clone(),
            skills: SkillsSettings::from_loaded(loaded, agent.skills.clone()),
            tool_settings: Arc::new(tool_settings(&agent.tools)),
        })
    }
}

/// One inbound message for an agent.
#[derive(Debug, Clone)]
pub struct TurnRequest {
    pub session_key: String,
    pub message: String,
    /// Messages to record before `message` (a stateless API call carries its own history).
    pub prior: Vec<AgentMessage>,
    /// Instructions for this turn only, appended to the system prompt (e.g. an API client's system message).
    pub extra_system: Option<String>,
    /// Set to `true` to stop the turn (`chat.abort`); what was written so far is kept, the run ends `aborted`.
    pub abort: Option<tokio::sync::watch::Receiver<bool>>,
    /// Tools the caller executes itself (the OpenAI API's `tools`): offered to the model beside the agent's own (a
    /// client tool wins a name clash); a call to one ends the turn with [`TurnOutcome::client_tool_calls`], and the
    /// caller continues with the results in `prior` and an empty `message`.
    pub client_tools: Vec<openclaw_protocol::ToolSpec>,
    /// The inbound channel message this turn answers (an opaque ticket for the agent): committed with the turn, so
    /// the message is finished and its reply queued exactly when the turn is stored.
    pub delivery: Option<openclaw_store::Delivery>,
}

impl TurnRequest {
    /// A plain message for a session.
    pub fn new(session_key: impl Into<String>, message: impl Into<String>) -> Self {
        TurnRequest {
            session_key: session_key.into(),
            message: message.into(),
            prior: Vec::new(),
            extra_system: None,
            abort: None,
            client_tools: Vec::new(),
            delivery: None,
        }
    }
}

/// What happens during a turn, as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    RunStarted {
        run_id: String,
        session_id: String,
    },
    /// A model call starts (the first one of the turn, and each one after tool results).
    ModelStarted {
        provider: String,
        model: String,
    },
    TextDelta(String),
    ThinkingDelta(String),
    /// The model backend's note on what it is doing before the answer starts ("loaded the model (1.4 s)").
    Progress(String),
    ToolStarted {
        name: String,
    },
    ToolFinished {
        name: String,
        is_error: bool,
        duration_ms: u64,
    },
    Compacted {
        tokens_before: u64,
    },
    Fallback {
        model: String,
        error: String,
    },
    /// The turn's messages are in the store (sent once, after the commit), in transcript order with their entry ids.
    Committed {
        session_id: String,
        session_key: String,
        messages: Vec<(String, AgentMessage)>,
    },
}

/// The result of a finished turn.
#[derive(Debug, Clone)]
pub struct TurnOutcome {
    pub run_id: String,
    pub session_id: String,
    pub session_key: String,
    /// The final visible text (empty when silent).
    pub text: String,
    /// The model answered `NO_REPLY`: nothing is to be sent.
    pub silent: bool,
    pub usage: Usage,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub assistant_turns: usize,
    pub tool_calls: Vec<String>,
    pub duration_ms: u64,
    /// Calls of client tools the caller must run (the turn stopped there); empty otherwise.
    pub client_tool_calls: Vec<ToolCall>,
}

/// Runs agent turns against a store, a model router and a tool registry.
pub struct AgentRuntime {
    store: Arc<dyn Store>,
    /// Swapped whole when the configuration reloads; a running turn keeps the router it started with.
    router: std::sync::RwLock<Arc<ModelRouter>>,
    tools: ToolRegistry,
    lanes: Lanes,
    memory: Arc<dyn MemoryIndex>,
    owner_pid: Option<i64>,
    /// Workspaces already bootstrapped by this runtime: the templates are checked once, not on every turn.
    bootstrapped: std::sync::Mutex<std::collections::HashSet<PathBuf>>,
    skills_host: SkillsHost,
    /// Who approves commands (the gateway sets it; none in a CLI turn).
    approver: std::sync::RwLock<Option<Arc<dyn Approver>>>,
    /// Who sends the `message` tool's messages (the gateway sets it; none in a CLI turn).
    messenger: std::sync::RwLock<Option<Arc<dyn openclaw_tools::Messenger>>>,
}

fn digest(text: &str) -> String {
    let hash = Sha256::digest(text.as_bytes());
    hash.iter().take(12).map(|byte| format!("{byte:02x}")).collect()
}

fn error_result(call_id: &str, name: &str, text: String) -> ToolResultMessage {
    ToolResultMessage {
        tool_call_id: call_id.to_owned(),
        tool_name: name.to_owned(),
        content: vec![UserPart::Text { text }],
        is_error: true,
        timestamp: now_ms(),
    }
}

/// The audit record of one tool call: digests of the arguments and the result, never their text — but the path of
/// a file tool and the working folder of `exec` as given (what was touched is what an investigation asks first).
fn tool_audit(
    agent: &AgentProfile,
    session_key: &str,
    run_id: Option<&str>,
    call: &ToolCall,
    result: &ToolResultMessage,
    outcome: &str,
    duration_ms: u64,
) -> AuditEvent {
    let mut detail = serde_json::json!({
        "tool": call.name,
        "argsSha256": digest(&call.arguments.to_string()),
        "resultSha256": digest(&result.text()),
        "durationMs": duration_ms,
    });
    let named = match call.name.as_str() {
        "read" | "write" | "edit" | "ls" | "memory_get" => Some("path"),
        "exec" => Some("workdir"),
        _ => None,
    };
    if let Some(key) = named
        && let Some(path) = call.arguments.get(key).and_then(serde_json::Value::as_str)
    {
        detail[key] = serde_json::json!(path.chars().take(1024).collect::<String>());
    }
    AuditEvent {
        actor: format!("agent:{}", agent.id),
        action: "tool.call".to_owned(),
        agent_id: Some(agent.id.clone()),
        session_key: Some(session_key.to_owned()),
        run_id: run_id.map(str::to_owned),
        outcome: outcome.to_owned(),
        detail,
    }
}

/// The turn being built; committed at the end.
struct Turn {
    run_id: String,
    session: SessionRecord,
    entries: Vec<TranscriptEntry>,
    leaf: Option<String>,
    usage: Usage,
    audit: Vec<AuditEvent>,
}

impl Turn {
    fn push(&mut self, entry: TranscriptEntry) {
        self.leaf = Some(entry.id().to_owned());
        self.entries.push(entry);
    }

    fn push_message(&mut self, message: AgentMessage) -> String {
        let entry = TranscriptEntry::message(self.leaf.clone(), message);
        let id = entry.id().to_owned();
        self.push(entry);
        id
    }
}

impl AgentRuntime {
    /// A runtime. `owner_pid` marks the runs this process owns (for crash recovery).
    pub fn new(store: Arc<dyn Store>, router: Arc<ModelRouter>, tools: ToolRegistry, owner_pid: Option<i64>) -> Self {
        let memory = Arc::new(StoreMemoryIndex::new(store.clone()));
        AgentRuntime {
            store,
            router: std::sync::RwLock::new(router),
            tools,
            lanes: Lanes::default(),
            memory,
            owner_pid,
            bootstrapped: Default::default(),
            skills_host: SkillsHost::default(),
            approver: std::sync::RwLock::new(None),
            messenger: std::sync::RwLock::new(None),
        }
    }

    /// Sets who sends the `message` tool's messages (the gateway's channels).
    pub fn set_messenger(&self, messenger: Arc<dyn openclaw_tools::Messenger>) {
        *self.messenger.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(messenger);
    }

    /// Sets who approves commands that need it (`tools.exec.ask`).
    pub fn set_approver(&self, approver: Arc<dyn Approver>) {
        *self.approver.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(approver);
    }

    /// Where skills are looked for besides the workspace (the state dir, home) and the environment they are gated
    /// on.
    pub fn with_skills_host(mut self, host: SkillsHost) -> Self {
        self.skills_host = host;
        self
    }

    /// The context a tool call of `agent` in `session_key` runs with, and the skills section of the prompt.
    fn tool_context(&self, agent: &AgentProfile, session_key: &str) -> (ToolContext, String) {
        let skills = turn_skills(&self.skills_host, &agent.workspace, &agent.skills);
        let ctx = ToolContext {
            agent_id: agent.id.clone(),
            session_key: session_key.to_owned(),
            workspace: agent.workspace.clone(),
            memory: Some(self.memory.clone()),
            settings: agent.tool_settings.clone(),
            skills: Arc::new(skills.access),
            approver: self.approver.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone(),
            messenger: self.messenger.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone(),
        };
        (ctx, skills.prompt)
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The model router turns start with now.
    pub fn router(&self) -> Arc<ModelRouter> {
        self.router.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Replaces the model router (after a configuration reload); running turns finish on the old one.
    pub fn set_router(&self, router: Arc<ModelRouter>) {
        *self.router.write().unwrap_or_else(std::sync::PoisonError::into_inner) = router;
    }

    /// Creates the workspace's missing bootstrap files, once per workspace for the life of the runtime.
    fn bootstrap(&self, workspace: &std::path::Path) -> Result<(), std::io::Error> {
        let mut done = self.bootstrapped.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !done.contains(workspace) {
            ensure_workspace(workspace)?;
            done.insert(workspace.to_path_buf());
        }
        Ok(())
    }

    /// Runs one turn, streaming events to `on_event`. Waits while another turn of the same session runs.
    ///
    /// # Errors
    /// [`AgentError`]; a failed model call is recorded in the transcript before it is returned.
    pub async fn run_turn(
        &self,
        agent: &AgentProfile,
        request: TurnRequest,
        on_event: &mut (dyn FnMut(&AgentEvent) + Send),
    ) -> Result<TurnOutcome, AgentError> {
        let _lane = self.lanes.acquire(&request.session_key).await;
        self.bootstrap(&agent.workspace)?;
        let run_id = new_id();
        let session = match self.store.active_session(&request.session_key).await? {
            Some(session) => {
                self.store
                    .begin_run(NewRun {
                        run_id: run_id.clone(),
                        session_id: session.session_id.clone(),
                        session_key: request.session_key.clone(),
                        agent_id: agent.id.clone(),
                        owner_pid: self.owner_pid,
                    })
                    .await?;
                session
            }
            // A fresh session's window and its first run are one write.
            None => {
                let new = NewSession {
                    session_key: request.session_key.clone(),
                    agent_id: agent.id.clone(),
                    channel: None,
                    display_name: None,
                    cwd: agent.workspace.display().to_string(),
                    reason: "initial".to_owned(),
                };
                self.store.open_session_for_run(new, run_id.clone(), self.owner_pid).await?
            }
        };
        on_event(&AgentEvent::RunStarted { run_id: run_id.clone(), session_id: session.session_id.clone() });
        let started = Instant::now();
        let mut turn = Turn {
            run_id: run_id.clone(),
            leaf: session.leaf_entry_id.clone(),
            session,
            entries: Vec::new(),
            usage: Usage::default(),
            audit: Vec::new(),
        };
        let mut abort = request.abort.clone();
        let aborted = async move {
            match abort.as_mut() {
                Some(abort) => {
                    let _ = abort.wait_for(|stop| *stop).await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let work = self.drive(agent, &request, &mut turn, on_event);
        let limited = async {
            match agent.timeout {
                Some(limit) => match tokio::time::timeout(limit, work).await {
                    Ok(result) => result,
                    Err(_) => Err(TurnFailure::Timeout(limit.as_secs())),
                },
                None => work.await,
            }
        };
        let result = tokio::select! {
            result = limited => result,
            () = aborted => Err(TurnFailure::Aborted),
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let (status, error, outcome) = match result {
            Ok(outcome) => (RunStatus::Done, None, Ok(outcome)),
            Err(TurnFailure::Model(error)) => {
                // Record the failure as an assistant error message, as the reference does.
                turn.push_message(AgentMessage::Assistant(AssistantMessage {
                    content: Vec::new(),
                    api: String::new(),
                    provider: error.provider.clone(),
                    model: String::new(),
                    usage: Usage::default(),
                    stop_reason: StopReason::Error,
                    timestamp: now_ms(),
                    response_id: None,
                    error_message: Some(error.to_string()),
                    extra: None,
                }));
                let message = error.to_string();
                let failure =
                    AgentError::Model { error, run_id: run_id.clone(), session_id: turn.session.session_id.clone() };
                (RunStatus::Failed, Some(message), Err(failure))
            }
            Err(TurnFailure::Aborted) => (RunStatus::Aborted, Some("aborted".to_owned()), Err(AgentError::Aborted)),
            Err(TurnFailure::Timeout(seconds)) => {
                (RunStatus::Timeout, Some(format!("timed out after {seconds}s")), Err(AgentError::Timeout(seconds)))
            }
            Err(TurnFailure::Store(error)) => {
                (RunStatus::Failed, Some(error.to_string()), Err(AgentError::Store(error)))
            }
        };
        turn.audit.push(AuditEvent {
            actor: format!("agent:{}", agent.id),
            action: if status == RunStatus::Done { "turn.completed" } else { "turn.failed" }.to_owned(),
            agent_id: Some(agent.id.clone()),
            session_key: Some(request.session_key.clone()),
            run_id: Some(run_id.clone()),
            outcome: status.as_str().to_owned(),
            detail: serde_json::json!({"durationMs": duration_ms, "entries": turn.entries.len(), "error": error}),
        });
        let (provider, model) = match &outcome {
            Ok(done) => (done.provider.clone(), done.model.clone()),
            Err(_) => (None, None),
        };
        // A channel message's reply, queued with the commit: the answer, or a short reason it failed (told to the
        // person who wrote; an operator's turn that failed sends nothing, the operator sees the error).
        let delivery = request.delivery.clone().map(|mut delivery| {
            delivery.reply.text = match (&outcome, status) {
                (Ok(done), _) if done.silent => String::new(),
                (Ok(done), _) => done.text.clone(),
                (Err(_), RunStatus::Aborted) => String::new(),
                (Err(_), _) if delivery.inbox_id.is_none() => String::new(),
                (Err(AgentError::Timeout(seconds)), _) => {
                    format!("Sorry, that took too long: the turn timed out after {seconds}s. Please try again.")
                }
                (Err(error), _) => format!("Sorry, I could not answer that: {error}"),
            };
            delivery
        });
        let committed: Vec<(String, AgentMessage)> = turn
            .entries
            .iter()
            .filter_map(|entry| match entry {
                TranscriptEntry::Message(message) => Some((message.header.id.clone(), message.message.clone())),
                _ => None,
            })
            .collect();
        self.store
            .commit_turn(TurnCommit {
                session_id: turn.session.session_id.clone(),
                run_id: run_id.clone(),
                entries: std::mem::take(&mut turn.entries),
                usage: turn.usage.clone(),
                model_provider: provider,
                model,
                status,
                error,
                audit: std::mem::take(&mut turn.audit),
                delivery,
            })
            .await?;
        on_event(&AgentEvent::Committed {
            session_id: turn.session.session_id.clone(),
            session_key: request.session_key.clone(),
            messages: committed,
        });
        outcome.map(|done| TurnOutcome { duration_ms, ..done })
    }

    async fn drive(
        &self,
        agent: &AgentProfile,
        request: &TurnRequest,
        turn: &mut Turn,
        on_event: &mut (dyn FnMut(&AgentEvent) + Send),
    ) -> Result<TurnOutcome, TurnFailure> {
        // A window holding only its header (one just opened) has no history to read.
        let stored = if turn.session.entry_count <= 1 {
            Vec::new()
        } else {
            self.store.transcript(&turn.session.session_id).await?
        };
        let entries: Vec<TranscriptEntry> = stored.into_iter().map(|stored| stored.entry).collect();
        let branch = active_branch(&entries, turn.session.leaf_entry_id.as_deref());
        let mut context = context_messages(&branch);

        let primary = &agent.models[0];
        let known_model = turn.session.model_provider.as_deref().zip(turn.session.model.as_deref());
        if known_model != Some((primary.provider.as_str(), primary.model.as_str())) {
            turn.push(TranscriptEntry::ModelChange(ModelChangeEntry {
                provider: primary.provider.clone(),
                model_id: primary.model.clone(),
                header: EntryHeader::new(turn.leaf.clone()),
            }));
        }
        for message in &request.prior {
            let id = turn.push_message(message.clone());
            context.push(ContextMessage { entry_id: id, message: message.clone() });
        }
        // An empty message continues from `prior` (a client returning tool results).
        if !request.message.is_empty() || request.prior.is_empty() {
            let user = AgentMessage::User(UserMessage {
                content: UserContent::Text(request.message.clone()),
                timestamp: now_ms(),
                idempotency_key: Some(format!("{}:user", turn.run_id)),
                extra: None,
            });
            let user_id = turn.push_message(user.clone());
            context.push(ContextMessage { entry_id: user_id, message: user });
        }

        let main_session = request.session_key == SessionKey::main(&agent.id, &agent.main_key).as_str();
        let files = load_workspace_files(&agent.workspace, main_session);
        let client_names: Vec<&str> = request.client_tools.iter().map(|tool| tool.name.as_str()).collect();
        let (tool_ctx, skills_prompt) = self.tool_context(agent, &request.session_key);
        let mut tool_specs = self.tools.specs(&agent.tools, &tool_ctx);
        tool_specs.retain(|spec| !client_names.contains(&spec.name.as_str()));
        tool_specs.extend(request.client_tools.iter().cloned());
        let now = openclaw_protocol::now_iso();
        let workspace = agent.workspace.display().to_string();
        let model_label = primary.to_string();
        let mut system = build_system_prompt(&PromptInput {
            agent_id: &agent.id,
            agent_name: agent.name.as_deref(),
            session_key: &request.session_key,
            model: &model_label,
            workspace: &workspace,
            now: &now,
            personality: agent.personality.as_ref(),
            tools: &tool_specs,
            skills: &skills_prompt,
            files: &files,
            max_file_chars: agent.max_file_chars,
            max_total_chars: agent.max_total_chars,
        });
        if let Some(extra) = request.extra_system.as_deref().filter(|extra| !extra.trim().is_empty()) {
            system.push_str("\n## Request Instructions\n");
            system.push_str(extra);
            system.push('\n');
        }

        // What every model call of this turn carries besides the conversation: the prompt and the tool schemas.
        let fixed_tokens = system.len() as u64 / 4
            + tool_specs.iter().map(|t| (t.description.len() + t.parameters.to_string().len()) as u64 / 4).sum::<u64>();
        let mut seen_calls: HashMap<String, usize> = HashMap::new();
        let mut tool_names = Vec::new();
        let mut assistant_turns = 0;
        let mut tools_enabled = true;
        // Ends with the last assistant message, its visible text, and the client tools it called (if any).
        let (message, text, client_tool_calls) = loop {
            if agent.compaction.enabled {
                self.maybe_compact(agent, fixed_tokens, &mut context, turn, on_event).await;
            }
            let offered =
                if tools_enabled && assistant_turns < MAX_TOOL_ROUNDS { tool_specs.clone() } else { Vec::new() };
            let model_request = ModelRequest {
                model: String::new(),
                system: system.clone(),
                messages: context.iter().map(|m| m.message.clone()).collect(),
                tools: offered,
                max_tokens: None,
                temperature: None,
            };
            on_event(&AgentEvent::ModelStarted { provider: primary.provider.clone(), model: primary.model.clone() });
            let mut forward = |event: &StreamEvent| match event {
                StreamEvent::TextDelta(text) => on_event(&AgentEvent::TextDelta(text.clone())),
                StreamEvent::ThinkingDelta(text) => on_event(&AgentEvent::ThinkingDelta(text.clone())),
                StreamEvent::Progress(note) => on_event(&AgentEvent::Progress(note.clone())),
                _ => {}
            };
            let (message, attempts) = self
                .router()
                .complete(&agent.models, &model_request, &mut forward)
                .await
                .map_err(|(error, _)| TurnFailure::Model(error))?;
            for attempt in attempts.iter().filter(|a| a.error.is_some()) {
                let error = attempt.error.as_ref().map(ToString::to_string).unwrap_or_default();
                on_event(&AgentEvent::Fallback { model: attempt.model.to_string(), error });
            }
            assistant_turns += 1;
            turn.usage.add(&message.usage);
            let calls: Vec<_> = message.tool_calls().cloned().collect();
            let assistant_id = turn.push_message(AgentMessage::Assistant(message.clone()));
            context.push(ContextMessage { entry_id: assistant_id, message: AgentMessage::Assistant(message.clone()) });
            // The model ignores the withdrawn tools, or the turn has used its rounds: stop here either way.
            let exhausted = assistant_turns > MAX_TOOL_ROUNDS + 1;
            if calls.is_empty() || exhausted {
                let text = match message.text() {
                    text if exhausted && text.is_empty() => {
                        "(stopped: the model kept calling tools without answering)".to_owned()
                    }
                    text => text,
                };
                break (message, text, Vec::new());
            }
            let (client_calls, calls): (Vec<ToolCall>, Vec<ToolCall>) =
                calls.into_iter().partition(|call| client_names.contains(&call.name.as_str()));
            for call in calls {
                tool_names.push(call.name.clone());
                let signature = format!("{}:{}", call.name, call.arguments);
                let repeats = seen_calls.entry(signature).or_insert(0);
                *repeats += 1;
                on_event(&AgentEvent::ToolStarted { name: call.name.clone() });
                let (result, outcome, duration_ms) = if *repeats >= LOOP_REPEATS {
                    tools_enabled = false;
                    let text = format!(
                        "Loop detected: {} was called {} times with the same arguments. Stop calling tools and answer with what you have.",
                        call.name, repeats
                    );
                    (error_result(&call.id, &call.name, text), "loop", 0)
                } else {
                    self.execute_tool(agent, &tool_ctx, &call).await
                };
                on_event(&AgentEvent::ToolFinished { name: call.name.clone(), is_error: result.is_error, duration_ms });
                let run_id = Some(turn.run_id.as_str());
                let audit = tool_audit(agent, &request.session_key, run_id, &call, &result, outcome, duration_ms);
                turn.audit.push(audit);
                let message = AgentMessage::ToolResult(result);
                let id = turn.push_message(message.clone());
                context.push(ContextMessage { entry_id: id, message });
            }
            if !client_calls.is_empty() {
                tool_names.extend(client_calls.iter().map(|call| call.name.clone()));
                let text = message.text();
                break (message, text, client_calls);
            }
        };
        // A reply of exactly NO_REPLY means "say nothing" (never when the turn stops at client tools).
        let silent = client_tool_calls.is_empty() && text.trim() == SILENT_REPLY;
        Ok(TurnOutcome {
            run_id: turn.run_id.clone(),
            session_id: turn.session.session_id.clone(),
            session_key: request.session_key.clone(),
            text: if silent { String::new() } else { text },
            silent,
            usage: turn.usage.clone(),
            provider: Some(message.provider.clone()),
            model: Some(message.model.clone()),
            assistant_turns,
            tool_calls: tool_names,
            duration_ms: 0,
            client_tool_calls,
        })
    }

    /// Runs one tool call under the agent's policy and the tool timeout: the result, its outcome (`ok`, `error`,
    /// `timeout`, `denied`, `unknown`) and its duration.
    async fn execute_tool(
        &self,
        agent: &AgentProfile,
        ctx: &ToolContext,
        call: &ToolCall,
    ) -> (ToolResultMessage, &'static str, u64) {
        let started = Instant::now();
        let (result, outcome) = if !agent.tools.allows(&call.name) {
            let text = format!("The tool {} is not allowed for this agent (tool policy).", call.name);
            (error_result(&call.id, &call.name, text), "denied")
        } else if let Some(tool) = self.tools.get(&call.name) {
            let limit = tool.max_duration(ctx).unwrap_or(TOOL_TIMEOUT);
            match tokio::time::timeout(limit, tool.invoke(call.arguments.clone(), ctx)).await {
                Ok(Ok(output)) => (
                    ToolResultMessage {
                        tool_call_id: call.id.clone(),
                        tool_name: call.name.clone(),
                        content: vec![UserPart::Text { text: output.text }],
                        is_error: false,
                        timestamp: now_ms(),
                    },
                    "ok",
                ),
                Ok(Err(error)) => (error_result(&call.id, &call.name, error.to_string()), "error"),
                Err(_) => (error_result(&call.id, &call.name, format!("{} timed out", call.name)), "timeout"),
            }
        } else {
            (error_result(&call.id, &call.name, format!("There is no tool named {}.", call.name)), "unknown")
        };
        (result, outcome, started.elapsed().as_millis() as u64)
    }

    /// Whether the agent may call a tool that exists (what `/tools/invoke` offers).
    pub fn tool_available(&self, agent: &AgentProfile, name: &str) -> bool {
        agent.tools.allows(name) && self.tools.get(name).is_some()
    }

    /// Invokes one tool outside a turn (the gateway's `/tools/invoke`), with the same policy, timeout and audit
    /// record as a call the model makes; `actor` names the caller in the audit log.
    ///
    /// # Errors
    /// [`AgentError`] when the audit record cannot be written (the result is then not returned).
    pub async fn invoke_tool(
        &self,
        agent: &AgentProfile,
        session_key: &str,
        call: &ToolCall,
        actor: &str,
    ) -> Result<(ToolResultMessage, &'static str), AgentError> {
        self.bootstrap(&agent.workspace)?;
        let (ctx, _) = self.tool_context(agent, session_key);
        let (result, outcome, duration_ms) = self.execute_tool(agent, &ctx, call).await;
        let mut audit = tool_audit(agent, session_key, None, call, &result, outcome, duration_ms);
        audit.actor = actor.to_owned();
        self.store.append_audit(audit).await?;
        Ok((result, outcome))
    }

    /// Compacts the context when it would not leave `reserveTokens` free in the model's window.
    async fn maybe_compact(
        &self,
        agent: &AgentProfile,
        fixed_tokens: u64,
        context: &mut Vec<ContextMessage>,
        turn: &mut Turn,
        on_event: &mut (dyn FnMut(&AgentEvent) + Send),
    ) {
        let window = self
            .router()
            .model_info(&agent.models[0])
            .and_then(|info| info.context_window)
            .unwrap_or(DEFAULT_CONTEXT_WINDOW);
        let used = fixed_tokens + context.iter().map(|m| m.message.estimated_tokens()).sum::<u64>();
        if used + agent.compaction.reserve_tokens <= window {
            return;
        }
        let Some(cut) = plan_cut(context, agent.compaction.keep_recent_tokens) else {
            return;
        };
        let transcript: String = context[..cut]
            .iter()
            .map(|m| {
                let role = match &m.message {
                    AgentMessage::User(_) => "user",
                    AgentMessage::Assistant(_) => "assistant",
                    AgentMessage::ToolResult(_) => "tool result",
                };
                format!("[{role}] {}\n", m.message.text())
            })
            .collect();
        let request = ModelRequest {
            model: String::new(),
            system: "You compact conversations. Summarise the conversation you are given so that it can continue \
                     without it. Keep decisions, facts about the user, open tasks and anything promised. Use the \
                     headings: ## Goals, ## Facts, ## Decisions, ## Open items."
                .to_owned(),
            messages: vec![AgentMessage::user_text(format!("Conversation to summarise:\n\n{transcript}"))],
            tools: Vec::new(),
            max_tokens: Some(1024),
            temperature: None,
        };
        let mut ignore = |_: &StreamEvent| {};
        match self.router().complete(&agent.models, &request, &mut ignore).await {
            Ok((summary, _)) => {
                turn.usage.add(&summary.usage);
                let entry = TranscriptEntry::Compaction(CompactionEntry {
                    summary: summary.text(),
                    first_kept_entry_id: context[cut].entry_id.clone(),
                    tokens_before: used,
                    header: EntryHeader::new(turn.leaf.clone()),
                });
                let summary_id = entry.id().to_owned();
                turn.push(entry);
                let kept = context.split_off(cut);
                context.clear();
                context.push(ContextMessage {
                    entry_id: summary_id,
                    message: crate::context::summary_message(&summary.text()),
                });
                context.extend(kept);
                on_event(&AgentEvent::Compacted { tokens_before: used });
            }
            Err((error, _)) => {
                tracing::warn!(agent = %agent.id, error = %error, "Compaction failed; continuing with the full context.")
            }
        }
    }
}

enum TurnFailure {
    Model(ModelError),
    Aborted,
    Timeout(u64),
    Store(StoreError),
}

impl From<StoreError> for TurnFailure {
    fn from(error: StoreError) -> Self {
        TurnFailure::Store(error)
    }
}
