//! The top-level commands people type first: `status`, `health`, `dashboard`, `version`, `completion`, `man`.
//! `status` and `health` ask the same gateway methods as `gateway status|health`; what is added here is what can
//! be said without a gateway (the config, the agents, how to start one).

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory};
use serde_json::json;

use super::Ctx;
use super::gateway::Target;

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  openclaw status\n  openclaw status --json")]
pub struct StatusArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: Target,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  openclaw dashboard\n  openclaw dashboard --no-open\n  openclaw dashboard --json")]
pub struct DashboardArgs {
    /// Print the URL without opening a browser.
    #[arg(long)]
    no_open: bool,
    /// Print one JSON object (url, httpUrl, wsUrl, port, tokenIncluded) and open nothing.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  openclaw version\n  openclaw version --json")]
pub struct VersionArgs {
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  openclaw completion bash > ~/.local/share/bash-completion/completions/openclaw\n  \
                        openclaw completion zsh > \"${fpath[1]}/_openclaw\"\n  openclaw completion --write-state"
)]
pub struct CompletionArgs {
    /// The shell (default: from $SHELL, else bash).
    #[arg(value_enum)]
    shell: Option<clap_complete::Shell>,
    /// The shell, as the reference CLI spells it.
    #[arg(long = "shell", short = 's', value_enum, conflicts_with = "shell")]
    shell_flag: Option<clap_complete::Shell>,
    /// Write the scripts to <state dir>/completions instead of printing (all shells unless one is named).
    #[arg(long)]
    write_state: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  openclaw man | man -l -\n  openclaw man gateway run | man -l -\n  \
                        openclaw man --dir ~/.local/share/man/man1")]
pub struct ManArgs {
    /// The command whose page to print (`gateway run`); none: the top-level page.
    command: Vec<String>,
    /// Write every page (openclaw.1, openclaw-gateway.1, …) into this folder instead of printing one.
    #[arg(long, value_name = "DIR")]
    dir: Option<std::path::PathBuf>,
}

/// The version line: `openclaw <version>`.
pub fn version(args: VersionArgs) -> ExitCode {
    let version = env!("CARGO_PKG_VERSION");
    if args.json {
        println!("{}", json!({"name": "openclaw", "version": version, "protocol": 4}));
    } else {
        println!("openclaw {version} (gateway protocol v4)");
    }
    ExitCode::SUCCESS
}

/// `status`: the configuration and agents, and whether a gateway runs (with its sessions) or how to start one.
pub async fn status(ctx: &Ctx, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let paths = ctx.paths()?;
    let loaded = ctx.load();
    let options = args.target.options(ctx, &["operator.read"])?;
    let probe = async {
        let mut client = openclaw_gateway::client::GatewayClient::connect(&options).await?;
        client.request("status", json!({}), &mut |_| {}).await.map_err(anyhow::Error::from)
    };
    let gateway = tokio::time::timeout(std::time::Duration::from_secs(5), probe)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer in 5 s")));
    let (config, agents, channels) = match &loaded {
        Ok(loaded) => (
            json!({"path": paths.config_path, "exists": loaded.exists, "valid": true,
                   "warnings": loaded.warnings.len()}),
            loaded
                .agents()
                .iter()
                .map(|a| json!({"id": a.id, "default": a.is_default, "model": a.model, "workspace": a.workspace}))
                .collect::<Vec<_>>(),
            loaded.config.channels.keys().cloned().collect::<Vec<_>>(),
        ),
        Err(error) => {
            (json!({"path": paths.config_path, "valid": false, "error": format!("{error:#}")}), vec![], vec![])
        }
    };
    let gateway_json = match &gateway {
        Ok(status) => json!({"running": true, "url": options.url, "sessions": status["sessions"]["count"],
                              "version": status["runtimeVersion"]}),
        Err(error) => json!({"running": false, "url": options.url, "error": format!("{error:#}")}),
    };
    if args.json {
        let report = json!({"version": env!("CARGO_PKG_VERSION"), "stateDir": paths.state_dir, "config": config,
                            "agents": agents, "channels": channels, "gateway": gateway_json});
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("OpenClaw-rs {}", env!("CARGO_PKG_VERSION"));
    println!("State dir: {}", paths.state_dir.display());
    match &loaded {
        Ok(loaded) if !loaded.exists => {
            println!("Config:    {} (not written yet; fix: openclaw setup)", paths.config_path.display())
        }
        Ok(loaded) => {
            println!("Config:    {} (valid, {} warnings)", paths.config_path.display(), loaded.warnings.len())
        }
        Err(error) => println!("Config:    {} is INVALID: {error:#}", paths.config_path.display()),
    }
    for agent in &agents {
        let default = if agent["default"] == true { " (default)" } else { "" };
        let model = agent["model"].as_str().unwrap_or("no model (fix: openclaw setup)");
        println!("Agent:     {}{default}: {model}", agent["id"].as_str().unwrap_or("?"));
    }
    if !channels.is_empty() {
        println!("Channels:  {}", channels.join(", "));
    }
    match gateway {
        Ok(status) => println!(
            "Gateway:   running at {} ({} sessions); dashboard: openclaw dashboard",
            options.url, status["sessions"]["count"]
        ),
        Err(_) => println!("Gateway:   not running at {} (start it: openclaw gateway run)", options.url),
    }
    Ok(ExitCode::SUCCESS)
}

/// The command that opens a URL in the desktop's browser, when there is a desktop.
fn browser_opener() -> Option<&'static str> {
    let desktop = ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|name| super::env(name).is_some_and(|v| !v.is_empty()));
    let found = |program: &str| {
        super::env("PATH")
            .unwrap_or_default()
            .split(':')
            .any(|dir| !dir.is_empty() && std::path::Path::new(dir).join(program).is_file())
    };
    if cfg!(target_os = "macos") {
        return Some("open");
    }
    (desktop && found("xdg-open")).then_some("xdg-open")
}

/// `dashboard`: the gateway's browser address with the token in the fragment (never sent to a server or its logs,
/// as the reference does), opened when there is a browser.
pub async fn dashboard(ctx: &Ctx, args: DashboardArgs) -> anyhow::Result<ExitCode> {
    let loaded = ctx.load()?;
    let port = loaded.config.gateway.port;
    let target = Target::default();
    let options = target.options(ctx, &["operator.read"])?;
    let reachable = async {
        let mut client = openclaw_gateway::client::GatewayClient::connect(&options).await?;
        client.request("health", json!({}), &mut |_| {}).await.map_err(anyhow::Error::from)
    };
    let reachable = tokio::time::timeout(std::time::Duration::from_secs(5), reachable).await;
    let http = format!("http://127.0.0.1:{port}/");
    let url = match &options.token {
        Some(token) => format!("{http}#token={token}"),
        None => http.clone(),
    };
    if args.json {
        let ok = matches!(reachable, Ok(Ok(_)));
        let mut answer = json!({"ok": ok, "url": url, "httpUrl": http, "wsUrl": options.url, "port": port,
                                "tokenIncluded": options.token.is_some()});
        if !ok {
            answer["reason"] = json!("the gateway is not running (start it: openclaw gateway run)");
        }
        println!("{answer}");
        return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    if !matches!(reachable, Ok(Ok(_))) {
        anyhow::bail!(
            "no gateway answers at {} (fix: start it with openclaw gateway run, then run openclaw dashboard again)",
            options.url
        );
    }
    println!("Dashboard: {url}");
    println!("WebSocket API: {} (the same token)", options.url);
    if args.no_open {
        return Ok(ExitCode::SUCCESS);
    }
    match browser_opener() {
        Some(opener) => {
            let opened = std::process::Command::new(opener)
                .arg(&url)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            if !opened.is_ok_and(|status| status.success()) {
                eprintln!("Could not open a browser with {opener}; open the address above yourself.");
            }
        }
        None => eprintln!("No browser here (no desktop session); open the address above on this machine."),
    }
    Ok(ExitCode::SUCCESS)
}

fn detected_shell() -> clap_complete::Shell {
    clap_complete::Shell::from_env().unwrap_or(clap_complete::Shell::Bash)
}

/// `completion`: the shell's completion script, printed or written under the state dir.
pub fn completion(ctx: &Ctx, args: CompletionArgs) -> anyhow::Result<ExitCode> {
    let chosen = args.shell.or(args.shell_flag);
    let mut command = crate::Cli::command();
    if !args.write_state {
        let mut script = Vec::new();
        clap_complete::generate(chosen.unwrap_or_else(detected_shell), &mut command, "openclaw", &mut script);
        return print_bytes(&script);
    }
    let dir = ctx.paths()?.state_dir.join("completions");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let shells: Vec<clap_complete::Shell> = match chosen {
        Some(shell) => vec![shell],
        None => vec![
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
            clap_complete::Shell::PowerShell,
        ],
    };
    for shell in shells {
        let path = clap_complete::generate_to(shell, &mut command, "openclaw", &dir)
            .with_context(|| format!("cannot write the {shell} completion into {}", dir.display()))?;
        println!("Wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `man`: the manual page of a command (roff), or every page into a folder.
pub fn man(args: ManArgs) -> anyhow::Result<ExitCode> {
    let mut command = crate::Cli::command().disable_help_subcommand(true);
    command.build();
    if let Some(dir) = args.dir {
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        clap_mangen::generate_to(command, &dir)
            .with_context(|| format!("cannot write pages into {}", dir.display()))?;
        println!("Wrote the manual pages into {} (read one: man -l {}/openclaw.1)", dir.display(), dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut page = command;
    let mut name = "openclaw".to_owned();
    for word in &args.command {
        let known: Vec<String> = page.get_subcommands().map(|c| c.get_name().to_owned()).collect();
        let Some(sub) = page.find_subcommand(word).cloned() else {
            anyhow::bail!("{name} has no command {word:?} (known: {})", known.join(", "));
        };
        name = format!("{name}-{word}");
        page = sub.display_name(name.clone());
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    print_bytes(&out)
}

/// Writes to stdout; a reader that stops early (`| head`) is not an error.
fn print_bytes(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
