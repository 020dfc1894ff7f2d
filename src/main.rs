//! `openclaw`: the one binary. Parses the command line, sets up logging, and hands off to a command; nothing else
//! lives here (the commands are thin too: the work is in the library crates).

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// OpenClaw-rs: one gateway that connects AI agents to the channels people already use.
#[derive(Debug, Parser)]
#[command(name = "openclaw", version, about, propagate_version = true)]
pub struct Cli {
    /// Use the profile's state dir (~/.openclaw-<name>).
    #[arg(long, global = true)]
    profile: Option<String>,
    /// Log level: error, warn, info, debug, trace (also OPENCLAW_LOG_LEVEL).
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Set up the state dir, a model provider and the default agent's workspace.
    #[command(
        after_help = "Examples:\n  openclaw setup\n  openclaw setup --non-interactive --provider local\n  openclaw setup --non-interactive --provider openai --api-key-env OPENAI_API_KEY --model gpt-4o-mini"
    )]
    Setup(commands::setup::SetupArgs),
    /// The same as `setup` (the reference's name for the wizard).
    #[command(
        after_help = "Examples:\n  openclaw onboard\n  openclaw onboard --skip-channels --gateway-token \"$(openssl rand -hex 24)\""
    )]
    Onboard(commands::setup::SetupArgs),
    /// Run one agent turn.
    Agent(commands::agent::AgentArgs),
    /// List and add agents.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  openclaw agents list\n  openclaw agents add support --name \"Customer support\""
    )]
    Agents(commands::agents::AgentsCommand),
    /// Inspect sessions and their transcripts.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  openclaw sessions list\n  openclaw sessions list --all --json\n  openclaw sessions show agent:main:main"
    )]
    Sessions(commands::sessions::SessionsCommand),
    /// Pull and list models: the embedded local ones and the configured remote ones.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  openclaw models list\n  openclaw models pull smollm2-135m\n  openclaw models pull --file ./my-model.gguf my-model"
    )]
    Models(commands::models::ModelsCommand),
    /// Read, change and validate the configuration.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  openclaw config get gateway.port\n  openclaw config set agents.defaults.model.primary '\"openai/gpt-4o-mini\"'\n  openclaw config validate"
    )]
    Config(commands::config::ConfigCommand),
    /// Check the configuration, the state dir's permissions and the providers.
    #[command(after_help = "Examples:\n  openclaw doctor\n  openclaw doctor --fix")]
    Doctor(commands::doctor::DoctorArgs),
    /// Run the gateway daemon, or talk to a running one.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  openclaw gateway run\n  openclaw gateway health\n  openclaw gateway call sessions.list --params '{\"limit\": 5}'"
    )]
    Gateway(commands::gateway::GatewayCommand),
    /// Print the gateway's log (through the running gateway, or from its log files when none runs).
    Logs(commands::logs::LogsArgs),
    /// List, check, install and remove SKILL.md skills.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  openclaw skills list\n  openclaw skills install ./skills/forecast\n  openclaw skills check"
    )]
    Skills(commands::skills::SkillsCommand),
    /// Add, inspect and remove channels (Telegram, webhooks); dead letters.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  openclaw channels login telegram\n  openclaw channels status --probe\n  openclaw channels dead-letters --retry 12"
    )]
    Channels(commands::channels::ChannelsCommand),
    /// Approve the DM senders who asked for access with a pairing code.
    #[command(subcommand)]
    #[command(after_help = "Examples:\n  openclaw pairing list\n  openclaw pairing approve telegram ABCD2345")]
    Pairing(commands::channels::PairingCommand),
    /// Check a deployment's security: secrets, listeners, the sandbox, exec, hooks, file permissions.
    #[command(subcommand)]
    #[command(after_help = "Examples:\n  openclaw security audit\n  openclaw security audit --json")]
    Security(commands::security::SecurityCommand),
    /// What is set up and whether the gateway runs: config, agents and their models, channels, sessions.
    Status(commands::overview::StatusArgs),
    /// Ask the running gateway for its health (the same as `gateway health`).
    Health(commands::gateway::HealthArgs),
    /// Print the address of the gateway's dashboard, with its token, and open it in a browser when there is one.
    Dashboard(commands::overview::DashboardArgs),
    /// Print the version.
    Version(commands::overview::VersionArgs),
    /// Print or install the shell completion script (bash, zsh, fish, powershell, elvish).
    Completion(commands::overview::CompletionArgs),
    /// Print the manual page of a command (roff), or write all of them into a folder.
    Man(commands::overview::ManArgs),
}

/// Readable logs on stderr; the gateway also writes JSON lines to `<state dir>/logs/openclaw.<date>.log` (daily),
/// which `logs.tail` serves.
fn init_logging(level: Option<&str>, log_dir: Option<std::path::PathBuf>) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let default = if log_dir.is_some() { "info" } else { "warn" };
    let level = level
        .map(str::to_owned)
        .or_else(|| std::env::var("OPENCLAW_LOG_LEVEL").ok())
        .unwrap_or_else(|| default.to_owned());
    let filter = || {
        tracing_subscriber::EnvFilter::try_new(&level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
    };
    // Colours only on a terminal: a console redirected to a file gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let console = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false).with_ansi(ansi);
    let file = log_dir.and_then(|dir| {
        std::fs::create_dir_all(&dir).ok()?;
        // Logs name sessions, peers and errors: the gateway's user only (existing folders too).
        openclaw_config::set_mode(&dir, 0o700);
        let appender = tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("openclaw")
            .filename_suffix("log")
            .max_log_files(14)
            .build(&dir)
            .ok()?;
        Some(tracing_subscriber::fmt::layer().json().flatten_event(true).with_current_span(false).with_writer(appender))
    });
    let registry = tracing_subscriber::registry().with(console.with_filter(filter()));
    match file {
        Some(file) => registry.with(file.with_filter(filter())).init(),
        None => registry.init(),
    }
}

fn main() -> ExitCode {
    // Everything the gateway creates — logs, workspaces, skills, what sandboxed commands write — is its user's
    // alone (700/600), as the state dir already is.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    // TLS on ring for every HTTP client in the process (the aws-lc C build is avoided on purpose).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (log_dir, verbose) = match &cli.command {
        Command::Gateway(commands::gateway::GatewayCommand::Run(args)) => (
            openclaw_config::Paths::resolve(cli.profile.as_deref(), &commands::env)
                .ok()
                .map(|p| p.state_dir.join("logs")),
            args.verbose,
        ),
        _ => (None, false),
    };
    let level = cli.log_level.as_deref().or(verbose.then_some("debug"));
    init_logging(level, log_dir);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let ctx = commands::Ctx { profile: cli.profile.clone() };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Setup(args) | Command::Onboard(args) => commands::setup::run(&ctx, args).await,
            Command::Agent(args) => commands::agent::run(&ctx, args).await,
            Command::Agents(command) => commands::agents::run(&ctx, command).await,
            Command::Sessions(command) => commands::sessions::run(&ctx, command).await,
            Command::Config(command) => commands::config::run(&ctx, command).await,
            Command::Doctor(args) => commands::doctor::run(&ctx, args).await,
            Command::Gateway(command) => commands::gateway::run(&ctx, command).await,
            Command::Logs(args) => commands::logs::run(&ctx, args).await,
            Command::Skills(command) => commands::skills::run(&ctx, command).await,
            Command::Channels(command) => commands::channels::run(&ctx, command).await,
            Command::Pairing(command) => commands::channels::pairing(&ctx, command).await,
            Command::Models(command) => commands::models::run(&ctx, command).await,
            Command::Security(command) => commands::security::run(&ctx, command).await,
            Command::Status(args) => commands::overview::status(&ctx, args).await,
            Command::Health(args) => commands::gateway::health(&ctx, args).await,
            Command::Dashboard(args) => commands::overview::dashboard(&ctx, args).await,
            Command::Version(args) => Ok(commands::overview::version(args)),
            Command::Completion(args) => commands::overview::completion(&ctx, args),
            Command::Man(args) => commands::overview::man(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command, flag and argument says what it is for (`--help` teaches; issue 19).
    #[test]
    fn every_command_has_examples_that_parse() {
        /// Words as a shell splits them (quotes only: enough for the examples).
        fn words(line: &str) -> Vec<String> {
            let (mut words, mut word, mut quote, mut open) = (Vec::new(), String::new(), None, false);
            for c in line.chars() {
                match (quote, c) {
                    (None, '\'' | '"') => (quote, open) = (Some(c), true),
                    (Some(q), c) if c == q => quote = None,
                    (None, ' ') if open => {
                        words.push(std::mem::take(&mut word));
                        open = false;
                    }
                    (None, ' ') => {}
                    // A pipe or a redirection ends the command.
                    (None, '|' | '>') => break,
                    (_, c) => {
                        word.push(c);
                        open = true;
                    }
                }
            }
            if open {
                words.push(word);
            }
            words
        }
        fn walk(command: &clap::Command, path: &str, top: bool, problems: &mut Vec<String>) {
            let help = command.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            let examples: Vec<&str> = help.lines().filter_map(|l| l.trim().strip_prefix("openclaw ")).collect();
            if top && examples.is_empty() && command.get_name() != "help" {
                problems.push(format!("{path}: no Examples: in its help"));
            }
            for example in examples {
                let argv = [vec!["openclaw".to_owned()], words(example)].concat();
                if let Err(error) = <super::Cli as clap::Parser>::try_parse_from(&argv) {
                    problems.push(format!("{path}: `openclaw {example}` does not parse: {}", error.kind()));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), false, problems);
            }
        }
        let mut problems = Vec::new();
        for sub in super::Cli::command().get_subcommands() {
            walk(sub, &format!("openclaw {}", sub.get_name()), true, &mut problems);
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn every_command_and_argument_is_described() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} <{}>", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(name.clone());
                }
                walk(sub, &name, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "openclaw", &mut missing);
        assert!(missing.is_empty(), "without a description:\n{}", missing.join("\n"));
    }
}
