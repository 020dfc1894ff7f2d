//! `openclaw channels add|list|status|remove|login|dead-letters` and `openclaw pairing list|approve`.
//!
//! They work on the configuration and the store directly, so they need no running gateway; a running gateway
//! sees config changes through its reload and picks up queued replies (approval notices, retried dead letters)
//! within a second.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use openclaw_store::{NewOutbound, Store};
use serde_json::{Value, json};

use super::Ctx;

#[derive(Debug, Args)]
pub struct ChannelTarget {
    /// The channel (telegram, webhook).
    #[arg(long)]
    channel: String,
    /// The account (default: the channel's top-level block).
    #[arg(long)]
    account: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// Add or update a channel (a bot token for bot channels).
    Add {
        #[command(flatten)]
        target: ChannelTarget,
        /// The bot token (Telegram: from @BotFather). Prefer `login`, which reads it from stdin.
        #[arg(long)]
        token: Option<String>,
    },
    /// The configured channels and what this build implements.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Each account's state and the queues; `--probe` checks every account against its platform.
    Status {
        /// Check each channel's connection now (a live call to its platform).
        #[arg(long)]
        probe: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a channel (or one account) from the configuration.
    Remove {
        #[command(flatten)]
        target: ChannelTarget,
    },
    /// Give a channel its credentials (bot channels read a token from stdin); others say what they need.
    Login {
        /// The channel (telegram, webhook).
        channel: String,
        /// The account (default: the channel's top-level block).
        #[arg(long)]
        account: Option<String>,
    },
    /// Replies that could not be delivered; `--retry ID` queues one again.
    DeadLetters {
        /// Send the dead letter with this id again.
        #[arg(long)]
        retry: Option<i64>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PairingCommand {
    /// Pairing requests waiting for approval.
    List {
        /// Only this channel.
        channel: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Approve a sender by the code the bot sent them.
    Approve {
        /// The channel the request came on (telegram).
        channel: String,
        /// The pairing code the bot sent the sender.
        code: String,
        /// Tell the sender they are approved.
        #[arg(long)]
        notify: bool,
    },
}

fn block_path(target_channel: &str, account: Option<&str>) -> String {
    match account {
        Some(account) if account != "default" => format!("channels.{target_channel}.accounts.{account}"),
        _ => format!("channels.{target_channel}"),
    }
}

fn known(channel: &str) -> anyhow::Result<&'static openclaw_channels::ChannelKind> {
    openclaw_channels::kind(channel).with_context(|| {
        let names: Vec<&str> = openclaw_channels::KINDS.iter().map(|kind| kind.name).collect();
        format!("unknown channel {channel:?} (fix: one of {})", names.join(", "))
    })
}

/// Writes `key = value` pairs into a channel block of the config file in one write, after checking the result
/// loads; returns the configuration as written.
fn save_keys(
    ctx: &Ctx,
    channel: &str,
    account: Option<&str>,
    pairs: &[(&str, Value)],
) -> anyhow::Result<openclaw_config::Loaded> {
    let paths = ctx.paths()?;
    let mut raw = ctx.load()?.raw;
    for (key, value) in pairs {
        let path = format!("{}.{key}", block_path(channel, account));
        openclaw_config::set_path(&mut raw, &path, value.clone()).map_err(anyhow::Error::msg)?;
    }
    let text = openclaw_config::render_raw(&raw);
    let loaded = openclaw_config::load_str(&text, &paths, &super::env)
        .context("the change would make the configuration invalid")?;
    openclaw_config::save_raw(&paths, &raw)?;
    Ok(loaded)
}

pub async fn run(ctx: &Ctx, command: ChannelsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ChannelsCommand::Add { target, token } => {
            let kind = known(&target.channel)?;
            let mut pairs = vec![("enabled", json!(true))];
            if let Some(token) = token {
                let spec = kind
                    .token
                    .as_ref()
                    .with_context(|| format!("{} takes no token (what it needs: {})", kind.name, kind.login))?;
                (spec.check)(token.trim()).map_err(|problem| anyhow::anyhow!("--token: {problem}"))?;
                pairs.push((spec.key, json!(token.trim())));
            }
            let loaded = save_keys(ctx, kind.name, target.account.as_deref(), &pairs)?;
            let problems: Vec<String> =
                openclaw_channels::channel_issues(&loaded, &super::env, openclaw_models::http_client())
                    .into_iter()
                    .filter(|problem| problem.starts_with(&format!("channels.{}", kind.name)))
                    .collect();
            println!("Added {} ({}).", block_path(kind.name, target.account.as_deref()), kind.summary);
            for problem in &problems {
                println!("  still needed: {problem}");
            }
            println!("A running gateway restarts itself to apply it (queued messages and replies are kept).");
            Ok(ExitCode::SUCCESS)
        }
        ChannelsCommand::Remove { target } => {
            known(&target.channel)?;
            let paths = ctx.paths()?;
            let loaded = ctx.load()?;
            let mut raw = loaded.raw.clone();
            let removed = match target.account.as_deref().filter(|a| *a != "default") {
                Some(account) => raw
                    .pointer_mut(&format!("/channels/{}/accounts", target.channel))
                    .and_then(Value::as_object_mut)
                    .and_then(|accounts| accounts.remove(account)),
                None => raw
                    .get_mut("channels")
                    .and_then(Value::as_object_mut)
                    .and_then(|channels| channels.remove(&target.channel)),
            };
            if removed.is_none() {
                bail!("{} is not configured", block_path(&target.channel, target.account.as_deref()));
            }
            openclaw_config::save_raw(&paths, &raw)?;
            println!("Removed {}.", block_path(&target.channel, target.account.as_deref()));
            Ok(ExitCode::SUCCESS)
        }
        ChannelsCommand::Login { channel, account } => {
            let kind = known(&channel)?;
            let Some(spec) = &kind.token else {
                println!("{}: {}", kind.name, kind.login);
                return Ok(ExitCode::SUCCESS);
            };
            eprintln!("Paste the {} token ({}), then Enter:", kind.name, kind.login);
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("cannot read the token from stdin")?;
            let token = line.trim();
            if token.is_empty() {
                bail!(
                    "no token given (fix: paste the token, or pipe it: echo $TOKEN | openclaw channels login {channel})"
                );
            }
            (spec.check)(token).map_err(anyhow::Error::msg)?;
            save_keys(ctx, kind.name, account.as_deref(), &[(spec.key, json!(token))])?;
            println!("Saved the {} token for {}.", kind.name, block_path(kind.name, account.as_deref()));
            Ok(ExitCode::SUCCESS)
        }
        ChannelsCommand::List { json } => {
            let loaded = ctx.load()?;
            let rows: Vec<Value> = openclaw_channels::KINDS
                .iter()
                .map(|kind| {
                    let section = loaded.config.channels.get(kind.name);
                    let enabled = section.is_some_and(|s| s.get("enabled").and_then(Value::as_bool) != Some(false));
                    json!({"channel": kind.name, "configured": section.is_some(), "enabled": enabled,
                           "summary": kind.summary})
                })
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for row in &rows {
                    let state = match (row["configured"].as_bool(), row["enabled"].as_bool()) {
                        (Some(true), Some(true)) => "configured",
                        (Some(true), _) => "disabled",
                        _ => "not configured",
                    };
                    println!(
                        "{:<10} {:<15} {}",
                        row["channel"].as_str().unwrap_or_default(),
                        state,
                        row["summary"].as_str().unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ChannelsCommand::Status { probe, json } => {
            let loaded = ctx.load()?;
            let paths = ctx.paths()?;
            let store = ctx.store(&paths).await?;
            let (channels, errors) = openclaw_channels::build_all(&loaded, &super::env, openclaw_models::http_client());
            let status = openclaw_channels::status(&channels, &errors, store.as_ref(), probe).await;
            let accounts = status["accounts"].as_array().cloned().unwrap_or_default();
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                if accounts.is_empty() && errors.is_empty() {
                    println!("No channels configured (add one: openclaw channels add --channel telegram --token …).");
                }
                for account in &accounts {
                    let probe = match account.get("probe") {
                        Some(p) if p["ok"] == json!(true) => {
                            format!(" — ok: {}", p["detail"].as_str().unwrap_or_default())
                        }
                        Some(p) => format!(" — FAILED: {}", p["detail"].as_str().unwrap_or_default()),
                        None => String::new(),
                    };
                    println!(
                        "{}/{}: {}{probe}",
                        account["channel"].as_str().unwrap_or_default(),
                        account["accountId"].as_str().unwrap_or_default(),
                        account["mode"].as_str().unwrap_or_default()
                    );
                }
                for error in &errors {
                    println!("error: {error}");
                }
                let queues = &status["queues"];
                println!(
                    "inbox pending: {}; replies pending: {}; dead letters: {}; pairing requests: {}",
                    queues["inboxPending"], queues["outboxPending"], queues["deadLetters"], queues["pairingRequests"]
                );
            }
            let failed = accounts.iter().any(|a| a.get("probe").is_some_and(|p| p["ok"] != json!(true)));
            Ok(if failed || !errors.is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        ChannelsCommand::DeadLetters { retry, json } => {
            let paths = ctx.paths()?;
            let store = ctx.store(&paths).await?;
            if let Some(id) = retry {
                if !store.requeue_outbound(id, openclaw_protocol::now_ms()).await? {
                    bail!("no dead letter {id} (fix: openclaw channels dead-letters lists them)");
                }
                println!("Dead letter {id} is queued again; a running gateway delivers it.");
                return Ok(ExitCode::SUCCESS);
            }
            let dead = store.dead_letters(500).await?;
            if json {
                let rows: Vec<Value> = dead
                    .iter()
                    .map(|d| {
                        json!({"id": d.id, "channel": d.channel, "account": d.account, "conversation": d.conversation,
                                    "attempts": d.attempts, "chunksSent": d.chunks_sent, "error": d.last_error,
                                    "text": d.text, "createdAt": d.created_at})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if dead.is_empty() {
                println!("No dead letters.");
            } else {
                for d in &dead {
                    let preview: String = d.text.chars().take(60).collect();
                    println!(
                        "{}\t{}\t{} attempts\t{}\t{preview:?}",
                        d.id,
                        d.conversation,
                        d.attempts,
                        d.last_error.as_deref().unwrap_or("?")
                    );
                }
                println!("Retry one with: openclaw channels dead-letters --retry <id>");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn pairing(ctx: &Ctx, command: PairingCommand) -> anyhow::Result<ExitCode> {
    let paths = ctx.paths()?;
    let store = ctx.store(&paths).await?;
    let now = openclaw_protocol::now_ms();
    match command {
        PairingCommand::List { channel, json } => {
            let requests = store.pairing_requests(channel.as_deref(), now).await?;
            if json {
                let rows: Vec<Value> = requests
                    .iter()
                    .map(|r| json!({"channel": r.channel, "accountId": r.account, "senderId": r.sender_id,
                                    "code": r.code, "name": r.display, "createdAt": r.created_at, "expiresAt": r.expires_at}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if requests.is_empty() {
                println!("No pairing requests waiting.");
            } else {
                for r in &requests {
                    let minutes = (r.expires_at - now) / 60_000;
                    println!(
                        "{}\t{}\t{}\t{}\t{}\texpires in {minutes} min",
                        r.channel,
                        r.account,
                        r.code,
                        r.sender_id,
                        r.display.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PairingCommand::Approve { channel, code, notify } => {
            let code = code.trim().to_uppercase();
            let Some(request) = store.approve_pairing(&channel, &code, now).await? else {
                bail!(
                    "no pairing request {code} on {channel} (it may have expired after an hour; fix: openclaw pairing list {channel})"
                );
            };
            store
                .append_audit(openclaw_store::AuditEvent {
                    actor: "cli".to_owned(),
                    action: "channel.pairing.approved".to_owned(),
                    agent_id: None,
                    session_key: None,
                    run_id: None,
                    outcome: "ok".to_owned(),
                    detail: json!({"channel": channel, "account": request.account, "sender": request.sender_id}),
                })
                .await?;
            if notify {
                // Back the way the request came.
                store
                    .queue_outbound(NewOutbound {
                        channel: channel.clone(),
                        account: request.account.clone(),
                        conversation: request.conversation.clone(),
                        route: request.route.clone(),
                        text: "You are approved: send your message again.".to_owned(),
                    })
                    .await?;
            }
            println!("Approved {} sender {} on {channel}.", request.account, request.sender_id);
            Ok(ExitCode::SUCCESS)
        }
    }
}
