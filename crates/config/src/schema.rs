//! The typed configuration: every key of the reference OpenClaw schema that OpenClaw-rs implements.
//!
//! Keys use the reference's camelCase names. Every section is optional and has the reference's default, so an empty
//! file is a valid configuration (unlike the house style's "Config without Default": the reference format requires
//! it). Keys the reference knows but we do not implement yet are not fields here; the loader reports them as
//! warnings (see `reference.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The whole `openclaw.json`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Config {
    #[serde(rename = "$schema", skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Written by the CLI when it rewrites the file; kept verbatim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    pub env: EnvConfig,
    pub gateway: GatewayConfig,
    pub agents: AgentsConfig,
    pub models: ModelsConfig,
    pub bindings: Vec<Binding>,
    pub session: SessionConfig,
    pub tools: ToolPolicy,
    pub skills: SkillsConfig,
    pub mcp: McpConfig,
    pub channels: BTreeMap<String, Value>,
    pub hooks: HooksConfig,
}

/// `env`: extra variables for `${VAR}` substitution and for tools.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EnvConfig {
    pub vars: BTreeMap<String, String>,
}

/// `gateway`: where and how the daemon listens.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GatewayConfig {
    pub port: u16,
    /// `local` or `remote`.
    pub mode: Option<String>,
    /// `loopback` | `lan` | `tailnet` | `auto` | `custom`.
    pub bind: String,
    pub custom_bind_host: Option<String>,
    pub auth: GatewayAuth,
    pub http: GatewayHttp,
    pub reload: GatewayReload,
    /// `gateway.tools`: changes to the HTTP `/tools/invoke` deny list.
    pub tools: GatewayTools,
    /// `gateway.controlUi`: here only `allowedOrigins`, the browser origins admitted besides the gateway's own.
    pub control_ui: GatewayControlUi,
    /// `gateway.publicOrigin`: the origin clients reach the gateway under (its host is an accepted `Host`).
    pub public_origin: Option<String>,
}

/// `gateway.controlUi`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GatewayControlUi {
    /// Browser origins (`https://ops.example.com`) that may open the WebSocket and call the HTTP APIs; their hosts
    /// are accepted in `Host` too.
    pub allowed_origins: Vec<String>,
}

/// `gateway.reload`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct GatewayReload {
    /// `hybrid` (default: apply what can be applied live, restart for the rest) or `off`. The retired `hot` and
    /// `restart` modes mean `hybrid`, as in the reference.
    pub mode: String,
}

impl Default for GatewayReload {
    fn default() -> Self {
        GatewayReload { mode: "hybrid".to_owned() }
    }
}

/// `gateway.tools`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct GatewayTools {
    /// Removed from the default HTTP deny list.
    pub allow: Vec<String>,
    /// Added to the HTTP deny list.
    pub deny: Vec<String>,
}

/// `gateway.auth.rateLimit`: failed authentications per client address.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AuthRateLimit {
    pub max_attempts: u32,
    pub window_ms: u64,
    pub lockout_ms: u64,
    pub exempt_loopback: bool,
}

impl Default for AuthRateLimit {
    fn default() -> Self {
        AuthRateLimit { max_attempts: 10, window_ms: 60_000, lockout_ms: 300_000, exempt_loopback: false }
    }
}

/// `hooks`: the HTTP hook endpoints (`/hooks/agent`, `/hooks/wake`, mapped `/hooks/<name>`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HooksConfig {
    pub enabled: bool,
    /// A dedicated secret (not the gateway token).
    pub token: Option<String>,
    /// Base path, `/hooks` by default.
    pub path: Option<String>,
    /// Agents hooks may address; absent or containing `*`: all.
    pub allowed_agent_ids: Option<Vec<String>>,
    pub default_session_key: Option<String>,
    pub allow_request_session_key: bool,
    pub allowed_session_key_prefixes: Vec<String>,
    pub mappings: Vec<HookMapping>,
}

/// `hooks.mappings[]`: a custom hook path turned into an `agent` or `wake` action.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HookMapping {
    pub id: Option<String>,
    #[serde(rename = "match")]
    pub match_: HookMatch,
    /// `agent` (default) or `wake`.
    pub action: Option<String>,
    pub wake_mode: Option<String>,
    pub name: Option<String>,
    pub agent_id: Option<String>,
    pub session_key: Option<String>,
    /// Template of the agent message (`{{ field }}` reads the payload).
    pub message_template: Option<String>,
    /// Template of the wake text.
    pub text_template: Option<String>,
    pub deliver: Option<bool>,
    pub channel: Option<String>,
    pub to: Option<String>,
    pub model: Option<String>,
    pub thinking: Option<String>,
    pub timeout_seconds: Option<u64>,
}

/// `hooks.mappings[].match`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct HookMatch {
    pub path: Option<String>,
    pub source: Option<String>,
}

/// `gateway.http`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GatewayHttp {
    pub endpoints: HttpEndpoints,
}

/// `gateway.http.endpoints`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HttpEndpoints {
    /// `/v1/chat/completions` and `/v1/models` (off by default, as in the reference).
    pub chat_completions: EndpointToggle,
}

/// An HTTP endpoint switch.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct EndpointToggle {
    pub enabled: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            port: 18789,
            mode: None,
            bind: "loopback".to_owned(),
            custom_bind_host: None,
            auth: GatewayAuth::default(),
            http: GatewayHttp::default(),
            reload: GatewayReload::default(),
            tools: GatewayTools::default(),
            control_ui: GatewayControlUi::default(),
            public_origin: None,
        }
    }
}

/// `gateway.auth`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GatewayAuth {
    /// `token` | `password` | `none`.
    pub mode: Option<String>,
    pub token: Option<Secret>,
    pub password: Option<Secret>,
    pub rate_limit: AuthRateLimit,
}

/// `agents`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AgentsConfig {
    /// `"explicit"` marks a multi-agent roster whose default comes from `defaults.systemAgent` (reference 2026.9).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ownership: Option<String>,
    pub defaults: AgentDefaults,
    /// `agents.entries.<id>`: the current keyed form.
    pub entries: BTreeMap<String, AgentEntry>,
    /// `agents.list[]`: the legacy array form (each item carries its `id`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub list: Vec<AgentEntry>,
}

/// `agents.defaults`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AgentDefaults {
    pub model: Option<ModelSelection>,
    /// Aliases and per-model parameters, keyed by model ref.
    pub models: BTreeMap<String, Value>,
    pub workspace: Option<String>,
    pub skills: Option<Vec<String>>,
    pub skip_bootstrap: bool,
    pub bootstrap_max_chars: usize,
    pub bootstrap_total_max_chars: usize,
    pub user_timezone: Option<String>,
    pub compaction: CompactionConfig,
    pub timeout_seconds: Option<u64>,
    pub max_concurrent: Option<u32>,
    /// `agents.defaults.systemAgent.agentId`: the agent that owns ambient work and bare CLI operations.
    pub system_agent: Option<SystemAgent>,
}

/// `agents.defaults.systemAgent`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SystemAgent {
    pub agent_id: Option<String>,
}

impl Default for AgentDefaults {
    fn default() -> Self {
        AgentDefaults {
            model: None,
            models: BTreeMap::new(),
            workspace: None,
            skills: None,
            skip_bootstrap: false,
            bootstrap_max_chars: 20_000,
            bootstrap_total_max_chars: 60_000,
            user_timezone: None,
            compaction: CompactionConfig::default(),
            timeout_seconds: None,
            max_concurrent: None,
            system_agent: None,
        }
    }
}

/// `agents.defaults.compaction`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CompactionConfig {
    pub enabled: bool,
    /// `safeguard` | `default`.
    pub mode: String,
    /// Tokens of the most recent conversation kept verbatim after a compaction.
    pub keep_recent_tokens: u64,
    /// Tokens kept free for the answer; compaction starts when the context would eat into them.
    pub reserve_tokens: u64,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            enabled: true,
            mode: "safeguard".to_owned(),
            keep_recent_tokens: 20_000,
            reserve_tokens: 16_384,
        }
    }
}

/// A model choice: a plain `provider/model` string or `{primary, fallbacks}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ModelSelection {
    Ref(String),
    Chain {
        primary: Option<String>,
        #[serde(default)]
        fallbacks: Vec<String>,
    },
}

impl ModelSelection {
    /// The primary model ref, if one is set.
    pub fn primary(&self) -> Option<&str> {
        match self {
            ModelSelection::Ref(model_ref) => Some(model_ref),
            ModelSelection::Chain { primary, .. } => primary.as_deref(),
        }
    }

    /// The fallback model refs, in order.
    pub fn fallbacks(&self) -> &[String] {
        match self {
            ModelSelection::Ref(_) => &[],
            ModelSelection::Chain { fallbacks, .. } => fallbacks,
        }
    }
}

/// One agent: `agents.entries.<id>`, an `agents.list[]` item, or a seed-format `agents/<id>.json` file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AgentEntry {
    /// Only in `agents.list[]` items and agent files; the key is the id in `agents.entries`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub default: bool,
    pub workspace: Option<String>,
    pub agent_dir: Option<String>,
    pub model: Option<ModelSelection>,
    pub skills: Option<Vec<String>>,
    pub tools: Option<ToolPolicy>,
    pub identity: Option<Value>,
    pub bootstrap_max_chars: Option<usize>,
    pub bootstrap_total_max_chars: Option<usize>,
    /// The seed's agent file format: `{"tone": …, "expertise": […]}`, rendered into the system prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personality: Option<Personality>,
    /// The seed's agent file format: channels this agent answers on (becomes channel bindings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
}

/// The seed's `personality` block.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct Personality {
    pub tone: Option<String>,
    pub expertise: Vec<String>,
}

/// `models`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ModelsConfig {
    /// `merge` (default) or `replace`.
    pub mode: Option<String>,
    pub providers: BTreeMap<String, ProviderConfig>,
}

/// `models.providers.<id>`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProviderConfig {
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    /// `openai-completions` (default), `anthropic-messages`, `ollama`, …
    pub api: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub timeout_seconds: Option<u64>,
    pub max_tokens: Option<u64>,
    pub models: Vec<ModelDefinition>,
}

/// `models.providers.<id>.models[]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ModelDefinition {
    pub id: String,
    pub name: Option<String>,
    pub reasoning: Option<bool>,
    pub input: Vec<String>,
    /// US dollars per million tokens.
    pub cost: ModelCost,
    pub context_window: Option<u64>,
    pub context_tokens: Option<u64>,
    pub max_tokens: Option<u64>,
}

/// Price per million tokens.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ModelCost {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
}

/// A credential: a literal string (possibly `${VAR}`) or a SecretRef `{source, provider, id}`.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Secret {
    Plain(String),
    Ref {
        source: String,
        #[serde(default)]
        provider: Option<String>,
        id: String,
    },
}

/// Why a [`Secret`] could not be read. The caller names the config path in its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("reads the environment variable {0}, which is not set (fix: export {0}=…)")]
    MissingEnv(String),
    #[error("cannot read the secret file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("SecretRef source {0:?} is not supported yet (fix: use \"env\" or \"file\")")]
    UnsupportedSource(String),
}

impl Secret {
    /// The secret's value: a literal (with no `${VAR}` left unresolved), an env variable, or a file's trimmed text.
    ///
    /// # Errors
    /// [`SecretError`] naming what is missing.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<String, SecretError> {
        match self {
            Secret::Plain(text) => match crate::unresolved_var(text) {
                Some(name) => Err(SecretError::MissingEnv(name)),
                None => Ok(text.clone()),
            },
            Secret::Ref { source, id, .. } if source == "env" => {
                env(id).filter(|value| !value.is_empty()).ok_or_else(|| SecretError::MissingEnv(id.clone()))
            }
            Secret::Ref { source, id, .. } if source == "file" => std::fs::read_to_string(id)
                .map(|text| text.trim().to_owned())
                .map_err(|error| SecretError::File { path: id.clone(), reason: error.to_string() }),
            Secret::Ref { source, .. } => Err(SecretError::UnsupportedSource(source.clone())),
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Plain(_) => f.write_str("Secret(<redacted>)"),
            Secret::Ref { source, id, .. } => write!(f, "SecretRef({source}:{id})"),
        }
    }
}

/// `bindings[]`: which agent answers which inbound messages.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Binding {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub agent_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(rename = "match")]
    pub matcher: BindingMatch,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<BindingSession>,
}

/// `bindings[].match`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BindingMatch {
    pub channel: Option<String>,
    pub account_id: Option<String>,
    pub peer: Option<PeerMatch>,
    pub guild_id: Option<String>,
    pub team_id: Option<String>,
    pub roles: Option<Vec<String>>,
}

/// `bindings[].match.peer`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct PeerMatch {
    /// `direct` | `group` | `channel` (legacy `dm` means `direct`).
    pub kind: Option<String>,
    pub id: Option<String>,
}

/// `bindings[].session`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BindingSession {
    pub dm_scope: Option<String>,
    pub group_scope: Option<String>,
}

/// `session`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SessionConfig {
    /// `per-sender` (default) | `global`.
    pub scope: String,
    /// `main` (default) | `per-peer` | `per-channel-peer` | `per-account-channel-peer`.
    pub dm_scope: String,
    /// `per-group` (default) | `main`.
    pub group_scope: String,
    pub main_key: String,
    /// Canonical id → the ids it has on each channel (`"telegram:123"`).
    pub identity_links: BTreeMap<String, Vec<String>>,
    pub reset: SessionReset,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            scope: "per-sender".to_owned(),
            dm_scope: "main".to_owned(),
            group_scope: "per-group".to_owned(),
            main_key: "main".to_owned(),
            identity_links: BTreeMap::new(),
            reset: SessionReset::default(),
        }
    }
}

/// `session.reset`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SessionReset {
    /// `none` | `daily` | `idle`.
    pub mode: String,
    pub at_hour: u8,
    pub idle_minutes: Option<u64>,
}

impl Default for SessionReset {
    fn default() -> Self {
        SessionReset { mode: "none".to_owned(), at_hour: 4, idle_minutes: None }
    }
}

/// `tools` (and `agents.entries.<id>.tools`): which tools an agent may call.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ToolPolicy {
    /// `minimal` | `coding` | `messaging` | `full`.
    pub profile: Option<String>,
    pub allow: Option<Vec<String>>,
    pub also_allow: Vec<String>,
    pub deny: Vec<String>,
    pub exec: ExecConfig,
    pub web: WebConfig,
    pub fs: FsConfig,
}

/// `tools.fs`: the file tools and the workspace they write.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FsConfig {
    /// Megabytes the workspace may hold in all (default 10240): `write`, `edit` and `exec` refuse to grow it past
    /// that, and a command that would is stopped (OpenClaw-rs).
    pub max_workspace_mb: Option<u64>,
}

/// `tools.exec`: how shell commands run.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExecConfig {
    /// `deny` | `allowlist` (only `safeBins`) | `full` (default; commands are sandboxed either way).
    pub security: Option<ExecSecurityMode>,
    /// `off` (default) | `on-miss` (ask instead of refusing what the allowlist lacks) | `always`.
    pub ask: Option<ExecAsk>,
    /// Programs allowed in `allowlist` mode.
    pub safe_bins: Option<Vec<String>>,
    /// Wall-clock limit of one command (default 120).
    pub timeout_seconds: Option<u64>,
    /// Folders put before the default `PATH` (they also become readable).
    pub path_prepend: Vec<String>,
    /// The sandbox (OpenClaw-rs; the reference has none without Docker).
    pub sandbox: ExecSandboxConfig,
}

/// `tools.exec.security`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecSecurityMode {
    Deny,
    Allowlist,
    Full,
}

/// `tools.exec.ask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecAsk {
    Off,
    OnMiss,
    Always,
}

/// `tools.exec.sandbox`: the confinement and limits of every command.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ExecSandboxConfig {
    /// `enforce` (default: fail closed when the kernel lacks Landlock or seccomp) | `off` (limits only).
    pub mode: Option<SandboxMode>,
    /// Whether commands may use the network (default false).
    pub network: Option<bool>,
    /// Extra readable paths.
    pub read_paths: Vec<String>,
    /// Extra writable paths.
    pub write_paths: Vec<String>,
    pub cpu_seconds: Option<u64>,
    pub memory_mb: Option<u64>,
    pub max_processes: Option<u64>,
    pub max_file_mb: Option<u64>,
    /// Megabytes a command may write in all (many files), default 1024.
    pub max_write_mb: Option<u64>,
    pub max_output_bytes: Option<usize>,
}

/// `tools.exec.sandbox.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    Enforce,
    Off,
}

/// `tools.web`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WebConfig {
    pub fetch: WebFetchConfig,
}

/// `tools.web.fetch`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WebFetchConfig {
    pub enabled: Option<bool>,
    /// Characters of text returned (default 50 000).
    pub max_chars: Option<usize>,
    /// Bytes read from the response (default 2 MB).
    pub max_response_bytes: Option<usize>,
    pub max_redirects: Option<usize>,
    pub timeout_seconds: Option<u64>,
    pub user_agent: Option<String>,
    pub ssrf_policy: SsrfPolicy,
}

/// `tools.web.fetch.ssrfPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SsrfPolicy {
    /// Host names (or `*.domain`) allowed even when they resolve to a private address.
    pub allowed_hostnames: Vec<String>,
    /// Host names (or `*.domain`) always refused.
    pub blocked_hostnames: Vec<String>,
    pub dangerously_allow_private_network: Option<bool>,
}

/// `mcp`: Model Context Protocol servers whose tools agents may call.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct McpConfig {
    pub servers: BTreeMap<String, McpServer>,
}

/// `mcp.servers.<name>`: a stdio server (`command`) or a streamable HTTP one (`url`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct McpServer {
    pub enabled: Option<bool>,
    pub command: Option<String>,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    pub url: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub connection_timeout_ms: Option<u64>,
    pub request_timeout_ms: Option<u64>,
    pub tool_filter: McpToolFilter,
}

/// `mcp.servers.<name>.toolFilter`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct McpToolFilter {
    pub include: Option<Vec<String>>,
    pub exclude: Vec<String>,
}

/// `skills`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SkillsConfig {
    pub allow_bundled: Option<Vec<String>>,
    pub load: SkillsLoad,
    pub limits: SkillsLimits,
    pub entries: BTreeMap<String, SkillEntry>,
}

/// `skills.load`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SkillsLoad {
    pub extra_dirs: Vec<String>,
    pub watch: Option<bool>,
}

/// `skills.limits`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SkillsLimits {
    pub max_skills_in_prompt: Option<usize>,
    pub max_skills_prompt_chars: Option<usize>,
    pub max_skill_file_bytes: Option<u64>,
}

/// What a skill may touch when its commands run (OpenClaw-rs: `skills.entries.<name>.permissions`, or
/// `metadata.openclaw.permissions` in its SKILL.md — the config wins).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SkillPermissions {
    /// Readable paths (`~` and `{baseDir}` expand).
    pub read: Vec<String>,
    /// Writable paths.
    pub write: Vec<String>,
    /// Whether its commands may use the network.
    pub network: Option<bool>,
    /// Environment variables passed to its commands from the gateway's environment.
    pub env: Vec<String>,
}

/// `skills.entries.<name>`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SkillEntry {
    pub enabled: Option<bool>,
    pub api_key: Option<Secret>,
    pub env: BTreeMap<String, String>,
    pub config: Option<Value>,
    pub permissions: Option<SkillPermissions>,
}
