//! `openclaw logs [--follow] [--json] [--limit N]`: the gateway's log through `logs.tail`, like the reference.

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
    /// Poll interval in milliseconds with --follow.
    #[arg(long, default_value_t = 1000)]
    interval: u64,
    #[command(flatten)]
    target: Target,
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
        for line in page["lines"].as_array().into_iter().flatten() {
            print_line(line.as_str().unwrap_or_default(), args.json);
        }
        if !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(Duration::from_millis(args.interval.max(100))).await;
        page = client.request("logs.tail", json!({"cursor": page["cursor"], "limit": 5000}), &mut |_| {}).await?;
    }
}
