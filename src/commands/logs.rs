//! `openclaw logs [--follow] [--json] [--limit N] [--agent ID]`: the gateway's log through `logs.tail`, like the
//! reference.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use super::Ctx;
use super::gateway::Target;

#[derive(Debug, Args)]
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
    } else {
        println!("{time} {level} {message}");
    }
}

pub async fn run(ctx: &Ctx, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let options = args.target.options(ctx, &["operator.read"])?;
    let mut client = openclaw_gateway::client::GatewayClient::connect(&options).await?;
    let mut page = client.request("logs.tail", json!({"limit": args.limit}), &mut |_| {}).await?;
    if args.json {
        println!("{}", json!({"type": "meta", "file": page["file"], "cursor": page["cursor"], "size": page["size"]}));
    } else if let Some(file) = page["file"].as_str() {
        eprintln!("Log file: {file}");
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
        page = client.request("logs.tail", json!({"cursor": page["cursor"], "limit": 5000}), &mut |_| {}).await?;
    }
}
