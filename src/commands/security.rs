//! `openclaw security audit`: a deployment's configuration and files checked against SECURITY.md — no or weak
//! gateway secret, a listener beyond loopback, the sandbox off, permissive `exec`, private network reachable by
//! `web_fetch`, loose hooks and origins, files other users can read — each finding with its fix.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use openclaw_config::{ExecAsk, ExecSecurityMode, Loaded, SandboxMode};
use serde_json::json;

use super::Ctx;

#[derive(Debug, Subcommand)]
pub enum SecurityCommand {
    /// Check the configuration and files; exit 1 when something critical or risky is found.
    Audit {
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    Info,
    Warn,
    Critical,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Critical => "critical",
        }
    }
}

struct Finding {
    severity: Severity,
    id: &'static str,
    message: String,
    fix: String,
}

fn finding(severity: Severity, id: &'static str, message: String, fix: &str) -> Finding {
    Finding { severity, id, message, fix: fix.to_owned() }
}

fn audit(loaded: &Loaded, env: &dyn Fn(&str) -> Option<String>) -> Vec<Finding> {
    let mut found = Vec::new();
    let gateway = &loaded.config.gateway;
    let resolve = |secret: &Option<openclaw_config::Secret>| secret.as_ref().and_then(|s| s.resolve(env).ok());
    let token = openclaw_gateway::shared_secret(None, resolve(&gateway.auth.token), "OPENCLAW_GATEWAY_TOKEN", env);
    let password =
        openclaw_gateway::shared_secret(None, resolve(&gateway.auth.password), "OPENCLAW_GATEWAY_PASSWORD", env);
    let beyond_loopback = gateway.bind != "loopback";
    match (&token, &password) {
        (None, None) => found.push(finding(
            if beyond_loopback { Severity::Critical } else { Severity::Warn },
            "gateway.no-secret",
            "the gateway has no token or password: every local process can drive it".to_owned(),
            "openclaw setup writes one; or openclaw config set gateway.auth.token \"$(openssl rand -hex 24)\"",
        )),
        _ => {
            let shortest = [&token, &password].into_iter().flatten().map(|s| s.chars().count()).min().unwrap_or(0);
            if shortest < 24 {
                found.push(finding(
                    if beyond_loopback && shortest < openclaw_gateway::MIN_REMOTE_SECRET {
                        Severity::Critical
                    } else {
                        Severity::Warn
                    },
                    "gateway.weak-secret",
                    format!("the gateway secret has {shortest} characters"),
                    "use at least 24 random characters: openssl rand -hex 24",
                ));
            }
        }
    }
    if beyond_loopback {
        found.push(finding(
            Severity::Warn,
            "gateway.beyond-loopback",
            format!("the gateway listens beyond loopback (gateway.bind = {:?}) without TLS of its own", gateway.bind),
            "keep gateway.bind loopback and publish it through a TLS reverse proxy or a VPN",
        ));
    }
    if gateway.control_ui.allowed_origins.iter().any(|origin| origin.trim() == "*") {
        found.push(finding(
            Severity::Critical,
            "gateway.any-origin",
            "gateway.controlUi.allowedOrigins contains \"*\": any web page may talk to the gateway".to_owned(),
            "list the exact origins of your dashboards instead",
        ));
    }
    for agent in loaded.agents() {
        let exec = &agent.tools.exec;
        if exec.sandbox.mode == Some(SandboxMode::Off) {
            found.push(finding(
                Severity::Critical,
                "exec.sandbox-off",
                format!(
                    "agent {}: tools.exec.sandbox.mode is \"off\": commands run with the gateway's rights",
                    agent.id
                ),
                "remove tools.exec.sandbox.mode (the sandbox is on by default)",
            ));
        }
        let asks = matches!(exec.ask, Some(ExecAsk::Always | ExecAsk::OnMiss));
        if matches!(exec.security, Some(ExecSecurityMode::Full) | None) && !asks {
            found.push(finding(
                Severity::Info,
                "exec.full",
                format!("agent {}: any command may run (sandboxed) without a person's approval", agent.id),
                "tools.exec.security \"allowlist\" with safeBins, or tools.exec.ask \"on-miss\"",
            ));
        }
        if exec.sandbox.network == Some(true) {
            found.push(finding(
                Severity::Warn,
                "exec.network",
                format!("agent {}: every command may use the network (tools.exec.sandbox.network)", agent.id),
                "grant the network to the skills that need it (skills.entries.<name>.permissions.network)",
            ));
        }
        // Programs that launch others: the exec tool refuses them in allowlist mode, so listing one is a mistake to fix.
        for bin in exec.safe_bins.iter().flatten().filter(|bin| openclaw_tools::LAUNCHERS.contains(&bin.as_str())) {
            found.push(finding(
                Severity::Warn,
                "exec.launcher-in-safebins",
                format!(
                    "agent {}: tools.exec.safeBins lists {bin}, which runs other programs (it is refused)",
                    agent.id
                ),
                "remove it from safeBins",
            ));
        }
        if agent.tools.web.fetch.ssrf_policy.dangerously_allow_private_network == Some(true) {
            found.push(finding(
                Severity::Critical,
                "web.private-network",
                format!("agent {}: web_fetch may reach loopback and private addresses", agent.id),
                "remove tools.web.fetch.ssrfPolicy.dangerouslyAllowPrivateNetwork; use allowedHostnames",
            ));
        }
    }
    let hooks = &loaded.config.hooks;
    if hooks.enabled {
        if hooks.token.as_deref().is_none_or(|token| token.chars().count() < 24) {
            found.push(finding(
                Severity::Warn,
                "hooks.weak-token",
                "hooks.token is missing or shorter than 24 characters".to_owned(),
                "openclaw config set hooks.token \"$(openssl rand -hex 24)\"",
            ));
        }
        if hooks.allowed_agent_ids.is_none() {
            found.push(finding(
                Severity::Info,
                "hooks.any-agent",
                "hooks may address every agent (hooks.allowedAgentIds is unset)".to_owned(),
                "set hooks.allowedAgentIds to the agents hooks are for",
            ));
        }
        if hooks.allow_request_session_key && hooks.allowed_session_key_prefixes.is_empty() {
            found.push(finding(
                Severity::Warn,
                "hooks.any-session",
                "callers choose any session key of their agent (allowRequestSessionKey without prefixes)".to_owned(),
                "set hooks.allowedSessionKeyPrefixes, e.g. [\"hook:\"]",
            ));
        }
    }
    let paths = &loaded.paths;
    let mut files: Vec<(std::path::PathBuf, u32)> = vec![
        (paths.state_dir.clone(), 0o700),
        (paths.config_path.clone(), 0o600),
        (paths.database_path(), 0o600),
        (paths.state_dir.join("logs"), 0o700),
        (paths.state_dir.join("skills"), 0o700),
    ];
    files.extend(loaded.agents().iter().map(|agent| (agent.workspace.clone(), 0o700)));
    for (path, want) in files {
        if let Some(mode) = mode_of(&path)
            && mode & 0o077 != 0
        {
            found.push(finding(
                Severity::Warn,
                "files.readable-by-others",
                format!("{} has mode {mode:o}: other local users can read it", path.display()),
                &format!("openclaw doctor --fix (sets {want:o})"),
            ));
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.severity));
    found
}

fn mode_of(path: &Path) -> Option<u32> {
    Some(std::fs::metadata(path).ok()?.permissions().mode() & 0o777)
}

pub async fn run(ctx: &Ctx, command: SecurityCommand) -> anyhow::Result<ExitCode> {
    let SecurityCommand::Audit { json } = command;
    let loaded = ctx.load()?;
    let findings = audit(&loaded, &super::env);
    let risky = findings.iter().any(|f| f.severity >= Severity::Warn);
    if json {
        let list: Vec<_> = findings
            .iter()
            .map(|f| json!({"severity": f.severity.label(), "id": f.id, "message": f.message, "fix": f.fix}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&json!({"ok": !risky, "findings": list}))?);
    } else if findings.is_empty() {
        println!("No findings: {} matches SECURITY.md's defaults.", loaded.paths.config_path.display());
    } else {
        for f in &findings {
            println!("{:<8} {}: {}\n         fix: {}", f.severity.label(), f.id, f.message, f.fix);
        }
        let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
        println!(
            "\n{} critical, {} warnings, {} notes.",
            count(Severity::Critical),
            count(Severity::Warn),
            count(Severity::Info)
        );
    }
    Ok(if risky { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
