//! `openclaw agent`: one turn, run in-process with `--local`, the reply streamed to the terminal as it arrives.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use openclaw_agent::{AgentError, AgentEvent, AgentProfile, TurnRequest};
use openclaw_protocol::SessionKey;
use serde_json::json;

use super::Ctx;

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  openclaw agent -m \"What is the capital of France?\"\n  \
                  openclaw agent --local --agent support -m \"Help me with my account\" --json\n  \
                  openclaw agent -m \"Your order has shipped\" --channel telegram --to 123456789 --deliver\n  \
                  openclaw agent deploy customer-support --channel telegram"
)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub action: Option<AgentAction>,
    /// The message to send.
    #[arg(short, long)]
    message: Option<String>,
    /// Read the message from a UTF-8 file (`-` for stdin).
    #[arg(long, conflicts_with = "message")]
    message_file: Option<String>,
    /// Agent id (default: the default agent).
    #[arg(long)]
    agent: Option<String>,
    /// Session key: `agent:<id>:<key>`, or a bare key scoped to the agent.
    #[arg(long)]
    session_key: Option<String>,
    /// Run the agent in this process instead of through a running gateway.
    #[arg(long)]
    local: bool,
    /// Print one JSON envelope on stdout instead of streaming text.
    #[arg(long)]
    json: bool,
    /// Start a new session window first, as `/new` does in a chat (alone: only that). `-m /new` does the same.
    #[arg(long)]
    new: bool,
    /// Deadline for the turn in seconds (0: none).
    #[arg(long)]
    timeout: Option<u64>,
    /// Run the turn as if it came from this channel (with --to: that conversation's session); --deliver sends the
    /// answer there.
    #[arg(long, value_name = "CHANNEL")]
    channel: Option<String>,
    /// The recipient on --channel: a Telegram chat id (123456789, -100…, @channel, …:topic:<id>) or a webhook
    /// conversation id. The session is the one a message from there would join (`session.dmScope`).
    #[arg(short = 't', long, value_name = "RECIPIENT")]
    to: Option<String>,
    /// Send the answer to --channel/--to (or --reply-channel/--reply-to) through the gateway's outbox, and report
    /// whether it was delivered.
    #[arg(long)]
    deliver: bool,
    /// Deliver to this recipient instead of --to (the session stays --to's).
    #[arg(long, value_name = "RECIPIENT")]
    reply_to: Option<String>,
    /// Deliver on this channel instead of --channel.
    #[arg(long, value_name = "CHANNEL")]
    reply_channel: Option<String>,
    /// The channel account to deliver from (default: `default`, or the channel's only account).
    #[arg(long, value_name = "ACCOUNT")]
    reply_account: Option<String>,
}

impl AgentArgs {
    /// Whether the turn involves a channel (which only the gateway's running channels can reach).
    fn names_a_channel(&self) -> bool {
        self.channel.is_some()
            || self.to.is_some()
            || self.deliver
            || self.reply_to.is_some()
            || self.reply_channel.is_some()
            || self.reply_account.is_some()
    }
}

/// What `openclaw agent` does besides a turn.
#[derive(Debug, Subcommand)]
pub enum AgentAction {
    /// Put an agent on channels (`--channel`), or install a seed-format agent file (`--config agent-config.json`).
    Deploy(super::deploy::DeployArgs),
}

/// One turn through the running gateway (`agent` method: accepted, streamed `agent` events, final answer).
async fn run_via_gateway(ctx: &Ctx, args: &AgentArgs, message: String) -> anyhow::Result<ExitCode> {
    let target = super::gateway::Target::default();
    let options = target.options(ctx, &["operator.write"])?;
    let mut client = openclaw_gateway::client::GatewayClient::connect(&options).await.map_err(|error| {
        anyhow::anyhow!(
            "{error}\nhint: run the turn in-process with --local, or start the gateway with `openclaw gateway run`"
        )
    })?;
    let mut params = json!({
        "message": message,
        "idempotencyKey": openclaw_protocol::new_id(),
        "deliver": args.deliver,
        "timeout": args.timeout.unwrap_or(600),
    });
    for (key, value) in [
        ("channel", &args.channel),
        ("to", &args.to),
        ("replyTo", &args.reply_to),
        ("replyChannel", &args.reply_channel),
        ("replyAccountId", &args.reply_account),
    ] {
        if let Some(value) = value {
            params[key] = json!(value);
        }
    }
    if let Some(agent) = &args.agent {
        params["agentId"] = json!(agent);
    }
    if let Some(key) = &args.session_key {
        params["sessionKey"] = json!(key);
    }
    let json_mode = args.json;
    let mut streamed = false;
    let mut on_event = |frame: &serde_json::Value| {
        let payload = &frame["payload"];
        if !json_mode
            && frame["event"] == "agent"
            && payload["stream"] == "assistant"
            && let Some(delta) = payload["data"]["delta"].as_str()
        {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(delta.as_bytes());
            let _ = stdout.flush();
            streamed = true;
        }
    };
    let result = client.request("agent", params, &mut on_event).await;
    match result {
        Ok(payload) => {
            let text = payload["result"]["payloads"][0]["text"].as_str().unwrap_or_default().to_owned();
            let delivery = &payload["deliveryStatus"];
            if json_mode {
                let mut envelope = json!({"ok": true, "status": "ok", "final": text,
                    "payloads": payload["result"]["payloads"], "runId": payload["runId"], "origin": "gateway",
                    "meta": payload["result"]["meta"]});
                if !delivery.is_null() {
                    envelope["deliveryStatus"] = delivery.clone();
                }
                println!("{envelope}");
            } else if streamed {
                println!();
            } else {
                println!("{text}");
            }
            Ok(report_delivery(delivery, json_mode))
        }
        Err(error) => {
            if streamed {
                println!();
            }
            Err(error.into())
        }
    }
}

/// Says on stderr what became of a requested delivery; a delivery that failed fails the command.
fn report_delivery(status: &serde_json::Value, json_mode: bool) -> ExitCode {
    let Some(outcome) = status["status"].as_str() else { return ExitCode::SUCCESS };
    let error = status["errorMessage"].as_str().unwrap_or("no detail");
    let failed = matches!(outcome, "failed" | "partial_failed");
    if !json_mode {
        match outcome {
            "sent" => eprintln!("Delivered ({} message(s)).", status["resultCount"]),
            "queued" => eprintln!(
                "Not delivered yet ({error}); the outbox keeps retrying (`openclaw channels status` shows the queue)."
            ),
            "suppressed" => eprintln!("Nothing delivered: the answer was empty."),
            _ => eprintln!("error: delivery {outcome}: {error} (the dead letter is in `openclaw channels status`)"),
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn read_message(args: &AgentArgs) -> anyhow::Result<String> {
    let text = match (&args.message, &args.message_file) {
        (Some(message), _) => message.clone(),
        (None, Some(path)) if path == "-" => {
            std::io::read_to_string(std::io::stdin()).context("cannot read the message from stdin")?
        }
        (None, Some(path)) => {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
            String::from_utf8(bytes).with_context(|| format!("{path} is not UTF-8 text"))?
        }
        (None, None) => bail!("no message: pass -m \"…\" or --message-file PATH"),
    };
    let text = text.trim_start_matches('\u{feff}').to_owned();
    if text.trim().is_empty() {
        bail!("the message is empty");
    }
    Ok(text)
}

/// The session key the reference derives from `--session-key` and `--agent`; a key of another agent is refused.
fn session_key(agent_id: &str, explicit: Option<&str>, main_key: &str) -> anyhow::Result<String> {
    let key = SessionKey::scoped(agent_id, explicit, main_key);
    match key.agent_id() {
        Some(owner) if owner != agent_id => bail!(
            "--session-key {key} belongs to agent {owner:?}, not {agent_id:?} (fix: pass --agent {owner} or a matching key)"
        ),
        _ => Ok(key.as_str().to_owned()),
    }
}

/// The agent a turn is for: `--agent`, else the owner of an explicit `--session-key`, else the default agent.
fn turn_agent<'a>(
    loaded: &'a openclaw_config::Loaded,
    args: &AgentArgs,
) -> anyhow::Result<&'a openclaw_config::ResolvedAgent> {
    let explicit = args.session_key.as_deref().and_then(SessionKey::parse);
    let owner = explicit.as_ref().and_then(SessionKey::agent_id);
    super::find_agent(loaded, args.agent.as_deref().or(owner))
}

/// Ends the active window of the turn's session (in the store here with `--local`, else through the gateway's
/// `sessions.reset`); returns the session key.
async fn start_new_session(ctx: &Ctx, args: &AgentArgs) -> anyhow::Result<String> {
    let loaded = ctx.load_quiet()?;
    let agent = turn_agent(&loaded, args)?;
    let key = session_key(&agent.id, args.session_key.as_deref(), &loaded.config.session.main_key)?;
    if args.local {
        let store = ctx.store(&loaded.paths).await?;
        openclaw_store::Store::end_session(store.as_ref(), &key).await?;
        store.close().await;
    } else {
        let target = super::gateway::Target::default();
        let options = target.options(ctx, &["operator.write", "operator.admin"])?;
        let mut client = openclaw_gateway::client::GatewayClient::connect(&options).await.map_err(|error| {
            anyhow::anyhow!("{error}\nhint: with --local the session is reset in this process's store")
        })?;
        client.request("sessions.reset", json!({"key": key}), &mut |_| {}).await?;
    }
    Ok(key)
}

pub async fn run(ctx: &Ctx, mut args: AgentArgs) -> anyhow::Result<ExitCode> {
    if let Some(AgentAction::Deploy(deploy)) = args.action.take() {
        return super::deploy::deploy(ctx, deploy).await;
    }
    let slash_new = args.message.as_deref().is_some_and(|text| {
        text.split_whitespace().count() == 1
            && openclaw_channels::commands::parse(text.trim(), None) == Some(openclaw_channels::commands::Command::New)
    });
    if args.new || slash_new {
        let key = start_new_session(ctx, &args).await?;
        eprintln!("Started a new session for {key} (the earlier one stays in `openclaw sessions list --all`).");
        if slash_new || (args.message.is_none() && args.message_file.is_none()) {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let message = read_message(&args)?;
    if args.local && args.names_a_channel() {
        bail!(
            "--channel, --to, --deliver and the --reply-* flags need the channels of a running gateway (fix: drop \
             --local, and start the gateway with `openclaw gateway run`)"
        );
    }
    if !args.local {
        return run_via_gateway(ctx, &args, message).await;
    }
    let loaded = ctx.load()?;
    let agent = turn_agent(&loaded, &args)?;
    let mut profile = AgentProfile::from_resolved(agent, &loaded)?;
    if let Some(seconds) = args.timeout {
        profile.timeout = (seconds > 0).then(|| Duration::from_secs(seconds));
    }
    let key = session_key(&agent.id, args.session_key.as_deref(), &loaded.config.session.main_key)?;

    let store = ctx.store(&loaded.paths).await?;
    let runtime = super::build_runtime(&loaded, store.clone()).await?;

    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    spinner.set_message(format!("{} is thinking…", agent.id));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let json_mode = args.json;
    let mut printed_any = false;
    let mut stages: Vec<String> = Vec::new();
    let mut on_event = |event: &AgentEvent| match event {
        AgentEvent::Progress(note) if !printed_any => {
            stages.push(note.clone());
            spinner.set_message(format!("{} → answering", stages.join(" → ")));
        }
        AgentEvent::TextDelta(text) if !json_mode => {
            if !printed_any {
                spinner.finish_and_clear();
                printed_any = true;
            }
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
        }
        AgentEvent::ToolStarted { name } => spinner.set_message(format!("running {name}…")),
        AgentEvent::Compacted { tokens_before } => {
            spinner.set_message(format!("compacted {tokens_before} tokens of history…"))
        }
        AgentEvent::Fallback { model, error } => {
            spinner.suspend(|| eprintln!("warning: {model} failed ({error}); trying the next model"));
        }
        _ => {}
    };
    let result = runtime.run_turn(&profile, TurnRequest::new(key.clone(), message), &mut on_event).await;
    spinner.finish_and_clear();
    store.close().await;
    match result {
        Ok(outcome) => {
            if json_mode {
                let envelope = json!({
                    "ok": true,
                    "status": "ok",
                    "final": outcome.text,
                    "payloads": if outcome.silent { json!([]) } else { json!([{ "text": outcome.text }]) },
                    "silent": outcome.silent,
                    "usage": { "input": outcome.usage.input, "output": outcome.usage.output, "total": outcome.usage.total_tokens },
                    "costUsd": outcome.usage.cost.total,
                    "assistantTurns": outcome.assistant_turns,
                    "toolSummary": { "calls": outcome.tool_calls.len(), "tools": outcome.tool_calls },
                    "model": outcome.model,
                    "provider": outcome.provider,
                    "sessionId": outcome.session_id,
                    "sessionKey": outcome.session_key,
                    "runId": outcome.run_id,
                    "durationMs": outcome.duration_ms,
                });
                println!("{envelope}");
            } else if outcome.silent {
                eprintln!("(the agent chose not to reply: NO_REPLY)");
            } else if printed_any {
                println!();
            } else {
                println!("{}", outcome.text);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            if printed_any {
                println!();
            }
            if json_mode {
                let kind = match &error {
                    AgentError::Model { .. } => "model",
                    AgentError::Timeout(_) => "timeout",
                    _ => "cli_error",
                };
                let status = if kind == "timeout" { "timeout" } else { "error" };
                println!(
                    "{}",
                    json!({ "ok": false, "status": status, "error": { "message": error.to_string(), "kind": kind } })
                );
                Ok(ExitCode::FAILURE)
            } else {
                Err(error.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::session_key;

    #[test]
    fn session_keys_follow_the_reference() {
        assert_eq!(session_key("main", None, "main").unwrap(), "agent:main:main");
        assert_eq!(session_key("ops", Some("incident-42"), "main").unwrap(), "agent:ops:incident-42");
        assert_eq!(session_key("ops", Some("agent:ops:x"), "main").unwrap(), "agent:ops:x");
        assert!(session_key("ops", Some("agent:main:x"), "main").is_err());
    }
}
