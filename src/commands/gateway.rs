//! `openclaw gateway run`: the daemon in the foreground, on `127.0.0.1:18789` by default.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use openclaw_config::Secret;
use openclaw_gateway::{AuthSettings, Gateway, shared_secret};

use super::Ctx;

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Run the gateway in the foreground until interrupted.
    Run(RunArgs),
    /// Call one RPC method on a running gateway and print its answer.
    #[command(after_help = call_help())]
    Call {
        /// The method, e.g. health, status, sessions.list, chat.history, config.get (all listed below).
        method: String,
        /// Parameters as JSON (or JSON5).
        #[arg(long)]
        params: Option<String>,
        #[command(flatten)]
        target: Target,
        /// Print the raw JSON payload.
        #[arg(long)]
        json: bool,
    },
    /// Ask a running gateway for its health (the same as `openclaw health`).
    Health(HealthArgs),
    /// Ask a running gateway for its status.
    Status {
        #[command(flatten)]
        target: Target,
        /// Print the gateway's status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Install the gateway as a systemd user service (openclaw-gateway[-<profile>].service) and start it.
    Install(InstallArgs),
}

/// `gateway call --help`: the methods this gateway answers, and examples.
fn call_help() -> String {
    let mut lines = vec!["Methods:".to_owned()];
    for chunk in openclaw_gateway::METHODS.chunks(6) {
        lines.push(format!("  {}", chunk.join(", ")));
    }
    lines.push(String::new());
    lines.push("Examples:".to_owned());
    lines.push("  openclaw gateway call health".to_owned());
    lines.push("  openclaw gateway call sessions.list --params '{\"limit\": 5}'".to_owned());
    lines.push(
        "  openclaw gateway call chat.history --params '{\"sessionKey\": \"agent:main:main\"}' --json".to_owned(),
    );
    lines.join("\n")
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  openclaw health\n  openclaw health --json\n  openclaw health --url ws://10.0.0.5:18789 --token \"$TOKEN\""
)]
pub struct HealthArgs {
    #[command(flatten)]
    target: Target,
    /// Print the gateway's health snapshot as JSON.
    #[arg(long)]
    json: bool,
}

/// `health` / `gateway health`: the running gateway's health snapshot.
pub async fn health(ctx: &Ctx, args: HealthArgs) -> anyhow::Result<ExitCode> {
    let payload = call_once(ctx, &args.target, "health", serde_json::json!({}), &["operator.read"]).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&payload)?);
    } else {
        print_health(&payload);
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Port for the service (default: gateway.port).
    #[arg(long)]
    port: Option<u16>,
    /// Replace an existing unit.
    #[arg(long)]
    force: bool,
    /// Write the unit without enabling or starting it.
    #[arg(long)]
    no_start: bool,
}

/// The systemd unit for the gateway: same executable, same profile; secrets stay in the config or the environment,
/// never in the unit.
fn unit_text(
    exe: &std::path::Path,
    profile: Option<&str>,
    port: Option<u16>,
    paths: &openclaw_config::Paths,
) -> String {
    let mut command = format!("{}", exe.display());
    if let Some(profile) = profile {
        command.push_str(&format!(" --profile {profile}"));
    }
    command.push_str(" gateway run");
    if let Some(port) = port {
        command.push_str(&format!(" --port {port}"));
    }
    format!(
        "# Written by `openclaw gateway install`; reinstall with --force to change it.\n\
         [Unit]\n\
         Description=OpenClaw-rs gateway{}\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={command}\n\
         Environment=OPENCLAW_STATE_DIR={}\n\
         Environment=OPENCLAW_CONFIG_PATH={}\n\
         Environment=OPENCLAW_SYSTEMD_UNIT=1\n\
         Restart=on-failure\n\
         RestartSec=2\n\
         KillSignal=SIGTERM\n\
         # The gateway drains running turns for up to 30 s on SIGTERM.\n\
         TimeoutStopSec=45\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        profile.map(|p| format!(" ({p})")).unwrap_or_default(),
        paths.state_dir.display(),
        paths.config_path.display(),
    )
}

fn install(ctx: &Ctx, args: &InstallArgs) -> anyhow::Result<ExitCode> {
    let paths = ctx.paths()?;
    let exe = std::env::current_exe().context("cannot find the openclaw executable to install")?;
    let name = match ctx.profile.as_deref() {
        Some(profile) => format!("openclaw-gateway-{profile}.service"),
        None => "openclaw-gateway.service".to_owned(),
    };
    let config_home = super::env("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| super::env("HOME").map(|home| std::path::Path::new(&home).join(".config")))
        .context("cannot find the user config directory: set HOME or XDG_CONFIG_HOME")?;
    let dir = config_home.join("systemd").join("user");
    let unit = dir.join(&name);
    if unit.exists() && !args.force {
        bail!("{} already exists (fix: openclaw gateway install --force to replace it)", unit.display());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(&unit, unit_text(&exe, ctx.profile.as_deref(), args.port, &paths))
        .with_context(|| format!("cannot write {}", unit.display()))?;
    println!("Wrote {}", unit.display());
    if args.no_start {
        println!("Start it with: systemctl --user daemon-reload && systemctl --user enable --now {name}");
        return Ok(ExitCode::SUCCESS);
    }
    let systemctl = |args: &[&str]| std::process::Command::new("systemctl").arg("--user").args(args).status();
    match systemctl(&["daemon-reload"]).and_then(|_| systemctl(&["enable", "--now", &name])) {
        Ok(status) if status.success() => {
            println!("Enabled and started {name} (logs: openclaw logs --follow)");
            Ok(ExitCode::SUCCESS)
        }
        Ok(_) | Err(_) => {
            eprintln!(
                "warning: systemctl --user could not start {name} (no user systemd session here?). The unit is written; start it with: systemctl --user daemon-reload && systemctl --user enable --now {name}"
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// Where the gateway is and how to authenticate (the reference's rules: `--url` never reuses configured secrets).
#[derive(Debug, Clone, Default, Args)]
pub struct Target {
    /// ws://host:port (default: OPENCLAW_GATEWAY_URL, else ws://127.0.0.1:<gateway.port>).
    #[arg(long)]
    pub url: Option<String>,
    /// Shared token (default without --url: gateway.auth.token, else OPENCLAW_GATEWAY_TOKEN).
    #[arg(long)]
    pub token: Option<String>,
    /// Shared password.
    #[arg(long)]
    pub password: Option<String>,
}

impl Target {
    /// Client options for this target.
    pub fn options(&self, ctx: &Ctx, scopes: &[&str]) -> anyhow::Result<openclaw_gateway::client::ClientOptions> {
        let loaded = ctx.load_quiet().ok();
        let port = loaded.as_ref().map_or(18789, |l| l.config.gateway.port);
        let url = self
            .url
            .clone()
            .or_else(|| super::env("OPENCLAW_GATEWAY_URL").filter(|u| !u.is_empty()))
            .unwrap_or_else(|| format!("ws://127.0.0.1:{port}"));
        let (token, password) = if self.url.is_some() {
            (self.token.clone(), self.password.clone())
        } else {
            // A configured secret that cannot be read is skipped here: the env variable may still hold it.
            let configured = |secret: &Option<Secret>| secret.as_ref().and_then(|s| s.resolve(&super::env).ok());
            let auth = loaded.as_ref().map(|l| l.config.gateway.auth.clone()).unwrap_or_default();
            let secret =
                |flag: &Option<String>, configured, var| shared_secret(flag.clone(), configured, var, &super::env);
            let token = secret(&self.token, configured(&auth.token), "OPENCLAW_GATEWAY_TOKEN");
            let password = secret(&self.password, configured(&auth.password), "OPENCLAW_GATEWAY_PASSWORD");
            (token, password)
        };
        Ok(openclaw_gateway::client::ClientOptions {
            url,
            token,
            password,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            client_id: "cli".to_owned(),
            mode: "cli".to_owned(),
        })
    }
}

async fn call_once(
    ctx: &Ctx,
    target: &Target,
    method: &str,
    params: serde_json::Value,
    scopes: &[&str],
) -> anyhow::Result<serde_json::Value> {
    let options = target.options(ctx, scopes)?;
    let mut client = openclaw_gateway::client::GatewayClient::connect(&options).await?;
    Ok(client.request(method, params, &mut |_| {}).await?)
}

fn print_health(health: &serde_json::Value) {
    let agents: Vec<String> = health["agents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let default = if a["isDefault"] == true { " (default)" } else { "" };
            format!("{}{default}: {} sessions", a["agentId"].as_str().unwrap_or("?"), a["sessions"]["count"])
        })
        .collect();
    println!("Gateway: ok (probe {} ms)", health["durationMs"]);
    println!("Agents: {}", agents.join(", "));
    println!("Sessions: {} in {}", health["sessions"]["count"], health["sessions"]["path"].as_str().unwrap_or("?"));
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Port (default: gateway.port, 18789; 0 picks a free one).
    #[arg(long)]
    port: Option<u16>,
    /// loopback (default), lan, or custom (gateway.customBindHost).
    #[arg(long)]
    bind: Option<String>,
    /// Shared token clients must present (default: gateway.auth.token or OPENCLAW_GATEWAY_TOKEN).
    #[arg(long)]
    token: Option<String>,
    /// Log at debug level (unless --log-level says otherwise).
    #[arg(long)]
    pub verbose: bool,
}

pub async fn run(ctx: &Ctx, command: GatewayCommand) -> anyhow::Result<ExitCode> {
    let args = match command {
        GatewayCommand::Run(args) => args,
        GatewayCommand::Install(args) => return install(ctx, &args),
        GatewayCommand::Call { method, params, target, json } => {
            let params = match params {
                Some(text) => openclaw_config::parse_json5(&text, std::path::Path::new("--params"))?,
                None => serde_json::json!({}),
            };
            let scopes = ["operator.read", "operator.write", "operator.admin"];
            let payload = call_once(ctx, &target, &method, params, &scopes).await?;
            // The payload is JSON either way; --json only drops the pretty-printing.
            let text = if json { payload.to_string() } else { serde_json::to_string_pretty(&payload)? };
            println!("{text}");
            return Ok(ExitCode::SUCCESS);
        }
        GatewayCommand::Health(args) => return health(ctx, args).await,
        GatewayCommand::Status { target, json } => {
            let payload = call_once(ctx, &target, "status", serde_json::json!({}), &["operator.read"]).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&payload)?);
            } else {
                println!(
                    "Gateway {} is running; {} sessions.",
                    payload["runtimeVersion"].as_str().unwrap_or("?"),
                    payload["sessions"]["count"]
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let loaded = ctx.load()?;
    let gateway_config = loaded.config.gateway.clone();
    let flags = AuthSettings { token: args.token.clone(), password: None };
    let auth = AuthSettings::resolve(&flags, &gateway_config.auth, &super::env).map_err(anyhow::Error::msg)?;
    let bind = args.bind.clone().unwrap_or(gateway_config.bind.clone());
    let host = match bind.as_str() {
        "loopback" => "127.0.0.1".to_owned(),
        "lan" | "auto" => "0.0.0.0".to_owned(),
        "custom" => gateway_config.custom_bind_host.clone().context(
            "--bind custom needs gateway.customBindHost (fix: openclaw config set gateway.customBindHost 10.0.0.5)",
        )?,
        other => bail!("--bind {other:?} is not supported (fix: use loopback, lan or custom)"),
    };
    let loopback = host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback && !auth.is_configured() {
        bail!(
            "refusing to listen on {host} without authentication (fix: set gateway.auth.token or OPENCLAW_GATEWAY_TOKEN, or use --bind loopback)"
        );
    }
    if !loopback && auth.shortest().is_some_and(|length| length < openclaw_gateway::MIN_REMOTE_SECRET) {
        bail!(
            "refusing to listen on {host} with a secret shorter than {} characters (fix: openclaw config set gateway.auth.token \"$(openssl rand -hex 24)\")",
            openclaw_gateway::MIN_REMOTE_SECRET
        );
    }
    let port = args.port.unwrap_or(gateway_config.port);
    let store = ctx.store(&loaded.paths).await?;
    let runtime = super::build_runtime(&loaded, store.clone()).await?;
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port} (fix: free the port or pass --port)"))?;
    let address = listener.local_addr()?;
    let gateway = Gateway::new(loaded, runtime, flags);
    println!("openclaw gateway listening on ws://{address} (health: http://{address}/healthz)");
    openclaw_gateway::serve(gateway.clone(), listener, shutdown_signal()).await?;
    store.close().await;
    if gateway.restart_requested() {
        return restart();
    }
    eprintln!("openclaw gateway stopped");
    Ok(ExitCode::SUCCESS)
}

/// Replaces this process with a fresh `openclaw` started with the same arguments (after a config change that the
/// running process cannot apply, such as the port).
fn restart() -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find the running executable to restart it")?;
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    eprintln!("openclaw gateway restarting to apply the new configuration");
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let error = std::process::Command::new(&exe).args(&args).exec();
        bail!("cannot restart {}: {error}", exe.display())
    }
    #[cfg(not(unix))]
    {
        let status = std::process::Command::new(&exe).args(&args).status()?;
        Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    }
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
