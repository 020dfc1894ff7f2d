//! `exec`: a shell command in the workspace, always through the sandbox (`openclaw-sandbox`).
//!
//! A command that names a skill's folder (the way a SKILL.md tells the model to run its scripts) runs with that
//! skill's grants added — its folder readable, its declared paths, network and environment — and nothing else.

use std::path::PathBuf;
use std::time::Duration;

use openclaw_protocol::ToolSpec;
use openclaw_sandbox::{Grants, Limits, Mode, Spec, Status};
use serde_json::{Value, json};

use crate::fs::resolve_in_workspace;
use crate::{Tool, ToolContext, ToolError, ToolOutput, str_arg, uint_arg};

/// `tools.exec.security`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ExecSecurity {
    /// No commands at all.
    Deny,
    /// Only commands whose every program is in the list (pipelines and `&&` chains are split; substitutions,
    /// redirections into files and background jobs are refused).
    Allowlist(Vec<String>),
    /// Any command (still sandboxed).
    #[default]
    Full,
}

/// `tools.exec.ask`: when a person must approve a command first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ask {
    #[default]
    Off,
    /// Commands the allowlist does not cover are asked about instead of refused.
    OnMiss,
    /// Every command is asked about.
    Always,
}

/// A command waiting for a person's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRequest {
    pub agent_id: String,
    pub session_key: String,
    pub command: String,
    pub cwd: String,
}

/// A person's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    AllowOnce,
    /// Allowed now and, for this agent, from now on (the approver remembers).
    AllowAlways,
    Deny,
}

/// Who decides about commands that need approval (the gateway: operator clients with `operator.approvals`).
#[async_trait::async_trait]
pub trait Approver: Send + Sync {
    /// Waits for a decision; an approver that cannot get one (no one answers in time) returns
    /// [`Decision::Deny`].
    async fn decide(&self, request: ApprovalRequest) -> Decision;
}

/// How `exec` runs commands (from `tools.exec`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecSettings {
    pub security: ExecSecurity,
    pub ask: Ask,
    pub mode: Mode,
    pub limits: Limits,
    /// Grants every command of this agent gets.
    pub grants: Grants,
    /// `PATH` of the commands.
    pub path: String,
}

impl Default for ExecSettings {
    fn default() -> Self {
        ExecSettings {
            security: ExecSecurity::Full,
            ask: Ask::Off,
            mode: Mode::Enforce,
            limits: Limits::default(),
            grants: Grants::default(),
            path: openclaw_sandbox::DEFAULT_PATH.to_owned(),
        }
    }
}

/// An eligible skill as `exec` and `read` see it: its folder and what commands that use it may touch.
#[derive(Debug, Clone, PartialEq)]
pub struct SkillAccess {
    pub name: String,
    pub dir: PathBuf,
    pub grants: Grants,
    /// Variables set for commands of this skill (`skills.entries.<name>.env`, the `apiKey` as `primaryEnv`).
    pub env: Vec<(String, String)>,
}

/// `exec {command, workdir?, env?, timeout?}`.
pub struct ExecTool;

/// The programs of a command line, or why the line is not a plain chain of simple commands.
fn programs(command: &str) -> Result<Vec<String>, String> {
    for forbidden in ["$(", "`", ">", "<", "\n"] {
        if command.contains(forbidden) {
            return Err(format!("{forbidden:?} is not allowed in allowlist mode"));
        }
    }
    let mut programs = Vec::new();
    for segment in command.split(['|', ';', '&']) {
        let segment = segment.trim();
        if segment.is_empty() {
            continue;
        }
        let program = segment
            .split_whitespace()
            .find(|word| !word.contains('='))
            .ok_or_else(|| format!("no program in {segment:?}"))?;
        let name = program.rsplit('/').next().unwrap_or(program);
        programs.push(name.to_owned());
    }
    if command.trim_end().ends_with('&') && !command.trim_end().ends_with("&&") {
        return Err("background jobs are not allowed in allowlist mode".to_owned());
    }
    Ok(programs)
}

/// Whether a command may run: `Ok(true)` when it needs a person's approval first.
fn check_security(security: &ExecSecurity, ask: Ask, command: &str) -> Result<bool, ToolError> {
    let verdict = match security {
        ExecSecurity::Full => Ok(()),
        ExecSecurity::Deny => {
            Err(ToolError::Denied("commands are disabled for this agent (tools.exec.security = \"deny\")".to_owned()))
        }
        ExecSecurity::Allowlist(allowed) => match programs(command) {
            Err(reason) => Err(ToolError::Denied(reason)),
            Ok(programs) => match programs.iter().find(|program| !allowed.contains(program)) {
                Some(program) => Err(ToolError::Denied(format!(
                    "{program} is not in tools.exec.safeBins (allowlist mode); allowed: {}",
                    allowed.join(", ")
                ))),
                None => Ok(()),
            },
        },
    };
    match (verdict, ask) {
        (Ok(()), Ask::Always) => Ok(true),
        (Ok(()), _) => Ok(false),
        (Err(_), Ask::OnMiss | Ask::Always) if *security != ExecSecurity::Deny => Ok(true),
        (Err(error), _) => Err(error),
    }
}

async fn approve(ctx: &ToolContext, command: &str, cwd: &std::path::Path) -> Result<(), ToolError> {
    let Some(approver) = &ctx.approver else {
        return Err(ToolError::Denied(
            "this command needs a person's approval (tools.exec.ask) and no one can approve it here: run it through the gateway with an operator client connected, or change tools.exec.ask".to_owned(),
        ));
    };
    let request = ApprovalRequest {
        agent_id: ctx.agent_id.clone(),
        session_key: ctx.session_key.clone(),
        command: command.to_owned(),
        cwd: cwd.display().to_string(),
    };
    match approver.decide(request).await {
        Decision::AllowOnce | Decision::AllowAlways => Ok(()),
        Decision::Deny => {
            Err(ToolError::Denied("the command was not approved (denied or no answer in time)".to_owned()))
        }
    }
}

#[async_trait::async_trait]
impl Tool for ExecTool {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "exec".to_owned(),
            description: "Run a shell command in the workspace (sandboxed: the workspace only, no network unless granted, CPU/memory/time limits). Returns its output and exit code.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "Shell command"},
                    "workdir": {"type": "string", "description": "Working directory relative to the workspace"},
                    "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Extra environment variables"},
                    "timeout": {"type": "integer", "description": "Timeout in seconds (capped by the configured limit)"}
                },
                "required": ["command"]
            }),
        }
    }

    fn max_duration(&self, ctx: &ToolContext) -> Option<Duration> {
        // The sandbox enforces the wall clock itself and reports it; the runtime's limit is only a backstop.
        Some(ctx.settings.exec.limits.wall + Duration::from_secs(5))
    }

    async fn invoke(&self, arguments: Value, ctx: &ToolContext) -> Result<ToolOutput, ToolError> {
        let command =
            str_arg(&arguments, "command")?.ok_or_else(|| ToolError::InvalidArguments("command is required".into()))?;
        if command.trim().is_empty() {
            return Err(ToolError::InvalidArguments("command is empty".into()));
        }
        let settings = &ctx.settings.exec;
        let needs_approval = check_security(&settings.security, settings.ask, command)?;
        let workspace = ctx.workspace.canonicalize().map_err(|error| {
            ToolError::Failed(format!("the workspace {} is not accessible: {error}", ctx.workspace.display()))
        })?;
        let cwd = match str_arg(&arguments, "workdir")? {
            Some(dir) => resolve_in_workspace(&workspace, dir)?,
            None => workspace.clone(),
        };
        if needs_approval {
            approve(ctx, command, &cwd).await?;
        }
        let mut limits = settings.limits.clone();
        if let Some(seconds) = uint_arg(&arguments, "timeout")? {
            limits.wall = limits.wall.min(Duration::from_secs(seconds.max(1)));
        }
        let mut env = vec![
            ("PATH".to_owned(), settings.path.clone()),
            ("HOME".to_owned(), workspace.display().to_string()),
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
        ];
        if let Some(extra) = arguments.get("env") {
            let Some(extra) = extra.as_object() else {
                return Err(ToolError::InvalidArguments("env must be an object of strings".into()));
            };
            for (name, value) in extra {
                let Some(value) = value.as_str() else {
                    return Err(ToolError::InvalidArguments(format!("env.{name} must be a string")));
                };
                env.push((name.clone(), value.to_owned()));
            }
        }
        let mut grants = settings.grants.clone();
        let mut used = Vec::new();
        for skill in ctx.skills.iter() {
            let dir = skill.dir.display().to_string();
            if command.contains(&dir) || cwd.starts_with(&skill.dir) {
                used.push(skill.name.as_str());
                grants.read.push(skill.dir.clone());
                grants.read.extend(skill.grants.read.iter().cloned());
                grants.write.extend(skill.grants.write.iter().cloned());
                grants.network |= skill.grants.network;
                env.extend(skill.env.iter().cloned());
            }
        }
        if !used.is_empty() {
            tracing::debug!(skills = ?used, "exec runs with skill grants");
        }
        let spec = Spec { cwd, env, grants, limits, mode: settings.mode, ..Spec::shell(&workspace, command) };
        let outcome = openclaw_sandbox::run(spec).await.map_err(|error| ToolError::Failed(error.to_string()))?;
        let mut text = outcome.output;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("[{}]", outcome.status));
        match outcome.status {
            Status::Exited(_) => Ok(ToolOutput { text }),
            _ => Err(ToolError::Failed(text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_mode_checks_every_program() {
        let allowed = ExecSecurity::Allowlist(vec!["ls".into(), "wc".into(), "grep".into()]);
        assert!(!check_security(&allowed, Ask::Off, "ls -la | wc -l").unwrap());
        assert!(!check_security(&allowed, Ask::Off, "LC_ALL=C /usr/bin/ls && grep x f").unwrap());
        for bad in ["ls; rm -rf .", "ls $(rm x)", "ls `rm x`", "ls > f", "curl x", "sleep 9 &"] {
            assert!(matches!(check_security(&allowed, Ask::Off, bad), Err(ToolError::Denied(_))), "{bad}");
            assert!(check_security(&allowed, Ask::OnMiss, bad).unwrap(), "asked instead: {bad}");
        }
        assert!(matches!(check_security(&ExecSecurity::Deny, Ask::Always, "ls"), Err(ToolError::Denied(_))));
        assert!(check_security(&ExecSecurity::Full, Ask::Always, "ls").unwrap());
        assert!(!check_security(&ExecSecurity::Full, Ask::OnMiss, "rm -rf x").unwrap());
    }
}
