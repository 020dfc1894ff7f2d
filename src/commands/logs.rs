//! `openclaw logs [--follow] [--json] [--limit N] [--agent ID]`: the gateway's log through `logs.tail`, like the
//! reference, or straight from the log files when no gateway runs.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use super::Ctx;
use super::gateway::Target;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  openclaw logs\n  openclaw logs --agent main --follow\n  openclaw logs --json --limit 50"
)]
pub struct LogsArgs {
    /// Keep printing new lines as they are written.
    #[arg(long, short)]
    follow: bool,
    /// Print `{type:"meta"}` then one `{type:"log"}` object per line.
    #[arg(long)]
    json: bool,
    /// How many recent lines to start with.
    #[arg(long, default_value_t = 200)]
    limit: u64,
    /// Only lines about this agent (its runs, its sessions).
    #[arg(long)]
    agent: Option<String>,
    /// Poll interval in milliseconds with --follow.
    #[arg(long, default_value_t = 1000)]
    interval: u64,
    #[command(flatten)]
    target: Target,
}

/// Whether a log line is about an agent: an `agent`/`agentId` field naming it, or one of its session keys.
fn about_agent(raw: &str, agent: &str) -> bool {
    let parsed: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
    let field = |name: &str| parsed.get(name).or_else(|| parsed.get("fields").and_then(|f| f.get(name)));
    ["agent", "agent_id", "agentId"].iter().any(|name| field(name).and_then(Value::as_str) == Some(agent))
        || raw.contains(&format!("agent:{agent}:"))
}

/// A field value as a person reads it: a plain word bare, anything else JSON-quoted (once).
fn plain(value: &Value) -> String {
    match value {
        Value::String(text)
            if !text.is_empty() && !text.contains(|c: char| c.is_whitespace() || c == '"' || c == '=') =>
        {
            text.clone()
        }
        other => other.to_string(),
    }
}

fn print_line(raw: &str, json_mode: bool) {
    let parsed: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
    let level = parsed["level"].as_str().unwrap_or("info").to_lowercase();
    let message = parsed["message"].as_str().unwrap_or(raw);
    let time = parsed["timestamp"].as_str().unwrap_or_default();
    if json_mode {
        println!(
            "{}",
            json!({"type": "log", "time": time, "level": level, "subsystem": parsed["target"], "message": message, "raw": raw})
        );
        return;
    }
    // The record's fields after the message, as `name=value` (the console's form).
    let mut fields = String::new();
    if let Value::Object(map) = &parsed {
        let nested = map.get("fields").and_then(Value::as_object).into_iter().flatten();
        for (name, value) in map.iter().chain(nested) {
            if !matches!(name.as_str(), "timestamp" | "level" | "message" | "target" | "fields" | "span" | "spans") {
                fields.push_str(&format!(" {name}={}", plain(value)));
            }
        }
    }
    println!("{time} {level} {message}{fields}");
}

pub async fn run(ctx: &Ctx, args: LogsArgs) -> anyhow::Result<ExitCode> {
    if let (Some(agent), Ok(loaded)) = (&args.agent, ctx.load()) {
        super::find_agent(&loaded, Some(agent))?;
    }
    let options = args.target.options(ctx, &["operator.read"])?;
    let source = match openclaw_gateway::client::GatewayClient::connect(&options).await {
        Ok(client) => Source::Gateway(Box::new(client)),
        // Without an explicit --url, a gateway that is not running is not an error: its log files are here.
        Err(error) if args.target.url.is_none() => {
            let dir = ctx.paths()?.state_dir.join("logs");
            eprintln!("No gateway answers at {} ({error}); reading the log files in {}.", options.url, dir.display());
            Source::Files(dir)
        }
        Err(error) => return Err(error.into()),
    };
    follow(source, &args).await
}

/// Where log pages come from: the gateway's `logs.tail`, or the same pages read from the files here.
enum Source {
    Gateway(Box<openclaw_gateway::client::GatewayClient>),
    Files(std::path::PathBuf),
}

impl Source {
    async fn page(&mut self, params: Value) -> anyhow::Result<Value> {
        match self {
            Source::Gateway(client) => Ok(client.request("logs.tail", params, &mut |_| {}).await?),
            Source::Files(dir) => Ok(openclaw_gateway::logfile::tail(dir, &params)?),
        }
    }
}

async fn follow(mut source: Source, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let mut page = source.page(json!({"limit": args.limit})).await?;
    if args.json {
        println!("{}", json!({"type": "meta", "file": page["file"], "cursor": page["cursor"], "size": page["size"]}));
    } else if let Some(file) = page["file"].as_str() {
        eprintln!("Log file: {file}");
    } else {
        eprintln!("No log file yet (the gateway writes one when it runs: openclaw gateway run).");
    }
    loop {
        for line in page["lines"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if args.agent.as_deref().is_none_or(|agent| about_agent(line, agent)) {
                print_line(line, args.json);
            }
        }
        if !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(Duration::from_millis(args.interval.max(100))).await;
        let next = json!({"cursor": page["cursor"], "limit": 5000});
        let file = page["file"].clone();
        page = source.page(next).await?;
        // A new day's file: start it from its beginning.
        if page["file"] != file && !file.is_null() {
            page = source.page(json!({"cursor": 0, "limit": 5000})).await?;
        }
    }
}
